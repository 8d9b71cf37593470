//! Fuzzes a whole connection after a real handshake. Two peers connect over a
//! simulated network and open a data channel; then the input, read as a
//! program of operations, injects datagrams into one peer: raw bytes, replays
//! of datagrams captured during the handshake (verbatim, bit-flipped or cut
//! short), from the real remote address or from others, with virtual time
//! passing in between. Nothing may panic, and if both peers still report a
//! connected state and an open channel, a message must still get through in
//! each direction.
//!
//! Set `RTCPEER_FUZZ_STRICT=1` to also fail when an input takes the
//! connection down at all: nothing the input can send is authenticated, so
//! this flags denial-of-service paths to investigate.
#![no_main]

use std::net::SocketAddr;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use rtcpeer_fuzz::ops::Reader;
use rtcpeer_fuzz::sim::{Pair, Which};
use rtcpeer_proto::datachannel::DataChannelMessage;

/// At most this many operations per input.
const MAX_OPS: usize = 64;

/// The addresses an injected datagram may claim to come from, relative to the
/// target's real remote address.
fn source(remote: SocketAddr, choice: u8) -> SocketAddr {
    match choice & 3 {
        0 => remote,
        1 => SocketAddr::new(remote.ip(), remote.port().wrapping_add(1)),
        2 => "127.0.0.9:9".parse().expect("address"),
        _ => SocketAddr::new("::1".parse().expect("address"), remote.port()),
    }
}

fuzz_target!(|data: &[u8]| {
    let mut pair = Pair::connected().expect("the handshake must succeed on a perfect link");
    pair.capture = false;
    let mut input = Reader::new(data);
    for _ in 0..MAX_OPS {
        if input.is_empty() {
            break;
        }
        let op = input.u8();
        let to = if op & 0x80 == 0 { Which::B } else { Which::A };
        let remote = match to {
            Which::A => pair.b.addr,
            Which::B => pair.a.addr,
        };
        let from = source(remote, op >> 4);
        // Datagrams the real remote sent to the target during the handshake.
        let captured = match to {
            Which::A => &pair.b.captured,
            Which::B => &pair.a.captured,
        };
        let pick = |index: u8| {
            captured
                .get(usize::from(index) % captured.len().max(1))
                .cloned()
                .unwrap_or_default()
        };
        match op & 0x0F {
            0..=7 => {
                let bytes = input.chunk().to_vec();
                pair.inject(to, from, &bytes);
            }
            8 | 9 => {
                let bytes = pick(input.u8());
                pair.inject(to, from, &bytes);
            }
            10 | 11 => {
                let mut bytes = pick(input.u8());
                let position = usize::from(input.u16());
                let flip = input.u8();
                if let Some(len) = std::num::NonZeroUsize::new(bytes.len()) {
                    bytes[position % len] ^= flip;
                }
                pair.inject(to, from, &bytes);
            }
            12 | 13 => {
                let mut bytes = pick(input.u8());
                bytes.truncate(usize::from(input.u16()));
                pair.inject(to, from, &bytes);
            }
            _ => {
                let millis = u64::from(input.u8()) * 20;
                pair.run_for(Duration::from_millis(millis), |_| false);
            }
        }
    }
    pair.run_for(Duration::from_millis(200), |_| false);

    if !(pair.a.is_usable() && pair.b.is_usable()) {
        if std::env::var_os("RTCPEER_FUZZ_STRICT").is_some() {
            panic!(
                "the input took the connection down: a {:?}, b {:?}",
                pair.a.pc.connection_state(),
                pair.b.pc.connection_state()
            );
        }
        return;
    }
    let to_b = DataChannelMessage::Text("after the storm, a to b".into());
    let to_a = DataChannelMessage::Binary(b"after the storm, b to a".to_vec());
    let (a_channel, b_channel) = (
        pair.a.channel.expect("a's channel"),
        pair.b.channel.expect("b's channel"),
    );
    pair.a.pc.send(a_channel, &to_b).expect("a can send on an open channel");
    pair.b.pc.send(b_channel, &to_a).expect("b can send on an open channel");
    let delivered = pair.run_for(Duration::from_secs(10), |p| {
        p.b.messages().any(|m| *m == to_b) && p.a.messages().any(|m| *m == to_a)
    });
    assert!(
        delivered,
        "a connected pair with open channels did not deliver: a {:?}, b {:?}",
        pair.a.pc.connection_state(),
        pair.b.pc.connection_state()
    );
});
