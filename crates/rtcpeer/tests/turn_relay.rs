//! ICE through a real coturn on loopback: relayed candidates over UDP and TCP to the server,
//! server-reflexive gathering, and what wrong credentials do.

mod common;
#[path = "common/coturn.rs"]
mod coturn;

use std::time::Duration;

use common::{negotiate, next_message, open_both, pump, wait_for, Seen, LOOPBACK};
use coturn::{gather, relay_config, Coturn, PASS};
use rtcpeer::{
    DataChannelInit, DataChannelMessage, IceTransportPolicy, PeerConnectionEvent, PeerConnectionState,
    RTCConfiguration, RTCIceServer, RTCPeerConnection,
};
use rtcpeer_proto::ice::CandidateKind;
use tokio::time::timeout;

/// A loopback connection using `url` with the given credential.
async fn peer(url: String, credential: &str, policy: IceTransportPolicy) -> RTCPeerConnection {
    let mut config = RTCConfiguration {
        ice_transport_policy: policy,
        ..relay_config(url, Vec::new())
    };
    config.ice_servers[0].credential = Some(credential.into());
    RTCPeerConnection::new(config).await.expect("a connection")
}

/// The candidate types signalled in `log`.
fn candidate_types(log: &[Seen]) -> Vec<String> {
    log.iter()
        .filter_map(|s| match s {
            Seen::Candidate(Some(c)) => c.candidate.split(" typ ").nth(1)?.split(' ').next().map(str::to_string),
            _ => None,
        })
        .collect()
}

/// Two relay-only peers through `url`: connect, exchange messages, check the selected pair.
async fn relay_only_pair(url: String) {
    let mut offerer = peer(url.clone(), PASS, IceTransportPolicy::Relay).await;
    let mut answerer = peer(url, PASS, IceTransportPolicy::Relay).await;
    let mut offerer_channel = offerer
        .create_data_channel("relay", DataChannelInit::default())
        .await
        .unwrap();
    negotiate(&offerer, &answerer).await;
    let (mut offerer_seen, _) = pump(&mut offerer, &answerer);
    let (mut answerer_seen, mut answerer_channels) = pump(&mut answerer, &offerer);

    let mut log = wait_for(&mut offerer_seen, Seen::Gathering("complete".into())).await;
    log.extend(wait_for(&mut offerer_seen, Seen::Connection(PeerConnectionState::Connected)).await);
    let answerer_log = wait_for(&mut answerer_seen, Seen::Gathering("complete".into())).await;
    // Relay-only: exactly one relayed candidate each, nothing else signalled.
    assert_eq!(candidate_types(&log), ["relay"], "{log:?}");
    assert_eq!(candidate_types(&answerer_log), ["relay"], "{answerer_log:?}");
    assert!(!log.iter().any(|s| matches!(s, Seen::CandidateError(_))), "{log:?}");

    let mut answerer_channel = open_both(&mut offerer_channel, &mut answerer_channels).await;
    let big: Vec<u8> = (0..20_000u32).map(|i| (i * 7 % 251) as u8).collect();
    for message in [
        DataChannelMessage::Text("through the relay".into()),
        DataChannelMessage::Binary(big.clone()),
    ] {
        offerer_channel.send_message(message.clone()).await.unwrap();
        assert_eq!(next_message(&mut answerer_channel).await, message);
    }
    answerer_channel.send(&[0, 1, 2, 255]).await.unwrap();
    assert_eq!(
        next_message(&mut offerer_channel).await,
        DataChannelMessage::Binary(vec![0, 1, 2, 255])
    );

    for pc in [&offerer, &answerer] {
        let (local, remote) = pc.selected_candidate_pair().await.unwrap().expect("a selected pair");
        assert_eq!(local.kind, CandidateKind::Relay, "local {local}");
        assert_eq!(remote.kind, CandidateKind::Relay, "remote {remote}");
        // Relayed addresses are on the server's relay IP, not our socket.
        let sockets = pc.local_addresses().await.unwrap();
        assert!(!sockets.contains(&local.socket_addr().unwrap()));
    }
    offerer.close().await;
    answerer.close().await;
}

#[tokio::test]
async fn relay_only_peers_connect_through_coturn_over_udp() {
    let server = Coturn::start();
    let url = format!("turn:{}?transport=udp", server.addr());
    timeout(Duration::from_secs(20), relay_only_pair(url))
        .await
        .unwrap_or_else(|_| panic!("timed out; coturn log:\n{}", server.log()));
}

#[tokio::test]
async fn relay_only_peers_connect_through_coturn_over_tcp() {
    let server = Coturn::start();
    let url = format!("turn:{}?transport=tcp", server.addr());
    timeout(Duration::from_secs(20), relay_only_pair(url))
        .await
        .unwrap_or_else(|_| panic!("timed out; coturn log:\n{}", server.log()));
}

fn kinds(events: &[PeerConnectionEvent]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            PeerConnectionEvent::IceCandidate(Some(c)) => {
                c.candidate.split(" typ ").nth(1)?.split(' ').next().map(str::to_string)
            }
            _ => None,
        })
        .collect()
}

fn errors(events: &[PeerConnectionEvent]) -> Vec<(u16, String)> {
    events
        .iter()
        .filter_map(|e| match e {
            PeerConnectionEvent::IceCandidateError { error_code, url, .. } => Some((*error_code, url.clone())),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn stun_on_loopback_finds_the_host_address_and_signals_no_srflx() {
    let server = Coturn::start();
    let mut pc = peer(format!("stun:{}", server.addr()), PASS, IceTransportPolicy::All).await;
    let started = std::time::Instant::now();
    let events = gather(&mut pc).await;
    // On loopback the server sees our host address: the srflx candidate is redundant and
    // dropped, as a browser does; the Binding succeeded (no icecandidateerror), and quickly.
    assert_eq!(kinds(&events), ["host"], "{events:?}");
    assert_eq!(errors(&events), [], "{events:?}");
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());

    // A server that does not answer: 701, and gathering completes anyway.
    let dead = coturn::free_port();
    let url = format!("stun:127.0.0.1:{dead}");
    let mut pc = peer(url.clone(), PASS, IceTransportPolicy::All).await;
    let events = gather(&mut pc).await;
    assert_eq!(kinds(&events), ["host"]);
    assert_eq!(errors(&events), [(701, url)]);
}

#[tokio::test]
async fn turn_with_udp_gives_relay_candidate_and_server_reflexive_is_deduplicated() {
    let server = Coturn::start();
    let url = format!("turn:{}", server.addr());
    let mut pc = peer(url, PASS, IceTransportPolicy::All).await;
    let events = gather(&mut pc).await;
    assert_eq!(kinds(&events), ["host", "relay"], "{events:?}");
    let relay = events
        .iter()
        .find_map(|e| match e {
            PeerConnectionEvent::IceCandidate(Some(c)) if c.candidate.contains("typ relay") => Some(c.clone()),
            _ => None,
        })
        .unwrap();
    // The related address of a relayed candidate is the mapped address: our host socket.
    let host = pc.local_addresses().await.unwrap()[0];
    assert!(
        relay
            .candidate
            .ends_with(&format!("raddr {} rport {}", host.ip(), host.port()))
            || relay
                .candidate
                .contains(&format!("raddr {} rport {} ", host.ip(), host.port())),
        "{}",
        relay.candidate
    );
    pc.close().await;
}

#[tokio::test]
async fn wrong_credentials_give_401_and_relay_only_never_connects() {
    let server = Coturn::start();
    let url = format!("turn:{}?transport=udp", server.addr());
    let mut offerer = peer(url.clone(), "wrong", IceTransportPolicy::Relay).await;
    let mut answerer = peer(url.clone(), "wrong", IceTransportPolicy::Relay).await;
    offerer
        .create_data_channel("x", DataChannelInit::default())
        .await
        .unwrap();
    let offer = offerer.create_offer().await.unwrap();
    offerer.set_local_description(Some(offer.clone())).await.unwrap();
    answerer.set_remote_description(offer).await.unwrap();
    answerer.set_local_description(None).await.unwrap();
    offerer
        .set_remote_description(answerer.local_description().await.unwrap().unwrap())
        .await
        .unwrap();
    let (mut seen, _) = pump(&mut offerer, &answerer);
    let (_answerer_seen, _) = pump(&mut answerer, &offerer);
    let log = wait_for(&mut seen, Seen::Gathering("complete".into())).await;
    assert!(log.contains(&Seen::CandidateError(401)), "{log:?}");
    assert_eq!(
        candidate_types(&log),
        Vec::<String>::new(),
        "no candidate at all: {log:?}"
    );
    // With no candidate pair ICE gives up after end-of-candidates: failed, never connected.
    let log = wait_for(&mut seen, Seen::Connection(PeerConnectionState::Failed)).await;
    assert!(
        !log.contains(&Seen::Connection(PeerConnectionState::Connected)),
        "{log:?}"
    );
}

#[tokio::test]
async fn ice_servers_are_validated_at_construction_as_browsers_do() {
    let with = |urls: Vec<&str>, username: Option<&str>| RTCConfiguration {
        ice_servers: vec![RTCIceServer {
            urls: urls.into_iter().map(str::to_string).collect(),
            username: username.map(str::to_string),
            credential: username.map(str::to_string),
        }],
        ..RTCConfiguration::bound_to([LOOPBACK])
    };
    let error = RTCPeerConnection::new(with(vec!["http://127.0.0.1"], None))
        .await
        .unwrap_err();
    assert!(matches!(error, rtcpeer::RtcError::Syntax(_)), "{error:?}");
    let error = RTCPeerConnection::new(with(vec![], None)).await.unwrap_err();
    assert!(matches!(error, rtcpeer::RtcError::Syntax(_)), "{error:?}");
    let error = RTCPeerConnection::new(with(vec!["turn:127.0.0.1"], None))
        .await
        .unwrap_err();
    assert!(matches!(error, rtcpeer::RtcError::InvalidAccess(_)), "{error:?}");
    let pc = RTCPeerConnection::new(with(vec!["stun:127.0.0.1", "turn:127.0.0.1"], Some("u")))
        .await
        .expect("valid servers");
    pc.close().await;
}
