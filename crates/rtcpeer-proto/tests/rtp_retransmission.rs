//! A sender and a receiver of one RTP stream over a lossy simulated link: the receiver's NACKs
//! (through real RTCP bytes) make the sender retransmit from its history over RTX, until every
//! packet has arrived.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rtcpeer_proto::rtp::rtcp::RtcpPacket;
use rtcpeer_proto::rtp::{
    is_rtcp, unwrap_rtx, NackConfig, NackTracker, ReceiverStats, RtpBuilder, RtpPacket, RtxSender, SendHistory,
};

const MEDIA_SSRC: u32 = 0x1111_1111;
const RTX_SSRC: u32 = 0x2222_2222;
const RECEIVER_SSRC: u32 = 0x3333_3333;
const PT: u8 = 96;
const RTX_PT: u8 = 97;

#[test]
fn nack_and_rtx_recover_every_lost_packet() {
    let t0 = Instant::now();
    let mut history = SendHistory::new(1024, 1 << 20);
    let mut rtx = RtxSender::new(RTX_PT, RTX_SSRC, 500);
    let mut tracker = NackTracker::new(RECEIVER_SSRC, MEDIA_SSRC, NackConfig::default());
    let mut stats = ReceiverStats::new(MEDIA_SSRC, 90_000);
    let mut received: BTreeMap<u16, Vec<u8>> = BTreeMap::new();
    let mut sent_payloads: BTreeMap<u16, Vec<u8>> = BTreeMap::new();
    let mut forward_count = 0u32;
    let mut nacks_sent = 0;
    let mut retransmissions = 0;

    // The link drops every 7th datagram from sender to receiver, retransmissions included.
    let mut deliver = |datagram: &[u8],
                       now: Instant,
                       received: &mut BTreeMap<u16, Vec<u8>>,
                       tracker: &mut NackTracker,
                       stats: &mut ReceiverStats| {
        forward_count += 1;
        if forward_count % 7 == 0 {
            return;
        }
        assert!(!is_rtcp(datagram));
        let packet = RtpPacket::parse(datagram).unwrap();
        let mut restored = Vec::new();
        let original = if packet.ssrc == RTX_SSRC {
            assert_eq!(packet.payload_type, RTX_PT);
            unwrap_rtx(datagram, PT, MEDIA_SSRC, &mut restored).unwrap();
            RtpPacket::parse(&restored).unwrap()
        } else {
            packet
        };
        tracker.on_received(original.sequence_number, now);
        stats.on_packet(original.sequence_number, original.timestamp, now);
        received.insert(original.sequence_number, original.payload.to_vec());
    };

    let mut now = t0;
    for i in 0..300u16 {
        let seq = 65_400u16.wrapping_add(i);
        let payload = format!("frame {i}").into_bytes();
        let mut datagram = Vec::new();
        RtpBuilder::new(PT, seq, u32::from(i) * 3000, MEDIA_SSRC)
            .write(&payload, &mut datagram)
            .unwrap();
        history.insert(&datagram, now).unwrap();
        sent_payloads.insert(seq, payload);
        deliver(&datagram, now, &mut received, &mut tracker, &mut stats);

        // Every 10 ms the receiver NACKs what is missing; the NACK travels as RTCP bytes.
        if let Some(nack) = tracker.poll_nack(now) {
            nacks_sent += 1;
            let mut rtcp = Vec::new();
            RtcpPacket::Nack(nack).write(&mut rtcp).unwrap();
            assert!(is_rtcp(&rtcp));
            for packet in RtcpPacket::parse_compound(&rtcp).unwrap() {
                let RtcpPacket::Nack(nack) = packet else {
                    panic!("expected a NACK")
                };
                assert_eq!(nack.media_ssrc, MEDIA_SSRC);
                for lost in nack.lost() {
                    let stored = history.get(lost).expect("a recent packet is in the history");
                    let mut retransmission = Vec::new();
                    rtx.wrap(stored.data, &mut retransmission).unwrap();
                    retransmissions += 1;
                    deliver(&retransmission, now, &mut received, &mut tracker, &mut stats);
                }
            }
        }
        now += Duration::from_millis(40);
    }
    // Let the last requests play out.
    for _ in 0..20 {
        now += Duration::from_millis(100);
        if let Some(nack) = tracker.poll_nack(now) {
            for lost in nack.lost() {
                let mut retransmission = Vec::new();
                rtx.wrap(history.get(lost).unwrap().data, &mut retransmission).unwrap();
                retransmissions += 1;
                deliver(&retransmission, now, &mut received, &mut tracker, &mut stats);
            }
        }
    }

    // The last packet sent may itself have been lost with nothing after it to reveal the gap.
    let last = 65_400u16.wrapping_add(299);
    let mut expected = sent_payloads.clone();
    if !received.contains_key(&last) {
        expected.remove(&last);
    }
    assert_eq!(received, expected, "every packet arrived, in the end");
    assert!(
        nacks_sent > 10 && retransmissions > 30,
        "nacks {nacks_sent}, retransmissions {retransmissions}"
    );
    assert_eq!(tracker.missing().count(), 0);
    let block = stats.report_block(now).unwrap();
    assert_eq!(block.cumulative_lost, 0);
    let highest_after_wrap = *received.keys().filter(|&&seq| seq < 1000).max().unwrap();
    assert_eq!(block.extended_highest_seq, 65_536 + u32::from(highest_after_wrap));
}
