//! Perfect negotiation: two peers change their connection at the same moment and still agree.
//!
//!     cargo run -p rtcpeer --example perfect_negotiation
//!
//! A polite and an impolite peer (W3C webrtc-pc §10.7, "Perfect negotiation example") are
//! connected over loopback through an in-process signaling channel. Both create a data channel
//! at once, so both offer at once (glare): the impolite peer ignores the polite peer's offer,
//! the polite peer rolls its own back (implicitly, in `set_remote_description`) and answers.
//! Then both add an audio transceiver at once, which collides again. The transcript shows what
//! each side did; the example exits 0 once both are `stable` with the same transceivers and a
//! message has crossed each data channel.
//!
//! The pattern itself is in `perfect_negotiation/negotiator.rs`.

#[path = "perfect_negotiation/negotiator.rs"]
mod negotiator;

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use negotiator::{Negotiator, Politeness, Signal, Step};
use rtcpeer::{
    DataChannelEvent, DataChannelInit, DataChannelMessage, MediaType, PeerConnectionEvent, PeerConnectionState,
    RTCConfiguration, RTCDataChannel, RTCPeerConnection, SignalingState, TransceiverInit,
};
use tokio::sync::mpsc;

/// Give up after this long.
const DEADLINE: Duration = Duration::from_secs(20);

/// One side: its connection, its pattern, and what it has seen.
struct Side {
    name: &'static str,
    pc: RTCPeerConnection,
    _negotiator: Negotiator,
    steps: mpsc::UnboundedReceiver<Step>,
    /// Channels the peer opened towards us.
    remote_channels: Vec<RTCDataChannel>,
    /// Offers this side ignored or rolled back for.
    collisions: usize,
}

impl Side {
    /// Prints and keeps what happened since the last call; returns whether anything did.
    fn drain(&mut self) -> Result<bool, String> {
        let mut any = false;
        while let Ok(step) = self.steps.try_recv() {
            any = true;
            let line = match step {
                Step::Connection(PeerConnectionEvent::DataChannel(channel)) => {
                    let line = format!("datachannel {:?} from the peer", channel.label());
                    self.remote_channels.push(channel);
                    line
                }
                Step::Connection(PeerConnectionEvent::ConnectionStateChange(PeerConnectionState::Connected)) => {
                    "connection connected".into()
                }
                Step::Connection(_) => continue,
                Step::SentOffer => "negotiationneeded → set_local_description() → offer sent".into(),
                Step::SentAnswer => "set_remote_description(offer) → set_local_description() → answer sent".into(),
                Step::AppliedAnswer => "set_remote_description(answer)".into(),
                Step::IgnoredOffer => {
                    self.collisions += 1;
                    "offer collision: impolite, the peer's offer is ignored".into()
                }
                Step::RolledBack => {
                    self.collisions += 1;
                    "offer collision: polite, our offer is rolled back for the peer's".into()
                }
                Step::StaleNegotiationNeeded => "negotiationneeded read outside stable: dropped".into(),
                Step::Error(e) => return Err(format!("{}: {e}", self.name)),
            };
            println!("  {:<9} {line}", self.name);
        }
        Ok(any)
    }
}

async fn side(
    name: &'static str,
    politeness: Politeness,
    outgoing: mpsc::Sender<Signal>,
    incoming: mpsc::Receiver<Signal>,
) -> Result<Side, Box<dyn std::error::Error>> {
    let mut pc = RTCPeerConnection::new(RTCConfiguration::bound_to([IpAddr::V4(Ipv4Addr::LOCALHOST)])).await?;
    let (negotiator, steps) = Negotiator::start(&mut pc, politeness, outgoing, incoming);
    Ok(Side {
        name,
        pc,
        _negotiator: negotiator,
        steps,
        remote_channels: Vec::new(),
        collisions: 0,
    })
}

/// How long nothing may happen before both sides count as settled: a `negotiationneeded` may
/// still be on its way when both read `stable`.
const QUIET: Duration = Duration::from_millis(100);

/// Waits, printing the transcript, until both sides are `stable` with the same negotiated
/// transceivers and nothing has happened for [`QUIET`].
async fn settle(sides: &mut [Side; 2], started: Instant, what: &str) -> Result<(), Box<dyn std::error::Error>> {
    let mut quiet_since = Instant::now();
    loop {
        for side in sides.iter_mut() {
            if side.drain()? {
                quiet_since = Instant::now();
            }
        }
        let mut settled = quiet_since.elapsed() >= QUIET;
        let mut mids = Vec::new();
        for side in sides.iter() {
            settled &= side.pc.signaling_state().await? == SignalingState::Stable;
            let transceivers = side.pc.get_transceivers().await?;
            settled &= transceivers
                .iter()
                .all(|t| t.mid.is_some() && t.current_direction.is_some());
            let mut side_mids: Vec<_> = transceivers.into_iter().filter_map(|t| t.mid).collect();
            side_mids.sort();
            mids.push(side_mids);
        }
        if settled && mids[0] == mids[1] {
            println!("  both stable after {what}: transceivers {:?}", mids[0]);
            return Ok(());
        }
        if started.elapsed() > DEADLINE {
            return Err(format!("not settled after {what} within {DEADLINE:?}").into());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Sends a message on our channel and waits for the peer's copy of it to deliver it.
async fn cross(
    ours: &mut RTCDataChannel,
    theirs: &mut RTCDataChannel,
    text: &str,
) -> Result<(), Box<dyn std::error::Error>> {
    while ours.ready_state() != rtcpeer::DataChannelState::Open {
        match tokio::time::timeout(DEADLINE, ours.next_event()).await? {
            Some(DataChannelEvent::Open) | Some(_) => {}
            None => return Err(format!("channel {:?} closed before it opened", ours.label()).into()),
        }
    }
    ours.send_text(text).await?;
    loop {
        match tokio::time::timeout(DEADLINE, theirs.next_event()).await? {
            Some(DataChannelEvent::Message(DataChannelMessage::Text(got))) if got == text => return Ok(()),
            Some(_) => {}
            None => return Err(format!("channel {:?} closed before the message came", theirs.label()).into()),
        }
    }
}

/// How long a signaling message takes from one peer to the other: long enough for both to
/// have sent their offer before the other's arrives, as over a real network.
const SIGNALING_LATENCY: Duration = Duration::from_millis(20);

/// A one-way signaling wire that delivers every message, in order, [`SIGNALING_LATENCY`] after it was sent.
fn wire() -> (mpsc::Sender<Signal>, mpsc::Receiver<Signal>) {
    let (input, mut sent) = mpsc::channel::<Signal>(64);
    let (deliver, output) = mpsc::channel(64);
    let (timed, mut in_flight) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(signal) = sent.recv().await {
            if timed.send((Instant::now() + SIGNALING_LATENCY, signal)).is_err() {
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

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let started = Instant::now();
    let (to_polite, from_impolite) = wire();
    let (to_impolite, from_polite) = wire();
    let polite = side("polite", Politeness::Polite, to_impolite, from_impolite).await?;
    let impolite = side("impolite", Politeness::Impolite, to_polite, from_polite).await?;
    let mut sides = [polite, impolite];

    println!("both peers create a data channel at once");
    let (polite_channel, impolite_channel) = tokio::join!(
        sides[0]
            .pc
            .create_data_channel(sides[0].name, DataChannelInit::default()),
        sides[1]
            .pc
            .create_data_channel(sides[1].name, DataChannelInit::default()),
    );
    let mut ours = [polite_channel?, impolite_channel?];
    settle(&mut sides, started, "the data channels").await?;

    println!("both peers add an audio transceiver at once");
    let (polite_audio, impolite_audio) = tokio::join!(
        sides[0]
            .pc
            .add_transceiver(MediaType::Audio, TransceiverInit::default()),
        sides[1]
            .pc
            .add_transceiver(MediaType::Audio, TransceiverInit::default()),
    );
    polite_audio?;
    impolite_audio?;
    settle(&mut sides, started, "the transceivers").await?;

    // Each side's own channel reaches the other side's copy of it.
    for (i, channel) in ours.iter_mut().enumerate() {
        let peer = &mut sides[1 - i];
        while peer.remote_channels.is_empty() {
            if started.elapsed() > DEADLINE {
                return Err(format!("{} never saw the peer's channel", peer.name).into());
            }
            peer.drain()?;
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let text = format!("hello from {}", sides[i].name);
        cross(channel, &mut sides[1 - i].remote_channels[0], &text).await?;
        println!("  {:?} crossed channel {:?}", text, channel.label());
    }
    for side in sides.iter_mut() {
        side.drain()?;
        side.pc.close().await;
    }
    println!(
        "done in {} ms; offer collisions: polite {}, impolite {}",
        started.elapsed().as_millis(),
        sides[0].collisions,
        sides[1].collisions
    );
    Ok(())
}
