//! Ogg pages and packets (RFC 3533), for one logical bitstream.
//!
//! A page is a 27-byte header (`OggS`, version 0, flags, granule position, serial number, page
//! sequence number, CRC-32, segment count), a segment table of lacing values and the body. A packet is
//! split into 255-byte segments plus one shorter (possibly empty) final segment; a page whose last
//! lacing value is 255 leaves its packet to continue on the next page.

use std::collections::VecDeque;
use std::io::{self, Read, Write};

use super::{read_bounded, read_up_to, MAX_FRAME_SIZE};

/// The capture pattern starting every page.
pub const CAPTURE_PATTERN: [u8; 4] = *b"OggS";
/// Header flag: the page's first packet continues one from the previous page.
pub const FLAG_CONTINUED: u8 = 0x01;
/// Header flag: first page of the logical bitstream.
pub const FLAG_BOS: u8 = 0x02;
/// Header flag: last page of the logical bitstream.
pub const FLAG_EOS: u8 = 0x04;
/// Granule position of a page on which no packet ends.
pub const NO_GRANULE: u64 = u64::MAX;

const PAGE_HEADER_LEN: usize = 27;
const CRC_OFFSET: usize = 22;
const MAX_SEGMENTS: usize = 255;

/// CRC-32 lookup table for the Ogg polynomial 0x04c11db7 (MSB first, initial value 0, no final XOR).
const CRC_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = (i as u32) << 24;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 0x8000_0000 != 0 {
                (crc << 1) ^ 0x04c1_1db7
            } else {
                crc << 1
            };
            bit += 1;
        }
        table[i] = crc;
        i += 1;
    }
    table
};

/// Continues an Ogg CRC-32 over `data`, starting from `crc` (0 for a new page).
pub fn crc32_update(mut crc: u32, data: &[u8]) -> u32 {
    for &byte in data {
        crc = (crc << 8) ^ CRC_TABLE[usize::from(((crc >> 24) as u8) ^ byte)];
    }
    crc
}

/// What went wrong reading or writing an Ogg stream.
#[derive(Debug, thiserror::Error)]
pub enum OggError {
    /// The underlying reader or writer failed.
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),
    /// The input ended inside a page.
    #[error("Ogg page truncated: {got} of {need} bytes")]
    TruncatedPage {
        /// Bytes present.
        got: usize,
        /// Bytes the page needs.
        need: usize,
    },
    /// A page does not start with `OggS`.
    #[error("Ogg capture pattern missing: found {0:02x?}")]
    BadCapturePattern([u8; 4]),
    /// A page declares a stream structure version other than 0.
    #[error("unsupported Ogg version {0}")]
    UnsupportedVersion(u8),
    /// The page's CRC does not match its contents.
    #[error("Ogg page CRC mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    BadCrc {
        /// CRC stored in the page.
        stored: u32,
        /// CRC computed over the page.
        computed: u32,
    },
    /// The first page is not marked beginning-of-stream.
    #[error("first Ogg page is not a beginning-of-stream page")]
    MissingBos,
    /// A page of the stream is missing or out of order.
    #[error("Ogg page sequence {found}, expected {expected}")]
    PageSequence {
        /// The expected sequence number.
        expected: u32,
        /// The sequence number found.
        found: u32,
    },
    /// A page claims to continue a packet, but none was started.
    #[error("Ogg page continues a packet that was never started")]
    UnexpectedContinuation,
    /// A packet was left unfinished by the page before a page that starts a new packet.
    #[error("Ogg packet interrupted by a page that does not continue it")]
    PacketInterrupted,
    /// The stream ended (input or end-of-stream page) inside a packet.
    #[error("Ogg stream ended inside a packet")]
    TruncatedPacket,
    /// A packet grew beyond [`MAX_FRAME_SIZE`].
    #[error("Ogg packet exceeds the limit of {limit} bytes")]
    PacketTooLarge {
        /// The limit.
        limit: usize,
    },
}

/// One parsed Ogg page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OggPage {
    /// Header flags ([`FLAG_CONTINUED`], [`FLAG_BOS`], [`FLAG_EOS`]).
    pub flags: u8,
    /// Granule position ([`NO_GRANULE`] when no packet ends on the page).
    pub granule_position: u64,
    /// Serial number of the logical bitstream.
    pub serial: u32,
    /// Page sequence number.
    pub sequence: u32,
    /// Lacing values.
    pub segments: Vec<u8>,
    /// Page body: the concatenated segments.
    pub body: Vec<u8>,
}

impl OggPage {
    /// Serializes the page, computing its CRC.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(PAGE_HEADER_LEN + self.segments.len() + self.body.len());
        out.extend_from_slice(&CAPTURE_PATTERN);
        out.push(0);
        out.push(self.flags);
        out.extend_from_slice(&self.granule_position.to_le_bytes());
        out.extend_from_slice(&self.serial.to_le_bytes());
        out.extend_from_slice(&self.sequence.to_le_bytes());
        out.extend_from_slice(&[0; 4]);
        out.push(self.segments.len() as u8);
        out.extend_from_slice(&self.segments);
        out.extend_from_slice(&self.body);
        let crc = crc32_update(0, &out);
        out[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_le_bytes());
        out
    }

    /// Reads one page; `None` at a clean end of input (between pages). Checks the CRC.
    pub fn read<R: Read>(reader: &mut R) -> Result<Option<OggPage>, OggError> {
        let mut header = [0u8; PAGE_HEADER_LEN];
        let got = read_up_to(reader, &mut header)?;
        if got == 0 {
            return Ok(None);
        }
        if got < PAGE_HEADER_LEN {
            return Err(OggError::TruncatedPage {
                got,
                need: PAGE_HEADER_LEN,
            });
        }
        let pattern = [header[0], header[1], header[2], header[3]];
        if pattern != CAPTURE_PATTERN {
            return Err(OggError::BadCapturePattern(pattern));
        }
        if header[4] != 0 {
            return Err(OggError::UnsupportedVersion(header[4]));
        }
        let u32_at = |i: usize| u32::from_le_bytes([header[i], header[i + 1], header[i + 2], header[i + 3]]);
        let mut granule = [0u8; 8];
        granule.copy_from_slice(&header[6..14]);
        let segment_count = usize::from(header[26]);
        let segments = read_bounded(reader, segment_count)?;
        if segments.len() < segment_count {
            return Err(OggError::TruncatedPage {
                got: PAGE_HEADER_LEN + segments.len(),
                need: PAGE_HEADER_LEN + segment_count,
            });
        }
        let body_len: usize = segments.iter().map(|&s| usize::from(s)).sum();
        let body = read_bounded(reader, body_len)?;
        if body.len() < body_len {
            return Err(OggError::TruncatedPage {
                got: PAGE_HEADER_LEN + segment_count + body.len(),
                need: PAGE_HEADER_LEN + segment_count + body_len,
            });
        }
        let stored = u32_at(CRC_OFFSET);
        let mut zeroed = header;
        zeroed[CRC_OFFSET..CRC_OFFSET + 4].fill(0);
        let computed = crc32_update(crc32_update(crc32_update(0, &zeroed), &segments), &body);
        if stored != computed {
            return Err(OggError::BadCrc { stored, computed });
        }
        Ok(Some(OggPage {
            flags: header[5],
            granule_position: u64::from_le_bytes(granule),
            serial: u32_at(14),
            sequence: u32_at(18),
            segments,
            body,
        }))
    }
}

/// Writes the packets of one logical bitstream as pages.
#[derive(Debug)]
pub struct OggStreamWriter<W: Write> {
    writer: W,
    serial: u32,
    sequence: u32,
}

impl<W: Write> OggStreamWriter<W> {
    /// A writer for the logical bitstream `serial`; its first page is the beginning-of-stream page.
    pub fn new(writer: W, serial: u32) -> Self {
        OggStreamWriter {
            writer,
            serial,
            sequence: 0,
        }
    }

    /// Writes `packet` starting on a new page, continued over as many pages as it needs.
    ///
    /// The last of them carries `granule_position` (the others [`NO_GRANULE`]) and, when `eos`, the
    /// end-of-stream flag. The very first page of the stream gets the beginning-of-stream flag.
    pub fn write_packet(&mut self, packet: &[u8], granule_position: u64, eos: bool) -> Result<(), OggError> {
        let mut lacing = vec![255u8; packet.len() / 255];
        lacing.push((packet.len() % 255) as u8);
        let mut body_offset = 0;
        let mut chunks = lacing.chunks(MAX_SEGMENTS).peekable();
        let mut first = true;
        while let Some(segments) = chunks.next() {
            let last = chunks.peek().is_none();
            let body_len: usize = segments.iter().map(|&s| usize::from(s)).sum();
            let mut flags = 0;
            if !first {
                flags |= FLAG_CONTINUED;
            }
            if self.sequence == 0 && first {
                flags |= FLAG_BOS;
            }
            if last && eos {
                flags |= FLAG_EOS;
            }
            let page = OggPage {
                flags,
                granule_position: if last { granule_position } else { NO_GRANULE },
                serial: self.serial,
                sequence: self.sequence,
                segments: segments.to_vec(),
                body: packet[body_offset..body_offset + body_len].to_vec(),
            };
            self.writer.write_all(&page.to_bytes())?;
            self.sequence = self.sequence.wrapping_add(1);
            body_offset += body_len;
            first = false;
        }
        Ok(())
    }

    /// How many pages have been written.
    pub fn pages_written(&self) -> u32 {
        self.sequence
    }

    /// Flushes the underlying writer.
    pub fn flush(&mut self) -> Result<(), OggError> {
        Ok(self.writer.flush()?)
    }

    /// Returns the underlying writer.
    pub fn into_inner(self) -> W {
        self.writer
    }
}

/// One packet of a logical bitstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OggPacket {
    /// Packet bytes.
    pub data: Vec<u8>,
    /// The granule position of the page this packet ends on, if it is the last packet ending there
    /// (Ogg stores one granule position per page).
    pub granule_position: Option<u64>,
    /// The packet ended on the end-of-stream page.
    pub eos: bool,
}

/// Reads the packets of the first logical bitstream in an Ogg file, reassembling packets split
/// across pages. Pages of other logical bitstreams are skipped; the end-of-stream page ends reading.
#[derive(Debug)]
pub struct OggPacketReader<R: Read> {
    reader: R,
    serial: Option<u32>,
    next_sequence: u32,
    partial: Option<Vec<u8>>,
    ready: VecDeque<OggPacket>,
    ended: bool,
}

impl<R: Read> OggPacketReader<R> {
    /// A reader over `reader`, positioned at the first page.
    pub fn new(reader: R) -> Self {
        OggPacketReader {
            reader,
            serial: None,
            next_sequence: 0,
            partial: None,
            ready: VecDeque::new(),
            ended: false,
        }
    }

    /// The serial number of the stream being read, once its first page has been read.
    pub fn serial(&self) -> Option<u32> {
        self.serial
    }

    /// The next complete packet; `None` after the end-of-stream page or at the end of input.
    pub fn next_packet(&mut self) -> Result<Option<OggPacket>, OggError> {
        loop {
            if let Some(packet) = self.ready.pop_front() {
                return Ok(Some(packet));
            }
            if self.ended {
                return Ok(None);
            }
            let Some(page) = OggPage::read(&mut self.reader)? else {
                if self.partial.is_some() {
                    return Err(OggError::TruncatedPacket);
                }
                tracing::debug!("Ogg input ended without an end-of-stream page");
                self.ended = true;
                return Ok(None);
            };
            self.accept_page(page)?;
        }
    }

    fn accept_page(&mut self, page: OggPage) -> Result<(), OggError> {
        match self.serial {
            None if page.flags & FLAG_BOS == 0 => return Err(OggError::MissingBos),
            None => {
                self.serial = Some(page.serial);
                self.next_sequence = page.sequence;
            }
            Some(serial) if serial != page.serial => {
                tracing::trace!(serial = page.serial, "skipping page of another Ogg stream");
                return Ok(());
            }
            Some(_) => {}
        }
        if page.sequence != self.next_sequence {
            return Err(OggError::PageSequence {
                expected: self.next_sequence,
                found: page.sequence,
            });
        }
        self.next_sequence = page.sequence.wrapping_add(1);
        let continued = page.flags & FLAG_CONTINUED != 0;
        match (continued, self.partial.is_some()) {
            (true, false) => return Err(OggError::UnexpectedContinuation),
            (false, true) => return Err(OggError::PacketInterrupted),
            _ => {}
        }
        let eos = page.flags & FLAG_EOS != 0;
        let mut offset = 0;
        let mut completed = 0;
        for &lacing in &page.segments {
            let len = usize::from(lacing);
            let partial = self.partial.get_or_insert_with(Vec::new);
            if partial.len() + len > MAX_FRAME_SIZE {
                return Err(OggError::PacketTooLarge { limit: MAX_FRAME_SIZE });
            }
            partial.extend_from_slice(page.body.get(offset..offset + len).unwrap_or_default());
            offset += len;
            if lacing < 255 {
                let data = self.partial.take().unwrap_or_default();
                self.ready.push_back(OggPacket {
                    data,
                    granule_position: None,
                    eos,
                });
                completed += 1;
            }
        }
        if completed > 0 && page.granule_position != NO_GRANULE {
            if let Some(last) = self.ready.back_mut() {
                last.granule_position = Some(page.granule_position);
            }
        }
        if eos {
            if self.partial.is_some() {
                return Err(OggError::TruncatedPacket);
            }
            self.ended = true;
        }
        Ok(())
    }

    /// Returns the underlying reader.
    pub fn into_inner(self) -> R {
        self.reader
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_matches_the_ogg_check_value() {
        // CRC-32/MPEG-2 without the initial 0xffffffff and final inversion ("CRC-32/OGG"): the
        // catalogue check value over "123456789" is 0x89a1897f.
        assert_eq!(crc32_update(0, b"123456789"), 0x89a1_897f);
    }

    fn write(packets: &[(Vec<u8>, u64)]) -> Vec<u8> {
        let mut w = OggStreamWriter::new(Vec::new(), 0x1234);
        for (i, (p, g)) in packets.iter().enumerate() {
            w.write_packet(p, *g, i + 1 == packets.len()).unwrap();
        }
        w.into_inner()
    }

    fn read_all(bytes: &[u8]) -> Result<Vec<OggPacket>, OggError> {
        let mut r = OggPacketReader::new(bytes);
        let mut out = Vec::new();
        while let Some(p) = r.next_packet()? {
            out.push(p);
        }
        Ok(out)
    }

    #[test]
    fn packets_of_every_lacing_shape_round_trip() {
        let sizes = [0usize, 1, 254, 255, 256, 510, 65_024, 65_025, 65_026, 200_000];
        let packets: Vec<(Vec<u8>, u64)> = sizes
            .iter()
            .enumerate()
            .map(|(i, &n)| ((0..n).map(|b| (b * 31 + i) as u8).collect(), i as u64 * 960))
            .collect();
        let bytes = write(&packets);
        let read = read_all(&bytes).unwrap();
        assert_eq!(read.len(), packets.len());
        for (got, (data, granule)) in read.iter().zip(&packets) {
            assert_eq!(&got.data, data);
            assert_eq!(got.granule_position, Some(*granule));
        }
        assert!(read.last().unwrap().eos);
    }

    #[test]
    fn page_layout_follows_rfc_3533() {
        let mut w = OggStreamWriter::new(Vec::new(), 7);
        w.write_packet(&[9u8; 255], 0, false).unwrap();
        w.write_packet(&[1u8; 65_025], 960, true).unwrap();
        let bytes = w.into_inner();
        let mut r = &bytes[..];
        let p0 = OggPage::read(&mut r).unwrap().unwrap();
        assert_eq!(p0.flags, FLAG_BOS);
        assert_eq!(
            p0.segments,
            vec![255, 0],
            "a 255-byte packet ends with a zero lacing value"
        );
        // 65025 bytes = 255 full segments plus a terminating 0: two pages.
        let p1 = OggPage::read(&mut r).unwrap().unwrap();
        assert_eq!((p1.flags, p1.granule_position, p1.segments.len()), (0, NO_GRANULE, 255));
        let p2 = OggPage::read(&mut r).unwrap().unwrap();
        assert_eq!(
            (p2.flags, p2.granule_position, p2.segments.clone()),
            (FLAG_CONTINUED | FLAG_EOS, 960, vec![0])
        );
        assert_eq!((p0.sequence, p1.sequence, p2.sequence), (0, 1, 2));
        assert!(OggPage::read(&mut r).unwrap().is_none());
    }

    #[test]
    fn corrupted_byte_fails_the_crc() {
        let mut bytes = write(&[(b"hello".to_vec(), 5)]);
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        assert!(matches!(read_all(&bytes), Err(OggError::BadCrc { .. })));
    }

    #[test]
    fn truncated_pages_are_errors() {
        let bytes = write(&[(vec![3; 300], 5)]);
        for cut in [1, 26, 27, 28, bytes.len() - 1] {
            assert!(
                matches!(read_all(&bytes[..cut]), Err(OggError::TruncatedPage { .. })),
                "cut {cut}"
            );
        }
    }

    #[test]
    fn missing_page_and_bad_framing_are_errors() {
        let packets = vec![(vec![1; 10], 1), (vec![2; 600], 2), (vec![3; 10], 3)];
        let bytes = write(&packets);
        let mut r = &bytes[..];
        let pages: Vec<Vec<u8>> = std::iter::from_fn(|| OggPage::read(&mut r).unwrap().map(|p| p.to_bytes())).collect();
        let without_second: Vec<u8> = [pages[0].clone(), pages[2].clone()].concat();
        assert!(matches!(
            read_all(&without_second),
            Err(OggError::PageSequence { expected: 1, found: 2 })
        ));
        assert!(matches!(read_all(&pages[1]), Err(OggError::MissingBos)));
        let mut bad = bytes.clone();
        bad[0] = b'X';
        assert!(matches!(read_all(&bad), Err(OggError::BadCapturePattern(_))));
    }

    #[test]
    fn continuation_flags_must_match_the_lacing() {
        let mut page = OggPage {
            flags: FLAG_BOS | FLAG_CONTINUED,
            granule_position: 0,
            serial: 1,
            sequence: 0,
            segments: vec![1],
            body: vec![1],
        };
        assert!(matches!(
            read_all(&page.to_bytes()),
            Err(OggError::UnexpectedContinuation)
        ));
        page.flags = FLAG_BOS;
        page.segments = vec![255];
        page.body = vec![0; 255];
        let next = OggPage {
            flags: 0,
            granule_position: 0,
            serial: 1,
            sequence: 1,
            segments: vec![1],
            body: vec![1],
        };
        let bytes = [page.to_bytes(), next.to_bytes()].concat();
        assert!(matches!(read_all(&bytes), Err(OggError::PacketInterrupted)));
        // Input ends in the middle of a packet.
        assert!(matches!(read_all(&page.to_bytes()), Err(OggError::TruncatedPacket)));
    }

    #[test]
    fn pages_of_other_streams_are_skipped() {
        let ours = write(&[(b"a".to_vec(), 1), (b"b".to_vec(), 2)]);
        let mut r = &ours[..];
        let first = OggPage::read(&mut r).unwrap().unwrap().to_bytes();
        let other = OggPage {
            flags: FLAG_BOS,
            granule_position: 0,
            serial: 99,
            sequence: 0,
            segments: vec![1],
            body: vec![b'z'],
        };
        let bytes = [first, other.to_bytes(), r.to_vec()].concat();
        let read = read_all(&bytes).unwrap();
        assert_eq!(
            read.iter().map(|p| p.data.clone()).collect::<Vec<_>>(),
            vec![b"a".to_vec(), b"b".to_vec()]
        );
    }
}
