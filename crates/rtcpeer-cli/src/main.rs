//! The `rtcpeer` command-line tool.
#![warn(missing_docs)]
#![forbid(unsafe_code)]

mod bench;
mod demo;
mod echo;
mod ice_options;
mod loopback;
mod messages;
mod negotiate;
mod netpeer;
mod pair;
mod sdp_files;
mod sdp_summary;
mod serve;
mod soak;

use std::io::IsTerminal;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

use crate::pair::{PairError, PairOptions, Scenario};

/// The exit codes of `offer` and `answer`, for their `--help`.
const PAIR_EXIT_CODES: &str =
    "Exit codes: 0 passed; 1 failed (malformed input, connection failed, an echo differed, ...); \
2 timed out (also used by the argument parser for bad arguments).
Stdout carries only the JSON signaling line; progress and the final one-line summary go to stderr.";

/// rtcpeer: a WebRTC stack in Rust.
#[derive(Debug, Parser)]
#[command(name = "rtcpeer", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Connects two peers over loopback in this process and checks a data channel both ways.
    Demo {
        /// Messages to send in each direction.
        #[arg(long, default_value_t = 1000)]
        messages: usize,
        /// Seed of the deterministic message generator.
        #[arg(long, default_value_t = 0x5eed)]
        seed: u64,
        /// Fail if the demo takes longer than this many seconds.
        #[arg(long, default_value_t = 30)]
        timeout: u64,
        #[command(flatten)]
        ice: ice_options::IceOptions,
    },
    /// Offerer of copy-paste signaling: writes an offer line on stdout, reads the answer line on stdin,
    /// sends messages and checks that they come back.
    ///
    /// Passes when every message comes back byte-exact and in order (`reliable`, `negotiated`, `close`),
    /// or, on the `unordered` channel (which may lose messages), when at least half come back and none is
    /// corrupted or duplicated. Then it closes the channel and the connection.
    #[command(after_help = PAIR_EXIT_CODES)]
    Offer {
        /// Messages to send (default 100; 10 in the `close` scenario). Sizes from 1 B to 64 KiB, text and
        /// binary; the second message is exactly 64 KiB.
        #[arg(long)]
        count: Option<usize>,
        #[command(flatten)]
        pair: PairArgs,
    },
    /// Answerer of copy-paste signaling: reads an offer line on stdin, writes the answer line on stdout
    /// and echoes every message on every channel until the remote closes.
    ///
    /// The remote has closed when, after the connection was `connected`, every channel has closed or the
    /// connection has left `connected`. With `--scenario negotiated` it also creates the pre-negotiated
    /// channel id 7 and echoes on it.
    #[command(after_help = PAIR_EXIT_CODES)]
    Answer {
        /// Accepted for symmetry with `offer` and ignored: the answerer echoes whatever arrives.
        #[arg(long, hide = true)]
        count: Option<usize>,
        #[command(flatten)]
        pair: PairArgs,
    },
    /// The interop harness's `perfect-negotiation` peer: runs the W3C perfect-negotiation pattern
    /// over JSON lines on stdin/stdout while both sides change the connection at once, round after
    /// round (see `interop/README.md`). The impolite side (the default) leads the rounds.
    #[command(hide = true)]
    Negotiate {
        /// Play the polite peer (rolls its offer back on glare); default: impolite.
        #[arg(long)]
        polite: bool,
        /// Rounds of simultaneous changes (the impolite side decides).
        #[arg(long, default_value_t = 5)]
        rounds: usize,
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 60)]
        timeout: u64,
        /// Gather host candidates only on this address (repeatable).
        #[arg(long = "bind", value_name = "IP")]
        bind: Vec<IpAddr>,
        #[command(flatten)]
        ice: ice_options::IceOptions,
    },
    /// Parses SDP files and prints a summary of each, or `FILE: line N: what` for one that is broken.
    Sdp {
        /// The files to read.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Runs the benchmark suite (data channels, SRTP, connect time, media forwarding) and compares it
    /// with raw UDP and, when `benches/peers` builds, with webrtc-rs and str0m.
    Bench {
        /// One JSON object per line: `{"bench", "value", "unit", "compare": {...}}`.
        #[arg(long)]
        json: bool,
        /// Seconds of each throughput and forwarding run.
        #[arg(long, default_value_t = 5.0)]
        seconds: f64,
        /// Connections for the connect-time median and p95.
        #[arg(long, default_value_t = 100)]
        connect_runs: usize,
        /// Pairs of idle connections the `connections` benchmark holds (each pair is two connections;
        /// 5000 gives the 10,000).
        #[arg(long, default_value_t = 500)]
        connection_pairs: usize,
        /// Run only benchmarks whose name contains this (repeatable), e.g. `srtp`, `datachannel-1k`.
        #[arg(long)]
        only: Vec<String>,
        /// Skip the webrtc-rs and str0m comparisons (no build of benches/peers).
        #[arg(long)]
        no_compare: bool,
        /// The comparison peers' Cargo.toml (default: benches/peers/Cargo.toml).
        #[arg(long)]
        peers_manifest: Option<PathBuf>,
    },
    /// Soak run for `scripts/soak.sh`: two peers in this process carry echoed data and video over loopback
    /// for the given time, with short-lived connections beside them.
    #[command(hide = true)]
    Soak {
        /// How long to run, in seconds.
        #[arg(long, default_value_t = 60)]
        seconds: u64,
        /// Seconds between short-lived connections (0: none).
        #[arg(long, default_value_t = 5)]
        churn: u64,
    },
    /// Peer of the network-namespace tests: connects through copy-paste signaling, then takes
    /// `send BYTES`/`restart`/description lines/`quit` on stdin and reports states, the selected
    /// pair, verified bytes and new descriptions as JSON lines on stdout
    /// (`crates/rtcpeer-cli/tests/netns.rs`).
    #[command(hide = true)]
    Netpeer {
        /// `offer` or `answer`.
        #[arg(long, value_enum)]
        role: netpeer::Role,
        /// Gather host candidates only on this address (repeatable).
        #[arg(long = "bind", value_name = "IP")]
        bind: Vec<IpAddr>,
        /// Size of the messages `send` cuts the byte stream into.
        #[arg(long, default_value_t = 16 * 1024)]
        message_size: usize,
        /// The offerer sends synthetic VP8 video; the answerer checks every frame.
        #[arg(long)]
        video: bool,
        /// `disconnected` when a consent check has gone unanswered this long (default 5000).
        #[arg(long, value_name = "MS")]
        disconnected_timeout_ms: Option<u64>,
        /// `failed` when no consent response came for this long (default 30000).
        #[arg(long, value_name = "MS")]
        failed_timeout_ms: Option<u64>,
        #[command(flatten)]
        ice: ice_options::IceOptions,
    },
    /// Serves HTTP signaling (`POST /offer` JSON, WHIP at `/whip`) and a demo page; every peer echoes its channels
    /// and can record, play or reflect media.
    Serve {
        /// The address to listen on; port 0 picks a free port (the real one is printed).
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        /// An address the peers bind their UDP sockets on (repeatable); default: every usable interface.
        #[arg(long)]
        bind: Vec<IpAddr>,
        /// Record every received track into DIR as `<session>-<mid>.ivf|.ogg|.h264`.
        #[arg(long, value_name = "DIR")]
        record: Option<PathBuf>,
        /// Send this file (.ivf, .ogg/.opus, .h264), looped in real time, to every session (repeatable:
        /// at most one video and one audio file).
        #[arg(long, value_name = "FILE", conflicts_with = "reflect")]
        play: Vec<PathBuf>,
        /// Send every received track back to its sender on the same transceiver.
        #[arg(long)]
        reflect: bool,
        /// With --reflect: send back the received RTP packets as they arrive (in our own stream:
        /// SSRC, payload type, header extensions and sequence numbers rewritten) instead of
        /// reassembled frames packetized anew. Ignored with --record, which needs the frames.
        #[arg(long, requires = "reflect")]
        reflect_rtp: bool,
        #[command(flatten)]
        ice: ice_options::IceOptions,
    },
}

/// The options `offer` and `answer` share.
#[derive(Debug, clap::Args)]
struct PairArgs {
    /// What to exercise: `reliable` (channel `chat`), `unordered` (`lossy`: unordered, maxRetransmits 0),
    /// `negotiated` (pre-negotiated id 7 on both sides), `close` (the offerer closes the channel, then the
    /// connection).
    #[arg(long, value_enum, default_value_t = Scenario::Reliable)]
    scenario: Scenario,
    /// Gather host candidates only on this address (repeatable). Default: every interface that is up,
    /// loopback only when it is the only one.
    #[arg(long = "bind", value_name = "IP")]
    bind: Vec<IpAddr>,
    /// Give up after this many seconds (exit code 2).
    #[arg(long, default_value_t = 30)]
    timeout: u64,
    #[command(flatten)]
    ice: ice_options::IceOptions,
}

impl PairArgs {
    fn options(self) -> PairOptions {
        PairOptions {
            scenario: self.scenario,
            bind: self.bind,
            timeout: Duration::from_secs(self.timeout),
            ice: self.ice,
        }
    }
}

/// Runs `offer` or `answer` and reports the outcome on stderr.
fn run_pair(
    runtime: &tokio::runtime::Runtime,
    role: &str,
    work: impl std::future::Future<Output = Result<String, PairError>>,
) -> ExitCode {
    match runtime.block_on(work) {
        Ok(summary) => {
            eprintln!("rtcpeer {role}: {summary}");
            ExitCode::from(pair::EXIT_OK)
        }
        Err(error) => {
            eprintln!("rtcpeer {role}: FAILED: {error}");
            ExitCode::from(error.exit_code())
        }
    }
}

/// Logs go to stderr; `RUST_LOG` picks what is logged (default: warnings, and nothing from sctp-proto).
fn init_logging() {
    // sctp-proto logs a peer's ordinary ABORT at error level; rtcpeer reports closes as events.
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn,sctp_proto=off"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}

/// `rtcpeer serve`: runs until interrupted or until the listener cannot be bound.
fn run_serve(runtime: &tokio::runtime::Runtime, listen: SocketAddr, options: serve::ServeOptions) -> ExitCode {
    match runtime.block_on(serve::run(listen, options)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("rtcpeer serve: {error}");
            ExitCode::FAILURE
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("rtcpeer: cannot start the tokio runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let (messages, seed, timeout, ice) = match cli.command {
        Command::Serve {
            listen,
            bind,
            record,
            play,
            reflect,
            reflect_rtp,
            ice,
        } => {
            let options = serve::ServeOptions {
                bind,
                record,
                play,
                reflect,
                reflect_rtp,
                ice,
                ..serve::ServeOptions::default()
            };
            return run_serve(&runtime, listen, options);
        }
        Command::Bench {
            json,
            seconds,
            connect_runs,
            connection_pairs,
            only,
            no_compare,
            peers_manifest,
        } => {
            let options = bench::BenchOptions {
                json,
                duration: Duration::from_secs_f64(seconds.clamp(0.1, 600.0)),
                connect_runs: connect_runs.max(1),
                connection_pairs: connection_pairs.max(1),
                only,
                peers_manifest: if no_compare {
                    None
                } else {
                    Some(peers_manifest.unwrap_or_else(bench::default_peers_manifest))
                },
            };
            return match runtime.block_on(bench::run(&options)) {
                Ok(_) => ExitCode::SUCCESS,
                Err(error) => {
                    eprintln!("rtcpeer bench: FAILED: {error}");
                    ExitCode::FAILURE
                }
            };
        }
        Command::Soak { seconds, churn } => {
            let options = soak::SoakOptions {
                duration: Duration::from_secs(seconds),
                churn: Duration::from_secs(churn),
            };
            return match runtime.block_on(soak::run(options)) {
                Ok(summary) => {
                    println!("soak passed: {summary}");
                    ExitCode::SUCCESS
                }
                Err(error) => {
                    eprintln!("rtcpeer soak: FAILED: {error}");
                    ExitCode::FAILURE
                }
            };
        }
        Command::Netpeer {
            role,
            bind,
            message_size,
            video,
            disconnected_timeout_ms,
            failed_timeout_ms,
            ice,
        } => {
            let mut ice_timing = rtcpeer::IceTiming::default();
            if let Some(ms) = disconnected_timeout_ms {
                ice_timing.disconnected_timeout = Duration::from_millis(ms);
            }
            if let Some(ms) = failed_timeout_ms {
                ice_timing.failed_timeout = Duration::from_millis(ms);
            }
            let options = netpeer::NetpeerOptions {
                role,
                bind,
                message_size,
                video,
                ice,
                ice_timing,
            };
            return run_pair(&runtime, "netpeer", netpeer::run(options));
        }
        Command::Offer { count, pair } => {
            let default = if pair.scenario == Scenario::Close {
                pair::offer::CLOSE_DEFAULT_COUNT
            } else {
                pair::offer::DEFAULT_COUNT
            };
            let options = pair::offer::OfferOptions {
                count: count.unwrap_or(default),
                pair: pair.options(),
            };
            return run_pair(&runtime, "offer", pair::offer::run(&options));
        }
        Command::Answer { pair, .. } => {
            let options = pair.options();
            return run_pair(&runtime, "answer", pair::answer::run(&options));
        }
        Command::Negotiate {
            polite,
            rounds,
            timeout,
            bind,
            ice,
        } => {
            let options = negotiate::NegotiateOptions {
                polite,
                rounds: rounds.max(1),
                timeout: Duration::from_secs(timeout),
                bind,
                ice,
            };
            return match runtime.block_on(negotiate::run(&options)) {
                Ok(summary) => {
                    eprintln!("rtcpeer negotiate: {summary}");
                    ExitCode::SUCCESS
                }
                Err(error) => {
                    eprintln!("rtcpeer negotiate: FAIL {error}");
                    ExitCode::FAILURE
                }
            };
        }
        Command::Sdp { files } => {
            return if sdp_files::run(&files) {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Command::Demo {
            messages,
            seed,
            timeout,
            ice,
        } => (messages, seed, timeout, ice),
    };
    let options = demo::DemoOptions {
        messages,
        seed,
        timeout: Duration::from_secs(timeout),
        ice,
    };
    match runtime.block_on(demo::run(options)) {
        Ok(summary) => {
            println!("demo passed");
            println!("{summary}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("demo failed: {error}");
            ExitCode::FAILURE
        }
    }
}
