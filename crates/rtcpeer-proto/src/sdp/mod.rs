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

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str =
        "v=0\no=- 1 2 IN IP4 127.0.0.1\ns=-\nt=0 0\na=ice-ufrag:sess\na=ice-pwd:sessionpassword0123456789\n\
m=audio 9 UDP/TLS/RTP/SAVPF 111\nc=IN IP4 0.0.0.0\na=mid:0\na=rtpmap:111 opus/48000/2\n";

    fn err(text: &str) -> (usize, SdpErrorKind) {
        let e = SessionDescription::parse(text).expect_err(text);
        (e.line, e.kind)
    }

    #[test]
    fn accepts_lf_and_writes_crlf() {
        let d = SessionDescription::parse(MINIMAL).unwrap();
        let written = d.to_string();
        assert_eq!(written, MINIMAL.replace('\n', "\r\n"));
        assert_eq!(SessionDescription::parse(&written).unwrap(), d);
        // No final line end is fine too.
        assert_eq!(SessionDescription::parse(MINIMAL.trim_end()).unwrap(), d);
    }

    #[test]
    fn session_level_values_are_the_fallback() {
        let d = SessionDescription::parse(MINIMAL).unwrap();
        let m = d.media_sections().next().unwrap();
        assert_eq!(m.description.ice_ufrag(), None);
        assert_eq!(m.ice_ufrag(), Some("sess"));
        assert_eq!(m.ice_pwd(), Some("sessionpassword0123456789"));
        assert_eq!(m.direction(), Direction::SendRecv);
        assert_eq!(m.connections[0].address, "0.0.0.0");
    }

    #[test]
    fn builds_an_offer_from_scratch() {
        let mut offer = SessionDescription::new(7, 1);
        offer.push_attribute(Attribute::Group(Group {
            semantics: "BUNDLE".into(),
            ids: vec!["0".into()],
        }));
        let mut audio = MediaDescription::new(MediaKind::Audio, 9, "UDP/TLS/RTP/SAVPF", vec!["111".into()]);
        audio.connections.push(Connection::ip("0.0.0.0".parse().unwrap()));
        audio
            .push_attribute(Attribute::Mid("0".into()))
            .push_attribute(Attribute::Setup(Setup::ActPass))
            .push_attribute(Attribute::Direction(Direction::SendOnly))
            .push_attribute(Attribute::RtcpMux)
            .push_attribute(Attribute::EndOfCandidates);
        offer.push_media(audio);
        let text = offer.to_string();
        assert!(text.starts_with("v=0\r\no=- 7 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\n"));
        assert!(text.contains("m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\n"));
        let parsed = SessionDescription::parse(&text).unwrap();
        assert_eq!(parsed, offer);
        let m = parsed.media_by_mid("0").unwrap();
        assert_eq!(m.direction(), Direction::SendOnly);
        assert!(m.end_of_candidates());
        assert!(!m.is_rejected());
    }

    #[test]
    fn errors_name_the_line_and_the_problem() {
        assert_eq!(err(""), (0, SdpErrorKind::Empty));
        assert_eq!(err("v=1\n"), (1, err("v=1\n").1));
        assert!(matches!(
            err("v=1\n").1,
            SdpErrorKind::InvalidField {
                field: "v= version",
                ..
            }
        ));
        assert_eq!(err("s=-\n"), (1, SdpErrorKind::Expected { expected: 'v' }));
        assert_eq!(err("v=0\n"), (2, SdpErrorKind::Expected { expected: 'o' }));
        assert_eq!(
            err("v=0\no=- 1 1 IN IP4 ::1\n"),
            (3, SdpErrorKind::Expected { expected: 's' })
        );
        assert!(matches!(
            err("v=0\no=- 1 IN IP4 x\ns=-\nt=0 0\n"),
            (2, SdpErrorKind::InvalidField { field: "o=", .. })
        ));
        assert!(matches!(
            err("v=0\no=- 99999999999999999999 1 IN IP4 x\ns=-\nt=0 0\n"),
            (
                2,
                SdpErrorKind::InvalidField {
                    field: "o= session id",
                    ..
                }
            )
        ));
        assert_eq!(
            err("v=0\no=- 1 1 IN IP4 x\ns=-\nm=audio 9 RTP/AVP 0\n"),
            (4, SdpErrorKind::Expected { expected: 't' })
        );
        assert_eq!(
            err("v=0\no=- 1 1 IN IP4 x\ns=-\n"),
            (4, SdpErrorKind::Expected { expected: 't' })
        );
        assert_eq!(
            err("v=0\no=- 1 1 IN IP4 x\ns=-\nt=0 0\nc=IN IP4 x\n"),
            (5, SdpErrorKind::OutOfOrder('c'))
        );
        assert_eq!(
            err("v=0\no=- 1 1 IN IP4 x\ns=-\ni=a\ni=b\nt=0 0\n"),
            (5, SdpErrorKind::Duplicate('i'))
        );
        assert_eq!(
            err("v=0\no=- 1 1 IN IP4 x\ns=-\nt=0 0\nf=x\n"),
            (5, SdpErrorKind::UnknownType('f'))
        );
        assert_eq!(
            err("v=0\no=- 1 1 IN IP4 x\ns=-\nt=0 0\na=x\ry\n"),
            (5, SdpErrorKind::ControlCharacter(b'\r'))
        );
        assert_eq!(
            err("v=0\no=- 1 1 IN IP4 x\ns=-\nt=0 0\nax\n"),
            (5, SdpErrorKind::NotTypeValue)
        );
        assert_eq!(
            err("v=0\no=- 1 1 IN IP4 x\ns=-\nt=0 0\nm=audio 9 RTP/AVP 0\nt=0 0\n"),
            (6, SdpErrorKind::OutOfOrder('t'))
        );
        assert!(matches!(
            err("v=0\no=- 1 1 IN IP4 x\ns=-\nt=0 0\nm=audio 9 RTP/AVP\n"),
            (5, SdpErrorKind::InvalidField { field: "m=", .. })
        ));
        assert!(matches!(
            err("v=0\no=- 1 1 IN IP4 x\ns=-\nt=0 0\nm=audio 70000 RTP/AVP 0\n"),
            (5, SdpErrorKind::InvalidField { field: "m= port", .. })
        ));
        let e = SessionDescription::parse("v=0\no=- 1 1 IN IP4 x\ns=-\nt=0 0\na=setup:x\n").unwrap_err();
        assert_eq!(e.to_string(), "line 5: invalid a=setup: unknown role \"x\"");
    }

    #[test]
    fn non_utf8_lines_are_named() {
        let e = SessionDescription::parse_bytes(b"v=0\no=- 1 1 IN IP4 x\ns=\xff\n").unwrap_err();
        assert_eq!((e.line, e.kind), (3, SdpErrorKind::NotUtf8));
    }

    #[test]
    fn limits_are_enforced_and_named() {
        let long = format!(
            "v=0\no=- 1 1 IN IP4 x\ns=-\nt=0 0\na=x:{}\n",
            "y".repeat(MAX_LINE_BYTES)
        );
        assert!(matches!(
            err(&long),
            (
                5,
                SdpErrorKind::LineTooLong {
                    limit: MAX_LINE_BYTES,
                    ..
                }
            )
        ));
        let mut many = String::from("v=0\no=- 1 1 IN IP4 x\ns=-\nt=0 0\n");
        for _ in 0..=MAX_MEDIA_SECTIONS {
            many.push_str("m=audio 0 RTP/AVP 0\n");
        }
        let (line, kind) = err(&many);
        assert_eq!(
            kind,
            SdpErrorKind::TooManyMediaSections {
                limit: MAX_MEDIA_SECTIONS
            }
        );
        assert_eq!(line, 5 + MAX_MEDIA_SECTIONS);
    }

    #[test]
    fn optional_session_lines_round_trip() {
        let text = "v=0\r\no=jdoe 2890844526 2890842807 IN IP4 10.47.16.5\r\ns=SDP Seminar\r\ni=A Seminar\r\n\
u=http://127.0.0.1/seminar\r\ne=j.doe@example.com\r\np=+1 617 555-6011\r\nc=IN IP4 224.2.17.12/127\r\n\
b=CT:128\r\nt=2873397496 2873404696\r\nr=7d 1h 0 25h\r\nz=2882844526 -1h\r\nk=prompt\r\na=recvonly\r\n\
m=audio 49170/2 RTP/AVP 0\r\ni=voice\r\nb=AS:64\r\nk=prompt\r\n";
        let d = SessionDescription::parse(text).unwrap();
        assert_eq!(d.to_string(), text);
        assert_eq!(d.timings[0].repeats, ["7d 1h 0 25h"]);
        assert_eq!(d.timings[0].zone_adjustments.as_deref(), Some("2882844526 -1h"));
        assert_eq!(d.media[0].port_count, Some(2));
        assert_eq!(
            d.media[0].bandwidths[0],
            Bandwidth {
                kind: "AS".into(),
                value: 64
            }
        );
    }
}
