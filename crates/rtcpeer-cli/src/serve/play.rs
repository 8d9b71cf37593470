//! `serve --play FILE`: each file feeds one [`LocalTrack`] that every session sends.
//!
//! One task per file, started with the server, reads the file with [`MediaFileReader`], writes
//! each frame to the track at the time its timestamp says (real time, from the task's start),
//! and starts over at the end, with timestamps that keep counting up. Sessions that join later
//! get the frames from then on; video decoders start at the file's next keyframe. A keyframe
//! request cannot be honoured (the file is already encoded), so files with frequent keyframes
//! (`ffmpeg … -g 30`) serve late joiners best.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rtcpeer::media_file::{MediaFileError, MediaFileReader};
use rtcpeer::{Codec, LocalTrack, MediaFrame, MediaType};
use tokio::time::Instant;
use tracing::{debug, info, warn};

/// The stream id (msid) the played tracks share, so a browser plays them as one stream.
pub const PLAY_STREAM: &str = "rtcpeer-play";

/// Why `--play` files cannot be played.
#[derive(Debug, thiserror::Error)]
pub enum PlayError {
    /// A file could not be opened or read.
    #[error("{path}: {source}")]
    File {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        source: MediaFileError,
    },
    /// A file holds no frames at all (so it cannot be looped).
    #[error("{0}: no frames")]
    Empty(PathBuf),
    /// Two files of the same kind were given.
    #[error("{second}: a second {kind} file (the first is {first}); give at most one video and one audio file")]
    SameKind {
        /// Audio or video.
        kind: MediaType,
        /// The first file of that kind.
        first: PathBuf,
        /// The one refused.
        second: PathBuf,
    },
}

/// A file being played into a track.
#[derive(Debug, Clone)]
pub struct PlayedFile {
    /// The file.
    pub path: PathBuf,
    /// The track its frames are written to.
    pub track: LocalTrack,
}

/// Checks every file (readable, one frame at least, at most one per kind) and makes its track.
pub fn open_files(paths: &[PathBuf]) -> Result<Vec<PlayedFile>, PlayError> {
    let mut files: Vec<PlayedFile> = Vec::new();
    for path in paths {
        let file_error = |source| PlayError::File {
            path: path.clone(),
            source,
        };
        let mut reader = MediaFileReader::open(path).map_err(file_error)?;
        let codec = Codec::from(reader.codec());
        if reader.next_frame().map_err(file_error)?.is_none() {
            return Err(PlayError::Empty(path.clone()));
        }
        let kind = if codec.media_type() == Some(MediaType::Video) {
            MediaType::Video
        } else {
            MediaType::Audio
        };
        if let Some(first) = files.iter().find(|f| f.track.kind() == kind) {
            return Err(PlayError::SameKind {
                kind,
                first: first.path.clone(),
                second: path.clone(),
            });
        }
        let id = format!("rtcpeer-play-{kind}");
        let track = LocalTrack::new(id, codec, vec![PLAY_STREAM.to_string()])
            .map_err(|e| file_error(MediaFileError::Io(std::io::Error::other(e.to_string()))))?;
        files.push(PlayedFile {
            path: path.clone(),
            track,
        });
    }
    Ok(files)
}

/// Plays `file` into its track forever (until the runtime ends), looping at the end.
///
/// A read error mid-file ends the current pass and starts the next one; a file that can no
/// longer be opened stops the task.
pub async fn play(file: PlayedFile) {
    let track = file.track.clone();
    play_into(&file.path, move |frame| track.write_frame(frame)).await;
}

/// Plays the file at `path` into `sink` (which says how many sessions took the frame), looping.
async fn play_into(path: &Path, mut sink: impl FnMut(MediaFrame) -> usize) {
    let start = Instant::now();
    // Where the current pass starts on the track's timeline.
    let mut offset = Duration::ZERO;
    let mut passes = 0u64;
    loop {
        let mut reader = match MediaFileReader::open(path) {
            Ok(reader) => reader,
            Err(error) => {
                warn!(path = %path.display(), %error, "cannot open the file any more; stopping");
                return;
            }
        };
        let mut end = offset;
        loop {
            let frame = match reader.next_frame() {
                Ok(Some(frame)) => frame,
                Ok(None) => break,
                Err(error) => {
                    warn!(path = %path.display(), %error, "read error; starting over");
                    break;
                }
            };
            let pts = offset + frame.timestamp;
            end = end.max(pts + frame.duration);
            tokio::time::sleep_until(start + pts).await;
            let sessions = sink(MediaFrame {
                data: frame.data.into(),
                pts,
            });
            if frame.keyframe && sessions > 0 {
                debug!(path = %path.display(), ?pts, sessions, "keyframe sent");
            }
        }
        passes += 1;
        // A file whose frames last no time at all would otherwise spin.
        offset = end.max(offset + Duration::from_millis(1));
        if passes == 1 {
            info!(path = %path.display(), length = ?offset, "played once; looping");
        }
    }
}

/// Starts a [`play`] task for each file.
pub fn start(files: &[PlayedFile]) {
    for file in files {
        info!(path = %file.path.display(), codec = %file.track.codec(), "playing");
        tokio::spawn(play(file.clone()));
    }
}

/// The played track of `kind`, if any.
pub fn track_of_kind(files: &[PlayedFile], kind: MediaType) -> Option<&LocalTrack> {
    files.iter().map(|f| &f.track).find(|t| t.kind() == kind)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtcpeer::media_file::ivf::FOURCC_VP8;
    use rtcpeer::media_file::IvfWriter;

    fn write_ivf(path: &Path, frames: u64) {
        let file = std::fs::File::create(path).expect("create");
        let mut writer = IvfWriter::new(file, FOURCC_VP8, 64, 48, 1, 100).expect("header");
        for i in 0..frames {
            let tag = if i == 0 { 0x00 } else { 0x01 };
            writer.write_frame(i, &[tag, i as u8, 0]).expect("frame");
        }
        writer.finish().expect("finish");
    }

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("rtcpeer-play-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        dir
    }

    #[test]
    fn files_are_checked_up_front() {
        let dir = temp_dir("check");
        let video = dir.join("a.ivf");
        let other = dir.join("b.ivf");
        write_ivf(&video, 3);
        write_ivf(&other, 3);
        let files = open_files(std::slice::from_ref(&video)).expect("one video file");
        assert_eq!(files[0].track.codec(), Codec::Vp8);
        assert!(track_of_kind(&files, MediaType::Video).is_some());
        assert!(track_of_kind(&files, MediaType::Audio).is_none());

        let two = open_files(&[video.clone(), other]).expect_err("two video files");
        assert!(
            matches!(
                two,
                PlayError::SameKind {
                    kind: MediaType::Video,
                    ..
                }
            ),
            "{two}"
        );
        let empty = dir.join("empty.ivf");
        write_ivf(&empty, 0);
        assert!(matches!(open_files(&[empty]), Err(PlayError::Empty(_))));
        let missing = open_files(&[dir.join("missing.ogg")]).expect_err("missing");
        assert!(missing.to_string().contains("missing.ogg"), "{missing}");
        let unknown = open_files(&[dir.join("x.mp4")]).expect_err("unknown");
        assert!(matches!(unknown, PlayError::File { .. }), "{unknown}");
        std::fs::remove_dir_all(dir).ok();
    }

    #[tokio::test]
    async fn frames_are_paced_by_their_timestamps_and_looped() {
        let dir = temp_dir("loop");
        let path = dir.join("v.ivf");
        // Three frames 10 ms apart: one pass lasts 30 ms.
        write_ivf(&path, 3);
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let started = Instant::now();
        tokio::spawn(async move { play_into(&path, move |frame| usize::from(tx.send(frame).is_ok())).await });
        let mut seen = Vec::new();
        for _ in 0..7 {
            let frame = rx.recv().await.expect("a frame");
            seen.push((frame.pts, started.elapsed()));
        }
        let pts: Vec<u64> = seen.iter().map(|(p, _)| p.as_millis() as u64).collect();
        assert_eq!(
            pts,
            [0, 10, 20, 30, 40, 50, 60],
            "the second pass continues the timeline"
        );
        for (pts, at) in &seen {
            assert!(at >= pts, "frame at {pts:?} written early, at {at:?}");
            // Generous: the machine may be busy; a pass that ignored the timestamps would be ~0 ms.
            assert!(
                *at < *pts + Duration::from_millis(200),
                "frame at {pts:?} written late, at {at:?}"
            );
        }
        std::fs::remove_dir_all(dir).ok();
    }
}
