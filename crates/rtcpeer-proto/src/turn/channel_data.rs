//! ChannelData messages (RFC 8656 §12.4): a 4-byte header (channel number, length) and the data.

use super::error::TurnError;

/// The lowest channel number a client may bind.
pub const MIN_CHANNEL: u16 = 0x4000;
/// The highest channel number a client may bind.
pub const MAX_CHANNEL: u16 = 0x4FFF;
/// Size of the ChannelData header.
pub const CHANNEL_DATA_HEADER_LEN: usize = 4;

/// A decoded ChannelData message, borrowing its data from the received bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChannelData<'a> {
    /// The channel number, in `0x4000..=0x4FFF`.
    pub channel: u16,
    /// The application data.
    pub data: &'a [u8],
}

impl<'a> ChannelData<'a> {
    /// Whether `bytes` starts like a ChannelData message (first byte 64..=79, RFC 7983 §7).
    pub fn is_channel_data(bytes: &[u8]) -> bool {
        matches!(bytes.first(), Some(0x40..=0x4F))
    }

    /// Decodes a ChannelData message. Bytes after the data are allowed only as padding to a
    /// multiple of four (which streams always carry and datagrams may).
    pub fn decode(bytes: &'a [u8]) -> Result<ChannelData<'a>, TurnError> {
        let [c0, c1, l0, l1, rest @ ..] = bytes else {
            return Err(TurnError::ChannelDataTooShort(bytes.len()));
        };
        let channel = u16::from_be_bytes([*c0, *c1]);
        if !(MIN_CHANNEL..=MAX_CHANNEL).contains(&channel) {
            return Err(TurnError::InvalidChannel(channel));
        }
        let len = usize::from(u16::from_be_bytes([*l0, *l1]));
        let data = rest.get(..len).ok_or(TurnError::ChannelDataTruncated {
            declared: len,
            actual: rest.len(),
        })?;
        if rest.len() > padded(len) {
            return Err(TurnError::ChannelDataTrailing(rest.len() - len));
        }
        Ok(ChannelData { channel, data })
    }

    /// Encodes the message; `pad` adds zero bytes up to a multiple of four (required over TCP/TLS).
    pub fn encode(&self, pad: bool) -> Result<Vec<u8>, TurnError> {
        encode(self.channel, self.data, pad)
    }
}

/// Encodes a ChannelData message for `channel` carrying `data`.
pub fn encode(channel: u16, data: &[u8], pad: bool) -> Result<Vec<u8>, TurnError> {
    if !(MIN_CHANNEL..=MAX_CHANNEL).contains(&channel) {
        return Err(TurnError::InvalidChannel(channel));
    }
    let len = u16::try_from(data.len()).map_err(|_| TurnError::DataTooLong(data.len()))?;
    let mut out = Vec::with_capacity(CHANNEL_DATA_HEADER_LEN + padded(data.len()));
    out.extend_from_slice(&channel.to_be_bytes());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(data);
    if pad {
        out.resize(CHANNEL_DATA_HEADER_LEN + padded(data.len()), 0);
    }
    Ok(out)
}

/// `len` rounded up to a multiple of four.
pub(crate) fn padded(len: usize) -> usize {
    (len + 3) & !3
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_with_and_without_padding() {
        for data in [&b""[..], b"a", b"abcd", b"hello"] {
            for pad in [false, true] {
                let bytes = encode(0x4001, data, pad).unwrap();
                assert_eq!(bytes[..4], [0x40, 0x01, 0, data.len() as u8]);
                assert_eq!(bytes.len() % 4 == 0, pad || data.len() % 4 == 0);
                assert!(ChannelData::is_channel_data(&bytes));
                let d = ChannelData::decode(&bytes).unwrap();
                assert_eq!((d.channel, d.data), (0x4001, data));
            }
        }
    }

    #[test]
    fn bad_messages_are_typed_errors() {
        assert_eq!(ChannelData::decode(&[0x40, 0]), Err(TurnError::ChannelDataTooShort(2)));
        assert_eq!(
            ChannelData::decode(&[0x3F, 0xFF, 0, 0]),
            Err(TurnError::InvalidChannel(0x3FFF))
        );
        assert_eq!(
            ChannelData::decode(&[0x50, 0x00, 0, 0]),
            Err(TurnError::InvalidChannel(0x5000))
        );
        assert_eq!(
            ChannelData::decode(&[0x40, 0x00, 0, 5, 1, 2]),
            Err(TurnError::ChannelDataTruncated { declared: 5, actual: 2 })
        );
        assert_eq!(
            ChannelData::decode(&[0x40, 0x00, 0, 1, 1, 0, 0, 0, 0]),
            Err(TurnError::ChannelDataTrailing(4))
        );
        assert_eq!(encode(0x3000, b"x", false), Err(TurnError::InvalidChannel(0x3000)));
        assert_eq!(
            encode(0x4000, &vec![0; 70_000], false),
            Err(TurnError::DataTooLong(70_000))
        );
    }
}
