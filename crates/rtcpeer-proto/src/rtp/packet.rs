//! Parsing and writing RTP packets (RFC 3550 §5.1).

use super::error::RtpError;
use super::extension::{ExtensionMap, ExtensionValue};
use super::header_ext::{write_extension_block, ExtensionElement, HeaderExtension};

/// The only RTP version there is.
pub const RTP_VERSION: u8 = 2;
/// The size of the fixed RTP header.
pub const FIXED_HEADER_LEN: usize = 12;

/// Whether a datagram on a muxed RTP/RTCP port is RTCP, by its second byte (RFC 5761 §4).
///
/// RTCP packet types 192..=223 occupy what would be RTP payload types 64..=95 with the marker bit
/// set or clear, so a packet whose second byte masked to seven bits falls in 64..=95 is RTCP.
pub fn is_rtcp(datagram: &[u8]) -> bool {
    datagram.len() >= 2 && datagram.get(1).is_some_and(|b| matches!(b & 0x7F, 64..=95))
}

fn take<'a>(buf: &'a [u8], at: usize, len: usize, what: &'static str) -> Result<&'a [u8], RtpError> {
    buf.get(at..at.saturating_add(len)).ok_or(RtpError::Truncated {
        what,
        needed: len,
        available: buf.len().saturating_sub(at),
    })
}

/// A parsed RTP packet borrowing from the datagram it came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpPacket<'a> {
    /// The marker bit.
    pub marker: bool,
    /// The 7-bit payload type.
    pub payload_type: u8,
    /// The sequence number.
    pub sequence_number: u16,
    /// The RTP timestamp.
    pub timestamp: u32,
    /// The synchronisation source.
    pub ssrc: u32,
    /// The header extension block, if the X bit was set.
    pub extension: Option<HeaderExtension<'a>>,
    /// The payload, without padding.
    pub payload: &'a [u8],
    /// The number of padding bytes removed from the end (0 when the P bit was clear).
    pub padding: u8,
    /// The length of the header (fixed part, CSRCs and extension block).
    pub header_len: usize,
    csrc: &'a [u8],
}

impl<'a> RtpPacket<'a> {
    /// Parses an RTP packet, checking every length against the datagram.
    pub fn parse(buf: &'a [u8]) -> Result<Self, RtpError> {
        let fixed = take(buf, 0, FIXED_HEADER_LEN, "fixed header")?;
        let version = fixed[0] >> 6;
        if version != RTP_VERSION {
            return Err(RtpError::BadVersion(version));
        }
        let has_padding = fixed[0] & 0x20 != 0;
        let has_extension = fixed[0] & 0x10 != 0;
        let csrc_count = usize::from(fixed[0] & 0x0F);
        let mut at = FIXED_HEADER_LEN;
        let csrc = take(buf, at, csrc_count * 4, "CSRC list")?;
        at += csrc.len();
        let extension = if has_extension {
            let head = take(buf, at, 4, "extension header")?;
            let profile = u16::from_be_bytes([head[0], head[1]]);
            let words = usize::from(u16::from_be_bytes([head[2], head[3]]));
            let data = take(buf, at + 4, words * 4, "extension block")?;
            at += 4 + data.len();
            Some(HeaderExtension::parse(profile, data)?)
        } else {
            None
        };
        let body = &buf[at..];
        let padding = if has_padding {
            let count = body.last().copied().unwrap_or(0);
            if count == 0 || usize::from(count) > body.len() {
                return Err(RtpError::BadPadding {
                    padding: count,
                    body: body.len(),
                });
            }
            count
        } else {
            0
        };
        Ok(RtpPacket {
            marker: fixed[1] & 0x80 != 0,
            payload_type: fixed[1] & 0x7F,
            sequence_number: u16::from_be_bytes([fixed[2], fixed[3]]),
            timestamp: u32::from_be_bytes([fixed[4], fixed[5], fixed[6], fixed[7]]),
            ssrc: u32::from_be_bytes([fixed[8], fixed[9], fixed[10], fixed[11]]),
            extension,
            payload: &body[..body.len() - usize::from(padding)],
            padding,
            header_len: at,
            csrc,
        })
    }

    /// The contributing sources, in order.
    pub fn csrcs(&self) -> impl Iterator<Item = u32> + 'a {
        self.csrc
            .chunks_exact(4)
            .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
    }

    /// The number of contributing sources.
    pub fn csrc_count(&self) -> usize {
        self.csrc.len() / 4
    }

    /// The header extension elements (none when there is no block or its profile is unknown).
    pub fn extensions(&self) -> impl Iterator<Item = ExtensionElement<'a>> + 'a {
        self.extension.into_iter().flat_map(|block| block.elements())
    }

    /// The raw value of the extension element with local id `id`.
    pub fn extension_data(&self, id: u8) -> Option<&'a [u8]> {
        self.extension.and_then(|block| block.get(id))
    }
}

/// Builds RTP packets. Reusable: change the fields and call [`write`](Self::write) again.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RtpBuilder {
    /// The marker bit.
    pub marker: bool,
    /// The 7-bit payload type.
    pub payload_type: u8,
    /// The sequence number.
    pub sequence_number: u16,
    /// The RTP timestamp.
    pub timestamp: u32,
    /// The synchronisation source.
    pub ssrc: u32,
    /// Padding bytes to append (0 for none); the last one holds the count.
    pub padding: u8,
    /// The contributing sources (at most 15).
    pub csrcs: Vec<u32>,
    ext_entries: Vec<(u8, usize, usize)>,
    ext_data: Vec<u8>,
}

impl RtpBuilder {
    /// A builder for packets with these header fields, no CSRCs, extensions or padding.
    pub fn new(payload_type: u8, sequence_number: u16, timestamp: u32, ssrc: u32) -> Self {
        RtpBuilder {
            payload_type,
            sequence_number,
            timestamp,
            ssrc,
            ..Default::default()
        }
    }

    /// Adds a header extension element with raw bytes (checked by [`write`](Self::write)).
    pub fn extension(&mut self, id: u8, data: &[u8]) -> &mut Self {
        let start = self.ext_data.len();
        self.ext_data.extend_from_slice(data);
        self.ext_entries.push((id, start, self.ext_data.len()));
        self
    }

    /// Adds a typed extension value under the id `map` gives its kind.
    pub fn extension_value(&mut self, map: &ExtensionMap, value: &ExtensionValue<'_>) -> Result<&mut Self, RtpError> {
        let kind = value.kind();
        let id = map.id_of(kind).ok_or(RtpError::BadExtensionValue {
            kind: kind.uri(),
            reason: "the extension has no id in the extension map",
        })?;
        let start = self.ext_data.len();
        value.write(&mut self.ext_data)?;
        self.ext_entries.push((id, start, self.ext_data.len()));
        Ok(self)
    }

    /// Removes every extension element.
    pub fn clear_extensions(&mut self) -> &mut Self {
        self.ext_entries.clear();
        self.ext_data.clear();
        self
    }

    fn elements(&self) -> impl Iterator<Item = ExtensionElement<'_>> + Clone {
        self.ext_entries.iter().map(|&(id, start, end)| ExtensionElement {
            id,
            data: &self.ext_data[start..end],
        })
    }

    /// Appends the packet with `payload` to `out`, returning the number of bytes written.
    ///
    /// On error `out` is left as it was.
    pub fn write(&self, payload: &[u8], out: &mut Vec<u8>) -> Result<usize, RtpError> {
        if self.payload_type > 127 {
            return Err(RtpError::BadPayloadType(self.payload_type));
        }
        if self.csrcs.len() > 15 {
            return Err(RtpError::TooManyCsrcs(self.csrcs.len()));
        }
        let start = out.len();
        let has_ext = !self.ext_entries.is_empty();
        out.push(
            (RTP_VERSION << 6) | (u8::from(self.padding > 0) << 5) | (u8::from(has_ext) << 4) | self.csrcs.len() as u8,
        );
        out.push((u8::from(self.marker) << 7) | self.payload_type);
        out.extend_from_slice(&self.sequence_number.to_be_bytes());
        out.extend_from_slice(&self.timestamp.to_be_bytes());
        out.extend_from_slice(&self.ssrc.to_be_bytes());
        for csrc in &self.csrcs {
            out.extend_from_slice(&csrc.to_be_bytes());
        }
        if has_ext {
            if let Err(e) = write_extension_block(self.elements(), out) {
                out.truncate(start);
                return Err(e);
            }
        }
        out.extend_from_slice(payload);
        if self.padding > 0 {
            out.extend(std::iter::repeat_n(0, usize::from(self.padding) - 1));
            out.push(self.padding);
        }
        Ok(out.len() - start)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_hand_built_packet() {
        let bytes = [
            0xB1, 0xE0, 0x12, 0x34, // V=2 P=1 X=1 CC=1, M=1 PT=96, seq
            0xDE, 0xAD, 0xBE, 0xEF, // timestamp
            0x01, 0x02, 0x03, 0x04, // SSRC
            0x0A, 0x0B, 0x0C, 0x0D, // CSRC
            0xBE, 0xDE, 0x00, 0x01, // one-byte extension, one word
            0x10, 0x55, 0x00, 0x00, // id 1 = 0x55, padding
            0x61, 0x62, 0x63, // payload "abc"
            0x00, 0x02, // padding
        ];
        let packet = RtpPacket::parse(&bytes).unwrap();
        assert!(packet.marker);
        assert_eq!(packet.payload_type, 96);
        assert_eq!(packet.sequence_number, 0x1234);
        assert_eq!(packet.timestamp, 0xDEADBEEF);
        assert_eq!(packet.ssrc, 0x01020304);
        assert_eq!(packet.csrcs().collect::<Vec<_>>(), [0x0A0B0C0D]);
        assert_eq!(packet.extension_data(1), Some(&[0x55][..]));
        assert_eq!(packet.payload, b"abc");
        assert_eq!(packet.padding, 2);
        assert_eq!(packet.header_len, 24);
    }

    #[test]
    fn builder_round_trips() {
        let mut builder = RtpBuilder::new(111, 65535, 48000, 0xCAFEBABE);
        builder.marker = true;
        builder.padding = 3;
        builder.csrcs = vec![1, 2];
        builder.extension(3, &[9, 8, 7]).extension(5, &[1]);
        let mut out = vec![0xFF];
        let written = builder.write(b"payload", &mut out).unwrap();
        assert_eq!(written, out.len() - 1);
        let packet = RtpPacket::parse(&out[1..]).unwrap();
        assert!(packet.marker);
        assert_eq!(packet.payload_type, 111);
        assert_eq!(packet.sequence_number, 65535);
        assert_eq!(packet.timestamp, 48000);
        assert_eq!(packet.ssrc, 0xCAFEBABE);
        assert_eq!(packet.csrcs().collect::<Vec<_>>(), [1, 2]);
        assert_eq!(
            packet.extensions().collect::<Vec<_>>(),
            [
                ExtensionElement {
                    id: 3,
                    data: &[9, 8, 7]
                },
                ExtensionElement { id: 5, data: &[1] }
            ]
        );
        assert_eq!(packet.payload, b"payload");
        assert_eq!(packet.padding, 3);
    }

    #[test]
    fn builder_rejects_bad_fields_and_leaves_output_alone() {
        let mut out = vec![1, 2, 3];
        let mut builder = RtpBuilder::new(128, 0, 0, 0);
        assert_eq!(builder.write(b"", &mut out), Err(RtpError::BadPayloadType(128)));
        builder.payload_type = 0;
        builder.csrcs = vec![0; 16];
        assert_eq!(builder.write(b"", &mut out), Err(RtpError::TooManyCsrcs(16)));
        builder.csrcs.clear();
        builder.extension(0, &[1]);
        assert_eq!(builder.write(b"", &mut out), Err(RtpError::BadExtensionId(0)));
        assert_eq!(out, [1, 2, 3]);
    }

    #[test]
    fn rejects_truncated_and_lying_packets() {
        assert!(matches!(
            RtpPacket::parse(&[0x80; 11]),
            Err(RtpError::Truncated {
                needed: 12,
                available: 11,
                ..
            })
        ));
        let mut base = vec![0x80, 96, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1];
        assert_eq!(RtpPacket::parse(&[0x40; 12]), Err(RtpError::BadVersion(1)));
        // Four CSRCs announced, none present.
        base[0] = 0x84;
        assert!(matches!(
            RtpPacket::parse(&base),
            Err(RtpError::Truncated { what: "CSRC list", .. })
        ));
        // Extension announced with a length of 0xFFFF words.
        base[0] = 0x90;
        let mut lying = base.clone();
        lying.extend_from_slice(&[0xBE, 0xDE, 0xFF, 0xFF, 0x10, 0x00, 0x00, 0x00]);
        assert!(matches!(
            RtpPacket::parse(&lying),
            Err(RtpError::Truncated {
                what: "extension block",
                ..
            })
        ));
        // Padding count larger than the body, and zero.
        base[0] = 0xA0;
        let mut padded = base.clone();
        padded.extend_from_slice(&[1, 2, 9]);
        assert_eq!(
            RtpPacket::parse(&padded),
            Err(RtpError::BadPadding { padding: 9, body: 3 })
        );
        *padded.last_mut().unwrap() = 0;
        assert_eq!(
            RtpPacket::parse(&padded),
            Err(RtpError::BadPadding { padding: 0, body: 3 })
        );
        assert_eq!(
            RtpPacket::parse(&base),
            Err(RtpError::BadPadding { padding: 0, body: 0 })
        );
        // Padding filling the whole body is allowed.
        *padded.last_mut().unwrap() = 3;
        assert_eq!(RtpPacket::parse(&padded).unwrap().payload, b"");
    }

    #[test]
    fn demultiplexes_rtcp_by_payload_type() {
        for pt in 192..=223u8 {
            assert!(is_rtcp(&[0x80, pt]), "RTCP type {pt}");
        }
        assert!(!is_rtcp(&[0x80, 96]));
        assert!(!is_rtcp(&[0x80, 0x80 | 111]));
        assert!(!is_rtcp(&[0x80, 0]));
        assert!(!is_rtcp(&[0x80, 0xFF]));
        assert!(!is_rtcp(&[0x80]));
    }
}
