//! Browser conformance, area 8 (close) and issue 6 item 6 on the runtime: `close()` makes every
//! state `closed` at once, stops the events, closes the channels and makes later calls fail
//! with `InvalidStateError`; dropping the handles without `close()` frees the sockets and tasks.

mod conformance_common;

use std::time::Duration;

use conformance_common::*;
use rtcpeer::{
    Codec, DataChannelEvent, DataChannelInit, DataChannelState, IceConnectionState, LocalTrack, MediaType,
    PeerConnectionState, SignalingState, TransceiverDirection, TransceiverInit,
};
use tokio::sync::Mutex;
use tokio::time::timeout;

/// The tests count the process's file descriptors: they run one at a time.
static ONE_AT_A_TIME: Mutex<()> = Mutex::const_new(());

#[tokio::test]
async fn s2_x1_x2_close_makes_every_state_closed_and_fires_nothing() {
    let _one = ONE_AT_A_TIME.lock().await;
    let mut pair = connect(None).await.expect("connected");
    assert_eq!(
        pair.offerer.connection_state().await,
        Ok(PeerConnectionState::Connected)
    );
    pair.offerer.close().await;
    assert_eq!(pair.offerer.signaling_state().await, Ok(SignalingState::Closed));
    assert_eq!(pair.offerer.connection_state().await, Ok(PeerConnectionState::Closed));
    assert_eq!(
        pair.offerer.ice_connection_state().await,
        Ok(IceConnectionState::Closed)
    );
    assert!(pair.offerer.is_closed());
    // Whatever was fired before close() may still be read; nothing about the close follows.
    let mut after = Vec::new();
    while let Ok(Some(event)) = timeout(Duration::from_secs(1), pair.offerer.next_event()).await {
        after.push(format!("{event:?}"));
    }
    assert!(after.iter().all(|e| !e.contains("Closed")), "close() fired {after:?}");
    pair.answerer.close().await;
}

#[tokio::test]
async fn x3_x4_x5_x6_x7_x8_every_later_call_fails_with_invalid_state() {
    let _one = ONE_AT_A_TIME.lock().await;
    let pc = loopback_peer(None).await;
    let track = LocalTrack::new("mic", Codec::Opus, vec![]).expect("track");
    let sender = pc.add_track(&track).await.expect("addTrack");
    let offer = pc.create_offer().await.expect("offer");
    pc.close().await;
    let names = [
        pc.create_offer().await.err().map(|e| e.name()),
        pc.create_answer().await.err().map(|e| e.name()),
        pc.set_local_description(None).await.err().map(|e| e.name()),
        pc.set_remote_description(offer).await.err().map(|e| e.name()),
        pc.add_ice_candidate(None).await.err().map(|e| e.name()),
        pc.add_track(&track).await.err().map(|e| e.name()),
        pc.remove_track(sender).await.err().map(|e| e.name()),
        pc.replace_track(sender, None).await.err().map(|e| e.name()),
        pc.add_transceiver(MediaType::Video, TransceiverInit::default())
            .await
            .err()
            .map(|e| e.name()),
        pc.set_direction(sender, TransceiverDirection::Inactive)
            .await
            .err()
            .map(|e| e.name()),
        pc.stop_transceiver(sender).await.err().map(|e| e.name()),
        pc.create_data_channel("x", DataChannelInit::default())
            .await
            .err()
            .map(|e| e.name()),
    ];
    for (i, name) in names.iter().enumerate() {
        assert_eq!(*name, Some("InvalidStateError"), "call {i}");
    }
    // close() again is harmless.
    pc.close().await;
}

#[tokio::test]
async fn dc24_x9_close_closes_every_channel_at_once_and_the_peer_hears_it() {
    let _one = ONE_AT_A_TIME.lock().await;
    let mut pair = connect(None).await.expect("connected");
    let negotiated = pair
        .offerer
        .create_data_channel(
            "negotiated",
            DataChannelInit {
                negotiated: true,
                id: Some(20),
                ..DataChannelInit::default()
            },
        )
        .await
        .expect("negotiated");
    let second = pair
        .offerer
        .create_data_channel("second", DataChannelInit::default())
        .await
        .expect("second");
    pair.offerer.close().await;
    for channel in [&pair.offerer_channel, &negotiated, &second] {
        assert_eq!(channel.ready_state(), DataChannelState::Closed, "{}", channel.label());
    }
    // The channel's own stream ends with `Close`.
    let mut last = None;
    while let Ok(Some(event)) = timeout(Duration::from_secs(2), pair.offerer_channel.next_event()).await {
        last = Some(event);
    }
    assert_eq!(last, Some(DataChannelEvent::Close));
    let closed = timeout(PATIENCE, async {
        while let Some(event) = pair.answerer_channel.next_event().await {
            if event == DataChannelEvent::Close {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(closed, Ok(true), "the answerer's channel did not close");
    assert_eq!(pair.answerer_channel.ready_state(), DataChannelState::Closed);
    pair.answerer.close().await;
}

#[tokio::test]
async fn x10_closing_one_peer_drives_the_other_to_disconnected() {
    let _one = ONE_AT_A_TIME.lock().await;
    let mut pair = connect(None).await.expect("connected");
    pair.offerer.close().await;
    let state = next_matching(&mut pair.answerer, |event| match event {
        rtcpeer::PeerConnectionEvent::IceConnectionStateChange(s)
            if s == IceConnectionState::Disconnected || s == IceConnectionState::Failed =>
        {
            Some(s)
        }
        _ => None,
    })
    .await;
    assert_eq!(state, Ok(IceConnectionState::Disconnected));
    pair.answerer.close().await;
}

#[tokio::test]
async fn t20_stop_ends_the_remote_track_at_once() {
    let _one = ONE_AT_A_TIME.lock().await;
    let mut pair = connect(None).await.expect("connected");
    let track = LocalTrack::new("mic", Codec::Opus, vec!["s".into()]).expect("track");
    pair.offerer.add_track(&track).await.expect("add");
    pair.offerer.set_local_description(None).await.expect("SLD");
    let offer = pair.offerer.local_description().await.expect("offer").expect("offer");
    pair.answerer.set_remote_description(offer).await.expect("SRD");
    let mut remote = next_matching(&mut pair.answerer, |event| match event {
        rtcpeer::PeerConnectionEvent::Track(track) => Some(track),
        _ => None,
    })
    .await
    .expect("track event at SRD(offer)");
    let receiver = pair.answerer.get_transceivers().await.expect("transceivers")[0].id;
    pair.answerer.stop_transceiver(receiver).await.expect("stop");
    let ended = timeout(PATIENCE, async { while remote.next_frame().await.is_some() {} }).await;
    assert!(ended.is_ok(), "the remote track's stream did not end");
    let info = pair.answerer.get_transceivers().await.expect("transceivers");
    assert_eq!(info[0].direction, TransceiverDirection::Stopped);
    pair.offerer.close().await;
    pair.answerer.close().await;
}

#[tokio::test]
async fn dropping_every_handle_without_close_frees_sockets_and_tasks() {
    let _one = ONE_AT_A_TIME.lock().await;
    // One round first, so that lazily created runtime state exists in the baseline.
    let warm = connect(None).await.expect("warm-up");
    drop(warm);
    assert!(
        eventually(|| alive_tasks() == 0).await,
        "warm-up left {} tasks",
        alive_tasks()
    );
    let fds = open_fds();
    let tasks = alive_tasks();

    let mut pair = connect(None).await.expect("connected");
    one_message(&mut pair, "before the drop").await.expect("message");
    assert!(open_fds() > fds, "the connections hold sockets");
    assert!(alive_tasks() >= tasks + 2, "one task per connection");
    let observer = pair.answerer.clone();
    drop(pair);
    // The answerer's clone keeps its connection alive; the offerer's ended.
    assert!(!observer.is_closed());
    drop(observer);
    assert!(
        eventually(|| open_fds() == fds && alive_tasks() == tasks).await,
        "after the drop: {} fds (baseline {fds}), {} tasks (baseline {tasks})",
        open_fds(),
        alive_tasks()
    );
}

#[tokio::test]
async fn x6_a_set_local_description_pending_at_close_settles_before_close_runs() {
    let _one = ONE_AT_A_TIME.lock().await;
    let pc = loopback_peer(None).await;
    pc.add_transceiver(MediaType::Audio, TransceiverInit::default())
        .await
        .expect("transceiver");
    // Queued when called, before close(): the operations chain runs it first, so it settles
    // (where the browser's promise would never settle) and close() then ends everything.
    let pending = pc.set_local_description(None);
    pc.close().await;
    let settled = timeout(Duration::from_secs(2), pending).await.expect("it settles");
    assert!(settled.is_ok(), "{settled:?}");
    assert_eq!(
        pc.set_local_description(None).await.err().map(|e| e.name()),
        Some("InvalidStateError")
    );
}
