//! Sending simulcast between two sans-IO peers on a simulated network: `sendEncodings` with
//! rids, the offer and answer they give, one RTP stream per layer, per-layer frames, `active`,
//! and an SFU-style offer that asks for simulcast.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use common::{LinkConditions, Sim};
use rtcpeer_proto::jsep::{Codec, MediaType};
use rtcpeer_proto::peer::{
    MediaFrame, PeerEvent, RtcError, RtpEncodingParameters, TrackInit, TransceiverId, TransceiverInit,
};
use rtcpeer_proto::stats::StatsKind;

const RIDS: [&str; 3] = ["q", "h", "f"];

fn camera() -> TrackInit {
    TrackInit {
        id: "camera".into(),
        codec: Codec::Vp8,
        stream_ids: vec!["stream".into()],
    }
}

fn three_layers() -> TransceiverInit {
    let mut encodings: Vec<RtpEncodingParameters> = RIDS.iter().map(|r| RtpEncodingParameters::with_rid(*r)).collect();
    encodings[0].scale_resolution_down_by = Some(4.0);
    encodings[1].scale_resolution_down_by = Some(2.0);
    TransceiverInit {
        send_encodings: encodings,
        ..Default::default()
    }
}

/// A synthetic VP8 frame unique to (layer, index): keyframe tag bit 0 on keyframes.
fn vp8_frame(layer: usize, index: usize, keyframe: bool) -> Vec<u8> {
    // Larger layers have larger frames, several packets each.
    let len = 300 * (layer + 1) * (layer + 1) + (index * 37) % 500;
    let mut frame: Vec<u8> = (0..len).map(|i| (i * 13 + index * 7 + layer * 101) as u8).collect();
    frame[0] = if keyframe { 0x00 } else { 0x01 } | ((index as u8) << 1 & 0xFE);
    frame
}

/// a writes `count` frames per layer (30 fps, every 30th a keyframe, and a keyframe on a layer
/// after a keyframe request for it) for `rids`; returns what it wrote per rid.
fn send_layers(sim: &mut Sim, id: TransceiverId, rids: &[&str], count: usize) -> BTreeMap<String, Vec<Vec<u8>>> {
    let mut sent: BTreeMap<String, Vec<Vec<u8>>> = BTreeMap::new();
    for i in 0..count {
        sim.a.collect_events();
        let requested: BTreeSet<String> = sim
            .a
            .events
            .iter()
            .filter_map(|e| match e {
                PeerEvent::KeyframeRequested(_, rid) => rid.clone(),
                _ => None,
            })
            .collect();
        sim.a.events.retain(|e| !matches!(e, PeerEvent::KeyframeRequested(..)));
        for (layer, rid) in rids.iter().enumerate() {
            let data = vp8_frame(layer, i, i % 30 == 0 || requested.contains(*rid));
            let frame = MediaFrame {
                data: data.clone().into(),
                pts: Duration::from_millis(33 * i as u64),
            };
            let now = sim.now;
            sim.a
                .pc
                .write_frame_for_rid(now, id, Some(rid), &frame)
                .expect("write_frame_for_rid");
            sent.entry(rid.to_string()).or_default().push(data);
        }
        sim.run_until(Duration::from_millis(33), |_| false);
    }
    sim.run_until(Duration::from_secs(1), |_| false);
    sent
}

/// The frames b received, by rid.
fn received_by_rid(events: &[PeerEvent]) -> BTreeMap<Option<String>, Vec<Vec<u8>>> {
    let mut by_rid: BTreeMap<Option<String>, Vec<Vec<u8>>> = BTreeMap::new();
    for e in events {
        if let PeerEvent::Frame(_, f) = e {
            assert_eq!(f.codec, Codec::Vp8);
            by_rid.entry(f.rid.clone()).or_default().push(f.data.to_vec());
        }
    }
    by_rid
}

fn section<'a>(sdp: &'a str, kind: &str) -> &'a str {
    let start = sdp.find(&format!("m={kind}")).expect("section");
    let rest = &sdp[start..];
    let end = rest[2..].find("\r\nm=").map_or(rest.len(), |e| e + 4);
    &rest[..end]
}

#[test]
fn p10_a_sender_with_three_rids_offers_simulcast_and_the_answer_accepts_the_layers() {
    let mut sim = Sim::new(41, LinkConditions::perfect());
    sim.a
        .pc
        .add_transceiver_with_track(camera(), three_layers())
        .expect("transceiver");
    let offer = sim.a.pc.create_offer().expect("offer");
    let video = section(&offer.sdp, "video");
    for rid in RIDS {
        assert!(video.contains(&format!("a=rid:{rid} send\r\n")), "{video}");
    }
    assert!(video.contains("a=simulcast:send q;h;f\r\n"), "{video}");
    assert!(
        video.contains("urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id"),
        "{video}"
    );
    assert!(
        video.contains("urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id"),
        "{video}"
    );
    assert!(video.contains("a=msid:stream camera"), "{video}");

    sim.a
        .pc
        .set_local_description(sim.now, Some(offer.clone()))
        .expect("sld");
    sim.b.pc.set_remote_description(sim.now, offer).expect("srd");
    let answer = sim.b.pc.create_answer().expect("answer");
    let video = section(&answer.sdp, "video");
    for rid in RIDS {
        assert!(video.contains(&format!("a=rid:{rid} recv\r\n")), "{video}");
    }
    assert!(video.contains("a=simulcast:recv q;h;f\r\n"), "{video}");
}

#[test]
fn three_layers_arrive_as_three_streams_each_readable_by_rid_and_byte_exact() {
    let mut sim = Sim::new(42, LinkConditions::perfect());
    let id = sim
        .a
        .pc
        .add_transceiver_with_track(camera(), three_layers())
        .expect("transceiver");
    sim.negotiate();
    sim.connect();
    let sent = send_layers(&mut sim, id, &RIDS, 60);

    let got = received_by_rid(&sim.b.events);
    assert_eq!(got.len(), 3, "layers received: {:?}", got.keys().collect::<Vec<_>>());
    for rid in RIDS {
        let frames = got.get(&Some(rid.to_string())).expect("layer missing");
        assert_eq!(frames, &sent[rid], "layer {rid} differs");
    }
    // Three receive streams with distinct SSRCs, each tagged with its rid.
    let report = sim.b.pc.get_stats(sim.now, 0.0);
    let streams: BTreeSet<(u32, Option<String>)> = report
        .iter()
        .filter_map(|s| match &s.kind {
            StatsKind::InboundRtp(r) => Some((r.ssrc, r.rid.clone())),
            _ => None,
        })
        .collect();
    let ssrcs: BTreeSet<u32> = streams.iter().map(|(s, _)| *s).collect();
    let rids: BTreeSet<Option<String>> = streams.iter().map(|(_, r)| r.clone()).collect();
    assert_eq!(ssrcs.len(), 3, "{streams:?}");
    assert_eq!(rids, RIDS.iter().map(|r| Some(r.to_string())).collect(), "{streams:?}");
    let b = sim.b.pc.media_counters();
    assert_eq!(b.unknown_stream + b.malformed + b.srtp_auth_failures, 0, "{b:?}");
    // The sender's outbound-rtp objects: one per layer, named by rid, with the frames sent.
    let report = sim.a.pc.get_stats(sim.now, 0.0);
    let outbound: BTreeMap<Option<String>, (u32, u64)> = report
        .iter()
        .filter_map(|s| match &s.kind {
            StatsKind::OutboundRtp(o) => Some((o.rid.clone(), (o.ssrc, o.frames_sent.unwrap_or(0)))),
            _ => None,
        })
        .collect();
    assert_eq!(outbound.len(), 3, "{outbound:?}");
    for rid in RIDS {
        assert_eq!(outbound[&Some(rid.to_string())].1, 60, "{outbound:?}");
        assert!(
            ssrcs.contains(&outbound[&Some(rid.to_string())].0),
            "{outbound:?} vs {ssrcs:?}"
        );
    }
}

#[test]
fn t10_an_inactive_encoding_sends_nothing_and_set_parameters_switches_layers() {
    let mut sim = Sim::new(43, LinkConditions::perfect());
    let mut init = three_layers();
    // T10: sendEncodings[0].active = false is respected from the start.
    init.send_encodings[0].active = false;
    let id = sim
        .a
        .pc
        .add_transceiver_with_track(camera(), init)
        .expect("transceiver");
    sim.negotiate();
    sim.connect();

    let params = sim.a.pc.get_parameters(id).expect("get_parameters");
    let actives: Vec<(Option<&str>, bool)> = params.encodings.iter().map(|e| (e.rid.as_deref(), e.active)).collect();
    assert_eq!(actives, [(Some("q"), false), (Some("h"), true), (Some("f"), true)]);
    assert_eq!(params.encodings[0].scale_resolution_down_by, Some(4.0));

    send_layers(&mut sim, id, &RIDS, 30);
    let got = received_by_rid(&sim.b.take_events());
    assert!(!got.contains_key(&Some("q".to_string())), "inactive q was sent");
    assert_eq!(got.get(&Some("h".to_string())).map(Vec::len), Some(30));
    assert_eq!(got.get(&Some("f".to_string())).map(Vec::len), Some(30));

    // Switch q on and f off (with a bitrate cap on h), without renegotiating.
    let mut params = sim.a.pc.get_parameters(id).expect("get_parameters");
    params.encodings[0].active = true;
    params.encodings[1].max_bitrate = Some(500_000);
    params.encodings[2].active = false;
    sim.a.pc.set_parameters(id, params).expect("set_parameters");
    let after = sim.a.pc.get_parameters(id).expect("get_parameters");
    assert_eq!(after.encodings[1].max_bitrate, Some(500_000));

    send_layers(&mut sim, id, &RIDS, 30);
    let got = received_by_rid(&sim.b.take_events());
    assert_eq!(
        got.get(&Some("q".to_string())).map(Vec::len),
        Some(30),
        "q did not start"
    );
    assert_eq!(got.get(&Some("h".to_string())).map(Vec::len), Some(30));
    assert!(!got.contains_key(&Some("f".to_string())), "inactive f was sent");
}

#[test]
fn set_parameters_refuses_what_cannot_change() {
    let mut sim = Sim::new(44, LinkConditions::perfect());
    let id = sim
        .a
        .pc
        .add_transceiver_with_track(camera(), three_layers())
        .expect("transceiver");
    let params = sim.a.pc.get_parameters(id).expect("get");

    // Not from the last getParameters.
    let mut stale = params.clone();
    stale.transaction_id.push('x');
    assert!(matches!(
        sim.a.pc.set_parameters(id, stale),
        Err(RtcError::InvalidModification(_))
    ));
    // Each get_parameters allows one set_parameters.
    assert!(matches!(
        sim.a.pc.set_parameters(id, params.clone()),
        Err(RtcError::InvalidState(_))
    ));

    let mut fewer = sim.a.pc.get_parameters(id).expect("get");
    fewer.encodings.pop();
    assert!(matches!(
        sim.a.pc.set_parameters(id, fewer),
        Err(RtcError::InvalidModification(_))
    ));
    let mut renamed = sim.a.pc.get_parameters(id).expect("get");
    renamed.encodings[1].rid = Some("x".into());
    assert!(matches!(
        sim.a.pc.set_parameters(id, renamed),
        Err(RtcError::InvalidModification(_))
    ));
    let mut scaled_up = sim.a.pc.get_parameters(id).expect("get");
    scaled_up.encodings[2].scale_resolution_down_by = Some(0.5);
    assert!(matches!(
        sim.a.pc.set_parameters(id, scaled_up),
        Err(RtcError::Range(_))
    ));
    // The refused changes left the encodings as they were.
    let now = sim.a.pc.get_parameters(id).expect("get");
    assert_eq!(now.encodings, params.encodings);
}

#[test]
fn t12_add_transceiver_checks_send_encodings_like_the_browser() {
    let mut sim = Sim::new(45, LinkConditions::perfect());
    let with = |rids: &[Option<&str>]| TransceiverInit {
        send_encodings: rids
            .iter()
            .map(|r| RtpEncodingParameters {
                rid: r.map(str::to_string),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    };
    let cases: [(&[Option<&str>], &str); 5] = [
        (&[Some("abcdefghijklmnopq")], "17-character rid"),
        (&[Some("a-b")], "rid with '-'"),
        (&[Some("")], "empty rid"),
        (&[Some("a"), Some("a")], "duplicate rid"),
        (&[Some("a"), None], "rid mixed with no rid"),
    ];
    for (rids, what) in cases {
        let err = sim.a.pc.add_transceiver(MediaType::Video, with(rids)).expect_err(what);
        assert!(matches!(err, RtcError::Type(_)), "{what}: {err}");
        assert_eq!(err.name(), "TypeError");
    }
    let mut scaled = with(&[Some("a")]);
    scaled.send_encodings[0].scale_resolution_down_by = Some(0.9);
    assert_eq!(
        sim.a.pc.add_transceiver(MediaType::Video, scaled).unwrap_err().name(),
        "RangeError"
    );
    // Nothing refused was added; 16 characters is the limit, not an error.
    assert!(sim.a.pc.transceivers().is_empty());
    sim.a
        .pc
        .add_transceiver(MediaType::Video, with(&[Some("abcdefghijklmnop")]))
        .expect("16-character rid");
    // A single encoding with a rid is not simulcast: no rid lines.
    let offer = sim.a.pc.create_offer().expect("offer");
    assert!(!offer.sdp.contains("a=simulcast"), "{}", offer.sdp);
}

#[test]
fn an_answer_without_simulcast_leaves_the_first_encoding_as_one_plain_stream() {
    let mut sim = Sim::new(46, LinkConditions::perfect());
    let id = sim
        .a
        .pc
        .add_transceiver_with_track(camera(), three_layers())
        .expect("transceiver");
    // An answerer that does not do simulcast drops the rid and simulcast lines.
    sim.negotiate_edited(str::to_string, |answer| {
        answer
            .split_inclusive("\r\n")
            .filter(|l| !l.starts_with("a=rid:") && !l.starts_with("a=simulcast:"))
            .collect()
    });
    sim.connect();

    let sent = send_layers(&mut sim, id, &RIDS, 20);
    let got = received_by_rid(&sim.b.events);
    // Only the first encoding goes out, as a stream without a rid.
    assert_eq!(got.keys().collect::<Vec<_>>(), [&None], "{:?}", got.keys());
    assert_eq!(got[&None], sent["q"]);
}

#[test]
fn an_offer_asking_for_simulcast_gets_the_layers_it_names() {
    let mut sim = Sim::new(47, LinkConditions::perfect());
    // b plays an SFU: a receive-only video section asking for two layers.
    sim.b
        .pc
        .add_transceiver(
            MediaType::Video,
            TransceiverInit {
                direction: rtcpeer_proto::peer::TransceiverDirection::RecvOnly,
                ..Default::default()
            },
        )
        .expect("recvonly");
    let offer = sim.b.pc.create_offer().expect("offer");
    sim.b
        .pc
        .set_local_description(sim.now, Some(offer.clone()))
        .expect("sld");
    let sdp = offer.sdp.replace(
        "a=recvonly\r\n",
        "a=recvonly\r\na=rid:lo recv\r\na=rid:hi recv\r\na=simulcast:recv lo;hi\r\n",
    );
    let offer = rtcpeer_proto::peer::SessionDescriptionInit { sdp, ..offer };

    sim.a.pc.set_remote_description(sim.now, offer).expect("srd");
    let id = sim.a.pc.add_track(camera()).expect("add_track");
    let params = sim.a.pc.get_parameters(id).expect("get");
    let rids: Vec<_> = params.encodings.iter().map(|e| e.rid.clone()).collect();
    assert_eq!(rids, [Some("lo".to_string()), Some("hi".to_string())]);
    let answer = sim.a.pc.create_answer().expect("answer");
    let video = section(&answer.sdp, "video");
    assert!(video.contains("a=rid:lo send\r\na=rid:hi send\r\n"), "{video}");
    assert!(video.contains("a=simulcast:send lo;hi\r\n"), "{video}");
    sim.a
        .pc
        .set_local_description(sim.now, Some(answer.clone()))
        .expect("sld answer");
    sim.b.pc.set_remote_description(sim.now, answer).expect("srd answer");
    sim.connect();

    let sent = send_layers(&mut sim, id, &["lo", "hi"], 30);
    let got = received_by_rid(&sim.b.events);
    assert_eq!(got.get(&Some("lo".to_string())), Some(&sent["lo"]));
    assert_eq!(got.get(&Some("hi".to_string())), Some(&sent["hi"]));
    // A rid the sender has no encoding for is refused.
    let frame = MediaFrame {
        data: vec![0u8; 10].into(),
        pts: Duration::ZERO,
    };
    let now = sim.now;
    assert!(matches!(
        sim.a.pc.write_frame_for_rid(now, id, Some("f"), &frame),
        Err(RtcError::InvalidAccess(_))
    ));
}

#[test]
fn lost_packets_of_every_layer_are_repaired_over_its_own_rtx_stream() {
    let link = LinkConditions {
        loss: 0.05,
        delay: Duration::from_millis(20),
        ..LinkConditions::perfect()
    };
    let mut sim = Sim::new(48, link);
    let id = sim
        .a
        .pc
        .add_transceiver_with_track(camera(), three_layers())
        .expect("transceiver");
    sim.negotiate();
    sim.connect();
    let sent = send_layers(&mut sim, id, &RIDS, 90);
    let (a, b) = (sim.a.pc.media_counters(), sim.b.pc.media_counters());
    assert!(b.nacks_sent > 0 && a.retransmitted > 0, "no repair: a {a:?} b {b:?}");
    let got = received_by_rid(&sim.b.events);
    for rid in RIDS {
        let frames = got.get(&Some(rid.to_string())).map_or(&[][..], Vec::as_slice);
        // Every frame that arrives is one that was sent on that layer, in order; nearly all arrive.
        let mut next = 0;
        for f in frames {
            let at = sent[rid][next..]
                .iter()
                .position(|s| s == f)
                .unwrap_or_else(|| panic!("layer {rid}: a frame that was not sent, or out of order"));
            next += at + 1;
        }
        assert!(
            frames.len() * 10 >= sent[rid].len() * 9,
            "layer {rid}: {} of {} frames; b {b:?}; a {a:?}",
            frames.len(),
            sent[rid].len()
        );
    }
    // Repair packets were matched to their layer: none went unclaimed.
    assert_eq!(b.unknown_stream, 0, "{b:?}");
}

#[test]
fn only_the_layers_the_answer_accepts_are_sent() {
    let mut sim = Sim::new(49, LinkConditions::perfect());
    let id = sim
        .a
        .pc
        .add_transceiver_with_track(camera(), three_layers())
        .expect("transceiver");
    // The answerer (an SFU, say) takes q and f and declines h.
    sim.negotiate_edited(str::to_string, |answer| {
        let sdp = answer
            .replace("a=rid:h recv\r\n", "")
            .replace("a=simulcast:recv q;h;f", "a=simulcast:recv q;f");
        assert_ne!(sdp, answer);
        sdp
    });
    sim.connect();

    let sent = send_layers(&mut sim, id, &RIDS, 20);
    let got = received_by_rid(&sim.b.events);
    let rids: Vec<_> = got.keys().cloned().collect();
    assert_eq!(rids, [Some("f".to_string()), Some("q".to_string())]);
    assert_eq!(got[&Some("q".to_string())], sent["q"]);
    assert_eq!(got[&Some("f".to_string())], sent["f"]);
}

/// The keyframe requests a heard since last asked: (transceiver, rid).
fn keyframe_requests(sim: &mut Sim) -> Vec<(TransceiverId, Option<String>)> {
    sim.a
        .take_events()
        .into_iter()
        .filter_map(|e| match e {
            PeerEvent::KeyframeRequested(t, rid) => Some((t, rid)),
            _ => None,
        })
        .collect()
}

#[test]
fn a_keyframe_request_names_the_layer_it_is_for() {
    let mut sim = Sim::new(48, LinkConditions::perfect());
    let id = sim
        .a
        .pc
        .add_transceiver_with_track(camera(), three_layers())
        .expect("transceiver");
    sim.negotiate();
    sim.connect();
    send_layers(&mut sim, id, &RIDS, 10);
    keyframe_requests(&mut sim);
    let b_video = sim.b.pc.transceivers()[0].id;

    // One layer's PLI names that layer only: an encoder re-encodes just it.
    sim.b.pc.request_keyframe_for_rid(b_video, "h");
    sim.run_until(Duration::from_millis(200), |_| false);
    assert_eq!(keyframe_requests(&mut sim), [(id, Some("h".to_string()))]);

    // A request for the whole track asks each layer, and each request names its layer.
    sim.b.pc.request_keyframe(b_video);
    sim.run_until(Duration::from_millis(200), |_| false);
    let asked = keyframe_requests(&mut sim);
    assert_eq!(asked.len(), 3, "{asked:?}");
    assert!(asked.iter().all(|(t, _)| *t == id), "{asked:?}");
    let rids: BTreeSet<Option<String>> = asked.into_iter().map(|(_, rid)| rid).collect();
    assert_eq!(rids, RIDS.iter().map(|r| Some(r.to_string())).collect());

    // A rid no stream arrived with asks nothing.
    sim.b.pc.request_keyframe_for_rid(b_video, "x");
    sim.run_until(Duration::from_millis(200), |_| false);
    assert_eq!(keyframe_requests(&mut sim), []);
}
