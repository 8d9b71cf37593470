//! `rtcpeer bench`: rtcpeer's benchmark suite, side by side with raw UDP, webrtc-rs and str0m.
//!
//! rtcpeer runs in this process (two `RTCPeerConnection`s on loopback); the other stacks run in
//! `benches/peers` (a separate cargo workspace, built on demand), whose numbers are read back as JSON.
//! Nothing here runs under `cargo test` except the format and helper checks.

mod connections;
mod datachannel;
mod forward;
mod libwebrtc;
mod peers;
mod raw_udp;
mod report;
mod srtp;

use std::path::PathBuf;
use std::time::Duration;

use rtcpeer_proto::srtp::SrtpProfile;

pub use peers::Peers;
pub use report::{BenchResult, Comparison};

/// What `rtcpeer bench` was asked to do.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// One JSON object per line instead of a table.
    pub json: bool,
    /// Length of each throughput and forwarding run.
    pub duration: Duration,
    /// Connections made for the connect-time percentiles.
    pub connect_runs: usize,
    /// Pairs of idle connections the `connections` benchmark tries to hold (twice as many connections).
    pub connection_pairs: usize,
    /// Run only the benchmarks whose name contains one of these (all when empty).
    pub only: Vec<String>,
    /// The comparison peers' manifest; `None` skips the webrtc and str0m comparisons.
    pub peers_manifest: Option<PathBuf>,
}

/// Why a benchmark could not run.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// A socket call failed.
    #[error("socket: {0}")]
    Io(std::io::Error),
    /// rtcpeer failed to connect or transfer; the text says where.
    #[error("{0}")]
    Rtc(String),
}

/// The default location of the comparison peers: `benches/peers/Cargo.toml` of the current directory, or of
/// the source tree this binary was built from.
pub fn default_peers_manifest() -> PathBuf {
    let here = PathBuf::from("benches/peers/Cargo.toml");
    if here.is_file() {
        return here;
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../benches/peers/Cargo.toml")
}

/// The data-channel transfers: name, channels, message size.
const TRANSFERS: [(&str, usize, usize); 3] = [
    ("datachannel-64k", 1, 64 * 1024),
    ("datachannel-64k-x4", 4, 64 * 1024),
    ("datachannel-1k", 1, 1024),
];

/// How long the `connections` benchmark leaves its connections idle before counting them.
const CONNECTIONS_IDLE: Duration = Duration::from_secs(3);

/// Packet sizes of the SRTP benchmarks.
const SRTP_SIZES: [usize; 2] = [200, 1200];

/// Where results go as they are measured.
struct Output {
    json: bool,
    header_printed: bool,
}

impl Output {
    fn emit(&mut self, result: &BenchResult) {
        if self.json {
            println!("{}", result.json_line());
        } else {
            if !self.header_printed {
                println!(
                    "{:<34} {:>12} {:<9}  compared with (rtcpeer / other)",
                    "bench", "rtcpeer", "unit"
                );
                self.header_printed = true;
            }
            println!("{}", result.table_row());
        }
    }
}

fn wanted(options: &BenchOptions, name: &str) -> bool {
    options.only.is_empty() || options.only.iter().any(|part| name.contains(part.as_str()))
}

/// Runs the suite and prints the results; returns them, or the first error.
pub async fn run(options: &BenchOptions) -> Result<Vec<BenchResult>, BenchError> {
    let mut out = Output {
        json: options.json,
        header_printed: false,
    };
    let mut results = Vec::new();
    let needs_peers = TRANSFERS.iter().any(|(name, ..)| wanted(options, name)) || wanted(options, "connect-time");
    let peers = match &options.peers_manifest {
        Some(manifest) if needs_peers => Peers::build(manifest),
        Some(_) => Peers::Unavailable("not needed".into()),
        None => Peers::Unavailable("--no-compare".into()),
    };
    let node = match &options.peers_manifest {
        Some(manifest) if needs_peers => libwebrtc::Libwebrtc::prepare(&libwebrtc::dir_beside(manifest)),
        Some(_) => libwebrtc::Libwebrtc::Unavailable("not needed".into()),
        None => libwebrtc::Libwebrtc::Unavailable("--no-compare".into()),
    };
    let seconds = options.duration.as_secs_f64();

    if TRANSFERS.iter().any(|(name, ..)| wanted(options, name)) {
        progress("raw UDP ceiling");
        let ceiling = raw_udp::throughput(options.duration).await?;
        for (name, channels, size) in TRANSFERS {
            if !wanted(options, name) {
                continue;
            }
            progress(name);
            let value = datachannel::throughput(channels, size, options.duration).await?;
            let mut result = BenchResult::new(name, value, "MB/s").with("raw-udp", Comparison::Value(ceiling));
            let args = vec![
                "--size".to_owned(),
                size.to_string(),
                "--channels".to_owned(),
                channels.to_string(),
                "--seconds".to_owned(),
                format!("{seconds}"),
            ];
            for stack in peers::STACKS {
                progress(&format!("{name} ({stack})"));
                result = result.with(stack, peers.run("datachannel-throughput", stack, &args, "value"));
            }
            progress(&format!("{name} (libwebrtc)"));
            let libwebrtc = node
                .run_fields("datachannel-throughput", &args, &["value"])
                .swap_remove(0);
            result = result.with(libwebrtc::NAME, libwebrtc);
            out.emit(&result);
            results.push(result);
        }
    }

    for profile in SrtpProfile::ALL {
        for size in SRTP_SIZES {
            let protect_name = format!("srtp-protect-{}-{size}", srtp::short_name(profile));
            let unprotect_name = format!("srtp-unprotect-{}-{size}", srtp::short_name(profile));
            if !wanted(options, &protect_name) && !wanted(options, &unprotect_name) {
                continue;
            }
            let budget = Duration::from_millis(300);
            progress(&protect_name);
            let floor = Comparison::Value(srtp::bare(profile, size, budget)?);
            for (name, value) in [
                (protect_name, srtp::protect(profile, size, budget)?),
                (unprotect_name, srtp::unprotect(profile, size, budget)?),
            ] {
                let result = BenchResult::new(name, value, "ns/packet").with("bare-crypto", floor.clone());
                out.emit(&result);
                results.push(result);
            }
        }
    }

    if wanted(options, "connect-time") {
        progress(&format!("connect-time ({} runs)", options.connect_runs));
        let times = datachannel::connect_times(options.connect_runs).await?;
        let args = vec!["--runs".to_owned(), options.connect_runs.to_string()];
        let mut median = BenchResult::new("connect-time-median", datachannel::quantile_ms(&times, 0.5), "ms");
        let mut p95 = BenchResult::new("connect-time-p95", datachannel::quantile_ms(&times, 0.95), "ms");
        for stack in peers::STACKS {
            progress(&format!("connect-time ({stack})"));
            let mut fields = peers.run_fields("connect-time", stack, &args, &["median_ms", "p95_ms"]);
            let p95_value = fields.pop().unwrap_or(Comparison::Skipped("no p95".into()));
            let median_value = fields.pop().unwrap_or(Comparison::Skipped("no median".into()));
            median = median.with(stack, median_value);
            p95 = p95.with(stack, p95_value);
        }
        progress("connect-time (libwebrtc)");
        let mut fields = node.run_fields("connect-time", &args, &["median_ms", "p95_ms"]);
        let p95_value = fields.pop().unwrap_or(Comparison::Skipped("no p95".into()));
        let median_value = fields.pop().unwrap_or(Comparison::Skipped("no median".into()));
        median = median.with(libwebrtc::NAME, median_value);
        p95 = p95.with(libwebrtc::NAME, p95_value);
        for result in [median, p95] {
            out.emit(&result);
            results.push(result);
        }
    }

    for (name, shared) in [("connections-own-ports", false), ("connections-shared-port", true)] {
        if !wanted(options, name) {
            continue;
        }
        progress(&format!("{name} ({} pairs)", options.connection_pairs));
        // Memory a run frees stays in the allocator, so each mode is measured in a fresh process.
        let held = if std::env::var_os(connections::CHILD_ENV).is_some() {
            connections::hold(options.connection_pairs, shared, CONNECTIONS_IDLE).await?
        } else {
            connections::hold_in_child(name, options.connection_pairs).await?
        };
        let count = BenchResult::new(name, held.connections as f64, "connections")
            .with("asked", Comparison::Value(2.0 * options.connection_pairs as f64));
        let memory = BenchResult::new(format!("{name}-memory"), held.kib_per_connection, "KiB/conn")
            .with("target", Comparison::Value(connections::TARGET_KIB));
        for result in [count, memory] {
            out.emit(&result);
            results.push(result);
        }
    }

    if wanted(options, "media-forward") {
        progress("media-forward");
        let value = forward::packets_per_second(options.duration, true).await?;
        let ceiling = forward::packets_per_second(options.duration, false).await?;
        let result = BenchResult::new("media-forward", value, "packets/s").with("raw-udp", Comparison::Value(ceiling));
        out.emit(&result);
        results.push(result);
    }
    Ok(results)
}

fn progress(what: &str) {
    eprintln!("rtcpeer bench: {what}…");
}
