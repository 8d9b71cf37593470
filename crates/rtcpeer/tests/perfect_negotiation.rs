//! Perfect negotiation under glare (checklist D37): a polite and an impolite rtcpeer peer
//! change their connection at the same moment, round after round, and still converge.
//!
//! The pattern is the example's (`examples/perfect_negotiation/negotiator.rs`). Both peers
//! run on loopback; their signaling goes through an in-process wire with a small latency, so
//! that changes made a few milliseconds apart collide.

#[path = "../examples/perfect_negotiation/negotiator.rs"]
mod negotiator;

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use negotiator::{Negotiator, Politeness, Signal, Step};
use rtcpeer::{
    Codec, DataChannelEvent, DataChannelInit, DataChannelMessage, DataChannelState, LocalTrack, MediaType,
    PeerConnectionEvent, RTCConfiguration, RTCDataChannel, RTCPeerConnection, SignalingState, TransceiverInit,
};
use tokio::sync::mpsc;

/// How long one round may take to settle.
const ROUND_DEADLINE: Duration = Duration::from_secs(15);
/// How long nothing may happen before a side counts as settled (a `negotiationneeded` may
/// still be on its way when both read `stable`).
const QUIET: Duration = Duration::from_millis(100);
/// The signaling wire's latency: changes made closer together than this collide.
const LATENCY: Duration = Duration::from_millis(8);

/// A small deterministic generator (xorshift64*), so a failing run can be repeated.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
    }
}

/// A one-way signaling wire: every message arrives, in order, [`LATENCY`] after it was sent.
fn wire() -> (mpsc::Sender<Signal>, mpsc::Receiver<Signal>) {
    let (input, mut sent) = mpsc::channel::<Signal>(256);
    let (deliver, output) = mpsc::channel(256);
    let (timed, mut in_flight) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(signal) = sent.recv().await {
            if timed.send((Instant::now() + LATENCY, signal)).is_err() {
                return;
            }
        }
    });
    tokio::spawn(async move {
        while let Some((due, signal)) = in_flight.recv().await {
            tokio::time::sleep_until(due.into()).await;
            if deliver.send(signal).await.is_err() {
                return;
            }
        }
    });
    (input, output)
}

/// One peer and what it observed.
struct Peer {
    name: &'static str,
    pc: RTCPeerConnection,
    _negotiator: Negotiator,
    steps: mpsc::UnboundedReceiver<Step>,
    /// The channels the other peer opened, by label.
    remote_channels: Vec<RTCDataChannel>,
    /// The channels this peer opened.
    own_channels: Vec<RTCDataChannel>,
    /// Local tracks added (kept alive for the whole test).
    tracks: Vec<LocalTrack>,
    /// The mids of the sections `track` events announced. A rolled-back remote offer that fired
    /// `track` fires it again when the offer comes back (as in browsers), and a track added to a
    /// transceiver the peer already announced keeps the receiver's track: so sections, not events.
    remote_track_mids: std::collections::BTreeSet<String>,
    ignored_offers: usize,
    rollbacks: usize,
    offers_sent: usize,
    errors: Vec<String>,
}

impl Peer {
    async fn new(
        name: &'static str,
        politeness: Politeness,
        outgoing: mpsc::Sender<Signal>,
        incoming: mpsc::Receiver<Signal>,
    ) -> Peer {
        let mut pc = RTCPeerConnection::new(RTCConfiguration::bound_to([IpAddr::V4(Ipv4Addr::LOCALHOST)]))
            .await
            .expect("connection");
        let (negotiator, steps) = Negotiator::start(&mut pc, politeness, outgoing, incoming);
        Peer {
            name,
            pc,
            _negotiator: negotiator,
            steps,
            remote_channels: Vec::new(),
            own_channels: Vec::new(),
            tracks: Vec::new(),
            remote_track_mids: Default::default(),
            ignored_offers: 0,
            rollbacks: 0,
            offers_sent: 0,
            errors: Vec::new(),
        }
    }

    /// Takes in what happened; returns whether anything did.
    fn drain(&mut self) -> bool {
        let mut any = false;
        while let Ok(step) = self.steps.try_recv() {
            any = true;
            match step {
                Step::Connection(PeerConnectionEvent::DataChannel(channel)) => self.remote_channels.push(channel),
                Step::Connection(PeerConnectionEvent::Track(track)) => {
                    self.remote_track_mids.extend(track.mid().map(str::to_string));
                }
                Step::Connection(_) | Step::SentAnswer | Step::AppliedAnswer | Step::StaleNegotiationNeeded => {}
                Step::SentOffer => self.offers_sent += 1,
                Step::IgnoredOffer => self.ignored_offers += 1,
                Step::RolledBack => self.rollbacks += 1,
                Step::Error(e) => self.errors.push(e),
            }
        }
        any
    }

    /// This round's change: a data channel, and a transceiver (audio or video; from
    /// `add_track` in half of the rounds, see [`uses_tracks`]).
    async fn change(&mut self, round: usize) {
        let label = format!("{}-{round}", self.name);
        let channel = self
            .pc
            .create_data_channel(&label, DataChannelInit::default())
            .await
            .expect("create_data_channel");
        self.own_channels.push(channel);
        let kind = if round % 2 == 0 {
            MediaType::Audio
        } else {
            MediaType::Video
        };
        if uses_tracks(round) {
            let codec = if kind == MediaType::Audio {
                Codec::Opus
            } else {
                Codec::Vp8
            };
            let track = LocalTrack::new(label, codec, vec![format!("{}-stream", self.name)]).expect("track");
            self.pc.add_track(&track).await.expect("add_track");
            self.tracks.push(track);
        } else {
            self.pc
                .add_transceiver(kind, TransceiverInit::default())
                .await
                .expect("add_transceiver");
        }
    }

    /// `None` unless `stable` with every transceiver negotiated; otherwise its mids.
    async fn negotiated_mids(&self) -> Option<BTreeSet<String>> {
        if self.pc.signaling_state().await.ok()? != SignalingState::Stable {
            return None;
        }
        let transceivers = self.pc.get_transceivers().await.ok()?;
        transceivers
            .into_iter()
            .map(|t| t.current_direction.and(t.mid))
            .collect()
    }
}

/// Waits until both peers are `stable` with the same negotiated transceivers and quiet.
async fn settle(peers: &mut [Peer; 2], round: usize) -> BTreeSet<String> {
    let started = Instant::now();
    let mut quiet_since = Instant::now();
    loop {
        for peer in peers.iter_mut() {
            if peer.drain() {
                quiet_since = Instant::now();
            }
            assert!(
                peer.errors.is_empty(),
                "{}: {:?} in round {round}",
                peer.name,
                peer.errors
            );
        }
        let (a, b) = (peers[0].negotiated_mids().await, peers[1].negotiated_mids().await);
        if let (Some(a), Some(b)) = (&a, &b) {
            if a == b && quiet_since.elapsed() >= QUIET {
                return a.clone();
            }
        }
        assert!(
            started.elapsed() < ROUND_DEADLINE,
            "round {round} did not settle: polite mids {a:?}, impolite mids {b:?}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Sends `text` on `ours` and waits for it on the peer's copy, `theirs`.
async fn cross(ours: &mut RTCDataChannel, theirs: &mut RTCDataChannel, text: &str) {
    let deadline = Instant::now() + ROUND_DEADLINE;
    while ours.ready_state() != DataChannelState::Open {
        let event = tokio::time::timeout_at(deadline.into(), ours.next_event()).await;
        assert!(
            matches!(event, Ok(Some(_))),
            "channel {:?} never opened: {event:?}",
            ours.label()
        );
    }
    ours.send_text(text).await.expect("send");
    loop {
        let event = tokio::time::timeout_at(deadline.into(), theirs.next_event()).await;
        match event {
            Ok(Some(DataChannelEvent::Message(DataChannelMessage::Text(got)))) if got == text => return,
            Ok(Some(_)) => {}
            other => panic!("{:?} never delivered {text:?}: {other:?}", theirs.label()),
        }
    }
}

/// A peer's connection, for a failure message: its states, and what its descriptions say
/// about DTLS roles and candidates.
async fn describe(peer: &Peer) -> String {
    let summary = |d: Option<rtcpeer::SessionDescriptionInit>| {
        d.map(|d| {
            let lines: Vec<&str> = d
                .sdp
                .lines()
                .filter(|l| l.starts_with("a=setup") || l.starts_with("a=candidate") || l.starts_with("m="))
                .collect();
            format!("{}: {}", d.kind.as_str(), lines.join(" | "))
        })
    };
    format!(
        "{}: ice {:?}, connection {:?}, selected pair {:?}\n  local  {:?}\n  remote {:?}",
        peer.name,
        peer.pc.ice_connection_state().await,
        peer.pc.connection_state().await,
        peer.pc.selected_candidate_pair().await.map(|p| p.is_some()),
        summary(peer.pc.local_description().await.ok().flatten()),
        summary(peer.pc.remote_description().await.ok().flatten()),
    )
}

/// Whether the change of this round adds a track (`add_track`) rather than a bare transceiver.
fn uses_tracks(round: usize) -> bool {
    round % 4 < 2
}

/// The channel of `peer` the other side opened with this label.
fn remote_channel<'a>(peer: &'a mut Peer, label: &str) -> Option<&'a mut RTCDataChannel> {
    peer.remote_channels.iter_mut().find(|c| c.label() == label)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn d37_perfect_negotiation_converges_when_both_sides_change_at_once_for_20_rounds() {
    const ROUNDS: usize = 20;
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let (to_polite, from_impolite) = wire();
    let (to_impolite, from_polite) = wire();
    let polite = Peer::new("polite", Politeness::Polite, to_impolite, from_impolite).await;
    let impolite = Peer::new("impolite", Politeness::Impolite, to_polite, from_polite).await;
    let mut peers = [polite, impolite];

    let mut transceivers = 0;
    for round in 0..ROUNDS {
        // Both change "at once": each after its own random delay of 0–11 ms, so some rounds
        // collide (within the wire's latency) and some do not.
        let (delay_polite, delay_impolite) = (rng.below(12), rng.below(12));
        let [polite, impolite] = &mut peers;
        tokio::join!(
            async {
                tokio::time::sleep(Duration::from_millis(delay_polite)).await;
                polite.change(round).await;
            },
            async {
                tokio::time::sleep(Duration::from_millis(delay_impolite)).await;
                impolite.change(round).await;
            },
        );
        let mids = settle(&mut peers, round).await;
        // Two transceivers a round; but `add_track` reuses a transceiver the peer's offer
        // created, and a track added on both sides at once may share one section (a remote
        // offer takes over an `add_track` transceiver that has none yet).
        let grew = mids.len() - transceivers;
        if uses_tracks(round) {
            assert!(grew <= 2, "round {round}: {grew} new transceivers");
        } else {
            assert_eq!(grew, 2, "round {round}: a transceiver from each side");
        }
        transceivers = mids.len();

        // This round's channels: each open on both sides and carrying a message.
        for i in 0..2 {
            let label = format!("{}-{round}", peers[i].name);
            let started = Instant::now();
            while remote_channel(&mut peers[1 - i], &label).is_none() {
                if started.elapsed() > ROUND_DEADLINE {
                    let channel = peers[i].own_channels.last().map(|c| (c.ready_state(), c.id()));
                    panic!(
                        "{label} never reached the peer: ours {channel:?}, the peer has {:?}\n{}\n{}",
                        peers[1 - i]
                            .remote_channels
                            .iter()
                            .map(|c| (c.label().to_string(), c.id()))
                            .collect::<Vec<_>>(),
                        describe(&peers[0]).await,
                        describe(&peers[1]).await,
                    );
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
                peers[1 - i].drain();
            }
            let mut ours = peers[i].own_channels.pop().expect("this round's channel");
            let text = format!("round {round} from {}", peers[i].name);
            let theirs = remote_channel(&mut peers[1 - i], &label).expect("found above");
            cross(&mut ours, theirs, &text).await;
            peers[i].own_channels.push(ours);
        }
    }

    for peer in peers.iter_mut() {
        peer.drain();
        assert!(peer.errors.is_empty(), "{}: {:?}", peer.name, peer.errors);
        assert_eq!(peer.pc.signaling_state().await, Ok(SignalingState::Stable));
        assert_eq!(peer.own_channels.len(), ROUNDS);
        assert_eq!(
            peer.remote_channels.len(),
            ROUNDS,
            "{} saw every channel of the peer",
            peer.name
        );
        for channel in peer.own_channels.iter().chain(&peer.remote_channels) {
            assert_eq!(channel.ready_state(), DataChannelState::Open, "{:?}", channel.label());
        }
        let all = peer.pc.get_transceivers().await.expect("transceivers");
        assert_eq!(all.len(), transceivers, "{}", peer.name);
    }
    // Every track one side added arrived as a `track` on the other.
    for (from, to) in [(0, 1), (1, 0)] {
        let sending: std::collections::BTreeSet<String> = peers[from]
            .pc
            .get_transceivers()
            .await
            .expect("transceivers")
            .into_iter()
            .filter(|t| t.sender_track.is_some())
            .filter_map(|t| t.mid)
            .collect();
        assert_eq!(
            sending.len(),
            peers[from].tracks.len(),
            "{} sends each track",
            peers[from].name
        );
        assert!(
            sending.is_subset(&peers[to].remote_track_mids),
            "{}'s tracks {sending:?}, {} heard {:?}",
            peers[from].name,
            peers[to].name,
            peers[to].remote_track_mids
        );
    }
    // The glare happened, and each side played its part.
    let [polite, impolite] = &peers;
    assert!(
        impolite.ignored_offers > 0 && polite.rollbacks > 0,
        "no glare in {ROUNDS} rounds: impolite ignored {}, polite rolled back {}",
        impolite.ignored_offers,
        polite.rollbacks
    );
    assert_eq!(polite.ignored_offers, 0, "the polite peer never ignores an offer");
    assert_eq!(impolite.rollbacks, 0, "the impolite peer never rolls back");
    eprintln!(
        "{ROUNDS} rounds: polite sent {} offers and rolled back {} times, impolite sent {} and ignored {}",
        polite.offers_sent, polite.rollbacks, impolite.offers_sent, impolite.ignored_offers
    );
    for peer in &peers {
        peer.pc.close().await;
    }
}
