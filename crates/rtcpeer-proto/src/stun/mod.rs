//! STUN messages (RFC 8489) as ICE and TURN (RFC 8656) use them.
//!
//! - [`Message`] is one message: class, method, transaction id and [`Attribute`]s.
//!   [`Message::decode`] checks the header (zero top bits, magic cookie, length) and every
//!   attribute's format and returns a typed [`StunError`] for anything malformed; it never panics.
//!   Unknown attributes are kept raw as [`Attribute::Unknown`]; attributes after
//!   MESSAGE-INTEGRITY other than MESSAGE-INTEGRITY-SHA256 and FINGERPRINT are dropped.
//! - [`Message::encode_with`] writes a message and appends MESSAGE-INTEGRITY (HMAC-SHA1) or
//!   MESSAGE-INTEGRITY-SHA256 and FINGERPRINT, computed as RFC 8489 §14.5–14.7 say.
//! - [`Message::check_integrity`] and [`Message::check_fingerprint`] verify a decoded message.
//! - [`long_term_key`] derives the key of the long-term credential mechanism (TURN).
//! - [`StunBinding`] is one Binding transaction to a STUN server, with retransmissions, that
//!   discovers a server-reflexive address.
//!
//! Limits: at most [`MAX_ATTRIBUTES`] attributes per message, USERNAME up to 513 bytes,
//! text attributes up to 763 bytes; the message size is bounded by the datagram.

mod attribute;
mod binding;
mod crc32;
mod credentials;
mod error;
mod message;

pub use attribute::*;
pub use binding::{BindingError, StunBinding, StunBindingConfig};
pub use crc32::crc32;
pub use credentials::long_term_key;
pub use error::StunError;
pub use message::{
    peek_header, Class, Integrity, Message, Method, TransactionId, FINGERPRINT_XOR, HEADER_LEN, MAGIC_COOKIE,
    MAX_ATTRIBUTES,
};

#[cfg(test)]
mod tests;
