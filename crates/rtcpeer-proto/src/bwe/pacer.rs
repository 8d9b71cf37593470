//! The pacer: media packets leave at a bounded rate, in bursts of a few milliseconds, instead of a
//! whole frame at once; a burst of a large keyframe would otherwise fill the bottleneck's queue and
//! look like congestion to the receiver's delay measurements (and to everyone sharing the path).
//!
//! Packets pushed as priority (audio) are never held back: they leave at once and their bytes
//! count against the budget of the paced ones. The paced queue is bounded in packets; when it
//! holds more than the pacing rate can send in [`PacerConfig::max_queue_delay`], the rate is raised
//! (until the queue is empty) to drain it within that time, so a sender that overshoots its target gets late packets, not a
//! queue that grows forever.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Limits of a [`Pacer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PacerConfig {
    /// The most the pacer sends at once: the budget never holds more than this much time's worth.
    pub burst: Duration,
    /// The longest the queue should take to drain; beyond it the pacer speeds up. A sender that
    /// follows the target never gets near it; one that ignores the target gets this much extra
    /// latency at most, rather than an ever longer queue.
    pub max_queue_delay: Duration,
    /// The most packets queued; the oldest is dropped beyond it.
    pub max_queue_packets: usize,
}

impl Default for PacerConfig {
    fn default() -> Self {
        PacerConfig {
            burst: Duration::from_millis(5),
            max_queue_delay: Duration::from_millis(150),
            max_queue_packets: 2048,
        }
    }
}

/// A leaky-bucket pacer of items of known size.
#[derive(Debug, Clone)]
pub struct Pacer<T> {
    config: PacerConfig,
    rate_bps: u64,
    /// Bytes that may leave now; negative after a burst overdraws it.
    budget: f64,
    last_refill: Option<Instant>,
    priority: VecDeque<(T, usize)>,
    queue: VecDeque<(T, usize)>,
    queued_bytes: usize,
    /// A rate that drains an overlong queue within `max_queue_delay`, held until it is empty.
    drain_bps: f64,
    dropped: u64,
}

impl<T> Pacer<T> {
    /// A pacer sending at `rate_bps`.
    pub fn new(config: PacerConfig, rate_bps: u64) -> Self {
        Pacer {
            config,
            rate_bps: rate_bps.max(1),
            budget: 0.0,
            last_refill: None,
            priority: VecDeque::new(),
            queue: VecDeque::new(),
            queued_bytes: 0,
            drain_bps: 0.0,
            dropped: 0,
        }
    }

    /// The pacing rate, bits/s.
    pub fn rate(&self) -> u64 {
        self.rate_bps
    }

    /// Changes the pacing rate.
    pub fn set_rate(&mut self, rate_bps: u64) {
        self.rate_bps = rate_bps.max(1);
    }

    /// Paced packets waiting.
    pub fn queued_packets(&self) -> usize {
        self.queue.len()
    }

    /// Their bytes.
    pub fn queued_bytes(&self) -> usize {
        self.queued_bytes
    }

    /// Packets dropped because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Queues an item of `size` bytes; `priority` items are not paced. Returns an item dropped to
    /// make room, if any.
    pub fn push(&mut self, item: T, size: usize, priority: bool) -> Option<T> {
        if priority {
            self.priority.push_back((item, size));
            return None;
        }
        self.queue.push_back((item, size));
        self.queued_bytes += size;
        let needed = self.queued_bytes as f64 * 8.0 / self.config.max_queue_delay.as_secs_f64().max(0.001);
        if needed > self.rate_bps as f64 {
            self.drain_bps = self.drain_bps.max(needed);
        }
        if self.queue.len() <= self.config.max_queue_packets {
            return None;
        }
        let (dropped, size) = self.queue.pop_front()?;
        self.queued_bytes -= size;
        self.dropped += 1;
        Some(dropped)
    }

    /// The rate in force: the pacing rate, or faster when the queue would otherwise take too long.
    fn effective_rate(&self) -> f64 {
        (self.rate_bps as f64).max(self.drain_bps)
    }

    fn refill(&mut self, now: Instant) {
        let rate = self.effective_rate();
        let cap = (rate * self.config.burst.as_secs_f64() / 8.0).max(1.0);
        // A pacer that has never sent has a full burst to spend, like one idle for a while.
        let refill = self
            .last_refill
            .map_or(cap, |at| rate * now.saturating_duration_since(at).as_secs_f64() / 8.0);
        self.budget = (self.budget + refill).min(cap);
        self.last_refill = Some(now);
    }

    /// The next item allowed to leave at `now`.
    pub fn pop(&mut self, now: Instant) -> Option<T> {
        self.refill(now);
        if let Some((item, size)) = self.priority.pop_front() {
            self.budget -= size as f64;
            return Some(item);
        }
        if self.budget <= 0.0 {
            return None;
        }
        let (item, size) = self.queue.pop_front()?;
        self.queued_bytes -= size;
        self.budget -= size as f64;
        if self.queue.is_empty() {
            self.drain_bps = 0.0;
        }
        Some(item)
    }

    /// When [`pop`](Self::pop) next has something, if anything is queued.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if !self.priority.is_empty() {
            // Due at once (the owner pops right after pushing, so this is only a safety net).
            return self.last_refill;
        }
        if self.queue.is_empty() {
            return None;
        }
        let last = self.last_refill?;
        if self.budget > 0.0 {
            return Some(last);
        }
        // Rounded up, so the budget is positive when the time comes.
        let bytes = -self.budget + 1.0;
        let nanos = (bytes * 8.0 * 1e9 / self.effective_rate()).ceil();
        Some(last + Duration::from_nanos(nanos.min(1e12) as u64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pops everything, advancing time to each deadline; returns when each item left.
    fn drain(p: &mut Pacer<u32>, start: Instant) -> Vec<(u32, Duration)> {
        let mut now = start;
        let mut out = Vec::new();
        for _ in 0..100_000 {
            while let Some(item) = p.pop(now) {
                out.push((item, now - start));
            }
            match p.poll_timeout() {
                Some(at) => now = now.max(at),
                None => break,
            }
        }
        out
    }

    #[test]
    fn a_burst_leaves_at_the_pacing_rate() {
        let start = Instant::now();
        // 1 Mbit/s: a 1250-byte packet every 10 ms; half a second of queue is allowed.
        let config = PacerConfig {
            max_queue_delay: Duration::from_secs(1),
            ..PacerConfig::default()
        };
        let mut p = Pacer::new(config, 1_000_000);
        p.pop(start);
        for i in 0..50 {
            p.push(i, 1250, false);
        }
        let sent = drain(&mut p, start);
        assert_eq!(sent.len(), 50);
        let last = sent.last().unwrap().1;
        assert!(
            last >= Duration::from_millis(480) && last <= Duration::from_millis(500),
            "{last:?}"
        );
        let order: Vec<u32> = sent.iter().map(|s| s.0).collect();
        assert_eq!(order, (0..50).collect::<Vec<_>>());
    }

    #[test]
    fn priority_items_skip_the_queue() {
        let start = Instant::now();
        let mut p = Pacer::new(PacerConfig::default(), 100_000);
        p.pop(start);
        for i in 0..10 {
            p.push(i, 1250, false);
        }
        p.push(99, 100, true);
        assert_eq!(p.pop(start), Some(99));
    }

    #[test]
    fn the_queue_is_bounded_and_speeds_up_when_long() {
        let start = Instant::now();
        let config = PacerConfig {
            max_queue_packets: 100,
            max_queue_delay: Duration::from_secs(2),
            ..PacerConfig::default()
        };
        let mut p = Pacer::new(config, 10_000);
        p.pop(start);
        let dropped = (0..150).filter_map(|i| p.push(i, 1250, false)).count();
        assert_eq!((dropped, p.queued_packets(), p.dropped()), (50, 100, 50));
        // 100 × 1250 bytes at 10 kbit/s would take 100 s; the pacer drains it in about 2 s.
        let sent = drain(&mut p, start);
        assert_eq!(sent.first().map(|s| s.0), Some(50));
        assert!(sent.last().unwrap().1 < Duration::from_secs(3), "{:?}", sent.last());
    }
}
