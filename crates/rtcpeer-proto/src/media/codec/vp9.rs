//! VP9 payloads (RFC 9628): a payload descriptor in front of each piece of the frame.
//!
//! We send non-flexible, non-layered streams: I=1 with a 15-bit picture id, P from the frame's
//! uncompressed header, L=0, F=0, B on the first payload, E on the last, no scalability
//! structure. We read every field a sender may include (flexible mode, layer indices,
//! scalability structure), and rebuild a frame by joining the payloads' bodies.

use bytes::{BufMut, Bytes, BytesMut};

use super::{
    check_max_payload, marked_payloads, same_picture, split_behind_header, DepacketizeError, Depacketized,
    Depacketizer, PacketizeError, Packetizer, Payload, PictureIds,
};

/// The length of the descriptor we write: the flags byte and a 15-bit picture id.
const SENT_DESCRIPTOR_LEN: usize = 3;

/// How many reference picture differences flexible mode allows per payload.
const MAX_P_DIFFS: usize = 3;

/// The layer indices of a payload (the L byte and, in non-flexible mode, TL0PICIDX).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Vp9Layer {
    /// TID: temporal layer.
    pub temporal_id: u8,
    /// U: switching up point.
    pub switching_up: bool,
    /// SID: spatial layer.
    pub spatial_id: u8,
    /// D: depends on the lower spatial layer of the same picture.
    pub inter_layer_dependency: bool,
    /// TL0PICIDX (non-flexible mode only).
    pub tl0_pic_idx: Option<u8>,
}

/// The VP9 payload descriptor of one payload (RFC 9628 section 4.2).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Vp9Descriptor {
    /// The picture id, 7 or 15 bits, when present (I).
    pub picture_id: Option<u16>,
    /// P: the picture is predicted from an earlier one.
    pub inter_predicted: bool,
    /// F: flexible mode.
    pub flexible: bool,
    /// B: the payload begins a frame.
    pub begins_frame: bool,
    /// E: the payload ends a frame.
    pub ends_frame: bool,
    /// Z: not used for prediction by higher spatial layers.
    pub not_reference: bool,
    /// The layer indices, when present (L).
    pub layer: Option<Vp9Layer>,
    /// The reference picture id differences (flexible mode with P).
    pub reference_diffs: Vec<u8>,
    /// Whether a scalability structure was present (V).
    pub has_scalability_structure: bool,
}

impl Vp9Descriptor {
    /// Parses the descriptor at the start of `payload`; returns it and its length in bytes.
    pub fn parse(payload: &[u8]) -> Result<(Self, usize), DepacketizeError> {
        let mut at = 0usize;
        let mut next = |what: &'static str| -> Result<u8, DepacketizeError> {
            let byte = payload.get(at).copied().ok_or(DepacketizeError::Truncated(what))?;
            at += 1;
            Ok(byte)
        };
        let flags = next("the VP9 payload descriptor")?;
        let mut d = Vp9Descriptor {
            inter_predicted: flags & 0x40 != 0,
            flexible: flags & 0x10 != 0,
            begins_frame: flags & 0x08 != 0,
            ends_frame: flags & 0x04 != 0,
            not_reference: flags & 0x01 != 0,
            has_scalability_structure: flags & 0x02 != 0,
            ..Default::default()
        };
        if flags & 0x80 != 0 {
            let high = next("the VP9 picture id")?;
            d.picture_id = Some(if high & 0x80 != 0 {
                u16::from(high & 0x7f) << 8 | u16::from(next("the VP9 15-bit picture id")?)
            } else {
                u16::from(high)
            });
        }
        if flags & 0x20 != 0 {
            let byte = next("the VP9 layer indices")?;
            d.layer = Some(Vp9Layer {
                temporal_id: byte >> 5,
                switching_up: byte & 0x10 != 0,
                spatial_id: (byte >> 1) & 0x07,
                inter_layer_dependency: byte & 0x01 != 0,
                tl0_pic_idx: if d.flexible {
                    None
                } else {
                    Some(next("the VP9 TL0PICIDX")?)
                },
            });
        }
        if d.flexible && d.inter_predicted {
            loop {
                let byte = next("the VP9 reference indices")?;
                if d.reference_diffs.len() == MAX_P_DIFFS {
                    return Err(DepacketizeError::Truncated("more than three VP9 reference indices"));
                }
                d.reference_diffs.push(byte >> 1);
                if byte & 0x01 == 0 {
                    break;
                }
            }
        }
        if d.has_scalability_structure {
            let header = next("the VP9 scalability structure")?;
            let spatial_layers = usize::from(header >> 5) + 1;
            if header & 0x10 != 0 {
                for _ in 0..spatial_layers * 4 {
                    next("the VP9 scalability structure resolutions")?;
                }
            }
            if header & 0x08 != 0 {
                let groups = next("the VP9 picture group count")?;
                for _ in 0..groups {
                    let group = next("a VP9 picture group")?;
                    for _ in 0..(group >> 2) & 0x03 {
                        next("a VP9 picture group reference")?;
                    }
                }
            }
        }
        Ok((d, at))
    }

    /// Whether this payload starts a picture: B set, in the lowest spatial layer.
    pub fn starts_picture(&self) -> bool {
        self.begins_frame && self.layer.is_none_or(|l| l.spatial_id == 0)
    }
}

/// Reads whether a VP9 frame is a key frame from its uncompressed header (VP9 bitstream
/// specification section 6.2: frame_marker, profile, show_existing_frame, frame_type).
pub fn is_key_frame(frame: &[u8]) -> Result<bool, PacketizeError> {
    let first = *frame.first().ok_or(PacketizeError::EmptyFrame)?;
    if first >> 6 != 0b10 {
        return Err(PacketizeError::MalformedFrame("the VP9 frame marker is not 2"));
    }
    let profile = (first >> 5) & 1 | ((first >> 4) & 1) << 1;
    // Profile 3 has a reserved zero bit before show_existing_frame.
    let show_existing_bit = if profile == 3 { 2 } else { 3 };
    let show_existing_frame = (first >> show_existing_bit) & 1 == 1;
    let frame_type = (first >> (show_existing_bit - 1)) & 1;
    Ok(!show_existing_frame && frame_type == 0)
}

/// Packetizes VP9 frames (non-flexible, non-layered) with a 15-bit picture id that counts up
/// (and wraps) frame by frame.
#[derive(Debug, Clone, Default)]
pub struct Vp9Packetizer {
    picture_ids: PictureIds,
}

impl Vp9Packetizer {
    /// A packetizer whose first frame gets `first_picture_id` (taken modulo 2^15).
    pub fn new(first_picture_id: u16) -> Self {
        Self {
            picture_ids: PictureIds::starting_at(first_picture_id),
        }
    }
}

impl Packetizer for Vp9Packetizer {
    fn packetize(&mut self, frame: &[u8], timestamp: u32, max_payload: usize) -> Result<Vec<Payload>, PacketizeError> {
        check_max_payload(max_payload, SENT_DESCRIPTOR_LEN + 1)?;
        let key = is_key_frame(frame)?;
        let picture_id = self.picture_ids.take();
        let payloads = split_behind_header(frame, max_payload, SENT_DESCRIPTOR_LEN, |data, first, last| {
            // I, P unless a key frame, B on the first payload, E on the last; a 15-bit picture id.
            let mut flags = 0x80;
            if !key {
                flags |= 0x40;
            }
            if first {
                flags |= 0x08;
            }
            if last {
                flags |= 0x04;
            }
            data.put_u8(flags);
            data.put_u16(0x8000 | picture_id);
        });
        Ok(marked_payloads(timestamp, payloads))
    }
}

/// Depacketizes VP9 payloads; the layer frames of a spatially layered picture are joined in order.
#[derive(Debug, Clone, Copy, Default)]
pub struct Vp9Depacketizer;

impl Depacketizer for Vp9Depacketizer {
    fn is_frame_start(&self, payload: &[u8]) -> bool {
        Vp9Descriptor::parse(payload).is_ok_and(|(d, _)| d.starts_picture())
    }

    fn depacketize(&self, payloads: &[Bytes]) -> Result<Depacketized, DepacketizeError> {
        if payloads.is_empty() {
            return Err(DepacketizeError::NoPayloads);
        }
        let mut data = BytesMut::new();
        let mut keyframe = false;
        let mut first_picture_id = None;
        let mut previous_ended = false;
        for (i, payload) in payloads.iter().enumerate() {
            let (d, len) = Vp9Descriptor::parse(payload)?;
            let body = payload.get(len..).unwrap_or_default();
            if body.is_empty() {
                return Err(DepacketizeError::EmptyPayload);
            }
            if i == 0 {
                if !d.starts_picture() {
                    return Err(DepacketizeError::NotFrameStart);
                }
                first_picture_id = d.picture_id;
                keyframe = !d.inter_predicted;
            } else {
                if d.begins_frame && !previous_ended {
                    return Err(DepacketizeError::FrameRestarted(i));
                }
                if previous_ended && !d.begins_frame {
                    return Err(DepacketizeError::Discontinuity(i));
                }
                same_picture(first_picture_id, d.picture_id)?;
            }
            previous_ended = d.ends_frame;
            data.put_slice(body);
        }
        if !previous_ended {
            return Err(DepacketizeError::NotFrameEnd);
        }
        Ok(Depacketized {
            data: data.freeze(),
            keyframe,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A frame of `len` bytes whose uncompressed header (profile 0) says key frame or not.
    fn frame(len: usize, key: bool) -> Vec<u8> {
        let mut frame: Vec<u8> = (0..len).map(|i| (i * 29 + 1) as u8).collect();
        frame[0] = if key { 0x80 } else { 0x84 } | (frame[0] & 0x03);
        frame
    }

    fn bodies(payloads: &[Payload]) -> Vec<Bytes> {
        payloads.iter().map(|p| p.data.clone()).collect()
    }

    #[test]
    fn frames_from_1_byte_to_200_kb_round_trip() {
        let mut packetizer = Vp9Packetizer::new(0x7fff);
        for (len, key) in [
            (1, true),
            (2, false),
            (1197, true),
            (1198, false),
            (200_000, false),
            (200_000, true),
        ] {
            let frame = frame(len, key);
            let payloads = packetizer.packetize(&frame, 3000, 1200).unwrap();
            assert_eq!(payloads.len(), len.div_ceil(1197));
            assert!(payloads.iter().all(|p| p.data.len() <= 1200));
            assert_eq!(payloads.iter().filter(|p| p.marker).count(), 1);
            assert!(payloads.last().unwrap().marker);
            for (i, p) in payloads.iter().enumerate() {
                let (d, _) = Vp9Descriptor::parse(&p.data).unwrap();
                assert_eq!(d.begins_frame, i == 0);
                assert_eq!(d.ends_frame, i + 1 == payloads.len());
                assert_eq!(d.inter_predicted, !key);
                assert_eq!(d.layer, None);
                assert!(!d.flexible);
            }
            let out = Vp9Depacketizer.depacketize(&bodies(&payloads)).unwrap();
            assert_eq!(out.data, frame);
            assert_eq!(out.keyframe, key);
        }
        // Six frames from 0x7fff: the picture id wrapped to 0 and counts on.
        let payloads = packetizer.packetize(&frame(10, false), 0, 1200).unwrap();
        assert_eq!(Vp9Descriptor::parse(&payloads[0].data).unwrap().0.picture_id, Some(5));
    }

    #[test]
    fn key_frame_detection_reads_the_uncompressed_header() {
        assert_eq!(is_key_frame(&[0x80]), Ok(true));
        assert_eq!(is_key_frame(&[0x84]), Ok(false));
        // show_existing_frame is never a key frame.
        assert_eq!(is_key_frame(&[0x88]), Ok(false));
        // Profile 3 (both profile bits) has the reserved bit first.
        assert_eq!(is_key_frame(&[0xb0]), Ok(true));
        assert_eq!(is_key_frame(&[0xb2]), Ok(false));
        assert!(is_key_frame(&[0x40]).is_err());
        assert!(Vp9Packetizer::default().packetize(&[0x00, 1], 0, 1200).is_err());
    }

    #[test]
    fn flexible_layered_descriptors_are_read() {
        // I P L F B E V Z = 1 1 1 1 1 1 1 0; 7-bit picture id 3; TID 1 U SID 0 D0;
        // P_DIFF 1 (N) P_DIFF 2; SS: N_S=0, Y, G; 640x480; N_G=1; TID0 U R=1; P_DIFF 1.
        let payload = [
            0xfe,
            0x03,
            0b0011_0000,
            0x03,
            0x04,
            0b0001_1000,
            0x02,
            0x80,
            0x01,
            0xe0,
            0x01,
            0b0001_0100,
            0x01,
            0xaa,
        ];
        let (d, len) = Vp9Descriptor::parse(&payload).unwrap();
        assert_eq!(len, payload.len() - 1);
        assert_eq!(d.picture_id, Some(3));
        assert_eq!(d.reference_diffs, [1, 2]);
        assert_eq!(
            d.layer
                .map(|l| (l.temporal_id, l.switching_up, l.spatial_id, l.tl0_pic_idx)),
            Some((1, true, 0, None))
        );
        assert!(d.has_scalability_structure);
        let out = Vp9Depacketizer
            .depacketize(&[Bytes::copy_from_slice(&payload)])
            .unwrap();
        assert_eq!(&out.data[..], &[0xaa]);
        assert!(!out.keyframe);
        // Every truncation of the descriptor is an error, never a panic.
        for cut in 0..len {
            assert!(Vp9Descriptor::parse(&payload[..cut]).is_err(), "cut at {cut}");
        }
        // A fourth reference index is refused.
        assert!(Vp9Descriptor::parse(&[0x50, 0x03, 0x03, 0x03, 0x02, 0x00]).is_err());
    }

    #[test]
    fn broken_frames_are_typed_errors() {
        let mut packetizer = Vp9Packetizer::new(1);
        let payloads = bodies(&packetizer.packetize(&frame(3000, true), 0, 1200).unwrap());
        assert_eq!(
            Vp9Depacketizer.depacketize(&payloads[1..]),
            Err(DepacketizeError::NotFrameStart)
        );
        assert_eq!(
            Vp9Depacketizer.depacketize(&payloads[..2]),
            Err(DepacketizeError::NotFrameEnd)
        );
        let next = bodies(&packetizer.packetize(&frame(3000, true), 0, 1200).unwrap());
        assert_eq!(
            Vp9Depacketizer.depacketize(&[payloads[0].clone(), next[1].clone(), next[2].clone()]),
            Err(DepacketizeError::PictureIdMismatch { first: 1, found: 2 })
        );
        assert_eq!(
            Vp9Depacketizer.depacketize(&[payloads[0].clone(), next[0].clone()]),
            Err(DepacketizeError::FrameRestarted(1))
        );
    }
}
