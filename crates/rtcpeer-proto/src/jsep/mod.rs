//! JSEP (RFC 8829): what our offers and answers say, and what we take from
//! the remote's.
//!
//! [`LocalParameters`] renders the SDP of our side; [`RemoteParameters`]
//! reads the transport parameters (ICE credentials, DTLS fingerprints and
//! role, SCTP port, candidates) out of a remote description and checks them.
//!
//! Media negotiation is pure data in, data out: [`codecs`] knows the formats
//! (and [`h264`] the H.264 profile rules), [`RemoteMedia`] reads an offered or
//! answered audio/video section, [`offer_media`], [`answer_media`] and
//! [`apply_answer`] negotiate one section, giving a [`MediaSectionParams`]
//! to render as [`LocalSection::Media`] and a [`NegotiatedMedia`] for the RTP
//! layer. A section with no codec in common is answered rejected (port 0),
//! as a browser does for a kind it cannot handle.

pub mod codecs;
pub mod h264;
mod local;
mod media;
mod negotiate;
mod remote;
mod remote_media;
pub mod simulcast;

pub use codecs::{Codec, CodecParameters, MediaType};
pub use local::{LocalParameters, LocalSection};
pub use media::{default_extensions, extension, HeaderExtension, MediaSectionParams, SenderParams, MEDIA_PROTOCOL};
pub use negotiate::{
    align_extension_ids, answer_media, apply_answer, offer_media, MediaCapabilities, MediaNegotiationError,
    NegotiatedMedia, PayloadFormat, TransceiverWants,
};
pub use remote::{RemoteParameters, RemoteSection};
pub use remote_media::{RemoteMedia, RemoteMsid, RemoteSsrc, MAX_REMOTE_RIDS, MAX_REMOTE_SSRCS};
pub use simulcast::{SendEncodingsError, SendLayer};

/// The SCTP port both sides use for data channels (RFC 8841 default, what browsers use).
pub const SCTP_PORT: u16 = 5000;
/// The largest message we accept, advertised as `a=max-message-size` (what Chromium and Firefox advertise).
pub const LOCAL_MAX_MESSAGE_SIZE: usize = 262_144;
/// RFC 8841 §6.1: a remote section without `a=max-message-size` can take 64 KiB.
pub const DEFAULT_REMOTE_MAX_MESSAGE_SIZE: usize = 65_536;
