//! ICE (RFC 8445): candidates and the sans-IO agent.
//!
//! [`IceAgent`] is a full (never lite) ICE agent for a single component (component 1: RTP/RTCP
//! multiplexed, data channels) over UDP host candidates. It owns no socket and no clock: the
//! runtime feeds it received datagrams and the current time and sends what it returns.
//!
//! # Driving it
//!
//! 1. Create it with an [`IceAgentConfig`] (role and credentials; the JSEP layer may change the
//!    role later with [`IceAgent::set_role`]); add a host candidate per bound socket with
//!    [`IceAgent::add_local_candidate`].
//! 2. Give it the peer's credentials ([`IceAgent::set_remote_credentials`]) and candidates as they
//!    trickle in ([`IceAgent::add_remote_candidate`], then [`IceAgent::end_of_remote_candidates`]).
//!    Hostname (mDNS) candidates are refused until the runtime resolves them to an IP.
//! 3. Route datagrams for which [`IceAgent::accepts`] is true to [`IceAgent::handle_receive`];
//!    call [`IceAgent::handle_timeout`] at [`IceAgent::poll_timeout`]; drain
//!    [`IceAgent::poll_transmit`] and [`IceAgent::poll_event`] after each call. A datagram's
//!    `destination` should be the socket's address; a wildcard (`0.0.0.0:port`) destination is
//!    mapped to the only local candidate with that family and port.
//!
//! # States
//!
//! `New` → `Checking` (first check sent or received) → `Connected` (a nominated pair is
//! selected; [`IceEvent::SelectedPairChanged`] tells where to send) → `Completed` (also
//! end-of-candidates signalled and no check pending). From `Connected`/`Completed`:
//! `Disconnected` when the first consent check sent since the last authenticated success response
//! has gone unanswered for `disconnected_timeout` (5 s; so 5 to 8 s after the path is cut, as in
//! browsers), back to `Connected` when an answer arrives, `Failed` when none came for
//! `failed_timeout` (30 s since the last answer, consent expiry of RFC 7675). `Checking` → `Failed` once end-of-candidates
//! was signalled and every pair has failed, or when there is no pair at all
//! `no_candidates_timeout` (10 s) after end-of-candidates. A new pair after such a failure
//! (a trickled or peer-reflexive candidate) returns to `Checking`; after consent expiry the agent
//! stays `Failed` and silent. `Closed` after [`IceAgent::close`].
//!
//! # Checks and nomination
//!
//! - Pairs are formed between every local and remote candidate of the same address family, with the
//!   priority of RFC 8445 §6.1.2.3. There is no Frozen state: new pairs are Waiting and one check
//!   is sent every `check_pacing` (Ta, 50 ms), triggered checks first, then the highest-priority
//!   Waiting pair.
//! - A check is retransmitted after `initial_rto` (250 ms), doubling up to `max_rto` (3 s), at most
//!   `max_retransmits` (7) times; with the defaults an unanswered pair fails 15.75 s after its first
//!   check, so an unreachable peer with end-of-candidates fails the agent in about 16 s.
//! - Incoming Binding requests must carry `USERNAME` = `our-ufrag:their-ufrag`,
//!   MESSAGE-INTEGRITY with our pwd and (if present) a valid FINGERPRINT. Missing USERNAME,
//!   integrity or PRIORITY → 400; unknown ufrag or bad integrity → 401 (counted in
//!   [`IceStats`]); unknown comprehension-required attributes → 420. A valid request is answered
//!   with XOR-MAPPED-ADDRESS, may teach a peer-reflexive remote candidate
//!   ([`IceEvent::RemoteCandidateLearned`]) and triggers a check on its pair. Requests that arrive
//!   before the remote credentials are answered at once; their triggered checks wait (bounded by
//!   the pair limit) until the credentials are set.
//! - Role conflicts are repaired per RFC 8445 §7.3.1.1 (487 and tie-breaker), both for incoming
//!   requests and 487 responses.
//! - The controlling agent uses regular nomination: after the first check that succeeds it repeats
//!   the check on that pair with USE-CANDIDATE, and selects it when that succeeds. The controlled
//!   agent selects a pair when a USE-CANDIDATE request arrived for it and its own check on it
//!   succeeded (a higher-priority nominated pair replaces the selection). With an ice-lite peer
//!   ([`IceAgent::set_remote_lite`]) we are always controlling.
//! - Successful checks make their own pair valid: responses must come from the address the check
//!   went to and arrive on the base it left from; the XOR-MAPPED-ADDRESS is not used to build
//!   separate valid pairs (only host candidates are supported locally).
//! - Once connected, a consent check (a Binding request, not retransmitted) goes out on the
//!   selected pair every `consent_interval` (2.5 s, randomized ×0.8–1.2); they are also the
//!   keepalives.
//!
//! # Limits
//!
//! At most `max_local_candidates` (16) local and `max_remote_candidates` (100, peer-reflexive
//! included) remote candidates and `max_pairs` (500) pairs; extra candidates/pairs are refused and
//! counted. At most 256 queued datagrams and 64 queued events. TCP candidates,
//! components other than 1 and server-reflexive local candidates as pair members are not supported
//! (a server-reflexive candidate is signalled only: its base, a host candidate, does the checks).
//!
//! # ICE restart
//!
//! [`IceAgent::restart`] (new local credentials) or new remote credentials in
//! [`IceAgent::set_remote_credentials`] start a new generation (RFC 8445 §9): remote candidates,
//! pairs and checks are dropped and checks start over; local candidates stay. The pair selected
//! before keeps carrying data, with consent checks under the old credentials, until the new
//! generation selects a pair. `Connected` stays `Connected` meanwhile (`Completed` becomes
//! `Connected`; `Disconnected` and `Failed` become `Checking`), as webrtc-pc and Chromium do.
//!
//! # Server-reflexive and relayed candidates
//!
//! [`IceGatherer`] runs the STUN Binding and TURN Allocate transactions of gathering and carries
//! data through the allocations; a relayed candidate is added to the agent with its relayed
//! address as base (see [`gather`]).

pub mod agent;
pub mod candidate;
pub mod credentials;
pub mod gather;
mod pair;
pub mod server;

pub use agent::{IceAgent, IceAgentConfig, IceConnectionState, IceEvent, IceStats, IceTiming};
pub use candidate::{Candidate, CandidateAddress, CandidateKind, CandidateParseError, TransportProtocol};
pub use credentials::{IceCredentials, IceRole};
pub use gather::{
    CandidateError, GatherConfig, GatherEvent, IceGatherer, RelayedDatagram, ServerEndpoint, StreamTransmit,
};
pub use pair::{pair_priority, CandidatePairInfo, CandidatePairState, PairCounters};

#[cfg(test)]
mod tests;
