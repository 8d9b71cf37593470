//! `a=` attributes: the typed WebRTC attributes and the verbatim fallback.
//!
//! [`Attribute::parse`] takes the text after `a=`; [`Attribute`]'s `Display`
//! writes it back (without the `a=`). A known attribute whose value does not
//! fit its grammar is an error; an unknown attribute is kept as
//! [`Attribute::Other`] exactly as written.

use std::fmt;

use super::error::{quote, SdpErrorKind};
use super::model::Connection;
use crate::ice::Candidate;

/// The longest `a=mid` that fits the one-byte RTP MID header extension (16 bytes);
/// the parser accepts longer ones, the JSEP layer should refuse them in a remote description as libwebrtc does.
pub const MAX_MID_LEN: usize = 16;
/// The longest ICE ufrag or password (RFC 8839 §5.4).
const MAX_ICE_CREDENTIAL_LEN: usize = 256;
/// The most SSRCs a legacy `a=ssrc-group:SIM` may list (three simulcast layers, as libwebrtc enforces).
pub const MAX_SIM_GROUP_SSRCS: usize = 3;

/// One `a=` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attribute {
    /// `a=ice-ufrag` (RFC 8839).
    IceUfrag(String),
    /// `a=ice-pwd` (RFC 8839).
    IcePwd(String),
    /// `a=ice-options` (RFC 8839), for example `trickle`.
    IceOptions(Vec<String>),
    /// `a=ice-lite` (session level, RFC 8839).
    IceLite,
    /// `a=fingerprint` (RFC 8122 / RFC 8842).
    Fingerprint(Fingerprint),
    /// `a=setup` (RFC 4145 / RFC 8842).
    Setup(Setup),
    /// `a=mid` (RFC 5888).
    Mid(String),
    /// `a=group`, for example `BUNDLE 0 1 2` (RFC 5888, RFC 8843).
    Group(Group),
    /// `a=msid` (RFC 8830).
    Msid(Msid),
    /// `a=msid-semantic` (the pre-standard session-level stream list, for example `WMS *`).
    MsidSemantic(MsidSemantic),
    /// `a=rtcp-mux` (RFC 5761).
    RtcpMux,
    /// `a=rtcp-mux-only` (RFC 8858).
    RtcpMuxOnly,
    /// `a=rtcp-rsize` (RFC 5506).
    RtcpRsize,
    /// `a=rtcp` (RFC 3605).
    Rtcp(Rtcp),
    /// `a=rtpmap`.
    Rtpmap(Rtpmap),
    /// `a=fmtp`.
    Fmtp(Fmtp),
    /// `a=rtcp-fb` (RFC 4585).
    RtcpFb(RtcpFb),
    /// `a=extmap` (RFC 8285).
    Extmap(Extmap),
    /// `a=extmap-allow-mixed` (RFC 8285).
    ExtmapAllowMixed,
    /// `a=ssrc` (RFC 5576).
    Ssrc(Ssrc),
    /// `a=ssrc-group` (RFC 5576).
    SsrcGroup(SsrcGroup),
    /// `a=rid` (RFC 8851).
    Rid(Rid),
    /// `a=simulcast` (RFC 8853).
    Simulcast(Simulcast),
    /// `a=sctp-port` (RFC 8841).
    SctpPort(u16),
    /// `a=sctpmap` (the pre-RFC 8841 data-channel syntax).
    Sctpmap(Sctpmap),
    /// `a=max-message-size` (RFC 8841).
    MaxMessageSize(u64),
    /// `a=candidate` (RFC 8839).
    Candidate(Candidate),
    /// `a=end-of-candidates` (RFC 8838).
    EndOfCandidates,
    /// `a=sendrecv`, `a=sendonly`, `a=recvonly` or `a=inactive`.
    Direction(Direction),
    /// `a=bundle-only` (RFC 8843).
    BundleOnly,
    /// Any other attribute, kept verbatim.
    Other {
        /// The name, as written.
        name: String,
        /// Everything after the first `:`, as written; `None` for a property attribute.
        value: Option<String>,
    },
}

/// `a=fingerprint`: a hash function and the certificate's digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint {
    /// The hash function as written (`sha-256`, ...).
    pub algorithm: String,
    /// The digest as colon-separated hex pairs, as written.
    pub value: String,
}

/// The DTLS role negotiation of `a=setup`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Setup {
    /// Either role (offers).
    ActPass,
    /// DTLS client.
    Active,
    /// DTLS server.
    Passive,
    /// No connection for now.
    HoldConn,
}

impl Setup {
    /// The SDP token.
    pub fn as_str(self) -> &'static str {
        match self {
            Setup::ActPass => "actpass",
            Setup::Active => "active",
            Setup::Passive => "passive",
            Setup::HoldConn => "holdconn",
        }
    }
}

/// A media section's direction attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// `sendrecv` (the default when none is given).
    SendRecv,
    /// `sendonly`.
    SendOnly,
    /// `recvonly`.
    RecvOnly,
    /// `inactive`.
    Inactive,
}

impl Direction {
    /// The SDP token.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }

    fn from_token(token: &str) -> Option<Direction> {
        Some(match token {
            "sendrecv" => Direction::SendRecv,
            "sendonly" => Direction::SendOnly,
            "recvonly" => Direction::RecvOnly,
            "inactive" => Direction::Inactive,
            _ => return None,
        })
    }
}

/// `a=group:<semantics> <id>...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    /// `BUNDLE`, `LS`, ...
    pub semantics: String,
    /// The grouped mids, in order.
    pub ids: Vec<String>,
}

/// `a=msid:<stream id> [<track id>]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Msid {
    /// The MediaStream id (`-` for none).
    pub stream_id: String,
    /// The track id ("appdata"), if given.
    pub track_id: Option<String>,
}

/// `a=msid-semantic:<semantic> <id>...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MsidSemantic {
    /// Usually `WMS`.
    pub semantic: String,
    /// The stream ids (or `*`).
    pub ids: Vec<String>,
}

/// `a=rtcp:<port> [<nettype> <addrtype> <address>]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rtcp {
    /// The RTCP port.
    pub port: u16,
    /// The RTCP address, if given.
    pub connection: Option<Connection>,
}

/// `a=rtpmap:<pt> <encoding>/<clock rate>[/<channels>]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rtpmap {
    /// The RTP payload type (0–127).
    pub payload_type: u8,
    /// The encoding name as written (`opus`, `VP8`, ...).
    pub encoding: String,
    /// The RTP clock rate.
    pub clock_rate: u32,
    /// The channel count (audio), if given.
    pub channels: Option<u16>,
}

/// `a=fmtp:<pt> <parameters>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fmtp {
    /// The RTP payload type (0–127).
    pub payload_type: u8,
    /// The format parameters as written (`minptime=10;useinbandfec=1`).
    pub params: String,
}

impl Fmtp {
    /// The `;`-separated parameters as `(name, value)` pairs, trimmed; a
    /// parameter without `=` has no value.
    pub fn parameters(&self) -> impl Iterator<Item = (&str, Option<&str>)> {
        self.params
            .split(';')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(|p| match p.split_once('=') {
                Some((k, v)) => (k.trim(), Some(v.trim())),
                None => (p, None),
            })
    }
}

/// `a=rtcp-fb:<pt|*> <type> [<parameters>]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtcpFb {
    /// The payload type, or `None` for `*` (all formats).
    pub payload_type: Option<u8>,
    /// The feedback type (`nack`, `ccm`, `goog-remb`, `transport-cc`, ...).
    pub kind: String,
    /// The rest (`pli`, `fir`, ...), if any.
    pub params: Option<String>,
}

/// `a=extmap:<id>[/<direction>] <uri> [<extension attributes>]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extmap {
    /// The header extension id (1–255).
    pub id: u16,
    /// The direction, if given.
    pub direction: Option<Direction>,
    /// The extension's URI.
    pub uri: String,
    /// Extension attributes after the URI, if any.
    pub extensions: Option<String>,
}

/// `a=ssrc:<ssrc> <attribute>[:<value>]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ssrc {
    /// The SSRC.
    pub ssrc: u32,
    /// The source attribute's name (`cname`, `msid`, ...).
    pub name: String,
    /// The source attribute's value as written, if any.
    pub value: Option<String>,
}

/// `a=ssrc-group:<semantics> <ssrc>...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SsrcGroup {
    /// `FID`, `FEC-FR`, `SIM`, ...
    pub semantics: String,
    /// The SSRCs, in order.
    pub ssrcs: Vec<u32>,
}

/// The direction of an `a=rid`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RidDirection {
    /// `send`.
    Send,
    /// `recv`.
    Recv,
}

impl RidDirection {
    /// The SDP token.
    pub fn as_str(self) -> &'static str {
        match self {
            RidDirection::Send => "send",
            RidDirection::Recv => "recv",
        }
    }
}

/// `a=rid:<id> <send|recv> [<restrictions>]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rid {
    /// The RTP stream id.
    pub id: String,
    /// Send or receive.
    pub direction: RidDirection,
    /// Restrictions (`pt=96;max-width=1280`), as written, if any.
    pub params: Option<String>,
}

/// One entry in an `a=simulcast` list: a rid, possibly paused (`~`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimulcastId {
    /// The rid.
    pub rid: String,
    /// Whether the stream starts paused (`~rid`).
    pub paused: bool,
}

/// `a=simulcast:send <streams> recv <streams>`: each stream is a list of
/// alternative rids (`,`), streams are separated by `;`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Simulcast {
    /// The streams sent.
    pub send: Vec<Vec<SimulcastId>>,
    /// The streams received.
    pub recv: Vec<Vec<SimulcastId>>,
}

/// `a=sctpmap:<port> <protocol> [<streams>]` (legacy data-channel syntax).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sctpmap {
    /// The SCTP port.
    pub port: u16,
    /// The application protocol (`webrtc-datachannel`).
    pub protocol: String,
    /// The number of streams, if given.
    pub streams: Option<u32>,
}

fn bad(name: &'static str, reason: impl Into<String>) -> SdpErrorKind {
    SdpErrorKind::InvalidAttribute {
        name,
        reason: reason.into(),
    }
}

/// Whether `s` is an RFC 8866 `token`.
pub(crate) fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`{|}~".contains(&b))
}

/// ICE credentials: RFC 8839 allows only ice-chars, but libwebrtc's own
/// tests use `_` and libp2p uses `:`, so any visible ASCII is accepted.
fn is_credential(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_graphic())
}

/// Splits off the first whitespace-separated word; the rest has its leading whitespace removed.
fn split_word(s: &str) -> (&str, &str) {
    let s = s.trim_start();
    match s.find(|c: char| c.is_ascii_whitespace()) {
        Some(i) => (&s[..i], s[i..].trim_start()),
        None => (s, ""),
    }
}

fn non_empty(s: &str) -> Option<String> {
    let s = s.trim_end();
    (!s.is_empty()).then(|| s.to_string())
}

fn token(name: &'static str, what: &str, s: &str) -> Result<String, SdpErrorKind> {
    if is_token(s) {
        Ok(s.to_string())
    } else {
        Err(bad(name, format!("{what} {} is not a token", quote(s))))
    }
}

fn number<T: std::str::FromStr>(name: &'static str, what: &str, s: &str) -> Result<T, SdpErrorKind> {
    // `FromStr` for integers accepts a leading '+'; SDP numbers are plain digits.
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad(name, format!("{what} {} is not a number", quote(s))));
    }
    s.parse()
        .map_err(|_| bad(name, format!("{what} {} is out of range", quote(s))))
}

/// Reads an RTP payload type: a number from 0 to 127.
pub(crate) fn payload_type(name: &'static str, s: &str) -> Result<u8, SdpErrorKind> {
    let pt: u8 = number(name, "payload type", s)?;
    if pt > 127 {
        return Err(bad(name, format!("payload type {pt} is over 127")));
    }
    Ok(pt)
}

/// Reads an SSRC; tolerates the negative 32-bit form some servers (Janus 0.2) write.
fn ssrc(name: &'static str, s: &str) -> Result<u32, SdpErrorKind> {
    if let Some(magnitude) = s.strip_prefix('-') {
        let m: u32 = number(name, "SSRC", magnitude)?;
        if m > 1 << 31 {
            return Err(bad(name, format!("SSRC {} is out of range", quote(s))));
        }
        return Ok(m.wrapping_neg());
    }
    number(name, "SSRC", s)
}

/// The digest length in bytes of the hash functions RFC 8122 allows for fingerprints.
fn digest_len(algorithm: &str) -> Option<usize> {
    Some(match algorithm.to_ascii_lowercase().as_str() {
        "sha-1" => 20,
        "sha-224" => 28,
        "sha-256" => 32,
        "sha-384" => 48,
        "sha-512" => 64,
        _ => return None,
    })
}

fn flag(name: &'static str, value: Option<&str>, attribute: Attribute) -> Result<Attribute, SdpErrorKind> {
    match value {
        None => Ok(attribute),
        Some(v) => Err(bad(name, format!("takes no value, got {}", quote(v)))),
    }
}

impl Attribute {
    /// Parses the text after `a=`.
    pub fn parse(text: &str) -> Result<Attribute, SdpErrorKind> {
        let (name, value) = match text.split_once(':') {
            Some((n, v)) => (n, Some(v)),
            None => (text, None),
        };
        if !is_token(name) {
            return Err(SdpErrorKind::InvalidField {
                field: "attribute name",
                reason: format!("{} is not a token", quote(name)),
            });
        }
        let need = |static_name: &'static str| value.ok_or_else(|| bad(static_name, "missing value"));
        Ok(match name {
            "ice-ufrag" | "ice-pwd" => {
                let static_name = if name == "ice-ufrag" { "ice-ufrag" } else { "ice-pwd" };
                let v = need(static_name)?.trim_end();
                if v.is_empty() || v.len() > MAX_ICE_CREDENTIAL_LEN || !is_credential(v) {
                    return Err(bad(
                        static_name,
                        format!("{} is not 1-256 visible ASCII characters", quote(v)),
                    ));
                }
                if name == "ice-ufrag" {
                    Attribute::IceUfrag(v.to_string())
                } else {
                    Attribute::IcePwd(v.to_string())
                }
            }
            "ice-options" => {
                let options = need("ice-options")?
                    .split_ascii_whitespace()
                    .map(|o| token("ice-options", "option", o))
                    .collect::<Result<Vec<_>, _>>()?;
                if options.is_empty() {
                    return Err(bad("ice-options", "no option given"));
                }
                Attribute::IceOptions(options)
            }
            "ice-lite" => flag("ice-lite", value, Attribute::IceLite)?,
            "fingerprint" => Attribute::Fingerprint(parse_fingerprint(need("fingerprint")?)?),
            "setup" => Attribute::Setup(match need("setup")?.trim_end() {
                "actpass" => Setup::ActPass,
                "active" => Setup::Active,
                "passive" => Setup::Passive,
                "holdconn" => Setup::HoldConn,
                other => return Err(bad("setup", format!("unknown role {}", quote(other)))),
            }),
            "mid" => Attribute::Mid(token("mid", "identifier", need("mid")?.trim_end())?),
            "group" => {
                let (semantics, rest) = split_word(need("group")?);
                Attribute::Group(Group {
                    semantics: token("group", "semantics", semantics)?,
                    ids: rest
                        .split_ascii_whitespace()
                        .map(|id| token("group", "identifier", id))
                        .collect::<Result<_, _>>()?,
                })
            }
            "msid" => {
                let mut words = need("msid")?.split_ascii_whitespace();
                let stream_id = words.next().ok_or_else(|| bad("msid", "missing stream id"))?;
                let track_id = words.next();
                if words.next().is_some() {
                    return Err(bad("msid", "more than two identifiers"));
                }
                Attribute::Msid(Msid {
                    stream_id: token("msid", "stream id", stream_id)?,
                    track_id: track_id.map(|t| token("msid", "track id", t)).transpose()?,
                })
            }
            "msid-semantic" => {
                let (semantic, rest) = split_word(need("msid-semantic")?);
                Attribute::MsidSemantic(MsidSemantic {
                    semantic: token("msid-semantic", "semantic", semantic)?,
                    ids: rest
                        .split_ascii_whitespace()
                        .map(|id| token("msid-semantic", "identifier", id))
                        .collect::<Result<_, _>>()?,
                })
            }
            "rtcp-mux" => flag("rtcp-mux", value, Attribute::RtcpMux)?,
            "rtcp-mux-only" => flag("rtcp-mux-only", value, Attribute::RtcpMuxOnly)?,
            "rtcp-rsize" => flag("rtcp-rsize", value, Attribute::RtcpRsize)?,
            "rtcp" => {
                let (port, rest) = split_word(need("rtcp")?);
                let port = number("rtcp", "port", port)?;
                let connection = if rest.trim_end().is_empty() {
                    None
                } else {
                    Some(Connection::parse(rest).map_err(|reason| bad("rtcp", reason))?)
                };
                Attribute::Rtcp(Rtcp { port, connection })
            }
            "rtpmap" => Attribute::Rtpmap(parse_rtpmap(need("rtpmap")?)?),
            "fmtp" => {
                let v = need("fmtp")?;
                let (pt, params) = v.split_once(' ').unwrap_or((v, ""));
                Attribute::Fmtp(Fmtp {
                    payload_type: payload_type("fmtp", pt)?,
                    params: params.to_string(),
                })
            }
            "rtcp-fb" => {
                let (pt, rest) = split_word(need("rtcp-fb")?);
                let payload_type = if pt == "*" {
                    None
                } else {
                    Some(payload_type("rtcp-fb", pt)?)
                };
                let (kind, params) = split_word(rest);
                Attribute::RtcpFb(RtcpFb {
                    payload_type,
                    kind: token("rtcp-fb", "feedback type", kind)?,
                    params: non_empty(params),
                })
            }
            "extmap" => Attribute::Extmap(parse_extmap(need("extmap")?)?),
            "extmap-allow-mixed" => flag("extmap-allow-mixed", value, Attribute::ExtmapAllowMixed)?,
            "ssrc" => {
                let (id, rest) = split_word(need("ssrc")?);
                let ssrc = ssrc("ssrc", id)?;
                let rest = rest.trim_end();
                let (name, value) = match rest.split_once(':') {
                    Some((n, v)) => (n, Some(v.to_string())),
                    None => (rest, None),
                };
                Attribute::Ssrc(Ssrc {
                    ssrc,
                    name: token("ssrc", "source attribute", name)?,
                    value,
                })
            }
            "ssrc-group" => {
                let (semantics, rest) = split_word(need("ssrc-group")?);
                let ssrcs = rest
                    .split_ascii_whitespace()
                    .map(|s| ssrc("ssrc-group", s))
                    .collect::<Result<Vec<_>, _>>()?;
                if ssrcs.is_empty() {
                    return Err(bad("ssrc-group", "no SSRC listed"));
                }
                if semantics == "SIM" && ssrcs.len() > MAX_SIM_GROUP_SSRCS {
                    return Err(bad(
                        "ssrc-group",
                        format!("SIM lists {} SSRCs, more than {MAX_SIM_GROUP_SSRCS}", ssrcs.len()),
                    ));
                }
                Attribute::SsrcGroup(SsrcGroup {
                    semantics: token("ssrc-group", "semantics", semantics)?,
                    ssrcs,
                })
            }
            "rid" => {
                let (id, rest) = split_word(need("rid")?);
                let (direction, params) = split_word(rest);
                if id.is_empty() || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
                    return Err(bad("rid", format!("id {} is not alphanumeric", quote(id))));
                }
                Attribute::Rid(Rid {
                    id: id.to_string(),
                    direction: match direction {
                        "send" => RidDirection::Send,
                        "recv" => RidDirection::Recv,
                        other => return Err(bad("rid", format!("direction {} is not send or recv", quote(other)))),
                    },
                    params: non_empty(params),
                })
            }
            "simulcast" => Attribute::Simulcast(parse_simulcast(need("simulcast")?)?),
            "sctp-port" => Attribute::SctpPort(number("sctp-port", "port", need("sctp-port")?.trim_end())?),
            "sctpmap" => {
                let (port, rest) = split_word(need("sctpmap")?);
                let (protocol, rest) = split_word(rest);
                let (streams, rest) = split_word(rest);
                if !rest.trim_end().is_empty() {
                    return Err(bad("sctpmap", format!("unexpected {}", quote(rest))));
                }
                Attribute::Sctpmap(Sctpmap {
                    port: number("sctpmap", "port", port)?,
                    protocol: token("sctpmap", "protocol", protocol)?,
                    streams: (!streams.is_empty())
                        .then(|| number("sctpmap", "stream count", streams))
                        .transpose()?,
                })
            }
            "max-message-size" => Attribute::MaxMessageSize(number(
                "max-message-size",
                "size",
                need("max-message-size")?.trim_end(),
            )?),
            "candidate" => Attribute::Candidate(Candidate::parse(need("candidate")?)?),
            "end-of-candidates" => flag("end-of-candidates", value, Attribute::EndOfCandidates)?,
            "sendrecv" => flag("sendrecv", value, Attribute::Direction(Direction::SendRecv))?,
            "sendonly" => flag("sendonly", value, Attribute::Direction(Direction::SendOnly))?,
            "recvonly" => flag("recvonly", value, Attribute::Direction(Direction::RecvOnly))?,
            "inactive" => flag("inactive", value, Attribute::Direction(Direction::Inactive))?,
            "bundle-only" => flag("bundle-only", value, Attribute::BundleOnly)?,
            _ => Attribute::Other {
                name: name.to_string(),
                value: value.map(str::to_string),
            },
        })
    }

    /// The attribute's name as written after `a=`.
    pub fn name(&self) -> &str {
        match self {
            Attribute::IceUfrag(_) => "ice-ufrag",
            Attribute::IcePwd(_) => "ice-pwd",
            Attribute::IceOptions(_) => "ice-options",
            Attribute::IceLite => "ice-lite",
            Attribute::Fingerprint(_) => "fingerprint",
            Attribute::Setup(_) => "setup",
            Attribute::Mid(_) => "mid",
            Attribute::Group(_) => "group",
            Attribute::Msid(_) => "msid",
            Attribute::MsidSemantic(_) => "msid-semantic",
            Attribute::RtcpMux => "rtcp-mux",
            Attribute::RtcpMuxOnly => "rtcp-mux-only",
            Attribute::RtcpRsize => "rtcp-rsize",
            Attribute::Rtcp(_) => "rtcp",
            Attribute::Rtpmap(_) => "rtpmap",
            Attribute::Fmtp(_) => "fmtp",
            Attribute::RtcpFb(_) => "rtcp-fb",
            Attribute::Extmap(_) => "extmap",
            Attribute::ExtmapAllowMixed => "extmap-allow-mixed",
            Attribute::Ssrc(_) => "ssrc",
            Attribute::SsrcGroup(_) => "ssrc-group",
            Attribute::Rid(_) => "rid",
            Attribute::Simulcast(_) => "simulcast",
            Attribute::SctpPort(_) => "sctp-port",
            Attribute::Sctpmap(_) => "sctpmap",
            Attribute::MaxMessageSize(_) => "max-message-size",
            Attribute::Candidate(_) => "candidate",
            Attribute::EndOfCandidates => "end-of-candidates",
            Attribute::Direction(d) => d.as_str(),
            Attribute::BundleOnly => "bundle-only",
            Attribute::Other { name, .. } => name,
        }
    }
}

fn parse_fingerprint(v: &str) -> Result<Fingerprint, SdpErrorKind> {
    let (algorithm, value) = split_word(v);
    let value = value.trim_end();
    let lower = algorithm.to_ascii_lowercase();
    if lower == "md5" || lower == "md2" {
        return Err(bad("fingerprint", format!("{algorithm} is not allowed (RFC 8122 §5)")));
    }
    let expected = digest_len(algorithm)
        .ok_or_else(|| bad("fingerprint", format!("unknown hash function {}", quote(algorithm))))?;
    let well_formed = value
        .split(':')
        .all(|pair| pair.len() == 2 && pair.bytes().all(|b| b.is_ascii_hexdigit()));
    let count = value.split(':').count();
    if !well_formed || count != expected {
        return Err(bad(
            "fingerprint",
            format!("{} is not {expected} colon-separated hex bytes", quote(value)),
        ));
    }
    Ok(Fingerprint {
        algorithm: algorithm.to_string(),
        value: value.to_string(),
    })
}

fn parse_rtpmap(v: &str) -> Result<Rtpmap, SdpErrorKind> {
    let (pt, rest) = split_word(v);
    let payload_type = payload_type("rtpmap", pt)?;
    let mut parts = rest.trim_end().split('/');
    let encoding = parts.next().unwrap_or_default();
    if !is_token(encoding) {
        return Err(bad("rtpmap", format!("encoding {} is not a token", quote(encoding))));
    }
    let clock = parts.next().ok_or_else(|| bad("rtpmap", "missing clock rate"))?;
    let clock_rate = number("rtpmap", "clock rate", clock)?;
    let channels = parts.next().map(|c| number("rtpmap", "channel count", c)).transpose()?;
    if parts.next().is_some() {
        return Err(bad("rtpmap", format!("too many '/' in {}", quote(rest))));
    }
    Ok(Rtpmap {
        payload_type,
        encoding: encoding.to_string(),
        clock_rate,
        channels,
    })
}

fn parse_extmap(v: &str) -> Result<Extmap, SdpErrorKind> {
    let (id_dir, rest) = split_word(v);
    let (id, direction) = match id_dir.split_once('/') {
        Some((id, dir)) => (
            id,
            Some(Direction::from_token(dir).ok_or_else(|| bad("extmap", format!("bad direction {}", quote(dir))))?),
        ),
        None => (id_dir, None),
    };
    let id: u16 = number("extmap", "id", id)?;
    if !(1..=255).contains(&id) {
        return Err(bad("extmap", format!("id {id} is not in 1-255")));
    }
    let (uri, extensions) = split_word(rest);
    if uri.is_empty() {
        return Err(bad("extmap", "missing URI"));
    }
    Ok(Extmap {
        id,
        direction,
        uri: uri.to_string(),
        extensions: non_empty(extensions),
    })
}

fn parse_simulcast(v: &str) -> Result<Simulcast, SdpErrorKind> {
    let mut simulcast = Simulcast::default();
    let mut words = v.split_ascii_whitespace();
    let mut seen_send = false;
    let mut seen_recv = false;
    while let Some(dir) = words.next() {
        let (list, seen) = match dir {
            "send" => (&mut simulcast.send, &mut seen_send),
            "recv" => (&mut simulcast.recv, &mut seen_recv),
            other => {
                return Err(bad(
                    "simulcast",
                    format!("direction {} is not send or recv", quote(other)),
                ))
            }
        };
        if std::mem::replace(seen, true) {
            return Err(bad("simulcast", format!("{dir} given twice")));
        }
        let streams = words
            .next()
            .ok_or_else(|| bad("simulcast", format!("{dir} has no stream list")))?;
        for stream in streams.split(';') {
            let alternatives = stream
                .split(',')
                .map(|id| {
                    let (rid, paused) = match id.strip_prefix('~') {
                        Some(rid) => (rid, true),
                        None => (id, false),
                    };
                    if rid.is_empty() || !rid.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
                        return Err(bad("simulcast", format!("rid {} is not alphanumeric", quote(id))));
                    }
                    Ok(SimulcastId {
                        rid: rid.to_string(),
                        paused,
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            list.push(alternatives);
        }
    }
    if !seen_send && !seen_recv {
        return Err(bad("simulcast", "no send or recv list"));
    }
    Ok(simulcast)
}

fn write_list(f: &mut fmt::Formatter<'_>, items: &[String]) -> fmt::Result {
    for item in items {
        write!(f, " {item}")?;
    }
    Ok(())
}

fn write_simulcast_streams(f: &mut fmt::Formatter<'_>, streams: &[Vec<SimulcastId>]) -> fmt::Result {
    for (i, stream) in streams.iter().enumerate() {
        if i > 0 {
            f.write_str(";")?;
        }
        for (j, id) in stream.iter().enumerate() {
            if j > 0 {
                f.write_str(",")?;
            }
            if id.paused {
                f.write_str("~")?;
            }
            f.write_str(&id.rid)?;
        }
    }
    Ok(())
}

impl fmt::Display for Attribute {
    /// Writes the attribute as it follows `a=`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = self.name();
        match self {
            Attribute::IceUfrag(v) | Attribute::IcePwd(v) | Attribute::Mid(v) => write!(f, "{name}:{v}"),
            Attribute::IceOptions(options) => {
                write!(f, "{name}:{}", options.join(" "))
            }
            Attribute::Fingerprint(fp) => write!(f, "{name}:{} {}", fp.algorithm, fp.value),
            Attribute::Setup(s) => write!(f, "{name}:{}", s.as_str()),
            Attribute::Group(g) => {
                write!(f, "{name}:{}", g.semantics)?;
                write_list(f, &g.ids)
            }
            Attribute::Msid(m) => {
                write!(f, "{name}:{}", m.stream_id)?;
                match &m.track_id {
                    Some(t) => write!(f, " {t}"),
                    None => Ok(()),
                }
            }
            Attribute::MsidSemantic(m) => {
                // Chrome's spelling, with a space after the colon.
                write!(f, "{name}: {}", m.semantic)?;
                write_list(f, &m.ids)
            }
            Attribute::Rtcp(r) => match &r.connection {
                Some(c) => write!(f, "{name}:{} {c}", r.port),
                None => write!(f, "{name}:{}", r.port),
            },
            Attribute::Rtpmap(r) => {
                write!(f, "{name}:{} {}/{}", r.payload_type, r.encoding, r.clock_rate)?;
                match r.channels {
                    Some(c) => write!(f, "/{c}"),
                    None => Ok(()),
                }
            }
            Attribute::Fmtp(fmtp) if fmtp.params.is_empty() => write!(f, "{name}:{}", fmtp.payload_type),
            Attribute::Fmtp(fmtp) => write!(f, "{name}:{} {}", fmtp.payload_type, fmtp.params),
            Attribute::RtcpFb(fb) => {
                match fb.payload_type {
                    Some(pt) => write!(f, "{name}:{pt} {}", fb.kind)?,
                    None => write!(f, "{name}:* {}", fb.kind)?,
                }
                match &fb.params {
                    Some(p) => write!(f, " {p}"),
                    None => Ok(()),
                }
            }
            Attribute::Extmap(e) => {
                write!(f, "{name}:{}", e.id)?;
                if let Some(d) = e.direction {
                    write!(f, "/{}", d.as_str())?;
                }
                write!(f, " {}", e.uri)?;
                match &e.extensions {
                    Some(x) => write!(f, " {x}"),
                    None => Ok(()),
                }
            }
            Attribute::Ssrc(s) => {
                write!(f, "{name}:{} {}", s.ssrc, s.name)?;
                match &s.value {
                    Some(v) => write!(f, ":{v}"),
                    None => Ok(()),
                }
            }
            Attribute::SsrcGroup(g) => {
                write!(f, "{name}:{}", g.semantics)?;
                for ssrc in &g.ssrcs {
                    write!(f, " {ssrc}")?;
                }
                Ok(())
            }
            Attribute::Rid(r) => {
                write!(f, "{name}:{} {}", r.id, r.direction.as_str())?;
                match &r.params {
                    Some(p) => write!(f, " {p}"),
                    None => Ok(()),
                }
            }
            Attribute::Simulcast(s) => {
                write!(f, "{name}:")?;
                if !s.send.is_empty() {
                    f.write_str("send ")?;
                    write_simulcast_streams(f, &s.send)?;
                }
                if !s.recv.is_empty() {
                    if !s.send.is_empty() {
                        f.write_str(" ")?;
                    }
                    f.write_str("recv ")?;
                    write_simulcast_streams(f, &s.recv)?;
                }
                Ok(())
            }
            Attribute::SctpPort(p) => write!(f, "{name}:{p}"),
            Attribute::Sctpmap(m) => {
                write!(f, "{name}:{} {}", m.port, m.protocol)?;
                match m.streams {
                    Some(s) => write!(f, " {s}"),
                    None => Ok(()),
                }
            }
            Attribute::MaxMessageSize(s) => write!(f, "{name}:{s}"),
            Attribute::Candidate(c) => c.fmt(f),
            Attribute::IceLite
            | Attribute::RtcpMux
            | Attribute::RtcpMuxOnly
            | Attribute::RtcpRsize
            | Attribute::ExtmapAllowMixed
            | Attribute::EndOfCandidates
            | Attribute::Direction(_)
            | Attribute::BundleOnly => f.write_str(name),
            Attribute::Other { name, value } => match value {
                Some(v) => write!(f, "{name}:{v}"),
                None => f.write_str(name),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(text: &str) -> Attribute {
        let a = Attribute::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(Attribute::parse(&a.to_string()), Ok(a.clone()), "{text}");
        a
    }

    #[test]
    fn parses_typed_webrtc_attributes() {
        assert_eq!(round_trip("ice-ufrag:EsAw"), Attribute::IceUfrag("EsAw".into()));
        assert_eq!(
            round_trip("ice-options:trickle renomination"),
            Attribute::IceOptions(vec!["trickle".into(), "renomination".into()])
        );
        assert_eq!(round_trip("setup:passive"), Attribute::Setup(Setup::Passive));
        assert_eq!(
            round_trip("group:BUNDLE 0 1"),
            Attribute::Group(Group {
                semantics: "BUNDLE".into(),
                ids: vec!["0".into(), "1".into()]
            })
        );
        assert_eq!(
            round_trip("msid:- 7f0a"),
            Attribute::Msid(Msid {
                stream_id: "-".into(),
                track_id: Some("7f0a".into())
            })
        );
        assert_eq!(
            round_trip("rtpmap:111 opus/48000/2"),
            Attribute::Rtpmap(Rtpmap {
                payload_type: 111,
                encoding: "opus".into(),
                clock_rate: 48000,
                channels: Some(2)
            })
        );
        let Attribute::Fmtp(fmtp) = round_trip("fmtp:111 minptime=10; useinbandfec=1") else {
            panic!("not fmtp");
        };
        let params: Vec<_> = fmtp.parameters().collect();
        assert_eq!(params, [("minptime", Some("10")), ("useinbandfec", Some("1"))]);
        assert_eq!(
            round_trip("rtcp-fb:* transport-cc"),
            Attribute::RtcpFb(RtcpFb {
                payload_type: None,
                kind: "transport-cc".into(),
                params: None
            })
        );
        assert_eq!(
            round_trip("extmap:2/recvonly urn:ietf:params:rtp-hdrext:csrc-audio-level vad"),
            Attribute::Extmap(Extmap {
                id: 2,
                direction: Some(Direction::RecvOnly),
                uri: "urn:ietf:params:rtp-hdrext:csrc-audio-level".into(),
                extensions: Some("vad".into())
            })
        );
        assert_eq!(
            round_trip("ssrc:3735928559 msid:stream track"),
            Attribute::Ssrc(Ssrc {
                ssrc: 3735928559,
                name: "msid".into(),
                value: Some("stream track".into())
            })
        );
        assert_eq!(
            round_trip("simulcast:recv a,~b;c send d"),
            Attribute::Simulcast(Simulcast {
                send: vec![vec![SimulcastId {
                    rid: "d".into(),
                    paused: false
                }]],
                recv: vec![
                    vec![
                        SimulcastId {
                            rid: "a".into(),
                            paused: false
                        },
                        SimulcastId {
                            rid: "b".into(),
                            paused: true
                        }
                    ],
                    vec![SimulcastId {
                        rid: "c".into(),
                        paused: false
                    }]
                ],
            })
        );
        assert_eq!(
            round_trip("sctpmap:5000 webrtc-datachannel 1024"),
            Attribute::Sctpmap(Sctpmap {
                port: 5000,
                protocol: "webrtc-datachannel".into(),
                streams: Some(1024)
            })
        );
        assert_eq!(round_trip("max-message-size:262144"), Attribute::MaxMessageSize(262144));
        assert_eq!(round_trip("recvonly"), Attribute::Direction(Direction::RecvOnly));
        assert!(matches!(
            round_trip("candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host"),
            Attribute::Candidate(c) if c.port == 5000
        ));
        assert_eq!(
            round_trip("msid-semantic:WMS *"),
            Attribute::MsidSemantic(MsidSemantic {
                semantic: "WMS".into(),
                ids: vec!["*".into()]
            })
        );
    }

    #[test]
    fn unknown_attributes_are_kept_verbatim() {
        assert_eq!(
            round_trip("goo:hi there "),
            Attribute::Other {
                name: "goo".into(),
                value: Some("hi there ".into())
            }
        );
        assert_eq!(
            round_trip("x-google-flag"),
            Attribute::Other {
                name: "x-google-flag".into(),
                value: None
            }
        );
        // Names are case-sensitive: this is not a=candidate.
        assert!(matches!(round_trip("Candidate:foo"), Attribute::Other { .. }));
    }

    #[test]
    fn tolerates_negative_ssrcs() {
        let Attribute::SsrcGroup(g) = round_trip("ssrc-group:FID -1 -2147483648") else {
            panic!("not ssrc-group");
        };
        assert_eq!(g.ssrcs, [u32::MAX, 1 << 31]);
        assert!(Attribute::parse("ssrc:-2147483649 cname:x").is_err());
    }

    #[test]
    fn rejects_values_that_break_the_grammar() {
        for (text, name) in [
            (
                "fingerprint:md5 4A:AD:B9:B1:3F:82:18:3B:54:02:12:DF:3E:5D:49:6B",
                "fingerprint",
            ),
            ("fingerprint:sha-256 4A:AD", "fingerprint"),
            (
                "fingerprint:sha-1 4A:AD:B9:B1:3F:82:18:3B:54:02:12:DF:3E:5D:49:6B:00:00:00:0G",
                "fingerprint",
            ),
            ("setup:both", "setup"),
            ("rtpmap:128 foo/8000", "rtpmap"),
            ("rtpmap:96 VP8", "rtpmap"),
            ("rtpmap:96 VP8/+90000", "rtpmap"),
            ("fmtp:x apt=96", "fmtp"),
            ("extmap:0 urn:x", "extmap"),
            ("extmap:1/sideways urn:x", "extmap"),
            ("rid:f both", "rid"),
            ("simulcast:send", "simulcast"),
            ("simulcast:send a recv b send c", "simulcast"),
            ("ssrc-group:SIM 1 2 3 4", "ssrc-group"),
            ("ssrc-group:FID", "ssrc-group"),
            ("sctp-port:65536", "sctp-port"),
            ("max-message-size:-1", "max-message-size"),
            ("rtcp-mux:yes", "rtcp-mux"),
            ("ice-ufrag:", "ice-ufrag"),
            ("mid", "mid"),
            ("rtcp:9 IN IP7 x", "rtcp"),
        ] {
            match Attribute::parse(text) {
                Err(SdpErrorKind::InvalidAttribute { name: got, .. }) => assert_eq!(got, name, "{text}"),
                other => panic!("{text}: expected an a={name} error, got {other:?}"),
            }
        }
        assert!(matches!(
            Attribute::parse("candidate:1 1 udp 1 1.2.3.4 5 typ bogus"),
            Err(SdpErrorKind::Candidate(_))
        ));
        assert!(matches!(
            Attribute::parse("=x"),
            Err(SdpErrorKind::InvalidField {
                field: "attribute name",
                ..
            })
        ));
    }
}
