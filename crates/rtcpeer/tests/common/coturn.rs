//! A coturn launcher for the TURN tests: each test starts its own `turnserver` (long-term
//! credentials, loopback peers allowed) on a free port with a temporary directory, and kills it
//! when done.
#![allow(dead_code)]

use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

pub const USER: &str = "test";
pub const PASS: &str = "test";

/// Relay port ranges handed out to the servers of concurrently running tests.
static NEXT_RANGE: AtomicU16 = AtomicU16::new(0);

/// A running coturn, killed on drop.
pub struct Coturn {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Coturn {
    pub fn start() -> Coturn {
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
                "--no-tls",
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
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start turnserver");
        let server = Coturn { child, port, dir };
        server.wait_until_listening();
        server
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// Waits until the TCP listener accepts (the UDP one opens at the same time).
    fn wait_until_listening(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if TcpStream::connect_timeout(&self.addr(), Duration::from_millis(100)).is_ok() {
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
