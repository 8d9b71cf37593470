//! `RTCConfiguration`: what a connection is created with.

use std::net::IpAddr;

use crate::mdns::MdnsResolver;
use crate::proto::{BundlePolicy, Certificate, IceTransportPolicy};

/// `RTCIceServer`: a STUN or TURN server.
///
/// The servers are stored and validated for shape only; using them (server-reflexive
/// and relay candidates) is not implemented yet.
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
    /// STUN and TURN servers (stored; not used yet).
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
    pub bind_addresses: Vec<IpAddr>,
    /// rtcpeer extension: how remote `<uuid>.local` host candidates are resolved.
    ///
    /// The default sends one-shot mDNS queries to `224.0.0.251:5353` out of the connection's
    /// IPv4 addresses; [`MdnsResolver::disabled`] ignores such candidates.
    pub mdns: MdnsResolver,
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
