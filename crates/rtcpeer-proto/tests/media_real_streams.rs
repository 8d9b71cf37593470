//! Real encoder output through the packetizers, a reordering and duplicating network, the
//! jitter buffer and the depacketizers: VP8 and VP9 (libvpx, IVF), H.264 (libx264, Annex B)
//! and AV1 (libaom, low-overhead OBU stream), all made by ffmpeg.
//!
//! What comes out must equal what went in frame by frame, the key frames must be the ones
//! ffprobe flags, and ffmpeg must decode the rebuilt stream without a complaint. A lost packet
//! must cost the frames up to the next key frame and nothing else.
//!
//! ffmpeg and ffprobe must be installed (`scripts/deps.sh` does it).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use rtcpeer_proto::media::codec::av1::{Obu, OBU_TEMPORAL_DELIMITER};
use rtcpeer_proto::media::codec::{h264, Codec};
use rtcpeer_proto::media::jitter::{Frame, JitterBuffer};

/// The largest payload used: small, so that most frames need several packets.
const MAX_PAYLOAD: usize = 500;

/// A scratch directory for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rtcpeer-media-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs ffmpeg or ffprobe; returns stdout, failing the test on a non-zero exit or any message on stderr.
fn run(program: &str, args: &[&str]) -> String {
    let output = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program} (install it with scripts/deps.sh): {e}"));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stderr.trim().is_empty(),
        "{program} {args:?} failed: {stderr}"
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Encodes 40 frames of a test pattern with a key frame every 10.
fn encode(dir: &Path, file: &str, codec_args: &[&str], format: &str) -> PathBuf {
    let path = dir.join(file);
    let mut args = vec![
        "-v",
        "error",
        "-y",
        "-f",
        "lavfi",
        "-i",
        "testsrc=size=320x240:rate=30",
        "-frames:v",
        "40",
    ];
    args.extend_from_slice(codec_args);
    args.extend_from_slice(&["-f", format, path.to_str().unwrap()]);
    run("ffmpeg", &args);
    path
}

/// Which packets of a file ffprobe calls key frames.
fn ffprobe_keyframes(path: &Path) -> Vec<bool> {
    run(
        "ffprobe",
        &[
            "-v",
            "error",
            "-show_entries",
            "packet=flags",
            "-of",
            "csv=p=0",
            path.to_str().unwrap(),
        ],
    )
    .lines()
    .map(|line| line.starts_with('K'))
    .collect()
}

/// Checks that ffmpeg decodes a file without a complaint.
fn decodes_cleanly(path: &Path) {
    run(
        "ffmpeg",
        &["-v", "error", "-i", path.to_str().unwrap(), "-f", "null", "-"],
    );
}

/// The IVF file header and frames.
fn read_ivf(path: &Path) -> (Vec<u8>, Vec<Vec<u8>>) {
    let data = std::fs::read(path).unwrap();
    assert_eq!(&data[..4], b"DKIF");
    let header_len = usize::from(u16::from_le_bytes([data[6], data[7]]));
    let mut frames = Vec::new();
    let mut at = header_len;
    while at + 12 <= data.len() {
        let size = u32::from_le_bytes(data[at..at + 4].try_into().unwrap()) as usize;
        frames.push(data[at + 12..at + 12 + size].to_vec());
        at += 12 + size;
    }
    (data[..header_len].to_vec(), frames)
}

fn write_ivf(path: &Path, header: &[u8], frames: &[Frame]) {
    let mut out = header.to_vec();
    for (i, frame) in frames.iter().enumerate() {
        out.extend((frame.data.len() as u32).to_le_bytes());
        out.extend((i as u64).to_le_bytes());
        out.extend_from_slice(&frame.data);
    }
    std::fs::write(path, out).unwrap();
}

/// Splits an Annex B stream into access units at its access unit delimiters, each rebuilt with
/// four-byte start codes.
fn h264_access_units(path: &Path) -> Vec<Vec<u8>> {
    let data = std::fs::read(path).unwrap();
    let mut units: Vec<Vec<u8>> = Vec::new();
    for nal in h264::split_annex_b(&data) {
        if h264::nal_type(nal[0]) == 9 || units.is_empty() {
            units.push(Vec::new());
        }
        let unit = units.last_mut().unwrap();
        unit.extend([0, 0, 0, 1]);
        unit.extend_from_slice(nal);
    }
    units
}

/// Splits a low-overhead AV1 stream into temporal units at its temporal delimiters.
fn av1_temporal_units(path: &Path) -> Vec<Vec<u8>> {
    let data = std::fs::read(path).unwrap();
    let mut units: Vec<Vec<u8>> = Vec::new();
    let mut at = 0;
    while at < data.len() {
        let (obu, len) = Obu::parse(&data[at..]).unwrap();
        if obu.obu_type() == OBU_TEMPORAL_DELIMITER || units.is_empty() {
            units.push(Vec::new());
        }
        units.last_mut().unwrap().extend_from_slice(&data[at..at + len]);
        at += len;
    }
    units
}

/// Sends `frames` (30 a second) through the packetizer and a network that swaps neighbouring packets,
/// repeats every seventh and loses the packets for which `lose(frame index, packet index)` is
/// true, into a jitter buffer; returns what comes out and whether a key frame was asked for.
fn transmit(codec: Codec, frames: &[Vec<u8>], lose: impl Fn(usize, usize) -> bool) -> (Vec<Frame>, bool) {
    let t0 = Instant::now();
    let mut packetizer = codec.packetizer();
    let mut packets = Vec::new();
    let mut seq = 65_500u16;
    for (i, frame) in frames.iter().enumerate() {
        let timestamp = 1_000_000u32.wrapping_add(3000 * i as u32);
        for (k, payload) in packetizer
            .packetize(frame, timestamp, MAX_PAYLOAD)
            .unwrap()
            .into_iter()
            .enumerate()
        {
            assert!(payload.data.len() <= MAX_PAYLOAD);
            if !lose(i, k) {
                packets.push((i, seq, payload));
            }
            seq = seq.wrapping_add(1);
        }
    }
    assert!(seq < 65_500, "the sequence numbers wrapped");
    for pair in packets.chunks_mut(2) {
        pair.reverse();
    }
    let mut buffer = JitterBuffer::new(codec);
    let mut out = Vec::new();
    let mut asked_for_keyframe = false;
    for (n, (frame, seq, payload)) in packets.iter().enumerate() {
        // 30 frames a second, the packets of a frame a little apart.
        let now = t0 + Duration::from_millis(33 * *frame as u64) + Duration::from_micros(n as u64);
        for _ in 0..1 + usize::from(n % 7 == 0) {
            buffer.insert(*seq, payload.timestamp, payload.marker, payload.data.clone(), now);
        }
        out.extend(std::iter::from_fn(|| buffer.poll_frame(now)));
        asked_for_keyframe |= buffer.needs_keyframe();
    }
    // Whatever is still held is given up at its deadline.
    let end = t0 + Duration::from_secs(10);
    out.extend(std::iter::from_fn(|| buffer.poll_frame(end)));
    asked_for_keyframe |= buffer.needs_keyframe();
    (out, asked_for_keyframe)
}

/// The whole check for one codec: lossless transmission, then one lost packet.
fn check(codec: Codec, frames: &[Vec<u8>], keyframes: &[bool], same: impl Fn(&[u8], &[u8]) -> bool) -> Vec<Frame> {
    assert_eq!(frames.len(), 40);
    assert_eq!(
        keyframes.iter().filter(|k| **k).count(),
        4,
        "a key frame every 10 frames: {keyframes:?}"
    );
    assert!(
        frames.iter().any(|f| f.len() > 2 * MAX_PAYLOAD),
        "some frames need several packets"
    );

    let (out, asked) = transmit(codec, frames, |_, _| false);
    assert!(!asked);
    assert_eq!(out.len(), frames.len());
    for (i, (got, sent)) in out.iter().zip(frames).enumerate() {
        assert!(same(&got.data, sent), "{codec:?} frame {i} changed");
        assert_eq!(got.keyframe, keyframes[i], "{codec:?} frame {i} key frame flag");
    }

    // Lose the first packet of frame 12: frames 12..20 are lost, 20 (a key frame) comes back.
    let (lossy, asked) = transmit(codec, frames, |i, k| i == 12 && k == 0);
    assert!(asked, "{codec:?}: the loss must ask for a key frame");
    let timestamps: Vec<u32> = lossy.iter().map(|f| (f.timestamp - 1_000_000) / 3000).collect();
    let expected: Vec<u32> = (0..12).chain(20..40).collect();
    assert_eq!(timestamps, expected, "{codec:?}: frames after the loss");
    out
}

/// Encodes with `codec_args` into IVF, checks the frames with [`check`] and that ffmpeg decodes
/// the rebuilt file.
fn ivf_round_trip(name: &str, codec: Codec, codec_args: &[&str]) {
    let dir = scratch(name);
    let path = encode(&dir, "in.ivf", codec_args, "ivf");
    let (header, frames) = read_ivf(&path);
    let out = check(codec, &frames, &ffprobe_keyframes(&path), |a, b| a == b);
    let rebuilt = dir.join("out.ivf");
    write_ivf(&rebuilt, &header, &out);
    decodes_cleanly(&rebuilt);
    std::fs::remove_dir_all(dir).unwrap();
}

/// Writes the frames back to back (Annex B or a low-overhead OBU stream need no container) and
/// checks that ffmpeg decodes the file.
fn concatenated_decodes_cleanly(path: &Path, frames: &[Frame]) {
    std::fs::write(
        path,
        frames.iter().flat_map(|f| f.data.iter().copied()).collect::<Vec<u8>>(),
    )
    .unwrap();
    decodes_cleanly(path);
}

#[test]
fn vp8_from_libvpx() {
    let args = ["-c:v", "libvpx", "-g", "10", "-keyint_min", "10", "-b:v", "1M"];
    ivf_round_trip("vp8", Codec::Vp8, &args);
}

#[test]
fn vp9_from_libvpx() {
    let args = [
        "-c:v",
        "libvpx-vp9",
        "-g",
        "10",
        "-keyint_min",
        "10",
        "-b:v",
        "1M",
        "-deadline",
        "realtime",
        "-cpu-used",
        "8",
    ];
    ivf_round_trip("vp9", Codec::Vp9, &args);
}

#[test]
fn h264_from_libx264() {
    let dir = scratch("h264");
    let args = [
        "-c:v",
        "libx264",
        "-x264-params",
        "aud=1:repeat-headers=1:keyint=10:min-keyint=10:scenecut=0",
    ];
    let path = encode(&dir, "in.264", &args, "h264");
    let units = h264_access_units(&path);
    let nals_equal = |a: &[u8], b: &[u8]| h264::split_annex_b(a) == h264::split_annex_b(b);
    let out = check(Codec::H264, &units, &ffprobe_keyframes(&path), nals_equal);
    concatenated_decodes_cleanly(&dir.join("out.264"), &out);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn av1_from_libaom() {
    let dir = scratch("av1");
    let args = [
        "-c:v",
        "libaom-av1",
        "-usage",
        "realtime",
        "-cpu-used",
        "8",
        "-g",
        "10",
        "-keyint_min",
        "10",
    ];
    let path = encode(&dir, "in.obu", &args, "obu");
    let units = av1_temporal_units(&path);
    let out = check(Codec::Av1, &units, &ffprobe_keyframes(&path), |a, b| a == b);
    concatenated_decodes_cleanly(&dir.join("out.obu"), &out);
    std::fs::remove_dir_all(dir).unwrap();
}
