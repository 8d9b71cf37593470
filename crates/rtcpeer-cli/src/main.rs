//! The `rtcpeer` command-line tool.
#![warn(missing_docs)]
#![forbid(unsafe_code)]

mod demo;
mod sdp_files;
mod sdp_summary;
mod serve;

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

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
    },
    /// Parses SDP files and prints a summary of each, or `FILE: line N: what` for one that is broken.
    Sdp {
        /// The files to read.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Serves HTTP signaling (`POST /offer` JSON, WHIP at `/whip`) and a demo page; every peer echoes its channels.
    Serve {
        /// The address to listen on; port 0 picks a free port (the real one is printed).
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        /// An address the peers bind their UDP sockets on (repeatable); default: every usable interface.
        #[arg(long)]
        bind: Vec<IpAddr>,
    },
}

/// Logs go to stderr; `RUST_LOG` picks what is logged (default: warnings).
fn init_logging() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

/// `rtcpeer serve`: runs until interrupted or until the listener cannot be bound.
fn run_serve(listen: SocketAddr, bind: Vec<IpAddr>) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("rtcpeer: cannot start the tokio runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let options = serve::ServeOptions {
        bind,
        ..serve::ServeOptions::default()
    };
    match runtime.block_on(serve::run(listen, options)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("rtcpeer serve: {listen}: {error}");
            ExitCode::FAILURE
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    let (messages, seed, timeout) = match cli.command {
        Command::Serve { listen, bind } => return run_serve(listen, bind),
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
        } => (messages, seed, timeout),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("rtcpeer: cannot start the tokio runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let options = demo::DemoOptions {
        messages,
        seed,
        timeout: Duration::from_secs(timeout),
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
