//! What we sent, per transport-wide sequence number, and what transport-wide feedback says became
//! of it.
//!
//! Every packet carrying a transport-wide sequence number is noted here when it leaves, with its
//! send time and size, in a ring of bounded length. A feedback packet (draft-holmer-rmcat-transport-
//! wide-cc-extensions-01 §3.1) is matched against the ring: sequence numbers are extended past their
//! 16-bit wrap relative to the newest one sent, the 24-bit reference time past its wrap relative to
//! the last feedback, and each packet learns its fate once: a packet reported twice (duplicated or
//! overlapping feedback) counts once, and a packet reported lost and later received counts as
//! received. Sequence numbers outside the ring (too old, or never sent) are ignored and counted.

use std::collections::VecDeque;

use crate::rtp::rtcp::{TransportCc, DELTA_TICK_MICROS, REFERENCE_TICK_MICROS};
use crate::rtp::SeqUnwrapper;

/// The 24-bit reference time wraps at this many 64 ms ticks.
const REFERENCE_WRAP: i64 = 1 << 24;

/// What feedback said about one packet we sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PacketResult {
    /// The extended transport-wide sequence number.
    pub seq: i64,
    /// When it was sent, in microseconds on our clock (since the log's first packet).
    pub send_us: i64,
    /// Its size in bytes.
    pub size: usize,
    /// When it arrived, in microseconds on the receiver's clock, or `None` if reported lost.
    pub arrival_us: Option<i64>,
}

/// What one feedback packet taught.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FeedbackSummary {
    /// Packets whose fate is newly known, in sequence (hence send) order.
    pub results: Vec<PacketResult>,
    /// Of those, how many arrived.
    pub received: usize,
    /// Of those, how many are reported lost.
    pub lost: usize,
    /// Packets reported lost by earlier feedback that this one says arrived after all.
    pub recovered: usize,
    /// Statuses about sequence numbers outside the log (too old, or never sent).
    pub out_of_window: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    Unknown,
    ReportedLost,
    Received,
}

#[derive(Debug, Clone, Copy)]
struct Sent {
    send_us: i64,
    size: usize,
    fate: Fate,
}

/// A bounded log of sent packets, matched against transport-wide feedback.
#[derive(Debug, Clone)]
pub struct SentPacketLog {
    capacity: usize,
    seqs: SeqUnwrapper,
    /// The extended sequence number of `packets[0]`.
    first: i64,
    /// One slot per sequence number from `first` on; `None` for numbers never sent.
    packets: VecDeque<Option<Sent>>,
    /// The newest extended reference time seen in feedback.
    reference: Option<i64>,
}

impl SentPacketLog {
    /// A log remembering the last `capacity` sequence numbers (at least 1).
    pub fn new(capacity: usize) -> Self {
        SentPacketLog {
            capacity: capacity.max(1),
            seqs: SeqUnwrapper::new(),
            first: 0,
            packets: VecDeque::new(),
            reference: None,
        }
    }

    /// How many sequence numbers the log holds now.
    pub fn len(&self) -> usize {
        self.packets.len()
    }

    /// Whether the log is empty.
    pub fn is_empty(&self) -> bool {
        self.packets.is_empty()
    }

    /// Notes that the packet with transport-wide sequence number `seq` and `size` bytes left at
    /// `send_us`. A number behind the newest one noted fills its gap if it has one, and is
    /// ignored if it was noted already or is older than the log.
    pub fn on_sent(&mut self, seq: u16, send_us: i64, size: usize) {
        let ext = self.seqs.unwrap(seq);
        let next = self.first + self.packets.len() as i64;
        let sent = Some(Sent {
            send_us,
            size,
            fate: Fate::Unknown,
        });
        if self.packets.is_empty() || ext - next >= self.capacity as i64 {
            self.packets.clear();
            self.first = ext;
            self.packets.push_back(sent);
            return;
        }
        if ext < next {
            // Sent out of order (a retransmission numbered after packets still in the pacer left
            // before them): fill its slot, unless it was sent already.
            let slot = usize::try_from(ext - self.first)
                .ok()
                .and_then(|index| self.packets.get_mut(index));
            match slot {
                Some(slot @ None) => *slot = sent,
                _ => tracing::trace!(seq, "transport sequence number sent twice, or too old"),
            }
            return;
        }
        for _ in next..ext {
            self.packets.push_back(None);
        }
        self.packets.push_back(sent);
        while self.packets.len() > self.capacity {
            self.packets.pop_front();
            self.first += 1;
        }
    }

    /// Matches one feedback packet against the log.
    pub fn on_feedback(&mut self, feedback: &TransportCc) -> FeedbackSummary {
        let mut summary = FeedbackSummary::default();
        let Some(newest) = self.seqs.highest() else {
            summary.out_of_window = feedback.statuses.len();
            return summary;
        };
        let base = newest + i64::from(feedback.base_seq.wrapping_sub(newest as u16) as i16);
        let reference = self.extend_reference(feedback.reference_time);
        let mut arrival = reference * REFERENCE_TICK_MICROS;
        for (i, status) in feedback.statuses.iter().enumerate() {
            let delta = status.delta_ticks();
            if let Some(ticks) = delta {
                arrival += ticks * DELTA_TICK_MICROS;
            }
            let seq = base + i as i64;
            let slot = usize::try_from(seq - self.first)
                .ok()
                .and_then(|index| self.packets.get_mut(index))
                .and_then(Option::as_mut);
            let Some(sent) = slot else {
                summary.out_of_window += 1;
                continue;
            };
            let arrival_us = delta.map(|_| arrival);
            match (sent.fate, arrival_us) {
                (Fate::Received, _) | (Fate::ReportedLost, None) => continue,
                (Fate::ReportedLost, Some(_)) => summary.recovered += 1,
                (Fate::Unknown, Some(_)) => summary.received += 1,
                (Fate::Unknown, None) => summary.lost += 1,
            }
            sent.fate = if arrival_us.is_some() {
                Fate::Received
            } else {
                Fate::ReportedLost
            };
            summary.results.push(PacketResult {
                seq,
                send_us: sent.send_us,
                size: sent.size,
                arrival_us,
            });
        }
        summary
    }

    /// The 24-bit reference time extended past its wraps, relative to the newest seen.
    fn extend_reference(&mut self, reference: u32) -> i64 {
        let reference = i64::from(reference) & (REFERENCE_WRAP - 1);
        let Some(last) = self.reference else {
            self.reference = Some(reference);
            return reference;
        };
        let mut diff = (reference - last).rem_euclid(REFERENCE_WRAP);
        if diff >= REFERENCE_WRAP / 2 {
            diff -= REFERENCE_WRAP;
        }
        let extended = last + diff;
        self.reference = Some(last.max(extended));
        extended
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rtp::rtcp::PacketStatus;

    fn feedback(base_seq: u16, reference_time: u32, statuses: Vec<PacketStatus>) -> TransportCc {
        TransportCc {
            base_seq,
            reference_time,
            statuses,
            ..TransportCc::default()
        }
    }

    #[test]
    fn feedback_gives_arrival_times_and_losses_in_order() {
        let mut log = SentPacketLog::new(64);
        for (i, seq) in (10u16..14).enumerate() {
            log.on_sent(seq, i as i64 * 1000, 1000 + i);
        }
        let fb = feedback(
            10,
            2,
            vec![
                PacketStatus::SmallDelta(4),
                PacketStatus::NotReceived,
                PacketStatus::SmallDelta(8),
                PacketStatus::LargeDelta(-4),
            ],
        );
        let summary = log.on_feedback(&fb);
        let arrivals: Vec<_> = summary.results.iter().map(|r| (r.seq, r.arrival_us, r.size)).collect();
        assert_eq!(
            arrivals,
            vec![
                (10, Some(128_000 + 1000), 1000),
                (11, None, 1001),
                (12, Some(128_000 + 3000), 1002),
                (13, Some(128_000 + 2000), 1003),
            ]
        );
        assert_eq!((summary.received, summary.lost, summary.out_of_window), (3, 1, 0));
    }

    #[test]
    fn repeated_feedback_counts_once_and_a_late_arrival_recovers_a_loss() {
        let mut log = SentPacketLog::new(64);
        log.on_sent(1, 0, 100);
        log.on_sent(2, 10, 100);
        let first = feedback(1, 0, vec![PacketStatus::SmallDelta(0), PacketStatus::NotReceived]);
        assert_eq!(log.on_feedback(&first).results.len(), 2);
        let again = log.on_feedback(&first);
        assert!(again.results.is_empty(), "{again:?}");
        let later = feedback(2, 0, vec![PacketStatus::SmallDelta(40)]);
        let later = log.on_feedback(&later);
        assert_eq!((later.recovered, later.received, later.results.len()), (1, 0, 1));
    }

    #[test]
    fn sequence_numbers_wrap_and_old_or_unsent_ones_are_out_of_window() {
        let mut log = SentPacketLog::new(8);
        for seq in 65530u16..=65535 {
            log.on_sent(seq, 0, 10);
        }
        for seq in 0u16..6 {
            log.on_sent(seq, 0, 10);
        }
        assert_eq!(log.len(), 8);
        // 65532 and 65533 fell out of the ring; 65534..=5 are in it across the wrap; 6..=9 were
        // never sent.
        let fb = feedback(65532, 0, vec![PacketStatus::SmallDelta(1); 14]);
        let summary = log.on_feedback(&fb);
        assert_eq!(summary.received, 8);
        assert_eq!(summary.out_of_window, 2 + 4);
        assert_eq!(summary.results.first().map(|r| r.seq), Some(65534));
        assert_eq!(summary.results.last().map(|r| r.seq), Some(65536 + 5));
    }

    #[test]
    fn the_reference_time_is_extended_past_its_wrap() {
        let mut log = SentPacketLog::new(8);
        log.on_sent(0, 0, 10);
        log.on_sent(1, 0, 10);
        let before = log.on_feedback(&feedback(0, 0xFF_FFFF, vec![PacketStatus::SmallDelta(0)]));
        let after = log.on_feedback(&feedback(1, 0, vec![PacketStatus::SmallDelta(0)]));
        let (a, b) = (
            before.results[0].arrival_us.unwrap(),
            after.results[0].arrival_us.unwrap(),
        );
        assert_eq!(b - a, REFERENCE_TICK_MICROS);
    }

    #[test]
    fn numbers_sent_out_of_order_fill_their_gap_once() {
        let mut log = SentPacketLog::new(16);
        log.on_sent(1, 0, 10);
        log.on_sent(4, 100, 40);
        log.on_sent(2, 200, 20);
        log.on_sent(2, 300, 99);
        log.on_sent(0, 300, 99);
        let summary = log.on_feedback(&feedback(1, 0, vec![PacketStatus::SmallDelta(1); 4]));
        let sent: Vec<_> = summary.results.iter().map(|r| (r.seq, r.send_us, r.size)).collect();
        assert_eq!(sent, vec![(1, 0, 10), (2, 200, 20), (4, 100, 40)]);
        assert_eq!(summary.out_of_window, 1);
    }

    #[test]
    fn a_huge_gap_in_sent_numbers_restarts_the_log_instead_of_growing_it() {
        let mut log = SentPacketLog::new(16);
        log.on_sent(0, 0, 10);
        log.on_sent(30_000, 0, 10);
        assert_eq!(log.len(), 1);
        log.on_sent(30_010, 0, 10);
        assert_eq!(log.len(), 11);
    }
}
