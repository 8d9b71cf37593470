//! Inputs the fuzz targets found, replayed as tests.
//!
//! Each test names its target and the fuzz input that found the problem (the
//! bytes as `cargo fuzz` printed them), then replays what that input did
//! through the public API, so the test reads without the fuzz harness.

use std::time::{Duration, Instant};

use rtcpeer_proto::datachannel::{
    ChannelId, DataChannelEvent, DataChannelInit, DataChannelMessage, DataChannelState, DataChannels,
    DataChannelsConfig,
};
use rtcpeer_proto::sctp::checksum::seal;

/// An SCTP packet from port 5000 to 5000 with verification tag `tag`, one chunk and
/// a valid checksum, as an authenticated peer could send it inside DTLS.
fn packet(tag: u32, chunk_type: u8, flags: u8, value: &[u8]) -> Vec<u8> {
    let mut p = Vec::new();
    p.extend_from_slice(&5000u16.to_be_bytes());
    p.extend_from_slice(&5000u16.to_be_bytes());
    p.extend_from_slice(&tag.to_be_bytes());
    p.extend_from_slice(&[0; 4]);
    p.extend_from_slice(&[chunk_type, flags]);
    p.extend_from_slice(&u16::try_from(4 + value.len()).unwrap().to_be_bytes());
    p.extend_from_slice(value);
    while p.len() % 4 != 0 {
        p.push(0);
    }
    seal(&mut p);
    p
}

/// Two `DataChannels` wired back to back: `a` is the DTLS client, `b` the server.
struct Pair {
    a: DataChannels,
    b: DataChannels,
    now: Instant,
    /// The verification tag `b` expects, read from the last packet `a` sent.
    tag_to_b: u32,
    /// The TSN of the last DATA chunk `a` sent first in a packet.
    last_tsn_to_b: u32,
    a_events: Vec<DataChannelEvent>,
    b_events: Vec<DataChannelEvent>,
}

impl Pair {
    /// A pair with one channel open, created by `a`.
    fn with_channel() -> (Pair, ChannelId, ChannelId) {
        let now = Instant::now();
        let mut a = DataChannels::new(DataChannelsConfig::default());
        let mut b = DataChannels::new(DataChannelsConfig::default());
        let a_id = a.create("fuzz", DataChannelInit::default()).unwrap();
        a.start(true, 5000, 256 * 1024, now);
        b.start(false, 5000, 256 * 1024, now);
        let mut pair = Pair {
            a,
            b,
            now,
            tag_to_b: 0,
            last_tsn_to_b: 0,
            a_events: Vec::new(),
            b_events: Vec::new(),
        };
        pair.run(Duration::from_secs(3));
        let b_id = pair
            .b_events
            .iter()
            .find_map(|e| match e {
                DataChannelEvent::RemoteCreated(id) => Some(*id),
                _ => None,
            })
            .expect("b sees the channel");
        assert_eq!(pair.a.info(a_id).unwrap().state, DataChannelState::Open);
        assert_eq!(pair.b.info(b_id).unwrap().state, DataChannelState::Open);
        assert_ne!(pair.tag_to_b, 0);
        (pair, a_id, b_id)
    }

    fn shuttle(&mut self) {
        loop {
            let mut moved = false;
            while let Some(p) = self.a.poll_transmit() {
                self.tag_to_b = u32::from_be_bytes(p[4..8].try_into().unwrap());
                if p.get(12) == Some(&0) {
                    self.last_tsn_to_b = u32::from_be_bytes(p[16..20].try_into().unwrap());
                }
                self.b.handle_receive(self.now, &p);
                moved = true;
            }
            while let Some(p) = self.b.poll_transmit() {
                self.a.handle_receive(self.now, &p);
                moved = true;
            }
            while let Some(e) = self.a.poll_event() {
                self.a_events.push(e);
            }
            while let Some(e) = self.b.poll_event() {
                self.b_events.push(e);
            }
            if !moved {
                return;
            }
        }
    }

    fn run(&mut self, duration: Duration) {
        let end = self.now + duration;
        loop {
            self.shuttle();
            let next = [self.a.poll_timeout(), self.b.poll_timeout()]
                .into_iter()
                .flatten()
                .min();
            match next {
                Some(t) if t <= end => {
                    self.now = self.now.max(t);
                    self.a.handle_timeout(self.now);
                    self.b.handle_timeout(self.now);
                }
                _ => break,
            }
        }
        self.now = end;
        self.shuttle();
    }
}

fn messages(events: &[DataChannelEvent], id: ChannelId) -> Vec<DataChannelMessage> {
    events
        .iter()
        .filter_map(|e| match e {
            DataChannelEvent::Message(c, m) if *c == id => Some(m.clone()),
            _ => None,
        })
        .collect()
}

/// `sctp_packets`, input `[255, 4, 7, 0, 0, 4, 0, 255, 255, 255]`: a SHUTDOWN chunk
/// (cumulative TSN ack 0x00ffffff) from the peer, which then ignores our
/// SHUTDOWN-ACK. `sctp-proto` moves to SHUTDOWN-ACK-SENT, accepts nothing more to
/// send, and retransmits the SHUTDOWN-ACK forever (T2-shutdown has no limit), yet
/// our boundary kept saying "connected": a channel that reports open but carries
/// nothing. Now the association stops reporting connected and refuses sends.
#[test]
fn sctp_packets_peer_shutdown_then_silence_is_not_reported_as_connected() {
    let (mut pair, a_id, b_id) = Pair::with_channel();
    let shutdown = packet(pair.tag_to_b, 7, 0, &[0x00, 0xff, 0xff, 0xff]);
    pair.b.handle_receive(pair.now, &shutdown);
    // The SHUTDOWN-ACK goes to a, which (not having sent SHUTDOWN) ignores it.
    pair.run(Duration::from_secs(2));

    assert!(
        !pair.b.is_connected(),
        "b is shutting down, it must not report connected"
    );
    let sent = pair.b.send(b_id, &DataChannelMessage::Binary(b"pong".to_vec()));
    assert!(sent.is_err(), "a send after the peer's SHUTDOWN was accepted: {sent:?}");
    pair.run(Duration::from_secs(5));
    assert!(
        messages(&pair.a_events, a_id).is_empty(),
        "nothing from b reaches a after the shutdown"
    );
}

/// The property the `sctp_packets` target checks, on an undisturbed pair: while both
/// sides say connected, the channel carries messages both ways.
#[test]
fn an_undisturbed_pair_delivers_both_ways() {
    let (mut pair, a_id, b_id) = Pair::with_channel();
    assert!(pair.a.is_connected() && pair.b.is_connected());
    pair.a
        .send(a_id, &DataChannelMessage::Binary(b"ping".to_vec()))
        .unwrap();
    pair.b
        .send(b_id, &DataChannelMessage::Binary(b"pong".to_vec()))
        .unwrap();
    pair.run(Duration::from_secs(1));
    assert_eq!(
        messages(&pair.b_events, b_id),
        vec![DataChannelMessage::Binary(b"ping".to_vec())]
    );
    assert_eq!(
        messages(&pair.a_events, a_id),
        vec![DataChannelMessage::Binary(b"pong".to_vec())]
    );
}

/// `sctp_packets`, input `[0, 4, 0, 0, 0, 16, 0, 0, 0, 12, 0, 0, 0, 1, 11, 11, 49, 11]`:
/// a DATA chunk with TSN 12, far from the association's random initial TSN.
/// `sctp-proto` accepts any TSN above its cumulative TSN, and one beyond what a
/// SACK's 16-bit gap offsets can express stalled the association while both ends
/// stayed connected. Our boundary now drops DATA more than 32768 TSNs ahead.
#[test]
fn sctp_packets_data_far_beyond_the_window_does_not_stall_the_channel() {
    for (ahead, user_data) in [
        (0x1000_0000u32, &b""[..]),
        (0x1000_0000, &b"x"[..]),
        (70_000, &b"x"[..]),
    ] {
        let (mut pair, a_id, b_id) = Pair::with_channel();
        let tsn = pair.last_tsn_to_b.wrapping_add(ahead);
        let mut value = tsn.to_be_bytes().to_vec();
        // Stream 0, sequence 1, PPID 53 (binary), then the user data.
        value.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 53]);
        value.extend_from_slice(user_data);
        pair.b.handle_receive(pair.now, &packet(pair.tag_to_b, 0, 0, &value));
        pair.run(Duration::from_secs(2));
        assert!(pair.a.is_connected() && pair.b.is_connected());
        pair.a
            .send(a_id, &DataChannelMessage::Binary(b"ping".to_vec()))
            .unwrap();
        pair.b
            .send(b_id, &DataChannelMessage::Binary(b"pong".to_vec()))
            .unwrap();
        pair.run(Duration::from_secs(30));
        let ping = vec![DataChannelMessage::Binary(b"ping".to_vec())];
        let pong = vec![DataChannelMessage::Binary(b"pong".to_vec())];
        assert_eq!(messages(&pair.b_events, b_id), ping, "a -> b, TSN {ahead} ahead");
        assert_eq!(messages(&pair.a_events, a_id), pong, "b -> a, TSN {ahead} ahead");
    }
}

/// `sctp_packets` (pre-association mode): an INIT chunk behind a non-zero
/// verification tag sent to the SCTP client. It bypassed the tag-0 INIT guard and
/// hit the `unwrap` of the missing server config in sctp-proto
/// (`endpoint/mod.rs:423`), a remote panic. Now dropped like any INIT to the client.
#[test]
fn sctp_packets_init_with_a_nonzero_tag_to_the_client_does_not_panic() {
    let now = Instant::now();
    let mut client = DataChannels::new(DataChannelsConfig::default());
    client.start(true, 5000, 256 * 1024, now);
    // INIT: initiate tag, a_rwnd, streams out/in, initial TSN.
    let init = [0x11, 0x22, 0x33, 0x44, 0, 1, 0, 0, 4, 0, 4, 0, 0, 0, 0, 1];
    for tag in [1u32, 0x1234_5678, u32::MAX] {
        client.handle_receive(now, &packet(tag, 1, 0, &init));
    }
    let (mut pair, a_id, b_id) = Pair::with_channel();
    pair.a.handle_receive(pair.now, &packet(pair.tag_to_b, 1, 0, &init));
    pair.a
        .send(a_id, &DataChannelMessage::Binary(b"ping".to_vec()))
        .unwrap();
    pair.run(Duration::from_secs(1));
    assert_eq!(
        messages(&pair.b_events, b_id),
        vec![DataChannelMessage::Binary(b"ping".to_vec())]
    );
}
