//! `RTCConfiguration`: what a connection is created with.

use std::net::IpAddr;

use crate::mdns::MdnsResolver;
use crate::proto::{BundlePolicy, Certificate, IceTiming, IceTransportPolicy, RtcError};
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

/// `RTCConfiguration`, plus the rtcpeer extension [`bind_addresses`](Self::bind_addresses).
#[derive(Debug, Clone)]
pub struct RTCConfiguration {
    /// STUN and TURN servers.
    pub ice_servers: Vec<RTCIceServer>,
    /// Which candidates ICE may use.
    pub ice_transport_policy: IceTransportPolicy,
    /// How media sections share transports.
    pub bundle_policy: BundlePolicy,
    /// The DTLS certificate to use; at most one is supported. Empty: a fresh one is generated.
    pub certificates: Vec<Certificate>,
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
    /// Checked when the connection is created if some server is `turns:`: a certificate that
    /// is not a usable CA is a `SyntaxError`.
    pub turn_tls_roots: Vec<CertificateDer<'static>>,
    /// rtcpeer extension: consent freshness (RFC 7675) timers. The defaults are the browsers':
    /// a consent check on the selected pair every 2.5 s (randomized ×0.8–1.2), ICE
    /// `disconnected` when one has gone unanswered for 5 s (5 to 8 s after the path is cut), and
    /// `failed` 30 s after the last answer (consent expired; only an ICE restart recovers).
    pub ice_timing: IceTiming,
}

impl Default for RTCConfiguration {
    fn default() -> Self {
        RTCConfiguration {
            ice_servers: Vec::new(),
            ice_transport_policy: IceTransportPolicy::All,
            bundle_policy: BundlePolicy::Balanced,
            certificates: Vec::new(),
            bind_addresses: Vec::new(),
            mdns: MdnsResolver::default(),
            turn_tls_roots: Vec::new(),
            ice_timing: IceTiming::default(),
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
