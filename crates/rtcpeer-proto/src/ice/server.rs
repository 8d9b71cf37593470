//! ICE server URLs (`stun:`, `stuns:` of RFC 7064, `turn:`, `turns:` of RFC 7065) and the
//! `iceServers` validation of W3C webrtc-pc §4.4.1.
//!
//! [`IceServerUrl::parse`] follows the browser's "validate an ICE server URL": the URL must have
//! one of the four schemes and an opaque path (`stun://…` is refused), no fragment, no query for
//! STUN and only `transport=udp` or `transport=tcp` for TURN; the path is then parsed as the host
//! and port of an `https:` URL (WHATWG URL standard): percent-decoded, ASCII-lowercased,
//! forbidden code points refused, IPv4 numbers in decimal/octal/hex, `[IPv6]` literals,
//! internationalized names converted to Punycode, a port of digits up to 65535 (empty means the
//! default). Not implemented from UTS 46: the Unicode mapping and normalization tables (only
//! lowercasing is applied to non-ASCII labels; `xn--` labels that decode to characters of the
//! compatibility blocks are refused, as a mapping-table stand-in) and the bidi/joiner rules.
//!
//! [`validate_ice_servers`] checks a whole `iceServers` list: `SyntaxError` for an unparsable
//! URL or an empty `urls`, `InvalidAccessError` for a `turn:`/`turns:` URL without username or
//! credential (empty strings are accepted), as browsers do.

mod punycode;

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::peer::RtcError;

/// The URL scheme: which protocol, and whether over TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IceServerScheme {
    /// `stun:` (RFC 7064).
    Stun,
    /// `stuns:`, STUN over TLS (RFC 7064).
    Stuns,
    /// `turn:` (RFC 7065).
    Turn,
    /// `turns:`, TURN over TLS (RFC 7065).
    Turns,
}

impl IceServerScheme {
    /// The scheme as written in a URL.
    pub fn as_str(self) -> &'static str {
        match self {
            IceServerScheme::Stun => "stun",
            IceServerScheme::Stuns => "stuns",
            IceServerScheme::Turn => "turn",
            IceServerScheme::Turns => "turns",
        }
    }

    /// Whether this is a TURN server (credentials required).
    pub fn is_turn(self) -> bool {
        matches!(self, IceServerScheme::Turn | IceServerScheme::Turns)
    }

    /// Whether the connection is secured with TLS (`stuns:`, `turns:`).
    pub fn is_secure(self) -> bool {
        matches!(self, IceServerScheme::Stuns | IceServerScheme::Turns)
    }

    /// The default port: 3478, or 5349 over TLS.
    pub fn default_port(self) -> u16 {
        if self.is_secure() {
            5349
        } else {
            3478
        }
    }
}

/// The transport to reach the server with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IceServerTransport {
    /// UDP (the default of `stun:` and `turn:`).
    Udp,
    /// TCP, or TLS over TCP for `stuns:`/`turns:` (their default).
    Tcp,
}

/// The server's host: an IP address or an (ASCII, lowercase) DNS name to resolve.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum IceServerHost {
    /// An IPv4 address or a bracketed IPv6 literal.
    Ip(IpAddr),
    /// A DNS name, ASCII lowercase, internationalized labels as `xn--` Punycode.
    Domain(String),
}

impl fmt::Display for IceServerHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IceServerHost::Ip(IpAddr::V6(ip)) => write!(f, "[{ip}]"),
            IceServerHost::Ip(ip) => write!(f, "{ip}"),
            IceServerHost::Domain(d) => f.write_str(d),
        }
    }
}

/// A parsed ICE server URL.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IceServerUrl {
    /// `stun`, `stuns`, `turn` or `turns`.
    pub scheme: IceServerScheme,
    /// The host.
    pub host: IceServerHost,
    /// The port (the scheme's default if the URL has none).
    pub port: u16,
    /// The transport: `?transport=` for TURN, otherwise UDP for `stun:`, TCP for `stuns:`.
    pub transport: IceServerTransport,
}

/// Why a string is not an ICE server URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IceServerUrlError {
    /// No `scheme:` at the start.
    #[error("no scheme: an ICE server URL starts with stun:, stuns:, turn: or turns:")]
    NoScheme,
    /// A scheme other than the four.
    #[error("scheme {0:?} is not stun, stuns, turn or turns")]
    UnsupportedScheme(String),
    /// `scheme://…`: ICE server URLs have no authority and no path.
    #[error("an ICE server URL has no \"//\" after the scheme")]
    NotOpaque,
    /// A `#fragment`.
    #[error("an ICE server URL has no fragment")]
    Fragment,
    /// A query on a STUN URL, or a TURN query other than `transport=udp|tcp`.
    #[error("query {0:?} is not allowed (only transport=udp or transport=tcp on turn/turns)")]
    Query(String),
    /// `user@` before the host.
    #[error("an ICE server URL has no user information")]
    UserInfo,
    /// A `/` path after the host and port.
    #[error("an ICE server URL has no path after the host")]
    Path,
    /// Nothing where the host should be.
    #[error("the host is empty")]
    EmptyHost,
    /// A bracketed IPv6 literal that does not parse.
    #[error("invalid IPv6 literal {0:?}")]
    InvalidIpv6(String),
    /// A host that ends in a number but is not a valid IPv4 address.
    #[error("invalid IPv4 address {0:?}")]
    InvalidIpv4(String),
    /// A code point that may not appear in a host.
    #[error("host contains the forbidden code point {0:?}")]
    ForbiddenCodePoint(char),
    /// Percent-decoding gave bytes that are not UTF-8.
    #[error("the percent-decoded host is not UTF-8")]
    InvalidPercentEncoding,
    /// A label that is not valid Punycode (`xn--…`) or cannot be encoded.
    #[error("invalid internationalized label {0:?}")]
    InvalidPunycode(String),
    /// A port that is not digits or exceeds 65535.
    #[error("invalid port {0:?}")]
    InvalidPort(String),
}

impl IceServerUrl {
    /// Parses an ICE server URL as browsers do (see the module documentation).
    pub fn parse(input: &str) -> Result<IceServerUrl, IceServerUrlError> {
        // The URL parser strips leading/trailing C0 controls and spaces, and tabs/newlines anywhere.
        let trimmed = input.trim_matches(|c: char| c <= ' ');
        let cleaned: String = trimmed.chars().filter(|c| !matches!(c, '\t' | '\n' | '\r')).collect();
        let (scheme, rest) = cleaned.split_once(':').ok_or(IceServerUrlError::NoScheme)?;
        let valid_scheme = scheme.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
        if !valid_scheme {
            return Err(IceServerUrlError::NoScheme);
        }
        let scheme = match scheme.to_ascii_lowercase().as_str() {
            "stun" => IceServerScheme::Stun,
            "stuns" => IceServerScheme::Stuns,
            "turn" => IceServerScheme::Turn,
            "turns" => IceServerScheme::Turns,
            other => return Err(IceServerUrlError::UnsupportedScheme(other.to_string())),
        };
        if rest.starts_with('/') {
            return Err(IceServerUrlError::NotOpaque);
        }
        if rest.contains('#') {
            return Err(IceServerUrlError::Fragment);
        }
        let (path, query) = match rest.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (rest, None),
        };
        let transport = match (scheme.is_turn(), query) {
            (_, None) if scheme.is_secure() => IceServerTransport::Tcp,
            (_, None) => IceServerTransport::Udp,
            (true, Some("transport=udp")) => IceServerTransport::Udp,
            (true, Some("transport=tcp")) => IceServerTransport::Tcp,
            (_, Some(q)) => return Err(IceServerUrlError::Query(q.to_string())),
        };
        let (host, port) = parse_host_and_port(path)?;
        Ok(IceServerUrl {
            scheme,
            host,
            port: port.unwrap_or(scheme.default_port()),
            transport,
        })
    }

    /// The socket address, if the host is an IP address (a DNS name must be resolved first).
    pub fn socket_addr(&self) -> Option<SocketAddr> {
        match self.host {
            IceServerHost::Ip(ip) => Some(SocketAddr::new(ip, self.port)),
            IceServerHost::Domain(_) => None,
        }
    }
}

impl std::str::FromStr for IceServerUrl {
    type Err = IceServerUrlError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        IceServerUrl::parse(s)
    }
}

impl fmt::Display for IceServerUrl {
    /// The canonical form, with the port always written and `?transport=` on TURN URLs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.scheme.as_str(), self.host, self.port)?;
        if self.scheme.is_turn() {
            let t = match self.transport {
                IceServerTransport::Udp => "udp",
                IceServerTransport::Tcp => "tcp",
            };
            write!(f, "?transport={t}")?;
        }
        Ok(())
    }
}

/// Splits `host[:port]` (the path of the URL) as an `https:` authority would be parsed.
fn parse_host_and_port(path: &str) -> Result<(IceServerHost, Option<u16>), IceServerUrlError> {
    let end = path.find(['/', '\\']).unwrap_or(path.len());
    if end != path.len() {
        return Err(IceServerUrlError::Path);
    }
    if path.contains('@') {
        return Err(IceServerUrlError::UserInfo);
    }
    let (host, port) = if let Some(inner) = path.strip_prefix('[') {
        let (literal, after) = inner
            .split_once(']')
            .ok_or_else(|| IceServerUrlError::InvalidIpv6(path.to_string()))?;
        let ip: Ipv6Addr = literal
            .parse()
            .map_err(|_| IceServerUrlError::InvalidIpv6(literal.to_string()))?;
        let port = match after {
            "" => None,
            _ => Some(
                after
                    .strip_prefix(':')
                    .ok_or_else(|| IceServerUrlError::InvalidIpv6(path.to_string()))?,
            ),
        };
        (IceServerHost::Ip(IpAddr::V6(ip)), port)
    } else {
        let (host, port) = match path.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (path, None),
        };
        (parse_host(host)?, port)
    };
    let port = match port {
        None | Some("") => None,
        Some(p) => Some(parse_port(p)?),
    };
    Ok((host, port))
}

fn parse_port(p: &str) -> Result<u16, IceServerUrlError> {
    let invalid = || IceServerUrlError::InvalidPort(p.to_string());
    if !p.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid());
    }
    let digits = p.trim_start_matches('0');
    if digits.is_empty() {
        return Ok(0);
    }
    if digits.len() > 5 {
        return Err(invalid());
    }
    digits.parse::<u16>().map_err(|_| invalid())
}

/// The WHATWG host parser for a special scheme, without the UTS 46 mapping tables.
fn parse_host(raw: &str) -> Result<IceServerHost, IceServerUrlError> {
    if raw.is_empty() {
        return Err(IceServerUrlError::EmptyHost);
    }
    let decoded =
        String::from_utf8(percent_decode(raw.as_bytes())).map_err(|_| IceServerUrlError::InvalidPercentEncoding)?;
    let mut labels = Vec::new();
    for label in decoded.split(['.', '\u{3002}', '\u{FF0E}', '\u{FF61}']) {
        labels.push(to_ascii_label(label)?);
    }
    let ascii = labels.join(".");
    if ascii.is_empty() {
        return Err(IceServerUrlError::EmptyHost);
    }
    if let Some(c) = ascii.chars().find(|&c| is_forbidden_domain_code_point(c)) {
        return Err(IceServerUrlError::ForbiddenCodePoint(c));
    }
    if ends_in_a_number(&ascii) {
        return parse_ipv4(&ascii)
            .map(|ip| IceServerHost::Ip(IpAddr::V4(ip)))
            .ok_or(IceServerUrlError::InvalidIpv4(ascii));
    }
    Ok(IceServerHost::Domain(ascii))
}

/// One label to ASCII: lowercased; non-ASCII labels Punycode-encoded; `xn--` labels checked.
fn to_ascii_label(label: &str) -> Result<String, IceServerUrlError> {
    if let Some(c) = label.chars().find(|&c| is_forbidden_domain_code_point(c)) {
        return Err(IceServerUrlError::ForbiddenCodePoint(c));
    }
    let invalid = || IceServerUrlError::InvalidPunycode(label.to_string());
    let lower = label.to_lowercase();
    let ascii = if lower.is_ascii() {
        lower
    } else {
        format!("xn--{}", punycode::encode(&lower).ok_or_else(invalid)?)
    };
    // What we produce must pass the same check as what we are given, so a printed URL parses back.
    if let Some(encoded) = ascii.strip_prefix("xn--") {
        if !is_valid_punycode_label(encoded) {
            return Err(invalid());
        }
    }
    Ok(ascii)
}

/// Whether the text after `xn--` is a label a browser could have produced: it decodes to
/// something non-ASCII, already lowercase, that encodes back to the same text and has no
/// character a host may not contain or that UTS 46 would map to something else.
fn is_valid_punycode_label(encoded: &str) -> bool {
    let Some(unicode) = punycode::decode(encoded) else {
        return false;
    };
    !unicode.is_empty()
        && !unicode.is_ascii()
        && unicode.to_lowercase() == unicode
        && punycode::encode(&unicode).as_deref() == Some(encoded)
        && !unicode
            .chars()
            .any(|c| is_forbidden_domain_code_point(c) || c.is_control() || is_compatibility_form(c))
}

/// Code points of the compatibility blocks, which UTS 46 maps to other text (circled and
/// parenthesized numbers and letters, CJK compatibility forms, full/half-width forms, number forms,
/// mathematical alphanumerics). A browser never produces them inside an `xn--` label, so such a
/// label is invalid. This stands in for UTS 46's mapping table, which we do not carry.
fn is_compatibility_form(c: char) -> bool {
    matches!(
        u32::from(c),
        0x2150..=0x218F | 0x2460..=0x24FF | 0x3200..=0x33FF | 0xF900..=0xFAFF | 0xFF00..=0xFFEF | 0x1D400..=0x1D7FF
    )
}

fn percent_decode(input: &[u8]) -> Vec<u8> {
    let hex = |b: u8| char::from(b).to_digit(16).and_then(|d| u8::try_from(d).ok());
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while let Some(&b) = input.get(i) {
        if b == b'%' {
            if let (Some(h), Some(l)) = (
                input.get(i + 1).copied().and_then(hex),
                input.get(i + 2).copied().and_then(hex),
            ) {
                out.push(h << 4 | l);
                i += 3;
                continue;
            }
        }
        out.push(b);
        i += 1;
    }
    out
}

/// Forbidden domain code points of the URL standard (a lone `%` included).
fn is_forbidden_domain_code_point(c: char) -> bool {
    matches!(
        c,
        '\0'..='\u{1F}' | ' ' | '#' | '/' | ':' | '<' | '>' | '?' | '@' | '[' | '\\' | ']' | '^' | '|' | '%' | '\u{7F}'
    )
}

/// Whether the last label (ignoring one trailing empty label) is a number, so the host must be IPv4.
fn ends_in_a_number(host: &str) -> bool {
    let mut labels: Vec<&str> = host.split('.').collect();
    if labels.last() == Some(&"") && labels.len() > 1 {
        labels.pop();
    }
    let Some(last) = labels.last() else {
        return false;
    };
    (!last.is_empty() && last.bytes().all(|b| b.is_ascii_digit())) || parse_ipv4_number(last).is_some()
}

/// A WHATWG IPv4 part: decimal, `0x` hex or leading-zero octal.
fn parse_ipv4_number(part: &str) -> Option<u64> {
    if part.is_empty() {
        return None;
    }
    let (digits, radix) = if let Some(h) = part.strip_prefix("0x").or_else(|| part.strip_prefix("0X")) {
        (h, 16)
    } else if part.len() > 1 && part.starts_with('0') {
        (&part[1..], 8)
    } else {
        (part, 10)
    };
    if digits.is_empty() {
        return Some(0);
    }
    if !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    // Anything longer than 20 digits overflows; treat it as too large rather than failing to parse.
    Some(u64::from_str_radix(digits, radix).unwrap_or(u64::MAX))
}

fn parse_ipv4(host: &str) -> Option<Ipv4Addr> {
    let mut parts: Vec<&str> = host.split('.').collect();
    if parts.last() == Some(&"") && parts.len() > 1 {
        parts.pop();
    }
    if parts.len() > 4 {
        return None;
    }
    let numbers: Vec<u64> = parts.iter().map(|p| parse_ipv4_number(p)).collect::<Option<_>>()?;
    let (last, init) = numbers.split_last()?;
    if init.iter().any(|&n| n > 255) {
        return None;
    }
    let limit = 256u64.pow(5 - u32::try_from(numbers.len()).ok()?);
    if *last >= limit {
        return None;
    }
    let mut address = *last;
    for (i, n) in init.iter().enumerate() {
        address += n * 256u64.pow(3 - u32::try_from(i).ok()?);
    }
    u32::try_from(address).ok().map(Ipv4Addr::from)
}

/// One `RTCIceServer` entry as the application gives it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IceServer {
    /// The server's URLs (a single string in JavaScript becomes a one-element list).
    pub urls: Vec<String>,
    /// The TURN username.
    pub username: Option<String>,
    /// The TURN credential (password).
    pub credential: Option<String>,
}

/// An [`IceServer`] whose URLs parsed and whose credentials are present where needed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidIceServer {
    /// The parsed URLs, in the given order.
    pub urls: Vec<IceServerUrl>,
    /// The TURN username.
    pub username: Option<String>,
    /// The TURN credential.
    pub credential: Option<String>,
}

/// Validates an `iceServers` list as `new RTCPeerConnection` and `setConfiguration` do:
/// an empty `urls` or an unparsable URL is a `SyntaxError`; a `turn:`/`turns:` URL in an entry
/// without `username` or `credential` is an `InvalidAccessError`. The first error wins.
pub fn validate_ice_servers(servers: &[IceServer]) -> Result<Vec<ValidIceServer>, RtcError> {
    servers
        .iter()
        .map(|server| {
            if server.urls.is_empty() {
                return Err(RtcError::Syntax("an ICE server has an empty urls list".into()));
            }
            let urls = server
                .urls
                .iter()
                .map(|url| {
                    let parsed = IceServerUrl::parse(url)
                        .map_err(|e| RtcError::Syntax(format!("ICE server URL {url:?}: {e}")))?;
                    if parsed.scheme.is_turn() && (server.username.is_none() || server.credential.is_none()) {
                        return Err(RtcError::InvalidAccess(format!(
                            "TURN server {url:?} needs both a username and a credential"
                        )));
                    }
                    Ok(parsed)
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok(ValidIceServer {
                urls,
                username: server.username.clone(),
                credential: server.credential.clone(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> IceServerUrl {
        IceServerUrl::parse(s).unwrap_or_else(|e| panic!("{s:?} should parse: {e}"))
    }

    #[test]
    fn defaults_per_scheme() {
        let cases = [
            ("stun:example.net", IceServerScheme::Stun, 3478, IceServerTransport::Udp),
            (
                "stuns:example.net",
                IceServerScheme::Stuns,
                5349,
                IceServerTransport::Tcp,
            ),
            ("turn:example.net", IceServerScheme::Turn, 3478, IceServerTransport::Udp),
            (
                "turns:example.net",
                IceServerScheme::Turns,
                5349,
                IceServerTransport::Tcp,
            ),
            (
                "turn:example.net:1234?transport=tcp",
                IceServerScheme::Turn,
                1234,
                IceServerTransport::Tcp,
            ),
            (
                "turns:example.net?transport=udp",
                IceServerScheme::Turns,
                5349,
                IceServerTransport::Udp,
            ),
            (
                "STUN:Example.NET:443",
                IceServerScheme::Stun,
                443,
                IceServerTransport::Udp,
            ),
        ];
        for (url, scheme, port, transport) in cases {
            let u = parse(url);
            assert_eq!((u.scheme, u.port, u.transport), (scheme, port, transport), "{url}");
            assert_eq!(u.host, IceServerHost::Domain("example.net".into()), "{url}");
        }
    }

    #[test]
    fn hosts() {
        assert_eq!(
            parse("stun:192.0.2.1:3479").socket_addr(),
            Some("192.0.2.1:3479".parse().unwrap())
        );
        assert_eq!(
            parse("turn:[2001:db8::1]:5000?transport=udp").socket_addr(),
            Some("[2001:db8::1]:5000".parse().unwrap())
        );
        assert_eq!(
            parse("stun:[2001::1]").host,
            IceServerHost::Ip("2001::1".parse().unwrap())
        );
        // WHATWG IPv4 forms.
        assert_eq!(
            parse("stun:0x7f.1").host,
            IceServerHost::Ip("127.0.0.1".parse().unwrap())
        );
        assert_eq!(
            parse("stun:010.0.0.1").host,
            IceServerHost::Ip("8.0.0.1".parse().unwrap())
        );
        assert_eq!(
            parse("stun:3232235521").host,
            IceServerHost::Ip("192.168.0.1".parse().unwrap())
        );
        // Percent-decoding, lowercasing, IDN to Punycode.
        assert_eq!(
            parse("stun:ex%61mple.net").host,
            IceServerHost::Domain("example.net".into())
        );
        assert_eq!(
            parse("stun:münchen.example").host,
            IceServerHost::Domain("xn--mnchen-3ya.example".into())
        );
        assert_eq!(
            parse("stun:xn--mnchen-3ya.example").host,
            IceServerHost::Domain("xn--mnchen-3ya.example".into())
        );
        assert_eq!(parse("stun:example.net").socket_addr(), None);
    }

    #[test]
    fn ports_follow_the_url_standard() {
        assert_eq!(parse("stun:example.net:65535").port, 65535);
        assert_eq!(parse("stun:example.net:").port, 3478);
        assert_eq!(parse("stun:example.net:0000000003478").port, 3478);
        for bad in [
            "stun:example.net:65536",
            "stun:example.net:port",
            "stun:example.net: 3478",
            "stun:example.net:-1",
            "stun:example.net:99999999999999999999",
        ] {
            assert!(
                matches!(IceServerUrl::parse(bad), Err(IceServerUrlError::InvalidPort(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn wpt_syntax_errors() {
        // RTCConfiguration-iceServers.html (checklist C11, C12).
        for bad in [
            "",
            "relative-url",
            "http://example.com",
            "turn://example.org/foo?x=y",
            "stun://example.org/foo?x=y",
            "stun:example.net#foo",
            "stun:[2001::1",
            "stun:[2001:::1]",
            "stun:192.168.0.257",
            "stun:256.256.256.256",
            "stun:exa<mple.net",
            "stun:exa^mple.net",
            "stun:exa\\mple.net",
            "stun:exa\0mple.net",
            "stun:xn--pokxncvks",
            "stun:example.net?transport=udp",
            "turn:example.net?transport=sctp",
            "turn:example.net?x=y",
            "turn:user@example.net",
            "stun:example.net/path",
            "stun:",
            "stun:%zz.example",
            "stun:%ff.example",
        ] {
            assert!(IceServerUrl::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn unicode_labels_we_cannot_map_are_refused_both_ways() {
        // A browser maps U+3253 (circled 23) to "23" with the UTS 46 table we do not carry: we
        // refuse it, in Unicode and as Punycode alike, so that a printed URL always parses back.
        assert!(IceServerUrl::parse("stun:\u{3253}.example").is_err());
        assert!(IceServerUrl::parse("stun:a\u{FF21}.example").is_err());
        assert!(IceServerUrl::parse("stun:xn--pokxncvks").is_err());
    }

    #[test]
    fn display_is_canonical_and_reparses() {
        for url in [
            "stun:example.net",
            "turns:[2001:db8::1]:443?transport=tcp",
            "turn:münchen.example?transport=udp",
        ] {
            let u = parse(url);
            assert_eq!(parse(&u.to_string()), u);
        }
        assert_eq!(
            parse("turn:Example.net").to_string(),
            "turn:example.net:3478?transport=udp"
        );
    }

    fn server(urls: &[&str], username: Option<&str>, credential: Option<&str>) -> IceServer {
        IceServer {
            urls: urls.iter().map(|s| s.to_string()).collect(),
            username: username.map(str::to_string),
            credential: credential.map(str::to_string),
        }
    }

    #[test]
    fn validation_matches_the_browser() {
        // C9: TURN with both credentials, even empty; mixed turn/turns in one entry.
        let ok = validate_ice_servers(&[
            server(&["stun:stun1.example.net"], None, None),
            server(&["turns:turn.example.org", "turn:turn.example.net"], Some(""), Some("")),
        ])
        .unwrap();
        assert_eq!(ok.len(), 2);
        assert_eq!(ok[1].urls[0].scheme, IceServerScheme::Turns);
        assert_eq!(ok[1].username.as_deref(), Some(""));
        // C10: missing username or credential on TURN.
        for (u, c) in [(None, Some("c")), (Some("u"), None), (None, None)] {
            let err = validate_ice_servers(&[server(&["turn:turn.example.net"], u, c)]).unwrap_err();
            assert_eq!(err.name(), "InvalidAccessError");
        }
        // C11: empty string, empty list, syntax errors.
        for urls in [&[""][..], &[], &["stun:ok.example", ""], &["relative-url"]] {
            let err = validate_ice_servers(&[server(urls, None, None)]).unwrap_err();
            assert_eq!(err.name(), "SyntaxError", "{urls:?}");
        }
        // An unparsable URL is a SyntaxError even without TURN credentials.
        let err = validate_ice_servers(&[server(&["turn://example.org/foo?x=y"], None, None)]).unwrap_err();
        assert_eq!(err.name(), "SyntaxError");
        assert_eq!(validate_ice_servers(&[]), Ok(vec![]));
    }

    #[test]
    fn random_inputs_never_panic() {
        let alphabet: Vec<char> = "stunr:[]?=#%/.0123456789abcdefx-@\\ \u{fc}\u{3002}".chars().collect();
        let mut state = 0x1234_5678_9ABC_DEF1u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut parsed = 0;
        for _ in 0..20_000 {
            let len = (next() % 24) as usize;
            let body: String = (0..len)
                .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
                .collect();
            let url = format!(
                "{}{body}",
                ["stun:", "turn:", "turns:", "stuns:"][(next() % 4) as usize]
            );
            if let Ok(u) = IceServerUrl::parse(&url) {
                parsed += 1;
                assert_eq!(IceServerUrl::parse(&u.to_string()), Ok(u), "{url:?}");
            }
        }
        assert!(parsed > 0);
    }
}
