//! A simulated network for two sans-IO peers: virtual time, delay, jitter
//! (hence reordering), loss and duplication, all from a seeded generator so
//! every run is the same. Optionally a bottleneck: a link of limited rate in
//! each direction with a drop-tail queue, so sending faster than the link
//! makes queueing delay grow and then packets drop. No sockets, no sleeps: a run takes as long as the
//! CPU work, whatever the simulated time.
#![allow(dead_code)]

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rtcpeer_proto::datachannel::{ChannelId, DataChannelInit, DataChannelMessage};
use rtcpeer_proto::net::{Receive, Transmit};
use rtcpeer_proto::peer::{
    IceCandidateInit, IceConnectionState, OfferOptions, PeerConfig, PeerConnection, PeerConnectionState, PeerEvent,
    SessionDescriptionInit,
};

/// A small deterministic generator (xorshift64*).
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    /// A float in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

/// How the simulated path between the peers behaves.
#[derive(Debug, Clone, Copy)]
pub struct LinkConditions {
    /// One-way delay.
    pub delay: Duration,
    /// Extra random delay in [0, jitter): packets overtake each other.
    pub jitter: Duration,
    /// Probability a datagram is lost.
    pub loss: f64,
    /// Probability a datagram is delivered twice.
    pub duplicate: f64,
}

impl LinkConditions {
    pub fn perfect() -> Self {
        LinkConditions {
            delay: Duration::from_millis(5),
            jitter: Duration::ZERO,
            loss: 0.0,
            duplicate: 0.0,
        }
    }
}

/// A bottleneck on the path, the same in each direction (each has its own queue): datagrams
/// (with 28 bytes of IPv4 and UDP headers) are serialized at `rate_bps`, queued behind each other
/// up to `queue_bytes`, and dropped when that queue is full.
#[derive(Debug, Clone, Copy)]
pub struct Bottleneck {
    /// The link rate, bits/s.
    pub rate_bps: u64,
    /// The most bytes waiting for the link.
    pub queue_bytes: usize,
}

/// IPv4 and UDP headers, counted against the bottleneck's rate.
const IP_UDP_OVERHEAD: usize = 28;

/// One peer on the simulated network.
pub struct SimPeer {
    pub name: &'static str,
    pub pc: PeerConnection,
    pub addr: SocketAddr,
    /// Every event the peer raised, in order.
    pub events: Vec<PeerEvent>,
    /// Events not yet looked at by the test (drained with `take_events`).
    pub fresh: Vec<PeerEvent>,
    /// Addresses the peer had before [`Sim::move_peer`]: what it still sends from them is lost.
    pub former_addrs: Vec<SocketAddr>,
}

impl SimPeer {
    pub fn new(name: &'static str, addr: &str, now: Instant) -> SimPeer {
        SimPeer::with_config(name, addr, now, PeerConfig::default())
    }

    pub fn with_config(name: &'static str, addr: &str, now: Instant, config: PeerConfig) -> SimPeer {
        let mut pc = PeerConnection::new(config, now).expect("peer connection");
        let addr: SocketAddr = addr.parse().expect("address");
        pc.add_local_address(addr);
        SimPeer {
            name,
            pc,
            addr,
            events: Vec::new(),
            fresh: Vec::new(),
            former_addrs: Vec::new(),
        }
    }
    /// Moves the events the connection has raised into `events` and `fresh`.
    pub fn collect_events(&mut self) {
        while let Some(event) = self.pc.poll_event() {
            self.events.push(event.clone());
            self.fresh.push(event);
        }
    }

    /// The events not looked at yet (collecting what the connection raised meanwhile).
    pub fn take_events(&mut self) -> Vec<PeerEvent> {
        self.collect_events();
        std::mem::take(&mut self.fresh)
    }

    /// Creates an offer with `options` and applies it as the local description; returns it.
    pub fn set_offer(&mut self, now: Instant, options: OfferOptions) -> SessionDescriptionInit {
        let name = self.name;
        let offer = self
            .pc
            .create_offer_with(options)
            .unwrap_or_else(|e| panic!("{name}: create_offer: {e:?}"));
        self.pc
            .set_local_description(now, Some(offer.clone()))
            .unwrap_or_else(|e| panic!("{name}: set_local_description: {e:?}"));
        offer
    }

    /// Applies the remote `offer`, creates the answer and applies it as the local description;
    /// returns the answer.
    pub fn answer(&mut self, now: Instant, offer: SessionDescriptionInit) -> SessionDescriptionInit {
        let name = self.name;
        self.pc
            .set_remote_description(now, offer)
            .unwrap_or_else(|e| panic!("{name}: set_remote_description: {e:?}"));
        let answer = self
            .pc
            .create_answer()
            .unwrap_or_else(|e| panic!("{name}: create_answer: {e:?}"));
        self.pc
            .set_local_description(now, Some(answer.clone()))
            .unwrap_or_else(|e| panic!("{name}: set_local_description: {e:?}"));
        answer
    }
}

/// The channel the first `datachannel` event announced.
pub fn remote_channel(events: &[PeerEvent]) -> Option<ChannelId> {
    events.iter().find_map(|e| match e {
        PeerEvent::DataChannel(id) => Some(*id),
        _ => None,
    })
}

/// The messages that arrived on channel `id`, in order.
pub fn received(events: &[PeerEvent], id: ChannelId) -> Vec<DataChannelMessage> {
    events
        .iter()
        .filter_map(|e| match e {
            PeerEvent::ChannelMessage(c, m) if *c == id => Some(m.clone()),
            _ => None,
        })
        .collect()
}

/// The ICE connection states the events report, in order.
pub fn ice_states(events: &[PeerEvent]) -> Vec<IceConnectionState> {
    events
        .iter()
        .filter_map(|e| match e {
            PeerEvent::IceConnectionStateChange(s) => Some(*s),
            _ => None,
        })
        .collect()
}

/// The connection states the events report, in order.
pub fn connection_states(events: &[PeerEvent]) -> Vec<PeerConnectionState> {
    events
        .iter()
        .filter_map(|e| match e {
            PeerEvent::ConnectionStateChange(s) => Some(*s),
            _ => None,
        })
        .collect()
}

/// Connects a and b with one channel ("chat", `init`) opened by a and runs until it is open on a
/// and announced on b (within 30 s of simulated time); returns (a's channel, b's channel). The
/// events so far count as looked at: `fresh` starts empty on both sides.
pub fn connect_with_channel(sim: &mut Sim, init: DataChannelInit) -> (ChannelId, ChannelId) {
    let a_channel = sim.a.pc.create_data_channel("chat", init).expect("create_data_channel");
    sim.negotiate();
    let ok = sim.run_until(Duration::from_secs(30), |s| {
        s.connected()
            && s.a.events.contains(&PeerEvent::ChannelOpen(a_channel))
            && remote_channel(&s.b.events).is_some()
    });
    assert!(
        ok,
        "not connected after 30 s: a {:?}, b {:?}",
        sim.a.pc.connection_state(),
        sim.b.pc.connection_state()
    );
    let b_channel = remote_channel(&sim.b.events).expect("datachannel event");
    sim.a.take_events();
    sim.b.take_events();
    (a_channel, b_channel)
}

struct InFlight {
    deliver_at: Instant,
    seq: u64,
    transmit: Transmit,
}

impl PartialEq for InFlight {
    fn eq(&self, other: &Self) -> bool {
        (self.deliver_at, self.seq) == (other.deliver_at, other.seq)
    }
}
impl Eq for InFlight {}
impl PartialOrd for InFlight {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for InFlight {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.deliver_at, self.seq).cmp(&(other.deliver_at, other.seq))
    }
}

/// Two peers and the network between them.
pub struct Sim {
    pub now: Instant,
    pub start: Instant,
    pub a: SimPeer,
    pub b: SimPeer,
    pub link: LinkConditions,
    /// Trickle local candidates to the other peer as they are gathered.
    pub trickle: bool,
    rng: Rng,
    in_flight: BinaryHeap<Reverse<InFlight>>,
    seq: u64,
    /// Datagrams sent, lost and delivered.
    pub sent: u64,
    pub lost: u64,
    pub delivered: u64,
    /// Trickled candidates on their way, like a signaling channel carries them: to a, to b.
    /// Each is handed over, in order, once the receiver's remote description has its ufrag (one
    /// gathered after an ICE restart waits for the description that restarts).
    signaling_to_a: std::collections::VecDeque<Option<IceCandidateInit>>,
    signaling_to_b: std::collections::VecDeque<Option<IceCandidateInit>>,
    /// The bottleneck, if any (none: the link has no rate limit).
    pub bottleneck: Option<Bottleneck>,
    /// When the bottleneck's link is next free, from a and from b.
    link_free_at: [Instant; 2],
    /// Datagrams the bottleneck's full queue dropped (also counted in `lost`).
    pub queue_drops: u64,
    /// When set, every datagram from a to b: (when it was sent, its one-way delay, its size).
    pub delays_a_to_b: Option<Vec<(Duration, Duration, usize)>>,
}

impl Sim {
    pub fn new(seed: u64, link: LinkConditions) -> Sim {
        Sim::with_config(seed, link, PeerConfig::default())
    }

    /// Two peers made with `config`.
    pub fn with_config(seed: u64, link: LinkConditions, config: PeerConfig) -> Sim {
        let now = Instant::now();
        Sim {
            now,
            start: now,
            a: SimPeer::with_config("a", "127.0.0.1:10000", now, config.clone()),
            b: SimPeer::with_config("b", "127.0.0.2:20000", now, config),
            link,
            trickle: true,
            rng: Rng::new(seed),
            in_flight: BinaryHeap::new(),
            seq: 0,
            sent: 0,
            lost: 0,
            delivered: 0,
            signaling_to_a: Default::default(),
            signaling_to_b: Default::default(),
            bottleneck: None,
            link_free_at: [now; 2],
            queue_drops: 0,
            delays_a_to_b: None,
        }
    }

    /// Simulated time since the start.
    pub fn elapsed(&self) -> Duration {
        self.now - self.start
    }

    /// Offer from `a`, answer from `b`, applied on both sides.
    pub fn negotiate(&mut self) {
        self.offer_to_b();
        self.answer_to_a();
    }

    /// [`negotiate`](Self::negotiate) with each description edited on its way: `b` receives
    /// `edit_offer(offer)`, `a` receives `edit_answer(answer)`; each side keeps its own unedited
    /// (a remote that strips or rewrites lines, say).
    pub fn negotiate_edited(
        &mut self,
        edit_offer: impl FnOnce(&str) -> String,
        edit_answer: impl FnOnce(&str) -> String,
    ) {
        let offer = self.a.set_offer(self.now, OfferOptions::default());
        let offer = SessionDescriptionInit {
            sdp: edit_offer(&offer.sdp),
            ..offer
        };
        let answer = self.b.answer(self.now, offer);
        let answer = SessionDescriptionInit {
            sdp: edit_answer(&answer.sdp),
            ..answer
        };
        self.a
            .pc
            .set_remote_description(self.now, answer)
            .expect("a: set_remote_description");
    }

    /// An offer from `a`, applied as `a`'s local and `b`'s remote description; returned for
    /// inspection.
    pub fn offer_to_b(&mut self) -> SessionDescriptionInit {
        let offer = self.a.set_offer(self.now, OfferOptions::default());
        self.b
            .pc
            .set_remote_description(self.now, offer.clone())
            .expect("b: set_remote_description");
        offer
    }

    /// `b`'s answer to the offer it has, applied as `b`'s local and `a`'s remote description;
    /// returned for inspection.
    pub fn answer_to_a(&mut self) -> SessionDescriptionInit {
        let answer = self.b.pc.create_answer().expect("create_answer");
        self.b
            .pc
            .set_local_description(self.now, Some(answer.clone()))
            .expect("b: set_local_description");
        self.a
            .pc
            .set_remote_description(self.now, answer.clone())
            .expect("a: set_remote_description");
        answer
    }

    /// Whether both peers' connections are `Connected`.
    pub fn connected(&self) -> bool {
        self.a.pc.connection_state() == PeerConnectionState::Connected
            && self.b.pc.connection_state() == PeerConnectionState::Connected
    }

    /// Runs until both peers are connected; panics if they are not within 10 s of simulated time.
    pub fn connect(&mut self) {
        assert!(
            self.run_until(Duration::from_secs(10), |s| s.connected()),
            "the peers did not connect"
        );
    }

    /// Offer from `b`, answer from `a`, applied on both sides.
    pub fn negotiate_from_b(&mut self) {
        std::mem::swap(&mut self.a, &mut self.b);
        self.negotiate();
        std::mem::swap(&mut self.a, &mut self.b);
    }

    /// Moves `a` (or `b`) to a new address, as when a device changes networks: its socket on the
    /// old address is gone (what it still sends from there is lost, what is sent there reaches
    /// nobody) and one on `to` is added to its connection.
    pub fn move_peer(&mut self, a: bool, to: &str) {
        let peer = if a { &mut self.a } else { &mut self.b };
        let to: SocketAddr = to.parse().expect("address");
        let old = std::mem::replace(&mut peer.addr, to);
        peer.former_addrs.push(old);
        peer.pc.remove_local_address(old);
        peer.pc.add_local_address(to);
    }

    /// Offer/answer without trickle: each side sends its complete local description.
    pub fn negotiate_without_trickle(&mut self) {
        self.trickle = false;
        let offer = self.a.pc.create_offer().expect("create_offer");
        self.a
            .pc
            .set_local_description(self.now, Some(offer))
            .expect("a: set_local_description");
        // Without trickle the description goes out once gathering is done (host candidates
        // come on the first timer after setLocalDescription).
        self.a.pc.handle_timeout(self.now);
        let full_offer: SessionDescriptionInit = self.a.pc.local_description().expect("a: local description");
        self.b
            .pc
            .set_remote_description(self.now, full_offer)
            .expect("b: set_remote_description");
        let answer = self.b.pc.create_answer().expect("create_answer");
        self.b
            .pc
            .set_local_description(self.now, Some(answer))
            .expect("b: set_local_description");
        self.b.pc.handle_timeout(self.now);
        let full_answer = self.b.pc.local_description().expect("b: local description");
        self.a
            .pc
            .set_remote_description(self.now, full_answer)
            .expect("a: set_remote_description");
    }

    /// Runs until `done` holds or `limit` of simulated time has passed; returns whether `done` held.
    pub fn run_until(&mut self, limit: Duration, mut done: impl FnMut(&mut Sim) -> bool) -> bool {
        let deadline = self.now + limit;
        loop {
            self.exchange();
            if done(self) {
                return true;
            }
            let next = [
                self.a.pc.poll_timeout(),
                self.b.pc.poll_timeout(),
                self.in_flight.peek().map(|f| f.0.deliver_at),
            ]
            .into_iter()
            .flatten()
            .min();
            let Some(next) = next else { return false };
            if next > deadline {
                self.now = deadline;
                return done(self);
            }
            self.now = self.now.max(next);
            self.deliver_due();
            for peer in [&mut self.a, &mut self.b] {
                if peer.pc.poll_timeout().is_some_and(|t| t <= self.now) {
                    peer.pc.handle_timeout(self.now);
                }
            }
        }
    }

    /// Moves datagrams and events out of both peers until neither has any.
    fn exchange(&mut self) {
        loop {
            let mut moved = false;
            for from_a in [true, false] {
                let me = if from_a { &mut self.a } else { &mut self.b };
                while let Some(t) = me.pc.poll_transmit() {
                    moved = true;
                    if me.former_addrs.contains(&t.source) {
                        // The socket is gone.
                        continue;
                    }
                    assert_eq!(t.source, me.addr, "{} sent from an address it does not own", me.name);
                    self.sent += 1;
                    if self.rng.unit() < self.link.loss {
                        self.lost += 1;
                        continue;
                    }
                    // Through the bottleneck: wait for the link, or drop when its queue is full.
                    let mut leaves_at = self.now;
                    if let Some(b) = self.bottleneck {
                        let free_at = &mut self.link_free_at[usize::from(!from_a)];
                        let rate = b.rate_bps.max(1) as f64;
                        let backlog = free_at.saturating_duration_since(self.now).as_secs_f64() * rate / 8.0;
                        let size = t.contents.len() + IP_UDP_OVERHEAD;
                        if backlog + size as f64 > b.queue_bytes as f64 {
                            self.lost += 1;
                            self.queue_drops += 1;
                            continue;
                        }
                        leaves_at = (*free_at).max(self.now) + Duration::from_secs_f64(size as f64 * 8.0 / rate);
                        *free_at = leaves_at;
                    }
                    let copies = if self.rng.unit() < self.link.duplicate { 2 } else { 1 };
                    for _ in 0..copies {
                        let jitter_ns = self.link.jitter.as_nanos() as u64;
                        let extra = Duration::from_nanos(if jitter_ns > 0 { self.rng.below(jitter_ns) } else { 0 });
                        self.seq += 1;
                        let deliver_at = leaves_at + self.link.delay + extra;
                        if let (true, Some(log)) = (from_a, &mut self.delays_a_to_b) {
                            log.push((self.now - self.start, deliver_at - self.now, t.contents.len()));
                        }
                        self.in_flight.push(Reverse(InFlight {
                            deliver_at,
                            seq: self.seq,
                            transmit: t.clone(),
                        }));
                    }
                }
                while let Some(event) = me.pc.poll_event() {
                    moved = true;
                    if let (PeerEvent::IceCandidate(c), true) = (&event, self.trickle) {
                        if from_a {
                            self.signaling_to_b.push_back(c.clone());
                        } else {
                            self.signaling_to_a.push_back(c.clone());
                        }
                    }
                    me.events.push(event.clone());
                    me.fresh.push(event);
                }
            }
            moved |= Self::hand_over(self.now, &mut self.signaling_to_a, &mut self.a.pc);
            moved |= Self::hand_over(self.now, &mut self.signaling_to_b, &mut self.b.pc);
            if !moved {
                return;
            }
        }
    }

    /// Gives `to` the queued candidates, in order, while its remote description has their ufrag.
    fn hand_over(
        now: Instant,
        queue: &mut std::collections::VecDeque<Option<IceCandidateInit>>,
        to: &mut PeerConnection,
    ) -> bool {
        let mut moved = false;
        while let Some(next) = queue.front() {
            let Some(remote) = to.remote_description() else { break };
            let ufrag = next.as_ref().and_then(|c| c.username_fragment.as_ref());
            if ufrag.is_some_and(|u| !remote.sdp.contains(&format!("a=ice-ufrag:{u}\r\n"))) {
                break;
            }
            let candidate = queue.pop_front().flatten();
            to.add_ice_candidate(now, candidate).expect("add_ice_candidate");
            moved = true;
        }
        moved
    }

    fn deliver_due(&mut self) {
        while self.in_flight.peek().is_some_and(|f| f.0.deliver_at <= self.now) {
            let Some(Reverse(f)) = self.in_flight.pop() else { break };
            let t = f.transmit;
            let receive = Receive {
                source: t.source,
                destination: t.destination,
                contents: &t.contents,
            };
            self.delivered += 1;
            if t.destination == self.a.addr {
                self.a.pc.handle_receive(self.now, receive);
            } else if t.destination == self.b.addr {
                self.b.pc.handle_receive(self.now, receive);
            }
        }
    }
}
