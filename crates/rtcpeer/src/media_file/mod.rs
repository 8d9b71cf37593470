//! Media files: read and write the containers a WebRTC peer plays from and records to.
//!
//! - [`ivf`]: IVF, the simple frame container of VP8, VP9 and AV1.
//! - [`ogg`] and [`opus`]: Ogg pages (RFC 3533) carrying Opus audio (RFC 7845).
//! - [`annexb`]: H.264 byte streams with start codes (ITU-T H.264 Annex B), grouped into access units.
//! - [`reader`]: [`MediaFileReader`], which opens any of these by file extension and yields frames with
//!   their presentation time and duration, so a sender can pace them.
//!
//! Everything here is synchronous and generic over [`std::io::Read`] / [`std::io::Write`]. Readers treat
//! the file as untrusted: malformed input gives a typed error, never a panic, and no frame, packet or
//! NAL unit larger than [`MAX_FRAME_SIZE`] is ever buffered.
//!
//! ```
//! use rtcpeer::media_file::{ivf::FOURCC_VP8, IvfWriter, MediaCodec, MediaFileReader};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // Two VP8 frames at 1/30 s per timestamp unit (the payloads here are placeholders).
//! let mut writer = IvfWriter::new(std::io::Cursor::new(Vec::new()), FOURCC_VP8, 640, 480, 1, 30)?;
//! writer.write_frame(0, &[0x10, 0x02, 0x00])?;
//! writer.write_frame(1, &[0x11, 0x02, 0x00])?;
//! let file = writer.finish()?.into_inner();
//!
//! let mut reader = MediaFileReader::ivf(file.as_slice())?;
//! assert_eq!(reader.codec(), MediaCodec::Vp8);
//! while let Some(frame) = reader.next_frame()? {
//!     // A sender would packetize `frame.data` at `frame.timestamp`, then wait `frame.duration`.
//!     assert_eq!(frame.duration, std::time::Duration::from_nanos(33_333_333));
//! }
//! # Ok(()) }
//! ```

pub mod annexb;
pub mod ivf;
pub mod ogg;
pub mod opus;
pub mod reader;

pub use annexb::{AccessUnit, AnnexBError, AnnexBReader, AnnexBWriter};
pub use ivf::{IvfError, IvfFrame, IvfHeader, IvfReader, IvfWriter};
pub use opus::{OggOpusError, OggOpusPacket, OggOpusReader, OggOpusWriter, OpusHead};
pub use reader::{MediaCodec, MediaFileError, MediaFileReader, MediaFrame};

use std::io::{self, Read};

/// The largest frame, packet or NAL unit a reader accepts (16 MiB); larger declared sizes are errors.
pub const MAX_FRAME_SIZE: usize = 16 * 1024 * 1024;

/// Reads until `buf` is full or the input ends; returns how many bytes were read.
///
/// Unlike [`Read::read_exact`] this tells a clean end of input (0 bytes) from a truncated record.
pub(crate) fn read_up_to<R: Read>(reader: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Reads exactly `len` bytes into a new buffer that grows only as data actually arrives, so a huge
/// declared length on a short file costs no more memory than the file holds. Returns what was read,
/// which is shorter than `len` when the input ended early.
pub(crate) fn read_bounded<R: Read>(reader: &mut R, len: usize) -> io::Result<Vec<u8>> {
    let mut data = Vec::with_capacity(len.min(64 * 1024));
    reader.by_ref().take(len as u64).read_to_end(&mut data)?;
    Ok(data)
}
