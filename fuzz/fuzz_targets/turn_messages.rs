//! Fuzzes what a TURN server (or an attacker on its path) can send the client: STUN/TURN
//! messages, ChannelData and the TCP/TLS stream framing.
//!
//! - ChannelData that decodes re-encodes to a message that decodes to the same channel and data.
//! - The stream decoder, fed the input in chunks of input-chosen sizes, returns frames that are,
//!   concatenated, exactly a prefix of the input, and never buffers more than its limit.
//! - An allocated `TurnClient` fed the input as datagrams and frames (with time passing) never
//!   panics, keeps its queues bounded, and stays allocated: nothing unauthenticated may take
//!   the allocation down except a response to one of its transactions, which the input cannot
//!   forge without the key.
#![no_main]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use rtcpeer_proto::stun::{long_term_key, Attribute, Class, Integrity, Message};
use rtcpeer_proto::turn::{
    ChannelData, Frame, StreamDecoder, TurnClient, TurnConfig, TurnEvent, TurnState, TurnTransport, MAX_FRAME_LEN,
};

fn allocated_client(now: Instant) -> TurnClient {
    let mut config = TurnConfig::new("user", "pass", TurnTransport::Udp);
    config.max_queued_events = 32;
    let mut client = TurnClient::new(now, config);
    let first = Message::decode(&client.poll_transmit().unwrap()).unwrap();
    let mut challenge = Message::new(Class::ErrorResponse, first.method, first.transaction_id);
    challenge.attributes = vec![
        Attribute::ErrorCode {
            code: 401,
            reason: "Unauthorized".into(),
        },
        Attribute::Realm("realm".into()),
        Attribute::Nonce("nonce".into()),
    ];
    client.handle_receive(now, &challenge.encode().unwrap()).unwrap();
    let second = Message::decode(&client.poll_transmit().unwrap()).unwrap();
    let mut success = Message::new(Class::SuccessResponse, second.method, second.transaction_id);
    success.attributes = vec![
        Attribute::XorRelayedAddress(SocketAddr::from(([192, 0, 2, 1], 50000))),
        Attribute::Lifetime(600),
    ];
    let key = long_term_key("user", "realm", "pass");
    client
        .handle_receive(now, &success.encode_with(Some(Integrity::Sha1(&key)), true).unwrap())
        .unwrap();
    assert!(matches!(client.poll_event(), Some(TurnEvent::Allocated { .. })));
    let peer = SocketAddr::from(([203, 0, 113, 1], 4000));
    client.create_permission(now, peer.ip()).unwrap();
    client.bind_channel(now, peer).unwrap();
    while client.poll_transmit().is_some() {}
    client
}

fuzz_target!(|data: &[u8]| {
    // 1. Single messages.
    let _ = Message::decode(data);
    if let Ok(cd) = ChannelData::decode(data) {
        let again = cd.encode(false).expect("a decoded ChannelData encodes");
        assert_eq!(ChannelData::decode(&again), Ok(cd));
    }

    // 2. The stream decoder, in chunks whose sizes come from the input.
    let mut decoder = StreamDecoder::default();
    let mut framed = Vec::new();
    let mut rest = data;
    let mut sizes = data.iter().cycle();
    'stream: while !rest.is_empty() {
        let size = (usize::from(*sizes.next().unwrap_or(&1)) % 64 + 1).min(rest.len());
        let (chunk, tail) = rest.split_at(size);
        rest = tail;
        if decoder.push(chunk).is_err() {
            break;
        }
        loop {
            match decoder.next_frame() {
                Ok(Some(frame)) => {
                    assert!(frame.bytes().len() <= MAX_FRAME_LEN);
                    framed.extend_from_slice(frame.bytes());
                }
                Ok(None) => break,
                Err(_) => break 'stream,
            }
        }
    }
    assert_eq!(&data[..framed.len()], framed.as_slice(), "frames are not a prefix of the stream");

    // 3. An allocated client fed the input as datagrams split at 0xFF bytes, and the frames above.
    let t0 = Instant::now();
    let mut client = allocated_client(t0);
    let mut now = t0;
    for (i, piece) in data.split(|&b| b == 0xFF).enumerate() {
        let _ = client.handle_receive(now, piece);
        // Time passes, but never up to the allocation refresh (480 s), whose unanswered
        // retransmissions would legitimately end the allocation.
        let step = Duration::from_millis(u64::from(piece.first().copied().unwrap_or(0)) * 10);
        now = (now + step).min(t0 + Duration::from_secs(400));
        if i % 4 == 3 {
            client.handle_timeout(now);
        }
    }
    let mut decoder = StreamDecoder::default();
    if decoder.push(data).is_ok() {
        while let Ok(Some(frame)) = decoder.next_frame() {
            let bytes = match &frame {
                Frame::Stun(b) | Frame::ChannelData(b) => b,
            };
            let _ = client.handle_receive(now, bytes);
        }
    }
    assert_eq!(client.state(), TurnState::Allocated, "unauthenticated input ended the allocation");
    let mut events = 0;
    while client.poll_event().is_some() {
        events += 1;
    }
    assert!(events <= 32);
    let mut transmits = 0;
    while client.poll_transmit().is_some() {
        transmits += 1;
    }
    assert!(transmits <= 256);
});
