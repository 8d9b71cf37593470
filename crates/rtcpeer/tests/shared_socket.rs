//! Several connections on one UDP port ([`SharedUdpSocket`]), each talking to its own peer on loopback.

mod common;

use std::net::SocketAddr;

use common::*;
use rtcpeer::{DataChannelMessage, RTCConfiguration, RTCPeerConnection, SharedUdpSocket};
use tokio::time::timeout;

fn config(shared: Option<&SharedUdpSocket>) -> RTCConfiguration {
    RTCConfiguration {
        shared_socket: shared.cloned(),
        ..RTCConfiguration::bound_to([LOOPBACK])
    }
}

/// Connects an offerer and an answerer, either or both on `shared` sockets, with one open channel labelled
/// `label`.
async fn connect(offerer: RTCConfiguration, answerer: RTCConfiguration, label: &str) -> Pair {
    let offerer = RTCPeerConnection::new(offerer).await.expect("offerer");
    let answerer = RTCPeerConnection::new(answerer).await.expect("answerer");
    connect_pair(offerer, answerer, label).await.0
}

/// Sends a distinct message each way on every pair and checks that each arrives at its own peer only.
async fn exchange(pairs: &mut [Pair]) {
    for (i, pair) in pairs.iter().enumerate() {
        pair.offerer_channel
            .send_text(&format!("to answerer {i}"))
            .await
            .expect("send");
        pair.answerer_channel
            .send_text(&format!("to offerer {i}"))
            .await
            .expect("send");
    }
    for (i, pair) in pairs.iter_mut().enumerate() {
        assert_eq!(
            next_message(&mut pair.answerer_channel).await,
            DataChannelMessage::Text(format!("to answerer {i}"))
        );
        assert_eq!(
            next_message(&mut pair.offerer_channel).await,
            DataChannelMessage::Text(format!("to offerer {i}"))
        );
    }
}

async fn local_addresses(pc: &RTCPeerConnection) -> Vec<SocketAddr> {
    pc.local_addresses().await.expect("local addresses")
}

#[tokio::test]
async fn answerers_on_one_port_each_get_their_own_peers_data() {
    let shared = SharedUdpSocket::bind(SocketAddr::new(LOOPBACK, 0)).expect("bind the shared socket");
    let port = shared.local_addr();
    let mut pairs = Vec::new();
    for i in 0..3 {
        pairs.push(connect(config(None), config(Some(&shared)), &format!("pair {i}")).await);
    }
    assert_eq!(shared.connections(), 3);
    for pair in &pairs {
        assert_eq!(local_addresses(&pair.answerer).await, vec![port]);
        assert_ne!(local_addresses(&pair.offerer).await, vec![port]);
    }
    exchange(&mut pairs).await;
    // A second round, after every address is known.
    exchange(&mut pairs).await;

    for pair in pairs {
        pair.offerer.close().await;
        pair.answerer.close().await;
    }
    assert_eq!(shared.connections(), 0, "closed connections leave the port");
    drop(shared);
    // The reading task lets go of the port once the last handle is gone.
    timeout(PATIENCE, async {
        while !port_is_free(port) {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the port is released");
}

#[tokio::test]
async fn offerers_on_one_port_connect_concurrently() {
    let shared = SharedUdpSocket::bind(SocketAddr::new(LOOPBACK, 0)).expect("bind the shared socket");
    let connecting = (0..3).map(|i| {
        let shared = shared.clone();
        tokio::spawn(async move { connect(config(Some(&shared)), config(None), &format!("pair {i}")).await })
    });
    let mut pairs = Vec::new();
    for task in connecting.collect::<Vec<_>>() {
        pairs.push(task.await.expect("connected"));
    }
    assert_eq!(shared.connections(), 3);
    exchange(&mut pairs).await;
}

#[tokio::test]
async fn datagrams_nobody_owns_are_dropped_and_counted() {
    let shared = SharedUdpSocket::bind(SocketAddr::new(LOOPBACK, 0)).expect("bind the shared socket");
    let pair = connect(config(None), config(Some(&shared)), "only").await;
    let before = shared.unrouted();
    let stranger = tokio::net::UdpSocket::bind(SocketAddr::new(LOOPBACK, 0))
        .await
        .expect("bind");
    for _ in 0..5 {
        stranger
            .send_to(b"\x16\xfe\xfdnot yours", shared.local_addr())
            .await
            .expect("send");
    }
    timeout(PATIENCE, async {
        while shared.unrouted() < before + 5 {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the stranger's datagrams are counted");
    // The connection is unaffected.
    let mut pairs = [pair];
    exchange(&mut pairs).await;
}

#[tokio::test]
async fn an_unspecified_address_is_refused() {
    let error = SharedUdpSocket::bind("0.0.0.0:0".parse().unwrap()).expect_err("refused");
    assert_eq!(error.kind(), std::io::ErrorKind::InvalidInput);
}
