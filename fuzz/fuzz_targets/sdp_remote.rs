//! Fuzzes `set_remote_description` with arbitrary text. The first byte picks
//! the situation: 0x01 gives the rest as an answer to a connection with a
//! local offer (one data channel); 0x00 gives the rest, and any other byte the
//! whole input, as an offer to a fresh connection (so plain SDP files are
//! seeds as they are).
//! The call must return Ok or a typed error and never panic; on error the
//! signaling state and the remote description are as before; on success the
//! state moves as the W3C specification says, and an accepted offer can be
//! answered with a description that parses and applies.
#![no_main]

use std::time::Instant;

use libfuzzer_sys::fuzz_target;
use rtcpeer_fuzz::sim::{certificates, new_peer};
use rtcpeer_proto::datachannel::DataChannelInit;
use rtcpeer_proto::peer::{SessionDescriptionInit, SignalingState};
use rtcpeer_proto::sdp::SessionDescription;

fuzz_target!(|data: &[u8]| {
    let (as_answer, rest) = match data.split_first() {
        Some((0, rest)) => (false, rest),
        Some((1, rest)) => (true, rest),
        _ => (false, data),
    };
    let text = String::from_utf8_lossy(rest).into_owned();
    let now = Instant::now();
    let mut pc = new_peer(&certificates().0, now);
    pc.add_local_address("127.0.0.1:10000".parse().expect("address"));

    if !as_answer {
        match pc.set_remote_description(now, SessionDescriptionInit::offer(text)) {
            Err(_) => {
                assert_eq!(
                    pc.signaling_state(),
                    SignalingState::Stable,
                    "a rejected offer changed the state"
                );
                assert!(pc.remote_description().is_none(), "a rejected offer was kept");
            }
            Ok(()) => {
                assert_eq!(pc.signaling_state(), SignalingState::HaveRemoteOffer);
                assert!(pc.remote_description().is_some());
                if let Ok(answer) = pc.create_answer() {
                    SessionDescription::parse(&answer.sdp).expect("our answer must parse");
                    pc.set_local_description(now, Some(answer))
                        .expect("our own answer must apply");
                    assert_eq!(pc.signaling_state(), SignalingState::Stable);
                }
            }
        }
    } else {
        pc.create_data_channel("fuzz", DataChannelInit::default())
            .expect("create_data_channel");
        let offer = pc.create_offer().expect("create_offer");
        pc.set_local_description(now, Some(offer))
            .expect("set_local_description");
        match pc.set_remote_description(now, SessionDescriptionInit::answer(text)) {
            Err(_) => {
                assert_eq!(
                    pc.signaling_state(),
                    SignalingState::HaveLocalOffer,
                    "a rejected answer changed the state"
                );
                assert!(pc.remote_description().is_none(), "a rejected answer was kept");
            }
            Ok(()) => assert_eq!(pc.signaling_state(), SignalingState::Stable),
        }
    }
    // Time passing after whatever happened must not panic either.
    pc.handle_timeout(now + std::time::Duration::from_secs(1));
    while pc.poll_transmit().is_some() {}
    while pc.poll_event().is_some() {}
});
