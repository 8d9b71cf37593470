//! What a connection binds, depending on its configuration. (Binding only: no traffic is sent.)

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use rtcpeer::{RTCConfiguration, RTCPeerConnection, RtcError};

#[tokio::test]
async fn named_bind_addresses_are_bound_exactly_on_ephemeral_ports() {
    let pc = RTCPeerConnection::new(RTCConfiguration::bound_to([IpAddr::V4(Ipv4Addr::LOCALHOST)]))
        .await
        .expect("bound to loopback");
    let addresses = pc.local_addresses().await.expect("addresses");
    assert_eq!(addresses.len(), 1);
    assert_eq!(addresses[0].ip(), IpAddr::V4(Ipv4Addr::LOCALHOST));
    assert_ne!(addresses[0].port(), 0);
    pc.close().await;
}

#[tokio::test]
async fn the_default_binds_every_usable_interface_and_loopback_only_when_alone() {
    let pc = RTCPeerConnection::new(RTCConfiguration::default())
        .await
        .expect("default configuration");
    let addresses = pc.local_addresses().await.expect("addresses");
    assert!(!addresses.is_empty());
    let loopback = addresses.iter().filter(|a| a.ip().is_loopback()).count();
    assert!(
        loopback == 0 || loopback == addresses.len(),
        "loopback mixed with other addresses: {addresses:?}"
    );
    for address in &addresses {
        assert!(!address.ip().is_unspecified(), "{addresses:?}");
        if let IpAddr::V6(v6) = address.ip() {
            assert!(!v6.is_unicast_link_local(), "link-local bound: {addresses:?}");
        }
    }
    pc.close().await;
}

#[tokio::test]
async fn an_unspecified_bind_address_is_a_type_error() {
    for any in [IpAddr::V4(Ipv4Addr::UNSPECIFIED), IpAddr::V6(Ipv6Addr::UNSPECIFIED)] {
        let error = RTCPeerConnection::new(RTCConfiguration::bound_to([any]))
            .await
            .expect_err("0.0.0.0 and :: are refused");
        assert_eq!(error.name(), "TypeError", "{error}");
    }
}

#[tokio::test]
async fn an_address_that_is_not_ours_is_an_operation_error() {
    // 192.0.2.0/24 is TEST-NET-1; binding fails unless an interface has the address.
    let foreign = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 254));
    let error = RTCPeerConnection::new(RTCConfiguration::bound_to([foreign]))
        .await
        .expect_err("no interface has this address");
    assert!(matches!(error, RtcError::Operation(_)), "{error}");
}
