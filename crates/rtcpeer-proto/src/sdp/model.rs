//! The session description model: sessions, media sections and their lines.

use std::fmt;

use super::attribute::{Attribute, Direction, Fingerprint, Group, Setup};
use super::error::quote;
use crate::ice::Candidate;

/// `o=<username> <sess-id> <sess-version> <nettype> <addrtype> <address>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// The user name (`-` when there is none).
    pub username: String,
    /// The session id (at most 64 bits here).
    pub session_id: u64,
    /// The session version, incremented on every change.
    pub session_version: u64,
    /// The origin's address.
    pub connection: Connection,
}

/// `c=<nettype> <addrtype> <address>` (also the tail of `o=` and `a=rtcp`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    /// Always `IN` here.
    pub network_type: String,
    /// `IP4` or `IP6`.
    pub address_type: String,
    /// The address as written (an IP, a name, or a multicast `addr/ttl/count`).
    pub address: String,
}

impl Connection {
    /// An `IN IP4`/`IN IP6` connection for an IP address.
    pub fn ip(ip: std::net::IpAddr) -> Connection {
        Connection {
            network_type: "IN".to_string(),
            address_type: if ip.is_ipv4() { "IP4" } else { "IP6" }.to_string(),
            address: ip.to_string(),
        }
    }

    /// Parses `<nettype> <addrtype> <address>`; the error says what was wrong.
    pub(crate) fn parse(s: &str) -> Result<Connection, String> {
        let mut words = s.split_ascii_whitespace();
        let (Some(net), Some(addr_type), Some(address), None) =
            (words.next(), words.next(), words.next(), words.next())
        else {
            return Err(format!("{} is not <nettype> <addrtype> <address>", quote(s)));
        };
        if net != "IN" {
            return Err(format!("network type {} is not IN", quote(net)));
        }
        if addr_type != "IP4" && addr_type != "IP6" {
            return Err(format!("address type {} is not IP4 or IP6", quote(addr_type)));
        }
        let valid = address
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._:/%".contains(&b));
        if !valid {
            return Err(format!("address {} has invalid characters", quote(address)));
        }
        Ok(Connection {
            network_type: net.to_string(),
            address_type: addr_type.to_string(),
            address: address.to_string(),
        })
    }
}

impl fmt::Display for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.network_type, self.address_type, self.address)
    }
}

/// `b=<bwtype>:<bandwidth>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bandwidth {
    /// `AS`, `TIAS`, `CT`, ...
    pub kind: String,
    /// The value (kbit/s for `AS`, bit/s for `TIAS`).
    pub value: u64,
}

/// A `t=` line with the `r=` and `z=` lines that follow it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timing {
    /// Start time (NTP seconds, 0 for unbounded).
    pub start: u64,
    /// Stop time (NTP seconds, 0 for unbounded).
    pub stop: u64,
    /// The `r=` lines, verbatim.
    pub repeats: Vec<String>,
    /// The `z=` line, verbatim.
    pub zone_adjustments: Option<String>,
}

/// The media type of an `m=` line.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum MediaKind {
    /// `audio`.
    Audio,
    /// `video`.
    Video,
    /// `application` (data channels).
    Application,
    /// Any other token, as written.
    Other(String),
}

impl MediaKind {
    /// The SDP token.
    pub fn as_str(&self) -> &str {
        match self {
            MediaKind::Audio => "audio",
            MediaKind::Video => "video",
            MediaKind::Application => "application",
            MediaKind::Other(s) => s,
        }
    }

    pub(crate) fn from_token(s: &str) -> MediaKind {
        match s {
            "audio" => MediaKind::Audio,
            "video" => MediaKind::Video,
            "application" => MediaKind::Application,
            other => MediaKind::Other(other.to_string()),
        }
    }
}

impl fmt::Display for MediaKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A whole session description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionDescription {
    /// `v=`: always 0.
    pub version: u8,
    /// `o=`.
    pub origin: Origin,
    /// `s=` (`-` in WebRTC).
    pub session_name: String,
    /// `i=`.
    pub session_information: Option<String>,
    /// `u=`.
    pub uri: Option<String>,
    /// `e=` lines.
    pub emails: Vec<String>,
    /// `p=` lines.
    pub phones: Vec<String>,
    /// Session-level `c=`.
    pub connection: Option<Connection>,
    /// Session-level `b=` lines.
    pub bandwidths: Vec<Bandwidth>,
    /// `t=` lines with their `r=`/`z=` lines (at least one).
    pub timings: Vec<Timing>,
    /// Session-level `k=` (obsolete, kept).
    pub key: Option<String>,
    /// Session-level attributes, in order.
    pub attributes: Vec<Attribute>,
    /// The media sections, in order.
    pub media: Vec<MediaDescription>,
}

/// One media section: an `m=` line and the lines under it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaDescription {
    /// The media type.
    pub media: MediaKind,
    /// The port (9 is the WebRTC "discard" placeholder, 0 rejects the section).
    pub port: u16,
    /// The `/<count>` after the port, if given.
    pub port_count: Option<u16>,
    /// The transport protocol (`UDP/TLS/RTP/SAVPF`, `UDP/DTLS/SCTP`, ...).
    pub protocol: String,
    /// The formats: payload types for RTP, `webrtc-datachannel` for data.
    pub formats: Vec<String>,
    /// `i=`.
    pub title: Option<String>,
    /// `c=` lines.
    pub connections: Vec<Connection>,
    /// `b=` lines.
    pub bandwidths: Vec<Bandwidth>,
    /// `k=` (obsolete, kept).
    pub key: Option<String>,
    /// The attributes, in order.
    pub attributes: Vec<Attribute>,
}

impl SessionDescription {
    /// An empty WebRTC-style description: `v=0`, `o=- <id> <version> IN IP4 127.0.0.1`, `s=-`, `t=0 0`.
    pub fn new(session_id: u64, session_version: u64) -> SessionDescription {
        SessionDescription {
            version: 0,
            origin: Origin {
                username: "-".to_string(),
                session_id,
                session_version,
                connection: Connection::ip(std::net::Ipv4Addr::LOCALHOST.into()),
            },
            session_name: "-".to_string(),
            session_information: None,
            uri: None,
            emails: Vec::new(),
            phones: Vec::new(),
            connection: None,
            bandwidths: Vec::new(),
            timings: vec![Timing {
                start: 0,
                stop: 0,
                repeats: Vec::new(),
                zone_adjustments: None,
            }],
            key: None,
            attributes: Vec::new(),
            media: Vec::new(),
        }
    }

    /// Appends a session-level attribute.
    pub fn push_attribute(&mut self, attribute: Attribute) -> &mut Self {
        self.attributes.push(attribute);
        self
    }

    /// Appends a media section.
    pub fn push_media(&mut self, media: MediaDescription) -> &mut Self {
        self.media.push(media);
        self
    }

    /// The `a=group:BUNDLE` groups.
    pub fn bundle_groups(&self) -> impl Iterator<Item = &Group> {
        self.attributes.iter().filter_map(|a| match a {
            Attribute::Group(g) if g.semantics == "BUNDLE" => Some(g),
            _ => None,
        })
    }

    /// Whether the session has `a=ice-lite`.
    pub fn is_ice_lite(&self) -> bool {
        self.attributes.iter().any(|a| matches!(a, Attribute::IceLite))
    }

    /// The media sections, each with the session-level fallbacks of RFC 8839/8842.
    pub fn media_sections(&self) -> impl Iterator<Item = MediaSection<'_>> {
        self.media.iter().map(move |description| MediaSection {
            session: self,
            description,
        })
    }

    /// The media section whose `a=mid` is `mid`.
    pub fn media_by_mid(&self, mid: &str) -> Option<MediaSection<'_>> {
        self.media_sections().find(|m| m.description.mid() == Some(mid))
    }

    fn session_ice_ufrag(&self) -> Option<&str> {
        find_str(&self.attributes, |a| match a {
            Attribute::IceUfrag(u) => Some(u),
            _ => None,
        })
    }

    fn session_ice_pwd(&self) -> Option<&str> {
        find_str(&self.attributes, |a| match a {
            Attribute::IcePwd(p) => Some(p),
            _ => None,
        })
    }

    fn session_setup(&self) -> Option<Setup> {
        self.attributes.iter().find_map(|a| match a {
            Attribute::Setup(s) => Some(*s),
            _ => None,
        })
    }
}

fn find_str<'a>(attributes: &'a [Attribute], pick: impl Fn(&'a Attribute) -> Option<&'a String>) -> Option<&'a str> {
    attributes.iter().find_map(pick).map(String::as_str)
}

impl MediaDescription {
    /// A media section with no attributes yet.
    pub fn new(media: MediaKind, port: u16, protocol: &str, formats: Vec<String>) -> MediaDescription {
        MediaDescription {
            media,
            port,
            port_count: None,
            protocol: protocol.to_string(),
            formats,
            title: None,
            connections: Vec::new(),
            bandwidths: Vec::new(),
            key: None,
            attributes: Vec::new(),
        }
    }

    /// Appends an attribute.
    pub fn push_attribute(&mut self, attribute: Attribute) -> &mut Self {
        self.attributes.push(attribute);
        self
    }

    /// `a=mid`.
    pub fn mid(&self) -> Option<&str> {
        find_str(&self.attributes, |a| match a {
            Attribute::Mid(m) => Some(m),
            _ => None,
        })
    }

    /// The media-level `a=ice-ufrag` (see [`MediaSection::ice_ufrag`] for the session fallback).
    pub fn ice_ufrag(&self) -> Option<&str> {
        find_str(&self.attributes, |a| match a {
            Attribute::IceUfrag(u) => Some(u),
            _ => None,
        })
    }

    /// The media-level `a=ice-pwd` (see [`MediaSection::ice_pwd`] for the session fallback).
    pub fn ice_pwd(&self) -> Option<&str> {
        find_str(&self.attributes, |a| match a {
            Attribute::IcePwd(p) => Some(p),
            _ => None,
        })
    }

    /// The media-level `a=ice-options` tokens, from every such line.
    pub fn ice_options(&self) -> Vec<&str> {
        ice_options(&self.attributes)
    }

    /// The media-level `a=fingerprint` lines.
    pub fn fingerprints(&self) -> Vec<&Fingerprint> {
        fingerprints(&self.attributes)
    }

    /// The media-level `a=setup`.
    pub fn setup(&self) -> Option<Setup> {
        self.attributes.iter().find_map(|a| match a {
            Attribute::Setup(s) => Some(*s),
            _ => None,
        })
    }

    /// The `a=candidate` lines.
    pub fn candidates(&self) -> impl Iterator<Item = &Candidate> {
        self.attributes.iter().filter_map(|a| match a {
            Attribute::Candidate(c) => Some(c),
            _ => None,
        })
    }

    /// Whether `a=end-of-candidates` is present.
    pub fn end_of_candidates(&self) -> bool {
        self.attributes.iter().any(|a| matches!(a, Attribute::EndOfCandidates))
    }

    /// The SCTP port: `a=sctp-port`, else the legacy `a=sctpmap` port, else
    /// (for the legacy `DTLS/SCTP <port>` m-line) the numeric format.
    pub fn sctp_port(&self) -> Option<u16> {
        let explicit = self.attributes.iter().find_map(|a| match a {
            Attribute::SctpPort(p) => Some(*p),
            Attribute::Sctpmap(m) => Some(m.port),
            _ => None,
        });
        explicit.or_else(|| {
            if self.is_data_channel() && self.protocol == "DTLS/SCTP" {
                self.formats.first().and_then(|f| f.parse().ok())
            } else {
                None
            }
        })
    }

    /// `a=max-message-size`.
    pub fn max_message_size(&self) -> Option<u64> {
        self.attributes.iter().find_map(|a| match a {
            Attribute::MaxMessageSize(s) => Some(*s),
            _ => None,
        })
    }

    /// The direction attribute, `sendrecv` when there is none (RFC 3264 §5.1).
    pub fn direction(&self) -> Direction {
        self.attributes
            .iter()
            .find_map(|a| match a {
                Attribute::Direction(d) => Some(*d),
                _ => None,
            })
            .unwrap_or(Direction::SendRecv)
    }

    /// Whether this is a data-channel section: `m=application` over
    /// `UDP/DTLS/SCTP`, `TCP/DTLS/SCTP` or the legacy `DTLS/SCTP`.
    pub fn is_data_channel(&self) -> bool {
        self.media == MediaKind::Application
            && matches!(self.protocol.as_str(), "UDP/DTLS/SCTP" | "TCP/DTLS/SCTP" | "DTLS/SCTP")
    }

    /// Whether `a=bundle-only` is present.
    pub fn is_bundle_only(&self) -> bool {
        self.attributes.iter().any(|a| matches!(a, Attribute::BundleOnly))
    }

    /// Whether the section is rejected: port 0 without `a=bundle-only`.
    pub fn is_rejected(&self) -> bool {
        self.port == 0 && !self.is_bundle_only()
    }

    /// Whether the protocol carries RTP (`RTP/AVP`, `UDP/TLS/RTP/SAVPF`, ...).
    pub fn is_rtp(&self) -> bool {
        self.protocol.split('/').any(|t| t == "RTP")
    }
}

fn ice_options(attributes: &[Attribute]) -> Vec<&str> {
    attributes
        .iter()
        .filter_map(|a| match a {
            Attribute::IceOptions(o) => Some(o.iter().map(String::as_str)),
            _ => None,
        })
        .flatten()
        .collect()
}

fn fingerprints(attributes: &[Attribute]) -> Vec<&Fingerprint> {
    attributes
        .iter()
        .filter_map(|a| match a {
            Attribute::Fingerprint(f) => Some(f),
            _ => None,
        })
        .collect()
}

/// A media section seen together with its session, so that the attributes
/// RFC 8839 and RFC 8842 allow at session level fall back to it
/// (`ice-ufrag`, `ice-pwd`, `ice-options`, `fingerprint`, `setup`).
#[derive(Debug, Clone, Copy)]
pub struct MediaSection<'a> {
    /// The session the section belongs to.
    pub session: &'a SessionDescription,
    /// The section itself.
    pub description: &'a MediaDescription,
}

impl<'a> MediaSection<'a> {
    /// `a=ice-ufrag`, media level first, then session level.
    pub fn ice_ufrag(&self) -> Option<&'a str> {
        self.description
            .ice_ufrag()
            .or_else(|| self.session.session_ice_ufrag())
    }

    /// `a=ice-pwd`, media level first, then session level.
    pub fn ice_pwd(&self) -> Option<&'a str> {
        self.description.ice_pwd().or_else(|| self.session.session_ice_pwd())
    }

    /// `a=ice-options`: the media-level tokens, or the session-level ones when the section has none.
    pub fn ice_options(&self) -> Vec<&'a str> {
        let media = self.description.ice_options();
        if media.is_empty() {
            ice_options(&self.session.attributes)
        } else {
            media
        }
    }

    /// `a=fingerprint`: the media-level lines, or the session-level ones when the section has none.
    pub fn fingerprints(&self) -> Vec<&'a Fingerprint> {
        let media = self.description.fingerprints();
        if media.is_empty() {
            fingerprints(&self.session.attributes)
        } else {
            media
        }
    }

    /// `a=setup`, media level first, then session level.
    pub fn setup(&self) -> Option<Setup> {
        self.description.setup().or_else(|| self.session.session_setup())
    }
}

impl std::ops::Deref for MediaSection<'_> {
    type Target = MediaDescription;
    fn deref(&self) -> &MediaDescription {
        self.description
    }
}
