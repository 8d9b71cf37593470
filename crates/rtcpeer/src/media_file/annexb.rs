//! H.264 byte streams (ITU-T H.264 Annex B): NAL units behind `00 00 01` / `00 00 00 01` start
//! codes, grouped into access units (one coded picture each).
//!
//! An access unit ends where the next one begins (H.264 section 7.4.1.2.3). This reader starts a new
//! access unit at:
//! - an access unit delimiter (NAL type 9);
//! - SPS, PPS, SEI or types 14..=18 (7, 8, 6, 14..=18) after a VCL NAL unit of the current one;
//! - a VCL NAL unit (types 1..=5) whose `first_mb_in_slice` is 0 after a VCL NAL unit, i.e. the
//!   first bit of the slice header's ue(v) is 1.
//!
//! That covers streams whose pictures each start at macroblock 0 (all common encoders); it does not
//! detect new pictures with arbitrary slice order.

use std::io::{self, Read, Write};

use super::MAX_FRAME_SIZE;

/// The start code the writer puts before each NAL unit.
const START_CODE: [u8; 4] = [0, 0, 0, 1];
/// How much the reader asks its input for at a time.
const READ_CHUNK: usize = 64 * 1024;
/// Most NAL units in one access unit; more is an error rather than unbounded memory.
pub const MAX_NALS_PER_ACCESS_UNIT: usize = 1024;

/// NAL unit type of a non-IDR coded slice.
pub const NAL_SLICE: u8 = 1;
pub use rtcpeer_proto::media::codec::h264::{NAL_IDR, NAL_PPS, NAL_SPS};
/// NAL unit type of supplemental enhancement information.
pub const NAL_SEI: u8 = 6;
/// NAL unit type of an access unit delimiter.
pub const NAL_AUD: u8 = 9;

/// What went wrong reading or writing an Annex B stream.
#[derive(Debug, thiserror::Error)]
pub enum AnnexBError {
    /// The underlying reader or writer failed.
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),
    /// Non-zero bytes come before the first start code.
    #[error("H.264 byte stream does not start with a start code")]
    MissingStartCode,
    /// A NAL unit is larger than [`MAX_FRAME_SIZE`].
    #[error("H.264 NAL unit exceeds the limit of {limit} bytes")]
    NalTooLarge {
        /// The limit.
        limit: usize,
    },
    /// An access unit is larger than [`MAX_FRAME_SIZE`] bytes or [`MAX_NALS_PER_ACCESS_UNIT`] NAL units.
    #[error("H.264 access unit exceeds the limit of {limit_bytes} bytes or {limit_nals} NAL units")]
    AccessUnitTooLarge {
        /// Byte limit.
        limit_bytes: usize,
        /// NAL unit count limit.
        limit_nals: usize,
    },
    /// A NAL unit header has its forbidden_zero_bit set.
    #[error("H.264 NAL unit header {0:#04x} has the forbidden bit set")]
    ForbiddenBit(u8),
    /// The writer was given an empty NAL unit.
    #[error("empty H.264 NAL unit")]
    EmptyNal,
    /// The writer was given a NAL unit that contains `00 00 00`, `00 00 01` or `00 00 02`, or ends in
    /// a zero byte: it would not read back as the same NAL unit (emulation prevention is missing).
    #[error("H.264 NAL unit contains a start code or trailing zero byte at offset {0}")]
    StartCodeInNal(usize),
}

/// The `nal_unit_type` of a NAL unit (its header's low five bits); `None` if it is empty.
pub fn nal_unit_type(nal: &[u8]) -> Option<u8> {
    nal.first()
        .map(|&header| rtcpeer_proto::media::codec::h264::nal_type(header))
}

/// Whether the NAL unit type is a VCL (coded slice) type.
fn is_vcl(nal_type: u8) -> bool {
    (1..=5).contains(&nal_type)
}

/// Whether a list of NAL units (an access unit) holds an IDR slice, i.e. is a keyframe.
pub fn is_keyframe<N: AsRef<[u8]>>(nals: &[N]) -> bool {
    nals.iter().any(|n| nal_unit_type(n.as_ref()) == Some(NAL_IDR))
}

/// One access unit: the NAL units of one coded picture, without start codes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccessUnit {
    /// The NAL units in stream order.
    pub nals: Vec<Vec<u8>>,
}

impl AccessUnit {
    /// Whether it holds an IDR slice.
    pub fn is_keyframe(&self) -> bool {
        is_keyframe(&self.nals)
    }

    /// The NAL unit types, in order.
    pub fn nal_types(&self) -> Vec<u8> {
        self.nals.iter().filter_map(|n| nal_unit_type(n)).collect()
    }

    /// The access unit as Annex B bytes (each NAL unit behind a 4-byte start code).
    pub fn to_annex_b(&self) -> Vec<u8> {
        let len = self.nals.iter().map(|n| n.len() + START_CODE.len()).sum();
        let mut out = Vec::with_capacity(len);
        for nal in &self.nals {
            out.extend_from_slice(&START_CODE);
            out.extend_from_slice(nal);
        }
        out
    }

    fn has_vcl(&self) -> bool {
        self.nals.iter().any(|n| nal_unit_type(n).is_some_and(is_vcl))
    }

    fn byte_len(&self) -> usize {
        self.nals.iter().map(Vec::len).sum()
    }
}

/// Whether `nal` begins a new access unit after an access unit that already has a VCL NAL unit.
fn starts_access_unit(nal: &[u8]) -> bool {
    match nal_unit_type(nal) {
        Some(NAL_AUD) => true,
        Some(NAL_SEI | NAL_SPS | NAL_PPS | 14..=18) => true,
        // first_mb_in_slice is ue(v): its first bit is 1 exactly when the value is 0.
        Some(t) if is_vcl(t) => nal.get(1).is_some_and(|b| b & 0x80 != 0),
        _ => false,
    }
}

/// Splits an Annex B byte stream into NAL units and access units.
#[derive(Debug)]
pub struct AnnexBReader<R: Read> {
    reader: R,
    buf: Vec<u8>,
    /// Start of unconsumed data in `buf`.
    pos: usize,
    /// Where the start-code search resumes (already scanned bytes are not scanned again).
    scan: usize,
    /// A start code was consumed and `pos` is at the start of a NAL unit.
    in_nal: bool,
    eof: bool,
    /// A NAL unit read ahead while finding the end of an access unit.
    lookahead: Option<Vec<u8>>,
}

impl<R: Read> AnnexBReader<R> {
    /// A reader over an Annex B byte stream.
    pub fn new(reader: R) -> Self {
        AnnexBReader {
            reader,
            buf: Vec::new(),
            pos: 0,
            scan: 0,
            in_nal: false,
            eof: false,
            lookahead: None,
        }
    }

    /// Reads more input into the buffer; returns false at end of input.
    fn fill(&mut self) -> Result<bool, AnnexBError> {
        if self.eof {
            return Ok(false);
        }
        if self.pos > 0 {
            self.buf.drain(..self.pos);
            self.scan = self.scan.saturating_sub(self.pos);
            self.pos = 0;
        }
        let old = self.buf.len();
        self.buf.resize(old + READ_CHUNK, 0);
        let n = loop {
            match self.reader.read(&mut self.buf[old..]) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.buf.truncate(old);
                    return Err(e.into());
                }
            }
        };
        self.buf.truncate(old + n);
        if n == 0 {
            self.eof = true;
        }
        Ok(n > 0)
    }

    /// Consumes the next start code (and the zero bytes before it); false at end of input.
    fn skip_to_nal(&mut self) -> Result<bool, AnnexBError> {
        loop {
            let rest = &self.buf[self.pos..];
            if let Some(i) = rest.iter().position(|&b| b != 0) {
                if rest[i] == 1 && i >= 2 {
                    self.pos += i + 1;
                    self.scan = self.pos;
                    self.in_nal = true;
                    return Ok(true);
                }
                return Err(AnnexBError::MissingStartCode);
            }
            // Only zeros so far: keep the last two (they may begin a start code) and read on.
            self.pos = self.buf.len().saturating_sub(2).max(self.pos);
            if !self.fill()? {
                return Ok(false);
            }
        }
    }

    /// The next NAL unit (without its start code), skipping empty ones; `None` at end of input.
    pub fn next_nal(&mut self) -> Result<Option<Vec<u8>>, AnnexBError> {
        if let Some(nal) = self.lookahead.take() {
            return Ok(Some(nal));
        }
        loop {
            if !self.in_nal && !self.skip_to_nal()? {
                return Ok(None);
            }
            // Find the end: the first `00 00 00` or `00 00 01` (zeros before a start code are not
            // part of the NAL unit; neither pattern can occur inside one).
            let end = loop {
                let start = self.scan.max(self.pos);
                let found = self.buf[start..]
                    .windows(3)
                    .position(|w| w[0] == 0 && w[1] == 0 && w[2] <= 1)
                    .map(|i| start + i);
                if let Some(end) = found {
                    break end;
                }
                self.scan = self.buf.len().saturating_sub(2).max(self.pos);
                if self.buf.len() - self.pos > MAX_FRAME_SIZE {
                    return Err(AnnexBError::NalTooLarge { limit: MAX_FRAME_SIZE });
                }
                if !self.fill()? {
                    break self.buf.len();
                }
            };
            let mut nal = &self.buf[self.pos..end];
            while let [rest @ .., 0] = nal {
                nal = rest;
            }
            if nal.len() > MAX_FRAME_SIZE {
                return Err(AnnexBError::NalTooLarge { limit: MAX_FRAME_SIZE });
            }
            let nal = nal.to_vec();
            self.pos = end;
            self.scan = end;
            self.in_nal = false;
            if let Some(&header) = nal.first() {
                if header & 0x80 != 0 {
                    return Err(AnnexBError::ForbiddenBit(header));
                }
                return Ok(Some(nal));
            }
        }
    }

    /// The next access unit; `None` at end of input.
    pub fn next_access_unit(&mut self) -> Result<Option<AccessUnit>, AnnexBError> {
        let mut au = AccessUnit::default();
        while let Some(nal) = self.next_nal()? {
            let new_au = nal_unit_type(&nal) == Some(NAL_AUD) || (au.has_vcl() && starts_access_unit(&nal));
            if new_au && !au.nals.is_empty() {
                self.lookahead = Some(nal);
                return Ok(Some(au));
            }
            if au.nals.len() >= MAX_NALS_PER_ACCESS_UNIT || au.byte_len() + nal.len() > MAX_FRAME_SIZE {
                return Err(AnnexBError::AccessUnitTooLarge {
                    limit_bytes: MAX_FRAME_SIZE,
                    limit_nals: MAX_NALS_PER_ACCESS_UNIT,
                });
            }
            au.nals.push(nal);
        }
        Ok((!au.nals.is_empty()).then_some(au))
    }

    /// Returns the underlying reader (buffered input not yet returned is lost).
    pub fn into_inner(self) -> R {
        self.reader
    }
}

/// Writes access units as an Annex B byte stream, each NAL unit behind a 4-byte start code.
#[derive(Debug)]
pub struct AnnexBWriter<W: Write> {
    writer: W,
    nals: u64,
}

impl<W: Write> AnnexBWriter<W> {
    /// A writer over `writer`.
    pub fn new(writer: W) -> Self {
        AnnexBWriter { writer, nals: 0 }
    }

    /// Writes one NAL unit. It must not be empty, contain a start code (`00 00 0x`, x <= 2) or end in
    /// a zero byte, or it would not read back unchanged.
    pub fn write_nal(&mut self, nal: &[u8]) -> Result<(), AnnexBError> {
        if nal.is_empty() {
            return Err(AnnexBError::EmptyNal);
        }
        if let Some(i) = nal.windows(3).position(|w| w[0] == 0 && w[1] == 0 && w[2] <= 2) {
            return Err(AnnexBError::StartCodeInNal(i));
        }
        if nal.last() == Some(&0) {
            return Err(AnnexBError::StartCodeInNal(nal.len() - 1));
        }
        self.writer.write_all(&START_CODE)?;
        self.writer.write_all(nal)?;
        self.nals += 1;
        Ok(())
    }

    /// Writes every NAL unit of an access unit.
    pub fn write_access_unit(&mut self, au: &AccessUnit) -> Result<(), AnnexBError> {
        self.write_nals(&au.nals)
    }

    /// Writes a list of NAL units (an access unit held in other containers).
    pub fn write_nals<N: AsRef<[u8]>>(&mut self, nals: &[N]) -> Result<(), AnnexBError> {
        nals.iter().try_for_each(|n| self.write_nal(n.as_ref()))
    }

    /// NAL units written so far.
    pub fn nal_count(&self) -> u64 {
        self.nals
    }

    /// Flushes and returns the writer.
    pub fn into_inner(mut self) -> Result<W, AnnexBError> {
        self.writer.flush()?;
        Ok(self.writer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that hands out one byte per read, to exercise start codes split across reads.
    struct Trickle<'a>(&'a [u8]);

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            match (self.0.split_first(), buf.first_mut()) {
                (Some((&b, rest)), Some(slot)) => {
                    *slot = b;
                    self.0 = rest;
                    Ok(1)
                }
                _ => Ok(0),
            }
        }
    }

    fn nals_of<R: Read>(r: R) -> Result<Vec<Vec<u8>>, AnnexBError> {
        let mut reader = AnnexBReader::new(r);
        std::iter::from_fn(|| reader.next_nal().transpose()).collect()
    }

    fn aus_of<R: Read>(r: R) -> Result<Vec<Vec<u8>>, AnnexBError> {
        let mut reader = AnnexBReader::new(r);
        std::iter::from_fn(|| reader.next_access_unit().transpose())
            .map(|au| au.map(|au| au.nal_types()))
            .collect()
    }

    const SPS: &[u8] = &[0x67, 0x42, 0xc0, 0x1e];
    const PPS: &[u8] = &[0x68, 0xce, 0x3c, 0x80];
    const IDR_FIRST: &[u8] = &[0x65, 0x88, 0x84];
    const SLICE_FIRST: &[u8] = &[0x41, 0x9a, 0x02];
    /// A second slice of the same picture: first_mb_in_slice != 0 (ue(v) starts with a 0 bit).
    const SLICE_NEXT: &[u8] = &[0x41, 0x40, 0x02];

    #[test]
    fn splits_on_three_and_four_byte_start_codes() {
        let stream = [
            &[0, 0, 0, 1][..],
            SPS,
            &[0, 0, 1],
            PPS,
            &[0, 0, 0, 0, 1], // trailing_zero_8bits before a start code
            IDR_FIRST,
            &[0, 0, 1],
            &[0, 0, 1], // empty NAL unit: skipped
            SLICE_FIRST,
            &[0, 0],
        ]
        .concat();
        let expected = vec![SPS.to_vec(), PPS.to_vec(), IDR_FIRST.to_vec(), SLICE_FIRST.to_vec()];
        assert_eq!(nals_of(stream.as_slice()).unwrap(), expected);
        assert_eq!(nals_of(Trickle(&stream)).unwrap(), expected);
    }

    #[test]
    fn groups_access_units_by_the_documented_rules() {
        let au = |nals: &[&[u8]]| AccessUnit {
            nals: nals.iter().map(|n| n.to_vec()).collect(),
        };
        let aud: &[u8] = &[0x09, 0xf0];
        let sei: &[u8] = &[0x06, 0x05, 0x01, 0x80];
        let mut w = AnnexBWriter::new(Vec::new());
        // AU 1: SPS PPS IDR; AU 2: slice + second slice of the same picture; AU 3: SEI then slice
        // (SEI after VCL starts it); AU 4: AUD + slice; AU 5: slice at mb 0 straight after a VCL.
        for nals in [
            &[SPS, PPS, IDR_FIRST][..],
            &[SLICE_FIRST, SLICE_NEXT],
            &[sei, SLICE_FIRST],
            &[aud, SLICE_FIRST],
            &[SLICE_FIRST],
        ] {
            w.write_access_unit(&au(nals)).unwrap();
        }
        let stream = w.into_inner().unwrap();
        let expected = vec![vec![7, 8, 5], vec![1, 1], vec![6, 1], vec![9, 1], vec![1]];
        assert_eq!(aus_of(stream.as_slice()).unwrap(), expected);
        assert_eq!(aus_of(Trickle(&stream)).unwrap(), expected);
        let mut r = AnnexBReader::new(stream.as_slice());
        let keyframes: Vec<bool> =
            std::iter::from_fn(|| r.next_access_unit().unwrap().map(|a| a.is_keyframe())).collect();
        assert_eq!(keyframes, vec![true, false, false, false, false]);
    }

    #[test]
    fn round_trip_through_to_annex_b() {
        let au = AccessUnit {
            nals: vec![SPS.to_vec(), PPS.to_vec(), IDR_FIRST.to_vec()],
        };
        let bytes = au.to_annex_b();
        let mut r = AnnexBReader::new(bytes.as_slice());
        assert_eq!(r.next_access_unit().unwrap(), Some(au));
        assert_eq!(r.next_access_unit().unwrap(), None);
    }

    #[test]
    fn empty_and_zero_only_streams_have_no_nal_units() {
        assert!(nals_of(&[][..]).unwrap().is_empty());
        assert!(nals_of(&[0u8; 10][..]).unwrap().is_empty());
        assert!(nals_of(&[0, 0, 1][..]).unwrap().is_empty());
    }

    #[test]
    fn garbage_before_the_first_start_code_is_an_error() {
        assert!(matches!(
            nals_of(&[0x67, 0, 0, 1, 0x67][..]),
            Err(AnnexBError::MissingStartCode)
        ));
        assert!(matches!(nals_of(&[0, 1, 0x67][..]), Err(AnnexBError::MissingStartCode)));
    }

    #[test]
    fn forbidden_bit_is_an_error() {
        assert!(matches!(
            nals_of(&[0, 0, 1, 0xe5, 1][..]),
            Err(AnnexBError::ForbiddenBit(0xe5))
        ));
    }

    #[test]
    fn oversized_nal_unit_is_an_error_without_unbounded_buffering() {
        let stream = std::iter::once(&[0u8, 0, 1, 0x65][..])
            .chain(std::iter::repeat(&[0xffu8; 4096][..]))
            .flatten()
            .copied();
        struct Iter<I>(I);
        impl<I: Iterator<Item = u8>> Read for Iter<I> {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                let mut n = 0;
                for slot in buf.iter_mut() {
                    match self.0.next() {
                        Some(b) => *slot = b,
                        None => break,
                    }
                    n += 1;
                }
                Ok(n)
            }
        }
        let mut r = AnnexBReader::new(Iter(stream));
        assert!(matches!(r.next_nal(), Err(AnnexBError::NalTooLarge { .. })));
        assert!(r.buf.len() <= MAX_FRAME_SIZE + 2 * READ_CHUNK);
    }

    #[test]
    fn too_many_nal_units_in_one_access_unit_is_an_error() {
        let mut w = AnnexBWriter::new(Vec::new());
        for _ in 0..=MAX_NALS_PER_ACCESS_UNIT {
            w.write_nal(&[0x06, 0x01]).unwrap();
        }
        let bytes = w.into_inner().unwrap();
        let mut r = AnnexBReader::new(bytes.as_slice());
        assert!(matches!(
            r.next_access_unit(),
            Err(AnnexBError::AccessUnitTooLarge { .. })
        ));
    }

    #[test]
    fn writer_refuses_nal_units_that_would_not_read_back() {
        let mut w = AnnexBWriter::new(Vec::new());
        assert!(matches!(w.write_nal(&[]), Err(AnnexBError::EmptyNal)));
        assert!(matches!(
            w.write_nal(&[0x65, 0, 0, 1, 5]),
            Err(AnnexBError::StartCodeInNal(1))
        ));
        assert!(matches!(
            w.write_nal(&[0x65, 7, 0]),
            Err(AnnexBError::StartCodeInNal(2))
        ));
        w.write_nal(&[0x65, 0, 0, 3, 1]).unwrap();
        assert_eq!(w.nal_count(), 1);
    }
}
