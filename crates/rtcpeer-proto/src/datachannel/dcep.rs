//! The Data Channel Establishment Protocol messages (RFC 8832 §5).
//!
//! Two messages travel with PPID 50 on the stream of the channel they open:
//! `DATA_CHANNEL_OPEN` from the opener, `DATA_CHANNEL_ACK` in answer.

use std::time::Duration;

/// `DATA_CHANNEL_ACK` message type (RFC 8832 §8.2.1).
const MSG_ACK: u8 = 0x02;
/// `DATA_CHANNEL_OPEN` message type.
const MSG_OPEN: u8 = 0x03;
/// Size of the fixed part of `DATA_CHANNEL_OPEN`, before label and protocol.
const OPEN_HEADER_LEN: usize = 12;

/// The high bit of the channel type: unordered delivery.
const UNORDERED_BIT: u8 = 0x80;

/// How a channel delivers: the channel type and reliability parameter of an OPEN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChannelType {
    /// False when the unordered bit (0x80) is set.
    pub ordered: bool,
    /// Reliability of the channel.
    pub reliability: ChannelReliability,
}

/// The reliability part of a channel type (RFC 8832 §5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelReliability {
    /// `DATA_CHANNEL_RELIABLE` (0x00).
    Reliable,
    /// `DATA_CHANNEL_PARTIAL_RELIABLE_REXMIT` (0x01): at most this many retransmissions.
    MaxRetransmits(u32),
    /// `DATA_CHANNEL_PARTIAL_RELIABLE_TIMED` (0x02): give up after this many milliseconds.
    MaxPacketLifeTime(u32),
}

impl ChannelType {
    fn code_and_parameter(self) -> (u8, u32) {
        let (code, parameter) = match self.reliability {
            ChannelReliability::Reliable => (0x00, 0),
            ChannelReliability::MaxRetransmits(n) => (0x01, n),
            ChannelReliability::MaxPacketLifeTime(ms) => (0x02, ms),
        };
        (if self.ordered { code } else { code | UNORDERED_BIT }, parameter)
    }

    fn from_code(code: u8, parameter: u32) -> Result<Self, DcepError> {
        let reliability = match code & !UNORDERED_BIT {
            0x00 => ChannelReliability::Reliable,
            0x01 => ChannelReliability::MaxRetransmits(parameter),
            0x02 => ChannelReliability::MaxPacketLifeTime(parameter),
            _ => return Err(DcepError::UnknownChannelType(code)),
        };
        Ok(ChannelType {
            ordered: code & UNORDERED_BIT == 0,
            reliability,
        })
    }

    /// The lifetime limit, if the channel has one.
    pub fn max_packet_life_time(self) -> Option<Duration> {
        match self.reliability {
            ChannelReliability::MaxPacketLifeTime(ms) => Some(Duration::from_millis(u64::from(ms))),
            _ => None,
        }
    }
}

/// A `DATA_CHANNEL_OPEN` message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataChannelOpen {
    /// Ordering and reliability of the channel.
    pub channel_type: ChannelType,
    /// Priority (RFC 8831 §6.4; the W3C values are 128, 256, 512, 1024).
    pub priority: u16,
    /// The channel's label.
    pub label: String,
    /// The sub-protocol, empty if none.
    pub protocol: String,
}

/// A DCEP message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DcepMessage {
    /// `DATA_CHANNEL_OPEN`.
    Open(DataChannelOpen),
    /// `DATA_CHANNEL_ACK`.
    Ack,
}

/// Why a DCEP message could not be decoded or encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DcepError {
    /// The message has no bytes.
    #[error("empty DCEP message")]
    Empty,
    /// The first byte is not a known message type.
    #[error("unknown DCEP message type {0:#04x}")]
    UnknownMessageType(u8),
    /// The channel type of an OPEN is not one RFC 8832 defines.
    #[error("unknown data channel type {0:#04x}")]
    UnknownChannelType(u8),
    /// The message ends before a field it announces.
    #[error("DCEP {field} truncated: {needed} bytes needed, {available} available")]
    Truncated {
        /// The field being read.
        field: &'static str,
        /// Bytes the field needs.
        needed: usize,
        /// Bytes left in the message.
        available: usize,
    },
    /// Label or protocol is not UTF-8.
    #[error("DCEP {0} is not valid UTF-8")]
    InvalidUtf8(&'static str),
    /// Label or protocol does not fit the 16-bit length field.
    #[error("DCEP {field} is {len} bytes, more than 65535")]
    TooLong {
        /// `label` or `protocol`.
        field: &'static str,
        /// Its length.
        len: usize,
    },
}

impl DcepMessage {
    /// Decodes a message received with PPID 50.
    ///
    /// Bytes after the ACK's type, or after an OPEN's protocol, are ignored, as RFC
    /// 8832 defines no trailing content and asks receivers to be lenient.
    pub fn decode(bytes: &[u8]) -> Result<Self, DcepError> {
        let (&message_type, _) = bytes.split_first().ok_or(DcepError::Empty)?;
        match message_type {
            MSG_ACK => Ok(DcepMessage::Ack),
            MSG_OPEN => decode_open(bytes).map(DcepMessage::Open),
            other => Err(DcepError::UnknownMessageType(other)),
        }
    }

    /// Encodes the message for sending with PPID 50.
    pub fn encode(&self) -> Result<Vec<u8>, DcepError> {
        match self {
            DcepMessage::Ack => Ok(vec![MSG_ACK]),
            DcepMessage::Open(open) => {
                let label_len = field_len("label", &open.label)?;
                let protocol_len = field_len("protocol", &open.protocol)?;
                let (code, parameter) = open.channel_type.code_and_parameter();
                let mut out = Vec::with_capacity(OPEN_HEADER_LEN + open.label.len() + open.protocol.len());
                out.push(MSG_OPEN);
                out.push(code);
                out.extend_from_slice(&open.priority.to_be_bytes());
                out.extend_from_slice(&parameter.to_be_bytes());
                out.extend_from_slice(&label_len.to_be_bytes());
                out.extend_from_slice(&protocol_len.to_be_bytes());
                out.extend_from_slice(open.label.as_bytes());
                out.extend_from_slice(open.protocol.as_bytes());
                Ok(out)
            }
        }
    }
}

fn field_len(field: &'static str, value: &str) -> Result<u16, DcepError> {
    u16::try_from(value.len()).map_err(|_| DcepError::TooLong {
        field,
        len: value.len(),
    })
}

fn decode_open(bytes: &[u8]) -> Result<DataChannelOpen, DcepError> {
    let header: &[u8; OPEN_HEADER_LEN] =
        bytes
            .get(..OPEN_HEADER_LEN)
            .and_then(|h| h.try_into().ok())
            .ok_or(DcepError::Truncated {
                field: "header",
                needed: OPEN_HEADER_LEN,
                available: bytes.len(),
            })?;
    let [_, code, p0, p1, r0, r1, r2, r3, l0, l1, q0, q1] = *header;
    let priority = u16::from_be_bytes([p0, p1]);
    let parameter = u32::from_be_bytes([r0, r1, r2, r3]);
    let label_len = usize::from(u16::from_be_bytes([l0, l1]));
    let protocol_len = usize::from(u16::from_be_bytes([q0, q1]));
    let channel_type = ChannelType::from_code(code, parameter)?;
    let rest = bytes.get(OPEN_HEADER_LEN..).unwrap_or_default();
    let (label, rest) = take_str("label", rest, label_len)?;
    let (protocol, _) = take_str("protocol", rest, protocol_len)?;
    Ok(DataChannelOpen {
        channel_type,
        priority,
        label,
        protocol,
    })
}

fn take_str<'a>(field: &'static str, bytes: &'a [u8], len: usize) -> Result<(String, &'a [u8]), DcepError> {
    if bytes.len() < len {
        return Err(DcepError::Truncated {
            field,
            needed: len,
            available: bytes.len(),
        });
    }
    let (value, rest) = bytes.split_at(len);
    let value = std::str::from_utf8(value).map_err(|_| DcepError::InvalidUtf8(field))?;
    Ok((value.to_owned(), rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(ordered: bool, reliability: ChannelReliability, label: &str, protocol: &str) -> DataChannelOpen {
        DataChannelOpen {
            channel_type: ChannelType { ordered, reliability },
            priority: 256,
            label: label.into(),
            protocol: protocol.into(),
        }
    }

    #[test]
    fn open_has_the_rfc_layout() {
        let msg = DcepMessage::Open(open(false, ChannelReliability::MaxRetransmits(3), "chat", "x"));
        let bytes = msg.encode().unwrap();
        assert_eq!(
            bytes,
            [0x03, 0x81, 0x01, 0x00, 0, 0, 0, 3, 0, 4, 0, 1, b'c', b'h', b'a', b't', b'x']
        );
        assert_eq!(DcepMessage::decode(&bytes).unwrap(), msg);
    }

    #[test]
    fn every_channel_type_round_trips() {
        for ordered in [true, false] {
            for reliability in [
                ChannelReliability::Reliable,
                ChannelReliability::MaxRetransmits(0),
                ChannelReliability::MaxPacketLifeTime(1500),
            ] {
                let msg = DcepMessage::Open(open(ordered, reliability, "é label", ""));
                assert_eq!(DcepMessage::decode(&msg.encode().unwrap()).unwrap(), msg);
            }
        }
        assert_eq!(
            ChannelType::from_code(0x82, 40).unwrap().max_packet_life_time(),
            Some(Duration::from_millis(40))
        );
    }

    #[test]
    fn ack_is_one_byte() {
        assert_eq!(DcepMessage::Ack.encode().unwrap(), [0x02]);
        assert_eq!(DcepMessage::decode(&[0x02]).unwrap(), DcepMessage::Ack);
    }

    #[test]
    fn malformed_messages_are_typed_errors() {
        assert_eq!(DcepMessage::decode(&[]), Err(DcepError::Empty));
        assert_eq!(DcepMessage::decode(&[0x07]), Err(DcepError::UnknownMessageType(0x07)));
        assert_eq!(
            DcepMessage::decode(&[0x03, 0x00, 0x01]),
            Err(DcepError::Truncated {
                field: "header",
                needed: 12,
                available: 3
            })
        );
        assert_eq!(
            DcepMessage::decode(&[0x03, 0x03, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
            Err(DcepError::UnknownChannelType(0x03))
        );
        assert_eq!(
            DcepMessage::decode(&[0x03, 0x00, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, b'a']),
            Err(DcepError::Truncated {
                field: "label",
                needed: 5,
                available: 1
            })
        );
        assert_eq!(
            DcepMessage::decode(&[0x03, 0x00, 0, 0, 0, 0, 0, 0, 0, 1, 0, 2, b'a', b'b']),
            Err(DcepError::Truncated {
                field: "protocol",
                needed: 2,
                available: 1
            })
        );
        assert_eq!(
            DcepMessage::decode(&[0x03, 0x00, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0xff]),
            Err(DcepError::InvalidUtf8("label"))
        );
        let long = "a".repeat(70_000);
        assert_eq!(
            DcepMessage::Open(open(true, ChannelReliability::Reliable, &long, "")).encode(),
            Err(DcepError::TooLong {
                field: "label",
                len: 70_000
            })
        );
    }

    #[test]
    fn decoding_arbitrary_bytes_never_panics() {
        let mut seed = 0x9e37_79b9_u32;
        for len in 0..200usize {
            let bytes: Vec<u8> = (0..len)
                .map(|i| {
                    seed ^= seed << 13;
                    seed ^= seed >> 17;
                    seed ^= seed << 5;
                    // Keep the first byte a plausible type so the OPEN path is exercised.
                    if i == 0 {
                        0x02 + (seed & 1) as u8
                    } else {
                        seed as u8
                    }
                })
                .collect();
            let _ = DcepMessage::decode(&bytes);
        }
    }
}
