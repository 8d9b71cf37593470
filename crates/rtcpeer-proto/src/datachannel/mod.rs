//! Data channels over SCTP (RFC 8831) opened with DCEP (RFC 8832).
//!
//! [`DataChannels`] is what the peer-connection layer drives: it owns the SCTP
//! association once DTLS is up, opens and closes channels, and turns SCTP messages
//! into [`DataChannelEvent`]s. Its API follows the W3C `RTCDataChannel` where the
//! W3C says what a user observes (states, validation errors, `bufferedamountlow`).
//!
//! # Limits
//!
//! - At most [`MAX_CHANNELS`] channels exist at once; OPENs beyond it are refused
//!   by resetting their stream.
//! - Stream ids run from 0 to 65534 (65535 is reserved, RFC 8831 §6.5).
//! - Incoming messages are limited to our `a=max-message-size`
//!   ([`DataChannelsConfig::local_max_message_size`], 256 KiB by default); a peer
//!   that sends more is in breach and the SCTP association is aborted.
//! - Outgoing messages are limited to the peer's `a=max-message-size`; `send`
//!   refuses larger ones with [`DataChannelError::MessageTooLarge`].
//! - Received messages wait in the SCTP receive buffer (bounded) until
//!   [`DataChannels::poll_event`] takes them; at most [`MAX_QUEUED_MESSAGE_BYTES`]
//!   are held in the event queue.
//! - At most 16 MiB may be queued for sending across all channels.
//!
//! The deprecated PPIDs 52 and 54 (RFC 8831 §8) are not supported: messages with
//! them are dropped by the SCTP layer, as browsers no longer send them.

mod channels;
pub mod dcep;
pub mod ppid;

pub use channels::{DataChannelCounters, DataChannels, DataChannelsConfig, MAX_CHANNELS, MAX_QUEUED_MESSAGE_BYTES};

use std::fmt;

use crate::sctp::SctpError;

/// An opaque handle to one data channel of a [`DataChannels`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChannelId(u32);

impl ChannelId {
    /// The handle's number: unique among the connection's channels, never reused.
    pub fn number(self) -> u32 {
        self.0
    }
}

impl fmt::Display for ChannelId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "dc{}", self.0)
    }
}

/// Options for a new channel, like the W3C `RTCDataChannelInit`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataChannelInit {
    /// Deliver messages in order (default true).
    pub ordered: bool,
    /// Give up on a message after this many milliseconds.
    pub max_packet_life_time: Option<u16>,
    /// Give up on a message after this many retransmissions.
    pub max_retransmits: Option<u16>,
    /// Sub-protocol name, at most 65535 bytes.
    pub protocol: String,
    /// The application opens the channel on both sides with the same `id`; no DCEP.
    pub negotiated: bool,
    /// The stream id; required when `negotiated`, ignored otherwise.
    pub id: Option<u16>,
}

impl Default for DataChannelInit {
    fn default() -> Self {
        DataChannelInit {
            ordered: true,
            max_packet_life_time: None,
            max_retransmits: None,
            protocol: String::new(),
            negotiated: false,
            id: None,
        }
    }
}

/// The W3C `RTCDataChannelState`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DataChannelState {
    /// Waiting for the SCTP association (or, for the opener, for it to send the OPEN).
    Connecting,
    /// Messages can be sent and are delivered.
    Open,
    /// Closing: our stream reset is under way.
    Closing,
    /// Closed for good.
    Closed,
}

/// One data-channel message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataChannelMessage {
    /// A string (PPID 51, or 56 when empty).
    Text(String),
    /// Bytes (PPID 53, or 57 when empty).
    Binary(Vec<u8>),
}

impl DataChannelMessage {
    /// The size the W3C counts: UTF-8 bytes of a string, or bytes of a binary message.
    pub fn len(&self) -> usize {
        match self {
            DataChannelMessage::Text(s) => s.len(),
            DataChannelMessage::Binary(b) => b.len(),
        }
    }

    /// True for an empty string or empty binary message.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A snapshot of one channel's properties, like the W3C `RTCDataChannel` attributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataChannelInfo {
    /// The label.
    pub label: String,
    /// The sub-protocol.
    pub protocol: String,
    /// Whether messages are delivered in order.
    pub ordered: bool,
    /// The lifetime limit in milliseconds, if any.
    pub max_packet_life_time: Option<u16>,
    /// The retransmission limit, if any.
    pub max_retransmits: Option<u16>,
    /// Whether the channel was negotiated by the application.
    pub negotiated: bool,
    /// The SCTP stream id, once assigned.
    pub stream_id: Option<u16>,
    /// The current state.
    pub state: DataChannelState,
    /// Bytes queued for sending and not yet acknowledged by the peer's SCTP.
    ///
    /// Empty messages count one byte (the byte RFC 8831 §6.6 puts on the wire), and
    /// the DCEP OPEN or ACK counts until SCTP acknowledges it.
    pub buffered_amount: usize,
    /// The level at or below which [`DataChannelEvent::BufferedAmountLow`] fires.
    pub buffered_amount_low_threshold: usize,
}

/// What happened to the channels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataChannelEvent {
    /// The channel is open (W3C `open`).
    Opened(ChannelId),
    /// The peer opened a channel with DCEP (W3C `datachannel`); `Opened` follows.
    RemoteCreated(ChannelId),
    /// A message arrived (W3C `message`).
    Message(ChannelId, DataChannelMessage),
    /// The buffered amount fell to or below the threshold (W3C `bufferedamountlow`).
    BufferedAmountLow(ChannelId),
    /// The channel is closing (W3C `closing`).
    Closing(ChannelId),
    /// The channel is closed (W3C `close`).
    Closed(ChannelId),
    /// Something went wrong on the channel (W3C `error`).
    Error(ChannelId, DataChannelError),
}

/// Why a data-channel operation failed, or what went wrong on a channel.
///
/// The W3C exception each variant corresponds to is given in its description.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DataChannelError {
    /// Both `max_packet_life_time` and `max_retransmits` were given (W3C TypeError).
    #[error("max_packet_life_time and max_retransmits cannot both be set")]
    BothReliabilityLimits,
    /// `negotiated` is set but `id` is not (W3C TypeError).
    #[error("a negotiated data channel needs an id")]
    NegotiatedWithoutId,
    /// The id is 65535, which RFC 8831 reserves (W3C TypeError).
    #[error("stream id {0} is out of range (0..=65534)")]
    IdOutOfRange(u16),
    /// Label or protocol is longer than 65535 bytes (W3C TypeError).
    #[error("{field} is {len} bytes, more than 65535")]
    TooLong {
        /// `label` or `protocol`.
        field: &'static str,
        /// Its length.
        len: usize,
    },
    /// Another channel already uses this stream id (W3C OperationError).
    #[error("stream id {0} is already in use")]
    IdInUse(u16),
    /// No stream id or channel slot is left (W3C OperationError).
    #[error("no more data channels can be opened")]
    TooManyChannels,
    /// The handle does not name a channel (any more).
    #[error("unknown data channel {0}")]
    UnknownChannel(ChannelId),
    /// The channel is not open (W3C InvalidStateError).
    #[error("data channel is {0:?}, not open")]
    InvalidState(DataChannelState),
    /// The message exceeds the peer's maximum message size (W3C TypeError).
    #[error("message of {len} bytes exceeds the maximum message size of {max} bytes")]
    MessageTooLarge {
        /// The message size.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Too much data is queued for sending (W3C OperationError).
    #[error("the send buffer is full")]
    SendBufferFull,
    /// A text message that is not UTF-8 arrived and was dropped.
    #[error("received a text message that is not valid UTF-8")]
    InvalidUtf8,
    /// The SCTP association ended with an error (W3C `sctp-failure`).
    #[error("the SCTP association failed: {0}")]
    SctpFailure(String),
    /// A DCEP message could not be encoded or decoded.
    #[error(transparent)]
    Dcep(#[from] dcep::DcepError),
    /// SCTP refused the operation for another reason.
    #[error(transparent)]
    Sctp(#[from] SctpError),
}
