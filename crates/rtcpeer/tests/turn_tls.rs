//! TURN over TLS (`turns:`) through a real coturn on loopback: the test makes its own CA and
//! server certificate, two relay-only peers connect through the TLS listener, and servers whose
//! certificate is not trusted or not valid for the URL's host give an `icecandidateerror`.

mod common;
#[path = "common/coturn.rs"]
mod coturn;

use std::time::Duration;

use common::{negotiate, next_message, open_both, pump, wait_for, Seen, LOOPBACK};
use coturn::{gather, make_pki, relay_peer as peer, Coturn, Options, Pki, PASS, USER};
use rtcpeer::{
    CertificateDer, DataChannelInit, DataChannelMessage, PeerConnectionEvent, PeerConnectionState, RTCConfiguration,
    RTCIceServer, RTCPeerConnection, StatsKind, StatsType,
};
use rtcpeer_proto::ice::CandidateKind;
use rtcpeer_proto::stats::StatsCandidateType;
use tokio::time::timeout;

fn tls_server(pki: &Pki) -> Coturn {
    Coturn::start_with(Options {
        tls: Some(pki.clone()),
        verbose: true,
        ..Options::default()
    })
}

/// The `relayProtocol` of the selected pair's local candidate in `pc`'s stats.
async fn selected_relay_protocol(pc: &RTCPeerConnection) -> Option<String> {
    let report = pc.get_stats().await.unwrap();
    let transport = report.of_type(StatsType::Transport).next()?;
    let StatsKind::Transport(t) = &transport.kind else {
        return None;
    };
    let pair = report.get(t.selected_candidate_pair_id.as_deref()?)?;
    let StatsKind::CandidatePair(pair) = &pair.kind else {
        return None;
    };
    let local = report.get(&pair.local_candidate_id)?;
    let StatsKind::LocalCandidate(local) = &local.kind else {
        return None;
    };
    assert_eq!(local.candidate_type, StatsCandidateType::Relay);
    local.relay_protocol.clone()
}

async fn relay_only_pair_over_tls(server: &Coturn, ca: CertificateDer<'static>) {
    let port = server.tls_addr().unwrap().port();
    // One peer names the server by IP (checked against the IP SAN), the other by DNS name.
    let mut offerer = peer(format!("turns:127.0.0.1:{port}"), vec![ca.clone()]).await;
    let mut answerer = peer(format!("turns:localhost:{port}"), vec![ca]).await;
    let mut offerer_channel = offerer
        .create_data_channel("tls", DataChannelInit::default())
        .await
        .unwrap();
    negotiate(&offerer, &answerer).await;
    let (mut offerer_seen, _) = pump(&mut offerer, &answerer);
    let (mut answerer_seen, mut answerer_channels) = pump(&mut answerer, &offerer);
    let mut log = wait_for(&mut offerer_seen, Seen::Gathering("complete".into())).await;
    log.extend(wait_for(&mut offerer_seen, Seen::Connection(PeerConnectionState::Connected)).await);
    let answerer_log = wait_for(&mut answerer_seen, Seen::Gathering("complete".into())).await;
    for log in [&log, &answerer_log] {
        assert!(!log.iter().any(|s| matches!(s, Seen::CandidateError(_))), "{log:?}");
        let relays = log
            .iter()
            .filter(|s| matches!(s, Seen::Candidate(Some(c)) if c.candidate.contains(" typ relay")))
            .count();
        assert_eq!(relays, 1, "{log:?}");
    }

    let mut answerer_channel = open_both(&mut offerer_channel, &mut answerer_channels).await;
    let big: Vec<u8> = (0..50_000u32).map(|i| (i * 13 % 253) as u8).collect();
    for message in [
        DataChannelMessage::Text("through TLS".into()),
        DataChannelMessage::Binary(big),
    ] {
        offerer_channel.send_message(message.clone()).await.unwrap();
        assert_eq!(next_message(&mut answerer_channel).await, message);
    }
    answerer_channel.send(&[9, 8, 7, 0, 255]).await.unwrap();
    assert_eq!(
        next_message(&mut offerer_channel).await,
        DataChannelMessage::Binary(vec![9, 8, 7, 0, 255])
    );

    for pc in [&offerer, &answerer] {
        let (local, _) = pc.selected_candidate_pair().await.unwrap().expect("a selected pair");
        assert_eq!(local.kind, CandidateKind::Relay, "local {local}");
        assert_eq!(selected_relay_protocol(pc).await.as_deref(), Some("tls"));
    }
    offerer.close().await;
    answerer.close().await;
}

#[tokio::test]
async fn relay_only_peers_connect_through_coturn_over_tls() {
    let pki = make_pki(&["localhost", "127.0.0.1"]);
    let server = tls_server(&pki);
    timeout(Duration::from_secs(25), relay_only_pair_over_tls(&server, pki.ca()))
        .await
        .unwrap_or_else(|_| panic!("timed out; coturn log:\n{}", server.log()));
    // The server made both allocations on TLS sessions, not plain TCP.
    let log = server.log();
    let tls_sessions = log
        .lines()
        .filter(|l| l.contains("new, realm=<example.org>, username=<test>") && l.contains("method=TLS"))
        .count();
    assert_eq!(tls_sessions, 2, "{log}");
}

/// The one `icecandidateerror` of a relay-only gathering that found no candidate.
fn only_error(events: &[PeerConnectionEvent]) -> (u16, String, String) {
    let candidates = events
        .iter()
        .filter(|e| matches!(e, PeerConnectionEvent::IceCandidate(Some(_))))
        .count();
    assert_eq!(candidates, 0, "no relay candidate: {events:?}");
    let errors: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            PeerConnectionEvent::IceCandidateError {
                error_code,
                url,
                error_text,
                ..
            } => Some((*error_code, url.clone(), error_text.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(errors.len(), 1, "{events:?}");
    errors.into_iter().next().unwrap()
}

#[tokio::test]
async fn an_untrusted_or_misnamed_certificate_is_an_icecandidateerror_and_no_relay() {
    let pki = make_pki(&["localhost", "127.0.0.1"]);
    let server = tls_server(&pki);
    let url = format!("turns:127.0.0.1:{}", server.tls_addr().unwrap().port());

    // The CA is not trusted: only the built-in roots.
    let mut pc = peer(url.clone(), Vec::new()).await;
    let (code, error_url, text) = only_error(&gather(&mut pc).await);
    assert_eq!(
        (code, error_url.as_str()),
        (701, format!("{url}?transport=tcp").as_str())
    );
    assert!(text.contains("TLS") && text.contains("UnknownIssuer"), "{text}");
    pc.close().await;

    // A CA that signed a different certificate is no help either.
    let other = make_pki(&["localhost", "127.0.0.1"]);
    let mut pc = peer(url.clone(), vec![other.ca()]).await;
    let (code, _, text) = only_error(&gather(&mut pc).await);
    assert_eq!(code, 701);
    assert!(
        text.contains("UnknownIssuer") || text.contains("BadSignature"),
        "{text}"
    );
    pc.close().await;

    // Trusted, but the certificate names another host.
    let misnamed = make_pki(&["turn.example.org"]);
    let server = tls_server(&misnamed);
    let url = format!("turns:127.0.0.1:{}", server.tls_addr().unwrap().port());
    let mut pc = peer(url, vec![misnamed.ca()]).await;
    let (code, _, text) = only_error(&gather(&mut pc).await);
    assert_eq!(code, 701);
    assert!(text.contains("not valid for name \"127.0.0.1\""), "{text}");
    pc.close().await;
}

#[tokio::test]
async fn a_turns_server_given_by_set_configuration_is_used_over_tls() {
    let pki = make_pki(&["127.0.0.1"]);
    let server = tls_server(&pki);
    let url = format!("turns:{}", server.tls_addr().unwrap());
    // Constructed without any server: TLS comes with set_configuration.
    let mut pc = RTCPeerConnection::new(RTCConfiguration::bound_to([LOOPBACK]))
        .await
        .unwrap();
    pc.set_configuration(coturn::relay_config(url, vec![pki.ca()]))
        .await
        .expect("setConfiguration");
    let events = gather(&mut pc).await;
    let relays = events
        .iter()
        .filter(|e| matches!(e, PeerConnectionEvent::IceCandidate(Some(c)) if c.candidate.contains(" typ relay")))
        .count();
    assert_eq!(relays, 1, "{events:?}");
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, PeerConnectionEvent::IceCandidateError { .. })),
        "{events:?}"
    );
    pc.close().await;
}

#[tokio::test]
async fn a_bad_extra_root_is_refused_at_construction_only_when_tls_is_used() {
    let garbage = CertificateDer::from(vec![0x30, 0x03, 0x02, 0x01, 0x00]);
    let config = |url: &str| RTCConfiguration {
        ice_servers: vec![RTCIceServer {
            urls: vec![url.into()],
            username: Some(USER.into()),
            credential: Some(PASS.into()),
        }],
        turn_tls_roots: vec![garbage.clone()],
        ..RTCConfiguration::bound_to([LOOPBACK])
    };
    let error = RTCPeerConnection::new(config("turns:127.0.0.1:5349"))
        .await
        .unwrap_err();
    assert!(matches!(error, rtcpeer::RtcError::Syntax(_)), "{error:?}");
    let pc = RTCPeerConnection::new(config("turn:127.0.0.1:3478"))
        .await
        .expect("no TLS server: the roots are not looked at");
    pc.close().await;
}

#[tokio::test]
async fn a_server_that_answers_tls_with_garbage_is_an_icecandidateerror() {
    // Not a TLS server: it answers the ClientHello with bytes that are no TLS record, then
    // keeps the connection open.
    let listener = tokio::net::TcpListener::bind((LOOPBACK, 0)).await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (mut stream, _) = listener.accept().await.unwrap();
        let mut hello = [0u8; 512];
        let _ = stream.read(&mut hello).await;
        stream.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n").await.unwrap();
        tokio::time::sleep(Duration::from_secs(20)).await;
    });
    let url = format!("turns:127.0.0.1:{port}");
    let mut pc = peer(url, Vec::new()).await;
    let started = std::time::Instant::now();
    let (code, _, text) = only_error(&gather(&mut pc).await);
    assert_eq!(code, 701);
    assert!(text.contains("TLS"), "{text}");
    // The error ends gathering at once: no waiting for the Allocate's timeout.
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
    pc.close().await;
    server.abort();
}
