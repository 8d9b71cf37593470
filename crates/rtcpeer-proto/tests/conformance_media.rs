//! Browser conformance, areas 4–11 of the WPT checklist (`wpt-checklist.md`): tracks and
//! transceivers, ICE, states, data channels, close, getStats, event order and SDP, observed on
//! the sans-IO `PeerConnection` over the simulated network. Each test starts with the id of the
//! checklist row it proves; `docs/CONFORMANCE.md` maps the rows to the tests.

mod common;

use std::time::Duration;

use common::{connection_states, ice_states, LinkConditions, Sim, SimPeer};
use rtcpeer_proto::datachannel::{ChannelId, DataChannelInit, DataChannelMessage, DataChannelState};
use rtcpeer_proto::jsep::{Codec, MediaType};
use rtcpeer_proto::peer::{
    IceCandidateInit, IceConnectionState, IceGatheringState, MediaFrame, PeerConnectionState, PeerEvent, RtcError,
    SdpType, SessionDescriptionInit, SignalingState, TrackInit, TransceiverDirection, TransceiverId, TransceiverInit,
};
use rtcpeer_proto::stats::StatsType;

fn track(id: &str, codec: Codec) -> TrackInit {
    track_in(id, codec, &["stream"])
}

fn track_in(id: &str, codec: Codec, streams: &[&str]) -> TrackInit {
    TrackInit {
        id: id.into(),
        codec,
        stream_ids: streams.iter().map(|s| s.to_string()).collect(),
    }
}

fn peer() -> SimPeer {
    SimPeer::new("a", "127.0.0.1:10000", std::time::Instant::now())
}

fn name(result: Result<impl std::fmt::Debug, RtcError>) -> &'static str {
    match result {
        Ok(v) => panic!("expected an error, got {v:?}"),
        Err(e) => e.name(),
    }
}

fn connect(sim: &mut Sim) {
    sim.negotiate();
    assert!(
        sim.run_until(Duration::from_secs(10), |s| s.connected()),
        "the peers did not connect"
    );
}

fn negotiation_needed_count(events: &[PeerEvent]) -> usize {
    events.iter().filter(|e| **e == PeerEvent::NegotiationNeeded).count()
}

fn tracks(events: &[PeerEvent]) -> Vec<(TransceiverId, String, String, Vec<String>)> {
    events
        .iter()
        .filter_map(|e| match e {
            PeerEvent::Track {
                transceiver,
                mid,
                track_id,
                stream_ids,
                ..
            } => Some((*transceiver, mid.clone(), track_id.clone(), stream_ids.clone())),
            _ => None,
        })
        .collect()
}

fn frames_on(events: &[PeerEvent], id: TransceiverId) -> usize {
    events
        .iter()
        .filter(|e| matches!(e, PeerEvent::Frame(t, _) if *t == id))
        .count()
}

fn remote_channel(events: &[PeerEvent]) -> Option<ChannelId> {
    events.iter().find_map(|e| match e {
        PeerEvent::DataChannel(id) => Some(*id),
        _ => None,
    })
}

fn opened(events: &[PeerEvent], id: ChannelId) -> bool {
    events.contains(&PeerEvent::ChannelOpen(id))
}

/// Writes one Opus frame every 20 ms for `count` frames on `id`, running the network between.
fn send_audio(sim: &mut Sim, id: TransceiverId, count: usize) {
    for i in 0..count {
        let frame = MediaFrame {
            data: vec![0xF8, i as u8, 1, 2, 3].into(),
            pts: Duration::from_millis(20 * i as u64),
        };
        let now = sim.now;
        let _ = sim.a.pc.write_frame(now, id, &frame);
        sim.run_until(Duration::from_millis(20), |_| false);
    }
    sim.run_until(Duration::from_millis(200), |_| false);
}

/// Offer from `a`, answer from `b`, with the descriptions returned for inspection.
fn renegotiate(sim: &mut Sim) -> (SessionDescriptionInit, SessionDescriptionInit) {
    let offer = sim.offer_to_b();
    let answer = sim.answer_to_a();
    sim.a.collect_events();
    sim.b.collect_events();
    (offer, answer)
}

// ---------------------------------------------------------------- 4. tracks and transceivers

#[test]
fn t1_a_new_connection_has_no_transceivers() {
    assert!(peer().pc.transceivers().is_empty());
}

#[test]
fn t2_add_track_on_a_closed_connection_is_invalid_state() {
    let mut p = peer();
    p.pc.close();
    assert_eq!(name(p.pc.add_track(track("t", Codec::Opus))), "InvalidStateError");
}

#[test]
fn t3_add_track_with_zero_one_or_several_streams_returns_its_sender() {
    let mut p = peer();
    let cases: [&[&str]; 3] = [&[], &["s1"], &["s1", "s2"]];
    for (i, streams) in cases.iter().enumerate() {
        let t = track_in(&format!("track{i}"), Codec::Opus, streams);
        let id = p.pc.add_track(t.clone()).expect("add_track");
        assert_eq!(p.pc.transceiver(id).and_then(|x| x.sender_track), Some(t));
    }
    assert_eq!(p.pc.transceivers().len(), 3);
    let offer = p.pc.create_offer().expect("offer");
    assert!(offer.sdp.contains("a=msid:s1 track1"), "{}", offer.sdp);
    assert!(offer.sdp.contains("a=msid:- track0"), "{}", offer.sdp);
}

#[test]
fn t4_adding_the_same_track_twice_is_invalid_access() {
    let mut p = peer();
    p.pc.add_track(track("cam", Codec::Vp8)).expect("first");
    assert_eq!(name(p.pc.add_track(track("cam", Codec::Vp8))), "InvalidAccessError");
}

#[test]
fn t5_add_track_reuses_a_remote_offered_transceiver_of_its_kind_only() {
    let mut sim = Sim::new(1, LinkConditions::perfect());
    sim.a.pc.add_track(track("cam", Codec::Vp8)).expect("a video");
    sim.offer_to_b();
    let offered = sim.b.pc.transceivers();
    assert_eq!(offered.len(), 1);
    // A track of another kind gets a transceiver of its own.
    let audio = sim.b.pc.add_track(track("mic", Codec::Opus)).expect("audio");
    assert_ne!(audio, offered[0].id);
    // The video track takes the recvonly transceiver the offer made, which now sends too.
    let video = sim.b.pc.add_track(track("cam-b", Codec::Vp8)).expect("video");
    assert_eq!(video, offered[0].id);
    assert_eq!(
        sim.b.pc.transceiver(video).map(|t| t.direction),
        Some(TransceiverDirection::SendRecv)
    );
    // A transceiver whose sender had a track is not reused after removeTrack.
    sim.b.pc.remove_track(video).expect("remove");
    let again = sim.b.pc.add_track(track("cam-c", Codec::Vp8)).expect("again");
    assert_ne!(again, video);
    assert_eq!(sim.b.pc.transceivers().len(), 3);
}

#[test]
fn t6_add_transceiver_never_reuses_a_transceiver() {
    let mut sim = Sim::new(2, LinkConditions::perfect());
    sim.a.pc.add_track(track("cam", Codec::Vp8)).expect("a video");
    sim.offer_to_b();
    let before = sim.b.pc.transceivers();
    let added = sim
        .b
        .pc
        .add_transceiver_with_track(track("cam-b", Codec::Vp8), TransceiverInit::default())
        .expect("addTransceiver");
    assert!(before.iter().all(|t| t.id != added));
    assert_eq!(sim.b.pc.transceivers().len(), 2);
}

#[test]
fn t7_a_transceiver_from_add_track_starts_unassociated() {
    let mut p = peer();
    let t = track("cam", Codec::Vp8);
    let id = p.pc.add_track(t.clone()).expect("add");
    let info = p.pc.transceiver(id).expect("info");
    assert_eq!(info.sender_track, Some(t));
    assert_eq!(info.kind, MediaType::Video);
    assert!(!info.receiver_track_id.is_empty());
    assert_eq!((info.mid, info.current_direction, info.stopped), (None, None, false));
    assert_eq!(p.pc.transceivers(), vec![p.pc.transceiver(id).expect("same")]);
}

#[test]
fn t8_add_transceiver_by_kind_is_sendrecv_without_a_sender_track() {
    let mut p = peer();
    for kind in [MediaType::Audio, MediaType::Video] {
        let id = p.pc.add_transceiver(kind, TransceiverInit::default()).expect("add");
        let info = p.pc.transceiver(id).expect("info");
        assert_eq!(info.kind, kind);
        assert_eq!(info.direction, TransceiverDirection::SendRecv);
        assert_eq!(
            (info.sender_track, info.mid, info.current_direction),
            (None, None, None)
        );
    }
    let offer = p.pc.create_offer().expect("offer");
    assert_eq!(offer.sdp.matches("a=sendrecv").count(), 2, "{}", offer.sdp);
}

#[test]
fn t9_a_track_that_is_not_media_or_a_stopped_init_is_a_type_error() {
    let mut p = peer();
    assert_eq!(name(p.pc.add_track(track("rtx", Codec::Rtx))), "TypeError");
    let stopped = TransceiverInit {
        direction: TransceiverDirection::Stopped,
        ..TransceiverInit::default()
    };
    assert_eq!(name(p.pc.add_transceiver(MediaType::Audio, stopped)), "TypeError");
}

#[test]
fn t10_add_transceiver_keeps_the_given_direction() {
    let mut p = peer();
    for direction in [TransceiverDirection::SendOnly, TransceiverDirection::Inactive] {
        let id =
            p.pc.add_transceiver(
                MediaType::Audio,
                TransceiverInit {
                    direction,
                    ..TransceiverInit::default()
                },
            )
            .expect("add");
        assert_eq!(p.pc.transceiver(id).map(|t| t.direction), Some(direction));
    }
    let inactive = TransceiverInit {
        direction: TransceiverDirection::Inactive,
        ..TransceiverInit::default()
    };
    p.pc.add_transceiver_with_track(track("cam", Codec::Vp8), inactive)
        .expect("track, inactive");
    // Each section says the transceiver's direction, with or without a track (JSEP §5.2.2).
    let offer = p.pc.create_offer().expect("offer");
    let audio: Vec<&str> = offer.sdp.split("m=audio").skip(1).collect();
    assert!(audio[0].contains("a=sendonly"), "{}", offer.sdp);
    assert!(audio[1].contains("a=inactive"), "{}", offer.sdp);
    // The inactive transceiver with a track offers inactive: it does not send its track.
    let video = offer.sdp.split("m=video").nth(1).expect("a video section");
    assert!(
        video.contains("a=inactive") && !video.contains("a=msid"),
        "{}",
        offer.sdp
    );
}

#[test]
fn t11_add_transceiver_twice_with_one_track_gives_two_senders() {
    let mut p = peer();
    let t = track("cam", Codec::Vp8);
    let first =
        p.pc.add_transceiver_with_track(t.clone(), TransceiverInit::default())
            .expect("1");
    let second =
        p.pc.add_transceiver_with_track(t, TransceiverInit::default())
            .expect("2");
    assert_ne!(first, second);
    assert_eq!(p.pc.transceivers().len(), 2);
}

#[test]
fn t13_local_offer_assigns_the_mid_the_remote_sees() {
    let mut sim = Sim::new(3, LinkConditions::perfect());
    let id = sim.a.pc.add_track(track("cam", Codec::Vp8)).expect("add");
    let offer = sim.a.pc.create_offer().expect("offer");
    assert_eq!(sim.a.pc.transceiver(id).and_then(|t| t.mid), None);
    sim.a
        .pc
        .set_local_description(sim.now, Some(offer.clone()))
        .expect("SLD");
    let mid = sim.a.pc.transceiver(id).and_then(|t| t.mid).expect("a mid after SLD");
    assert!(offer.sdp.contains(&format!("a=mid:{mid}\r\n")), "{}", offer.sdp);
    sim.b.pc.set_remote_description(sim.now, offer).expect("SRD");
    assert_eq!(sim.b.pc.transceivers()[0].mid.as_deref(), Some(mid.as_str()));
}

#[test]
fn t14_a_remote_offer_creates_recvonly_transceivers_negotiated_by_the_answer() {
    let mut sim = Sim::new(4, LinkConditions::perfect());
    sim.a.pc.add_track(track("cam", Codec::Vp8)).expect("add");
    sim.offer_to_b();
    let created = sim.b.pc.transceivers().remove(0);
    assert_eq!(created.direction, TransceiverDirection::RecvOnly);
    assert_eq!((created.current_direction, created.stopped), (None, false));
    let answer = sim.b.pc.create_answer().expect("answer");
    sim.b
        .pc
        .set_local_description(sim.now, Some(answer))
        .expect("SLD answer");
    assert_eq!(
        sim.b.pc.transceiver(created.id).and_then(|t| t.current_direction),
        Some(TransceiverDirection::RecvOnly)
    );
}

#[test]
fn t15_srd_offer_fires_track_with_its_streams_only_for_sending_sections() {
    let mut sim = Sim::new(5, LinkConditions::perfect());
    sim.a
        .pc
        .add_track(track_in("none", Codec::Opus, &[]))
        .expect("0 streams");
    sim.a
        .pc
        .add_track(track_in("one", Codec::Opus, &["s1"]))
        .expect("1 stream");
    sim.a.pc.add_track(track_in("cam", Codec::Vp8, &["s1"])).expect("video");
    // A recvonly section: the offerer does not send, so the answerer hears no track for it.
    sim.a
        .pc
        .add_transceiver(
            MediaType::Video,
            TransceiverInit {
                direction: TransceiverDirection::RecvOnly,
                ..TransceiverInit::default()
            },
        )
        .expect("recvonly");
    let offer = sim.a.pc.create_offer().expect("offer");
    sim.a
        .pc
        .set_local_description(sim.now, Some(offer.clone()))
        .expect("SLD");
    sim.b.take_events();
    sim.b.pc.set_remote_description(sim.now, offer).expect("SRD");
    // Heard before setRemoteDescription's caller does anything else: the events are queued by it.
    let heard = tracks(&sim.b.take_events());
    let summary: Vec<(&str, Vec<String>)> = heard.iter().map(|(_, _, t, s)| (t.as_str(), s.clone())).collect();
    assert_eq!(
        summary,
        vec![
            ("none", vec![]),
            ("one", vec!["s1".to_string()]),
            ("cam", vec!["s1".to_string()])
        ]
    );
    // The answer completes the exchange without firing them again.
    let answer = sim.b.pc.create_answer().expect("answer");
    sim.b.pc.set_local_description(sim.now, Some(answer)).expect("SLD");
    assert!(tracks(&sim.b.take_events()).is_empty());
}

#[test]
fn t16_remove_track_closed_is_invalid_state_and_a_foreign_sender_invalid_access() {
    let mut p = peer();
    let id = p.pc.add_track(track("mic", Codec::Opus)).expect("add");
    assert_eq!(name(p.pc.remove_track(TransceiverId(id.0 + 7))), "InvalidAccessError");
    p.pc.close();
    assert_eq!(name(p.pc.remove_track(id)), "InvalidStateError");
    assert_eq!(name(p.pc.remove_track(TransceiverId(id.0 + 7))), "InvalidStateError");
}

#[test]
fn t17_remove_track_clears_the_sender_and_changes_direction() {
    let mut p = peer();
    let sendrecv = p.pc.add_track(track("a", Codec::Opus)).expect("sendrecv");
    let sendonly =
        p.pc.add_transceiver_with_track(
            track("b", Codec::Opus),
            TransceiverInit {
                direction: TransceiverDirection::SendOnly,
                ..TransceiverInit::default()
            },
        )
        .expect("sendonly");
    let recvonly =
        p.pc.add_transceiver(
            MediaType::Audio,
            TransceiverInit {
                direction: TransceiverDirection::RecvOnly,
                ..TransceiverInit::default()
            },
        )
        .expect("recvonly");
    let stopped =
        p.pc.add_transceiver_with_track(track("c", Codec::Opus), TransceiverInit::default())
            .expect("to stop");
    p.pc.stop_transceiver(stopped).expect("stop");
    for (id, after) in [
        (sendrecv, TransceiverDirection::RecvOnly),
        (sendonly, TransceiverDirection::Inactive),
        (recvonly, TransceiverDirection::RecvOnly),
    ] {
        p.pc.remove_track(id).expect("remove");
        p.pc.remove_track(id).expect("twice is a no-op");
        let info = p.pc.transceiver(id).expect("still there");
        assert_eq!((info.sender_track, info.direction), (None, after));
    }
    assert_eq!(p.pc.transceivers().len(), 4, "senders stay in getSenders()");
    p.pc.remove_track(stopped).expect("no-op on a stopped transceiver");
    let info = p.pc.transceiver(stopped).expect("stopped");
    assert_eq!(info.direction, TransceiverDirection::Stopped);
    assert!(info.sender_track.is_some());
}

#[test]
fn t18_a_removed_remote_track_keeps_its_receiver_mutes_and_leaves_its_stream() {
    let mut sim = Sim::new(6, LinkConditions::perfect());
    let id = sim.a.pc.add_track(track("mic", Codec::Opus)).expect("add");
    connect(&mut sim);
    send_audio(&mut sim, id, 10);
    let receiver = tracks(&sim.b.events)[0].0;
    // The track was muted from its `track` event until its first RTP packet: `unmute` comes
    // after `track` and before the first frame.
    let position = |pred: &dyn Fn(&PeerEvent) -> bool| sim.b.events.iter().position(pred);
    let track_at = position(&|e| matches!(e, PeerEvent::Track { .. })).expect("track");
    let unmute_at = position(&|e| *e == PeerEvent::TrackUnmuted(receiver)).expect("unmute");
    let frame_at = position(&|e| matches!(e, PeerEvent::Frame(t, _) if *t == receiver)).expect("frame");
    assert!(track_at < unmute_at && unmute_at < frame_at);
    assert!(frames_on(&sim.b.take_events(), receiver) > 0, "frames before removal");

    sim.a.pc.remove_track(id).expect("remove");
    sim.offer_to_b();
    // Both before setRemoteDescription returned: `mute`, then `removetrack` on the stream.
    assert_eq!(
        sim.b.take_events(),
        [
            PeerEvent::SignalingStateChange(SignalingState::HaveRemoteOffer),
            PeerEvent::TrackMuted(receiver),
            PeerEvent::StreamTrackRemoved {
                stream_id: "stream".into(),
                transceiver: receiver,
                track_id: "mic".into(),
            },
        ]
    );
    sim.answer_to_a();
    // Once only: completing the exchange does not remove it again.
    let after: Vec<PeerEvent> = sim.b.take_events();
    assert!(
        !after
            .iter()
            .any(|e| matches!(e, PeerEvent::TrackMuted(_) | PeerEvent::StreamTrackRemoved { .. })),
        "{after:?}"
    );
    let info = sim.b.pc.transceiver(receiver).expect("the receiver stays");
    assert!(sim.b.pc.transceivers().iter().any(|t| t.id == receiver));
    assert_eq!(info.current_direction, Some(TransceiverDirection::Inactive));
    assert_eq!(
        sim.a
            .pc
            .write_frame(
                sim.now,
                id,
                &MediaFrame {
                    data: vec![0xF8].into(),
                    pts: Duration::ZERO
                }
            )
            .map_err(|e| e.name()),
        Err("InvalidStateError")
    );
    sim.run_until(Duration::from_millis(300), |_| false);
    assert_eq!(frames_on(&sim.b.take_events(), receiver), 0);
}

#[test]
fn t19_direction_changes_at_once_current_direction_after_negotiation() {
    let mut sim = Sim::new(7, LinkConditions::perfect());
    let id = sim.a.pc.add_track(track("mic", Codec::Opus)).expect("add");
    connect(&mut sim);
    sim.a.take_events();
    sim.a
        .pc
        .set_transceiver_direction(id, TransceiverDirection::SendOnly)
        .expect("set sendonly");
    assert_eq!(
        sim.a.pc.transceiver(id).map(|t| (t.direction, t.current_direction)),
        Some((TransceiverDirection::SendOnly, Some(TransceiverDirection::SendOnly)))
    );
    // Same value (what b's answer negotiated is sendonly already): nothing to negotiate.
    assert_eq!(negotiation_needed_count(&sim.a.take_events()), 0);
    sim.a
        .pc
        .set_transceiver_direction(id, TransceiverDirection::Inactive)
        .expect("set inactive");
    assert_eq!(negotiation_needed_count(&sim.a.take_events()), 1);
    assert_eq!(
        sim.a.pc.transceiver(id).and_then(|t| t.current_direction),
        Some(TransceiverDirection::SendOnly)
    );
    sim.a
        .pc
        .set_transceiver_direction(id, TransceiverDirection::Inactive)
        .expect("same again");
    assert_eq!(negotiation_needed_count(&sim.a.take_events()), 0);
    renegotiate(&mut sim);
    assert_eq!(
        sim.a.pc.transceiver(id).and_then(|t| t.current_direction),
        Some(TransceiverDirection::Inactive)
    );
}

#[test]
fn t20_stop_ends_receiving_and_the_next_negotiation_removes_the_transceiver() {
    let mut sim = Sim::new(8, LinkConditions::perfect());
    let keep = sim.a.pc.add_track(track("mic", Codec::Opus)).expect("keep");
    let stop = sim.a.pc.add_track(track("cam", Codec::Vp8)).expect("stop");
    connect(&mut sim);
    let b_stopped = tracks(&sim.b.events)
        .into_iter()
        .find(|(_, _, id, _)| id == "cam")
        .expect("b got cam")
        .0;
    sim.a.take_events();
    sim.a.pc.stop_transceiver(stop).expect("stop");
    assert_eq!(negotiation_needed_count(&sim.a.take_events()), 1);
    let info = sim.a.pc.transceiver(stop).expect("still there");
    assert_eq!(info.direction, TransceiverDirection::Stopped);
    assert_eq!(sim.a.pc.transceivers().len(), 2, "visible until negotiated");

    sim.offer_to_b();
    let remote = sim.b.pc.transceiver(b_stopped).expect("b's transceiver");
    assert_eq!(remote.current_direction, Some(TransceiverDirection::Stopped));
    assert!(remote.stopped);
    sim.answer_to_a();
    for side in [&sim.a.pc, &sim.b.pc] {
        let left: Vec<TransceiverId> = side.transceivers().iter().map(|t| t.id).collect();
        assert_eq!(left.len(), 1, "the stopped transceiver is gone");
    }
    assert_eq!(sim.a.pc.transceivers()[0].id, keep);
    assert_eq!(
        sim.a.pc.transceiver(stop).and_then(|t| t.current_direction),
        Some(TransceiverDirection::Stopped)
    );
    // The audio on the remaining transceiver still flows.
    send_audio(&mut sim, keep, 5);
    let b_audio = tracks(&sim.b.events)
        .into_iter()
        .find(|(_, _, id, _)| id == "mic")
        .expect("mic")
        .0;
    assert!(frames_on(&sim.b.take_events(), b_audio) > 0);
}

#[test]
fn t21_a_stopped_transceiver_refuses_changes_and_stop_after_close_is_invalid_state() {
    let mut p = peer();
    let id = p.pc.add_track(track("mic", Codec::Opus)).expect("add");
    p.pc.stop_transceiver(id).expect("stop");
    assert_eq!(
        name(p.pc.replace_track(id, Some(track("mic2", Codec::Opus)))),
        "InvalidStateError"
    );
    assert_eq!(
        name(p.pc.set_transceiver_direction(id, TransceiverDirection::SendOnly)),
        "InvalidStateError"
    );
    p.pc.stop_transceiver(id).expect("stopping again is fine");
    p.pc.close();
    assert_eq!(name(p.pc.stop_transceiver(id)), "InvalidStateError");
}

#[test]
fn t22_stopped_before_the_first_offer_gets_no_section_and_later_a_rejected_one() {
    let mut sim = Sim::new(9, LinkConditions::perfect());
    let never = sim.a.pc.add_track(track("never", Codec::Opus)).expect("never");
    sim.a.pc.stop_transceiver(never).expect("stop before offering");
    let later = sim.a.pc.add_track(track("cam", Codec::Vp8)).expect("later");
    sim.a
        .pc
        .create_data_channel("dc", DataChannelInit::default())
        .expect("dc");
    let (offer, _) = renegotiate(&mut sim);
    assert_eq!(offer.sdp.matches("m=audio").count(), 0, "{}", offer.sdp);
    assert_eq!(offer.sdp.matches("m=video 9 ").count(), 1, "{}", offer.sdp);
    assert!(sim.a.pc.transceivers().iter().all(|t| t.id != never));
    sim.a.pc.stop_transceiver(later).expect("stop");
    let reoffer = sim.a.pc.create_offer().expect("re-offer");
    assert!(reoffer.sdp.contains("m=video 0 "), "{}", reoffer.sdp);
}

#[test]
fn t23_close_stops_every_transceiver() {
    let mut sim = Sim::new(10, LinkConditions::perfect());
    sim.a.pc.add_track(track("mic", Codec::Opus)).expect("add");
    sim.a
        .pc
        .add_transceiver(MediaType::Video, TransceiverInit::default())
        .expect("t");
    connect(&mut sim);
    sim.a.pc.close();
    let all = sim.a.pc.transceivers();
    assert_eq!(all.len(), 2);
    for t in all {
        assert!(t.stopped);
        assert_eq!(t.current_direction, Some(TransceiverDirection::Stopped));
        assert_eq!(t.direction, TransceiverDirection::Stopped);
    }
}

#[test]
fn t24_each_change_fires_negotiationneeded_once_and_changes_coalesce() {
    // Each change alone, on a fresh connection in stable.
    type Change = fn(&mut SimPeer);
    let changes: [(&str, Change); 4] = [
        ("createDataChannel", |p| {
            p.pc.create_data_channel("x", DataChannelInit::default())
                .map(drop)
                .expect("dc")
        }),
        ("addTransceiver", |p| {
            p.pc.add_transceiver(MediaType::Audio, TransceiverInit::default())
                .map(drop)
                .expect("t")
        }),
        ("addTrack", |p| {
            p.pc.add_track(track("t", Codec::Opus)).map(drop).expect("t")
        }),
        ("addTrack+removeTrack+addTransceiver", |p| {
            let id = p.pc.add_track(track("t", Codec::Opus)).expect("t");
            p.pc.remove_track(id).expect("remove");
            p.pc.add_transceiver(MediaType::Video, TransceiverInit::default())
                .map(drop)
                .expect("t2");
            p.pc.create_data_channel("x", DataChannelInit::default())
                .map(drop)
                .expect("dc");
        }),
    ];
    for (what, change) in changes {
        let mut p = peer();
        change(&mut p);
        assert_eq!(negotiation_needed_count(&p.take_events()), 1, "{what}");
    }
    // On a negotiated connection: removeTrack and a direction change each fire once more.
    let mut sim = Sim::new(11, LinkConditions::perfect());
    let id = sim.a.pc.add_track(track("mic", Codec::Opus)).expect("add");
    renegotiate(&mut sim);
    sim.a.take_events();
    sim.a.pc.remove_track(id).expect("remove");
    assert_eq!(negotiation_needed_count(&sim.a.take_events()), 1, "removeTrack");
    renegotiate(&mut sim);
    sim.a.take_events();
    sim.a
        .pc
        .set_transceiver_direction(id, TransceiverDirection::SendOnly)
        .expect("direction");
    assert_eq!(negotiation_needed_count(&sim.a.take_events()), 1, "direction");
}

#[test]
fn t25_negotiationneeded_waits_for_stable_and_follows_its_signalingstatechange() {
    let mut sim = Sim::new(12, LinkConditions::perfect());
    sim.a.pc.add_track(track("mic", Codec::Opus)).expect("add");
    let offer = sim.a.pc.create_offer().expect("offer");
    sim.a
        .pc
        .set_local_description(sim.now, Some(offer.clone()))
        .expect("SLD");
    sim.a.take_events();
    // A change made in have-local-offer fires nothing yet.
    sim.a
        .pc
        .add_track(track("cam", Codec::Vp8))
        .expect("add in have-local-offer");
    sim.a
        .pc
        .create_data_channel("dc", DataChannelInit::default())
        .expect("dc");
    assert_eq!(negotiation_needed_count(&sim.a.take_events()), 0);
    sim.b.pc.set_remote_description(sim.now, offer).expect("SRD");
    sim.answer_to_a();
    let events = sim.a.take_events();
    let stable = events
        .iter()
        .position(|e| *e == PeerEvent::SignalingStateChange(SignalingState::Stable))
        .expect("stable");
    let needed = events
        .iter()
        .position(|e| *e == PeerEvent::NegotiationNeeded)
        .expect("fires once back in stable");
    assert!(stable < needed, "{events:?}");
    assert_eq!(negotiation_needed_count(&events), 1);
    // A rollback back to stable fires it as well when the change is still unnegotiated.
    let offer = sim.a.pc.create_offer().expect("offer 2");
    sim.a.pc.set_local_description(sim.now, Some(offer)).expect("SLD 2");
    sim.a.take_events();
    sim.a
        .pc
        .set_local_description(
            sim.now,
            Some(SessionDescriptionInit {
                kind: SdpType::Rollback,
                sdp: String::new(),
            }),
        )
        .expect("rollback");
    let events = sim.a.take_events();
    assert_eq!(
        events,
        vec![
            PeerEvent::SignalingStateChange(SignalingState::Stable),
            PeerEvent::NegotiationNeeded
        ]
    );
}

#[test]
fn t26_adding_tracks_to_a_bundled_session_gathers_no_more_candidates() {
    let mut sim = Sim::new(13, LinkConditions::perfect());
    sim.a.pc.add_track(track("mic", Codec::Opus)).expect("add");
    connect(&mut sim);
    let count = |events: &[PeerEvent]| {
        events
            .iter()
            .filter(|e| matches!(e, PeerEvent::IceCandidate(_) | PeerEvent::IceGatheringStateChange(_)))
            .count()
    };
    let before = count(&sim.a.events);
    sim.a.pc.add_track(track("cam", Codec::Vp8)).expect("add video");
    let (offer, _) = renegotiate(&mut sim);
    sim.run_until(Duration::from_millis(500), |_| false);
    assert_eq!(count(&sim.a.events), before);
    assert!(offer.sdp.contains("a=group:BUNDLE 0 1"), "{}", offer.sdp);
}

// ---------------------------------------------------------------- renegotiation (issue 6 item 3)

#[test]
fn renegotiation_a_track_added_after_connecting_reaches_the_peer_after_the_re_offer() {
    let mut sim = Sim::new(14, LinkConditions::perfect());
    sim.a
        .pc
        .create_data_channel("dc", DataChannelInit::default())
        .expect("dc");
    connect(&mut sim);
    sim.a.take_events();
    let id = sim.a.pc.add_track(track("late", Codec::Opus)).expect("add");
    assert_eq!(negotiation_needed_count(&sim.a.take_events()), 1);
    renegotiate(&mut sim);
    let heard = tracks(&sim.b.events);
    assert_eq!(heard.len(), 1);
    assert_eq!(heard[0].2, "late");
    send_audio(&mut sim, id, 10);
    assert!(frames_on(&sim.b.events, heard[0].0) >= 5, "frames of the late track");
    // The answerer adds one of its own and offers it: the roles swap without trouble.
    let back = sim.b.pc.add_track(track("reply", Codec::Opus)).expect("b add");
    assert!(sim.b.take_events().contains(&PeerEvent::NegotiationNeeded));
    sim.negotiate_from_b();
    sim.a.collect_events();
    let heard_by_a = tracks(&sim.a.events);
    assert_eq!(heard_by_a.len(), 1, "{heard_by_a:?}");
    assert_eq!(
        sim.b.pc.transceiver(back).and_then(|t| t.current_direction),
        Some(TransceiverDirection::SendRecv)
    );
    assert!(sim.connected());
}

#[test]
fn renegotiation_a_channel_created_on_a_live_association_opens_without_renegotiating() {
    let mut sim = Sim::new(15, LinkConditions::perfect());
    sim.a
        .pc
        .create_data_channel("first", DataChannelInit::default())
        .expect("dc");
    connect(&mut sim);
    assert!(sim.run_until(Duration::from_secs(5), |s| remote_channel(&s.b.events).is_some()));
    sim.a.take_events();
    sim.b.take_events();
    let late = sim
        .a
        .pc
        .create_data_channel("late", DataChannelInit::default())
        .expect("late");
    assert!(sim.a.pc.data_channel(late).and_then(|i| i.stream_id).is_some());
    assert!(sim.run_until(Duration::from_secs(5), |s| opened(&s.a.events, late)));
    let events = sim.a.take_events();
    assert_eq!(negotiation_needed_count(&events), 0, "{events:?}");
    assert!(sim.run_until(Duration::from_secs(5), |s| {
        s.b.collect_events();
        s.b.fresh.iter().any(|e| matches!(e, PeerEvent::DataChannel(_)))
    }));
    let remote = remote_channel(&sim.b.take_events()).expect("datachannel on b");
    assert_eq!(sim.b.pc.data_channel(remote).map(|i| i.label), Some("late".into()));
    sim.a
        .pc
        .send(late, &DataChannelMessage::Text("hi".into()))
        .expect("send");
    assert!(sim.run_until(Duration::from_secs(5), |s| s.b.events.contains(
        &PeerEvent::ChannelMessage(remote, DataChannelMessage::Text("hi".into()))
    )));
}

#[test]
fn renegotiation_a_first_channel_on_a_media_only_connection_needs_and_gets_a_data_section() {
    let mut sim = Sim::new(16, LinkConditions::perfect());
    sim.a.pc.add_track(track("mic", Codec::Opus)).expect("add");
    connect(&mut sim);
    sim.a.take_events();
    let dc = sim
        .a
        .pc
        .create_data_channel("dc", DataChannelInit::default())
        .expect("dc");
    assert_eq!(negotiation_needed_count(&sim.a.take_events()), 1);
    let (offer, _) = renegotiate(&mut sim);
    assert!(offer.sdp.contains("m=application"), "{}", offer.sdp);
    // The association starts on the DTLS transport that already carries the media.
    assert!(
        sim.run_until(Duration::from_secs(10), |s| opened(&s.a.events, dc)),
        "the channel never opened on the renegotiated connection"
    );
}

// ---------------------------------------------------------------- 5. ICE

fn gathering_states(events: &[PeerEvent]) -> Vec<IceGatheringState> {
    events
        .iter()
        .filter_map(|e| match e {
            PeerEvent::IceGatheringStateChange(s) => Some(*s),
            _ => None,
        })
        .collect()
}

#[test]
fn i1_sld_offer_gathers_new_to_gathering_to_complete() {
    let mut p = peer();
    assert_eq!(p.pc.ice_gathering_state(), IceGatheringState::New);
    p.pc.create_data_channel("dc", DataChannelInit::default()).expect("dc");
    let now = std::time::Instant::now();
    p.pc.set_local_description(now, None).expect("SLD");
    assert_eq!(gathering_states(&p.take_events()), vec![IceGatheringState::Gathering]);
    // The candidates (and, with no servers, the end of gathering) come on the next timer.
    p.pc.handle_timeout(now);
    assert_eq!(gathering_states(&p.take_events()), vec![IceGatheringState::Complete]);
    assert_eq!(p.pc.ice_gathering_state(), IceGatheringState::Complete);
}

#[test]
fn i2_an_offer_without_sections_and_a_re_offer_change_no_gathering_state() {
    let mut p = peer();
    let now = std::time::Instant::now();
    p.pc.set_local_description(now, None).expect("SLD of an empty offer");
    assert!(gathering_states(&p.take_events()).is_empty());
    assert_eq!(p.pc.ice_gathering_state(), IceGatheringState::New);

    let mut sim = Sim::new(20, LinkConditions::perfect());
    sim.a
        .pc
        .create_data_channel("dc", DataChannelInit::default())
        .expect("dc");
    connect(&mut sim);
    sim.a.take_events();
    sim.a.pc.add_track(track("mic", Codec::Opus)).expect("add");
    renegotiate(&mut sim);
    assert!(gathering_states(&sim.a.take_events()).is_empty());
}

#[test]
fn i4_srd_and_its_rollback_never_change_the_gathering_state() {
    let mut sim = Sim::new(21, LinkConditions::perfect());
    sim.a
        .pc
        .create_data_channel("dc", DataChannelInit::default())
        .expect("dc");
    let offer = sim.a.pc.create_offer().expect("offer");
    for _ in 0..3 {
        sim.b.pc.set_remote_description(sim.now, offer.clone()).expect("SRD");
    }
    sim.b
        .pc
        .set_remote_description(
            sim.now,
            SessionDescriptionInit {
                kind: SdpType::Rollback,
                sdp: String::new(),
            },
        )
        .expect("rollback");
    assert!(gathering_states(&sim.b.take_events()).is_empty());
    assert_eq!(sim.b.pc.ice_gathering_state(), IceGatheringState::New);
}

#[test]
fn i5_a_renegotiation_that_stops_every_transceiver_takes_gathering_back_to_new() {
    let mut sim = Sim::new(23, LinkConditions::perfect());
    let init = TransceiverInit {
        direction: TransceiverDirection::RecvOnly,
        ..TransceiverInit::default()
    };
    let id = sim.a.pc.add_transceiver(MediaType::Audio, init).expect("audio");
    connect(&mut sim);
    assert_eq!(sim.a.pc.ice_gathering_state(), IceGatheringState::Complete);
    assert_eq!(sim.b.pc.ice_gathering_state(), IceGatheringState::Complete);
    sim.a.take_events();
    sim.b.take_events();

    sim.a.pc.stop_transceiver(id).expect("stop");
    sim.offer_to_b();
    let answer = sim.b.pc.create_answer().expect("answer");
    sim.b
        .pc
        .set_local_description(sim.now, Some(answer.clone()))
        .expect("b SLD");
    assert_eq!(sim.b.pc.ice_gathering_state(), IceGatheringState::New);
    sim.a.pc.set_remote_description(sim.now, answer).expect("a SRD");
    assert_eq!(sim.a.pc.ice_gathering_state(), IceGatheringState::New);
    for events in [sim.a.take_events(), sim.b.take_events()] {
        assert_eq!(gathering_states(&events), [IceGatheringState::New]);
    }

    // A later negotiation that brings a section back gathers again.
    sim.a
        .pc
        .create_data_channel("dc", DataChannelInit::default())
        .expect("dc");
    sim.negotiate();
    assert!(sim.run_until(Duration::from_secs(5), |s| {
        s.a.pc.ice_gathering_state() == IceGatheringState::Complete
            && s.b.pc.ice_gathering_state() == IceGatheringState::Complete
    }));
}

#[test]
fn i7_i8_candidates_are_in_the_local_description_when_icecandidate_is_heard() {
    let mut p = peer();
    p.pc.create_data_channel("dc", DataChannelInit::default()).expect("dc");
    let now = std::time::Instant::now();
    p.pc.set_local_description(now, None).expect("SLD");
    // Right after setLocalDescription: gathering has begun, but no candidate is out yet.
    let sdp = p.pc.local_description().expect("local description").sdp;
    assert!(!sdp.contains("a=candidate:"), "{sdp}");
    let after_sld = p.take_events();
    assert!(after_sld.contains(&PeerEvent::IceGatheringStateChange(IceGatheringState::Gathering)));
    assert!(
        !after_sld.iter().any(|e| matches!(e, PeerEvent::IceCandidate(_))),
        "{after_sld:?}"
    );
    // Gathering runs on the next timer, which is due at once.
    let due = p.pc.poll_timeout().expect("gathering is due");
    assert!(due <= now, "gathering is not delayed");
    p.pc.handle_timeout(due);
    let events = p.take_events();
    let candidate = events
        .iter()
        .find_map(|e| match e {
            PeerEvent::IceCandidate(Some(c)) => Some(c.clone()),
            _ => None,
        })
        .expect("a host candidate");
    let sdp = p.pc.local_description().expect("local description").sdp;
    assert!(sdp.contains(&format!("a={}", candidate.candidate)), "{sdp}");
}

#[test]
fn i9_gathering_ends_with_the_null_candidate_and_trickled_candidates_connect() {
    let mut sim = Sim::new(22, LinkConditions::perfect());
    sim.a
        .pc
        .create_data_channel("dc", DataChannelInit::default())
        .expect("dc");
    connect(&mut sim);
    for side in [&sim.a.events, &sim.b.events] {
        let last_candidate = side
            .iter()
            .rposition(|e| matches!(e, PeerEvent::IceCandidate(_)))
            .expect("candidates");
        assert_eq!(side[last_candidate], PeerEvent::IceCandidate(None));
        let complete = side
            .iter()
            .position(|e| *e == PeerEvent::IceGatheringStateChange(IceGatheringState::Complete))
            .expect("complete");
        assert!(complete < last_candidate);
    }
}

#[test]
fn i11_offers_say_ice_options_trickle() {
    let mut p = peer();
    p.pc.create_data_channel("dc", DataChannelInit::default()).expect("dc");
    assert!(p
        .pc
        .create_offer()
        .expect("offer")
        .sdp
        .contains("a=ice-options:trickle"));
}

#[test]
fn i13_add_ice_candidate_before_a_remote_description_is_invalid_state() {
    let mut p = peer();
    let c = IceCandidateInit {
        candidate: "candidate:1 1 udp 2122260223 127.0.0.1 5000 typ host".into(),
        sdp_mid: Some("0".into()),
        ..IceCandidateInit::default()
    };
    assert_eq!(
        name(p.pc.add_ice_candidate(std::time::Instant::now(), Some(c))),
        "InvalidStateError"
    );
}

/// b with a's offer (one data section, mid 0, and an audio section, mid 1) applied.
fn with_remote_offer() -> (Sim, String) {
    let mut sim = Sim::new(23, LinkConditions::perfect());
    sim.a
        .pc
        .create_data_channel("dc", DataChannelInit::default())
        .expect("dc");
    sim.a.pc.add_track(track("mic", Codec::Opus)).expect("add");
    let offer = sim.offer_to_b();
    let ufrag = offer
        .sdp
        .lines()
        .find_map(|l| l.strip_prefix("a=ice-ufrag:"))
        .expect("ufrag")
        .to_string();
    (sim, ufrag)
}

const HOST: &str = "candidate:1 1 udp 2122260223 127.0.0.9 5000 typ host";

#[test]
fn i14_a_candidate_needs_only_a_mid_or_only_an_index_and_a_valid_mid_wins() {
    let (mut sim, ufrag) = with_remote_offer();
    let now = sim.now;
    let cases = [
        (Some("0"), None, None),
        (None, Some(1), None),
        (Some("1"), Some(99), None),
        (Some("0"), None, Some(ufrag.clone())),
    ];
    for (i, (mid, index, ufrag)) in cases.into_iter().enumerate() {
        let c = IceCandidateInit {
            candidate: format!("candidate:{i} 1 udp 2122260223 127.0.0.9 {} typ host", 5000 + i),
            sdp_mid: mid.map(str::to_string),
            sdp_m_line_index: index,
            username_fragment: ufrag,
        };
        sim.b.pc.add_ice_candidate(now, Some(c.clone())).expect("accepted");
        // The candidate joins its media section of the remote description.
        let sdp = sim.b.pc.remote_description().expect("remote").sdp;
        let expected = [0, 1, 1, 0][i];
        let section = sdp.split("\r\nm=").nth(1 + expected).expect("section").to_string();
        let wanted = format!("a={}", c.candidate);
        assert!(section.lines().any(|l| l == wanted), "case {i}: {sdp}");
    }
}

#[test]
fn i15_end_of_candidates_forms_and_an_unknown_ufrag() {
    let (mut sim, ufrag) = with_remote_offer();
    let now = sim.now;
    sim.b
        .pc
        .add_ice_candidate(
            now,
            Some(IceCandidateInit {
                username_fragment: Some(ufrag.clone()),
                sdp_mid: Some("1".into()),
                ..IceCandidateInit::default()
            }),
        )
        .expect("with ufrag and mid");
    let sdp = sim.b.pc.remote_description().expect("remote").sdp;
    assert_eq!(sdp.matches("a=end-of-candidates").count(), 1, "{sdp}");
    assert!(sdp
        .split("\r\nm=")
        .nth(2)
        .expect("mid 1")
        .contains("a=end-of-candidates"));
    sim.b.pc.add_ice_candidate(now, None).expect("null");
    let sdp = sim.b.pc.remote_description().expect("remote").sdp;
    assert_eq!(sdp.matches("a=end-of-candidates").count(), 2, "every section: {sdp}");
    sim.b
        .pc
        .add_ice_candidate(now, Some(IceCandidateInit::default()))
        .expect("{}");
    sim.b
        .pc
        .add_ice_candidate(
            now,
            Some(IceCandidateInit {
                username_fragment: Some(ufrag),
                sdp_mid: Some("0".into()),
                ..IceCandidateInit::default()
            }),
        )
        .expect("with ufrag and mid");
    let unknown = IceCandidateInit {
        username_fragment: Some("no such ufrag".into()),
        ..IceCandidateInit::default()
    };
    assert_eq!(name(sim.b.pc.add_ice_candidate(now, Some(unknown))), "OperationError");
}

#[test]
fn i16_a_candidate_without_mid_and_index_is_a_type_error() {
    let (mut sim, _) = with_remote_offer();
    let c = IceCandidateInit {
        candidate: HOST.into(),
        ..IceCandidateInit::default()
    };
    assert_eq!(name(sim.b.pc.add_ice_candidate(sim.now, Some(c))), "TypeError");
}

#[test]
fn i17_unknown_mid_index_ufrag_or_garbage_is_an_operation_error() {
    let (mut sim, _) = with_remote_offer();
    let now = sim.now;
    let base = IceCandidateInit {
        candidate: HOST.into(),
        sdp_mid: Some("0".into()),
        ..IceCandidateInit::default()
    };
    let cases = [
        IceCandidateInit {
            sdp_mid: Some("nope".into()),
            ..base.clone()
        },
        IceCandidateInit {
            sdp_mid: None,
            sdp_m_line_index: Some(7),
            ..base.clone()
        },
        IceCandidateInit {
            username_fragment: Some("other".into()),
            ..base.clone()
        },
        IceCandidateInit {
            candidate: "candidate:garbage".into(),
            ..base.clone()
        },
    ];
    for c in cases {
        assert_eq!(
            name(sim.b.pc.add_ice_candidate(now, Some(c.clone()))),
            "OperationError",
            "{c:?}"
        );
    }
    // The connection is still usable.
    sim.b.pc.add_ice_candidate(now, Some(base)).expect("a good one");
}

#[test]
fn i20_a_candidate_for_a_stopped_transceivers_section_does_not_break_the_connection() {
    let mut sim = Sim::new(24, LinkConditions::perfect());
    sim.a
        .pc
        .create_data_channel("dc", DataChannelInit::default())
        .expect("dc");
    let stop = sim.a.pc.add_track(track("mic", Codec::Opus)).expect("add");
    connect(&mut sim);
    sim.a.pc.stop_transceiver(stop).expect("stop");
    renegotiate(&mut sim);
    let c = IceCandidateInit {
        candidate: HOST.into(),
        sdp_mid: Some("1".into()),
        ..IceCandidateInit::default()
    };
    // Accepted or refused, it leaves the connection up.
    let _ = sim.b.pc.add_ice_candidate(sim.now, Some(c));
    sim.run_until(Duration::from_secs(2), |_| false);
    assert!(sim.connected());
}

#[test]
fn i21_the_selected_pair_matches_the_peers_and_none_before_connecting() {
    let mut sim = Sim::new(25, LinkConditions::perfect());
    assert_eq!(sim.a.pc.selected_candidate_pair(), None);
    sim.a
        .pc
        .create_data_channel("dc", DataChannelInit::default())
        .expect("dc");
    connect(&mut sim);
    let (a_local, a_remote) = sim.a.pc.selected_candidate_pair().expect("a pair");
    let (b_local, b_remote) = sim.b.pc.selected_candidate_pair().expect("b pair");
    assert_eq!((a_local, a_remote), (b_remote, b_local));
    assert_eq!((a_local, b_local), (sim.a.addr, sim.b.addr));
}

// ---------------------------------------------------------------- 6. states

#[test]
fn s1_states_start_new() {
    let p = peer();
    assert_eq!(p.pc.connection_state(), PeerConnectionState::New);
    assert_eq!(p.pc.ice_connection_state(), IceConnectionState::New);
}

#[test]
fn s2_x2_close_makes_the_states_closed_at_once_without_events() {
    let mut sim = Sim::new(26, LinkConditions::perfect());
    sim.a
        .pc
        .create_data_channel("dc", DataChannelInit::default())
        .expect("dc");
    connect(&mut sim);
    sim.a.take_events();
    sim.a.pc.close();
    assert_eq!(sim.a.pc.connection_state(), PeerConnectionState::Closed);
    assert_eq!(sim.a.pc.ice_connection_state(), IceConnectionState::Closed);
    assert!(sim.a.take_events().is_empty());
}

#[test]
fn s3_without_remote_candidates_both_stay_new() {
    let mut sim = Sim::new(27, LinkConditions::perfect());
    sim.trickle = false;
    sim.a
        .pc
        .create_data_channel("dc", DataChannelInit::default())
        .expect("dc");
    sim.negotiate();
    sim.run_until(Duration::from_secs(5), |_| false);
    for pc in [&sim.a.pc, &sim.b.pc] {
        assert_eq!(pc.connection_state(), PeerConnectionState::New);
        assert_eq!(pc.ice_connection_state(), IceConnectionState::New);
    }
}

#[test]
fn s4_s5_s6_a_connection_goes_through_connecting_and_checking() {
    let mut sim = Sim::new(28, LinkConditions::perfect());
    sim.a
        .pc
        .create_data_channel("dc", DataChannelInit::default())
        .expect("dc");
    connect(&mut sim);
    for side in [&sim.a.events, &sim.b.events] {
        assert_eq!(
            connection_states(side),
            vec![PeerConnectionState::Connecting, PeerConnectionState::Connected]
        );
        let ice = ice_states(side);
        assert_eq!(
            ice[..2],
            [IceConnectionState::Checking, IceConnectionState::Connected],
            "{ice:?}"
        );
        assert!(ice[2..].iter().all(|s| *s == IceConnectionState::Completed), "{ice:?}");
    }
    let stats = sim.a.pc.get_stats(sim.now, 1.0);
    let transport = stats
        .iter()
        .find_map(|s| match &s.kind {
            rtcpeer_proto::stats::StatsKind::Transport(t) => Some(t.clone()),
            _ => None,
        })
        .expect("transport stats");
    assert_eq!(format!("{:?}", transport.dtls_state), "Connected");
}

#[test]
fn s7_ice_connects_with_recvonly_media_only() {
    let mut sim = Sim::new(29, LinkConditions::perfect());
    sim.a
        .pc
        .add_transceiver(
            MediaType::Audio,
            TransceiverInit {
                direction: TransceiverDirection::RecvOnly,
                ..TransceiverInit::default()
            },
        )
        .expect("recvonly");
    connect(&mut sim);
}

#[test]
fn s8_x10_closing_one_peer_drives_the_other_to_disconnected() {
    let mut sim = Sim::new(30, LinkConditions::perfect());
    sim.a
        .pc
        .create_data_channel("dc", DataChannelInit::default())
        .expect("dc");
    connect(&mut sim);
    sim.b.pc.close();
    assert!(
        sim.run_until(Duration::from_secs(60), |s| {
            s.a.pc.ice_connection_state() == IceConnectionState::Disconnected
                || s.a.pc.ice_connection_state() == IceConnectionState::Failed
        }),
        "a stayed {:?}",
        sim.a.pc.ice_connection_state()
    );
    sim.a.collect_events();
    assert!(ice_states(&sim.a.events).contains(&IceConnectionState::Disconnected));
}

#[test]
fn s8_an_unusable_candidate_added_after_connecting_leaves_the_connection_connected() {
    let mut sim = Sim::new(32, LinkConditions::perfect());
    sim.a
        .pc
        .create_data_channel("dc", DataChannelInit::default())
        .expect("dc");
    connect(&mut sim);
    let before = sim.a.pc.ice_connection_state();
    assert!(matches!(
        before,
        IceConnectionState::Connected | IceConnectionState::Completed
    ));
    sim.a.take_events();
    // An address nothing answers from (TEST-NET-3, RFC 5737): its checks can only fail.
    let unusable = IceCandidateInit {
        candidate: "candidate:9 1 udp 2122260223 203.0.113.9 40000 typ host".into(),
        sdp_mid: Some("0".into()),
        ..IceCandidateInit::default()
    };
    let checks_before = sim.a.pc.ice_stats().checks_sent;
    sim.a.pc.add_ice_candidate(sim.now, Some(unusable)).expect("added");
    // Long enough for every check of the new pair to time out (RFC 8445: under 40 s).
    sim.run_until(Duration::from_secs(45), |_| false);
    assert!(
        sim.a.pc.ice_stats().checks_sent > checks_before,
        "the new pair was checked"
    );
    assert_eq!(sim.a.pc.ice_connection_state(), before);
    assert_eq!(sim.a.pc.connection_state(), PeerConnectionState::Connected);
    let events = sim.a.take_events();
    assert!(
        !events.iter().any(|e| matches!(
            e,
            PeerEvent::IceConnectionStateChange(_) | PeerEvent::ConnectionStateChange(_)
        )),
        "{events:?}"
    );
}

#[test]
fn s9_the_selected_pair_matches_the_candidate_pair_stats() {
    use rtcpeer_proto::stats::StatsKind;
    let mut sim = Sim::new(31, LinkConditions::perfect());
    sim.a
        .pc
        .create_data_channel("dc", DataChannelInit::default())
        .expect("dc");
    connect(&mut sim);
    let (local, remote) = sim.a.pc.selected_candidate_pair().expect("pair");
    let report = sim.a.pc.get_stats(sim.now, 1.0);
    let pair_id = report
        .iter()
        .find_map(|s| match &s.kind {
            StatsKind::Transport(t) => t.selected_candidate_pair_id.clone(),
            _ => None,
        })
        .expect("selected pair id");
    let Some(StatsKind::CandidatePair(pair)) = report.get(&pair_id).map(|s| &s.kind) else {
        panic!("no pair {pair_id}");
    };
    for (id, addr) in [(&pair.local_candidate_id, local), (&pair.remote_candidate_id, remote)] {
        let Some(StatsKind::LocalCandidate(c) | StatsKind::RemoteCandidate(c)) = report.get(id).map(|s| &s.kind) else {
            panic!("no candidate {id}");
        };
        assert_eq!((c.address.clone(), c.port), (Some(addr.ip().to_string()), addr.port()));
    }
}

// ---------------------------------------------------------------- 7. data channels

fn init() -> DataChannelInit {
    DataChannelInit::default()
}

#[test]
fn dc2_x5_create_data_channel_on_a_closed_connection_is_invalid_state() {
    let mut p = peer();
    p.pc.close();
    assert_eq!(name(p.pc.create_data_channel("x", init())), "InvalidStateError");
}

#[test]
fn dc3_defaults() {
    let mut p = peer();
    let id = p.pc.create_data_channel("label", init()).expect("dc");
    let info = p.pc.data_channel(id).expect("info");
    assert_eq!(info.label, "label");
    assert!(info.ordered);
    assert_eq!((info.max_packet_life_time, info.max_retransmits), (None, None));
    assert_eq!(info.protocol, "");
    assert!(!info.negotiated);
    assert_eq!(info.stream_id, None, "no id before the DTLS role is known");
    assert_eq!(info.state, DataChannelState::Connecting);
    assert_eq!((info.buffered_amount, info.buffered_amount_low_threshold), (0, 0));
}

#[test]
fn dc4_dc6_dc7_given_options_read_back() {
    let mut p = peer();
    let id =
        p.pc.create_data_channel(
            "x",
            DataChannelInit {
                ordered: false,
                max_retransmits: Some(1),
                protocol: "custom".into(),
                negotiated: true,
                id: Some(3),
                ..init()
            },
        )
        .expect("dc");
    let info = p.pc.data_channel(id).expect("info");
    assert_eq!(
        (info.ordered, info.max_retransmits, info.max_packet_life_time),
        (false, Some(1), None)
    );
    assert_eq!(
        (info.protocol.as_str(), info.negotiated, info.stream_id),
        ("custom", true, Some(3))
    );
    let life =
        p.pc.create_data_channel(
            "y",
            DataChannelInit {
                max_packet_life_time: Some(42),
                ..init()
            },
        )
        .expect("dc");
    let info = p.pc.data_channel(life).expect("info");
    assert_eq!((info.max_packet_life_time, info.max_retransmits), (Some(42), None));
    for (mpl, mr) in [(Some(0), None), (None, Some(0))] {
        let id =
            p.pc.create_data_channel(
                "z",
                DataChannelInit {
                    max_packet_life_time: mpl,
                    max_retransmits: mr,
                    ..init()
                },
            )
            .expect("zero is valid");
        let info = p.pc.data_channel(id).expect("info");
        assert_eq!((info.max_packet_life_time, info.max_retransmits), (mpl, mr));
    }
}

#[test]
fn dc8_both_reliability_limits_is_a_type_error_even_when_zero() {
    let mut p = peer();
    let both = DataChannelInit {
        max_packet_life_time: Some(0),
        max_retransmits: Some(0),
        ..init()
    };
    assert_eq!(name(p.pc.create_data_channel("x", both)), "TypeError");
}

#[test]
fn dc9_dc11_an_id_without_negotiated_is_ignored() {
    let mut p = peer();
    for id in [0, 1, 42, 65534, 65535] {
        let c =
            p.pc.create_data_channel("x", DataChannelInit { id: Some(id), ..init() })
                .expect("ignored id");
        assert_eq!(p.pc.data_channel(c).and_then(|i| i.stream_id), None, "{id}");
    }
}

#[test]
fn dc10_dc11_negotiated_ids_are_kept_and_65535_or_none_is_a_type_error() {
    let mut p = peer();
    for id in [0, 1, 65534] {
        let c =
            p.pc.create_data_channel(
                "x",
                DataChannelInit {
                    negotiated: true,
                    id: Some(id),
                    ..init()
                },
            )
            .expect("negotiated");
        assert_eq!(p.pc.data_channel(c).and_then(|i| i.stream_id), Some(id));
    }
    for id in [Some(65535), None] {
        let bad = DataChannelInit {
            negotiated: true,
            id,
            ..init()
        };
        assert_eq!(name(p.pc.create_data_channel("x", bad)), "TypeError", "{id:?}");
    }
}

#[test]
fn dc12_label_and_protocol_are_limited_to_65535_utf8_bytes() {
    let mut p = peer();
    let exact = "a".repeat(65535);
    p.pc.create_data_channel(&exact, init()).expect("65535 bytes");
    // 32768 two-byte characters: 65536 bytes.
    let long = "é".repeat(32768);
    assert_eq!(name(p.pc.create_data_channel(&long, init())), "TypeError");
    let protocol = DataChannelInit {
        protocol: long,
        ..init()
    };
    assert_eq!(name(p.pc.create_data_channel("x", protocol)), "TypeError");
}

#[test]
fn dc13_the_same_label_twice_is_allowed() {
    let mut p = peer();
    let a = p.pc.create_data_channel("same", init()).expect("1");
    let b = p.pc.create_data_channel("same", init()).expect("2");
    assert_ne!(a, b);
}

#[test]
fn dc14_a_negotiated_id_in_use_is_an_operation_error_before_and_after_connecting() {
    let negotiated = DataChannelInit {
        negotiated: true,
        id: Some(42),
        ..init()
    };
    let mut sim = Sim::new(40, LinkConditions::perfect());
    sim.a.pc.create_data_channel("x", negotiated.clone()).expect("first");
    assert_eq!(
        name(sim.a.pc.create_data_channel("y", negotiated.clone())),
        "OperationError"
    );
    connect(&mut sim);
    assert_eq!(name(sim.a.pc.create_data_channel("z", negotiated)), "OperationError");
}

#[test]
fn dc15_dc22_ids_are_known_once_the_role_is_and_follow_its_parity() {
    let mut sim = Sim::new(41, LinkConditions::perfect());
    let early = sim.a.pc.create_data_channel("early", init()).expect("early");
    sim.negotiate();
    // Both sides know their DTLS role now, before DTLS has even started.
    let a_id = sim.a.pc.data_channel(early).and_then(|i| i.stream_id).expect("a's id");
    let b_chan = sim.b.pc.create_data_channel("b", init()).expect("b");
    let b_id = sim.b.pc.data_channel(b_chan).and_then(|i| i.stream_id).expect("b's id");
    // b answered `active` (DTLS client: even ids, RFC 8832 §6); a is the server (odd).
    assert!(sim.b.pc.local_description().expect("b").sdp.contains("a=setup:active"));
    assert_eq!((b_id % 2, a_id % 2), (0, 1));
    let negotiated = sim
        .a
        .pc
        .create_data_channel(
            "n",
            DataChannelInit {
                negotiated: true,
                id: Some(3),
                ..init()
            },
        )
        .expect("negotiated");
    let next = sim.a.pc.create_data_channel("next", init()).expect("next");
    let next_id = sim.a.pc.data_channel(next).and_then(|i| i.stream_id).expect("id");
    assert_eq!(next_id % 2, 1);
    assert_ne!(
        Some(next_id),
        sim.a.pc.data_channel(negotiated).and_then(|i| i.stream_id)
    );
}

#[test]
fn dc16_the_first_channel_adds_an_application_section_next_to_media() {
    let mut sim = Sim::new(42, LinkConditions::perfect());
    sim.a.pc.add_track(track("mic", Codec::Opus)).expect("add");
    let dc = sim.a.pc.create_data_channel("dc", init()).expect("dc");
    let offer = sim.a.pc.create_offer().expect("offer");
    assert_eq!(offer.sdp.matches("m=application").count(), 1);
    assert!(offer.sdp.contains("a=group:BUNDLE 0 1"), "{}", offer.sdp);
    connect(&mut sim);
    assert!(sim.run_until(Duration::from_secs(5), |s| opened(&s.a.events, dc)));
}

#[test]
fn dc17_only_the_first_channel_fires_negotiationneeded() {
    let mut p = peer();
    p.pc.create_data_channel("1", init()).expect("1");
    p.pc.create_data_channel("2", init()).expect("2");
    assert_eq!(negotiation_needed_count(&p.take_events()), 1);
}

#[test]
fn dc18_dc19_dc20_dc21_the_remote_hears_each_in_band_channel_once_with_its_configuration() {
    let mut sim = Sim::new(43, LinkConditions::perfect());
    let configs = [
        ("plain", init()),
        (
            "lossy",
            DataChannelInit {
                ordered: false,
                max_retransmits: Some(2),
                protocol: "proto".into(),
                ..init()
            },
        ),
        (
            "timed",
            DataChannelInit {
                max_packet_life_time: Some(500),
                ..init()
            },
        ),
    ];
    let mut local = Vec::new();
    for (label, config) in configs.iter().cloned() {
        local.push(sim.a.pc.create_data_channel(label, config).expect("dc"));
    }
    let negotiated = sim
        .a
        .pc
        .create_data_channel(
            "negotiated",
            DataChannelInit {
                negotiated: true,
                id: Some(100),
                ..init()
            },
        )
        .expect("negotiated");
    connect(&mut sim);
    assert!(sim.run_until(Duration::from_secs(5), |s| {
        s.b.events
            .iter()
            .filter(|e| matches!(e, PeerEvent::DataChannel(_)))
            .count()
            >= 3
    }));
    sim.run_until(Duration::from_millis(500), |_| false);
    let remote: Vec<ChannelId> = sim
        .b
        .events
        .iter()
        .filter_map(|e| match e {
            PeerEvent::DataChannel(id) => Some(*id),
            _ => None,
        })
        .collect();
    assert_eq!(
        remote.len(),
        3,
        "one event per in-band channel, none for the negotiated one"
    );
    for (remote_id, local_id) in remote.iter().zip(&local) {
        let theirs = sim.b.pc.data_channel(*remote_id).expect("remote");
        let ours = sim.a.pc.data_channel(*local_id).expect("local");
        assert_eq!(theirs.state, DataChannelState::Open);
        assert_eq!(
            (
                &theirs.label,
                theirs.ordered,
                theirs.max_packet_life_time,
                theirs.max_retransmits,
                &theirs.protocol,
                theirs.negotiated,
                theirs.stream_id
            ),
            (
                &ours.label,
                ours.ordered,
                ours.max_packet_life_time,
                ours.max_retransmits,
                &ours.protocol,
                false,
                ours.stream_id
            )
        );
    }
    assert!(remote
        .iter()
        .all(|r| sim.b.pc.data_channel(*r).map(|i| i.label) != Some("negotiated".into())));
    // Sending from b at once, as from inside the `datachannel` handler, reaches a.
    sim.b
        .pc
        .send(remote[0], &DataChannelMessage::Text("hello".into()))
        .expect("send");
    assert!(sim.run_until(Duration::from_secs(5), |s| s.a.events.contains(
        &PeerEvent::ChannelMessage(local[0], DataChannelMessage::Text("hello".into()))
    )));
    let _ = negotiated;
}

#[test]
fn dc23_running_out_of_channels_is_an_operation_error() {
    let mut p = peer();
    let mut made = 0;
    let error = loop {
        match p.pc.create_data_channel("x", init()) {
            Ok(_) => made += 1,
            Err(e) => break e,
        }
        assert!(made <= 65536, "no limit");
    };
    assert_eq!(error.name(), "OperationError");
    assert!(made >= 1024, "{made}");
}

#[test]
fn dc23_running_out_of_ids_at_connection_time_fails_the_channel_with_an_error() {
    use rtcpeer_proto::datachannel::DataChannelsConfig;
    use rtcpeer_proto::peer::PeerConfig;
    // Stream ids up to 3 only: the offerer is the DTLS server (the answerer is active), so it
    // has the odd ids 1 and 3.
    let config = PeerConfig {
        data_channels: DataChannelsConfig {
            max_stream_id: 3,
            ..DataChannelsConfig::default()
        },
        ..PeerConfig::default()
    };
    let mut sim = Sim::with_config(45, LinkConditions::perfect(), config);
    // Before the role is known nothing says the ids will run out: creating succeeds.
    let made: Vec<ChannelId> = (0..3)
        .map(|i| sim.a.pc.create_data_channel(&format!("c{i}"), init()).expect("created"))
        .collect();
    connect(&mut sim);
    assert!(sim.run_until(Duration::from_secs(5), |s| opened(&s.a.events, made[0])
        && opened(&s.a.events, made[1])));
    let ids: Vec<Option<u16>> = made
        .iter()
        .map(|c| sim.a.pc.data_channel(*c).and_then(|i| i.stream_id))
        .collect();
    assert_eq!(&ids[..2], [Some(1), Some(3)]);
    // The third gets `error`, then `close`, and never opens.
    let last = made[2];
    let error_at = sim
        .a
        .events
        .iter()
        .position(|e| matches!(e, PeerEvent::ChannelError(c, _) if *c == last))
        .expect("an error event");
    let close_at = sim
        .a
        .events
        .iter()
        .position(|e| *e == PeerEvent::ChannelClose(last))
        .expect("a close event");
    assert!(error_at < close_at);
    assert!(!opened(&sim.a.events, last));
    assert!(sim
        .a
        .pc
        .data_channel(last)
        .is_none_or(|i| i.state == DataChannelState::Closed));
    // From now on the shortage is known when the channel is created.
    let refused = sim.a.pc.create_data_channel("more", init());
    assert_eq!(refused.map_err(|e| e.name()), Err("OperationError"));
}

#[test]
fn dc24_x9_close_closes_every_channel_at_once() {
    let mut sim = Sim::new(44, LinkConditions::perfect());
    let before = sim.a.pc.create_data_channel("before", init()).expect("dc");
    let negotiated = sim
        .a
        .pc
        .create_data_channel(
            "n",
            DataChannelInit {
                negotiated: true,
                id: Some(8),
                ..init()
            },
        )
        .expect("dc");
    connect(&mut sim);
    assert!(sim.run_until(Duration::from_secs(5), |s| opened(&s.a.events, before)));
    let after = sim.a.pc.create_data_channel("after", init()).expect("dc");
    sim.a.take_events();
    sim.a.pc.close();
    for id in [before, negotiated, after] {
        let state = sim.a.pc.data_channel(id).map(|i| i.state);
        assert!(
            matches!(state, None | Some(DataChannelState::Closed)),
            "{id:?}: {state:?}"
        );
    }
    assert!(sim.a.take_events().is_empty(), "close() raises no events");
    // The peer hears its channels close.
    assert!(sim.run_until(Duration::from_secs(10), |s| s
        .b
        .events
        .iter()
        .any(|e| matches!(e, PeerEvent::ChannelClose(_)))));
}

// ---------------------------------------------------------------- 8. close()

#[test]
fn x1_close_makes_signaling_closed_without_an_event() {
    let mut p = peer();
    p.pc.create_data_channel("x", init()).expect("dc");
    p.take_events();
    p.pc.close();
    assert_eq!(p.pc.signaling_state(), SignalingState::Closed);
    assert!(p.take_events().is_empty());
    assert_eq!(p.pc.poll_timeout(), None, "no timers after close");
}

#[test]
fn x3_x4_x6_x7_every_later_call_is_invalid_state() {
    let mut sim = Sim::new(45, LinkConditions::perfect());
    let id = sim.a.pc.add_track(track("mic", Codec::Opus)).expect("add");
    let offer = sim.a.pc.create_offer().expect("offer");
    sim.b.pc.set_remote_description(sim.now, offer.clone()).expect("SRD");
    sim.a.pc.close();
    sim.b.pc.close();
    let now = sim.now;
    let a = &mut sim.a.pc;
    let b = &mut sim.b.pc;
    assert_eq!(name(a.create_offer()), "InvalidStateError");
    assert_eq!(name(b.create_answer()), "InvalidStateError");
    assert_eq!(name(a.add_track(track("x", Codec::Opus))), "InvalidStateError");
    assert_eq!(name(a.remove_track(id)), "InvalidStateError");
    assert_eq!(name(a.set_local_description(now, None)), "InvalidStateError");
    assert_eq!(
        name(a.set_local_description(now, Some(offer.clone()))),
        "InvalidStateError"
    );
    assert_eq!(name(a.set_remote_description(now, offer)), "InvalidStateError");
    assert_eq!(name(a.replace_track(id, None)), "InvalidStateError");
    assert_eq!(name(a.add_ice_candidate(now, None)), "InvalidStateError");
    assert_eq!(
        name(a.add_transceiver(MediaType::Audio, TransceiverInit::default())),
        "InvalidStateError"
    );
    assert_eq!(
        name(a.set_transceiver_direction(id, TransceiverDirection::Inactive)),
        "InvalidStateError"
    );
}

#[test]
fn x8_close_stops_transceivers_and_stop_then_is_invalid_state() {
    let mut p = peer();
    let id = p.pc.add_track(track("mic", Codec::Opus)).expect("add");
    p.pc.close();
    assert_eq!(
        p.pc.transceiver(id).and_then(|t| t.current_direction),
        Some(TransceiverDirection::Stopped)
    );
    assert_eq!(name(p.pc.stop_transceiver(id)), "InvalidStateError");
}

// ---------------------------------------------------------------- 9. getStats

#[test]
fn g1_g2_g6_an_empty_connection_reports_itself_keyed_by_id() {
    let p = peer();
    let now = std::time::Instant::now();
    let first = p.pc.get_stats(now, 1000.0);
    let pc = first
        .of_type(StatsType::PeerConnection)
        .next()
        .expect("peer-connection");
    assert_eq!(first.get(&pc.id).map(|s| &s.id), Some(&pc.id));
    for s in first.iter() {
        assert!(!s.id.is_empty());
        assert_eq!(s.timestamp, 1000.0);
    }
    let later = p.pc.get_stats(now, 2000.0);
    assert!(later.iter().all(|s| s.timestamp > 1000.0));
}

#[test]
fn g5_g10_sender_and_receiver_reports_hold_their_streams() {
    use rtcpeer_proto::peer::StatsSelector;
    let mut sim = Sim::new(46, LinkConditions::perfect());
    let id = sim.a.pc.add_track(track("mic", Codec::Opus)).expect("add");
    connect(&mut sim);
    send_audio(&mut sim, id, 10);
    let sent = sim.a.pc.get_stats_for(sim.now, 1.0, StatsSelector::Sender(id));
    assert_eq!(sent.of_type(StatsType::OutboundRtp).count(), 1);
    assert_eq!(sent.of_type(StatsType::InboundRtp).count(), 0);
    assert!(sent.of_type(StatsType::Transport).count() == 1 && sent.of_type(StatsType::Codec).count() >= 1);
    let receiver = tracks(&sim.b.events)[0].0;
    let received = sim.b.pc.get_stats_for(sim.now, 1.0, StatsSelector::Receiver(receiver));
    assert_eq!(received.of_type(StatsType::InboundRtp).count(), 1);
    assert_eq!(received.of_type(StatsType::OutboundRtp).count(), 0);
    assert!(received.dangling_references().is_empty());
}

#[test]
fn g7_g8_a_connected_report_holds_the_mandatory_types() {
    let mut sim = Sim::new(47, LinkConditions::perfect());
    let id = sim.a.pc.add_track(track("mic", Codec::Opus)).expect("add");
    sim.a.pc.create_data_channel("dc", init()).expect("dc");
    connect(&mut sim);
    send_audio(&mut sim, id, 50);
    sim.run_until(Duration::from_secs(6), |_| false);
    let report = sim.a.pc.get_stats(sim.now, 1.0);
    for kind in [
        StatsType::PeerConnection,
        StatsType::Transport,
        StatsType::CandidatePair,
        StatsType::LocalCandidate,
        StatsType::RemoteCandidate,
        StatsType::Certificate,
        StatsType::Codec,
        StatsType::OutboundRtp,
        StatsType::MediaSource,
        StatsType::DataChannel,
    ] {
        assert!(report.of_type(kind).next().is_some(), "no {kind:?}");
    }
    // The receiver reports and sender reports of the 5-second RTCP interval have arrived.
    assert!(
        report.of_type(StatsType::RemoteInboundRtp).next().is_some(),
        "no remote-inbound-rtp"
    );
    let b = sim.b.pc.get_stats(sim.now, 1.0);
    assert!(b.of_type(StatsType::InboundRtp).next().is_some());
    assert!(
        b.of_type(StatsType::RemoteOutboundRtp).next().is_some(),
        "no remote-outbound-rtp"
    );
    assert!(b.dangling_references().is_empty() && report.dangling_references().is_empty());
}

// ---------------------------------------------------------------- 10. events and ordering

#[test]
fn e1_a_new_connection_has_raised_nothing() {
    let mut p = peer();
    assert!(p.take_events().is_empty());
}

#[test]
fn e2_srd_fires_signalingstatechange_before_track() {
    let mut sim = Sim::new(48, LinkConditions::perfect());
    sim.a.pc.add_track(track("mic", Codec::Opus)).expect("add");
    let offer = sim.a.pc.create_offer().expect("offer");
    sim.b.pc.set_remote_description(sim.now, offer).expect("SRD");
    let events = sim.b.take_events();
    let signaling = events
        .iter()
        .position(|e| *e == PeerEvent::SignalingStateChange(SignalingState::HaveRemoteOffer))
        .expect("signalingstatechange");
    let track = events
        .iter()
        .position(|e| matches!(e, PeerEvent::Track { .. }))
        .expect("track");
    assert!(signaling < track, "{events:?}");
}

#[test]
fn e3_descriptions_change_together_with_the_signaling_state() {
    let mut sim = Sim::new(49, LinkConditions::perfect());
    sim.a.pc.create_data_channel("dc", init()).expect("dc");
    let offer = sim.a.pc.create_offer().expect("offer");
    sim.b.pc.set_remote_description(sim.now, offer.clone()).expect("SRD");
    assert_eq!(sim.b.pc.signaling_state(), SignalingState::HaveRemoteOffer);
    assert_eq!(sim.b.pc.remote_description(), Some(offer.clone()));
    assert_eq!(sim.b.pc.current_remote_description(), None, "still pending");
    let answer = sim.b.pc.create_answer().expect("answer");
    sim.b.pc.set_local_description(sim.now, Some(answer)).expect("SLD");
    assert_eq!(sim.b.pc.signaling_state(), SignalingState::Stable);
    assert_eq!(sim.b.pc.current_remote_description(), Some(offer));
}

#[test]
fn e4_a_rollback_fires_signalingstatechange_to_stable() {
    let mut sim = Sim::new(50, LinkConditions::perfect());
    sim.a.pc.create_data_channel("dc", init()).expect("dc");
    let offer = sim.a.pc.create_offer().expect("offer");
    sim.b.pc.set_remote_description(sim.now, offer).expect("SRD");
    sim.b.take_events();
    sim.b
        .pc
        .set_remote_description(
            sim.now,
            SessionDescriptionInit {
                kind: SdpType::Rollback,
                sdp: String::new(),
            },
        )
        .expect("rollback");
    assert_eq!(
        sim.b.take_events(),
        vec![PeerEvent::SignalingStateChange(SignalingState::Stable)]
    );
}

// ---------------------------------------------------------------- 11. SDP-level expectations

/// a's offer of an audio track and a data channel.
fn audio_and_data_offer(sim: &mut Sim) -> SessionDescriptionInit {
    sim.a.pc.add_track(track("mic", Codec::Opus)).expect("add");
    sim.a.pc.create_data_channel("dc", init()).expect("dc");
    sim.a.pc.create_offer().expect("offer")
}

fn edit(desc: &SessionDescriptionInit, keep: impl Fn(&str) -> bool) -> SessionDescriptionInit {
    let sdp: String = desc
        .sdp
        .split("\r\n")
        .filter(|l| !l.is_empty() && keep(l))
        .map(|l| format!("{l}\r\n"))
        .collect();
    SessionDescriptionInit { kind: desc.kind, sdp }
}

#[test]
fn p1_an_offer_and_an_answer_without_mid_or_group_lines_are_accepted() {
    let mut sim = Sim::new(60, LinkConditions::perfect());
    let offer = audio_and_data_offer(&mut sim);
    sim.a
        .pc
        .set_local_description(sim.now, Some(offer.clone()))
        .expect("SLD");
    let stripped = edit(&offer, |l| !l.starts_with("a=mid:") && !l.starts_with("a=group:"));
    sim.b
        .pc
        .set_remote_description(sim.now, stripped)
        .expect("SRD of a bare offer");
    let answer = sim.b.pc.create_answer().expect("answer");
    sim.b
        .pc
        .set_local_description(sim.now, Some(answer.clone()))
        .expect("SLD");
    let bare_answer = edit(&answer, |l| !l.starts_with("a=mid:") && !l.starts_with("a=group:"));
    sim.a
        .pc
        .set_remote_description(sim.now, bare_answer)
        .expect("SRD of a bare answer");
}

#[test]
fn p2_the_initial_offer_starts_with_v_o_s_lines_of_the_browser_form() {
    let mut p = peer();
    p.pc.create_data_channel("dc", init()).expect("dc");
    let sdp = p.pc.create_offer().expect("offer").sdp;
    let lines: Vec<&str> = sdp.split("\r\n").collect();
    assert_eq!(lines[0], "v=0");
    let o: Vec<&str> = lines[1].strip_prefix("o=").expect("o= second").split(' ').collect();
    assert_eq!(o.len(), 6, "{}", lines[1]);
    let session_id: u64 = o[1].parse().expect("sess-id < 2^64");
    let version: u64 = o[2].parse().expect("sess-version");
    assert!(version < 1 << 62);
    let _ = session_id;
    assert_eq!((o[3], o[4]), ("IN", "IP4"));
    assert!(o[5] == "0.0.0.0" || o[5] == "127.0.0.1", "{}", lines[1]);
    let s = lines[2].strip_prefix("s=").expect("s= third");
    assert!(!s.is_empty() && !s.contains(char::is_whitespace));
}

#[test]
fn p3_offers_have_no_sdes_and_an_sdes_only_offer_is_rejected() {
    let mut sim = Sim::new(61, LinkConditions::perfect());
    let offer = audio_and_data_offer(&mut sim);
    assert!(!offer.sdp.contains("a=crypto"));
    let mut sdes = edit(&offer, |l| !l.starts_with("a=fingerprint:"));
    sdes.sdp = sdes.sdp.replace(
        "a=mid:0\r\n",
        "a=mid:0\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz\r\n",
    );
    assert!(sim.b.pc.set_remote_description(sim.now, sdes).is_err());
    assert_eq!(sim.b.pc.signaling_state(), SignalingState::Stable);
}

#[test]
fn p4_a_data_offer_uses_the_sctp_over_dtls_syntax() {
    let mut p = peer();
    p.pc.create_data_channel("dc", init()).expect("dc");
    let sdp = p.pc.create_offer().expect("offer").sdp;
    assert!(
        sdp.contains("m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n"),
        "{sdp}"
    );
    assert!(
        sdp.contains("a=sctp-port:5000\r\n") && sdp.contains("a=mid:0\r\n"),
        "{sdp}"
    );
}

#[test]
fn p5_an_unknown_media_type_is_rejected_with_port_zero() {
    let mut sim = Sim::new(62, LinkConditions::perfect());
    let offer = audio_and_data_offer(&mut sim);
    let mut odd = offer.clone();
    odd.sdp
        .push_str("m=unicorn 9 UDP/TLS/RTP/SAVPF 120\r\nc=IN IP4 0.0.0.0\r\na=mid:9\r\na=sendrecv\r\n");
    sim.b.pc.set_remote_description(sim.now, odd).expect("not an error");
    let answer = sim.b.pc.create_answer().expect("answer");
    assert!(answer.sdp.contains("m=unicorn 0 "), "{}", answer.sdp);
    assert_eq!(answer.sdp.matches("m=").count(), 3);
}

#[test]
fn p6_ice_credentials_outside_the_ice_char_set_are_rejected() {
    let mut sim = Sim::new(63, LinkConditions::perfect());
    let offer = audio_and_data_offer(&mut sim);
    let ufrag = offer
        .sdp
        .lines()
        .find_map(|l| l.strip_prefix("a=ice-ufrag:"))
        .expect("ufrag")
        .to_string();
    let pwd = offer
        .sdp
        .lines()
        .find_map(|l| l.strip_prefix("a=ice-pwd:"))
        .expect("pwd")
        .to_string();
    for bad in [
        offer
            .sdp
            .replace(&format!("a=ice-ufrag:{ufrag}"), "a=ice-ufrag:no*good"),
        offer
            .sdp
            .replace(&format!("a=ice-pwd:{pwd}"), "a=ice-pwd:has!bang!1234567890abcdef"),
    ] {
        let result = sim
            .b
            .pc
            .set_remote_description(sim.now, SessionDescriptionInit::offer(bad));
        assert!(result.is_err(), "accepted");
        assert_eq!(sim.b.pc.signaling_state(), SignalingState::Stable);
    }
}

#[test]
fn p7_a_fingerprint_that_does_not_match_the_certificate_never_connects() {
    let mut sim = Sim::new(64, LinkConditions::perfect());
    sim.a.pc.create_data_channel("dc", init()).expect("dc");
    let offer = sim.a.pc.create_offer().expect("offer");
    sim.a
        .pc
        .set_local_description(sim.now, Some(offer.clone()))
        .expect("SLD");
    let fp = offer
        .sdp
        .lines()
        .find_map(|l| l.strip_prefix("a=fingerprint:sha-256 "))
        .expect("fp")
        .to_string();
    let mut wrong = fp.clone();
    wrong.replace_range(0..2, if fp.starts_with("00") { "11" } else { "00" });
    sim.b
        .pc
        .set_remote_description(sim.now, SessionDescriptionInit::offer(offer.sdp.replace(&fp, &wrong)))
        .expect("SRD");
    sim.answer_to_a();
    assert!(!sim.run_until(Duration::from_secs(10), |s| s.connected()));
    assert_ne!(sim.b.pc.connection_state(), PeerConnectionState::Connected);
}

#[test]
fn p8_the_answer_takes_the_dtls_role_the_offer_leaves() {
    for (offered, answered) in [("active", "passive"), ("passive", "active"), ("actpass", "active")] {
        let mut sim = Sim::new(65, LinkConditions::perfect());
        let offer = audio_and_data_offer(&mut sim);
        let sdp = offer.sdp.replace("a=setup:actpass", &format!("a=setup:{offered}"));
        sim.b
            .pc
            .set_remote_description(sim.now, SessionDescriptionInit::offer(sdp))
            .expect("SRD");
        let answer = sim.b.pc.create_answer().expect("answer");
        assert!(
            answer.sdp.contains(&format!("a=setup:{answered}")),
            "{offered}: {}",
            answer.sdp
        );
    }
}

#[test]
fn p9_msid_lines_give_the_tracks_streams() {
    let cases: [(&str, Vec<&str>); 4] = [
        ("", vec!["default"]),
        ("a=msid:- app\r\n", vec![]),
        ("a=msid:foo bar\r\n", vec!["foo"]),
        ("a=msid:foo bar\r\na=msid:baz bar\r\n", vec!["foo", "baz"]),
    ];
    for (msid, streams) in cases {
        let mut sim = Sim::new(66, LinkConditions::perfect());
        sim.a.pc.add_track(track("mic", Codec::Opus)).expect("add");
        let offer = sim.a.pc.create_offer().expect("offer");
        let stripped = edit(&offer, |l| {
            let ssrc_msid = l.starts_with("a=ssrc:") && l.contains(" msid:");
            !l.starts_with("a=msid:") && !ssrc_msid
        });
        let sdp = stripped.sdp.replace("a=sendrecv\r\n", &format!("a=sendrecv\r\n{msid}"));
        sim.b
            .pc
            .set_remote_description(sim.now, SessionDescriptionInit::offer(sdp))
            .expect("SRD");
        let heard = tracks(&sim.b.take_events());
        assert_eq!(heard.len(), 1, "{msid:?}");
        assert_eq!(heard[0].3, streams, "{msid:?}");
    }
}
