//! The `connections` benchmark: how many connected, idle peer connections this process holds, and what
//! each costs in memory, with a UDP port per connection or one port shared by the answering side.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use rtcpeer::{Certificate, PeerConnectionState, RTCConfiguration, SharedUdpSocket};
use tokio::task::JoinSet;

use super::BenchError;
use crate::loopback::{self, Pair};

/// How long one pair may take to connect.
const CONNECT_LIMIT: Duration = Duration::from_secs(30);

/// Pairs connecting at the same time.
const CONCURRENCY: usize = 16;

/// The target: memory per idle connection, in KiB.
pub const TARGET_KIB: f64 = 50.0;

/// What one `connections` run found.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Held {
    /// Connections (both ends of every pair counted) still connected after the idle period.
    pub connections: usize,
    /// Resident memory growth divided by the connections held, in KiB (1024 bytes).
    pub kib_per_connection: f64,
}

/// Connects up to `pairs` pairs in this process (answerers on one [`SharedUdpSocket`] when `shared`, else
/// every connection on its own port), each with one open data channel, leaves them idle for `idle`, and
/// counts those still connected. Connecting stops at the first pair that fails (a file descriptor limit,
/// for example); the pairs made until then are measured.
pub async fn hold(pairs: usize, shared: bool, idle: Duration) -> Result<Held, BenchError> {
    let loopback = IpAddr::V4(Ipv4Addr::LOCALHOST);
    // One certificate for all, as a server uses: generating one per connection costs time, not memory.
    let certificate = Certificate::generate().map_err(|e| BenchError::Rtc(format!("certificate: {e}")))?;
    let shared_socket = if shared {
        Some(SharedUdpSocket::bind(SocketAddr::new(loopback, 0)).map_err(BenchError::Io)?)
    } else {
        None
    };
    let offerer = RTCConfiguration {
        certificates: vec![certificate.clone().into()],
        ..RTCConfiguration::bound_to([loopback])
    };
    let answerer = RTCConfiguration {
        shared_socket: shared_socket.clone(),
        ..offerer.clone()
    };
    let before = resident_bytes();

    let mut held: Vec<Pair> = Vec::with_capacity(pairs);
    let mut connecting = JoinSet::new();
    let mut started = 0;
    let mut failure = None;
    while held.len() < pairs {
        while failure.is_none() && started < pairs && connecting.len() < CONCURRENCY {
            let (offerer, answerer) = (offerer.clone(), answerer.clone());
            connecting
                .spawn(async move { loopback::connect_configured(offerer, answerer, 1, None, CONNECT_LIMIT).await });
            started += 1;
        }
        match connecting.join_next().await {
            Some(Ok(Ok(pair))) => held.push(pair),
            Some(Ok(Err(error))) => {
                failure.get_or_insert(error);
            }
            Some(Err(error)) => {
                failure.get_or_insert(error.to_string());
            }
            None => break,
        }
    }
    if let Some(error) = &failure {
        eprintln!(
            "rtcpeer bench: connections: stopped after {} pairs: {error}",
            held.len()
        );
    }
    tokio::time::sleep(idle).await;

    let mut connected = 0;
    for pair in &held {
        for pc in [&pair.offerer, &pair.answerer] {
            if pc.connection_state().await.ok() == Some(PeerConnectionState::Connected) {
                connected += 1;
            }
        }
    }
    let after = resident_bytes();
    let mut closing = JoinSet::new();
    for pair in held {
        closing.spawn(pair.close());
    }
    while closing.join_next().await.is_some() {}
    drop(shared_socket);

    if connected == 0 {
        return Err(BenchError::Rtc(format!(
            "no connection held{}",
            failure.map(|e| format!(": {e}")).unwrap_or_default()
        )));
    }
    let grown = match (before, after) {
        (Some(before), Some(after)) => after.saturating_sub(before) as f64,
        _ => f64::NAN,
    };
    Ok(Held {
        connections: connected,
        kib_per_connection: grown / 1024.0 / connected as f64,
    })
}

/// Set in the environment of the child process [`hold_in_child`] starts.
pub const CHILD_ENV: &str = "RTCPEER_BENCH_CONNECTIONS_CHILD";

/// Runs the benchmark `name` (`connections-own-ports` or `connections-shared-port`) in a fresh
/// `rtcpeer bench` process, so that memory freed by an earlier run in this one does not hide the growth.
pub async fn hold_in_child(name: &str, pairs: usize) -> Result<Held, BenchError> {
    let exe = std::env::current_exe().map_err(BenchError::Io)?;
    let mut command = std::process::Command::new(exe);
    command
        .args(["bench", "--json", "--no-compare", "--only", name, "--connection-pairs"])
        .arg(pairs.to_string())
        .env(CHILD_ENV, "1")
        .stderr(std::process::Stdio::inherit());
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .map_err(|e| BenchError::Rtc(e.to_string()))?
        .map_err(BenchError::Io)?;
    if !output.status.success() {
        return Err(BenchError::Rtc(format!("{name} failed ({})", output.status)));
    }
    parse_child(&String::from_utf8_lossy(&output.stdout), name)
        .ok_or_else(|| BenchError::Rtc(format!("{name}: the child printed no result")))
}

/// Reads the two JSON lines of a child run: `name` (connections) and `name-memory`.
fn parse_child(stdout: &str, name: &str) -> Option<Held> {
    let memory_name = format!("{name}-memory");
    let mut connections = None;
    let mut kib = None;
    for line in stdout.lines() {
        let Ok(value) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let bench = value.get("bench").and_then(|b| b.as_str());
        let number = value.get("value").and_then(|v| v.as_f64());
        if bench == Some(name) {
            connections = number;
        } else if bench == Some(memory_name.as_str()) {
            kib = number;
        }
    }
    Some(Held {
        connections: connections? as usize,
        kib_per_connection: kib?,
    })
}

/// This process's resident set size in bytes (Linux `/proc/self/status`); `None` elsewhere.
fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    parse_vm_rss(&status)
}

/// The `VmRSS:` line of a `/proc/PID/status` text, in bytes.
fn parse_vm_rss(status: &str) -> Option<u64> {
    let line = status.lines().find_map(|line| line.strip_prefix("VmRSS:"))?;
    let kib: u64 = line.trim().strip_suffix("kB")?.trim().parse().ok()?;
    kib.checked_mul(1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_resident_set_of_a_status_text() {
        let status = "Name:\trtcpeer\nVmPeak:\t  900 kB\nVmRSS:\t   12345 kB\nThreads:\t3\n";
        assert_eq!(parse_vm_rss(status), Some(12345 * 1024));
        assert_eq!(parse_vm_rss("Name:\tx\n"), None);
        assert_eq!(parse_vm_rss("VmRSS:\t12 MB\n"), None);
    }

    #[test]
    fn reads_a_child_runs_two_lines() {
        let out = "{\"bench\":\"connections-shared-port\",\"value\":200,\"unit\":\"connections\",\"compare\":{}}\n\
                   {\"bench\":\"connections-shared-port-memory\",\"value\":61.5,\"unit\":\"KiB/conn\",\"compare\":{}}\n";
        assert_eq!(
            parse_child(out, "connections-shared-port"),
            Some(Held {
                connections: 200,
                kib_per_connection: 61.5
            })
        );
        assert_eq!(parse_child(out, "connections-own-ports"), None);
        assert_eq!(parse_child("garbage", "connections-shared-port"), None);
    }

    #[test]
    fn this_process_has_a_resident_set() {
        if cfg!(target_os = "linux") {
            assert!(resident_bytes().is_some_and(|bytes| bytes > 0));
        }
    }
}
