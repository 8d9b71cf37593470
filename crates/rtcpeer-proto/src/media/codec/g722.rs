//! G.722 payloads (RFC 3551 section 4.5.2): the encoded octets as they are, one frame per
//! payload. (The RTP clock rate is 8000 although the codec samples at 16 kHz; that is the
//! caller's business.)

use bytes::Bytes;

use super::{
    single_frame, single_payload, DepacketizeError, Depacketized, Depacketizer, PacketizeError, Packetizer, Payload,
};

/// Packetizes G.722 frames: one payload per frame.
#[derive(Debug, Clone, Copy, Default)]
pub struct G722Packetizer;

impl Packetizer for G722Packetizer {
    fn packetize(&mut self, frame: &[u8], timestamp: u32, max_payload: usize) -> Result<Vec<Payload>, PacketizeError> {
        single_payload(frame, timestamp, max_payload)
    }
}

/// Depacketizes G.722 payloads: every payload is a frame, every frame decodes on its own.
#[derive(Debug, Clone, Copy, Default)]
pub struct G722Depacketizer;

impl Depacketizer for G722Depacketizer {
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
    fn frames_from_1_to_1200_bytes_round_trip() {
        for len in [1usize, 160, 1200] {
            let frame: Vec<u8> = (0..len).map(|i| (i * 31) as u8).collect();
            let payloads = G722Packetizer.packetize(&frame, 42, 1200).unwrap();
            assert_eq!(payloads.len(), 1);
            assert!(!payloads[0].marker);
            let out = G722Depacketizer.depacketize(&[payloads[0].data.clone()]).unwrap();
            assert_eq!(out.data, frame);
        }
        assert!(G722Packetizer.packetize(&[0; 1201], 0, 1200).is_err());
        assert_eq!(
            G722Depacketizer.depacketize(&[Bytes::new()]),
            Err(DepacketizeError::EmptyPayload)
        );
    }
}
