//! The sans-IO TURN client (RFC 8656): one allocation on one server.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use crate::stun::{long_term_key, Attribute, Class, Integrity, Message, Method, TransactionId, MESSAGE_INTEGRITY};

use super::channel_data::{self, ChannelData, MAX_CHANNEL, MIN_CHANNEL};
use super::error::TurnError;

/// How the client reaches the server. Over TCP and TLS requests are not retransmitted and
/// ChannelData is padded to four bytes; feed stream bytes through a
/// [`StreamDecoder`](super::StreamDecoder) and each frame to [`TurnClient::handle_receive`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TurnTransport {
    /// UDP datagrams.
    Udp,
    /// A TCP connection.
    Tcp,
    /// A TLS connection.
    Tls,
}

impl TurnTransport {
    /// Whether the transport is a reliable stream (TCP or TLS).
    pub fn is_stream(self) -> bool {
        !matches!(self, TurnTransport::Udp)
    }

    /// The name W3C stats give it (`relayProtocol`): `udp`, `tcp` or `tls`.
    pub fn as_str(self) -> &'static str {
        match self {
            TurnTransport::Udp => "udp",
            TurnTransport::Tcp => "tcp",
            TurnTransport::Tls => "tls",
        }
    }
}

/// Settings of a [`TurnClient`].
#[derive(Debug, Clone)]
pub struct TurnConfig {
    /// The long-term credential username.
    pub username: String,
    /// The long-term credential password.
    pub password: String,
    /// How the client reaches the server.
    pub transport: TurnTransport,
    /// The allocation lifetime asked for (the server may grant another); RFC 8656 default 600 s.
    pub lifetime: Duration,
    /// First retransmission timeout over UDP (RFC 8489 RTO, 500 ms); it doubles on each retransmission.
    pub rto: Duration,
    /// Requests sent in total over UDP before giving up (RFC 8489 Rc, 7).
    pub max_attempts: u32,
    /// After the last UDP request, wait this many RTOs for the answer (RFC 8489 Rm, 16).
    pub last_wait_rtos: u32,
    /// How long a request over TCP/TLS waits for its answer (RFC 8489 Ti, 39.5 s).
    pub stream_timeout: Duration,
    /// A SOFTWARE attribute for requests, if any.
    pub software: Option<String>,
    /// At most this many peer IPs with a permission.
    pub max_permissions: usize,
    /// At most this many channels.
    pub max_channels: usize,
    /// At most this many messages waiting in [`TurnClient::poll_transmit`]; `send_to` fails beyond.
    pub max_queued_transmits: usize,
    /// At most this many events waiting in [`TurnClient::poll_event`]; more are dropped and counted.
    pub max_queued_events: usize,
    /// How many times one request is retried after 438 Stale Nonce.
    pub max_stale_nonce_retries: u32,
}

impl TurnConfig {
    /// Settings with the defaults for the given credentials and transport.
    pub fn new(username: impl Into<String>, password: impl Into<String>, transport: TurnTransport) -> Self {
        TurnConfig {
            username: username.into(),
            password: password.into(),
            transport,
            lifetime: Duration::from_secs(600),
            rto: Duration::from_millis(500),
            max_attempts: 7,
            last_wait_rtos: 16,
            stream_timeout: Duration::from_millis(39_500),
            software: None,
            max_permissions: 64,
            max_channels: 64,
            max_queued_transmits: 256,
            max_queued_events: 256,
            max_stale_nonce_retries: 3,
        }
    }
}

/// When a permission is refreshed: RFC 8656 §9 gives it 300 s.
pub const PERMISSION_REFRESH: Duration = Duration::from_secs(240);
/// When a channel binding is refreshed: RFC 8656 §12 gives it 600 s.
pub const CHANNEL_REFRESH: Duration = Duration::from_secs(540);
/// IANA protocol number of UDP, the only relayed transport asked for.
const PROTOCOL_UDP: u8 = 17;

/// What the client reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TurnEvent {
    /// The allocation exists: the relayed address (a relay candidate) and the client's address
    /// as the server saw it (a server-reflexive candidate).
    Allocated {
        /// XOR-RELAYED-ADDRESS.
        relayed: SocketAddr,
        /// XOR-MAPPED-ADDRESS, if the server sent one.
        mapped: Option<SocketAddr>,
        /// The lifetime the server granted.
        lifetime: Duration,
    },
    /// A Refresh succeeded; the allocation lives `lifetime` longer.
    Refreshed {
        /// The lifetime the server granted.
        lifetime: Duration,
    },
    /// The allocation could not be made or was lost; the client is finished.
    Failed {
        /// The server's ERROR-CODE, or `None` when there was no (usable) answer.
        code: Option<u16>,
        /// The reason phrase or what went wrong.
        reason: String,
    },
    /// The server installed a permission for this peer IP.
    PermissionCreated {
        /// The peer IP.
        peer: IpAddr,
    },
    /// A permission could not be installed or refreshed; sending to that IP stops.
    PermissionFailed {
        /// The peer IP.
        peer: IpAddr,
        /// The server's ERROR-CODE, or `None` on timeout.
        code: Option<u16>,
        /// The reason phrase or what went wrong.
        reason: String,
    },
    /// A channel is bound: data to and from `peer` now travels as ChannelData.
    ChannelBound {
        /// The peer.
        peer: SocketAddr,
        /// The channel number.
        channel: u16,
    },
    /// A channel could not be bound or refreshed; data to `peer` goes in Send indications again.
    ChannelBindFailed {
        /// The peer.
        peer: SocketAddr,
        /// The server's ERROR-CODE, or `None` on timeout.
        code: Option<u16>,
        /// The reason phrase or what went wrong.
        reason: String,
    },
    /// Data a peer sent to the relayed address.
    Data {
        /// The peer.
        from: SocketAddr,
        /// The data.
        data: Vec<u8>,
    },
    /// The allocation was released after [`TurnClient::close`].
    Closed,
}

/// The client's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TurnState {
    /// Allocate sent, no allocation yet.
    Allocating,
    /// The allocation exists.
    Allocated,
    /// [`TurnClient::close`] sent a Refresh with lifetime 0.
    Closing,
    /// Closed (after close) — nothing more happens.
    Closed,
    /// Failed — nothing more happens.
    Failed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Request {
    Allocate,
    Refresh { lifetime: u32 },
    CreatePermission { peer: IpAddr },
    ChannelBind { peer: SocketAddr, channel: u16 },
}

#[derive(Debug)]
struct Transaction {
    request: Request,
    bytes: Vec<u8>,
    authenticated: bool,
    sends: u32,
    interval: Duration,
    deadline: Instant,
    stale_retries: u32,
}

#[derive(Debug)]
struct Auth {
    realm: String,
    nonce: String,
    key: [u8; 16],
}

#[derive(Debug)]
struct Permission {
    installed: bool,
    refresh_at: Option<Instant>,
}

#[derive(Debug)]
struct Channel {
    number: u16,
    bound: bool,
    refresh_at: Option<Instant>,
}

#[derive(Debug)]
struct Allocation {
    relayed: SocketAddr,
    refresh_at: Instant,
}

/// A sans-IO TURN client for one allocation on one server.
///
/// Send every [`TurnClient::poll_transmit`] message to the server; hand every datagram (UDP) or
/// frame (TCP/TLS, see [`StreamDecoder`](super::StreamDecoder)) from the server to
/// [`TurnClient::handle_receive`]; call [`TurnClient::handle_timeout`] at
/// [`TurnClient::poll_timeout`]; read [`TurnClient::poll_event`].
///
/// The first Allocate goes without credentials; the server's 401 brings REALM and NONCE, and
/// the Allocate is repeated with USERNAME, REALM, NONCE and MESSAGE-INTEGRITY (long-term key).
/// 438 Stale Nonce repeats a request with the new nonce. Success responses to authenticated
/// requests must carry a valid MESSAGE-INTEGRITY, or they are ignored. The allocation is
/// refreshed at 80 % of its lifetime, permissions every [`PERMISSION_REFRESH`], channels every
/// [`CHANNEL_REFRESH`].
#[derive(Debug)]
pub struct TurnClient {
    config: TurnConfig,
    state: TurnState,
    auth: Option<Auth>,
    allocation: Option<Allocation>,
    transactions: HashMap<TransactionId, Transaction>,
    permissions: HashMap<IpAddr, Permission>,
    channels: HashMap<SocketAddr, Channel>,
    channel_peers: HashMap<u16, SocketAddr>,
    next_channel: u16,
    transmits: VecDeque<Vec<u8>>,
    events: VecDeque<TurnEvent>,
    dropped_events: u64,
}

impl TurnClient {
    /// A client that starts allocating at `now`: the first Allocate is ready in
    /// [`TurnClient::poll_transmit`].
    pub fn new(now: Instant, config: TurnConfig) -> Self {
        let mut client = TurnClient {
            config,
            state: TurnState::Allocating,
            auth: None,
            allocation: None,
            transactions: HashMap::new(),
            permissions: HashMap::new(),
            channels: HashMap::new(),
            channel_peers: HashMap::new(),
            next_channel: MIN_CHANNEL,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            dropped_events: 0,
        };
        client.start(now, Request::Allocate, 0);
        client
    }

    /// The current state.
    pub fn state(&self) -> TurnState {
        self.state
    }

    /// How the client reaches its server.
    pub fn transport(&self) -> TurnTransport {
        self.config.transport
    }

    /// The relayed address, once allocated.
    pub fn relayed_address(&self) -> Option<SocketAddr> {
        self.allocation.as_ref().map(|a| a.relayed)
    }

    /// The channel bound (or being bound) to `peer`.
    pub fn channel(&self, peer: SocketAddr) -> Option<u16> {
        self.channels.get(&peer).map(|c| c.number)
    }

    /// Whether the server confirmed a permission for `peer`.
    pub fn has_permission(&self, peer: IpAddr) -> bool {
        self.permissions.get(&peer).is_some_and(|p| p.installed)
    }

    /// Events dropped because the event queue was full.
    pub fn dropped_events(&self) -> u64 {
        self.dropped_events
    }

    /// The next message to send to the server.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.transmits.pop_front()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<TurnEvent> {
        self.events.pop_front()
    }

    /// When [`TurnClient::handle_timeout`] should be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let transactions = self.transactions.values().map(|t| t.deadline);
        let allocation = self.allocation.iter().map(|a| a.refresh_at);
        let permissions = self.permissions.values().filter_map(|p| p.refresh_at);
        let channels = self.channels.values().filter_map(|c| c.refresh_at);
        transactions.chain(allocation).chain(permissions).chain(channels).min()
    }

    /// Asks the server to let `peer` send to the relayed address (and us to it). A no-op if the
    /// permission exists or is being created.
    pub fn create_permission(&mut self, now: Instant, peer: IpAddr) -> Result<(), TurnError> {
        self.check_peer(peer)?;
        if self.permissions.contains_key(&peer) {
            return Ok(());
        }
        if self.permissions.len() >= self.config.max_permissions {
            return Err(TurnError::TooManyPermissions(self.config.max_permissions));
        }
        self.permissions.insert(
            peer,
            Permission {
                installed: false,
                refresh_at: None,
            },
        );
        self.start(now, Request::CreatePermission { peer }, 0);
        Ok(())
    }

    /// Binds a channel to `peer` (creating the permission for its IP too) and returns its number.
    /// Until [`TurnEvent::ChannelBound`], data to `peer` still goes in Send indications.
    pub fn bind_channel(&mut self, now: Instant, peer: SocketAddr) -> Result<u16, TurnError> {
        self.check_peer(peer.ip())?;
        if let Some(c) = self.channels.get(&peer) {
            return Ok(c.number);
        }
        if self.channels.len() >= self.config.max_channels.min(usize::from(MAX_CHANNEL - MIN_CHANNEL) + 1) {
            return Err(TurnError::TooManyChannels(self.config.max_channels));
        }
        self.create_permission(now, peer.ip())?;
        let mut number = self.next_channel;
        while self.channel_peers.contains_key(&number) {
            number = if number == MAX_CHANNEL { MIN_CHANNEL } else { number + 1 };
        }
        self.next_channel = if number == MAX_CHANNEL { MIN_CHANNEL } else { number + 1 };
        self.channels.insert(
            peer,
            Channel {
                number,
                bound: false,
                refresh_at: None,
            },
        );
        self.channel_peers.insert(number, peer);
        self.start(now, Request::ChannelBind { peer, channel: number }, 0);
        Ok(number)
    }

    /// Sends `data` to `peer` through the relay: as ChannelData if a channel to `peer` is bound,
    /// otherwise in a Send indication. The peer's IP must have a permission (requested with
    /// [`TurnClient::create_permission`]; data sent before the server installed it is dropped
    /// by the server).
    pub fn send_to(&mut self, peer: SocketAddr, data: &[u8]) -> Result<(), TurnError> {
        if self.state != TurnState::Allocated {
            return Err(TurnError::NotAllocated);
        }
        if !self.permissions.contains_key(&peer.ip()) {
            return Err(TurnError::NoPermission(peer.ip()));
        }
        if self.transmits.len() >= self.config.max_queued_transmits {
            return Err(TurnError::QueueFull(self.config.max_queued_transmits));
        }
        let bytes = match self.channels.get(&peer) {
            Some(c) if c.bound => channel_data::encode(c.number, data, self.config.transport.is_stream())?,
            _ => {
                if data.len() > usize::from(u16::MAX) - 64 {
                    return Err(TurnError::DataTooLong(data.len()));
                }
                Message::new(Class::Indication, Method::SEND, TransactionId::random())
                    .with(Attribute::XorPeerAddress(peer))
                    .with(Attribute::Data(data.to_vec()))
                    .encode()?
            }
        };
        self.transmits.push_back(bytes);
        Ok(())
    }

    /// Releases the allocation: a Refresh with LIFETIME 0. [`TurnEvent::Closed`] follows when the
    /// server answers (or the request times out). Before an allocation exists it closes at once.
    pub fn close(&mut self, now: Instant) {
        match self.state {
            TurnState::Allocated => {
                self.state = TurnState::Closing;
                self.transactions.clear();
                self.permissions.clear();
                self.channels.clear();
                self.channel_peers.clear();
                self.allocation = None;
                self.start(now, Request::Refresh { lifetime: 0 }, 0);
            }
            TurnState::Allocating => {
                self.finish(TurnState::Closed);
                self.push_event(TurnEvent::Closed);
            }
            TurnState::Closing | TurnState::Closed | TurnState::Failed => {}
        }
    }

    /// Handles one datagram (UDP) or frame (TCP/TLS) from the server. Messages that are not
    /// for this client (unknown transactions, channels never requested) are ignored; malformed
    /// ones return an error and change nothing. ChannelData on a channel whose ChannelBind is
    /// still unanswered is accepted: the server may use the channel before its answer arrives.
    pub fn handle_receive(&mut self, now: Instant, bytes: &[u8]) -> Result<(), TurnError> {
        if matches!(self.state, TurnState::Closed | TurnState::Failed) {
            return Ok(());
        }
        if ChannelData::is_channel_data(bytes) {
            let cd = ChannelData::decode(bytes)?;
            match self.channel_peers.get(&cd.channel) {
                Some(peer) if self.state == TurnState::Allocated => {
                    let event = TurnEvent::Data {
                        from: *peer,
                        data: cd.data.to_vec(),
                    };
                    self.push_event(event);
                }
                _ => tracing::debug!(channel = cd.channel, "ChannelData on an unbound channel dropped"),
            }
            return Ok(());
        }
        let message = Message::decode(bytes)?;
        if message.has_fingerprint() {
            message.check_fingerprint()?;
        }
        match message.class {
            Class::Indication if message.method == Method::DATA => {
                if self.state != TurnState::Allocated {
                    return Ok(());
                }
                match (message.peer_address(), message.data()) {
                    (Some(from), Some(data)) => {
                        let data = data.to_vec();
                        self.push_event(TurnEvent::Data { from, data });
                    }
                    _ => tracing::debug!("Data indication without XOR-PEER-ADDRESS or DATA dropped"),
                }
                Ok(())
            }
            Class::SuccessResponse | Class::ErrorResponse => {
                self.handle_response(now, message);
                Ok(())
            }
            Class::Request | Class::Indication => {
                tracing::debug!(
                    method = message.method.0,
                    "unexpected STUN message from the TURN server"
                );
                Ok(())
            }
        }
    }

    /// Retransmits requests, gives up on unanswered ones and sends due refreshes.
    pub fn handle_timeout(&mut self, now: Instant) {
        let due: Vec<TransactionId> = self
            .transactions
            .iter()
            .filter(|(_, t)| t.deadline <= now)
            .map(|(id, _)| *id)
            .collect();
        for id in due {
            let Some(t) = self.transactions.get_mut(&id) else {
                continue;
            };
            if !self.config.transport.is_stream() && t.sends < self.config.max_attempts.max(1) {
                t.sends += 1;
                t.interval = t.interval.saturating_mul(2);
                t.deadline = now
                    + if t.sends == self.config.max_attempts.max(1) {
                        self.config.rto.saturating_mul(self.config.last_wait_rtos)
                    } else {
                        t.interval
                    };
                self.transmits.push_back(t.bytes.clone());
                continue;
            }
            if let Some(t) = self.transactions.remove(&id) {
                tracing::debug!(request = ?t.request, sends = t.sends, "TURN request timed out");
                self.request_failed(t.request, None, "no response from the TURN server".into());
            }
        }
        if self.state != TurnState::Allocated {
            return;
        }
        if let Some(a) = &mut self.allocation {
            if a.refresh_at <= now {
                a.refresh_at = now + self.config.lifetime.max(Duration::from_secs(60));
                let lifetime = secs(self.config.lifetime);
                self.start(now, Request::Refresh { lifetime }, 0);
            }
        }
        let permissions: Vec<IpAddr> = self
            .permissions
            .iter_mut()
            .filter(|(_, p)| p.refresh_at.is_some_and(|t| t <= now))
            .map(|(ip, p)| {
                p.refresh_at = None;
                *ip
            })
            .collect();
        for peer in permissions {
            self.start(now, Request::CreatePermission { peer }, 0);
        }
        let channels: Vec<(SocketAddr, u16)> = self
            .channels
            .iter_mut()
            .filter(|(_, c)| c.refresh_at.is_some_and(|t| t <= now))
            .map(|(peer, c)| {
                c.refresh_at = None;
                (*peer, c.number)
            })
            .collect();
        for (peer, channel) in channels {
            self.start(now, Request::ChannelBind { peer, channel }, 0);
        }
    }

    fn check_peer(&self, peer: IpAddr) -> Result<(), TurnError> {
        let allocation = match (&self.state, &self.allocation) {
            (TurnState::Allocated, Some(a)) => a,
            _ => return Err(TurnError::NotAllocated),
        };
        if allocation.relayed.is_ipv4() != peer.is_ipv4() {
            return Err(TurnError::WrongFamily(peer));
        }
        Ok(())
    }

    /// Builds, signs and queues a request.
    fn start(&mut self, now: Instant, request: Request, stale_retries: u32) {
        let id = TransactionId::random();
        let mut message = Message::new(Class::Request, method_of(request), id);
        if let Some(software) = &self.config.software {
            message = message.with(Attribute::Software(software.clone()));
        }
        message = match request {
            Request::Allocate => message
                .with(Attribute::RequestedTransport(PROTOCOL_UDP))
                .with(Attribute::Lifetime(secs(self.config.lifetime))),
            Request::Refresh { lifetime } => message.with(Attribute::Lifetime(lifetime)),
            Request::CreatePermission { peer } => message.with(Attribute::XorPeerAddress(SocketAddr::new(peer, 0))),
            Request::ChannelBind { peer, channel } => message
                .with(Attribute::ChannelNumber(channel))
                .with(Attribute::XorPeerAddress(peer)),
        };
        if let Some(auth) = &self.auth {
            message = message
                .with(Attribute::Username(self.config.username.clone()))
                .with(Attribute::Realm(auth.realm.clone()))
                .with(Attribute::Nonce(auth.nonce.clone()));
        }
        let integrity = self.auth.as_ref().map(|a| Integrity::Sha1(&a.key));
        let bytes = match message.encode_with(integrity, true) {
            Ok(b) => b,
            Err(e) => {
                // Only over-long credentials can make a request too long to encode.
                self.request_failed(request, None, format!("cannot encode the request: {e}"));
                return;
            }
        };
        let first_wait = if self.config.transport.is_stream() {
            self.config.stream_timeout
        } else if self.config.max_attempts <= 1 {
            self.config.rto.saturating_mul(self.config.last_wait_rtos)
        } else {
            self.config.rto
        };
        self.transmits.push_back(bytes.clone());
        self.transactions.insert(
            id,
            Transaction {
                request,
                bytes,
                authenticated: self.auth.is_some(),
                sends: 1,
                interval: self.config.rto,
                deadline: now + first_wait,
                stale_retries,
            },
        );
    }

    fn handle_response(&mut self, now: Instant, message: Message) {
        let Some(t) = self.transactions.get(&message.transaction_id) else {
            tracing::trace!("response to an unknown or finished TURN transaction ignored");
            return;
        };
        if message.method != method_of(t.request) {
            tracing::debug!("TURN response with the wrong method ignored");
            return;
        }
        let has_integrity = message.attribute(MESSAGE_INTEGRITY).is_some();
        if t.authenticated {
            if let Some(auth) = &self.auth {
                let verified = has_integrity && message.check_integrity(&auth.key).is_ok();
                // Success must be authenticated; 401/438 cannot be (the server may not know us).
                if !verified && (message.class == Class::SuccessResponse || has_integrity) {
                    tracing::debug!("TURN response without valid MESSAGE-INTEGRITY ignored");
                    return;
                }
            }
        }
        let Some(t) = self.transactions.remove(&message.transaction_id) else {
            return;
        };
        if message.class == Class::SuccessResponse {
            self.request_succeeded(now, t.request, &message);
            return;
        }
        let (code, reason) = message.error().unwrap_or((0, "error response without ERROR-CODE"));
        // Some servers (coturn) send the reason phrase with its C string terminator.
        let reason = reason.trim_end_matches('\0').to_string();
        match code {
            401 if !t.authenticated && matches!(t.request, Request::Allocate) => {
                let (Some(realm), Some(nonce)) = (message.realm(), message.nonce()) else {
                    self.request_failed(t.request, Some(401), "401 without REALM and NONCE".into());
                    return;
                };
                tracing::debug!(realm, "TURN server asks for long-term credentials");
                self.auth = Some(Auth {
                    realm: realm.to_string(),
                    nonce: nonce.to_string(),
                    key: long_term_key(&self.config.username, realm, &self.config.password),
                });
                self.start(now, t.request, t.stale_retries);
            }
            438 if t.stale_retries < self.config.max_stale_nonce_retries => {
                let Some(nonce) = message.nonce() else {
                    self.request_failed(t.request, Some(438), "438 without NONCE".into());
                    return;
                };
                if let Some(auth) = &mut self.auth {
                    auth.nonce = nonce.to_string();
                    if let Some(realm) = message.realm() {
                        if realm != auth.realm {
                            auth.realm = realm.to_string();
                            auth.key = long_term_key(&self.config.username, realm, &self.config.password);
                        }
                    }
                }
                tracing::debug!("stale nonce, retrying the TURN request");
                self.start(now, t.request, t.stale_retries + 1);
            }
            _ => self.request_failed(t.request, (code != 0).then_some(code), reason),
        }
    }

    fn request_succeeded(&mut self, now: Instant, request: Request, message: &Message) {
        match request {
            Request::Allocate => {
                let Some(relayed) = message.relayed_address() else {
                    self.request_failed(request, None, "Allocate success without XOR-RELAYED-ADDRESS".into());
                    return;
                };
                let lifetime = Duration::from_secs(u64::from(message.lifetime().unwrap_or(600)));
                if lifetime.is_zero() {
                    self.request_failed(request, None, "the server granted a lifetime of 0".into());
                    return;
                }
                self.allocation = Some(Allocation {
                    relayed,
                    refresh_at: now + refresh_after(lifetime),
                });
                self.state = TurnState::Allocated;
                tracing::debug!(%relayed, ?lifetime, "TURN allocation made");
                self.push_event(TurnEvent::Allocated {
                    relayed,
                    mapped: message.mapped_address(),
                    lifetime,
                });
            }
            Request::Refresh { lifetime: 0 } => {
                self.finish(TurnState::Closed);
                self.push_event(TurnEvent::Closed);
            }
            Request::Refresh { .. } => {
                let lifetime = Duration::from_secs(u64::from(message.lifetime().unwrap_or(600)));
                if lifetime.is_zero() {
                    self.request_failed(request, None, "the server ended the allocation (lifetime 0)".into());
                    return;
                }
                if let Some(a) = &mut self.allocation {
                    a.refresh_at = now + refresh_after(lifetime);
                }
                self.push_event(TurnEvent::Refreshed { lifetime });
            }
            Request::CreatePermission { peer } => {
                if let Some(p) = self.permissions.get_mut(&peer) {
                    let first = !p.installed;
                    p.installed = true;
                    p.refresh_at = Some(now + PERMISSION_REFRESH);
                    if first {
                        self.push_event(TurnEvent::PermissionCreated { peer });
                    }
                }
            }
            Request::ChannelBind { peer, channel } => {
                if let Some(c) = self.channels.get_mut(&peer).filter(|c| c.number == channel) {
                    let first = !c.bound;
                    c.bound = true;
                    c.refresh_at = Some(now + CHANNEL_REFRESH);
                    if first {
                        self.push_event(TurnEvent::ChannelBound { peer, channel });
                    }
                }
            }
        }
    }

    fn request_failed(&mut self, request: Request, code: Option<u16>, reason: String) {
        match request {
            Request::Allocate | Request::Refresh { .. } if self.state == TurnState::Closing => {
                self.finish(TurnState::Closed);
                self.push_event(TurnEvent::Closed);
            }
            Request::Allocate | Request::Refresh { .. } => {
                tracing::debug!(?code, %reason, "TURN allocation failed");
                self.finish(TurnState::Failed);
                self.push_event(TurnEvent::Failed { code, reason });
            }
            Request::CreatePermission { peer } => {
                if self.permissions.remove(&peer).is_some() {
                    self.push_event(TurnEvent::PermissionFailed { peer, code, reason });
                }
            }
            Request::ChannelBind { peer, channel } => {
                if self.channels.get(&peer).is_some_and(|c| c.number == channel) {
                    self.channels.remove(&peer);
                    self.channel_peers.remove(&channel);
                    self.push_event(TurnEvent::ChannelBindFailed { peer, code, reason });
                }
            }
        }
    }

    /// Ends the client: no more timers or transactions.
    fn finish(&mut self, state: TurnState) {
        self.state = state;
        self.allocation = None;
        self.transactions.clear();
        self.permissions.clear();
        self.channels.clear();
        self.channel_peers.clear();
    }

    fn push_event(&mut self, event: TurnEvent) {
        if self.events.len() >= self.config.max_queued_events {
            self.dropped_events += 1;
            tracing::warn!(dropped = self.dropped_events, "TURN event queue full, event dropped");
            return;
        }
        self.events.push_back(event);
    }
}

fn method_of(request: Request) -> Method {
    match request {
        Request::Allocate => Method::ALLOCATE,
        Request::Refresh { .. } => Method::REFRESH,
        Request::CreatePermission { .. } => Method::CREATE_PERMISSION,
        Request::ChannelBind { .. } => Method::CHANNEL_BIND,
    }
}

/// When to refresh something that lives `lifetime`: at 80 % of it.
fn refresh_after(lifetime: Duration) -> Duration {
    lifetime.mul_f64(0.8)
}

fn secs(d: Duration) -> u32 {
    u32::try_from(d.as_secs()).unwrap_or(u32::MAX)
}
