//! DTLS transports talking to each other through an in-memory "network" with a
//! fake clock: handshake, data, loss, garbage, fingerprints, close.

use std::time::{Duration, Instant};

use rtcpeer_proto::dtls::{
    Certificate, DtlsConfig, DtlsError, DtlsEvent, DtlsRole, DtlsState, DtlsTransport, DtlsVersion, DtlsVersions,
    Fingerprint, HashAlgorithm, MAX_APPLICATION_DATA,
};

/// Which way a datagram travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dir {
    ToServer,
    ToClient,
}

struct Net {
    client: DtlsTransport,
    server: DtlsTransport,
    now: Instant,
    start: Instant,
    client_events: Vec<DtlsEvent>,
    server_events: Vec<DtlsEvent>,
    /// Datagrams delivered, per direction.
    delivered: [usize; 2],
}

impl Net {
    fn new(client_cfg: DtlsConfig, server_cfg: DtlsConfig) -> Net {
        let client_cert = Certificate::generate().unwrap();
        let server_cert = Certificate::generate().unwrap();
        Net::with_fingerprints(
            &client_cert,
            &server_cert,
            vec![server_cert.fingerprint()],
            vec![client_cert.fingerprint()],
            client_cfg,
            server_cfg,
        )
    }

    fn with_fingerprints(
        client_cert: &Certificate,
        server_cert: &Certificate,
        client_expects: Vec<Fingerprint>,
        server_expects: Vec<Fingerprint>,
        client_cfg: DtlsConfig,
        server_cfg: DtlsConfig,
    ) -> Net {
        let now = Instant::now();
        let client =
            DtlsTransport::with_config(client_cert, DtlsRole::Client, client_expects, client_cfg, now).unwrap();
        let server =
            DtlsTransport::with_config(server_cert, DtlsRole::Server, server_expects, server_cfg, now).unwrap();
        Net {
            client,
            server,
            now,
            start: now,
            client_events: vec![],
            server_events: vec![],
            delivered: [0, 0],
        }
    }

    fn default_pair() -> Net {
        Net::new(DtlsConfig::default(), DtlsConfig::default())
    }

    fn collect_events(&mut self) {
        while let Some(e) = self.client.poll_event() {
            self.client_events.push(e);
        }
        while let Some(e) = self.server.poll_event() {
            self.server_events.push(e);
        }
    }

    /// Moves datagrams both ways until both sides are quiet, asking `lose`
    /// about each one; then, if `until` is not yet true, advances the clock to
    /// the earliest deadline. Gives up after `max_steps` rounds.
    fn run(&mut self, max_steps: usize, mut lose: impl FnMut(Dir, usize, &[u8]) -> bool, until: impl Fn(&Net) -> bool) {
        for _ in 0..max_steps {
            let mut moved = false;
            while let Some(d) = self.client.poll_transmit() {
                moved = true;
                let n = self.delivered[0];
                self.delivered[0] += 1;
                if !lose(Dir::ToServer, n, &d) {
                    self.server.handle_receive(self.now, &d);
                }
            }
            while let Some(d) = self.server.poll_transmit() {
                moved = true;
                let n = self.delivered[1];
                self.delivered[1] += 1;
                if !lose(Dir::ToClient, n, &d) {
                    self.client.handle_receive(self.now, &d);
                }
            }
            self.collect_events();
            if until(self) {
                return;
            }
            if !moved {
                let next = [self.client.poll_timeout(), self.server.poll_timeout()]
                    .into_iter()
                    .flatten()
                    .min();
                let Some(next) = next else { return };
                self.now = self.now.max(next);
                self.client.handle_timeout(self.now);
                self.server.handle_timeout(self.now);
            }
        }
    }

    fn connect(&mut self) {
        self.run(200, |_, _, _| false, both_connected);
        assert_eq!(
            self.client.state(),
            DtlsState::Connected,
            "client events: {:?}",
            self.client_events
        );
        assert_eq!(
            self.server.state(),
            DtlsState::Connected,
            "server events: {:?}",
            self.server_events
        );
    }

    /// Delivers everything queued, without loss and without moving the clock.
    fn flush(&mut self) {
        let mut steps = 0;
        loop {
            let mut moved = false;
            while let Some(d) = self.client.poll_transmit() {
                moved = true;
                self.server.handle_receive(self.now, &d);
            }
            while let Some(d) = self.server.poll_transmit() {
                moved = true;
                self.client.handle_receive(self.now, &d);
            }
            self.collect_events();
            steps += 1;
            if !moved || steps > 50 {
                return;
            }
        }
    }

    fn data(events: &[DtlsEvent]) -> Vec<Vec<u8>> {
        events
            .iter()
            .filter_map(|e| {
                if let DtlsEvent::Data(d) = e {
                    Some(d.clone())
                } else {
                    None
                }
            })
            .collect()
    }
}

fn both_connected(n: &Net) -> bool {
    n.client.state() == DtlsState::Connected && n.server.state() == DtlsState::Connected
}

fn connected_events(events: &[DtlsEvent]) -> usize {
    events
        .iter()
        .filter(|e| matches!(e, DtlsEvent::Connected { .. }))
        .count()
}

fn payload(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

#[test]
fn handshake_completes_and_data_flows_both_ways() {
    let mut net = Net::default_pair();
    assert_eq!(net.client.state(), DtlsState::Connecting);
    assert_eq!(net.server.state(), DtlsState::New);
    net.connect();
    assert_eq!(net.now, net.start, "no retransmission should have been needed");
    assert_eq!(connected_events(&net.client_events), 1);
    assert_eq!(connected_events(&net.server_events), 1);
    // Default: the client offers only 1.2, the auto-sensing server follows.
    assert_eq!(net.client.version(), Some(DtlsVersion::Dtls12));
    assert_eq!(net.server.version(), Some(DtlsVersion::Dtls12));

    let sizes = [1usize, 100, 1200, 4000, MAX_APPLICATION_DATA];
    for (i, &len) in sizes.iter().enumerate() {
        net.client.send(&payload(len, i as u8)).unwrap();
        net.server.send(&payload(len, 100 + i as u8)).unwrap();
    }
    net.flush();
    let to_server: Vec<Vec<u8>> = sizes.iter().enumerate().map(|(i, &l)| payload(l, i as u8)).collect();
    let to_client: Vec<Vec<u8>> = sizes
        .iter()
        .enumerate()
        .map(|(i, &l)| payload(l, 100 + i as u8))
        .collect();
    assert_eq!(Net::data(&net.server_events), to_server);
    assert_eq!(Net::data(&net.client_events), to_client);
}

#[test]
fn both_sides_know_the_peer_certificate_and_share_srtp_keys() {
    let client_cert = Certificate::generate().unwrap();
    let server_cert = Certificate::generate().unwrap();
    let mut net = Net::with_fingerprints(
        &client_cert,
        &server_cert,
        vec![server_cert.fingerprint()],
        vec![client_cert.fingerprint()],
        DtlsConfig::default(),
        DtlsConfig::default(),
    );
    assert_eq!(net.client.remote_certificate(), None);
    net.connect();
    assert_eq!(net.client.remote_certificate(), Some(server_cert.der()));
    assert_eq!(net.server.remote_certificate(), Some(client_cert.der()));

    let srtp = |events: &[DtlsEvent]| {
        events.iter().find_map(|e| match e {
            DtlsEvent::Connected { srtp } => srtp.clone(),
            _ => None,
        })
    };
    let c = srtp(&net.client_events).expect("client got SRTP keys");
    let s = srtp(&net.server_events).expect("server got SRTP keys");
    assert_eq!(c.profile, s.profile);
    assert_eq!(c.local, s.remote);
    assert_eq!(c.remote, s.local);
    assert_eq!(c.raw, s.raw);
    assert_ne!(c.local.key, c.remote.key);
    assert_eq!(c.local.key.len(), c.profile.key_len());
    assert_eq!(c.local.salt.len(), c.profile.salt_len());
}

#[test]
fn auto_client_and_auto_server_use_dtls13() {
    let auto = DtlsConfig {
        client_versions: DtlsVersions::Auto,
        ..DtlsConfig::default()
    };
    let mut net = Net::new(auto.clone(), auto);
    net.connect();
    assert_eq!(net.client.version(), Some(DtlsVersion::Dtls13));
    assert_eq!(net.server.version(), Some(DtlsVersion::Dtls13));
    net.client.send(b"over 1.3").unwrap();
    net.server.send(b"back over 1.3").unwrap();
    net.flush();
    assert_eq!(Net::data(&net.server_events), vec![b"over 1.3".to_vec()]);
    assert_eq!(Net::data(&net.client_events), vec![b"back over 1.3".to_vec()]);
}

#[test]
fn auto_client_falls_back_to_dtls12_server() {
    let client = DtlsConfig {
        client_versions: DtlsVersions::Auto,
        ..DtlsConfig::default()
    };
    let server = DtlsConfig {
        server_versions: DtlsVersions::Dtls12,
        ..DtlsConfig::default()
    };
    let mut net = Net::new(client, server);
    net.connect();
    assert_eq!(net.client.version(), Some(DtlsVersion::Dtls12));
}

#[test]
fn client_rejects_server_with_wrong_fingerprint() {
    for versions in [DtlsVersions::Dtls12, DtlsVersions::Auto] {
        let cfg = DtlsConfig {
            client_versions: versions,
            ..DtlsConfig::default()
        };
        let client_cert = Certificate::generate().unwrap();
        let server_cert = Certificate::generate().unwrap();
        let stranger = Certificate::generate().unwrap();
        let mut net = Net::with_fingerprints(
            &client_cert,
            &server_cert,
            vec![stranger.fingerprint()],
            vec![client_cert.fingerprint()],
            cfg.clone(),
            cfg,
        );
        net.run(200, |_, _, _| false, |n| n.client.state() == DtlsState::Failed);
        assert_eq!(net.client.state(), DtlsState::Failed);
        assert_eq!(connected_events(&net.client_events), 0);
        assert!(Net::data(&net.client_events).is_empty());
        match net.client_events.last() {
            Some(DtlsEvent::Failed(DtlsError::FingerprintMismatch { actual, expected })) => {
                assert_eq!(*actual, server_cert.fingerprint().value_string());
                assert_eq!(*expected, 1);
            }
            other => panic!("expected a fingerprint mismatch, got {other:?}"),
        }
        assert_eq!(net.client.remote_certificate(), None);
        assert_eq!(net.client.poll_timeout(), None);
        assert!(matches!(
            net.client.send(b"x"),
            Err(DtlsError::NotConnected(DtlsState::Failed))
        ));
    }
}

#[test]
fn server_rejects_client_with_wrong_fingerprint_and_delivers_no_data() {
    for versions in [DtlsVersions::Dtls12, DtlsVersions::Auto] {
        let cfg = DtlsConfig {
            client_versions: versions,
            ..DtlsConfig::default()
        };
        server_rejects_client(cfg);
    }
}

fn server_rejects_client(cfg: DtlsConfig) {
    let client_cert = Certificate::generate().unwrap();
    let server_cert = Certificate::generate().unwrap();
    let stranger = Certificate::generate().unwrap();
    let mut net = Net::with_fingerprints(
        &client_cert,
        &server_cert,
        vec![server_cert.fingerprint()],
        vec![stranger.fingerprint(), stranger.fingerprint_with(HashAlgorithm::Sha384)],
        cfg.clone(),
        cfg,
    );
    // The client may believe it is connected (the server's certificate is fine
    // and its last flight may still be in the air); it sends data at once.
    net.run(
        200,
        |_, _, _| false,
        |n| n.server.state() == DtlsState::Failed || n.client.state() == DtlsState::Connected,
    );
    if net.client.state() == DtlsState::Connected {
        net.client.send(b"secret").unwrap();
    }
    net.run(200, |_, _, _| false, |n| n.server.state() == DtlsState::Failed);
    assert_eq!(net.server.state(), DtlsState::Failed);
    assert_eq!(connected_events(&net.server_events), 0);
    assert!(Net::data(&net.server_events).is_empty(), "{:?}", net.server_events);
    assert!(matches!(
        net.server_events.as_slice(),
        [DtlsEvent::Failed(DtlsError::FingerprintMismatch { expected: 2, .. })]
    ));
    // Nothing more happens to a failed transport, whatever arrives.
    net.server.handle_receive(net.now, &[22, 254, 253, 0, 0]);
    assert_eq!(net.server.poll_event(), None);
    assert_eq!(net.server.poll_transmit(), None);
}

#[test]
fn any_listed_fingerprint_and_other_hashes_are_accepted() {
    let client_cert = Certificate::generate().unwrap();
    let server_cert = Certificate::generate().unwrap();
    let stranger = Certificate::generate().unwrap();
    let mut net = Net::with_fingerprints(
        &client_cert,
        &server_cert,
        vec![
            stranger.fingerprint(),
            server_cert.fingerprint_with(HashAlgorithm::Sha512),
        ],
        vec![client_cert.fingerprint_with(HashAlgorithm::Sha1)],
        DtlsConfig::default(),
        DtlsConfig::default(),
    );
    net.connect();
}

#[test]
fn lost_first_flights_are_retransmitted() {
    let mut net = Net::default_pair();
    // Lose the first two datagrams each way: the ClientHello and more.
    net.run(200, |_, n, _| n < 2, both_connected);
    assert!(
        both_connected(&net),
        "client {:?} server {:?}",
        net.client_events,
        net.server_events
    );
    let waited = net.now - net.start;
    assert!(
        waited >= Duration::from_millis(750),
        "recovered after {waited:?}, before any timer could fire"
    );
    assert!(waited < Duration::from_secs(20), "took {waited:?}");
    net.client.send(b"after loss").unwrap();
    net.flush();
    assert_eq!(Net::data(&net.server_events), vec![b"after loss".to_vec()]);
}

#[test]
fn handshake_without_peer_times_out() {
    let cfg = DtlsConfig {
        handshake_timeout: Duration::from_secs(10),
        ..DtlsConfig::default()
    };
    let mut net = Net::new(cfg.clone(), cfg);
    net.run(100, |_, _, _| true, |n| n.client.state() == DtlsState::Failed);
    assert_eq!(net.client.state(), DtlsState::Failed);
    assert!(matches!(
        net.client_events.as_slice(),
        [DtlsEvent::Failed(DtlsError::HandshakeTimeout(_))]
    ));
    assert_eq!(net.client.poll_timeout(), None);
    let waited = net.now - net.start;
    assert!(waited <= Duration::from_secs(11), "failed after {waited:?}");
    // The server never heard anything and is still waiting.
    assert_eq!(net.server.state(), DtlsState::New);
}

#[test]
fn garbage_datagrams_are_ignored() {
    let mut net = Net::default_pair();
    let junk: Vec<Vec<u8>> = vec![
        vec![],
        vec![0],                                                      // STUN-looking
        vec![0x80; 40],                                               // RTP-looking
        vec![0xff; 64],                                               // nothing
        vec![22],                                                     // handshake type, no header
        vec![22, 254, 253, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff],       // record claiming 64 KiB
        vec![23, 254, 253, 0, 1, 0, 0, 0, 0, 0, 7, 0, 4, 1, 2, 3, 4], // app data at epoch 1
    ];
    for j in &junk {
        net.server.handle_receive(net.now, j);
        net.client.handle_receive(net.now, j);
    }
    assert_eq!(net.server.state(), DtlsState::New, "junk does not start a handshake");
    assert_eq!(net.server.poll_transmit(), None);
    net.connect();
    for j in &junk {
        net.server.handle_receive(net.now, j);
        net.client.handle_receive(net.now, j);
    }
    net.collect_events();
    assert!(both_connected(&net));
    net.client.send(b"still here").unwrap();
    net.flush();
    assert_eq!(Net::data(&net.server_events), vec![b"still here".to_vec()]);
}

#[test]
fn close_is_seen_by_the_peer() {
    let mut net = Net::default_pair();
    net.connect();
    net.client.close();
    assert_eq!(net.client.state(), DtlsState::Closed);
    assert!(matches!(
        net.client.send(b"x"),
        Err(DtlsError::NotConnected(DtlsState::Closed))
    ));
    net.flush();
    assert_eq!(net.server.state(), DtlsState::Closed);
    assert_eq!(net.server_events.last(), Some(&DtlsEvent::Closed));
    assert_eq!(net.server.poll_timeout(), None);
    assert!(matches!(
        net.server.send(b"x"),
        Err(DtlsError::NotConnected(DtlsState::Closed))
    ));
}

#[test]
fn send_checks_state_size_and_queue() {
    let cfg = DtlsConfig {
        max_transmit_queue: 4,
        ..DtlsConfig::default()
    };
    let mut net = Net::new(cfg.clone(), cfg);
    assert_eq!(
        net.client.send(b"early"),
        Err(DtlsError::NotConnected(DtlsState::Connecting))
    );
    net.connect();
    let too_big = vec![0u8; MAX_APPLICATION_DATA + 1];
    assert_eq!(
        net.client.send(&too_big),
        Err(DtlsError::DataTooLarge {
            len: MAX_APPLICATION_DATA + 1,
            max: MAX_APPLICATION_DATA
        })
    );
    for i in 0..4u8 {
        net.client.send(&[i]).unwrap();
    }
    assert_eq!(net.client.send(b"one more"), Err(DtlsError::SendQueueFull(4)));
    // Refusing is not fatal: after draining, sending works again.
    assert_eq!(net.client.state(), DtlsState::Connected);
    net.flush();
    net.client.send(&[4]).unwrap();
    net.flush();
    assert_eq!(
        Net::data(&net.server_events),
        (0..5u8).map(|i| vec![i]).collect::<Vec<_>>()
    );
}

#[test]
fn received_data_queue_is_bounded() {
    let cfg = DtlsConfig {
        max_received_records: 8,
        ..DtlsConfig::default()
    };
    let mut net = Net::new(cfg.clone(), cfg);
    net.connect();
    for i in 0..20u8 {
        net.client.send(&[i]).unwrap();
        while let Some(d) = net.client.poll_transmit() {
            net.server.handle_receive(net.now, &d);
        }
    }
    let mut got = vec![];
    while let Some(e) = net.server.poll_event() {
        got.push(e);
    }
    assert_eq!(Net::data(&got), (0..8u8).map(|i| vec![i]).collect::<Vec<_>>());
    // Once drained, new records are accepted again.
    net.client.send(b"later").unwrap();
    net.flush();
    assert_eq!(Net::data(&net.server_events), vec![b"later".to_vec()]);
}

#[test]
fn new_requires_a_remote_fingerprint() {
    let cert = Certificate::generate().unwrap();
    let err = DtlsTransport::new(&cert, DtlsRole::Client, vec![], Instant::now()).unwrap_err();
    assert_eq!(err, DtlsError::NoRemoteFingerprint);
}

#[test]
fn client_sends_client_hello_at_once_and_server_waits() {
    let cert = Certificate::generate().unwrap();
    let fp = vec![cert.fingerprint()];
    let now = Instant::now();
    let mut client = DtlsTransport::new(&cert, DtlsRole::Client, fp.clone(), now).unwrap();
    let mut server = DtlsTransport::new(&cert, DtlsRole::Server, fp, now).unwrap();
    let hello = client.poll_transmit().expect("ClientHello queued");
    assert_eq!(hello.first(), Some(&22), "a handshake record");
    assert!(hello.len() <= 1150);
    assert!(client.poll_timeout().is_some());
    assert_eq!(server.poll_transmit(), None);
    assert_eq!(server.state(), DtlsState::New);
    server.handle_receive(now, &hello);
    assert_eq!(server.state(), DtlsState::Connecting);
    assert!(server.poll_transmit().is_some(), "server answers the ClientHello");
}

/// A fatal alert in plaintext (epoch 0), as a peer sends when it rejects the handshake.
const PLAINTEXT_HANDSHAKE_FAILURE: [u8; 15] = [21, 254, 253, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 2, 40];

#[test]
fn plaintext_fatal_alert_fails_the_handshake_but_not_a_connection() {
    let mut net = Net::default_pair();
    net.client.handle_receive(net.now, &PLAINTEXT_HANDSHAKE_FAILURE);
    assert_eq!(net.client.state(), DtlsState::Failed);
    assert!(matches!(
        net.client.poll_event(),
        Some(DtlsEvent::Failed(DtlsError::Protocol(_)))
    ));

    let mut net = Net::default_pair();
    net.connect();
    net.client.handle_receive(net.now, &PLAINTEXT_HANDSHAKE_FAILURE);
    net.server.handle_receive(net.now, &PLAINTEXT_HANDSHAKE_FAILURE);
    net.collect_events();
    assert!(
        both_connected(&net),
        "client {:?} server {:?}",
        net.client_events,
        net.server_events
    );
}

#[test]
fn record_overhead_per_version() {
    // 1.2 AES-GCM: 13-byte header, 8-byte explicit nonce, 16-byte tag.
    // 1.3: 5-byte unified header (16-bit sequence, length), inner content type, 16-byte tag.
    for (versions, expected_overhead) in [(DtlsVersions::Dtls12, 13 + 8 + 16), (DtlsVersions::Auto, 5 + 1 + 16)] {
        let cfg = DtlsConfig {
            client_versions: versions,
            ..DtlsConfig::default()
        };
        let mut net = Net::new(cfg.clone(), cfg);
        net.connect();
        for len in [1usize, 1200, MAX_APPLICATION_DATA] {
            net.client.send(&vec![7u8; len]).unwrap();
            let d = net.client.poll_transmit().unwrap();
            assert_eq!(net.client.poll_transmit(), None, "one datagram per record");
            // A record is never split: above the MTU the datagram is simply larger.
            assert_eq!(d.len(), len + expected_overhead, "{:?}", net.client.version());
        }
    }
}

/// A small deterministic generator, so a failure can be replayed.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }

    /// A datagram that passes the RFC 7983 DTLS check: first byte 20..=63,
    /// often a plausible record header, then random bytes.
    fn dtls_like(&mut self) -> Vec<u8> {
        let len = (self.next() % 300) as usize;
        let mut d: Vec<u8> = (0..len).map(|_| self.next() as u8).collect();
        if let Some(first) = d.first_mut() {
            *first = 20 + (self.next() % 44) as u8;
        }
        if d.len() > 3 && self.next() % 2 == 0 {
            d[1] = 254;
            d[2] = 253;
        }
        d
    }
}

#[test]
fn random_dtls_like_datagrams_never_break_a_connection() {
    let mut rng = Lcg(0x5eed);
    // Fresh transports: must not panic, whatever happens to them.
    let mut fresh = Net::default_pair();
    for _ in 0..2000 {
        let d = rng.dtls_like();
        fresh.server.handle_receive(fresh.now, &d);
        fresh.client.handle_receive(fresh.now, &d);
    }
    fresh.collect_events();

    let mut net = Net::default_pair();
    net.connect();
    for _ in 0..2000 {
        let d = rng.dtls_like();
        net.server.handle_receive(net.now, &d);
        net.client.handle_receive(net.now, &d);
    }
    net.collect_events();
    assert!(
        both_connected(&net),
        "client {:?} server {:?}",
        net.client_events,
        net.server_events
    );
    assert!(Net::data(&net.server_events).is_empty(), "forged data was delivered");
    net.server.send(b"fine").unwrap();
    net.flush();
    assert_eq!(Net::data(&net.client_events), vec![b"fine".to_vec()]);
}
