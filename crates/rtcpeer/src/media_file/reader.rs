//! [`MediaFileReader`]: opens an IVF, Ogg Opus or H.264 file by extension and yields frames with
//! their timestamps and durations, for a sender that paces them in real time.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::Path;
use std::time::Duration;

use crate::Codec;

use super::annexb::{AnnexBError, AnnexBReader};
use super::ivf::{IvfError, IvfFrame, IvfReader, FOURCC_AV1, FOURCC_VP8, FOURCC_VP9};
use super::opus::{opus_packet_samples, OggOpusError, OggOpusReader};

/// The frame rate assumed for raw H.264 files, which carry no timing of their own.
pub const DEFAULT_H264_FRAME_RATE: u32 = 30;
/// Opus always decodes at 48 kHz.
const OPUS_RATE: u64 = 48_000;

/// The codec of a media file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MediaCodec {
    /// VP8 video (IVF).
    Vp8,
    /// VP9 video (IVF).
    Vp9,
    /// AV1 video (IVF).
    Av1,
    /// Opus audio (Ogg).
    Opus,
    /// H.264 video (Annex B).
    H264,
}

impl From<MediaCodec> for Codec {
    /// The RTP codec that carries frames of this file codec (for its clock rate, media type, packetizer).
    fn from(codec: MediaCodec) -> Codec {
        match codec {
            MediaCodec::Vp8 => Codec::Vp8,
            MediaCodec::Vp9 => Codec::Vp9,
            MediaCodec::Av1 => Codec::Av1,
            MediaCodec::Opus => Codec::Opus,
            MediaCodec::H264 => Codec::H264,
        }
    }
}

/// What went wrong opening or reading a media file.
#[derive(Debug, thiserror::Error)]
pub enum MediaFileError {
    /// The file could not be opened.
    #[error("cannot open media file: {0}")]
    Io(#[from] io::Error),
    /// The file extension is none of .ivf, .ogg, .opus, .h264, .264.
    #[error("unknown media file extension {0:?} (expected .ivf, .ogg, .opus, .h264 or .264)")]
    UnknownExtension(String),
    /// The IVF file holds a codec other than VP8, VP9 or AV1.
    #[error("unsupported IVF codec {0:?}")]
    UnsupportedFourcc([u8; 4]),
    /// The IVF file is malformed.
    #[error("IVF: {0}")]
    Ivf(#[from] IvfError),
    /// The Ogg Opus file is malformed.
    #[error("Ogg Opus: {0}")]
    Opus(#[from] OggOpusError),
    /// An Opus packet has neither a valid TOC nor a granule position to time it by.
    #[error("Opus packet of {0} bytes has no recognizable duration")]
    UntimedOpusPacket(usize),
    /// The H.264 file is malformed.
    #[error("H.264: {0}")]
    H264(#[from] AnnexBError),
}

/// One frame of a media file, ready to be packetized.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaFrame {
    /// The frame: a VP8/VP9 frame or AV1 temporal unit, an Opus packet, or an H.264 access unit as
    /// Annex B bytes (each NAL unit behind a 4-byte start code).
    pub data: Vec<u8>,
    /// Presentation time from the start of the file.
    pub timestamp: Duration,
    /// How long the frame lasts: the time until the next one should be sent.
    pub duration: Duration,
    /// Whether the frame can be decoded on its own (H.264 IDR, VP8/VP9 key frame); always true for
    /// Opus, and `false` for AV1, which this reader does not inspect.
    pub keyframe: bool,
}

enum Source<R: Read> {
    Ivf {
        reader: IvfReader<R>,
        /// The frame read ahead to learn the current frame's duration.
        next: Option<IvfFrame>,
        last_duration: Duration,
    },
    Opus {
        reader: OggOpusReader<R>,
        samples: u64,
    },
    H264 {
        reader: AnnexBReader<R>,
        frame_rate: u32,
        frames: u64,
    },
}

/// Reads frames with timing from an IVF (VP8/VP9/AV1), Ogg Opus or H.264 Annex B file.
///
/// Timing:
/// - IVF: `timestamp` is the frame's pts times the file's time base; `duration` is the gap to the
///   next frame's pts (the last frame repeats the previous duration, or one time-base unit).
/// - Ogg Opus: `duration` is the packet's duration from its TOC byte (what the granule positions
///   count), falling back to the granule delta; `timestamp` is the sum of earlier durations.
/// - H.264: raw streams carry no timing, so a fixed frame rate is assumed
///   ([`DEFAULT_H264_FRAME_RATE`] unless given to [`MediaFileReader::h264`]).
pub struct MediaFileReader<R: Read> {
    codec: MediaCodec,
    source: Source<R>,
}

impl<R: Read> std::fmt::Debug for MediaFileReader<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MediaFileReader")
            .field("codec", &self.codec)
            .finish_non_exhaustive()
    }
}

impl MediaFileReader<BufReader<File>> {
    /// Opens `path` by its extension: `.ivf`, `.ogg` / `.opus`, `.h264` / `.264` (case-insensitive).
    pub fn open(path: impl AsRef<Path>) -> Result<Self, MediaFileError> {
        let path = path.as_ref();
        let extension = path
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or_default()
            .to_ascii_lowercase();
        let open = || -> Result<BufReader<File>, MediaFileError> { Ok(BufReader::new(File::open(path)?)) };
        match extension.as_str() {
            "ivf" => Self::ivf(open()?),
            "ogg" | "opus" => Self::ogg_opus(open()?),
            "h264" | "264" => Ok(Self::h264(open()?, DEFAULT_H264_FRAME_RATE)),
            _ => Err(MediaFileError::UnknownExtension(extension)),
        }
    }
}

impl<R: Read> MediaFileReader<R> {
    /// Reads an IVF file holding VP8, VP9 or AV1.
    pub fn ivf(reader: R) -> Result<Self, MediaFileError> {
        let reader = IvfReader::new(reader)?;
        let codec = match reader.header().fourcc {
            FOURCC_VP8 => MediaCodec::Vp8,
            FOURCC_VP9 => MediaCodec::Vp9,
            FOURCC_AV1 => MediaCodec::Av1,
            other => return Err(MediaFileError::UnsupportedFourcc(other)),
        };
        let mut source = Source::Ivf {
            reader,
            next: None,
            last_duration: Duration::ZERO,
        };
        if let Source::Ivf { reader, next, .. } = &mut source {
            *next = reader.next_frame()?;
        }
        Ok(MediaFileReader { codec, source })
    }

    /// Reads an Ogg Opus file.
    pub fn ogg_opus(reader: R) -> Result<Self, MediaFileError> {
        Ok(MediaFileReader {
            codec: MediaCodec::Opus,
            source: Source::Opus {
                reader: OggOpusReader::new(reader)?,
                samples: 0,
            },
        })
    }

    /// Reads an H.264 Annex B stream at `frame_rate` access units per second (0 is taken as 1).
    pub fn h264(reader: R, frame_rate: u32) -> Self {
        MediaFileReader {
            codec: MediaCodec::H264,
            source: Source::H264 {
                reader: AnnexBReader::new(reader),
                frame_rate: frame_rate.max(1),
                frames: 0,
            },
        }
    }

    /// The file's codec.
    pub fn codec(&self) -> MediaCodec {
        self.codec
    }

    /// The next frame; `None` at the end of the file.
    pub fn next_frame(&mut self) -> Result<Option<MediaFrame>, MediaFileError> {
        let codec = self.codec;
        match &mut self.source {
            Source::Ivf {
                reader,
                next,
                last_duration,
            } => {
                let Some(frame) = next.take() else {
                    return Ok(None);
                };
                *next = reader.next_frame()?;
                let header = *reader.header();
                let at = |pts: u64| {
                    let nanos = u128::from(pts) * u128::from(header.timebase_numerator) * 1_000_000_000
                        / u128::from(header.timebase_denominator);
                    Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
                };
                let timestamp = at(frame.pts);
                let duration = match next {
                    Some(n) if n.pts > frame.pts => at(n.pts) - timestamp,
                    _ if *last_duration > Duration::ZERO => *last_duration,
                    _ => at(1),
                };
                *last_duration = duration;
                let keyframe = match codec {
                    // VP8 frame tag: bit 0 of the first byte is 0 for key frames (RFC 6386 section 9.1).
                    MediaCodec::Vp8 => frame.data.first().is_some_and(|b| b & 0x01 == 0),
                    MediaCodec::Vp9 => vp9_is_keyframe(&frame.data),
                    _ => false,
                };
                Ok(Some(MediaFrame {
                    data: frame.data,
                    timestamp,
                    duration,
                    keyframe,
                }))
            }
            Source::Opus { reader, samples } => {
                let Some(packet) = reader.next_packet()? else {
                    return Ok(None);
                };
                let from_granule = packet.granule_position.and_then(|g| g.checked_sub(*samples));
                let length = opus_packet_samples(&packet.data)
                    .map(u64::from)
                    .or(from_granule)
                    .ok_or(MediaFileError::UntimedOpusPacket(packet.data.len()))?;
                let timestamp = samples_to_duration(*samples);
                *samples = samples.saturating_add(length);
                Ok(Some(MediaFrame {
                    data: packet.data,
                    timestamp,
                    duration: samples_to_duration(length),
                    keyframe: true,
                }))
            }
            Source::H264 {
                reader,
                frame_rate,
                frames,
            } => {
                let Some(au) = reader.next_access_unit()? else {
                    return Ok(None);
                };
                let rate = u64::from(*frame_rate);
                let timestamp = Duration::from_nanos(
                    u64::try_from(u128::from(*frames) * 1_000_000_000 / u128::from(rate)).unwrap_or(u64::MAX),
                );
                *frames += 1;
                Ok(Some(MediaFrame {
                    keyframe: au.is_keyframe(),
                    data: au.to_annex_b(),
                    timestamp,
                    duration: Duration::from_nanos(1_000_000_000 / rate),
                }))
            }
        }
    }
}

fn samples_to_duration(samples: u64) -> Duration {
    Duration::from_nanos(u64::try_from(u128::from(samples) * 1_000_000_000 / u128::from(OPUS_RATE)).unwrap_or(u64::MAX))
}

/// Whether a VP9 frame is a key frame, from its uncompressed header (VP9 bitstream spec 6.2):
/// frame_marker (2 bits), profile (2 bits, plus a reserved bit for profile 3), show_existing_frame,
/// then frame_type, 0 for key frames.
fn vp9_is_keyframe(data: &[u8]) -> bool {
    let Some(&b) = data.first() else {
        return false;
    };
    if b >> 6 != 0b10 {
        return false;
    }
    let profile = ((b >> 5) & 1) | (((b >> 4) & 1) << 1);
    let mut bit = 4; // index (from the MSB) of the next bit after frame_marker and profile
    if profile == 3 {
        bit += 1;
    }
    let read_bit = |i: usize| data.get(i / 8).map(|byte| (byte >> (7 - i % 8)) & 1);
    if read_bit(bit) != Some(0) {
        return false; // show_existing_frame: no new frame
    }
    read_bit(bit + 1) == Some(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media_file::annexb::AnnexBWriter;
    use crate::media_file::ivf::IvfWriter;
    use crate::media_file::opus::OggOpusWriter;

    #[test]
    fn ivf_frames_are_timed_by_pts_and_time_base() {
        let mut w = IvfWriter::new(Vec::new(), FOURCC_VP8, 2, 2, 1, 1000).unwrap();
        for (pts, key) in [(0u64, true), (40, false), (100, false)] {
            w.write_frame(pts, &[if key { 0x10 } else { 0x11 }, 0, 0]).unwrap();
        }
        let bytes = w.into_inner().unwrap();
        let mut r = MediaFileReader::ivf(bytes.as_slice()).unwrap();
        assert_eq!(r.codec(), MediaCodec::Vp8);
        let frames: Vec<(u64, u64, bool)> = std::iter::from_fn(|| r.next_frame().unwrap())
            .map(|f| {
                (
                    f.timestamp.as_millis() as u64,
                    f.duration.as_millis() as u64,
                    f.keyframe,
                )
            })
            .collect();
        assert_eq!(frames, vec![(0, 40, true), (40, 60, false), (100, 60, false)]);
    }

    #[test]
    fn opus_packets_are_timed_by_their_toc() {
        let mut w = OggOpusWriter::new(Vec::new(), 1, 48_000, 3).unwrap();
        w.write_packet(&[31 << 3, 1], 960).unwrap(); // 20 ms
        w.write_packet(&[(31 << 3) | 1, 1], 1920).unwrap(); // 2 x 20 ms
        w.write_packet(&[16 << 3, 1], 120).unwrap(); // 2.5 ms
        let bytes = w.finish().unwrap();
        let mut r = MediaFileReader::ogg_opus(bytes.as_slice()).unwrap();
        let frames: Vec<(u128, u128)> = std::iter::from_fn(|| r.next_frame().unwrap())
            .map(|f| (f.timestamp.as_micros(), f.duration.as_micros()))
            .collect();
        assert_eq!(frames, vec![(0, 20_000), (20_000, 40_000), (60_000, 2_500)]);
    }

    #[test]
    fn h264_access_units_are_timed_at_the_given_rate() {
        let mut w = AnnexBWriter::new(Vec::new());
        w.write_nals(&[&[0x67u8, 1][..], &[0x68, 1], &[0x65, 0x80]]).unwrap();
        w.write_nal(&[0x41, 0x80]).unwrap();
        let bytes = w.into_inner().unwrap();
        let mut r = MediaFileReader::h264(bytes.as_slice(), 25);
        let a = r.next_frame().unwrap().unwrap();
        assert!(a.keyframe);
        assert_eq!(
            a.data,
            [0, 0, 0, 1, 0x67, 1, 0, 0, 0, 1, 0x68, 1, 0, 0, 0, 1, 0x65, 0x80]
        );
        let b = r.next_frame().unwrap().unwrap();
        assert_eq!(
            (b.timestamp, b.duration, b.keyframe),
            (Duration::from_millis(40), Duration::from_millis(40), false)
        );
        assert!(r.next_frame().unwrap().is_none());
    }

    #[test]
    fn unknown_extension_and_fourcc_are_errors() {
        assert!(matches!(
            MediaFileReader::open("/nonexistent/file.mp4"),
            Err(MediaFileError::UnknownExtension(e)) if e == "mp4"
        ));
        assert!(matches!(
            MediaFileReader::open("/nonexistent/file.IVF"),
            Err(MediaFileError::Io(_))
        ));
        let bytes = IvfWriter::new(Vec::new(), *b"H264", 1, 1, 1, 30)
            .unwrap()
            .into_inner()
            .unwrap();
        assert!(matches!(
            MediaFileReader::ivf(bytes.as_slice()),
            Err(MediaFileError::UnsupportedFourcc(f)) if &f == b"H264"
        ));
    }

    #[test]
    fn vp9_key_frames_are_recognized() {
        // frame_marker 10, profile 0, show_existing 0, frame_type 0 (key) / 1 (inter).
        assert!(vp9_is_keyframe(&[0b1000_0000]));
        assert!(!vp9_is_keyframe(&[0b1000_0100]));
        assert!(!vp9_is_keyframe(&[0b1000_1000])); // show_existing_frame
        assert!(!vp9_is_keyframe(&[0b0000_0000])); // bad frame marker
                                                   // Profile 3 has a reserved bit before show_existing_frame.
        assert!(vp9_is_keyframe(&[0b1011_0000]));
        assert!(!vp9_is_keyframe(&[0b1011_0010]));
    }
}
