//! Chaos on the simulated network: data channels and video keep exactly the delivery they
//! promise when the path loses, delays, reorders and duplicates datagrams.
//!
//! The link of every test here: 5 % loss each way (10 % for video), 30 ms delay plus up to
//! 40 ms jitter (so 50 ± 20 ms, and packets overtake each other), 1 % duplicated.
//! `RTCPEER_CHAOS_MIB` sets the size of the reliable transfer (default 16 MiB; the issue's
//! 256 MiB takes several minutes in debug).

mod common;

use std::time::{Duration, Instant};

use common::{LinkConditions, Sim};
use rtcpeer_proto::datachannel::{ChannelId, DataChannelInit, DataChannelMessage};
use rtcpeer_proto::jsep::Codec;
use rtcpeer_proto::peer::{MediaFrame, PeerEvent, TrackInit};

/// Size of one message of the reliable transfer.
const CHUNK: usize = 16 * 1024;
/// The sender keeps at most this much unacknowledged in the channel.
const WINDOW: usize = 512 * 1024;

fn chaos(loss: f64) -> LinkConditions {
    LinkConditions {
        delay: Duration::from_millis(30),
        jitter: Duration::from_millis(40),
        loss,
        duplicate: 0.01,
    }
}

/// Creates the channels on a, negotiates and runs until every channel is open on both sides;
/// returns b's id of each channel, in the order given.
fn open_channels(sim: &mut Sim, inits: &[(&str, DataChannelInit)]) -> Vec<(ChannelId, ChannelId)> {
    let ours: Vec<(String, ChannelId)> = inits
        .iter()
        .map(|(label, init)| {
            let id = sim
                .a
                .pc
                .create_data_channel(label, init.clone())
                .expect("create_data_channel");
            (label.to_string(), id)
        })
        .collect();
    sim.negotiate();
    let opened = sim.run_until(Duration::from_secs(60), |s| {
        s.connected()
            && ours
                .iter()
                .all(|(_, id)| s.a.events.contains(&PeerEvent::ChannelOpen(*id)))
            && remote_channels(&s.b.events).len() == ours.len()
    });
    assert!(opened, "channels did not open under chaos within 60 s simulated");
    let theirs = remote_channels(&sim.b.events);
    ours.iter()
        .map(|(label, id)| {
            let remote = theirs
                .iter()
                .copied()
                .find(|r| sim.b.pc.data_channel(*r).is_some_and(|info| &info.label == label))
                .expect("b has a channel of the label");
            (*id, remote)
        })
        .collect()
}

fn remote_channels(events: &[PeerEvent]) -> Vec<ChannelId> {
    events
        .iter()
        .filter_map(|e| match e {
            PeerEvent::DataChannel(id) => Some(*id),
            _ => None,
        })
        .collect()
}

/// The byte at `offset` of the reliable stream: a pattern that differs per position, so a
/// lost, repeated or swapped message shows.
fn stream_byte(offset: u64) -> u8 {
    let x = offset.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    (x >> 56) as u8 ^ (offset >> 14) as u8
}

fn chaos_mib() -> u64 {
    std::env::var("RTCPEER_CHAOS_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(16)
}

#[test]
fn a_reliable_ordered_channel_carries_every_byte_in_order_under_chaos() {
    let started = Instant::now();
    let total = chaos_mib() * 1024 * 1024;
    let mut sim = Sim::new(0xc4a05, chaos(0.05));
    let channels = open_channels(&mut sim, &[("bulk", DataChannelInit::default())]);
    let (a_ch, b_ch) = channels[0];
    let open_at = sim.elapsed();

    let (mut sent, mut received) = (0u64, 0u64);
    let limit = sim.now + Duration::from_secs(600 + total / 20_000);
    while received < total {
        assert!(
            sim.now < limit,
            "stalled: {received} of {total} bytes after {:?}",
            sim.elapsed()
        );
        let buffered = sim.a.pc.data_channel(a_ch).expect("a's channel").buffered_amount;
        let mut room = WINDOW.saturating_sub(buffered);
        while sent < total && room >= CHUNK {
            let len = CHUNK.min((total - sent) as usize);
            let message: Vec<u8> = (sent..sent + len as u64).map(stream_byte).collect();
            sim.a.pc.send(a_ch, &DataChannelMessage::Binary(message)).expect("send");
            sent += len as u64;
            room -= len;
        }
        sim.run_until(Duration::from_millis(20), |_| false);
        for event in sim.b.take_events() {
            if let PeerEvent::ChannelMessage(id, DataChannelMessage::Binary(bytes)) = event {
                assert_eq!(id, b_ch, "a message on a channel nobody sent on");
                for (i, byte) in bytes.iter().enumerate() {
                    let at = received + i as u64;
                    assert_eq!(
                        *byte,
                        stream_byte(at),
                        "byte {at} differs (lost, repeated or reordered)"
                    );
                }
                received += bytes.len() as u64;
            }
        }
        // The simulator keeps every event; the transfer is checked as it goes.
        sim.a.events.clear();
        sim.b.events.clear();
    }
    assert_eq!(received, total);
    let simulated = (sim.elapsed() - open_at).as_secs_f64();
    println!(
        "reliable: {} MiB in {simulated:.1} s simulated ({:.2} MB/s), {:.1} s wall; datagrams sent {}, lost {}",
        total / (1024 * 1024),
        total as f64 / simulated / 1e6,
        started.elapsed().as_secs_f64(),
        sim.sent,
        sim.lost,
    );
}

/// Message `i` of a partially reliable channel: its number and a body that depends on it.
fn numbered(i: u32, len: usize) -> Vec<u8> {
    let mut m = i.to_be_bytes().to_vec();
    m.extend((0..len).map(|k| (k as u32 ^ i) as u8));
    m
}

fn number_of(bytes: &[u8]) -> u32 {
    let n = u32::from_be_bytes(bytes.get(..4).and_then(|b| b.try_into().ok()).expect("4-byte number"));
    assert_eq!(bytes, numbered(n, bytes.len() - 4).as_slice(), "message {n} corrupted");
    n
}

#[test]
fn partially_reliable_and_unordered_channels_keep_their_promises_under_chaos() {
    const MESSAGES: u32 = 1000;
    let unordered = DataChannelInit {
        ordered: false,
        ..DataChannelInit::default()
    };
    let no_retransmits = DataChannelInit {
        ordered: false,
        max_retransmits: Some(0),
        ..DataChannelInit::default()
    };
    let lifetime = DataChannelInit {
        ordered: true,
        max_packet_life_time: Some(150),
        ..DataChannelInit::default()
    };
    let kinds = [
        ("unordered", unordered),
        ("max-retransmits-0", no_retransmits),
        ("lifetime-150ms-ordered", lifetime),
    ];
    let mut sim = Sim::new(0xc4a06, chaos(0.05));
    let channels = open_channels(&mut sim, &kinds);

    // 1000 messages of 256 B on each, one every 20 ms per channel (about 13 KB/s each: below
    // what congestion control allows at 5 % loss and 100 ms RTT, about 50 KB/s).
    for i in 0..MESSAGES {
        for (a_ch, _) in &channels {
            sim.a
                .pc
                .send(*a_ch, &DataChannelMessage::Binary(numbered(i, 252)))
                .expect("send");
        }
        sim.run_until(Duration::from_millis(20), |_| false);
    }
    let reliable = channels[0].0;
    let drained = sim.run_until(Duration::from_secs(120), |s| {
        s.a.pc.data_channel(reliable).is_some_and(|c| c.buffered_amount == 0)
    });
    assert!(drained, "the reliable unordered channel did not drain in 120 s");
    sim.run_until(Duration::from_secs(2), |_| false);

    for ((label, init), (_, b_ch)) in kinds.iter().zip(&channels) {
        let got: Vec<u32> = sim
            .b
            .events
            .iter()
            .filter_map(|e| match e {
                PeerEvent::ChannelMessage(id, DataChannelMessage::Binary(bytes)) if id == b_ch => {
                    Some(number_of(bytes))
                }
                _ => None,
            })
            .collect();
        let mut unique = got.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), got.len(), "{label}: a message delivered twice");
        assert!(got.iter().all(|n| *n < MESSAGES), "{label}: a message never sent");
        if init.ordered {
            assert!(got.windows(2).all(|w| w[0] < w[1]), "{label}: out of order");
        }
        let share = got.len() as f64 / f64::from(MESSAGES);
        println!(
            "{label}: {} of {MESSAGES} delivered ({:.1} %)",
            got.len(),
            share * 100.0
        );
        if init.max_retransmits.is_none() && init.max_packet_life_time.is_none() {
            // Reliable, merely unordered: everything arrives.
            assert_eq!(got.len(), MESSAGES as usize, "{label}: reliable channel lost messages");
        } else {
            // Without retransmissions about 95 % cross the link (94–96 % measured). The ordered
            // 150 ms lifetime loses more: a message held behind a lost one expires with it
            // (78–95 % in 12 runs, once 49.8 %: the core's randomness varies the loss pattern).
            // A share this low means the channel stalled or dropped what it could deliver.
            let floor = if init.max_retransmits.is_some() { 0.85 } else { 0.3 };
            assert!(share > floor, "{label}: only {:.1} % delivered", share * 100.0);
        }
    }
}

/// A synthetic VP8 frame (keyframe flag in the low bit of the first byte, RFC 6386 §9.1).
fn vp8_frame(index: usize, keyframe: bool, len: usize) -> Vec<u8> {
    let mut frame: Vec<u8> = (0..len).map(|i| (i * 31 + index * 7) as u8).collect();
    frame[0] = if keyframe { 0x00 } else { 0x01 } | ((index as u8) << 1 & 0xFE);
    frame
}

#[test]
fn video_under_ten_percent_loss_delivers_most_frames_whole_and_in_order() {
    const FRAMES: usize = 300;
    let mut sim = Sim::new(0xc4a07, chaos(0.10));
    let id = sim
        .a
        .pc
        .add_track(TrackInit {
            id: "camera".into(),
            codec: Codec::Vp8,
            stream_ids: vec!["stream".into()],
        })
        .expect("add_track");
    sim.negotiate();
    assert!(
        sim.run_until(Duration::from_secs(60), |s| s.connected()),
        "did not connect"
    );
    let mut sent = Vec::new();
    let mut keyframes_requested = 0;
    for i in 0..FRAMES {
        // Like an encoder: a keyframe every second, and the next frame after the receiver asks
        // for one (its PLI after an unrecoverable loss). 30 fps, 2 to 9 packets a frame.
        let requested = sim
            .a
            .take_events()
            .iter()
            .any(|e| matches!(e, PeerEvent::KeyframeRequested(t, None) if *t == id));
        keyframes_requested += usize::from(requested);
        let frame = vp8_frame(i, i % 30 == 0 || requested, 2000 + (i * 1499) % 8000);
        let media = MediaFrame {
            data: frame.clone().into(),
            pts: Duration::from_millis(33 * i as u64),
        };
        let now = sim.now;
        sim.a.pc.write_frame(now, id, &media).expect("write_frame");
        sent.push(frame);
        sim.run_until(Duration::from_millis(33), |_| false);
    }
    sim.run_until(Duration::from_secs(2), |_| false);

    let got: Vec<Vec<u8>> = sim
        .b
        .events
        .iter()
        .filter_map(|e| match e {
            PeerEvent::Frame(_, f) => Some(f.data.to_vec()),
            _ => None,
        })
        .collect();
    // Every frame delivered is one that was sent, byte-exact, in order, once.
    let mut next = 0;
    for frame in &got {
        let at = sent[next..]
            .iter()
            .position(|s| s == frame)
            .expect("a frame never sent, corrupted, repeated or out of order");
        next += at + 1;
    }
    let (a, b) = (sim.a.pc.media_counters(), sim.b.pc.media_counters());
    let share = got.len() as f64 / FRAMES as f64;
    println!(
        "video: {} of {FRAMES} frames complete ({:.1} %) under 10 % loss; nacks sent {}, retransmitted {}, keyframes requested {keyframes_requested}",
        got.len(),
        share * 100.0,
        b.nacks_sent,
        a.retransmitted
    );
    assert!(b.nacks_sent > 0 && a.retransmitted > 0, "no repair: a {a:?} b {b:?}");
    assert!(share >= VIDEO_FLOOR, "only {:.1} % of frames complete", share * 100.0);
}

/// The least share of whole frames under 10 % loss. Measured 57–72 % locally and 46 % in
/// one CI run (SSRCs, sequence numbers and handshake sizes are random, so loss falls on other
/// packets each run), hence a floor well below: the jitter buffer waits 200 ms for a
/// missing packet, which leaves one NACK round trip at 100 ± 40 ms RTT; a frame lost for good
/// costs every frame up to the keyframe the PLI brings.
const VIDEO_FLOOR: f64 = 0.3;
