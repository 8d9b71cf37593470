//! Media tracks between two connections over real loopback sockets: `add_track`, the
//! `track` event, frames written to a local track arriving whole at the remote track, and
//! one local track fanned out to several connections.

mod common;

use std::time::Duration;

use common::{loopback_peer, negotiate, next_track};
use rtcpeer::{Codec, LocalTrack, MediaFrame, PeerConnectionEvent, RemoteTrack};
use tokio::time::timeout;

const PATIENCE: Duration = Duration::from_secs(10);

fn frame(i: usize) -> MediaFrame {
    let len = 100 + (i * 1777) % 5000;
    let mut data: Vec<u8> = (0..len).map(|b| (b + i) as u8).collect();
    // VP8 frame tag: keyframe every 10th frame.
    data[0] = if i % 10 == 0 { 0x00 } else { 0x01 };
    MediaFrame {
        data: data.into(),
        pts: Duration::from_millis(33 * i as u64),
    }
}

/// Writes frames every 10 ms until `track` has yielded `count` of them (or the patience runs out).
async fn stream(local: &LocalTrack, remotes: &mut [RemoteTrack], count: usize) -> Vec<Vec<Vec<u8>>> {
    let mut received = vec![Vec::new(); remotes.len()];
    let mut i = 0;
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while received.iter().any(|r| r.len() < count) && tokio::time::Instant::now() < deadline {
        local.write_frame(frame(i));
        i += 1;
        tokio::time::sleep(Duration::from_millis(10)).await;
        for (remote, got) in remotes.iter_mut().zip(received.iter_mut()) {
            while let Ok(Some(f)) = timeout(Duration::from_millis(1), remote.next_frame()).await {
                got.push(f.data.to_vec());
            }
        }
    }
    received
}

#[tokio::test]
async fn a_video_track_arrives_in_the_track_event_and_carries_frames_byte_exact() {
    let offerer = loopback_peer().await;
    let mut answerer = loopback_peer().await;
    let camera = LocalTrack::new("camera", Codec::Vp8, vec!["stream-1".into()]).expect("track");
    let sender = offerer.add_track(&camera).await.expect("addTrack");
    negotiate(&offerer, &answerer).await;

    let track = next_track(&mut answerer).await;
    assert_eq!(track.id(), "camera");
    assert_eq!(track.kind(), rtcpeer::MediaType::Video);
    assert_eq!(track.stream_ids(), ["stream-1".to_string()]);
    let transceivers = offerer.get_transceivers().await.expect("alive");
    assert_eq!(transceivers[sender.0].send_codec, Some(Codec::Vp8));

    let mut remotes = [track];
    let received = stream(&camera, &mut remotes, 30).await;
    let got = &received[0];
    assert!(got.len() >= 30, "only {} frames arrived", got.len());
    // Frames start at the first keyframe and then arrive in order, each byte-exact.
    let first = (0..)
        .map(frame)
        .position(|f| f.data.as_ref() == got[0].as_slice())
        .expect("a sent frame");
    assert_eq!(first % 10, 0, "the first frame delivered is a keyframe");
    for (k, data) in got.iter().enumerate() {
        assert_eq!(data.as_slice(), frame(first + k).data.as_ref(), "frame {k} differs");
    }
    // Both sides counted the media; nothing was dropped on a clean path.
    let sent = offerer.transport_stats().await.expect("alive").media;
    let received = answerer.transport_stats().await.expect("alive").media;
    assert!(
        sent.rtp_sent >= received.rtp_received && received.rtp_received > 0,
        "{sent:?} {received:?}"
    );
    assert_eq!(
        received.srtp_auth_failures + received.srtp_replays + received.malformed,
        0,
        "{received:?}"
    );

    // Closing the receiving connection ends its remote track.
    answerer.close().await;
    let ended = timeout(PATIENCE, async { while remotes[0].next_frame().await.is_some() {} }).await;
    assert!(ended.is_ok(), "the remote track did not end when its connection closed");
    offerer.close().await;
}

#[tokio::test]
async fn one_local_track_feeds_two_connections() {
    let camera = LocalTrack::new("shared", Codec::Vp8, Vec::new()).expect("track");
    let mut remotes = Vec::new();
    let mut keep = Vec::new();
    for _ in 0..2 {
        let offerer = loopback_peer().await;
        let mut answerer = loopback_peer().await;
        offerer.add_track(&camera).await.expect("addTrack");
        negotiate(&offerer, &answerer).await;
        remotes.push(next_track(&mut answerer).await);
        keep.push((offerer, answerer));
    }
    let received = stream(&camera, &mut remotes, 20).await;
    for (i, got) in received.iter().enumerate() {
        assert!(got.len() >= 20, "connection {i} got {} frames", got.len());
    }
    // Once a connection closes, the track stops feeding it and says so.
    keep[0].0.close().await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(camera.write_frame(frame(0)), 1);
}

#[tokio::test]
async fn the_sender_hears_its_target_bitrate_and_the_stats_show_it() {
    let mut offerer = loopback_peer().await;
    let mut answerer = loopback_peer().await;
    let camera = LocalTrack::new("camera", Codec::Vp8, vec!["s".into()]).expect("track");
    offerer.add_track(&camera).await.expect("addTrack");
    negotiate(&offerer, &answerer).await;
    let mut remotes = [next_track(&mut answerer).await];
    let received = stream(&camera, &mut remotes, 30).await;
    assert!(received[0].len() >= 30, "only {} frames arrived", received[0].len());

    // The answerer's transport-wide feedback moved the offerer's estimate: it says so.
    let target = timeout(PATIENCE, async {
        while let Some(event) = offerer.next_event().await {
            if let PeerConnectionEvent::TargetBitrate { bitrate_bps } = event {
                return bitrate_bps;
            }
        }
        panic!("the connection ended before a target bitrate");
    })
    .await
    .expect("a TargetBitrate event");
    assert!((30_000..=5_000_000).contains(&target), "{target}");
    let json = offerer.get_stats().await.expect("stats").to_json();
    assert!(json.contains("\"availableOutgoingBitrate\":"), "{json}");
}
