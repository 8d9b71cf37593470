//! [`DtlsTransport`]: one DTLS association over the selected ICE pair, driven
//! sans-IO around dimpl, with the peer's certificate checked against the
//! fingerprints from its session description.

use std::collections::VecDeque;
use std::time::Instant;

use tracing::{debug, trace, warn};

use super::certificate::Certificate;
use super::config::{DtlsConfig, DtlsVersions};
use super::error::DtlsError;
use super::fingerprint::{Fingerprint, HashAlgorithm};
use super::srtp::{SrtpKeyingMaterial, SrtpProfile};
use crate::net::PacketKind;

/// The largest application-data message [`DtlsTransport::send`] accepts: the
/// TLS plaintext record limit (RFC 6347 §4.1, 2^14 bytes). Messages are not
/// split across records, so a message larger than the MTU goes out as one
/// datagram larger than the MTU (IP fragments it).
pub const MAX_APPLICATION_DATA: usize = 16 * 1024;

/// Largest output buffer we grow to when dimpl asks for more room.
const MAX_OUTPUT_BUFFER: usize = 64 * 1024 + 1024;

/// Bound on `poll_output` calls per drain, in case the engine never ends a
/// poll cycle with a timeout. Far above any real flight.
const MAX_OUTPUTS_PER_DRAIN: usize = 4096;

/// Which side of the handshake we take (RFC 8842 §5.3: `a=setup:active` is
/// the DTLS client, `a=setup:passive` the server).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DtlsRole {
    /// Sends the ClientHello (`a=setup:active`).
    Client,
    /// Waits for the ClientHello (`a=setup:passive`).
    Server,
}

/// The transport's state, named as W3C `RTCDtlsTransportState`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DtlsState {
    /// Created; a server has not yet answered a ClientHello.
    New,
    /// The handshake is under way.
    Connecting,
    /// The handshake finished and the peer's certificate matched its fingerprint.
    Connected,
    /// Closed by [`DtlsTransport::close`] or by the peer's `close_notify`.
    Closed,
    /// The handshake or the connection failed; nothing more will happen.
    Failed,
}

/// The DTLS protocol version in use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DtlsVersion {
    /// DTLS 1.2 (RFC 6347).
    Dtls12,
    /// DTLS 1.3 (RFC 9147).
    Dtls13,
}

/// What a [`DtlsTransport`] reports, taken with [`DtlsTransport::poll_event`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DtlsEvent {
    /// The handshake finished and the peer's certificate matched one of its
    /// fingerprints. `srtp` holds the SRTP keys if a profile was negotiated.
    Connected {
        /// The DTLS-SRTP keys, if the peers agreed on a profile.
        srtp: Option<SrtpKeyingMaterial>,
    },
    /// An application-data record from the peer (for WebRTC: an SCTP packet).
    Data(Vec<u8>),
    /// The peer closed the connection with `close_notify`.
    Closed,
    /// The transport failed; the error says why. No further event follows.
    Failed(DtlsError),
}

/// One DTLS association (RFC 8842 for the WebRTC specifics), sans-IO.
///
/// Feed it datagrams ([`handle_receive`](Self::handle_receive)) and time
/// ([`handle_timeout`](Self::handle_timeout)); take datagrams to send
/// ([`poll_transmit`](Self::poll_transmit)), events
/// ([`poll_event`](Self::poll_event)) and the next deadline
/// ([`poll_timeout`](Self::poll_timeout)).
///
/// [`DtlsEvent::Connected`] is emitted only once dimpl has finished the
/// handshake *and* the peer's certificate has matched one of the remote
/// fingerprints; until then received application data is held back, and on a
/// mismatch it is discarded and the transport fails with
/// [`DtlsError::FingerprintMismatch`].
pub struct DtlsTransport {
    /// The engine; `None` once failed (dimpl must not be used after an error).
    engine: Option<dimpl::Dtls>,
    role: DtlsRole,
    state: DtlsState,
    config: DtlsConfig,
    remote_fingerprints: Vec<Fingerprint>,
    /// The peer's certificate once it matched a fingerprint.
    verified_peer_cert: Option<Vec<u8>>,
    /// dimpl reported `Connected` (we may still be waiting for the certificate check).
    engine_connected: bool,
    srtp: Option<SrtpKeyingMaterial>,
    transmits: VecDeque<Vec<u8>>,
    events: VecDeque<DtlsEvent>,
    /// Application data received before we emitted `Connected`.
    held_data: VecDeque<Vec<u8>>,
    /// `Data` events waiting in `events`.
    queued_data: usize,
    next_timeout: Option<Instant>,
    out_buf: Vec<u8>,
}

impl std::fmt::Debug for DtlsTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DtlsTransport")
            .field("role", &self.role)
            .field("state", &self.state)
            .field("version", &self.version())
            .finish_non_exhaustive()
    }
}

impl DtlsTransport {
    /// Creates a transport with the default [`DtlsConfig`].
    ///
    /// A client queues its ClientHello at once (take it with
    /// [`poll_transmit`](Self::poll_transmit)); a server waits for one.
    /// `remote_fingerprints` are the peer's `a=fingerprint` values; at least
    /// one is needed.
    pub fn new(
        certificate: &Certificate,
        role: DtlsRole,
        remote_fingerprints: Vec<Fingerprint>,
        now: Instant,
    ) -> Result<DtlsTransport, DtlsError> {
        DtlsTransport::with_config(certificate, role, remote_fingerprints, DtlsConfig::default(), now)
    }

    /// Creates a transport with explicit settings.
    pub fn with_config(
        certificate: &Certificate,
        role: DtlsRole,
        remote_fingerprints: Vec<Fingerprint>,
        config: DtlsConfig,
        now: Instant,
    ) -> Result<DtlsTransport, DtlsError> {
        if remote_fingerprints.is_empty() {
            return Err(DtlsError::NoRemoteFingerprint);
        }
        let dimpl_config = config.to_dimpl()?;
        let versions = match role {
            DtlsRole::Client => config.client_versions,
            DtlsRole::Server => config.server_versions,
        };
        let mut engine = match versions {
            DtlsVersions::Dtls12 => dimpl::Dtls::new_12(dimpl_config, certificate.to_dimpl(), now),
            DtlsVersions::Auto => dimpl::Dtls::new_auto(dimpl_config, certificate.to_dimpl(), now),
        };
        if role == DtlsRole::Client {
            engine.set_active(true);
        }
        let mut transport = DtlsTransport {
            engine: Some(engine),
            role,
            state: DtlsState::New,
            config,
            remote_fingerprints,
            verified_peer_cert: None,
            engine_connected: false,
            srtp: None,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            held_data: VecDeque::new(),
            queued_data: 0,
            next_timeout: None,
            out_buf: vec![0; 2048],
        };
        if role == DtlsRole::Client {
            transport.state = DtlsState::Connecting;
            transport.handle_timeout(now);
        }
        debug!(?role, ?versions, "DTLS transport created");
        Ok(transport)
    }

    /// Hands over a datagram received on the selected pair.
    ///
    /// Datagrams that are not DTLS (RFC 7983 first byte outside 20..=63) are
    /// dropped; malformed or replayed records are dropped by dimpl. A fatal
    /// error makes the transport [`Failed`](DtlsState::Failed).
    pub fn handle_receive(&mut self, now: Instant, datagram: &[u8]) {
        if matches!(self.state, DtlsState::Failed | DtlsState::Closed) {
            trace!(len = datagram.len(), state = ?self.state, "DTLS datagram after the end, dropped");
            return;
        }
        if PacketKind::of(datagram) != PacketKind::Dtls {
            debug!(len = datagram.len(), "not a DTLS datagram, dropped");
            return;
        }
        let Some(engine) = self.engine.as_mut() else { return };
        // dimpl wants its clock advanced before a packet at a new instant.
        let result = engine.handle_timeout(now).and_then(|()| engine.handle_packet(datagram));
        match result {
            Ok(()) => self.drain(),
            Err(e) => self.fail(DtlsError::from_engine(e)),
        }
    }

    /// Lets time pass: retransmits a lost flight, or fails when retries are exhausted.
    pub fn handle_timeout(&mut self, now: Instant) {
        if matches!(self.state, DtlsState::Failed | DtlsState::Closed) {
            return;
        }
        let Some(engine) = self.engine.as_mut() else { return };
        match engine.handle_timeout(now) {
            Ok(()) => self.drain(),
            Err(e) => self.fail(DtlsError::from_engine(e)),
        }
    }

    /// Sends one application-data record (for WebRTC: one SCTP packet).
    ///
    /// Fails without side effects if the transport is not
    /// [`Connected`](DtlsState::Connected), if `data` exceeds
    /// [`MAX_APPLICATION_DATA`], or if the outgoing queue is full. An engine
    /// error fails the transport and is returned too.
    pub fn send(&mut self, data: &[u8]) -> Result<(), DtlsError> {
        if self.state != DtlsState::Connected {
            return Err(DtlsError::NotConnected(self.state));
        }
        if data.len() > MAX_APPLICATION_DATA {
            return Err(DtlsError::DataTooLarge {
                len: data.len(),
                max: MAX_APPLICATION_DATA,
            });
        }
        if self.transmits.len() >= self.config.max_transmit_queue {
            return Err(DtlsError::SendQueueFull(self.transmits.len()));
        }
        let Some(engine) = self.engine.as_mut() else {
            return Err(DtlsError::NotConnected(self.state));
        };
        if let Err(e) = engine.send_application_data(data) {
            let err = DtlsError::from_engine(e);
            self.fail(err.clone());
            return Err(err);
        }
        self.drain();
        Ok(())
    }

    /// The next datagram to send to the peer.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.transmits.pop_front()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<DtlsEvent> {
        let event = self.events.pop_front()?;
        if matches!(event, DtlsEvent::Data(_)) {
            self.queued_data = self.queued_data.saturating_sub(1);
        }
        Some(event)
    }

    /// When [`handle_timeout`](Self::handle_timeout) must next be called, if ever.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            DtlsState::Failed | DtlsState::Closed => None,
            _ => self.next_timeout,
        }
    }

    /// The current state.
    pub fn state(&self) -> DtlsState {
        self.state
    }

    /// Our role.
    pub fn role(&self) -> DtlsRole {
        self.role
    }

    /// The DTLS version, once the handshake has settled it.
    pub fn version(&self) -> Option<DtlsVersion> {
        let version = self.engine.as_ref()?.protocol_version()?;
        if version == dimpl::ProtocolVersion::DTLS1_3 {
            Some(DtlsVersion::Dtls13)
        } else {
            Some(DtlsVersion::Dtls12)
        }
    }

    /// Closes the connection: once connected, queues a `close_notify` alert
    /// (take it with [`poll_transmit`](Self::poll_transmit)); during the
    /// handshake, just stops. The state becomes [`Closed`](DtlsState::Closed);
    /// no event is emitted for a local close.
    pub fn close(&mut self) {
        if matches!(self.state, DtlsState::Failed | DtlsState::Closed) {
            return;
        }
        let was = self.state;
        self.state = DtlsState::Closed;
        self.held_data.clear();
        if let Some(engine) = self.engine.as_mut() {
            if let Err(e) = engine.close() {
                debug!(error = %e, "dimpl close failed; closing without close_notify");
                self.engine = None;
                return;
            }
            self.drain();
        }
        debug!(?was, "DTLS transport closed locally");
    }

    /// The peer's certificate (DER), once it has matched a remote fingerprint.
    pub fn remote_certificate(&self) -> Option<&[u8]> {
        self.verified_peer_cert.as_deref()
    }

    /// Takes everything dimpl has to say, until it ends the cycle with a timeout.
    fn drain(&mut self) {
        for _ in 0..MAX_OUTPUTS_PER_DRAIN {
            let Some(engine) = self.engine.as_mut() else { return };
            match engine.poll_output(&mut self.out_buf) {
                dimpl::Output::Packet(p) => {
                    // A server starts connecting when it answers a ClientHello.
                    if self.state == DtlsState::New {
                        self.state = DtlsState::Connecting;
                    }
                    if self.transmits.len() < self.config.max_transmit_queue {
                        self.transmits.push_back(p.to_vec());
                    } else {
                        warn!(len = p.len(), "DTLS transmit queue full, datagram dropped");
                    }
                }
                dimpl::Output::BufferTooSmall { needed } => {
                    if needed > MAX_OUTPUT_BUFFER {
                        self.fail(DtlsError::Protocol(format!(
                            "engine wants a {needed}-byte output buffer"
                        )));
                        return;
                    }
                    self.out_buf.resize(needed, 0);
                }
                dimpl::Output::Timeout(at) => {
                    self.next_timeout = Some(at);
                    self.after_drain();
                    return;
                }
                dimpl::Output::Connected => self.engine_connected = true,
                dimpl::Output::PeerCert(der) => {
                    let der = der.to_vec();
                    if let Err(e) = self.verify_peer_certificate(der) {
                        self.fail(e);
                        return;
                    }
                }
                dimpl::Output::KeyingMaterial(material, profile) => {
                    let Some(profile) = SrtpProfile::from_dimpl(profile) else {
                        warn!(?profile, "unknown SRTP profile negotiated, keys ignored");
                        continue;
                    };
                    match SrtpKeyingMaterial::split(profile, self.role, &material) {
                        Ok(keys) => self.srtp = Some(keys),
                        Err(e) => {
                            self.fail(e);
                            return;
                        }
                    }
                }
                dimpl::Output::ApplicationData(data) => {
                    let data = data.to_vec();
                    self.receive_data(data);
                }
                dimpl::Output::CloseNotify => {
                    if self.state != DtlsState::Closed {
                        debug!("peer sent close_notify");
                        self.state = DtlsState::Closed;
                        self.held_data.clear();
                        self.events.push_back(DtlsEvent::Closed);
                    }
                }
                other => trace!(?other, "dimpl output ignored"),
            }
        }
        warn!("dimpl did not end its output with a timeout; stopping this drain");
        self.after_drain();
    }

    /// Emits `Connected` once both the engine and the certificate check are done.
    fn after_drain(&mut self) {
        if !self.engine_connected || self.state != DtlsState::Connecting {
            return;
        }
        if self.verified_peer_cert.is_none() {
            self.fail(DtlsError::NoPeerCertificate);
            return;
        }
        self.state = DtlsState::Connected;
        debug!(version = ?self.version(), srtp = ?self.srtp.as_ref().map(|k| k.profile), "DTLS connected");
        self.events.push_back(DtlsEvent::Connected {
            srtp: self.srtp.clone(),
        });
        while let Some(data) = self.held_data.pop_front() {
            self.push_data(data);
        }
    }

    fn verify_peer_certificate(&mut self, der: Vec<u8>) -> Result<(), DtlsError> {
        if let Some(known) = &self.verified_peer_cert {
            // A repeated certificate (retransmitted flight) must be the same one.
            return if *known == der {
                Ok(())
            } else {
                Err(self.mismatch(&der))
            };
        }
        if self.remote_fingerprints.iter().any(|fp| fp.matches(&der)) {
            trace!("peer certificate matches its fingerprint");
            self.verified_peer_cert = Some(der);
            Ok(())
        } else {
            Err(self.mismatch(&der))
        }
    }

    fn mismatch(&self, der: &[u8]) -> DtlsError {
        DtlsError::FingerprintMismatch {
            actual: Fingerprint::of_der(HashAlgorithm::Sha256, der).value_string(),
            expected: self.remote_fingerprints.len(),
        }
    }

    fn receive_data(&mut self, data: Vec<u8>) {
        match self.state {
            DtlsState::Connected => self.push_data(data),
            DtlsState::Connecting | DtlsState::New => {
                if self.held_data.len() < self.config.max_received_records {
                    self.held_data.push_back(data);
                } else {
                    warn!(len = data.len(), "too much early DTLS application data, record dropped");
                }
            }
            DtlsState::Closed | DtlsState::Failed => trace!("application data after the end, dropped"),
        }
    }

    fn push_data(&mut self, data: Vec<u8>) {
        if self.queued_data < self.config.max_received_records {
            self.queued_data += 1;
            self.events.push_back(DtlsEvent::Data(data));
        } else {
            warn!(len = data.len(), "DTLS receive queue full, record dropped");
        }
    }

    fn fail(&mut self, error: DtlsError) {
        warn!(%error, "DTLS transport failed");
        self.engine = None;
        self.state = DtlsState::Failed;
        self.held_data.clear();
        self.transmits.clear();
        self.next_timeout = None;
        self.srtp = None;
        self.events.push_back(DtlsEvent::Failed(error));
    }
}
