//! Fuzzes the send-side bandwidth estimator with what a hostile peer controls: the first four
//! bytes say how many packets we sent (up to 4095) and from which transport-wide sequence number,
//! the rest is an RTCP compound whose transport-wide feedback and REMB are fed to the estimator,
//! each twice. Nothing may panic, the target stays within its bounds, and the sent-packet log
//! never holds more than its history.
#![no_main]

use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use rtcpeer_proto::bwe::{BweConfig, SendSideBwe};
use rtcpeer_proto::rtp::rtcp::RtcpPacket;

fuzz_target!(|data: &[u8]| {
    let Some((head, rtcp)) = data.split_first_chunk::<4>() else {
        return;
    };
    let count = u16::from_be_bytes([head[0], head[1]]) & 0x0FFF;
    let first = u16::from_be_bytes([head[2], head[3]]);
    let config = BweConfig {
        history: 1024,
        ..BweConfig::default()
    };
    let mut bwe = SendSideBwe::new(config);
    let start = Instant::now();
    for i in 0..count {
        bwe.on_packet_sent(first.wrapping_add(i), 1200, start + Duration::from_millis(u64::from(i)));
    }
    let Ok(packets) = RtcpPacket::parse_compound(rtcp) else {
        return;
    };
    let now = start + Duration::from_secs(5);
    for packet in packets.iter().chain(&packets) {
        match packet {
            RtcpPacket::TransportCc(fb) => bwe.on_transport_feedback(fb, now),
            RtcpPacket::Remb(remb) => bwe.on_remb(remb.bitrate),
            _ => {}
        }
        let target = bwe.target_bitrate();
        assert!((config.min_bitrate..=config.max_bitrate).contains(&target));
        assert!(bwe.sent_packets() <= config.history);
    }
});
