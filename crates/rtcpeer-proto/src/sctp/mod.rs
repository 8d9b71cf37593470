//! The boundary around the SCTP association that carries data channels (RFC 8261).
//!
//! SCTP packets are exchanged with the peer inside DTLS application data, with no
//! UDP encapsulation: whatever [`SctpAssociation::poll_transmit`] returns goes to
//! DTLS, and whatever DTLS decrypts goes to [`SctpAssociation::handle_receive`].
//!
//! The protocol work is done by the `sctp-proto` crate (see
//! `docs/decisions/0003-sctp.md` for why); none of its types cross this module's
//! public API, so the data-channel layer above does not depend on that choice.
//!
//! Like the rest of this crate the association is sans-IO: it is driven with
//! packets, timeouts and commands, each given the current [`Instant`].
//!
//! [`Instant`]: std::time::Instant

mod association;
pub mod checksum;

pub use association::SctpAssociation;

use std::time::Duration;

/// The SCTP port both browsers use, and the default of `a=sctp-port` (RFC 8841).
pub const DEFAULT_SCTP_PORT: u16 = 5000;

/// The default maximum message size we accept, advertised as `a=max-message-size`.
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 256 * 1024;

/// The largest SCTP packet we send (common header and chunks), chosen so that the datagram
/// around it fits a 1200-byte IPv4 path even in the worst case: 1200 − 20 (IPv4) − 8 (UDP)
/// = 1172 bytes of UDP payload, less 47 for a TURN Send indication (20 header, 12
/// XOR-PEER-ADDRESS, 4 DATA header, 3 padding, 8 FINGERPRINT), less 37 for a DTLS 1.2
/// AES-GCM record, leaves 1088. Over a TURN channel (4 bytes) or directly there is more room.
/// IPv6 paths carry at least 1280 bytes (RFC 8200 §5), so they fit too. `sctp-proto`'s own
/// default (1228) does not fit such a path: IP fragments it or, with DF set, drops it.
pub const MAX_PACKET_SIZE: usize = 1080;

/// The largest message size this boundary will configure, whatever the SDP says.
///
/// SDP allows `a=max-message-size:0` ("no limit"); we never buffer more than this for
/// one message.
pub const MAX_MESSAGE_SIZE_LIMIT: usize = 16 * 1024 * 1024;

/// How an association is set up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SctpConfig {
    /// True on the DTLS client, which sends the SCTP INIT; the DTLS server waits for it.
    pub is_client: bool,
    /// Our SCTP port (our `a=sctp-port`).
    pub local_port: u16,
    /// The peer's SCTP port (its `a=sctp-port`).
    pub remote_port: u16,
    /// The largest message we accept (our `a=max-message-size`). Larger incoming
    /// messages abort the association, as the peer was told not to send them.
    pub local_max_message_size: usize,
    /// The largest message the peer accepts (its `a=max-message-size`); larger
    /// sends are refused with [`SctpError::MessageTooLarge`].
    pub remote_max_message_size: usize,
}

impl SctpConfig {
    /// A configuration with the browsers' defaults: port 5000 on both sides, 256 KiB messages.
    pub fn new(is_client: bool) -> Self {
        SctpConfig {
            is_client,
            local_port: DEFAULT_SCTP_PORT,
            remote_port: DEFAULT_SCTP_PORT,
            local_max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            remote_max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
        }
    }
}

/// How hard SCTP tries to deliver a message (partial reliability, RFC 3758).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Reliability {
    /// Retransmit until acknowledged.
    #[default]
    Reliable,
    /// Give up after this many retransmissions (0: send once).
    MaxRetransmits(u16),
    /// Give up once the message has been waiting this long.
    MaxPacketLifeTime(Duration),
}

/// What the association reports to the layer above.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SctpEvent {
    /// The association is established; messages can be sent.
    Connected,
    /// A complete message arrived.
    Message {
        /// The stream it arrived on.
        stream: u16,
        /// Its payload protocol identifier.
        ppid: u32,
        /// Its bytes.
        data: Vec<u8>,
    },
    /// The stream was reset in both directions: the peer reset its outgoing
    /// stream, either on its own (the remote closed) or in answer to our
    /// [`SctpAssociation::reset_stream`]. Nothing more arrives on it.
    StreamReset {
        /// The stream that was reset.
        stream: u16,
    },
    /// The stream's buffered amount went from above its low threshold to at or below it.
    BufferedAmountLow {
        /// The stream concerned.
        stream: u16,
    },
    /// The association is gone.
    Closed {
        /// `None` for an orderly end (our [`SctpAssociation::close`], the peer's
        /// SHUTDOWN or ABORT); otherwise what failed (timeout, protocol error, ...).
        reason: Option<String>,
    },
}

/// Why a command to the association was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SctpError {
    /// The association is not (yet, or any more) established.
    #[error("the SCTP association is not established")]
    NotConnected,
    /// The message is larger than the peer's maximum message size.
    #[error("message of {len} bytes exceeds the peer's maximum message size of {max} bytes")]
    MessageTooLarge {
        /// The message size.
        len: usize,
        /// The peer's limit.
        max: usize,
    },
    /// SCTP cannot carry an empty user message; data channels send one zero byte instead.
    #[error("SCTP messages cannot be empty")]
    EmptyMessage,
    /// The payload protocol identifier is not one of the data-channel PPIDs (50, 51, 53, 56, 57).
    #[error("unsupported payload protocol identifier {0}")]
    UnsupportedPpid(u32),
    /// The stream is being reset or was reset and cannot carry data.
    #[error("stream {0} is closed or being reset")]
    StreamClosed(u16),
    /// The send buffer is full.
    #[error("the SCTP send buffer is full")]
    BufferFull,
    /// The SCTP implementation refused the operation.
    #[error("SCTP refused the operation: {0}")]
    Refused(String),
}
