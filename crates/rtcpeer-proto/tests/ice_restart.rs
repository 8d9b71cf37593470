//! ICE restart between two sans-IO peers on the simulated network: `restartIce()` and
//! `createOffer({iceRestart})` semantics (webrtc-pc checklist O11–O13), gathering again (I3), and
//! data channels and tracks living through a restart, also after a peer moved to a new address.

mod common;

use std::time::Duration;

use common::{connect_with_channel, connection_states, ice_states, received, LinkConditions, Sim};
use rtcpeer_proto::datachannel::{ChannelId, DataChannelInit, DataChannelMessage};
use rtcpeer_proto::jsep::Codec;
use rtcpeer_proto::peer::{
    IceConnectionState, IceGatheringState, MediaFrame, OfferOptions, PeerConnectionState, PeerEvent, SdpType,
    SessionDescriptionInit, SignalingState, TrackInit,
};

/// The value of the first `a=NAME:` line of an SDP.
fn attribute(sdp: &str, name: &str) -> String {
    let prefix = format!("a={name}:");
    sdp.lines()
        .find_map(|l| l.strip_prefix(prefix.as_str()))
        .unwrap_or_else(|| panic!("no a={name} in {sdp}"))
        .to_string()
}

fn ufrag(desc: &SessionDescriptionInit) -> String {
    attribute(&desc.sdp, "ice-ufrag")
}

fn pwd(desc: &SessionDescriptionInit) -> String {
    attribute(&desc.sdp, "ice-pwd")
}

/// (a's local ufrag, b's local ufrag).
fn local_ufrags(sim: &Sim) -> (String, String) {
    (
        ufrag(&sim.a.pc.local_description().expect("a's local description")),
        ufrag(&sim.b.pc.local_description().expect("b's local description")),
    )
}

fn negotiation_needed(events: &[PeerEvent]) -> usize {
    events.iter().filter(|e| **e == PeerEvent::NegotiationNeeded).count()
}

/// A numbered binary message of a few hundred to a few thousand bytes.
fn message(tag: u8, i: usize) -> DataChannelMessage {
    let len = 300 + (i * 977) % 4000;
    DataChannelMessage::Binary((0..len).map(|j| (j as u8) ^ tag ^ (i as u8)).collect())
}

/// Sends `count` messages each way, numbered from `from`; returns what was sent (a→b, b→a).
fn send_both_ways(
    sim: &mut Sim,
    channels: (ChannelId, ChannelId),
    from: usize,
    count: usize,
) -> (Vec<DataChannelMessage>, Vec<DataChannelMessage>) {
    let (mut to_b, mut to_a) = (Vec::new(), Vec::new());
    for i in from..from + count {
        let m = message(0xA0, i);
        sim.a.pc.send(channels.0, &m).expect("a sends");
        to_b.push(m);
        let m = message(0xB0, i);
        sim.b.pc.send(channels.1, &m).expect("b sends");
        to_a.push(m);
    }
    (to_b, to_a)
}

/// The offerer (a, or b when `from_b`) restarts ICE by offer/answer, one step at a time,
/// calling `between` after each step (with a little network time before it).
fn restart_in_steps(sim: &mut Sim, from_b: bool, mut between: impl FnMut(&mut Sim)) {
    let step = Duration::from_millis(40);
    let now = sim.now;
    let offer = if from_b { &mut sim.b } else { &mut sim.a }.set_offer(now, OfferOptions { ice_restart: true });
    sim.run_until(step, |_| false);
    between(sim);
    let now = sim.now;
    let answer = if from_b { &mut sim.a } else { &mut sim.b }.answer(now, offer);
    sim.run_until(step, |_| false);
    between(sim);
    let offerer = if from_b { &mut sim.b } else { &mut sim.a };
    offerer.pc.set_remote_description(sim.now, answer).expect("srd answer");
    sim.run_until(step, |_| false);
    between(sim);
}

#[test]
fn o11_restart_ice_gives_the_next_offer_new_credentials() {
    let mut sim = Sim::new(1, LinkConditions::perfect());
    connect_with_channel(&mut sim, DataChannelInit::default());
    let current = sim.a.pc.local_description().expect("local description");
    // Without a restart, a new offer keeps the credentials.
    let plain = sim.a.pc.create_offer().expect("offer");
    assert_eq!((ufrag(&plain), pwd(&plain)), (ufrag(&current), pwd(&current)));

    sim.a.pc.restart_ice();
    let restarted = sim.a.pc.create_offer().expect("offer");
    assert_ne!(ufrag(&restarted), ufrag(&current));
    assert_ne!(pwd(&restarted), pwd(&current));
    // restartIce() overrides {iceRestart: false}.
    let overridden = sim
        .a
        .pc
        .create_offer_with(OfferOptions { ice_restart: false })
        .expect("offer");
    assert_ne!(ufrag(&overridden), ufrag(&current));
}

#[test]
fn o11_d32_a_parameterless_sld_after_restart_ice_offers_new_credentials() {
    let mut sim = Sim::new(1, LinkConditions::perfect());
    connect_with_channel(&mut sim, DataChannelInit::default());
    let current = sim.a.pc.local_description().expect("local description");
    // An offer created before restartIce() is [[LastCreatedOffer]], but no longer valid: the
    // parameterless setLocalDescription() must make a new one with new credentials.
    let plain = sim.a.pc.create_offer().expect("offer");
    assert_eq!(ufrag(&plain), ufrag(&current));
    sim.a.pc.restart_ice();
    sim.a.pc.set_local_description(sim.now, None).expect("sld");
    let applied = sim.a.pc.local_description().expect("local description");
    assert_ne!(ufrag(&applied), ufrag(&current));
    assert_ne!(pwd(&applied), pwd(&current));
}

#[test]
fn o11_the_ice_restart_option_gives_an_offer_new_credentials() {
    let mut sim = Sim::new(2, LinkConditions::perfect());
    connect_with_channel(&mut sim, DataChannelInit::default());
    let current = sim.a.pc.local_description().expect("local description");
    let offer = sim
        .a
        .pc
        .create_offer_with(OfferOptions { ice_restart: true })
        .expect("offer");
    assert_ne!(ufrag(&offer), ufrag(&current));
    assert_ne!(pwd(&offer), pwd(&current));
    // The option is not remembered: a later plain offer keeps the current credentials.
    let plain = sim.a.pc.create_offer().expect("offer");
    assert_eq!(ufrag(&plain), ufrag(&current));
    // The option alone fires no negotiationneeded.
    assert_eq!(negotiation_needed(&sim.a.take_events()), 0);
}

#[test]
fn o12_restart_ice_before_the_first_negotiation_has_no_effect() {
    let mut sim = Sim::new(3, LinkConditions::perfect());
    sim.a.pc.restart_ice();
    assert_eq!(
        negotiation_needed(&sim.a.take_events()),
        0,
        "no negotiationneeded before negotiating"
    );
    let channel = sim
        .a
        .pc
        .create_data_channel("chat", DataChannelInit::default())
        .expect("channel");
    assert_eq!(negotiation_needed(&sim.a.take_events()), 1);
    let first = sim.a.pc.create_offer().expect("first offer");
    sim.negotiate();
    assert!(sim.run_until(Duration::from_secs(10), |s| s.connected()
        && s.a.events.contains(&PeerEvent::ChannelOpen(channel))));
    // The first offer was not a restart, and nothing is pending after it.
    assert_eq!(ufrag(&sim.a.pc.local_description().expect("local")), ufrag(&first));
    assert_eq!(negotiation_needed(&sim.a.take_events()), 0);
    assert!(!sim.a.pc.ice_restart_pending());
    let next = sim.a.pc.create_offer().expect("offer");
    assert_eq!(ufrag(&next), ufrag(&first));
}

#[test]
fn o12_restart_ice_after_negotiation_fires_negotiationneeded_once() {
    let mut sim = Sim::new(4, LinkConditions::perfect());
    connect_with_channel(&mut sim, DataChannelInit::default());
    sim.a.pc.restart_ice();
    sim.a.pc.restart_ice();
    assert_eq!(negotiation_needed(&sim.a.take_events()), 1);
    assert!(sim.a.pc.ice_restart_pending());
    let before = local_ufrags(&sim);
    sim.negotiate();
    assert!(sim.run_until(Duration::from_secs(5), |s| s.connected()));
    let after = local_ufrags(&sim);
    assert_ne!(after.0, before.0, "offerer's ufrag");
    assert_ne!(after.1, before.1, "answerer's ufrag");
    assert!(!sim.a.pc.ice_restart_pending());
    assert_eq!(
        negotiation_needed(&sim.a.take_events()),
        0,
        "the restart was negotiated"
    );
}

#[test]
fn o12_restart_ice_in_have_local_offer_fires_negotiationneeded_back_in_stable() {
    let mut sim = Sim::new(5, LinkConditions::perfect());
    connect_with_channel(&mut sim, DataChannelInit::default());
    let before = local_ufrags(&sim);
    let offer = sim.a.set_offer(sim.now, OfferOptions::default());
    sim.a.pc.restart_ice();
    assert_eq!(negotiation_needed(&sim.a.take_events()), 0, "not in stable");
    let answer = sim.b.answer(sim.now, offer);
    sim.a.pc.set_remote_description(sim.now, answer).expect("srd");
    assert_eq!(local_ufrags(&sim), before, "that offer was not a restart");
    assert_eq!(
        negotiation_needed(&sim.a.take_events()),
        1,
        "fired on returning to stable"
    );
    sim.negotiate();
    let after = local_ufrags(&sim);
    assert!(after.0 != before.0 && after.1 != before.1);
}

#[test]
fn o13_the_restart_survives_a_rollback() {
    let mut sim = Sim::new(6, LinkConditions::perfect());
    let channels = connect_with_channel(&mut sim, DataChannelInit::default());
    let before = local_ufrags(&sim);
    sim.a.pc.restart_ice();
    assert_eq!(negotiation_needed(&sim.a.take_events()), 1);
    let offer = sim.a.set_offer(sim.now, OfferOptions::default());
    assert_ne!(ufrag(&offer), before.0);
    sim.run_until(Duration::from_millis(50), |_| false);
    sim.a
        .pc
        .set_local_description(
            sim.now,
            Some(SessionDescriptionInit {
                kind: SdpType::Rollback,
                sdp: String::new(),
            }),
        )
        .expect("rollback");
    assert_eq!(sim.a.pc.signaling_state(), SignalingState::Stable);
    assert!(sim.a.pc.ice_restart_pending());
    assert_eq!(
        negotiation_needed(&sim.a.take_events()),
        1,
        "still needed after the rollback"
    );
    // The old path still works meanwhile.
    let (to_b, _) = send_both_ways(&mut sim, channels, 0, 3);
    sim.run_until(Duration::from_secs(2), |_| false);
    assert_eq!(received(&sim.b.events, channels.1), to_b);

    sim.negotiate();
    let after = local_ufrags(&sim);
    assert_ne!(after.0, before.0);
    assert_ne!(after.1, before.1);
    assert!(!sim.a.pc.ice_restart_pending());
    let (more, _) = send_both_ways(&mut sim, channels, 3, 3);
    assert!(sim.run_until(Duration::from_secs(5), |s| received(&s.b.events, channels.1).len() == 6));
    assert_eq!(received(&sim.b.events, channels.1)[3..], more[..]);
    assert!(sim.connected());
}

#[test]
fn o13_the_restart_survives_a_remote_offer() {
    let mut sim = Sim::new(7, LinkConditions::perfect());
    connect_with_channel(&mut sim, DataChannelInit::default());
    let before = local_ufrags(&sim);
    sim.a.pc.restart_ice();
    assert_eq!(negotiation_needed(&sim.a.take_events()), 1);
    // b offers first, without a restart: a's answer keeps its credentials...
    sim.negotiate_from_b();
    assert_eq!(local_ufrags(&sim), before, "the remote offer did not restart ICE");
    assert_eq!(sim.a.pc.signaling_state(), SignalingState::Stable);
    // ... and the restart is still wanted once stable again.
    assert!(sim.a.pc.ice_restart_pending());
    assert_eq!(negotiation_needed(&sim.a.take_events()), 1);
    sim.negotiate();
    let after = local_ufrags(&sim);
    assert!(after.0 != before.0 && after.1 != before.1);
    assert!(sim.run_until(Duration::from_secs(5), |s| s.connected()));
}

#[test]
fn o13_a_remote_restart_satisfies_restart_ice() {
    let mut sim = Sim::new(8, LinkConditions::perfect());
    connect_with_channel(&mut sim, DataChannelInit::default());
    let before = local_ufrags(&sim);
    sim.a.pc.restart_ice();
    assert_eq!(negotiation_needed(&sim.a.take_events()), 1);
    // b restarts ICE in its own offer: a's answer carries new credentials too.
    let offer = sim.b.set_offer(sim.now, OfferOptions { ice_restart: true });
    let answer = sim.a.answer(sim.now, offer);
    assert_ne!(ufrag(&answer), before.0, "the answer to a restart has new credentials");
    sim.b.pc.set_remote_description(sim.now, answer).expect("srd");
    assert!(
        !sim.a.pc.ice_restart_pending(),
        "the remote restart satisfied restartIce()"
    );
    assert_eq!(negotiation_needed(&sim.a.take_events()), 0);
    let after = local_ufrags(&sim);
    assert!(after.0 != before.0 && after.1 != before.1);
    // A later plain offer from a keeps the new credentials.
    assert_eq!(ufrag(&sim.a.pc.create_offer().expect("offer")), after.0);
    assert!(sim.run_until(Duration::from_secs(5), |s| s.connected()));
}

/// The gathering events after a restarting local description: `gathering`, candidates under the
/// new ufrag, the null candidate, `complete`.
fn assert_gathered_again(events: &[PeerEvent], new_ufrag: &str, who: &str) {
    let gathering: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            PeerEvent::IceGatheringStateChange(s) => Some(*s),
            _ => None,
        })
        .collect();
    assert_eq!(
        gathering,
        [IceGatheringState::Gathering, IceGatheringState::Complete],
        "{who}: {events:?}"
    );
    let candidates: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            PeerEvent::IceCandidate(c) => Some(c.clone()),
            _ => None,
        })
        .collect();
    let (last, gathered) = candidates.split_last().expect("candidates");
    assert_eq!(*last, None, "{who}: gathering ends with the null candidate");
    assert!(!gathered.is_empty(), "{who}: no candidate gathered again");
    for c in gathered {
        let c = c.as_ref().expect("a candidate before the null one");
        assert_eq!(c.username_fragment.as_deref(), Some(new_ufrag), "{who}");
    }
    // Gathering starts before the null candidate ends it.
    let position = |wanted: &PeerEvent| events.iter().position(|e| e == wanted).expect("event");
    assert!(
        position(&PeerEvent::IceGatheringStateChange(IceGatheringState::Gathering))
            < position(&PeerEvent::IceCandidate(None))
    );
}

#[test]
fn i3_a_restart_goes_through_gathering_to_complete_again_on_both_sides() {
    let mut sim = Sim::new(9, LinkConditions::perfect());
    connect_with_channel(&mut sim, DataChannelInit::default());
    assert_eq!(sim.a.pc.ice_gathering_state(), IceGatheringState::Complete);
    let offer = sim.a.set_offer(sim.now, OfferOptions { ice_restart: true });
    assert_gathered_again(&sim.a.take_events(), &ufrag(&offer), "offerer");
    // SRD changes no gathering state, even with a restart in it.
    sim.b.pc.set_remote_description(sim.now, offer).expect("srd");
    let events = sim.b.take_events();
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, PeerEvent::IceGatheringStateChange(_))),
        "{events:?}"
    );
    let answer = sim.b.pc.create_answer().expect("answer");
    sim.b
        .pc
        .set_local_description(sim.now, Some(answer.clone()))
        .expect("sld");
    assert_gathered_again(&sim.b.take_events(), &ufrag(&answer), "answerer");
    sim.a.pc.set_remote_description(sim.now, answer).expect("srd");
    assert_eq!(sim.a.pc.ice_gathering_state(), IceGatheringState::Complete);
    // The local description lists the new candidates.
    let local = sim.a.pc.local_description().expect("local");
    assert!(local.sdp.contains("a=candidate:") && local.sdp.contains("a=end-of-candidates"));
    assert!(sim.run_until(Duration::from_secs(5), |s| s.connected()));
}

/// A restart from `from_b`'s side while both sides keep sending; everything arrives byte-exact,
/// the connection never leaves `connected` and neither DTLS nor the channel starts over.
fn restart_keeps_the_channel(seed: u64, from_b: bool) {
    let mut sim = Sim::new(seed, LinkConditions::perfect());
    let channels = connect_with_channel(&mut sim, DataChannelInit::default());
    let marks = (sim.a.events.len(), sim.b.events.len());
    let before = local_ufrags(&sim);
    let pairs_before = (
        sim.a.pc.ice_stats().selected_pair_changes,
        sim.b.pc.ice_stats().selected_pair_changes,
    );
    let (mut to_b, mut to_a) = send_both_ways(&mut sim, channels, 0, 10);
    let mut next = 10;
    restart_in_steps(&mut sim, from_b, |sim| {
        let (b, a) = send_both_ways(sim, channels, next, 5);
        next += 5;
        to_b.extend(b);
        to_a.extend(a);
    });
    let (b, a) = send_both_ways(&mut sim, channels, next, 10);
    to_b.extend(b);
    to_a.extend(a);
    let done = sim.run_until(Duration::from_secs(10), |s| {
        received(&s.b.events, channels.1).len() == to_b.len() && received(&s.a.events, channels.0).len() == to_a.len()
    });
    assert!(done, "messages missing");
    assert_eq!(received(&sim.b.events, channels.1), to_b, "a → b");
    assert_eq!(received(&sim.a.events, channels.0), to_a, "b → a");

    let after = local_ufrags(&sim);
    assert!(after.0 != before.0 && after.1 != before.1, "{before:?} → {after:?}");
    assert_eq!(sim.a.pc.ice_stats().restarts, 1);
    for (peer, mark) in [(&sim.a, marks.0), (&sim.b, marks.1)] {
        let events = &peer.events[mark..];
        // ICE stays up (`completed` goes back to `connected` while the new checks run).
        let states = ice_states(events);
        assert!(
            states
                .iter()
                .all(|s| matches!(s, IceConnectionState::Connected | IceConnectionState::Completed)),
            "{}: {states:?}",
            peer.name
        );
        assert!(connection_states(events).is_empty(), "{}", peer.name);
        // No second open, no new channel: DTLS and SCTP went on as they were.
        assert!(!events.iter().any(|e| matches!(
            e,
            PeerEvent::ChannelOpen(_) | PeerEvent::DataChannel(_) | PeerEvent::ChannelClose(_)
        )));
    }
    assert!(sim.connected());
    // And it stays up: consent now runs under the new credentials.
    sim.run_until(Duration::from_secs(15), |_| false);
    assert!(sim.connected());
    // The new generation selected its own pair on both sides.
    assert!(
        sim.a.pc.ice_stats().selected_pair_changes > pairs_before.0,
        "{:?}",
        sim.a.pc.ice_stats()
    );
    assert!(sim.b.pc.ice_stats().selected_pair_changes > pairs_before.1);
}

#[test]
fn a_restart_by_the_offerer_keeps_the_connection_and_the_channel() {
    restart_keeps_the_channel(10, false);
}

#[test]
fn a_restart_by_the_answerer_keeps_the_connection_and_the_channel() {
    restart_keeps_the_channel(11, true);
}

#[test]
fn a_track_keeps_flowing_across_a_restart() {
    let mut sim = Sim::new(12, LinkConditions::perfect());
    let track = TrackInit {
        id: "camera".into(),
        codec: Codec::Vp8,
        stream_ids: vec!["stream".into()],
    };
    let id = sim.a.pc.add_track(track).expect("add_track");
    sim.negotiate();
    assert!(sim.run_until(Duration::from_secs(10), |s| s.connected()));
    let mut sent = Vec::new();
    let mut write = |sim: &mut Sim, count: usize| {
        for _ in 0..count {
            let i = sent.len();
            let data: Vec<u8> = (0..1500 + i * 13).map(|j| (j ^ i) as u8).collect();
            let mut frame = data.clone();
            frame[0] = if i % 30 == 0 { 0x00 } else { 0x01 };
            let media = MediaFrame {
                data: frame.clone().into(),
                pts: Duration::from_millis(33 * i as u64),
            };
            let now = sim.now;
            sim.a.pc.write_frame(now, id, &media).expect("write_frame");
            sent.push(frame);
            sim.run_until(Duration::from_millis(33), |_| false);
        }
    };
    write(&mut sim, 30);
    sim.a.pc.restart_ice();
    let offer = sim.a.set_offer(sim.now, OfferOptions::default());
    write(&mut sim, 10);
    let answer = sim.b.answer(sim.now, offer);
    write(&mut sim, 10);
    sim.a.pc.set_remote_description(sim.now, answer).expect("srd");
    write(&mut sim, 30);
    sim.run_until(Duration::from_secs(1), |_| false);
    let got: Vec<Vec<u8>> = sim
        .b
        .events
        .iter()
        .filter_map(|e| match e {
            PeerEvent::Frame(_, f) => Some(f.data.to_vec()),
            _ => None,
        })
        .collect();
    assert_eq!(got.len(), sent.len(), "frames lost across the restart");
    assert!(got == sent, "frames differ");
    // One track event: the restart did not renegotiate the track.
    let tracks = sim
        .b
        .events
        .iter()
        .filter(|e| matches!(e, PeerEvent::Track { .. }))
        .count();
    assert_eq!(tracks, 1);
    assert_eq!(sim.b.pc.media_counters().srtp_auth_failures, 0);
}

#[test]
fn a_restart_after_an_address_change_reconnects_over_the_new_address() {
    let mut sim = Sim::new(13, LinkConditions::perfect());
    let channels = connect_with_channel(&mut sim, DataChannelInit::default());
    let (_, old_b) = sim.a.pc.selected_candidate_pair().expect("selected pair");
    assert_eq!(old_b, sim.b.addr);
    // b's network changes: its old address is gone.
    sim.move_peer(false, "127.0.0.3:20002");
    let cut = sim.now;
    let (to_b, to_a) = send_both_ways(&mut sim, channels, 0, 5);
    // Consent on the old path fails: both sides report disconnected.
    let down = sim.run_until(Duration::from_secs(10), |s| {
        s.a.pc.ice_connection_state() == IceConnectionState::Disconnected
            && s.b.pc.ice_connection_state() == IceConnectionState::Disconnected
    });
    assert!(
        down,
        "a {:?}, b {:?}",
        sim.a.pc.ice_connection_state(),
        sim.b.pc.ice_connection_state()
    );
    // The side that moved restarts ICE (as an application does on a network change).
    sim.b.pc.restart_ice();
    assert_eq!(negotiation_needed(&sim.b.take_events()), 1);
    sim.negotiate_from_b();
    let up = sim.run_until(Duration::from_secs(10), |s| {
        s.connected()
            && received(&s.b.events, channels.1).len() == to_b.len()
            && received(&s.a.events, channels.0).len() == to_a.len()
    });
    assert!(
        up,
        "a {:?}, b {:?}",
        sim.a.pc.ice_connection_state(),
        sim.b.pc.ice_connection_state()
    );
    assert!(sim.now - cut < Duration::from_secs(20));
    let (_, new_b) = sim.a.pc.selected_candidate_pair().expect("selected pair");
    assert_eq!(new_b, "127.0.0.3:20002".parse().expect("address"));
    // The description b signalled no longer names the old address.
    let b_local = sim.b.pc.local_description().expect("b's local description");
    assert!(!b_local.sdp.contains("127.0.0.2 20000"), "{}", b_local.sdp);
    assert_eq!(received(&sim.b.events, channels.1), to_b);
    assert_eq!(received(&sim.a.events, channels.0), to_a);
    // The channel carries on over the new path.
    let (more_b, more_a) = send_both_ways(&mut sim, channels, 5, 5);
    assert!(
        sim.run_until(Duration::from_secs(5), |s| received(&s.b.events, channels.1).len()
            == 10
            && received(&s.a.events, channels.0).len() == 10)
    );
    assert_eq!(received(&sim.b.events, channels.1)[5..], more_b[..]);
    assert_eq!(received(&sim.a.events, channels.0)[5..], more_a[..]);
    // webrtc-pc (and Chromium): a restart takes `disconnected` to `checking`.
    for peer in [&sim.a, &sim.b] {
        let states = ice_states(&peer.events);
        let down = states
            .iter()
            .rposition(|s| *s == IceConnectionState::Disconnected)
            .expect("disconnected");
        assert_eq!(
            states.get(down + 1),
            Some(&IceConnectionState::Checking),
            "{}: {states:?}",
            peer.name
        );
        assert!(
            matches!(
                states.last(),
                Some(IceConnectionState::Connected | IceConnectionState::Completed)
            ),
            "{}: {states:?}",
            peer.name
        );
    }
    assert!(!sim.a.events.iter().any(|e| matches!(e, PeerEvent::ChannelClose(_))));
}

#[test]
fn a_restart_after_consent_expired_brings_the_connection_back() {
    let mut sim = Sim::new(14, LinkConditions::perfect());
    let channels = connect_with_channel(&mut sim, DataChannelInit::default());
    sim.link.loss = 1.0;
    let failed = sim.run_until(Duration::from_secs(40), |s| {
        s.a.pc.connection_state() == PeerConnectionState::Failed
            && s.b.pc.connection_state() == PeerConnectionState::Failed
    });
    assert!(failed);
    sim.link.loss = 0.0;
    // Failed stays failed on its own ...
    sim.run_until(Duration::from_secs(5), |_| false);
    assert_eq!(sim.a.pc.ice_connection_state(), IceConnectionState::Failed);
    let mark = (sim.a.events.len(), sim.b.events.len());
    // ... until ICE restarts.
    sim.a.pc.restart_ice();
    sim.negotiate();
    assert!(
        sim.run_until(Duration::from_secs(10), |s| s.connected()),
        "a {:?}, b {:?}",
        sim.a.pc.connection_state(),
        sim.b.pc.connection_state()
    );
    for (peer, mark) in [(&sim.a, mark.0), (&sim.b, mark.1)] {
        let events = &peer.events[mark..];
        assert_eq!(
            connection_states(events),
            [PeerConnectionState::Connecting, PeerConnectionState::Connected],
            "{}",
            peer.name
        );
        assert_eq!(
            ice_states(events).first(),
            Some(&IceConnectionState::Checking),
            "{}",
            peer.name
        );
    }
    let (to_b, to_a) = send_both_ways(&mut sim, channels, 0, 5);
    assert!(
        sim.run_until(Duration::from_secs(30), |s| received(&s.b.events, channels.1) == to_b
            && received(&s.a.events, channels.0) == to_a)
    );
}

#[test]
fn an_answer_to_a_re_offer_keeps_the_dtls_role() {
    let mut sim = Sim::new(15, LinkConditions::perfect());
    connect_with_channel(&mut sim, DataChannelInit::default());
    // a offered actpass and b answered active: b is the DTLS client, a the server.
    let first_answer = sim.b.pc.local_description().expect("b's answer");
    assert_eq!(attribute(&first_answer.sdp, "setup"), "active");
    // b re-offers (restarting ICE): a's answer must keep a the server (RFC 8842), or the
    // peer would see a DTLS role change it cannot make on a live association.
    let offer = sim.b.set_offer(sim.now, OfferOptions { ice_restart: true });
    let answer = sim.a.answer(sim.now, offer);
    assert_eq!(attribute(&answer.sdp, "setup"), "passive");
    sim.b.pc.set_remote_description(sim.now, answer).expect("srd");
    assert!(sim.run_until(Duration::from_secs(5), |s| s.connected()));
}
