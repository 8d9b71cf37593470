//! RTCP packets (RFC 3550 §6, RFC 4585, RFC 5104, RFC 5506) and the feedback WebRTC uses.
//!
//! [`RtcpPacket::parse_compound`] splits a datagram into its packets; a reduced-size datagram
//! (RFC 5506), one packet that is not a report, parses the same way. Packet types this crate does not
//! decode are kept as [`RtcpPacket::Unknown`] rather than rejected.

mod feedback;
mod report;
mod sdes;
mod twcc;

#[cfg(test)]
mod tests;

pub use feedback::{Fir, FirEntry, Nack, NackPair, Pli, Remb};
pub use report::{ReceiverReport, ReportBlock, SenderReport};
pub use sdes::{Bye, Sdes, SdesChunk, SdesItem, SDES_CNAME};
pub use twcc::{PacketStatus, TransportCc, DELTA_TICK_MICROS, REFERENCE_TICK_MICROS};

use super::error::RtcpError;

/// Sender report.
pub const PT_SR: u8 = 200;
/// Receiver report.
pub const PT_RR: u8 = 201;
/// Source description.
pub const PT_SDES: u8 = 202;
/// Goodbye.
pub const PT_BYE: u8 = 203;
/// Application-defined.
pub const PT_APP: u8 = 204;
/// Transport-layer feedback (RFC 4585 §6.2).
pub const PT_RTPFB: u8 = 205;
/// Payload-specific feedback (RFC 4585 §6.3).
pub const PT_PSFB: u8 = 206;

/// The most packets one compound datagram may hold before we stop.
pub const MAX_COMPOUND_PACKETS: usize = 256;

/// One RTCP packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RtcpPacket {
    /// A sender report (PT 200).
    SenderReport(SenderReport),
    /// A receiver report (PT 201).
    ReceiverReport(ReceiverReport),
    /// A source description (PT 202).
    Sdes(Sdes),
    /// A goodbye (PT 203).
    Bye(Bye),
    /// A generic NACK (PT 205, FMT 1).
    Nack(Nack),
    /// A picture loss indication (PT 206, FMT 1).
    Pli(Pli),
    /// A full intra request (PT 206, FMT 4).
    Fir(Fir),
    /// A receiver estimated maximum bitrate (PT 206, FMT 15, "REMB").
    Remb(Remb),
    /// Transport-wide congestion control feedback (PT 205, FMT 15).
    TransportCc(TransportCc),
    /// Any other packet, kept as it came.
    Unknown {
        /// The packet type.
        pt: u8,
        /// The 5-bit count or feedback message type.
        count: u8,
        /// The body after the 4-byte header, padding removed.
        body: Vec<u8>,
    },
}

impl RtcpPacket {
    /// Parses every packet of a compound (or reduced-size) RTCP datagram.
    pub fn parse_compound(buf: &[u8]) -> Result<Vec<RtcpPacket>, RtcpError> {
        if buf.is_empty() {
            return Err(RtcpError::Empty);
        }
        let mut packets = Vec::new();
        let mut rest = buf;
        while !rest.is_empty() {
            if packets.len() == MAX_COMPOUND_PACKETS {
                return Err(RtcpError::TooManyPackets(MAX_COMPOUND_PACKETS));
            }
            let (packet, len) = Self::parse_one(rest)?;
            packets.push(packet);
            rest = &rest[len..];
        }
        Ok(packets)
    }

    /// Parses the first packet of `buf`, returning it and its length in bytes.
    pub fn parse_one(buf: &[u8]) -> Result<(RtcpPacket, usize), RtcpError> {
        let header = Reader::new(buf).take(4, "RTCP header")?;
        let version = header[0] >> 6;
        if version != 2 {
            return Err(RtcpError::BadVersion(version));
        }
        let has_padding = header[0] & 0x20 != 0;
        let count = header[0] & 0x1F;
        let pt = header[1];
        let len = (usize::from(u16::from_be_bytes([header[2], header[3]])) + 1) * 4;
        let packet = Reader::new(buf).take(len, "RTCP packet")?;
        let mut body = &packet[4..];
        if has_padding {
            let pad = usize::from(body.last().copied().unwrap_or(0));
            if pad == 0 || pad > body.len() {
                return Err(RtcpError::BadPadding("padding count is zero or larger than the packet"));
            }
            body = &body[..body.len() - pad];
        }
        Ok((Self::parse_body(pt, count, body)?, len))
    }

    fn parse_body(pt: u8, count: u8, body: &[u8]) -> Result<RtcpPacket, RtcpError> {
        Ok(match (pt, count) {
            (PT_SR, _) => RtcpPacket::SenderReport(SenderReport::parse(count, body)?),
            (PT_RR, _) => RtcpPacket::ReceiverReport(ReceiverReport::parse(count, body)?),
            (PT_SDES, _) => RtcpPacket::Sdes(Sdes::parse(count, body)?),
            (PT_BYE, _) => RtcpPacket::Bye(Bye::parse(count, body)?),
            (PT_RTPFB, Nack::FMT) => RtcpPacket::Nack(Nack::parse(body)?),
            (PT_RTPFB, TransportCc::FMT) => RtcpPacket::TransportCc(TransportCc::parse(body)?),
            (PT_PSFB, Pli::FMT) => RtcpPacket::Pli(Pli::parse(body)?),
            (PT_PSFB, Fir::FMT) => RtcpPacket::Fir(Fir::parse(body)?),
            (PT_PSFB, Remb::FMT) if Remb::is_remb(body) => RtcpPacket::Remb(Remb::parse(body)?),
            _ => RtcpPacket::Unknown {
                pt,
                count,
                body: body.to_vec(),
            },
        })
    }

    /// Appends the packet to `out`, padding it to 32 bits. On error `out` is left as it was.
    pub fn write(&self, out: &mut Vec<u8>) -> Result<(), RtcpError> {
        let start = out.len();
        out.extend_from_slice(&[0x80, 0, 0, 0]);
        let result = match self {
            RtcpPacket::SenderReport(p) => p.write_body(out).map(|count| (PT_SR, count)),
            RtcpPacket::ReceiverReport(p) => p.write_body(out).map(|count| (PT_RR, count)),
            RtcpPacket::Sdes(p) => p.write_body(out).map(|count| (PT_SDES, count)),
            RtcpPacket::Bye(p) => p.write_body(out).map(|count| (PT_BYE, count)),
            RtcpPacket::Nack(p) => p.write_body(out).map(|()| (PT_RTPFB, Nack::FMT)),
            RtcpPacket::TransportCc(p) => p.write_body(out).map(|()| (PT_RTPFB, TransportCc::FMT)),
            RtcpPacket::Pli(p) => {
                p.write_body(out);
                Ok((PT_PSFB, Pli::FMT))
            }
            RtcpPacket::Fir(p) => {
                p.write_body(out);
                Ok((PT_PSFB, Fir::FMT))
            }
            RtcpPacket::Remb(p) => p.write_body(out).map(|()| (PT_PSFB, Remb::FMT)),
            RtcpPacket::Unknown { pt, count, body } => {
                if *count > 31 {
                    Err(RtcpError::TooLarge {
                        what: "count",
                        value: usize::from(*count),
                    })
                } else {
                    out.extend_from_slice(body);
                    Ok((*pt, *count))
                }
            }
        };
        let finished = result.and_then(|(pt, count)| finish(out, start, pt, count));
        if finished.is_err() {
            out.truncate(start);
        }
        finished
    }

    /// Appends every packet of `packets` to `out` as one compound datagram.
    pub fn write_compound(packets: &[RtcpPacket], out: &mut Vec<u8>) -> Result<(), RtcpError> {
        let start = out.len();
        for packet in packets {
            if let Err(e) = packet.write(out) {
                out.truncate(start);
                return Err(e);
            }
        }
        Ok(())
    }
}

/// Pads the packet that starts at `start` to 32 bits (with the P bit and a count, RFC 3550 §6.4.1)
/// and fills in its header.
fn finish(out: &mut Vec<u8>, start: usize, pt: u8, count: u8) -> Result<(), RtcpError> {
    let unaligned = (out.len() - start) % 4;
    let mut first = 0x80 | count;
    if unaligned != 0 {
        let pad = 4 - unaligned;
        out.extend(std::iter::repeat_n(0, pad - 1));
        out.push(pad as u8);
        first |= 0x20;
    }
    let words = (out.len() - start) / 4 - 1;
    let words = u16::try_from(words).map_err(|_| RtcpError::TooLarge {
        what: "packet length",
        value: words,
    })?;
    out[start] = first;
    out[start + 1] = pt;
    out[start + 2..start + 4].copy_from_slice(&words.to_be_bytes());
    Ok(())
}

/// A bounds-checked reader over an RTCP body.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Reader { buf, at: 0 }
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len() - self.at
    }

    pub(crate) fn rest(&self) -> &'a [u8] {
        &self.buf[self.at..]
    }

    pub(crate) fn take(&mut self, len: usize, what: &'static str) -> Result<&'a [u8], RtcpError> {
        let bytes = self
            .buf
            .get(self.at..self.at.saturating_add(len))
            .ok_or(RtcpError::Truncated {
                what,
                needed: len,
                available: self.remaining(),
            })?;
        self.at += len;
        Ok(bytes)
    }

    pub(crate) fn u8(&mut self, what: &'static str) -> Result<u8, RtcpError> {
        Ok(self.take(1, what)?[0])
    }

    pub(crate) fn u16(&mut self, what: &'static str) -> Result<u16, RtcpError> {
        let b = self.take(2, what)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    pub(crate) fn u24(&mut self, what: &'static str) -> Result<u32, RtcpError> {
        let b = self.take(3, what)?;
        Ok(u32::from_be_bytes([0, b[0], b[1], b[2]]))
    }

    pub(crate) fn u32(&mut self, what: &'static str) -> Result<u32, RtcpError> {
        let b = self.take(4, what)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub(crate) fn skip(&mut self, len: usize, what: &'static str) -> Result<(), RtcpError> {
        self.take(len, what).map(|_| ())
    }
}
