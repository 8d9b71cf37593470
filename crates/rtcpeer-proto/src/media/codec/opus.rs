//! Opus payloads (RFC 7587): one Opus packet per RTP payload.
//!
//! The depacketizer checks the packet's framing against RFC 6716 section 3 (the TOC byte and
//! the frame count/length codes) so that a malformed packet is refused here rather than in the
//! decoder.

use bytes::Bytes;

use super::{
    single_frame, single_payload, DepacketizeError, Depacketized, Depacketizer, PacketizeError, Packetizer, Payload,
};

/// The longest a single Opus frame may be, in bytes (RFC 6716 section 3.2.1).
const MAX_FRAME_BYTES: usize = 1275;

/// The longest an Opus packet may last, in units of 2.5 ms (120 ms).
const MAX_PACKET_DURATION: u32 = 48;

/// Packetizes Opus packets: one payload per packet.
#[derive(Debug, Clone, Copy, Default)]
pub struct OpusPacketizer;

impl Packetizer for OpusPacketizer {
    fn packetize(&mut self, frame: &[u8], timestamp: u32, max_payload: usize) -> Result<Vec<Payload>, PacketizeError> {
        if !frame.is_empty() {
            check_packet(frame)
                .map_err(|_| PacketizeError::MalformedFrame("not an Opus packet (RFC 6716 section 3)"))?;
        }
        single_payload(frame, timestamp, max_payload)
    }
}

/// Depacketizes Opus payloads: every payload is a packet that decodes on its own.
#[derive(Debug, Clone, Copy, Default)]
pub struct OpusDepacketizer;

impl Depacketizer for OpusDepacketizer {
    fn is_frame_start(&self, _payload: &[u8]) -> bool {
        true
    }

    fn depacketize(&self, payloads: &[Bytes]) -> Result<Depacketized, DepacketizeError> {
        let data = single_frame(payloads)?;
        check_packet(&data)?;
        Ok(Depacketized { data, keyframe: true })
    }
}

/// The duration of one frame of the TOC byte's configuration, in units of 2.5 ms.
fn frame_duration(toc: u8) -> u32 {
    let config = toc >> 3;
    match config {
        // SILK-only: 10, 20, 40, 60 ms.
        0..=11 => [4, 8, 16, 24][usize::from(config % 4)],
        // Hybrid: 10, 20 ms.
        12..=15 => [4, 8][usize::from(config % 2)],
        // CELT-only: 2.5, 5, 10, 20 ms.
        _ => [1, 2, 4, 8][usize::from(config % 4)],
    }
}

/// Checks an Opus packet's framing (RFC 6716 section 3.2, rules R1–R7 as far as the lengths go).
pub fn check_packet(packet: &[u8]) -> Result<(), DepacketizeError> {
    let Some((&toc, rest)) = packet.split_first() else {
        return Err(DepacketizeError::EmptyPayload);
    };
    match toc & 0b11 {
        // One frame.
        0 => {
            if rest.len() > MAX_FRAME_BYTES {
                return Err(DepacketizeError::Opus("a code 0 frame is longer than 1275 bytes"));
            }
        }
        // Two frames of equal size.
        1 => {
            if rest.len() % 2 != 0 {
                return Err(DepacketizeError::Opus(
                    "code 1 frames do not split into two equal halves",
                ));
            }
            if rest.len() / 2 > MAX_FRAME_BYTES {
                return Err(DepacketizeError::Opus("a code 1 frame is longer than 1275 bytes"));
            }
        }
        // Two frames, the first one's length given.
        2 => {
            let (first, used) = frame_length(rest)?;
            let remaining = rest.len() - used;
            if first > remaining {
                return Err(DepacketizeError::Opus("the first code 2 frame runs past the packet"));
            }
            if remaining - first > MAX_FRAME_BYTES {
                return Err(DepacketizeError::Opus(
                    "the second code 2 frame is longer than 1275 bytes",
                ));
            }
        }
        // A signalled number of frames.
        _ => {
            let Some((&count_byte, _)) = rest.split_first() else {
                return Err(DepacketizeError::Truncated("the code 3 frame count byte"));
            };
            let count = u32::from(count_byte & 0x3f);
            if count == 0 {
                return Err(DepacketizeError::Opus("a code 3 packet with zero frames"));
            }
            if count * frame_duration(toc) > MAX_PACKET_DURATION {
                return Err(DepacketizeError::Opus("a code 3 packet lasts longer than 120 ms"));
            }
        }
    }
    Ok(())
}

/// Reads a frame length (one or two bytes); returns it and how many bytes it took.
fn frame_length(bytes: &[u8]) -> Result<(usize, usize), DepacketizeError> {
    match bytes {
        [] => Err(DepacketizeError::Truncated("a code 2 frame length")),
        [b0, ..] if *b0 < 252 => Ok((usize::from(*b0), 1)),
        [b0, b1, ..] => Ok((usize::from(*b1) * 4 + usize::from(*b0), 2)),
        [_] => Err(DepacketizeError::Truncated("a two-byte code 2 frame length")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(packet: &[u8]) -> Result<Depacketized, DepacketizeError> {
        let payloads = OpusPacketizer.packetize(packet, 960, 1200).unwrap();
        assert_eq!(payloads.len(), 1);
        OpusDepacketizer.depacketize(&[payloads[0].data.clone()])
    }

    #[test]
    fn valid_packets_round_trip() {
        // Code 0, CELT 20 ms, 1 byte; code 0 with 100 bytes of frame.
        let mut packets = vec![vec![0xf8], [vec![0xf8], vec![7; 100]].concat()];
        // Code 1: two 10-byte frames.
        packets.push([vec![0xf9], vec![1; 20]].concat());
        // Code 2: first frame 3 bytes, second 5.
        packets.push([vec![0xfa, 3], vec![2; 8]].concat());
        // Code 3: three 20 ms frames (60 ms).
        packets.push(vec![0xfb, 3, 0, 0, 0]);
        for packet in packets {
            let out = round_trip(&packet).unwrap();
            assert_eq!(out.data, packet);
            assert!(out.keyframe);
        }
    }

    #[test]
    fn malformed_packets_are_typed_errors() {
        let depacketize = |packet: &[u8]| OpusDepacketizer.depacketize(&[Bytes::copy_from_slice(packet)]);
        // Each packet, and whether it breaks a framing rule (or else runs short).
        let malformed: [(&[u8], bool); 6] = [
            (&[0xf9, 1, 2, 3], true),
            (&[0xfa, 200, 1], true),
            (&[0xfa, 253], false),
            (&[0xfb], false),
            (&[0xfb, 0], true),
            // Seven 20 ms frames: 140 ms.
            (&[0xfb, 7], true),
        ];
        for (packet, framing) in malformed {
            let error = depacketize(packet).unwrap_err();
            if framing {
                assert!(matches!(error, DepacketizeError::Opus(_)), "{packet:?}: {error:?}");
            } else {
                assert!(matches!(error, DepacketizeError::Truncated(_)), "{packet:?}: {error:?}");
            }
            // The packetizer refuses what the depacketizer would.
            assert!(matches!(
                OpusPacketizer.packetize(packet, 0, 1200),
                Err(PacketizeError::MalformedFrame(_))
            ));
        }
        assert_eq!(depacketize(&[]), Err(DepacketizeError::EmptyPayload));
        assert_eq!(OpusPacketizer.packetize(&[], 0, 1200), Err(PacketizeError::EmptyFrame));
    }
}
