//! The sans-IO ICE agent (full ICE, RFC 8445; consent freshness, RFC 7675).
//!
//! See the [module documentation](super) for states, timers and limits.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::candidate::{compute_priority, Candidate, CandidateAddress, CandidateKind, TransportProtocol};
use super::credentials::{random_u64, IceCredentials, IceRole};
use super::pair::{pair_priority, CandidatePair, CandidatePairInfo, InFlight, PairState};
use crate::net::{PacketKind, Receive, Transmit};
use crate::stun::{
    peek_header, Attribute, Class, Integrity, Message, Method, TransactionId, MESSAGE_INTEGRITY,
    MESSAGE_INTEGRITY_SHA256,
};

/// The only component this agent handles (RTP/RTCP multiplexed, data channels).
const COMPONENT: u16 = 1;
/// The most outgoing datagrams queued before `poll_transmit` drains them; more are dropped.
const MAX_QUEUED_TRANSMITS: usize = 256;
/// The most events queued before `poll_event` drains them; more are dropped.
const MAX_QUEUED_EVENTS: usize = 64;
/// The most consent checks remembered while awaiting their answers.
const MAX_CONSENT_IN_FLIGHT: usize = 8;

/// The consent and failure timers of an agent, with the values browsers use by default.
///
/// [`IceAgentConfig::new`] starts from [`IceTiming::default`]; [`IceTiming::apply`] puts other
/// values into a configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IceTiming {
    /// Mean interval between consent checks on the selected pair. Default 2.5 s.
    pub consent_interval: Duration,
    /// The first consent check since the last response unanswered for this long: `disconnected`.
    /// Default 5 s (browsers report `disconnected` 5 to 8 s after the path is cut).
    pub disconnected_timeout: Duration,
    /// No consent response for this long: `failed` (consent expired). Default 30 s.
    pub failed_timeout: Duration,
}

impl Default for IceTiming {
    fn default() -> Self {
        IceTiming {
            consent_interval: Duration::from_millis(2500),
            disconnected_timeout: Duration::from_secs(5),
            failed_timeout: Duration::from_secs(30),
        }
    }
}

impl IceTiming {
    /// Writes these timers into `config`.
    pub fn apply(&self, config: &mut IceAgentConfig) {
        config.consent_interval = self.consent_interval;
        config.disconnected_timeout = self.disconnected_timeout;
        config.failed_timeout = self.failed_timeout;
    }
}

/// Settings of an [`IceAgent`]. [`IceAgentConfig::new`] gives browser-like defaults.
#[derive(Debug, Clone)]
pub struct IceAgentConfig {
    /// The initial role (JSEP may change it with [`IceAgent::set_role`]).
    pub role: IceRole,
    /// Our ufrag and pwd.
    pub local: IceCredentials,
    /// The role-conflict tie-breaker; `None` picks a random one.
    pub tie_breaker: Option<u64>,
    /// Ta: the pacing between new (ordinary or triggered) checks. Default 50 ms.
    pub check_pacing: Duration,
    /// The first retransmission timeout of a check. Default 250 ms, doubling per retransmit.
    pub initial_rto: Duration,
    /// The retransmission timeout stops doubling here. Default 3 s.
    pub max_rto: Duration,
    /// Retransmits of a check before its pair fails. Default 7 (8 transmissions; with the
    /// default RTOs an unanswered pair fails 15.75 s after its first check).
    pub max_retransmits: u32,
    /// Mean interval between consent checks on the selected pair, randomized ×0.8–1.2. Default 2.5 s
    /// (browsers ping the selected pair about this often; RFC 7675 allows it).
    pub consent_interval: Duration,
    /// The first consent check since the last response unanswered for this long: `Disconnected`.
    /// Default 5 s.
    pub disconnected_timeout: Duration,
    /// No consent response for this long: `Failed` (consent expired, RFC 7675 §5.1). Default 30 s.
    pub failed_timeout: Duration,
    /// After end-of-candidates, how long to wait with no pair at all (a peer-reflexive one may
    /// still appear) before `Failed`. Default 10 s.
    pub no_candidates_timeout: Duration,
    /// The most local candidates. Default 16.
    pub max_local_candidates: usize,
    /// The most remote candidates, signalled and peer-reflexive together. Default 100.
    pub max_remote_candidates: usize,
    /// The most candidate pairs; pairs beyond it are not formed. Default 500.
    pub max_pairs: usize,
    /// A SOFTWARE attribute to put in our messages.
    pub software: Option<String>,
}

impl IceAgentConfig {
    /// A configuration with random credentials and the documented defaults.
    pub fn new(role: IceRole) -> Self {
        let timing = IceTiming::default();
        IceAgentConfig {
            role,
            local: IceCredentials::random(),
            tie_breaker: None,
            check_pacing: Duration::from_millis(50),
            initial_rto: Duration::from_millis(250),
            max_rto: Duration::from_secs(3),
            max_retransmits: 7,
            consent_interval: timing.consent_interval,
            disconnected_timeout: timing.disconnected_timeout,
            failed_timeout: timing.failed_timeout,
            no_candidates_timeout: Duration::from_secs(10),
            max_local_candidates: 16,
            max_remote_candidates: 100,
            max_pairs: 500,
            software: None,
        }
    }
}

/// The connection state, as `RTCIceConnectionState` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IceConnectionState {
    /// Nothing checked yet.
    New,
    /// Checks are running; no pair is selected.
    Checking,
    /// A nominated pair is selected and has consent.
    Connected,
    /// Connected, end-of-candidates was signalled and no more checks are pending.
    Completed,
    /// A consent check on the selected pair has gone unanswered for `disconnected_timeout`.
    Disconnected,
    /// Every pair failed after end-of-candidates, or consent expired.
    Failed,
    /// [`IceAgent::close`] was called.
    Closed,
}

/// Something the agent's user should know about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IceEvent {
    /// The connection state changed.
    StateChanged(IceConnectionState),
    /// A (new) pair was selected: send application data from `local` to `remote`.
    SelectedPairChanged {
        /// Our socket address (the candidate's base).
        local: SocketAddr,
        /// The peer's address.
        remote: SocketAddr,
    },
    /// A peer-reflexive remote candidate was learned from an incoming check.
    RemoteCandidateLearned(Candidate),
}

/// Counters of what the agent did and dropped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IceStats {
    /// Connectivity checks sent (first transmissions).
    pub checks_sent: u64,
    /// Check retransmissions.
    pub retransmits: u64,
    /// Consent checks sent on the selected pair.
    pub consent_checks_sent: u64,
    /// Binding requests that passed authentication.
    pub requests_accepted: u64,
    /// Responses matched to a check of ours and authenticated.
    pub responses_accepted: u64,
    /// Datagrams that did not decode as STUN.
    pub malformed: u64,
    /// Messages with a wrong FINGERPRINT.
    pub bad_fingerprint: u64,
    /// Messages whose MESSAGE-INTEGRITY did not verify (requests answered with 401, responses dropped).
    pub bad_integrity: u64,
    /// Requests with a USERNAME not meant for us (answered with 401).
    pub bad_username: u64,
    /// Requests missing USERNAME, MESSAGE-INTEGRITY or PRIORITY (answered with 400).
    pub bad_requests: u64,
    /// Responses that match none of our transactions.
    pub unknown_transactions: u64,
    /// Datagrams received on an address that is not one of our candidates' bases.
    pub unknown_local_address: u64,
    /// Role conflicts seen (in requests or as 487 responses).
    pub role_conflicts: u64,
    /// Remote candidates refused because of the limit.
    pub remote_candidates_refused: u64,
    /// Pairs not formed because of the limit.
    pub pairs_refused: u64,
    /// Outgoing datagrams dropped because the queue was full.
    pub transmits_dropped: u64,
    /// How many times a pair was selected (`selectedCandidatePairChanges`).
    pub selected_pair_changes: u64,
    /// ICE restarts: new local credentials, or new remote ones.
    pub restarts: u64,
}

#[derive(Debug, Clone)]
struct LocalCandidate {
    candidate: Candidate,
    /// The socket address checks are sent from (a host candidate is its own base).
    base: SocketAddr,
}

#[derive(Debug, Clone)]
struct RemoteCandidate {
    candidate: Candidate,
    addr: SocketAddr,
}

#[derive(Debug)]
struct Consent {
    /// When the selected pair last got an authenticated success response.
    last_ok: Instant,
    /// When the next consent check is due.
    next_at: Instant,
    /// When the first consent check after the last answer went out: `disconnected_timeout`
    /// counts from there (as browsers count from the first unanswered check).
    first_unanswered: Option<Instant>,
    /// Outstanding consent checks (not retransmitted: each interval sends a new one). During an
    /// ICE restart they all went over the previous path (those on the path selected before it
    /// included); once a pair is selected, over that pair.
    in_flight: VecDeque<TransactionId>,
}

/// The pair selected before an ICE restart: it keeps carrying data, and consent checks under the
/// credentials both sides knew it by, until the new generation selects a pair (RFC 8445 §9).
#[derive(Debug, Clone)]
struct PreviousPath {
    local: SocketAddr,
    remote: SocketAddr,
    local_candidate: Candidate,
    remote_candidate: Candidate,
    /// Our credentials of that generation: the peer's consent checks still use them.
    local_credentials: IceCredentials,
    /// The peer's credentials of that generation, for our consent checks.
    remote_credentials: IceCredentials,
}

/// A sans-IO full ICE agent for one component. Feed it datagrams ([`IceAgent::handle_receive`])
/// and time ([`IceAgent::handle_timeout`]); drain [`IceAgent::poll_transmit`] and
/// [`IceAgent::poll_event`]; call `handle_timeout` again at [`IceAgent::poll_timeout`].
#[derive(Debug)]
pub struct IceAgent {
    config: IceAgentConfig,
    role: IceRole,
    tie_breaker: u64,
    remote_credentials: Option<IceCredentials>,
    remote_lite: bool,
    locals: Vec<LocalCandidate>,
    remotes: Vec<RemoteCandidate>,
    pairs: Vec<CandidatePair>,
    triggered: VecDeque<usize>,
    /// The pair the controlling side is nominating.
    nominating: Option<usize>,
    selected: Option<usize>,
    /// During an ICE restart: the pair selected before it.
    previous: Option<PreviousPath>,
    /// After a restart selected a new pair: the old path, from which data is still accepted
    /// (the peer may switch a moment later than we do).
    retired: Option<(SocketAddr, SocketAddr)>,
    end_of_remote_candidates: Option<Instant>,
    ever_connected: bool,
    next_check_at: Instant,
    consent: Consent,
    prflx_count: u32,
    state: IceConnectionState,
    transmits: VecDeque<Transmit>,
    events: VecDeque<IceEvent>,
    stats: IceStats,
}

impl IceAgent {
    /// A new agent in state `New`.
    pub fn new(config: IceAgentConfig, now: Instant) -> Self {
        let tie_breaker = config.tie_breaker.unwrap_or_else(random_u64);
        IceAgent {
            role: config.role,
            tie_breaker,
            config,
            remote_credentials: None,
            remote_lite: false,
            locals: Vec::new(),
            remotes: Vec::new(),
            pairs: Vec::new(),
            triggered: VecDeque::new(),
            nominating: None,
            selected: None,
            previous: None,
            retired: None,
            end_of_remote_candidates: None,
            ever_connected: false,
            next_check_at: now,
            consent: Consent {
                last_ok: now,
                next_at: now,
                first_unanswered: None,
                in_flight: VecDeque::new(),
            },
            prflx_count: 0,
            state: IceConnectionState::New,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            stats: IceStats::default(),
        }
    }

    /// Our ufrag and pwd (to put in the SDP).
    pub fn local_credentials(&self) -> &IceCredentials {
        &self.config.local
    }

    /// The current role.
    pub fn role(&self) -> IceRole {
        self.role
    }

    /// Sets the role (JSEP decides it once offer and answer are known). Ignored, with a
    /// warning, when the remote is ice-lite: then we are always controlling.
    pub fn set_role(&mut self, role: IceRole) {
        if self.remote_lite && role == IceRole::Controlled {
            tracing::warn!("remote is ice-lite, staying controlling");
            return;
        }
        self.switch_role(role);
    }

    /// Sets the peer's ufrag and pwd. Checks can only be sent once these are known; checks
    /// received before are answered and their triggered checks queued until then.
    ///
    /// Credentials different from those already set mean the peer restarted ICE: the checks start
    /// over as in [`IceAgent::restart`], with our credentials unchanged.
    pub fn set_remote_credentials(&mut self, credentials: IceCredentials) {
        match &self.remote_credentials {
            Some(old) if *old == credentials => return,
            Some(_) => {
                tracing::debug!(ufrag = %credentials.ufrag, "remote ICE restart");
                self.begin_generation();
            }
            None => {}
        }
        self.remote_credentials = Some(credentials);
    }

    /// The peer's ufrag and pwd, once known.
    pub fn remote_credentials(&self) -> Option<&IceCredentials> {
        self.remote_credentials.as_ref()
    }

    /// ICE restart (RFC 8445 §9) with our new `local` credentials: the remote candidates, the
    /// pairs and their checks are dropped, and checks start over once the peer's new credentials
    /// ([`IceAgent::set_remote_credentials`]) and candidates arrive. The local candidates stay.
    ///
    /// Until the new generation selects a pair, the previously selected one keeps carrying data:
    /// [`IceAgent::selected_pair`] still returns it, consent checks still go over it under the old
    /// credentials, and the peer's consent checks under our old credentials are still answered.
    /// The state changes as webrtc-pc says and Chromium does: `Connected` stays, `Completed`
    /// becomes `Connected`, `Disconnected` and `Failed` become `Checking`.
    pub fn restart(&mut self, local: IceCredentials) {
        if self.state == IceConnectionState::Closed {
            return;
        }
        tracing::debug!(ufrag = %local.ufrag, "local ICE restart");
        self.begin_generation();
        self.config.local = local;
        self.remote_credentials = None;
    }

    /// Whether an ICE restart is under way: the previously selected pair carries the data until
    /// a new one is selected.
    pub fn is_restarting(&self) -> bool {
        self.previous.is_some()
    }

    /// Starts a new generation of checks, keeping the selected pair as the previous path.
    fn begin_generation(&mut self) {
        self.stats.restarts += 1;
        if self.previous.is_none() {
            self.previous = self.selected_as_previous();
        }
        if self.previous.is_none() {
            // No path to keep: no consent check in flight can be answered for one.
            self.consent.in_flight.clear();
        }
        self.retired = None;
        self.remotes.clear();
        self.pairs.clear();
        self.triggered.clear();
        self.nominating = None;
        self.selected = None;
        self.end_of_remote_candidates = None;
        // The transitions webrtc-pc gives a restart (and Chromium makes): connected stays,
        // completed becomes connected, disconnected and failed become checking.
        match self.state {
            IceConnectionState::Failed | IceConnectionState::Disconnected => {
                self.ever_connected = false;
                self.set_state(IceConnectionState::Checking);
            }
            IceConnectionState::Completed => self.set_state(IceConnectionState::Connected),
            _ => {}
        }
    }

    fn selected_as_previous(&self) -> Option<PreviousPath> {
        let pair = self.pairs.get(self.selected?)?;
        let local = self.locals.get(pair.local)?;
        let remote = self.remotes.get(pair.remote)?;
        Some(PreviousPath {
            local: local.base,
            remote: remote.addr,
            local_candidate: local.candidate.clone(),
            remote_candidate: remote.candidate.clone(),
            local_credentials: self.config.local.clone(),
            remote_credentials: self.remote_credentials.clone()?,
        })
    }

    /// Declares the remote agent ice-lite: we become controlling and nominate regularly.
    pub fn set_remote_lite(&mut self, lite: bool) {
        self.remote_lite = lite;
        if lite {
            self.switch_role(IceRole::Controlling);
        }
    }

    /// Adds a local host or relayed UDP candidate for component 1. Its base is its own address:
    /// the socket the runtime bound for a host candidate, the relayed address on the TURN server
    /// for a relayed one (RFC 8445 §5.1.1.2; datagrams from or to that address are carried
    /// through the allocation by the caller). Returns false if the candidate is not such a
    /// candidate, is a duplicate, or the local candidate limit is reached.
    pub fn add_local_candidate(&mut self, candidate: Candidate) -> bool {
        let Some(base) = candidate.socket_addr() else {
            return false;
        };
        if !matches!(candidate.kind, CandidateKind::Host | CandidateKind::Relay)
            || candidate.protocol != TransportProtocol::Udp
            || candidate.component != COMPONENT
            || self.state == IceConnectionState::Closed
            || self.locals.len() >= self.config.max_local_candidates
            || self.locals.iter().any(|l| l.base == base)
        {
            return false;
        }
        self.locals.push(LocalCandidate { candidate, base });
        let local = self.locals.len() - 1;
        for remote in 0..self.remotes.len() {
            self.form_pair(local, remote);
        }
        true
    }

    /// Adds a remote UDP candidate for component 1, at any time (trickle). Returns false for
    /// hostname (mDNS) candidates, which must be resolved to an IP first, for other components or
    /// TCP, for duplicates, and beyond `max_remote_candidates`. A signalled candidate for an
    /// address already learned as peer-reflexive replaces it (and returns true).
    pub fn add_remote_candidate(&mut self, candidate: Candidate) -> bool {
        if self.state == IceConnectionState::Closed
            || candidate.protocol != TransportProtocol::Udp
            || candidate.component != COMPONENT
        {
            return false;
        }
        let Some(addr) = candidate.socket_addr() else {
            tracing::debug!(address = %candidate.address, "ignoring unresolved remote candidate");
            return false;
        };
        if let Some(existing) = self.remotes.iter_mut().find(|r| r.addr == addr) {
            if existing.candidate.kind == CandidateKind::PeerReflexive && candidate.kind != CandidateKind::PeerReflexive
            {
                existing.candidate = candidate;
                self.recompute_priorities();
                return true;
            }
            return false;
        }
        if self.remotes.len() >= self.config.max_remote_candidates {
            self.stats.remote_candidates_refused += 1;
            return false;
        }
        self.remotes.push(RemoteCandidate { candidate, addr });
        let remote = self.remotes.len() - 1;
        for local in 0..self.locals.len() {
            self.form_pair(local, remote);
        }
        true
    }

    /// The peer signalled end-of-candidates: once every pair has failed, the agent fails.
    pub fn end_of_remote_candidates(&mut self, now: Instant) {
        if self.end_of_remote_candidates.is_none() {
            self.end_of_remote_candidates = Some(now);
        }
        self.update_state(now);
    }

    /// Whether a datagram is a STUN message for this agent: a Binding request or indication
    /// whose USERNAME starts with our ufrag, or a response to one of our transactions.
    pub fn accepts(&self, datagram: &[u8]) -> bool {
        if PacketKind::of(datagram) != PacketKind::Stun {
            return false;
        }
        let Ok((class, method, tid)) = peek_header(datagram) else {
            return false;
        };
        if method != Method::BINDING {
            return false;
        }
        match class {
            Class::Request | Class::Indication => Message::decode(datagram).is_ok_and(|m| {
                m.username()
                    .and_then(|u| u.split_once(':'))
                    .is_some_and(|(ours, _)| self.is_our_ufrag(ours))
                    || class == Class::Indication
            }),
            Class::SuccessResponse | Class::ErrorResponse => self.owns_transaction(&tid),
        }
    }

    /// Whether `ufrag` names us: our current ufrag, or during a restart the previous one.
    fn is_our_ufrag(&self, ufrag: &str) -> bool {
        ufrag == self.config.local.ufrag
            || self
                .previous
                .as_ref()
                .is_some_and(|p| p.local_credentials.ufrag == ufrag)
    }

    /// Whether consent checks go out: a pair is selected, or a restart still uses the previous one.
    fn has_consent_path(&self) -> bool {
        (self.selected.is_some() || self.previous.is_some()) && self.has_consent_state()
    }

    /// Handles one received datagram. Anything that is not a well-formed, authenticated STUN
    /// Binding message for us is dropped and counted in [`IceAgent::stats`].
    pub fn handle_receive(&mut self, now: Instant, r: Receive<'_>) {
        if self.state == IceConnectionState::Closed || (self.state == IceConnectionState::Failed && self.ever_connected)
        {
            // Closed, or consent expired (RFC 7675 §5.1): answer nothing.
            return;
        }
        let msg = match Message::decode(r.contents) {
            Ok(m) => m,
            Err(e) => {
                tracing::debug!(error = %e, from = %r.source, "dropping malformed STUN");
                self.stats.malformed += 1;
                return;
            }
        };
        if msg.method != Method::BINDING {
            self.stats.malformed += 1;
            return;
        }
        if msg.has_fingerprint() && msg.check_fingerprint().is_err() {
            self.stats.bad_fingerprint += 1;
            return;
        }
        let Some(local) = self.local_for(r.destination) else {
            self.stats.unknown_local_address += 1;
            return;
        };
        // From here on the destination is the candidate's base, even if the socket was wildcard-bound.
        let r = Receive {
            destination: self.locals.get(local).map_or(r.destination, |l| l.base),
            ..r
        };
        match msg.class {
            Class::Request => self.handle_request(now, r, local, &msg),
            Class::Indication => {}
            Class::SuccessResponse | Class::ErrorResponse => self.handle_response(now, r, &msg),
        }
        self.update_state(now);
    }

    /// The local candidate a datagram to `destination` arrived on: the one with that base, or,
    /// for a wildcard (`0.0.0.0`/`::`) destination, the only one of that family and port.
    fn local_for(&self, destination: SocketAddr) -> Option<usize> {
        if let Some(i) = self.locals.iter().position(|l| l.base == destination) {
            return Some(i);
        }
        if !destination.ip().is_unspecified() {
            return None;
        }
        let mut matching = self
            .locals
            .iter()
            .enumerate()
            .filter(|(_, l)| l.base.port() == destination.port() && l.base.is_ipv4() == destination.is_ipv4());
        match (matching.next(), matching.next()) {
            (Some((i, _)), None) => Some(i),
            _ => None,
        }
    }

    /// Advances timers: retransmissions, paced checks, consent checks and state timeouts.
    pub fn handle_timeout(&mut self, now: Instant) {
        if matches!(self.state, IceConnectionState::Closed | IceConnectionState::Failed) {
            return;
        }
        self.retransmit_due(now);
        if self.remote_credentials.is_some() && now >= self.next_check_at {
            if let Some(pair) = self.next_pair_to_check() {
                self.send_check(now, pair);
                self.next_check_at = now + self.config.check_pacing;
            }
        }
        if self.has_consent_path() && now >= self.consent.next_at {
            self.send_consent_check(now);
        }
        self.update_state(now);
    }

    /// The next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<IceEvent> {
        self.events.pop_front()
    }

    /// When [`IceAgent::handle_timeout`] must next be called; `None` when nothing is pending.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if matches!(self.state, IceConnectionState::Closed | IceConnectionState::Failed) {
            return None;
        }
        let mut deadline: Option<Instant> = None;
        let mut consider = |t: Instant| deadline = Some(deadline.map_or(t, |d| d.min(t)));
        for p in &self.pairs {
            if let Some(f) = &p.in_flight {
                consider(f.next_at);
            }
        }
        if self.remote_credentials.is_some() && self.has_check_to_send() {
            consider(self.next_check_at);
        }
        if self.has_consent_path() {
            consider(self.consent.next_at);
            if self.state == IceConnectionState::Disconnected {
                consider(self.consent.last_ok + self.config.failed_timeout);
            } else if let Some(first) = self.consent.first_unanswered {
                consider(first + self.config.disconnected_timeout);
            }
        }
        if let Some(end) = self.end_of_remote_candidates {
            if self.selected.is_none() && self.pairs.is_empty() {
                consider(end + self.config.no_candidates_timeout);
            }
        }
        deadline
    }

    /// Whether data from `remote` arriving at `local` comes over a checked path: the two form a
    /// pair whose check succeeded or on which the peer's authenticated check arrived. A peer may
    /// send over any pair it nominated (several, with aggressive nomination), so data is accepted
    /// from every such path, while we send on the selected one.
    pub fn is_checked_path(&self, local: SocketAddr, remote: SocketAddr) -> bool {
        let Some(local) = self.local_for(local) else {
            return false;
        };
        let base = self.locals.get(local).map(|l| l.base);
        let old_path = |path: (SocketAddr, SocketAddr)| Some(path.0) == base && path.1 == remote;
        if self.previous.as_ref().is_some_and(|p| old_path((p.local, p.remote))) || self.retired.is_some_and(old_path) {
            return true;
        }
        self.pairs.iter().any(|p| {
            p.local == local
                && (p.state == PairState::Succeeded || p.checked_by_peer)
                && self.remotes.get(p.remote).is_some_and(|r| r.addr == remote)
        })
    }

    /// The selected pair as (local base, remote address); `None` before selection and after
    /// consent was lost for good. During an ICE restart, the pair selected before it.
    pub fn selected_pair(&self) -> Option<(SocketAddr, SocketAddr)> {
        if let (None, Some(p)) = (self.selected, &self.previous) {
            return Some((p.local, p.remote));
        }
        let pair = self.pairs.get(self.selected?)?;
        Some((self.locals.get(pair.local)?.base, self.remotes.get(pair.remote)?.addr))
    }

    /// The selected pair's candidates, (local, remote), with their types (during an ICE restart,
    /// those of the pair selected before it).
    pub fn selected_candidates(&self) -> Option<(&Candidate, &Candidate)> {
        if let (None, Some(p)) = (self.selected, &self.previous) {
            return Some((&p.local_candidate, &p.remote_candidate));
        }
        let pair = self.pairs.get(self.selected?)?;
        Some((
            &self.locals.get(pair.local)?.candidate,
            &self.remotes.get(pair.remote)?.candidate,
        ))
    }

    /// The connection state.
    pub fn state(&self) -> IceConnectionState {
        self.state
    }

    /// Counters of checks, responses and dropped messages.
    pub fn stats(&self) -> &IceStats {
        &self.stats
    }

    /// The remote candidates known, signalled and peer-reflexive.
    pub fn remote_candidates(&self) -> impl Iterator<Item = &Candidate> {
        self.remotes.iter().map(|r| &r.candidate)
    }

    /// Stops the agent: no more checks or answers; state `Closed`.
    pub fn close(&mut self) {
        for p in &mut self.pairs {
            p.in_flight = None;
        }
        self.triggered.clear();
        self.transmits.clear();
        self.selected = None;
        self.previous = None;
        self.retired = None;
        self.set_state(IceConnectionState::Closed);
    }

    // ---- pairs ----

    fn form_pair(&mut self, local: usize, remote: usize) -> Option<usize> {
        let (l, r) = (self.locals.get(local)?, self.remotes.get(remote)?);
        if l.base.is_ipv4() != r.addr.is_ipv4() {
            return None;
        }
        if let Some(i) = self.pairs.iter().position(|p| p.local == local && p.remote == remote) {
            return Some(i);
        }
        if self.pairs.len() >= self.config.max_pairs {
            self.stats.pairs_refused += 1;
            return None;
        }
        let priority = self.priority_of(&l.candidate, &r.candidate);
        self.pairs.push(CandidatePair {
            local,
            remote,
            priority,
            state: PairState::Waiting,
            nominate_on_success: false,
            nominated: false,
            checked_by_peer: false,
            in_flight: None,
            counters: Default::default(),
        });
        if self.state == IceConnectionState::Failed && !self.ever_connected {
            // A new pair (trickled or peer-reflexive) after all checks failed: try again, as browsers do.
            self.set_state(IceConnectionState::Checking);
        }
        Some(self.pairs.len() - 1)
    }

    fn priority_of(&self, local: &Candidate, remote: &Candidate) -> u64 {
        match self.role {
            IceRole::Controlling => pair_priority(local.priority, remote.priority),
            IceRole::Controlled => pair_priority(remote.priority, local.priority),
        }
    }

    fn recompute_priorities(&mut self) {
        for i in 0..self.pairs.len() {
            let p = &self.pairs[i];
            let priority = match (self.locals.get(p.local), self.remotes.get(p.remote)) {
                (Some(l), Some(r)) => self.priority_of(&l.candidate, &r.candidate),
                _ => continue,
            };
            self.pairs[i].priority = priority;
        }
    }

    fn switch_role(&mut self, role: IceRole) {
        if self.role == role {
            return;
        }
        tracing::debug!(?role, "ICE role changed");
        self.role = role;
        self.nominating = None;
        for p in &mut self.pairs {
            p.nominate_on_success = false;
        }
        self.recompute_priorities();
        self.nominate_best_valid_pair();
    }

    fn has_check_to_send(&self) -> bool {
        !self.triggered.is_empty() || self.pairs.iter().any(|p| p.state == PairState::Waiting)
    }

    /// The triggered queue first, then the highest-priority Waiting pair.
    fn next_pair_to_check(&mut self) -> Option<usize> {
        while let Some(i) = self.triggered.pop_front() {
            if self.pairs.get(i).is_some_and(|p| p.in_flight.is_none()) {
                return Some(i);
            }
        }
        self.pairs
            .iter()
            .enumerate()
            .filter(|(_, p)| p.state == PairState::Waiting && p.in_flight.is_none())
            .max_by_key(|(_, p)| p.priority)
            .map(|(i, _)| i)
    }

    fn trigger(&mut self, pair: usize, front: bool) {
        if self.triggered.contains(&pair) {
            return;
        }
        if front {
            self.triggered.push_front(pair);
        } else {
            self.triggered.push_back(pair);
        }
    }

    // ---- sending ----

    fn queue_transmit(&mut self, source: SocketAddr, destination: SocketAddr, contents: Vec<u8>) {
        if self.transmits.len() >= MAX_QUEUED_TRANSMITS {
            self.stats.transmits_dropped += 1;
            return;
        }
        self.transmits.push_back(Transmit {
            source,
            destination,
            contents,
        });
    }

    fn emit(&mut self, event: IceEvent) {
        if self.events.len() >= MAX_QUEUED_EVENTS {
            tracing::warn!(?event, "ICE event queue full, dropping event");
            return;
        }
        self.events.push_back(event);
    }

    fn set_state(&mut self, state: IceConnectionState) {
        if self.state != state {
            tracing::debug!(from = ?self.state, to = ?state, "ICE connection state");
            self.state = state;
            self.emit(IceEvent::StateChanged(state));
        }
    }

    /// A Binding request on `pair` (a connectivity or consent check), signed with the remote pwd.
    fn build_request(
        &self,
        pair: usize,
        tid: TransactionId,
        use_candidate: bool,
    ) -> Option<(Vec<u8>, SocketAddr, SocketAddr)> {
        let creds = self.remote_credentials.as_ref()?;
        let p = self.pairs.get(pair)?;
        let local = self.locals.get(p.local)?;
        let remote = self.remotes.get(p.remote)?;
        let bytes = self.build_binding(&local.candidate, creds, &self.config.local.ufrag, tid, use_candidate)?;
        Some((bytes, local.base, remote.addr))
    }

    /// A Binding request from `local` under `remote`'s credentials and our `local_ufrag`.
    fn build_binding(
        &self,
        local: &Candidate,
        remote: &IceCredentials,
        local_ufrag: &str,
        tid: TransactionId,
        use_candidate: bool,
    ) -> Option<Vec<u8>> {
        let local_preference = ((local.priority >> 8) & 0xFFFF) as u16;
        let mut msg = Message::new(Class::Request, Method::BINDING, tid)
            .with(Attribute::Username(format!("{}:{local_ufrag}", remote.ufrag)))
            .with(Attribute::Priority(compute_priority(
                CandidateKind::PeerReflexive,
                local_preference,
                COMPONENT,
            )));
        msg = match self.role {
            IceRole::Controlling => msg.with(Attribute::IceControlling(self.tie_breaker)),
            IceRole::Controlled => msg.with(Attribute::IceControlled(self.tie_breaker)),
        };
        if use_candidate {
            msg = msg.with(Attribute::UseCandidate);
        }
        if let Some(s) = &self.config.software {
            msg = msg.with(Attribute::Software(s.clone()));
        }
        msg.encode_with(Some(Integrity::Sha1(remote.pwd.as_bytes())), true).ok()
    }

    fn send_check(&mut self, now: Instant, pair: usize) {
        let use_candidate = self.role == IceRole::Controlling && self.nominating == Some(pair);
        let tid = TransactionId::random();
        let Some((bytes, source, destination)) = self.build_request(pair, tid, use_candidate) else {
            return;
        };
        let rto = self.config.initial_rto;
        let sent_as_controlling = self.role == IceRole::Controlling;
        if let Some(p) = self.pairs.get_mut(pair) {
            if p.state != PairState::Succeeded {
                p.state = PairState::InProgress;
            }
            p.in_flight = Some(InFlight {
                transaction_id: tid,
                bytes: bytes.clone(),
                next_at: now + rto,
                rto,
                transmits: 1,
                use_candidate,
                sent_as_controlling,
            });
            p.counters.on_request_sent(tid, now, true);
        }
        tracing::trace!(%source, %destination, use_candidate, "ICE check");
        self.stats.checks_sent += 1;
        self.queue_transmit(source, destination, bytes);
        if self.state == IceConnectionState::New {
            self.set_state(IceConnectionState::Checking);
        }
    }

    fn retransmit_due(&mut self, now: Instant) {
        let max_transmits = self.config.max_retransmits.saturating_add(1);
        let max_rto = self.config.max_rto;
        let mut resend = Vec::new();
        for (i, p) in self.pairs.iter_mut().enumerate() {
            let Some(f) = p.in_flight.as_mut() else { continue };
            if now < f.next_at {
                continue;
            }
            if f.transmits >= max_transmits {
                tracing::debug!(pair = i, "ICE check timed out");
                p.in_flight = None;
                // A valid pair whose nomination check went unanswered has lost its path too.
                if p.state != PairState::Succeeded || self.nominating == Some(i) {
                    p.state = PairState::Failed;
                }
                if self.nominating == Some(i) {
                    self.nominating = None;
                }
                continue;
            }
            f.transmits += 1;
            f.rto = (f.rto * 2).min(max_rto);
            f.next_at = now + f.rto;
            resend.push((i, f.bytes.clone()));
            p.counters.on_request_sent(f.transaction_id, now, false);
        }
        self.nominate_best_valid_pair();
        for (i, bytes) in resend {
            let Some(p) = self.pairs.get(i) else { continue };
            let (Some(l), Some(r)) = (self.locals.get(p.local), self.remotes.get(p.remote)) else {
                continue;
            };
            let (source, destination) = (l.base, r.addr);
            self.stats.retransmits += 1;
            self.queue_transmit(source, destination, bytes);
        }
    }

    fn has_consent_state(&self) -> bool {
        matches!(
            self.state,
            IceConnectionState::Connected | IceConnectionState::Completed | IceConnectionState::Disconnected
        )
    }

    fn send_consent_check(&mut self, now: Instant) {
        let tid = TransactionId::random();
        let request = match (self.selected, &self.previous) {
            (Some(pair), _) => self.build_request(pair, tid, false),
            (None, Some(p)) => self
                .build_binding(
                    &p.local_candidate,
                    &p.remote_credentials,
                    &p.local_credentials.ufrag,
                    tid,
                    false,
                )
                .map(|bytes| (bytes, p.local, p.remote)),
            (None, None) => None,
        };
        if let Some((bytes, source, destination)) = request {
            if self.consent.in_flight.len() >= MAX_CONSENT_IN_FLIGHT {
                self.consent.in_flight.pop_front();
            }
            self.consent.in_flight.push_back(tid);
            self.consent.first_unanswered.get_or_insert(now);
            self.stats.consent_checks_sent += 1;
            if let Some(p) = self.selected.and_then(|s| self.pairs.get_mut(s)) {
                p.counters.on_request_sent(tid, now, true);
                p.counters.consent_requests_sent += 1;
            }
            self.queue_transmit(source, destination, bytes);
        }
        self.consent.next_at = now + self.jittered_consent_interval();
    }

    fn jittered_consent_interval(&self) -> Duration {
        // 0.8 + 0.4·u, u uniform in [0, 1).
        let u = (random_u64() >> 11) as f64 / (1u64 << 53) as f64;
        self.config.consent_interval.mul_f64(0.8 + 0.4 * u)
    }

    fn respond(&mut self, r: &Receive<'_>, msg: Message, signed: bool) {
        let key = signed.then_some(Integrity::Sha1(self.config.local.pwd.as_bytes()));
        let encoded = msg.encode_with(key, true);
        self.queue_response(r, encoded);
    }

    /// Sends a response signed with `pwd` instead of our current one.
    fn respond_with_key(&mut self, r: &Receive<'_>, msg: Message, pwd: &str) {
        let encoded = msg.encode_with(Some(Integrity::Sha1(pwd.as_bytes())), true);
        self.queue_response(r, encoded);
    }

    fn queue_response(&mut self, r: &Receive<'_>, encoded: Result<Vec<u8>, crate::stun::StunError>) {
        match encoded {
            Ok(bytes) => self.queue_transmit(r.destination, r.source, bytes),
            Err(e) => tracing::warn!(error = %e, "could not encode STUN response"),
        }
    }

    fn error_response(&mut self, r: &Receive<'_>, request: &Message, code: u16, reason: &str, signed: bool) {
        let msg =
            Message::new(Class::ErrorResponse, Method::BINDING, request.transaction_id).with(Attribute::ErrorCode {
                code,
                reason: reason.to_string(),
            });
        self.respond(r, msg, signed);
    }

    // ---- receiving ----

    fn handle_request(&mut self, now: Instant, r: Receive<'_>, local: usize, msg: &Message) {
        let has_integrity =
            msg.attribute(MESSAGE_INTEGRITY).is_some() || msg.attribute(MESSAGE_INTEGRITY_SHA256).is_some();
        let Some(username) = msg.username().filter(|_| has_integrity) else {
            self.stats.bad_requests += 1;
            self.error_response(&r, msg, 400, "Bad Request", false);
            return;
        };
        let ours = username.split_once(':').map(|(ours, _)| ours);
        let previous_pwd = self
            .previous
            .as_ref()
            .filter(|p| Some(p.local_credentials.ufrag.as_str()) == ours)
            .map(|p| p.local_credentials.pwd.clone());
        if let Some(pwd) = previous_pwd {
            self.answer_previous_generation(&r, msg, &pwd);
            return;
        }
        if ours != Some(self.config.local.ufrag.as_str()) {
            self.stats.bad_username += 1;
            self.error_response(&r, msg, 401, "Unauthenticated", false);
            return;
        }
        if msg.check_integrity(self.config.local.pwd.as_bytes()).is_err() {
            tracing::debug!(from = %r.source, "STUN request with bad integrity");
            self.stats.bad_integrity += 1;
            self.error_response(&r, msg, 401, "Unauthenticated", false);
            return;
        }
        let unknown = msg.unknown_comprehension_required();
        if !unknown.is_empty() {
            let reply = Message::new(Class::ErrorResponse, Method::BINDING, msg.transaction_id)
                .with(Attribute::ErrorCode {
                    code: 420,
                    reason: "Unknown Attribute".into(),
                })
                .with(Attribute::UnknownAttributes(unknown));
            self.respond(&r, reply, true);
            return;
        }
        let Some(remote_priority) = msg.priority() else {
            self.stats.bad_requests += 1;
            self.error_response(&r, msg, 400, "Bad Request", true);
            return;
        };
        // Role conflict (RFC 8445 §7.3.1.1).
        match (self.role, msg.ice_controlling(), msg.ice_controlled()) {
            (IceRole::Controlling, Some(theirs), _) => {
                self.stats.role_conflicts += 1;
                if self.tie_breaker >= theirs {
                    self.error_response(&r, msg, 487, "Role Conflict", true);
                    return;
                }
                self.switch_role(IceRole::Controlled);
            }
            (IceRole::Controlled, _, Some(theirs)) => {
                self.stats.role_conflicts += 1;
                if self.tie_breaker >= theirs {
                    self.switch_role(IceRole::Controlling);
                } else {
                    self.error_response(&r, msg, 487, "Role Conflict", true);
                    return;
                }
            }
            _ => {}
        }
        self.stats.requests_accepted += 1;

        let response = Message::new(Class::SuccessResponse, Method::BINDING, msg.transaction_id)
            .with(Attribute::XorMappedAddress(r.source));
        let response = match &self.config.software {
            Some(s) => response.with(Attribute::Software(s.clone())),
            None => response,
        };
        self.respond(&r, response, true);

        let remote = match self.remotes.iter().position(|c| c.addr == r.source) {
            Some(i) => Some(i),
            None => self.learn_peer_reflexive(r.source, remote_priority),
        };
        let Some(pair) = remote.and_then(|remote| self.form_pair(local, remote)) else {
            return;
        };
        if let Some(p) = self.pairs.get_mut(pair) {
            // The request is counted on the pair it arrived on (formed just now if it was new).
            p.counters.requests_received += 1;
            p.counters.responses_sent += 1;
        }
        if self.state == IceConnectionState::New {
            self.set_state(IceConnectionState::Checking);
        }
        let use_candidate = msg.use_candidate() && self.role == IceRole::Controlled;
        let Some(p) = self.pairs.get_mut(pair) else { return };
        p.checked_by_peer = true;
        match p.state {
            PairState::Succeeded => {
                if use_candidate && !p.nominated {
                    p.nominated = true;
                    self.select_nominated(now, pair);
                }
            }
            PairState::InProgress => {
                p.nominate_on_success |= use_candidate;
            }
            PairState::Waiting | PairState::Failed => {
                p.nominate_on_success |= use_candidate;
                p.state = PairState::Waiting;
                self.trigger(pair, false);
            }
        }
    }

    /// A request under our credentials from before a restart: a consent check on the previous
    /// path. It is answered (signed with the old pwd) and forms no pair.
    fn answer_previous_generation(&mut self, r: &Receive<'_>, msg: &Message, pwd: &str) {
        if msg.check_integrity(pwd.as_bytes()).is_err() {
            self.stats.bad_integrity += 1;
            self.error_response(r, msg, 401, "Unauthenticated", false);
            return;
        }
        self.stats.requests_accepted += 1;
        let response = Message::new(Class::SuccessResponse, Method::BINDING, msg.transaction_id)
            .with(Attribute::XorMappedAddress(r.source));
        self.respond_with_key(r, response, pwd);
    }

    fn learn_peer_reflexive(&mut self, addr: SocketAddr, priority: u32) -> Option<usize> {
        if self.remotes.len() >= self.config.max_remote_candidates {
            self.stats.remote_candidates_refused += 1;
            return None;
        }
        self.prflx_count += 1;
        let candidate = Candidate {
            foundation: format!("prflx{}", self.prflx_count),
            component: COMPONENT,
            protocol: TransportProtocol::Udp,
            priority,
            address: CandidateAddress::Ip(addr.ip()),
            port: addr.port(),
            kind: CandidateKind::PeerReflexive,
            related: None,
            tcp_type: None,
            extensions: Vec::new(),
        };
        tracing::debug!(%addr, "learned peer-reflexive remote candidate");
        self.remotes.push(RemoteCandidate {
            candidate: candidate.clone(),
            addr,
        });
        self.emit(IceEvent::RemoteCandidateLearned(candidate));
        Some(self.remotes.len() - 1)
    }

    fn owns_transaction(&self, tid: &TransactionId) -> bool {
        self.consent.in_flight.contains(tid)
            || self
                .pairs
                .iter()
                .any(|p| p.in_flight.as_ref().is_some_and(|f| f.transaction_id == *tid))
    }

    fn handle_response(&mut self, now: Instant, r: Receive<'_>, msg: &Message) {
        let tid = msg.transaction_id;
        if self.consent.in_flight.contains(&tid) {
            self.handle_consent_response(now, r, msg);
            return;
        }
        let pair = self
            .pairs
            .iter()
            .position(|p| p.in_flight.as_ref().is_some_and(|f| f.transaction_id == tid));
        let Some(pair) = pair else {
            self.stats.unknown_transactions += 1;
            return;
        };
        let Some(creds) = &self.remote_credentials else { return };
        if msg.check_integrity(creds.pwd.as_bytes()).is_err() {
            tracing::debug!(from = %r.source, "STUN response with bad integrity");
            self.stats.bad_integrity += 1;
            return;
        }
        self.stats.responses_accepted += 1;
        if let Some(p) = self.pairs.get_mut(pair) {
            p.counters.on_response(tid, now);
        }
        let Some(check) = self.pairs.get_mut(pair).and_then(|p| p.in_flight.take()) else {
            return;
        };
        // The response must come back on the same address pair (RFC 8445 §7.2.5.2.1).
        if self.pair_addresses(pair) != Some((r.destination, r.source)) {
            self.fail_pair(pair);
            return;
        }
        if msg.class == Class::ErrorResponse {
            if msg.error_code() == Some(487) {
                self.stats.role_conflicts += 1;
                let sent_as = if check.sent_as_controlling {
                    IceRole::Controlling
                } else {
                    IceRole::Controlled
                };
                if self.role == sent_as {
                    let other = match sent_as {
                        IceRole::Controlling => IceRole::Controlled,
                        IceRole::Controlled => IceRole::Controlling,
                    };
                    self.switch_role(other);
                }
                if let Some(p) = self.pairs.get_mut(pair) {
                    p.state = PairState::Waiting;
                }
                self.trigger(pair, false);
            } else {
                self.fail_pair(pair);
            }
            return;
        }
        if self.selected == Some(pair) {
            self.consent_renewed(now);
        }
        let Some(p) = self.pairs.get_mut(pair) else { return };
        p.state = PairState::Succeeded;
        match self.role {
            IceRole::Controlling => {
                if check.use_candidate {
                    p.nominated = true;
                    self.nominating = None;
                    self.select_nominated(now, pair);
                } else {
                    // Regular nomination: repeat the check on the first valid pair with USE-CANDIDATE.
                    // It re-checks a pair that has just worked, so it goes out at once instead of
                    // waiting for a pacing slot: one extra packet, a Ta sooner connected.
                    self.nominate_best_valid_pair();
                    if let Some(nominating) = self.nominating {
                        self.triggered.retain(|&i| i != nominating);
                        self.send_check(now, nominating);
                    }
                }
            }
            IceRole::Controlled => {
                if p.nominate_on_success {
                    p.nominated = true;
                    self.select_nominated(now, pair);
                }
            }
        }
    }

    /// The answer to a consent check, on the selected pair or, during a restart, on the path
    /// selected before it: consent is renewed if it is an authenticated success from that path.
    fn handle_consent_response(&mut self, now: Instant, r: Receive<'_>, msg: &Message) {
        let tid = msg.transaction_id;
        let (pwd, path) = if let Some(p) = &self.previous {
            (p.remote_credentials.pwd.clone(), Some((p.local, p.remote)))
        } else {
            let Some(creds) = &self.remote_credentials else { return };
            let path = self.selected.and_then(|s| self.pair_addresses(s));
            (creds.pwd.clone(), path)
        };
        if msg.check_integrity(pwd.as_bytes()).is_err() {
            tracing::debug!(from = %r.source, "consent response with bad integrity");
            self.stats.bad_integrity += 1;
            return;
        }
        self.stats.responses_accepted += 1;
        self.consent.in_flight.retain(|t| *t != tid);
        if let Some(p) = self.selected.and_then(|s| self.pairs.get_mut(s)) {
            p.counters.on_response(tid, now);
        }
        if msg.class == Class::SuccessResponse && path == Some((r.destination, r.source)) {
            self.consent_renewed(now);
        }
    }

    fn consent_renewed(&mut self, now: Instant) {
        self.consent.last_ok = now;
        self.consent.first_unanswered = None;
    }

    /// Controlling, nothing selected or being nominated: nominate the best valid pair, if any.
    fn nominate_best_valid_pair(&mut self) {
        if self.role != IceRole::Controlling || self.selected.is_some() || self.nominating.is_some() {
            return;
        }
        let best = self
            .pairs
            .iter()
            .enumerate()
            .filter(|(_, p)| p.state == PairState::Succeeded && p.in_flight.is_none())
            .max_by_key(|(_, p)| p.priority)
            .map(|(i, _)| i);
        if let Some(pair) = best {
            self.nominating = Some(pair);
            self.trigger(pair, true);
        }
    }

    fn pair_addresses(&self, pair: usize) -> Option<(SocketAddr, SocketAddr)> {
        let p = self.pairs.get(pair)?;
        Some((self.locals.get(p.local)?.base, self.remotes.get(p.remote)?.addr))
    }

    fn fail_pair(&mut self, pair: usize) {
        if let Some(p) = self.pairs.get_mut(pair) {
            p.in_flight = None;
            p.state = PairState::Failed;
        }
        if self.nominating == Some(pair) {
            self.nominating = None;
            self.nominate_best_valid_pair();
        }
    }

    /// Selects a nominated pair if nothing is selected yet or it has a higher priority.
    fn select_nominated(&mut self, now: Instant, pair: usize) {
        let better = match self.selected.and_then(|s| self.pairs.get(s)) {
            None => true,
            Some(current) => self.pairs.get(pair).is_some_and(|p| p.priority > current.priority),
        };
        if !better || self.selected == Some(pair) {
            return;
        }
        let Some((local, remote)) = self.pair_addresses(pair) else {
            return;
        };
        tracing::debug!(%local, %remote, "ICE selected pair");
        self.selected = Some(pair);
        if let Some(previous) = self.previous.take() {
            // The restart is done: the old path only delivers what is still on its way.
            self.retired = Some((previous.local, previous.remote));
            // Every consent check in flight went over the old path.
            self.consent.in_flight.clear();
        }
        self.stats.selected_pair_changes += 1;
        self.ever_connected = true;
        self.consent_renewed(now);
        self.consent.next_at = now + self.jittered_consent_interval();
        self.emit(IceEvent::SelectedPairChanged { local, remote });
        self.set_state(IceConnectionState::Connected);
    }

    fn update_state(&mut self, now: Instant) {
        match self.state {
            IceConnectionState::Closed | IceConnectionState::Failed => {}
            IceConnectionState::Connected | IceConnectionState::Completed | IceConnectionState::Disconnected => {
                let silent = now.saturating_duration_since(self.consent.last_ok);
                let unanswered = self
                    .consent
                    .first_unanswered
                    .map_or(Duration::ZERO, |first| now.saturating_duration_since(first));
                if silent >= self.config.failed_timeout {
                    tracing::debug!("ICE consent expired");
                    self.selected = None;
                    self.previous = None;
                    self.retired = None;
                    self.consent.in_flight.clear();
                    for p in &mut self.pairs {
                        p.in_flight = None;
                    }
                    self.triggered.clear();
                    self.set_state(IceConnectionState::Failed);
                } else if unanswered >= self.config.disconnected_timeout {
                    self.set_state(IceConnectionState::Disconnected);
                } else {
                    let pending = self
                        .pairs
                        .iter()
                        .any(|p| matches!(p.state, PairState::Waiting | PairState::InProgress));
                    let settled = self.selected.is_some() && !pending && self.triggered.is_empty();
                    if self.end_of_remote_candidates.is_some() && settled {
                        self.set_state(IceConnectionState::Completed);
                    } else if self.state == IceConnectionState::Disconnected {
                        self.set_state(IceConnectionState::Connected);
                    }
                }
            }
            IceConnectionState::New | IceConnectionState::Checking => {
                let Some(end) = self.end_of_remote_candidates else {
                    return;
                };
                let all_failed = self.pairs.iter().all(|p| p.state == PairState::Failed) && self.triggered.is_empty();
                let give_up = if self.pairs.is_empty() {
                    now >= end + self.config.no_candidates_timeout
                } else {
                    all_failed
                };
                if give_up {
                    tracing::debug!("all ICE candidate pairs failed");
                    self.set_state(IceConnectionState::Failed);
                }
            }
        }
    }

    // ---- statistics ----

    /// The local candidates with their bases, in the order pairs refer to them.
    pub fn local_candidates(&self) -> impl Iterator<Item = (&Candidate, SocketAddr)> {
        self.locals.iter().map(|l| (&l.candidate, l.base))
    }

    /// A snapshot of every candidate pair, for `getStats`.
    pub fn candidate_pairs(&self) -> Vec<CandidatePairInfo> {
        self.pairs
            .iter()
            .enumerate()
            .map(|(i, p)| CandidatePairInfo {
                local: p.local,
                remote: p.remote,
                priority: p.priority,
                state: p.state.into(),
                nominated: p.nominated,
                selected: self.selected == Some(i),
                counters: p.counters.clone(),
            })
            .collect()
    }

    /// Counts an application datagram (DTLS, SRTP) sent from `local` to `remote` on their pair.
    pub fn record_sent(&mut self, local: SocketAddr, remote: SocketAddr, len: usize) {
        if let Some(p) = self.pair_by_addresses_mut(local, remote) {
            p.counters.packets_sent += 1;
            p.counters.bytes_sent += len as u64;
        }
    }

    /// Counts an application datagram (DTLS, SRTP) received at `local` from `remote` on their pair.
    pub fn record_received(&mut self, local: SocketAddr, remote: SocketAddr, len: usize, now: Instant) {
        if let Some(p) = self.pair_by_addresses_mut(local, remote) {
            p.counters.packets_received += 1;
            p.counters.bytes_received += len as u64;
            p.counters.last_packet_received = Some(now);
        }
    }

    fn pair_by_addresses_mut(&mut self, local: SocketAddr, remote: SocketAddr) -> Option<&mut CandidatePair> {
        let local = self.local_for(local)?;
        let remotes = &self.remotes;
        self.pairs
            .iter_mut()
            .find(|p| p.local == local && remotes.get(p.remote).is_some_and(|r| r.addr == remote))
    }
}
