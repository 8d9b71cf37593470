//! Two `DataChannels` talking through a simulated network with fake time.
//!
//! The network delays every packet by 5 ms and can drop and reorder packets,
//! driven by a seeded xorshift generator so failures are reproducible.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use rtcpeer_proto::datachannel::{
    ChannelId, DataChannelError, DataChannelEvent, DataChannelInit, DataChannelMessage, DataChannelState, DataChannels,
    DataChannelsConfig,
};

const MAX_MSG: usize = 256 * 1024;

struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    /// True with probability `percent` %.
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

struct InFlight {
    at: Instant,
    to_b: bool,
    packet: Vec<u8>,
}

/// `a` is the DTLS client, `b` the DTLS server.
struct Net {
    a: DataChannels,
    b: DataChannels,
    now: Instant,
    rng: XorShift,
    loss_percent: u64,
    reorder_percent: u64,
    /// Drop everything from a to b while set.
    blackhole_a_to_b: bool,
    in_flight: Vec<InFlight>,
    a_events: Vec<DataChannelEvent>,
    b_events: Vec<DataChannelEvent>,
}

impl Net {
    fn new(seed: u64) -> Net {
        Net::with_configs(seed, DataChannelsConfig::default(), DataChannelsConfig::default())
    }

    fn with_configs(seed: u64, a: DataChannelsConfig, b: DataChannelsConfig) -> Net {
        Net {
            a: DataChannels::new(a),
            b: DataChannels::new(b),
            now: Instant::now(),
            rng: XorShift(seed),
            loss_percent: 0,
            reorder_percent: 0,
            blackhole_a_to_b: false,
            in_flight: Vec::new(),
            a_events: Vec::new(),
            b_events: Vec::new(),
        }
    }

    fn start(&mut self) {
        let b_max = self.b.config().local_max_message_size;
        let a_max = self.a.config().local_max_message_size;
        self.a.start(true, 5000, b_max, self.now);
        self.b.start(false, 5000, a_max, self.now);
    }

    fn send_packets(&mut self) {
        for to_b in [true, false] {
            loop {
                let packet = if to_b {
                    self.a.poll_transmit()
                } else {
                    self.b.poll_transmit()
                };
                let Some(packet) = packet else { break };
                if (to_b && self.blackhole_a_to_b) || self.rng.chance(self.loss_percent) {
                    continue;
                }
                let mut delay = Duration::from_millis(5);
                if self.rng.chance(self.reorder_percent) {
                    delay += Duration::from_millis(1 + self.rng.below(20));
                }
                self.in_flight.push(InFlight {
                    at: self.now + delay,
                    to_b,
                    packet,
                });
            }
        }
    }

    fn collect_events(&mut self) {
        while let Some(e) = self.a.poll_event() {
            self.a_events.push(e);
        }
        while let Some(e) = self.b.poll_event() {
            self.b_events.push(e);
        }
    }

    /// Advances the simulation by one step: deliver what is due, or jump to the next
    /// delivery or timer. Returns false when nothing is left to happen before `end`.
    fn step(&mut self, end: Instant) -> bool {
        self.send_packets();
        self.collect_events();
        let next_delivery = self.in_flight.iter().map(|p| p.at).min();
        let next_timer = [self.a.poll_timeout(), self.b.poll_timeout()]
            .into_iter()
            .flatten()
            .min();
        let Some(next) = [next_delivery, next_timer].into_iter().flatten().min() else {
            return false;
        };
        if next > end {
            self.now = end;
            return false;
        }
        self.now = self.now.max(next);
        let now = self.now;
        let (due, later): (Vec<_>, Vec<_>) = self.in_flight.drain(..).partition(|p| p.at <= now);
        self.in_flight = later;
        for p in due {
            if p.to_b {
                self.b.handle_receive(now, &p.packet);
            } else {
                self.a.handle_receive(now, &p.packet);
            }
        }
        if self.a.poll_timeout().is_some_and(|t| t <= now) {
            self.a.handle_timeout(now);
        }
        if self.b.poll_timeout().is_some_and(|t| t <= now) {
            self.b.handle_timeout(now);
        }
        self.send_packets();
        self.collect_events();
        true
    }

    /// Runs until `done` holds or `limit` of simulated time passed; returns whether `done` held.
    fn run_until(&mut self, limit: Duration, mut done: impl FnMut(&Net) -> bool) -> bool {
        let end = self.now + limit;
        loop {
            if done(self) {
                return true;
            }
            if !self.step(end) {
                return done(self);
            }
        }
    }

    fn run_for(&mut self, duration: Duration) {
        let end = self.now + duration;
        while self.step(end) {}
    }
}

fn opened(events: &[DataChannelEvent], id: ChannelId) -> bool {
    events.contains(&DataChannelEvent::Opened(id))
}

fn remote_created(events: &[DataChannelEvent]) -> Vec<ChannelId> {
    events
        .iter()
        .filter_map(|e| match e {
            DataChannelEvent::RemoteCreated(id) => Some(*id),
            _ => None,
        })
        .collect()
}

fn messages_on(events: &[DataChannelEvent], id: ChannelId) -> Vec<DataChannelMessage> {
    events
        .iter()
        .filter_map(|e| match e {
            DataChannelEvent::Message(c, m) if *c == id => Some(m.clone()),
            _ => None,
        })
        .collect()
}

fn bin(data: &[u8]) -> DataChannelMessage {
    DataChannelMessage::Binary(data.to_vec())
}

/// Opens one in-band channel from a to b and returns (a's handle, b's handle).
fn open_channel(net: &mut Net, label: &str, init: DataChannelInit) -> (ChannelId, ChannelId) {
    let before = remote_created(&net.b_events).len();
    let a_id = net.a.create(label, init).unwrap();
    assert!(
        net.run_until(Duration::from_secs(30), |n| opened(&n.a_events, a_id)
            && remote_created(&n.b_events).len() > before),
        "channel {label} did not open: a {:?} b {:?}",
        net.a_events,
        net.b_events
    );
    let b_id = *remote_created(&net.b_events).last().unwrap();
    // Let the DCEP ACK arrive (so the opener may use unordered delivery) and the
    // OPEN be acknowledged (so it no longer counts in the buffered amount); SACKs
    // may be delayed by up to 200 ms.
    net.run_for(Duration::from_millis(500));
    (a_id, b_id)
}

/// Deterministic content for message `i`: size and bytes derived from the index.
fn payload(i: usize, max: usize) -> Vec<u8> {
    let mut rng = XorShift((i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let len = match i % 4 {
        0 => 1,
        1 => 1 + rng.below(100) as usize,
        2 => 1 + rng.below(max as u64) as usize,
        _ => max,
    };
    (0..len).map(|_| rng.next() as u8).collect()
}

#[test]
fn channels_open_via_dcep_in_both_directions() {
    let mut net = Net::new(1);
    let from_a = net
        .a
        .create(
            "from-a",
            DataChannelInit {
                protocol: "chat".into(),
                ..Default::default()
            },
        )
        .unwrap();
    let from_b = net
        .b
        .create(
            "from-b",
            DataChannelInit {
                ordered: false,
                max_retransmits: Some(2),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(net.a.info(from_a).unwrap().state, DataChannelState::Connecting);
    assert_eq!(
        net.a.send(from_a, &bin(b"early")),
        Err(DataChannelError::InvalidState(DataChannelState::Connecting))
    );
    net.start();
    assert!(net.run_until(Duration::from_secs(5), |n| opened(&n.a_events, from_a)
        && opened(&n.b_events, from_b)
        && remote_created(&n.a_events).len() == 1
        && remote_created(&n.b_events).len() == 1));

    // RFC 8832 §6: the DTLS client uses even stream ids, the server odd ones.
    assert_eq!(net.a.info(from_a).unwrap().stream_id, Some(0));
    assert_eq!(net.b.info(from_b).unwrap().stream_id, Some(1));

    let at_b = remote_created(&net.b_events)[0];
    let info = net.b.info(at_b).unwrap();
    assert_eq!((info.label.as_str(), info.protocol.as_str()), ("from-a", "chat"));
    assert_eq!(
        (info.ordered, info.negotiated, info.stream_id, info.state),
        (true, false, Some(0), DataChannelState::Open)
    );
    // W3C: `datachannel` fires before the channel's `open`.
    let pos = |e: DataChannelEvent| net.b_events.iter().position(|x| *x == e).unwrap();
    assert!(pos(DataChannelEvent::RemoteCreated(at_b)) < pos(DataChannelEvent::Opened(at_b)));

    let at_a = remote_created(&net.a_events)[0];
    let info = net.a.info(at_a).unwrap();
    assert_eq!(info.label, "from-b");
    assert_eq!(
        (info.ordered, info.max_retransmits, info.max_packet_life_time),
        (false, Some(2), None)
    );

    net.a.send(from_a, &DataChannelMessage::Text("hello b".into())).unwrap();
    net.b.send(from_b, &bin(b"hello a")).unwrap();
    net.run_for(Duration::from_millis(100));
    assert_eq!(
        messages_on(&net.b_events, at_b),
        vec![DataChannelMessage::Text("hello b".into())]
    );
    assert_eq!(messages_on(&net.a_events, at_a), vec![bin(b"hello a")]);
}

#[test]
fn negotiated_channel_opens_without_dcep() {
    let mut net = Net::new(2);
    let init = DataChannelInit {
        negotiated: true,
        id: Some(7),
        ..Default::default()
    };
    let a7 = net.a.create("seven", init.clone()).unwrap();
    let b7 = net.b.create("seven", init).unwrap();
    net.start();
    assert!(net.run_until(Duration::from_secs(5), |n| opened(&n.a_events, a7)
        && opened(&n.b_events, b7)));
    assert!(remote_created(&net.a_events).is_empty() && remote_created(&net.b_events).is_empty());
    assert_eq!(net.a.info(a7).unwrap().stream_id, Some(7));
    assert!(net.b.info(b7).unwrap().negotiated);

    net.a.send(a7, &bin(b"ping")).unwrap();
    net.b.send(b7, &bin(b"pong")).unwrap();
    net.run_for(Duration::from_millis(100));
    assert_eq!(messages_on(&net.b_events, b7), vec![bin(b"ping")]);
    assert_eq!(messages_on(&net.a_events, a7), vec![bin(b"pong")]);
    assert!(remote_created(&net.b_events).is_empty(), "no DCEP OPEN was sent");
}

#[test]
fn thousand_ordered_messages_arrive_byte_exact() {
    let mut net = Net::new(3);
    net.start();
    let (a_id, b_id) = open_channel(&mut net, "bulk", DataChannelInit::default());
    let sent: Vec<DataChannelMessage> = (0..1000)
        .map(|i| {
            if i % 3 == 0 {
                bin(&payload(i, 64 * 1024))
            } else {
                DataChannelMessage::Text(hex(&payload(i, 1024)))
            }
        })
        .collect();
    let mut next = 0;
    while next < sent.len() || messages_on(&net.b_events, b_id).len() < sent.len() {
        while next < sent.len() && net.a.info(a_id).unwrap().buffered_amount < 1024 * 1024 {
            net.a.send(a_id, &sent[next]).unwrap();
            next += 1;
        }
        let end = net.now + Duration::from_secs(60);
        assert!(
            net.step(end),
            "stalled with {} of {} delivered",
            messages_on(&net.b_events, b_id).len(),
            sent.len()
        );
    }
    assert_eq!(messages_on(&net.b_events, b_id), sent);
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn empty_messages_keep_their_kind() {
    let mut net = Net::new(4);
    net.start();
    let (a_id, b_id) = open_channel(&mut net, "empty", DataChannelInit::default());
    let sent = vec![
        DataChannelMessage::Text(String::new()),
        DataChannelMessage::Binary(Vec::new()),
        DataChannelMessage::Text("x".into()),
        DataChannelMessage::Binary(vec![0]),
    ];
    for m in &sent {
        net.a.send(a_id, m).unwrap();
    }
    net.run_for(Duration::from_millis(100));
    assert_eq!(messages_on(&net.b_events, b_id), sent);
}

#[test]
fn unordered_max_retransmits_zero_under_loss_delivers_a_subset_without_duplicates() {
    let mut net = Net::new(5);
    net.start();
    let init = DataChannelInit {
        ordered: false,
        max_retransmits: Some(0),
        ..Default::default()
    };
    let (a_id, b_id) = open_channel(&mut net, "lossy", init);
    net.loss_percent = 20;
    for i in 0u32..500 {
        net.a.send(a_id, &bin(&i.to_be_bytes())).unwrap();
        net.run_for(Duration::from_millis(2));
    }
    net.run_for(Duration::from_secs(5));
    let got: Vec<u32> = messages_on(&net.b_events, b_id)
        .into_iter()
        .map(|m| match m {
            DataChannelMessage::Binary(b) => u32::from_be_bytes(b.try_into().unwrap()),
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    let unique: HashSet<u32> = got.iter().copied().collect();
    assert_eq!(unique.len(), got.len(), "duplicates delivered");
    assert!(got.iter().all(|i| *i < 500));
    assert!(
        got.len() < 500,
        "all 500 arrived despite 20 % loss and no retransmissions"
    );
    assert!(got.len() > 250, "only {} of 500 arrived", got.len());
    assert_eq!(net.a.info(a_id).unwrap().state, DataChannelState::Open);
}

#[test]
fn max_packet_life_time_abandons_stale_messages() {
    let mut net = Net::new(6);
    net.start();
    let timed = DataChannelInit {
        max_packet_life_time: Some(100),
        ..Default::default()
    };
    let (a_timed, b_timed) = open_channel(&mut net, "timed", timed);
    let (a_rel, b_rel) = open_channel(&mut net, "reliable", DataChannelInit::default());

    // While a's packets are lost, queue messages on both channels.
    net.blackhole_a_to_b = true;
    for i in 0u8..5 {
        net.a.send(a_timed, &bin(&[i])).unwrap();
        net.a.send(a_rel, &bin(&[i])).unwrap();
    }
    net.run_for(Duration::from_secs(2));
    net.blackhole_a_to_b = false;
    net.a.send(a_timed, &bin(b"fresh")).unwrap();
    net.run_for(Duration::from_secs(20));

    // The reliable channel got everything; the timed one gave up on the stale messages.
    assert_eq!(
        messages_on(&net.b_events, b_rel),
        (0u8..5).map(|i| bin(&[i])).collect::<Vec<_>>()
    );
    assert_eq!(messages_on(&net.b_events, b_timed), vec![bin(b"fresh")]);
}

#[test]
fn max_message_size_is_enforced_on_send() {
    let small = DataChannelsConfig {
        local_max_message_size: 1000,
        ..Default::default()
    };
    let mut net = Net::with_configs(7, DataChannelsConfig::default(), small);
    net.start();
    let (a_id, b_id) = open_channel(&mut net, "small", DataChannelInit::default());
    assert_eq!(
        net.a.send(a_id, &bin(&[1; 1001])),
        Err(DataChannelError::MessageTooLarge { len: 1001, max: 1000 })
    );
    assert_eq!(
        net.a.send(a_id, &DataChannelMessage::Text("é".repeat(501))),
        Err(DataChannelError::MessageTooLarge { len: 1002, max: 1000 })
    );
    net.a.send(a_id, &bin(&[2; 1000])).unwrap();
    // b was told a accepts 256 KiB.
    let big = bin(&vec![3; MAX_MSG]);
    let b_to_a = net.b.info(b_id).unwrap();
    assert_eq!(b_to_a.state, DataChannelState::Open);
    net.b.send(b_id, &big).unwrap();
    net.run_for(Duration::from_secs(2));
    assert_eq!(messages_on(&net.b_events, b_id), vec![bin(&[2; 1000])]);
    assert_eq!(messages_on(&net.a_events, a_id), vec![big]);
}

#[test]
fn buffered_amount_low_fires_when_crossing_the_threshold() {
    let mut net = Net::new(8);
    net.start();
    let (a_id, _) = open_channel(&mut net, "flow", DataChannelInit::default());
    net.a.set_buffered_amount_low_threshold(a_id, 10_000);
    for _ in 0..20 {
        net.a.send(a_id, &bin(&[9; 10_000])).unwrap();
    }
    let info = net.a.info(a_id).unwrap();
    assert_eq!(
        (info.buffered_amount, info.buffered_amount_low_threshold),
        (200_000, 10_000)
    );
    assert!(!net.a_events.contains(&DataChannelEvent::BufferedAmountLow(a_id)));
    net.run_for(Duration::from_secs(1));
    assert_eq!(net.a.info(a_id).unwrap().buffered_amount, 0);
    let lows = net
        .a_events
        .iter()
        .filter(|e| **e == DataChannelEvent::BufferedAmountLow(a_id))
        .count();
    assert_eq!(lows, 1);
}

#[test]
fn closing_in_either_direction_closes_both_sides() {
    let mut net = Net::new(9);
    net.start();
    let (a1, b1) = open_channel(&mut net, "one", DataChannelInit::default());
    let (a2, b2) = open_channel(&mut net, "two", DataChannelInit::default());

    net.a.send(a1, &bin(b"bye")).unwrap();
    net.a.close(a1);
    assert_eq!(net.a.info(a1).unwrap().state, DataChannelState::Closing);
    assert_eq!(
        net.a.send(a1, &bin(b"late")),
        Err(DataChannelError::InvalidState(DataChannelState::Closing))
    );
    net.b.close(b2);
    assert!(net.run_until(Duration::from_secs(5), |n| {
        [(a1, true), (a2, true), (b1, false), (b2, false)]
            .iter()
            .all(|(id, at_a)| {
                let events = if *at_a { &n.a_events } else { &n.b_events };
                events.contains(&DataChannelEvent::Closed(*id))
            })
    }));
    // The data sent before close() still arrived.
    assert_eq!(messages_on(&net.b_events, b1), vec![bin(b"bye")]);
    // The side that did not call close() saw `closing` first.
    assert!(net.b_events.contains(&DataChannelEvent::Closing(b1)));
    assert!(net.a_events.contains(&DataChannelEvent::Closing(a2)));
    for id in [a1, a2] {
        assert_eq!(net.a.info(id).unwrap().state, DataChannelState::Closed);
    }
    for id in [b1, b2] {
        assert_eq!(net.b.info(id).unwrap().state, DataChannelState::Closed);
    }

    // The association survives, and a new channel can be opened on it.
    let (a3, b3) = open_channel(&mut net, "three", DataChannelInit::default());
    net.a.send(a3, &bin(b"again")).unwrap();
    net.run_for(Duration::from_millis(100));
    assert_eq!(messages_on(&net.b_events, b3), vec![bin(b"again")]);
}

#[test]
fn reliable_ordered_delivery_survives_loss_and_reordering() {
    let mut net = Net::new(10);
    net.loss_percent = 10;
    net.reorder_percent = 20;
    net.start();
    let (a_id, b_id) = open_channel(&mut net, "rough", DataChannelInit::default());
    let sent: Vec<DataChannelMessage> = (0..300).map(|i| bin(&payload(i, 16 * 1024))).collect();
    for m in &sent {
        net.a.send(a_id, m).unwrap();
    }
    assert!(
        net.run_until(Duration::from_secs(300), |n| messages_on(&n.b_events, b_id).len()
            == sent.len())
    );
    assert_eq!(messages_on(&net.b_events, b_id), sent);
}

#[test]
fn create_validates_like_the_w3c() {
    let mut dc = DataChannels::new(DataChannelsConfig::default());
    let both = DataChannelInit {
        max_retransmits: Some(1),
        max_packet_life_time: Some(1),
        ..Default::default()
    };
    assert_eq!(dc.create("x", both), Err(DataChannelError::BothReliabilityLimits));
    let no_id = DataChannelInit {
        negotiated: true,
        ..Default::default()
    };
    assert_eq!(dc.create("x", no_id), Err(DataChannelError::NegotiatedWithoutId));
    let reserved = DataChannelInit {
        negotiated: true,
        id: Some(65535),
        ..Default::default()
    };
    assert_eq!(dc.create("x", reserved), Err(DataChannelError::IdOutOfRange(65535)));
    let long = "l".repeat(65536);
    assert_eq!(
        dc.create(&long, DataChannelInit::default()),
        Err(DataChannelError::TooLong {
            field: "label",
            len: 65536
        })
    );
    let long_protocol = DataChannelInit {
        protocol: long.clone(),
        ..Default::default()
    };
    assert_eq!(
        dc.create("x", long_protocol),
        Err(DataChannelError::TooLong {
            field: "protocol",
            len: 65536
        })
    );
    let five = DataChannelInit {
        negotiated: true,
        id: Some(5),
        ..Default::default()
    };
    let first = dc.create("five", five.clone()).unwrap();
    assert_eq!(dc.create("five again", five), Err(DataChannelError::IdInUse(5)));
    assert!(dc.create(&"l".repeat(65535), DataChannelInit::default()).is_ok());
    assert_eq!(dc.ids().count(), 2);

    // Closing a channel that never opened closes it at once.
    dc.close(first);
    assert_eq!(dc.info(first).unwrap().state, DataChannelState::Closed);
    assert_eq!(dc.poll_event(), Some(DataChannelEvent::Closed(first)));
}

#[test]
fn close_all_closes_every_channel_on_both_sides() {
    let mut net = Net::new(11);
    net.start();
    let (a1, b1) = open_channel(&mut net, "one", DataChannelInit::default());
    let (a2, b2) = open_channel(&mut net, "two", DataChannelInit::default());
    net.a.close_all();
    net.run_for(Duration::from_secs(5));
    for id in [a1, a2] {
        assert!(net.a_events.contains(&DataChannelEvent::Closed(id)));
    }
    for id in [b1, b2] {
        assert!(
            net.b_events.contains(&DataChannelEvent::Closed(id)),
            "{:?}",
            net.b_events
        );
    }
    assert!(!net.a.is_connected() && !net.b.is_connected());
    assert_eq!(
        net.b.create("after", DataChannelInit::default()),
        Err(DataChannelError::InvalidState(DataChannelState::Closed))
    );
    assert!(
        net.b_events.iter().all(|e| !matches!(e, DataChannelEvent::Error(..))),
        "orderly close is no error"
    );
}

#[test]
fn garbage_packets_do_not_disturb_the_channels() {
    let mut net = Net::new(12);
    net.start();
    let (a_id, b_id) = open_channel(&mut net, "sturdy", DataChannelInit::default());
    let mut rng = XorShift(99);
    for len in 0..400 {
        let junk: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        net.b.handle_receive(net.now, &junk);
    }
    net.a.send(a_id, &bin(b"still here")).unwrap();
    net.run_for(Duration::from_millis(100));
    assert_eq!(messages_on(&net.b_events, b_id), vec![bin(b"still here")]);
}

#[test]
fn a_peer_ignoring_our_max_message_size_is_not_delivered_oversized_messages() {
    let small = DataChannelsConfig {
        local_max_message_size: 1000,
        ..Default::default()
    };
    let mut net = Net::with_configs(13, DataChannelsConfig::default(), small);
    // a is told the wrong limit, as a misbehaving peer would be.
    net.a.start(true, 5000, MAX_MSG, net.now);
    net.b.start(false, 5000, MAX_MSG, net.now);
    let (a_id, b_id) = open_channel(&mut net, "greedy", DataChannelInit::default());
    net.a.send(a_id, &bin(&[5; 1000])).unwrap();
    net.run_for(Duration::from_millis(500));
    net.a.send(a_id, &bin(&[6; 5000])).unwrap();
    net.run_for(Duration::from_secs(5));
    assert_eq!(messages_on(&net.b_events, b_id), vec![bin(&[5; 1000])]);
    assert!(
        net.b_events.contains(&DataChannelEvent::Closed(b_id)),
        "{:?}",
        net.b_events
    );
}
