//! Conformance with the browsers' signaling state machine (docs/CONFORMANCE.md areas 2 and 3):
//! createOffer/createAnswer, setLocalDescription/setRemoteDescription, rollback, implicit
//! rollback and perfect negotiation, on the sans-IO `PeerConnection`. Each test is named after
//! the checklist item it covers.

use std::collections::VecDeque;
use std::time::Instant;

use rtcpeer_proto::datachannel::DataChannelInit;
use rtcpeer_proto::jsep::{Codec, MediaType};
use rtcpeer_proto::peer::{
    IceGatheringState, PeerConfig, PeerConnection, PeerEvent, RtcError, SdpType, SessionDescriptionInit,
    SignalingState, TrackInit, TransceiverDirection, TransceiverId, TransceiverInit,
};

fn pc() -> PeerConnection {
    PeerConnection::new(PeerConfig::default(), Instant::now()).expect("peer connection")
}

fn now() -> Instant {
    Instant::now()
}

fn audio(pc: &mut PeerConnection) -> TransceiverId {
    pc.add_transceiver(MediaType::Audio, TransceiverInit::default())
        .expect("audio transceiver")
}

fn video(pc: &mut PeerConnection) -> TransceiverId {
    pc.add_transceiver(MediaType::Video, TransceiverInit::default())
        .expect("video transceiver")
}

fn track(id: &str, codec: Codec) -> TrackInit {
    TrackInit {
        id: id.into(),
        codec,
        stream_ids: vec!["stream".into()],
    }
}

/// Every event raised since the last call.
fn drain(pc: &mut PeerConnection) -> Vec<PeerEvent> {
    std::iter::from_fn(|| pc.poll_event()).collect()
}

/// The `signalingstatechange` events raised since the last call, in order.
fn signaling_events(pc: &mut PeerConnection) -> Vec<SignalingState> {
    drain(pc)
        .into_iter()
        .filter_map(|e| match e {
            PeerEvent::SignalingStateChange(s) => Some(s),
            _ => None,
        })
        .collect()
}

fn negotiation_needed_count(events: &[PeerEvent]) -> usize {
    events
        .iter()
        .filter(|e| matches!(e, PeerEvent::NegotiationNeeded))
        .count()
}

/// The SDP without the candidate lines gathering adds after the description was created.
fn without_candidates(sdp: &str) -> String {
    sdp.split("\r\n")
        .filter(|l| !l.starts_with("a=candidate") && !l.starts_with("a=end-of-candidates"))
        .collect::<Vec<_>>()
        .join("\r\n")
}

/// An offer made by another connection (with one audio section).
fn remote_offer() -> SessionDescriptionInit {
    let mut other = pc();
    audio(&mut other);
    other.create_offer().expect("remote offer")
}

fn mid_of(pc: &PeerConnection, id: TransceiverId) -> Option<String> {
    pc.transceiver(id).and_then(|t| t.mid)
}

#[test]
fn o1_create_offer_without_transceivers_succeeds_and_is_a_plain_description() {
    let mut pc = pc();
    let offer: SessionDescriptionInit = pc.create_offer().expect("an offer with nothing in it");
    assert_eq!(offer.kind, SdpType::Offer);
    assert!(offer.sdp.starts_with("v=0\r\n"), "{}", offer.sdp);
    // A plain dictionary: it serializes to the browsers' {type, sdp} and nothing else.
    let json: serde_json::Value = serde_json::from_str(&offer.to_json()).expect("json");
    let keys: Vec<&String> = json.as_object().expect("object").keys().collect();
    assert_eq!(keys, ["sdp", "type"]);
}

#[test]
fn o2_create_offer_changes_no_state_or_description() {
    let mut pc = pc();
    audio(&mut pc);
    drain(&mut pc);
    pc.create_offer().expect("offer");
    assert_eq!(pc.signaling_state(), SignalingState::Stable);
    assert_eq!(pc.local_description(), None);
    assert_eq!(pc.pending_local_description(), None);
    assert_eq!(pc.current_local_description(), None);
    assert_eq!(pc.ice_gathering_state(), IceGatheringState::New);
    assert!(drain(&mut pc).is_empty(), "create_offer raised events");
}

#[test]
fn o3_create_offer_on_a_closed_connection_is_invalid_state() {
    let mut pc = pc();
    pc.close();
    assert_eq!(pc.create_offer().unwrap_err().name(), "InvalidStateError");
}

#[test]
fn o4_create_offer_in_have_remote_offer_is_invalid_state() {
    let mut pc = pc();
    pc.set_remote_description(now(), remote_offer()).expect("remote offer");
    assert_eq!(pc.create_offer().unwrap_err().name(), "InvalidStateError");
}

#[test]
fn o5_an_offer_is_built_from_the_transceivers_when_it_runs() {
    let mut pc = pc();
    let first = pc.create_offer().expect("offer");
    assert!(!first.sdp.contains("m=audio"));
    audio(&mut pc);
    let second = pc.create_offer().expect("offer");
    assert!(second.sdp.contains("m=audio"), "{}", second.sdp);
}

#[test]
fn o6_create_answer_in_stable_is_invalid_state() {
    let mut pc = pc();
    assert_eq!(pc.create_answer().unwrap_err().name(), "InvalidStateError");
}

#[test]
fn o7_create_answer_after_a_remote_offer_is_a_plain_answer() {
    let mut pc = pc();
    pc.set_remote_description(now(), remote_offer()).expect("remote offer");
    let answer = pc.create_answer().expect("answer");
    assert_eq!(answer.kind, SdpType::Answer);
    assert!(answer.to_json().starts_with(r#"{"type":"answer","sdp":"v=0"#));
    assert_eq!(pc.signaling_state(), SignalingState::HaveRemoteOffer);
}

#[test]
fn o8_create_answer_after_close_is_invalid_state_even_with_a_remote_offer() {
    let mut pc = pc();
    pc.set_remote_description(now(), remote_offer()).expect("remote offer");
    pc.close();
    assert_eq!(pc.create_answer().unwrap_err().name(), "InvalidStateError");
}

#[test]
fn d1_local_offer_moves_to_have_local_offer_with_one_event() {
    let mut pc = pc();
    audio(&mut pc);
    drain(&mut pc);
    let offer = pc.create_offer().expect("offer");
    pc.set_local_description(now(), Some(offer.clone()))
        .expect("SLD(offer)");
    assert_eq!(pc.signaling_state(), SignalingState::HaveLocalOffer);
    let local = pc.local_description().expect("localDescription");
    assert_eq!(local.kind, SdpType::Offer);
    assert_eq!(without_candidates(&local.sdp), without_candidates(&offer.sdp));
    assert_eq!(pc.pending_local_description(), Some(local));
    assert_eq!(pc.current_local_description(), None);
    assert_eq!(signaling_events(&mut pc), [SignalingState::HaveLocalOffer]);
}

#[test]
fn d2_an_offer_without_sdp_applies_the_last_created_offer() {
    let mut pc = pc();
    audio(&mut pc);
    let offer = pc.create_offer().expect("offer");
    pc.set_local_description(now(), Some(SessionDescriptionInit::offer("")))
        .expect("SLD({type: offer})");
    let pending = pc.pending_local_description().expect("pending");
    assert_eq!(without_candidates(&pending.sdp), without_candidates(&offer.sdp));
}

#[test]
fn d3_an_offer_not_made_by_this_connection_is_invalid_modification() {
    let mut pc = pc();
    audio(&mut pc);
    let offer = pc.create_offer().expect("offer");
    let munged = SessionDescriptionInit::offer(offer.sdp.replace("a=rtcp-rsize\r\n", ""));
    assert_ne!(munged.sdp, offer.sdp);
    let error = pc.set_local_description(now(), Some(munged)).unwrap_err();
    assert_eq!(error.name(), "InvalidModificationError", "{error}");
    let error = pc.set_local_description(now(), Some(remote_offer())).unwrap_err();
    assert_eq!(error.name(), "InvalidModificationError", "{error}");
    assert_eq!(pc.signaling_state(), SignalingState::Stable);
    // The connection is still usable.
    pc.set_local_description(now(), Some(offer)).expect("the real offer");
}

#[test]
fn d4_only_the_last_created_offer_can_be_applied() {
    let mut pc = pc();
    audio(&mut pc);
    let older = pc.create_offer().expect("offer");
    let newer = pc.create_offer().expect("offer");
    assert_ne!(older.sdp, newer.sdp);
    assert_eq!(
        pc.set_local_description(now(), Some(older)).unwrap_err().name(),
        "InvalidModificationError"
    );
    pc.set_local_description(now(), Some(newer)).expect("newest offer");
}

#[test]
fn d5_offers_can_be_created_and_set_again_in_have_local_offer() {
    let mut pc = pc();
    audio(&mut pc);
    let first = pc.create_offer().expect("offer");
    pc.set_local_description(now(), Some(first)).expect("first");
    assert_eq!(signaling_events(&mut pc), [SignalingState::HaveLocalOffer]);
    video(&mut pc);
    let second = pc.create_offer().expect("offer in have-local-offer");
    pc.set_local_description(now(), Some(second.clone())).expect("second");
    assert_eq!(pc.signaling_state(), SignalingState::HaveLocalOffer);
    let pending = pc.pending_local_description().expect("pending");
    assert!(pending.sdp.contains("m=video"), "{}", pending.sdp);
    assert_eq!(without_candidates(&pending.sdp), without_candidates(&second.sdp));
    assert!(signaling_events(&mut pc).is_empty());
}

#[test]
fn d6_an_offer_created_before_create_answer_and_rollback_can_still_be_set() {
    let mut pc = pc();
    audio(&mut pc);
    let offer = pc.create_offer().expect("offer");
    pc.set_remote_description(now(), remote_offer()).expect("remote offer");
    pc.create_answer().expect("answer");
    pc.set_remote_description(
        now(),
        SessionDescriptionInit {
            kind: SdpType::Rollback,
            sdp: String::new(),
        },
    )
    .expect("rollback");
    pc.set_local_description(now(), Some(offer))
        .expect("[[LastCreatedOffer]] survived");
    assert_eq!(pc.signaling_state(), SignalingState::HaveLocalOffer);
}

#[test]
fn d7_local_answer_completes_the_exchange() {
    let mut pc = pc();
    let offer = remote_offer();
    pc.set_remote_description(now(), offer.clone()).expect("remote offer");
    let answer = pc.create_answer().expect("answer");
    pc.set_local_description(now(), Some(answer.clone()))
        .expect("SLD(answer)");
    assert_eq!(pc.signaling_state(), SignalingState::Stable);
    let current = pc.current_local_description().expect("currentLocalDescription");
    assert_eq!(current.kind, SdpType::Answer);
    assert_eq!(without_candidates(&current.sdp), without_candidates(&answer.sdp));
    assert_eq!(pc.current_remote_description(), Some(offer));
    assert_eq!(pc.pending_local_description(), None);
    assert_eq!(pc.pending_remote_description(), None);
    assert_eq!(
        signaling_events(&mut pc),
        [SignalingState::HaveRemoteOffer, SignalingState::Stable]
    );
}

#[test]
fn d8_an_answer_without_sdp_applies_the_last_created_answer_and_a_foreign_one_is_refused() {
    let mut pc = pc();
    let offer = remote_offer();
    pc.set_remote_description(now(), offer.clone()).expect("remote offer");
    let answer = pc.create_answer().expect("answer");
    // An answer made by another connection to the same offer.
    let mut other = pc_answering(&offer);
    let foreign = other.create_answer().expect("foreign answer");
    assert_eq!(
        pc.set_local_description(now(), Some(foreign)).unwrap_err().name(),
        "InvalidModificationError"
    );
    pc.set_local_description(now(), Some(SessionDescriptionInit::answer("")))
        .expect("SLD({type: answer})");
    let current = pc.current_local_description().expect("current");
    assert_eq!(without_candidates(&current.sdp), without_candidates(&answer.sdp));
}

fn pc_answering(offer: &SessionDescriptionInit) -> PeerConnection {
    let mut other = pc();
    other.set_remote_description(now(), offer.clone()).expect("offer");
    other
}

#[test]
fn d9_a_local_answer_in_stable_or_have_local_offer_is_invalid_modification() {
    let mut pc = pc();
    audio(&mut pc);
    let offer = pc.create_offer().expect("offer");
    let as_answer = SessionDescriptionInit::answer(offer.sdp.clone());
    assert_eq!(
        pc.set_local_description(now(), Some(as_answer.clone()))
            .unwrap_err()
            .name(),
        "InvalidModificationError"
    );
    pc.set_local_description(now(), Some(offer)).expect("offer");
    assert_eq!(
        pc.set_local_description(now(), Some(as_answer)).unwrap_err().name(),
        "InvalidModificationError"
    );
    assert_eq!(pc.signaling_state(), SignalingState::HaveLocalOffer);
}

#[test]
fn d10_local_pranswer_is_refused_in_stable_repeats_and_ends_with_an_answer() {
    let mut pc = pc();
    let offer = pc.create_offer().expect("offer");
    let error = pc
        .set_local_description(
            now(),
            Some(SessionDescriptionInit {
                kind: SdpType::Pranswer,
                sdp: offer.sdp,
            }),
        )
        .unwrap_err();
    assert_eq!(error.name(), "InvalidStateError", "{error}");

    pc.set_remote_description(now(), remote_offer()).expect("remote offer");
    let answer = pc.create_answer().expect("answer");
    let pranswer = SessionDescriptionInit {
        kind: SdpType::Pranswer,
        sdp: answer.sdp.clone(),
    };
    drain(&mut pc);
    pc.set_local_description(now(), Some(pranswer.clone()))
        .expect("pranswer");
    assert_eq!(pc.signaling_state(), SignalingState::HaveLocalPranswer);
    assert_eq!(pc.pending_local_description().map(|d| d.kind), Some(SdpType::Pranswer));
    pc.set_local_description(now(), Some(pranswer)).expect("pranswer again");
    pc.set_local_description(now(), Some(answer)).expect("final answer");
    assert_eq!(
        signaling_events(&mut pc),
        [SignalingState::HaveLocalPranswer, SignalingState::Stable]
    );
    assert_eq!(pc.current_local_description().map(|d| d.kind), Some(SdpType::Answer));
}

#[test]
fn d11_remote_offers_can_be_set_again_in_have_remote_offer() {
    let mut pc = pc();
    let first = remote_offer();
    pc.set_remote_description(now(), first.clone()).expect("offer");
    assert_eq!(pc.pending_remote_description(), Some(first.clone()));
    pc.set_remote_description(now(), first).expect("same offer again");
    let different = remote_offer();
    pc.set_remote_description(now(), different.clone())
        .expect("another offer");
    assert_eq!(pc.signaling_state(), SignalingState::HaveRemoteOffer);
    assert_eq!(pc.pending_remote_description(), Some(different));
    assert_eq!(signaling_events(&mut pc), [SignalingState::HaveRemoteOffer]);
}

#[test]
fn d12_remote_answer_completes_an_offer_and_is_refused_elsewhere() {
    let (mut a, mut b) = (pc(), pc());
    audio(&mut a);
    let offer = a.create_offer().expect("offer");
    b.set_remote_description(now(), offer.clone()).expect("offer at b");
    let answer = b.create_answer().expect("answer");
    // In stable: a has no local offer yet.
    assert_eq!(
        a.set_remote_description(now(), answer.clone()).unwrap_err().name(),
        "InvalidStateError"
    );
    // In have-remote-offer.
    assert_eq!(
        b.set_remote_description(now(), answer.clone()).unwrap_err().name(),
        "InvalidStateError"
    );
    a.set_local_description(now(), Some(offer)).expect("SLD(offer)");
    a.set_remote_description(now(), answer).expect("SRD(answer)");
    assert_eq!(a.signaling_state(), SignalingState::Stable);
}

#[test]
fn d13_remote_pranswer_is_refused_in_stable_repeats_and_ends_with_an_answer() {
    let (mut a, mut b) = (pc(), pc());
    audio(&mut a);
    let offer = a.create_offer().expect("offer");
    b.set_remote_description(now(), offer.clone()).expect("offer at b");
    let answer = b.create_answer().expect("answer");
    let pranswer = SessionDescriptionInit {
        kind: SdpType::Pranswer,
        sdp: answer.sdp.clone(),
    };
    assert_eq!(
        a.set_remote_description(now(), pranswer.clone()).unwrap_err().name(),
        "InvalidStateError"
    );
    a.set_local_description(now(), Some(offer)).expect("SLD(offer)");
    drain(&mut a);
    a.set_remote_description(now(), pranswer.clone()).expect("pranswer");
    assert_eq!(a.signaling_state(), SignalingState::HaveRemotePranswer);
    a.set_remote_description(now(), pranswer).expect("pranswer again");
    a.set_remote_description(now(), answer).expect("answer");
    assert_eq!(
        signaling_events(&mut a),
        [SignalingState::HaveRemotePranswer, SignalingState::Stable]
    );
}

#[test]
fn d14_a_description_of_an_unknown_type_is_a_type_error_naming_the_type() {
    let error = SessionDescriptionInit::from_json(r#"{"type":"bogus","sdp":"bogus"}"#).unwrap_err();
    assert_eq!(error.name(), "TypeError");
    assert!(error.to_string().contains("bogus"), "{error}");
}

#[test]
fn d15_a_remote_answer_in_stable_is_invalid_state_before_its_sdp_is_parsed() {
    let mut pc = pc();
    let error = pc
        .set_remote_description(now(), SessionDescriptionInit::answer("invalid"))
        .unwrap_err();
    assert_eq!(error.name(), "InvalidStateError", "{error}");
}

#[test]
fn d16_an_unparsable_remote_offer_is_an_rtc_error_with_sdp_syntax_error() {
    let mut pc = pc();
    let error = pc
        .set_remote_description(now(), SessionDescriptionInit::offer("Invalid SDP"))
        .unwrap_err();
    assert!(matches!(error, RtcError::SdpSyntax(_)), "{error}");
    assert_eq!(error.name(), "OperationError");
    assert_eq!(error.error_detail(), Some("sdp-syntax-error"));
    assert_eq!(pc.signaling_state(), SignalingState::Stable);
    assert_eq!(pc.remote_description(), None);
}

#[test]
fn d17_remote_offer_in_have_local_offer_rolls_back_implicitly() {
    let mut pc = pc();
    audio(&mut pc);
    let offer = pc.create_offer().expect("offer");
    pc.set_local_description(now(), Some(offer)).expect("SLD(offer)");
    drain(&mut pc);
    let theirs = remote_offer();
    pc.set_remote_description(now(), theirs.clone())
        .expect("remote offer in have-local-offer");
    assert_eq!(pc.signaling_state(), SignalingState::HaveRemoteOffer);
    assert_eq!(
        signaling_events(&mut pc),
        [SignalingState::Stable, SignalingState::HaveRemoteOffer]
    );
    assert_eq!(pc.pending_local_description(), None);
    assert_eq!(pc.pending_remote_description(), Some(theirs));
}

#[test]
fn d18_an_invalid_offer_after_the_implicit_rollback_leaves_it_rolled_back() {
    let mut pc = pc();
    let ours = audio(&mut pc);
    let offer = pc.create_offer().expect("offer");
    pc.set_local_description(now(), Some(offer)).expect("SLD(offer)");
    assert!(mid_of(&pc, ours).is_some());
    let error = pc
        .set_remote_description(now(), SessionDescriptionInit::offer("Invalid SDP"))
        .unwrap_err();
    assert_eq!(error.error_detail(), Some("sdp-syntax-error"), "{error}");
    assert_eq!(pc.signaling_state(), SignalingState::Stable);
    assert_eq!(pc.pending_local_description(), None);
    assert_eq!(mid_of(&pc, ours), None);
}

#[test]
fn d20_signalingstatechange_is_the_first_event_of_a_negotiation_step() {
    let mut pc = pc();
    pc.add_local_address("127.0.0.1:40000".parse().expect("address"));
    audio(&mut pc);
    drain(&mut pc);
    pc.set_local_description(now(), None).expect("SLD");
    let events = drain(&mut pc);
    assert_eq!(
        events.first(),
        Some(&PeerEvent::SignalingStateChange(SignalingState::HaveLocalOffer)),
        "{events:?}"
    );
    // Gathering started by the same step comes after it.
    assert!(events.contains(&PeerEvent::IceGatheringStateChange(IceGatheringState::Gathering)));
}

#[test]
fn d21_round_trips_work_in_both_roles_and_keep_current_and_pending_right() {
    let (mut a, mut b) = (pc(), pc());
    audio(&mut a);
    // a offers.
    a.set_local_description(now(), None).expect("a offer");
    let offer = a.local_description().expect("offer");
    b.set_remote_description(now(), offer.clone()).expect("b gets offer");
    assert_eq!(b.pending_remote_description(), Some(offer.clone()));
    b.set_local_description(now(), None).expect("b answers");
    let answer = b.local_description().expect("answer");
    a.set_remote_description(now(), answer.clone()).expect("a gets answer");
    assert_eq!(a.current_remote_description(), Some(answer.clone()));
    assert_eq!(a.current_local_description().map(|d| d.kind), Some(SdpType::Offer));
    assert_eq!(b.current_remote_description(), Some(offer));
    assert_eq!(b.current_local_description().map(|d| d.kind), Some(SdpType::Answer));

    // Now b offers (a re-offer: it adds video) and a answers.
    video(&mut b);
    b.set_local_description(now(), None).expect("b re-offers");
    assert_eq!(b.pending_local_description().map(|d| d.kind), Some(SdpType::Offer));
    assert_eq!(b.current_local_description().map(|d| d.kind), Some(SdpType::Answer));
    let reoffer = b.local_description().expect("re-offer");
    a.set_remote_description(now(), reoffer.clone())
        .expect("a gets re-offer");
    assert_eq!(a.pending_remote_description(), Some(reoffer.clone()));
    assert_eq!(a.current_remote_description(), Some(answer));
    a.set_local_description(now(), None).expect("a answers");
    let reanswer = a.local_description().expect("re-answer");
    b.set_remote_description(now(), reanswer.clone())
        .expect("b gets answer");
    for pc in [&a, &b] {
        assert_eq!(pc.signaling_state(), SignalingState::Stable);
        assert_eq!(pc.pending_local_description(), None);
        assert_eq!(pc.pending_remote_description(), None);
    }
    assert_eq!(a.current_remote_description(), Some(reoffer));
    assert_eq!(b.current_remote_description(), Some(reanswer));
    assert_eq!(a.transceivers().len(), 2);
    assert_eq!(b.transceivers().len(), 2);
}

fn rollback() -> SessionDescriptionInit {
    SessionDescriptionInit {
        kind: SdpType::Rollback,
        sdp: String::new(),
    }
}

#[test]
fn d22_local_rollback_returns_to_stable() {
    let mut pc = pc();
    audio(&mut pc);
    pc.set_local_description(now(), None).expect("offer");
    pc.set_local_description(now(), Some(rollback())).expect("rollback");
    assert_eq!(pc.signaling_state(), SignalingState::Stable);
    assert_eq!(pc.pending_local_description(), None);
    assert_eq!(pc.local_description(), None);
    assert_eq!(
        signaling_events(&mut pc),
        [SignalingState::HaveLocalOffer, SignalingState::Stable]
    );
}

#[test]
fn d23_rollback_in_stable_is_invalid_state() {
    let mut pc = pc();
    for result in [
        pc.set_local_description(now(), Some(rollback())),
        pc.set_remote_description(now(), rollback()),
    ] {
        assert_eq!(result.unwrap_err().name(), "InvalidStateError");
    }
    // After an answer has been applied, too.
    pc.set_remote_description(now(), remote_offer()).expect("offer");
    pc.set_local_description(now(), None).expect("answer");
    assert_eq!(
        pc.set_local_description(now(), Some(rollback())).unwrap_err().name(),
        "InvalidStateError"
    );
}

#[test]
fn d24_a_rollback_ignores_its_sdp() {
    let mut pc = pc();
    pc.set_local_description(now(), None).expect("offer");
    let invalid = SessionDescriptionInit {
        kind: SdpType::Rollback,
        sdp: "invalid".into(),
    };
    pc.set_local_description(now(), Some(invalid.clone()))
        .expect("local rollback");
    pc.set_remote_description(now(), remote_offer()).expect("offer");
    pc.set_remote_description(now(), invalid).expect("remote rollback");
    assert_eq!(pc.signaling_state(), SignalingState::Stable);
}

#[test]
fn d25_remote_rollback_removes_the_transceivers_the_offer_created() {
    let mut offerer = pc();
    audio(&mut offerer);
    video(&mut offerer);
    let offer = offerer.create_offer().expect("offer");

    let mut pc = pc();
    let ours = pc.add_track(track("mic", Codec::Opus)).expect("add_track");
    pc.set_remote_description(now(), offer).expect("offer");
    // The audio section took our add_track transceiver; video created a recvonly one.
    let listed = pc.transceivers();
    assert_eq!(listed.len(), 2);
    assert_eq!(mid_of(&pc, ours).as_deref(), Some("0"));
    let created = listed.iter().find(|t| t.id != ours).expect("created").id;
    // Touching the created transceiver does not save it from the rollback.
    pc.set_transceiver_direction(created, TransceiverDirection::Inactive)
        .expect("direction");
    // A transceiver added after the offer is kept.
    let later = audio(&mut pc);
    pc.set_remote_description(now(), rollback()).expect("rollback");

    assert_eq!(pc.signaling_state(), SignalingState::Stable);
    assert_eq!(pc.remote_description(), None);
    let ids: Vec<TransceiverId> = pc.transceivers().iter().map(|t| t.id).collect();
    assert_eq!(ids, [ours, later]);
    // Like a transceiver object the application still holds: listed nowhere, and stopped.
    assert!(pc.transceiver(created).is_some_and(|t| t.stopped && t.mid.is_none()));
    assert_eq!(mid_of(&pc, ours), None, "the mid the offer gave is cleared");
}

#[test]
fn d26_local_rollback_clears_the_mids_the_offer_assigned() {
    let mut pc = pc();
    let first = audio(&mut pc);
    pc.set_local_description(now(), None).expect("offer");
    assert_eq!(mid_of(&pc, first).as_deref(), Some("0"));
    pc.set_local_description(now(), Some(rollback())).expect("rollback");
    assert_eq!(mid_of(&pc, first), None);
    assert_eq!(pc.transceivers().len(), 1, "a local offer creates no transceiver");
    // Negotiated mids survive the rollback of a later offer.
    pc.set_local_description(now(), None).expect("offer");
    let mut answerer = pc_answering(&pc.local_description().expect("offer"));
    let answer = answerer.create_answer().expect("answer");
    pc.set_remote_description(now(), answer).expect("answer");
    let second = video(&mut pc);
    pc.set_local_description(now(), None).expect("re-offer");
    assert_eq!(mid_of(&pc, second).as_deref(), Some("1"));
    // A transceiver added while the offer is pending, given a mid by a second offer.
    let third = audio(&mut pc);
    pc.set_local_description(now(), None)
        .expect("offer again in have-local-offer");
    assert_eq!(mid_of(&pc, third).as_deref(), Some("2"));
    pc.set_local_description(now(), Some(rollback())).expect("rollback");
    assert_eq!(mid_of(&pc, first).as_deref(), Some("0"));
    assert_eq!(mid_of(&pc, second), None);
    assert_eq!(mid_of(&pc, third), None);
}

#[test]
fn d27_implicit_rollback_passes_through_stable_and_negotiationneeded_waits_for_the_end() {
    let mut pc = pc();
    audio(&mut pc);
    pc.set_local_description(now(), None).expect("offer");
    drain(&mut pc);
    let theirs = remote_offer();
    pc.set_remote_description(now(), theirs).expect("glare: remote offer");
    let during = drain(&mut pc);
    assert_eq!(negotiation_needed_count(&during), 0, "{during:?}");
    pc.set_local_description(now(), None).expect("answer");
    let after = drain(&mut pc);
    let states: Vec<_> = during
        .iter()
        .chain(after.iter())
        .filter_map(|e| match e {
            PeerEvent::SignalingStateChange(s) => Some(*s),
            _ => None,
        })
        .collect();
    assert_eq!(
        states,
        [
            SignalingState::Stable,
            SignalingState::HaveRemoteOffer,
            SignalingState::Stable
        ]
    );
    // Our own audio transceiver was rolled back and is still not negotiated: once stable, the
    // connection asks for a negotiation, after the state change.
    assert_eq!(negotiation_needed_count(&after), 1, "{after:?}");
    let stable_at = after
        .iter()
        .position(|e| *e == PeerEvent::SignalingStateChange(SignalingState::Stable));
    let needed_at = after.iter().position(|e| *e == PeerEvent::NegotiationNeeded);
    assert!(stable_at < needed_at, "{after:?}");
}

#[test]
fn d28_remove_track_during_a_rolled_back_offer_and_data_only_implicit_rollback_work() {
    let mut pc = pc();
    let sender = pc.add_track(track("mic", Codec::Opus)).expect("add_track");
    pc.set_local_description(now(), None).expect("offer");
    pc.remove_track(sender)
        .expect("remove_track while the offer is pending");
    pc.set_local_description(now(), Some(rollback())).expect("rollback");

    // Implicit rollback with only data channels on both sides.
    let (mut a, mut b) = (self::pc(), self::pc());
    a.create_data_channel("a", DataChannelInit::default()).expect("channel");
    b.create_data_channel("b", DataChannelInit::default()).expect("channel");
    a.set_local_description(now(), None).expect("a offers");
    b.set_local_description(now(), None).expect("b offers");
    let b_offer = b.local_description().expect("b offer");
    a.set_remote_description(now(), b_offer)
        .expect("implicit rollback at a");
    a.set_local_description(now(), None).expect("a answers");
    b.set_remote_description(now(), a.local_description().expect("answer"))
        .expect("b gets answer");
    assert_eq!(a.signaling_state(), SignalingState::Stable);
    assert_eq!(b.signaling_state(), SignalingState::Stable);
}

#[test]
fn d28_rolling_back_a_remote_offer_that_fired_track_fires_removetrack() {
    let mut other = pc();
    other.add_track(track("mic", Codec::Opus)).expect("the remote's track");
    let offer = other.create_offer().expect("remote offer");
    let mut pc = pc();
    pc.set_remote_description(now(), offer).expect("SRD(offer)");
    let (receiver, track_id) = drain(&mut pc)
        .into_iter()
        .find_map(|e| match e {
            PeerEvent::Track {
                transceiver,
                track_id,
                stream_ids,
                ..
            } => {
                assert_eq!(stream_ids, ["stream"]);
                Some((transceiver, track_id))
            }
            _ => None,
        })
        .expect("track fires at setRemoteDescription(offer)");
    assert_eq!(track_id, "mic");
    pc.set_remote_description(now(), rollback()).expect("rollback");
    // The track never had RTP, so it was muted all along: no `mute`, only `removetrack`, after
    // the state is back to stable and before the rollback returns.
    assert_eq!(
        drain(&mut pc),
        [
            PeerEvent::SignalingStateChange(SignalingState::Stable),
            PeerEvent::StreamTrackRemoved {
                stream_id: "stream".into(),
                transceiver: receiver,
                track_id: "mic".into(),
            },
        ]
    );
    // The transceiver the offer created is gone with it.
    assert!(pc.transceivers().iter().all(|t| t.id != receiver));
}

#[test]
fn d29_a_local_offer_survives_a_rolled_back_remote_offer() {
    let mut pc = pc();
    video(&mut pc);
    let ours = pc.create_offer().expect("offer");
    // The remote offer's audio section takes mid 0, which our offer gave to video.
    pc.set_remote_description(now(), remote_offer()).expect("remote offer");
    pc.set_remote_description(now(), rollback()).expect("rollback");
    pc.set_local_description(now(), Some(ours.clone())).expect("our offer");
    let pending = pc.pending_local_description().expect("pending");
    assert!(pending.sdp.contains("m=video"));
    assert_eq!(without_candidates(&pending.sdp), without_candidates(&ours.sdp));
}

fn gathering_events(events: &[PeerEvent]) -> Vec<IceGatheringState> {
    events
        .iter()
        .filter_map(|e| match e {
            PeerEvent::IceGatheringStateChange(s) => Some(*s),
            _ => None,
        })
        .collect()
}

#[test]
fn d30_local_rollback_resets_gathering_to_new() {
    let mut pc = pc();
    pc.add_local_address("127.0.0.1:40000".parse().expect("address"));
    audio(&mut pc);
    let at = now();
    pc.set_local_description(at, None).expect("offer");
    pc.handle_timeout(at);
    assert_eq!(pc.ice_gathering_state(), IceGatheringState::Complete);
    drain(&mut pc);
    pc.set_local_description(now(), Some(rollback())).expect("rollback");
    assert_eq!(pc.ice_gathering_state(), IceGatheringState::New);
    assert_eq!(gathering_events(&drain(&mut pc)), [IceGatheringState::New]);
    // The next offer gathers again and announces the candidate again.
    let at = now();
    pc.set_local_description(at, None).expect("offer again");
    pc.handle_timeout(at);
    let events = drain(&mut pc);
    assert_eq!(
        gathering_events(&events),
        [IceGatheringState::Gathering, IceGatheringState::Complete]
    );
    let candidates = events
        .iter()
        .filter(|e| matches!(e, PeerEvent::IceCandidate(Some(_))))
        .count();
    assert_eq!(candidates, 1, "{events:?}");
    assert!(pc.local_description().expect("offer").sdp.contains("a=candidate"));
}

#[test]
fn d31_parameterless_sld_in_stable_creates_and_applies_an_offer() {
    let mut pc = pc();
    let t = audio(&mut pc);
    pc.set_local_description(now(), None).expect("SLD()");
    assert_eq!(pc.signaling_state(), SignalingState::HaveLocalOffer);
    assert_eq!(pc.pending_local_description().map(|d| d.kind), Some(SdpType::Offer));
    assert_eq!(mid_of(&pc, t).as_deref(), Some("0"));
}

#[test]
fn d32_parameterless_sld_answers_and_reuses_a_still_valid_created_description() {
    let mut pc = pc();
    pc.set_remote_description(now(), remote_offer()).expect("offer");
    let answer = pc.create_answer().expect("answer");
    pc.set_local_description(now(), None).expect("SLD()");
    assert_eq!(pc.signaling_state(), SignalingState::Stable);
    let current = pc.current_local_description().expect("current");
    assert_eq!(without_candidates(&current.sdp), without_candidates(&answer.sdp));

    // A created offer is reused while it still says what a new one would...
    let mut pc = self::pc();
    audio(&mut pc);
    let offer = pc.create_offer().expect("offer");
    pc.set_local_description(now(), None).expect("SLD()");
    let pending = pc.pending_local_description().expect("pending");
    assert_eq!(without_candidates(&pending.sdp), without_candidates(&offer.sdp));
    // ... and replaced once it does not.
    let mut pc = self::pc();
    audio(&mut pc);
    let stale = pc.create_offer().expect("offer");
    video(&mut pc);
    pc.set_local_description(now(), None).expect("SLD()");
    let pending = pc.pending_local_description().expect("pending");
    assert!(!stale.sdp.contains("m=video"));
    assert!(pending.sdp.contains("m=video"), "{}", pending.sdp);
}

#[test]
fn d33_parameterless_sld_on_a_closed_connection_is_invalid_state() {
    let mut pc = pc();
    pc.close();
    assert_eq!(
        pc.set_local_description(now(), None).unwrap_err().name(),
        "InvalidStateError"
    );
}

#[test]
fn d34_a_description_without_a_type_is_a_type_error() {
    let error = SessionDescriptionInit::from_json("{}").unwrap_err();
    assert_eq!(error.name(), "TypeError");
    assert!(error.to_string().contains("type"), "{error}");
}

#[test]
fn c5_a_new_connection_has_no_descriptions_and_every_state_new() {
    let pc = pc();
    assert_eq!(pc.local_description(), None);
    assert_eq!(pc.current_local_description(), None);
    assert_eq!(pc.pending_local_description(), None);
    assert_eq!(pc.remote_description(), None);
    assert_eq!(pc.current_remote_description(), None);
    assert_eq!(pc.pending_remote_description(), None);
    assert_eq!(pc.signaling_state(), SignalingState::Stable);
    assert_eq!(pc.ice_gathering_state(), IceGatheringState::New);
    assert_eq!(pc.ice_connection_state().as_str(), "new");
    assert_eq!(pc.connection_state().as_str(), "new");
    assert_eq!(pc.can_trickle_ice_candidates(), None);
}

#[test]
fn i12_can_trickle_ice_candidates_follows_the_remote_description() {
    let mut pc = pc();
    let offer = remote_offer();
    assert!(offer.sdp.contains("a=ice-options:trickle"));
    pc.set_remote_description(now(), offer.clone()).expect("offer");
    assert_eq!(pc.can_trickle_ice_candidates(), Some(true));
    pc.set_remote_description(now(), rollback()).expect("rollback");
    assert_eq!(pc.can_trickle_ice_candidates(), None);
    let no_trickle = SessionDescriptionInit::offer(offer.sdp.replace("a=ice-options:trickle\r\n", ""));
    pc.set_remote_description(now(), no_trickle).expect("offer");
    assert_eq!(pc.can_trickle_ice_candidates(), Some(false));
}

#[test]
fn c22_a_media_section_without_rtcp_mux_is_invalid_access() {
    let mut pc = pc();
    let offer = remote_offer();
    assert!(offer.sdp.contains("a=rtcp-mux\r\n"));
    let without = SessionDescriptionInit::offer(offer.sdp.replace("a=rtcp-mux\r\n", ""));
    let error = pc.set_remote_description(now(), without).unwrap_err();
    assert_eq!(error.name(), "InvalidAccessError", "{error}");
    assert_eq!(pc.signaling_state(), SignalingState::Stable);

    // An answer, too.
    let mut a = self::pc();
    audio(&mut a);
    a.set_local_description(now(), None).expect("offer");
    let mut b = pc_answering(&a.local_description().expect("offer"));
    let answer = b.create_answer().expect("answer");
    let without = SessionDescriptionInit::answer(answer.sdp.replace("a=rtcp-mux\r\n", ""));
    let error = a.set_remote_description(now(), without).unwrap_err();
    assert_eq!(error.name(), "InvalidAccessError", "{error}");
    assert_eq!(a.signaling_state(), SignalingState::HaveLocalOffer);
    a.set_remote_description(now(), answer).expect("the real answer");
}

/// One side of the perfect-negotiation pattern (webrtc-pc §10.7): the polite peer rolls its
/// own offer back when offers collide, the impolite one ignores the colliding offer.
struct Negotiator {
    pc: PeerConnection,
    polite: bool,
    inbox: VecDeque<SessionDescriptionInit>,
}

impl Negotiator {
    fn new(polite: bool) -> Negotiator {
        Negotiator {
            pc: pc(),
            polite,
            inbox: VecDeque::new(),
        }
    }

    /// Handles the events: `negotiationneeded` makes and sends an offer.
    fn on_events(&mut self, out: &mut VecDeque<SessionDescriptionInit>) {
        for event in drain(&mut self.pc) {
            if event == PeerEvent::NegotiationNeeded {
                self.pc.set_local_description(now(), None).expect("offer");
                out.push_back(self.pc.local_description().expect("offer"));
            }
        }
    }

    /// Handles one received description.
    fn on_description(&mut self, desc: SessionDescriptionInit, out: &mut VecDeque<SessionDescriptionInit>) {
        let collision = desc.kind == SdpType::Offer && self.pc.signaling_state() != SignalingState::Stable;
        if collision && !self.polite {
            return;
        }
        let offer = desc.kind == SdpType::Offer;
        self.pc.set_remote_description(now(), desc).expect("remote description");
        if offer {
            self.pc.set_local_description(now(), None).expect("answer");
            out.push_back(self.pc.local_description().expect("answer"));
        }
    }
}

/// Runs two negotiators until nothing is in flight; `step` may change either peer between
/// deliveries. Returns how many descriptions were delivered.
fn converge(a: &mut Negotiator, b: &mut Negotiator, seed: u64, changes: usize) -> usize {
    let mut rng = seed.max(1);
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut delivered = 0;
    let mut changes_left = changes;
    for _ in 0..10_000 {
        let (mut to_b, mut to_a) = (VecDeque::new(), VecDeque::new());
        a.on_events(&mut to_b);
        b.on_events(&mut to_a);
        b.inbox.extend(to_b);
        a.inbox.extend(to_a);
        let idle = a.inbox.is_empty() && b.inbox.is_empty();
        if idle && changes_left == 0 {
            return delivered;
        }
        match next() % 4 {
            0 | 1 if changes_left > 0 => {
                changes_left -= 1;
                let peer = if next() % 2 == 0 { &mut *a } else { &mut *b };
                let codec = if next() % 2 == 0 { Codec::Opus } else { Codec::Vp8 };
                peer.pc
                    .add_track(track(&format!("track{changes_left}"), codec))
                    .expect("add_track");
            }
            _ => {
                let (from_a, receiver) = if next() % 2 == 0 {
                    (true, &mut *b)
                } else {
                    (false, &mut *a)
                };
                let Some(desc) = receiver.inbox.pop_front() else {
                    continue;
                };
                let mut replies = VecDeque::new();
                receiver.on_description(desc, &mut replies);
                delivered += 1;
                let other = if from_a { &mut *a } else { &mut *b };
                other.inbox.extend(replies);
            }
        }
    }
    panic!("negotiation did not converge");
}

fn assert_converged(a: &Negotiator, b: &Negotiator) {
    assert_eq!(a.pc.signaling_state(), SignalingState::Stable);
    assert_eq!(b.pc.signaling_state(), SignalingState::Stable);
    let mids = |n: &Negotiator| {
        let mut mids: Vec<(String, &'static str)> =
            n.pc.transceivers()
                .into_iter()
                .map(|t| (t.mid.expect("every transceiver negotiated"), t.kind.as_str()))
                .collect();
        mids.sort();
        mids
    };
    assert_eq!(mids(a), mids(b));
}

#[test]
fn d37_perfect_negotiation_converges_under_glare() {
    let (mut impolite, mut polite) = (Negotiator::new(false), Negotiator::new(true));
    // Both sides change at once: both offer, the offers cross.
    impolite.pc.add_track(track("mic", Codec::Opus)).expect("add_track");
    polite.pc.add_track(track("camera", Codec::Vp8)).expect("add_track");
    let (mut to_polite, mut to_impolite) = (VecDeque::new(), VecDeque::new());
    impolite.on_events(&mut to_polite);
    polite.on_events(&mut to_impolite);
    assert_eq!(impolite.pc.signaling_state(), SignalingState::HaveLocalOffer);
    assert_eq!(polite.pc.signaling_state(), SignalingState::HaveLocalOffer);
    polite.inbox.extend(to_polite);
    impolite.inbox.extend(to_impolite);
    converge(&mut impolite, &mut polite, 1, 0);
    assert_converged(&impolite, &polite);
    assert_eq!(impolite.pc.transceivers().len(), 2);
}

#[test]
fn d37_perfect_negotiation_converges_under_stress() {
    for seed in 1..=20u64 {
        let (mut impolite, mut polite) = (Negotiator::new(false), Negotiator::new(true));
        let delivered = converge(&mut impolite, &mut polite, seed * 7919, 12);
        assert!(delivered >= 2, "seed {seed}: nothing negotiated");
        assert_converged(&impolite, &polite);
    }
}
