//! Payload formats that carry the encoded octets as they are, one frame per payload: G.711 (PCMU
//! and PCMA, RFC 3551 section 4.5.14) and G.722 (RFC 3551 section 4.5.2; its RTP clock rate is
//! 8000 although the codec samples at 16 kHz, which is the caller's business).

use bytes::Bytes;

use super::{
    single_frame, single_payload, DepacketizeError, Depacketized, Depacketizer, PacketizeError, Packetizer, Payload,
};

/// Packetizes G.711 (µ-law or A-law alike) and G.722 frames: one payload per frame.
#[derive(Debug, Clone, Copy, Default)]
pub struct PlainPacketizer;

impl Packetizer for PlainPacketizer {
    fn packetize(&mut self, frame: &[u8], timestamp: u32, max_payload: usize) -> Result<Vec<Payload>, PacketizeError> {
        single_payload(frame, timestamp, max_payload)
    }
}

/// Depacketizes G.711 and G.722 payloads: every payload is a frame, every frame decodes on its own.
#[derive(Debug, Clone, Copy, Default)]
pub struct PlainDepacketizer;

impl Depacketizer for PlainDepacketizer {
    fn is_frame_start(&self, _payload: &[u8]) -> bool {
        true
    }

    fn depacketize(&self, payloads: &[Bytes]) -> Result<Depacketized, DepacketizeError> {
        Ok(Depacketized {
            data: single_frame(payloads)?,
            keyframe: true,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::Codec;
    use super::*;

    #[test]
    fn a_20ms_frame_round_trips_in_one_payload() {
        let frame: Vec<u8> = (0..160u16).map(|i| (i * 7) as u8).collect();
        let payloads = PlainPacketizer.packetize(&frame, 8000, 1200).unwrap();
        assert_eq!(payloads.len(), 1);
        assert_eq!(payloads[0].timestamp, 8000);
        let data: Vec<Bytes> = payloads.into_iter().map(|p| p.data).collect();
        let out = PlainDepacketizer.depacketize(&data).unwrap();
        assert_eq!(out.data, frame);
        assert!(out.keyframe);
    }

    #[test]
    fn frames_from_1_to_1200_bytes_round_trip() {
        for len in [1usize, 160, 1200] {
            let frame: Vec<u8> = (0..len).map(|i| (i * 31) as u8).collect();
            let payloads = PlainPacketizer.packetize(&frame, 42, 1200).unwrap();
            assert_eq!(payloads.len(), 1);
            assert!(!payloads[0].marker);
            let out = PlainDepacketizer.depacketize(&[payloads[0].data.clone()]).unwrap();
            assert_eq!(out.data, frame);
        }
    }

    #[test]
    fn oversized_and_empty_frames_are_refused() {
        assert_eq!(
            PlainPacketizer.packetize(&[0; 1300], 0, 1200),
            Err(PacketizeError::FrameTooLarge {
                len: 1300,
                max_payload: 1200
            })
        );
        assert_eq!(
            PlainPacketizer.packetize(&[0; 1201], 0, 1200),
            Err(PacketizeError::FrameTooLarge {
                len: 1201,
                max_payload: 1200
            })
        );
        assert_eq!(PlainPacketizer.packetize(&[], 0, 1200), Err(PacketizeError::EmptyFrame));
        assert_eq!(PlainDepacketizer.depacketize(&[]), Err(DepacketizeError::NoPayloads));
        assert_eq!(
            PlainDepacketizer.depacketize(&[Bytes::new()]),
            Err(DepacketizeError::EmptyPayload)
        );
        assert_eq!(
            PlainDepacketizer.depacketize(&[Bytes::from_static(b"a"), Bytes::from_static(b"b")]),
            Err(DepacketizeError::OnePayloadPerFrame(2))
        );
    }

    #[test]
    fn pcmu_pcma_and_g722_use_this_format() {
        for codec in [Codec::Pcmu, Codec::Pcma, Codec::G722] {
            let payloads = codec.packetizer().packetize(&[1, 2, 3], 7, 1200).unwrap();
            assert_eq!(payloads, PlainPacketizer.packetize(&[1, 2, 3], 7, 1200).unwrap());
            let out = codec.depacketizer().depacketize(&[Bytes::from_static(b"xy")]).unwrap();
            assert_eq!(
                out,
                PlainDepacketizer.depacketize(&[Bytes::from_static(b"xy")]).unwrap()
            );
            assert_eq!(
                codec.packetizer().packetize(&[0; 1201], 0, 1200),
                PlainPacketizer.packetize(&[0; 1201], 0, 1200)
            );
        }
    }
}
