//! Media between two sans-IO peers on a simulated network: transceivers,
//! negotiation of codecs and directions, and the `track` event.

mod common;

use std::time::Duration;

use common::{LinkConditions, Sim};
use rtcpeer_proto::jsep::{Codec, MediaType};
use rtcpeer_proto::peer::{
    PeerConnectionState, PeerEvent, TrackInit, TransceiverDirection, TransceiverId, TransceiverInit,
};

fn track(id: &str, codec: Codec) -> TrackInit {
    TrackInit {
        id: id.into(),
        codec,
        stream_ids: vec!["stream".into()],
    }
}

fn tracks(events: &[PeerEvent]) -> Vec<(TransceiverId, String, MediaType, String, Vec<String>)> {
    events
        .iter()
        .filter_map(|e| match e {
            PeerEvent::Track {
                transceiver,
                mid,
                kind,
                track_id,
                stream_ids,
            } => Some((*transceiver, mid.clone(), *kind, track_id.clone(), stream_ids.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn tracks_added_by_the_offerer_arrive_at_the_answerer_with_their_ids_and_streams() {
    let mut sim = Sim::new(1, LinkConditions::perfect());
    let video = sim.a.pc.add_track(track("camera", Codec::Vp8)).expect("add video");
    let audio = sim.a.pc.add_track(track("microphone", Codec::Opus)).expect("add audio");
    assert!(sim.a.take_events().contains(&PeerEvent::NegotiationNeeded));
    sim.negotiate();
    sim.connect();

    let arrived = tracks(&sim.b.events);
    assert_eq!(arrived.len(), 2, "b heard {arrived:?}");
    let (_, video_mid, kind, id, streams) = &arrived[0];
    assert_eq!(
        (*kind, id.as_str(), streams.as_slice()),
        (MediaType::Video, "camera", &["stream".to_string()][..])
    );
    assert_eq!(arrived[1].2, MediaType::Audio);
    assert_eq!(arrived[1].3, "microphone");

    // The offerer sends; the answerer, without tracks of its own, only receives.
    let a_video = sim.a.pc.transceiver(video).expect("a's video");
    assert_eq!(a_video.mid.as_deref(), Some(video_mid.as_str()));
    assert_eq!(a_video.current_direction, Some(TransceiverDirection::SendOnly));
    assert_eq!(a_video.send_codec, Some(Codec::Vp8));
    assert_eq!(
        sim.a.pc.transceiver(audio).and_then(|t| t.send_codec),
        Some(Codec::Opus)
    );
    let b_side = sim.b.pc.transceivers();
    assert_eq!(b_side.len(), 2);
    assert!(b_side
        .iter()
        .all(|t| t.current_direction == Some(TransceiverDirection::RecvOnly)));
    assert!(b_side[0].receive_codecs.contains(&Codec::Vp8) && b_side[0].receive_codecs.contains(&Codec::H264));
    // Nobody sends to a, so a hears no track.
    assert!(tracks(&sim.a.events).is_empty());
}

#[test]
fn an_answerer_that_adds_its_own_track_reuses_the_offered_transceiver_and_sends_back() {
    let mut sim = Sim::new(2, LinkConditions::perfect());
    sim.a.pc.add_track(track("a-cam", Codec::H264)).expect("add");
    let offer = sim.a.pc.create_offer().expect("offer");
    sim.a
        .pc
        .set_local_description(sim.now, Some(offer.clone()))
        .expect("sld");
    sim.b.pc.set_remote_description(sim.now, offer).expect("srd");
    // Like a browser's ontrack → addTrack reflection: the recvonly transceiver is reused.
    let reused = sim.b.pc.add_track(track("b-cam", Codec::H264)).expect("add on b");
    assert_eq!(sim.b.pc.transceivers().len(), 1);
    assert_eq!(
        sim.b.pc.transceiver(reused).map(|t| t.direction),
        Some(TransceiverDirection::SendRecv)
    );
    let answer = sim.b.pc.create_answer().expect("answer");
    assert!(answer.sdp.contains("a=sendrecv"), "{}", answer.sdp);
    assert!(answer.sdp.contains("b-cam"), "{}", answer.sdp);
    sim.b
        .pc
        .set_local_description(sim.now, Some(answer.clone()))
        .expect("sld answer");
    sim.a.pc.set_remote_description(sim.now, answer).expect("srd answer");
    let a_tracks = tracks(&sim.a.take_events());
    assert_eq!(a_tracks.len(), 1);
    assert_eq!(a_tracks[0].3, "b-cam");
    assert_eq!(
        sim.a.pc.transceivers()[0].current_direction,
        Some(TransceiverDirection::SendRecv)
    );
}

#[test]
fn a_recvonly_transceiver_asks_the_peer_to_send_and_a_codec_the_peer_lacks_is_reported() {
    let mut sim = Sim::new(3, LinkConditions::perfect());
    let id = sim
        .a
        .pc
        .add_transceiver(
            MediaType::Video,
            TransceiverInit {
                direction: TransceiverDirection::RecvOnly,
                ..Default::default()
            },
        )
        .expect("transceiver");
    let offer = sim.a.pc.create_offer().expect("offer");
    assert!(
        offer.sdp.contains("m=video") && offer.sdp.contains("a=recvonly"),
        "{}",
        offer.sdp
    );
    sim.a
        .pc
        .set_local_description(sim.now, Some(offer.clone()))
        .expect("sld");
    sim.b.pc.set_remote_description(sim.now, offer).expect("srd");
    // b sends AV1, which the answer keeps; a then "sends" nothing, receives AV1.
    sim.b.pc.add_track(track("screen", Codec::Av1)).expect("add");
    let answer = sim.b.pc.create_answer().expect("answer");
    sim.b
        .pc
        .set_local_description(sim.now, Some(answer.clone()))
        .expect("sld");
    sim.a.pc.set_remote_description(sim.now, answer).expect("srd");
    assert_eq!(
        sim.a.pc.transceiver(id).and_then(|t| t.current_direction),
        Some(TransceiverDirection::RecvOnly)
    );
    assert_eq!(tracks(&sim.a.take_events()).len(), 1);
    let b_events = sim.b.take_events();
    assert!(!b_events.iter().any(|e| matches!(e, PeerEvent::CodecNotNegotiated(..))));

    // Re-offer from b: a's capabilities lack nothing, but a sendonly G.722 track on an audio
    // transceiver whose peer only takes PCMU is reported, not silently dropped.
    let mut sim = Sim::new(4, LinkConditions::perfect());
    sim.a.pc.add_track(track("voice", Codec::G722)).expect("add");
    let offer = sim.a.pc.create_offer().expect("offer");
    sim.a
        .pc
        .set_local_description(sim.now, Some(offer.clone()))
        .expect("sld");
    // The peer answers with PCMU only (what a narrow-band gateway would do).
    sim.b.pc.set_remote_description(sim.now, offer).expect("srd");
    let answer = sim.b.pc.create_answer().expect("answer");
    let mut lines: Vec<String> = Vec::new();
    for line in answer.sdp.split("\r\n").filter(|l| !l.is_empty()) {
        if let Some(rest) = line.strip_prefix("m=audio 9 UDP/TLS/RTP/SAVPF ") {
            let _ = rest;
            lines.push("m=audio 9 UDP/TLS/RTP/SAVPF 0".into());
        } else if line.starts_with("a=rtpmap:") || line.starts_with("a=fmtp:") || line.starts_with("a=rtcp-fb:") {
            if line.starts_with("a=rtpmap:0 ") {
                lines.push(line.into());
            }
        } else {
            lines.push(line.into());
        }
    }
    let narrow = rtcpeer_proto::peer::SessionDescriptionInit::answer(lines.join("\r\n") + "\r\n");
    sim.a
        .pc
        .set_remote_description(sim.now, narrow)
        .expect("srd narrow answer");
    let events = sim.a.take_events();
    assert!(
        events
            .iter()
            .any(|e| matches!(e, PeerEvent::CodecNotNegotiated(_, Codec::G722))),
        "{events:?}"
    );
    assert_eq!(sim.a.pc.transceivers()[0].send_codec, None);
}

#[test]
fn removing_a_track_makes_negotiation_needed_and_the_next_offer_stops_sending() {
    let mut sim = Sim::new(5, LinkConditions::perfect());
    let id = sim.a.pc.add_track(track("camera", Codec::Vp8)).expect("add");
    sim.negotiate();
    sim.connect();
    sim.a.take_events();
    sim.a.pc.remove_track(id).expect("remove");
    assert!(sim.a.take_events().contains(&PeerEvent::NegotiationNeeded));
    let offer = sim.a.pc.create_offer().expect("offer");
    // addTrack made it sendrecv; without the track it only receives (as in the browser).
    assert!(offer.sdp.contains("a=recvonly"), "{}", offer.sdp);
    assert!(!offer.sdp.contains("camera"), "{}", offer.sdp);
}

/// Synthetic VP8 frames: the frame tag's low bit is 0 on keyframes (RFC 6386 §9.1); the rest
/// is a pattern unique to the frame, `len` bytes in all.
fn vp8_frame(index: usize, keyframe: bool, len: usize) -> Vec<u8> {
    let mut frame: Vec<u8> = (0..len).map(|i| (i * 31 + index * 7) as u8).collect();
    frame[0] = if keyframe { 0x00 } else { 0x01 } | ((index as u8) << 1 & 0xFE);
    frame
}

fn frames_received(events: &[PeerEvent]) -> Vec<rtcpeer_proto::peer::ReceivedFrame> {
    events
        .iter()
        .filter_map(|e| match e {
            PeerEvent::Frame(_, f) => Some(f.clone()),
            _ => None,
        })
        .collect()
}

/// a sends `count` VP8 frames at 30 fps (every 30th a keyframe) and runs the network 1 s more.
fn send_video(sim: &mut Sim, count: usize, sizes: impl Fn(usize) -> usize) -> Vec<Vec<u8>> {
    let id = sim.a.pc.add_track(track("camera", Codec::Vp8)).expect("add");
    sim.negotiate();
    sim.connect();
    let mut sent = Vec::new();
    for i in 0..count {
        let frame = vp8_frame(i, i % 30 == 0, sizes(i));
        let media = rtcpeer_proto::peer::MediaFrame {
            data: frame.clone().into(),
            pts: Duration::from_millis(33 * i as u64),
        };
        let now = sim.now;
        sim.a.pc.write_frame(now, id, &media).expect("write_frame");
        sent.push(frame);
        sim.run_until(Duration::from_millis(33), |_| false);
    }
    sim.run_until(Duration::from_secs(1), |_| false);
    sent
}

#[test]
fn video_frames_arrive_whole_in_order_with_keyframe_flags_and_timestamps() {
    let mut sim = Sim::new(6, LinkConditions::perfect());
    let sent = send_video(&mut sim, 90, |i| 200 + (i * 997) % 9000);
    let got = frames_received(&sim.b.events);
    assert_eq!(got.len(), sent.len(), "frames lost on a perfect network");
    for (i, (frame, data)) in got.iter().zip(&sent).enumerate() {
        assert_eq!(frame.data.as_ref(), data.as_slice(), "frame {i} differs");
        assert_eq!(frame.codec, Codec::Vp8);
        assert_eq!(frame.keyframe, i % 30 == 0, "frame {i} keyframe flag");
    }
    // 33 ms apart at 90 kHz.
    let deltas: Vec<u64> = got
        .windows(2)
        .map(|w| w[1].rtp_timestamp - w[0].rtp_timestamp)
        .collect();
    assert!(deltas.iter().all(|&d| d == 2970), "{deltas:?}");
    // Reports flowed both ways, authenticated.
    let (a, b) = (sim.a.pc.media_counters(), sim.b.pc.media_counters());
    assert!(a.rtcp_received > 0 && b.rtcp_received > 0, "a {a:?} b {b:?}");
    assert_eq!(b.srtp_auth_failures + b.malformed + b.unknown_stream, 0, "{b:?}");
}

#[test]
fn lost_video_packets_are_recovered_by_nack_and_rtx() {
    let link = LinkConditions {
        loss: 0.05,
        delay: Duration::from_millis(20),
        ..LinkConditions::perfect()
    };
    let mut sim = Sim::new(7, link);
    let sent = send_video(&mut sim, 150, |i| 3000 + (i * 1499) % 6000);
    let got = frames_received(&sim.b.events);
    let a = sim.a.pc.media_counters();
    let b = sim.b.pc.media_counters();
    assert!(
        b.nacks_sent > 0 && a.retransmitted > 0,
        "no repair happened: a {a:?} b {b:?}"
    );
    // Every frame that arrives is byte-exact and in order; nearly all arrive.
    let mut next = 0;
    for frame in &got {
        let at = sent[next..]
            .iter()
            .position(|s| s.as_slice() == frame.data.as_ref())
            .expect("a received frame that was never sent, or out of order");
        next += at + 1;
    }
    assert!(
        got.len() * 100 >= sent.len() * 90,
        "only {} of {} frames complete under 5% loss (a {a:?}, b {b:?})",
        got.len(),
        sent.len()
    );
}

#[test]
fn forged_and_truncated_srtp_is_dropped_and_counted() {
    let mut sim = Sim::new(8, LinkConditions::perfect());
    send_video(&mut sim, 5, |_| 500);
    let before = frames_received(&sim.b.events).len();
    let (source, destination) = (sim.a.addr, sim.b.addr);
    let now = sim.now;
    // An RTP-looking datagram with a bad tag, and garbage after an RTP first byte.
    let mut forged = vec![0x80, 96, 0, 1, 0, 0, 0, 1, 0xde, 0xad, 0xbe, 0xef];
    forged.extend_from_slice(&[0u8; 100]);
    for contents in [forged.clone(), vec![0x80, 200, 0, 1], vec![0x90; 3]] {
        sim.b.pc.handle_receive(
            now,
            rtcpeer_proto::net::Receive {
                source,
                destination,
                contents: &contents,
            },
        );
    }
    let b = sim.b.pc.media_counters();
    assert!(b.srtp_auth_failures + b.srtp_errors >= 3, "{b:?}");
    assert_eq!(frames_received(&sim.b.events).len(), before);
    assert_eq!(sim.b.pc.connection_state(), PeerConnectionState::Connected);
}
