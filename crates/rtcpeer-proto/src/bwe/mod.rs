//! Send-side congestion control: how fast we may send, learnt from transport-wide feedback.
//!
//! Our own design after the public description of Google Congestion Control
//! (draft-ietf-rmcat-gcc-02) and transport-wide feedback (draft-holmer-rmcat-transport-wide-cc-
//! extensions-01); decision 0015 explains the choices.
//!
//! - [`SentPacketLog`] notes each packet's transport-wide sequence number, send time and size, and
//!   matches feedback against it (wrap-around, duplicates, late reports, bounded).
//! - The delay-based estimate: a [`DelayDetector`] turns send and arrival times into an over-use
//!   signal, which an [`AimdRateControl`] turns into a rate, never far above the
//!   acknowledged rate ([`AckedRate`]).
//! - The loss-based estimate: a [`LossController`] puts a ceiling on the rate when more than 10 %
//!   of packets are lost.
//! - [`SendSideBwe`] combines them (the lower wins), caps the result with the receiver's REMB, and
//!   keeps it within the configured bounds: that is the target bitrate for the encoders.
//! - A [`Pacer`] lets media out at a multiple of the target in bursts of a few milliseconds.
//!
//! Everything is sans-IO: times are passed in, nothing here reads a clock.

mod aimd;
mod delay;
mod loss;
mod pacer;
mod rate;
mod sent;

use std::time::{Duration, Instant};

pub use aimd::{AimdRateControl, RateState};
pub use delay::{BandwidthUsage, DelayDetector};
pub use loss::LossController;
pub use pacer::{Pacer, PacerConfig};
pub use rate::AckedRate;
pub use sent::{FeedbackSummary, PacketResult, SentPacketLog};

use crate::rtp::rtcp::TransportCc;

/// The bounds and start of the estimate, and how the pacer follows it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BweConfig {
    /// The estimate before any feedback, bits/s.
    pub start_bitrate: u64,
    /// The estimate never goes below this, bits/s.
    pub min_bitrate: u64,
    /// Nor above this, bits/s.
    pub max_bitrate: u64,
    /// Media is paced at this multiple of the target.
    pub pacing_factor: f64,
    /// The pacer's burst and queue limits.
    pub pacer: PacerConfig,
    /// How many sent packets are remembered for feedback.
    pub history: usize,
}

impl Default for BweConfig {
    fn default() -> Self {
        BweConfig {
            start_bitrate: 300_000,
            min_bitrate: 30_000,
            max_bitrate: 5_000_000,
            pacing_factor: 2.5,
            pacer: PacerConfig::default(),
            history: 8192,
        }
    }
}

/// What the estimator counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BweCounters {
    /// Feedback packets handled.
    pub feedback_packets: u64,
    /// Packets the feedback said arrived.
    pub packets_received: u64,
    /// Packets the feedback said were lost (and did not report later).
    pub packets_lost: u64,
    /// Feedback statuses about sequence numbers we do not know (too old, or never sent).
    pub out_of_window: u64,
    /// REMB messages handled.
    pub remb_received: u64,
}

/// The send-side bandwidth estimator of one transport.
#[derive(Debug, Clone)]
pub struct SendSideBwe {
    config: BweConfig,
    epoch: Option<Instant>,
    log: SentPacketLog,
    delay: DelayDetector,
    aimd: AimdRateControl,
    loss: LossController,
    acked: AckedRate,
    remb: Option<u64>,
    target: u64,
    counters: BweCounters,
}

impl SendSideBwe {
    /// An estimator at the configured start bitrate.
    pub fn new(config: BweConfig) -> Self {
        let min = config.min_bitrate;
        let max = config.max_bitrate.max(min);
        SendSideBwe {
            config,
            epoch: None,
            log: SentPacketLog::new(config.history),
            delay: DelayDetector::new(),
            aimd: AimdRateControl::new(config.start_bitrate, min, max),
            loss: LossController::new(),
            acked: AckedRate::new(),
            remb: None,
            target: config.start_bitrate.clamp(min, max),
            counters: BweCounters::default(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &BweConfig {
        &self.config
    }

    /// The target bitrate for everything we send, bits/s.
    pub fn target_bitrate(&self) -> u64 {
        self.target
    }

    /// The rate the pacer should send media at, bits/s.
    pub fn pacing_bitrate(&self) -> u64 {
        (self.target as f64 * self.config.pacing_factor.max(1.0)) as u64
    }

    /// The rate the receiver acknowledged lately, bits/s.
    pub fn acknowledged_bitrate(&self) -> Option<u64> {
        self.acked.bitrate().map(|r| r as u64)
    }

    /// The delay detector's current signal.
    pub fn usage(&self) -> BandwidthUsage {
        self.delay.usage()
    }

    /// The loss fraction of the last closed loss window.
    pub fn loss_fraction(&self) -> Option<f64> {
        self.loss.last_fraction()
    }

    /// The last REMB from the receiver, bits/s.
    pub fn remb(&self) -> Option<u64> {
        self.remb
    }

    /// How many sequence numbers the sent-packet log holds (at most [`BweConfig::history`]).
    pub fn sent_packets(&self) -> usize {
        self.log.len()
    }

    /// What the estimator counted.
    pub fn counters(&self) -> BweCounters {
        self.counters
    }

    /// A packet with transport-wide sequence number `seq` and `size` bytes (as sent on the wire)
    /// left at `now`.
    pub fn on_packet_sent(&mut self, seq: u16, size: usize, now: Instant) {
        let epoch = *self.epoch.get_or_insert(now);
        let send_us = i64::try_from(now.saturating_duration_since(epoch).as_micros()).unwrap_or(i64::MAX);
        self.log.on_sent(seq, send_us, size);
    }

    /// Transport-wide feedback from the receiver arrived at `now`.
    pub fn on_transport_feedback(&mut self, feedback: &TransportCc, now: Instant) {
        self.counters.feedback_packets += 1;
        let summary = self.log.on_feedback(feedback);
        self.counters.out_of_window += summary.out_of_window as u64;
        self.counters.packets_received += (summary.received + summary.recovered) as u64;
        self.counters.packets_lost =
            (self.counters.packets_lost + summary.lost as u64).saturating_sub(summary.recovered as u64);
        if summary.results.is_empty() {
            return;
        }
        for result in &summary.results {
            if let Some(arrival) = result.arrival_us {
                self.acked.on_received(arrival, result.size);
                self.delay.on_packet(result.send_us, arrival);
            }
        }
        let delay_based = self.aimd.update(self.delay.usage(), self.acked.bitrate(), now);
        let decreased = self.loss.on_feedback(
            summary.received,
            summary.lost,
            summary.recovered,
            self.target as f64,
            delay_based,
            now,
        );
        if decreased {
            self.aimd.end_startup();
        }
        self.update_target();
    }

    /// The receiver's estimated maximum bitrate (REMB): the target never exceeds it.
    pub fn on_remb(&mut self, bitrate: u64) {
        self.counters.remb_received += 1;
        self.remb = Some(bitrate);
        self.update_target();
    }

    /// The round-trip time, from RTCP reports.
    pub fn on_rtt(&mut self, rtt: Duration) {
        self.aimd.set_rtt(rtt);
    }

    fn update_target(&mut self) {
        let mut target = self.aimd.rate();
        if let Some(ceiling) = self.loss.ceiling() {
            target = target.min(ceiling);
        }
        if let Some(remb) = self.remb {
            target = target.min(remb as f64);
        }
        let max = self.config.max_bitrate.max(self.config.min_bitrate);
        self.target = (target as u64).clamp(self.config.min_bitrate, max);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rtp::rtcp::PacketStatus;

    /// Sends `count` packets of 1250 bytes every `gap`, and reports them all received, ten per
    /// feedback, with a one-way delay growing by `growth_us` per packet.
    /// `offset` is when the first packet leaves, counted from `epoch` on both clocks.
    fn run(bwe: &mut SendSideBwe, epoch: Instant, offset: Duration, first_seq: u16, count: u16, growth_us: i64) {
        let gap = Duration::from_millis(10);
        let mut batch = Vec::new();
        for i in 0..count {
            let at = epoch + offset + gap * u32::from(i);
            bwe.on_packet_sent(first_seq.wrapping_add(i), 1250, at);
            let arrival_us = offset.as_micros() as i64 + 20_000 + i64::from(i) * (gap.as_micros() as i64 + growth_us);
            batch.push(arrival_us);
            if batch.len() == 10 {
                let reference = batch[0] / 64_000;
                let mut previous = reference * 64_000;
                let statuses = batch
                    .drain(..)
                    .map(|arrival| {
                        let ticks = (arrival - previous) / 250;
                        previous += ticks * 250;
                        PacketStatus::received(ticks).unwrap()
                    })
                    .collect();
                let fb = TransportCc {
                    base_seq: first_seq.wrapping_add(i + 1 - 10),
                    reference_time: reference as u32,
                    statuses,
                    ..TransportCc::default()
                };
                bwe.on_transport_feedback(&fb, at + Duration::from_millis(20));
            }
        }
    }

    #[test]
    fn growing_delay_lowers_the_target_below_the_acked_rate() {
        let start = Instant::now();
        let mut bwe = SendSideBwe::new(BweConfig::default());
        run(&mut bwe, start, Duration::ZERO, 0, 300, 0);
        let before = bwe.target_bitrate();
        // The queue grows by 1 ms per packet: the path carries less than is sent.
        run(&mut bwe, start, Duration::from_secs(3), 300, 100, 1_000);
        assert!(bwe.target_bitrate() < before, "{} !< {before}", bwe.target_bitrate());
        assert!(bwe.target_bitrate() < 1_000_000);
    }

    #[test]
    fn remb_caps_the_target_and_bounds_apply() {
        let mut bwe = SendSideBwe::new(BweConfig::default());
        assert_eq!(bwe.target_bitrate(), 300_000);
        assert_eq!(bwe.pacing_bitrate(), 750_000);
        bwe.on_remb(100_000);
        assert_eq!(bwe.target_bitrate(), 100_000);
        bwe.on_remb(1_000);
        assert_eq!(bwe.target_bitrate(), 30_000);
    }

    #[test]
    fn garbage_feedback_changes_nothing() {
        let now = Instant::now();
        let mut bwe = SendSideBwe::new(BweConfig::default());
        let fb = TransportCc {
            base_seq: 40_000,
            statuses: vec![PacketStatus::SmallDelta(1); 1000],
            ..TransportCc::default()
        };
        bwe.on_transport_feedback(&fb, now);
        bwe.on_packet_sent(1, 1000, now);
        bwe.on_transport_feedback(&fb, now);
        assert_eq!(bwe.target_bitrate(), 300_000);
        assert_eq!(bwe.counters().out_of_window, 2000);
    }

    #[test]
    fn steady_delivery_raises_the_target() {
        let start = Instant::now();
        let mut bwe = SendSideBwe::new(BweConfig::default());
        // 1250 bytes every 10 ms (1 Mbit/s) for 3 s, no queueing.
        run(&mut bwe, start, Duration::ZERO, 65_000, 300, 0);
        assert!(bwe.target_bitrate() > 600_000, "{}", bwe.target_bitrate());
        assert_eq!(bwe.usage(), BandwidthUsage::Normal);
    }
}
