//! Agent tests: two agents joined by a simulated network, with a fake clock.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::*;
use crate::net::{Receive, Transmit};
use crate::stun::{Attribute, Class, Integrity, Message, Method, TransactionId};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Side {
    A,
    B,
}

/// Two agents and a lossless, zero-latency network between their local candidates.
struct Net {
    now: Instant,
    start: Instant,
    a: IceAgent,
    b: IceAgent,
    owners: HashMap<SocketAddr, Side>,
    events_a: Vec<IceEvent>,
    events_b: Vec<IceEvent>,
    /// Drop everything while true.
    blocked: bool,
    /// Rewrites (or drops, with `None`) every datagram in flight.
    mangle: Option<fn(Transmit) -> Option<Transmit>>,
    delivered: usize,
    sent_by_a: usize,
    /// One-way delay of every datagram.
    latency: Duration,
    /// Drop every n-th datagram (deterministic loss).
    drop_every: Option<usize>,
    /// Datagrams on the wire, with their arrival time.
    wire: Vec<(Instant, Transmit)>,
    sent_total: usize,
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

impl Net {
    fn new(role_a: IceRole, role_b: IceRole) -> Net {
        Net::with_configs(IceAgentConfig::new(role_a), IceAgentConfig::new(role_b))
    }

    fn with_configs(config_a: IceAgentConfig, config_b: IceAgentConfig) -> Net {
        let start = Instant::now();
        Net {
            now: start,
            start,
            a: IceAgent::new(config_a, start),
            b: IceAgent::new(config_b, start),
            owners: HashMap::new(),
            events_a: Vec::new(),
            events_b: Vec::new(),
            blocked: false,
            mangle: None,
            delivered: 0,
            sent_by_a: 0,
            latency: Duration::ZERO,
            drop_every: None,
            wire: Vec::new(),
            sent_total: 0,
        }
    }

    fn agent(&mut self, side: Side) -> &mut IceAgent {
        match side {
            Side::A => &mut self.a,
            Side::B => &mut self.b,
        }
    }

    /// Binds a host candidate on `side`.
    fn host(&mut self, side: Side, at: &str) -> Candidate {
        let c = Candidate::host(addr(at), 1, 65535);
        assert!(self.agent(side).add_local_candidate(c.clone()));
        self.owners.insert(addr(at), side);
        c
    }

    /// Gives each side the other's credentials.
    fn exchange_credentials(&mut self) {
        let (ca, cb) = (self.a.local_credentials().clone(), self.b.local_credentials().clone());
        self.a.set_remote_credentials(cb);
        self.b.set_remote_credentials(ca);
    }

    /// Puts every queued datagram on the wire and delivers those due by now (and the answers
    /// they cause, if there is no latency).
    fn flush(&mut self) {
        loop {
            let mut moved = false;
            for side in [Side::A, Side::B] {
                while let Some(t) = self.agent(side).poll_transmit() {
                    moved = true;
                    if side == Side::A {
                        self.sent_by_a += 1;
                    }
                    self.sent_total += 1;
                    let lost = self.drop_every.is_some_and(|n| self.sent_total % n == 0);
                    if !lost {
                        let arrival = self.now + self.latency;
                        self.wire.push((arrival, t));
                    }
                }
            }
            let now = self.now;
            let (due, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.wire)
                .into_iter()
                .partition(|(at, _)| *at <= now);
            self.wire = later;
            for (_, t) in due {
                moved = true;
                self.deliver(t);
            }
            while let Some(e) = self.a.poll_event() {
                self.events_a.push(e);
            }
            while let Some(e) = self.b.poll_event() {
                self.events_b.push(e);
            }
            if !moved {
                break;
            }
        }
    }

    fn deliver(&mut self, t: Transmit) {
        if self.blocked {
            return;
        }
        let t = match self.mangle {
            Some(f) => match f(t) {
                Some(t) => t,
                None => return,
            },
            None => t,
        };
        assert!(self.owners.contains_key(&t.source), "sent from an unbound address");
        let Some(&to) = self.owners.get(&t.destination) else {
            return; // nobody there
        };
        self.delivered += 1;
        let now = self.now;
        self.agent(to).handle_receive(
            now,
            Receive {
                source: t.source,
                destination: t.destination,
                contents: &t.contents,
            },
        );
    }

    /// Runs timers and traffic until `until` holds or `limit` of simulated time passed.
    /// Returns the elapsed simulated time when `until` became true.
    fn run(&mut self, limit: Duration, until: impl Fn(&Net) -> bool) -> Option<Duration> {
        let begin = self.now;
        let end = begin + limit;
        let mut stalled = 0;
        loop {
            self.flush();
            if until(self) {
                return Some(self.now - begin);
            }
            if self.now >= end {
                return None;
            }
            let next = [self.a.poll_timeout(), self.b.poll_timeout()]
                .into_iter()
                .chain(self.wire.iter().map(|(at, _)| Some(*at)))
                .flatten()
                .min()
                .unwrap_or(end)
                .clamp(self.now, end);
            // A deadline must move forward once handled, or the runtime would spin.
            stalled = if next == self.now { stalled + 1 } else { 0 };
            assert!(stalled < 100, "poll_timeout stuck at {:?}", self.now - self.start);
            self.now = next;
            self.a.handle_timeout(self.now);
            self.b.handle_timeout(self.now);
        }
    }

    fn connected(&self) -> bool {
        is_up(self.a.state()) && is_up(self.b.state())
    }
}

fn is_up(s: IceConnectionState) -> bool {
    matches!(s, IceConnectionState::Connected | IceConnectionState::Completed)
}

fn flip(pair: Option<(SocketAddr, SocketAddr)>) -> Option<(SocketAddr, SocketAddr)> {
    pair.map(|(l, r)| (r, l))
}

/// The usual setup: one host candidate each, credentials and candidates exchanged.
fn connected_pair(a_at: &str, b_at: &str) -> Net {
    let mut net = Net::new(IceRole::Controlling, IceRole::Controlled);
    let ca = net.host(Side::A, a_at);
    let cb = net.host(Side::B, b_at);
    net.exchange_credentials();
    assert!(net.a.add_remote_candidate(cb));
    assert!(net.b.add_remote_candidate(ca));
    let now = net.now;
    net.a.end_of_remote_candidates(now);
    net.b.end_of_remote_candidates(now);
    let took = net
        .run(Duration::from_secs(5), Net::connected)
        .expect("agents did not connect");
    assert!(took < Duration::from_millis(500), "connecting took {took:?}");
    net
}

#[test]
fn connects_over_ipv4_loopback() {
    let mut net = connected_pair("127.0.0.1:10000", "127.0.0.1:20000");
    assert_eq!(
        net.a.selected_pair(),
        Some((addr("127.0.0.1:10000"), addr("127.0.0.1:20000")))
    );
    assert_eq!(flip(net.b.selected_pair()), net.a.selected_pair());
    assert!(net.events_a.contains(&IceEvent::SelectedPairChanged {
        local: addr("127.0.0.1:10000"),
        remote: addr("127.0.0.1:20000"),
    }));
    assert_eq!(
        net.events_a.first(),
        Some(&IceEvent::StateChanged(IceConnectionState::Checking))
    );
    // End-of-candidates was signalled and nothing is pending: both complete.
    net.run(Duration::from_secs(1), |n| {
        n.a.state() == IceConnectionState::Completed && n.b.state() == IceConnectionState::Completed
    })
    .expect("did not complete");
    // Consent keeps it up for a long quiet period.
    net.run(Duration::from_secs(120), |n| !n.connected());
    assert!(
        net.connected(),
        "lost connection while the network was fine: {:?}",
        net.a.state()
    );
    assert!(net.a.stats().consent_checks_sent >= 120 / 3);
    assert_eq!(net.a.stats().bad_integrity + net.b.stats().bad_integrity, 0);
}

#[test]
fn connects_over_ipv6_loopback() {
    let net = connected_pair("[::1]:10000", "[::1]:20000");
    assert_eq!(net.b.selected_pair(), Some((addr("[::1]:20000"), addr("[::1]:10000"))));
    assert_eq!(flip(net.b.selected_pair()), net.a.selected_pair());
}

#[test]
fn mixed_families_pair_only_within_a_family() {
    let mut net = Net::new(IceRole::Controlling, IceRole::Controlled);
    let a4 = net.host(Side::A, "127.0.0.1:10000");
    let a6 = net.host(Side::A, "[::1]:10000");
    let b6 = net.host(Side::B, "[::1]:20000");
    net.exchange_credentials();
    net.a.add_remote_candidate(b6);
    net.b.add_remote_candidate(a4);
    net.b.add_remote_candidate(a6);
    net.run(Duration::from_secs(5), Net::connected).expect("no connection");
    assert_eq!(net.a.selected_pair(), Some((addr("[::1]:10000"), addr("[::1]:20000"))));
}

#[test]
fn trickled_candidates_in_both_directions_connect() {
    let mut net = Net::new(IceRole::Controlling, IceRole::Controlled);
    let ca = net.host(Side::A, "127.0.0.1:10000");
    let cb = net.host(Side::B, "127.0.0.1:20000");
    net.exchange_credentials();
    // First a candidate nobody answers: checks begin and go unanswered.
    assert!(net
        .a
        .add_remote_candidate(Candidate::host(addr("127.0.0.1:29999"), 1, 65535)));
    assert!(net
        .b
        .add_remote_candidate(Candidate::host(addr("127.0.0.1:19999"), 1, 65535)));
    net.run(Duration::from_millis(400), |_| false);
    assert_eq!(net.a.state(), IceConnectionState::Checking);
    assert_eq!(net.b.state(), IceConnectionState::Checking);
    assert!(net.a.stats().retransmits > 0);
    // Then the real ones trickle in, B's to A a bit later than A's to B.
    assert!(net.b.add_remote_candidate(ca));
    net.run(Duration::from_millis(30), |_| false);
    assert!(net.a.add_remote_candidate(cb));
    net.run(Duration::from_secs(2), Net::connected)
        .expect("trickle did not connect");
    assert_eq!(
        net.a.selected_pair(),
        Some((addr("127.0.0.1:10000"), addr("127.0.0.1:20000")))
    );
    assert_eq!(flip(net.b.selected_pair()), net.a.selected_pair());
}

#[test]
fn role_conflict_resolves_to_exactly_one_controlling_agent() {
    // Both roles, both tie-breaker orders: the larger tie-breaker ends up controlling, whether
    // the conflict is repaired by switching on a request or on a 487 response.
    for role in [IceRole::Controlling, IceRole::Controlled] {
        for (tie_a, tie_b) in [(1u64, 2u64), (2, 1), (u64::MAX, 0)] {
            let mut config_a = IceAgentConfig::new(role);
            config_a.tie_breaker = Some(tie_a);
            let mut config_b = IceAgentConfig::new(role);
            config_b.tie_breaker = Some(tie_b);
            let mut net = Net::with_configs(config_a, config_b);
            let ca = net.host(Side::A, "127.0.0.1:10000");
            let cb = net.host(Side::B, "127.0.0.1:20000");
            net.exchange_credentials();
            net.a.add_remote_candidate(cb);
            net.b.add_remote_candidate(ca);
            net.run(Duration::from_secs(5), Net::connected)
                .unwrap_or_else(|| panic!("no connection with both {role:?}"));
            let winner = if tie_a > tie_b { &net.a } else { &net.b };
            assert_eq!(
                winner.role(),
                IceRole::Controlling,
                "both {role:?}, ties {tie_a}/{tie_b}"
            );
            assert_ne!(net.a.role(), net.b.role());
            assert!(net.a.stats().role_conflicts + net.b.stats().role_conflicts > 0);
            assert_eq!(flip(net.b.selected_pair()), net.a.selected_pair());
        }
    }
}

/// Drops every request that carries USE-CANDIDATE.
fn drop_nominations(t: Transmit) -> Option<Transmit> {
    let msg = Message::decode(&t.contents).ok()?;
    (!msg.use_candidate()).then_some(t)
}

#[test]
fn lost_nomination_is_retried_on_another_valid_pair() {
    let mut net = Net::new(IceRole::Controlling, IceRole::Controlled);
    let a1 = net.host(Side::A, "127.0.0.1:10000");
    let a2 = net.host(Side::A, "127.0.0.2:10000");
    let cb = net.host(Side::B, "127.0.0.1:20000");
    net.exchange_credentials();
    net.a.add_remote_candidate(cb);
    net.b.add_remote_candidate(a1);
    net.b.add_remote_candidate(a2);
    // Nominations are lost for longer than a check's 15.75 s lifetime: both pairs become valid,
    // the first nomination times out, and the other valid pair must be nominated instead.
    net.mangle = Some(drop_nominations);
    net.run(Duration::from_secs(20), |_| false);
    assert_eq!(net.a.selected_pair(), None);
    net.mangle = None;
    let took = net
        .run(Duration::from_secs(30), Net::connected)
        .expect("never nominated again");
    assert!(took < Duration::from_secs(3), "{took:?}");
    assert_eq!(flip(net.b.selected_pair()), net.a.selected_pair());
}

#[test]
fn learns_peer_reflexive_candidate_from_checks() {
    let mut net = Net::new(IceRole::Controlling, IceRole::Controlled);
    net.host(Side::A, "127.0.0.1:10000");
    let cb = net.host(Side::B, "127.0.0.1:20000");
    net.exchange_credentials();
    // B is never told about A's candidate.
    net.a.add_remote_candidate(cb);
    net.run(Duration::from_secs(5), Net::connected).expect("no connection");
    let learned: Vec<_> = net
        .events_b
        .iter()
        .filter_map(|e| match e {
            IceEvent::RemoteCandidateLearned(c) => Some(c.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(learned.len(), 1);
    assert_eq!(learned[0].kind, CandidateKind::PeerReflexive);
    assert_eq!(learned[0].socket_addr(), Some(addr("127.0.0.1:10000")));
    assert_eq!(
        net.b.selected_pair(),
        Some((addr("127.0.0.1:20000"), addr("127.0.0.1:10000")))
    );
    // Signalling it later replaces the peer-reflexive candidate instead of duplicating it.
    assert!(net
        .b
        .add_remote_candidate(Candidate::host(addr("127.0.0.1:10000"), 1, 65535)));
    assert_eq!(net.b.remote_candidates().count(), 1);
    assert_eq!(net.b.remote_candidates().next().unwrap().kind, CandidateKind::Host);
}

#[test]
fn checks_arriving_before_remote_credentials_are_answered_and_followed_up() {
    let mut net = Net::new(IceRole::Controlling, IceRole::Controlled);
    let ca = net.host(Side::A, "127.0.0.1:10000");
    let cb = net.host(Side::B, "127.0.0.1:20000");
    // A has everything; B only its own candidate (its answer has not reached it yet).
    let cred_b = net.b.local_credentials().clone();
    net.a.set_remote_credentials(cred_b);
    net.a.add_remote_candidate(cb);
    net.run(Duration::from_millis(500), |_| false);
    assert!(net.b.stats().requests_accepted > 0);
    assert_eq!(net.b.selected_pair(), None);
    assert_eq!(net.b.state(), IceConnectionState::Checking);
    // Now B learns A's credentials (and candidate): the queued triggered check goes out.
    let cred_a = net.a.local_credentials().clone();
    net.b.set_remote_credentials(cred_a);
    net.b.add_remote_candidate(ca);
    net.run(Duration::from_secs(2), Net::connected).expect("no connection");
    assert_eq!(flip(net.b.selected_pair()), net.a.selected_pair());
}

#[test]
fn unreachable_candidate_with_end_of_candidates_fails_in_documented_time() {
    let mut net = Net::new(IceRole::Controlling, IceRole::Controlled);
    net.host(Side::A, "127.0.0.1:10000");
    net.exchange_credentials();
    net.a
        .add_remote_candidate(Candidate::host(addr("127.0.0.1:9"), 1, 65535));
    let now = net.now;
    net.a.end_of_remote_candidates(now);
    let took = net
        .run(Duration::from_secs(60), |n| n.a.state() == IceConnectionState::Failed)
        .expect("never failed");
    // 8 transmissions with RTOs 250, 500, 1000, 2000, 3000, 3000, 3000, 3000 ms: 15.75 s.
    assert!(
        took >= Duration::from_millis(15_700) && took <= Duration::from_millis(16_000),
        "{took:?}"
    );
    assert_eq!(net.a.stats().checks_sent, 1);
    assert_eq!(net.a.stats().retransmits, 7);
    assert_eq!(net.a.poll_timeout(), None);
    assert_eq!(
        net.events_a,
        vec![
            IceEvent::StateChanged(IceConnectionState::Checking),
            IceEvent::StateChanged(IceConnectionState::Failed)
        ]
    );
}

#[test]
fn no_candidates_at_all_fails_after_timeout() {
    let mut net = Net::new(IceRole::Controlling, IceRole::Controlled);
    net.host(Side::A, "127.0.0.1:10000");
    net.exchange_credentials();
    let now = net.now;
    net.a.end_of_remote_candidates(now);
    let took = net
        .run(Duration::from_secs(60), |n| n.a.state() == IceConnectionState::Failed)
        .expect("never failed");
    assert_eq!(took, Duration::from_secs(10));
}

/// A Binding request from B's address to A, as a peer knowing `pwd` would sign it.
fn forged_request(net: &Net, pwd: &str) -> Vec<u8> {
    let ufrag = format!(
        "{}:{}",
        net.a.local_credentials().ufrag,
        net.b.local_credentials().ufrag
    );
    Message::new(Class::Request, Method::BINDING, TransactionId::random())
        .with(Attribute::Username(ufrag))
        .with(Attribute::Priority(1_853_817_087))
        .with(Attribute::IceControlled(1))
        .encode_with(Some(Integrity::Sha1(pwd.as_bytes())), true)
        .unwrap()
}

#[test]
fn requests_with_wrong_integrity_are_refused_and_counted() {
    let mut net = Net::new(IceRole::Controlling, IceRole::Controlled);
    net.host(Side::A, "127.0.0.1:10000");
    net.exchange_credentials();
    let bytes = forged_request(&net, "not-the-password-at-all");
    assert!(net.a.accepts(&bytes), "it is addressed to A, even if forged");
    let now = net.now;
    net.a.handle_receive(
        now,
        Receive {
            source: addr("127.0.0.1:20000"),
            destination: addr("127.0.0.1:10000"),
            contents: &bytes,
        },
    );
    assert_eq!(net.a.stats().bad_integrity, 1);
    assert_eq!(net.a.stats().requests_accepted, 0);
    assert_eq!(net.a.remote_candidates().count(), 0);
    assert_eq!(net.a.state(), IceConnectionState::New);
    // The answer is an unsigned 401.
    let reply = net.a.poll_transmit().expect("no 401");
    assert_eq!(reply.destination, addr("127.0.0.1:20000"));
    let reply = Message::decode(&reply.contents).unwrap();
    assert_eq!(reply.class, Class::ErrorResponse);
    assert_eq!(reply.error_code(), Some(401));
    assert!(net.a.poll_event().is_none());

    // The same request signed with A's real password is accepted.
    let pwd = net.a.local_credentials().pwd.clone();
    let good = forged_request(&net, &pwd);
    net.a.handle_receive(
        now,
        Receive {
            source: addr("127.0.0.1:20000"),
            destination: addr("127.0.0.1:10000"),
            contents: &good,
        },
    );
    assert_eq!(net.a.stats().requests_accepted, 1);
    let reply = Message::decode(&net.a.poll_transmit().unwrap().contents).unwrap();
    assert_eq!(reply.class, Class::SuccessResponse);
    assert_eq!(reply.mapped_address(), Some(addr("127.0.0.1:20000")));
    reply.check_integrity(pwd.as_bytes()).unwrap();
    reply.check_fingerprint().unwrap();
}

/// Re-signs every success response with a wrong key, as an off-path attacker would have to.
fn corrupt_responses(t: Transmit) -> Option<Transmit> {
    let msg = Message::decode(&t.contents).ok()?;
    if msg.class != Class::SuccessResponse {
        return Some(t);
    }
    let mut forged = Message::new(msg.class, msg.method, msg.transaction_id);
    forged.attributes = msg.attributes[..1].to_vec();
    let contents = forged.encode_with(Some(Integrity::Sha1(b"guess")), true).ok()?;
    Some(Transmit { contents, ..t })
}

#[test]
fn responses_with_wrong_integrity_are_ignored_and_counted() {
    let mut net = Net::new(IceRole::Controlling, IceRole::Controlled);
    let ca = net.host(Side::A, "127.0.0.1:10000");
    let cb = net.host(Side::B, "127.0.0.1:20000");
    net.exchange_credentials();
    net.a.add_remote_candidate(cb);
    net.b.add_remote_candidate(ca);
    net.mangle = Some(corrupt_responses);
    net.run(Duration::from_secs(3), Net::connected);
    assert!(!is_up(net.a.state()) && !is_up(net.b.state()));
    assert!(net.a.stats().bad_integrity > 0);
    assert_eq!(net.a.stats().responses_accepted, 0);
    assert_eq!(net.a.selected_pair(), None);
}

#[test]
fn consent_loss_disconnects_then_fails() {
    let mut net = connected_pair("127.0.0.1:10000", "127.0.0.1:20000");
    net.blocked = true;
    let took = net
        .run(Duration::from_secs(60), |n| {
            n.a.state() == IceConnectionState::Disconnected
        })
        .expect("never disconnected");
    // 5 s after the first unanswered consent check, which goes out at most one interval
    // (≤ 3 s) after the block.
    assert!(
        took >= Duration::from_secs(5) && took <= Duration::from_secs(8),
        "{took:?}"
    );
    let to_failed = net
        .run(Duration::from_secs(60), |n| n.a.state() == IceConnectionState::Failed)
        .expect("never failed");
    // 30 s after the last answer, which came at most one interval before the block.
    let total = took + to_failed;
    assert!(
        total >= Duration::from_secs(27) && total <= Duration::from_secs(30),
        "{total:?}"
    );
    assert_eq!(net.a.selected_pair(), None);
    assert_eq!(net.b.state(), IceConnectionState::Failed);
    // No more traffic or timers after failure.
    assert_eq!(net.a.poll_timeout(), None);
}

#[test]
fn consent_recovers_to_connected() {
    let mut net = connected_pair("127.0.0.1:10000", "127.0.0.1:20000");
    let selected = net.a.selected_pair();
    net.blocked = true;
    net.run(Duration::from_secs(60), |n| {
        n.a.state() == IceConnectionState::Disconnected && n.b.state() == IceConnectionState::Disconnected
    })
    .expect("never disconnected");
    net.run(Duration::from_secs(5), |_| false);
    assert_eq!(net.a.state(), IceConnectionState::Disconnected);
    net.blocked = false;
    let took = net
        .run(Duration::from_secs(10), Net::connected)
        .expect("never recovered");
    assert!(took <= Duration::from_secs(3), "{took:?}");
    assert_eq!(net.a.selected_pair(), selected);
    let states: Vec<_> = net
        .events_a
        .iter()
        .filter_map(|e| match e {
            IceEvent::StateChanged(s) => Some(*s),
            _ => None,
        })
        .collect();
    let tail = &states[states.len() - 2..];
    assert_eq!(tail[0], IceConnectionState::Disconnected);
    assert!(is_up(tail[1]));
}

#[test]
fn garbage_never_panics_and_is_counted() {
    let mut net = Net::new(IceRole::Controlling, IceRole::Controlled);
    net.host(Side::A, "127.0.0.1:10000");
    net.exchange_credentials();
    let pwd = net.a.local_credentials().pwd.clone();
    let good = forged_request(&net, &pwd);
    let mut inputs: Vec<Vec<u8>> = vec![vec![], vec![0], vec![0x16, 0xfe, 0xfd], vec![0; 20]];
    for cut in 0..good.len() {
        inputs.push(good[..cut].to_vec());
    }
    for i in 0..good.len() {
        let mut b = good.clone();
        b[i] ^= 0x5a;
        inputs.push(b);
    }
    let now = net.now;
    for input in &inputs {
        net.a.handle_receive(
            now,
            Receive {
                source: addr("127.0.0.1:20000"),
                destination: addr("127.0.0.1:10000"),
                contents: input,
            },
        );
        net.a.handle_timeout(now);
        while net.a.poll_transmit().is_some() {}
    }
    let s = net.a.stats();
    assert!(
        s.malformed + s.bad_fingerprint + s.bad_integrity + s.bad_username + s.bad_requests >= inputs.len() as u64 - 2
    );
    // Not one of them was taken for a valid check from a new address.
    assert!(net.a.remote_candidates().count() <= 1);
}

#[test]
fn accepts_only_stun_for_this_agent() {
    let mut net = Net::new(IceRole::Controlling, IceRole::Controlled);
    net.host(Side::A, "127.0.0.1:10000");
    net.exchange_credentials();
    let pwd = net.a.local_credentials().pwd.clone();
    assert!(net.a.accepts(&forged_request(&net, &pwd)));
    // Meant for B.
    let to_b = Message::new(Class::Request, Method::BINDING, TransactionId::random())
        .with(Attribute::Username(format!("{}:x", net.b.local_credentials().ufrag)))
        .encode()
        .unwrap();
    assert!(!net.a.accepts(&to_b));
    // A response to a transaction A never started.
    let stray = Message::new(Class::SuccessResponse, Method::BINDING, TransactionId::random())
        .encode()
        .unwrap();
    assert!(!net.a.accepts(&stray));
    assert!(!net.a.accepts(&[0x16, 0xfe, 0xfd, 0, 0]));
    assert!(!net.a.accepts(&[0x80; 40]));
}

#[test]
fn candidate_limits_and_unresolved_names() {
    let mut agent = IceAgent::new(IceAgentConfig::new(IceRole::Controlling), Instant::now());
    let mdns = Candidate::parse("candidate:1 1 udp 2122260223 4c0e8a5e-3b5a-4f0e.local 54321 typ host").unwrap();
    assert!(!agent.add_remote_candidate(mdns));
    let rtcp = Candidate::host(addr("127.0.0.1:5"), 2, 1);
    assert!(!agent.add_remote_candidate(rtcp));
    let mut accepted = 0;
    for port in 1..=150u16 {
        accepted += usize::from(agent.add_remote_candidate(Candidate::host(addr(&format!("127.0.0.1:{port}")), 1, 1)));
    }
    assert_eq!(accepted, 100);
    assert_eq!(agent.stats().remote_candidates_refused, 50);
    assert!(
        !agent.add_remote_candidate(Candidate::host(addr("127.0.0.1:1"), 1, 1)),
        "duplicate"
    );
    // 100 remotes × 6 locals would be 600 pairs: capped at 500.
    for port in 1..=6u16 {
        assert!(agent.add_local_candidate(Candidate::host(addr(&format!("127.0.0.2:{port}")), 1, 1)));
    }
    assert_eq!(agent.stats().pairs_refused, 100);
}

#[test]
fn checks_are_paced_by_ta() {
    let mut agent = IceAgent::new(IceAgentConfig::new(IceRole::Controlling), Instant::now());
    let t0 = Instant::now();
    let mut agent_b = IceAgent::new(IceAgentConfig::new(IceRole::Controlled), t0);
    agent.add_local_candidate(Candidate::host(addr("127.0.0.1:1000"), 1, 1));
    agent.set_remote_credentials(agent_b.local_credentials().clone());
    agent_b.close();
    for port in 1..=20u16 {
        agent.add_remote_candidate(Candidate::host(addr(&format!("127.0.0.3:{port}")), 1, 1));
    }
    let mut now = t0;
    let mut first_sends = 0;
    while now < t0 + Duration::from_millis(240) {
        agent.handle_timeout(now);
        while agent.poll_transmit().is_some() {
            first_sends += 1;
        }
        now += Duration::from_millis(10);
    }
    // At t = 0, 50, 100, 150, 200 ms: five new checks, no retransmit yet (RTO 250 ms).
    assert_eq!(first_sends, 5);
    assert_eq!(agent.stats().checks_sent, 5);
}

#[test]
fn remote_lite_makes_us_controlling() {
    let mut agent = IceAgent::new(IceAgentConfig::new(IceRole::Controlled), Instant::now());
    agent.set_remote_lite(true);
    assert_eq!(agent.role(), IceRole::Controlling);
    agent.set_role(IceRole::Controlled);
    assert_eq!(agent.role(), IceRole::Controlling);
}

#[test]
fn close_stops_everything() {
    let mut net = connected_pair("127.0.0.1:10000", "127.0.0.1:20000");
    net.a.close();
    assert_eq!(net.a.state(), IceConnectionState::Closed);
    assert_eq!(net.a.poll_timeout(), None);
    assert_eq!(net.a.selected_pair(), None);
    let (delivered, sent_by_a) = (net.delivered, net.sent_by_a);
    net.run(Duration::from_secs(10), |_| false);
    // B's consent checks still reach A, but A answers none of them and sends nothing.
    assert!(net.delivered > delivered);
    assert_eq!(net.sent_by_a, sent_by_a);
    assert_eq!(net.b.state(), IceConnectionState::Disconnected);
}

#[test]
fn connects_without_waiting_for_a_pacing_slot_on_a_perfect_network() {
    let mut net = Net::new(IceRole::Controlling, IceRole::Controlled);
    let ca = net.host(Side::A, "127.0.0.1:10000");
    let cb = net.host(Side::B, "127.0.0.1:20000");
    net.exchange_credentials();
    net.a.add_remote_candidate(cb);
    net.b.add_remote_candidate(ca);
    let took = net.run(Duration::from_secs(5), Net::connected).unwrap();
    // One check at t = 0 and its nomination as soon as it succeeded; B answers with one triggered check.
    assert!(took < Duration::from_millis(50), "took {took:?}");
    assert_eq!(net.a.stats().checks_sent, 2);
    assert_eq!(net.b.stats().checks_sent, 1);
    assert_eq!(net.a.stats().retransmits + net.b.stats().retransmits, 0);
}

#[test]
fn connects_over_a_slow_lossy_network() {
    let mut net = Net::new(IceRole::Controlling, IceRole::Controlled);
    net.latency = Duration::from_millis(40);
    net.drop_every = Some(3);
    let ca = net.host(Side::A, "127.0.0.1:10000");
    let cb = net.host(Side::B, "127.0.0.1:20000");
    net.exchange_credentials();
    net.a.add_remote_candidate(cb);
    net.b.add_remote_candidate(ca);
    let took = net.run(Duration::from_secs(10), Net::connected).expect("no connection");
    assert!(took >= Duration::from_millis(80), "faster than a round trip: {took:?}");
    assert!(took < Duration::from_secs(3), "{took:?}");
    assert!(
        net.a.stats().retransmits + net.b.stats().retransmits > 0,
        "loss never hit a check"
    );
    assert_eq!(flip(net.b.selected_pair()), net.a.selected_pair());
    // Without loss, consent over the 80 ms round trip keeps it connected.
    net.drop_every = None;
    net.run(Duration::from_secs(60), |n| !n.connected());
    assert!(net.connected(), "{:?} / {:?}", net.a.state(), net.b.state());
}

#[test]
fn wildcard_destination_maps_to_the_candidate_on_that_port() {
    let mut net = Net::new(IceRole::Controlling, IceRole::Controlled);
    net.host(Side::A, "127.0.0.1:10000");
    net.exchange_credentials();
    let pwd = net.a.local_credentials().pwd.clone();
    let request = forged_request(&net, &pwd);
    let now = net.now;
    for (destination, answered) in [("0.0.0.0:10000", true), ("0.0.0.0:10001", false), ("[::]:10000", false)] {
        net.a.handle_receive(
            now,
            Receive {
                source: addr("127.0.0.1:20000"),
                destination: addr(destination),
                contents: &request,
            },
        );
        let reply = net.a.poll_transmit();
        assert_eq!(reply.is_some(), answered, "{destination}");
        if let Some(reply) = reply {
            assert_eq!(
                reply.source,
                addr("127.0.0.1:10000"),
                "answered from the candidate's base"
            );
        }
    }
    assert_eq!(net.a.stats().unknown_local_address, 2);
}

#[test]
fn a_late_peer_reflexive_pair_revives_a_failed_agent() {
    let mut net = Net::new(IceRole::Controlled, IceRole::Controlling);
    let ca = net.host(Side::A, "127.0.0.1:10000");
    net.host(Side::B, "127.0.0.1:20000");
    net.exchange_credentials();
    // A only knows an address of B that does not answer, and is told that is all.
    net.a
        .add_remote_candidate(Candidate::host(addr("127.0.0.1:29999"), 1, 65535));
    let now = net.now;
    net.a.end_of_remote_candidates(now);
    net.run(Duration::from_secs(20), |n| n.a.state() == IceConnectionState::Failed)
        .expect("did not fail");
    // Then B's checks arrive from an address A never heard of.
    net.b.add_remote_candidate(ca);
    net.run(Duration::from_secs(5), Net::connected)
        .expect("did not recover");
    assert_eq!(
        net.a.selected_pair(),
        Some((addr("127.0.0.1:10000"), addr("127.0.0.1:20000")))
    );
    assert!(net
        .events_a
        .iter()
        .any(|e| matches!(e, IceEvent::RemoteCandidateLearned(_))));
}

#[test]
fn role_conflict_repaired_from_a_487_response_alone() {
    // Both controlling; only A knows a candidate of B, so A never receives a request from B
    // before the conflict is repaired: A must learn of it from B's 487 answer.
    let mut config_a = IceAgentConfig::new(IceRole::Controlling);
    config_a.tie_breaker = Some(1);
    let mut config_b = IceAgentConfig::new(IceRole::Controlling);
    config_b.tie_breaker = Some(2);
    let mut net = Net::with_configs(config_a, config_b);
    net.host(Side::A, "127.0.0.1:10000");
    let cb = net.host(Side::B, "127.0.0.1:20000");
    net.exchange_credentials();
    net.a.add_remote_candidate(cb);
    net.run(Duration::from_secs(5), Net::connected).expect("no connection");
    assert_eq!(net.a.role(), IceRole::Controlled);
    assert_eq!(net.b.role(), IceRole::Controlling);
    assert_eq!(net.a.stats().role_conflicts, 1, "A saw one 487");
    assert_eq!(flip(net.b.selected_pair()), net.a.selected_pair());
}

/// Makes B's success responses look as if they came from another port of B.
fn responses_from_elsewhere(t: Transmit) -> Option<Transmit> {
    let msg = Message::decode(&t.contents).ok()?;
    if msg.class == Class::SuccessResponse && t.source == addr("127.0.0.1:20000") {
        return Some(Transmit {
            source: addr("127.0.0.1:20001"),
            ..t
        });
    }
    Some(t)
}

#[test]
fn consent_needs_answers_from_the_selected_pair() {
    let mut net = connected_pair("127.0.0.1:10000", "127.0.0.1:20000");
    net.owners.insert(addr("127.0.0.1:20001"), Side::B);
    net.mangle = Some(responses_from_elsewhere);
    net.run(Duration::from_secs(10), |n| {
        n.a.state() == IceConnectionState::Disconnected
    })
    .expect("answers from the wrong address kept consent");
    // B still hears A's checks and answers from the right address: B stays connected.
    assert!(is_up(net.b.state()));
}

#[test]
fn only_checked_paths_are_trusted_for_data() {
    let net = connected_pair("127.0.0.1:10000", "127.0.0.1:20000");
    // Both directions of the one pair were checked.
    assert!(net.a.is_checked_path(addr("127.0.0.1:10000"), addr("127.0.0.1:20000")));
    assert!(net.b.is_checked_path(addr("127.0.0.1:20000"), addr("127.0.0.1:10000")));
    // Another port on the same host, or another local socket, never passed a check.
    assert!(!net.a.is_checked_path(addr("127.0.0.1:10000"), addr("127.0.0.1:20001")));
    assert!(!net.a.is_checked_path(addr("127.0.0.1:10001"), addr("127.0.0.1:20000")));
    assert!(!net.a.is_checked_path(addr("127.0.0.1:10000"), addr("127.0.0.9:20000")));
}

/// Both agents restart (A first, as an offerer would) and learn each other's new credentials
/// and candidates again.
fn restart_both(net: &mut Net, a_at: &str, b_at: &str) {
    net.a.restart(IceCredentials::random());
    net.run(Duration::from_secs(1), |_| false);
    net.b.restart(IceCredentials::random());
    net.exchange_credentials();
    assert!(net.a.add_remote_candidate(Candidate::host(addr(b_at), 1, 65535)));
    assert!(net.b.add_remote_candidate(Candidate::host(addr(a_at), 1, 65535)));
}

fn states(events: &[IceEvent]) -> Vec<IceConnectionState> {
    events
        .iter()
        .filter_map(|e| match e {
            IceEvent::StateChanged(s) => Some(*s),
            _ => None,
        })
        .collect()
}

#[test]
fn restart_keeps_the_previous_pair_until_a_new_one_is_selected() {
    let mut net = connected_pair("127.0.0.1:10000", "127.0.0.1:20000");
    let selected = net.a.selected_pair();
    let old = net.a.local_credentials().clone();
    let (events_a, events_b) = (net.events_a.len(), net.events_b.len());
    net.a.restart(IceCredentials::random());
    assert_ne!(net.a.local_credentials(), &old);
    assert!(net.a.is_restarting());
    assert_eq!(net.a.remote_credentials(), None);
    assert_eq!(net.a.selected_pair(), selected, "the old pair carries data meanwhile");
    assert!(net.a.is_checked_path(addr("127.0.0.1:10000"), addr("127.0.0.1:20000")));
    // B has not heard of the restart: consent keeps flowing both ways under the old credentials,
    // for longer than the disconnected timeout.
    net.run(Duration::from_secs(12), |_| false);
    assert!(net.connected(), "a {:?}, b {:?}", net.a.state(), net.b.state());

    net.b.restart(IceCredentials::random());
    net.exchange_credentials();
    assert!(net
        .a
        .add_remote_candidate(Candidate::host(addr("127.0.0.1:20000"), 1, 65535)));
    assert!(net
        .b
        .add_remote_candidate(Candidate::host(addr("127.0.0.1:10000"), 1, 65535)));
    net.run(Duration::from_secs(5), |n| !n.a.is_restarting() && !n.b.is_restarting())
        .expect("the new generation selected no pair");
    assert_eq!(net.a.selected_pair(), selected);
    assert_eq!(net.a.stats().restarts, 1);
    assert_eq!(net.a.stats().selected_pair_changes, 2);
    // The state never left connected (browsers keep `connected` through a restart).
    assert!(states(&net.events_a[events_a..]).iter().all(|s| is_up(*s)));
    assert!(states(&net.events_b[events_b..]).iter().all(|s| is_up(*s)));
    net.run(Duration::from_secs(12), |_| false);
    assert!(net.connected());
}

#[test]
fn new_remote_credentials_restart_the_checks() {
    let mut net = connected_pair("127.0.0.1:10000", "127.0.0.1:20000");
    assert_eq!(net.a.remote_candidates().count(), 1);
    net.b.restart(IceCredentials::random());
    let b_creds = net.b.local_credentials().clone();
    // The same credentials again change nothing.
    let a_remote = net.a.remote_credentials().cloned().expect("remote credentials");
    net.a.set_remote_credentials(a_remote);
    assert!(!net.a.is_restarting());
    net.a.set_remote_credentials(b_creds);
    assert!(net.a.is_restarting());
    assert_eq!(
        net.a.remote_candidates().count(),
        0,
        "the old generation's candidates are dropped"
    );
    assert!(net.a.candidate_pairs().is_empty());
    net.b.set_remote_credentials(net.a.local_credentials().clone());
    net.a
        .add_remote_candidate(Candidate::host(addr("127.0.0.1:20000"), 1, 65535));
    net.b
        .add_remote_candidate(Candidate::host(addr("127.0.0.1:10000"), 1, 65535));
    net.run(Duration::from_secs(5), |n| !n.a.is_restarting() && !n.b.is_restarting())
        .expect("no new pair");
    assert!(net.connected());
    assert_eq!(net.b.stats().restarts, 1);
    assert_eq!(net.a.stats().restarts, 1);
}

#[test]
fn restart_after_consent_expiry_connects_again() {
    let mut net = connected_pair("127.0.0.1:10000", "127.0.0.1:20000");
    net.blocked = true;
    net.run(Duration::from_secs(40), |n| n.a.state() == IceConnectionState::Failed)
        .expect("never failed");
    net.blocked = false;
    restart_both(&mut net, "127.0.0.1:10000", "127.0.0.1:20000");
    assert_eq!(net.b.state(), IceConnectionState::Checking);
    net.run(Duration::from_secs(5), Net::connected)
        .expect("no reconnection after restart");
    assert_eq!(
        states(&net.events_a).last(),
        Some(&IceConnectionState::Connected),
        "{:?}",
        states(&net.events_a)
    );
}

#[test]
fn previous_credentials_stop_working_once_the_new_pair_is_selected() {
    let mut net = connected_pair("127.0.0.1:10000", "127.0.0.1:20000");
    let old = net.a.local_credentials().ufrag.clone();
    restart_both(&mut net, "127.0.0.1:10000", "127.0.0.1:20000");
    let probe = format!("{old}:someone");
    let request = Message::new(Class::Request, Method::BINDING, TransactionId::random())
        .with(Attribute::Username(probe.clone()))
        .encode_with(None, true)
        .expect("encode");
    assert!(net.a.accepts(&request), "old ufrag still accepted during the restart");
    net.run(Duration::from_secs(5), |n| !n.a.is_restarting() && !n.b.is_restarting())
        .expect("no new pair");
    assert!(!net.a.accepts(&request));
}
