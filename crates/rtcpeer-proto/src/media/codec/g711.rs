//! G.711 (PCMU and PCMA) payloads (RFC 3551 section 4.5.14): the samples as they are, one
//! frame per payload.

use bytes::Bytes;

use super::{
    single_frame, single_payload, DepacketizeError, Depacketized, Depacketizer, PacketizeError, Packetizer, Payload,
};

/// Packetizes G.711 frames (µ-law or A-law alike): one payload per frame.
#[derive(Debug, Clone, Copy, Default)]
pub struct G711Packetizer;

impl Packetizer for G711Packetizer {
    fn packetize(&mut self, frame: &[u8], timestamp: u32, max_payload: usize) -> Result<Vec<Payload>, PacketizeError> {
        single_payload(frame, timestamp, max_payload)
    }
}

/// Depacketizes G.711 payloads: every payload is a frame, every frame decodes on its own.
#[derive(Debug, Clone, Copy, Default)]
pub struct G711Depacketizer;

impl Depacketizer for G711Depacketizer {
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
    use super::*;

    #[test]
    fn a_20ms_frame_round_trips_in_one_payload() {
        let frame: Vec<u8> = (0..160u16).map(|i| (i * 7) as u8).collect();
        let payloads = G711Packetizer.packetize(&frame, 8000, 1200).unwrap();
        assert_eq!(payloads.len(), 1);
        assert_eq!(payloads[0].timestamp, 8000);
        let data: Vec<Bytes> = payloads.into_iter().map(|p| p.data).collect();
        let out = G711Depacketizer.depacketize(&data).unwrap();
        assert_eq!(out.data, frame);
        assert!(out.keyframe);
    }

    #[test]
    fn oversized_and_empty_frames_are_refused() {
        assert_eq!(
            G711Packetizer.packetize(&[0; 1300], 0, 1200),
            Err(PacketizeError::FrameTooLarge {
                len: 1300,
                max_payload: 1200
            })
        );
        assert_eq!(G711Packetizer.packetize(&[], 0, 1200), Err(PacketizeError::EmptyFrame));
        assert_eq!(G711Depacketizer.depacketize(&[]), Err(DepacketizeError::NoPayloads));
        assert_eq!(
            G711Depacketizer.depacketize(&[Bytes::from_static(b"a"), Bytes::from_static(b"b")]),
            Err(DepacketizeError::OnePayloadPerFrame(2))
        );
    }
}
