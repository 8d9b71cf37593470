//! `serve --record DIR`: one file per received track, named `<session>-<mid>.<ext>`, or per
//! simulcast layer of a track, `<session>-<mid>-<rid>.<ext>`.
//!
//! | codec | file | timing |
//! | --- | --- | --- |
//! | VP8, VP9, AV1 | `.ivf` | pts = RTP timestamp − the first one, time base 1/90000 |
//! | Opus | `.ogg` | granule positions follow the RTP timestamps (48 kHz) |
//! | H.264 | `.h264` | none (Annex B byte stream, one access unit after another) |
//!
//! The file is created at the first frame worth keeping (video waits for a keyframe) and
//! finished — IVF frame count, Ogg end-of-stream page, buffers flushed — by
//! [`Recording::finish`] when the track ends.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use rtcpeer::media_file::ivf::{FOURCC_AV1, FOURCC_VP8, FOURCC_VP9};
use rtcpeer::media_file::opus::{opus_packet_samples, MAX_PACKET_SAMPLES};
use rtcpeer::media_file::{IvfError, IvfWriter, OggOpusError, OggOpusWriter};
use rtcpeer::{Codec, ReceivedFrame};

/// The IVF time base: the RTP video clock.
const VIDEO_CLOCK: u32 = 90_000;

/// Why a track cannot be (or stopped being) recorded.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// The codec has no file format here (G.711, G.722).
    #[error("no file format records {0}")]
    UnsupportedCodec(Codec),
    /// Creating or writing the file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
    /// The IVF writer refused a frame.
    #[error("{path}: {source}")]
    Ivf {
        /// The file.
        path: PathBuf,
        /// What failed.
        source: IvfError,
    },
    /// The Ogg Opus writer refused a packet.
    #[error("{path}: {source}")]
    Opus {
        /// The file.
        path: PathBuf,
        /// What failed.
        source: OggOpusError,
    },
}

/// The file extension recording `codec` produces, if it can be recorded.
pub fn extension(codec: Codec) -> Option<&'static str> {
    match codec {
        Codec::Vp8 | Codec::Vp9 | Codec::Av1 => Some("ivf"),
        Codec::Opus => Some("ogg"),
        Codec::H264 => Some("h264"),
        _ => None,
    }
}

/// The file a track of session `session` on transceiver `mid` is recorded to.
///
/// Characters other than ASCII letters, digits, `-` and `_` in the mid become `_`, so a remote
/// cannot pick a path.
pub fn file_path(dir: &Path, session: &str, mid: &str, codec: Codec) -> Option<PathBuf> {
    let mid: String = mid
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    Some(dir.join(format!("{session}-{mid}.{}", extension(codec)?)))
}

/// The width and height a VP8 keyframe declares (RFC 6386 §9.1), or `None` for other frames.
fn vp8_size(frame: &[u8]) -> Option<(u16, u16)> {
    let header = frame.get(..10)?;
    let keyframe = header[0] & 1 == 0;
    if !keyframe || header[3..6] != [0x9d, 0x01, 0x2a] {
        return None;
    }
    let width = u16::from_le_bytes([header[6], header[7]]) & 0x3fff;
    let height = u16::from_le_bytes([header[8], header[9]]) & 0x3fff;
    Some((width, height))
}

enum Writer {
    Ivf(IvfWriter<BufWriter<File>>),
    Opus(OggOpusWriter<BufWriter<File>>),
    AnnexB(BufWriter<File>),
}

/// One track being written to its file.
pub struct Recording {
    path: PathBuf,
    writer: Writer,
    /// The codec of the first frame: the only one the file takes.
    codec: Codec,
    /// The RTP timestamp of the first frame written.
    first_timestamp: u64,
    frames: u64,
}

impl std::fmt::Debug for Recording {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recording")
            .field("path", &self.path)
            .field("frames", &self.frames)
            .finish_non_exhaustive()
    }
}

impl Recording {
    /// Creates `path` for frames of `first`'s codec and writes `first` into it.
    ///
    /// The caller starts video recordings at a keyframe.
    pub fn create(path: PathBuf, first: &ReceivedFrame) -> Result<Recording, RecordError> {
        if extension(first.codec).is_none() {
            return Err(RecordError::UnsupportedCodec(first.codec));
        }
        let io = |source| RecordError::Io {
            path: path.clone(),
            source,
        };
        let file = BufWriter::new(File::create(&path).map_err(io)?);
        let writer = match first.codec {
            Codec::Vp8 | Codec::Vp9 | Codec::Av1 => {
                let fourcc = match first.codec {
                    Codec::Vp8 => FOURCC_VP8,
                    Codec::Vp9 => FOURCC_VP9,
                    _ => FOURCC_AV1,
                };
                // Only VP8 declares its size in a simple header; readers take it from the bitstream anyway.
                let (width, height) = vp8_size(&first.data).unwrap_or((640, 480));
                let writer =
                    IvfWriter::new(file, fourcc, width, height, 1, VIDEO_CLOCK).map_err(|source| RecordError::Ivf {
                        path: path.clone(),
                        source,
                    })?;
                Writer::Ivf(writer)
            }
            Codec::Opus => {
                // RTP Opus is always signalled as 2 channels; a decoder plays mono packets as well.
                let writer = OggOpusWriter::new(file, 2, 48_000, 1).map_err(|source| RecordError::Opus {
                    path: path.clone(),
                    source,
                })?;
                Writer::Opus(writer)
            }
            Codec::H264 => Writer::AnnexB(file),
            other => return Err(RecordError::UnsupportedCodec(other)),
        };
        let mut recording = Recording {
            path,
            writer,
            codec: first.codec,
            first_timestamp: first.rtp_timestamp,
            frames: 0,
        };
        recording.write(first)?;
        Ok(recording)
    }

    /// The file being written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one frame. Frames of another codec than the first are skipped (`Ok(false)`).
    pub fn write(&mut self, frame: &ReceivedFrame) -> Result<bool, RecordError> {
        if frame.codec != self.codec {
            return Ok(false);
        }
        let elapsed = frame.rtp_timestamp.saturating_sub(self.first_timestamp);
        match &mut self.writer {
            Writer::Ivf(writer) => {
                writer
                    .write_frame(elapsed, &frame.data)
                    .map_err(|source| RecordError::Ivf {
                        path: self.path.clone(),
                        source,
                    })?;
            }
            Writer::Opus(writer) => {
                if frame.data.is_empty() {
                    return Ok(false);
                }
                // The granule after this packet is where its RTP timestamp puts its end; the
                // writer counts durations, so pass the step from where it stands.
                let own = opus_packet_samples(&frame.data).unwrap_or(960);
                let end = elapsed.saturating_add(u64::from(own));
                let step = end
                    .saturating_sub(writer.granule_position())
                    .min(u64::from(MAX_PACKET_SAMPLES));
                writer
                    .write_packet(&frame.data, step as u32)
                    .map_err(|source| RecordError::Opus {
                        path: self.path.clone(),
                        source,
                    })?;
            }
            Writer::AnnexB(file) => {
                // Received H.264 frames are Annex B access units already: appending them is the stream.
                file.write_all(&frame.data).map_err(|source| RecordError::Io {
                    path: self.path.clone(),
                    source,
                })?;
            }
        }
        self.frames += 1;
        Ok(true)
    }

    /// Finishes the file (IVF frame count, Ogg end of stream) and flushes it to disk.
    pub fn finish(self) -> Result<u64, RecordError> {
        let path = self.path;
        let io = |source| RecordError::Io {
            path: path.clone(),
            source,
        };
        let file = match self.writer {
            Writer::Ivf(writer) => writer.finish().map_err(|source| RecordError::Ivf {
                path: path.clone(),
                source,
            })?,
            Writer::Opus(writer) => writer.finish().map_err(|source| RecordError::Opus {
                path: path.clone(),
                source,
            })?,
            Writer::AnnexB(mut file) => {
                file.flush().map_err(io)?;
                file
            }
        };
        let file = file.into_inner().map_err(|e| io(e.into_error()))?;
        file.sync_all().map_err(io)?;
        Ok(self.frames)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtcpeer::media_file::{MediaCodec, MediaFileReader};

    fn frame(codec: Codec, rtp_timestamp: u64, data: Vec<u8>, keyframe: bool) -> ReceivedFrame {
        ReceivedFrame {
            data: data.into(),
            codec,
            rtp_timestamp,
            keyframe,
            rid: None,
        }
    }

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("rtcpeer-record-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        dir
    }

    #[test]
    fn paths_name_session_and_mid_and_cannot_escape_the_directory() {
        let dir = Path::new("/rec");
        assert_eq!(
            file_path(dir, "abc", "0", Codec::Vp8),
            Some(PathBuf::from("/rec/abc-0.ivf"))
        );
        assert_eq!(
            file_path(dir, "abc", "../x", Codec::Opus),
            Some(PathBuf::from("/rec/abc-___x.ogg"))
        );
        assert_eq!(
            file_path(dir, "s", "v", Codec::H264),
            Some(PathBuf::from("/rec/s-v.h264"))
        );
        assert_eq!(file_path(dir, "s", "a", Codec::Pcmu), None);
    }

    #[test]
    fn vp8_keyframes_declare_their_size() {
        let key = [0x50, 0x2d, 0x01, 0x9d, 0x01, 0x2a, 0x40, 0x01, 0xf0, 0x00, 0xff];
        assert_eq!(vp8_size(&key), Some((320, 240)));
        let mut inter = key;
        inter[0] |= 1;
        assert_eq!(vp8_size(&inter), None);
        assert_eq!(vp8_size(&key[..5]), None);
    }

    #[test]
    fn ivf_pts_count_from_the_first_rtp_timestamp() {
        let dir = temp_dir("ivf");
        let path = dir.join("t.ivf");
        let start = 1_000_000;
        let mut recording =
            Recording::create(path.clone(), &frame(Codec::Vp8, start, vec![0x00, 1, 2], true)).expect("create");
        recording
            .write(&frame(Codec::Vp8, start + 3000, vec![0x01, 3], false))
            .expect("write");
        // A frame of another codec is not mixed into the file.
        assert!(!recording
            .write(&frame(Codec::Opus, start, vec![1], true))
            .expect("skip"));
        // Nor is another codec that IVF could carry.
        assert!(!recording
            .write(&frame(Codec::Vp9, start + 6000, vec![0x80, 4], true))
            .expect("skip"));
        assert_eq!(recording.finish().expect("finish"), 2);

        let mut reader = MediaFileReader::open(&path).expect("open");
        assert_eq!(reader.codec(), MediaCodec::Vp8);
        let first = reader.next_frame().expect("read").expect("frame");
        let second = reader.next_frame().expect("read").expect("frame");
        assert_eq!(first.timestamp, std::time::Duration::ZERO);
        assert_eq!(
            second.timestamp,
            std::time::Duration::from_nanos(3000 * 1_000_000_000 / 90_000)
        );
        assert_eq!(second.data, vec![0x01, 3]);
        assert!(reader.next_frame().expect("read").is_none());
        let bytes = std::fs::read(&path).expect("file");
        assert_eq!(
            u32::from_le_bytes([bytes[24], bytes[25], bytes[26], bytes[27]]),
            2,
            "frame count"
        );
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn ogg_granules_follow_rtp_timestamps_across_a_gap() {
        let dir = temp_dir("ogg");
        let path = dir.join("t.ogg");
        // TOC 0x78: config 15 (hybrid, 20 ms), code 0: one frame, 960 samples.
        let packet = vec![0x78, 0xaa, 0xbb];
        assert_eq!(opus_packet_samples(&packet), Some(960));
        let mut recording = Recording::create(path.clone(), &frame(Codec::Opus, 5000, packet.clone(), true)).unwrap();
        recording
            .write(&frame(Codec::Opus, 5960, packet.clone(), true))
            .unwrap();
        // Two packets lost: the next one starts 3 × 960 later.
        recording
            .write(&frame(Codec::Opus, 5960 + 3 * 960, packet.clone(), true))
            .unwrap();
        assert_eq!(recording.finish().unwrap(), 3);

        let file = std::fs::File::open(&path).expect("open");
        let mut reader = rtcpeer::media_file::ogg::OggPacketReader::new(std::io::BufReader::new(file));
        let mut packets = Vec::new();
        while let Some(p) = reader.next_packet().expect("read") {
            packets.push(p);
        }
        // OpusHead, OpusTags, then the three audio packets, each on its own page.
        let granules: Vec<Option<u64>> = packets.iter().skip(2).map(|p| p.granule_position).collect();
        // Each packet's granule is where it ends: 960, 1920, and the third, which starts 4 × 960
        // after the first (two lost between), at 4800, not at 2880 as counting packets would say.
        assert_eq!(granules, [Some(960), Some(1920), Some(4800)]);
        assert!(packets.last().is_some_and(|p| p.eos), "the last page ends the stream");
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn h264_access_units_are_appended_as_they_come() {
        let dir = temp_dir("h264");
        let path = dir.join("t.h264");
        let idr = vec![0, 0, 0, 1, 0x67, 0x42, 0, 0, 0, 1, 0x68, 0xce, 0, 0, 0, 1, 0x65, 0x88];
        let p = vec![0, 0, 0, 1, 0x41, 0x9a];
        let mut recording = Recording::create(path.clone(), &frame(Codec::H264, 0, idr.clone(), true)).unwrap();
        recording.write(&frame(Codec::H264, 3000, p.clone(), false)).unwrap();
        recording.finish().unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), [idr, p].concat());
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn g711_is_refused() {
        let error = Recording::create(
            std::env::temp_dir().join("never.wav"),
            &frame(Codec::Pcmu, 0, vec![0xff; 160], true),
        )
        .expect_err("no format");
        assert!(matches!(error, RecordError::UnsupportedCodec(Codec::Pcmu)));
    }
}
