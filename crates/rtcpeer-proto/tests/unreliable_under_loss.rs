//! An unordered channel without retransmissions, under heavy loss, delivers about the share
//! of messages the link delivers, run after run (decision 0003, "Known weaknesses").
//!
//! Before the fixes this guards, about a third of the runs delivered only the first few
//! dozen messages: the peer's DCEP ACK was never sent when the OPEN overtook a COOKIE-ACK
//! (or the COOKIE-ACK was lost), so every message went ordered, and the client stayed in
//! COOKIE-ECHOED without acknowledging anything.

mod common;

use std::time::{Duration, Instant};

use common::{LinkConditions, Sim};
use rtcpeer_proto::datachannel::{
    ChannelId, DataChannelEvent, DataChannelInit, DataChannelMessage, DataChannels, DataChannelsConfig,
};
use rtcpeer_proto::peer::PeerEvent;

const MESSAGES: u32 = 300;

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
        s.connected() && s.a.events.contains(&PeerEvent::ChannelOpen(a_ch)) && remote_channel(&s.b.events).is_some()
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

/// The (PPID, unordered flag) of every DATA chunk in an SCTP packet.
fn data_chunks(packet: &[u8]) -> Vec<(u32, bool)> {
    let mut out = Vec::new();
    let mut rest = packet.get(12..).unwrap_or(&[]);
    while let (Some(&typ), Some(&flags), Some(len)) = (rest.first(), rest.get(1), rest.get(2..4)) {
        let len = usize::from(u16::from_be_bytes([len[0], len[1]]));
        if len < 4 {
            break;
        }
        if typ == 0 {
            if let Some(p) = rest.get(12..16) {
                out.push((u32::from_be_bytes([p[0], p[1], p[2], p[3]]), flags & 0x04 != 0));
            }
        }
        rest = rest.get(len.next_multiple_of(4)..).unwrap_or(&[]);
    }
    out
}

/// Two `DataChannels` over a lossless, instant link that loses the packets from b to a
/// for which `lost` holds; returns every DATA chunk a sent as (PPID, unordered).
fn shuttle(
    a: &mut DataChannels,
    b: &mut DataChannels,
    now: &mut Instant,
    limit: Duration,
    lost: impl Fn(&[u8]) -> bool,
) -> Vec<(u32, bool)> {
    let end = *now + limit;
    let mut sent_by_a = Vec::new();
    loop {
        let mut moved = false;
        while let Some(p) = a.poll_transmit() {
            sent_by_a.extend(data_chunks(&p));
            b.handle_receive(*now, &p);
            moved = true;
        }
        while let Some(p) = b.poll_transmit() {
            if !lost(&p) {
                a.handle_receive(*now, &p);
            }
            moved = true;
        }
        if moved {
            continue;
        }
        match [a.poll_timeout(), b.poll_timeout()].into_iter().flatten().min() {
            Some(t) if t <= end => {
                *now = (*now).max(t);
                a.handle_timeout(*now);
                b.handle_timeout(*now);
            }
            _ => return sent_by_a,
        }
    }
}

#[test]
fn a_message_from_the_peer_stands_for_a_lost_dcep_ack() {
    const DCEP: u32 = 50;
    const BINARY: u32 = 53;
    let dcep_lost = |p: &[u8]| data_chunks(p).iter().any(|(ppid, _)| *ppid == DCEP);
    let mut now = Instant::now();
    let mut a = DataChannels::new(DataChannelsConfig::default());
    let mut b = DataChannels::new(DataChannelsConfig::default());
    let max = DataChannelsConfig::default().local_max_message_size;
    a.start(true, 5000, max, now);
    b.start(false, 5000, max, now);
    let init = DataChannelInit {
        ordered: false,
        max_retransmits: Some(0),
        ..DataChannelInit::default()
    };
    let a_ch = a.create("lossy", init).expect("create");
    shuttle(&mut a, &mut b, &mut now, Duration::from_millis(500), dcep_lost);
    let b_ch = std::iter::from_fn(|| b.poll_event())
        .find_map(|e| match e {
            DataChannelEvent::RemoteCreated(id) => Some(id),
            _ => None,
        })
        .expect("b saw the OPEN");
    let message = DataChannelMessage::Binary(vec![1, 2, 3, 4]);

    // Every ACK is lost: a must stay on ordered delivery (RFC 8832 §6).
    a.send(a_ch, &message).expect("send");
    let sent = shuttle(&mut a, &mut b, &mut now, Duration::from_millis(100), dcep_lost);
    assert_eq!(sent, vec![(BINARY, false)], "sent unordered before any ACK");

    // A user message from b acknowledges the channel as well.
    b.send(b_ch, &message).expect("send");
    shuttle(&mut a, &mut b, &mut now, Duration::from_millis(100), dcep_lost);
    assert!(
        std::iter::from_fn(|| a.poll_event()).any(|e| e == DataChannelEvent::Message(a_ch, message.clone())),
        "a got b's message"
    );
    a.send(a_ch, &message).expect("send");
    let sent = shuttle(&mut a, &mut b, &mut now, Duration::from_millis(100), dcep_lost);
    assert_eq!(sent, vec![(BINARY, true)], "still ordered after the peer's message");
}
