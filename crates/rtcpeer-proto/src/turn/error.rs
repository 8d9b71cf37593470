//! What can go wrong decoding TURN framing or using the TURN client.

use std::net::IpAddr;

use crate::stun::StunError;

/// An error of the TURN codec, the stream decoder or a [`TurnClient`](super::TurnClient) call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TurnError {
    /// A ChannelData message shorter than its 4-byte header.
    #[error("ChannelData message is {0} bytes, shorter than its 4-byte header")]
    ChannelDataTooShort(usize),
    /// A channel number outside 0x4000..=0x4FFF.
    #[error("channel number {0:#06x} is outside 0x4000..=0x4FFF")]
    InvalidChannel(u16),
    /// The ChannelData length runs past the received bytes.
    #[error("ChannelData says {declared} bytes of data but {actual} follow the header")]
    ChannelDataTruncated {
        /// The length in the header.
        declared: usize,
        /// The bytes present after the header.
        actual: usize,
    },
    /// More bytes after the data than padding to four explains.
    #[error("{0} bytes after the ChannelData data, more than padding")]
    ChannelDataTrailing(usize),
    /// Application data longer than a ChannelData or DATA attribute can carry.
    #[error("{0} bytes of data do not fit in one TURN message")]
    DataTooLong(usize),
    /// The stream decoder's buffer limit was reached.
    #[error("more than {0} bytes buffered from the TURN stream")]
    StreamBufferFull(usize),
    /// A frame on the stream starts with a byte that is neither STUN nor ChannelData.
    #[error("byte {0:#04x} starts neither a STUN nor a ChannelData message: the stream lost sync")]
    StreamBadByte(u8),
    /// A STUN frame on the stream without the magic cookie.
    #[error("a STUN frame on the stream has no magic cookie: the stream lost sync")]
    StreamNotStun,
    /// A STUN frame on the stream whose length is not a multiple of four.
    #[error("a STUN frame on the stream has length {0}, not a multiple of 4")]
    StreamUnaligned(usize),
    /// A STUN message from the server could not be decoded.
    #[error("malformed STUN message from the TURN server: {0}")]
    Stun(#[from] StunError),
    /// The call needs an allocation and there is none (yet, or any more).
    #[error("no TURN allocation")]
    NotAllocated,
    /// `send_to` a peer whose IP has no permission; call `create_permission` first.
    #[error("no permission for peer {0}")]
    NoPermission(IpAddr),
    /// The permission limit is reached.
    #[error("at most {0} permissions")]
    TooManyPermissions(usize),
    /// The channel limit is reached.
    #[error("at most {0} channels")]
    TooManyChannels(usize),
    /// The peer's address family differs from the relayed address's.
    #[error("peer {0} is of another address family than the relayed address")]
    WrongFamily(IpAddr),
    /// Too many messages wait in the transmit queue; the caller is not draining `poll_transmit`.
    #[error("transmit queue full ({0} messages)")]
    QueueFull(usize),
}
