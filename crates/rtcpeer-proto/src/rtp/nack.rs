//! Deciding which lost packets to ask for again (RFC 4585 generic NACK, receive side).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::error::RtpError;
use super::packet::RtpPacket;
use super::rtcp::Nack;
use super::seq::SeqUnwrapper;

/// Limits of a [`NackTracker`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NackConfig {
    /// The most missing packets tracked; the oldest are given up first.
    pub max_tracked: usize,
    /// How many times one packet is asked for before giving up.
    pub max_retries: u8,
    /// How long after noticing a packet missing we give up on it.
    pub max_age: Duration,
    /// The round-trip time assumed until [`NackTracker::set_rtt`] is called.
    pub initial_rtt: Duration,
}

impl Default for NackConfig {
    fn default() -> Self {
        NackConfig {
            max_tracked: 1000,
            max_retries: 10,
            max_age: Duration::from_secs(1),
            initial_rtt: Duration::from_millis(100),
        }
    }
}

/// Whether a missing packet is no longer worth asking for.
fn expired(config: &NackConfig, m: &Missing, now: Instant) -> bool {
    m.asked >= config.max_retries || now.saturating_duration_since(m.noticed) >= config.max_age
}

#[derive(Debug, Clone, Copy)]
struct Missing {
    noticed: Instant,
    last_asked: Option<Instant>,
    asked: u8,
}

/// Tracks the holes in one received stream and produces NACKs for them, asking again every RTT up
/// to a limit.
#[derive(Debug, Clone)]
pub struct NackTracker {
    config: NackConfig,
    sender_ssrc: u32,
    media_ssrc: u32,
    rtt: Duration,
    seqs: SeqUnwrapper,
    missing: BTreeMap<i64, Missing>,
}

impl NackTracker {
    /// A tracker for the stream `media_ssrc`, whose NACKs are sent as `sender_ssrc`.
    pub fn new(sender_ssrc: u32, media_ssrc: u32, config: NackConfig) -> Self {
        NackTracker {
            rtt: config.initial_rtt,
            config,
            sender_ssrc,
            media_ssrc,
            seqs: SeqUnwrapper::new(),
            missing: BTreeMap::new(),
        }
    }

    /// Updates the round-trip time that spaces repeated requests.
    pub fn set_rtt(&mut self, rtt: Duration) {
        self.rtt = rtt;
    }

    /// Records a received packet (for an RTX packet, pass the original sequence number). Newer
    /// packets past a gap make the gap missing; an older one fills its hole.
    pub fn on_received(&mut self, seq: u16, now: Instant) {
        let previous = self.seqs.highest();
        let extended = self.seqs.unwrap(seq);
        let Some(previous) = previous else { return };
        if extended <= previous {
            self.missing.remove(&extended);
            return;
        }
        let gap = extended - previous - 1;
        let keep = gap.min(self.config.max_tracked as i64);
        if keep < gap {
            tracing::debug!(
                gap,
                kept = keep,
                "gap larger than the NACK tracker; giving up the oldest"
            );
        }
        for lost in extended - keep..extended {
            self.missing.insert(
                lost,
                Missing {
                    noticed: now,
                    last_asked: None,
                    asked: 0,
                },
            );
        }
        while self.missing.len() > self.config.max_tracked {
            self.missing.pop_first();
        }
    }

    /// Records a received RTX packet (RFC 4588): its first two payload bytes are the original
    /// sequence number, which fills its hole. Returns that number.
    pub fn on_rtx_received(&mut self, rtx: &RtpPacket<'_>, now: Instant) -> Result<u16, RtpError> {
        let Some(osn) = rtx.payload.first_chunk::<2>() else {
            return Err(RtpError::RtxTooShort(rtx.payload.len()));
        };
        let osn = u16::from_be_bytes(*osn);
        self.on_received(osn, now);
        Ok(osn)
    }

    /// The sequence numbers currently missing, oldest first.
    pub fn missing(&self) -> impl Iterator<Item = u16> + '_ {
        self.missing.keys().map(|&k| k as u16)
    }

    fn due(&self, m: &Missing) -> Instant {
        m.last_asked.map_or(m.noticed, |t| t + self.rtt)
    }

    /// The NACK to send now, if any packet is due to be asked for (never asked, or asked more than
    /// an RTT ago). Gives up packets asked too often or missing too long.
    pub fn poll_nack(&mut self, now: Instant) -> Option<Nack> {
        let (config, rtt) = (self.config, self.rtt);
        self.missing.retain(|_, m| !expired(&config, m, now));
        let mut due = Vec::new();
        for (&seq, m) in self.missing.iter_mut() {
            if m.last_asked.is_none_or(|t| now >= t + rtt) {
                m.last_asked = Some(now);
                m.asked += 1;
                due.push(seq as u16);
            }
        }
        if due.is_empty() {
            return None;
        }
        Some(Nack::from_lost(self.sender_ssrc, self.media_ssrc, due))
    }

    /// When [`poll_nack`](Self::poll_nack) next has something to do.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.missing
            .values()
            .map(|m| {
                if m.asked >= self.config.max_retries {
                    // Given up already; the next poll forgets it.
                    m.noticed
                } else {
                    self.due(m).min(m.noticed + self.config.max_age)
                }
            })
            .min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn asks_for_gaps_across_the_wrap_and_stops_when_filled() {
        let t0 = Instant::now();
        let mut tracker = NackTracker::new(1, 2, NackConfig::default());
        for seq in [65533, 65534, 1, 2] {
            tracker.on_received(seq, t0);
        }
        assert_eq!(tracker.missing().collect::<Vec<_>>(), [65535, 0]);
        assert_eq!(tracker.poll_timeout(), Some(t0));
        let nack = tracker.poll_nack(t0).unwrap();
        assert_eq!((nack.sender_ssrc, nack.media_ssrc), (1, 2));
        assert_eq!(nack.lost().collect::<Vec<_>>(), [65535, 0]);
        // Nothing more until an RTT has passed.
        assert_eq!(tracker.poll_nack(t0 + ms(50)), None);
        assert_eq!(tracker.poll_timeout(), Some(t0 + ms(100)));
        // The retransmission of 65535 arrives; only 0 is asked for again.
        tracker.on_received(65535, t0 + ms(60));
        let again = tracker.poll_nack(t0 + ms(100)).unwrap();
        assert_eq!(again.lost().collect::<Vec<_>>(), [0]);
        tracker.on_received(0, t0 + ms(120));
        assert_eq!(tracker.poll_nack(t0 + ms(300)), None);
        assert_eq!(tracker.poll_timeout(), None);
    }

    #[test]
    fn gives_up_after_max_retries_or_max_age() {
        let t0 = Instant::now();
        let config = NackConfig {
            max_retries: 3,
            max_age: ms(10_000),
            initial_rtt: ms(10),
            ..NackConfig::default()
        };
        let mut tracker = NackTracker::new(1, 2, config);
        tracker.on_received(10, t0);
        tracker.on_received(12, t0);
        let asks = (0..10).filter(|i| tracker.poll_nack(t0 + ms(10 * i)).is_some()).count();
        assert_eq!(asks, 3);
        assert_eq!(tracker.missing().count(), 0);

        let config = NackConfig {
            max_age: ms(250),
            initial_rtt: ms(100),
            ..NackConfig::default()
        };
        let mut tracker = NackTracker::new(1, 2, config);
        tracker.on_received(10, t0);
        tracker.on_received(12, t0);
        assert!(tracker.poll_nack(t0).is_some());
        assert!(tracker.poll_nack(t0 + ms(100)).is_some());
        assert!(tracker.poll_nack(t0 + ms(200)).is_some());
        assert!(tracker.poll_nack(t0 + ms(300)).is_none());
        assert_eq!(tracker.missing().count(), 0);
    }

    #[test]
    fn rtx_packets_fill_holes_by_their_original_sequence_number() {
        let t0 = Instant::now();
        let mut tracker = NackTracker::new(1, 2, NackConfig::default());
        tracker.on_received(65535, t0);
        tracker.on_received(2, t0);
        let mut rtx = Vec::new();
        crate::rtp::RtpBuilder::new(97, 7, 0, 3)
            .write(&[0x00, 0x01, 0xAB], &mut rtx)
            .unwrap();
        assert_eq!(tracker.on_rtx_received(&RtpPacket::parse(&rtx).unwrap(), t0), Ok(1));
        assert_eq!(tracker.missing().collect::<Vec<_>>(), [0]);
        let mut short = Vec::new();
        crate::rtp::RtpBuilder::new(97, 8, 0, 3)
            .write(&[0x00], &mut short)
            .unwrap();
        assert_eq!(
            tracker.on_rtx_received(&RtpPacket::parse(&short).unwrap(), t0),
            Err(RtpError::RtxTooShort(1))
        );
    }

    #[test]
    fn respects_the_rtt_it_is_given() {
        let t0 = Instant::now();
        let mut tracker = NackTracker::new(1, 2, NackConfig::default());
        tracker.set_rtt(ms(300));
        tracker.on_received(1, t0);
        tracker.on_received(3, t0);
        assert!(tracker.poll_nack(t0).is_some());
        assert!(tracker.poll_nack(t0 + ms(299)).is_none());
        assert!(tracker.poll_nack(t0 + ms(300)).is_some());
    }

    #[test]
    fn stays_bounded_on_huge_gaps() {
        let t0 = Instant::now();
        let config = NackConfig {
            max_tracked: 50,
            ..NackConfig::default()
        };
        let mut tracker = NackTracker::new(1, 2, config);
        tracker.on_received(0, t0);
        tracker.on_received(30_000, t0);
        assert_eq!(tracker.missing().count(), 50);
        assert_eq!(tracker.missing().next(), Some(29_950));
        for seq in (30_002..40_000).step_by(2) {
            tracker.on_received(seq, t0);
        }
        assert_eq!(tracker.missing().count(), 50);
        let nack = tracker.poll_nack(t0).unwrap();
        assert_eq!(nack.lost().count(), 50);
        assert_eq!(nack.lost().last(), Some(39_997));
    }
}
