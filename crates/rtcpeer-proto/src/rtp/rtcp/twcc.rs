//! Transport-wide congestion control feedback (draft-holmer-rmcat-transport-wide-cc-extensions-01 §3.1).

use super::Reader;
use crate::rtp::error::RtcpError;

/// The unit of receive deltas, in microseconds.
pub const DELTA_TICK_MICROS: i64 = 250;
/// The unit of the reference time, in microseconds.
pub const REFERENCE_TICK_MICROS: i64 = 64_000;

/// The longest run a run-length chunk can describe.
const MAX_RUN: usize = 0x1FFF;

/// What the feedback says about one transport sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PacketStatus {
    /// The packet has not been received.
    NotReceived,
    /// Received, with a delta of 0..=255 ticks of 250 µs from the previous received packet.
    SmallDelta(u8),
    /// Received, with a signed 16-bit delta in ticks of 250 µs.
    LargeDelta(i16),
}

impl PacketStatus {
    /// The status for a packet received `ticks` × 250 µs after the previous one, or `None` if that
    /// does not fit in 16 signed bits.
    pub fn received(ticks: i64) -> Option<Self> {
        if let Ok(small) = u8::try_from(ticks) {
            Some(PacketStatus::SmallDelta(small))
        } else {
            i16::try_from(ticks).ok().map(PacketStatus::LargeDelta)
        }
    }

    /// The delta in 250 µs ticks, if received.
    pub fn delta_ticks(self) -> Option<i64> {
        match self {
            PacketStatus::NotReceived => None,
            PacketStatus::SmallDelta(d) => Some(i64::from(d)),
            PacketStatus::LargeDelta(d) => Some(i64::from(d)),
        }
    }

    fn symbol(self) -> u8 {
        match self {
            PacketStatus::NotReceived => 0,
            PacketStatus::SmallDelta(_) => 1,
            PacketStatus::LargeDelta(_) => 2,
        }
    }

    fn from_symbol(symbol: u8) -> Result<Self, RtcpError> {
        match symbol {
            0 => Ok(PacketStatus::NotReceived),
            1 => Ok(PacketStatus::SmallDelta(0)),
            2 => Ok(PacketStatus::LargeDelta(0)),
            _ => Err(RtcpError::Invalid {
                pt: super::PT_RTPFB,
                reason: "reserved packet status symbol 3",
            }),
        }
    }
}

/// A transport-wide feedback packet.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TransportCc {
    /// The SSRC of the packet's sender.
    pub sender_ssrc: u32,
    /// The SSRC of the media source (unused by the algorithm; often the first media SSRC).
    pub media_ssrc: u32,
    /// The transport sequence number of the first status.
    pub base_seq: u16,
    /// The 24-bit reference time, in multiples of 64 ms, on the receiver's clock.
    pub reference_time: u32,
    /// The count of feedback packets sent, wrapping at 256.
    pub fb_pkt_count: u8,
    /// One status per transport sequence number from `base_seq` on (at most 65535).
    pub statuses: Vec<PacketStatus>,
}

impl TransportCc {
    /// The feedback message type.
    pub const FMT: u8 = 15;

    /// Each packet's transport sequence number with its arrival time in microseconds on the receiver's
    /// clock (`reference_time` × 64 ms plus the deltas so far), or `None` if not received.
    pub fn arrivals(&self) -> impl Iterator<Item = (u16, Option<i64>)> + '_ {
        let mut time = i64::from(self.reference_time) * REFERENCE_TICK_MICROS;
        self.statuses.iter().enumerate().map(move |(i, status)| {
            let seq = self.base_seq.wrapping_add(i as u16);
            (
                seq,
                status.delta_ticks().map(|ticks| {
                    time += ticks * DELTA_TICK_MICROS;
                    time
                }),
            )
        })
    }

    pub(super) fn parse(body: &[u8]) -> Result<Self, RtcpError> {
        let mut r = Reader::new(body);
        let sender_ssrc = r.u32("feedback sender SSRC")?;
        let media_ssrc = r.u32("feedback media SSRC")?;
        let base_seq = r.u16("TWCC base sequence number")?;
        let count = usize::from(r.u16("TWCC status count")?);
        let reference_time = r.u24("TWCC reference time")?;
        let fb_pkt_count = r.u8("TWCC feedback count")?;
        let mut statuses = Vec::with_capacity(count.min(r.remaining() * 14));
        while statuses.len() < count {
            let chunk = r.u16("TWCC packet chunk")?;
            let left = count - statuses.len();
            if chunk & 0x8000 == 0 {
                let status = PacketStatus::from_symbol(((chunk >> 13) & 0x03) as u8)?;
                let run = usize::from(chunk) & MAX_RUN;
                statuses.extend(std::iter::repeat_n(status, run.min(left)));
            } else if chunk & 0x4000 == 0 {
                for i in (0..14).rev().take(left) {
                    statuses.push(PacketStatus::from_symbol(((chunk >> i) & 0x01) as u8)?);
                }
            } else {
                for i in (0..7).rev().take(left) {
                    statuses.push(PacketStatus::from_symbol(((chunk >> (2 * i)) & 0x03) as u8)?);
                }
            }
        }
        for status in &mut statuses {
            match status {
                PacketStatus::NotReceived => {}
                PacketStatus::SmallDelta(d) => *d = r.u8("TWCC receive delta")?,
                PacketStatus::LargeDelta(d) => *d = r.u16("TWCC receive delta")? as i16,
            }
        }
        // Whatever remains is zero padding to 32 bits.
        Ok(TransportCc {
            sender_ssrc,
            media_ssrc,
            base_seq,
            reference_time,
            fb_pkt_count,
            statuses,
        })
    }

    pub(super) fn write_body(&self, out: &mut Vec<u8>) -> Result<(), RtcpError> {
        let count = u16::try_from(self.statuses.len()).map_err(|_| RtcpError::TooLarge {
            what: "TWCC status count",
            value: self.statuses.len(),
        })?;
        if self.reference_time > 0x00FF_FFFF {
            return Err(RtcpError::TooLarge {
                what: "TWCC reference time",
                value: self.reference_time as usize,
            });
        }
        out.extend_from_slice(&self.sender_ssrc.to_be_bytes());
        out.extend_from_slice(&self.media_ssrc.to_be_bytes());
        out.extend_from_slice(&self.base_seq.to_be_bytes());
        out.extend_from_slice(&count.to_be_bytes());
        out.extend_from_slice(&self.reference_time.to_be_bytes()[1..]);
        out.push(self.fb_pkt_count);
        let symbols: Vec<u8> = self.statuses.iter().map(|s| s.symbol()).collect();
        write_chunks(&symbols, out);
        for status in &self.statuses {
            match *status {
                PacketStatus::NotReceived => {}
                PacketStatus::SmallDelta(d) => out.push(d),
                PacketStatus::LargeDelta(d) => out.extend_from_slice(&d.to_be_bytes()),
            }
        }
        Ok(())
    }
}

/// Encodes status symbols as packet chunks, greedily choosing per chunk between a run length and a
/// 1-bit or 2-bit status vector.
fn write_chunks(symbols: &[u8], out: &mut Vec<u8>) {
    let mut i = 0;
    while let Some(&first) = symbols.get(i) {
        let rest = &symbols[i..];
        let run = rest.iter().take(MAX_RUN).take_while(|&&s| s == first).count();
        let chunk: u16;
        let used;
        if run >= 14 || run == rest.len() {
            chunk = (u16::from(first) << 13) | run as u16;
            used = run;
        } else if rest.iter().take(14).all(|&s| s <= 1) {
            used = rest.len().min(14);
            chunk = rest[..used]
                .iter()
                .enumerate()
                .fold(0x8000, |c, (k, &s)| c | (u16::from(s) << (13 - k)));
        } else if run >= 7 {
            chunk = (u16::from(first) << 13) | run as u16;
            used = run;
        } else {
            used = rest.len().min(7);
            chunk = rest[..used]
                .iter()
                .enumerate()
                .fold(0xC000, |c, (k, &s)| c | (u16::from(s) << (12 - 2 * k)));
        }
        out.extend_from_slice(&chunk.to_be_bytes());
        i += used;
    }
}
