//! Fuzzes the STUN decoder: no datagram may panic it; a message that decodes
//! must encode again (exactly as decoded) to bytes that decode to the same
//! header and attributes; integrity and fingerprint checks on any decoded
//! message return Ok or a typed error; and a decoded message re-encoded with
//! freshly computed MESSAGE-INTEGRITY and FINGERPRINT passes both checks.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rtcpeer_proto::stun::{Integrity, Message, StunError};

/// The key used for integrity in this target (an ICE password is at least 22 characters).
const KEY: &[u8] = b"fuzzing-password-0123456789";

fuzz_target!(|data: &[u8]| {
    let Ok(message) = Message::decode(data) else {
        return;
    };
    // The checks must never panic, whatever the attributes say.
    let _ = message.check_integrity(KEY);
    let _ = message.check_fingerprint();
    let _ = message.unknown_comprehension_required();
    let _ = (
        message.username(),
        message.mapped_address(),
        message.error_code(),
        message.priority(),
    );

    // Re-encoding what was decoded must succeed (it came from a datagram of at most
    // 65535 + 20 bytes and padding only shrinks) and decode to the same content.
    let encoded = message.encode().expect("a decoded message must encode");
    let again = Message::decode(&encoded).expect("an encoded message must decode");
    assert_eq!(again.class, message.class);
    assert_eq!(again.method, message.method);
    assert_eq!(again.transaction_id, message.transaction_id);
    assert_eq!(
        again.attributes, message.attributes,
        "attributes changed in the round trip"
    );

    // With integrity and fingerprint computed on encoding, both checks must pass.
    for integrity in [Integrity::Sha1(KEY), Integrity::Sha256(KEY)] {
        match message.encode_with(Some(integrity), true) {
            Ok(signed) => {
                let decoded = Message::decode(&signed).expect("a signed message must decode");
                decoded
                    .check_integrity(KEY)
                    .expect("freshly computed integrity must verify");
                decoded
                    .check_fingerprint()
                    .expect("freshly computed fingerprint must verify");
                assert!(
                    decoded.check_integrity(b"some-other-password-000000").is_err(),
                    "integrity verified with the wrong key"
                );
            }
            // Adding the attributes may overflow the 16-bit length, or the attribute count a
            // decoder takes (the encoder refuses rather than write what decoding refuses).
            Err(StunError::TooLong) => assert!(encoded.len() + 36 + 8 > usize::from(u16::MAX)),
            Err(StunError::TooManyAttributes(max)) => assert!(message.attributes.len() + 2 > max),
            Err(e) => panic!("encode_with failed: {e}"),
        }
    }
});
