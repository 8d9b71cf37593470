//! Fuzzes the RTCP compound parser: no datagram may panic it; whatever parses must write back
//! (unless a re-encoded field outgrows its limit) to bytes that parse to the same packets.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rtcpeer_proto::rtp::rtcp::RtcpPacket;
use rtcpeer_proto::rtp::RtcpError;

fuzz_target!(|data: &[u8]| {
    let Ok(mut packets) = RtcpPacket::parse_compound(data) else {
        return;
    };
    // A REMB bitrate beyond 64 bits saturates on parsing and cannot round-trip exactly.
    packets.retain(|p| !matches!(p, RtcpPacket::Remb(r) if r.bitrate == u64::MAX));
    for packet in &packets {
        if let RtcpPacket::Nack(nack) = packet {
            assert_eq!(nack.lost().count(), nack.pairs.iter().map(|p| 1 + p.blp.count_ones() as usize).sum::<usize>());
        }
        if let RtcpPacket::TransportCc(fb) = packet {
            assert_eq!(fb.arrivals().count(), fb.statuses.len());
        }
    }
    let mut out = Vec::new();
    match RtcpPacket::write_compound(&packets, &mut out) {
        Ok(()) => {
            let again = RtcpPacket::parse_compound(&out);
            if packets.is_empty() {
                assert_eq!(again, Err(RtcpError::Empty));
            } else {
                assert_eq!(again.expect("written packets must parse"), packets);
            }
        }
        // A BYE reason with invalid UTF-8 replaced, or a TWCC re-chunked, can outgrow its field.
        Err(RtcpError::TooLarge { .. }) => {}
        Err(e) => panic!("writing parsed packets failed: {e}"),
    }
});
