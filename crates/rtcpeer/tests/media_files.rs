//! Media files against ffmpeg: files ffmpeg encodes are read by our readers, written back by our
//! writers, and ffprobe / ffmpeg must accept the result with the same codec and frame count.
//!
//! Needs `ffmpeg` and `ffprobe` (installed by `scripts/deps.sh`); the tests fail, not skip, without them.

use std::fs::{self, File};
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use rtcpeer::media_file::ivf::FOURCC_VP8;
use rtcpeer::media_file::ogg::OggError;
use rtcpeer::media_file::opus::opus_packet_samples;
use rtcpeer::media_file::{
    AnnexBReader, AnnexBWriter, IvfError, IvfReader, IvfWriter, MediaCodec, MediaFileError, MediaFileReader,
    OggOpusError, OggOpusReader, OggOpusWriter,
};

/// A scratch directory removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("rtcpeer-media-{name}-{}", std::process::id()));
        fs::create_dir_all(&dir).expect("create scratch dir");
        Scratch(dir)
    }

    fn path(&self, file: &str) -> PathBuf {
        self.0.join(file)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn run(program: &str, args: &[&str]) -> std::process::Output {
    match Command::new(program).args(args).output() {
        Ok(out) => out,
        Err(e) => panic!("cannot run {program} ({e}): install it with scripts/deps.sh"),
    }
}

/// Encodes a test source with ffmpeg: `input` is a lavfi graph, `codec_args` the encoder options.
fn ffmpeg_generate(input: &str, codec_args: &[&str], out: &Path) {
    let out_str = out.to_str().expect("utf-8 path");
    let mut args = vec!["-v", "error", "-y", "-f", "lavfi", "-i", input, "-t", "1"];
    args.extend_from_slice(codec_args);
    args.push(out_str);
    let result = run("ffmpeg", &args);
    assert!(
        result.status.success(),
        "ffmpeg failed: {}",
        String::from_utf8_lossy(&result.stderr)
    );
}

/// `ffprobe -show_streams -count_frames` of the file's only stream: (codec_name, nb_read_frames).
fn ffprobe(file: &Path) -> (String, u64, serde_json::Value) {
    let out = run(
        "ffprobe",
        &[
            "-v",
            "error",
            "-show_streams",
            "-count_frames",
            "-of",
            "json",
            file.to_str().expect("utf-8 path"),
        ],
    );
    assert!(
        out.status.success(),
        "ffprobe failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stderr.is_empty(),
        "ffprobe complained: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("ffprobe JSON");
    let streams = json["streams"].as_array().expect("streams");
    assert_eq!(streams.len(), 1, "{json}");
    let stream = streams[0].clone();
    let codec = stream["codec_name"].as_str().expect("codec_name").to_string();
    let frames = stream["nb_read_frames"]
        .as_str()
        .expect("nb_read_frames")
        .parse()
        .expect("frame count");
    (codec, frames, stream)
}

/// Decodes the whole file with ffmpeg and asserts it reports no error.
fn ffmpeg_decodes_cleanly(file: &Path) {
    let out = run(
        "ffmpeg",
        &[
            "-v",
            "error",
            "-i",
            file.to_str().expect("utf-8 path"),
            "-f",
            "null",
            "-",
        ],
    );
    assert!(
        out.status.success(),
        "decode failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stderr.is_empty(),
        "decode errors: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn ivf_vp8_from_ffmpeg_reads_and_writes_back_frame_for_frame() {
    let dir = Scratch::new("ivf");
    let source = dir.path("source.ivf");
    ffmpeg_generate(
        "testsrc=size=320x240:rate=30",
        &["-c:v", "libvpx", "-deadline", "realtime", "-cpu-used", "8"],
        &source,
    );
    let (_, source_frames, _) = ffprobe(&source);

    let mut reader = IvfReader::new(BufReader::new(File::open(&source).unwrap())).unwrap();
    let header = *reader.header();
    assert_eq!((header.fourcc, header.width, header.height), (FOURCC_VP8, 320, 240));
    let out = dir.path("copy.ivf");
    let mut writer = IvfWriter::new(
        File::create(&out).unwrap(),
        header.fourcc,
        header.width,
        header.height,
        header.timebase_numerator,
        header.timebase_denominator,
    )
    .unwrap();
    let mut frames = Vec::new();
    while let Some(frame) = reader.next_frame().unwrap() {
        writer.write_frame(frame.pts, &frame.data).unwrap();
        frames.push(frame);
    }
    assert_eq!(frames.len() as u64, source_frames);
    assert_eq!(frames.len(), 30);
    writer.finish().unwrap();

    let (codec, count, stream) = ffprobe(&out);
    assert_eq!(codec, "vp8");
    assert_eq!(count, 30);
    assert_eq!(
        (stream["width"].as_u64(), stream["height"].as_u64()),
        (Some(320), Some(240))
    );
    ffmpeg_decodes_cleanly(&out);

    let mut copy = IvfReader::new(File::open(&out).unwrap()).unwrap();
    assert_eq!(copy.header().frame_count, 30, "finish wrote the frame count");
    for frame in &frames {
        assert_eq!(copy.next_frame().unwrap().as_ref(), Some(frame));
    }
    assert_eq!(copy.next_frame().unwrap(), None);

    // The generic reader paces the frames by pts x time base.
    let mut media = MediaFileReader::open(&out).unwrap();
    assert_eq!(media.codec(), MediaCodec::Vp8);
    let first = media.next_frame().unwrap().unwrap();
    assert!(first.keyframe);
    assert_eq!(
        (first.timestamp, first.duration),
        (Duration::ZERO, Duration::from_nanos(33_333_333))
    );
    let rest: Vec<_> = std::iter::from_fn(|| media.next_frame().unwrap()).collect();
    assert_eq!(rest.len(), 29);
    assert_eq!(
        rest.last().unwrap().timestamp,
        Duration::from_nanos(29 * 1_000_000_000 / 30)
    );
}

#[test]
fn ogg_opus_from_ffmpeg_reads_and_writes_back_packet_for_packet() {
    let dir = Scratch::new("opus");
    let source = dir.path("source.opus");
    ffmpeg_generate(
        "sine=frequency=440:sample_rate=48000",
        &["-c:a", "libopus", "-b:a", "32k"],
        &source,
    );
    let (_, source_frames, _) = ffprobe(&source);

    let mut reader = OggOpusReader::new(BufReader::new(File::open(&source).unwrap())).unwrap();
    let head = reader.head().clone();
    assert_eq!((head.channels, head.input_sample_rate, head.pre_skip), (1, 48_000, 312));
    let out = dir.path("copy.opus");
    let mut writer = OggOpusWriter::with_head(File::create(&out).unwrap(), head.clone(), 0x5eed).unwrap();
    let mut packets = Vec::new();
    let mut last_granule = 0;
    while let Some(packet) = reader.next_packet().unwrap() {
        let samples = opus_packet_samples(&packet.data).expect("valid TOC");
        writer.write_packet(&packet.data, samples).unwrap();
        last_granule = packet.granule_position.unwrap_or(last_granule);
        packets.push(packet.data);
    }
    assert_eq!(packets.len() as u64, source_frames);
    // One second plus the encoder's pre-skip, in 20 ms packets.
    assert!(last_granule >= 48_000 + 312, "last granule {last_granule}");
    writer.finish().unwrap();

    let (codec, count, stream) = ffprobe(&out);
    assert_eq!(codec, "opus");
    assert_eq!(count, packets.len() as u64);
    assert_eq!(stream["channels"].as_u64(), Some(1));
    ffmpeg_decodes_cleanly(&out);

    let mut copy = OggOpusReader::new(File::open(&out).unwrap()).unwrap();
    assert_eq!(copy.head(), &head);
    for packet in &packets {
        assert_eq!(copy.next_packet().unwrap().map(|p| p.data).as_ref(), Some(packet));
    }
    assert_eq!(copy.next_packet().unwrap(), None);

    let mut media = MediaFileReader::open(&out).unwrap();
    assert_eq!(media.codec(), MediaCodec::Opus);
    let frames: Vec<_> = std::iter::from_fn(|| media.next_frame().unwrap()).collect();
    assert_eq!(frames.len(), packets.len());
    assert!(frames.iter().all(|f| f.duration == Duration::from_millis(20)));
    assert_eq!(
        frames.last().unwrap().timestamp,
        Duration::from_millis(20 * (packets.len() as u64 - 1))
    );
}

#[test]
fn h264_from_ffmpeg_groups_access_units_and_writes_back() {
    let dir = Scratch::new("h264");
    // Four slices per picture and B-frames: access units must be found by first_mb_in_slice.
    let source = dir.path("source.h264");
    ffmpeg_generate(
        "testsrc=size=320x240:rate=30",
        &[
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-bf",
            "2",
            "-g",
            "10",
            "-x264-params",
            "slices=4",
            "-f",
            "h264",
        ],
        &source,
    );
    let (_, source_frames, _) = ffprobe(&source);
    assert_eq!(source_frames, 30);

    let mut reader = AnnexBReader::new(BufReader::new(File::open(&source).unwrap()));
    let out = dir.path("copy.264");
    let mut writer = AnnexBWriter::new(File::create(&out).unwrap());
    let mut units = Vec::new();
    while let Some(au) = reader.next_access_unit().unwrap() {
        writer.write_access_unit(&au).unwrap();
        units.push(au);
    }
    writer.into_inner().unwrap();
    assert_eq!(units.len(), 30);
    assert!(units
        .iter()
        .all(|au| au.nal_types().iter().filter(|&&t| t == 1 || t == 5).count() == 4));
    let keyframes: Vec<usize> = units
        .iter()
        .enumerate()
        .filter(|(_, au)| au.is_keyframe())
        .map(|(i, _)| i)
        .collect();
    assert_eq!(keyframes.first(), Some(&0));
    assert!(keyframes.len() >= 3, "GOP of 10 over 30 frames: {keyframes:?}");
    assert_eq!(
        units[0].nal_types()[..2],
        [7, 8],
        "SPS and PPS lead the first access unit"
    );

    let (codec, count, stream) = ffprobe(&out);
    assert_eq!(codec, "h264");
    assert_eq!(count, 30);
    assert_eq!(
        (stream["width"].as_u64(), stream["height"].as_u64()),
        (Some(320), Some(240))
    );
    ffmpeg_decodes_cleanly(&out);

    let mut media = MediaFileReader::open(&out).unwrap();
    assert_eq!(media.codec(), MediaCodec::H264);
    let frames: Vec<_> = std::iter::from_fn(|| media.next_frame().unwrap()).collect();
    assert_eq!(frames.len(), 30);
    assert_eq!(frames.iter().filter(|f| f.keyframe).count(), keyframes.len());
    assert_eq!(frames[3].timestamp, Duration::from_millis(100));
}

#[test]
fn h264_with_access_unit_delimiters_splits_at_each_delimiter() {
    let dir = Scratch::new("h264aud");
    let source = dir.path("source.h264");
    ffmpeg_generate(
        "testsrc=size=160x120:rate=30",
        &[
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-x264-params",
            "aud=1",
            "-f",
            "h264",
        ],
        &source,
    );
    let mut reader = AnnexBReader::new(File::open(&source).unwrap());
    let units: Vec<_> = std::iter::from_fn(|| reader.next_access_unit().unwrap()).collect();
    assert_eq!(units.len(), 30);
    assert!(units.iter().all(|au| au.nal_types()[0] == 9));
}

#[test]
fn damaged_real_files_give_typed_errors() {
    let dir = Scratch::new("damaged");
    let ivf = dir.path("source.ivf");
    ffmpeg_generate(
        "testsrc=size=64x48:rate=10",
        &["-c:v", "libvpx", "-deadline", "realtime", "-cpu-used", "8"],
        &ivf,
    );
    let bytes = fs::read(&ivf).unwrap();
    assert!(matches!(
        IvfReader::new(&bytes[..20]),
        Err(IvfError::TruncatedHeader { got: 20, .. })
    ));
    let mut cut = IvfReader::new(&bytes[..bytes.len() - 3]).unwrap();
    let outcome = loop {
        match cut.next_frame() {
            Ok(Some(_)) => continue,
            other => break other,
        }
    };
    assert!(matches!(outcome, Err(IvfError::TruncatedFrame { .. })), "{outcome:?}");
    let mut huge = bytes.clone();
    huge[32..36].copy_from_slice(&0x7fff_ffffu32.to_le_bytes());
    assert!(matches!(
        IvfReader::new(huge.as_slice()).unwrap().next_frame(),
        Err(IvfError::FrameTooLarge { .. })
    ));

    let opus = dir.path("source.opus");
    ffmpeg_generate("sine=frequency=440:sample_rate=48000", &["-c:a", "libopus"], &opus);
    let mut bytes = fs::read(&opus).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x40;
    let mut reader = OggOpusReader::new(bytes.as_slice()).unwrap();
    let outcome = loop {
        match reader.next_packet() {
            Ok(Some(_)) => continue,
            other => break other,
        }
    };
    assert!(
        matches!(outcome, Err(OggOpusError::Ogg(OggError::BadCrc { .. }))),
        "{outcome:?}"
    );
    let truncated = &fs::read(&opus).unwrap()[..40];
    assert!(matches!(
        OggOpusReader::new(truncated),
        Err(OggOpusError::Ogg(OggError::TruncatedPage { .. }))
    ));

    let renamed = dir.path("source.mkv");
    fs::copy(&opus, &renamed).unwrap();
    assert!(matches!(
        MediaFileReader::open(&renamed),
        Err(MediaFileError::UnknownExtension(_))
    ));
}

/// Reads records until the end, an error, or 1000 records; the error (if any) is returned too.
fn drain<T, E>(mut next: impl FnMut() -> Result<Option<T>, E>) -> (Vec<T>, Option<E>) {
    let mut records = Vec::new();
    while records.len() < 1000 {
        match next() {
            Ok(Some(record)) => records.push(record),
            Ok(None) => return (records, None),
            Err(e) => return (records, Some(e)),
        }
    }
    panic!("reader did not end");
}

/// Positions to damage: about 400 spread over the file, plus the first and last 40 bytes.
fn positions(len: usize) -> impl Iterator<Item = usize> {
    let step = (len / 400).max(1);
    (0..len.min(40))
        .chain((0..len).step_by(step))
        .chain(len.saturating_sub(40)..len)
}

#[test]
fn every_truncation_and_bit_flip_of_real_files_is_a_prefix_or_an_error() {
    let dir = Scratch::new("mutations");
    let ivf = dir.path("a.ivf");
    ffmpeg_generate(
        "testsrc=size=64x48:rate=10",
        &["-c:v", "libvpx", "-deadline", "realtime", "-cpu-used", "8"],
        &ivf,
    );
    let opus = dir.path("a.opus");
    ffmpeg_generate(
        "sine=frequency=440:sample_rate=48000",
        &["-c:a", "libopus", "-b:a", "16k"],
        &opus,
    );
    let h264 = dir.path("a.h264");
    ffmpeg_generate(
        "testsrc=size=64x48:rate=10",
        &["-c:v", "libx264", "-preset", "ultrafast", "-f", "h264"],
        &h264,
    );

    let read_ivf = |bytes: &[u8]| match IvfReader::new(bytes) {
        Ok(mut r) => drain(|| r.next_frame()),
        Err(e) => (Vec::new(), Some(e)),
    };
    let bytes = fs::read(&ivf).unwrap();
    let (frames, error) = read_ivf(&bytes);
    assert!(error.is_none() && frames.len() == 10);
    for i in positions(bytes.len()) {
        let (got, error) = read_ivf(&bytes[..i]);
        assert!(frames.starts_with(&got), "truncated at {i}");
        assert!(error.is_some() || i >= 32, "a cut header is an error");
        let mut flipped = bytes.clone();
        flipped[i] ^= 0x55;
        let _ = read_ivf(&flipped);
    }

    let read_opus = |bytes: &[u8]| match OggOpusReader::new(bytes) {
        Ok(mut r) => drain(|| r.next_packet().map(|p| p.map(|p| p.data))),
        Err(e) => (Vec::new(), Some(e)),
    };
    let bytes = fs::read(&opus).unwrap();
    let (packets, error) = read_opus(&bytes);
    assert!(error.is_none() && packets.len() > 40, "{error:?}");
    for i in positions(bytes.len()) {
        let (got, _) = read_opus(&bytes[..i]);
        assert!(packets.starts_with(&got), "truncated at {i}");
        let mut flipped = bytes.clone();
        flipped[i] ^= 0x55;
        let (_, error) = read_opus(&flipped);
        assert!(
            error.is_some(),
            "every byte is under a page CRC: flip at {i} must be caught"
        );
    }

    let read_h264 = |bytes: &[u8]| {
        let mut r = AnnexBReader::new(bytes);
        drain(|| r.next_access_unit())
    };
    let bytes = fs::read(&h264).unwrap();
    let (units, error) = read_h264(&bytes);
    assert!(error.is_none() && units.len() == 10);
    for i in positions(bytes.len()) {
        let (got, _) = read_h264(&bytes[..i]);
        // Every access unit before the one the cut falls into is intact.
        let whole = got.len().saturating_sub(1);
        assert_eq!(got[..whole], units[..whole], "truncated at {i}");
        let mut flipped = bytes.clone();
        flipped[i] ^= 0x55;
        let _ = read_h264(&flipped);
    }
}
