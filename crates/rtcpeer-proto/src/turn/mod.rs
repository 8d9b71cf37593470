//! TURN (RFC 8656): a sans-IO client for one allocation, ChannelData and stream framing.
//!
//! - [`TurnClient`] makes an allocation on a TURN server with long-term credentials (401 →
//!   authenticated retry, 438 → new nonce), keeps it, its permissions and its channels alive,
//!   and relays data to and from peers (Send/Data indications, or ChannelData once a channel is
//!   bound). It owns no socket and no clock.
//! - [`ChannelData`] encodes and decodes ChannelData messages.
//! - [`StreamDecoder`] cuts a TCP/TLS byte stream from the server into STUN and ChannelData frames.
//!
//! Only UDP relaying is asked for (REQUESTED-TRANSPORT 17); TCP allocations (RFC 6062), EVEN-PORT,
//! RESERVATION-TOKEN, DONT-FRAGMENT, ADDITIONAL-ADDRESS-FAMILY and the SHA-256 password algorithm
//! are not supported. Everything is bounded: permissions, channels, queued messages and events
//! by [`TurnConfig`], transactions by those (one per permission, channel and the allocation).

mod channel_data;
mod client;
mod error;
mod stream;

pub use channel_data::{encode as encode_channel_data, ChannelData, CHANNEL_DATA_HEADER_LEN, MAX_CHANNEL, MIN_CHANNEL};
pub use client::{TurnClient, TurnConfig, TurnEvent, TurnState, TurnTransport, CHANNEL_REFRESH, PERMISSION_REFRESH};
pub use error::TurnError;
pub use stream::{Frame, StreamDecoder, DEFAULT_MAX_BUFFERED, MAX_FRAME_LEN};

#[cfg(test)]
mod tests;
