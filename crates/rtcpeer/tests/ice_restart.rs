//! ICE restart between two connections over real loopback sockets: `restart_ice()` and a
//! renegotiation give both sides new credentials and gather again, while the data channel keeps
//! delivering and the ICE connection state stays `connected` (as in Chromium, which keeps using
//! the old pair until the new checks succeed).

mod common;
#[path = "common/coturn.rs"]
mod coturn;

use std::time::Duration;

use common::*;
use coturn::{relay_peer, Coturn};
use rtcpeer::{
    DataChannelInit, DataChannelMessage, IceCandidateInit, OfferOptions, PeerConnectionState, RTCDataChannel,
    RTCPeerConnection, SessionDescriptionInit,
};
use tokio::sync::mpsc;
use tokio::time::timeout;

fn ufrag(desc: &SessionDescriptionInit) -> String {
    desc.sdp
        .lines()
        .find_map(|l| l.strip_prefix("a=ice-ufrag:"))
        .expect("a=ice-ufrag")
        .to_string()
}

async fn local_ufrag(pc: &RTCPeerConnection) -> String {
    ufrag(
        &pc.local_description()
            .await
            .expect("call")
            .expect("a local description"),
    )
}

/// Everything `seen` reports within `wait`.
async fn drain(seen: &mut mpsc::UnboundedReceiver<Seen>, wait: Duration) -> Vec<Seen> {
    let mut log = Vec::new();
    let _ = timeout(wait, async {
        while let Some(s) = seen.recv().await {
            log.push(s);
        }
    })
    .await;
    log
}

fn numbered(tag: u8, i: usize) -> Vec<u8> {
    (0..200 + i * 37).map(|j| (j as u8) ^ tag ^ (i as u8)).collect()
}

#[tokio::test]
async fn restart_ice_and_renegotiation_keep_the_channel_and_the_connected_state() {
    let offerer = loopback_peer().await;
    let answerer = loopback_peer().await;
    restart_keeps_the_channel(offerer, answerer, "host").await;
}

#[tokio::test]
async fn a_relay_only_restart_through_coturn_keeps_the_channel() {
    let server = Coturn::start();
    let url = format!("turn:{}?transport=udp", server.addr());
    let offerer = relay_peer(url.clone(), Vec::new()).await;
    let answerer = relay_peer(url, Vec::new()).await;
    timeout(
        Duration::from_secs(60),
        restart_keeps_the_channel(offerer, answerer, "relay"),
    )
    .await
    .expect("the relayed restart took too long");
}

/// Connects the two, restarts ICE from the offerer while both send, and checks what the
/// application sees: every message, new credentials on both sides, candidates of `kind` gathered
/// again, no state change but `connected`/`completed`.
async fn restart_keeps_the_channel(mut offerer: RTCPeerConnection, mut answerer: RTCPeerConnection, kind: &str) {
    // Before the first negotiation, restart_ice() does nothing.
    offerer.restart_ice().await.expect("restart_ice");
    let mut offerer_channel = offerer
        .create_data_channel("restart", DataChannelInit::default())
        .await
        .expect("createDataChannel");
    let (mut offerer_seen, _) = pump_holding(&mut offerer, &answerer);
    let (mut answerer_seen, mut answerer_channels) = pump_holding(&mut answerer, &offerer);
    let offer = offerer.create_offer().await.expect("offer");
    offerer.set_local_description(Some(offer.clone())).await.expect("SLD");
    answerer.set_remote_description(offer).await.expect("SRD");
    let answer = answerer.create_answer().await.expect("answer");
    answerer.set_local_description(Some(answer.clone())).await.expect("SLD");
    offerer.set_remote_description(answer).await.expect("SRD");
    let first = wait_for(&mut offerer_seen, Seen::Connection(PeerConnectionState::Connected)).await;
    assert_eq!(
        first.iter().filter(|s| **s == Seen::NegotiationNeeded).count(),
        1,
        "only createDataChannel asked for negotiation: {first:?}"
    );
    wait_for(&mut answerer_seen, Seen::Connection(PeerConnectionState::Connected)).await;
    let mut answerer_channel = timeout(PATIENCE, answerer_channels.recv())
        .await
        .expect("datachannel event")
        .expect("a channel");
    open_channel(&mut offerer_channel).await;
    open_channel(&mut answerer_channel).await;
    let before = (local_ufrag(&offerer).await, local_ufrag(&answerer).await);
    // What happened while connecting is done with.
    drain(&mut offerer_seen, Duration::from_millis(200)).await;
    drain(&mut answerer_seen, Duration::from_millis(200)).await;

    let mut sent = 0usize;
    let send = |channel: &RTCDataChannel, tag: u8, i: usize| {
        let channel = channel.clone();
        async move { channel.send(&numbered(tag, i)).await.expect("send") }
    };
    for _ in 0..5 {
        send(&offerer_channel, 0xA0, sent).await;
        send(&answerer_channel, 0xB0, sent).await;
        sent += 1;
    }

    offerer.restart_ice().await.expect("restart_ice");
    wait_for(&mut offerer_seen, Seen::NegotiationNeeded).await;
    let offer = offerer
        .create_offer_with(OfferOptions { ice_restart: false })
        .await
        .expect("offer");
    assert_ne!(ufrag(&offer), before.0, "restart_ice() overrides iceRestart: false");
    offerer.set_local_description(Some(offer.clone())).await.expect("SLD");
    for _ in 0..5 {
        send(&offerer_channel, 0xA0, sent).await;
        send(&answerer_channel, 0xB0, sent).await;
        sent += 1;
    }
    answerer.set_remote_description(offer).await.expect("SRD");
    let answer = answerer.create_answer().await.expect("answer");
    assert_ne!(ufrag(&answer), before.1, "the answer to a restart has new credentials");
    answerer.set_local_description(Some(answer.clone())).await.expect("SLD");
    offerer.set_remote_description(answer).await.expect("SRD");
    for _ in 0..5 {
        send(&offerer_channel, 0xA0, sent).await;
        send(&answerer_channel, 0xB0, sent).await;
        sent += 1;
    }
    for i in 0..sent {
        assert_eq!(
            next_message(&mut answerer_channel).await,
            DataChannelMessage::Binary(numbered(0xA0, i)),
            "offerer → answerer #{i}"
        );
        assert_eq!(
            next_message(&mut offerer_channel).await,
            DataChannelMessage::Binary(numbered(0xB0, i)),
            "answerer → offerer #{i}"
        );
    }

    // Both gathered again, and the new checks ran; the state never left connected.
    let offerer_log = drain(&mut offerer_seen, Duration::from_secs(2)).await;
    let answerer_log = drain(&mut answerer_seen, Duration::from_secs(1)).await;
    for (who, log) in [("offerer", &offerer_log), ("answerer", &answerer_log)] {
        let gathering = position(log, &Seen::Gathering("gathering".into()));
        let end = position(log, &Seen::Candidate(None));
        assert!(gathering < end, "{who}: {log:?}");
        assert!(log.contains(&Seen::Gathering("complete".into())), "{who}: {log:?}");
        let gathered: Vec<&IceCandidateInit> = log
            .iter()
            .filter_map(|s| match s {
                Seen::Candidate(Some(c)) => Some(c),
                _ => None,
            })
            .collect();
        assert!(!gathered.is_empty(), "{who}: {log:?}");
        for c in gathered {
            assert!(c.candidate.contains(&format!(" typ {kind}")), "{who}: {c:?}");
        }
        for s in log {
            match s {
                Seen::IceConnection(state) => {
                    assert!(state == "connected" || state == "completed", "{who}: {log:?}")
                }
                Seen::Connection(_) | Seen::DataChannel => panic!("{who}: {log:?}"),
                _ => {}
            }
        }
    }
    let after = (local_ufrag(&offerer).await, local_ufrag(&answerer).await);
    assert!(after.0 != before.0 && after.1 != before.1, "{before:?} → {after:?}");
    let (local, remote) = offerer
        .selected_candidate_pair()
        .await
        .expect("call")
        .expect("a selected pair");
    assert_eq!((local.kind.as_str(), remote.kind.as_str()), (kind, kind));
    assert_eq!(offerer.connection_state().await, Ok(PeerConnectionState::Connected));
    assert_eq!(answerer.connection_state().await, Ok(PeerConnectionState::Connected));
    // Still carrying data after the restart settled.
    send(&offerer_channel, 0xA0, sent).await;
    assert_eq!(
        next_message(&mut answerer_channel).await,
        DataChannelMessage::Binary(numbered(0xA0, sent))
    );
    offerer.close().await;
    answerer.close().await;
}
