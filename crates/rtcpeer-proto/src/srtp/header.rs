//! The few header fields SRTP needs, read without trusting the packet.

use super::SrtpError;

/// The fixed part of an RTP header (RFC 3550 §5.1).
const RTP_FIXED: usize = 12;
/// The RTCP header plus the sender SSRC (RFC 3550 §6.4): the part SRTCP
/// leaves in the clear.
pub(crate) const RTCP_HEADER: usize = 8;

/// What SRTP uses of an RTP header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RtpHeader {
    /// Header length including CSRCs and the header extension.
    pub(crate) len: usize,
    /// Sequence number.
    pub(crate) seq: u16,
    /// Synchronization source.
    pub(crate) ssrc: u32,
}

fn version(packet: &[u8], needed: usize) -> Result<(), SrtpError> {
    let first = *packet.first().ok_or(SrtpError::TooShort { len: 0, needed })?;
    match first >> 6 {
        2 => Ok(()),
        v => Err(SrtpError::BadVersion(v)),
    }
}

fn be16(p: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(p.get(at..at + 2)?.try_into().ok()?))
}

fn be32(p: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(p.get(at..at + 4)?.try_into().ok()?))
}

/// Parses the RTP header at the start of `packet`, of which the last
/// `trailer` bytes are not header (the tag of a protected packet). The
/// header must fit in front of the trailer.
pub(crate) fn rtp_header(packet: &[u8], trailer: usize) -> Result<RtpHeader, SrtpError> {
    let len = packet.len();
    let too_short = |needed: usize| SrtpError::TooShort { len, needed };
    version(packet, RTP_FIXED + trailer)?;
    let body = len.checked_sub(trailer).ok_or(too_short(RTP_FIXED + trailer))?;
    if body < RTP_FIXED {
        return Err(too_short(RTP_FIXED + trailer));
    }
    let (seq, ssrc) = match (be16(packet, 2), be32(packet, 8)) {
        (Some(seq), Some(ssrc)) => (seq, ssrc),
        _ => return Err(too_short(RTP_FIXED + trailer)),
    };
    let first = packet.first().copied().unwrap_or_default();
    let mut header = RTP_FIXED + 4 * usize::from(first & 0x0f);
    if first & 0x10 != 0 {
        // Extension: 2 bytes profile, 2 bytes length in 32-bit words.
        let words = be16(packet, header + 2).ok_or(too_short(header + 4 + trailer))?;
        header += 4 + 4 * usize::from(words);
    }
    if header > body {
        return Err(too_short(header + trailer));
    }
    Ok(RtpHeader { len: header, seq, ssrc })
}

/// Checks the RTCP header of `packet`, of which the last `trailer` bytes are
/// not RTCP, and returns the sender SSRC.
pub(crate) fn rtcp_ssrc(packet: &[u8], trailer: usize) -> Result<u32, SrtpError> {
    let needed = RTCP_HEADER + trailer;
    version(packet, needed)?;
    if packet.len() < needed {
        return Err(SrtpError::TooShort {
            len: packet.len(),
            needed,
        });
    }
    be32(packet, 4).ok_or(SrtpError::TooShort {
        len: packet.len(),
        needed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rtp_header_counts_csrcs_and_extension() {
        let mut p = vec![0x80, 96, 0x12, 0x34, 0, 0, 0, 1, 0xde, 0xad, 0xbe, 0xef];
        assert_eq!(
            rtp_header(&p, 0),
            Ok(RtpHeader {
                len: 12,
                seq: 0x1234,
                ssrc: 0xdeadbeef
            })
        );
        p[0] = 0x92; // X=1, CC=2
        p.extend_from_slice(&[0; 8]); // two CSRCs
        p.extend_from_slice(&[0xbe, 0xde, 0, 1, 1, 2, 3, 4]); // one-word extension
        assert_eq!(rtp_header(&p, 0).map(|h| h.len), Ok(28));
        assert_eq!(rtp_header(&p, 1), Err(SrtpError::TooShort { len: 28, needed: 29 }));
        p[0] = 0x40;
        assert_eq!(rtp_header(&p, 0), Err(SrtpError::BadVersion(1)));
        assert!(rtp_header(&[], 10).is_err());
        assert!(rtp_header(&[0x80; 11], 0).is_err());
        // An extension length pointing past the end.
        assert!(rtp_header(&[0x90, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xbe, 0xde, 0xff, 0xff], 0).is_err());
    }

    #[test]
    fn rtcp_header_needs_version_and_ssrc() {
        let p = [0x81, 200, 0, 1, 0xca, 0xfe, 0xba, 0xbe];
        assert_eq!(rtcp_ssrc(&p, 0), Ok(0xcafebabe));
        assert_eq!(rtcp_ssrc(&p, 4), Err(SrtpError::TooShort { len: 8, needed: 12 }));
        assert_eq!(rtcp_ssrc(&[0x01; 8], 0), Err(SrtpError::BadVersion(0)));
    }
}
