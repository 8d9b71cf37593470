//! Send-side congestion control of [`PeerConnection`]: what leaves the pacer is noted by its
//! transport-wide sequence number, the peer's transport-wide feedback and REMB feed the estimator,
//! and a material change of its target is announced with [`PeerEvent::TargetBitrate`].

use std::time::Instant;

use tracing::{debug, trace};

use crate::bwe::{Pacer, SendSideBwe};
use crate::rtp::rtcp::{Remb, TransportCc};
use crate::rtp::RtcpPacket;

use super::media::queue_transmit;
use super::{PeerConnection, PeerEvent};

/// A change of the target smaller than this fraction is not announced.
const ANNOUNCE_CHANGE: f64 = 0.05;

/// One protected RTP packet waiting in the pacer.
#[derive(Debug)]
pub(super) struct PacedRtp {
    contents: Vec<u8>,
    twcc_seq: Option<u16>,
}

/// Queues a protected RTP packet for the pacer. Audio, and packets without a transport-wide
/// sequence number (the peer sends no feedback the estimate could follow), are not held back.
pub(super) fn pace(pacer: &mut Pacer<PacedRtp>, contents: Vec<u8>, twcc_seq: Option<u16>, audio: bool) {
    let size = contents.len();
    let unpaced = audio || twcc_seq.is_none();
    if let Some(dropped) = pacer.push(PacedRtp { contents, twcc_seq }, size, unpaced) {
        trace!(seq = ?dropped.twcc_seq, "pacer queue full: oldest packet dropped");
    }
}

/// Gives a plaintext RTP packet the next transport-wide sequence number (in place of the one its
/// extension `ext` carries). Returns the number, or `None` when the packet has no such extension.
pub(super) fn restamp_twcc(packet: &mut [u8], ext: u8, next: &mut u16) -> Option<u16> {
    let offset = {
        let parsed = crate::rtp::RtpPacket::parse(packet).ok()?;
        let data = parsed.extension_data(ext).filter(|d| d.len() >= 2)?;
        (data.as_ptr() as usize).checked_sub(packet.as_ptr() as usize)?
    };
    let seq = *next;
    packet.get_mut(offset..offset + 2)?.copy_from_slice(&seq.to_be_bytes());
    *next = seq.wrapping_add(1);
    Some(seq)
}

impl PeerConnection {
    /// The send-side bandwidth estimator: its target, acknowledged rate, loss and counters.
    pub fn congestion_control(&self) -> &SendSideBwe {
        &self.media.bwe
    }

    /// The target bitrate for everything this connection sends, bits/s (the start bitrate until
    /// the peer's feedback says otherwise). [`PeerEvent::TargetBitrate`] announces its changes.
    pub fn target_bitrate(&self) -> u64 {
        self.media.bwe.target_bitrate()
    }

    /// Whether SRTP is up, so the estimate describes a transport that carries media.
    pub(super) fn media_transport_up(&self) -> bool {
        self.media.srtp_profile().is_some()
    }

    /// Packets waiting in the pacer, and how many it dropped because its queue was full.
    pub fn pacer_queue(&self) -> (usize, u64) {
        (self.media.pacer.queued_packets(), self.media.pacer.dropped())
    }

    /// Tells the peer's congestion controller not to send us more than `bitrate_bps` in total
    /// (a REMB, draft-alvestrand-rmcat-remb-03, about every stream we receive). Nothing is sent
    /// before media flows.
    pub fn send_remb(&mut self, bitrate_bps: u64) {
        let ssrcs: Vec<u32> = self.media.receive_ssrcs().take(255).collect();
        let Some(first) = self.media.first_receiving_transceiver() else {
            return;
        };
        let Some(sender_ssrc) = self.transceivers.get(first.0).map(|t| t.ssrc) else {
            return;
        };
        self.send_rtcp(&[RtcpPacket::Remb(Remb {
            sender_ssrc,
            bitrate: bitrate_bps,
            ssrcs,
        })]);
    }

    /// Sends what the pacer lets out at `now`, noting each packet's send time for the estimator.
    pub(super) fn flush_pacer(&mut self, now: Instant) {
        while let Some(packet) = self.media.pacer.pop(now) {
            if let Some(seq) = packet.twcc_seq {
                self.media.bwe.on_packet_sent(seq, packet.contents.len(), now);
            }
            queue_transmit(&self.ice, &mut self.transmits, packet.contents);
        }
    }

    /// Transport-wide feedback from the peer.
    pub(super) fn on_transport_feedback(&mut self, feedback: &TransportCc, now: Instant) {
        self.media.bwe.on_transport_feedback(feedback, now);
        self.target_changed();
    }

    /// A REMB from the peer: it caps the target.
    pub(super) fn on_remb(&mut self, remb: &Remb) {
        self.media.bwe.on_remb(remb.bitrate);
        self.target_changed();
    }

    fn target_changed(&mut self) {
        let target = self.media.bwe.target_bitrate();
        self.media.pacer.set_rate(self.media.bwe.pacing_bitrate());
        let material = self
            .media
            .announced_target
            .is_none_or(|last| (target as f64 - last as f64).abs() >= ANNOUNCE_CHANGE * last as f64);
        if material {
            debug!(
                target,
                acked = ?self.media.bwe.acknowledged_bitrate(),
                usage = ?self.media.bwe.usage(),
                "target bitrate"
            );
            self.media.announced_target = Some(target);
            self.push_event(PeerEvent::TargetBitrate { bitrate_bps: target });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rtp::{RtpBuilder, RtpPacket};

    #[test]
    fn restamping_replaces_the_transport_sequence_number_only() {
        let mut builder = RtpBuilder::new(96, 7, 1234, 0xABCD);
        builder.extension(1, b"0");
        builder.extension(3, &[0x12, 0x34]);
        let mut packet = Vec::new();
        builder.write(b"payload", &mut packet).unwrap();
        let mut next = 500;
        assert_eq!(restamp_twcc(&mut packet, 3, &mut next), Some(500));
        assert_eq!(next, 501);
        let parsed = RtpPacket::parse(&packet).unwrap();
        assert_eq!(parsed.extension_data(3), Some(&[0x01, 0xF4][..]));
        assert_eq!(parsed.extension_data(1), Some(&b"0"[..]));
        assert_eq!((parsed.sequence_number, parsed.payload), (7, &b"payload"[..]));
        assert_eq!(restamp_twcc(&mut packet, 5, &mut next), None);
        assert_eq!(next, 501);
    }
}
