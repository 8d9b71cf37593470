//! Browser conformance, area 5 (ICE) on the runtime: `addIceCandidate` goes through the
//! operations chain (the connection task serves calls in the order they were made).

mod conformance_common;

use conformance_common::*;
use rtcpeer::{DataChannelInit, IceCandidateInit, SessionDescriptionInit};

async fn offer() -> (rtcpeer::RTCPeerConnection, SessionDescriptionInit) {
    let offerer = loopback_peer(None).await;
    offerer
        .create_data_channel("dc", DataChannelInit::default())
        .await
        .expect("dc");
    let offer = offerer.create_offer().await.expect("offer");
    (offerer, offer)
}

fn candidate() -> IceCandidateInit {
    IceCandidateInit {
        candidate: "candidate:1 1 udp 2122260223 127.0.0.1 5000 typ host".into(),
        sdp_mid: Some("0".into()),
        ..IceCandidateInit::default()
    }
}

#[tokio::test]
async fn i13_i18_i19_a_candidate_queued_behind_set_remote_description_waits_for_it() {
    let (offerer, offer) = offer().await;
    let answerer = loopback_peer(None).await;
    // Without a remote description: InvalidStateError.
    let early = answerer.add_ice_candidate(Some(candidate())).await;
    assert_eq!(early.map_err(|e| e.name()), Err("InvalidStateError"));
    // Both calls made before either is answered: they run in order, so the candidate succeeds.
    let (srd, added, answer) = tokio::join!(
        answerer.set_remote_description(offer),
        answerer.add_ice_candidate(Some(candidate())),
        answerer.create_answer()
    );
    assert_eq!((srd, added), (Ok(()), Ok(())));
    assert!(answer.is_ok());
    offerer.close().await;
    answerer.close().await;
}

#[tokio::test]
async fn i18_a_candidate_queued_behind_a_failing_set_remote_description_is_invalid_state() {
    let answerer = loopback_peer(None).await;
    let garbage = SessionDescriptionInit::offer("v=0\r\nthis is not sdp\r\n");
    let (srd, added) = tokio::join!(
        answerer.set_remote_description(garbage),
        answerer.add_ice_candidate(Some(candidate()))
    );
    assert!(srd.is_err());
    assert_eq!(added.map_err(|e| e.name()), Err("InvalidStateError"));
    // The connection is still usable.
    let (offerer, offer) = offer().await;
    answerer.set_remote_description(offer).await.expect("a good offer");
    offerer.close().await;
    answerer.close().await;
}

#[tokio::test]
async fn i21_s9_the_selected_pair_matches_on_both_sides() {
    let pair = connect(None).await.expect("connected");
    let (a_local, a_remote) = pair
        .offerer
        .selected_candidate_pair()
        .await
        .expect("call")
        .expect("a pair");
    let (b_local, b_remote) = pair
        .answerer
        .selected_candidate_pair()
        .await
        .expect("call")
        .expect("b pair");
    assert_eq!(a_local.socket_addr(), b_remote.socket_addr());
    assert_eq!(a_remote.socket_addr(), b_local.socket_addr());
    pair.offerer.close().await;
    pair.answerer.close().await;
}
