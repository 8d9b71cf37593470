//! The rate controller of the delay-based estimate (draft-ietf-rmcat-gcc-02 §5.5): additive
//! increase near the rate where the path last saturated, multiplicative increase away from it,
//! and a multiplicative decrease to a fraction of what actually got through when the delay
//! detector signals over-use.

use std::time::{Duration, Instant};

use super::delay::BandwidthUsage;

/// A decrease sets the rate to this fraction of the acknowledged rate.
const BETA: f64 = 0.85;
/// Multiplicative increase per second once the path has saturated at least once.
const ETA: f64 = 1.08;
/// Multiplicative increase per second before the first saturation: the start bitrate is a guess,
/// and the encoder should not spend long far below what the path carries.
const STARTUP_ETA: f64 = 1.5;
/// The rate may not run ahead of the acknowledged rate by more than this factor (plus 10 kbps).
const MAX_AHEAD_OF_ACKED: f64 = 1.5;
/// The packet size assumed for the additive increase, in bits.
const PACKET_BITS: f64 = 1200.0 * 8.0;
/// Smoothing of the rate at which the path saturated (weight of the past).
const MAX_SMOOTHING: f64 = 0.95;

/// The controller's state (draft-ietf-rmcat-gcc-02 §5.5, figure 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateState {
    /// Keep the rate.
    Hold,
    /// Raise the rate.
    Increase,
    /// Lower the rate.
    Decrease,
}

/// Additive-increase, multiplicative-decrease control of the delay-based rate.
#[derive(Debug, Clone)]
pub struct AimdRateControl {
    rate: f64,
    min: f64,
    max: f64,
    state: RateState,
    last_update: Option<Instant>,
    rtt: Duration,
    /// The acknowledged rate when the path saturated, smoothed, with its variance.
    saturated_at: Option<(f64, f64)>,
    in_startup: bool,
}

impl AimdRateControl {
    /// A controller starting at `start` bits/s and kept within `min..=max`.
    pub fn new(start: u64, min: u64, max: u64) -> Self {
        let (min, max) = (min as f64, (max.max(min)) as f64);
        AimdRateControl {
            rate: (start as f64).clamp(min, max),
            min,
            max,
            state: RateState::Hold,
            last_update: None,
            rtt: Duration::from_millis(200),
            saturated_at: None,
            in_startup: true,
        }
    }

    /// The current rate in bits/s.
    pub fn rate(&self) -> f64 {
        self.rate
    }

    /// The state the last signal left the controller in.
    pub fn state(&self) -> RateState {
        self.state
    }

    /// The round-trip time, which paces the additive increase.
    pub fn set_rtt(&mut self, rtt: Duration) {
        self.rtt = rtt;
    }

    /// Ends the start-up phase (a loss-based decrease also means the path is full).
    pub fn end_startup(&mut self) {
        self.in_startup = false;
    }

    /// Moves the rate for the detector's `usage` signal, given the rate the receiver acknowledged.
    pub fn update(&mut self, usage: BandwidthUsage, acked: Option<f64>, now: Instant) -> f64 {
        let elapsed = self
            .last_update
            .map_or(Duration::ZERO, |at| now.saturating_duration_since(at))
            .min(Duration::from_secs(1));
        self.last_update = Some(now);
        self.state = match (usage, self.state) {
            (BandwidthUsage::Overusing, _) => RateState::Decrease,
            (BandwidthUsage::Underusing, _) => RateState::Hold,
            (BandwidthUsage::Normal, RateState::Decrease) => RateState::Hold,
            (BandwidthUsage::Normal, _) => RateState::Increase,
        };
        match self.state {
            RateState::Hold => {}
            RateState::Increase => self.increase(acked, elapsed),
            RateState::Decrease => {
                self.decrease(acked);
                // One decrease per over-use episode step; the next signal decides again.
                self.state = RateState::Hold;
            }
        }
        self.rate = self.rate.clamp(self.min, self.max);
        self.rate
    }

    fn increase(&mut self, acked: Option<f64>, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        let near_saturation = match (self.saturated_at, acked) {
            (Some((mean, variance)), Some(acked)) => {
                let spread = 3.0 * variance.sqrt().max(0.05 * mean);
                if acked > mean + spread {
                    // The path carries more than it used to: forget the old ceiling.
                    self.saturated_at = None;
                    false
                } else {
                    acked >= mean - spread
                }
            }
            _ => false,
        };
        let raised = if near_saturation {
            let response = self.rtt.as_secs_f64() + 0.1;
            self.rate + (PACKET_BITS / response).max(1000.0) * seconds
        } else {
            let eta = if self.in_startup { STARTUP_ETA } else { ETA };
            self.rate * eta.powf(seconds)
        };
        let ceiling = acked.map_or(f64::INFINITY, |a| MAX_AHEAD_OF_ACKED * a + 10_000.0);
        // Never above the ceiling, but the ceiling does not lower a rate already above it.
        self.rate = raised.min(ceiling.max(self.rate));
    }

    fn decrease(&mut self, acked: Option<f64>) {
        self.in_startup = false;
        let Some(acked) = acked else {
            self.rate *= BETA;
            return;
        };
        let lowered = BETA * acked;
        if lowered < self.rate {
            self.rate = lowered;
        }
        self.saturated_at = Some(match self.saturated_at {
            None => (acked, 0.0),
            Some((mean, variance)) => {
                let mean = MAX_SMOOTHING * mean + (1.0 - MAX_SMOOTHING) * acked;
                let deviation = acked - mean;
                (
                    mean,
                    MAX_SMOOTHING * variance + (1.0 - MAX_SMOOTHING) * deviation * deviation,
                )
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn increases_while_normal_and_decreases_to_a_fraction_of_the_acked_rate_on_overuse() {
        let now = Instant::now();
        let mut c = AimdRateControl::new(300_000, 30_000, 2_500_000);
        let mut t = now;
        // The first update only starts the clock; ten more make one second.
        for _ in 0..11 {
            t += Duration::from_millis(100);
            c.update(BandwidthUsage::Normal, Some(1_000_000.0), t);
        }
        // One second of start-up increase: × 1.5.
        assert!((c.rate() - 450_000.0).abs() < 1_000.0, "{}", c.rate());
        t += Duration::from_millis(100);
        c.update(BandwidthUsage::Overusing, Some(400_000.0), t);
        assert_eq!(c.rate(), 340_000.0);
        assert_eq!(c.state(), RateState::Hold);
        // Under-use holds.
        t += Duration::from_millis(100);
        c.update(BandwidthUsage::Underusing, Some(400_000.0), t);
        assert_eq!(c.rate(), 340_000.0);
    }

    #[test]
    fn the_rate_stays_within_bounds_and_near_the_acked_rate() {
        let mut t = Instant::now();
        let mut c = AimdRateControl::new(300_000, 30_000, 2_500_000);
        for _ in 0..200 {
            t += Duration::from_millis(100);
            c.update(BandwidthUsage::Normal, Some(100_000.0), t);
        }
        assert_eq!(
            c.rate(),
            300_000.0,
            "an application-limited sender does not inflate the rate"
        );
        for _ in 0..200 {
            t += Duration::from_millis(100);
            c.update(BandwidthUsage::Normal, Some(10_000_000.0), t);
        }
        assert_eq!(c.rate(), 2_500_000.0);
        for _ in 0..50 {
            t += Duration::from_millis(100);
            c.update(BandwidthUsage::Overusing, Some(1_000.0), t);
        }
        assert_eq!(c.rate(), 30_000.0);
    }
}
