//! Consent freshness (RFC 7675) between two sans-IO peers on the simulated network: a cut link
//! makes ICE `disconnected` 5 to 8 s later and `failed` 30 s after the last answer, as in
//! browsers; a link restored before that brings `connected` back with the data channel intact;
//! the timers come from `PeerConfig::ice_timing`.

mod common;

use std::time::Duration;

use common::{connect_with_channel, connection_states, received, LinkConditions, Sim};
use rtcpeer_proto::datachannel::{ChannelId, DataChannelInit, DataChannelMessage};
use rtcpeer_proto::ice::IceTiming;
use rtcpeer_proto::peer::{IceConnectionState, PeerConfig, PeerConnectionState};

/// Connects a and b with one channel opened by a and lets consent settle into its rhythm;
/// returns (a's channel, b's channel).
fn connect_and_settle(sim: &mut Sim) -> (ChannelId, ChannelId) {
    let channels = connect_with_channel(sim, DataChannelInit::default());
    sim.run_until(Duration::from_secs(7), |_| false);
    assert!(sim.connected());
    channels
}

fn cut(sim: &mut Sim) {
    sim.link.loss = 1.0;
}

fn restore(sim: &mut Sim) {
    sim.link.loss = 0.0;
}

/// How long after now each peer takes to reach `state` (`None` if not within `limit`).
fn time_to(sim: &mut Sim, state: IceConnectionState, limit: Duration) -> (Option<Duration>, Option<Duration>) {
    let begin = sim.now;
    let (mut a, mut b) = (None, None);
    sim.run_until(limit, |s| {
        if a.is_none() && s.a.pc.ice_connection_state() == state {
            a = Some(s.now - begin);
        }
        if b.is_none() && s.b.pc.ice_connection_state() == state {
            b = Some(s.now - begin);
        }
        a.is_some() && b.is_some()
    });
    (a, b)
}

#[test]
fn a_cut_link_disconnects_after_5_to_8_s_and_fails_30_s_after_the_last_answer() {
    let mut sim = Sim::new(1, LinkConditions::perfect());
    connect_and_settle(&mut sim);
    cut(&mut sim);
    let cut_at = sim.now;
    let (a, b) = time_to(&mut sim, IceConnectionState::Disconnected, Duration::from_secs(20));
    for (who, took) in [("a", a), ("b", b)] {
        let took = took.unwrap_or_else(|| panic!("{who} never disconnected"));
        // 5 s after the first unanswered consent check, which goes out within one randomized
        // interval (2.5 s × 1.2) of the cut (or just before it, one round trip at most, if its
        // answer was on the wire when the link went down).
        assert!(
            took >= Duration::from_millis(4990) && took <= Duration::from_millis(8000),
            "{who}: disconnected {took:?} after the cut"
        );
    }
    assert_eq!(sim.a.pc.connection_state(), PeerConnectionState::Disconnected);
    let (a, b) = time_to(&mut sim, IceConnectionState::Failed, Duration::from_secs(40));
    for (who, took) in [("a", a), ("b", b)] {
        assert!(took.is_some(), "{who} never failed");
    }
    // Consent expires 30 s after the last answer, which came at most one interval before the cut.
    let total = sim.now - cut_at;
    assert!(
        total >= Duration::from_secs(27) && total <= Duration::from_secs(30),
        "failed {total:?} after the cut"
    );
    assert_eq!(sim.a.pc.connection_state(), PeerConnectionState::Failed);
    assert_eq!(sim.b.pc.connection_state(), PeerConnectionState::Failed);
    assert_eq!(sim.a.pc.selected_candidate_pair(), None);
    // Failed is final without a restart, even when the link comes back.
    restore(&mut sim);
    sim.run_until(Duration::from_secs(10), |_| false);
    assert_eq!(sim.a.pc.ice_connection_state(), IceConnectionState::Failed);
}

#[test]
fn a_link_restored_before_failure_brings_connected_back_and_the_data_through() {
    let mut sim = Sim::new(2, LinkConditions::perfect());
    let channels = connect_and_settle(&mut sim);
    let mark = sim.a.events.len();
    cut(&mut sim);
    // Sent into the outage: SCTP keeps them until the path is back.
    let sent: Vec<DataChannelMessage> = (0..5u8)
        .map(|i| DataChannelMessage::Binary(vec![i; 1000 + usize::from(i) * 300]))
        .collect();
    for m in &sent {
        sim.a.pc.send(channels.0, m).expect("send");
    }
    let (a, b) = time_to(&mut sim, IceConnectionState::Disconnected, Duration::from_secs(20));
    assert!(a.is_some() && b.is_some());
    sim.run_until(Duration::from_secs(10), |_| false);
    assert_eq!(sim.a.pc.ice_connection_state(), IceConnectionState::Disconnected);
    assert!(received(&sim.b.events, channels.1).is_empty());
    restore(&mut sim);
    let restored_at = sim.now;
    let up = |s: IceConnectionState| matches!(s, IceConnectionState::Connected | IceConnectionState::Completed);
    let back = sim.run_until(Duration::from_secs(10), |s| {
        up(s.a.pc.ice_connection_state()) && up(s.b.pc.ice_connection_state())
    });
    assert!(back, "not connected again");
    // The next consent check (within 3 s) is answered.
    assert!(
        sim.now - restored_at <= Duration::from_secs(3),
        "{:?}",
        sim.now - restored_at
    );
    assert_eq!(sim.a.pc.connection_state(), PeerConnectionState::Connected);
    let resumed = sim.run_until(Duration::from_secs(30), |s| {
        received(&s.b.events, channels.1).len() == sent.len()
    });
    assert!(resumed, "data did not resume");
    assert_eq!(received(&sim.b.events, channels.1), sent);
    assert_eq!(
        connection_states(&sim.a.events[mark..]),
        [PeerConnectionState::Disconnected, PeerConnectionState::Connected]
    );
}

#[test]
fn configured_consent_timers_are_honoured() {
    let config = PeerConfig {
        ice_timing: IceTiming {
            consent_interval: Duration::from_millis(500),
            disconnected_timeout: Duration::from_secs(1),
            failed_timeout: Duration::from_secs(4),
        },
        ..PeerConfig::default()
    };
    let mut sim = Sim::with_config(3, LinkConditions::perfect(), config);
    connect_and_settle(&mut sim);
    cut(&mut sim);
    let cut_at = sim.now;
    let (a, b) = time_to(&mut sim, IceConnectionState::Disconnected, Duration::from_secs(5));
    for (who, took) in [("a", a), ("b", b)] {
        let took = took.unwrap_or_else(|| panic!("{who} never disconnected"));
        assert!(
            // 1 s after the first unanswered check, which goes out up to 600 ms (500 ms ×1.2)
            // after the cut; the rest is the simulator's step.
            took >= Duration::from_millis(990) && took <= Duration::from_millis(1700),
            "{who}: {took:?}"
        );
    }
    let (a, b) = time_to(&mut sim, IceConnectionState::Failed, Duration::from_secs(10));
    assert!(a.is_some() && b.is_some());
    let total = sim.now - cut_at;
    assert!(
        // 4 s after the last answer, which came up to 600 ms before the cut.
        total >= Duration::from_millis(3300) && total <= Duration::from_millis(4100),
        "{total:?}"
    );
}
