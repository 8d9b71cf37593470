//! Remembering sent packets for retransmission, and RTX (RFC 4588 §4).

use std::collections::VecDeque;
use std::time::Instant;

use super::error::RtpError;
use super::packet::RtpPacket;

/// A packet kept by [`SendHistory`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredPacket<'a> {
    /// The packet's bytes as first sent.
    pub data: &'a [u8],
    /// When it was sent.
    pub sent_at: Instant,
}

#[derive(Debug)]
struct Entry {
    seq: u16,
    sent_at: Instant,
    data: Vec<u8>,
}

/// A bounded history of sent RTP packets of one stream, looked up by sequence number.
///
/// The oldest packets are forgotten once more than `max_packets` or `max_bytes` are kept.
#[derive(Debug)]
pub struct SendHistory {
    entries: VecDeque<Entry>,
    max_packets: usize,
    max_bytes: usize,
    bytes: usize,
    spare: Option<Vec<u8>>,
}

impl SendHistory {
    /// A history keeping at most `max_packets` packets and `max_bytes` bytes.
    pub fn new(max_packets: usize, max_bytes: usize) -> Self {
        SendHistory {
            entries: VecDeque::with_capacity(max_packets.min(4096)),
            max_packets,
            max_bytes,
            bytes: 0,
            spare: None,
        }
    }

    /// Remembers a sent packet (parsed for its sequence number). A packet larger than the whole
    /// byte budget is not kept. A packet with a sequence number already kept replaces it.
    pub fn insert(&mut self, packet: &[u8], now: Instant) -> Result<(), RtpError> {
        let seq = RtpPacket::parse(packet)?.sequence_number;
        if packet.len() > self.max_bytes || self.max_packets == 0 {
            return Ok(());
        }
        if let Some(i) = self.position(seq) {
            if let Some(old) = self.entries.remove(i) {
                self.bytes -= old.data.len();
            }
        }
        while self.entries.len() >= self.max_packets || self.bytes + packet.len() > self.max_bytes {
            let Some(old) = self.entries.pop_front() else { break };
            self.bytes -= old.data.len();
            self.spare = Some(old.data);
        }
        // Reuse the buffer of the packet just evicted, if any.
        let mut data = self.spare.take().unwrap_or_default();
        data.clear();
        data.extend_from_slice(packet);
        self.bytes += data.len();
        self.entries.push_back(Entry {
            seq,
            sent_at: now,
            data,
        });
        Ok(())
    }

    fn position(&self, seq: u16) -> Option<usize> {
        let front = self.entries.front()?.seq;
        // Packets are usually sent in sequence order, so the offset from the oldest finds them.
        let guess = usize::from(seq.wrapping_sub(front));
        if self.entries.get(guess).is_some_and(|e| e.seq == seq) {
            return Some(guess);
        }
        self.entries.iter().rposition(|e| e.seq == seq)
    }

    /// The packet sent with sequence number `seq`, if still kept.
    pub fn get(&self, seq: u16) -> Option<StoredPacket<'_>> {
        let entry = &self.entries[self.position(seq)?];
        Some(StoredPacket {
            data: &entry.data,
            sent_at: entry.sent_at,
        })
    }

    /// The number of packets kept.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is kept.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The bytes kept.
    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

/// Copies the header of `packet` (without padding) into `out` with new payload type, sequence
/// number and SSRC.
fn rewrite_header(raw: &[u8], packet: &RtpPacket<'_>, payload_type: u8, seq: u16, ssrc: u32, out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(&raw[..packet.header_len]);
    out[start] &= !0x20;
    out[start + 1] = (out[start + 1] & 0x80) | (payload_type & 0x7F);
    out[start + 2..start + 4].copy_from_slice(&seq.to_be_bytes());
    out[start + 8..start + 12].copy_from_slice(&ssrc.to_be_bytes());
}

/// Wraps original packets into RTX packets of a retransmission stream (RFC 4588 §4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtxSender {
    /// The RTX payload type (the one `a=fmtp:<pt> apt=` ties to the original).
    pub payload_type: u8,
    /// The SSRC of the retransmission stream.
    pub ssrc: u32,
    next_seq: u16,
}

impl RtxSender {
    /// An RTX stream whose first packet gets sequence number `first_seq`.
    pub fn new(payload_type: u8, ssrc: u32, first_seq: u16) -> Self {
        RtxSender {
            payload_type,
            ssrc,
            next_seq: first_seq,
        }
    }

    /// Appends the RTX packet carrying `original` to `out`: its header with the RTX payload type,
    /// SSRC and the stream's own next sequence number, then the original sequence number, then the
    /// original payload (padding dropped). Returns the RTX sequence number used.
    pub fn wrap(&mut self, original: &[u8], out: &mut Vec<u8>) -> Result<u16, RtpError> {
        if self.payload_type > 127 {
            return Err(RtpError::BadPayloadType(self.payload_type));
        }
        let packet = RtpPacket::parse(original)?;
        let seq = self.next_seq;
        rewrite_header(original, &packet, self.payload_type, seq, self.ssrc, out);
        out.extend_from_slice(&packet.sequence_number.to_be_bytes());
        out.extend_from_slice(packet.payload);
        self.next_seq = seq.wrapping_add(1);
        Ok(seq)
    }

    /// The sequence number the next RTX packet will get.
    pub fn next_seq(&self) -> u16 {
        self.next_seq
    }
}

/// Restores the original packet from an RTX packet: appends to `out` the header with the original
/// payload type, SSRC and sequence number (the OSN), then the payload after the OSN. Returns the OSN.
pub fn unwrap_rtx(rtx: &[u8], original_pt: u8, original_ssrc: u32, out: &mut Vec<u8>) -> Result<u16, RtpError> {
    let packet = RtpPacket::parse(rtx)?;
    let Some((osn, payload)) = packet.payload.split_first_chunk::<2>() else {
        return Err(RtpError::RtxTooShort(packet.payload.len()));
    };
    let osn = u16::from_be_bytes(*osn);
    rewrite_header(rtx, &packet, original_pt, osn, original_ssrc, out);
    out.extend_from_slice(payload);
    Ok(osn)
}

#[cfg(test)]
mod tests {
    use super::super::packet::RtpBuilder;
    use super::*;
    use std::time::Duration;

    fn packet(seq: u16, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        RtpBuilder::new(96, seq, 1000, 0xAAAA).write(payload, &mut out).unwrap();
        out
    }

    #[test]
    fn keeps_the_newest_packets_by_count_and_bytes() {
        let t0 = Instant::now();
        let mut history = SendHistory::new(4, 1000);
        for seq in 65533..=65535u16 {
            history.insert(&packet(seq, &[0; 10]), t0).unwrap();
        }
        for seq in 0..3u16 {
            history
                .insert(&packet(seq, &[0; 10]), t0 + Duration::from_millis(u64::from(seq)))
                .unwrap();
        }
        assert_eq!(history.len(), 4);
        assert!(history.get(65534).is_none());
        assert_eq!(history.get(65535).unwrap().data, packet(65535, &[0; 10]));
        assert_eq!(history.get(2).unwrap().sent_at, t0 + Duration::from_millis(2));
        assert!(history.get(3).is_none());

        let mut small = SendHistory::new(100, 100);
        for seq in 0..10 {
            small.insert(&packet(seq, &[0; 28]), t0).unwrap();
        }
        assert_eq!(small.len(), 2);
        assert!(small.bytes() <= 100);
        assert!(small.get(9).is_some() && small.get(8).is_some() && small.get(7).is_none());
        small.insert(&packet(10, &[0; 200]), t0).unwrap();
        assert!(small.get(10).is_none(), "a packet over the whole budget is not kept");
        assert!(small.insert(b"not rtp", t0).is_err());
    }

    #[test]
    fn finds_packets_sent_out_of_order_and_replaces_duplicates() {
        let t0 = Instant::now();
        let mut history = SendHistory::new(10, 10_000);
        for seq in [5, 7, 6] {
            history.insert(&packet(seq, &[seq as u8]), t0).unwrap();
        }
        history.insert(&packet(7, &[70]), t0).unwrap();
        assert_eq!(history.len(), 3);
        assert_eq!(RtpPacket::parse(history.get(7).unwrap().data).unwrap().payload, [70]);
        assert_eq!(RtpPacket::parse(history.get(6).unwrap().data).unwrap().payload, [6]);
    }

    #[test]
    fn rtx_wraps_and_unwraps() {
        let mut builder = RtpBuilder::new(96, 4321, 90_000, 0x1111);
        builder.marker = true;
        builder.padding = 4;
        builder.extension(1, &[1, 2]);
        let mut original = Vec::new();
        builder.write(b"frame", &mut original).unwrap();

        let mut rtx = RtxSender::new(97, 0x2222, 65535);
        let mut out = Vec::new();
        assert_eq!(rtx.wrap(&original, &mut out), Ok(65535));
        assert_eq!(rtx.next_seq(), 0);
        let wrapped = RtpPacket::parse(&out).unwrap();
        assert_eq!(wrapped.payload_type, 97);
        assert_eq!(wrapped.ssrc, 0x2222);
        assert_eq!(wrapped.sequence_number, 65535);
        assert!(wrapped.marker);
        assert_eq!(wrapped.timestamp, 90_000);
        assert_eq!(wrapped.padding, 0);
        assert_eq!(wrapped.extension_data(1), Some(&[1, 2][..]));
        assert_eq!(wrapped.payload, [&[0x10, 0xE1][..], b"frame"].concat());

        let mut restored = Vec::new();
        assert_eq!(unwrap_rtx(&out, 96, 0x1111, &mut restored), Ok(4321));
        let back = RtpPacket::parse(&restored).unwrap();
        let orig = RtpPacket::parse(&original).unwrap();
        assert_eq!((back.payload_type, back.ssrc, back.sequence_number), (96, 0x1111, 4321));
        assert_eq!(back.payload, orig.payload);
        assert_eq!(back.extension, orig.extension);

        let mut empty = Vec::new();
        RtpBuilder::new(97, 1, 1, 0x2222).write(&[7], &mut empty).unwrap();
        assert_eq!(
            unwrap_rtx(&empty, 96, 1, &mut Vec::new()),
            Err(RtpError::RtxTooShort(1))
        );
    }
}
