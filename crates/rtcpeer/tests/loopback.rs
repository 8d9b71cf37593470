//! Two connections over real loopback sockets: signaling, trickle, data, close.

use std::net::{IpAddr, Ipv4Addr, UdpSocket};
use std::time::Duration;

use rtcpeer::{
    DataChannelEvent, DataChannelInit, DataChannelMessage, DataChannelState, IceCandidateInit, PeerConnectionEvent,
    PeerConnectionState, RTCConfiguration, RTCDataChannel, RTCPeerConnection, RtcError, SignalingState,
};
use tokio::sync::mpsc;
use tokio::time::timeout;

const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const PATIENCE: Duration = Duration::from_secs(20);

/// What a pump saw, in order, as the W3C event names (plus the candidate for `icecandidate`).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seen {
    Signaling(SignalingState),
    Gathering(String),
    Candidate(Option<IceCandidateInit>),
    IceConnection(String),
    Connection(PeerConnectionState),
    NegotiationNeeded,
    DataChannel,
}

/// Reads `pc`'s events, hands its candidates to `other`, reports every event on `seen` and
/// remote channels on `channels`.
fn pump(
    pc: &mut RTCPeerConnection,
    other: &RTCPeerConnection,
) -> (mpsc::UnboundedReceiver<Seen>, mpsc::UnboundedReceiver<RTCDataChannel>) {
    let other = other.clone();
    let (seen_tx, seen) = mpsc::unbounded_channel();
    let (channel_tx, channels) = mpsc::unbounded_channel();
    let mut events = pc.take_events().expect("a fresh connection has its event stream");
    tokio::spawn(async move {
        while let Some(event) = events.recv().await {
            let seen = match event {
                PeerConnectionEvent::IceCandidate(candidate) => {
                    other
                        .add_ice_candidate(candidate.clone())
                        .await
                        .expect("the peer accepts our candidate");
                    Seen::Candidate(candidate)
                }
                PeerConnectionEvent::IceGatheringStateChange(s) => Seen::Gathering(s.to_string()),
                PeerConnectionEvent::IceConnectionStateChange(s) => Seen::IceConnection(s.to_string()),
                PeerConnectionEvent::ConnectionStateChange(s) => Seen::Connection(s),
                PeerConnectionEvent::SignalingStateChange(s) => Seen::Signaling(s),
                PeerConnectionEvent::NegotiationNeeded => Seen::NegotiationNeeded,
                PeerConnectionEvent::DataChannel(channel) => {
                    let _ = channel_tx.send(channel);
                    Seen::DataChannel
                }
            };
            let _ = seen_tx.send(seen);
        }
    });
    (seen, channels)
}

struct Pair {
    offerer: RTCPeerConnection,
    answerer: RTCPeerConnection,
    answerer_seen: mpsc::UnboundedReceiver<Seen>,
    offerer_channel: RTCDataChannel,
    answerer_channel: RTCDataChannel,
}

async fn loopback_peer() -> RTCPeerConnection {
    RTCPeerConnection::new(RTCConfiguration::bound_to([LOOPBACK]))
        .await
        .expect("a connection bound to loopback")
}

/// Waits until `seen` reports `wanted`, returning everything seen up to and including it.
async fn wait_for(seen: &mut mpsc::UnboundedReceiver<Seen>, wanted: Seen) -> Vec<Seen> {
    let mut log = Vec::new();
    let found = timeout(PATIENCE, async {
        while let Some(s) = seen.recv().await {
            log.push(s.clone());
            if s == wanted {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(found, Ok(true), "{wanted:?} never came; saw {log:?}");
    log
}

async fn open_channel(channel: &mut RTCDataChannel) {
    let event = timeout(PATIENCE, channel.next_event())
        .await
        .expect("the channel opens");
    assert_eq!(event, Some(DataChannelEvent::Open));
    assert_eq!(channel.ready_state(), DataChannelState::Open);
}

/// Offer/answer in memory, candidates by trickle, a reliable channel open on both sides.
async fn connected_pair() -> (Pair, Vec<Seen>) {
    let mut offerer = loopback_peer().await;
    let mut answerer = loopback_peer().await;
    let mut offerer_channel = offerer
        .create_data_channel("test", DataChannelInit::default())
        .await
        .expect("createDataChannel");
    assert_eq!(offerer_channel.label(), "test");
    assert_eq!(offerer_channel.ready_state(), DataChannelState::Connecting);

    let offer = offerer.create_offer().await.expect("createOffer");
    offerer
        .set_local_description(Some(offer.clone()))
        .await
        .expect("SLD(offer)");
    answerer.set_remote_description(offer).await.expect("SRD(offer)");
    let answer = answerer.create_answer().await.expect("createAnswer");
    answerer
        .set_local_description(Some(answer.clone()))
        .await
        .expect("SLD(answer)");
    offerer.set_remote_description(answer).await.expect("SRD(answer)");

    let (mut offerer_seen, _offerer_channels) = pump(&mut offerer, &answerer);
    let (answerer_seen, mut answerer_channels) = pump(&mut answerer, &offerer);
    let offerer_log = wait_for(&mut offerer_seen, Seen::Connection(PeerConnectionState::Connected)).await;

    let mut answerer_channel = timeout(PATIENCE, answerer_channels.recv())
        .await
        .expect("the datachannel event comes")
        .expect("a remote channel");
    assert_eq!(answerer_channel.label(), "test");
    open_channel(&mut offerer_channel).await;
    open_channel(&mut answerer_channel).await;
    (
        Pair {
            offerer,
            answerer,
            answerer_seen,
            offerer_channel,
            answerer_channel,
        },
        offerer_log,
    )
}

async fn next_message(channel: &mut RTCDataChannel) -> DataChannelMessage {
    match timeout(PATIENCE, channel.next_event()).await.expect("a message comes") {
        Some(DataChannelEvent::Message(message)) => message,
        other => panic!("expected a message, got {other:?}"),
    }
}

#[tokio::test]
async fn two_peers_connect_and_exchange_messages_both_ways() {
    let (mut pair, _) = connected_pair().await;
    let sizes = [1usize, 2, 100, 1200, 5000, 16_384, 60_000];
    for (i, &size) in sizes.iter().enumerate() {
        let data: Vec<u8> = (0..size).map(|b| (b * 7 + i) as u8).collect();
        pair.offerer_channel.send(&data).await.expect("send");
        assert_eq!(
            next_message(&mut pair.answerer_channel).await,
            DataChannelMessage::Binary(data.clone())
        );
        let text = format!("reply {i} {}", "é".repeat(size / 4));
        pair.answerer_channel.send_text(&text).await.expect("send_text");
        assert_eq!(
            next_message(&mut pair.offerer_channel).await,
            DataChannelMessage::Text(text)
        );
    }
    assert_eq!(
        pair.offerer.connection_state().await,
        Ok(PeerConnectionState::Connected)
    );
    let stats = pair.offerer.transport_stats().await.expect("stats");
    assert!(stats.bytes_sent > sizes.iter().sum::<usize>() as u64, "{stats:?}");
    pair.offerer.close().await;
    pair.answerer.close().await;
}

fn position(log: &[Seen], wanted: &Seen) -> usize {
    log.iter()
        .position(|s| s == wanted)
        .unwrap_or_else(|| panic!("{wanted:?} missing from {log:?}"))
}

#[tokio::test]
async fn events_arrive_in_the_w3c_order() {
    let (mut pair, offerer_log) = connected_pair().await;
    let answerer_log = wait_for(
        &mut pair.answerer_seen,
        Seen::Connection(PeerConnectionState::Connected),
    )
    .await;
    for (who, log, first_signaling) in [
        ("offerer", &offerer_log, SignalingState::HaveLocalOffer),
        ("answerer", &answerer_log, SignalingState::HaveRemoteOffer),
    ] {
        let gathering = position(log, &Seen::Gathering("gathering".into()));
        let complete = position(log, &Seen::Gathering("complete".into()));
        let end_of_candidates = position(log, &Seen::Candidate(None));
        let candidates: Vec<usize> = log
            .iter()
            .enumerate()
            .filter(|(_, s)| matches!(s, Seen::Candidate(Some(_))))
            .map(|(i, _)| i)
            .collect();
        assert!(!candidates.is_empty(), "{who}: no candidate in {log:?}");
        assert!(
            position(log, &Seen::Signaling(first_signaling)) < gathering,
            "{who}: signaling after gathering in {log:?}"
        );
        assert!(
            candidates.iter().all(|&c| gathering < c && c < end_of_candidates),
            "{who}: candidates outside gathering..end-of-candidates in {log:?}"
        );
        assert!(gathering < complete, "{who}: {log:?}");
        assert_eq!(
            log.iter().filter(|s| **s == Seen::Candidate(None)).count(),
            1,
            "{who}: {log:?}"
        );
        let connecting = position(log, &Seen::Connection(PeerConnectionState::Connecting));
        let connected = position(log, &Seen::Connection(PeerConnectionState::Connected));
        assert!(connecting < connected, "{who}: {log:?}");
        assert!(
            !log[..connecting].iter().any(|s| matches!(s, Seen::Connection(_))),
            "{who}: a connection state before connecting in {log:?}"
        );
        // Every candidate is a loopback host candidate, since the peer was bound to loopback only.
        for i in candidates {
            let Seen::Candidate(Some(c)) = &log[i] else {
                unreachable!()
            };
            assert!(c.candidate.contains(" 127.0.0.1 "), "{who}: {c:?}");
            assert!(c.candidate.contains("typ host"), "{who}: {c:?}");
        }
    }
    // The offerer's first event is its own signaling change.
    assert_eq!(
        offerer_log.first(),
        Some(&Seen::Signaling(SignalingState::HaveLocalOffer))
    );
    pair.offerer.close().await;
    pair.answerer.close().await;
}

fn port_is_free(addr: std::net::SocketAddr) -> bool {
    UdpSocket::bind(addr).is_ok()
}

#[tokio::test]
async fn close_frees_the_sockets_ends_the_task_and_closes_the_channels() {
    let (mut pair, _) = connected_pair().await;
    let addresses = pair.offerer.local_addresses().await.expect("addresses");
    assert_eq!(addresses.len(), 1, "bound to loopback only: {addresses:?}");
    assert!(addresses.iter().all(|a| a.ip() == LOOPBACK));
    assert!(!port_is_free(addresses[0]), "the connection holds its port");

    timeout(PATIENCE, pair.offerer.close()).await.expect("close() returns");
    assert!(pair.offerer.is_closed());
    timeout(PATIENCE, pair.offerer.closed())
        .await
        .expect("the task has ended");
    assert!(port_is_free(addresses[0]), "the port is free after close()");

    // The local channel saw its close, and its stream ended.
    let mut events = Vec::new();
    while let Ok(Some(event)) = timeout(PATIENCE, pair.offerer_channel.next_event()).await {
        events.push(event);
    }
    assert_eq!(events.last(), Some(&DataChannelEvent::Close), "{events:?}");
    assert_eq!(pair.offerer_channel.ready_state(), DataChannelState::Closed);
    pair.answerer.close().await;
}

#[tokio::test]
async fn every_call_after_close_is_an_invalid_state_error() {
    let pc = loopback_peer().await;
    let channel = pc
        .create_data_channel("early", DataChannelInit::default())
        .await
        .expect("createDataChannel");
    pc.close().await;
    pc.close().await; // closing twice is fine
    let is_invalid_state = |r: Result<(), RtcError>| matches!(r, Err(RtcError::InvalidState(_)));
    assert!(is_invalid_state(pc.create_offer().await.map(drop)));
    assert!(is_invalid_state(pc.create_answer().await.map(drop)));
    assert!(is_invalid_state(pc.set_local_description(None).await));
    assert!(is_invalid_state(
        pc.set_remote_description(rtcpeer::SessionDescriptionInit::offer("v=0\r\n"))
            .await
    ));
    assert!(is_invalid_state(pc.add_ice_candidate(None).await));
    assert!(is_invalid_state(pc.local_description().await.map(drop)));
    assert!(is_invalid_state(pc.signaling_state().await.map(drop)));
    assert!(is_invalid_state(pc.connection_state().await.map(drop)));
    assert!(is_invalid_state(
        pc.create_data_channel("late", DataChannelInit::default())
            .await
            .map(drop)
    ));
    assert!(is_invalid_state(channel.send(b"x").await));
    assert!(is_invalid_state(channel.send_text("x").await));
    assert_eq!(channel.ready_state(), DataChannelState::Closed);
    assert_eq!(
        RtcError::InvalidState(String::new()).name(),
        pc.create_offer().await.unwrap_err().name()
    );
}

#[tokio::test]
async fn dropping_every_handle_frees_the_sockets() {
    let pc = loopback_peer().await;
    let channel = pc
        .create_data_channel("held", DataChannelInit::default())
        .await
        .expect("createDataChannel");
    let addresses = pc.local_addresses().await.expect("addresses");
    drop(pc);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(
        !port_is_free(addresses[0]),
        "a channel handle keeps the connection alive"
    );
    assert_eq!(channel.ready_state(), DataChannelState::Connecting);
    drop(channel);
    let freed = timeout(PATIENCE, async {
        while !port_is_free(addresses[0]) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert!(freed.is_ok(), "the port was freed after the last handle was dropped");
}

#[tokio::test]
async fn garbage_datagrams_are_dropped_and_the_connection_keeps_working() {
    let (mut pair, _) = connected_pair().await;
    let target = pair.answerer.local_addresses().await.expect("addresses")[0];
    let before = pair.answerer.transport_stats().await.expect("stats");
    let attacker = UdpSocket::bind((LOOPBACK, 0)).expect("a loopback socket");
    let mut sent = 0u64;
    for (i, size) in [0usize, 1, 4, 20, 100, 1500, 9000, 65_507].iter().enumerate() {
        for first in [0u8, 1, 22, 128, 255] {
            let mut datagram: Vec<u8> = (0..*size).map(|b| (b * 31 + i) as u8).collect();
            if let Some(byte) = datagram.first_mut() {
                *byte = first;
            }
            attacker.send_to(&datagram, target).expect("send garbage");
            sent += 1;
            // Paced, so that the kernel's receive buffer never overflows and every datagram reaches the task.
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
    pair.offerer_channel.send_text("still here").await.expect("send");
    assert_eq!(
        next_message(&mut pair.answerer_channel).await,
        DataChannelMessage::Text("still here".into())
    );
    let after = pair.answerer.transport_stats().await.expect("stats");
    assert!(
        after.datagrams_received >= before.datagrams_received + sent,
        "{sent} garbage datagrams not all seen: {before:?} -> {after:?}"
    );
    assert_eq!(
        pair.answerer.connection_state().await,
        Ok(PeerConnectionState::Connected)
    );
    pair.offerer.close().await;
    pair.answerer.close().await;
}
