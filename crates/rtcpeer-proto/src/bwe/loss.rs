//! The loss-based half of the estimator (draft-ietf-rmcat-gcc-02 §6): over windows of feedback,
//! a loss fraction above 10 % lowers the rate by half the fraction, one below 2 % raises it by
//! 5 %, and anything between holds it (some loss is the path's, not congestion's). The ceiling only
//! exists after a window of high loss, and goes away once it has grown past the delay-based
//! estimate: moderate loss alone never pins the rate.

use std::time::{Duration, Instant};

/// Loss above this fraction lowers the rate.
const HIGH_LOSS: f64 = 0.10;
/// Loss below this fraction raises the rate.
const LOW_LOSS: f64 = 0.02;
/// The rate grows by this factor per window of low loss.
const INCREASE: f64 = 1.05;
/// A window closes after this many packets, or this many and this much time.
const WINDOW_PACKETS: u32 = 100;
const MIN_WINDOW_PACKETS: u32 = 20;
const MIN_WINDOW_TIME: Duration = Duration::from_secs(1);

/// A ceiling on the rate from the loss the feedback reports.
#[derive(Debug, Clone, Default)]
pub struct LossController {
    received: u32,
    lost: u32,
    window_start: Option<Instant>,
    ceiling: Option<f64>,
    last_fraction: Option<f64>,
}

impl LossController {
    /// No loss seen, no ceiling.
    pub fn new() -> Self {
        Self::default()
    }

    /// The ceiling, if loss has imposed one.
    pub fn ceiling(&self) -> Option<f64> {
        self.ceiling
    }

    /// The loss fraction of the last window closed.
    pub fn last_fraction(&self) -> Option<f64> {
        self.last_fraction
    }

    /// Counts what one feedback packet reported: `received` and `lost` packets, and `recovered`
    /// ones an earlier feedback reported lost. `target` is the rate in force, `delay_based` the
    /// delay-based estimate. Returns whether a window closed with a decrease.
    pub fn on_feedback(
        &mut self,
        received: usize,
        lost: usize,
        recovered: usize,
        target: f64,
        delay_based: f64,
        now: Instant,
    ) -> bool {
        let start = *self.window_start.get_or_insert(now);
        self.received = self
            .received
            .saturating_add(u32::try_from(received + recovered).unwrap_or(u32::MAX));
        self.lost = self
            .lost
            .saturating_add(u32::try_from(lost).unwrap_or(u32::MAX))
            .saturating_sub(u32::try_from(recovered).unwrap_or(u32::MAX));
        let packets = self.received.saturating_add(self.lost);
        let closed = packets >= WINDOW_PACKETS
            || (packets >= MIN_WINDOW_PACKETS && now.saturating_duration_since(start) >= MIN_WINDOW_TIME);
        if !closed {
            return false;
        }
        let fraction = f64::from(self.lost) / f64::from(packets);
        self.last_fraction = Some(fraction);
        self.received = 0;
        self.lost = 0;
        self.window_start = Some(now);
        if fraction > HIGH_LOSS {
            self.ceiling = Some(target * (1.0 - 0.5 * fraction));
            tracing::debug!(fraction, ceiling = ?self.ceiling, "loss-based decrease");
            return true;
        }
        if fraction >= LOW_LOSS {
            // Hold: a ceiling a congestion loss set stays; without one, loss this low is the
            // path's and leaves the rate to the delay-based estimate.
        } else if let Some(ceiling) = self.ceiling {
            let raised = ceiling * INCREASE;
            // Once the loss ceiling is above the delay-based estimate it no longer limits anything.
            self.ceiling = (raised < delay_based).then_some(raised);
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn high_loss_lowers_low_loss_raises_and_moderate_loss_holds() {
        let mut t = Instant::now();
        let mut l = LossController::new();
        assert!(l.on_feedback(80, 20, 0, 1_000_000.0, 2_000_000.0, t));
        assert_eq!(l.ceiling(), Some(900_000.0));
        t += Duration::from_millis(100);
        assert!(!l.on_feedback(95, 5, 0, 900_000.0, 2_000_000.0, t));
        assert_eq!(l.ceiling(), Some(900_000.0));
        t += Duration::from_millis(100);
        l.on_feedback(100, 0, 0, 900_000.0, 2_000_000.0, t);
        assert!((l.ceiling().unwrap() - 945_000.0).abs() < 0.01);
        // Raised past the delay-based estimate: no ceiling any more.
        t += Duration::from_millis(100);
        l.on_feedback(100, 0, 0, 945_000.0, 950_000.0, t);
        assert_eq!(l.ceiling(), None);
    }

    #[test]
    fn moderate_loss_alone_sets_no_ceiling() {
        let t = Instant::now();
        let mut l = LossController::new();
        assert!(!l.on_feedback(95, 5, 0, 1_000_000.0, 1_000_000.0, t));
        assert_eq!((l.ceiling(), l.last_fraction()), (None, Some(0.05)));
    }

    #[test]
    fn a_window_needs_enough_packets() {
        let t = Instant::now();
        let mut l = LossController::new();
        assert!(!l.on_feedback(0, 10, 0, 1_000_000.0, 1_000_000.0, t));
        assert!(!l.on_feedback(0, 5, 0, 1_000_000.0, 1_000_000.0, t + Duration::from_secs(2)));
        assert!(l.on_feedback(0, 5, 0, 1_000_000.0, 1_000_000.0, t + Duration::from_secs(3)));
        assert_eq!(l.last_fraction(), Some(1.0));
    }
}
