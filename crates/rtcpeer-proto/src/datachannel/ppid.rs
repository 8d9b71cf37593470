//! Payload protocol identifiers of WebRTC data channels (RFC 8831 §8).

/// DCEP messages (RFC 8832).
pub const DCEP: u32 = 50;
/// A non-empty string, UTF-8.
pub const STRING: u32 = 51;
/// Deprecated: a partial string of a message split by the sender. Not supported.
pub const STRING_PARTIAL: u32 = 52;
/// A non-empty binary message.
pub const BINARY: u32 = 53;
/// Deprecated: a partial binary message. Not supported.
pub const BINARY_PARTIAL: u32 = 54;
/// An empty string; the SCTP message carries one byte that is ignored.
pub const STRING_EMPTY: u32 = 56;
/// An empty binary message; the SCTP message carries one byte that is ignored.
pub const BINARY_EMPTY: u32 = 57;
