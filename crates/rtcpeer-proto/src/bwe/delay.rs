//! The delay-based half of the estimator (draft-ietf-rmcat-gcc-02 §5): packets are grouped by send
//! time, the variation of the delay between groups is filtered into a trend, and the trend is
//! compared with an adaptive threshold to tell whether the path is over-used (a queue is growing),
//! under-used (a queue is draining) or neither.
//!
//! The filter is a least-squares line through the last few smoothed accumulated delay
//! variations against arrival time: its slope says how fast queueing delay grows, which is what
//! over-use means. The threshold grows quickly when the trend is above it and shrinks slowly when
//! it is below, so that a link whose delay varies by itself (wireless, competing TCP) does not
//! look over-used all the time, nor a quiet one never.

use std::collections::VecDeque;

/// Packets sent within this span of the first of a group belong to the group.
const BURST_US: i64 = 5_000;
/// An arrival gap this long resets the filter (the path went quiet; old delay says nothing).
const RESET_GAP_US: i64 = 3_000_000;
/// Delay variations in the regression window.
const WINDOW: usize = 20;
/// Smoothing of the accumulated delay (weight of the past).
const SMOOTHING: f64 = 0.9;
/// The slope is scaled by the number of deltas seen (at most this) and this gain.
const MAX_DELTAS: f64 = 60.0;
const TREND_GAIN: f64 = 4.0;
/// The initial threshold, and its bounds, in ms.
const INITIAL_THRESHOLD_MS: f64 = 12.5;
const MIN_THRESHOLD_MS: f64 = 6.0;
const MAX_THRESHOLD_MS: f64 = 600.0;
/// How fast the threshold follows the trend upwards and downwards (per ms).
const K_UP: f64 = 0.01;
const K_DOWN: f64 = 0.000_18;
/// A trend further than this above the threshold is a spike, not a reason to move the threshold.
const SPIKE_MS: f64 = 15.0;
/// How long the trend must stay above the threshold to signal over-use.
const OVERUSE_TIME_MS: f64 = 10.0;

/// What the delay trend says about the path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BandwidthUsage {
    /// Delay is steady.
    #[default]
    Normal,
    /// Delay is growing: a queue fills.
    Overusing,
    /// Delay is shrinking: a queue drains.
    Underusing,
}

#[derive(Debug, Clone, Copy)]
struct Group {
    first_send_us: i64,
    last_send_us: i64,
    last_arrival_us: i64,
}

/// Turns per-packet send and arrival times into an over-use signal.
#[derive(Debug, Clone)]
pub struct DelayDetector {
    current: Option<Group>,
    previous: Option<Group>,
    first_arrival_ms: Option<f64>,
    deltas: u32,
    accumulated_ms: f64,
    smoothed_ms: f64,
    samples: VecDeque<(f64, f64)>,
    slope: f64,
    previous_trend: f64,
    threshold_ms: f64,
    last_threshold_update_ms: Option<f64>,
    overuse_since_ms: Option<f64>,
    usage: BandwidthUsage,
}

impl Default for DelayDetector {
    fn default() -> Self {
        Self::new()
    }
}

impl DelayDetector {
    /// A detector that has seen nothing.
    pub fn new() -> Self {
        DelayDetector {
            current: None,
            previous: None,
            first_arrival_ms: None,
            deltas: 0,
            accumulated_ms: 0.0,
            smoothed_ms: 0.0,
            samples: VecDeque::with_capacity(WINDOW + 1),
            slope: 0.0,
            previous_trend: 0.0,
            threshold_ms: INITIAL_THRESHOLD_MS,
            last_threshold_update_ms: None,
            overuse_since_ms: None,
            usage: BandwidthUsage::Normal,
        }
    }

    /// The current signal.
    pub fn usage(&self) -> BandwidthUsage {
        self.usage
    }

    /// The adaptive threshold, in ms.
    pub fn threshold_ms(&self) -> f64 {
        self.threshold_ms
    }

    /// One received packet, in send order: sent at `send_us` on our clock, arrived at `arrival_us`
    /// on the receiver's.
    pub fn on_packet(&mut self, send_us: i64, arrival_us: i64) {
        let Some(current) = &mut self.current else {
            self.current = Some(Group {
                first_send_us: send_us,
                last_send_us: send_us,
                last_arrival_us: arrival_us,
            });
            return;
        };
        if send_us < current.first_send_us {
            // Sent before the group began: a stale report, nothing to learn.
            return;
        }
        let in_burst = send_us - current.first_send_us <= BURST_US;
        // A packet arriving right behind the group, sooner than it was sent after it, was queued
        // behind it: it belongs to the same burst.
        let arrival_gap = arrival_us - current.last_arrival_us;
        let queued_behind = arrival_gap < BURST_US && arrival_gap - (send_us - current.last_send_us) < 0;
        if in_burst || queued_behind {
            current.last_send_us = current.last_send_us.max(send_us);
            current.last_arrival_us = current.last_arrival_us.max(arrival_us);
            return;
        }
        let done = *current;
        self.current = Some(Group {
            first_send_us: send_us,
            last_send_us: send_us,
            last_arrival_us: arrival_us,
        });
        let Some(previous) = self.previous.replace(done) else {
            return;
        };
        let arrival_delta = done.last_arrival_us - previous.last_arrival_us;
        if arrival_delta < 0 {
            // Reordered groups: their difference is not delay variation.
            self.previous = Some(previous);
            return;
        }
        if arrival_delta > RESET_GAP_US {
            self.reset_filter();
            return;
        }
        let send_delta = done.last_send_us - previous.last_send_us;
        let variation_ms = (arrival_delta - send_delta) as f64 / 1000.0;
        self.update_trend(variation_ms, done.last_arrival_us as f64 / 1000.0);
    }

    fn reset_filter(&mut self) {
        self.first_arrival_ms = None;
        self.deltas = 0;
        self.accumulated_ms = 0.0;
        self.smoothed_ms = 0.0;
        self.samples.clear();
        self.slope = 0.0;
        self.overuse_since_ms = None;
        self.usage = BandwidthUsage::Normal;
    }

    fn update_trend(&mut self, variation_ms: f64, arrival_ms: f64) {
        self.deltas = self.deltas.saturating_add(1);
        self.accumulated_ms += variation_ms;
        self.smoothed_ms = SMOOTHING * self.smoothed_ms + (1.0 - SMOOTHING) * self.accumulated_ms;
        let origin = *self.first_arrival_ms.get_or_insert(arrival_ms);
        self.samples.push_back((arrival_ms - origin, self.smoothed_ms));
        if self.samples.len() > WINDOW {
            self.samples.pop_front();
        }
        if self.samples.len() == WINDOW {
            if let Some(slope) = least_squares_slope(&self.samples) {
                self.slope = slope;
            }
        }
        let trend = self.slope * f64::from(self.deltas).min(MAX_DELTAS) * TREND_GAIN;
        self.detect(trend, arrival_ms);
    }

    fn detect(&mut self, trend: f64, now_ms: f64) {
        if self.deltas < 2 {
            return;
        }
        if trend > self.threshold_ms {
            let since = *self.overuse_since_ms.get_or_insert(now_ms);
            if now_ms - since >= OVERUSE_TIME_MS && trend >= self.previous_trend {
                self.usage = BandwidthUsage::Overusing;
            }
        } else if trend < -self.threshold_ms {
            self.overuse_since_ms = None;
            self.usage = BandwidthUsage::Underusing;
        } else {
            self.overuse_since_ms = None;
            self.usage = BandwidthUsage::Normal;
        }
        self.previous_trend = trend;
        self.adapt_threshold(trend, now_ms);
    }

    fn adapt_threshold(&mut self, trend: f64, now_ms: f64) {
        let last = *self.last_threshold_update_ms.get_or_insert(now_ms);
        let magnitude = trend.abs();
        if magnitude > self.threshold_ms + SPIKE_MS {
            self.last_threshold_update_ms = Some(now_ms);
            return;
        }
        let k = if magnitude < self.threshold_ms { K_DOWN } else { K_UP };
        let elapsed = (now_ms - last).clamp(0.0, 100.0);
        self.threshold_ms = (self.threshold_ms + k * (magnitude - self.threshold_ms) * elapsed)
            .clamp(MIN_THRESHOLD_MS, MAX_THRESHOLD_MS);
        self.last_threshold_update_ms = Some(now_ms);
    }
}

/// The slope of the least-squares line through `points`, if they are not all at one x.
fn least_squares_slope(points: &VecDeque<(f64, f64)>) -> Option<f64> {
    let n = points.len() as f64;
    let mean_x = points.iter().map(|p| p.0).sum::<f64>() / n;
    let mean_y = points.iter().map(|p| p.1).sum::<f64>() / n;
    let (num, den) = points.iter().fold((0.0, 0.0), |(num, den), &(x, y)| {
        (num + (x - mean_x) * (y - mean_y), den + (x - mean_x) * (x - mean_x))
    });
    (den > f64::EPSILON).then(|| num / den)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `groups` groups of one packet each, sent every `send_gap_us`, arriving every
    /// `arrival_gap_us`, starting at `start`.
    fn feed(d: &mut DelayDetector, start: i64, groups: i64, send_gap_us: i64, arrival_gap_us: i64) {
        for i in 0..groups {
            d.on_packet(start + i * send_gap_us, start + i * arrival_gap_us);
        }
    }

    #[test]
    fn steady_delay_is_normal() {
        let mut d = DelayDetector::new();
        feed(&mut d, 0, 200, 10_000, 10_000);
        assert_eq!(d.usage(), BandwidthUsage::Normal);
    }

    #[test]
    fn growing_delay_is_overuse_and_shrinking_delay_underuse() {
        let mut d = DelayDetector::new();
        feed(&mut d, 0, 50, 10_000, 10_000);
        // Each group arrives 2 ms later than it would have: a queue grows by 2 ms per 10 ms.
        feed(&mut d, 500_000, 40, 10_000, 12_000);
        assert_eq!(d.usage(), BandwidthUsage::Overusing);
        let mut d = DelayDetector::new();
        feed(&mut d, 0, 50, 10_000, 10_000);
        feed(&mut d, 500_000, 40, 10_000, 8_000);
        assert_eq!(d.usage(), BandwidthUsage::Underusing);
    }

    #[test]
    fn packets_of_one_burst_form_one_group() {
        let mut d = DelayDetector::new();
        // Ten packets sent within 5 ms, spread out by a slow link: one group, no deltas yet.
        for i in 0..10 {
            d.on_packet(i * 500, i * 3_000);
        }
        assert_eq!(d.deltas, 0);
        assert!(d.previous.is_none());
    }

    #[test]
    fn the_threshold_follows_a_persistent_trend_up_and_a_quiet_path_down() {
        let mut d = DelayDetector::new();
        feed(&mut d, 0, 50, 10_000, 10_000);
        // A queue growing by 0.7 ms per 10 ms: a trend a little above the initial threshold.
        feed(&mut d, 500_000, 200, 10_000, 10_700);
        assert!(d.threshold_ms() > INITIAL_THRESHOLD_MS, "{}", d.threshold_ms());
        let mut d = DelayDetector::new();
        feed(&mut d, 0, 3_000, 10_000, 10_000);
        assert!(
            (MIN_THRESHOLD_MS..INITIAL_THRESHOLD_MS).contains(&d.threshold_ms()),
            "{}",
            d.threshold_ms()
        );
    }
}
