//! Browser conformance, areas 4 and 10 on the runtime: `negotiationneeded` waits until the
//! operations chain is empty and is dropped when a queued operation made it moot.

mod conformance_common;

use std::time::Duration;

use conformance_common::*;
use rtcpeer::{Codec, LocalTrack, PeerConnectionEvent};
use tokio::time::timeout;

async fn negotiation_needed_within(pc: &mut rtcpeer::RTCPeerConnection, wait: Duration) -> usize {
    let mut count = 0;
    while let Ok(Some(event)) = timeout(wait, pc.next_event()).await {
        if matches!(event, PeerConnectionEvent::NegotiationNeeded) {
            count += 1;
        }
    }
    count
}

#[tokio::test]
async fn t24_t25_negotiationneeded_fires_once_for_changes_made_together() {
    let mut pc = loopback_peer(None).await;
    let mic = LocalTrack::new("mic", Codec::Opus, vec![]).expect("track");
    let cam = LocalTrack::new("cam", Codec::Vp8, vec![]).expect("track");
    let (a, b) = tokio::join!(pc.add_track(&mic), pc.add_track(&cam));
    a.expect("mic");
    b.expect("cam");
    assert_eq!(negotiation_needed_within(&mut pc, Duration::from_millis(300)).await, 1);
    pc.close().await;
}

#[tokio::test]
async fn t25_e5_negotiationneeded_waits_for_the_chain_and_is_dropped_when_an_offer_is_queued() {
    let mut pc = loopback_peer(None).await;
    let mic = LocalTrack::new("mic", Codec::Opus, vec![]).expect("track");
    // addTrack and setLocalDescription queued together: by the time the chain is empty the
    // connection is in have-local-offer, so no negotiationneeded fires at all.
    let (added, sld) = tokio::join!(pc.add_track(&mic), pc.set_local_description(None));
    added.expect("addTrack");
    sld.expect("SLD");
    assert_eq!(negotiation_needed_within(&mut pc, Duration::from_millis(300)).await, 0);
    pc.close().await;
}

#[tokio::test]
async fn e5_renegotiating_from_the_negotiationneeded_handler_recurses_without_piling_up() {
    use rtcpeer::{MediaType, SignalingState, TransceiverInit};
    let mut a = loopback_peer(None).await;
    let b = loopback_peer(None).await;
    a.add_transceiver(MediaType::Audio, TransceiverInit::default())
        .await
        .expect("first");
    let rounds = 20;
    for round in 0..rounds {
        next_matching(&mut a, |event| {
            matches!(event, PeerConnectionEvent::NegotiationNeeded).then_some(())
        })
        .await
        .unwrap_or_else(|e| panic!("round {round}: no negotiationneeded: {e}"));
        // The handler negotiates, and makes the next change while the offer is out: that change
        // fires the next round's event once the exchange is back in stable.
        a.set_local_description(None).await.expect("SLD");
        if round + 1 < rounds {
            a.add_transceiver(MediaType::Audio, TransceiverInit::default())
                .await
                .expect("next change");
        }
        let offer = a.local_description().await.expect("offer").expect("offer");
        b.set_remote_description(offer).await.expect("b SRD");
        b.set_local_description(None).await.expect("b SLD");
        let answer = b.local_description().await.expect("answer").expect("answer");
        a.set_remote_description(answer).await.expect("a SRD");
    }
    assert_eq!(negotiation_needed_within(&mut a, Duration::from_millis(300)).await, 0);
    assert_eq!(a.signaling_state().await, Ok(SignalingState::Stable));
    assert_eq!(a.get_transceivers().await.expect("transceivers").len(), rounds);
    a.close().await;
    b.close().await;
}

#[tokio::test]
async fn t1_t3_t20_get_senders_and_get_receivers_follow_the_transceivers() {
    use rtcpeer::{MediaType, TransceiverInit};
    let a = loopback_peer(None).await;
    let b = loopback_peer(None).await;
    assert!(a.get_senders().await.expect("senders").is_empty());
    assert!(a.get_receivers().await.expect("receivers").is_empty());

    let mic = LocalTrack::new("mic", Codec::Opus, vec![]).expect("track");
    let audio = a.add_track(&mic).await.expect("mic");
    let video = a
        .add_transceiver(MediaType::Video, TransceiverInit::default())
        .await
        .expect("video");
    let senders = a.get_senders().await.expect("senders");
    let sent: Vec<_> = senders
        .iter()
        .map(|s| (s.transceiver, s.kind, s.track.as_ref().map(|t| t.id.as_str())))
        .collect();
    assert_eq!(
        sent,
        [(audio, MediaType::Audio, Some("mic")), (video, MediaType::Video, None)]
    );
    let receivers = a.get_receivers().await.expect("receivers");
    assert_eq!(
        receivers.iter().map(|r| (r.transceiver, r.kind)).collect::<Vec<_>>(),
        [(audio, MediaType::Audio), (video, MediaType::Video)]
    );
    assert!(receivers.iter().all(|r| !r.track_id.is_empty()));
    assert_ne!(receivers[0].track_id, receivers[1].track_id);

    negotiate(&a, &b).await;
    assert_eq!(a.get_senders().await.expect("senders")[0].codec, Some(Codec::Opus));
    // The answerer got a receiver (and a sender without a track) for each offered section.
    assert_eq!(b.get_receivers().await.expect("receivers").len(), 2);
    assert!(b
        .get_senders()
        .await
        .expect("senders")
        .iter()
        .all(|s| s.track.is_none()));

    // A stopped transceiver's sender and receiver leave both lists once negotiated away.
    a.stop_transceiver(video).await.expect("stop");
    negotiate(&a, &b).await;
    let left: Vec<_> = a
        .get_senders()
        .await
        .expect("senders")
        .iter()
        .map(|s| s.transceiver)
        .collect();
    assert_eq!(left, [audio]);
    assert_eq!(a.get_receivers().await.expect("receivers").len(), 1);
    assert_eq!(b.get_receivers().await.expect("receivers").len(), 1);
    a.close().await;
    b.close().await;
}

/// The events already on the stream (the ones an awaited operation raised).
fn events_so_far(events: &mut rtcpeer::Events<PeerConnectionEvent>) -> Vec<PeerConnectionEvent> {
    std::iter::from_fn(|| events.try_recv()).collect()
}

#[tokio::test]
async fn t18_d28_removetrack_is_on_the_event_stream_before_set_remote_description_resolves() {
    let a = loopback_peer(None).await;
    let mut b = loopback_peer(None).await;
    let mut b_events = b.take_events().expect("b's events");
    let mic = LocalTrack::new("mic", Codec::Opus, vec!["stream".into()]).expect("track");
    let sender = a.add_track(&mic).await.expect("addTrack");

    // D28: a rolled-back remote offer takes its track out of the stream again.
    a.set_local_description(None).await.expect("a SLD");
    let offer = a.local_description().await.expect("offer").expect("offer");
    b.set_remote_description(offer.clone()).await.expect("b SRD");
    let receiver = events_so_far(&mut b_events)
        .into_iter()
        .find_map(|e| match e {
            PeerConnectionEvent::Track(track) => {
                assert_eq!((track.id(), track.stream_ids()), ("mic", &["stream".to_string()][..]));
                Some(track.transceiver())
            }
            _ => None,
        })
        .expect("track at SRD(offer)");
    b.set_remote_description(rtcpeer::SessionDescriptionInit {
        kind: rtcpeer::SdpType::Rollback,
        sdp: String::new(),
    })
    .await
    .expect("rollback");
    let removed: Vec<_> = events_so_far(&mut b_events)
        .into_iter()
        .filter_map(|e| match e {
            PeerConnectionEvent::StreamTrackRemoved {
                stream_id,
                transceiver,
                track_id,
            } => Some((stream_id, transceiver, track_id)),
            _ => None,
        })
        .collect();
    assert_eq!(removed, [("stream".to_string(), receiver, "mic".to_string())]);

    // T18: the offer again, answered; then the remote removes its track.
    b.set_remote_description(offer).await.expect("b SRD again");
    b.set_local_description(None).await.expect("b SLD");
    let answer = b.local_description().await.expect("answer").expect("answer");
    a.set_remote_description(answer).await.expect("a SRD");
    let receiver = events_so_far(&mut b_events)
        .into_iter()
        .find_map(|e| match e {
            PeerConnectionEvent::Track(track) => Some(track.transceiver()),
            _ => None,
        })
        .expect("track again");
    a.remove_track(sender).await.expect("removeTrack");
    a.set_local_description(None).await.expect("a SLD");
    let offer = a.local_description().await.expect("offer").expect("offer");
    b.set_remote_description(offer).await.expect("b SRD");
    let removed = events_so_far(&mut b_events).into_iter().any(|e| {
        matches!(e, PeerConnectionEvent::StreamTrackRemoved { ref stream_id, transceiver, .. }
            if stream_id == "stream" && transceiver == receiver)
    });
    assert!(removed, "removetrack before SRD resolved");
    assert!(b
        .get_transceivers()
        .await
        .expect("transceivers")
        .iter()
        .any(|t| t.id == receiver));
    a.close().await;
    b.close().await;
}
