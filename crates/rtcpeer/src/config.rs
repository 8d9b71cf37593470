//! `RTCConfiguration`: what a connection is created with.

use std::net::IpAddr;

use serde_json::{Map, Value};

use crate::certificate::RTCCertificate;
use crate::mdns::MdnsResolver;
use crate::proto::{BundlePolicy, BweConfig, IceTiming, IceTransportPolicy, RtcError};
use crate::shared_socket::SharedUdpSocket;
use rtcpeer_proto::ice::server::{validate_ice_servers, IceServer, ValidIceServer};
use rustls::pki_types::CertificateDer;

/// `RTCIceServer`: a STUN or TURN server.
///
/// [`RTCPeerConnection::new`](crate::RTCPeerConnection::new) validates the list as browsers do
/// (an empty or unparsable URL is a `SyntaxError`, a TURN URL without username and credential
/// an `InvalidAccessError`), resolves host names, and gathers server-reflexive candidates from
/// `stun:` and `turn:` servers and relayed ones from `turn:` servers (`?transport=udp` or `tcp`)
/// and `turns:` servers (TURN over TLS over TCP; the server's certificate must be valid for the
/// URL's host and chain to a Mozilla root or to one of
/// [`RTCConfiguration::turn_tls_roots`]). `stuns:` and `turns:…?transport=udp` (DTLS) are
/// accepted but yield an `icecandidateerror` (701), as does a failed TLS handshake (its text
/// names the TLS error).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RTCIceServer {
    /// `stun:`/`turn:`/`turns:` URLs of the server.
    pub urls: Vec<String>,
    /// The TURN username.
    pub username: Option<String>,
    /// The TURN credential.
    pub credential: Option<String>,
}

/// `RTCRtcpMuxPolicy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum RtcpMuxPolicy {
    /// RTP and RTCP share one transport; a description without `a=rtcp-mux` is refused. The
    /// only policy rtcpeer supports.
    #[default]
    Require,
    /// Also gather RTCP candidates: not supported (`NotSupportedError`), as browsers may answer.
    Negotiate,
}

impl RtcpMuxPolicy {
    /// The W3C name (`require`, `negotiate`).
    pub fn as_str(self) -> &'static str {
        match self {
            RtcpMuxPolicy::Require => "require",
            RtcpMuxPolicy::Negotiate => "negotiate",
        }
    }
}

/// `RTCConfiguration`, plus the rtcpeer extensions [`bind_addresses`](Self::bind_addresses)
/// and [`mdns`](Self::mdns).
///
/// [`from_json`](Self::from_json) reads the browsers' JSON form (`{"iceServers": [...],
/// "bundlePolicy": "max-bundle", ...}`) with the errors the browsers' WebIDL conversion throws.
#[derive(Debug, Clone)]
pub struct RTCConfiguration {
    /// STUN and TURN servers.
    pub ice_servers: Vec<RTCIceServer>,
    /// Which candidates ICE may use.
    pub ice_transport_policy: IceTransportPolicy,
    /// How media sections share transports.
    pub bundle_policy: BundlePolicy,
    /// `rtcpMuxPolicy`: only [`RtcpMuxPolicy::Require`] is supported.
    pub rtcp_mux_policy: RtcpMuxPolicy,
    /// `iceCandidatePoolSize` (0–255, an octet as in WebIDL). Accepted and reported back;
    /// rtcpeer does not gather ahead of `set_local_description`, so it has no other effect.
    pub ice_candidate_pool_size: u8,
    /// The DTLS certificate to use; at most one is supported, and it must not have expired.
    /// Empty: a fresh ECDSA P-256 one is generated, and
    /// [`get_configuration`](crate::RTCPeerConnection::get_configuration) reports it.
    pub certificates: Vec<RTCCertificate>,
    /// rtcpeer extension: the local IP addresses to gather host candidates on.
    ///
    /// Empty (the default): every interface that is up, IPv4 and IPv6, link-local
    /// addresses excluded, and loopback only when it is the only interface (as in
    /// a private network namespace). Naming an address, loopback included, binds
    /// exactly that address.
    ///
    /// With the default, the sockets follow the machine's addresses each time a local
    /// description is applied: an address that appeared gets a socket and a host candidate,
    /// the socket of an address that is gone is closed. An ICE restart after the host moved
    /// to another network therefore gathers on the new address.
    pub bind_addresses: Vec<IpAddr>,
    /// rtcpeer extension: how remote `<uuid>.local` host candidates are resolved.
    ///
    /// The default sends one-shot mDNS queries to `224.0.0.251:5353` out of the connection's
    /// IPv4 addresses; [`MdnsResolver::disabled`] ignores such candidates.
    pub mdns: MdnsResolver,
    /// rtcpeer extension: CA certificates (DER) trusted for `turns:` servers besides the
    /// Mozilla root store built in (`webpki-roots`), for private deployments and tests.
    ///
    /// Checked by [`RTCPeerConnection::new`](crate::RTCPeerConnection::new) and
    /// [`set_configuration`](crate::RTCPeerConnection::set_configuration) when some server is
    /// `turns:`: a certificate that is not a usable CA is a `SyntaxError`.
    pub turn_tls_roots: Vec<CertificateDer<'static>>,
    /// rtcpeer extension: consent freshness (RFC 7675) timers. The defaults are the browsers':
    /// a consent check on the selected pair every 2.5 s (randomized ×0.8–1.2), ICE
    /// `disconnected` when one has gone unanswered for 5 s (5 to 8 s after the path is cut), and
    /// `failed` 30 s after the last answer (consent expired; only an ICE restart recovers).
    pub ice_timing: IceTiming,
    /// rtcpeer extension: the send-side congestion controller's start, minimum and maximum
    /// bitrate and pacing (browser-like defaults: 300 kbit/s start, 30 kbit/s to 5 Mbit/s,
    /// pacing at 2.5 × the target). Its target arrives as
    /// [`PeerConnectionEvent::TargetBitrate`](crate::PeerConnectionEvent::TargetBitrate).
    pub congestion_control: BweConfig,
    /// rtcpeer extension: a UDP port shared with other connections instead of sockets of its own.
    ///
    /// When set, the connection binds nothing, ignores [`bind_addresses`](Self::bind_addresses) and
    /// gathers one host candidate, the shared socket's address; see [`SharedUdpSocket`] for how
    /// datagrams find their connection.
    pub shared_socket: Option<SharedUdpSocket>,
}

impl Default for RTCConfiguration {
    fn default() -> Self {
        RTCConfiguration {
            ice_servers: Vec::new(),
            ice_transport_policy: IceTransportPolicy::All,
            bundle_policy: BundlePolicy::Balanced,
            rtcp_mux_policy: RtcpMuxPolicy::Require,
            ice_candidate_pool_size: 0,
            certificates: Vec::new(),
            bind_addresses: Vec::new(),
            mdns: MdnsResolver::default(),
            turn_tls_roots: Vec::new(),
            ice_timing: IceTiming::default(),
            congestion_control: BweConfig::default(),
            shared_socket: None,
        }
    }
}

impl RTCConfiguration {
    /// A default configuration that gathers only on `addresses`.
    pub fn bound_to(addresses: impl IntoIterator<Item = IpAddr>) -> Self {
        RTCConfiguration {
            bind_addresses: addresses.into_iter().collect(),
            ..Default::default()
        }
    }
}

impl RTCConfiguration {
    /// Reads the browsers' JSON form of `RTCConfiguration`, converting it as WebIDL does:
    /// `TypeError` for a value of the wrong type or out of range (an unknown enum value, a
    /// `null` where none is allowed, an `iceCandidatePoolSize` outside 0–255, an ICE server
    /// without `urls`), `InvalidAccessError` for a `credential` that is an object,
    /// `NotSupportedError` for `rtcpMuxPolicy: "negotiate"`. Members it does not know
    /// (`sdpSemantics`, the legacy `iceTransports`, …) are ignored, as browsers ignore them.
    /// `certificates` can only be `[]`: certificates are objects, not JSON. The URLs are
    /// checked later, by [`RTCPeerConnection::new`](crate::RTCPeerConnection::new) or
    /// [`set_configuration`](crate::RTCPeerConnection::set_configuration).
    pub fn from_json(json: &str) -> Result<RTCConfiguration, RtcError> {
        let value: Value =
            serde_json::from_str(json).map_err(|e| RtcError::Type(format!("not an RTCConfiguration: {e}")))?;
        let members = match value {
            Value::Object(members) => members,
            Value::Null => Map::new(),
            other => {
                return Err(RtcError::Type(format!(
                    "RTCConfiguration must be an object, not {other}"
                )))
            }
        };
        let mut config = RTCConfiguration::default();
        for (name, value) in &members {
            match name.as_str() {
                "iceServers" => config.ice_servers = ice_servers_from_json(value)?,
                "iceTransportPolicy" => {
                    config.ice_transport_policy = enum_from_json(
                        name,
                        value,
                        &[IceTransportPolicy::All, IceTransportPolicy::Relay],
                        IceTransportPolicy::as_str,
                    )?
                }
                "bundlePolicy" => {
                    config.bundle_policy = enum_from_json(
                        name,
                        value,
                        &[BundlePolicy::Balanced, BundlePolicy::MaxBundle, BundlePolicy::MaxCompat],
                        BundlePolicy::as_str,
                    )?
                }
                "rtcpMuxPolicy" => {
                    config.rtcp_mux_policy = enum_from_json(
                        name,
                        value,
                        &[RtcpMuxPolicy::Require, RtcpMuxPolicy::Negotiate],
                        RtcpMuxPolicy::as_str,
                    )?;
                    check_rtcp_mux_policy(config.rtcp_mux_policy)?;
                }
                "iceCandidatePoolSize" => {
                    config.ice_candidate_pool_size = value
                        .as_f64()
                        .filter(|n| n.fract() == 0.0 && (0.0..=255.0).contains(n))
                        .map(|n| n as u8)
                        .ok_or_else(|| {
                            RtcError::Type(format!("iceCandidatePoolSize {value} is not an octet (0 to 255)"))
                        })?
                }
                "certificates" => match value {
                    Value::Array(list) if list.is_empty() => {}
                    other => {
                        return Err(RtcError::Type(format!(
                            "certificates must be a list of RTCCertificate, not {other}"
                        )))
                    }
                },
                // Unknown members (sdpSemantics, iceTransports, peerIdentity, …) are ignored.
                _ => {}
            }
        }
        Ok(config)
    }
}

/// `RTCRtcpMuxPolicy` values rtcpeer cannot honour.
pub(crate) fn check_rtcp_mux_policy(policy: RtcpMuxPolicy) -> Result<(), RtcError> {
    match policy {
        RtcpMuxPolicy::Require => Ok(()),
        RtcpMuxPolicy::Negotiate => Err(RtcError::NotSupported(
            "rtcpMuxPolicy negotiate: RTCP always shares the RTP transport".into(),
        )),
    }
}

/// A WebIDL enum member: a string that names one of `values`.
fn enum_from_json<T: Copy>(
    member: &str,
    value: &Value,
    values: &[T],
    name: impl Fn(T) -> &'static str,
) -> Result<T, RtcError> {
    let text = value
        .as_str()
        .ok_or_else(|| RtcError::Type(format!("{member} must be a string, not {value}")))?;
    values
        .iter()
        .copied()
        .find(|v| name(*v) == text)
        .ok_or_else(|| RtcError::Type(format!("{member} {text:?} is not a valid value")))
}

fn ice_servers_from_json(value: &Value) -> Result<Vec<RTCIceServer>, RtcError> {
    let Value::Array(entries) = value else {
        return Err(RtcError::Type(format!("iceServers must be a list, not {value}")));
    };
    entries.iter().map(ice_server_from_json).collect()
}

fn ice_server_from_json(value: &Value) -> Result<RTCIceServer, RtcError> {
    let Value::Object(members) = value else {
        return Err(RtcError::Type(format!(
            "an RTCIceServer must be an object, not {value}"
        )));
    };
    let urls = match members.get("urls") {
        Some(Value::String(url)) => vec![url.clone()],
        Some(Value::Array(list)) => list
            .iter()
            .map(|u| match u {
                Value::String(url) => Ok(url.clone()),
                other => Err(RtcError::Type(format!(
                    "an ICE server URL must be a string, not {other}"
                ))),
            })
            .collect::<Result<_, _>>()?,
        Some(other) => return Err(RtcError::Type(format!("urls must be a string or a list, not {other}"))),
        // The legacy `url` member does not stand in for it.
        None => return Err(RtcError::Type("an RTCIceServer needs urls".into())),
    };
    let string = |name: &str| -> Result<Option<String>, RtcError> {
        match members.get(name) {
            None => Ok(None),
            Some(Value::String(text)) => Ok(Some(text.clone())),
            Some(Value::Object(_)) => Err(RtcError::InvalidAccess(format!(
                "{name} must be a string (OAuth credentials are not supported)"
            ))),
            Some(other) => Err(RtcError::Type(format!("{name} must be a string, not {other}"))),
        }
    };
    match members.get("credentialType") {
        None => {}
        Some(Value::String(kind)) if kind == "password" => {}
        Some(other) => return Err(RtcError::Type(format!("credentialType {other} is not \"password\""))),
    }
    Ok(RTCIceServer {
        urls,
        username: string("username")?,
        credential: string("credential")?,
    })
}

impl RTCIceServer {
    /// The core's form of this entry.
    pub(crate) fn to_proto(&self) -> IceServer {
        IceServer {
            urls: self.urls.clone(),
            username: self.username.clone(),
            credential: self.credential.clone(),
        }
    }
}

/// Validates `iceServers` as `new RTCPeerConnection` does.
pub(crate) fn validate(servers: &[RTCIceServer]) -> Result<Vec<ValidIceServer>, RtcError> {
    let servers: Vec<IceServer> = servers.iter().map(RTCIceServer::to_proto).collect();
    validate_ice_servers(&servers)
}
