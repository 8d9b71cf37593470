//! Raw RTP through a connection, for media servers that forward packets instead of frames.
//!
//! Out: [`PeerConnection::write_rtp`] takes a complete RTP packet (typically one another
//! connection received) and sends its payload as a packet of our own stream: our SSRC (per
//! simulcast layer), the negotiated payload type of the track's codec, our header extensions
//! (mid, rid, abs-send-time, transport-wide sequence number), a sequence number in the stream's own
//! continuous space and the source's timestamp, shifted when the source changes so that the
//! receiver sees one stream without jumps. The packet is kept in the send history (NACKs are
//! answered from it, over RTX when negotiated), counted in the stream's statistics and paced
//! and protected like a packetized frame.
//!
//! In: [`PeerConnection::set_receive_rtp`] asks for every packet of a transceiver's remote
//! track as a [`PeerEvent::RtpPacket`], after SRTP and RTX repair and before the jitter buffer.

use std::time::Instant;

use bytes::Bytes;
use tracing::trace;

use crate::jsep::Codec;
use crate::peer::transceiver::{ReceivedRtp, TransceiverId};
use crate::rtp::RtpPacket;

use super::super::types::RtcError;
use super::{PeerConnection, PeerEvent};

/// The most transceivers whose raw packets are delivered (more than a connection can negotiate
/// in practice; it bounds the list a hostile application could grow).
const MAX_RAW_RECEIVERS: usize = 256;

/// How a forwarded source's sequence numbers and timestamps map into one of our send streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct RawSource {
    /// The source's SSRC: a packet with another one starts a new mapping.
    ssrc: u32,
    /// Added to the source's sequence numbers.
    seq_delta: u16,
    /// Added to the source's timestamps.
    timestamp_delta: u32,
}

/// Where one forwarded packet goes in the stream: its sequence number and timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Mapped {
    pub(super) sequence_number: u16,
    pub(super) timestamp: u32,
}

/// The state of one send stream that [`map_forwarded`] reads and updates.
#[derive(Debug)]
pub(super) struct StreamPosition<'a> {
    /// The current source, if a forwarded packet was sent since the last frame.
    pub(super) source: &'a mut Option<RawSource>,
    /// The stream's next sequence number (one past the newest sent).
    pub(super) next_seq: &'a mut u16,
    /// The timestamp and time of the newest packet sent, if any.
    pub(super) last_sent: Option<(u32, Instant)>,
    /// The codec's clock rate.
    pub(super) clock_rate: u32,
}

/// Maps a forwarded packet's sequence number and timestamp into the stream.
///
/// The first source keeps its timestamps when nothing was sent before; a new source (another
/// SSRC) continues the stream: its first packet takes the next sequence number, and its
/// timestamps are shifted to follow the last one sent by the time elapsed since (at least one
/// tick). Packets of the current source keep their spacing, so reordering and gaps pass
/// through as the source had them; the stream's next sequence number follows the newest.
pub(super) fn map_forwarded(position: StreamPosition<'_>, now: Instant, ssrc: u32, seq: u16, timestamp: u32) -> Mapped {
    let source = match *position.source {
        Some(source) if source.ssrc == ssrc => source,
        _ => {
            let timestamp_delta = match position.last_sent {
                None => 0,
                Some((last, at)) => {
                    let elapsed =
                        now.saturating_duration_since(at).as_nanos() * u128::from(position.clock_rate) / 1_000_000_000;
                    let step = u32::try_from(elapsed).unwrap_or(u32::MAX).max(1);
                    last.wrapping_add(step).wrapping_sub(timestamp)
                }
            };
            let source = RawSource {
                ssrc,
                seq_delta: position.next_seq.wrapping_sub(seq),
                timestamp_delta,
            };
            trace!(ssrc, "forwarding a new RTP source");
            *position.source = Some(source);
            source
        }
    };
    let sequence_number = seq.wrapping_add(source.seq_delta);
    // Newer than the newest sent (in the half of the sequence space ahead of it).
    if (sequence_number.wrapping_sub(*position.next_seq) as i16) >= 0 {
        *position.next_seq = sequence_number.wrapping_add(1);
    }
    Mapped {
        sequence_number,
        timestamp: timestamp.wrapping_add(source.timestamp_delta),
    }
}

impl PeerConnection {
    /// Sends one complete RTP packet (for instance one that another connection received, see
    /// [`set_receive_rtp`](Self::set_receive_rtp)) on the encoding `rid` of the transceiver's
    /// sender (`None`: the first encoding).
    ///
    /// The payload is taken to be of the sender's track codec, whatever payload type the packet
    /// carries: it goes out with the payload type negotiated for that codec, the sender's SSRC,
    /// our header extensions (the packet's own are dropped, as are its CSRCs and padding), its
    /// marker bit, its timestamp (shifted when the source SSRC changes) and a sequence number
    /// in the stream's own continuous space. It is kept for retransmission and counted like a
    /// packetized frame.
    ///
    /// `Ok(false)` when the encoding is not sent (inactive, or not accepted by the remote);
    /// `TypeError` for bytes that are not an RTP packet (nothing is sent); the other errors are
    /// [`write_frame`](Self::write_frame)'s.
    pub fn write_rtp(
        &mut self,
        now: Instant,
        id: TransceiverId,
        rid: Option<&str>,
        packet: &[u8],
    ) -> Result<bool, RtcError> {
        self.write_counted(|pc| pc.write_rtp_inner(now, id, rid, packet))
    }

    /// [`write_rtp`](Self::write_rtp) for every transceiver whose sender carries the track
    /// `track_id` (what a runtime's track fan-out calls); errors are logged, not returned.
    pub fn write_track_rtp_for_rid(&mut self, now: Instant, track_id: &str, rid: Option<&str>, packet: &[u8]) {
        self.write_to_track(track_id, |pc, id| pc.write_rtp(now, id, rid, packet));
    }

    fn write_rtp_inner(
        &mut self,
        now: Instant,
        id: TransceiverId,
        rid: Option<&str>,
        packet: &[u8],
    ) -> Result<bool, RtcError> {
        let parsed = RtpPacket::parse(packet).map_err(|e| RtcError::Type(format!("not an RTP packet: {e}")))?;
        let Some(index) = self.ready_send_stream(now, id, rid)? else {
            return Ok(false);
        };
        self.media.forward_packet(now, index, &parsed)?;
        self.flush_pacer(now);
        Ok(true)
    }

    /// Asks for (or stops) [`PeerEvent::RtpPacket`]s: every RTP packet of the transceiver's
    /// remote track, after SRTP and RTX repair and before the jitter buffer. Frames keep
    /// arriving as [`PeerEvent::Frame`]; packets are copied only for transceivers that asked.
    ///
    /// `InvalidAccessError` for a transceiver this connection does not have.
    pub fn set_receive_rtp(&mut self, id: TransceiverId, enabled: bool) -> Result<(), RtcError> {
        if self.transceivers.get(id.0).is_none() {
            return Err(RtcError::InvalidAccess(format!("no {id} on this connection")));
        }
        let list = &mut self.media.raw_receivers;
        let present = list.contains(&id);
        if enabled && !present && list.len() < MAX_RAW_RECEIVERS {
            list.push(id);
        } else if !enabled {
            list.retain(|r| *r != id);
        }
        Ok(())
    }

    /// Raises [`PeerEvent::RtpPacket`] for a packet of a transceiver that asked for them (the
    /// caller checks `raw_receivers`, before it copies the stream's rid).
    pub(super) fn deliver_raw(
        &mut self,
        id: TransceiverId,
        codec: Codec,
        rid: Option<String>,
        packet: &RtpPacket<'_>,
        plain: &[u8],
    ) {
        let received = ReceivedRtp {
            data: Bytes::copy_from_slice(plain),
            codec,
            rid,
            payload_type: packet.payload_type,
            sequence_number: packet.sequence_number,
            timestamp: packet.timestamp,
            ssrc: packet.ssrc,
            marker: packet.marker,
        };
        self.push_event(PeerEvent::RtpPacket(id, received));
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    struct Stream {
        source: Option<RawSource>,
        next_seq: u16,
        last_sent: Option<(u32, Instant)>,
    }

    impl Stream {
        fn map(&mut self, now: Instant, ssrc: u32, seq: u16, ts: u32) -> (u16, u32) {
            let mapped = map_forwarded(
                StreamPosition {
                    source: &mut self.source,
                    next_seq: &mut self.next_seq,
                    last_sent: self.last_sent,
                    clock_rate: 90_000,
                },
                now,
                ssrc,
                seq,
                ts,
            );
            self.last_sent = Some((mapped.timestamp, now));
            (mapped.sequence_number, mapped.timestamp)
        }
    }

    #[test]
    fn the_first_source_keeps_its_timestamps_and_takes_our_sequence_numbers() {
        let now = Instant::now();
        let mut s = Stream {
            source: None,
            next_seq: 65_534,
            last_sent: None,
        };
        assert_eq!(s.map(now, 7, 100, 5000), (65_534, 5000));
        assert_eq!(s.map(now, 7, 101, 5000), (65_535, 5000));
        assert_eq!(s.map(now, 7, 102, 8000), (0, 8000));
        assert_eq!(s.next_seq, 1);
    }

    #[test]
    fn reordering_and_gaps_of_one_source_pass_through_without_moving_back() {
        let now = Instant::now();
        let mut s = Stream {
            source: None,
            next_seq: 10,
            last_sent: None,
        };
        s.map(now, 7, 500, 0);
        assert_eq!(s.map(now, 7, 503, 0).0, 13);
        assert_eq!(s.next_seq, 14);
        // A late packet maps where it belongs and does not pull the stream back.
        assert_eq!(s.map(now, 7, 501, 0).0, 11);
        assert_eq!(s.next_seq, 14);
    }

    #[test]
    fn a_new_source_continues_the_sequence_and_the_clock() {
        let start = Instant::now();
        let mut s = Stream {
            source: None,
            next_seq: 1000,
            last_sent: None,
        };
        assert_eq!(s.map(start, 7, 40_000, 90_000), (1000, 90_000));
        assert_eq!(s.map(start, 7, 40_001, 93_000), (1001, 93_000));
        // 100 ms later another source with unrelated numbering takes over.
        let later = start + Duration::from_millis(100);
        assert_eq!(s.map(later, 9, 7, 1_000_000), (1002, 93_000 + 9000));
        assert_eq!(s.map(later, 9, 8, 1_003_000), (1003, 93_000 + 9000 + 3000));
        // Switching at once still moves the clock forward by a tick.
        assert_eq!(s.map(later, 7, 40_002, 96_000), (1004, 105_000 + 1));
    }
}
