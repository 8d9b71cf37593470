//! Fuzzes SRTP/SRTCP unprotection: arbitrary bytes through `unprotect_rtp`
//! and `unprotect_rtcp` of a context of each profile must return Ok or a
//! typed error, never panic; and nothing but a genuine packet (protected by
//! the sender with the same key) may ever authenticate.
//!
//! The first input byte picks the profile (bits 0-1), RTP or RTCP (bit 2) and
//! whether the receiver has first accepted a genuine packet, so it has
//! per-SSRC state (ROC, replay window) when the rest of the input arrives
//! (bit 3). The rest is the packet; it is also tried in place.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rtcpeer_proto::srtp::{SrtpContext, SrtpProfile};

const RTP: [u8; 20] = [
    0x80, 0x60, 0xff, 0xf0, 0, 0, 0, 1, 0x12, 0x34, 0x56, 0x78, b'g', b'e', b'n', b'u', b'i', b'n', b'e', b'!',
];
const RTCP: [u8; 16] = [0x81, 0xc9, 0, 3, 0x12, 0x34, 0x56, 0x78, 1, 2, 3, 4, 5, 6, 7, 8];

fuzz_target!(|data: &[u8]| {
    let Some((&control, packet)) = data.split_first() else {
        return;
    };
    let profile = SrtpProfile::ALL[usize::from(control & 0x03)];
    let rtcp = control & 0x04 != 0;
    let prime = control & 0x08 != 0;

    let key: Vec<u8> = (0..profile.key_len() as u8).collect();
    let salt: Vec<u8> = (0..profile.salt_len() as u8).map(|b| b ^ 0x5a).collect();
    let mut tx = SrtpContext::new(profile, &key, &salt).expect("valid key lengths");
    let mut rx = SrtpContext::new(profile, &key, &salt).expect("valid key lengths");

    // What the sender protects: the only packets that may authenticate.
    let mut genuine = Vec::new();
    let mut out = Vec::new();
    for _ in 0..2 {
        let mut wire = Vec::new();
        if rtcp {
            tx.protect_rtcp(&RTCP, &mut wire).expect("protect");
        } else {
            tx.protect_rtp(&RTP, &mut wire).expect("protect");
        }
        genuine.push(wire);
    }
    if prime {
        let first = &genuine[0];
        let result = if rtcp {
            rx.unprotect_rtcp(first, &mut out)
        } else {
            rx.unprotect_rtp(first, &mut out)
        };
        result.expect("a genuine packet authenticates");
    }

    let mut in_place = packet.to_vec();
    let (copied, in_place_result) = if rtcp {
        let copied = rx.unprotect_rtcp(packet, &mut out);
        (copied, rx.unprotect_rtcp_in_place(&mut in_place))
    } else {
        let copied = rx.unprotect_rtp(packet, &mut out);
        (copied, rx.unprotect_rtp_in_place(&mut in_place))
    };
    if copied.is_ok() {
        assert!(genuine.iter().any(|g| g == packet), "a forged packet authenticated");
        let plain: &[u8] = if rtcp { &RTCP } else { &RTP };
        assert_eq!(out, plain);
        assert!(in_place_result.is_err(), "the same packet was accepted twice");
    } else {
        assert!(out.is_empty(), "out must be cleared on error");
    }
});
