//! Consent freshness over real loopback sockets with the timers of `RTCConfiguration::ice_timing`:
//! when the peer goes silent, ICE reports `disconnected` and then `failed` on the configured time.

mod common;

use std::time::{Duration, Instant};

use common::*;
use rtcpeer::{DataChannelInit, IceTiming, PeerConnectionState, RTCConfiguration, RTCPeerConnection};
use tokio::time::timeout;

#[tokio::test]
async fn configured_consent_timers_decide_when_a_silent_peer_is_disconnected_and_failed() {
    let timing = IceTiming {
        consent_interval: Duration::from_millis(200),
        disconnected_timeout: Duration::from_millis(800),
        failed_timeout: Duration::from_secs(3),
    };
    let config = || RTCConfiguration {
        ice_timing: timing,
        ..RTCConfiguration::bound_to([LOOPBACK])
    };
    let mut offerer = RTCPeerConnection::new(config()).await.expect("offerer");
    let mut answerer = RTCPeerConnection::new(config()).await.expect("answerer");
    let _channel = offerer
        .create_data_channel("consent", DataChannelInit::default())
        .await
        .expect("createDataChannel");
    let offer = offerer.create_offer().await.expect("offer");
    offerer.set_local_description(Some(offer.clone())).await.expect("SLD");
    answerer.set_remote_description(offer).await.expect("SRD");
    let answer = answerer.create_answer().await.expect("answer");
    answerer.set_local_description(Some(answer.clone())).await.expect("SLD");
    offerer.set_remote_description(answer).await.expect("SRD");
    let (mut offerer_seen, _) = pump(&mut offerer, &answerer);
    let (_answerer_seen, _) = pump(&mut answerer, &offerer);
    wait_for(&mut offerer_seen, Seen::Connection(PeerConnectionState::Connected)).await;
    // Several consent intervals pass without a change: the checks are answered.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(offerer.connection_state().await, Ok(PeerConnectionState::Connected));

    // The peer goes away: nothing answers the consent checks any more.
    let silent_from = Instant::now();
    answerer.close().await;
    let log = timeout(Duration::from_secs(10), async {
        wait_for(&mut offerer_seen, Seen::IceConnection("disconnected".into())).await
    })
    .await
    .expect("never disconnected");
    let disconnected = silent_from.elapsed();
    timeout(Duration::from_secs(10), async {
        wait_for(&mut offerer_seen, Seen::IceConnection("failed".into())).await
    })
    .await
    .expect("never failed");
    let failed = silent_from.elapsed();
    // Disconnected 0.8 s after the first unanswered check (sent within one interval, ≤ 0.24 s,
    // of the peer leaving); failed 3 s after the last answer (at most one interval before).
    // Real time on a shared machine: slack above, a round trip below.
    assert!(
        disconnected >= Duration::from_millis(790) && disconnected <= Duration::from_millis(2000),
        "disconnected after {disconnected:?}: {log:?}"
    );
    assert!(
        failed >= Duration::from_millis(2750) && failed <= Duration::from_millis(4500),
        "failed after {failed:?}"
    );
    // With the default timers this would have taken 5 and 30 seconds.
    assert_eq!(offerer.connection_state().await, Ok(PeerConnectionState::Failed));
    offerer.close().await;
}
