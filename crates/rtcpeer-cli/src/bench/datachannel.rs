//! rtcpeer's data-channel benchmarks: throughput of reliable ordered channels and connect time.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rtcpeer::{DataChannelEvent, DataChannelMessage};

use super::BenchError;
use crate::loopback;

/// How long connecting may take before a run counts as failed.
const CONNECT_LIMIT: Duration = Duration::from_secs(20);

/// Sends `size`-byte binary messages on `channels` channels for `duration`; returns the payload bytes
/// per second the receiving side got, in MB/s (10^6 bytes).
pub async fn throughput(channels: usize, size: usize, duration: Duration) -> Result<f64, BenchError> {
    let mut pair = loopback::connect(channels, None, CONNECT_LIMIT)
        .await
        .map_err(BenchError::Rtc)?;
    let received = Arc::new(AtomicU64::new(0));
    let payload: Arc<[u8]> = (0..size).map(|i| i as u8).collect::<Vec<u8>>().into();

    let mut senders = Vec::new();
    for channel in &pair.local {
        let channel = channel.clone();
        let payload = payload.clone();
        senders.push(tokio::spawn(
            async move { while channel.send(&payload).await.is_ok() {} },
        ));
    }
    let start = Instant::now();
    let mut receivers = Vec::new();
    for mut channel in std::mem::take(&mut pair.remote) {
        let received = received.clone();
        receivers.push(tokio::spawn(async move {
            while let Some(event) = channel.next_event().await {
                match event {
                    DataChannelEvent::Message(DataChannelMessage::Binary(data)) => {
                        received.fetch_add(data.len() as u64, Ordering::Relaxed);
                    }
                    DataChannelEvent::Close => break,
                    _ => {}
                }
            }
        }));
    }
    tokio::time::sleep(duration).await;
    let bytes = received.load(Ordering::Relaxed);
    let elapsed = start.elapsed();
    for task in senders.iter().chain(&receivers) {
        task.abort();
    }
    pair.close().await;
    if bytes == 0 {
        return Err(BenchError::Rtc("no message arrived".into()));
    }
    Ok(bytes as f64 / 1e6 / elapsed.as_secs_f64())
}

/// Connects `runs` fresh pairs one after another; returns each connect time (offer to channel open on both
/// sides), sorted.
pub async fn connect_times(runs: usize) -> Result<Vec<Duration>, BenchError> {
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let pair = loopback::connect(1, None, CONNECT_LIMIT)
            .await
            .map_err(BenchError::Rtc)?;
        times.push(pair.connect_time);
        pair.close().await;
    }
    times.sort();
    Ok(times)
}

/// The value at quantile `q` (0..=1) of sorted `times`, in milliseconds (nearest rank).
pub fn quantile_ms(times: &[Duration], q: f64) -> f64 {
    if times.is_empty() {
        return f64::NAN;
    }
    let rank = ((q * times.len() as f64).ceil() as usize).clamp(1, times.len());
    times.get(rank - 1).map_or(f64::NAN, |t| t.as_secs_f64() * 1e3)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_use_the_nearest_rank() {
        let times: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(quantile_ms(&times, 0.5), 50.0);
        assert_eq!(quantile_ms(&times, 0.95), 95.0);
        assert_eq!(quantile_ms(&times[..1], 0.95), 1.0);
        assert!(quantile_ms(&[], 0.5).is_nan());
    }
}
