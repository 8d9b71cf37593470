//! Two connections over real loopback sockets: signaling, trickle, data, close.

mod common;

use std::net::UdpSocket;
use std::time::Duration;

use common::*;
use rtcpeer::{
    DataChannelEvent, DataChannelInit, DataChannelMessage, DataChannelState, PeerConnectionState, RTCDataChannel,
    RtcError, SignalingState,
};
use tokio::time::timeout;

#[tokio::test]
async fn two_peers_connect_and_exchange_messages_both_ways() {
    let (mut pair, _) = connected_pair().await;
    let sizes = [1usize, 2, 100, 1200, 5000, 16_384, 65_536];
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
    // createDataChannel made negotiation needed before anything else happened.
    assert_eq!(
        offerer_log.get(..2),
        Some(&[Seen::NegotiationNeeded, Seen::Signaling(SignalingState::HaveLocalOffer)][..])
    );
    assert!(!answerer_log.contains(&Seen::NegotiationNeeded), "{answerer_log:?}");
    pair.offerer.close().await;
    pair.answerer.close().await;
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
    // The states are readable after close, and read `closed` as in the browser.
    assert_eq!(pc.signaling_state().await, Ok(SignalingState::Closed));
    assert_eq!(pc.connection_state().await, Ok(PeerConnectionState::Closed));
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
    // First byte 255: not STUN, DTLS or RTP; first bytes 22 (DTLS) and 128 (RTP) from an address
    // that passed no connectivity check.
    let non_empty = 7;
    assert!(after.dropped.unknown >= before.dropped.unknown + non_empty, "{after:?}");
    assert!(
        after.dropped.unexpected_source >= before.dropped.unexpected_source + 2 * non_empty,
        "{after:?}"
    );
    assert_eq!(
        pair.answerer.connection_state().await,
        Ok(PeerConnectionState::Connected)
    );
    pair.offerer.close().await;
    pair.answerer.close().await;
}

/// Reads a channel's events until its stream ends, returning them (passing over nothing).
async fn events_until_end(channel: &mut RTCDataChannel) -> Vec<DataChannelEvent> {
    let mut events = Vec::new();
    while let Some(event) = timeout(PATIENCE, channel.next_event())
        .await
        .expect("the channel's stream ends")
    {
        events.push(event);
    }
    events
}

#[tokio::test]
async fn closing_a_channel_closes_it_on_both_sides_and_keeps_the_connection() {
    let (mut pair, _) = connected_pair().await;
    pair.offerer_channel.close().await.expect("close()");
    let local = events_until_end(&mut pair.offerer_channel).await;
    let remote = events_until_end(&mut pair.answerer_channel).await;
    for (who, events) in [("local", &local), ("remote", &remote)] {
        assert_eq!(events.last(), Some(&DataChannelEvent::Close), "{who}: {events:?}");
        assert!(
            !events
                .iter()
                .any(|e| matches!(e, DataChannelEvent::Message(_) | DataChannelEvent::Error(_))),
            "{who}: {events:?}"
        );
    }
    assert_eq!(pair.offerer_channel.ready_state(), DataChannelState::Closed);
    assert_eq!(pair.answerer_channel.ready_state(), DataChannelState::Closed);
    assert!(matches!(
        pair.offerer_channel.send(b"late").await,
        Err(RtcError::InvalidState(_))
    ));
    assert_eq!(
        pair.offerer.connection_state().await,
        Ok(PeerConnectionState::Connected)
    );
    // A new channel still works on the same connection.
    let mut again = pair
        .offerer
        .create_data_channel("again", DataChannelInit::default())
        .await
        .expect("createDataChannel");
    assert_eq!(again.next_event().await, Some(DataChannelEvent::Open));
    again.send_text("hi").await.expect("send");
    pair.offerer.close().await;
    pair.answerer.close().await;
}
