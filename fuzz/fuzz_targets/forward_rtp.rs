//! Fuzzes `PeerConnection::write_rtp`, the path a media server forwards packets through. Two
//! peers negotiate a VP8 track and connect; then the input, read as length-prefixed chunks, is
//! handed to the sender as RTP packets to forward, with virtual time passing in between.
//! Nothing may panic; bytes that do not parse as RTP must be refused with a `TypeError` and
//! send nothing; every forwarded packet that reaches the receiver is in the sender's stream
//! (one SSRC) with the negotiated payload type.
#![no_main]

use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use rtcpeer_fuzz::ops::Reader;
use rtcpeer_fuzz::sim::Pair;
use rtcpeer_proto::datachannel::DataChannelInit;
use rtcpeer_proto::jsep::Codec;
use rtcpeer_proto::peer::{PeerEvent, RtcError, TrackInit};
use rtcpeer_proto::rtp::RtpPacket;

/// At most this many packets per input.
const MAX_PACKETS: usize = 64;

fuzz_target!(|data: &[u8]| {
    let mut pair = Pair::new();
    pair.capture = false;
    let channel = pair
        .a
        .pc
        .create_data_channel("fuzz", DataChannelInit::default())
        .expect("channel");
    pair.a.channel = Some(channel);
    let track = TrackInit {
        id: "forwarded".into(),
        codec: Codec::Vp8,
        stream_ids: vec!["s".into()],
    };
    let id = pair.a.pc.add_track(track).expect("add_track");
    let offer = pair.a.pc.create_offer().expect("offer");
    pair.a
        .pc
        .set_local_description(pair.now, Some(offer.clone()))
        .expect("sld");
    pair.b.pc.set_remote_description(pair.now, offer).expect("srd");
    let answer = pair.b.pc.create_answer().expect("answer");
    pair.b
        .pc
        .set_local_description(pair.now, Some(answer.clone()))
        .expect("sld answer");
    pair.a.pc.set_remote_description(pair.now, answer).expect("srd answer");
    let receiver = pair.b.pc.transceivers().first().map(|t| t.id).expect("b's transceiver");
    pair.b.pc.set_receive_rtp(receiver, true).expect("raw RTP");
    assert!(
        pair.run_for(Duration::from_secs(30), |p| p.a.is_usable() && p.b.is_usable()),
        "the handshake must succeed on a perfect link"
    );

    let mut input = Reader::new(data);
    for _ in 0..MAX_PACKETS {
        if input.is_empty() {
            break;
        }
        let wait = input.u8();
        let packet = input.chunk();
        let before = pair.a.pc.media_counters().rtp_sent;
        let now = pair.now;
        let result = pair.a.pc.write_rtp(now, id, None, packet);
        if RtpPacket::parse(packet).is_err() {
            assert!(matches!(result, Err(RtcError::Type(_))), "{result:?}");
            assert_eq!(
                pair.a.pc.media_counters().rtp_sent,
                before,
                "a malformed packet was sent"
            );
        }
        pair.run_for(Duration::from_millis(u64::from(wait)), |_| false);
    }
    pair.run_for(Duration::from_millis(300), |_| false);

    let mut ssrc = None;
    for event in &pair.b.events {
        if let PeerEvent::RtpPacket(_, p) = event {
            assert_eq!(p.codec, Codec::Vp8);
            assert_eq!(
                *ssrc.get_or_insert(p.ssrc),
                p.ssrc,
                "forwarded packets left the sender's stream"
            );
        }
    }
});
