//! IVF: the frame container of VP8, VP9 and AV1 elementary streams.
//!
//! An IVF file is a 32-byte little-endian file header (`DKIF`, version 0, header length, codec FourCC,
//! width, height, time base, frame count) followed by frames, each a 12-byte header (frame size, 64-bit
//! presentation timestamp in time-base units) and the frame bytes.

use std::io::{self, Read, Seek, SeekFrom, Write};

use super::{read_bounded, read_up_to, MAX_FRAME_SIZE};

/// The file signature at the start of every IVF file.
pub const IVF_SIGNATURE: [u8; 4] = *b"DKIF";
/// FourCC of VP8 streams.
pub const FOURCC_VP8: [u8; 4] = *b"VP80";
/// FourCC of VP9 streams.
pub const FOURCC_VP9: [u8; 4] = *b"VP90";
/// FourCC of AV1 streams.
pub const FOURCC_AV1: [u8; 4] = *b"AV01";

/// Length of the IVF file header this writer produces (and the minimum a reader accepts).
const FILE_HEADER_LEN: usize = 32;
/// Length of each frame header.
const FRAME_HEADER_LEN: usize = 12;
/// Byte offset of the frame count inside the file header.
const FRAME_COUNT_OFFSET: u64 = 24;
/// The largest header length a reader accepts; bytes past the 32 known ones are skipped.
const MAX_HEADER_LEN: usize = 1024;

/// What went wrong reading or writing an IVF file.
#[derive(Debug, thiserror::Error)]
pub enum IvfError {
    /// The underlying reader or writer failed.
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),
    /// The file ended inside the file header.
    #[error("IVF file header truncated: {got} of {need} bytes")]
    TruncatedHeader {
        /// Bytes present.
        got: usize,
        /// Bytes the header needs.
        need: usize,
    },
    /// The file does not start with `DKIF`.
    #[error("not an IVF file: signature {0:02x?}, expected \"DKIF\"")]
    BadSignature([u8; 4]),
    /// The header declares a version other than 0.
    #[error("unsupported IVF version {0}")]
    UnsupportedVersion(u16),
    /// The header length is below 32 or implausibly large.
    #[error("invalid IVF header length {0}")]
    BadHeaderLength(u16),
    /// The time base has a zero numerator or denominator.
    #[error("invalid IVF time base {numerator}/{denominator}")]
    BadTimebase {
        /// Time base numerator.
        numerator: u32,
        /// Time base denominator.
        denominator: u32,
    },
    /// The file ended inside a frame header or frame.
    #[error("IVF frame truncated: {got} of {need} bytes")]
    TruncatedFrame {
        /// Bytes present.
        got: usize,
        /// Bytes the frame (or frame header) needs.
        need: usize,
    },
    /// A frame is larger than [`MAX_FRAME_SIZE`].
    #[error("IVF frame of {size} bytes exceeds the limit of {limit} bytes")]
    FrameTooLarge {
        /// Declared (or given) size.
        size: u64,
        /// The limit.
        limit: usize,
    },
}

/// The IVF file header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IvfHeader {
    /// Codec FourCC, e.g. [`FOURCC_VP8`].
    pub fourcc: [u8; 4],
    /// Frame width in pixels.
    pub width: u16,
    /// Frame height in pixels.
    pub height: u16,
    /// Time base numerator: one timestamp unit is `timebase_numerator / timebase_denominator` seconds.
    pub timebase_numerator: u32,
    /// Time base denominator.
    pub timebase_denominator: u32,
    /// Frame count as stored in the header (writers that cannot seek leave it 0, so it may be wrong).
    pub frame_count: u32,
}

impl IvfHeader {
    fn to_bytes(self) -> [u8; FILE_HEADER_LEN] {
        let mut b = [0u8; FILE_HEADER_LEN];
        b[0..4].copy_from_slice(&IVF_SIGNATURE);
        b[4..6].copy_from_slice(&0u16.to_le_bytes());
        b[6..8].copy_from_slice(&(FILE_HEADER_LEN as u16).to_le_bytes());
        b[8..12].copy_from_slice(&self.fourcc);
        b[12..14].copy_from_slice(&self.width.to_le_bytes());
        b[14..16].copy_from_slice(&self.height.to_le_bytes());
        b[16..20].copy_from_slice(&self.timebase_denominator.to_le_bytes());
        b[20..24].copy_from_slice(&self.timebase_numerator.to_le_bytes());
        b[24..28].copy_from_slice(&self.frame_count.to_le_bytes());
        b
    }

    fn parse(b: &[u8; FILE_HEADER_LEN]) -> Result<(Self, u16), IvfError> {
        let u16_at = |i: usize| u16::from_le_bytes([b[i], b[i + 1]]);
        let u32_at = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        let signature = [b[0], b[1], b[2], b[3]];
        if signature != IVF_SIGNATURE {
            return Err(IvfError::BadSignature(signature));
        }
        let version = u16_at(4);
        if version != 0 {
            return Err(IvfError::UnsupportedVersion(version));
        }
        let header_len = u16_at(6);
        if usize::from(header_len) < FILE_HEADER_LEN || usize::from(header_len) > MAX_HEADER_LEN {
            return Err(IvfError::BadHeaderLength(header_len));
        }
        let header = IvfHeader {
            fourcc: [b[8], b[9], b[10], b[11]],
            width: u16_at(12),
            height: u16_at(14),
            timebase_denominator: u32_at(16),
            timebase_numerator: u32_at(20),
            frame_count: u32_at(24),
        };
        if header.timebase_numerator == 0 || header.timebase_denominator == 0 {
            return Err(IvfError::BadTimebase {
                numerator: header.timebase_numerator,
                denominator: header.timebase_denominator,
            });
        }
        Ok((header, header_len))
    }
}

/// One IVF frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IvfFrame {
    /// Presentation timestamp in units of the file's time base.
    pub pts: u64,
    /// The frame's bytes (one compressed VP8/VP9 frame or AV1 temporal unit).
    pub data: Vec<u8>,
}

/// Writes an IVF file frame by frame.
///
/// The frame count in the header is only correct after [`IvfWriter::finish`], which needs a seekable
/// writer; [`IvfWriter::into_inner`] leaves it at 0 (readers, ffmpeg included, do not rely on it).
#[derive(Debug)]
pub struct IvfWriter<W: Write> {
    writer: W,
    frames: u32,
    /// Bytes written since the start of the file header, to find the header again in `finish`.
    written: u64,
}

impl<W: Write> IvfWriter<W> {
    /// Writes the file header for `fourcc` (e.g. [`FOURCC_VP8`]) frames of `width` x `height` pixels
    /// whose timestamps count units of `timebase_numerator / timebase_denominator` seconds.
    pub fn new(
        mut writer: W,
        fourcc: [u8; 4],
        width: u16,
        height: u16,
        timebase_numerator: u32,
        timebase_denominator: u32,
    ) -> Result<Self, IvfError> {
        if timebase_numerator == 0 || timebase_denominator == 0 {
            return Err(IvfError::BadTimebase {
                numerator: timebase_numerator,
                denominator: timebase_denominator,
            });
        }
        let header = IvfHeader {
            fourcc,
            width,
            height,
            timebase_numerator,
            timebase_denominator,
            frame_count: 0,
        };
        writer.write_all(&header.to_bytes())?;
        Ok(IvfWriter {
            writer,
            frames: 0,
            written: FILE_HEADER_LEN as u64,
        })
    }

    /// Appends one frame with presentation timestamp `pts` (in time-base units).
    pub fn write_frame(&mut self, pts: u64, data: &[u8]) -> Result<(), IvfError> {
        if data.len() > MAX_FRAME_SIZE {
            return Err(IvfError::FrameTooLarge {
                size: data.len() as u64,
                limit: MAX_FRAME_SIZE,
            });
        }
        let mut header = [0u8; FRAME_HEADER_LEN];
        header[0..4].copy_from_slice(&(data.len() as u32).to_le_bytes());
        header[4..12].copy_from_slice(&pts.to_le_bytes());
        self.writer.write_all(&header)?;
        self.writer.write_all(data)?;
        self.frames = self.frames.saturating_add(1);
        self.written += (FRAME_HEADER_LEN + data.len()) as u64;
        Ok(())
    }

    /// How many frames have been written.
    pub fn frame_count(&self) -> u32 {
        self.frames
    }

    /// Flushes and returns the writer, leaving the header's frame count at 0.
    pub fn into_inner(mut self) -> Result<W, IvfError> {
        self.writer.flush()?;
        Ok(self.writer)
    }
}

impl<W: Write + Seek> IvfWriter<W> {
    /// Rewrites the header's frame count, leaves the position at the end of the file, flushes and
    /// returns the writer.
    pub fn finish(mut self) -> Result<W, IvfError> {
        let end = self.writer.stream_position()?;
        let header_start = end.saturating_sub(self.written);
        self.writer.seek(SeekFrom::Start(header_start + FRAME_COUNT_OFFSET))?;
        self.writer.write_all(&self.frames.to_le_bytes())?;
        self.writer.seek(SeekFrom::Start(end))?;
        self.writer.flush()?;
        Ok(self.writer)
    }
}

/// Reads an IVF file frame by frame.
#[derive(Debug)]
pub struct IvfReader<R: Read> {
    reader: R,
    header: IvfHeader,
}

impl<R: Read> IvfReader<R> {
    /// Reads and checks the file header.
    pub fn new(mut reader: R) -> Result<Self, IvfError> {
        let mut bytes = [0u8; FILE_HEADER_LEN];
        let got = read_up_to(&mut reader, &mut bytes)?;
        if got < FILE_HEADER_LEN {
            return Err(IvfError::TruncatedHeader {
                got,
                need: FILE_HEADER_LEN,
            });
        }
        let (header, header_len) = IvfHeader::parse(&bytes)?;
        let extra = usize::from(header_len) - FILE_HEADER_LEN;
        if extra > 0 {
            let skipped = read_bounded(&mut reader, extra)?;
            if skipped.len() < extra {
                return Err(IvfError::TruncatedHeader {
                    got: FILE_HEADER_LEN + skipped.len(),
                    need: usize::from(header_len),
                });
            }
        }
        tracing::debug!(?header, "IVF header");
        Ok(IvfReader { reader, header })
    }

    /// The file header.
    pub fn header(&self) -> &IvfHeader {
        &self.header
    }

    /// The next frame, or `None` at a clean end of file (the end falls between frames).
    pub fn next_frame(&mut self) -> Result<Option<IvfFrame>, IvfError> {
        let mut header = [0u8; FRAME_HEADER_LEN];
        let got = read_up_to(&mut self.reader, &mut header)?;
        if got == 0 {
            return Ok(None);
        }
        if got < FRAME_HEADER_LEN {
            return Err(IvfError::TruncatedFrame {
                got,
                need: FRAME_HEADER_LEN,
            });
        }
        let size = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
        let pts = u64::from_le_bytes([
            header[4], header[5], header[6], header[7], header[8], header[9], header[10], header[11],
        ]);
        let size = usize::try_from(size).unwrap_or(usize::MAX);
        if size > MAX_FRAME_SIZE {
            return Err(IvfError::FrameTooLarge {
                size: size as u64,
                limit: MAX_FRAME_SIZE,
            });
        }
        let data = read_bounded(&mut self.reader, size)?;
        if data.len() < size {
            return Err(IvfError::TruncatedFrame {
                got: data.len(),
                need: size,
            });
        }
        Ok(Some(IvfFrame { pts, data }))
    }

    /// Returns the underlying reader.
    pub fn into_inner(self) -> R {
        self.reader
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn sample_file(frames: &[(u64, Vec<u8>)]) -> Vec<u8> {
        let mut w = IvfWriter::new(Cursor::new(Vec::new()), FOURCC_VP8, 320, 240, 1, 30).unwrap();
        for (pts, data) in frames {
            w.write_frame(*pts, data).unwrap();
        }
        w.finish().unwrap().into_inner()
    }

    #[test]
    fn round_trip_keeps_header_frames_and_count() {
        let frames: Vec<(u64, Vec<u8>)> = (0..5u64)
            .map(|i| (i * 3, vec![i as u8; 10 + i as usize * 100]))
            .collect();
        let bytes = sample_file(&frames);
        let mut r = IvfReader::new(bytes.as_slice()).unwrap();
        assert_eq!(
            *r.header(),
            IvfHeader {
                fourcc: FOURCC_VP8,
                width: 320,
                height: 240,
                timebase_numerator: 1,
                timebase_denominator: 30,
                frame_count: 5
            }
        );
        for (pts, data) in &frames {
            let f = r.next_frame().unwrap().unwrap();
            assert_eq!((&f.pts, &f.data), (pts, data));
        }
        assert!(r.next_frame().unwrap().is_none());
    }

    #[test]
    fn into_inner_without_seek_leaves_count_zero() {
        let mut w = IvfWriter::new(Vec::new(), FOURCC_VP9, 64, 48, 1, 1000).unwrap();
        w.write_frame(0, b"abc").unwrap();
        assert_eq!(w.frame_count(), 1);
        let bytes = w.into_inner().unwrap();
        let mut r = IvfReader::new(bytes.as_slice()).unwrap();
        assert_eq!(r.header().frame_count, 0);
        assert_eq!(r.next_frame().unwrap().unwrap().data, b"abc");
    }

    #[test]
    fn finish_finds_header_when_file_does_not_start_at_zero() {
        let mut cursor = Cursor::new(Vec::new());
        cursor.write_all(b"prefix").unwrap();
        let mut w = IvfWriter::new(cursor, FOURCC_AV1, 1, 1, 1, 90_000).unwrap();
        w.write_frame(7, b"x").unwrap();
        w.write_frame(8, b"y").unwrap();
        let bytes = w.finish().unwrap().into_inner();
        let r = IvfReader::new(&bytes[6..]).unwrap();
        assert_eq!(r.header().frame_count, 2);
    }

    #[test]
    fn truncated_header_is_an_error() {
        let bytes = sample_file(&[]);
        for len in [0, 4, 31] {
            assert!(matches!(
                IvfReader::new(&bytes[..len]),
                Err(IvfError::TruncatedHeader { got, need: 32 }) if got == len
            ));
        }
    }

    #[test]
    fn bad_signature_version_header_length_and_timebase_are_errors() {
        let good = sample_file(&[]);
        let mut bad = good.clone();
        bad[0] = b'X';
        assert!(matches!(IvfReader::new(bad.as_slice()), Err(IvfError::BadSignature(_))));
        let mut bad = good.clone();
        bad[4] = 1;
        assert!(matches!(
            IvfReader::new(bad.as_slice()),
            Err(IvfError::UnsupportedVersion(1))
        ));
        let mut bad = good.clone();
        bad[6] = 8;
        assert!(matches!(
            IvfReader::new(bad.as_slice()),
            Err(IvfError::BadHeaderLength(8))
        ));
        let mut bad = good.clone();
        bad[16..20].copy_from_slice(&[0; 4]);
        assert!(matches!(
            IvfReader::new(bad.as_slice()),
            Err(IvfError::BadTimebase { .. })
        ));
    }

    #[test]
    fn longer_header_is_skipped() {
        let mut bytes = sample_file(&[(4, b"data".to_vec())]);
        bytes[6] = 40;
        bytes.splice(32..32, [0xAA; 8]);
        let mut r = IvfReader::new(bytes.as_slice()).unwrap();
        assert_eq!(
            r.next_frame().unwrap().unwrap(),
            IvfFrame {
                pts: 4,
                data: b"data".to_vec()
            }
        );
    }

    #[test]
    fn truncated_frames_are_errors() {
        let bytes = sample_file(&[(0, vec![1; 50])]);
        for cut in [33, 40, 43, 60, bytes.len() - 1] {
            let mut r = IvfReader::new(&bytes[..cut]).unwrap();
            assert!(
                matches!(r.next_frame(), Err(IvfError::TruncatedFrame { .. })),
                "cut {cut}"
            );
        }
    }

    #[test]
    fn huge_declared_frame_size_is_an_error() {
        let mut bytes = sample_file(&[(0, vec![1; 5])]);
        bytes[32..36].copy_from_slice(&u32::MAX.to_le_bytes());
        let mut r = IvfReader::new(bytes.as_slice()).unwrap();
        assert!(matches!(r.next_frame(), Err(IvfError::FrameTooLarge { size, .. }) if size == u64::from(u32::MAX)));
        // Just under the limit but with only 5 bytes present: truncated, not a 16 MiB allocation failure.
        bytes[32..36].copy_from_slice(&(MAX_FRAME_SIZE as u32).to_le_bytes());
        let mut r = IvfReader::new(bytes.as_slice()).unwrap();
        assert!(matches!(r.next_frame(), Err(IvfError::TruncatedFrame { got: 5, .. })));
    }

    #[test]
    fn zero_timebase_is_refused_by_the_writer() {
        assert!(matches!(
            IvfWriter::new(Vec::new(), FOURCC_VP8, 1, 1, 1, 0),
            Err(IvfError::BadTimebase { .. })
        ));
    }
}
