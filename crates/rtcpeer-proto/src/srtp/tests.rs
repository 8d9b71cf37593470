//! Tests of [`SrtpContext`] and [`SrtpSession`] as a user sees them: the
//! published vectors, interop with libsrtp, round trips, roll-over,
//! replay and bad input.

use super::test_util::hex;
use super::transform::{Kind, Transform};
use super::*;
use crate::dtls::{DtlsRole, SrtpKeyingMaterial};

/// A context keyed with *session* keys as they are, the way the RFC 7714
/// vectors are given (no key derivation).
fn with_session_keys(profile: SrtpProfile, key: &[u8], salt: &[u8]) -> SrtpContext {
    SrtpContext::with_transforms(
        profile,
        Transform::with_session_keys(profile, Kind::Rtp, key, salt, &[]).unwrap(),
        Transform::with_session_keys(profile, Kind::Rtcp, key, salt, &[]).unwrap(),
    )
}

/// The master key and salt used with every profile below.
fn master(profile: SrtpProfile) -> (Vec<u8>, Vec<u8>) {
    let key = (0..profile.key_len() as u8).collect();
    let salt = (0xa0..0xa0 + profile.salt_len() as u8).collect();
    (key, salt)
}

fn pair(profile: SrtpProfile) -> (SrtpContext, SrtpContext) {
    let (key, salt) = master(profile);
    (
        SrtpContext::new(profile, &key, &salt).unwrap(),
        SrtpContext::new(profile, &key, &salt).unwrap(),
    )
}

fn rtp(seq: u16, ssrc: u32, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x80, 96];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&u32::from(seq).wrapping_mul(960).to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(payload);
    p
}

/// A receiver report from `ssrc` with one report block.
fn rtcp(ssrc: u32) -> Vec<u8> {
    let mut p = vec![0x81, 201, 0, 7];
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(&[0x42; 24]);
    p
}

const RFC7714_KEY_128: &str = "000102030405060708090a0b0c0d0e0f";
const RFC7714_KEY_256: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
const RFC7714_SALT: &str = "517569642070726f2071756f";
/// RFC 7714 §16: the RTP packet of the SRTP vectors.
const RFC7714_RTP: &str = "8040f17b 8041f8d3 5501a0b2 47616c6c 69612065 7374206f 6d6e6973
                           20646976 69736120 696e2070 61727465 73207472 6573";
/// RFC 7714 §17: the RTCP packet of the SRTCP vectors (SSRC "Mars", index 0x5d4).
const RFC7714_RTCP: &str = "81c8000d 4d617273 4e545031 4e545032 52545020 0000042a 0000e930 4c756e61
                            deadbeef deadbeef deadbeef deadbeef deadbeef";

fn check_rfc7714_rtp(profile: SrtpProfile, key: &str, protected: &str) {
    let (plain, protected) = (hex(RFC7714_RTP), hex(protected));
    let mut tx = with_session_keys(profile, &hex(key), &hex(RFC7714_SALT));
    let mut out = Vec::new();
    tx.protect_rtp(&plain, &mut out).unwrap();
    assert_eq!(out, protected, "{profile} protect");

    let mut rx = with_session_keys(profile, &hex(key), &hex(RFC7714_SALT));
    rx.unprotect_rtp(&protected, &mut out).unwrap();
    assert_eq!(out, plain, "{profile} unprotect");
    assert_eq!(
        rx.unprotect_rtp(&protected, &mut out),
        Err(SrtpError::Replayed {
            ssrc: 0x5501a0b2,
            index: 0xf17b
        })
    );
    assert!(out.is_empty(), "out is cleared on error");
}

/// RFC 7714 §16.1.1 and §16.1.2: AEAD_AES_128_GCM, SRTP.
#[test]
fn rfc7714_srtp_aes_128_gcm() {
    check_rfc7714_rtp(
        SrtpProfile::AeadAes128Gcm,
        RFC7714_KEY_128,
        "8040f17b 8041f8d3 5501a0b2 f24de3a3 fb34de6c acba861c 9d7e4bca be633bd5 0d294e6f
         42a5f47a 51c7d19b 36de3adf 8833899d 7f27beb1 6a9152cf 765ee439 0cce",
    );
}

/// RFC 7714 §16.2.1 and §16.2.2: AEAD_AES_256_GCM, SRTP.
#[test]
fn rfc7714_srtp_aes_256_gcm() {
    check_rfc7714_rtp(
        SrtpProfile::AeadAes256Gcm,
        RFC7714_KEY_256,
        "8040f17b 8041f8d3 5501a0b2 32b1de78 a822fe12 ef9f78fa 332e33aa b1801238 9a58e2f3
         b50b2a02 76ffae0f 1ba63799 b87b7aa3 db36dfff d6b0f9bb 7878d7a7 6c13",
    );
}

/// RFC 7714 §17.1: AEAD_AES_128_GCM, SRTCP, encrypted; protect gives the
/// vector and unprotect gives the packet back.
#[test]
fn rfc7714_srtcp_aes_128_gcm() {
    let protected = hex(
        "81c8000d 4d617273 63e94885 dcdab67c a727d766 2f6b7e99 7ff5c0f7 6c06f32d c676a5f1
         730d6fda 4ce09b46 86303ded 0bb9275b c84aa458 96cf4d2f c5abf872 45d9eade 800005d4",
    );
    let profile = SrtpProfile::AeadAes128Gcm;
    let mut tx = with_session_keys(profile, &hex(RFC7714_KEY_128), &hex(RFC7714_SALT));
    tx.set_next_srtcp_index(0x4d617273, 0x5d4);
    let mut out = Vec::new();
    tx.protect_rtcp(&hex(RFC7714_RTCP), &mut out).unwrap();
    assert_eq!(out, protected);

    let mut rx = with_session_keys(profile, &hex(RFC7714_KEY_128), &hex(RFC7714_SALT));
    rx.unprotect_rtcp(&protected, &mut out).unwrap();
    assert_eq!(out, hex(RFC7714_RTCP));
    assert_eq!(
        rx.unprotect_rtcp(&protected, &mut out),
        Err(SrtpError::Replayed {
            ssrc: 0x4d617273,
            index: 0x5d4
        })
    );
}

/// RFC 7714 §17.2: AEAD_AES_256_GCM, SRTCP, encrypted.
#[test]
fn rfc7714_srtcp_aes_256_gcm() {
    let protected = hex(
        "81c8000d 4d617273 d50ae4d1 f5ce5d30 4ba297e4 7d470c28 2c3ece5d bffe0a50 a2eaa5c1
         110555be 8415f658 c61de047 6f1b6fad 1d1eb30c 4446839f 57ff6f6c b26ac3be 800005d4",
    );
    let profile = SrtpProfile::AeadAes256Gcm;
    let mut tx = with_session_keys(profile, &hex(RFC7714_KEY_256), &hex(RFC7714_SALT));
    tx.set_next_srtcp_index(0x4d617273, 0x5d4);
    let mut out = Vec::new();
    tx.protect_rtcp(&hex(RFC7714_RTCP), &mut out).unwrap();
    assert_eq!(out, protected);

    let mut rx = with_session_keys(profile, &hex(RFC7714_KEY_256), &hex(RFC7714_SALT));
    rx.unprotect_rtcp(&protected, &mut out).unwrap();
    assert_eq!(out, hex(RFC7714_RTCP));
}

/// RFC 7714 §17.3 and §17.4: SRTCP authenticated but not encrypted (E = 0),
/// which we accept on receive (we always send encrypted).
#[test]
fn rfc7714_srtcp_unencrypted() {
    for (profile, key, tag) in [
        (
            SrtpProfile::AeadAes128Gcm,
            RFC7714_KEY_128,
            "841dd968 3dd78ec9 2ae58790 125f62b3",
        ),
        (
            SrtpProfile::AeadAes256Gcm,
            RFC7714_KEY_256,
            "91db4afb feee5a97 8fab4393 ed2615fe",
        ),
    ] {
        let mut protected = hex(RFC7714_RTCP);
        protected.extend(hex(tag));
        protected.extend(hex("000005d4"));
        let mut rx = with_session_keys(profile, &hex(key), &hex(RFC7714_SALT));
        let mut out = Vec::new();
        let mut forged = protected.clone();
        forged[20] ^= 0x01; // the authenticated-only payload
        assert_eq!(
            rx.unprotect_rtcp(&forged, &mut out),
            Err(SrtpError::AuthFailed),
            "{profile}"
        );
        rx.unprotect_rtcp(&protected, &mut out).unwrap();
        assert_eq!(out, hex(RFC7714_RTCP), "{profile}");
    }
}

/// The same packets protected by libsrtp 2 (through the `pylibsrtp` 1.0.0
/// wrapper, an independent implementation) with master key `00 01 02 ...`
/// and master salt `a0 a1 a2 ...`: an RTP packet with a CSRC and a header
/// extension, sent as the fourth of seq 65534, 65535, 0, 1 (so ROC 1), and
/// the third RTCP receiver report of the SSRC (libsrtp's index 3).
#[test]
fn libsrtp_interop_every_profile() {
    let plain_rtp = hex("916f0001 00010203 11223344 cafebabe bede0001 10aa0000
         6c696273 72747020 63726f73 732d6368 65636b20 7061796c 6f6164");
    let plain_rtcp = hex("81c90007 11223344 55667788 00000000 00000000 00000000 00000000 00000000");
    let table = [
        (
            SrtpProfile::Aes128CmSha1_80,
            "916f00010001020311223344cafebabebede000110aa0000bdd2eac50e407fab290f6ceabde1cebf9a7754b69b\
             b638a20d747e1a55d0f245a1bf2e5bb4",
            "81c9000711223344c1c33b3acd1741b13fd4e7047edc72bb0dfa5ba40c81954680000003dabf5c7c89b1efaee8be",
        ),
        (
            SrtpProfile::Aes128CmSha1_32,
            "916f00010001020311223344cafebabebede000110aa0000bdd2eac50e407fab290f6ceabde1cebf9a7754b69b\
             b638a20d747e1a55d0f2",
            "81c9000711223344c1c33b3acd1741b13fd4e7047edc72bb0dfa5ba40c81954680000003dabf5c7c89b1efaee8be",
        ),
        (
            SrtpProfile::AeadAes128Gcm,
            "916f00010001020311223344cafebabebede000110aa0000758f17fd5b9f080d6e451522c185d57fa9032d982f\
             ea14c6e2c2de06f1edefcd5b3cab036f9006881890d8",
            "81c90007112233441c4df89e33828bc176062b23182e2a0aed93131572ef8509517e380b3cb33d71b31102c326\
             b3b4b980000003",
        ),
        (
            SrtpProfile::AeadAes256Gcm,
            "916f00010001020311223344cafebabebede000110aa00005bda46e7b75e8be474cfaa421ff0d0140d1d252e26\
             7c1054a549f372b660e24c62903d0a6bf69fd62cfe2b",
            "81c9000711223344a4c7f42feefe285747d81e7cebb408f4286142470d144fb0a81cea64c435157433bf86a095\
             24856480000003",
        ),
    ];
    for (profile, srtp, srtcp) in table {
        let (srtp, srtcp) = (hex(srtp), hex(srtcp));
        let (mut tx, mut rx) = pair(profile);
        let (mut wire, mut out) = (Vec::new(), Vec::new());
        for seq in [65534u16, 65535, 0] {
            let mut p = plain_rtp.clone();
            p[2..4].copy_from_slice(&seq.to_be_bytes());
            tx.protect_rtp(&p, &mut wire).unwrap();
            rx.unprotect_rtp(&wire, &mut out).unwrap();
            assert_eq!(out, p, "{profile} seq {seq}");
        }
        tx.protect_rtp(&plain_rtp, &mut wire).unwrap();
        assert_eq!(wire, srtp, "{profile}: our SRTP differs from libsrtp's");
        rx.unprotect_rtp(&srtp, &mut out).unwrap();
        assert_eq!(out, plain_rtp, "{profile}");
        assert_eq!(rx.roc(0x11223344), Some(1));

        tx.set_next_srtcp_index(0x11223344, 3);
        tx.protect_rtcp(&plain_rtcp, &mut wire).unwrap();
        assert_eq!(wire, srtcp, "{profile}: our SRTCP differs from libsrtp's");
        rx.unprotect_rtcp(&srtcp, &mut out).unwrap();
        assert_eq!(out, plain_rtcp, "{profile}");
    }
}

#[test]
fn every_profile_round_trips_rtp_and_rtcp() {
    for profile in SrtpProfile::ALL {
        let (mut tx, mut rx) = pair(profile);
        let (mut wire, mut out) = (Vec::new(), Vec::new());
        for seq in 0..50u16 {
            let payload: Vec<u8> = (0..seq * 7).map(|i| i as u8).collect();
            let packet = rtp(seq, 0xabcd, &payload);
            tx.protect_rtp(&packet, &mut wire).unwrap();
            assert_eq!(wire.len(), packet.len() + profile.rtp_tag_len());
            if !payload.is_empty() {
                assert_ne!(wire[12..packet.len()], packet[12..], "{profile}: payload encrypted");
            }
            assert_eq!(wire[..12], packet[..12], "{profile}: header in the clear");
            rx.unprotect_rtp(&wire, &mut out).unwrap();
            assert_eq!(out, packet, "{profile}");

            let report = rtcp(0xabcd);
            tx.protect_rtcp(&report, &mut wire).unwrap();
            assert_eq!(wire.len(), report.len() + 4 + profile.rtcp_tag_len());
            rx.unprotect_rtcp(&wire, &mut out).unwrap();
            assert_eq!(out, report, "{profile}");
        }
    }
}

#[test]
fn in_place_round_trip_and_buffer_reuse() {
    let (mut tx, mut rx) = pair(SrtpProfile::Aes128CmSha1_80);
    let packet = rtp(7, 1, &[5; 100]);
    let mut buf = packet.clone();
    tx.protect_rtp_in_place(&mut buf).unwrap();
    rx.unprotect_rtp_in_place(&mut buf).unwrap();
    assert_eq!(buf, packet);

    // The output buffer is reused: once grown, it never moves.
    let (mut wire, mut out) = (Vec::new(), Vec::new());
    tx.protect_rtp(&rtp(8, 1, &[5; 100]), &mut wire).unwrap();
    rx.unprotect_rtp(&wire, &mut out).unwrap();
    let (wire_at, out_at) = (wire.as_ptr(), out.as_ptr());
    for seq in 9..200 {
        tx.protect_rtp(&rtp(seq, 1, &[5; 100]), &mut wire).unwrap();
        rx.unprotect_rtp(&wire, &mut out).unwrap();
    }
    assert_eq!((wire.as_ptr(), out.as_ptr()), (wire_at, out_at));
}

/// A sender starting near the top of the sequence space wraps to 0 and the
/// ROC goes to 1 on both sides (RFC 3711 §3.3.1); a late packet from before
/// the wrap still decrypts.
#[test]
fn roll_over_counter_follows_the_wrap() {
    for profile in SrtpProfile::ALL {
        let (mut tx, mut rx) = pair(profile);
        let (mut wire, mut out) = (Vec::new(), Vec::new());
        let mut held = None;
        for n in 0..20u16 {
            let seq = 65530u16.wrapping_add(n);
            let packet = rtp(seq, 9, b"media");
            tx.protect_rtp(&packet, &mut wire).unwrap();
            if seq == 65534 {
                held = Some((wire.clone(), packet));
                continue;
            }
            rx.unprotect_rtp(&wire, &mut out).unwrap();
            assert_eq!(out, packet, "{profile} seq {seq}");
        }
        assert_eq!(tx.roc(9), Some(1));
        assert_eq!(rx.roc(9), Some(1));
        let (late, packet) = held.unwrap();
        rx.unprotect_rtp(&late, &mut out).unwrap();
        assert_eq!(out, packet, "{profile}: late packet from ROC 0");
        assert_eq!(rx.roc(9), Some(1), "a late packet does not move the ROC back");
    }
}

#[test]
fn replays_and_packets_behind_the_window_are_refused() {
    for profile in SrtpProfile::ALL {
        let (mut tx, mut rx) = pair(profile);
        let (mut out, mut sent) = (Vec::new(), Vec::new());
        for seq in 0..300u16 {
            let mut wire = Vec::new();
            tx.protect_rtp(&rtp(seq, 3, b"x"), &mut wire).unwrap();
            sent.push(wire);
        }
        // Deliver all but 100 and 250.
        for (seq, wire) in sent.iter().enumerate() {
            if seq != 100 && seq != 250 {
                rx.unprotect_rtp(wire, &mut out).unwrap();
            }
        }
        assert_eq!(
            rx.unprotect_rtp(&sent[299], &mut out),
            Err(SrtpError::Replayed { ssrc: 3, index: 299 })
        );
        assert_eq!(
            rx.unprotect_rtp(&sent[100], &mut out),
            Err(SrtpError::TooOld { ssrc: 3, index: 100 }),
            "{profile}: 199 behind is outside the window of {REPLAY_WINDOW}"
        );
        rx.unprotect_rtp(&sent[250], &mut out).unwrap();
        assert_eq!(out, rtp(250, 3, b"x"), "late but inside the window");

        let mut reports = Vec::new();
        for _ in 0..200 {
            let mut wire = Vec::new();
            tx.protect_rtcp(&rtcp(3), &mut wire).unwrap();
            reports.push(wire);
        }
        for wire in &reports[1..] {
            rx.unprotect_rtcp(wire, &mut out).unwrap();
        }
        assert_eq!(
            rx.unprotect_rtcp(&reports[199], &mut out),
            Err(SrtpError::Replayed { ssrc: 3, index: 199 })
        );
        assert_eq!(
            rx.unprotect_rtcp(&reports[0], &mut out),
            Err(SrtpError::TooOld { ssrc: 3, index: 0 })
        );
    }
}

/// Any changed byte (header, payload, index word or tag) fails
/// authentication, and the failure leaves the context able to accept the
/// genuine packet.
#[test]
fn tampering_fails_authentication() {
    for profile in SrtpProfile::ALL {
        let (mut tx, mut rx) = pair(profile);
        let (mut wire, mut out) = (Vec::new(), Vec::new());
        tx.protect_rtp(&rtp(1, 5, b"sixteen bytes!!!"), &mut wire).unwrap();
        // Byte 2 or 3 (sequence number) may also just move the index; keep
        // to bytes that cannot: the marker/PT, timestamp and the rest.
        for at in (1..2).chain(4..8).chain(12..wire.len()) {
            let mut forged = wire.clone();
            forged[at] ^= 0x20;
            assert_eq!(
                rx.unprotect_rtp(&forged, &mut out),
                Err(SrtpError::AuthFailed),
                "{profile} RTP byte {at}"
            );
        }
        assert_eq!(rx.ssrc_counts(), (0, 0), "forged packets leave no state");
        rx.unprotect_rtp(&wire, &mut out).unwrap();

        tx.protect_rtcp(&rtcp(5), &mut wire).unwrap();
        for at in (1..4).chain(8..wire.len()) {
            let mut forged = wire.clone();
            forged[at] ^= 0x01;
            let result = rx.unprotect_rtcp(&forged, &mut out);
            assert!(
                matches!(result, Err(SrtpError::AuthFailed)),
                "{profile} RTCP byte {at}: {result:?}"
            );
        }
        rx.unprotect_rtcp(&wire, &mut out).unwrap();
        assert_eq!(out, rtcp(5));
    }
}

#[test]
fn other_keys_fail_authentication() {
    for profile in SrtpProfile::ALL {
        let (mut tx, _) = pair(profile);
        let (key, mut salt) = master(profile);
        salt[0] ^= 1;
        let mut rx = SrtpContext::new(profile, &key, &salt).unwrap();
        let (mut wire, mut out) = (Vec::new(), Vec::new());
        tx.protect_rtp(&rtp(1, 5, b"x"), &mut wire).unwrap();
        assert_eq!(rx.unprotect_rtp(&wire, &mut out), Err(SrtpError::AuthFailed));
        tx.protect_rtcp(&rtcp(5), &mut wire).unwrap();
        assert_eq!(rx.unprotect_rtcp(&wire, &mut out), Err(SrtpError::AuthFailed));
    }
}

/// Every truncation of a valid packet and a run of pseudo-random garbage
/// give errors, never a panic, and never create state.
#[test]
fn truncated_and_garbage_input_is_refused() {
    for profile in SrtpProfile::ALL {
        let (mut tx, mut rx) = pair(profile);
        let (mut srtp, mut srtcp, mut out) = (Vec::new(), Vec::new(), Vec::new());
        tx.protect_rtp(&rtp(1, 5, b"payload"), &mut srtp).unwrap();
        tx.protect_rtcp(&rtcp(5), &mut srtcp).unwrap();
        for len in 0..srtp.len() {
            assert!(rx.unprotect_rtp(&srtp[..len], &mut out).is_err(), "{profile} RTP {len}");
        }
        for len in 0..srtcp.len() {
            assert!(
                rx.unprotect_rtcp(&srtcp[..len], &mut out).is_err(),
                "{profile} RTCP {len}"
            );
        }
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        for round in 0..2000 {
            let len = round % 90;
            let garbage: Vec<u8> = (0..len)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    state as u8
                })
                .collect();
            assert!(rx.unprotect_rtp(&garbage, &mut out).is_err());
            assert!(rx.unprotect_rtcp(&garbage, &mut out).is_err());
        }
        assert_eq!(rx.ssrc_counts(), (0, 0));
        assert_eq!(
            rx.unprotect_rtp(&[0x80, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1], &mut out),
            Err(SrtpError::TooShort {
                len: 12,
                needed: 12 + profile.rtp_tag_len()
            })
        );
        assert_eq!(tx.protect_rtp(&[0x00; 20], &mut out), Err(SrtpError::BadVersion(0)));
    }
}

#[test]
fn the_number_of_ssrcs_is_bounded() {
    let (mut tx, mut rx) = pair(SrtpProfile::AeadAes128Gcm);
    let (mut wire, mut out) = (Vec::new(), Vec::new());
    for ssrc in 0..MAX_SSRCS as u32 {
        tx.protect_rtp(&rtp(0, ssrc, b"x"), &mut wire).unwrap();
        rx.unprotect_rtp(&wire, &mut out).unwrap();
    }
    let extra = MAX_SSRCS as u32;
    let refused = SrtpError::TooManySsrcs {
        ssrc: extra,
        limit: MAX_SSRCS,
    };
    assert_eq!(tx.protect_rtp(&rtp(0, extra, b"x"), &mut wire), Err(refused.clone()));
    assert_eq!(tx.ssrc_counts(), (MAX_SSRCS, 0));
    // Known SSRCs keep working.
    tx.protect_rtp(&rtp(1, 7, b"x"), &mut wire).unwrap();
    rx.unprotect_rtp(&wire, &mut out).unwrap();

    tx.forget_ssrc(0);
    rx.forget_ssrc(0);
    tx.protect_rtp(&rtp(0, extra, b"x"), &mut wire).unwrap();
    rx.unprotect_rtp(&wire, &mut out).unwrap();
    assert_eq!(rx.ssrc_counts(), (MAX_SSRCS, 0));
}

#[test]
fn srtcp_index_runs_out_at_2_pow_31() {
    let (mut tx, _) = pair(SrtpProfile::Aes128CmSha1_80);
    let mut wire = Vec::new();
    tx.set_next_srtcp_index(1, 0x7fff_ffff);
    tx.protect_rtcp(&rtcp(1), &mut wire).unwrap();
    assert_eq!(wire[wire.len() - 14..wire.len() - 10], [0xff, 0xff, 0xff, 0xff]);
    assert_eq!(
        tx.protect_rtcp(&rtcp(1), &mut wire),
        Err(SrtpError::IndexExhausted { ssrc: 1 })
    );
}

#[test]
fn key_and_salt_lengths_are_checked() {
    assert_eq!(
        SrtpContext::new(SrtpProfile::AeadAes256Gcm, &[0; 16], &[0; 12]).unwrap_err(),
        SrtpError::BadKeyLength {
            profile: SrtpProfile::AeadAes256Gcm,
            expected: 32,
            found: 16
        }
    );
    assert_eq!(
        SrtpContext::new(SrtpProfile::Aes128CmSha1_80, &[0; 16], &[0; 12]).unwrap_err(),
        SrtpError::BadSaltLength {
            profile: SrtpProfile::Aes128CmSha1_80,
            expected: 14,
            found: 12
        }
    );
}

/// The client's and the server's sessions built from the same exported
/// material talk to each other in both directions.
#[test]
fn sessions_from_dtls_keying_material_pair_up() {
    for profile in [SrtpProfile::Aes128CmSha1_80, SrtpProfile::AeadAes256Gcm] {
        let raw: Vec<u8> = (0..profile.keying_material_len() as u8).collect();
        let client = SrtpKeyingMaterial::split(profile, DtlsRole::Client, &raw).unwrap();
        let server = SrtpKeyingMaterial::split(profile, DtlsRole::Server, &raw).unwrap();
        let mut client = SrtpSession::new(&client).unwrap();
        let mut server = SrtpSession::new(&server).unwrap();
        let (mut wire, mut out) = (Vec::new(), Vec::new());

        client.tx.protect_rtp(&rtp(1, 1, b"up"), &mut wire).unwrap();
        server.rx.unprotect_rtp(&wire, &mut out).unwrap();
        assert_eq!(out, rtp(1, 1, b"up"));
        server.tx.protect_rtcp(&rtcp(2), &mut wire).unwrap();
        client.rx.unprotect_rtcp(&wire, &mut out).unwrap();
        assert_eq!(out, rtcp(2));
        // Each direction has its own key.
        server.tx.protect_rtp(&rtp(2, 1, b"up"), &mut wire).unwrap();
        assert_eq!(server.rx.unprotect_rtp(&wire, &mut out), Err(SrtpError::AuthFailed));
    }
}
