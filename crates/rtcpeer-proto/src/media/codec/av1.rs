//! AV1 payloads (the AOMedia "RTP Payload Format for AV1").
//!
//! A payload is a one-byte aggregation header (Z: the first element continues an OBU from the
//! previous payload; Y: the last element continues in the next one; W: the element count, or 0
//! when every element has a LEB128 length; N: first payload of a new coded video sequence)
//! followed by OBU elements: OBUs without their `obu_size` field.
//!
//! The packetizer takes a temporal unit in the low-overhead bitstream format (OBUs with size
//! fields), drops temporal delimiters and tile lists, and packs the OBUs greedily, splitting
//! them across payloads where needed. The depacketizer rebuilds a low-overhead temporal unit:
//! a temporal delimiter followed by every OBU with `obu_has_size_field` set.

use bytes::{BufMut, Bytes, BytesMut};

use super::{
    check_max_payload, marked_payloads, DepacketizeError, Depacketized, Depacketizer, PacketizeError, Packetizer,
    Payload,
};

/// OBU type of a sequence header.
pub const OBU_SEQUENCE_HEADER: u8 = 1;
/// OBU type of a temporal delimiter.
pub const OBU_TEMPORAL_DELIMITER: u8 = 2;
/// OBU type of a frame header.
pub const OBU_FRAME_HEADER: u8 = 3;
/// OBU type of a frame (header and tile group).
pub const OBU_FRAME: u8 = 6;
/// OBU type of a tile list.
pub const OBU_TILE_LIST: u8 = 8;

/// The aggregation header's Z bit.
const Z: u8 = 0x80;
/// The aggregation header's Y bit.
const Y: u8 = 0x40;
/// The aggregation header's N bit.
const N: u8 = 0x08;

/// The OBU header's extension flag.
const OBU_EXTENSION_FLAG: u8 = 0x04;
/// The OBU header's has-size flag.
const OBU_HAS_SIZE_FIELD: u8 = 0x02;
/// The OBU header's forbidden bit.
const OBU_FORBIDDEN: u8 = 0x80;

/// The temporal delimiter that starts every rebuilt temporal unit.
const TEMPORAL_DELIMITER: [u8; 2] = [OBU_TEMPORAL_DELIMITER << 3 | OBU_HAS_SIZE_FIELD, 0];

/// Reads a LEB128 value (at most 8 bytes, at most 2^32 - 1); returns it and its length.
pub fn read_leb128(bytes: &[u8]) -> Result<(usize, usize), DepacketizeError> {
    let mut value = 0u64;
    for i in 0..8 {
        let byte = *bytes.get(i).ok_or(DepacketizeError::Truncated("a LEB128 length"))?;
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            let value = u32::try_from(value).map_err(|_| DepacketizeError::BadLeb128)?;
            return usize::try_from(value)
                .map(|v| (v, i + 1))
                .map_err(|_| DepacketizeError::BadLeb128);
        }
    }
    Err(DepacketizeError::BadLeb128)
}

/// Appends `value` as the shortest LEB128 encoding.
pub fn write_leb128(mut value: usize, out: &mut BytesMut) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.put_u8(byte);
            return;
        }
        out.put_u8(byte | 0x80);
    }
}

/// How many bytes the shortest LEB128 encoding of `value` takes.
pub fn leb128_len(value: usize) -> usize {
    let bits = usize::BITS - value.leading_zeros();
    (bits as usize).div_ceil(7).max(1)
}

/// One OBU: its header byte (without the has-size flag), extension byte and payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Obu<'a> {
    /// The OBU header byte, with `obu_has_size_field` cleared.
    pub header: u8,
    /// The extension byte, when `obu_extension_flag` is set.
    pub extension: Option<u8>,
    /// The OBU's payload.
    pub payload: &'a [u8],
}

impl<'a> Obu<'a> {
    /// The OBU type.
    pub fn obu_type(&self) -> u8 {
        (self.header >> 3) & 0x0f
    }

    /// Parses one OBU from the start of `bytes`; returns it and the number of bytes it took.
    ///
    /// Without a size field the OBU runs to the end of `bytes`.
    pub fn parse(bytes: &'a [u8]) -> Result<(Self, usize), DepacketizeError> {
        let header = *bytes.first().ok_or(DepacketizeError::EmptyPayload)?;
        if header & OBU_FORBIDDEN != 0 {
            return Err(DepacketizeError::Av1("the forbidden bit is set"));
        }
        let mut at = 1;
        let extension = if header & OBU_EXTENSION_FLAG != 0 {
            at += 1;
            Some(
                *bytes
                    .get(1)
                    .ok_or(DepacketizeError::Truncated("the OBU extension byte"))?,
            )
        } else {
            None
        };
        let rest = bytes.get(at..).unwrap_or_default();
        let payload = if header & OBU_HAS_SIZE_FIELD != 0 {
            let (size, len) = read_leb128(rest)?;
            at += len;
            let payload = len
                .checked_add(size)
                .and_then(|end| rest.get(len..end))
                .ok_or(DepacketizeError::Truncated("an OBU"))?;
            at += size;
            payload
        } else {
            at += rest.len();
            rest
        };
        Ok((
            Obu {
                header: header & !OBU_HAS_SIZE_FIELD,
                extension,
                payload,
            },
            at,
        ))
    }

    /// Appends the OBU as an element of an RTP payload: without a size field.
    fn write_element(&self, out: &mut Vec<u8>) {
        out.push(self.header);
        out.extend(self.extension);
        out.extend_from_slice(self.payload);
    }

    /// Appends the OBU in the low-overhead format: with a size field.
    fn write_sized(&self, out: &mut BytesMut) {
        out.put_u8(self.header | OBU_HAS_SIZE_FIELD);
        if let Some(extension) = self.extension {
            out.put_u8(extension);
        }
        write_leb128(self.payload.len(), out);
        out.put_slice(self.payload);
    }
}

/// Tracks what tells a key frame apart while OBUs go by.
#[derive(Default)]
struct KeyFrameScan {
    sequence_header: bool,
    reduced_still_picture: bool,
    /// Whether the first frame header seen says KEY_FRAME.
    first_frame_is_key: Option<bool>,
}

impl KeyFrameScan {
    fn note(&mut self, obu: &Obu<'_>) {
        match obu.obu_type() {
            OBU_SEQUENCE_HEADER => {
                self.sequence_header = true;
                // seq_profile (3 bits), still_picture, reduced_still_picture_header.
                self.reduced_still_picture = obu.payload.first().is_some_and(|b| b & 0x08 != 0);
            }
            OBU_FRAME | OBU_FRAME_HEADER if self.first_frame_is_key.is_none() => {
                // show_existing_frame, then frame_type (2 bits, KEY_FRAME = 0) — unless the
                // sequence uses the reduced still-picture header, where every frame is a key frame.
                let key = self.reduced_still_picture
                    || obu
                        .payload
                        .first()
                        .is_some_and(|b| b & 0x80 == 0 && (b >> 5) & 0x03 == 0);
                self.first_frame_is_key = Some(key);
            }
            _ => {}
        }
    }

    /// A sequence header and a key frame: the start of a new coded video sequence.
    fn new_sequence(&self) -> bool {
        self.sequence_header && self.first_frame_is_key == Some(true)
    }
}

/// Packetizes AV1 temporal units given in the low-overhead bitstream format.
#[derive(Debug, Clone, Copy, Default)]
pub struct Av1Packetizer;

/// One payload being filled: its elements (possibly fragments of OBU elements).
struct PayloadBuilder<'a> {
    continues: bool,
    elements: Vec<&'a [u8]>,
    used: usize,
}

impl<'a> PayloadBuilder<'a> {
    fn new(continues: bool) -> Self {
        Self {
            continues,
            elements: Vec::new(),
            used: 1,
        }
    }

    /// Writes the payload; `to_be_continued` sets Y.
    fn finish(self, to_be_continued: bool, new_sequence: bool) -> Bytes {
        let count = self.elements.len();
        let w = if count <= 3 { count } else { 0 };
        let mut header = (w as u8) << 4;
        if self.continues {
            header |= Z;
        }
        if to_be_continued {
            header |= Y;
        }
        if new_sequence {
            header |= N;
        }
        let mut data = BytesMut::with_capacity(self.used);
        data.put_u8(header);
        for (i, element) in self.elements.iter().enumerate() {
            if w == 0 || i + 1 < count {
                write_leb128(element.len(), &mut data);
            }
            data.put_slice(element);
        }
        data.freeze()
    }
}

impl Packetizer for Av1Packetizer {
    fn packetize(&mut self, frame: &[u8], timestamp: u32, max_payload: usize) -> Result<Vec<Payload>, PacketizeError> {
        // The aggregation header, a one-byte length and one byte of an element.
        check_max_payload(max_payload, 3)?;
        let mut scan = KeyFrameScan::default();
        let mut elements: Vec<Vec<u8>> = Vec::new();
        let mut rest = frame;
        while !rest.is_empty() {
            let (obu, len) =
                Obu::parse(rest).map_err(|_| PacketizeError::MalformedFrame("not a sequence of AV1 OBUs"))?;
            rest = &rest[len..];
            scan.note(&obu);
            if matches!(obu.obu_type(), OBU_TEMPORAL_DELIMITER | OBU_TILE_LIST) {
                continue;
            }
            let mut element = Vec::with_capacity(2 + obu.payload.len());
            obu.write_element(&mut element);
            elements.push(element);
        }
        if elements.is_empty() {
            return Err(PacketizeError::EmptyFrame);
        }

        let mut payloads: Vec<Bytes> = Vec::new();
        let mut current = PayloadBuilder::new(false);
        for element in &elements {
            let mut remaining = &element[..];
            while !remaining.is_empty() {
                let space = max_payload - current.used;
                let whole = remaining.len() + leb128_len(remaining.len());
                if whole <= space {
                    current.elements.push(remaining);
                    current.used += whole;
                    break;
                }
                // Take the largest piece that fits with its length field.
                let mut piece = space.saturating_sub(1);
                while piece > 0 && piece + leb128_len(piece) > space {
                    piece -= 1;
                }
                if piece == 0 {
                    let full = std::mem::replace(&mut current, PayloadBuilder::new(false));
                    payloads.push(full.finish(false, payloads.is_empty() && scan.new_sequence()));
                    continue;
                }
                current.elements.push(&remaining[..piece]);
                remaining = &remaining[piece..];
                let full = std::mem::replace(&mut current, PayloadBuilder::new(true));
                payloads.push(full.finish(true, payloads.is_empty() && scan.new_sequence()));
            }
        }
        if !current.elements.is_empty() {
            payloads.push(current.finish(false, payloads.is_empty() && scan.new_sequence()));
        }
        Ok(marked_payloads(timestamp, payloads))
    }
}

/// Depacketizes AV1 payloads into a low-overhead temporal unit.
#[derive(Debug, Clone, Copy, Default)]
pub struct Av1Depacketizer;

/// Splits a payload (after its aggregation header) into its OBU elements.
fn elements(header: u8, mut rest: &[u8]) -> Result<Vec<&[u8]>, DepacketizeError> {
    let w = usize::from((header >> 4) & 0x03);
    let mut out = Vec::new();
    while !rest.is_empty() {
        if w != 0 && out.len() + 1 == w {
            out.push(rest);
            break;
        }
        let (len, used) = read_leb128(rest)?;
        let end = used.checked_add(len).ok_or(DepacketizeError::BadLeb128)?;
        let element = rest
            .get(used..end)
            .ok_or(DepacketizeError::Truncated("an OBU element"))?;
        out.push(element);
        rest = &rest[end..];
    }
    if out.is_empty() {
        return Err(DepacketizeError::EmptyPayload);
    }
    if w != 0 && out.len() != w {
        return Err(DepacketizeError::Av1("fewer OBU elements than the W field says"));
    }
    Ok(out)
}

impl Depacketizer for Av1Depacketizer {
    fn is_frame_start(&self, payload: &[u8]) -> bool {
        payload.first().is_some_and(|h| h & Z == 0)
    }

    fn depacketize(&self, payloads: &[Bytes]) -> Result<Depacketized, DepacketizeError> {
        let first = payloads.first().ok_or(DepacketizeError::NoPayloads)?;
        let mut keyframe = first.first().is_some_and(|h| h & N != 0);
        let mut out = BytesMut::new();
        out.put_slice(&TEMPORAL_DELIMITER);
        let mut scan = KeyFrameScan::default();
        let mut open: Option<Vec<u8>> = None;
        let mut previous_continues = false;
        for (i, payload) in payloads.iter().enumerate() {
            let (&header, rest) = payload.split_first().ok_or(DepacketizeError::EmptyPayload)?;
            let continues = header & Z != 0;
            let to_be_continued = header & Y != 0;
            if continues != previous_continues {
                return Err(if i == 0 {
                    DepacketizeError::NotFrameStart
                } else {
                    DepacketizeError::Discontinuity(i)
                });
            }
            let elements = elements(header, rest)?;
            let count = elements.len();
            for (j, element) in elements.into_iter().enumerate() {
                let mut whole = match open.take() {
                    Some(mut fragment) if j == 0 => {
                        fragment.extend_from_slice(element);
                        fragment
                    }
                    _ => element.to_vec(),
                };
                if j + 1 == count && to_be_continued {
                    open = Some(std::mem::take(&mut whole));
                    continue;
                }
                let (obu, _) = Obu::parse(&whole)?;
                scan.note(&obu);
                if !matches!(obu.obu_type(), OBU_TEMPORAL_DELIMITER | OBU_TILE_LIST) {
                    obu.write_sized(&mut out);
                }
            }
            previous_continues = to_be_continued;
        }
        if previous_continues {
            return Err(DepacketizeError::NotFrameEnd);
        }
        keyframe |= scan.new_sequence();
        Ok(Depacketized {
            data: out.freeze(),
            keyframe,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A low-overhead OBU with a size field.
    fn obu(obu_type: u8, extension: Option<u8>, payload: &[u8]) -> Vec<u8> {
        let mut out = BytesMut::new();
        Obu {
            header: obu_type << 3 | if extension.is_some() { OBU_EXTENSION_FLAG } else { 0 },
            extension,
            payload,
        }
        .write_sized(&mut out);
        out.to_vec()
    }

    fn pattern(len: usize, seed: u8) -> Vec<u8> {
        (0..len)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
            .collect()
    }

    /// A temporal unit: TD, optionally a sequence header, and a frame OBU of `len` bytes.
    fn temporal_unit(len: usize, key: bool) -> Vec<u8> {
        let mut tu = TEMPORAL_DELIMITER.to_vec();
        let mut frame = pattern(len, 3);
        // show_existing_frame = 0, frame_type = KEY_FRAME (0) or INTER_FRAME (1).
        frame[0] = if key { 0x10 } else { 0x30 };
        if key {
            tu.extend(obu(OBU_SEQUENCE_HEADER, None, &[0x00, 0x00, 0x00, 0x0a, 0x0b]));
        }
        tu.extend(obu(OBU_FRAME, None, &frame));
        tu
    }

    fn round_trip(tu: &[u8], max_payload: usize) -> (Vec<Payload>, Depacketized) {
        let payloads = Av1Packetizer.packetize(tu, 7, max_payload).unwrap();
        assert!(
            payloads.iter().all(|p| p.data.len() <= max_payload),
            "a payload is too large"
        );
        assert_eq!(payloads.iter().filter(|p| p.marker).count(), 1);
        assert!(payloads.last().unwrap().marker);
        let data: Vec<Bytes> = payloads.iter().map(|p| p.data.clone()).collect();
        (payloads, Av1Depacketizer.depacketize(&data).unwrap())
    }

    #[test]
    fn leb128_round_trips_and_rejects_overlong_values() {
        for value in [0usize, 1, 127, 128, 16_383, 16_384, 200_000, u32::MAX as usize] {
            let mut out = BytesMut::new();
            write_leb128(value, &mut out);
            assert_eq!(out.len(), leb128_len(value));
            assert_eq!(read_leb128(&out), Ok((value, out.len())));
        }
        // Non-minimal encodings are allowed; 2^32 and nine-byte encodings are not.
        assert_eq!(read_leb128(&[0x81, 0x80, 0x00]), Ok((1, 3)));
        assert_eq!(
            read_leb128(&[0x80, 0x80, 0x80, 0x80, 0x10]),
            Err(DepacketizeError::BadLeb128)
        );
        assert_eq!(read_leb128(&[0x80; 9]), Err(DepacketizeError::BadLeb128));
        assert!(matches!(read_leb128(&[0x80]), Err(DepacketizeError::Truncated(_))));
    }

    #[test]
    fn temporal_units_from_1_byte_to_200_kb_round_trip() {
        for (len, key) in [
            (1, true),
            (2, false),
            (1190, false),
            (1300, true),
            (5000, false),
            (200_000, true),
        ] {
            let tu = temporal_unit(len, key);
            let (payloads, out) = round_trip(&tu, 1200);
            assert_eq!(out.data, tu);
            assert_eq!(out.keyframe, key);
            let headers: Vec<u8> = payloads.iter().map(|p| p.data[0]).collect();
            // N only on the first payload of a key frame with its sequence header.
            assert_eq!(headers[0] & N != 0, key);
            assert!(headers[1..].iter().all(|h| h & N == 0));
            // Z on every payload but the first, Y on every payload but the last.
            for (i, h) in headers.iter().enumerate() {
                assert_eq!(h & Z != 0, i > 0, "payload {i}");
                assert_eq!(h & Y != 0, i + 1 < headers.len(), "payload {i}");
            }
            assert!(Av1Depacketizer.is_frame_start(&payloads[0].data));
            assert!(payloads[1..].iter().all(|p| !Av1Depacketizer.is_frame_start(&p.data)));
            assert!(
                payloads.len() <= tu.len().div_ceil(1190),
                "about one payload per 1.2 kB"
            );
        }
    }

    #[test]
    fn many_obus_aggregate_and_split() {
        let mut tu = TEMPORAL_DELIMITER.to_vec();
        tu.extend(obu(OBU_SEQUENCE_HEADER, None, &[0x00, 0x00, 0x00, 0x0a]));
        tu.extend(obu(5, None, &pattern(40, 1))); // metadata
        tu.extend(obu(OBU_FRAME_HEADER, Some(0x08), &[0x10, 1, 2, 3]));
        for i in 0..6 {
            tu.extend(obu(4, Some(0x08), &pattern(300 + 100 * i, i as u8))); // tile groups
        }
        let (payloads, out) = round_trip(&tu, 1000);
        assert_eq!(out.data, tu);
        assert!(out.keyframe);
        // The first payload aggregates more than three elements, so W = 0.
        assert_eq!(payloads[0].data[0] & 0x30, 0);
        assert!(payloads.len() >= 4);
        // A delta temporal unit without a sequence header is not a key frame.
        let mut delta = TEMPORAL_DELIMITER.to_vec();
        delta.extend(obu(OBU_FRAME, None, &[0x30, 9, 9]));
        delta.extend(obu(OBU_TILE_LIST, None, &[1, 2]));
        let (payloads, out) = round_trip(&delta, 1200);
        assert_eq!(out.data, &delta[..delta.len() - 4], "the tile list is dropped");
        assert!(!out.keyframe);
        assert_eq!(payloads[0].data[0], 0x10, "W = 1, nothing else");
    }

    #[test]
    fn elements_with_counts_and_size_fields_are_read() {
        // W = 2: one element with a length, the last without; the second OBU keeps a size field.
        let payload = [0x20, 0x03, 0x30, 0x10, 0x00, 0x32, 0x02, 0xaa, 0xbb, 0xcc];
        let out = Av1Depacketizer
            .depacketize(&[Bytes::copy_from_slice(&payload)])
            .unwrap();
        let expected = [
            &TEMPORAL_DELIMITER[..],
            &[0x32, 0x02, 0x10, 0x00],
            &[0x32, 0x02, 0xaa, 0xbb],
        ]
        .concat();
        assert_eq!(out.data, expected);
        assert!(!out.keyframe, "a key frame header without a sequence header or N");
    }

    #[test]
    fn broken_payloads_are_typed_errors() {
        let payloads: Vec<Bytes> = Av1Packetizer
            .packetize(&temporal_unit(3000, true), 0, 1200)
            .unwrap()
            .into_iter()
            .map(|p| p.data)
            .collect();
        assert_eq!(payloads.len(), 3);
        assert_eq!(
            Av1Depacketizer.depacketize(&payloads[1..]),
            Err(DepacketizeError::NotFrameStart)
        );
        assert_eq!(
            Av1Depacketizer.depacketize(&payloads[..2]),
            Err(DepacketizeError::NotFrameEnd)
        );
        let next = Av1Packetizer.packetize(&temporal_unit(10, false), 0, 1200).unwrap();
        assert_eq!(
            Av1Depacketizer.depacketize(&[payloads[0].clone(), next[0].data.clone()]),
            Err(DepacketizeError::Discontinuity(1))
        );
        let bad: [&[u8]; 6] = [
            &[],
            &[0x00],
            &[0x00, 0x05, 0x30],
            &[0x10, 0x80],
            &[0x30, 0x30],
            &[0x10, 0x34],
        ];
        for bad in bad {
            assert!(
                Av1Depacketizer.depacketize(&[Bytes::copy_from_slice(bad)]).is_err(),
                "{bad:?}"
            );
        }
        assert!(Av1Packetizer.packetize(&[0x12], 0, 1200).is_err());
        assert_eq!(
            Av1Packetizer.packetize(&TEMPORAL_DELIMITER, 0, 1200),
            Err(PacketizeError::EmptyFrame)
        );
    }
}
