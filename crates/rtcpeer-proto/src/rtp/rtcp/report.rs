//! Sender and receiver reports and their report blocks (RFC 3550 §6.4).

use super::Reader;
use crate::rtp::error::RtcpError;
use crate::rtp::ntp::NtpTime;

/// The most report blocks one packet can carry (the count is five bits).
const MAX_BLOCKS: usize = 31;

/// Reception statistics about one source (RFC 3550 §6.4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReportBlock {
    /// The source this block reports on.
    pub ssrc: u32,
    /// The fraction of packets lost since the last report, in 1/256.
    pub fraction_lost: u8,
    /// The cumulative number of packets lost (24-bit signed; duplicates can make it negative).
    pub cumulative_lost: i32,
    /// The extended highest sequence number received.
    pub extended_highest_seq: u32,
    /// The interarrival jitter, in RTP timestamp units.
    pub jitter: u32,
    /// The middle 32 bits of the NTP time of the last SR received from the source (0 if none).
    pub last_sr: u32,
    /// The delay since that SR was received, in 1/65536 s.
    pub delay_since_last_sr: u32,
}

impl ReportBlock {
    /// The encoded size.
    pub const LEN: usize = 24;

    fn parse(r: &mut Reader<'_>) -> Result<Self, RtcpError> {
        let ssrc = r.u32("report block")?;
        let lost = r.u32("report block")?;
        // Sign-extend the 24-bit cumulative count.
        let cumulative_lost = ((lost << 8) as i32) >> 8;
        Ok(ReportBlock {
            ssrc,
            fraction_lost: (lost >> 24) as u8,
            cumulative_lost,
            extended_highest_seq: r.u32("report block")?,
            jitter: r.u32("report block")?,
            last_sr: r.u32("report block")?,
            delay_since_last_sr: r.u32("report block")?,
        })
    }

    fn write(&self, out: &mut Vec<u8>) {
        // Clamp to what 24 signed bits can hold, as RFC 3550 §6.4.1 asks.
        let lost = self.cumulative_lost.clamp(-0x80_0000, 0x7F_FFFF) as u32 & 0x00FF_FFFF;
        out.extend_from_slice(&self.ssrc.to_be_bytes());
        out.extend_from_slice(&((u32::from(self.fraction_lost) << 24) | lost).to_be_bytes());
        out.extend_from_slice(&self.extended_highest_seq.to_be_bytes());
        out.extend_from_slice(&self.jitter.to_be_bytes());
        out.extend_from_slice(&self.last_sr.to_be_bytes());
        out.extend_from_slice(&self.delay_since_last_sr.to_be_bytes());
    }
}

fn parse_blocks(count: u8, r: &mut Reader<'_>) -> Result<Vec<ReportBlock>, RtcpError> {
    let needed = usize::from(count) * ReportBlock::LEN;
    if r.remaining() < needed {
        return Err(RtcpError::Truncated {
            what: "report blocks",
            needed,
            available: r.remaining(),
        });
    }
    // Anything after the blocks is a profile-specific extension, which we ignore.
    (0..count).map(|_| ReportBlock::parse(r)).collect()
}

fn write_blocks(blocks: &[ReportBlock], out: &mut Vec<u8>) -> Result<u8, RtcpError> {
    if blocks.len() > MAX_BLOCKS {
        return Err(RtcpError::TooLarge {
            what: "report block count",
            value: blocks.len(),
        });
    }
    for block in blocks {
        block.write(out);
    }
    Ok(blocks.len() as u8)
}

/// A sender report (RFC 3550 §6.4.1).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SenderReport {
    /// The sender's SSRC.
    pub ssrc: u32,
    /// The wall-clock time the report was sent.
    pub ntp_time: NtpTime,
    /// The RTP timestamp corresponding to `ntp_time`.
    pub rtp_time: u32,
    /// Packets sent since the start of transmission.
    pub packet_count: u32,
    /// Payload octets sent since the start of transmission.
    pub octet_count: u32,
    /// Reception statistics about the sources this sender hears (at most 31).
    pub reports: Vec<ReportBlock>,
}

impl SenderReport {
    pub(super) fn parse(count: u8, body: &[u8]) -> Result<Self, RtcpError> {
        let mut r = Reader::new(body);
        let ssrc = r.u32("sender info")?;
        let ntp_high = r.u32("sender info")?;
        let ntp_low = r.u32("sender info")?;
        Ok(SenderReport {
            ssrc,
            ntp_time: NtpTime::new(ntp_high, ntp_low),
            rtp_time: r.u32("sender info")?,
            packet_count: r.u32("sender info")?,
            octet_count: r.u32("sender info")?,
            reports: parse_blocks(count, &mut r)?,
        })
    }

    pub(super) fn write_body(&self, out: &mut Vec<u8>) -> Result<u8, RtcpError> {
        out.extend_from_slice(&self.ssrc.to_be_bytes());
        out.extend_from_slice(&self.ntp_time.as_u64().to_be_bytes());
        out.extend_from_slice(&self.rtp_time.to_be_bytes());
        out.extend_from_slice(&self.packet_count.to_be_bytes());
        out.extend_from_slice(&self.octet_count.to_be_bytes());
        write_blocks(&self.reports, out)
    }
}

/// A receiver report (RFC 3550 §6.4.2).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReceiverReport {
    /// The reporter's SSRC.
    pub ssrc: u32,
    /// Reception statistics about the sources it hears (at most 31).
    pub reports: Vec<ReportBlock>,
}

impl ReceiverReport {
    pub(super) fn parse(count: u8, body: &[u8]) -> Result<Self, RtcpError> {
        let mut r = Reader::new(body);
        Ok(ReceiverReport {
            ssrc: r.u32("receiver report SSRC")?,
            reports: parse_blocks(count, &mut r)?,
        })
    }

    pub(super) fn write_body(&self, out: &mut Vec<u8>) -> Result<u8, RtcpError> {
        out.extend_from_slice(&self.ssrc.to_be_bytes());
        write_blocks(&self.reports, out)
    }
}
