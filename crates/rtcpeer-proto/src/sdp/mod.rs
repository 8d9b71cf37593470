//! SDP (RFC 8866) with the WebRTC attributes: parsing and serialization.
//!
//! [`SessionDescription::parse`] reads a description (CRLF or LF line ends)
//! into a [`SessionDescription`]; its `Display` writes it back with CRLF.
//! Attributes keep their order; the WebRTC ones are parsed into typed
//! [`Attribute`] variants, every other one is kept verbatim as
//! [`Attribute::Other`]. Serializing and parsing again yields an equal model.
//!
//! ```
//! use rtcpeer_proto::sdp::{Attribute, MediaDescription, MediaKind, SessionDescription};
//!
//! let mut offer = SessionDescription::new(4611731400430051336, 2);
//! let mut data = MediaDescription::new(MediaKind::Application, 9, "UDP/DTLS/SCTP", vec!["webrtc-datachannel".into()]);
//! data.push_attribute(Attribute::Mid("0".into())).push_attribute(Attribute::SctpPort(5000));
//! offer.push_media(data);
//! let parsed = SessionDescription::parse(&offer.to_string()).unwrap();
//! assert_eq!(parsed, offer);
//! assert_eq!(parsed.media[0].sctp_port(), Some(5000));
//! ```
//!
//! # What is refused
//!
//! Like browsers' parsers, this one is strict. Each refusal is an
//! [`SdpError`] naming the 1-based line (0 for the whole description) and an
//! [`SdpErrorKind`]:
//!
//! * descriptions over [`MAX_DESCRIPTION_BYTES`], lines over
//!   [`MAX_LINE_BYTES`], more than [`MAX_MEDIA_SECTIONS`] media sections or
//!   more than [`MAX_LINES_PER_SECTION`] lines in one section (the error names
//!   the limit);
//! * empty lines, lines that are not UTF-8 or contain control characters,
//!   lines not of the form `<letter>=<value>`, unknown or upper-case type
//!   letters, whitespace right after `=`;
//! * a first line other than `v=0`, a second other than `o=`, a third other
//!   than `s=`, no `t=` line, lines out of the RFC 8866 order or repeated
//!   where only one is allowed;
//! * `c=`/`o=`/`a=rtcp` addresses other than `IN IP4`/`IN IP6`; session ids
//!   and versions that do not fit 64 bits;
//! * RTP payload types over 127 (in `m=`, `a=rtpmap`, `a=fmtp`, `a=rtcp-fb`),
//!   `m=` protocols with empty `/`-separated tokens, `m=` lines without a format;
//! * a known attribute whose value does not fit its grammar, including
//!   `a=fingerprint` with a hash function other than SHA-1/SHA-2 (MD5 and MD2
//!   are forbidden by RFC 8122) or a digest of the wrong length;
//! * a legacy `a=ssrc-group:SIM` with more than [`MAX_SIM_GROUP_SSRCS`]
//!   SSRCs (libwebrtc's limit).
//!
//! # Tolerances
//!
//! Real descriptions deviate from the RFCs in these ways, which are accepted:
//!
//! 1. LF line ends as well as CRLF, and a missing final line end.
//! 2. `s= ` (a space as session name, RFC 8866's recommendation), an empty
//!    `s=` and free text with leading spaces in `i=`.
//! 3. Trailing whitespace on attribute lines (Pion writes `a=rtcp-fb:96 nack `);
//!    typed attributes ignore it.
//! 4. `a=msid-semantic: WMS` with or without the space after the colon.
//! 5. Negative SSRCs (`a=ssrc:-1056430916`, written by Janus 0.2) are read
//!    as their 32-bit two's complement value.
//! 6. A legacy `m=application <port> DTLS/SCTP <port>` without `a=sctpmap`:
//!    the format is taken as the SCTP port.
//! 7. ICE credentials of any visible ASCII characters (libwebrtc's tests use
//!    `_`, libp2p uses `:`), including ones shorter than RFC 8839's minimum
//!    lengths (4 and 22 characters); the ICE layer decides.
//! 8. Media sections without a direction attribute (they are `sendrecv`),
//!    port 0 sections without `a=setup`, BUNDLE groups naming mids no section
//!    has, and BUNDLE-wide consistency (header extension ids) are left to the
//!    JSEP layer, which sees both descriptions.
//! 9. Unknown `m=` protocols (`UDP/BFCP`, `FOO`, ...), whose formats are
//!    kept as tokens.
//! 10. An `a=ssrc-group` naming an SSRC that has no `a=ssrc` line (FFmpeg's
//!     and Pion's offers do this for their RTX SSRC), as libwebrtc did until
//!     recently; the media layer decides.
//! 11. `a=mid` longer than [`MAX_MID_LEN`] bytes: libwebrtc's parser accepts
//!     them (its own tests use `audio_content_name`) and only its
//!     SetRemoteDescription refuses them; the JSEP layer should do the same.

mod attribute;
mod error;
mod model;
mod parse;
mod write;

pub use attribute::{
    Attribute, Direction, Extmap, Fingerprint, Fmtp, Group, Msid, MsidSemantic, Rid, RidDirection, Rtcp, RtcpFb,
    Rtpmap, Sctpmap, Setup, Simulcast, SimulcastId, Ssrc, SsrcGroup, MAX_MID_LEN, MAX_SIM_GROUP_SSRCS,
};
pub use error::{SdpError, SdpErrorKind};
pub use model::{Bandwidth, Connection, MediaDescription, MediaKind, MediaSection, Origin, SessionDescription, Timing};

/// The largest description accepted, in bytes (256 KiB; a Chrome offer with
/// audio, video, data and candidates is about 10 KiB).
pub const MAX_DESCRIPTION_BYTES: usize = 256 * 1024;
/// The longest line accepted, in bytes.
pub const MAX_LINE_BYTES: usize = 8 * 1024;
/// The most media sections accepted.
pub const MAX_MEDIA_SECTIONS: usize = 256;
/// The most lines in the session part or in one media section (not counting
/// the `v=`, `o=`, `s=` and `m=` lines).
pub const MAX_LINES_PER_SECTION: usize = 4096;

impl SessionDescription {
    /// Parses a description; see the [module documentation](self) for what is
    /// refused and what is tolerated.
    pub fn parse(text: &str) -> Result<SessionDescription, SdpError> {
        parse::parse_bytes(text.as_bytes())
    }

    /// Parses a description from bytes; a line that is not UTF-8 is an error naming that line.
    pub fn parse_bytes(bytes: &[u8]) -> Result<SessionDescription, SdpError> {
        parse::parse_bytes(bytes)
    }
}

impl std::str::FromStr for SessionDescription {
    type Err = SdpError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SessionDescription::parse(s)
    }
}
