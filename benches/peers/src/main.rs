//! `rtcpeer-bench-peers`: the transfers of `rtcpeer bench`, driven through another Rust WebRTC stack.
//!
//! ```text
//! rtcpeer-bench-peers datachannel-throughput --stack webrtc|str0m [--size N] [--channels N] [--seconds S]
//!     -> {"bench":"datachannel-throughput","stack":..,"value":MB/s,"unit":"MB/s"}
//! rtcpeer-bench-peers connect-time --stack webrtc|str0m [--runs N]
//!     -> {"bench":"connect-time","stack":..,"median_ms":..,"p95_ms":..,"unit":"ms"}
//! ```
//! Both peers run in this process on 127.0.0.1; every channel is reliable and ordered.

mod str0m_peer;
mod webrtc_peer;

use std::process::ExitCode;
use std::time::Duration;

/// What to run, from the command line.
struct Args {
    bench: String,
    stack: String,
    size: usize,
    channels: usize,
    seconds: f64,
    runs: usize,
}

fn parse_args() -> Result<Args, String> {
    let mut words = std::env::args().skip(1);
    let bench = words
        .next()
        .ok_or("usage: rtcpeer-bench-peers BENCH --stack STACK [options]")?;
    let mut args = Args {
        bench,
        stack: String::new(),
        size: 64 * 1024,
        channels: 1,
        seconds: 5.0,
        runs: 100,
    };
    while let Some(flag) = words.next() {
        let value = words.next().ok_or(format!("{flag} needs a value"))?;
        let number = |v: &str| v.parse::<f64>().map_err(|e| format!("{flag} {v}: {e}"));
        match flag.as_str() {
            "--stack" => args.stack = value,
            "--size" => args.size = number(&value)? as usize,
            "--channels" => args.channels = (number(&value)? as usize).max(1),
            "--seconds" => args.seconds = number(&value)?.clamp(0.1, 600.0),
            "--runs" => args.runs = (number(&value)? as usize).max(1),
            other => return Err(format!("unknown option {other}")),
        }
    }
    Ok(args)
}

/// The value at quantile `q` of sorted `times`, in ms (nearest rank), as `rtcpeer bench` computes it.
fn quantile_ms(times: &[Duration], q: f64) -> f64 {
    let rank = ((q * times.len() as f64).ceil() as usize).clamp(1, times.len().max(1));
    times.get(rank - 1).map_or(f64::NAN, |t| t.as_secs_f64() * 1e3)
}

fn run(args: &Args) -> Result<String, String> {
    let duration = Duration::from_secs_f64(args.seconds);
    match args.bench.as_str() {
        "datachannel-throughput" => {
            let value = match args.stack.as_str() {
                "webrtc" => webrtc_peer::throughput(args.channels, args.size, duration)?,
                "str0m" => str0m_peer::throughput(args.channels, args.size, duration)?,
                other => return Err(format!("unknown stack `{other}`")),
            };
            Ok(serde_json::json!({
                "bench": args.bench, "stack": args.stack, "value": value, "unit": "MB/s",
            })
            .to_string())
        }
        "connect-time" => {
            let mut times = match args.stack.as_str() {
                "webrtc" => webrtc_peer::connect_times(args.runs)?,
                "str0m" => str0m_peer::connect_times(args.runs)?,
                other => return Err(format!("unknown stack `{other}`")),
            };
            times.sort();
            Ok(serde_json::json!({
                "bench": args.bench, "stack": args.stack, "runs": times.len(),
                "median_ms": quantile_ms(&times, 0.5), "p95_ms": quantile_ms(&times, 0.95), "unit": "ms",
            })
            .to_string())
        }
        other => Err(format!("unknown benchmark `{other}`")),
    }
}

fn main() -> ExitCode {
    let result = parse_args().and_then(|args| run(&args));
    match result {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("rtcpeer-bench-peers: {error}");
            ExitCode::FAILURE
        }
    }
}
