//! Renegotiation details that perfect negotiation with a browser depends on: whoever offers
//! next, the DTLS roles stay; and a transceiver that has no track to send yet does not ask for a
//! negotiation after every exchange.

use std::time::Instant;

use rtcpeer_proto::jsep::MediaType;
use rtcpeer_proto::peer::{PeerConfig, PeerConnection, PeerEvent, SessionDescriptionInit, TransceiverInit};

fn pc() -> PeerConnection {
    PeerConnection::new(PeerConfig::default(), Instant::now()).expect("peer connection")
}

fn audio(pc: &mut PeerConnection) {
    pc.add_transceiver(MediaType::Audio, TransceiverInit::default())
        .expect("audio transceiver");
}

/// `from` offers, `to` answers; returns the answer.
fn exchange(from: &mut PeerConnection, to: &mut PeerConnection) -> SessionDescriptionInit {
    from.set_local_description(Instant::now(), None).expect("local offer");
    let offer = from.local_description().expect("offer");
    to.set_remote_description(Instant::now(), offer).expect("remote offer");
    to.set_local_description(Instant::now(), None).expect("local answer");
    let answer = to.local_description().expect("answer");
    from.set_remote_description(Instant::now(), answer.clone())
        .expect("remote answer");
    answer
}

fn setup(description: &SessionDescriptionInit) -> Vec<&str> {
    description
        .sdp
        .lines()
        .filter_map(|l| l.strip_prefix("a=setup:"))
        .collect()
}

fn negotiation_needed(pc: &mut PeerConnection) -> usize {
    std::iter::from_fn(|| pc.poll_event())
        .filter(|e| matches!(e, PeerEvent::NegotiationNeeded))
        .count()
}

#[test]
fn an_answer_to_a_re_offer_keeps_the_dtls_roles_whoever_offers() {
    let (mut a, mut b) = (pc(), pc());
    audio(&mut a);
    // a offers actpass, b answers active: b is the DTLS client, a the server.
    let first = exchange(&mut a, &mut b);
    assert_eq!(setup(&first), ["active"]);

    // b re-offers (actpass, as browsers do); a must answer passive to stay the server. Answering
    // active would flip the roles, which Chromium refuses ("Failed to set SSL role").
    audio(&mut b);
    let from_a = exchange(&mut b, &mut a);
    assert!(setup(&from_a).iter().all(|s| *s == "passive"), "{:?}", setup(&from_a));

    // a re-offers; b stays the client.
    audio(&mut a);
    let from_b = exchange(&mut a, &mut b);
    assert!(setup(&from_b).iter().all(|s| *s == "active"), "{:?}", setup(&from_b));
}

#[test]
fn a_sending_transceiver_without_a_track_is_negotiated_once() {
    let (mut a, mut b) = (pc(), pc());
    audio(&mut a);
    assert_eq!(negotiation_needed(&mut a), 1);
    let answer = exchange(&mut a, &mut b);
    // The offer says sendrecv without a track (the sender announces its muted track, as
    // browsers do); the answerer, with nothing to send, answers recvonly. Our side of that is
    // what the transceiver asks for, so nothing is left to negotiate on either side.
    let offer = a.current_local_description().expect("offer");
    assert!(offer.sdp.contains("a=sendrecv\r\n"), "{}", offer.sdp);
    assert!(answer.sdp.contains("a=recvonly\r\n"), "{}", answer.sdp);
    assert_eq!(negotiation_needed(&mut a), 0, "offerer");
    assert_eq!(negotiation_needed(&mut b), 0, "answerer");
    // The same once the answerer adds one of its own and offers.
    audio(&mut b);
    assert_eq!(negotiation_needed(&mut b), 1);
    exchange(&mut b, &mut a);
    assert_eq!(negotiation_needed(&mut a), 0, "answerer of the re-offer");
    assert_eq!(negotiation_needed(&mut b), 0, "re-offerer");
}
