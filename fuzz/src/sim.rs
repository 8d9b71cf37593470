//! Two [`PeerConnection`]s on a simulated network with virtual time: every
//! datagram one peer sends to the other's address is delivered at once; the
//! clock jumps to the earliest timeout. No sockets, no sleeps.

use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use rtcpeer_proto::datachannel::{ChannelId, DataChannelInit, DataChannelMessage, DataChannelState};
use rtcpeer_proto::dtls::Certificate;
use rtcpeer_proto::net::{Receive, Transmit};
use rtcpeer_proto::peer::{PeerConfig, PeerConnection, PeerConnectionState, PeerEvent};

/// The most datagrams of each direction kept from the handshake for replays.
const MAX_CAPTURED: usize = 256;
/// Address of peer a (the offerer).
pub const ADDR_A: &str = "127.0.0.1:10000";
/// Address of peer b (the answerer).
pub const ADDR_B: &str = "127.0.0.2:20000";

/// Two certificates made once per process: generating keys is the slowest part of a setup.
pub fn certificates() -> &'static (Certificate, Certificate) {
    static CERTS: OnceLock<(Certificate, Certificate)> = OnceLock::new();
    CERTS.get_or_init(|| {
        (
            Certificate::generate().expect("certificate a"),
            Certificate::generate().expect("certificate b"),
        )
    })
}

/// A peer connection using one of the cached certificates.
pub fn new_peer(certificate: &Certificate, now: Instant) -> PeerConnection {
    let config = PeerConfig {
        certificate: Some(certificate.clone()),
        ..PeerConfig::default()
    };
    PeerConnection::new(config, now).expect("peer connection")
}

/// One side of the pair.
pub struct Side {
    /// The connection.
    pub pc: PeerConnection,
    /// Its only local address.
    pub addr: SocketAddr,
    /// Every event it raised.
    pub events: Vec<PeerEvent>,
    /// The data channel's id on this side.
    pub channel: Option<ChannelId>,
    /// Datagrams this side sent to the other (the first [`MAX_CAPTURED`]).
    pub captured: Vec<Vec<u8>>,
}

impl Side {
    fn new(certificate: &Certificate, addr: &str, now: Instant) -> Side {
        let mut pc = new_peer(certificate, now);
        let addr: SocketAddr = addr.parse().expect("address");
        pc.add_local_address(addr);
        Side {
            pc,
            addr,
            events: Vec::new(),
            channel: None,
            captured: Vec::new(),
        }
    }

    /// Messages received on this side's channel.
    pub fn messages(&self) -> impl Iterator<Item = &DataChannelMessage> {
        self.events.iter().filter_map(|e| match e {
            PeerEvent::ChannelMessage(_, m) => Some(m),
            _ => None,
        })
    }

    /// Connected, with the data channel open.
    pub fn is_usable(&self) -> bool {
        self.pc.connection_state() == PeerConnectionState::Connected
            && self
                .channel
                .and_then(|c| self.pc.data_channel(c))
                .is_some_and(|info| info.state == DataChannelState::Open)
    }
}

/// Which side of the pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    /// The offerer (ICE controlling).
    A,
    /// The answerer.
    B,
}

/// Two peers connected by a perfect, instantaneous link.
pub struct Pair {
    /// Virtual time.
    pub now: Instant,
    /// The offerer.
    pub a: Side,
    /// The answerer.
    pub b: Side,
    /// Whether datagrams between the peers are recorded in [`Side::captured`].
    pub capture: bool,
}

impl Pair {
    /// Two fresh peers, not negotiated.
    pub fn new() -> Pair {
        let now = Instant::now();
        let (ca, cb) = certificates();
        Pair {
            now,
            a: Side::new(ca, ADDR_A, now),
            b: Side::new(cb, ADDR_B, now),
            capture: true,
        }
    }

    /// Negotiates a data channel opened by `a` and runs until both sides have it open.
    /// Returns `None` if that does not happen within 30 s of virtual time.
    pub fn connected() -> Option<Pair> {
        let mut pair = Pair::new();
        let channel = pair.a.pc.create_data_channel("fuzz", DataChannelInit::default()).ok()?;
        pair.a.channel = Some(channel);
        let offer = pair.a.pc.create_offer().ok()?;
        pair.a.pc.set_local_description(pair.now, Some(offer.clone())).ok()?;
        pair.b.pc.set_remote_description(pair.now, offer).ok()?;
        let answer = pair.b.pc.create_answer().ok()?;
        pair.b.pc.set_local_description(pair.now, Some(answer.clone())).ok()?;
        pair.a.pc.set_remote_description(pair.now, answer).ok()?;
        let ok = pair.run_for(Duration::from_secs(30), |p| p.a.is_usable() && p.b.is_usable());
        ok.then_some(pair)
    }

    /// The side `which`.
    pub fn side(&mut self, which: Which) -> &mut Side {
        match which {
            Which::A => &mut self.a,
            Which::B => &mut self.b,
        }
    }

    /// Hands `contents` to `to` as if it came from `source`, then lets the peers talk.
    pub fn inject(&mut self, to: Which, source: SocketAddr, contents: &[u8]) {
        let now = self.now;
        let side = self.side(to);
        let receive = Receive {
            source,
            destination: side.addr,
            contents,
        };
        side.pc.handle_receive(now, receive);
        self.exchange();
    }

    /// Runs until `done` holds or `limit` of virtual time has passed; returns whether `done` held.
    pub fn run_for(&mut self, limit: Duration, mut done: impl FnMut(&mut Pair) -> bool) -> bool {
        let deadline = self.now + limit;
        loop {
            self.exchange();
            if done(self) {
                return true;
            }
            let next = [self.a.pc.poll_timeout(), self.b.pc.poll_timeout()]
                .into_iter()
                .flatten()
                .min();
            match next {
                Some(next) if next <= deadline => self.now = self.now.max(next),
                _ => {
                    self.now = deadline;
                    return done(self);
                }
            }
            for side in [&mut self.a, &mut self.b] {
                if side.pc.poll_timeout().is_some_and(|t| t <= self.now) {
                    side.pc.handle_timeout(self.now);
                }
            }
        }
    }

    /// Moves datagrams and events until neither peer has any. Datagrams to any
    /// address other than the peers' are dropped (nobody answers there).
    fn exchange(&mut self) {
        // Bounded: a peer that keeps answering itself forever is a bug worth a crash report.
        for _ in 0..100_000 {
            let mut moved = false;
            for from_a in [true, false] {
                let (me, other) = if from_a {
                    (&mut self.a, &mut self.b)
                } else {
                    (&mut self.b, &mut self.a)
                };
                while let Some(t) = me.pc.poll_transmit() {
                    moved = true;
                    assert_eq!(t.source, me.addr, "sent from an address the peer does not own");
                    if t.destination == other.addr {
                        if self.capture && me.captured.len() < MAX_CAPTURED {
                            me.captured.push(t.contents.clone());
                        }
                        deliver(self.now, other, &t);
                    }
                }
                while let Some(event) = me.pc.poll_event() {
                    moved = true;
                    match &event {
                        PeerEvent::IceCandidate(c) if other.pc.remote_description().is_some() => {
                            // Trickle; a failure here is not what this harness tests.
                            let _ = other.pc.add_ice_candidate(self.now, c.clone());
                        }
                        PeerEvent::DataChannel(id) => me.channel = Some(*id),
                        _ => {}
                    }
                    me.events.push(event);
                }
            }
            if !moved {
                return;
            }
        }
        panic!("the peers never stopped sending to each other");
    }
}

impl Default for Pair {
    fn default() -> Self {
        Pair::new()
    }
}

fn deliver(now: Instant, to: &mut Side, t: &Transmit) {
    to.pc.handle_receive(
        now,
        Receive {
            source: t.source,
            destination: t.destination,
            contents: &t.contents,
        },
    );
}
