//! Feedback messages: generic NACK and PLI (RFC 4585), FIR (RFC 5104) and REMB
//! (draft-alvestrand-rmcat-remb-03).

use super::Reader;
use crate::rtp::error::RtcpError;

fn write_ssrcs(sender_ssrc: u32, media_ssrc: u32, out: &mut Vec<u8>) {
    out.extend_from_slice(&sender_ssrc.to_be_bytes());
    out.extend_from_slice(&media_ssrc.to_be_bytes());
}

fn read_ssrcs(r: &mut Reader<'_>) -> Result<(u32, u32), RtcpError> {
    Ok((r.u32("feedback sender SSRC")?, r.u32("feedback media SSRC")?))
}

/// One FCI entry of a generic NACK: a lost packet and a bitmask of the 16 after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NackPair {
    /// The packet id: a lost sequence number.
    pub pid: u16,
    /// Bitmask of following lost packets: bit i (LSB = 0) set means `pid + i + 1` is lost.
    pub blp: u16,
}

impl NackPair {
    /// The sequence numbers this entry reports lost, `pid` first.
    pub fn seqs(self) -> impl Iterator<Item = u16> {
        std::iter::once(self.pid).chain(
            (0..16u16)
                .filter(move |i| self.blp & (1 << i) != 0)
                .map(move |i| self.pid.wrapping_add(i + 1)),
        )
    }
}

/// A generic NACK (RFC 4585 §6.2.1).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Nack {
    /// The SSRC of the packet's sender.
    pub sender_ssrc: u32,
    /// The SSRC of the media source the lost packets belong to.
    pub media_ssrc: u32,
    /// The lost packets.
    pub pairs: Vec<NackPair>,
}

impl Nack {
    /// The feedback message type.
    pub const FMT: u8 = 1;

    /// A NACK for `lost`, packing runs of up to 17 sequence numbers into one entry. Sequence numbers
    /// should come in ascending (wrapping) order for the tightest packing.
    pub fn from_lost(sender_ssrc: u32, media_ssrc: u32, lost: impl IntoIterator<Item = u16>) -> Self {
        let mut pairs: Vec<NackPair> = Vec::new();
        for seq in lost {
            if let Some(last) = pairs.last_mut() {
                let offset = seq.wrapping_sub(last.pid);
                if (1..=16).contains(&offset) {
                    last.blp |= 1 << (offset - 1);
                    continue;
                }
                if offset == 0 {
                    continue;
                }
            }
            pairs.push(NackPair { pid: seq, blp: 0 });
        }
        Nack {
            sender_ssrc,
            media_ssrc,
            pairs,
        }
    }

    /// Every sequence number this NACK reports lost.
    pub fn lost(&self) -> impl Iterator<Item = u16> + '_ {
        self.pairs.iter().flat_map(|pair| pair.seqs())
    }

    pub(super) fn parse(body: &[u8]) -> Result<Self, RtcpError> {
        let mut r = Reader::new(body);
        let (sender_ssrc, media_ssrc) = read_ssrcs(&mut r)?;
        if r.remaining() % 4 != 0 {
            return Err(RtcpError::Invalid {
                pt: super::PT_RTPFB,
                reason: "NACK FCI is not a whole number of entries",
            });
        }
        let pairs = r.rest().chunks_exact(4).map(|c| NackPair {
            pid: u16::from_be_bytes([c[0], c[1]]),
            blp: u16::from_be_bytes([c[2], c[3]]),
        });
        Ok(Nack {
            sender_ssrc,
            media_ssrc,
            pairs: pairs.collect(),
        })
    }

    pub(super) fn write_body(&self, out: &mut Vec<u8>) -> Result<(), RtcpError> {
        write_ssrcs(self.sender_ssrc, self.media_ssrc, out);
        for pair in &self.pairs {
            out.extend_from_slice(&pair.pid.to_be_bytes());
            out.extend_from_slice(&pair.blp.to_be_bytes());
        }
        Ok(())
    }
}

/// A picture loss indication (RFC 4585 §6.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pli {
    /// The SSRC of the packet's sender.
    pub sender_ssrc: u32,
    /// The SSRC of the media source that should send a key frame.
    pub media_ssrc: u32,
}

impl Pli {
    /// The feedback message type.
    pub const FMT: u8 = 1;

    pub(super) fn parse(body: &[u8]) -> Result<Self, RtcpError> {
        let (sender_ssrc, media_ssrc) = read_ssrcs(&mut Reader::new(body))?;
        Ok(Pli {
            sender_ssrc,
            media_ssrc,
        })
    }

    pub(super) fn write_body(&self, out: &mut Vec<u8>) {
        write_ssrcs(self.sender_ssrc, self.media_ssrc, out);
    }
}

/// One FIR entry: a source asked for a decoder refresh and the request's sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FirEntry {
    /// The media source asked.
    pub ssrc: u32,
    /// The command sequence number, incremented per new request.
    pub seq_nr: u8,
}

/// A full intra request (RFC 5104 §4.3.1).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Fir {
    /// The SSRC of the packet's sender.
    pub sender_ssrc: u32,
    /// The requests (the header's media SSRC is unused and written as 0).
    pub entries: Vec<FirEntry>,
}

impl Fir {
    /// The feedback message type.
    pub const FMT: u8 = 4;

    pub(super) fn parse(body: &[u8]) -> Result<Self, RtcpError> {
        let mut r = Reader::new(body);
        let (sender_ssrc, _) = read_ssrcs(&mut r)?;
        if r.remaining() % 8 != 0 {
            return Err(RtcpError::Invalid {
                pt: super::PT_PSFB,
                reason: "FIR FCI is not a whole number of entries",
            });
        }
        let entries = r.rest().chunks_exact(8).map(|c| FirEntry {
            ssrc: u32::from_be_bytes([c[0], c[1], c[2], c[3]]),
            seq_nr: c[4],
        });
        Ok(Fir {
            sender_ssrc,
            entries: entries.collect(),
        })
    }

    pub(super) fn write_body(&self, out: &mut Vec<u8>) {
        write_ssrcs(self.sender_ssrc, 0, out);
        for entry in &self.entries {
            out.extend_from_slice(&entry.ssrc.to_be_bytes());
            out.extend_from_slice(&[entry.seq_nr, 0, 0, 0]);
        }
    }
}

/// A receiver estimated maximum bitrate (application layer feedback with the "REMB" identifier).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Remb {
    /// The SSRC of the packet's sender.
    pub sender_ssrc: u32,
    /// The estimated bitrate in bits per second. Written as an 18-bit mantissa and a 6-bit exponent,
    /// so values needing more than 18 significant bits are rounded down.
    pub bitrate: u64,
    /// The media sources the estimate applies to (at most 255).
    pub ssrcs: Vec<u32>,
}

impl Remb {
    /// The feedback message type (application layer feedback).
    pub const FMT: u8 = 15;
    const ID: &'static [u8; 4] = b"REMB";

    /// Whether an application-layer feedback body carries the REMB identifier.
    pub(super) fn is_remb(body: &[u8]) -> bool {
        body.get(8..12) == Some(Self::ID)
    }

    pub(super) fn parse(body: &[u8]) -> Result<Self, RtcpError> {
        let mut r = Reader::new(body);
        let (sender_ssrc, _) = read_ssrcs(&mut r)?;
        r.skip(4, "REMB identifier")?;
        let num = r.u8("REMB SSRC count")?;
        let br = r.u24("REMB bitrate")?;
        let exp = br >> 18;
        let mantissa = u64::from(br & 0x3_FFFF);
        // 18 + 63 bits could overflow; saturate what no link carries anyway.
        let bitrate = mantissa
            .checked_shl(exp)
            .filter(|b| b >> exp == mantissa)
            .unwrap_or(u64::MAX);
        let ssrcs = (0..num).map(|_| r.u32("REMB SSRC")).collect::<Result<Vec<_>, _>>()?;
        Ok(Remb {
            sender_ssrc,
            bitrate,
            ssrcs,
        })
    }

    pub(super) fn write_body(&self, out: &mut Vec<u8>) -> Result<(), RtcpError> {
        let num = u8::try_from(self.ssrcs.len()).map_err(|_| RtcpError::TooLarge {
            what: "REMB SSRC count",
            value: self.ssrcs.len(),
        })?;
        let exp = (64 - self.bitrate.leading_zeros()).saturating_sub(18);
        let mantissa = (self.bitrate >> exp) as u32;
        write_ssrcs(self.sender_ssrc, 0, out);
        out.extend_from_slice(Self::ID);
        out.push(num);
        out.extend_from_slice(&((exp << 18) | mantissa).to_be_bytes()[1..]);
        for ssrc in &self.ssrcs {
            out.extend_from_slice(&ssrc.to_be_bytes());
        }
        Ok(())
    }
}
