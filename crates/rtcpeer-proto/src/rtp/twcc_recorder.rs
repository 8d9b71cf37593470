//! Recording arrivals of transport-wide sequence numbers and building feedback for them.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::rtcp::{PacketStatus, TransportCc, DELTA_TICK_MICROS, REFERENCE_TICK_MICROS};
use super::seq::SeqUnwrapper;

/// Limits and pacing of a [`TwccRecorder`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TwccConfig {
    /// How often [`TwccRecorder::poll_feedback`] produces a packet.
    pub interval: Duration,
    /// The most arrivals kept waiting for feedback; the oldest are dropped beyond it.
    pub max_pending: usize,
    /// The most statuses in one feedback packet (keeps it well under an MTU).
    pub max_statuses: usize,
}

impl Default for TwccConfig {
    fn default() -> Self {
        TwccConfig {
            interval: Duration::from_millis(100),
            max_pending: 4096,
            max_statuses: 512,
        }
    }
}

/// Notes when each transport-wide sequence number arrived and turns that into
/// [`TransportCc`] feedback.
#[derive(Debug, Clone)]
pub struct TwccRecorder {
    config: TwccConfig,
    sender_ssrc: u32,
    media_ssrc: u32,
    seqs: SeqUnwrapper,
    pending: BTreeMap<i64, Instant>,
    next_base: Option<i64>,
    epoch: Option<Instant>,
    fb_pkt_count: u8,
    last_feedback: Option<Instant>,
}

impl TwccRecorder {
    /// A recorder whose feedback is sent as `sender_ssrc` about media `media_ssrc`.
    pub fn new(sender_ssrc: u32, media_ssrc: u32, config: TwccConfig) -> Self {
        TwccRecorder {
            config,
            sender_ssrc,
            media_ssrc,
            seqs: SeqUnwrapper::new(),
            pending: BTreeMap::new(),
            next_base: None,
            epoch: None,
            fb_pkt_count: 0,
            last_feedback: None,
        }
    }

    /// The instant the receiver's clock in the feedback counts from (the first arrival).
    pub fn epoch(&self) -> Option<Instant> {
        self.epoch
    }

    /// Records that the packet with transport sequence number `seq` arrived at `now`. Packets
    /// already reported, and repeats, are ignored.
    pub fn on_received(&mut self, seq: u16, now: Instant) {
        self.epoch.get_or_insert(now);
        let extended = self.seqs.unwrap(seq);
        if self.next_base.is_some_and(|base| extended < base) {
            tracing::trace!(seq, "transport sequence number already reported");
            return;
        }
        self.pending.entry(extended).or_insert(now);
        while self.pending.len() > self.config.max_pending {
            if let Some((dropped, _)) = self.pending.pop_first() {
                self.next_base = Some(dropped + 1);
            }
        }
    }

    /// Feedback for what arrived since the last one, if `interval` has passed since then (or since
    /// the first arrival).
    pub fn poll_feedback(&mut self, now: Instant) -> Option<TransportCc> {
        let since = self.last_feedback.or(self.epoch)?;
        if now < since + self.config.interval {
            return None;
        }
        let feedback = self.build_feedback()?;
        self.last_feedback = Some(now);
        Some(feedback)
    }

    /// When [`poll_feedback`](Self::poll_feedback) next has something to send.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.pending.is_empty() {
            return None;
        }
        Some(self.last_feedback.or(self.epoch)? + self.config.interval)
    }

    /// Feedback for the oldest unreported arrivals now, regardless of the interval. Arrivals that do
    /// not fit (too many statuses, or a delta beyond 16 bits) are left for the next call.
    pub fn build_feedback(&mut self) -> Option<TransportCc> {
        let epoch = self.epoch?;
        let (&first, &first_at) = self.pending.first_key_value()?;
        // Report holes before the first arrival since the last feedback, unless that is too many.
        let base = match self.next_base {
            Some(base) if first - base < self.config.max_statuses as i64 => base,
            _ => first,
        };
        let micros = |at: Instant| at.saturating_duration_since(epoch).as_micros() as i64;
        let reference = micros(first_at) / REFERENCE_TICK_MICROS;
        let ticks_per_reference = REFERENCE_TICK_MICROS / DELTA_TICK_MICROS;
        let mut previous_ticks = reference * ticks_per_reference;
        let mut statuses = Vec::new();
        let mut last_reported = base - 1;
        for (&seq, &at) in self.pending.range(base..) {
            let holes = (seq - last_reported - 1) as usize;
            if statuses.len() + holes + 1 > self.config.max_statuses {
                break;
            }
            let ticks = micros(at) / DELTA_TICK_MICROS;
            let Some(status) = PacketStatus::received(ticks - previous_ticks) else {
                break;
            };
            statuses.extend(std::iter::repeat_n(PacketStatus::NotReceived, holes));
            statuses.push(status);
            previous_ticks = ticks;
            last_reported = seq;
        }
        if statuses.is_empty() {
            // The first arrival always fits: its delta from the reference is under 64 ms.
            return None;
        }
        self.pending.retain(|&seq, _| seq > last_reported);
        self.next_base = Some(last_reported + 1);
        let count = self.fb_pkt_count;
        self.fb_pkt_count = count.wrapping_add(1);
        Some(TransportCc {
            sender_ssrc: self.sender_ssrc,
            media_ssrc: self.media_ssrc,
            base_seq: base as u16,
            reference_time: (reference as u32) & 0x00FF_FFFF,
            fb_pkt_count: count,
            statuses,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::rtcp::RtcpPacket;
    use super::*;

    fn us(n: u64) -> Duration {
        Duration::from_micros(n)
    }

    /// The arrival times a feedback packet reports, relative to the recorder's epoch.
    fn reported(fb: &TransportCc) -> Vec<(u16, Option<i64>)> {
        fb.arrivals().collect()
    }

    #[test]
    fn feedback_reports_arrivals_losses_and_reordering() {
        let t0 = Instant::now() + Duration::from_secs(1);
        let mut recorder = TwccRecorder::new(1, 2, TwccConfig::default());
        // 65534 at 0, 65535 lost, 0 at 1 ms, 2 at 3 ms, 1 (late) at 70 ms.
        recorder.on_received(65534, t0);
        recorder.on_received(0, t0 + us(1000));
        recorder.on_received(2, t0 + us(3000));
        recorder.on_received(1, t0 + us(70_000));
        assert_eq!(recorder.poll_timeout(), Some(t0 + us(100_000)));
        assert!(recorder.poll_feedback(t0 + us(70_000)).is_none());
        let fb = recorder.poll_feedback(t0 + us(100_000)).unwrap();
        assert_eq!(fb.base_seq, 65534);
        assert_eq!(fb.fb_pkt_count, 0);
        assert_eq!(fb.reference_time, 0);
        assert_eq!(
            reported(&fb),
            [
                (65534, Some(0)),
                (65535, None),
                (0, Some(1000)),
                (1, Some(70_000)),
                (2, Some(3000))
            ]
        );
        // The out-of-order arrival needs a negative delta.
        assert_eq!(fb.statuses[4], PacketStatus::LargeDelta(-268));

        // It survives the wire.
        let mut bytes = Vec::new();
        RtcpPacket::TransportCc(fb.clone()).write(&mut bytes).unwrap();
        assert_eq!(
            RtcpPacket::parse_compound(&bytes).unwrap(),
            [RtcpPacket::TransportCc(fb)]
        );

        // Nothing new: no feedback; not before the interval either.
        assert!(recorder.poll_feedback(t0 + us(300_000)).is_none());
        recorder.on_received(5, t0 + us(200_000));
        recorder.on_received(2, t0 + us(200_100));
        assert!(recorder.poll_feedback(t0 + us(100_000)).is_none());
        assert_eq!(recorder.poll_timeout(), Some(t0 + us(200_000)));
        let fb = recorder.poll_feedback(t0 + us(200_500)).unwrap();
        assert_eq!(fb.fb_pkt_count, 1);
        assert_eq!(fb.base_seq, 3);
        // 200 ms is reference 3 (192 ms) plus 8 ms.
        assert_eq!(fb.reference_time, 3);
        assert_eq!(reported(&fb), [(3, None), (4, None), (5, Some(200_000))]);
    }

    #[test]
    fn long_gaps_between_arrivals_split_feedback() {
        let t0 = Instant::now();
        let mut recorder = TwccRecorder::new(1, 2, TwccConfig::default());
        recorder.on_received(10, t0);
        // 10 s later: the delta does not fit in 16 bits of 250 µs (8.19 s).
        recorder.on_received(11, t0 + Duration::from_secs(10));
        let first = recorder.build_feedback().unwrap();
        assert_eq!(reported(&first), [(10, Some(0))]);
        let second = recorder.build_feedback().unwrap();
        assert_eq!(reported(&second), [(11, Some(10_000_000))]);
        assert_eq!(second.reference_time, 156);
        assert!(recorder.build_feedback().is_none());
    }

    #[test]
    fn stays_bounded() {
        let t0 = Instant::now();
        let config = TwccConfig {
            max_pending: 100,
            max_statuses: 30,
            ..TwccConfig::default()
        };
        let mut recorder = TwccRecorder::new(1, 2, config);
        for seq in 0..1000u16 {
            recorder.on_received(seq, t0 + us(u64::from(seq) * 100));
        }
        let mut reported_seqs = Vec::new();
        while let Some(fb) = recorder.build_feedback() {
            assert!(fb.statuses.len() <= 30);
            reported_seqs.extend(fb.arrivals().map(|(seq, at)| (seq, at.is_some())));
        }
        // Only the newest 100 were kept, all received.
        assert_eq!(reported_seqs.len(), 100);
        assert_eq!(reported_seqs.first(), Some(&(900, true)));
        assert!(reported_seqs.iter().all(|&(_, received)| received));
    }
}
