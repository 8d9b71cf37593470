//! VP8 payloads (RFC 7741): a payload descriptor in front of each piece of the frame.
//!
//! We send the descriptor with a 15-bit picture id (X=1, I=1, M=1), S=1 and PID=0 on the first
//! payload of a frame; we read every optional field a sender may include.

use bytes::{BufMut, Bytes, BytesMut};

use super::{
    check_max_payload, marked_payloads, same_picture, split_behind_header, DepacketizeError, Depacketized,
    Depacketizer, PacketizeError, Packetizer, Payload, PictureIds,
};

/// The length of the descriptor we write: the required byte, X byte and 15-bit picture id.
const SENT_DESCRIPTOR_LEN: usize = 4;

/// The VP8 payload descriptor of one payload (RFC 7741 section 4.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Vp8Descriptor {
    /// N: the frame is not used as a reference by any other frame.
    pub non_reference: bool,
    /// S: the payload starts a VP8 partition.
    pub start: bool,
    /// PID: the partition index (0 to 7).
    pub partition_id: u8,
    /// The picture id, 7 or 15 bits, when present.
    pub picture_id: Option<u16>,
    /// TL0PICIDX, when present.
    pub tl0_pic_idx: Option<u8>,
    /// TID, the temporal layer index, when present.
    pub temporal_id: Option<u8>,
    /// Y: layer sync bit (meaningful only with `temporal_id`).
    pub layer_sync: bool,
    /// KEYIDX, when present.
    pub key_idx: Option<u8>,
}

impl Vp8Descriptor {
    /// Parses the descriptor at the start of `payload`; returns it and its length in bytes.
    pub fn parse(payload: &[u8]) -> Result<(Self, usize), DepacketizeError> {
        let mut at = 0usize;
        let mut next = |what: &'static str| -> Result<u8, DepacketizeError> {
            let byte = payload.get(at).copied().ok_or(DepacketizeError::Truncated(what))?;
            at += 1;
            Ok(byte)
        };
        let first = next("the VP8 payload descriptor")?;
        let mut descriptor = Vp8Descriptor {
            non_reference: first & 0x20 != 0,
            start: first & 0x10 != 0,
            partition_id: first & 0x07,
            ..Default::default()
        };
        if first & 0x80 != 0 {
            let ext = next("the VP8 extension byte")?;
            if ext & 0x80 != 0 {
                let high = next("the VP8 picture id")?;
                descriptor.picture_id = Some(if high & 0x80 != 0 {
                    let low = next("the VP8 15-bit picture id")?;
                    u16::from(high & 0x7f) << 8 | u16::from(low)
                } else {
                    u16::from(high)
                });
            }
            if ext & 0x40 != 0 {
                descriptor.tl0_pic_idx = Some(next("the VP8 TL0PICIDX")?);
            }
            if ext & 0x30 != 0 {
                let byte = next("the VP8 TID/KEYIDX byte")?;
                if ext & 0x20 != 0 {
                    descriptor.temporal_id = Some(byte >> 6);
                    descriptor.layer_sync = byte & 0x20 != 0;
                }
                if ext & 0x10 != 0 {
                    descriptor.key_idx = Some(byte & 0x1f);
                }
            }
        }
        Ok((descriptor, at))
    }

    /// Whether this payload starts a frame (S=1 and PID=0).
    pub fn starts_frame(&self) -> bool {
        self.start && self.partition_id == 0
    }
}

/// Packetizes VP8 frames with a 15-bit picture id that counts up (and wraps) frame by frame.
#[derive(Debug, Clone, Default)]
pub struct Vp8Packetizer {
    picture_ids: PictureIds,
}

impl Vp8Packetizer {
    /// A packetizer whose first frame gets `first_picture_id` (taken modulo 2^15).
    pub fn new(first_picture_id: u16) -> Self {
        Self {
            picture_ids: PictureIds::starting_at(first_picture_id),
        }
    }

    /// The picture id the next frame will get.
    pub fn next_picture_id(&self) -> u16 {
        self.picture_ids.peek()
    }
}

impl Packetizer for Vp8Packetizer {
    fn packetize(&mut self, frame: &[u8], timestamp: u32, max_payload: usize) -> Result<Vec<Payload>, PacketizeError> {
        check_max_payload(max_payload, SENT_DESCRIPTOR_LEN + 1)?;
        if frame.is_empty() {
            return Err(PacketizeError::EmptyFrame);
        }
        let picture_id = self.picture_ids.take();
        let payloads = split_behind_header(frame, max_payload, SENT_DESCRIPTOR_LEN, |data, first, _| {
            // X, and S on the first payload; I with a 15-bit picture id.
            data.put_u8(0x80 | if first { 0x10 } else { 0 });
            data.put_u8(0x80);
            data.put_u16(0x8000 | picture_id);
        });
        Ok(marked_payloads(timestamp, payloads))
    }
}

/// Depacketizes VP8 payloads.
#[derive(Debug, Clone, Copy, Default)]
pub struct Vp8Depacketizer;

impl Depacketizer for Vp8Depacketizer {
    fn is_frame_start(&self, payload: &[u8]) -> bool {
        Vp8Descriptor::parse(payload).is_ok_and(|(d, _)| d.starts_frame())
    }

    fn depacketize(&self, payloads: &[Bytes]) -> Result<Depacketized, DepacketizeError> {
        if payloads.is_empty() {
            return Err(DepacketizeError::NoPayloads);
        }
        let mut data = BytesMut::new();
        let mut keyframe = false;
        let mut first_picture_id = None;
        for (i, payload) in payloads.iter().enumerate() {
            let (descriptor, len) = Vp8Descriptor::parse(payload)?;
            let body = payload.get(len..).unwrap_or_default();
            if body.is_empty() {
                return Err(DepacketizeError::EmptyPayload);
            }
            if i == 0 {
                if !descriptor.starts_frame() {
                    return Err(DepacketizeError::NotFrameStart);
                }
                first_picture_id = descriptor.picture_id;
                // The P bit of the VP8 payload header: 0 for a key frame (RFC 7741 section 4.3).
                keyframe = body[0] & 0x01 == 0;
            } else {
                if descriptor.starts_frame() {
                    return Err(DepacketizeError::FrameRestarted(i));
                }
                same_picture(first_picture_id, descriptor.picture_id)?;
            }
            data.put_slice(body);
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

    /// A frame of `len` bytes whose payload header says key frame or not.
    fn frame(len: usize, key: bool) -> Vec<u8> {
        let mut frame: Vec<u8> = (0..len).map(|i| (i * 13 + 5) as u8).collect();
        frame[0] = (frame[0] & !1) | u8::from(!key);
        frame
    }

    fn payload_data(payloads: &[Payload]) -> Vec<Bytes> {
        payloads.iter().map(|p| p.data.clone()).collect()
    }

    #[test]
    fn frames_from_1_byte_to_200_kb_round_trip() {
        let mut packetizer = Vp8Packetizer::new(100);
        for (len, key) in [
            (1, true),
            (2, false),
            (1196, true),
            (1197, false),
            (5000, false),
            (200_000, true),
        ] {
            let frame = frame(len, key);
            let payloads = packetizer.packetize(&frame, 90_000, 1200).unwrap();
            assert_eq!(payloads.len(), len.div_ceil(1196));
            assert!(payloads.iter().all(|p| p.data.len() <= 1200 && p.timestamp == 90_000));
            let markers: Vec<bool> = payloads.iter().map(|p| p.marker).collect();
            assert_eq!(markers.iter().filter(|m| **m).count(), 1);
            assert_eq!(markers.last(), Some(&true));
            let data = payload_data(&payloads);
            assert!(Vp8Depacketizer.is_frame_start(&data[0]));
            assert!(data[1..].iter().all(|d| !Vp8Depacketizer.is_frame_start(d)));
            let out = Vp8Depacketizer.depacketize(&data).unwrap();
            assert_eq!(out.data, frame);
            assert_eq!(out.keyframe, key);
        }
    }

    #[test]
    fn picture_id_is_15_bits_and_wraps() {
        let mut packetizer = Vp8Packetizer::new(0x7ffe);
        let ids: Vec<Option<u16>> = (0..3)
            .map(|_| {
                let payloads = packetizer.packetize(&frame(3000, false), 0, 1200).unwrap();
                let (first, len) = Vp8Descriptor::parse(&payloads[0].data).unwrap();
                assert_eq!(len, 4);
                assert!(first.starts_frame());
                for p in &payloads[1..] {
                    let (d, _) = Vp8Descriptor::parse(&p.data).unwrap();
                    assert!(!d.start);
                    assert_eq!(d.picture_id, first.picture_id);
                }
                first.picture_id
            })
            .collect();
        assert_eq!(ids, [Some(0x7ffe), Some(0x7fff), Some(0)]);
        assert_eq!(packetizer.next_picture_id(), 1);
    }

    #[test]
    fn optional_descriptor_fields_are_read() {
        // X, N, S, PID 0; I L T K; 7-bit picture id 5; TL0PICIDX 9; TID 2, Y, KEYIDX 3.
        let payload = [0xb0, 0xf0, 0x05, 0x09, 0b1010_0011, 0x00, 0xaa];
        let (d, len) = Vp8Descriptor::parse(&payload).unwrap();
        assert_eq!(len, 5);
        assert_eq!(
            d,
            Vp8Descriptor {
                non_reference: true,
                start: true,
                partition_id: 0,
                picture_id: Some(5),
                tl0_pic_idx: Some(9),
                temporal_id: Some(2),
                layer_sync: true,
                key_idx: Some(3),
            }
        );
        let out = Vp8Depacketizer
            .depacketize(&[Bytes::copy_from_slice(&payload)])
            .unwrap();
        assert_eq!(&out.data[..], &[0x00, 0xaa]);
        assert!(out.keyframe);
        // The minimal descriptor: one byte, no extension.
        let out = Vp8Depacketizer
            .depacketize(&[Bytes::from_static(&[0x10, 0x01, 0x02])])
            .unwrap();
        assert!(!out.keyframe);
    }

    #[test]
    fn broken_frames_are_typed_errors() {
        let mut packetizer = Vp8Packetizer::new(7);
        let payloads = payload_data(&packetizer.packetize(&frame(3000, true), 0, 1200).unwrap());
        // Missing the first payload.
        assert_eq!(
            Vp8Depacketizer.depacketize(&payloads[1..]),
            Err(DepacketizeError::NotFrameStart)
        );
        // The start of another frame in the middle.
        let other = payload_data(&packetizer.packetize(&frame(10, true), 0, 1200).unwrap());
        let mixed = [payloads[0].clone(), other[0].clone()];
        assert_eq!(
            Vp8Depacketizer.depacketize(&mixed),
            Err(DepacketizeError::FrameRestarted(1))
        );
        // A continuation of another picture.
        let next = payload_data(&packetizer.packetize(&frame(3000, true), 0, 1200).unwrap());
        let mixed = [payloads[0].clone(), next[1].clone()];
        assert_eq!(
            Vp8Depacketizer.depacketize(&mixed),
            Err(DepacketizeError::PictureIdMismatch { first: 7, found: 9 })
        );
        // Truncated descriptors and empty bodies.
        for bad in [
            &[0x90][..],
            &[0x90, 0x80],
            &[0x90, 0x80, 0x81],
            &[0x90, 0x40],
            &[0x90, 0x20],
            &[0x10],
        ] {
            assert!(
                Vp8Depacketizer.depacketize(&[Bytes::copy_from_slice(bad)]).is_err(),
                "{bad:?}"
            );
        }
        assert_eq!(Vp8Depacketizer.depacketize(&[]), Err(DepacketizeError::NoPayloads));
        assert!(matches!(
            packetizer.packetize(&[1], 0, 4),
            Err(PacketizeError::MaxPayloadTooSmall { .. })
        ));
    }
}
