//! H.264 payloads (RFC 6184), packetization-mode 1 (non-interleaved).
//!
//! The packetizer takes an access unit in Annex B form (NAL units behind `00 00 01` or
//! `00 00 00 01` start codes), sends each NAL unit that fits on its own, aggregates runs of
//! small ones (such as SPS + PPS) into STAP-A packets and fragments large ones into FU-A
//! packets. The depacketizer accepts single NAL unit, STAP-A and FU-A packets and rebuilds the
//! access unit in Annex B form with four-byte start codes.

use bytes::{BufMut, Bytes, BytesMut};

use super::{
    check_max_payload, marked_payloads, split_behind_header, DepacketizeError, Depacketized, Depacketizer,
    PacketizeError, Packetizer, Payload,
};

/// NAL unit type of an IDR slice.
pub const NAL_IDR: u8 = 5;
/// NAL unit type of a sequence parameter set.
pub const NAL_SPS: u8 = 7;
/// NAL unit type of a picture parameter set.
pub const NAL_PPS: u8 = 8;
/// NAL unit type of a single-time aggregation packet.
pub const NAL_STAP_A: u8 = 24;
/// NAL unit type of a fragmentation unit.
pub const NAL_FU_A: u8 = 28;

/// The FU header's start bit.
const FU_START: u8 = 0x80;
/// The FU header's end bit.
const FU_END: u8 = 0x40;

/// The start code written in front of every rebuilt NAL unit.
const START_CODE: [u8; 4] = [0, 0, 0, 1];

/// The type field of a NAL unit header byte.
pub fn nal_type(header: u8) -> u8 {
    header & 0x1f
}

/// Splits an Annex B byte stream into its NAL units (without start codes or trailing zeros).
///
/// Bytes before the first start code are ignored; empty NAL units are skipped.
pub fn split_annex_b(stream: &[u8]) -> Vec<&[u8]> {
    let mut starts = Vec::new();
    let mut i = 0;
    while i + 3 <= stream.len() {
        if stream[i] == 0 && stream[i + 1] == 0 && stream[i + 2] == 1 {
            starts.push((i, i + 3));
            i += 3;
        } else {
            i += 1;
        }
    }
    let mut nals = Vec::with_capacity(starts.len());
    for (k, &(_, body_start)) in starts.iter().enumerate() {
        let end = starts.get(k + 1).map_or(stream.len(), |&(code_at, _)| code_at);
        let mut nal = &stream[body_start..end];
        // Zero bytes before the next start code (its leading zero or trailing_zero_8bits)
        // are not part of this NAL unit.
        while let [rest @ .., 0] = nal {
            nal = rest;
        }
        if !nal.is_empty() {
            nals.push(nal);
        }
    }
    nals
}

/// Packetizes H.264 access units in packetization-mode 1.
#[derive(Debug, Clone, Copy, Default)]
pub struct H264Packetizer;

impl Packetizer for H264Packetizer {
    fn packetize(&mut self, frame: &[u8], timestamp: u32, max_payload: usize) -> Result<Vec<Payload>, PacketizeError> {
        // An FU-A needs its two header bytes plus at least one byte of the NAL unit.
        check_max_payload(max_payload, 3)?;
        // STAP-A sizes are 16 bits, and no RTP payload is larger anyway.
        let max_payload = max_payload.min(usize::from(u16::MAX));
        let nals = split_annex_b(frame);
        if nals.is_empty() {
            return Err(PacketizeError::MalformedFrame(
                "no NAL unit behind an Annex B start code",
            ));
        }
        let mut out: Vec<Bytes> = Vec::new();
        let mut pending: Vec<&[u8]> = Vec::new();
        for nal in nals {
            // Types 0 and 24..=31 are unspecified in H.264; RTP uses 24..=31 for its own packets,
            // so such a NAL unit sent as it is would be misread by the receiver.
            if matches!(nal_type(nal[0]), 0 | 24..=31) {
                return Err(PacketizeError::MalformedFrame("an H.264 NAL unit of unspecified type"));
            }
            if nal.len() > max_payload {
                flush_aggregate(&mut pending, &mut out);
                fragment(nal, max_payload, &mut out);
                continue;
            }
            let aggregate_len = 1 + pending.iter().map(|n| 2 + n.len()).sum::<usize>() + 2 + nal.len();
            if !pending.is_empty() && aggregate_len > max_payload {
                flush_aggregate(&mut pending, &mut out);
            }
            pending.push(nal);
        }
        flush_aggregate(&mut pending, &mut out);
        Ok(marked_payloads(timestamp, out))
    }
}

/// Sends the pending NAL units: one alone as a single NAL unit packet, several as a STAP-A.
fn flush_aggregate(pending: &mut Vec<&[u8]>, out: &mut Vec<Bytes>) {
    match pending.as_slice() {
        [] => {}
        [one] => out.push(Bytes::copy_from_slice(one)),
        many => {
            // F is the OR of the aggregated units' F bits, NRI their maximum (RFC 6184 5.7).
            let f = many.iter().fold(0, |acc, n| acc | (n[0] & 0x80));
            let nri = many.iter().map(|n| n[0] & 0x60).max().unwrap_or(0);
            let mut data = BytesMut::with_capacity(1 + many.iter().map(|n| 2 + n.len()).sum::<usize>());
            data.put_u8(f | nri | NAL_STAP_A);
            for nal in many {
                // A NAL unit that fits the payload is far below 65536 bytes.
                data.put_u16(nal.len() as u16);
                data.put_slice(nal);
            }
            out.push(data.freeze());
        }
    }
    pending.clear();
}

/// Splits one NAL unit larger than a payload into FU-A packets.
fn fragment(nal: &[u8], max_payload: usize, out: &mut Vec<Bytes>) {
    let header = nal[0];
    let body = &nal[1..];
    let indicator = (header & 0xe0) | NAL_FU_A;
    out.extend(split_behind_header(body, max_payload, 2, |data, first, last| {
        let mut fu_header = nal_type(header);
        if first {
            fu_header |= FU_START;
        }
        if last {
            fu_header |= FU_END;
        }
        data.put_u8(indicator);
        data.put_u8(fu_header);
    }));
}

/// Depacketizes H.264 packetization-mode 1 payloads into an Annex B access unit.
#[derive(Debug, Clone, Copy, Default)]
pub struct H264Depacketizer;

/// What the depacketizer has seen of the access unit so far.
#[derive(Default)]
struct AccessUnit {
    data: BytesMut,
    keyframe: bool,
    /// The type of the NAL unit whose FU-A fragments are being joined, if any.
    open_fragment: Option<u8>,
}

impl AccessUnit {
    fn push_nal(&mut self, nal: &[u8]) -> Result<(), DepacketizeError> {
        let header = *nal.first().ok_or(DepacketizeError::EmptyPayload)?;
        self.note_type(nal_type(header))?;
        self.data.put_slice(&START_CODE);
        self.data.put_slice(nal);
        Ok(())
    }

    fn note_type(&mut self, kind: u8) -> Result<(), DepacketizeError> {
        match kind {
            // Reserved/unspecified, or aggregation/fragmentation types inside a NAL unit.
            0 | 24..=31 => Err(DepacketizeError::UnsupportedNalType(kind)),
            NAL_IDR | NAL_SPS => {
                self.keyframe = true;
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

impl Depacketizer for H264Depacketizer {
    fn is_frame_start(&self, payload: &[u8]) -> bool {
        match payload {
            [indicator, fu_header, ..] if nal_type(*indicator) == NAL_FU_A => fu_header & FU_START != 0,
            [header, ..] => !matches!(nal_type(*header), 0 | 25..=31),
            [] => false,
        }
    }

    fn depacketize(&self, payloads: &[Bytes]) -> Result<Depacketized, DepacketizeError> {
        if payloads.is_empty() {
            return Err(DepacketizeError::NoPayloads);
        }
        let mut unit = AccessUnit::default();
        for (i, payload) in payloads.iter().enumerate() {
            let header = *payload.first().ok_or(DepacketizeError::EmptyPayload)?;
            let kind = nal_type(header);
            if unit.open_fragment.is_some() && kind != NAL_FU_A {
                return Err(DepacketizeError::Discontinuity(i));
            }
            match kind {
                1..=23 => unit.push_nal(payload)?,
                NAL_STAP_A => {
                    let mut rest = &payload[1..];
                    if rest.is_empty() {
                        return Err(DepacketizeError::EmptyPayload);
                    }
                    while !rest.is_empty() {
                        let [high, low, tail @ ..] = rest else {
                            return Err(DepacketizeError::Truncated("a STAP-A NAL unit size"));
                        };
                        let size = usize::from(u16::from_be_bytes([*high, *low]));
                        let nal = tail
                            .get(..size)
                            .ok_or(DepacketizeError::Truncated("a STAP-A NAL unit"))?;
                        unit.push_nal(nal)?;
                        rest = &tail[size..];
                    }
                }
                NAL_FU_A => {
                    let [_, fu_header, body @ ..] = &payload[..] else {
                        return Err(DepacketizeError::Truncated("the FU-A header"));
                    };
                    if body.is_empty() {
                        return Err(DepacketizeError::EmptyPayload);
                    }
                    let fragment_type = nal_type(*fu_header);
                    let start = fu_header & FU_START != 0;
                    let end = fu_header & FU_END != 0;
                    // RFC 6184 forbids start and end in one FU-A; we take it as a whole NAL unit.
                    match (start, unit.open_fragment) {
                        (true, None) => {
                            unit.note_type(fragment_type)?;
                            unit.data.put_slice(&START_CODE);
                            unit.data.put_u8((header & 0xe0) | fragment_type);
                            unit.open_fragment = Some(fragment_type);
                        }
                        (false, Some(open)) if open == fragment_type => {}
                        (true, Some(_)) => return Err(DepacketizeError::FrameRestarted(i)),
                        (false, _) => return Err(DepacketizeError::Discontinuity(i)),
                    }
                    unit.data.put_slice(body);
                    if end {
                        unit.open_fragment = None;
                    }
                }
                other => return Err(DepacketizeError::UnsupportedNalType(other)),
            }
        }
        if unit.open_fragment.is_some() {
            return Err(DepacketizeError::NotFrameEnd);
        }
        Ok(Depacketized {
            data: unit.data.freeze(),
            keyframe: unit.keyframe,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A NAL unit of `len` bytes with the given header byte and no zero bytes in its body.
    fn nal(header: u8, len: usize) -> Vec<u8> {
        let mut nal = vec![header];
        nal.extend((1..len).map(|i| (i % 251 + 1) as u8));
        nal
    }

    fn annex_b(nals: &[Vec<u8>]) -> Vec<u8> {
        nals.iter()
            .flat_map(|n| START_CODE.iter().chain(n.iter()).copied())
            .collect()
    }

    fn round_trip(frame: &[u8], max_payload: usize) -> (Vec<Payload>, Depacketized) {
        let payloads = H264Packetizer.packetize(frame, 90, max_payload).unwrap();
        assert!(payloads.iter().all(|p| p.data.len() <= max_payload));
        assert_eq!(payloads.iter().filter(|p| p.marker).count(), 1);
        assert!(payloads.last().unwrap().marker);
        let data: Vec<Bytes> = payloads.iter().map(|p| p.data.clone()).collect();
        let out = H264Depacketizer.depacketize(&data).unwrap();
        (payloads, out)
    }

    #[test]
    fn sps_pps_idr_become_stap_a_then_fu_a_and_back() {
        let nals = vec![nal(0x67, 12), nal(0x68, 4), nal(0x65, 5000)];
        let frame = annex_b(&nals);
        let (payloads, out) = round_trip(&frame, 1200);
        assert_eq!(out.data, frame);
        assert!(out.keyframe);
        // STAP-A with SPS and PPS, then five FU-A fragments of the IDR slice.
        assert_eq!(nal_type(payloads[0].data[0]), NAL_STAP_A);
        assert_eq!(payloads[0].data[0] & 0x60, 0x60, "NRI is the largest aggregated one");
        assert_eq!(&payloads[0].data[1..3], &[0, 12]);
        assert_eq!(payloads.len(), 1 + 4999usize.div_ceil(1198));
        for (i, p) in payloads[1..].iter().enumerate() {
            assert_eq!(p.data[0], 0x60 | NAL_FU_A);
            assert_eq!(nal_type(p.data[1]), NAL_IDR);
            assert_eq!(p.data[1] & FU_START != 0, i == 0);
            assert_eq!(p.data[1] & FU_END != 0, i + 2 == payloads.len());
        }
        assert!(H264Depacketizer.is_frame_start(&payloads[1].data));
        assert!(!H264Depacketizer.is_frame_start(&payloads[2].data));
    }

    #[test]
    fn access_units_from_1_byte_to_200_kb_round_trip() {
        for len in [1usize, 2, 1200, 1201, 200_000] {
            let frame = annex_b(&[nal(0x41, len)]);
            let (payloads, out) = round_trip(&frame, 1200);
            assert_eq!(out.data, frame);
            assert!(!out.keyframe, "a non-IDR slice is a delta frame");
            assert_eq!(payloads.len(), if len <= 1200 { 1 } else { (len - 1).div_ceil(1198) });
        }
        // Many small slices aggregate, and three-byte start codes and trailing zeros are accepted.
        let mut frame = vec![0, 0, 1];
        frame.extend(nal(0x41, 300));
        frame.extend([0, 0, 0, 0, 1]);
        frame.extend(nal(0x41, 300));
        let (payloads, out) = round_trip(&frame, 1200);
        assert_eq!(payloads.len(), 1);
        assert_eq!(out.data, annex_b(&[nal(0x41, 300), nal(0x41, 300)]));
    }

    #[test]
    fn a_huge_max_payload_still_fits_16_bit_stap_a_sizes() {
        let frame = annex_b(&[nal(0x41, 70_000), nal(0x41, 10), nal(0x41, 60_000)]);
        let (payloads, out) = round_trip(&frame, 1 << 20);
        assert_eq!(out.data, frame);
        assert!(payloads.iter().all(|p| p.data.len() <= 65_535));
    }

    #[test]
    fn annex_b_splitting() {
        let stream = [0xff, 0, 0, 1, 0x67, 1, 0, 0, 0, 1, 0x68, 2, 0, 0, 1, 0, 0, 1, 0x65];
        let nals = split_annex_b(&stream);
        assert_eq!(nals, [&[0x67, 1][..], &[0x68, 2], &[0x65]]);
        assert!(split_annex_b(&[1, 2, 3]).is_empty());
        assert!(H264Packetizer.packetize(&[1, 2, 3], 0, 1200).is_err());
        // A NAL unit of a type RTP uses for its own packets cannot be sent.
        assert!(H264Packetizer.packetize(&[0, 0, 1, 0x7c, 1, 2], 0, 1200).is_err());
        assert!(H264Packetizer.packetize(&[0, 0, 1, 0x00, 1, 2], 0, 1200).is_err());
    }

    #[test]
    fn broken_payloads_are_typed_errors() {
        let frame = annex_b(&[nal(0x65, 3000)]);
        let payloads: Vec<Bytes> = H264Packetizer
            .packetize(&frame, 0, 1200)
            .unwrap()
            .into_iter()
            .map(|p| p.data)
            .collect();
        assert_eq!(payloads.len(), 3);
        // Missing start, missing middle (still continues), missing end.
        assert_eq!(
            H264Depacketizer.depacketize(&payloads[1..]),
            Err(DepacketizeError::Discontinuity(0))
        );
        assert_eq!(
            H264Depacketizer.depacketize(&payloads[..2]),
            Err(DepacketizeError::NotFrameEnd)
        );
        assert_eq!(
            H264Depacketizer.depacketize(&[payloads[0].clone(), payloads[0].clone()]),
            Err(DepacketizeError::FrameRestarted(1))
        );
        let single = Bytes::from_static(&[0x41, 1]);
        assert_eq!(
            H264Depacketizer.depacketize(&[payloads[0].clone(), single]),
            Err(DepacketizeError::Discontinuity(1))
        );
        let bad: [&[u8]; 7] = [
            &[],
            &[0x78],
            &[0x78, 0, 5, 0x41],
            &[0x78, 0],
            &[0x7c],
            &[0x79, 1, 2],
            &[0x78, 0, 1, 0x7c],
        ];
        for bad in bad {
            assert!(
                H264Depacketizer.depacketize(&[Bytes::copy_from_slice(bad)]).is_err(),
                "{bad:?}"
            );
        }
        // Start and end in one FU-A (forbidden, but seen) is a whole NAL unit.
        let whole = H264Depacketizer
            .depacketize(&[Bytes::from_static(&[0x7c, 0xc5, 1, 2])])
            .unwrap();
        assert_eq!(&whole.data[..], &[0, 0, 0, 1, 0x65, 1, 2]);
        assert!(whole.keyframe);
        assert_eq!(
            H264Depacketizer.depacketize(&[Bytes::from_static(&[0x7a, 1])]),
            Err(DepacketizeError::UnsupportedNalType(26))
        );
    }
}
