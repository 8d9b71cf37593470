//! The acknowledged bitrate: what the receiver says arrived, over a sliding window of its clock.

use std::collections::VecDeque;

/// The window the rate is measured over.
const WINDOW_US: i64 = 500_000;
/// The shortest span a rate is given for (fewer packets say too little).
const MIN_SPAN_US: i64 = 100_000;
/// The most samples kept (a bound whatever the packet rate).
const MAX_SAMPLES: usize = 8192;

/// Bytes received per arrival time, summed over a sliding window.
#[derive(Debug, Clone, Default)]
pub struct AckedRate {
    samples: VecDeque<(i64, usize)>,
    bytes: usize,
    newest_us: Option<i64>,
}

impl AckedRate {
    /// Nothing measured yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// A packet of `size` bytes arrived at `arrival_us` (receiver's clock).
    pub fn on_received(&mut self, arrival_us: i64, size: usize) {
        let newest = self.newest_us.map_or(arrival_us, |n| n.max(arrival_us));
        self.newest_us = Some(newest);
        self.samples.push_back((arrival_us, size));
        self.bytes += size;
        while let Some(&(at, size)) = self.samples.front() {
            if at >= newest - WINDOW_US && self.samples.len() <= MAX_SAMPLES {
                break;
            }
            self.samples.pop_front();
            self.bytes -= size;
        }
    }

    /// The rate in bits/s, once the window spans enough time.
    pub fn bitrate(&self) -> Option<f64> {
        let newest = self.newest_us?;
        let oldest = self.samples.iter().map(|s| s.0).min()?;
        let span = newest - oldest;
        (span >= MIN_SPAN_US).then(|| self.bytes as f64 * 8.0 * 1e6 / span.max(MIN_SPAN_US) as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measures_a_steady_stream_over_the_window() {
        let mut r = AckedRate::new();
        assert_eq!(r.bitrate(), None);
        // 1250 bytes every 10 ms: 1 Mbit/s.
        for i in 0..300 {
            r.on_received(i * 10_000, 1250);
        }
        let rate = r.bitrate().unwrap();
        assert!((rate - 1_000_000.0).abs() < 25_000.0, "{rate}");
        assert!(r.samples.len() <= 51);
    }
}
