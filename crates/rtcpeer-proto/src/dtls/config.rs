//! Tunables of a [`DtlsTransport`](super::DtlsTransport) and how they map onto dimpl's `Config`.

use std::sync::Arc;
use std::time::Duration;

use dimpl::crypto::Dtls12CipherSuite;

use super::error::DtlsError;

/// Which DTLS versions an endpoint speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DtlsVersions {
    /// DTLS 1.2 only (RFC 6347): what every browser accepts.
    Dtls12,
    /// DTLS 1.2 or 1.3 (RFC 9147). As a server, the peer's ClientHello decides
    /// (1.3 when its `supported_versions` offers it). As a client, a hybrid
    /// ClientHello is sent and the server's answer decides.
    Auto,
}

/// Settings of a DTLS transport. [`Default`] is what we use with browsers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DtlsConfig {
    /// Versions offered when we are the client. Default [`DtlsVersions::Dtls12`]:
    /// every WebRTC server (browsers, Pion, aiortc, libwebrtc, ...) answers a 1.2
    /// ClientHello, whereas a hybrid ClientHello is larger and newer.
    pub client_versions: DtlsVersions,
    /// Versions accepted when we are the server. Default [`DtlsVersions::Auto`],
    /// so a client that offers DTLS 1.3 gets it and a 1.2 client gets 1.2.
    pub server_versions: DtlsVersions,
    /// Largest handshake datagram: flights are fragmented to fit. Default 1120
    /// bytes, so that a flight datagram in a TURN Send indication (up to 47 bytes
    /// more) still fits a 1200-byte IPv4 path (1172 bytes of UDP payload; see
    /// [`crate::sctp::MAX_PACKET_SIZE`] for the same budget). Application data is not
    /// split: one [`send`](super::DtlsTransport::send) is one record in one
    /// datagram, 37 bytes (DTLS 1.2 AES-GCM) or 22 bytes (DTLS 1.3) longer.
    pub mtu: usize,
    /// Outgoing datagrams held until [`poll_transmit`](super::DtlsTransport::poll_transmit)
    /// takes them. Default 256. When full, [`send`](super::DtlsTransport::send) returns
    /// [`DtlsError::SendQueueFull`] and handshake datagrams are dropped (the
    /// peer's or our retransmission timer recovers).
    pub max_transmit_queue: usize,
    /// Received application-data records held until
    /// [`poll_event`](super::DtlsTransport::poll_event) takes them. Default 256.
    /// When full, newly received records are dropped, as the network would
    /// drop them (SCTP retransmits).
    pub max_received_records: usize,
    /// First retransmission timeout of a handshake flight; doubles on every
    /// retry. Default 1 s (RFC 6347 §4.2.4.1).
    pub initial_rto: Duration,
    /// Retransmissions of one flight before the handshake fails. Default 4.
    pub flight_retries: usize,
    /// Deadline for the whole handshake. Default 40 s.
    pub handshake_timeout: Duration,
}

impl Default for DtlsConfig {
    fn default() -> Self {
        DtlsConfig {
            client_versions: DtlsVersions::Dtls12,
            server_versions: DtlsVersions::Auto,
            mtu: 1120,
            max_transmit_queue: 256,
            max_received_records: 256,
            initial_rto: Duration::from_secs(1),
            flight_retries: 4,
            handshake_timeout: Duration::from_secs(40),
        }
    }
}

/// DTLS 1.2 suites in order of preference. All are ECDSA + ECDHE + AEAD;
/// Chromium and Firefox offer all three, AES-128-GCM being the common ground.
const DTLS12_SUITES: [Dtls12CipherSuite; 3] = [
    Dtls12CipherSuite::ECDHE_ECDSA_AES128_GCM_SHA256,
    Dtls12CipherSuite::ECDHE_ECDSA_AES256_GCM_SHA384,
    Dtls12CipherSuite::ECDHE_ECDSA_CHACHA20_POLY1305_SHA256,
];

impl DtlsConfig {
    /// Builds dimpl's configuration.
    pub(crate) fn to_dimpl(&self) -> Result<Arc<dimpl::Config>, DtlsError> {
        dimpl::Config::builder()
            .mtu(self.mtu)
            // We drain dimpl after every call, so its own queue only ever holds
            // what one call produces: a flight, or one record.
            .max_queue_tx(32)
            .flight_start_rto(self.initial_rto)
            .flight_retries(self.flight_retries)
            .handshake_timeout(self.handshake_timeout)
            // RFC 8827 §6.5: both sides present a certificate.
            .require_client_certificate(true)
            .dtls12_cipher_suites(&DTLS12_SUITES)
            .build()
            .map(Arc::new)
            .map_err(|e| DtlsError::Protocol(format!("invalid DTLS configuration: {e}")))
    }
}
