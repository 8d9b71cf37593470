//! A media server in the middle: peer A sends VP8 frames to B, and B forwards the raw RTP
//! packets it receives to C with `write_rtp`, without depacketizing. Two simulated networks:
//! A→B and B→C; B is two connections, one per leg.

mod common;

use std::time::Duration;

use common::{LinkConditions, Sim};
use rtcpeer_proto::jsep::Codec;
use rtcpeer_proto::peer::{MediaFrame, PeerEvent, ReceivedFrame, ReceivedRtp, RtcError, TrackInit, TransceiverId};
use rtcpeer_proto::rtp::RtpPacket;

fn track(id: &str) -> TrackInit {
    TrackInit {
        id: id.into(),
        codec: Codec::Vp8,
        stream_ids: vec!["stream".into()],
    }
}

/// Synthetic VP8 frames: the frame tag's low bit is 0 on keyframes (RFC 6386 §9.1); the rest
/// is a pattern unique to the frame.
fn vp8_frame(index: usize, len: usize) -> Vec<u8> {
    let mut frame: Vec<u8> = (0..len).map(|i| (i * 31 + index * 7) as u8).collect();
    frame[0] = if index % 30 == 0 { 0x00 } else { 0x01 } | ((index as u8) << 1 & 0xFE);
    frame
}

/// The transceiver of the first `track` event among `events`.
fn track_transceiver(events: &[PeerEvent]) -> Option<TransceiverId> {
    events.iter().find_map(|e| match e {
        PeerEvent::Track { transceiver, .. } => Some(*transceiver),
        _ => None,
    })
}

fn frames(events: &[PeerEvent]) -> Vec<ReceivedFrame> {
    events
        .iter()
        .filter_map(|e| match e {
            PeerEvent::Frame(_, f) => Some(f.clone()),
            _ => None,
        })
        .collect()
}

fn packets(events: &[PeerEvent]) -> Vec<ReceivedRtp> {
    events
        .iter()
        .filter_map(|e| match e {
            PeerEvent::RtpPacket(_, p) => Some(p.clone()),
            _ => None,
        })
        .collect()
}

/// The number of an `a=<attribute>:<number> <rest>` line whose rest starts with `rest`.
fn sdp_number(sdp: &str, attribute: &str, rest: &str) -> Option<u64> {
    sdp.lines().find_map(|line| {
        let value = line.strip_prefix(&format!("a={attribute}:"))?;
        let (number, tail) = value.split_once(' ')?;
        tail.starts_with(rest).then(|| number.parse().ok())?
    })
}

/// The three peers, connected: A sends on `leg1` (A is `a`, B's receiving connection `b`),
/// B sends on `leg2` (B's sending connection `a`, C is `b`).
struct Forwarder {
    leg1: Sim,
    leg2: Sim,
    a_track: TransceiverId,
    b_out: TransceiverId,
}

impl Forwarder {
    fn new(seed: u64, leg2_link: LinkConditions) -> Forwarder {
        let mut leg1 = Sim::new(seed, LinkConditions::perfect());
        let a_track = leg1.a.pc.add_track(track("camera")).expect("add on a");
        leg1.negotiate();
        let b_in = track_transceiver(&leg1.b.take_events()).expect("b's track event");
        leg1.b.pc.set_receive_rtp(b_in, true).expect("raw RTP on b");
        leg1.connect();

        let mut leg2 = Sim::new(seed + 1, leg2_link);
        let b_out = leg2.a.pc.add_track(track("forwarded")).expect("add on b");
        leg2.negotiate();
        let c_in = track_transceiver(&leg2.b.take_events()).expect("c's track event");
        leg2.b.pc.set_receive_rtp(c_in, true).expect("raw RTP on c");
        leg2.connect();
        Forwarder {
            leg1,
            leg2,
            a_track,
            b_out,
        }
    }

    /// Moves what B received since the last call to C, each packet through `edit` first.
    fn forward(&mut self, edit: &mut impl FnMut(&mut Vec<u8>)) -> Vec<ReceivedRtp> {
        let received = packets(&self.leg1.b.take_events());
        for packet in &received {
            let mut bytes = packet.data.to_vec();
            edit(&mut bytes);
            let now = self.leg2.now;
            let sent = self
                .leg2
                .a
                .pc
                .write_rtp(now, self.b_out, None, &bytes)
                .expect("write_rtp");
            assert!(sent, "the forwarded packet was not sent");
        }
        received
    }

    /// A sends `count` frames at 30 fps; B forwards as they arrive; both legs run 1 s more.
    fn run(&mut self, count: usize, mut edit: impl FnMut(&mut Vec<u8>)) -> (Vec<Vec<u8>>, Vec<ReceivedRtp>) {
        let mut sent = Vec::new();
        let mut forwarded = Vec::new();
        for i in 0..count {
            let frame = vp8_frame(i, 300 + (i * 997) % 5000);
            let media = MediaFrame {
                data: frame.clone().into(),
                pts: Duration::from_millis(33 * i as u64),
            };
            let now = self.leg1.now;
            self.leg1
                .a
                .pc
                .write_frame(now, self.a_track, &media)
                .expect("write_frame");
            sent.push(frame);
            self.leg1.run_until(Duration::from_millis(33), |_| false);
            forwarded.extend(self.forward(&mut edit));
            self.leg2.run_until(Duration::from_millis(33), |_| false);
        }
        self.leg1.run_until(Duration::from_secs(1), |_| false);
        forwarded.extend(self.forward(&mut edit));
        self.leg2.run_until(Duration::from_secs(1), |_| false);
        (sent, forwarded)
    }
}

/// The mid extension's id in both legs (both sides are our stack: ids are ours).
const MID_EXT: u8 = 4;
/// The abs-send-time extension's id.
const ABS_SEND_TIME_EXT: u8 = 2;

/// Overwrites the value of the packet's mid extension with `X`s, so that C seeing the right mid
/// shows that B's extensions replaced the source's.
fn overwrite_mid(bytes: &mut [u8]) {
    let Some(range) = RtpPacket::parse(bytes).ok().and_then(|p| {
        let value = p.extension_data(MID_EXT)?;
        let start = value.as_ptr() as usize - bytes.as_ptr() as usize;
        Some(start..start + value.len())
    }) else {
        return;
    };
    bytes[range].fill(b'X');
}

fn set_payload_type(bytes: &mut [u8], pt: u8) {
    bytes[1] = (bytes[1] & 0x80) | pt;
}

#[test]
fn forwarded_packets_reach_c_as_the_same_frames_in_b_s_stream() {
    let mut f = Forwarder::new(21, LinkConditions::perfect());
    // The source numbers VP8 123 (as another stack might): B tells the library nothing but
    // the track's codec, and C must get its own negotiated payload type. Halfway through the
    // source changes (another SSRC, far-away sequence numbers and timestamps), as when an SFU
    // switches speakers; it happens at a frame boundary, after a marked packet.
    let mut switched = false;
    let mut after_marker = false;
    let mut forwarded_frames = 0;
    let (sent, forwarded) = f.run(90, |bytes| {
        if after_marker && forwarded_frames >= 45 {
            switched = true;
        }
        after_marker = bytes[1] & 0x80 != 0;
        forwarded_frames += usize::from(after_marker);
        set_payload_type(bytes, 123);
        overwrite_mid(bytes);
        if switched {
            bytes[8..12].copy_from_slice(&0xDEAD_BEEFu32.to_be_bytes());
            let seq = u16::from_be_bytes([bytes[2], bytes[3]]).wrapping_add(5000);
            bytes[2..4].copy_from_slice(&seq.to_be_bytes());
            let ts = u32::from_be_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]).wrapping_add(1_000_000);
            bytes[4..8].copy_from_slice(&ts.to_be_bytes());
        }
    });
    assert!(switched, "the source never switched");

    // B got A's packets raw: A's SSRC, the VP8 payload type of leg 1, and still every frame.
    let b_frames = frames(&f.leg1.b.events);
    assert_eq!(
        b_frames.len(),
        sent.len(),
        "B's frame path still works alongside the raw one"
    );
    let a_ssrc = forwarded[0].ssrc;
    assert!(forwarded.iter().all(|p| p.ssrc == a_ssrc && p.codec == Codec::Vp8));

    // C reassembles every frame byte-exact, in order.
    let c_events = &f.leg2.b.events;
    let c_frames = frames(c_events);
    assert_eq!(c_frames.len(), sent.len(), "frames lost on perfect links");
    for (i, (got, want)) in c_frames.iter().zip(&sent).enumerate() {
        assert_eq!(got.data.as_ref(), want.as_slice(), "frame {i} differs");
        assert_eq!(got.keyframe, i % 30 == 0, "frame {i} keyframe flag");
    }
    // No timestamp jump at the switch: the new source's clock continues from the last packet
    // by the time elapsed since, so every step is 33 ms at 90 kHz, across the switch too.
    let deltas: Vec<u64> = c_frames
        .windows(2)
        .map(|w| w[1].rtp_timestamp - w[0].rtp_timestamp)
        .collect();
    assert!(deltas.iter().all(|&d| d == 2970), "{deltas:?}");

    // C saw B's stream: B's SSRC, C's negotiated VP8 payload type, one continuous sequence.
    let offer = f.leg2.a.pc.local_description().expect("B's offer").sdp;
    let answer = f.leg2.b.pc.local_description().expect("C's answer").sdp;
    let b_ssrc = sdp_number(&offer, "ssrc", "cname:").expect("B's SSRC") as u32;
    let c_vp8 = sdp_number(&answer, "rtpmap", "VP8/90000").expect("C's VP8 payload type") as u8;
    assert_eq!(
        sdp_number(&answer, "extmap", "urn:ietf:params:rtp-hdrext:sdes:mid"),
        Some(u64::from(MID_EXT))
    );
    assert_eq!(
        sdp_number(
            &answer,
            "extmap",
            "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"
        ),
        Some(u64::from(ABS_SEND_TIME_EXT))
    );
    let b_mid = f.leg2.a.pc.transceiver(f.b_out).and_then(|t| t.mid).expect("B's mid");
    let at_c = packets(c_events);
    assert_eq!(at_c.len(), forwarded.len(), "packets lost on a perfect link");
    assert_ne!(b_ssrc, a_ssrc);
    for p in &at_c {
        assert_eq!((p.ssrc, p.payload_type), (b_ssrc, c_vp8), "{p:?}");
        assert_ne!(p.payload_type, 123);
    }
    for (w, pair) in at_c.windows(2).enumerate() {
        assert_eq!(
            pair[1].sequence_number,
            pair[0].sequence_number.wrapping_add(1),
            "sequence jump at packet {w}"
        );
    }
    // Payloads and markers pass unchanged; B's extensions replaced A's (B's mid is C's mid).
    for (got, sent) in at_c.iter().zip(&forwarded) {
        let (got, sent) = (got.parse().expect("C's packet"), sent.parse().expect("B's packet"));
        assert_eq!((got.payload, got.marker), (sent.payload, sent.marker));
        assert_eq!(got.extension_data(MID_EXT), Some(b_mid.as_bytes()));
        assert_eq!(got.extension_data(ABS_SEND_TIME_EXT).map(<[u8]>::len), Some(3));
    }
    let stats = f.leg2.a.pc.media_counters();
    assert_eq!(stats.rtp_sent as usize, forwarded.len(), "{stats:?}");
}

#[test]
fn c_s_nacks_are_answered_from_b_s_history() {
    let lossy = LinkConditions {
        loss: 0.05,
        delay: Duration::from_millis(20),
        ..LinkConditions::perfect()
    };
    let mut f = Forwarder::new(31, lossy);
    let (sent, forwarded) = f.run(120, |_| {});
    assert_eq!(
        frames(&f.leg1.b.events).len(),
        sent.len(),
        "leg 1 is perfect: B has every frame"
    );
    let (b, c) = (f.leg2.a.pc.media_counters(), f.leg2.b.pc.media_counters());
    assert!(f.leg2.lost > 0, "the lossy link lost nothing");
    assert!(c.nacks_sent > 0 && b.retransmitted > 0, "no repair: b {b:?} c {c:?}");
    assert!(b.rtp_sent as usize > forwarded.len(), "{b:?}");
    // Every frame C reassembles is byte-exact and in order, and repair brings back nearly all.
    let got = frames(&f.leg2.b.events);
    let mut next = 0;
    for frame in &got {
        let at = sent[next..]
            .iter()
            .position(|s| s.as_slice() == frame.data.as_ref())
            .expect("a frame C reassembled is not one A sent, or out of order");
        next += at + 1;
    }
    assert!(
        got.len() * 100 >= sent.len() * 95,
        "{} of {} frames",
        got.len(),
        sent.len()
    );
}

#[test]
fn a_malformed_packet_is_refused_and_nothing_is_sent() {
    let mut f = Forwarder::new(41, LinkConditions::perfect());
    let before = f.leg2.a.pc.media_counters().rtp_sent;
    let now = f.leg2.now;
    let mut valid = Vec::new();
    rtcpeer_proto::rtp::RtpBuilder::new(96, 1, 2, 3)
        .write(b"payload", &mut valid)
        .expect("packet");
    let mut bad_version = valid.clone();
    bad_version[0] = 0x40;
    let mut lying_csrcs = valid.clone();
    lying_csrcs[0] |= 0x0F;
    for bad in [&b"\x80\x60"[..], &bad_version, &lying_csrcs, &[]] {
        let result = f.leg2.a.pc.write_rtp(now, f.b_out, None, bad);
        assert!(matches!(result, Err(RtcError::Type(_))), "{bad:02x?}: {result:?}");
    }
    f.leg2.run_until(Duration::from_millis(100), |_| false);
    assert_eq!(f.leg2.a.pc.media_counters().rtp_sent, before);
    assert!(packets(&f.leg2.b.events).is_empty());
    // The same packet well formed goes through.
    let result = f.leg2.a.pc.write_rtp(now, f.b_out, None, &valid);
    assert!(matches!(result, Ok(true)), "{result:?}");
    assert!(f.leg2.run_until(Duration::from_millis(500), |s| {
        s.b.collect_events();
        !packets(&s.b.events).is_empty()
    }));
    let result = f.leg2.a.pc.write_rtp(now, TransceiverId(99), None, &valid);
    assert!(matches!(result, Err(RtcError::InvalidAccess(_))), "{result:?}");
}

#[test]
fn raw_packets_are_raised_only_while_the_transceiver_asks_and_frames_flow_throughout() {
    let mut sim = Sim::new(51, LinkConditions::perfect());
    let a_track = sim.a.pc.add_track(track("camera")).expect("add on a");
    sim.negotiate();
    let b_in = track_transceiver(&sim.b.take_events()).expect("b's track event");
    sim.connect();
    sim.b.take_events();
    // Writes the keyframes `range` numbers and returns what b raised meanwhile: (packets, frames).
    let send = |sim: &mut Sim, range: std::ops::Range<usize>| {
        for i in range {
            let media = MediaFrame {
                data: vp8_frame(i * 30, 2000).into(),
                pts: Duration::from_millis(33 * i as u64),
            };
            let now = sim.now;
            sim.a.pc.write_frame(now, a_track, &media).expect("write_frame");
            sim.run_until(Duration::from_millis(33), |_| false);
        }
        sim.run_until(Duration::from_millis(200), |_| false);
        let events = sim.b.take_events();
        (packets(&events).len(), frames(&events).len())
    };
    let (raw, frames_seen) = send(&mut sim, 0..5);
    assert_eq!((raw, frames_seen), (0, 5), "before set_receive_rtp");
    sim.b.pc.set_receive_rtp(b_in, true).expect("on");
    let (raw, frames_seen) = send(&mut sim, 5..10);
    assert!(raw >= 10, "{raw} packets for 5 two-packet frames");
    assert_eq!(frames_seen, 5, "frames still flow with raw packets on");
    sim.b.pc.set_receive_rtp(b_in, false).expect("off");
    assert_eq!(send(&mut sim, 10..15), (0, 5), "after set_receive_rtp(false)");
}
