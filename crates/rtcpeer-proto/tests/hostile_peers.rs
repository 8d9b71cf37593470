//! A hostile or broken peer must never take a connection down, get data through
//! that it could not authenticate, or make us hold memory without bound. Each test
//! plays one misbehaviour against the sans-IO stack and checks what a user would
//! observe: the counters that record the drop, the events that did (not) happen,
//! and that the connection still carries data afterwards.
//!
//! Covered elsewhere, and not repeated here:
//! - a DTLS certificate that does not match the remote fingerprint fails the connection
//!   and it never reaches `connected`: `two_peers.rs`,
//!   `wrong_remote_fingerprint_fails_and_never_connects` (and, below the peer connection,
//!   `dtls_transport.rs`, `client_rejects_server_with_wrong_fingerprint`);
//! - forged SRTP and RTP-looking garbage are counted as authentication failures:
//!   `media.rs`, `tampered_and_replayed_srtp_is_dropped_and_counted`;
//! - a peer that sends a message larger than our `max-message-size` gets its channel
//!   closed and the message is never delivered: `datachannels.rs`,
//!   `a_peer_ignoring_our_max_message_size_is_not_delivered_oversized_messages`;
//! - garbage over real loopback sockets at a connected runtime peer is counted and the
//!   channel keeps working: `crates/rtcpeer/tests/loopback.rs`,
//!   `garbage_datagrams_are_dropped_and_the_connection_keeps_working`.
//!
//! Every limit is listed in `docs/LIMITS.md`.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::{connect_with_channel, LinkConditions, Sim};
use rtcpeer_proto::datachannel::dcep::{ChannelReliability, ChannelType, DataChannelOpen, DcepMessage};
use rtcpeer_proto::datachannel::{
    ppid, ChannelId, DataChannelError, DataChannelEvent, DataChannelInit, DataChannelMessage, DataChannelState,
    DataChannels, DataChannelsConfig, MAX_CHANNELS, MAX_QUEUED_MESSAGE_BYTES,
};
use rtcpeer_proto::jsep::Codec;
use rtcpeer_proto::net::{Receive, Transmit};
use rtcpeer_proto::peer::{
    IceCandidateInit, MediaFrame, PeerConnectionState, PeerEvent, RtcError, SessionDescriptionInit, TrackInit,
};
use rtcpeer_proto::sctp::{Reliability, SctpAssociation, SctpConfig, SctpEvent};
use rtcpeer_proto::stun::{Attribute, Class, Integrity, Message, Method, TransactionId};

/// An address no connectivity check ever validated.
const STRANGER: &str = "127.0.0.9:9";

fn stranger() -> SocketAddr {
    STRANGER.parse().expect("address")
}

/// A data channel from a to b, open on both sides: (a's id, b's id).
fn connected_with_channel(seed: u64) -> (Sim, ChannelId, ChannelId) {
    let mut sim = Sim::new(seed, LinkConditions::perfect());
    let (a_ch, b_ch) = connect_with_channel(&mut sim, DataChannelInit::default());
    (sim, a_ch, b_ch)
}

fn messages_on(events: &[PeerEvent], id: ChannelId) -> Vec<DataChannelMessage> {
    events
        .iter()
        .filter_map(|e| match e {
            PeerEvent::ChannelMessage(c, m) if *c == id => Some(m.clone()),
            _ => None,
        })
        .collect()
}

/// Everything `a` wants to send right now, taken before the simulated network sees it.
fn take_transmits_of_a(sim: &mut Sim) -> Vec<Transmit> {
    std::iter::from_fn(|| sim.a.pc.poll_transmit()).collect()
}

fn deliver_to_b(sim: &mut Sim, source: SocketAddr, contents: &[u8]) {
    let receive = Receive {
        source,
        destination: sim.b.addr,
        contents,
    };
    let now = sim.now;
    sim.b.pc.handle_receive(now, receive);
}

/// An SDP attribute's value in a description (`a=NAME:value`).
fn sdp_attribute(sdp: &str, name: &str) -> String {
    let prefix = format!("a={name}:");
    sdp.lines()
        .find_map(|l| l.strip_prefix(prefix.as_str()))
        .unwrap_or_else(|| panic!("no a={name} in {sdp}"))
        .trim()
        .to_string()
}

/// A connectivity check from a to b as a genuine ICE agent would build it, protected with
/// `key` (b's ice-pwd for a genuine one).
fn binding_request(sim: &Sim, key: &[u8]) -> Vec<u8> {
    let a_sdp = sim.a.pc.local_description().unwrap().sdp;
    let b_sdp = sim.b.pc.local_description().unwrap().sdp;
    let username = format!(
        "{}:{}",
        sdp_attribute(&b_sdp, "ice-ufrag"),
        sdp_attribute(&a_sdp, "ice-ufrag")
    );
    Message::new(Class::Request, Method::BINDING, TransactionId::random())
        .with(Attribute::Username(username))
        .with(Attribute::Priority(0x6e00_01ff))
        .with(Attribute::IceControlling(7))
        .encode_with(Some(Integrity::Sha1(key)), true)
        .unwrap()
}

#[test]
fn stun_with_a_wrong_message_integrity_or_fingerprint_is_ignored_and_counted() {
    let (mut sim, a_ch, b_ch) = connected_with_channel(21);
    let b_pwd = sdp_attribute(&sim.b.pc.local_description().unwrap().sdp, "ice-pwd");
    let a_addr = sim.a.addr;

    // Control: a request built this way with the right key is accepted.
    let before = sim.b.pc.ice_stats().clone();
    let genuine = binding_request(&sim, b_pwd.as_bytes());
    deliver_to_b(&mut sim, a_addr, &genuine);
    let after = sim.b.pc.ice_stats().clone();
    assert_eq!(after.requests_accepted, before.requests_accepted + 1, "{after:?}");

    // The wrong key: MESSAGE-INTEGRITY does not verify.
    let wrong_key = binding_request(&sim, b"not the password at all");
    deliver_to_b(&mut sim, a_addr, &wrong_key);
    let stats = sim.b.pc.ice_stats().clone();
    assert_eq!(stats.bad_integrity, after.bad_integrity + 1, "{stats:?}");
    assert_eq!(stats.requests_accepted, after.requests_accepted);

    // The right key, a FINGERPRINT that does not match (last byte flipped).
    let mut broken = binding_request(&sim, b_pwd.as_bytes());
    *broken.last_mut().unwrap() ^= 0x01;
    deliver_to_b(&mut sim, a_addr, &broken);
    let last = sim.b.pc.ice_stats().clone();
    assert_eq!(last.bad_fingerprint, stats.bad_fingerprint + 1, "{last:?}");
    assert_eq!(last.requests_accepted, stats.requests_accepted);

    // Nothing changed for the user: still connected, data still flows.
    sim.a.pc.send(a_ch, &DataChannelMessage::Text("after".into())).unwrap();
    sim.run_until(Duration::from_secs(1), |_| false);
    assert!(sim.connected());
    assert_eq!(
        messages_on(&sim.b.events, b_ch),
        vec![DataChannelMessage::Text("after".into())]
    );
}

#[test]
fn dtls_from_an_address_that_passed_no_check_is_dropped_and_counted() {
    let (mut sim, a_ch, b_ch) = connected_with_channel(22);
    let message = DataChannelMessage::Binary(vec![7; 300]);
    sim.a.pc.send(a_ch, &message).unwrap();
    let records = take_transmits_of_a(&mut sim);
    assert!(!records.is_empty(), "a sent nothing for the message");
    let drops = sim.b.pc.drop_counters();

    for t in &records {
        deliver_to_b(&mut sim, stranger(), &t.contents);
    }
    sim.b.collect_events();
    assert_eq!(
        sim.b.pc.drop_counters().unexpected_source,
        drops.unexpected_source + records.len() as u64
    );
    assert!(
        messages_on(&sim.b.events, b_ch).is_empty(),
        "data from a stranger delivered"
    );

    // The same records from the validated address are taken.
    for t in &records {
        deliver_to_b(&mut sim, t.source, &t.contents);
    }
    sim.run_until(Duration::from_secs(1), |_| false);
    assert_eq!(messages_on(&sim.b.events, b_ch), vec![message]);
    assert!(sim.connected());
}

/// a and b connected, a sending VP8 on one transceiver; returns a's transceiver.
fn connected_with_video(seed: u64) -> (Sim, rtcpeer_proto::peer::TransceiverId) {
    let mut sim = Sim::new(seed, LinkConditions::perfect());
    let track = TrackInit {
        id: "camera".into(),
        codec: Codec::Vp8,
        stream_ids: vec!["s".into()],
    };
    let id = sim.a.pc.add_track(track).unwrap();
    sim.negotiate();
    assert!(
        sim.run_until(Duration::from_secs(10), |s| s.connected()),
        "did not connect"
    );
    (sim, id)
}

/// One small VP8 keyframe, protected by a: its SRTP packets.
fn srtp_packets_of_one_frame(sim: &mut Sim, id: rtcpeer_proto::peer::TransceiverId, index: u8) -> Vec<Transmit> {
    let mut data = vec![index; 400];
    data[0] = 0x00; // keyframe
    let frame = MediaFrame {
        data: data.into(),
        pts: Duration::from_millis(33 * u64::from(index)),
    };
    let now = sim.now;
    sim.a.pc.write_frame(now, id, &frame).unwrap();
    let packets: Vec<Transmit> = take_transmits_of_a(sim)
        .into_iter()
        .filter(|t| t.contents.first().is_some_and(|b| (128..192).contains(b)))
        .collect();
    assert!(!packets.is_empty(), "a sent no SRTP for the frame");
    packets
}

#[test]
fn srtp_from_an_address_that_passed_no_check_is_dropped_and_counted() {
    let (mut sim, id) = connected_with_video(23);
    let packets = srtp_packets_of_one_frame(&mut sim, id, 1);
    let (drops, media) = (sim.b.pc.drop_counters(), sim.b.pc.media_counters());
    for t in &packets {
        deliver_to_b(&mut sim, stranger(), &t.contents);
    }
    assert_eq!(
        sim.b.pc.drop_counters().unexpected_source,
        drops.unexpected_source + packets.len() as u64
    );
    assert_eq!(sim.b.pc.media_counters().rtp_received, media.rtp_received);
    // From the right address they count as received media.
    for t in &packets {
        deliver_to_b(&mut sim, t.source, &t.contents);
    }
    assert_eq!(
        sim.b.pc.media_counters().rtp_received,
        media.rtp_received + packets.len() as u64
    );
}

#[test]
fn replayed_and_forged_srtp_is_dropped_and_counted() {
    let (mut sim, id) = connected_with_video(24);
    let packets = srtp_packets_of_one_frame(&mut sim, id, 2);
    let first = sim.b.pc.media_counters();
    for t in &packets {
        deliver_to_b(&mut sim, t.source, &t.contents);
    }
    let taken = sim.b.pc.media_counters();
    assert_eq!(taken.rtp_received, first.rtp_received + packets.len() as u64);

    // The same packets again: replays.
    for t in &packets {
        deliver_to_b(&mut sim, t.source, &t.contents);
    }
    let replayed = sim.b.pc.media_counters();
    assert_eq!(
        replayed.srtp_replays,
        taken.srtp_replays + packets.len() as u64,
        "{replayed:?}"
    );
    assert_eq!(replayed.rtp_received, taken.rtp_received);

    // A fresh genuine packet with one payload bit flipped: authentication fails.
    let genuine = srtp_packets_of_one_frame(&mut sim, id, 3).remove(0);
    let mut forged = genuine.contents.to_vec();
    let middle = forged.len() / 2;
    forged[middle] ^= 0x10;
    deliver_to_b(&mut sim, genuine.source, &forged);
    let last = sim.b.pc.media_counters();
    assert_eq!(last.srtp_auth_failures, replayed.srtp_auth_failures + 1, "{last:?}");
    assert_eq!(last.rtp_received, replayed.rtp_received);
    assert_eq!(sim.b.pc.connection_state(), PeerConnectionState::Connected);
}

#[test]
fn a_message_above_the_remote_max_message_size_is_refused_and_the_channel_stays_up() {
    let (mut sim, a_ch, b_ch) = connected_with_channel(25);
    let b_sdp = sim.b.pc.local_description().unwrap().sdp;
    let max: usize = sdp_attribute(&b_sdp, "max-message-size").parse().unwrap();
    let too_big = DataChannelMessage::Binary(vec![1; max + 1]);
    match sim.a.pc.send(a_ch, &too_big) {
        Err(RtcError::Type(text)) => assert!(text.contains(&max.to_string()), "{text}"),
        other => panic!("expected a TypeError naming the limit, got {other:?}"),
    }
    let fits = DataChannelMessage::Binary(vec![2; max]);
    sim.a.pc.send(a_ch, &fits).unwrap();
    sim.run_until(Duration::from_secs(5), |s| {
        s.b.collect_events();
        !messages_on(&s.b.events, b_ch).is_empty()
    });
    assert_eq!(messages_on(&sim.b.events, b_ch), vec![fits]);
    assert_eq!(
        sim.a.pc.data_channel(a_ch).map(|i| i.state),
        Some(DataChannelState::Open)
    );
    assert!(sim.connected());
}

#[test]
fn remote_candidates_beyond_the_limit_are_refused_and_counted() {
    let now = Instant::now();
    let mut sim = Sim::new(26, LinkConditions::perfect());
    sim.a.pc.create_data_channel("x", DataChannelInit::default()).unwrap();
    let offer = sim.a.pc.create_offer().unwrap();
    sim.b.pc.set_remote_description(now, offer).unwrap();
    let ufrag = sdp_attribute(&sim.b.pc.remote_description().unwrap().sdp, "ice-ufrag");
    let mut errors = 0;
    for i in 0..300u32 {
        let line = format!(
            "candidate:{i} 1 udp {} 127.0.{}.{} {} typ host",
            2_000_000_000 - i,
            1 + i / 250,
            1 + i % 250,
            30000 + i
        );
        let init = IceCandidateInit {
            candidate: line,
            sdp_mid: None,
            sdp_m_line_index: Some(0),
            username_fragment: Some(ufrag.clone()),
        };
        if sim.b.pc.add_ice_candidate(now, Some(init)).is_err() {
            errors += 1;
        }
    }
    assert_eq!(errors, 0, "a valid candidate over the limit is ignored, not an error");
    let stats = sim.b.pc.ice_stats();
    assert_eq!(stats.remote_candidates_refused, 200, "{stats:?}");
}

/// A raw SCTP association playing the other DTLS role against our `DataChannels`: it can send
/// DCEP and data on any stream it likes.
struct RawPeer {
    raw: SctpAssociation,
    ours: DataChannels,
    now: Instant,
    /// Events of `ours`, unless the test holds them back.
    events: Vec<DataChannelEvent>,
    /// Whether the application of `ours` reads its events.
    app_reads: bool,
    raw_events: Vec<SctpEvent>,
}

impl RawPeer {
    /// Our side is the DTLS server: the raw peer opens even stream ids.
    fn connected() -> RawPeer {
        RawPeer::connected_as(false)
    }

    fn connected_as(ours_is_dtls_client: bool) -> RawPeer {
        let now = Instant::now();
        let mut ours = DataChannels::new(DataChannelsConfig::default());
        ours.start(ours_is_dtls_client, 5000, 256 * 1024, now);
        let mut peer = RawPeer {
            raw: SctpAssociation::new(SctpConfig::new(!ours_is_dtls_client), now),
            ours,
            now,
            events: Vec::new(),
            app_reads: true,
            raw_events: Vec::new(),
        };
        peer.run(Duration::from_millis(200));
        assert!(peer.raw.is_connected() && peer.ours.is_connected(), "no association");
        peer
    }

    /// Moves packets both ways (instantly) and fires timers for `duration` of virtual time.
    fn run(&mut self, duration: Duration) {
        let end = self.now + duration;
        loop {
            let mut moved = true;
            while moved {
                moved = false;
                while let Some(p) = self.raw.poll_transmit() {
                    self.ours.handle_receive(self.now, &p);
                    moved = true;
                }
                while let Some(p) = self.ours.poll_transmit() {
                    self.raw.handle_receive(self.now, &p);
                    moved = true;
                }
                while let Some(e) = self.raw.poll_event() {
                    self.raw_events.push(e);
                }
                if self.app_reads {
                    while let Some(e) = self.ours.poll_event() {
                        self.events.push(e);
                    }
                }
            }
            let next = [self.raw.poll_timeout(), self.ours.poll_timeout()]
                .into_iter()
                .flatten()
                .min();
            match next {
                Some(t) if t <= end => {
                    self.now = self.now.max(t);
                    self.raw.handle_timeout(self.now);
                    self.ours.handle_timeout(self.now);
                }
                _ => {
                    self.now = end;
                    return;
                }
            }
        }
    }

    fn open(&mut self, stream: u16, label: &str) {
        let open = DcepMessage::Open(DataChannelOpen {
            channel_type: ChannelType {
                ordered: true,
                reliability: ChannelReliability::Reliable,
            },
            priority: 256,
            label: label.into(),
            protocol: String::new(),
        });
        self.raw
            .send(stream, ppid::DCEP, &open.encode().unwrap(), true, Reliability::Reliable)
            .unwrap();
    }

    fn remote_created(&self) -> Vec<ChannelId> {
        self.events
            .iter()
            .filter_map(|e| match e {
                DataChannelEvent::RemoteCreated(id) => Some(*id),
                _ => None,
            })
            .collect()
    }

    fn reset_streams(&self) -> Vec<u16> {
        self.raw_events
            .iter()
            .filter_map(|e| match e {
                SctpEvent::StreamReset { stream } => Some(*stream),
                _ => None,
            })
            .collect()
    }
}

#[test]
fn dcep_opens_on_invalid_or_duplicate_stream_ids_are_rejected() {
    let mut peer = RawPeer::connected();
    peer.open(2, "first");
    peer.run(Duration::from_millis(100));
    let created = peer.remote_created();
    assert_eq!(created.len(), 1);
    let first = created[0];
    assert_eq!(peer.ours.info(first).unwrap().label, "first");

    // The same stream again: no second channel, the first keeps its label and stays open.
    peer.open(2, "impostor");
    // A stream id of the DTLS server's parity (odd): RFC 8832 §6 gives those to us.
    peer.open(3, "wrong parity");
    peer.run(Duration::from_millis(500));
    assert_eq!(peer.remote_created(), vec![first], "{:?}", peer.events);
    assert_eq!(peer.ours.info(first).unwrap().label, "first");
    assert_eq!(peer.ours.info(first).unwrap().state, DataChannelState::Open);
    let reset = peer.reset_streams();
    assert!(reset.contains(&3), "streams reset: {reset:?}");
    assert!(!reset.contains(&2), "the genuine channel was reset");

    // The genuine channel still carries data.
    peer.raw
        .send(2, ppid::STRING, b"still here", true, Reliability::Reliable)
        .unwrap();
    peer.run(Duration::from_millis(100));
    assert!(peer.events.contains(&DataChannelEvent::Message(
        first,
        DataChannelMessage::Text("still here".into())
    )));
}

#[test]
fn a_dcep_open_on_the_reserved_stream_id_is_rejected() {
    // 65535 is reserved (RFC 8831 §6.5). It is odd, so only a DTLS server may try it: with
    // our side the DTLS server, the parity check alone would refuse it.
    let mut peer = RawPeer::connected_as(true);
    peer.open(65535, "reserved");
    peer.open(1, "genuine");
    peer.run(Duration::from_millis(500));
    let created = peer.remote_created();
    assert_eq!(created.len(), 1, "{:?}", peer.events);
    assert_eq!(peer.ours.info(created[0]).unwrap().label, "genuine");
    assert_eq!(peer.reset_streams(), vec![65535]);
}

#[test]
fn a_peer_cannot_open_more_than_max_channels() {
    let mut peer = RawPeer::connected();
    let extra = 16;
    for i in 0..(MAX_CHANNELS + extra) {
        peer.open((2 * i) as u16, "c");
        if i % 64 == 63 {
            peer.run(Duration::from_millis(10));
        }
    }
    peer.run(Duration::from_millis(500));
    assert_eq!(peer.remote_created().len(), MAX_CHANNELS);
    assert_eq!(peer.ours.ids().count(), MAX_CHANNELS);
    assert_eq!(
        peer.reset_streams().len(),
        extra,
        "every refused OPEN is answered by a reset"
    );
    // Our own side cannot go past the limit either.
    assert_eq!(
        peer.ours.create("mine", DataChannelInit::default()),
        Err(DataChannelError::TooManyChannels)
    );
}

#[test]
fn a_peer_sending_faster_than_the_application_reads_is_held_back() {
    let mut peer = RawPeer::connected();
    peer.open(2, "flood");
    peer.run(Duration::from_millis(100));
    let channel = peer.remote_created()[0];
    // The application stops reading; the peer tries to push 24 MiB.
    peer.app_reads = false;
    let chunk = vec![0xAB; 64 * 1024];
    let mut queued = 0usize;
    for _ in 0..384 {
        if peer
            .raw
            .send(2, ppid::BINARY, &chunk, true, Reliability::Reliable)
            .is_ok()
        {
            queued += chunk.len();
        }
        peer.run(Duration::from_millis(20));
    }
    peer.run(Duration::from_secs(2));
    // Flow control holds the rest at the sender: what we took is bounded.
    let waiting = peer.raw.buffered_amount(2);
    let taken = queued - waiting;
    assert!(waiting > 0, "nothing held back: the receiver took all {queued} bytes");
    assert!(
        taken <= MAX_QUEUED_MESSAGE_BYTES + 2 * 1024 * 1024,
        "took {taken} bytes while the application read nothing"
    );

    // Once the application reads again, everything arrives.
    peer.app_reads = true;
    let mut received = 0usize;
    for _ in 0..2000 {
        peer.run(Duration::from_millis(50));
        received = peer
            .events
            .iter()
            .map(|e| match e {
                DataChannelEvent::Message(c, m) if *c == channel => m.len(),
                _ => 0,
            })
            .sum();
        if received == queued {
            break;
        }
    }
    assert_eq!(received, queued);
}

#[test]
fn forged_answer_fingerprint_line_is_checked_before_connecting() {
    // A remote description whose fingerprint is not hex is refused at once, with no state change.
    let mut sim = Sim::new(27, LinkConditions::perfect());
    sim.a.pc.create_data_channel("x", DataChannelInit::default()).unwrap();
    let offer = sim.a.pc.create_offer().unwrap();
    sim.a.pc.set_local_description(sim.now, Some(offer.clone())).unwrap();
    sim.b.pc.set_remote_description(sim.now, offer).unwrap();
    let answer = sim.b.pc.create_answer().unwrap();
    let fp = sdp_attribute(&answer.sdp, "fingerprint");
    let tampered = answer.sdp.replace(
        &fp,
        "sha-256 ZZ:ZZ:ZZ:ZZ:ZZ:ZZ:ZZ:ZZ:ZZ:ZZ:ZZ:ZZ:ZZ:ZZ:ZZ:ZZ:ZZ:ZZ:ZZ:ZZ:ZZ:ZZ:ZZ:ZZ:ZZ:ZZ:ZZ:ZZ:ZZ:ZZ:ZZ:ZZ",
    );
    let state = sim.a.pc.signaling_state();
    assert!(sim
        .a
        .pc
        .set_remote_description(sim.now, SessionDescriptionInit::answer(tampered))
        .is_err());
    assert_eq!(sim.a.pc.signaling_state(), state);
    assert!(sim.a.pc.remote_description().is_none());
}

/// `offer` with its one video section repeated `count` times (mids `v0`, `v1`, …, all bundled),
/// as a peer that wants us to hold `count` transceivers would send it.
fn with_video_sections(offer: &SessionDescriptionInit, count: usize) -> SessionDescriptionInit {
    let sdp = &offer.sdp;
    let starts: Vec<usize> = sdp.match_indices("m=").map(|(i, _)| i).collect();
    let (session, sections) = sdp.split_at(starts[0]);
    let mut ends = starts[1..].iter().map(|i| i - starts[0]).collect::<Vec<_>>();
    ends.push(sections.len());
    let mut begin = 0;
    let mut video = String::new();
    let mut others = Vec::new();
    for end in ends {
        let section = &sections[begin..end];
        if section.starts_with("m=video") {
            video = section.to_string();
        } else {
            others.push(section.to_string());
        }
        begin = end;
    }
    let mid_of = |section: &str| {
        section
            .lines()
            .find_map(|l| l.strip_prefix("a=mid:"))
            .expect("a mid")
            .to_string()
    };
    let video_mid = mid_of(&video);
    // The copies carry no SSRCs or msid: only their number matters.
    let bare: String = video
        .split_inclusive("\r\n")
        .filter(|l| !l.starts_with("a=ssrc") && !l.starts_with("a=msid"))
        .collect();
    let copies: Vec<String> = (0..count)
        .map(|i| bare.replace(&format!("a=mid:{video_mid}\r\n"), &format!("a=mid:v{i}\r\n")))
        .collect();
    let mids: Vec<String> = (0..count)
        .map(|i| format!("v{i}"))
        .chain(others.iter().map(|s| mid_of(s)))
        .collect();
    let session: String = session
        .split_inclusive("\r\n")
        .map(|l| {
            if l.starts_with("a=group:BUNDLE") {
                format!("a=group:BUNDLE {}\r\n", mids.join(" "))
            } else {
                l.to_string()
            }
        })
        .collect();
    SessionDescriptionInit {
        sdp: format!("{session}{}{}", copies.concat(), others.concat()),
        kind: offer.kind,
    }
}

#[test]
fn a_remote_offer_needing_more_than_64_transceivers_is_refused_whole_and_the_connection_goes_on() {
    let (mut sim, a_ch, b_ch) = connected_with_channel(29);
    sim.a
        .pc
        .add_track(TrackInit {
            id: "camera".into(),
            codec: Codec::Vp8,
            stream_ids: vec![],
        })
        .unwrap();
    let offer = sim.a.pc.create_offer().unwrap();
    let hostile = with_video_sections(&offer, 65);
    assert_eq!(hostile.sdp.matches("m=video").count(), 65);
    let before = sim.b.pc.remote_description();
    match sim.b.pc.set_remote_description(sim.now, hostile) {
        Err(e @ RtcError::Operation(_)) => {
            assert_eq!(e.name(), "OperationError");
            assert!(e.to_string().contains("64"), "{e}");
        }
        other => panic!("expected an OperationError naming the limit, got {other:?}"),
    }
    // Nothing of the offer was applied.
    assert_eq!(sim.b.pc.signaling_state(), rtcpeer_proto::peer::SignalingState::Stable);
    assert!(sim.b.pc.transceivers().is_empty());
    assert_eq!(sim.b.pc.remote_description(), before);
    // The channel still carries data, and an honest offer still negotiates.
    sim.a
        .pc
        .send(a_ch, &DataChannelMessage::Text("still here".into()))
        .unwrap();
    assert!(sim.run_until(Duration::from_secs(2), |s| {
        s.b.collect_events();
        messages_on(&s.b.events, b_ch).contains(&DataChannelMessage::Text("still here".into()))
    }));
    sim.negotiate();
    assert_eq!(sim.b.pc.transceivers().len(), 1);
    assert!(sim.run_until(Duration::from_secs(2), |s| s.connected()));

    // 64 media sections (65 m-lines with the data section) are within the limit.
    let mut sim = Sim::new(30, LinkConditions::perfect());
    sim.a.pc.create_data_channel("c", DataChannelInit::default()).unwrap();
    sim.a
        .pc
        .add_track(TrackInit {
            id: "camera".into(),
            codec: Codec::Vp8,
            stream_ids: vec![],
        })
        .unwrap();
    let offer = with_video_sections(&sim.a.pc.create_offer().unwrap(), 64);
    assert_eq!(offer.sdp.matches("m=").count(), 65);
    sim.b
        .pc
        .set_remote_description(sim.now, offer)
        .expect("64 media sections");
    assert_eq!(sim.b.pc.transceivers().len(), 64);
    let answer = sim.b.pc.create_answer().unwrap();
    assert_eq!(answer.sdp.matches("m=video 9 ").count(), 64, "{}", answer.sdp);
}

#[test]
fn a_connection_holds_at_most_64_transceivers() {
    let mut sim = Sim::new(28, LinkConditions::perfect());
    let track = |i: usize| TrackInit {
        id: format!("t{i}"),
        codec: Codec::Vp8,
        stream_ids: vec![],
    };
    for i in 0..64 {
        sim.a.pc.add_track(track(i)).unwrap();
    }
    match sim.a.pc.add_track(track(64)) {
        Err(RtcError::Operation(text)) => assert!(text.contains("64"), "{text}"),
        other => panic!("expected an OperationError naming the limit, got {other:?}"),
    }
    assert_eq!(sim.a.pc.transceivers().len(), 64);
}
