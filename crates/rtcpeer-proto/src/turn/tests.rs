//! The TURN client against a scripted server.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use super::*;
use crate::stun::{
    long_term_key, Attribute, Class, Integrity, Message, Method, TransactionId, MESSAGE_INTEGRITY, USERNAME,
};

const USER: &str = "alice";
const PASS: &str = "secret";
const REALM: &str = "example.org";

fn relayed() -> SocketAddr {
    "192.0.2.10:49152".parse().unwrap()
}

fn mapped() -> SocketAddr {
    "198.51.100.1:50000".parse().unwrap()
}

fn peer() -> SocketAddr {
    "203.0.113.5:6000".parse().unwrap()
}

fn key() -> [u8; 16] {
    long_term_key(USER, REALM, PASS)
}

/// Takes the one message the client queued and decodes it.
fn sent(c: &mut TurnClient) -> Message {
    let bytes = c.poll_transmit().expect("the client should have sent something");
    Message::decode(&bytes).expect("the client sends valid STUN")
}

fn reply(request: &Message, class: Class, attributes: Vec<Attribute>, signed: bool) -> Vec<u8> {
    let mut m = Message::new(class, request.method, request.transaction_id);
    m.attributes = attributes;
    let k = key();
    m.encode_with(signed.then_some(Integrity::Sha1(&k)), true).unwrap()
}

fn error(code: u16, reason: &str) -> Attribute {
    Attribute::ErrorCode {
        code,
        reason: reason.into(),
    }
}

fn unauthorized(request: &Message, nonce: &str) -> Vec<u8> {
    reply(
        request,
        Class::ErrorResponse,
        vec![
            error(401, "Unauthorized"),
            Attribute::Realm(REALM.into()),
            Attribute::Nonce(nonce.into()),
        ],
        false,
    )
}

fn allocate_success(request: &Message, lifetime: u32) -> Vec<u8> {
    reply(
        request,
        Class::SuccessResponse,
        vec![
            Attribute::XorRelayedAddress(relayed()),
            Attribute::XorMappedAddress(mapped()),
            Attribute::Lifetime(lifetime),
        ],
        true,
    )
}

/// A client driven through 401 to an allocation; returns it and the time.
fn allocated(transport: TurnTransport) -> (TurnClient, Instant) {
    let now = Instant::now();
    let mut c = TurnClient::new(now, TurnConfig::new(USER, PASS, transport));
    let first = sent(&mut c);
    c.handle_receive(now, &unauthorized(&first, "n1")).unwrap();
    let second = sent(&mut c);
    c.handle_receive(now, &allocate_success(&second, 600)).unwrap();
    assert!(matches!(c.poll_event(), Some(TurnEvent::Allocated { .. })));
    (c, now)
}

#[test]
fn allocate_goes_through_401_then_signs_with_the_long_term_key() {
    let now = Instant::now();
    let mut c = TurnClient::new(now, TurnConfig::new(USER, PASS, TurnTransport::Udp));
    assert_eq!(c.state(), TurnState::Allocating);
    let first = sent(&mut c);
    assert_eq!((first.class, first.method), (Class::Request, Method::ALLOCATE));
    assert!(first.attributes.contains(&Attribute::RequestedTransport(17)));
    assert!(first.attribute(USERNAME).is_none() && first.attribute(MESSAGE_INTEGRITY).is_none());
    first.check_fingerprint().unwrap();

    c.handle_receive(now, &unauthorized(&first, "nonce-1")).unwrap();
    assert_eq!(c.poll_event(), None);
    let second = sent(&mut c);
    assert_eq!(second.method, Method::ALLOCATE);
    assert_ne!(second.transaction_id, first.transaction_id);
    assert_eq!(second.username(), Some(USER));
    assert_eq!(second.realm(), Some(REALM));
    assert_eq!(second.nonce(), Some("nonce-1"));
    second.check_integrity(&key()).unwrap();

    c.handle_receive(now, &allocate_success(&second, 600)).unwrap();
    assert_eq!(
        c.poll_event(),
        Some(TurnEvent::Allocated {
            relayed: relayed(),
            mapped: Some(mapped()),
            lifetime: Duration::from_secs(600),
        })
    );
    assert_eq!(c.state(), TurnState::Allocated);
    assert_eq!(c.relayed_address(), Some(relayed()));
    // The refresh is due at 80 % of the lifetime.
    assert_eq!(c.poll_timeout(), Some(now + Duration::from_secs(480)));
}

#[test]
fn wrong_password_fails_with_401() {
    let now = Instant::now();
    let mut c = TurnClient::new(now, TurnConfig::new(USER, "wrong", TurnTransport::Udp));
    let first = sent(&mut c);
    c.handle_receive(now, &unauthorized(&first, "n")).unwrap();
    let second = sent(&mut c);
    assert!(second.check_integrity(&key()).is_err());
    c.handle_receive(now, &unauthorized(&second, "n")).unwrap();
    assert_eq!(
        c.poll_event(),
        Some(TurnEvent::Failed {
            code: Some(401),
            reason: "Unauthorized".into()
        })
    );
    assert_eq!(c.state(), TurnState::Failed);
    assert_eq!(c.poll_transmit(), None);
    assert_eq!(c.poll_timeout(), None);
}

#[test]
fn stale_nonce_is_retried_a_bounded_number_of_times() {
    let now = Instant::now();
    let mut c = TurnClient::new(now, TurnConfig::new(USER, PASS, TurnTransport::Udp));
    let first = sent(&mut c);
    c.handle_receive(now, &unauthorized(&first, "n0")).unwrap();
    let mut request = sent(&mut c);
    for i in 1..=3 {
        let nonce = format!("n{i}");
        let stale = reply(
            &request,
            Class::ErrorResponse,
            vec![error(438, "Stale Nonce"), Attribute::Nonce(nonce.clone())],
            false,
        );
        c.handle_receive(now, &stale).unwrap();
        assert_eq!(c.poll_event(), None, "retry {i} should be silent");
        request = sent(&mut c);
        assert_eq!(request.nonce(), Some(nonce.as_str()));
        request.check_integrity(&key()).unwrap();
    }
    let stale = reply(
        &request,
        Class::ErrorResponse,
        vec![error(438, "Stale Nonce"), Attribute::Nonce("n4".into())],
        false,
    );
    c.handle_receive(now, &stale).unwrap();
    assert_eq!(
        c.poll_event(),
        Some(TurnEvent::Failed {
            code: Some(438),
            reason: "Stale Nonce".into()
        })
    );
}

#[test]
fn other_errors_fail_with_code_and_reason() {
    let now = Instant::now();
    let mut c = TurnClient::new(now, TurnConfig::new(USER, PASS, TurnTransport::Udp));
    let first = sent(&mut c);
    c.handle_receive(now, &unauthorized(&first, "n")).unwrap();
    let second = sent(&mut c);
    let quota = reply(
        &second,
        Class::ErrorResponse,
        vec![error(486, "Allocation Quota Reached\0")],
        true,
    );
    c.handle_receive(now, &quota).unwrap();
    assert_eq!(
        c.poll_event(),
        Some(TurnEvent::Failed {
            code: Some(486),
            reason: "Allocation Quota Reached".into()
        })
    );
}

#[test]
fn unsigned_or_forged_success_is_ignored() {
    let now = Instant::now();
    let mut c = TurnClient::new(now, TurnConfig::new(USER, PASS, TurnTransport::Udp));
    let first = sent(&mut c);
    c.handle_receive(now, &unauthorized(&first, "n")).unwrap();
    let second = sent(&mut c);
    let unsigned = reply(
        &second,
        Class::SuccessResponse,
        vec![Attribute::XorRelayedAddress(relayed())],
        false,
    );
    c.handle_receive(now, &unsigned).unwrap();
    let mut forged = Message::new(Class::SuccessResponse, Method::ALLOCATE, second.transaction_id);
    forged.attributes = vec![Attribute::XorRelayedAddress(relayed())];
    let forged = forged.encode_with(Some(Integrity::Sha1(b"not the key")), true).unwrap();
    c.handle_receive(now, &forged).unwrap();
    assert_eq!(c.poll_event(), None);
    assert_eq!(c.state(), TurnState::Allocating);
    // The genuine answer still works.
    c.handle_receive(now, &allocate_success(&second, 600)).unwrap();
    assert!(matches!(c.poll_event(), Some(TurnEvent::Allocated { .. })));
}

#[test]
fn udp_requests_are_retransmitted_then_fail() {
    let t0 = Instant::now();
    let mut c = TurnClient::new(t0, TurnConfig::new(USER, PASS, TurnTransport::Udp));
    let first = c.poll_transmit().unwrap();
    let mut sends = vec![0u128];
    while let Some(deadline) = c.poll_timeout() {
        c.handle_timeout(deadline);
        if let Some(again) = c.poll_transmit() {
            assert_eq!(again, first);
            sends.push((deadline - t0).as_millis());
        }
        if c.state() == TurnState::Failed {
            assert_eq!((deadline - t0).as_millis(), 39_500);
        }
    }
    // RFC 8489 §6.2.1: with RTO 500 ms and Rc 7, requests at 0, 500, 1500, ..., 31500 ms.
    assert_eq!(sends, [0, 500, 1500, 3500, 7500, 15_500, 31_500]);
    assert_eq!(
        c.poll_event(),
        Some(TurnEvent::Failed {
            code: None,
            reason: "no response from the TURN server".into()
        })
    );
}

#[test]
fn stream_requests_are_not_retransmitted() {
    let t0 = Instant::now();
    let mut c = TurnClient::new(t0, TurnConfig::new(USER, PASS, TurnTransport::Tcp));
    c.poll_transmit().unwrap();
    assert_eq!(c.poll_timeout(), Some(t0 + Duration::from_millis(39_500)));
    c.handle_timeout(t0 + Duration::from_secs(39));
    assert_eq!(c.poll_transmit(), None);
    c.handle_timeout(t0 + Duration::from_millis(39_500));
    assert_eq!(c.poll_transmit(), None);
    assert!(matches!(c.poll_event(), Some(TurnEvent::Failed { code: None, .. })));
}

#[test]
fn allocation_is_refreshed_at_80_percent() {
    let (mut c, t0) = allocated(TurnTransport::Udp);
    c.handle_timeout(t0 + Duration::from_secs(479));
    assert_eq!(c.poll_transmit(), None);
    let at = t0 + Duration::from_secs(480);
    c.handle_timeout(at);
    let refresh = sent(&mut c);
    assert_eq!(refresh.method, Method::REFRESH);
    assert_eq!(refresh.lifetime(), Some(600));
    refresh.check_integrity(&key()).unwrap();
    let ok = reply(&refresh, Class::SuccessResponse, vec![Attribute::Lifetime(300)], true);
    c.handle_receive(at, &ok).unwrap();
    assert_eq!(
        c.poll_event(),
        Some(TurnEvent::Refreshed {
            lifetime: Duration::from_secs(300)
        })
    );
    assert_eq!(c.poll_timeout(), Some(at + Duration::from_secs(240)));
}

#[test]
fn refresh_438_is_retried_and_437_fails() {
    let (mut c, t0) = allocated(TurnTransport::Udp);
    let at = t0 + Duration::from_secs(480);
    c.handle_timeout(at);
    let refresh = sent(&mut c);
    let stale = reply(
        &refresh,
        Class::ErrorResponse,
        vec![
            error(438, "Stale Nonce"),
            Attribute::Nonce("n2".into()),
            Attribute::Realm(REALM.into()),
        ],
        false,
    );
    c.handle_receive(at, &stale).unwrap();
    let again = sent(&mut c);
    assert_eq!((again.method, again.nonce()), (Method::REFRESH, Some("n2")));
    let mismatch = reply(
        &again,
        Class::ErrorResponse,
        vec![error(437, "Allocation Mismatch")],
        true,
    );
    c.handle_receive(at, &mismatch).unwrap();
    assert_eq!(
        c.poll_event(),
        Some(TurnEvent::Failed {
            code: Some(437),
            reason: "Allocation Mismatch".into()
        })
    );
}

#[test]
fn permissions_channels_and_data() {
    let (mut c, t0) = allocated(TurnTransport::Udp);
    let p = peer();
    assert_eq!(c.send_to(p, b"x"), Err(TurnError::NoPermission(p.ip())));

    c.create_permission(t0, p.ip()).unwrap();
    c.create_permission(t0, p.ip()).unwrap(); // no second request
    let perm = sent(&mut c);
    assert_eq!(perm.method, Method::CREATE_PERMISSION);
    assert_eq!(perm.peer_address().map(|a| a.ip()), Some(p.ip()));
    perm.check_integrity(&key()).unwrap();
    assert_eq!(c.poll_transmit(), None);
    c.handle_receive(t0, &reply(&perm, Class::SuccessResponse, vec![], true))
        .unwrap();
    assert_eq!(c.poll_event(), Some(TurnEvent::PermissionCreated { peer: p.ip() }));
    assert!(c.has_permission(p.ip()));

    // Without a channel: a Send indication.
    c.send_to(p, b"hello peer").unwrap();
    let send = sent(&mut c);
    assert_eq!((send.class, send.method), (Class::Indication, Method::SEND));
    assert_eq!(send.peer_address(), Some(p));
    assert_eq!(send.data(), Some(&b"hello peer"[..]));

    // A Data indication from the server becomes a Data event.
    let data = Message::new(Class::Indication, Method::DATA, TransactionId::random())
        .with(Attribute::XorPeerAddress(p))
        .with(Attribute::Data(b"hi client".to_vec()))
        .encode()
        .unwrap();
    c.handle_receive(t0, &data).unwrap();
    assert_eq!(
        c.poll_event(),
        Some(TurnEvent::Data {
            from: p,
            data: b"hi client".to_vec()
        })
    );

    // Channels are numbered from 0x4000, one per peer.
    assert_eq!(c.bind_channel(t0, p), Ok(0x4000));
    assert_eq!(c.bind_channel(t0, p), Ok(0x4000));
    let bind = sent(&mut c);
    assert_eq!(bind.method, Method::CHANNEL_BIND);
    assert_eq!(bind.channel_number(), Some(0x4000));
    assert_eq!(bind.peer_address(), Some(p));
    let other: SocketAddr = "203.0.113.5:6001".parse().unwrap();
    assert_eq!(c.bind_channel(t0, other), Ok(0x4001));
    let bind2 = sent(&mut c);
    // Before the server confirms, data still goes in Send indications.
    c.send_to(p, b"early").unwrap();
    assert_eq!(sent(&mut c).method, Method::SEND);
    // The server may use the channel before its answer reaches us: that data is accepted.
    c.handle_receive(t0, &encode_channel_data(0x4000, b"early", false).unwrap())
        .unwrap();
    assert_eq!(
        c.poll_event(),
        Some(TurnEvent::Data {
            from: p,
            data: b"early".to_vec()
        })
    );
    // ChannelData on a channel we never asked for is dropped.
    c.handle_receive(t0, &encode_channel_data(0x4ABC, b"stray", false).unwrap())
        .unwrap();
    assert_eq!(c.poll_event(), None);

    c.handle_receive(t0, &reply(&bind, Class::SuccessResponse, vec![], true))
        .unwrap();
    assert_eq!(
        c.poll_event(),
        Some(TurnEvent::ChannelBound {
            peer: p,
            channel: 0x4000
        })
    );
    c.send_to(p, b"via channel").unwrap();
    let bytes = c.poll_transmit().unwrap();
    assert_eq!(bytes, encode_channel_data(0x4000, b"via channel", false).unwrap());
    c.handle_receive(t0, &encode_channel_data(0x4000, b"back", false).unwrap())
        .unwrap();
    assert_eq!(
        c.poll_event(),
        Some(TurnEvent::Data {
            from: p,
            data: b"back".to_vec()
        })
    );

    // A failed bind frees the channel and reports it.
    let refused = reply(&bind2, Class::ErrorResponse, vec![error(400, "Bad Request")], true);
    c.handle_receive(t0, &refused).unwrap();
    assert_eq!(
        c.poll_event(),
        Some(TurnEvent::ChannelBindFailed {
            peer: other,
            code: Some(400),
            reason: "Bad Request".into()
        })
    );
    assert_eq!(c.channel(other), None);

    // Permissions are refreshed after 4 minutes, channels after 9; the channel keeps its number.
    let at = t0 + PERMISSION_REFRESH;
    c.handle_timeout(at);
    let again = sent(&mut c);
    assert_eq!(again.method, Method::CREATE_PERMISSION);
    c.handle_receive(at, &reply(&again, Class::SuccessResponse, vec![], true))
        .unwrap();
    assert_eq!(c.poll_event(), None, "a refreshed permission is not a new event");
    let at = t0 + CHANNEL_REFRESH;
    c.handle_timeout(at);
    let mut methods = Vec::new();
    while let Some(b) = c.poll_transmit() {
        let m = Message::decode(&b).unwrap();
        if m.method == Method::CHANNEL_BIND {
            assert_eq!(m.channel_number(), Some(0x4000));
        }
        methods.push(m.method);
    }
    assert!(methods.contains(&Method::CHANNEL_BIND), "{methods:?}");
}

#[test]
fn channel_data_is_padded_over_streams() {
    let (mut c, t0) = allocated(TurnTransport::Tcp);
    let p = peer();
    c.bind_channel(t0, p).unwrap();
    let _perm = sent(&mut c);
    let bind = sent(&mut c);
    c.handle_receive(t0, &reply(&bind, Class::SuccessResponse, vec![], true))
        .unwrap();
    c.send_to(p, b"abcde").unwrap();
    let bytes = c.poll_transmit().unwrap();
    assert_eq!(bytes, [0x40, 0x00, 0x00, 0x05, b'a', b'b', b'c', b'd', b'e', 0, 0, 0]);
}

#[test]
fn close_sends_lifetime_zero_and_reports_closed() {
    let (mut c, t0) = allocated(TurnTransport::Udp);
    c.create_permission(t0, peer().ip()).unwrap();
    let _ = sent(&mut c);
    c.close(t0);
    assert_eq!(c.state(), TurnState::Closing);
    let refresh = sent(&mut c);
    assert_eq!((refresh.method, refresh.lifetime()), (Method::REFRESH, Some(0)));
    refresh.check_integrity(&key()).unwrap();
    assert_eq!(c.send_to(peer(), b"x"), Err(TurnError::NotAllocated));
    c.handle_receive(
        t0,
        &reply(&refresh, Class::SuccessResponse, vec![Attribute::Lifetime(0)], true),
    )
    .unwrap();
    assert_eq!(c.poll_event(), Some(TurnEvent::Closed));
    assert_eq!(c.state(), TurnState::Closed);
    assert_eq!(c.poll_timeout(), None);

    // A 437 (already gone) also closes.
    let (mut c, t0) = allocated(TurnTransport::Udp);
    c.close(t0);
    let refresh = sent(&mut c);
    let gone = reply(
        &refresh,
        Class::ErrorResponse,
        vec![error(437, "Allocation Mismatch")],
        true,
    );
    c.handle_receive(t0, &gone).unwrap();
    assert_eq!(c.poll_event(), Some(TurnEvent::Closed));
}

#[test]
fn limits_are_enforced() {
    let now = Instant::now();
    let mut config = TurnConfig::new(USER, PASS, TurnTransport::Udp);
    config.max_permissions = 2;
    config.max_channels = 1;
    config.max_queued_transmits = 4;
    let mut c = TurnClient::new(now, config);
    assert_eq!(c.create_permission(now, peer().ip()), Err(TurnError::NotAllocated));
    assert_eq!(c.send_to(peer(), b"x"), Err(TurnError::NotAllocated));
    let first = sent(&mut c);
    c.handle_receive(now, &unauthorized(&first, "n")).unwrap();
    let second = sent(&mut c);
    c.handle_receive(now, &allocate_success(&second, 600)).unwrap();

    let ip = |i: u8| IpAddr::from([203, 0, 113, i]);
    c.create_permission(now, ip(1)).unwrap();
    c.create_permission(now, ip(2)).unwrap();
    assert_eq!(c.create_permission(now, ip(3)), Err(TurnError::TooManyPermissions(2)));
    assert_eq!(
        c.create_permission(now, "2001:db8::1".parse().unwrap()),
        Err(TurnError::WrongFamily("2001:db8::1".parse().unwrap()))
    );
    c.bind_channel(now, SocketAddr::new(ip(1), 1)).unwrap();
    assert_eq!(
        c.bind_channel(now, SocketAddr::new(ip(1), 2)),
        Err(TurnError::TooManyChannels(1))
    );
    // Three requests are queued; one more data message fits, then the queue is full.
    c.send_to(SocketAddr::new(ip(2), 9), b"a").unwrap();
    assert_eq!(c.send_to(SocketAddr::new(ip(2), 9), b"b"), Err(TurnError::QueueFull(4)));
    assert_eq!(
        c.send_to(SocketAddr::new(ip(2), 9), &vec![0; 70_000]),
        Err(TurnError::QueueFull(4))
    );
    while c.poll_transmit().is_some() {}
    assert_eq!(
        c.send_to(SocketAddr::new(ip(2), 9), &vec![0; 70_000]),
        Err(TurnError::DataTooLong(70_000))
    );
}

#[test]
fn events_queue_is_bounded() {
    let now = Instant::now();
    let mut config = TurnConfig::new(USER, PASS, TurnTransport::Udp);
    config.max_queued_events = 3;
    let mut c = TurnClient::new(now, config);
    let first = sent(&mut c);
    c.handle_receive(now, &unauthorized(&first, "n")).unwrap();
    let second = sent(&mut c);
    c.handle_receive(now, &allocate_success(&second, 600)).unwrap();
    let data = Message::new(Class::Indication, Method::DATA, TransactionId::random())
        .with(Attribute::XorPeerAddress(peer()))
        .with(Attribute::Data(b"x".to_vec()))
        .encode()
        .unwrap();
    for _ in 0..10 {
        c.handle_receive(now, &data).unwrap();
    }
    assert_eq!(c.dropped_events(), 8);
    assert_eq!(std::iter::from_fn(|| c.poll_event()).count(), 3);
}

#[test]
fn garbage_never_panics_or_changes_state() {
    let (mut c, t0) = allocated(TurnTransport::Udp);
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for i in 0..5000 {
        let len = (next() % 64) as usize;
        let mut bytes: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        if let Some(b) = bytes.first_mut() {
            *b = if i % 2 == 0 { *b & 0x3F } else { 0x40 | (*b & 0x0F) };
        }
        let _ = c.handle_receive(t0, &bytes);
    }
    assert_eq!(c.state(), TurnState::Allocated);
    assert_eq!(c.poll_event(), None);
    assert_eq!(c.poll_transmit(), None);
}

#[test]
fn a_zero_lifetime_ends_the_allocation_instead_of_refreshing_in_a_loop() {
    let (mut c, t0) = allocated(TurnTransport::Udp);
    let at = t0 + Duration::from_secs(480);
    c.handle_timeout(at);
    let refresh = sent(&mut c);
    c.handle_receive(
        at,
        &reply(&refresh, Class::SuccessResponse, vec![Attribute::Lifetime(0)], true),
    )
    .unwrap();
    assert!(matches!(c.poll_event(), Some(TurnEvent::Failed { code: None, .. })));
    assert_eq!(c.poll_timeout(), None);
}
