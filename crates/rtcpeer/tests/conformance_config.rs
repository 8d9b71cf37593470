//! Conformance with the browsers' `RTCConfiguration`, operations chain and certificates
//! (docs/CONFORMANCE.md areas 1–3), through the runtime `RTCPeerConnection`. Each test is named
//! after the checklist item it covers. Only loopback addresses are used: no server URL here
//! names a host that would need resolving.

mod common;

use std::time::{Duration, SystemTime};

use common::{loopback_peer, negotiate, pump, wait_for, Seen, LOOPBACK};
use rtcpeer::{
    BundlePolicy, Certificate, DataChannelInit, IceTransportPolicy, KeyAlgorithm, PeerConnectionEvent,
    PeerConnectionState, RTCCertificate, RTCConfiguration, RTCIceServer, RTCPeerConnection, RtcError, RtcpMuxPolicy,
    SdpType, SessionDescriptionInit, SignalingState,
};

/// A configuration from the browsers' JSON, bound to loopback.
fn json(text: &str) -> Result<RTCConfiguration, RtcError> {
    RTCConfiguration::from_json(text).map(|c| RTCConfiguration {
        bind_addresses: vec![LOOPBACK],
        ..c
    })
}

fn servers(urls: &[&str], username: Option<&str>, credential: Option<&str>) -> RTCConfiguration {
    RTCConfiguration {
        ice_servers: vec![RTCIceServer {
            urls: urls.iter().map(|u| u.to_string()).collect(),
            username: username.map(str::to_string),
            credential: credential.map(str::to_string),
        }],
        ..RTCConfiguration::bound_to([LOOPBACK])
    }
}

/// Like the WPT `config_test`: the configuration goes through the constructor and through
/// `set_configuration` of a default connection, and both must agree.
async fn both_paths(config: RTCConfiguration) -> Result<RTCConfiguration, RtcError> {
    let constructed = RTCPeerConnection::new(config.clone()).await;
    let pc = loopback_peer().await;
    let set = pc.set_configuration(config).await;
    let result = match (constructed, set) {
        (Ok(constructed), Ok(())) => {
            let got = constructed.get_configuration();
            constructed.close().await;
            Ok(got)
        }
        (Err(a), Err(b)) => {
            assert_eq!(a.name(), b.name(), "constructor: {a}; set_configuration: {b}");
            Err(a)
        }
        (a, b) => panic!("the two paths disagree: constructor {a:?}, set_configuration {b:?}"),
    };
    pc.close().await;
    result
}

async fn error_name(config: RTCConfiguration) -> &'static str {
    both_paths(config).await.expect_err("refused").name()
}

#[tokio::test]
async fn c2_a_connection_can_be_made_from_nothing_null_or_an_empty_object() {
    for text in ["null", "{}"] {
        let pc = RTCPeerConnection::new(json(text).expect("config")).await.expect(text);
        pc.close().await;
    }
    let pc = RTCPeerConnection::new(RTCConfiguration::bound_to([LOOPBACK]))
        .await
        .expect("default");
    pc.close().await;
}

#[tokio::test]
async fn c3_certificates_must_be_certificates_and_an_empty_list_is_fine() {
    for text in [r#"{"certificates":null}"#, r#"{"certificates":[null]}"#] {
        assert_eq!(json(text).unwrap_err().name(), "TypeError", "{text}");
    }
    let pc = RTCPeerConnection::new(json(r#"{"certificates":[]}"#).expect("[]"))
        .await
        .expect("no certificates");
    pc.close().await;
}

#[tokio::test]
async fn c5_a_new_connection_has_no_descriptions_and_every_state_new() {
    let pc = loopback_peer().await;
    assert_eq!(pc.local_description().await.unwrap(), None);
    assert_eq!(pc.current_local_description().await.unwrap(), None);
    assert_eq!(pc.pending_local_description().await.unwrap(), None);
    assert_eq!(pc.remote_description().await.unwrap(), None);
    assert_eq!(pc.current_remote_description().await.unwrap(), None);
    assert_eq!(pc.pending_remote_description().await.unwrap(), None);
    assert_eq!(pc.signaling_state().await.unwrap(), SignalingState::Stable);
    assert_eq!(pc.ice_gathering_state().await.unwrap().as_str(), "new");
    assert_eq!(pc.ice_connection_state().await.unwrap().as_str(), "new");
    assert_eq!(pc.connection_state().await.unwrap(), PeerConnectionState::New);
    assert_eq!(pc.can_trickle_ice_candidates().await.unwrap(), None);
    pc.close().await;
}

#[tokio::test]
async fn c6_ice_servers_default_to_an_empty_list() {
    let pc = loopback_peer().await;
    assert!(pc.get_configuration().ice_servers.is_empty());
    pc.close().await;
    assert!(both_paths(json(r#"{"iceServers":[]}"#).unwrap())
        .await
        .unwrap()
        .ice_servers
        .is_empty());
}

#[tokio::test]
async fn c7_null_entries_and_entries_without_urls_are_type_errors() {
    for text in [
        r#"{"iceServers":null}"#,
        r#"{"iceServers":[null]}"#,
        r#"{"iceServers":[{}]}"#,
    ] {
        assert_eq!(json(text).unwrap_err().name(), "TypeError", "{text}");
    }
}

#[tokio::test]
async fn c8_urls_may_be_one_string_and_always_read_back_as_a_list() {
    let config = json(r#"{"iceServers":[{"urls":"stun:127.0.0.1"}]}"#).unwrap();
    let got = both_paths(config).await.expect("accepted");
    assert_eq!(got.ice_servers[0].urls, ["stun:127.0.0.1"]);
    let two = servers(&["stun:127.0.0.1:3478", "stun:127.0.0.2:3479"], None, None);
    let got = both_paths(two).await.expect("accepted");
    assert_eq!(got.ice_servers[0].urls, ["stun:127.0.0.1:3478", "stun:127.0.0.2:3479"]);
}

#[tokio::test]
async fn c9_turn_with_credentials_even_empty_ones_is_accepted_and_read_back() {
    let got = both_paths(servers(&["turn:127.0.0.1"], Some("user"), Some("pass")))
        .await
        .expect("turn with credentials");
    assert_eq!(got.ice_servers[0].username.as_deref(), Some("user"));
    assert_eq!(got.ice_servers[0].credential.as_deref(), Some("pass"));
    let got = both_paths(servers(&["turns:127.0.0.1", "turn:127.0.0.1"], Some(""), Some("")))
        .await
        .expect("empty credentials, turns: and turn: mixed");
    assert_eq!(got.ice_servers[0].username.as_deref(), Some(""));
    assert_eq!(got.ice_servers[0].credential.as_deref(), Some(""));
}

#[tokio::test]
async fn c10_turn_url_without_credentials_is_invalid_access() {
    for (username, credential) in [(None, Some("pass")), (Some("user"), None), (None, None)] {
        for url in ["turn:127.0.0.1", "turns:127.0.0.1"] {
            assert_eq!(
                error_name(servers(&[url], username, credential)).await,
                "InvalidAccessError",
                "{url} {username:?} {credential:?}"
            );
        }
    }
    both_paths(servers(&["stun:127.0.0.1"], None, None))
        .await
        .expect("STUN needs no credentials");
}

#[tokio::test]
async fn c11_malformed_urls_are_syntax_errors() {
    let cases: &[&[&str]] = &[
        &[""],
        &["stun:127.0.0.1", ""],
        &["relative-url"],
        &["http://127.0.0.1"],
        &["turn://127.0.0.1/foo?x=y"],
        &["stun://127.0.0.1/foo?x=y"],
        &[],
    ];
    for urls in cases {
        assert_eq!(
            error_name(servers(urls, Some("user"), Some("pass"))).await,
            "SyntaxError",
            "{urls:?}"
        );
    }
}

#[tokio::test]
async fn c12_hosts_and_ports_follow_the_url_standard() {
    for url in [
        "stun:127.0.0.1:65535",
        "stun:[::1]",
        "stun:127.0.0.1:",
        "stun:127.0.0.1:03478",
        "stun:%31%32%37.0.0.1",
    ] {
        both_paths(servers(&[url], None, None))
            .await
            .unwrap_or_else(|e| panic!("{url}: {e}"));
    }
    for url in [
        "stun:127.0.0.1:65536",
        "stun:127.0.0.1:port",
        "stun:127.0.0.1: 3478",
        "stun:127.0.0.1:-1",
        "stun:127.0.0.1#foo",
        "stun:[2001::1",
        "stun:192.168.0.257",
        "stun:256.256.256.256",
        "stun:a<b",
        "stun:a^b",
        "stun:a\\b",
        "stun:a\0b",
        "stun:xn--pokxncvks",
    ] {
        assert_eq!(error_name(servers(&[url], None, None)).await, "SyntaxError", "{url:?}");
    }
}

#[test]
fn c12_internationalized_hosts_are_converted_to_punycode() {
    // Parsing only: the name is never resolved.
    let url = rtcpeer_proto::ice::server::IceServerUrl::parse("stun:bücher.test").expect("IDN host");
    assert_eq!(url.host.to_string(), "xn--bcher-kva.test");
}

#[tokio::test]
async fn c13_credential_types_other_than_password_legacy_url_and_object_credentials_are_refused() {
    for text in [
        r#"{"iceServers":[{"urls":"turn:127.0.0.1","username":"u","credential":"c","credentialType":"invalid"}]}"#,
        r#"{"iceServers":[{"urls":"turn:127.0.0.1","username":"u","credential":"c","credentialType":"token"}]}"#,
        r#"{"iceServers":[{"url":"stun:127.0.0.1"}]}"#,
    ] {
        assert_eq!(json(text).unwrap_err().name(), "TypeError", "{text}");
    }
    let object_credential =
        r#"{"iceServers":[{"urls":"turns:127.0.0.1","username":"u","credential":{},"credentialType":"password"}]}"#;
    assert_eq!(json(object_credential).unwrap_err().name(), "InvalidAccessError");
    json(r#"{"iceServers":[{"urls":"turn:127.0.0.1","username":"u","credential":"c","credentialType":"password"}]}"#)
        .expect("password is the credential type");
}

#[tokio::test]
async fn c14_set_configuration_applies_the_constructor_rules() {
    // both_paths asserts that the two paths agree; here one case of each error kind.
    assert_eq!(error_name(servers(&[""], None, None)).await, "SyntaxError");
    assert_eq!(
        error_name(servers(&["turn:127.0.0.1"], None, None)).await,
        "InvalidAccessError"
    );
    both_paths(servers(&["stun:127.0.0.1"], None, None))
        .await
        .expect("valid on both paths");
    // An extra TLS root that is no certificate, with a `turns:` server to use it for.
    let bad_root = RTCConfiguration {
        turn_tls_roots: vec![rtcpeer::CertificateDer::from(vec![0x30, 0x03, 0x02, 0x01, 0x00])],
        ..servers(&["turns:127.0.0.1"], Some("u"), Some("c"))
    };
    assert_eq!(error_name(bad_root).await, "SyntaxError");
}

#[tokio::test]
async fn c14_set_configuration_reports_only_what_it_applies() {
    // The rtcpeer extensions that are fixed at construction are reported as constructed, not as
    // last given to set_configuration (which does not apply them).
    let pc = loopback_peer().await;
    let constructed = pc.get_configuration();
    let slow = rtcpeer::IceTiming {
        consent_interval: Duration::from_secs(7),
        ..rtcpeer::IceTiming::default()
    };
    let shared = rtcpeer::SharedUdpSocket::bind((LOOPBACK, 0).into()).expect("shared socket");
    pc.set_configuration(RTCConfiguration {
        ice_timing: slow,
        shared_socket: Some(shared),
        bind_addresses: Vec::new(),
        ice_transport_policy: IceTransportPolicy::Relay,
        ..RTCConfiguration::default()
    })
    .await
    .expect("setConfiguration");
    let got = pc.get_configuration();
    assert_eq!(got.ice_transport_policy, IceTransportPolicy::Relay, "applied");
    assert_eq!(got.ice_timing, constructed.ice_timing);
    assert!(got.shared_socket.is_none());
    assert_eq!(got.bind_addresses, constructed.bind_addresses);
    pc.close().await;
}

#[tokio::test]
async fn c15_set_configuration_is_atomic() {
    let pc = loopback_peer().await;
    let config = RTCConfiguration {
        ice_transport_policy: IceTransportPolicy::Relay,
        ..servers(&[""], None, None)
    };
    assert_eq!(pc.set_configuration(config).await.unwrap_err().name(), "SyntaxError");
    let got = pc.get_configuration();
    assert_eq!(got.ice_transport_policy, IceTransportPolicy::All);
    assert!(got.ice_servers.is_empty());
    pc.close().await;
}

#[tokio::test]
async fn c16_ice_transport_policy_defaults_to_all_and_switches_both_ways() {
    let pc = loopback_peer().await;
    assert_eq!(pc.get_configuration().ice_transport_policy, IceTransportPolicy::All);
    let relay = RTCConfiguration {
        ice_transport_policy: IceTransportPolicy::Relay,
        ..RTCConfiguration::bound_to([LOOPBACK])
    };
    pc.set_configuration(relay.clone()).await.expect("relay");
    assert_eq!(pc.get_configuration().ice_transport_policy, IceTransportPolicy::Relay);
    pc.set_configuration(RTCConfiguration::default()).await.expect("{}");
    assert_eq!(pc.get_configuration().ice_transport_policy, IceTransportPolicy::All);
    pc.set_configuration(relay).await.expect("relay again");
    let all = json(r#"{"iceTransportPolicy":"all"}"#).unwrap();
    pc.set_configuration(all).await.expect("all");
    assert_eq!(pc.get_configuration().ice_transport_policy, IceTransportPolicy::All);
    pc.close().await;
    let relay = json(r#"{"iceTransportPolicy":"relay"}"#).unwrap();
    assert_eq!(relay.ice_transport_policy, IceTransportPolicy::Relay);
}

#[tokio::test]
async fn c16_relay_policy_set_later_stops_host_candidates() {
    let mut pc = loopback_peer().await;
    let relay = RTCConfiguration {
        ice_transport_policy: IceTransportPolicy::Relay,
        ..RTCConfiguration::bound_to([LOOPBACK])
    };
    pc.set_configuration(relay).await.expect("relay");
    pc.create_data_channel("x", DataChannelInit::default())
        .await
        .expect("channel");
    pc.set_local_description(None).await.expect("offer");
    let mut events = pc.take_events().expect("events");
    let mut candidates = 0;
    while let Ok(Some(event)) = tokio::time::timeout(Duration::from_secs(5), events.recv()).await {
        match event {
            PeerConnectionEvent::IceCandidate(Some(_)) => candidates += 1,
            PeerConnectionEvent::IceCandidate(None) => break,
            _ => {}
        }
    }
    assert_eq!(candidates, 0, "relay-only gathered a host candidate");
    pc.close().await;
}

#[tokio::test]
async fn c17_unknown_ice_transport_policies_are_type_errors_and_the_legacy_member_is_ignored() {
    for value in [r#""invalid""#, r#""none""#, "null"] {
        let text = format!(r#"{{"iceTransportPolicy":{value}}}"#);
        assert_eq!(json(&text).unwrap_err().name(), "TypeError", "{text}");
    }
    for value in [r#""invalid""#, r#""none""#, "null", r#""relay""#] {
        let text = format!(r#"{{"iceTransports":{value}}}"#);
        assert_eq!(json(&text).expect(&text).ice_transport_policy, IceTransportPolicy::All);
    }
}

#[tokio::test]
async fn c18_bundle_policy_defaults_to_balanced_and_refuses_unknown_values() {
    assert_eq!(json("{}").unwrap().bundle_policy, BundlePolicy::Balanced);
    for (text, policy) in [
        ("max-compat", BundlePolicy::MaxCompat),
        ("max-bundle", BundlePolicy::MaxBundle),
        ("balanced", BundlePolicy::Balanced),
    ] {
        let config = json(&format!(r#"{{"bundlePolicy":"{text}"}}"#)).unwrap();
        let pc = RTCPeerConnection::new(config).await.expect(text);
        assert_eq!(pc.get_configuration().bundle_policy, policy);
        pc.close().await;
    }
    for value in ["null", r#""invalid""#] {
        let text = format!(r#"{{"bundlePolicy":{value}}}"#);
        assert_eq!(json(&text).unwrap_err().name(), "TypeError");
    }
}

#[tokio::test]
async fn c19_bundle_policy_cannot_change() {
    let max_bundle = RTCConfiguration {
        bundle_policy: BundlePolicy::MaxBundle,
        ..RTCConfiguration::bound_to([LOOPBACK])
    };
    let pc = RTCPeerConnection::new(max_bundle.clone()).await.expect("max-bundle");
    let max_compat = RTCConfiguration {
        bundle_policy: BundlePolicy::MaxCompat,
        ..RTCConfiguration::bound_to([LOOPBACK])
    };
    for config in [max_compat, RTCConfiguration::default()] {
        assert_eq!(
            pc.set_configuration(config).await.unwrap_err().name(),
            "InvalidModificationError"
        );
    }
    pc.set_configuration(max_bundle).await.expect("the same policy");
    pc.close().await;
}

#[tokio::test]
async fn c20_rtcp_mux_policy_is_require_and_negotiate_is_not_supported() {
    let pc = loopback_peer().await;
    assert_eq!(pc.get_configuration().rtcp_mux_policy, RtcpMuxPolicy::Require);
    pc.close().await;
    assert_eq!(
        json(r#"{"rtcpMuxPolicy":"negotiate"}"#).unwrap_err().name(),
        "NotSupportedError"
    );
    let negotiate = RTCConfiguration {
        rtcp_mux_policy: RtcpMuxPolicy::Negotiate,
        ..RTCConfiguration::bound_to([LOOPBACK])
    };
    assert_eq!(
        RTCPeerConnection::new(negotiate).await.unwrap_err().name(),
        "NotSupportedError"
    );
    for value in ["null", r#""invalid""#] {
        let text = format!(r#"{{"rtcpMuxPolicy":{value}}}"#);
        assert_eq!(json(&text).unwrap_err().name(), "TypeError");
    }
    json(r#"{"rtcpMuxPolicy":"require"}"#).expect("require");
}

#[tokio::test]
async fn c21_rtcp_mux_policy_cannot_change() {
    let pc = loopback_peer().await;
    let negotiate = RTCConfiguration {
        rtcp_mux_policy: RtcpMuxPolicy::Negotiate,
        ..RTCConfiguration::bound_to([LOOPBACK])
    };
    assert_eq!(
        pc.set_configuration(negotiate).await.unwrap_err().name(),
        "InvalidModificationError"
    );
    pc.close().await;
}

#[tokio::test]
async fn c23_ice_candidate_pool_size_is_an_octet() {
    assert_eq!(json("{}").unwrap().ice_candidate_pool_size, 0);
    for size in [0u8, 255] {
        let config = json(&format!(r#"{{"iceCandidatePoolSize":{size}}}"#)).unwrap();
        assert_eq!(both_paths(config).await.unwrap().ice_candidate_pool_size, size);
    }
    for value in ["-1", "256", "1.5", r#""abc""#, "null"] {
        let text = format!(r#"{{"iceCandidatePoolSize":{value}}}"#);
        let error = json(&text).unwrap_err();
        assert_eq!(error.name(), "TypeError", "{text}");
        assert!(error.to_string().contains("iceCandidatePoolSize"), "{error}");
    }
}

#[tokio::test]
async fn c23_pool_size_cannot_change_once_a_local_description_is_set() {
    let pc = loopback_peer().await;
    let sized = |size| RTCConfiguration {
        ice_candidate_pool_size: size,
        ..RTCConfiguration::bound_to([LOOPBACK])
    };
    pc.set_configuration(sized(3)).await.expect("before any description");
    pc.create_data_channel("x", DataChannelInit::default())
        .await
        .expect("channel");
    pc.set_local_description(None).await.expect("offer");
    assert_eq!(
        pc.set_configuration(sized(4)).await.unwrap_err().name(),
        "InvalidModificationError"
    );
    pc.set_configuration(sized(3)).await.expect("the same size");
    assert_eq!(pc.get_configuration().ice_candidate_pool_size, 3);
    pc.close().await;
}

#[tokio::test]
async fn c24_plan_b_is_not_available() {
    let config = json(r#"{"sdpSemantics":"plan-b"}"#).expect("the option is ignored");
    let pc = RTCPeerConnection::new(config).await.expect("constructed");
    let shown = format!("{:?}", pc.get_configuration());
    assert!(!shown.contains("plan-b"), "{shown}");
    pc.close().await;
}

#[tokio::test]
async fn o3_o8_d33_operations_on_a_closed_connection_are_invalid_state() {
    let pc = loopback_peer().await;
    pc.close().await;
    assert_eq!(pc.create_offer().await.unwrap_err().name(), "InvalidStateError");
    assert_eq!(pc.create_answer().await.unwrap_err().name(), "InvalidStateError");
    assert_eq!(
        pc.set_local_description(None).await.unwrap_err().name(),
        "InvalidStateError"
    );
    assert_eq!(
        pc.set_configuration(RTCConfiguration::default())
            .await
            .unwrap_err()
            .name(),
        "InvalidStateError"
    );
}

/// The `o=` line's session version.
fn session_version(sdp: &str) -> u64 {
    let origin = sdp.lines().find(|l| l.starts_with("o=")).expect("o= line");
    origin.split(' ').nth(2).expect("version").parse().expect("number")
}

#[tokio::test]
async fn o10_create_offer_calls_run_in_the_order_they_were_made() {
    let pc = loopback_peer().await;
    let first = pc.create_offer();
    let second = pc.create_offer();
    // Polled in the opposite order: the order of the calls still decides.
    let (second, first) = tokio::join!(second, first);
    let (first, second) = (first.expect("first"), second.expect("second"));
    assert!(session_version(&first.sdp) < session_version(&second.sdp));
    pc.close().await;
}

#[tokio::test]
async fn d35_add_ice_candidate_waits_on_the_chain_for_the_remote_description() {
    let offerer = loopback_peer().await;
    offerer
        .create_data_channel("x", DataChannelInit::default())
        .await
        .expect("channel");
    let offer = offerer.create_offer().await.expect("offer");
    let address = offerer.local_addresses().await.expect("addresses")[0];
    let candidate = rtcpeer::IceCandidateInit {
        candidate: format!(
            "candidate:1 1 udp 2130706431 {} {} typ host",
            address.ip(),
            address.port()
        ),
        sdp_mid: Some("0".into()),
        sdp_m_line_index: Some(0),
        username_fragment: None,
    };
    let pc = loopback_peer().await;
    let srd = pc.set_remote_description(offer);
    let add = pc.add_ice_candidate(Some(candidate));
    // The candidate is polled first, yet it is added after the remote description.
    let (added, set) = tokio::join!(add, srd);
    set.expect("SRD");
    added.expect("the candidate finds the remote description");
    pc.close().await;
    offerer.close().await;
}

#[tokio::test]
async fn d36_sld_and_srd_called_back_to_back_apply_in_order() {
    let a = loopback_peer().await;
    let b = loopback_peer().await;
    a.create_data_channel("x", DataChannelInit::default())
        .await
        .expect("channel");
    let offer = a.create_offer().await.expect("offer");
    b.set_remote_description(offer.clone()).await.expect("offer at b");
    let answer = b.create_answer().await.expect("answer");
    let sld = a.set_local_description(Some(offer));
    let srd = a.set_remote_description(answer);
    let (srd, sld) = tokio::join!(srd, sld);
    sld.expect("SLD(offer) first");
    srd.expect("then SRD(answer)");
    assert_eq!(a.signaling_state().await.unwrap(), SignalingState::Stable);
    // A future that is never awaited still takes its turn.
    drop(b.set_local_description(None));
    assert_eq!(b.signaling_state().await.unwrap(), SignalingState::Stable);
    a.close().await;
    b.close().await;
}

#[tokio::test]
async fn d20_signalingstatechange_is_on_the_stream_before_sld_resolves() {
    let mut pc = loopback_peer().await;
    let mut events = pc.take_events().expect("events");
    pc.create_data_channel("x", DataChannelInit::default())
        .await
        .expect("channel");
    pc.set_local_description(None).await.expect("SLD");
    let mut first_signaling = None;
    while let Some(event) = events.try_recv() {
        if let PeerConnectionEvent::SignalingStateChange(s) = event {
            first_signaling = Some(s);
            break;
        }
    }
    assert_eq!(first_signaling, Some(SignalingState::HaveLocalOffer));
    pc.close().await;
}

#[tokio::test]
async fn d14_d34_descriptions_from_json_name_what_is_wrong() {
    let bogus = SessionDescriptionInit::from_json(r#"{"type":"bogus","sdp":"bogus"}"#).unwrap_err();
    assert_eq!(bogus.name(), "TypeError");
    assert!(bogus.to_string().contains("bogus"));
    let untyped = SessionDescriptionInit::from_json("{}").unwrap_err();
    assert_eq!(untyped.name(), "TypeError");
    let rollback = SessionDescriptionInit::from_json(r#"{"type":"rollback"}"#).expect("rollback");
    assert_eq!(rollback.kind, SdpType::Rollback);
}

fn fingerprint_line(sdp: &str) -> String {
    sdp.lines()
        .find_map(|l| l.strip_prefix("a=fingerprint:sha-256 "))
        .expect("a=fingerprint")
        .to_string()
}

/// Two connections that connect over loopback; returns them once `a` is connected.
async fn connect(a_config: RTCConfiguration) -> (RTCPeerConnection, RTCPeerConnection, String) {
    let mut a = RTCPeerConnection::new(a_config).await.expect("a");
    let mut b = loopback_peer().await;
    a.create_data_channel("x", DataChannelInit::default())
        .await
        .expect("channel");
    negotiate(&a, &b).await;
    let offer = a.local_description().await.unwrap().expect("offer");
    let (mut a_seen, _) = pump(&mut a, &b);
    let (_b_seen, _) = pump(&mut b, &a);
    wait_for(&mut a_seen, Seen::Connection(PeerConnectionState::Connected)).await;
    (a, b, fingerprint_line(&offer.sdp))
}

#[tokio::test]
async fn certificate_generated_ecdsa_expires_in_thirty_days_and_rsa_is_not_supported() {
    let cert = RTCPeerConnection::generate_certificate(KeyAlgorithm::default()).expect("ECDSA P-256");
    let lifetime = cert.expires().duration_since(SystemTime::now()).expect("in the future");
    assert!(lifetime > Duration::from_secs(29 * 86_400) && lifetime <= Duration::from_secs(30 * 86_400));
    assert!(!cert.is_expired());
    let error = RTCPeerConnection::generate_certificate(KeyAlgorithm::Rsa { modulus_length: 2048 }).unwrap_err();
    assert_eq!(error.name(), "NotSupportedError", "{error}");
}

#[tokio::test]
async fn certificate_reused_across_connections_keeps_its_fingerprint() {
    let cert = RTCPeerConnection::generate_certificate(KeyAlgorithm::EcdsaP256).expect("certificate");
    let expected = cert.get_fingerprints()[0].value.clone();
    let config = RTCConfiguration {
        certificates: vec![cert.clone()],
        ..RTCConfiguration::bound_to([LOOPBACK])
    };
    // Both connections complete DTLS (the peer checks the handshake against the offered
    // fingerprint), so the certificate given is the one DTLS used.
    let (a1, b1, first) = connect(config.clone()).await;
    let (a2, b2, second) = connect(config).await;
    assert_eq!(first, expected);
    assert_eq!(second, expected);
    let reported = a1.get_configuration().certificates;
    assert_eq!(reported.len(), 1);
    assert_eq!(reported[0].get_fingerprints()[0].value, expected);
    for pc in [a1, b1, a2, b2] {
        pc.close().await;
    }
}

#[tokio::test]
async fn certificate_generated_by_the_connection_is_reported_and_differs_per_connection() {
    let a = loopback_peer().await;
    let b = loopback_peer().await;
    let fa = a.get_configuration().certificates[0].get_fingerprints()[0]
        .value
        .clone();
    let fb = b.get_configuration().certificates[0].get_fingerprints()[0]
        .value
        .clone();
    assert_ne!(fa, fb);
    a.create_data_channel("x", DataChannelInit::default())
        .await
        .expect("channel");
    let offer = a.create_offer().await.expect("offer");
    assert_eq!(fingerprint_line(&offer.sdp), fa);
    a.close().await;
    b.close().await;
}

#[tokio::test]
async fn certificate_pem_round_trip_keeps_the_fingerprint_and_connects() {
    let cert = RTCPeerConnection::generate_certificate(KeyAlgorithm::EcdsaP256).expect("certificate");
    let pem = cert.to_pem();
    let loaded = RTCCertificate::from_pem(&pem).expect("loads");
    assert_eq!(loaded.get_fingerprints(), cert.get_fingerprints());
    assert_eq!(loaded.expires(), cert.expires());
    let config = RTCConfiguration {
        certificates: vec![loaded],
        ..RTCConfiguration::bound_to([LOOPBACK])
    };
    let (a, b, fingerprint) = connect(config).await;
    assert_eq!(fingerprint, cert.get_fingerprints()[0].value);
    a.close().await;
    b.close().await;
}

#[tokio::test]
async fn certificate_expired_is_refused_at_construction_with_invalid_access() {
    let now = SystemTime::now();
    let expired = Certificate::generate_with_validity(now - Duration::from_secs(7200), now - Duration::from_secs(3600))
        .expect("certificate");
    let expired = RTCCertificate::from(expired);
    assert!(expired.is_expired());
    let config = RTCConfiguration {
        certificates: vec![expired],
        ..RTCConfiguration::bound_to([LOOPBACK])
    };
    let error = RTCPeerConnection::new(config).await.unwrap_err();
    assert_eq!(error.name(), "InvalidAccessError", "{error}");
    assert!(error.to_string().contains("expired"), "{error}");
}

#[tokio::test]
async fn certificate_cannot_change_through_set_configuration() {
    let pc = loopback_peer().await;
    let other = RTCPeerConnection::generate_certificate(KeyAlgorithm::EcdsaP256).expect("certificate");
    let config = RTCConfiguration {
        certificates: vec![other],
        ..RTCConfiguration::bound_to([LOOPBACK])
    };
    assert_eq!(
        pc.set_configuration(config).await.unwrap_err().name(),
        "InvalidModificationError"
    );
    // The certificate in use may be given again.
    let same = RTCConfiguration {
        certificates: pc.get_configuration().certificates,
        ..RTCConfiguration::bound_to([LOOPBACK])
    };
    pc.set_configuration(same).await.expect("same certificate");
    pc.close().await;
}

#[tokio::test]
async fn o1_o7_offers_and_answers_are_plain_descriptions() {
    let a = loopback_peer().await;
    let offer: SessionDescriptionInit = a.create_offer().await.expect("offer with nothing");
    assert_eq!(offer.kind, SdpType::Offer);
    let b = loopback_peer().await;
    b.set_remote_description(offer).await.expect("offer");
    let answer: SessionDescriptionInit = b.create_answer().await.expect("answer");
    assert_eq!(answer.kind, SdpType::Answer);
    a.close().await;
    b.close().await;
}

#[tokio::test]
async fn errors_leave_the_connection_usable() {
    let pc = loopback_peer().await;
    let error = pc
        .set_remote_description(SessionDescriptionInit::offer("Invalid SDP"))
        .await
        .unwrap_err();
    assert_eq!(error.error_detail(), Some("sdp-syntax-error"));
    assert_eq!(pc.create_answer().await.unwrap_err().name(), "InvalidStateError");
    pc.create_data_channel("x", DataChannelInit::default())
        .await
        .expect("channel");
    pc.set_local_description(None).await.expect("still usable");
    assert_eq!(pc.signaling_state().await.unwrap(), SignalingState::HaveLocalOffer);
    pc.close().await;
}
