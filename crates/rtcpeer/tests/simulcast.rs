//! Simulcast between two connections over loopback sockets: a local track with three
//! encodings, frames written per layer with `LocalTrack::write_frame_for`, the remote track's
//! frames told apart by rid, and `set_parameters` switching a layer off.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{loopback_peer, negotiate, next_track};
use rtcpeer::{Codec, LocalTrack, MediaFrame, RemoteTrack, RtcError, RtpEncodingParameters, TransceiverInit};
use tokio::time::timeout;

const PATIENCE: Duration = Duration::from_secs(10);
const RIDS: [&str; 3] = ["q", "h", "f"];

/// Frame `i` of layer `layer`: unique bytes, a VP8 keyframe every 10th.
fn frame(layer: usize, i: usize) -> MediaFrame {
    let len = 200 * (layer + 1) + (i * 577) % 3000;
    let mut data: Vec<u8> = (0..len).map(|b| (b + i * 3 + layer * 50) as u8).collect();
    data[0] = if i % 10 == 0 { 0x00 } else { 0x01 };
    MediaFrame {
        data: data.into(),
        pts: Duration::from_millis(33 * i as u64),
    }
}

/// Writes a frame per layer of `rids` every 10 ms, starting at index `first`, until every
/// layer in `wanted` has `count` frames at the remote or the patience runs out. Returns the
/// frames received per rid and the next index.
async fn stream(
    local: &LocalTrack,
    remote: &mut RemoteTrack,
    rids: &[&str],
    wanted: &[&str],
    count: usize,
    first: usize,
) -> (BTreeMap<String, Vec<Vec<u8>>>, usize) {
    let mut received: BTreeMap<String, Vec<Vec<u8>>> = BTreeMap::new();
    let mut i = first;
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let short = |r: &BTreeMap<String, Vec<Vec<u8>>>| wanted.iter().any(|w| r.get(*w).map_or(0, Vec::len) < count);
    while short(&received) && tokio::time::Instant::now() < deadline {
        for rid in rids {
            let layer = RIDS.iter().position(|r| r == rid).expect("known rid");
            local.write_frame_for(rid, frame(layer, i));
        }
        i += 1;
        tokio::time::sleep(Duration::from_millis(10)).await;
        while let Ok(Some(f)) = timeout(Duration::from_millis(1), remote.next_frame()).await {
            let rid = f.rid.clone().expect("a simulcast frame without a rid");
            received.entry(rid).or_default().push(f.data.to_vec());
        }
    }
    (received, i)
}

/// Every frame received on a layer is one written on it, in order.
fn assert_layer_frames(rid: &str, got: &[Vec<u8>], first: usize, end: usize) {
    let layer = RIDS.iter().position(|r| *r == rid).expect("known rid");
    let mut next = first;
    for f in got {
        let at = (next..end)
            .find(|i| frame(layer, *i).data.as_ref() == f.as_slice())
            .unwrap_or_else(|| panic!("layer {rid}: a frame never written on it, or out of order"));
        next = at + 1;
    }
}

#[tokio::test]
async fn three_layers_written_per_rid_arrive_per_rid_and_one_can_be_switched_off() {
    let offerer = loopback_peer().await;
    let mut answerer = loopback_peer().await;
    let camera = LocalTrack::new("camera", Codec::Vp8, vec!["s".into()]).expect("track");
    let init = TransceiverInit {
        send_encodings: RIDS.iter().map(|r| RtpEncodingParameters::with_rid(*r)).collect(),
        ..Default::default()
    };
    let sender = offerer
        .add_transceiver_with_track(&camera, init)
        .await
        .expect("addTransceiver");
    negotiate(&offerer, &answerer).await;
    let mut remote = next_track(&mut answerer).await;

    let (got, end) = stream(&camera, &mut remote, &RIDS, &RIDS, 20, 0).await;
    for rid in RIDS {
        let frames = got.get(rid).map_or(&[][..], Vec::as_slice);
        assert!(frames.len() >= 20, "layer {rid}: {} frames", frames.len());
        assert_layer_frames(rid, frames, 0, end);
    }

    // Switch f off: q and h go on, f stops.
    let mut params = offerer.get_parameters(sender).await.expect("getParameters");
    assert_eq!(params.encodings.len(), 3);
    params.encodings[2].active = false;
    offerer.set_parameters(sender, params).await.expect("setParameters");
    // Let what was in flight arrive, then count afresh.
    tokio::time::sleep(Duration::from_millis(200)).await;
    while let Ok(Some(_)) = timeout(Duration::from_millis(20), remote.next_frame()).await {}
    let (got, end2) = stream(&camera, &mut remote, &RIDS, &["q", "h"], 20, end).await;
    assert!(got.get("q").map_or(0, Vec::len) >= 20 && got.get("h").map_or(0, Vec::len) >= 20);
    assert!(!got.contains_key("f"), "the inactive layer f still arrives");
    assert_layer_frames("q", &got["q"], end, end2);

    // A stale transaction is refused.
    let params = offerer.get_parameters(sender).await.expect("getParameters");
    let _newer = offerer.get_parameters(sender).await.expect("getParameters");
    assert!(matches!(
        offerer.set_parameters(sender, params).await,
        Err(RtcError::InvalidModification(_))
    ));
}

#[tokio::test]
async fn t12_add_transceiver_refuses_invalid_send_encodings() {
    let pc = loopback_peer().await;
    let camera = LocalTrack::new("camera", Codec::Vp8, Vec::new()).expect("track");
    let init = TransceiverInit {
        send_encodings: vec![
            RtpEncodingParameters::with_rid("x"),
            RtpEncodingParameters::with_rid("x"),
        ],
        ..Default::default()
    };
    let err = pc.add_transceiver_with_track(&camera, init).await.unwrap_err();
    assert_eq!(err.name(), "TypeError", "{err}");
    assert!(pc.get_transceivers().await.expect("alive").is_empty());
}
