//! A coturn launcher for the TURN tests: each test starts its own `turnserver` (long-term
//! credentials, loopback peers allowed) on a free port with a temporary directory, and kills it
//! when done. [`Options`] add a TLS listener (the test's certificate and key) and a short
//! maximum allocation lifetime.
#![allow(dead_code)]

use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rtcpeer::{
    CertificateDer, IceTransportPolicy, PeerConnectionEvent, RTCConfiguration, RTCIceServer, RTCPeerConnection,
};

pub const USER: &str = "test";
pub const PASS: &str = "test";

/// Relay port ranges handed out to the servers of concurrently running tests.
static NEXT_RANGE: AtomicU16 = AtomicU16::new(0);

/// A test CA and a server certificate it signed.
#[derive(Clone)]
pub struct Pki {
    /// The CA certificate (DER), to trust.
    pub ca_der: Vec<u8>,
    /// The server's certificate chain (leaf, then CA) in PEM.
    pub chain_pem: String,
    /// The server's private key in PEM.
    pub key_pem: String,
}

/// A relay-only loopback configuration using the TURN server at `url` as the test's user,
/// trusting `roots` (besides the built-in ones) for `turns:`.
pub fn relay_config(url: String, roots: Vec<CertificateDer<'static>>) -> RTCConfiguration {
    RTCConfiguration {
        ice_servers: vec![RTCIceServer {
            urls: vec![url],
            username: Some(USER.into()),
            credential: Some(PASS.into()),
        }],
        ice_transport_policy: IceTransportPolicy::Relay,
        turn_tls_roots: roots,
        ..RTCConfiguration::bound_to([std::net::Ipv4Addr::LOCALHOST.into()])
    }
}

/// A connection with [`relay_config`].
pub async fn relay_peer(url: String, roots: Vec<CertificateDer<'static>>) -> RTCPeerConnection {
    RTCPeerConnection::new(relay_config(url, roots))
        .await
        .expect("a connection")
}

/// Gathers alone (no peer) until complete; returns what was seen.
pub async fn gather(pc: &mut RTCPeerConnection) -> Vec<PeerConnectionEvent> {
    pc.create_data_channel("x", rtcpeer::DataChannelInit::default())
        .await
        .unwrap();
    pc.set_local_description(None).await.unwrap();
    let mut seen = Vec::new();
    let complete = tokio::time::timeout(Duration::from_secs(15), async {
        while let Some(event) = pc.next_event().await {
            let done = matches!(&event, PeerConnectionEvent::IceCandidate(None));
            seen.push(event);
            if done {
                return;
            }
        }
    })
    .await;
    assert!(complete.is_ok(), "gathering never completed: {seen:?}");
    seen
}

/// A fresh CA, and a server certificate for `names` (DNS names or IP addresses) signed by it.
pub fn make_pki(names: &[&str]) -> Pki {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name.push(DnType::CommonName, "rtcpeer test CA");
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate().unwrap();
    let mut leaf = CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
    leaf.distinguished_name.push(DnType::CommonName, names[0]);
    let cert = leaf.signed_by(&key, &issuer).unwrap();
    Pki {
        ca_der: ca_cert.der().to_vec(),
        chain_pem: format!("{}{}", cert.pem(), ca_cert.pem()),
        key_pem: key.serialize_pem(),
    }
}

impl Pki {
    /// The CA certificate, as `RTCConfiguration::turn_tls_roots` takes it.
    pub fn ca(&self) -> CertificateDer<'static> {
        CertificateDer::from(self.ca_der.clone())
    }
}

/// What a test asks of its server beyond the defaults.
#[derive(Default)]
pub struct Options {
    /// A TLS listener with this certificate chain and private key.
    pub tls: Option<Pki>,
    /// `--max-allocate-lifetime`: allocations live at most this many seconds.
    pub max_allocate_lifetime: Option<u32>,
    /// `--verbose`: the log names every request (refreshes, deletions).
    pub verbose: bool,
}

/// A running coturn, killed on drop.
pub struct Coturn {
    child: Child,
    port: u16,
    tls_port: Option<u16>,
    dir: PathBuf,
}

impl Coturn {
    pub fn start() -> Coturn {
        Coturn::start_with(Options::default())
    }

    pub fn start_with(options: Options) -> Coturn {
        let binary = "turnserver";
        if Command::new("sh")
            .args(["-c", "command -v turnserver"])
            .stdout(Stdio::null())
            .status()
            .map(|s| !s.success())
            .unwrap_or(true)
        {
            panic!("`turnserver` (coturn) is not installed: run scripts/deps.sh");
        }
        let port = free_port();
        let range = NEXT_RANGE.fetch_add(1, Ordering::SeqCst);
        // Offset by the process, so that test binaries running at once use different ranges.
        let slot = (u32::from(range) + std::process::id() % 97) % 200;
        let min_port = 50_000 + u16::try_from(slot).unwrap_or(0) * 50;
        let dir = std::env::temp_dir().join(format!("rtcpeer-coturn-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = |name: &str| dir.join(name).display().to_string();
        let mut extra = Vec::new();
        let mut tls_port = None;
        match &options.tls {
            Some(pki) => {
                std::fs::write(dir.join("cert.pem"), &pki.chain_pem).unwrap();
                std::fs::write(dir.join("key.pem"), &pki.key_pem).unwrap();
                let tls = free_port();
                tls_port = Some(tls);
                extra.push(format!("--tls-listening-port={tls}"));
                extra.push(format!("--cert={}", path("cert.pem")));
                extra.push(format!("--pkey={}", path("key.pem")));
            }
            None => extra.push("--no-tls".into()),
        }
        if let Some(seconds) = options.max_allocate_lifetime {
            extra.push(format!("--max-allocate-lifetime={seconds}"));
        }
        if options.verbose {
            extra.push("--verbose".into());
        }
        let child = Command::new(binary)
            .args([
                "-n",
                "--listening-ip=127.0.0.1",
                "--relay-ip=127.0.0.1",
                &format!("--listening-port={port}"),
                "--lt-cred-mech",
                &format!("--user={USER}:{PASS}"),
                "--realm=example.org",
                "--fingerprint",
                "--no-dtls",
                "--no-cli",
                "--allow-loopback-peers",
                &format!("--min-port={min_port}"),
                &format!("--max-port={}", min_port + 49),
                &format!("--userdb={}", path("turndb")),
                &format!("--pidfile={}", path("turn.pid")),
                &format!("--log-file={}", path("turn.log")),
                "--simple-log",
                "--no-stdout-log",
            ])
            .args(&extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start turnserver");
        let server = Coturn {
            child,
            port,
            tls_port,
            dir,
        };
        server.wait_until_listening();
        server
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// The TLS listener's address, if the server has one.
    pub fn tls_addr(&self) -> Option<SocketAddr> {
        self.tls_port.map(|port| SocketAddr::from(([127, 0, 0, 1], port)))
    }

    /// Waits until the TCP (and TLS) listeners accept (the UDP one opens at the same time).
    fn wait_until_listening(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        let accepts = |addr: SocketAddr| TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_ok();
        while Instant::now() < deadline {
            if accepts(self.addr()) && self.tls_addr().is_none_or(accepts) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("turnserver did not start listening; log:\n{}", self.log());
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("turn.log")).unwrap_or_default()
    }
}

impl Drop for Coturn {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A port free for both UDP and TCP on 127.0.0.1 (coturn listens on both).
pub fn free_port() -> u16 {
    loop {
        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = udp.local_addr().unwrap().port();
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}
