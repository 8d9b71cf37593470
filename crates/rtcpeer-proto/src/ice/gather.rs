//! Gathering server-reflexive and relayed candidates, and carrying data through TURN allocations.
//!
//! [`IceGatherer`] owns one [`StunBinding`] per (local UDP socket, STUN or TURN/UDP server) and
//! one [`TurnClient`] per (local UDP socket, TURN/UDP server) or per TURN/TCP or TURN/TLS
//! server. It is sans-IO like the agent: datagrams for the servers leave through
//! [`IceGatherer::poll_transmit`] (a [`Transmit`] from a local socket), bytes for a TCP or TLS
//! connection to a server through [`IceGatherer::poll_stream_transmit`] (the runtime opens the
//! connection on the first one and reports what it reads with
//! [`IceGatherer::handle_stream_receive`], or its end with [`IceGatherer::handle_stream_closed`]
//! or [`IceGatherer::handle_stream_failed`]).
//!
//! `turns:` (TURN over TLS, RFC 7065) uses the same framing as TCP (RFC 8656 §3.1): the
//! gatherer only marks its [`StreamTransmit`]s with the host name the server's certificate must
//! be valid for ([`StreamTransmit::tls`]); the runtime wraps the TCP connection in TLS. A
//! `turns:` URL with `?transport=udp` (DTLS) and `stuns:` are not supported: 701.
//!
//! A relayed candidate's base is its relayed address (RFC 8445 §5.1.1.2). The ICE agent sends
//! from that address like from any socket; the caller hands such datagrams to
//! [`IceGatherer::send_relayed`], which wraps them in a Send indication or ChannelData. Data the
//! server relays back comes out of [`IceGatherer::poll_relayed`] as if received on the relayed
//! address.
//!
//! Server-reflexive candidates equal to a host candidate are dropped (RFC 8445 §5.1.3), as are
//! repeated ones. Gathering is complete ([`GatherEvent::Complete`]) once every transaction has
//! finished or failed, or at [`GatherConfig::timeout`] at the latest; each failure is a
//! [`GatherEvent::Error`] with the server's error code or 701 (no answer, unresolvable name,
//! unsupported URL), as `icecandidateerror` reports them.

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use super::candidate::{
    compute_priority, hash_foundation, Candidate, CandidateAddress, CandidateKind, TransportProtocol,
};
use super::server::{IceServerHost, IceServerScheme, IceServerTransport, IceServerUrl, ValidIceServer};
use crate::net::Transmit;
use crate::stun::{BindingError, StunBinding, StunBindingConfig};
use crate::turn::{StreamDecoder, TurnClient, TurnConfig, TurnEvent, TurnState, TurnTransport};

/// The component every gathered candidate belongs to (RTP/RTCP multiplexed).
const COMPONENT: u16 = 1;
/// The `icecandidateerror` code for a server that could not be reached (W3C webrtc-pc §4.8.2).
pub const UNREACHABLE: u16 = 701;
/// The most datagrams or stream chunks queued for the servers; the oldest are dropped beyond.
const MAX_QUEUED_TRANSMITS: usize = 1024;
/// The most relayed datagrams waiting in [`IceGatherer::poll_relayed`]; more are dropped.
const MAX_QUEUED_RELAYED: usize = 512;
/// The most events waiting in [`IceGatherer::poll_event`]; more are dropped.
const MAX_QUEUED_EVENTS: usize = 256;

/// One URL of an `RTCIceServer`, with the address the runtime resolved its host to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerEndpoint {
    /// The parsed URL.
    pub url: IceServerUrl,
    /// The server's socket address; `None` when its name could not be resolved.
    pub address: Option<SocketAddr>,
    /// The TURN username.
    pub username: Option<String>,
    /// The TURN credential.
    pub credential: Option<String>,
}

impl ServerEndpoint {
    /// One endpoint per URL of a validated server; IP literals get their address, DNS names
    /// `None` (fill it in with [`ServerEndpoint::resolved`]).
    pub fn from_server(server: &ValidIceServer) -> Vec<ServerEndpoint> {
        server
            .urls
            .iter()
            .map(|url| ServerEndpoint {
                url: url.clone(),
                address: url.socket_addr(),
                username: server.username.clone(),
                credential: server.credential.clone(),
            })
            .collect()
    }

    /// The same endpoint at a resolved address.
    pub fn resolved(self, address: SocketAddr) -> ServerEndpoint {
        ServerEndpoint {
            address: Some(address),
            ..self
        }
    }
}

/// Timers and limits of an [`IceGatherer`]. The defaults finish every transaction within 6 s.
#[derive(Debug, Clone)]
pub struct GatherConfig {
    /// Retransmissions of the Binding requests (default 500 ms, 3 requests: gives up at 3.5 s).
    pub binding: StunBindingConfig,
    /// First retransmission timeout of TURN requests over UDP (default 500 ms).
    pub turn_rto: Duration,
    /// TURN requests sent in total over UDP (default 4: at 0, 0.5, 1.5 and 3.5 s).
    pub turn_max_attempts: u32,
    /// RTOs to wait after the last UDP request (default 4: gives up at 5.5 s).
    pub turn_last_wait_rtos: u32,
    /// How long a TURN request over TCP waits for its answer (default 5 s).
    pub turn_stream_timeout: Duration,
    /// Gathering is complete this long after it started, whatever is still pending (default 10 s).
    pub timeout: Duration,
    /// At most this many Binding transactions plus allocations (default 16); more are skipped.
    pub max_transactions: usize,
    /// A SOFTWARE attribute for TURN requests.
    pub software: Option<String>,
}

impl Default for GatherConfig {
    fn default() -> Self {
        GatherConfig {
            binding: StunBindingConfig::default(),
            turn_rto: Duration::from_millis(500),
            turn_max_attempts: 4,
            turn_last_wait_rtos: 4,
            turn_stream_timeout: Duration::from_secs(5),
            timeout: Duration::from_secs(10),
            max_transactions: 16,
            software: None,
        }
    }
}

/// A failed gathering transaction, as `RTCPeerConnectionIceErrorEvent` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CandidateError {
    /// The local address the request left from (`None` for a TCP connection or when nothing was sent).
    pub address: Option<SocketAddr>,
    /// The server's URL.
    pub url: String,
    /// The server's STUN error code (300–699), or 701 when the server could not be reached.
    pub error_code: u16,
    /// The reason phrase, or what went wrong.
    pub error_text: String,
}

/// What the gatherer reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GatherEvent {
    /// A new local candidate: server-reflexive (signal it) or relayed (add it to the agent too).
    Candidate(Candidate),
    /// A transaction failed.
    Error(CandidateError),
    /// Every transaction has finished (sent once).
    Complete,
}

/// Bytes for the TCP or TLS connection to a TURN server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamTransmit {
    /// The server: one connection per server address.
    pub server: SocketAddr,
    /// `Some(host)` for a `turns:` server: the connection is TLS, and the server's certificate
    /// must be valid for `host` (the URL's host name or IP address). `None`: plain TCP.
    pub tls: Option<IceServerHost>,
    /// The bytes to write, whole STUN or ChannelData frames.
    pub contents: Vec<u8>,
}

/// A datagram a peer sent to one of our relayed addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayedDatagram {
    /// The peer.
    pub source: SocketAddr,
    /// The relayed address (the relayed candidate's base) it was sent to.
    pub relayed: SocketAddr,
    /// The datagram.
    pub contents: Vec<u8>,
}

#[derive(Debug)]
struct BindingTask {
    local: SocketAddr,
    server: SocketAddr,
    url: String,
    local_preference: u16,
    binding: StunBinding,
    done: bool,
}

#[derive(Debug)]
enum Path {
    /// Datagrams from this local socket.
    Udp { local: SocketAddr },
    /// A TCP connection to the server; over TLS when `tls` names the host to verify.
    Stream {
        decoder: StreamDecoder,
        tls: Option<IceServerHost>,
    },
}

/// How [`IceGatherer::start_relay`] reaches a TURN server.
enum RelayPath {
    /// UDP from the `rank`-th local socket.
    Udp { local: SocketAddr, rank: usize },
    /// A TCP connection, over TLS verified for `tls` when it is set.
    Stream { tls: Option<IceServerHost> },
}

#[derive(Debug)]
struct Relay {
    url: String,
    server: SocketAddr,
    path: Path,
    local_preference: u16,
    client: TurnClient,
    relayed: Option<SocketAddr>,
    /// The allocation succeeded or failed: gathering no longer waits for it.
    finished: bool,
}

impl Relay {
    fn local(&self) -> Option<SocketAddr> {
        match self.path {
            Path::Udp { local } => Some(local),
            Path::Stream { .. } => None,
        }
    }
}

/// The sans-IO gatherer of server-reflexive and relayed candidates; see the [module
/// documentation](self).
#[derive(Debug)]
pub struct IceGatherer {
    config: GatherConfig,
    started: bool,
    complete: bool,
    relay_only: bool,
    deadline: Option<Instant>,
    /// The latest time seen, for calls without one ([`IceGatherer::send_relayed`]).
    now: Option<Instant>,
    hosts: Vec<SocketAddr>,
    bindings: Vec<BindingTask>,
    relays: Vec<Relay>,
    server_reflexive: Vec<SocketAddr>,
    transmits: VecDeque<Transmit>,
    stream_transmits: VecDeque<StreamTransmit>,
    relayed: VecDeque<RelayedDatagram>,
    events: VecDeque<GatherEvent>,
    /// The remote addresses allocations must let in: every allocation, including one made
    /// later, asks its server for a permission for each (at most [`MAX_PERMITTED_PEERS`]).
    peers: Vec<IpAddr>,
}

/// The most remote addresses TURN permissions are requested for (as many as remote candidates
/// a description may carry).
pub const MAX_PERMITTED_PEERS: usize = 100;

impl IceGatherer {
    /// A gatherer that has not started.
    pub fn new(config: GatherConfig) -> Self {
        IceGatherer {
            config,
            started: false,
            complete: false,
            relay_only: false,
            deadline: None,
            now: None,
            hosts: Vec::new(),
            bindings: Vec::new(),
            relays: Vec::new(),
            server_reflexive: Vec::new(),
            transmits: VecDeque::new(),
            stream_transmits: VecDeque::new(),
            relayed: VecDeque::new(),
            events: VecDeque::new(),
            peers: Vec::new(),
        }
    }

    /// Starts gathering (once): a Binding per STUN and TURN/UDP server and local socket of the
    /// same family (none when `relay_only`), an allocation per TURN/UDP server and socket, and
    /// one per TURN/TCP server. `hosts` are the local UDP sockets, most preferred first.
    pub fn start(&mut self, now: Instant, hosts: &[SocketAddr], servers: &[ServerEndpoint], relay_only: bool) {
        if self.started {
            return;
        }
        self.started = true;
        self.relay_only = relay_only;
        self.ask_servers(now, hosts, servers);
    }

    /// Gathers again for an ICE restart: server-reflexive candidates are asked for anew on every
    /// socket in `hosts` (a NAT may map differently now), and allocations are made for sockets
    /// that have none; live allocations are kept (their relayed candidates stay valid). Emits
    /// [`GatherEvent::Complete`] again once the new transactions are done. Starts gathering if it
    /// had not started.
    pub fn regather(&mut self, now: Instant, hosts: &[SocketAddr], servers: &[ServerEndpoint], relay_only: bool) {
        if !self.started {
            self.start(now, hosts, servers, relay_only);
            return;
        }
        self.complete = false;
        // Answers to the old Binding requests no longer matter.
        self.bindings.clear();
        self.server_reflexive.clear();
        self.ask_servers(now, hosts, servers);
    }

    /// Sends the first requests to every server from `hosts`, with the gathering deadline from `now`.
    fn ask_servers(&mut self, now: Instant, hosts: &[SocketAddr], servers: &[ServerEndpoint]) {
        self.now = Some(now);
        self.deadline = Some(now + self.config.timeout);
        self.hosts = hosts.to_vec();
        for server in servers {
            self.start_server(now, server);
        }
        self.collect_transmits();
        self.check_complete();
    }

    fn start_server(&mut self, now: Instant, server: &ServerEndpoint) {
        let url = server.url.to_string();
        let Some(address) = server.address else {
            self.error(None, url, UNREACHABLE, format!("could not resolve {}", server.url.host));
            return;
        };
        let scheme = server.url.scheme;
        match (scheme, server.url.transport) {
            (IceServerScheme::Stuns, _) => {
                self.error(None, url, UNREACHABLE, "STUN over TLS (stuns:) is not supported".into());
                return;
            }
            (IceServerScheme::Turns, IceServerTransport::Udp) => {
                self.error(None, url, UNREACHABLE, "TURN over DTLS is not supported".into());
                return;
            }
            (IceServerScheme::Turns, IceServerTransport::Tcp) => {
                let tls = Some(server.url.host.clone());
                self.start_relay(now, server, url, address, RelayPath::Stream { tls });
                return;
            }
            (IceServerScheme::Turn, IceServerTransport::Tcp) => {
                self.start_relay(now, server, url, address, RelayPath::Stream { tls: None });
                return;
            }
            // `stun:` has no transport query: always a Binding over UDP.
            (IceServerScheme::Stun, _) | (IceServerScheme::Turn, IceServerTransport::Udp) => {}
        }
        let turn = scheme == IceServerScheme::Turn;
        let hosts: Vec<(usize, SocketAddr)> = self
            .hosts
            .iter()
            .copied()
            .enumerate()
            .filter(|(_, h)| h.is_ipv4() == address.is_ipv4())
            .collect();
        for (rank, local) in hosts {
            if !self.relay_only {
                self.start_binding(now, url.clone(), local, address, rank);
            }
            if turn {
                self.start_relay(now, server, url.clone(), address, RelayPath::Udp { local, rank });
            }
        }
    }

    fn room(&self) -> bool {
        let used = self.bindings.len() + self.relays.len();
        if used >= self.config.max_transactions {
            tracing::debug!(
                limit = self.config.max_transactions,
                "too many ICE servers; one skipped"
            );
            return false;
        }
        true
    }

    fn start_binding(&mut self, now: Instant, url: String, local: SocketAddr, server: SocketAddr, rank: usize) {
        if self.bindings.iter().any(|b| b.local == local && b.server == server) || !self.room() {
            return;
        }
        match StunBinding::new(now, self.config.binding) {
            Ok(binding) => self.bindings.push(BindingTask {
                local,
                server,
                url,
                local_preference: local_preference(local, rank),
                binding,
                done: false,
            }),
            Err(e) => tracing::warn!(error = %e, "could not build a STUN binding request"),
        }
    }

    fn start_relay(&mut self, now: Instant, server: &ServerEndpoint, url: String, address: SocketAddr, how: RelayPath) {
        let local = match how {
            RelayPath::Udp { local, .. } => Some(local),
            RelayPath::Stream { .. } => None,
        };
        // One connection per server address: a second stream URL for it is skipped.
        let duplicate = self.relays.iter().any(|r| r.server == address && r.local() == local);
        if duplicate || !self.room() {
            return;
        }
        let transport = match &how {
            RelayPath::Udp { .. } => TurnTransport::Udp,
            RelayPath::Stream { tls: None } => TurnTransport::Tcp,
            RelayPath::Stream { tls: Some(_) } => TurnTransport::Tls,
        };
        let mut config = TurnConfig::new(
            server.username.clone().unwrap_or_default(),
            server.credential.clone().unwrap_or_default(),
            transport,
        );
        config.rto = self.config.turn_rto;
        config.max_attempts = self.config.turn_max_attempts;
        config.last_wait_rtos = self.config.turn_last_wait_rtos;
        config.stream_timeout = self.config.turn_stream_timeout;
        config.software = self.config.software.clone();
        // Relayed over UDP is preferred to relayed over TCP, and TCP to TLS, as browsers do.
        let (local_preference, path) = match how {
            RelayPath::Udp { local, rank } => {
                let rank = u16::try_from(rank).unwrap_or(u16::MAX);
                (0xC000u16.saturating_sub(rank), Path::Udp { local })
            }
            RelayPath::Stream { tls } => {
                let preference = if tls.is_some() { 0x2000 } else { 0x4000 };
                let decoder = StreamDecoder::default();
                (preference, Path::Stream { decoder, tls })
            }
        };
        self.relays.push(Relay {
            url,
            server: address,
            path,
            local_preference,
            client: TurnClient::new(now, config),
            relayed: None,
            finished: false,
        });
    }

    /// Whether gathering is complete.
    pub fn is_complete(&self) -> bool {
        self.complete
    }

    /// Offers a datagram received on a local socket. Returns true if it came from a server this
    /// gatherer talks to over that socket (a Binding response, a TURN response, a Data
    /// indication or ChannelData) and was consumed.
    pub fn handle_receive(
        &mut self,
        now: Instant,
        source: SocketAddr,
        destination: SocketAddr,
        contents: &[u8],
    ) -> bool {
        self.now = Some(now);
        let mut consumed = false;
        for i in 0..self.bindings.len() {
            let Some(b) = self.bindings.get_mut(i) else { continue };
            if b.done || b.local != destination || b.server != source {
                continue;
            }
            if b.binding.handle_receive(contents) {
                self.finish_binding(i);
                consumed = true;
                break;
            }
        }
        if !consumed {
            let relay = self
                .relays
                .iter()
                .position(|r| r.server == source && r.local() == Some(destination));
            if let Some(i) = relay {
                if let Some(r) = self.relays.get_mut(i) {
                    if let Err(e) = r.client.handle_receive(now, contents) {
                        tracing::debug!(error = %e, server = %source, "bad message from the TURN server");
                    }
                }
                self.relay_events(i);
                consumed = true;
            }
        }
        if consumed {
            self.collect_transmits();
            self.check_complete();
        }
        consumed
    }

    /// Bytes read from the TCP connection to `server`.
    pub fn handle_stream_receive(&mut self, now: Instant, server: SocketAddr, bytes: &[u8]) {
        self.now = Some(now);
        let Some(i) = self.stream_relay(server) else { return };
        let mut broken = None;
        if let Some(Relay {
            path: Path::Stream { decoder, .. },
            client,
            ..
        }) = self.relays.get_mut(i)
        {
            match decoder.push(bytes) {
                Ok(()) => loop {
                    match decoder.next_frame() {
                        Ok(Some(frame)) => {
                            if let Err(e) = client.handle_receive(now, frame.bytes()) {
                                tracing::debug!(error = %e, %server, "bad frame from the TURN server");
                            }
                        }
                        Ok(None) => break,
                        Err(e) => {
                            broken = Some(e.to_string());
                            break;
                        }
                    }
                },
                Err(e) => broken = Some(e.to_string()),
            }
        }
        self.relay_events(i);
        if let Some(reason) = broken {
            self.lose_relay(i, format!("the TURN server's stream is broken: {reason}"));
        }
        self.collect_transmits();
        self.check_complete();
    }

    /// The TCP connection to `server` could not be opened or has ended.
    pub fn handle_stream_closed(&mut self, now: Instant, server: SocketAddr) {
        self.handle_stream_failed(
            now,
            server,
            "the TCP connection to the TURN server failed or closed".into(),
        );
    }

    /// The connection to `server` failed for `reason` (the runtime's words, e.g. the TLS error
    /// that ended the handshake): the allocation is lost, a 701 with `reason` as its text if
    /// gathering still waited for it.
    pub fn handle_stream_failed(&mut self, now: Instant, server: SocketAddr, reason: String) {
        self.now = Some(now);
        if let Some(i) = self.stream_relay(server) {
            self.lose_relay(i, reason);
        }
        self.check_complete();
    }

    /// How the allocation whose relayed address is `relayed` reaches its server (`relayProtocol`
    /// of a relayed candidate's stats); `None` if there is no such live allocation.
    pub fn relay_protocol(&self, relayed: SocketAddr) -> Option<TurnTransport> {
        let r = self.relays.get(self.relay_at(relayed)?)?;
        Some(r.client.transport())
    }

    fn stream_relay(&self, server: SocketAddr) -> Option<usize> {
        self.relays
            .iter()
            .position(|r| r.server == server && matches!(r.path, Path::Stream { .. }))
    }

    /// The allocation is gone without an answer: 701 if gathering still waited for it.
    fn lose_relay(&mut self, i: usize, reason: String) {
        let (Some(r), Some(now)) = (self.relays.get_mut(i), self.now) else {
            return;
        };
        r.relayed = None;
        r.client.close(now);
        while r.client.poll_transmit().is_some() {}
        if !r.finished {
            r.finished = true;
            let (address, url) = (r.local(), r.url.clone());
            self.error(address, url, UNREACHABLE, reason);
        } else {
            tracing::debug!(server = %r.server, %reason, "TURN allocation lost");
        }
    }

    /// Retransmits, gives up on late transactions and ends gathering at its deadline.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.now = Some(now);
        for i in 0..self.bindings.len() {
            let Some(b) = self.bindings.get_mut(i) else { continue };
            if b.done {
                continue;
            }
            b.binding.handle_timeout(now);
            if b.binding.result().is_some() {
                self.finish_binding(i);
            }
        }
        for i in 0..self.relays.len() {
            if let Some(r) = self.relays.get_mut(i) {
                r.client.handle_timeout(now);
            }
            self.relay_events(i);
        }
        if !self.complete && self.deadline.is_some_and(|d| now >= d) {
            self.give_up();
        }
        self.collect_transmits();
        self.check_complete();
    }

    /// The gathering deadline passed: whatever has not answered is a 701.
    fn give_up(&mut self) {
        let mut errors = Vec::new();
        for b in self.bindings.iter_mut().filter(|b| !b.done) {
            b.done = true;
            errors.push((Some(b.local), b.url.clone()));
        }
        for i in 0..self.relays.len() {
            if self.relays.get(i).is_some_and(|r| !r.finished) {
                self.lose_relay(i, "no answer from the TURN server before gathering ended".into());
            }
        }
        for (address, url) in errors {
            self.error(address, url, UNREACHABLE, "no answer from the STUN server".into());
        }
    }

    /// When [`IceGatherer::handle_timeout`] should be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let bindings = self
            .bindings
            .iter()
            .filter(|b| !b.done)
            .filter_map(|b| b.binding.poll_timeout());
        let relays = self.relays.iter().filter_map(|r| r.client.poll_timeout());
        let deadline = self.deadline.filter(|_| !self.complete);
        bindings.chain(relays).chain(deadline).min()
    }

    /// The next datagram for a server, from a local socket.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The next bytes for a TCP connection to a server.
    pub fn poll_stream_transmit(&mut self) -> Option<StreamTransmit> {
        self.stream_transmits.pop_front()
    }

    /// The next datagram a peer sent to a relayed address.
    pub fn poll_relayed(&mut self) -> Option<RelayedDatagram> {
        self.relayed.pop_front()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<GatherEvent> {
        self.events.pop_front()
    }

    /// Whether `addr` is the relayed address of a live allocation.
    pub fn is_relayed(&self, addr: SocketAddr) -> bool {
        self.relay_at(addr).is_some()
    }

    fn relay_at(&self, relayed: SocketAddr) -> Option<usize> {
        self.relays
            .iter()
            .position(|r| r.relayed == Some(relayed) && r.client.state() == TurnState::Allocated)
    }

    /// Sends `data` from the relayed address `relayed` to `peer` (asking for the peer's
    /// permission first if needed). Returns false if there is no such allocation or the client
    /// refused (queue full, too many permissions).
    pub fn send_relayed(&mut self, relayed: SocketAddr, peer: SocketAddr, data: &[u8]) -> bool {
        let (Some(i), Some(now)) = (self.relay_at(relayed), self.now) else {
            return false;
        };
        let Some(r) = self.relays.get_mut(i) else { return false };
        let result = r
            .client
            .create_permission(now, peer.ip())
            .and_then(|()| r.client.send_to(peer, data));
        if let Err(e) = &result {
            tracing::debug!(error = %e, %peer, "could not relay a datagram");
        }
        self.collect_transmits();
        result.is_ok()
    }

    /// Asks every allocation of `peer`'s family, now and any made later, for a permission for
    /// `peer` (before checks are sent through it). A peer already asked for is not asked again
    /// (allocations refresh their permissions themselves).
    pub fn permit(&mut self, now: Instant, peer: IpAddr) {
        self.now = Some(now);
        if self.peers.contains(&peer) || self.peers.len() >= MAX_PERMITTED_PEERS {
            return;
        }
        self.peers.push(peer);
        for r in &mut self.relays {
            if r.client.state() == TurnState::Allocated && r.relayed.is_some_and(|a| a.is_ipv4() == peer.is_ipv4()) {
                if let Err(e) = r.client.create_permission(now, peer) {
                    tracing::debug!(error = %e, %peer, "no TURN permission");
                }
            }
        }
        self.collect_transmits();
    }

    /// Binds a channel from the allocation at `relayed` to `peer`, for the selected pair's data.
    pub fn bind_channel(&mut self, now: Instant, relayed: SocketAddr, peer: SocketAddr) {
        self.now = Some(now);
        let Some(i) = self.relay_at(relayed) else { return };
        if let Some(r) = self.relays.get_mut(i) {
            if let Err(e) = r.client.bind_channel(now, peer) {
                tracing::debug!(error = %e, %peer, "no TURN channel");
            }
        }
        self.collect_transmits();
    }

    /// Releases every allocation (Refresh with lifetime 0, at the latest time seen: `close` has
    /// no clock) and stops waiting for answers.
    pub fn close(&mut self) {
        if let Some(now) = self.now {
            for r in &mut self.relays {
                r.client.close(now);
            }
        }
        for b in &mut self.bindings {
            b.done = true;
        }
        self.complete = true;
        self.collect_transmits();
    }

    fn finish_binding(&mut self, i: usize) {
        let Some(b) = self.bindings.get_mut(i) else { return };
        b.done = true;
        let (local, server, url, pref) = (b.local, b.server, b.url.clone(), b.local_preference);
        match b.binding.result().cloned() {
            Some(Ok(mapped)) => self.add_server_reflexive(mapped, local, pref, server),
            Some(Err(BindingError::ErrorResponse { code, reason })) => {
                let code = if (300..=699).contains(&code) { code } else { UNREACHABLE };
                self.error(Some(local), url, code, reason);
            }
            Some(Err(e)) => self.error(Some(local), url, UNREACHABLE, e.to_string()),
            None => {}
        }
    }

    fn add_server_reflexive(
        &mut self,
        mapped: SocketAddr,
        base: SocketAddr,
        local_preference: u16,
        server: SocketAddr,
    ) {
        if self.relay_only {
            return;
        }
        if self.hosts.contains(&mapped) {
            tracing::debug!(%mapped, "server-reflexive address equals a host candidate; not signalled");
            return;
        }
        if self.server_reflexive.contains(&mapped) {
            return;
        }
        self.server_reflexive.push(mapped);
        let candidate = Candidate {
            foundation: foundation(CandidateKind::ServerReflexive, base.ip(), server),
            component: COMPONENT,
            protocol: TransportProtocol::Udp,
            priority: compute_priority(CandidateKind::ServerReflexive, local_preference, COMPONENT),
            address: CandidateAddress::Ip(mapped.ip()),
            port: mapped.port(),
            kind: CandidateKind::ServerReflexive,
            related: Some((CandidateAddress::Ip(base.ip()), base.port())),
            tcp_type: None,
            extensions: Vec::new(),
        };
        self.push_event(GatherEvent::Candidate(candidate));
    }

    fn relay_events(&mut self, i: usize) {
        loop {
            let Some(r) = self.relays.get_mut(i) else { return };
            let Some(event) = r.client.poll_event() else { return };
            match event {
                TurnEvent::Allocated { relayed, mapped, .. } => {
                    r.relayed = Some(relayed);
                    r.finished = true;
                    // The remote addresses known before this allocation existed.
                    if let Some(now) = self.now {
                        for peer in self.peers.iter().filter(|p| p.is_ipv4() == relayed.is_ipv4()) {
                            if let Err(e) = r.client.create_permission(now, *peer) {
                                tracing::debug!(error = %e, %peer, "no TURN permission");
                            }
                        }
                    }
                    let related = mapped.or(r.local()).unwrap_or(relayed);
                    let base_ip = r.local().map_or(related.ip(), |l| l.ip());
                    let candidate = Candidate {
                        foundation: foundation(CandidateKind::Relay, base_ip, r.server),
                        component: COMPONENT,
                        protocol: TransportProtocol::Udp,
                        priority: compute_priority(CandidateKind::Relay, r.local_preference, COMPONENT),
                        address: CandidateAddress::Ip(relayed.ip()),
                        port: relayed.port(),
                        kind: CandidateKind::Relay,
                        related: Some((CandidateAddress::Ip(related.ip()), related.port())),
                        tcp_type: None,
                        extensions: Vec::new(),
                    };
                    tracing::debug!(%relayed, server = %r.server, "TURN allocation made");
                    let reflexive = match (mapped, r.local()) {
                        (Some(mapped), Some(local)) => Some((mapped, local, r.local_preference, r.server)),
                        _ => None,
                    };
                    self.push_event(GatherEvent::Candidate(candidate));
                    if let Some((mapped, local, pref, server)) = reflexive {
                        self.add_server_reflexive(mapped, local, pref, server);
                    }
                }
                TurnEvent::Failed { code, reason } => {
                    r.relayed = None;
                    if r.finished {
                        tracing::debug!(server = %r.server, ?code, %reason, "TURN allocation lost");
                    } else {
                        r.finished = true;
                        let code = code.filter(|c| (300..=699).contains(c)).unwrap_or(UNREACHABLE);
                        let (address, url) = (r.local(), r.url.clone());
                        self.error(address, url, code, reason);
                    }
                }
                TurnEvent::Data { from, data } => {
                    let Some(relayed) = r.relayed else { continue };
                    if self.relayed.len() >= MAX_QUEUED_RELAYED {
                        tracing::debug!("relayed datagram dropped: queue full");
                        continue;
                    }
                    self.relayed.push_back(RelayedDatagram {
                        source: from,
                        relayed,
                        contents: data,
                    });
                }
                other => tracing::trace!(event = ?other, "TURN event"),
            }
        }
    }

    fn collect_transmits(&mut self) {
        for b in &mut self.bindings {
            while let Some(contents) = b.binding.poll_transmit() {
                push_bounded(
                    &mut self.transmits,
                    Transmit {
                        source: b.local,
                        destination: b.server,
                        contents,
                    },
                );
            }
        }
        for r in &mut self.relays {
            while let Some(contents) = r.client.poll_transmit() {
                match r.path {
                    Path::Udp { local } => push_bounded(
                        &mut self.transmits,
                        Transmit {
                            source: local,
                            destination: r.server,
                            contents,
                        },
                    ),
                    Path::Stream { ref tls, .. } => push_bounded(
                        &mut self.stream_transmits,
                        StreamTransmit {
                            server: r.server,
                            tls: tls.clone(),
                            contents,
                        },
                    ),
                }
            }
        }
    }

    fn check_complete(&mut self) {
        if !self.started || self.complete {
            return;
        }
        if self.bindings.iter().all(|b| b.done) && self.relays.iter().all(|r| r.finished) {
            self.complete = true;
            self.push_event(GatherEvent::Complete);
        }
    }

    fn error(&mut self, address: Option<SocketAddr>, url: String, error_code: u16, error_text: String) {
        tracing::debug!(%url, error_code, %error_text, "ICE candidate error");
        self.push_event(GatherEvent::Error(CandidateError {
            address,
            url,
            error_code,
            error_text,
        }));
    }

    fn push_event(&mut self, event: GatherEvent) {
        if self.events.len() >= MAX_QUEUED_EVENTS && event != GatherEvent::Complete {
            tracing::debug!("gathering event dropped: queue full");
            return;
        }
        self.events.push_back(event);
    }
}

fn push_bounded<T>(queue: &mut VecDeque<T>, item: T) {
    if queue.len() >= MAX_QUEUED_TRANSMITS {
        queue.pop_front();
    }
    queue.push_back(item);
}

/// The local preference of a candidate based on the `rank`-th local socket: IPv6 first, then
/// the earlier sockets, as for host candidates.
fn local_preference(local: SocketAddr, rank: usize) -> u16 {
    let family = if local.is_ipv6() { 32768u16 } else { 0 };
    (family + 32767).saturating_sub(u16::try_from(rank).unwrap_or(u16::MAX))
}

/// A foundation equal for candidates of one type, base IP and server (RFC 8445 §5.1.1.3).
fn foundation(kind: CandidateKind, base: IpAddr, server: SocketAddr) -> String {
    hash_foundation([
        kind.as_str().as_bytes(),
        base.to_string().as_bytes(),
        server.ip().to_string().as_bytes(),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stun::{Attribute, Class, Message, Method};

    fn host() -> SocketAddr {
        "10.0.0.1:5000".parse().unwrap()
    }

    fn stun_server() -> SocketAddr {
        "192.0.2.1:3478".parse().unwrap()
    }

    fn endpoint(url: &str, address: Option<SocketAddr>) -> ServerEndpoint {
        ServerEndpoint {
            url: IceServerUrl::parse(url).unwrap(),
            address,
            username: Some("u".into()),
            credential: Some("p".into()),
        }
    }

    /// A gatherer started at `now` on the one host socket.
    fn started(now: Instant, servers: &[ServerEndpoint], relay_only: bool) -> IceGatherer {
        let mut g = IceGatherer::new(GatherConfig::default());
        g.start(now, &[host()], servers, relay_only);
        g
    }

    fn events(g: &mut IceGatherer) -> Vec<GatherEvent> {
        std::iter::from_fn(|| g.poll_event()).collect()
    }

    /// Answers the Binding request `g` sent with `mapped`.
    fn answer(g: &mut IceGatherer, now: Instant, mapped: SocketAddr) {
        let t = g.poll_transmit().expect("a Binding request");
        assert_eq!((t.source, t.destination), (host(), stun_server()));
        let request = Message::decode(&t.contents).unwrap();
        assert_eq!((request.class, request.method), (Class::Request, Method::BINDING));
        let response = Message::new(Class::SuccessResponse, Method::BINDING, request.transaction_id)
            .with(Attribute::XorMappedAddress(mapped))
            .encode_with(None, true)
            .unwrap();
        assert!(g.handle_receive(now, stun_server(), host(), &response));
    }

    #[test]
    fn regathering_asks_the_server_again_and_completes_again() {
        let now = Instant::now();
        let servers = [endpoint("stun:192.0.2.1", Some(stun_server()))];
        let mut g = started(now, &servers, false);
        answer(&mut g, now, "203.0.113.7:40000".parse().unwrap());
        assert_eq!(events(&mut g).len(), 2);
        // After an ICE restart, the NAT now maps the socket elsewhere.
        let later = now + Duration::from_secs(60);
        g.regather(later, &[host()], &servers, false);
        assert!(!g.is_complete());
        let moved: SocketAddr = "203.0.113.9:41000".parse().unwrap();
        answer(&mut g, later, moved);
        let got = events(&mut g);
        let [GatherEvent::Candidate(c), GatherEvent::Complete] = got.as_slice() else {
            panic!("unexpected events {got:?}");
        };
        assert_eq!(c.socket_addr(), Some(moved));
        // Without servers, regathering completes at once.
        let mut bare = started(now, &[], false);
        assert_eq!(events(&mut bare), [GatherEvent::Complete]);
        bare.regather(later, &[host()], &[], false);
        assert_eq!(events(&mut bare), [GatherEvent::Complete]);
    }

    #[test]
    fn binding_gives_a_server_reflexive_candidate_then_completes() {
        let now = Instant::now();
        let mut g = started(now, &[endpoint("stun:192.0.2.1", Some(stun_server()))], false);
        assert!(!g.is_complete());
        let mapped: SocketAddr = "203.0.113.7:40000".parse().unwrap();
        answer(&mut g, now, mapped);
        let got = events(&mut g);
        let [GatherEvent::Candidate(c), GatherEvent::Complete] = got.as_slice() else {
            panic!("unexpected events {got:?}");
        };
        assert_eq!(c.kind, CandidateKind::ServerReflexive);
        assert_eq!(c.socket_addr(), Some(mapped));
        assert_eq!(c.related, Some((CandidateAddress::Ip(host().ip()), host().port())));
        assert!(c.to_string().contains("typ srflx raddr 10.0.0.1 rport 5000"), "{c}");
        assert_eq!(g.poll_timeout(), None);
    }

    #[test]
    fn reflexive_address_equal_to_the_host_is_not_signalled() {
        let now = Instant::now();
        let mut g = started(now, &[endpoint("stun:192.0.2.1", Some(stun_server()))], false);
        answer(&mut g, now, host());
        assert_eq!(events(&mut g), [GatherEvent::Complete]);
    }

    #[test]
    fn silent_server_is_a_701_and_gathering_still_completes_in_time() {
        let t0 = Instant::now();
        let turn = "turn:192.0.2.1?transport=udp";
        let mut g = started(t0, &[endpoint(turn, Some(stun_server()))], false);
        let mut now = t0;
        while let Some(at) = g.poll_timeout() {
            assert!(at >= now);
            now = at;
            g.handle_timeout(now);
            while g.poll_transmit().is_some() {}
            if g.is_complete() {
                break;
            }
        }
        assert!(g.is_complete());
        assert!(now - t0 <= Duration::from_secs(6), "took {:?}", now - t0);
        let got = events(&mut g);
        let errors: Vec<_> = got
            .iter()
            .filter_map(|e| match e {
                GatherEvent::Error(e) => Some(e),
                _ => None,
            })
            .collect();
        // The Binding and the Allocate both went unanswered.
        assert_eq!(errors.len(), 2, "{got:?}");
        for e in errors {
            assert_eq!(
                (e.error_code, e.address, e.url.as_str()),
                (701, Some(host()), "turn:192.0.2.1:3478?transport=udp")
            );
        }
        assert_eq!(got.last(), Some(&GatherEvent::Complete));
    }

    #[test]
    fn unresolved_stuns_and_dtls_servers_fail_at_once_with_701() {
        let now = Instant::now();
        let mut g = started(
            now,
            &[
                endpoint("stun:stun.invalid", None),
                endpoint("stuns:192.0.2.1", Some(stun_server())),
                endpoint("turns:192.0.2.1?transport=udp", Some(stun_server())),
            ],
            false,
        );
        let got = events(&mut g);
        assert_eq!(got.len(), 4, "{got:?}");
        assert!(matches!(&got[0], GatherEvent::Error(e) if e.error_code == 701 && e.url == "stun:stun.invalid:3478"));
        assert!(matches!(&got[1], GatherEvent::Error(e) if e.error_code == 701 && e.error_text.contains("stuns")));
        assert!(matches!(&got[2], GatherEvent::Error(e) if e.error_code == 701 && e.error_text.contains("DTLS")));
        assert_eq!(got[3], GatherEvent::Complete);
        assert!(g.poll_transmit().is_none());
        assert!(g.poll_stream_transmit().is_none());
    }

    #[test]
    fn turns_allocates_on_a_tls_stream_named_for_the_url_host() {
        let now = Instant::now();
        let servers = [
            endpoint("turns:turn.example.org:5349", Some(stun_server())),
            endpoint("turns:192.0.2.9", Some("192.0.2.9:5349".parse().unwrap())),
        ];
        let mut g = started(now, &servers, true);
        let by_name = g.poll_stream_transmit().expect("an Allocate for the named server");
        assert_eq!(by_name.server, stun_server());
        assert_eq!(by_name.tls, Some(IceServerHost::Domain("turn.example.org".into())));
        assert_eq!(Message::decode(&by_name.contents).unwrap().method, Method::ALLOCATE);
        let by_ip = g.poll_stream_transmit().expect("an Allocate for the IP server");
        assert_eq!(by_ip.tls, Some(IceServerHost::Ip("192.0.2.9".parse().unwrap())));
        assert!(g.poll_transmit().is_none(), "nothing over UDP");

        // The TLS handshake fails: a 701 naming the runtime's reason; gathering completes once
        // the other server fails too.
        let reason = "TLS handshake failed: invalid peer certificate: UnknownIssuer";
        g.handle_stream_failed(now, stun_server(), reason.into());
        let got = events(&mut g);
        let [GatherEvent::Error(e)] = got.as_slice() else {
            panic!("unexpected events {got:?}");
        };
        assert_eq!(
            (e.error_code, e.url.as_str(), e.error_text.as_str(), e.address),
            (701, "turns:turn.example.org:5349?transport=tcp", reason, None)
        );
        assert!(!g.is_complete());
        g.handle_stream_closed(now, "192.0.2.9:5349".parse().unwrap());
        assert!(g.is_complete());
    }

    #[test]
    fn a_tls_allocation_reports_its_relay_protocol() {
        use crate::stun::{long_term_key, Integrity};
        let now = Instant::now();
        let mut g = started(now, &[endpoint("turns:192.0.2.1:3478", Some(stun_server()))], true);
        let key = long_term_key("u", "realm", "p");
        let answer = |g: &mut IceGatherer, class: Class, attributes: Vec<Attribute>, signed: bool| {
            let t = g.poll_stream_transmit().expect("a request on the stream");
            let request = Message::decode(&t.contents).unwrap();
            let mut m = Message::new(class, request.method, request.transaction_id);
            m.attributes = attributes;
            let bytes = m.encode_with(signed.then_some(Integrity::Sha1(&key)), true).unwrap();
            // Stream bytes may arrive split anywhere.
            let (a, b) = bytes.split_at(7);
            g.handle_stream_receive(now, stun_server(), a);
            g.handle_stream_receive(now, stun_server(), b);
        };
        let challenge = vec![
            Attribute::ErrorCode {
                code: 401,
                reason: "Unauthorized".into(),
            },
            Attribute::Realm("realm".into()),
            Attribute::Nonce("n".into()),
        ];
        answer(&mut g, Class::ErrorResponse, challenge, false);
        let relayed: SocketAddr = "192.0.2.1:50000".parse().unwrap();
        let granted = vec![Attribute::XorRelayedAddress(relayed), Attribute::Lifetime(600)];
        answer(&mut g, Class::SuccessResponse, granted, true);
        let got = events(&mut g);
        assert!(
            matches!(&got[..], [GatherEvent::Candidate(c), GatherEvent::Complete] if c.kind == CandidateKind::Relay),
            "{got:?}"
        );
        assert_eq!(g.relay_protocol(relayed), Some(TurnTransport::Tls));
        assert_eq!(g.relay_protocol("192.0.2.1:50001".parse().unwrap()), None);
    }

    #[test]
    fn relay_only_sends_no_binding_and_tcp_turn_goes_to_the_stream() {
        let now = Instant::now();
        let servers = [
            endpoint("stun:192.0.2.1", Some(stun_server())),
            endpoint("turn:192.0.2.1?transport=tcp", Some(stun_server())),
        ];
        let mut g = started(now, &servers, true);
        assert!(g.poll_transmit().is_none(), "no STUN under relay-only");
        let t = g.poll_stream_transmit().expect("an Allocate on the TCP stream");
        assert_eq!(t.server, stun_server());
        assert_eq!(t.tls, None, "plain TCP");
        let allocate = Message::decode(&t.contents).unwrap();
        assert_eq!(allocate.method, Method::ALLOCATE);
        // The connection cannot be opened: 701 and gathering is complete.
        g.handle_stream_closed(now, stun_server());
        let got = events(&mut g);
        assert!(matches!(&got[0], GatherEvent::Error(e) if e.error_code == 701 && e.address.is_none()));
        assert_eq!(got.last(), Some(&GatherEvent::Complete));
        assert!(!g.is_relayed("192.0.2.1:50000".parse().unwrap()));
    }

    /// Answers the TURN/UDP server's requests up to an allocation at `relayed`; returns the
    /// requests `g` sent after it (permissions, …).
    fn allocate(g: &mut IceGatherer, now: Instant, relayed: SocketAddr) -> Vec<Message> {
        use crate::stun::{long_term_key, Integrity};
        let key = long_term_key("u", "realm", "p");
        let reply = |g: &mut IceGatherer, request: &Message, class: Class, attributes: Vec<Attribute>, signed: bool| {
            let mut m = Message::new(class, request.method, request.transaction_id);
            m.attributes = attributes;
            let bytes = m.encode_with(signed.then_some(Integrity::Sha1(&key)), true).unwrap();
            assert!(g.handle_receive(now, stun_server(), host(), &bytes));
        };
        let next_allocate = |g: &mut IceGatherer| loop {
            let t = g.poll_transmit().expect("an Allocate request");
            let m = Message::decode(&t.contents).unwrap();
            if m.method == Method::ALLOCATE {
                return m;
            }
        };
        let first = next_allocate(g);
        let challenge = vec![
            Attribute::ErrorCode {
                code: 401,
                reason: "Unauthorized".into(),
            },
            Attribute::Realm("realm".into()),
            Attribute::Nonce("n".into()),
        ];
        reply(g, &first, Class::ErrorResponse, challenge, false);
        let second = next_allocate(g);
        let granted = vec![Attribute::XorRelayedAddress(relayed), Attribute::Lifetime(600)];
        reply(g, &second, Class::SuccessResponse, granted, true);
        std::iter::from_fn(|| g.poll_transmit())
            .filter_map(|t| Message::decode(&t.contents).ok())
            .collect()
    }

    #[test]
    fn a_peer_known_before_the_allocation_is_permitted_once_it_exists_and_only_once() {
        let now = Instant::now();
        let mut g = started(now, &[endpoint("turn:192.0.2.1", Some(stun_server()))], true);
        let peer: IpAddr = "203.0.113.5".parse().unwrap();
        // The remote candidate is known while the allocation is still being made.
        g.permit(now, peer);
        let after = allocate(&mut g, now, "192.0.2.1:50000".parse().unwrap());
        let permissions: Vec<&Message> = after.iter().filter(|m| m.method == Method::CREATE_PERMISSION).collect();
        assert_eq!(permissions.len(), 1, "{after:?}");
        assert!(permissions[0].peer_address().is_some_and(|a| a.ip() == peer));
        // Asking again for a known peer sends nothing; a new peer gets its permission.
        g.permit(now, peer);
        assert!(g.poll_transmit().is_none());
        g.permit(now, "203.0.113.6".parse().unwrap());
        let t = g.poll_transmit().expect("a CreatePermission for the new peer");
        assert_eq!(Message::decode(&t.contents).unwrap().method, Method::CREATE_PERMISSION);
    }

    #[test]
    fn garbage_from_a_server_is_consumed_without_effect() {
        let now = Instant::now();
        let mut g = started(now, &[endpoint("turn:192.0.2.1", Some(stun_server()))], false);
        for junk in [&b""[..], &[0u8; 3], &[0x40; 20], &[1, 1, 0, 8, 0x21, 0x12]] {
            g.handle_receive(now, stun_server(), host(), junk);
            g.handle_stream_receive(now, stun_server(), junk);
        }
        assert!(events(&mut g).is_empty());
        assert!(!g.is_complete());
    }
}
