//! STUN tests, including the RFC 5769 test vectors.

use std::net::SocketAddr;

use super::*;

/// Parses the hex dump format of RFC 5769 (whitespace-separated bytes).
fn hex(s: &str) -> Vec<u8> {
    s.split_whitespace()
        .map(|b| u8::from_str_radix(b, 16).unwrap())
        .collect()
}

const VECTOR_PASSWORD: &[u8] = b"VOkJxbRl1RmTxUk/WvJxBt";

/// RFC 5769 §2.1, sample request.
fn sample_request() -> Vec<u8> {
    hex("00 01 00 58 21 12 a4 42 b7 e7 a7 01 bc 34 d6 86 fa 87 df ae
         80 22 00 10 53 54 55 4e 20 74 65 73 74 20 63 6c 69 65 6e 74
         00 24 00 04 6e 00 01 ff
         80 29 00 08 93 2f f9 b1 51 26 3b 36
         00 06 00 09 65 76 74 6a 3a 68 36 76 59 20 20 20
         00 08 00 14 9a ea a7 0c bf d8 cb 56 78 1e f2 b5 b2 d3 f2 49 c1 b5 71 a2
         80 28 00 04 e5 7a 3b cf")
}

/// RFC 5769 §2.2, sample IPv4 response.
fn sample_ipv4_response() -> Vec<u8> {
    hex("01 01 00 3c 21 12 a4 42 b7 e7 a7 01 bc 34 d6 86 fa 87 df ae
         80 22 00 0b 74 65 73 74 20 76 65 63 74 6f 72 20
         00 20 00 08 00 01 a1 47 e1 12 a6 43
         00 08 00 14 2b 91 f5 99 fd 9e 90 c3 8c 74 89 f9 2a f9 ba 53 f0 6b e7 d7
         80 28 00 04 c0 7d 4c 96")
}

/// RFC 5769 §2.3, sample IPv6 response.
fn sample_ipv6_response() -> Vec<u8> {
    hex("01 01 00 48 21 12 a4 42 b7 e7 a7 01 bc 34 d6 86 fa 87 df ae
         80 22 00 0b 74 65 73 74 20 76 65 63 74 6f 72 20
         00 20 00 14 00 02 a1 47 01 13 a9 fa a5 d3 f1 79 bc 25 f4 b5 be d2 b9 d9
         00 08 00 14 a3 82 95 4e 4b e6 7b f1 17 84 c9 7c 82 92 c2 75 bf e3 ed 41
         80 28 00 04 c8 fb 0b 4c")
}

#[test]
fn rfc5769_sample_request() {
    let m = Message::decode(&sample_request()).unwrap();
    assert_eq!(m.class, Class::Request);
    assert_eq!(m.method, Method::BINDING);
    assert_eq!(m.username(), Some("evtj:h6vY"));
    assert_eq!(m.priority(), Some(0x6e0001ff));
    assert_eq!(m.ice_controlled(), Some(0x932ff9b151263b36));
    assert_eq!(
        m.attribute(SOFTWARE),
        Some(&Attribute::Software("STUN test client".into()))
    );
    m.check_integrity(VECTOR_PASSWORD).unwrap();
    m.check_fingerprint().unwrap();
    assert_eq!(m.check_integrity(b"wrong"), Err(StunError::IntegrityMismatch));
}

#[test]
fn rfc5769_ipv4_response() {
    let m = Message::decode(&sample_ipv4_response()).unwrap();
    assert_eq!(m.class, Class::SuccessResponse);
    assert_eq!(m.mapped_address(), Some("192.0.2.1:32853".parse().unwrap()));
    assert_eq!(m.attribute(SOFTWARE), Some(&Attribute::Software("test vector".into())));
    m.check_integrity(VECTOR_PASSWORD).unwrap();
    m.check_fingerprint().unwrap();
}

#[test]
fn rfc5769_ipv6_response() {
    let m = Message::decode(&sample_ipv6_response()).unwrap();
    assert_eq!(
        m.mapped_address(),
        Some("[2001:db8:1234:5678:11:2233:4455:6677]:32853".parse().unwrap())
    );
    m.check_integrity(VECTOR_PASSWORD).unwrap();
    m.check_fingerprint().unwrap();
}

#[test]
fn reencoding_a_vector_keeps_header_and_xor_address() {
    // The RFC pads with spaces where our encoder pads with zeros, so only compare the parts
    // that padding does not touch: header, transaction id and XOR-MAPPED-ADDRESS.
    let original = sample_ipv4_response();
    let m = Message::decode(&original).unwrap();
    let encoded = m.encode().unwrap();
    assert_eq!(encoded[..20], original[..20]);
    assert_eq!(encoded[36..48], original[36..48]);
    assert_eq!(encoded.len(), original.len());
}

#[test]
fn encode_then_verify_roundtrip() {
    let tid = TransactionId::new([7; 12]);
    for addr in ["10.1.2.3:4567", "[fe80::1:2]:9"] {
        let addr: SocketAddr = addr.parse().unwrap();
        let m = Message::new(Class::SuccessResponse, Method::BINDING, tid)
            .with(Attribute::XorMappedAddress(addr))
            .with(Attribute::Username("abc:de".into()))
            .with(Attribute::IceControlling(42))
            .with(Attribute::UseCandidate)
            .with(Attribute::ErrorCode {
                code: 487,
                reason: "Role Conflict".into(),
            })
            .with(Attribute::UnknownAttributes(vec![0x7777]))
            .with(Attribute::Unknown {
                typ: 0xC001,
                value: vec![1, 2, 3],
            });
        for integrity in [Integrity::Sha1(b"secret"), Integrity::Sha256(b"secret")] {
            let bytes = m.encode_with(Some(integrity), true).unwrap();
            let d = Message::decode(&bytes).unwrap();
            assert_eq!(d.mapped_address(), Some(addr));
            assert_eq!(d.username(), Some("abc:de"));
            assert_eq!(d.ice_controlling(), Some(42));
            assert!(d.use_candidate());
            assert_eq!(d.error_code(), Some(487));
            assert_eq!(d.attributes[..7], m.attributes[..]);
            d.check_integrity(b"secret").unwrap();
            d.check_fingerprint().unwrap();
            assert_eq!(d.check_integrity(b"Secret"), Err(StunError::IntegrityMismatch));
        }
    }
}

#[test]
fn tampering_is_detected() {
    let mut bytes = sample_request();
    bytes[30] ^= 1; // inside SOFTWARE
    let m = Message::decode(&bytes).unwrap();
    assert_eq!(m.check_integrity(VECTOR_PASSWORD), Err(StunError::IntegrityMismatch));
    assert_eq!(m.check_fingerprint(), Err(StunError::FingerprintMismatch));
}

#[test]
fn attributes_after_integrity_are_ignored() {
    let tid = TransactionId::new([1; 12]);
    let mut bytes = Message::new(Class::Request, Method::BINDING, tid)
        .with(Attribute::Username("a:b".into()))
        .encode_with(Some(Integrity::Sha1(b"k")), false)
        .unwrap();
    // Append a PRIORITY after MESSAGE-INTEGRITY and fix the length: integrity must still verify
    // and the PRIORITY must not be reported.
    bytes.extend_from_slice(&[0x00, 0x24, 0x00, 0x04, 0, 0, 0, 9]);
    let len = (bytes.len() - HEADER_LEN) as u16;
    bytes[2..4].copy_from_slice(&len.to_be_bytes());
    let m = Message::decode(&bytes).unwrap();
    assert_eq!(m.priority(), None);
    m.check_integrity(b"k").unwrap();
}

#[test]
fn malformed_messages_are_typed_errors() {
    let good = sample_request();
    assert_eq!(Message::decode(&good[..10]), Err(StunError::TooShort(10)));
    let mut bad = good.clone();
    bad[0] = 0x40;
    assert_eq!(Message::decode(&bad), Err(StunError::NotStun));
    let mut bad = good.clone();
    bad[4] = 0;
    assert!(matches!(Message::decode(&bad), Err(StunError::BadMagicCookie(_))));
    assert!(matches!(
        Message::decode(&good[..good.len() - 4]),
        Err(StunError::LengthMismatch { .. })
    ));
    let mut bad = good.clone();
    bad[22..24].copy_from_slice(&[0x01, 0x00]); // SOFTWARE claims 256 bytes
    assert!(matches!(
        Message::decode(&bad),
        Err(StunError::TruncatedAttribute { .. })
    ));
    let mut bad = good.clone();
    bad[42..44].copy_from_slice(&[0x00, 0x03]); // PRIORITY with length 3
    assert!(Message::decode(&bad).is_err());
    // FINGERPRINT in the middle.
    let tid = TransactionId::new([1; 12]);
    let bytes = Message::new(Class::Request, Method::BINDING, tid)
        .with(Attribute::Fingerprint(1))
        .with(Attribute::Priority(1))
        .encode()
        .unwrap();
    assert_eq!(Message::decode(&bytes), Err(StunError::FingerprintNotLast));
    // Built messages have no bytes to verify.
    assert_eq!(
        Message::new(Class::Request, Method::BINDING, tid).check_fingerprint(),
        Err(StunError::NotDecoded)
    );
}

#[test]
fn never_panics_on_truncations_and_bit_flips() {
    let good = sample_request();
    for cut in 0..good.len() {
        let _ = Message::decode(&good[..cut]);
    }
    for i in 0..good.len() {
        for bit in 0..8 {
            let mut b = good.clone();
            b[i] ^= 1 << bit;
            if let Ok(m) = Message::decode(&b) {
                let _ = m.check_integrity(VECTOR_PASSWORD);
                let _ = m.check_fingerprint();
            }
        }
    }
}

#[test]
fn class_and_method_encoding() {
    for class in [
        Class::Request,
        Class::Indication,
        Class::SuccessResponse,
        Class::ErrorResponse,
    ] {
        for method in [Method::BINDING, Method(0x0ABC), Method(0x0FFF)] {
            let bytes = Message::new(class, method, TransactionId::random()).encode().unwrap();
            let (c, m, _) = peek_header(&bytes).unwrap();
            assert_eq!((c, m), (class, method));
        }
    }
    let bytes = Message::new(Class::ErrorResponse, Method::BINDING, TransactionId::new([0; 12]))
        .encode()
        .unwrap();
    assert_eq!(bytes[..2], [0x01, 0x11]);
}

#[test]
fn random_inputs_never_panic() {
    // A small xorshift generator keeps this deterministic without a dependency.
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut decoded = 0;
    for _ in 0..20_000 {
        let len = (20 + (next() % 80) as usize) & !3;
        let mut bytes: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        // Make most headers valid so the attribute parser gets exercised.
        bytes[0] &= 0x3F;
        bytes[2..4].copy_from_slice(&((len - 20) as u16).to_be_bytes());
        bytes[4..8].copy_from_slice(&MAGIC_COOKIE.to_be_bytes());
        if let Ok(m) = Message::decode(&bytes) {
            decoded += 1;
            let _ = m.check_integrity(b"k");
            let _ = m.check_fingerprint();
            let _ = m.encode();
        }
    }
    assert!(decoded > 0, "the generator never produced a decodable message");
}

/// RFC 5769 §2.4, sample request with long-term authentication.
fn sample_long_term_request() -> Vec<u8> {
    hex("00 01 00 60 21 12 a4 42 78 ad 34 33 c6 ad 72 c0 29 da 41 2e
         00 06 00 12 e3 83 9e e3 83 88 e3 83 aa e3 83 83 e3 82 af e3 82 b9 00 00
         00 15 00 1c 66 2f 2f 34 39 39 6b 39 35 34 64 36 4f 4c 33 34 6f 4c 39 46 53 54 76 79 36 34 73 41
         00 14 00 0b 65 78 61 6d 70 6c 65 2e 6f 72 67 00
         00 08 00 14 f6 70 24 65 6d d6 4a 3e 02 b8 e0 71 2e 85 c9 a2 8c a8 96 66")
}

#[test]
fn rfc5769_long_term_request() {
    let m = Message::decode(&sample_long_term_request()).unwrap();
    assert_eq!(m.username(), Some("\u{30DE}\u{30C8}\u{30EA}\u{30C3}\u{30AF}\u{30B9}"));
    assert_eq!(m.nonce(), Some("f//499k954d6OL34oL9FSTvy64sA"));
    assert_eq!(m.realm(), Some("example.org"));
    // The vector's password "The\u{AD}M\u{AA}tr\u{2168}" after SASLprep is "TheMatrIX".
    let key = long_term_key(m.username().unwrap(), "example.org", "TheMatrIX");
    m.check_integrity(&key).unwrap();
    let wrong = long_term_key(m.username().unwrap(), "example.org", "TheMatrix");
    assert_eq!(m.check_integrity(&wrong), Err(StunError::IntegrityMismatch));
}

#[test]
fn long_term_key_is_md5_of_the_triple() {
    // MD5("user:realm:pass") computed independently (coreutils md5sum).
    let key = long_term_key("user", "realm", "pass");
    let hexed: String = key.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(hexed, "8493fbc53ba582fb4c044c456bdc40eb");
}

#[test]
fn turn_attributes_roundtrip() {
    let tid = TransactionId::new([3; 12]);
    let peer: SocketAddr = "198.51.100.2:5000".parse().unwrap();
    let relayed: SocketAddr = "[2001:db8::9]:49152".parse().unwrap();
    for method in [
        Method::ALLOCATE,
        Method::REFRESH,
        Method::SEND,
        Method::DATA,
        Method::CREATE_PERMISSION,
        Method::CHANNEL_BIND,
    ] {
        let m = Message::new(Class::Request, method, tid)
            .with(Attribute::XorPeerAddress(peer))
            .with(Attribute::XorRelayedAddress(relayed))
            .with(Attribute::Lifetime(600))
            .with(Attribute::RequestedTransport(17))
            .with(Attribute::ChannelNumber(0x4001))
            .with(Attribute::Data(vec![1, 2, 3, 4, 5]))
            .with(Attribute::Realm("example.org".into()))
            .with(Attribute::Nonce("abc".into()));
        let bytes = m.encode_with(Some(Integrity::Sha1(b"k")), true).unwrap();
        let d = Message::decode(&bytes).unwrap();
        assert_eq!(d.method, method);
        assert_eq!(d.peer_address(), Some(peer));
        assert_eq!(d.relayed_address(), Some(relayed));
        assert_eq!(d.lifetime(), Some(600));
        assert_eq!(d.channel_number(), Some(0x4001));
        assert_eq!(d.data(), Some(&[1u8, 2, 3, 4, 5][..]));
        assert_eq!(d.realm(), Some("example.org"));
        assert_eq!(d.nonce(), Some("abc"));
        assert_eq!(d.attributes[..8], m.attributes[..]);
        d.check_integrity(b"k").unwrap();
    }
    // Wire layout of the fixed-size TURN attributes (RFC 8656 §18).
    let bytes = Message::new(Class::Request, Method::CHANNEL_BIND, tid)
        .with(Attribute::ChannelNumber(0x4ABC))
        .with(Attribute::RequestedTransport(17))
        .with(Attribute::Lifetime(0x0102_0304))
        .encode()
        .unwrap();
    assert_eq!(bytes[..2], [0x00, 0x09]);
    assert_eq!(bytes[20..28], [0x00, 0x0C, 0x00, 0x04, 0x4A, 0xBC, 0, 0]);
    assert_eq!(bytes[28..36], [0x00, 0x19, 0x00, 0x04, 17, 0, 0, 0]);
    assert_eq!(bytes[36..44], [0x00, 0x0D, 0x00, 0x04, 1, 2, 3, 4]);
}

#[test]
fn malformed_turn_attributes_are_typed_errors() {
    let tid = TransactionId::new([3; 12]);
    for (typ, value) in [
        (LIFETIME, vec![0, 0, 1]),
        (REQUESTED_TRANSPORT, vec![17]),
        (CHANNEL_NUMBER, vec![0x40, 0x00]),
        (XOR_PEER_ADDRESS, vec![0, 1, 0, 0]),
        (XOR_RELAYED_ADDRESS, vec![0, 3, 0, 0, 1, 2, 3, 4]),
    ] {
        let bytes = Message::new(Class::Request, Method::ALLOCATE, tid)
            .with(Attribute::Unknown { typ, value })
            .encode()
            .unwrap();
        assert!(
            matches!(Message::decode(&bytes), Err(StunError::InvalidAttribute { typ: t, .. }) if t == typ),
            "attribute {typ:#06x}"
        );
    }
}

/// Found by the `stun_decode` fuzz target: a message with the most attributes a decoder takes,
/// re-encoded with MESSAGE-INTEGRITY and FINGERPRINT, would have two more than the decoder takes.
/// The encoder now refuses instead of writing what no decoder of ours accepts.
#[test]
fn encoding_never_writes_more_attributes_than_decoding_takes() {
    let mut message = Message::new(Class::Request, Method::BINDING, TransactionId::random());
    message.attributes = (0..MAX_ATTRIBUTES)
        .map(|_| Attribute::Unknown {
            typ: 0x8000,
            value: Vec::new(),
        })
        .collect();
    let plain = message.encode().expect("64 attributes encode");
    assert_eq!(
        Message::decode(&plain).expect("and decode").attributes.len(),
        MAX_ATTRIBUTES
    );
    assert_eq!(
        message.encode_with(Some(Integrity::Sha1(b"key")), true),
        Err(StunError::TooManyAttributes(MAX_ATTRIBUTES))
    );
    message.attributes.truncate(MAX_ATTRIBUTES - 2);
    let signed = message
        .encode_with(Some(Integrity::Sha1(b"key")), true)
        .expect("62 + 2 attributes encode");
    assert_eq!(
        Message::decode(&signed).expect("and decode").attributes.len(),
        MAX_ATTRIBUTES
    );
}
