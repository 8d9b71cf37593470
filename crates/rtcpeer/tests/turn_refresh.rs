//! TURN allocation lifetime against a real coturn: an allocation outlives its granted lifetime
//! because the client refreshes it, data keeps flowing after the refreshes, and closing the
//! connection deletes the allocation on the server (lifetime 0), as coturn's log shows; over
//! UDP and over TLS (where every refresh travels on the TLS stream).

mod common;
#[path = "common/coturn.rs"]
mod coturn;

use std::time::{Duration, Instant};

use common::{negotiate, next_message, open_both, pump, wait_for, Seen};
use coturn::{make_pki, relay_peer, Coturn, Options};
use rtcpeer::{CertificateDer, DataChannelInit, DataChannelMessage, PeerConnectionState};
use tokio::time::timeout;

/// The most coturn grants here: the client asks for 600 s and gets this.
const MAX_LIFETIME: u64 = 4;

/// What coturn logs when it frees an allocation of the test's user.
const ENDED: &str = "closed (2nd stage), user <test>";

/// Lines of coturn's log that mention `what`.
fn lines(log: &str, what: &str) -> usize {
    log.lines().filter(|l| l.contains(what)).count()
}

async fn outlive_the_lifetime(server: &Coturn, url: String, roots: Vec<CertificateDer<'static>>) {
    let mut offerer = relay_peer(url.clone(), roots.clone()).await;
    let mut answerer = relay_peer(url, roots).await;
    let mut offerer_channel = offerer
        .create_data_channel("refresh", DataChannelInit::default())
        .await
        .unwrap();
    negotiate(&offerer, &answerer).await;
    let (mut offerer_seen, _) = pump(&mut offerer, &answerer);
    let (_answerer_seen, mut answerer_channels) = pump(&mut answerer, &offerer);
    wait_for(&mut offerer_seen, Seen::Connection(PeerConnectionState::Connected)).await;
    let connected = Instant::now();
    let mut answerer_channel = open_both(&mut offerer_channel, &mut answerer_channels).await;

    // Past two granted lifetimes: without refreshes coturn would have freed both allocations
    // and nothing more would arrive.
    let mut round = 0u32;
    while connected.elapsed() < Duration::from_secs(2 * MAX_LIFETIME + 1) {
        round += 1;
        let message = DataChannelMessage::Binary(round.to_be_bytes().repeat(100));
        offerer_channel.send_message(message.clone()).await.unwrap();
        assert_eq!(next_message(&mut answerer_channel).await, message, "round {round}");
        let reply = DataChannelMessage::Text(format!("reply {round}"));
        answerer_channel.send_message(reply.clone()).await.unwrap();
        assert_eq!(next_message(&mut offerer_channel).await, reply);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let log = server.log();
    // Two allocations, each refreshed at 80 % of 4 s: at least twice each in 9 s.
    assert!(lines(&log, "refreshed") >= 4, "too few refreshes:\n{log}");
    assert_eq!(lines(&log, "lifetime=0"), 0, "nothing deleted yet:\n{log}");
    assert_eq!(lines(&log, ENDED), 0, "no allocation ended:\n{log}");

    offerer.close().await;
    answerer.close().await;
    // coturn logs the deletion (a Refresh with lifetime 0) of both allocations.
    let deadline = Instant::now() + Duration::from_secs(3);
    while lines(&server.log(), "lifetime=0") < 2 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let log = server.log();
    assert_eq!(
        lines(&log, "lifetime=0"),
        2,
        "both allocations deleted on close:\n{log}"
    );
    // ... and frees both sessions (coturn does so on its next timer tick).
    let closed_at = Instant::now();
    while lines(&server.log(), ENDED) < 2 && closed_at.elapsed() < Duration::from_secs(3) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let log = server.log();
    assert_eq!(lines(&log, ENDED), 2, "both allocations freed:\n{log}");
}

#[tokio::test]
async fn allocations_outlive_a_short_lifetime_and_close_deletes_them_over_udp() {
    let server = Coturn::start_with(Options {
        max_allocate_lifetime: Some(MAX_LIFETIME as u32),
        verbose: true,
        ..Options::default()
    });
    let url = format!("turn:{}", server.addr());
    timeout(Duration::from_secs(40), outlive_the_lifetime(&server, url, Vec::new()))
        .await
        .unwrap_or_else(|_| panic!("timed out; coturn log:\n{}", server.log()));
}

#[tokio::test]
async fn allocations_outlive_a_short_lifetime_and_close_deletes_them_over_tls() {
    let pki = make_pki(&["127.0.0.1"]);
    let server = Coturn::start_with(Options {
        tls: Some(pki.clone()),
        max_allocate_lifetime: Some(MAX_LIFETIME as u32),
        verbose: true,
    });
    let url = format!("turns:{}", server.tls_addr().unwrap());
    timeout(
        Duration::from_secs(40),
        outlive_the_lifetime(&server, url, vec![pki.ca()]),
    )
    .await
    .unwrap_or_else(|_| panic!("timed out; coturn log:\n{}", server.log()));
    // Both allocations were made over TLS (coturn names the session's TLS version).
    let log = server.log();
    let tls_sessions = log
        .lines()
        .filter(|l| l.contains("new, realm=<example.org>, username=<test>") && l.contains("method=TLS"))
        .count();
    assert_eq!(tls_sessions, 2, "{log}");
}
