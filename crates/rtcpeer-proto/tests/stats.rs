//! `getStats` of two sans-IO peers on a simulated network, with a data channel and a VP8
//! track: every reference resolves, and the counters match what was sent.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{LinkConditions, Sim};
use rtcpeer_proto::datachannel::{ChannelId, DataChannelInit, DataChannelMessage};
use rtcpeer_proto::jsep::Codec;
use rtcpeer_proto::peer::{MediaFrame, PeerEvent, StatsSelector, TrackInit, TransceiverId};
use rtcpeer_proto::stats::*;

/// Wallclock of the simulation's start, in ms since the UNIX epoch.
const EPOCH_MS: f64 = 1_767_225_600_000.0;
const DELAY: Duration = Duration::from_millis(20);
const FRAMES: usize = 60;

fn report(sim: &Sim, a: bool) -> StatsReport {
    let ms = EPOCH_MS + sim.elapsed().as_secs_f64() * 1000.0;
    let peer = if a { &sim.a } else { &sim.b };
    peer.pc.get_stats(sim.now, ms)
}

fn only(report: &StatsReport, kind: StatsType) -> &Stats {
    let all: Vec<&Stats> = report.of_type(kind).collect();
    assert_eq!(all.len(), 1, "{} objects of type {}: {all:?}", all.len(), kind.as_str());
    all[0]
}

macro_rules! body {
    ($stats:expr, $variant:ident) => {
        match &$stats.kind {
            StatsKind::$variant(s) => s,
            other => panic!("expected {}, got {other:?}", stringify!($variant)),
        }
    };
}

struct Scenario {
    sim: Sim,
    video: TransceiverId,
    channel: ChannelId,
    a_messages: Vec<String>,
    b_messages: Vec<String>,
}

/// a sends video and opens a channel; both send messages; then the link runs 4 s more.
fn scenario() -> Scenario {
    let link = LinkConditions {
        delay: DELAY,
        ..LinkConditions::perfect()
    };
    let mut sim = Sim::new(61, link);
    let video = sim
        .a
        .pc
        .add_track(TrackInit {
            id: "camera".into(),
            codec: Codec::Vp8,
            stream_ids: vec!["s".into()],
        })
        .expect("add_track");
    let channel = sim
        .a
        .pc
        .create_data_channel("chat", DataChannelInit::default())
        .expect("channel");
    sim.negotiate();
    let b_channel = std::cell::Cell::new(None);
    assert!(
        sim.run_until(Duration::from_secs(10), |s| {
            if let Some(id) = s.b.events.iter().find_map(|e| match e {
                PeerEvent::ChannelOpen(id) => Some(*id),
                _ => None,
            }) {
                b_channel.set(Some(id));
            }
            s.a.events.contains(&PeerEvent::ChannelOpen(channel)) && b_channel.get().is_some() && s.connected()
        }),
        "did not connect"
    );
    let b_channel = b_channel.get().expect("b's channel");

    let a_messages: Vec<String> = (0..5).map(|i| format!("hello {i}").repeat(i + 1)).collect();
    let b_messages: Vec<String> = vec!["hi".into(), "ünïcödé".into()];
    for m in &a_messages {
        sim.a
            .pc
            .send(channel, &DataChannelMessage::Text(m.clone()))
            .expect("send");
    }
    for m in &b_messages {
        sim.b
            .pc
            .send(b_channel, &DataChannelMessage::Text(m.clone()))
            .expect("send");
    }
    for i in 0..FRAMES {
        let mut data: Vec<u8> = (0..1500 + i * 40).map(|n| (n * 7 + i) as u8).collect();
        data[0] = if i % 30 == 0 { 0x00 } else { 0x01 };
        let frame = MediaFrame {
            data: data.into(),
            pts: Duration::from_millis(33 * i as u64),
        };
        let now = sim.now;
        sim.a.pc.write_frame(now, video, &frame).expect("write_frame");
        sim.run_until(Duration::from_millis(33), |_| false);
    }
    sim.run_until(Duration::from_secs(4), |_| false);
    Scenario {
        sim,
        video,
        channel,
        a_messages,
        b_messages,
    }
}

#[test]
fn a_report_refers_only_to_objects_it_holds_and_has_the_browser_types() {
    let s = scenario();
    for (name, a) in [("a", true), ("b", false)] {
        let r = report(&s.sim, a);
        assert!(
            r.dangling_references().is_empty(),
            "{name}: {:?}",
            r.dangling_references()
        );
        let ts = EPOCH_MS + s.sim.elapsed().as_secs_f64() * 1000.0;
        assert!(r.iter().all(|st| st.timestamp == ts), "{name}: timestamps");

        // The JSON is one object keyed by id, every member naming its own id and a known type.
        let json: serde_json::Value = serde_json::from_str(&r.to_json()).expect("json");
        let object = json.as_object().expect("an object");
        assert_eq!(object.len(), r.len());
        for (id, value) in object {
            assert_eq!(value["id"], id.as_str());
            assert!(value["timestamp"].is_f64(), "{id}");
        }
        let types: BTreeSet<&str> = object.values().filter_map(|v| v["type"].as_str()).collect();
        let mut expected = vec![
            "peer-connection",
            "transport",
            "candidate-pair",
            "local-candidate",
            "remote-candidate",
            "certificate",
            "codec",
            "data-channel",
        ];
        if a {
            expected.extend(["outbound-rtp", "remote-inbound-rtp", "media-source"]);
        } else {
            expected.extend(["inbound-rtp", "remote-outbound-rtp"]);
        }
        let expected: BTreeSet<&str> = expected.into_iter().collect();
        assert_eq!(types, expected, "{name}");
        assert_eq!(StatsReport::from_json(&r.to_json()).expect("reads back"), r);
    }
}

#[test]
fn transport_pair_and_certificates_agree_between_the_peers() {
    let s = scenario();
    let (ra, rb) = (report(&s.sim, true), report(&s.sim, false));
    let ta = body!(only(&ra, StatsType::Transport), Transport);
    let tb = body!(only(&rb, StatsType::Transport), Transport);
    assert_eq!(
        (ta.dtls_state, tb.dtls_state),
        (StatsDtlsState::Connected, StatsDtlsState::Connected)
    );
    assert_eq!(
        (ta.ice_role, tb.ice_role),
        (StatsIceRole::Controlling, StatsIceRole::Controlled)
    );
    assert!(matches!(
        (ta.dtls_role, tb.dtls_role),
        (StatsDtlsRole::Client, StatsDtlsRole::Server) | (StatsDtlsRole::Server, StatsDtlsRole::Client)
    ));
    assert!(ta.tls_version.is_some() && ta.tls_version == tb.tls_version);
    assert!(ta.srtp_cipher.is_some() && ta.srtp_cipher == tb.srtp_cipher);
    assert_eq!(ta.selected_candidate_pair_changes, 1);
    assert_eq!(
        ta.ice_local_username_fragment.as_deref(),
        body!(ra.get("IL0").expect("IL0"), LocalCandidate)
            .username_fragment
            .as_deref()
    );
    // a's certificate is b's remote certificate, and the other way round.
    assert_eq!(ta.local_certificate_id, tb.remote_certificate_id);
    assert_eq!(tb.local_certificate_id, ta.remote_certificate_id);
    let cert = body!(
        ra.get(ta.local_certificate_id.as_deref().unwrap()).unwrap(),
        Certificate
    );
    assert_eq!(cert.fingerprint_algorithm, "sha-256");
    assert_eq!(cert.fingerprint, s.sim.a.pc.certificate().fingerprint().value_string());

    // Everything sent arrived but what is still on the wire (a few datagrams at most).
    for (from, to) in [(ta, tb), (tb, ta)] {
        assert!(from.packets_sent >= to.packets_received && from.bytes_sent >= to.bytes_received);
        assert!(from.packets_sent - to.packets_received <= 8, "{from:?} {to:?}");
    }
    assert!(ta.packets_sent > FRAMES as u64, "a's video counts: {ta:?}");

    let pair_a = ra
        .get(ta.selected_candidate_pair_id.as_deref().expect("selected"))
        .unwrap();
    let pair = body!(pair_a, CandidatePair);
    assert_eq!(pair.state, StatsCandidatePairState::Succeeded);
    assert!(pair.nominated);
    // One pair carries everything here.
    assert_eq!((pair.packets_sent, pair.bytes_sent), (ta.packets_sent, ta.bytes_sent));
    let rtt = pair.current_round_trip_time.expect("a STUN round trip was timed");
    assert!((rtt - 2.0 * DELAY.as_secs_f64()).abs() < 0.002, "rtt {rtt}");
    assert!(pair.total_round_trip_time >= rtt);
    assert!(pair.requests_sent > 0 && pair.responses_received > 0 && pair.responses_received <= pair.requests_sent);
    assert!(pair.requests_received > 0 && pair.responses_sent == pair.requests_received);
    assert!(pair.consent_requests_sent > 0, "{pair:?}");
    let last = pair.last_packet_received_timestamp.expect("packets arrived");
    assert!(last <= pair_a.timestamp && last > pair_a.timestamp - 1500.0);
    let local = body!(ra.get(&pair.local_candidate_id).unwrap(), LocalCandidate);
    assert_eq!((local.address.as_deref(), local.port), (Some("127.0.0.1"), 10000));
    assert_eq!(local.candidate_type, StatsCandidateType::Host);
    let remote = body!(ra.get(&pair.remote_candidate_id).unwrap(), RemoteCandidate);
    assert_eq!((remote.address.as_deref(), remote.port), (Some("127.0.0.2"), 20000));
}

#[test]
fn rtp_counters_match_between_sender_and_receiver() {
    let s = scenario();
    let (ra, rb) = (report(&s.sim, true), report(&s.sim, false));
    let out = body!(only(&ra, StatsType::OutboundRtp), OutboundRtp);
    let inb = body!(only(&rb, StatsType::InboundRtp), InboundRtp);
    assert_eq!(out.ssrc, inb.ssrc);
    assert_eq!((out.kind, inb.kind), (StatsMediaKind::Video, StatsMediaKind::Video));
    assert_eq!(out.mid, inb.mid);
    // A perfect link and the last frame long sent: everything arrived.
    assert_eq!(out.packets_sent, inb.packets_received);
    assert_eq!(out.bytes_sent, inb.bytes_received);
    assert_eq!(out.header_bytes_sent, inb.header_bytes_received);
    assert!(
        out.packets_sent > FRAMES as u64,
        "frames of 1500+ bytes take two packets"
    );
    assert_eq!(out.frames_sent, Some(FRAMES as u64));
    assert_eq!(inb.frames_received, Some(FRAMES as u64));
    assert_eq!(
        (out.retransmitted_packets_sent, out.nack_count, inb.nack_count),
        (0, 0, 0)
    );
    assert_eq!(inb.packets_lost, 0);
    // The pacer spreads a frame's packets over a few ms (at 2.5 × the 300 kbit/s start bitrate),
    // which RFC 3550 counts as jitter; the link itself adds none.
    assert!(inb.jitter < 0.015, "jitter {}", inb.jitter);
    assert!(out.active);
    let source = body!(ra.get(out.media_source_id.as_deref().unwrap()).unwrap(), MediaSource);
    assert_eq!(source.track_identifier, "camera");

    let codec_out = body!(ra.get(out.codec_id.as_deref().unwrap()).unwrap(), Codec);
    let codec_in = body!(rb.get(inb.codec_id.as_deref().unwrap()).unwrap(), Codec);
    assert_eq!(
        (codec_out.mime_type.as_str(), codec_out.clock_rate),
        ("video/VP8", 90_000)
    );
    assert_eq!(codec_in.mime_type, "video/VP8");
    assert_eq!(codec_in.payload_type, codec_out.payload_type);

    // b's receiver reports come back to a as remote-inbound-rtp, with the round trip of the link.
    let ri = body!(
        ra.get(out.remote_id.as_deref().expect("a receiver report")).unwrap(),
        RemoteInboundRtp
    );
    assert_eq!(ri.local_id, only(&ra, StatsType::OutboundRtp).id);
    assert_eq!(ri.ssrc, out.ssrc);
    assert_eq!((ri.packets_lost, ri.fraction_lost), (0, 0.0));
    let rtt = ri.round_trip_time.expect("rtt");
    assert!((rtt - 2.0 * DELAY.as_secs_f64()).abs() < 0.002, "rtt {rtt}");
    assert!(ri.round_trip_time_measurements >= 3, "{ri:?}");
    assert!(ri.total_round_trip_time >= rtt * ri.round_trip_time_measurements as f64 * 0.9);

    // a's sender reports reach b as remote-outbound-rtp.
    let ro = body!(
        rb.get(inb.remote_id.as_deref().expect("a sender report")).unwrap(),
        RemoteOutboundRtp
    );
    assert_eq!(ro.local_id, only(&rb, StatsType::InboundRtp).id);
    assert!(ro.reports_sent >= 4, "{ro:?}");
    assert_eq!(
        ro.packets_sent, out.packets_sent,
        "the last SR came after the last frame"
    );
    assert!(ro.bytes_sent > 0 && ro.bytes_sent <= out.bytes_sent);
}

#[test]
fn data_channel_counters_count_messages_and_payload_bytes() {
    let s = scenario();
    let (ra, rb) = (report(&s.sim, true), report(&s.sim, false));
    let sent_a: u64 = s.a_messages.iter().map(|m| m.len() as u64).sum();
    let sent_b: u64 = s.b_messages.iter().map(|m| m.len() as u64).sum();
    let da = body!(only(&ra, StatsType::DataChannel), DataChannel);
    let db = body!(only(&rb, StatsType::DataChannel), DataChannel);
    assert_eq!((da.label.as_str(), da.state), ("chat", StatsDataChannelState::Open));
    assert_eq!(da.data_channel_identifier, db.data_channel_identifier);
    assert_eq!(
        (da.messages_sent, da.bytes_sent, da.messages_received, da.bytes_received),
        (5, sent_a, 2, sent_b)
    );
    assert_eq!(
        (db.messages_sent, db.bytes_sent, db.messages_received, db.bytes_received),
        (2, sent_b, 5, sent_a)
    );
    let pc = body!(only(&ra, StatsType::PeerConnection), PeerConnection);
    assert_eq!((pc.data_channels_opened, pc.data_channels_closed), (1, 0));

    // Closing counts as closed once the channel has left `open`.
    let mut sim = s.sim;
    sim.a.pc.close_data_channel(s.channel);
    sim.run_until(Duration::from_secs(2), |_| false);
    let ra = report(&sim, true);
    let pc = body!(only(&ra, StatsType::PeerConnection), PeerConnection);
    assert_eq!((pc.data_channels_opened, pc.data_channels_closed), (1, 1));
    assert_eq!(
        body!(only(&ra, StatsType::DataChannel), DataChannel).state,
        StatsDataChannelState::Closed
    );
}

#[test]
fn the_selector_form_keeps_one_sender_or_receiver_and_what_it_refers_to() {
    let s = scenario();
    let ms = EPOCH_MS;
    let sender = s.sim.a.pc.get_stats_for(s.sim.now, ms, StatsSelector::Sender(s.video));
    assert!(sender.dangling_references().is_empty());
    let types: BTreeSet<&str> = sender.iter().map(|st| st.kind.stats_type().as_str()).collect();
    let expected: BTreeSet<&str> = [
        "outbound-rtp",
        "remote-inbound-rtp",
        "codec",
        "media-source",
        "transport",
        "candidate-pair",
        "local-candidate",
        "remote-candidate",
        "certificate",
    ]
    .into_iter()
    .collect();
    assert_eq!(types, expected);
    assert_eq!(sender.of_type(StatsType::OutboundRtp).count(), 1);
    // Only the selected pair (the transport's reference), not every pair.
    assert_eq!(sender.of_type(StatsType::CandidatePair).count(), 1);

    // a only sends on this transceiver: its receiver has nothing.
    let receiver = s
        .sim
        .a
        .pc
        .get_stats_for(s.sim.now, ms, StatsSelector::Receiver(s.video));
    assert!(receiver.is_empty(), "{receiver:?}");

    let b_video = s.sim.b.pc.transceivers()[0].id;
    let receiver = s
        .sim
        .b
        .pc
        .get_stats_for(s.sim.now, ms, StatsSelector::Receiver(b_video));
    let types: BTreeSet<&str> = receiver.iter().map(|st| st.kind.stats_type().as_str()).collect();
    assert!(types.contains("inbound-rtp") && types.contains("remote-outbound-rtp") && types.contains("codec"));
    assert!(!types.contains("outbound-rtp") && !types.contains("data-channel") && !types.contains("peer-connection"));
    // An unknown transceiver gives an empty report.
    assert!(s
        .sim
        .a
        .pc
        .get_stats_for(s.sim.now, ms, StatsSelector::Sender(TransceiverId(99)))
        .is_empty());
}

#[test]
fn before_negotiation_the_report_has_the_connection_and_its_certificate() {
    let sim = Sim::new(62, LinkConditions::perfect());
    let r = report(&sim, true);
    assert!(r.dangling_references().is_empty());
    let t = body!(only(&r, StatsType::Transport), Transport);
    assert_eq!((t.dtls_state, t.ice_state), (StatsDtlsState::New, StatsIceState::New));
    assert_eq!(
        (t.ice_role, t.dtls_role),
        (StatsIceRole::Unknown, StatsDtlsRole::Unknown)
    );
    assert_eq!((t.packets_sent, t.bytes_received), (0, 0));
    assert!(t.selected_candidate_pair_id.is_none() && t.remote_certificate_id.is_none());
    assert_eq!(r.of_type(StatsType::Certificate).count(), 1);
    assert_eq!(r.of_type(StatsType::InboundRtp).count(), 0);
}

#[test]
fn on_a_lossy_link_losses_nacks_and_retransmissions_are_counted_on_both_sides() {
    let link = LinkConditions {
        delay: DELAY,
        loss: 0.05,
        ..LinkConditions::perfect()
    };
    let mut sim = Sim::new(63, link);
    let video = sim
        .a
        .pc
        .add_track(TrackInit {
            id: "camera".into(),
            codec: Codec::Vp8,
            stream_ids: vec![],
        })
        .expect("add_track");
    sim.negotiate();
    sim.connect();
    for i in 0..120 {
        let mut data: Vec<u8> = (0..4000).map(|n| (n + i) as u8).collect();
        data[0] = if i % 30 == 0 { 0x00 } else { 0x01 };
        let now = sim.now;
        let frame = MediaFrame {
            data: data.into(),
            pts: Duration::from_millis(33 * i as u64),
        };
        sim.a.pc.write_frame(now, video, &frame).expect("write_frame");
        sim.run_until(Duration::from_millis(33), |_| false);
    }
    sim.run_until(Duration::from_secs(3), |_| false);
    let (ra, rb) = (report(&sim, true), report(&sim, false));
    let out = body!(only(&ra, StatsType::OutboundRtp), OutboundRtp);
    let inb = body!(only(&rb, StatsType::InboundRtp), InboundRtp);
    let (ma, mb) = (sim.a.pc.media_counters(), sim.b.pc.media_counters());
    assert!(out.retransmitted_packets_sent > 0, "{out:?}");
    assert_eq!(out.retransmitted_packets_sent, ma.retransmitted);
    assert_eq!(inb.nack_count, mb.nacks_sent);
    // Every NACK b sent that arrived was counted by a (some were lost on the way).
    assert!(
        out.nack_count > 0 && out.nack_count <= inb.nack_count,
        "{out:?} {inb:?}"
    );
    // Part of what a sent (first transmissions and repairs) was lost on the way: b received fewer.
    assert!(inb.packets_received < out.packets_sent);
    assert!(out.retransmitted_bytes_sent > 0 && out.retransmitted_bytes_sent < out.bytes_sent);
    let ri = body!(ra.get(out.remote_id.as_deref().unwrap()).unwrap(), RemoteInboundRtp);
    assert!(ri.round_trip_time.is_some());
}

/// a sends VP8 to b over a negotiation whose offer went through `edit`; once b receives, b asks
/// for three keyframes. Returns (a's outbound (pli, fir), b's inbound (pli, fir)) counted for
/// those requests, and how many keyframe requests a heard.
fn three_keyframe_requests(edit: impl Fn(&str) -> String) -> ((u64, u64), (u64, u64), usize) {
    let mut sim = Sim::new(62, LinkConditions::perfect());
    let video = sim
        .a
        .pc
        .add_track(TrackInit {
            id: "camera".into(),
            codec: Codec::Vp8,
            stream_ids: vec!["s".into()],
        })
        .expect("add_track");
    sim.negotiate_edited(edit, str::to_string);
    sim.connect();
    let counts = |sim: &Sim| {
        let (ra, rb) = (report(sim, true), report(sim, false));
        let out = body!(only(&ra, StatsType::OutboundRtp), OutboundRtp).clone();
        let inb = body!(only(&rb, StatsType::InboundRtp), InboundRtp).clone();
        (
            (out.pli_count.unwrap_or(0), out.fir_count.unwrap_or(0)),
            (inb.pli_count.unwrap_or(0), inb.fir_count.unwrap_or(0)),
        )
    };
    let write = |sim: &mut Sim, i: usize| {
        let mut data: Vec<u8> = (0..800).map(|n| (n * 3 + i) as u8).collect();
        data[0] = if i == 0 { 0x00 } else { 0x01 };
        let frame = MediaFrame {
            data: data.into(),
            pts: Duration::from_millis(33 * i as u64),
        };
        let now = sim.now;
        sim.a.pc.write_frame(now, video, &frame).expect("write_frame");
        sim.run_until(Duration::from_millis(33), |_| false);
    };
    for i in 0..10 {
        write(&mut sim, i);
    }
    let b_video = sim.b.pc.transceivers()[0].id;
    let (out_before, in_before) = counts(&sim);
    sim.a.take_events();
    for i in 10..13 {
        sim.b.pc.request_keyframe(b_video);
        write(&mut sim, i);
    }
    sim.run_until(Duration::from_millis(200), |_| false);
    let (out_after, in_after) = counts(&sim);
    let heard = sim
        .a
        .take_events()
        .iter()
        .filter(|e| matches!(e, PeerEvent::KeyframeRequested(..)))
        .count();
    let delta = |a: (u64, u64), b: (u64, u64)| (a.0 - b.0, a.1 - b.1);
    (delta(out_after, out_before), delta(in_after, in_before), heard)
}

#[test]
fn keyframe_requests_are_counted_as_pli_or_fir_on_both_sides() {
    // Browsers' formats take both: PLI it is.
    let (out, inb, heard) = three_keyframe_requests(str::to_string);
    assert_eq!((out, inb, heard), ((3, 0), (3, 0), 3));
    // Formats that take `ccm fir` and not `nack pli`: FIR, counted by the sender
    // (outbound-rtp firCount) and by the receiver that sent it (inbound-rtp firCount).
    let (out, inb, heard) = three_keyframe_requests(|sdp| {
        sdp.split_inclusive("\r\n")
            .filter(|l| !(l.starts_with("a=rtcp-fb:") && l.ends_with(" nack pli\r\n")))
            .collect()
    });
    assert_eq!((out, inb, heard), ((0, 3), (0, 3), 3));
}

/// Like a browser's `iceRole`: the answerer is controlled from the moment it applies the remote
/// offer (not only once it answers), also when it had offered itself and rolled back (glare).
#[test]
fn the_answerer_is_ice_controlled_from_the_remote_offer_on() {
    use rtcpeer_proto::peer::SessionDescriptionInit;
    let mut sim = Sim::new(5, LinkConditions::perfect());
    for peer in [&mut sim.a, &mut sim.b] {
        peer.pc
            .create_data_channel("chat", DataChannelInit::default())
            .expect("channel");
    }
    let offer = sim.a.pc.create_offer().expect("offer");
    sim.a
        .pc
        .set_local_description(sim.now, Some(offer.clone()))
        .expect("sld");
    // b offered too, then takes a's offer (an implicit rollback).
    let own = sim.b.pc.create_offer().expect("offer");
    sim.b.pc.set_local_description(sim.now, Some(own)).expect("sld");
    sim.b.pc.set_remote_description(sim.now, offer).expect("srd");
    let role = |sim: &Sim, a: bool| body!(only(&report(sim, a), StatsType::Transport), Transport).ice_role;
    assert_eq!(role(&sim, false), StatsIceRole::Controlled);
    let answer: SessionDescriptionInit = sim.b.pc.create_answer().expect("answer");
    sim.b
        .pc
        .set_local_description(sim.now, Some(answer.clone()))
        .expect("sld");
    sim.a.pc.set_remote_description(sim.now, answer).expect("srd");
    assert_eq!(
        (role(&sim, true), role(&sim, false)),
        (StatsIceRole::Controlling, StatsIceRole::Controlled)
    );
}
