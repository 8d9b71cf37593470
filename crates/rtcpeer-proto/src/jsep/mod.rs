//! JSEP (RFC 8829): what our offers and answers say, and what we take from
//! the remote's.
//!
//! [`LocalParameters`] renders the SDP of our side; [`RemoteParameters`]
//! reads the transport parameters (ICE credentials, DTLS fingerprints and
//! role, SCTP port, candidates) out of a remote description and checks them.
//! This slice negotiates data channels: media sections of a remote offer are
//! answered as rejected (port 0), as a browser does for a kind it cannot
//! handle.

mod local;
mod remote;

pub use local::{LocalParameters, LocalSection};
pub use remote::{RemoteParameters, RemoteSection};

/// The SCTP port both sides use for data channels (RFC 8841 default, what browsers use).
pub const SCTP_PORT: u16 = 5000;
/// The largest message we accept, advertised as `a=max-message-size` (what Chromium and Firefox advertise).
pub const LOCAL_MAX_MESSAGE_SIZE: usize = 262_144;
/// RFC 8841 §6.1: a remote section without `a=max-message-size` can take 64 KiB.
pub const DEFAULT_REMOTE_MAX_MESSAGE_SIZE: usize = 65_536;
