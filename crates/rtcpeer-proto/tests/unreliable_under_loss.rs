//! An unordered channel without retransmissions, under heavy loss, delivers about the share
//! of messages the link delivers, run after run (decision 0003, "Known weaknesses").
//!
//! Before the fixes this guards, about a third of the runs delivered only the first few
//! dozen messages: the peer's DCEP ACK was never sent when the OPEN overtook a COOKIE-ACK
//! (or the COOKIE-ACK was lost), so every message went ordered, and the client stayed in
//! COOKIE-ECHOED without acknowledging anything.

mod common;

use std::time::Duration;

use common::{LinkConditions, Sim};
use rtcpeer_proto::datachannel::{ChannelId, DataChannelInit, DataChannelMessage};
use rtcpeer_proto::peer::{PeerConnectionState, PeerEvent};

const MESSAGES: u32 = 300;

fn connected(sim: &Sim) -> bool {
    sim.a.pc.connection_state() == PeerConnectionState::Connected
        && sim.b.pc.connection_state() == PeerConnectionState::Connected
}

fn remote_channel(events: &[PeerEvent]) -> Option<ChannelId> {
    events.iter().find_map(|e| match e {
        PeerEvent::DataChannel(id) => Some(*id),
        _ => None,
    })
}

fn received(events: &[PeerEvent], id: ChannelId) -> Vec<DataChannelMessage> {
    events
        .iter()
        .filter_map(|e| match e {
            PeerEvent::ChannelMessage(c, m) if *c == id => Some(m.clone()),
            _ => None,
        })
        .collect()
}

/// Sends [`MESSAGES`] paced 4-byte messages from a to b on an `ordered: false,
/// maxRetransmits: 0` channel over a link losing 20 % each way, after idling `idle_first`
/// once the channel is open. Returns what b received, or `None` if the peers did not
/// connect within 30 s (which heavy loss during ICE and DTLS can cause).
fn run(seed: u64, idle_first: Duration) -> Option<Vec<DataChannelMessage>> {
    let link = LinkConditions {
        delay: Duration::from_millis(10),
        jitter: Duration::from_millis(10),
        loss: 0.2,
        duplicate: 0.0,
    };
    let mut sim = Sim::new(seed, link);
    let init = DataChannelInit {
        ordered: false,
        max_retransmits: Some(0),
        ..DataChannelInit::default()
    };
    let a_ch = sim
        .a
        .pc
        .create_data_channel("lossy", init)
        .expect("create_data_channel");
    sim.negotiate();
    let ok = sim.run_until(Duration::from_secs(30), |s| {
        connected(s) && s.a.events.contains(&PeerEvent::ChannelOpen(a_ch)) && remote_channel(&s.b.events).is_some()
    });
    if !ok {
        return None;
    }
    let b_ch = remote_channel(&sim.b.events)?;
    sim.run_until(idle_first, |_| false);
    for i in 0..MESSAGES {
        sim.a
            .pc
            .send(a_ch, &DataChannelMessage::Binary(i.to_be_bytes().to_vec()))
            .expect("send");
        sim.run_until(Duration::from_millis(5), |_| false);
    }
    sim.run_until(Duration::from_secs(5), |_| false);
    Some(received(&sim.b.events, b_ch))
}

#[test]
fn runs_deliver_most_messages_without_duplicates() {
    let mut shares = Vec::new();
    for seed in 1..=40u64 {
        for idle in [Duration::ZERO, Duration::from_secs(2)] {
            let Some(got) = run(seed, idle) else {
                continue;
            };
            let mut numbers: Vec<u32> = got
                .iter()
                .map(|m| match m {
                    DataChannelMessage::Binary(b) if b.len() == 4 => u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
                    other => panic!("seed {seed}: a message that was never sent: {other:?}"),
                })
                .collect();
            assert!(
                numbers.iter().all(|n| *n < MESSAGES),
                "seed {seed}: a message never sent"
            );
            numbers.sort_unstable();
            numbers.dedup();
            assert_eq!(numbers.len(), got.len(), "seed {seed}: duplicates delivered");
            assert!(got.len() < MESSAGES as usize, "seed {seed}: nothing lost at 20 % loss");
            shares.push((seed, idle, got.len()));
        }
    }
    assert!(shares.len() >= 60, "too few runs connected: {}", shares.len());
    // About 80 % of the messages cross the link. Before the fixes about a third of the runs
    // fell to half or less and the total share was near 60 %; now one run in a hundred
    // does (the DCEP ACK lost and retransmitted after the 1 s timeout, which leaves the
    // sender on ordered delivery meanwhile: decision 0003).
    let poor: Vec<_> = shares.iter().filter(|(_, _, n)| *n <= MESSAGES as usize / 2).collect();
    assert!(poor.len() <= 5, "runs delivering half or less: {poor:?}");
    let delivered: usize = shares.iter().map(|(_, _, n)| n).sum();
    let share = delivered as f64 / (shares.len() as f64 * f64::from(MESSAGES));
    assert!(share > 0.72, "{:.1} % delivered in all", share * 100.0);
}
