//! Reception and sending statistics for RTCP reports (RFC 3550 §6.4, A.1, A.3, A.8) and RTT.

use std::time::{Duration, Instant};

use super::ntp::{compact_to_duration, duration_to_compact, NtpTime};
use super::rtcp::{ReportBlock, SenderReport};

/// A jump further ahead than this restarts the sequence check (RFC 3550 A.1).
const MAX_DROPOUT: u16 = 3000;
/// A packet further behind than this is taken as a jump too (RFC 3550 A.1).
const MAX_MISORDER: u16 = 100;

/// The RTP clock ticks elapsed from `epoch` to `now` at `clock_rate`, wrapping at 32 bits.
fn rtp_ticks(epoch: Instant, now: Instant, clock_rate: u32) -> u32 {
    let nanos = now.saturating_duration_since(epoch).as_nanos();
    (nanos * u128::from(clock_rate) / 1_000_000_000) as u32
}

/// What a receiver knows about one incoming source, to fill a report block.
#[derive(Debug, Clone)]
pub struct ReceiverStats {
    ssrc: u32,
    clock_rate: u32,
    started: bool,
    max_seq: u16,
    cycles: u32,
    base_seq: u32,
    /// The sequence number expected after a jump (RFC 3550 A.1), or `None`.
    bad_seq: Option<u16>,
    received: u32,
    expected_prior: u32,
    received_prior: u32,
    epoch: Option<Instant>,
    last_transit: Option<u32>,
    jitter: f64,
    last_sr: Option<(u32, Instant)>,
}

impl ReceiverStats {
    /// Statistics for the source `ssrc`, whose RTP clock runs at `clock_rate` Hz.
    pub fn new(ssrc: u32, clock_rate: u32) -> Self {
        ReceiverStats {
            ssrc,
            clock_rate,
            started: false,
            max_seq: 0,
            cycles: 0,
            base_seq: 0,
            bad_seq: None,
            received: 0,
            expected_prior: 0,
            received_prior: 0,
            epoch: None,
            last_transit: None,
            jitter: 0.0,
            last_sr: None,
        }
    }

    fn init_seq(&mut self, seq: u16) {
        self.started = true;
        self.base_seq = u32::from(seq);
        self.max_seq = seq;
        self.bad_seq = None;
        self.cycles = 0;
        self.received = 0;
        self.expected_prior = 0;
        self.received_prior = 0;
    }

    /// Records a received packet. Returns false when the packet is not counted: the first after a
    /// large jump in sequence numbers, until the next one confirms the jump (RFC 3550 A.1).
    pub fn on_packet(&mut self, seq: u16, rtp_timestamp: u32, now: Instant) -> bool {
        if !self.started {
            self.init_seq(seq);
        } else {
            let delta = seq.wrapping_sub(self.max_seq);
            if delta < MAX_DROPOUT {
                if seq < self.max_seq {
                    self.cycles = self.cycles.wrapping_add(1 << 16);
                }
                self.max_seq = seq;
            } else if u32::from(delta) <= (1 << 16) - u32::from(MAX_MISORDER) {
                if self.bad_seq == Some(seq) {
                    tracing::debug!(ssrc = self.ssrc, seq, "sequence numbers restarted");
                    self.init_seq(seq);
                    self.last_transit = None;
                } else {
                    self.bad_seq = Some(seq.wrapping_add(1));
                    return false;
                }
            }
            // Otherwise a duplicate or a reordered packet: counted, as A.1 does.
        }
        self.received = self.received.wrapping_add(1);

        let epoch = *self.epoch.get_or_insert(now);
        let transit = rtp_ticks(epoch, now, self.clock_rate).wrapping_sub(rtp_timestamp);
        if let Some(last) = self.last_transit {
            let d = f64::from((transit.wrapping_sub(last) as i32).unsigned_abs());
            self.jitter += (d - self.jitter) / 16.0;
        }
        self.last_transit = Some(transit);
        true
    }

    /// Records a sender report from this source, for LSR and DLSR.
    pub fn on_sender_report(&mut self, ntp_time: NtpTime, now: Instant) {
        self.last_sr = Some((ntp_time.middle_32(), now));
    }

    /// The extended highest sequence number received (cycles in the high 16 bits).
    pub fn extended_highest_seq(&self) -> u32 {
        self.cycles.wrapping_add(u32::from(self.max_seq))
    }

    /// Packets expected minus packets received since the start (negative with duplicates).
    pub fn cumulative_lost(&self) -> i64 {
        let expected = i64::from(self.extended_highest_seq()) - i64::from(self.base_seq) + 1;
        expected - i64::from(self.received)
    }

    /// The interarrival jitter estimate, in RTP timestamp units.
    pub fn jitter(&self) -> u32 {
        self.jitter as u32
    }

    /// The report block for this source as of `now`, starting a new interval for the fraction lost.
    /// `None` before the first packet.
    pub fn report_block(&mut self, now: Instant) -> Option<ReportBlock> {
        if !self.started {
            return None;
        }
        let expected = self.extended_highest_seq().wrapping_sub(self.base_seq).wrapping_add(1);
        let expected_interval = expected.wrapping_sub(self.expected_prior);
        let received_interval = self.received.wrapping_sub(self.received_prior);
        self.expected_prior = expected;
        self.received_prior = self.received;
        let lost_interval = i64::from(expected_interval) - i64::from(received_interval);
        let fraction_lost = if expected_interval == 0 || lost_interval <= 0 {
            0
        } else {
            ((lost_interval << 8) / i64::from(expected_interval)).min(255) as u8
        };
        let (last_sr, delay_since_last_sr) = match self.last_sr {
            Some((middle, at)) => (middle, duration_to_compact(now.saturating_duration_since(at))),
            None => (0, 0),
        };
        Some(ReportBlock {
            ssrc: self.ssrc,
            fraction_lost,
            cumulative_lost: self.cumulative_lost().clamp(-0x80_0000, 0x7F_FFFF) as i32,
            extended_highest_seq: self.extended_highest_seq(),
            jitter: self.jitter(),
            last_sr,
            delay_since_last_sr,
        })
    }
}

/// What a sender counts for its sender reports.
#[derive(Debug, Clone)]
pub struct SenderStats {
    ssrc: u32,
    clock_rate: u32,
    packets: u32,
    octets: u32,
    last: Option<(u32, Instant)>,
}

impl SenderStats {
    /// Counters for the stream `ssrc`, whose RTP clock runs at `clock_rate` Hz.
    pub fn new(ssrc: u32, clock_rate: u32) -> Self {
        SenderStats {
            ssrc,
            clock_rate,
            packets: 0,
            octets: 0,
            last: None,
        }
    }

    /// Records a sent packet with its RTP timestamp and payload length.
    pub fn on_sent(&mut self, rtp_timestamp: u32, payload_len: usize, now: Instant) {
        self.packets = self.packets.wrapping_add(1);
        self.octets = self.octets.wrapping_add(payload_len as u32);
        self.last = Some((rtp_timestamp, now));
    }

    /// Packets sent (wrapping at 32 bits).
    pub fn packet_count(&self) -> u32 {
        self.packets
    }

    /// Payload octets sent (wrapping at 32 bits).
    pub fn octet_count(&self) -> u32 {
        self.octets
    }

    /// A sender report for `now`, whose wall-clock time is `ntp_now`. The RTP time is the last
    /// packet's timestamp advanced by the time since it was sent. Report blocks are left to the caller.
    pub fn sender_report(&self, ntp_now: NtpTime, now: Instant) -> SenderReport {
        let rtp_time = self
            .last
            .map_or(0, |(ts, at)| ts.wrapping_add(rtp_ticks(at, now, self.clock_rate)));
        SenderReport {
            ssrc: self.ssrc,
            ntp_time: ntp_now,
            rtp_time,
            packet_count: self.packets,
            octet_count: self.octets,
            reports: Vec::new(),
        }
    }
}

/// The round-trip time a report block shows, given the NTP time it arrived (RFC 3550 §6.4.1):
/// arrival − LSR − DLSR. `None` when the block carries no LSR; zero if clocks make it negative.
pub fn rtt_from_report(block: &ReportBlock, arrival: NtpTime) -> Option<Duration> {
    if block.last_sr == 0 {
        return None;
    }
    let rtt = arrival
        .middle_32()
        .wrapping_sub(block.last_sr)
        .wrapping_sub(block.delay_since_last_sr) as i32;
    Some(compact_to_duration(rtt.max(0) as u32))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn counts_loss_across_the_wrap() {
        let t0 = Instant::now();
        let mut stats = ReceiverStats::new(7, 90_000);
        assert_eq!(stats.report_block(t0), None);
        // 65500..=65535 then 0..=99, with 10 lost after the wrap.
        for seq in (65500..=65535u16).chain((0..100).filter(|s| !(40..50).contains(s))) {
            assert!(stats.on_packet(seq, 0, t0));
        }
        let block = stats.report_block(t0).unwrap();
        assert_eq!(block.ssrc, 7);
        assert_eq!(block.extended_highest_seq, 0x0001_0063);
        assert_eq!(block.cumulative_lost, 10);
        // 10 of 136 expected: 10 * 256 / 136.
        assert_eq!(block.fraction_lost, 18);
        // The next interval has no loss.
        for seq in 100..200 {
            stats.on_packet(seq, 0, t0);
        }
        let block = stats.report_block(t0).unwrap();
        assert_eq!(block.fraction_lost, 0);
        assert_eq!(block.cumulative_lost, 10);
    }

    #[test]
    fn duplicates_make_loss_negative_and_reordering_is_not_loss() {
        let t0 = Instant::now();
        let mut stats = ReceiverStats::new(7, 8000);
        for seq in [10, 12, 11, 13, 13, 13] {
            stats.on_packet(seq, 0, t0);
        }
        let block = stats.report_block(t0).unwrap();
        assert_eq!(block.extended_highest_seq, 13);
        assert_eq!(block.cumulative_lost, -2);
        assert_eq!(block.fraction_lost, 0);
    }

    #[test]
    fn a_jump_is_confirmed_by_the_next_packet() {
        let t0 = Instant::now();
        let mut stats = ReceiverStats::new(7, 8000);
        stats.on_packet(100, 0, t0);
        assert!(!stats.on_packet(20_000, 0, t0));
        assert_eq!(stats.extended_highest_seq(), 100);
        assert!(stats.on_packet(20_001, 0, t0));
        assert_eq!(stats.extended_highest_seq(), 20_001);
        assert_eq!(stats.cumulative_lost(), 0);
    }

    #[test]
    fn jitter_follows_a8() {
        let t0 = Instant::now();
        // A 1 kHz clock: one tick per millisecond.
        let mut steady = ReceiverStats::new(1, 1000);
        for i in 0..100u32 {
            steady.on_packet(i as u16, 5000 + i * 10, t0 + ms(u64::from(i) * 10));
        }
        assert_eq!(steady.jitter(), 0);
        // Every other packet 4 ms late: |D| is always 4, so J converges to 4.
        let mut shaky = ReceiverStats::new(1, 1000);
        for i in 0..200u32 {
            let late = if i % 2 == 1 { 4 } else { 0 };
            shaky.on_packet(i as u16, i * 10, t0 + ms(u64::from(i) * 10 + late));
        }
        assert!((3..=4).contains(&shaky.jitter()), "jitter {}", shaky.jitter());
        // RTP timestamps wrapping do not disturb it.
        let mut wrapping = ReceiverStats::new(1, 1000);
        for i in 0..100u32 {
            wrapping.on_packet(
                i as u16,
                (u32::MAX - 300).wrapping_add(i * 10),
                t0 + ms(u64::from(i) * 10),
            );
        }
        assert_eq!(wrapping.jitter(), 0);
    }

    #[test]
    fn lsr_and_dlsr_come_from_the_last_sender_report() {
        let t0 = Instant::now();
        let mut stats = ReceiverStats::new(7, 8000);
        stats.on_packet(1, 0, t0);
        stats.on_sender_report(NtpTime::new(0xAABB_CCDD, 0xEEFF_0000), t0);
        let block = stats.report_block(t0 + ms(1500)).unwrap();
        assert_eq!(block.last_sr, 0xCCDD_EEFF);
        assert_eq!(block.delay_since_last_sr, 0x0001_8000);
    }

    #[test]
    fn rtt_from_the_rfc_example() {
        // RFC 3550 §6.4.1: A = 0xb710:8000, LSR = 0xb705:2000, DLSR = 0x0005:4000, RTT 6.125 s.
        let block = ReportBlock {
            last_sr: 0xB705_2000,
            delay_since_last_sr: 0x0005_4000,
            ..ReportBlock::default()
        };
        let arrival = NtpTime::new(0x1234_B710, 0x8000_0000);
        assert_eq!(rtt_from_report(&block, arrival), Some(ms(6125)));
        assert_eq!(rtt_from_report(&ReportBlock::default(), arrival), None);
        // An arrival before LSR + DLSR (clock skew) gives zero, not a huge value.
        let early = NtpTime::new(0x1234_B705, 0x0000_0000);
        assert_eq!(rtt_from_report(&block, early), Some(Duration::ZERO));
    }

    #[test]
    fn round_trip_through_sender_and_receiver() {
        // The receiver's RR, answering our SR, gives back the RTT we simulated.
        let t0 = Instant::now();
        let wall = NtpTime::new(3_900_000_000, 0);
        let mut sender = SenderStats::new(1, 90_000);
        sender.on_sent(1000, 1200, t0);
        sender.on_sent(4000, 800, t0 + ms(33));
        let sr = sender.sender_report(wall, t0 + ms(100));
        assert_eq!((sr.packet_count, sr.octet_count), (2, 2000));
        // 67 ms after the last packet at 90 kHz.
        assert_eq!(sr.rtp_time, 4000 + 6030);

        let mut receiver = ReceiverStats::new(1, 90_000);
        receiver.on_packet(1, 1000, t0);
        // The SR takes 20 ms one way; the receiver holds it 200 ms; the RR takes 20 ms back.
        receiver.on_sender_report(sr.ntp_time, t0 + ms(120));
        let block = receiver.report_block(t0 + ms(320)).unwrap();
        let rtt = rtt_from_report(&block, wall + ms(240)).unwrap();
        assert!(rtt.abs_diff(ms(40)) < ms(1), "rtt {rtt:?}");
    }
}
