//! A media server over real loopback sockets: A sends VP8 frames to B, B forwards the raw RTP
//! packets of its remote track to C through a local track (`RemoteTrack::next_rtp` →
//! `LocalTrack::write_rtp`), and C reassembles A's frames in B's stream.

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::{loopback_peer, negotiate, next_track};
use rtcpeer::{Codec, LocalTrack, MediaFrame};
use tokio::time::timeout;

const PATIENCE: Duration = Duration::from_secs(15);

/// Frame `i`: unique bytes and length, a VP8 keyframe every 10th.
fn frame(i: usize) -> Vec<u8> {
    let len = 100 + (i * 1777) % 5000;
    let mut data: Vec<u8> = (0..len).map(|b| (b * 3 + i * 7) as u8).collect();
    data[0] = if i % 10 == 0 { 0x00 } else { 0x01 };
    data
}

/// The number of an `a=<attribute>:<number> <rest>` line whose rest starts with `rest`.
fn sdp_number(sdp: &str, attribute: &str, rest: &str) -> Option<u64> {
    sdp.lines().find_map(|line| {
        let value = line.strip_prefix(&format!("a={attribute}:"))?;
        let (number, tail) = value.split_once(' ')?;
        tail.starts_with(rest).then(|| number.parse().ok())?
    })
}

#[tokio::test]
async fn b_forwards_a_s_packets_to_c_who_gets_a_s_frames_in_b_s_stream() {
    // B's leg to C first: B sends a track it fills with forwarded packets.
    let b_out = loopback_peer().await;
    let mut c = loopback_peer().await;
    let forwarded = LocalTrack::new("forwarded", Codec::Vp8, vec!["sfu".into()]).expect("track");
    b_out.add_track(&forwarded).await.expect("addTrack on B");
    negotiate(&b_out, &c).await;
    let mut at_c = next_track(&mut c).await;

    // A's leg to B.
    let a = loopback_peer().await;
    let mut b_in = loopback_peer().await;
    let camera = LocalTrack::new("camera", Codec::Vp8, vec!["cam".into()]).expect("track");
    a.add_track(&camera).await.expect("addTrack on A");
    negotiate(&a, &b_in).await;
    let mut at_b = next_track(&mut b_in).await;

    // B's forwarding loop: every packet as it arrives, its payload type renumbered (as if the
    // source numbered VP8 differently): the library must send C's own.
    let (ssrc_tx, mut ssrc_rx) = tokio::sync::mpsc::unbounded_channel();
    let forwarder = tokio::spawn(async move {
        while let Some(packet) = at_b.next_rtp().await {
            let _ = ssrc_tx.send(packet.ssrc);
            let mut bytes = packet.data.to_vec();
            bytes[1] = (bytes[1] & 0x80) | 123;
            forwarded.write_rtp(Bytes::from(bytes));
        }
    });

    let mut got: Vec<Vec<u8>> = Vec::new();
    let mut i = 0;
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while got.len() < 40 && tokio::time::Instant::now() < deadline {
        camera.write_frame(MediaFrame {
            data: frame(i).into(),
            pts: Duration::from_millis(33 * i as u64),
        });
        i += 1;
        tokio::time::sleep(Duration::from_millis(10)).await;
        while let Ok(Some(f)) = timeout(Duration::from_millis(1), at_c.next_frame()).await {
            got.push(f.data.to_vec());
        }
    }
    assert!(got.len() >= 40, "C reassembled {} frames of {i} sent", got.len());
    // Each frame C has is one A sent, byte-exact, in order (B joined mid-stream: C starts at a
    // keyframe after B began forwarding).
    let mut next = 0;
    for data in &got {
        let index = (next..i)
            .find(|&k| frame(k) == *data)
            .expect("C reassembled a frame A did not send, or out of order");
        next = index + 1;
    }

    // C's packets are in B's stream: B's SSRC (not A's), C's negotiated VP8 payload type.
    let offer = b_out.local_description().await.expect("alive").expect("B's offer").sdp;
    let answer = c.local_description().await.expect("alive").expect("C's answer").sdp;
    let b_ssrc = sdp_number(&offer, "ssrc", "cname:").expect("B's SSRC") as u32;
    let c_vp8 = sdp_number(&answer, "rtpmap", "VP8/90000").expect("C's VP8") as u8;
    let a_ssrc = ssrc_rx.recv().await.expect("B forwarded packets");
    assert_ne!(a_ssrc, b_ssrc);
    let mut checked = 0;
    while checked < 20 && tokio::time::Instant::now() < deadline + PATIENCE {
        camera.write_frame(MediaFrame {
            data: frame(i).into(),
            pts: Duration::from_millis(33 * i as u64),
        });
        i += 1;
        tokio::time::sleep(Duration::from_millis(10)).await;
        while let Ok(Some(p)) = timeout(Duration::from_millis(1), at_c.next_rtp()).await {
            assert_eq!((p.ssrc, p.payload_type, p.codec), (b_ssrc, c_vp8, Codec::Vp8), "{p:?}");
            checked += 1;
        }
    }
    assert!(checked >= 20, "C saw {checked} raw packets");
    assert_eq!(at_c.dropped_rtp_packets(), 0);
    forwarder.abort();
}
