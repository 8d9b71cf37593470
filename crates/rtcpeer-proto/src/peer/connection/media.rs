//! The media half of [`PeerConnection`]: RTP and RTCP over SRTP on the bundled
//! transport (RFC 3550, RFC 4585, RFC 5761, RFC 8843).
//!
//! Out: a track's frame is packetized for the negotiated codec, stamped with the
//! transceiver's SSRC, payload type and header extensions (mid, transport-wide
//! sequence number), kept in a send history for retransmission, protected with
//! SRTP and sent over the selected pair.
//!
//! In: an SRTP datagram from a checked path is unprotected (authentication
//! failures and replays are dropped and counted), parsed, and demultiplexed to a
//! receive stream by SSRC, else by the mid header extension, the SSRCs the
//! remote description lists, or a payload type only one transceiver uses. RTX
//! packets are unwrapped to the packet they repair. The receive stream's jitter
//! buffer reassembles frames, which become [`PeerEvent::Frame`]s; losses are
//! asked for again with NACK, and a stream that cannot decode on asks for a
//! keyframe with PLI. RTCP carries sender and receiver reports (with RTT),
//! NACKs (answered from the send history, over RTX when negotiated), PLI/FIR
//! (raised as [`PeerEvent::KeyframeRequested`]) and transport-wide feedback.

use std::time::{Duration, Instant};

use bytes::Bytes;
use tracing::{debug, trace};

use crate::jsep::{extension, Codec, NegotiatedMedia};
use crate::media::codec::Packetizer;
use crate::media::jitter::JitterBuffer;
use crate::peer::transceiver::{MediaFrame, ReceivedFrame, TransceiverId};
use crate::rtp::rtcp::{Fir, FirEntry, Nack, Pli, ReceiverReport, ReportBlock, Sdes};
use crate::rtp::{
    is_rtcp, rtt_from_report, unwrap_rtx, NackConfig, NackTracker, NtpTime, ReceiverStats, RtcpPacket, RtpBuilder,
    RtpPacket, RtxSender, SendHistory, SenderStats, TwccConfig, TwccRecorder,
};
use crate::srtp::{SrtpError, SrtpSession, MAX_OVERHEAD};

use super::super::types::RtcError;
use super::congestion::PacedRtp;
use super::transceivers::Transceiver;
use super::{PeerConnection, PeerEvent, MAX_QUEUED_TRANSMITS};

/// The largest RTP payload we packetize into (1200-byte packets leave room for
/// the header, extensions, the SRTP tag and any tunnel along the path).
const MAX_RTP_PAYLOAD: usize = 1100;
/// Room for the RTP header we stamp: 12 bytes, the extension block's 4 and its elements (mid and
/// rid of up to 16 bytes, abs-send-time, transport-wide sequence number) with their padding.
const MAX_RTP_HEADER: usize = 64;
/// The most receive streams (SSRCs) a connection tracks.
const MAX_RECEIVE_STREAMS: usize = 64;
/// How often reports (SR/RR + SDES) go out.
const REPORT_INTERVAL: Duration = Duration::from_secs(1);
/// The least time between two keyframe requests for one stream.
const KEYFRAME_REQUEST_INTERVAL: Duration = Duration::from_millis(300);
/// Packets kept for retransmission per sending stream.
const HISTORY_PACKETS: usize = 1024;
/// Bytes kept for retransmission per sending stream.
const HISTORY_BYTES: usize = 2 << 20;
/// NTP seconds of the core's synthetic wallclock at its creation (2026-01-01; RFC 3550 §4
/// lets the NTP timestamp start anywhere as long as it advances with real time).
const NTP_BASE_SECS: u64 = 3_976_214_400;

/// What the media path counted (the `stats` of dropped and repaired packets).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MediaCounters {
    /// RTP packets sent (media and retransmissions).
    pub rtp_sent: u64,
    /// RTP packets received and authenticated.
    pub rtp_received: u64,
    /// RTCP packets (compound) sent.
    pub rtcp_sent: u64,
    /// RTCP packets (compound) received and authenticated.
    pub rtcp_received: u64,
    /// SRTP/SRTCP packets that failed authentication.
    pub srtp_auth_failures: u64,
    /// SRTP/SRTCP packets refused as replays or too old.
    pub srtp_replays: u64,
    /// Other SRTP errors (too short, too many SSRCs, …).
    pub srtp_errors: u64,
    /// RTP or RTCP that did not parse after decryption.
    pub malformed: u64,
    /// RTP packets no transceiver claimed (unknown SSRC, mid or payload type).
    pub unknown_stream: u64,
    /// Packets retransmitted on request.
    pub retransmitted: u64,
    /// NACKs sent.
    pub nacks_sent: u64,
    /// PLIs sent.
    pub plis_sent: u64,
    /// FIRs sent (when the remote's formats take `ccm fir` but not `nack pli`).
    pub firs_sent: u64,
    /// Frames written before the transport could carry them, or that failed to packetize.
    pub frames_not_sent: u64,
}

/// One stream we send: a transceiver's track (or one simulcast layer of it), with its
/// negotiated format.
struct SendStream {
    transceiver: TransceiverId,
    /// The simulcast layer's rid, sent in the rid header extension (`None`: no simulcast).
    rid: Option<String>,
    ssrc: u32,
    codec: Codec,
    payload_type: u8,
    clock_rate: u32,
    packetizer: Box<dyn Packetizer + Send>,
    seq: u16,
    timestamp_offset: u32,
    history: SendHistory,
    rtx: Option<RtxSender>,
    stats: SenderStats,
    mid: String,
    mid_ext: Option<u8>,
    twcc_ext: Option<u8>,
    /// The abs-send-time extension's id, if negotiated.
    abs_send_time_ext: Option<u8>,
    /// The rid extension's id, when the stream has a rid and it was negotiated.
    rid_ext: Option<u8>,
    /// The repaired-rid extension's id, for the stream's RTX packets.
    repaired_rid_ext: Option<u8>,
    rtt: Option<Duration>,
    counters: SendCounters,
    /// The RTP timestamp and time of the last packet sent, where a new forwarded source continues.
    last_sent: Option<(u32, Instant)>,
    /// The forwarded source whose packets [`PeerConnection::write_rtp`] maps into this stream.
    raw_source: Option<super::raw_rtp::RawSource>,
}

/// What a sending stream counted, for `getStats` (`outbound-rtp` and `remote-inbound-rtp`).
#[derive(Debug, Clone, Default)]
pub(super) struct SendCounters {
    /// RTP packets sent, retransmissions included.
    pub(super) packets_sent: u64,
    /// Their payload bytes.
    pub(super) bytes_sent: u64,
    /// Their header (and padding) bytes.
    pub(super) header_bytes_sent: u64,
    /// Packets retransmitted on request.
    pub(super) retransmitted_packets_sent: u64,
    /// Payload bytes of the retransmitted packets.
    pub(super) retransmitted_bytes_sent: u64,
    /// Frames packetized and sent.
    pub(super) frames_sent: u64,
    /// NACK packets received about the stream.
    pub(super) nack_count: u64,
    /// PLI packets received about the stream.
    pub(super) pli_count: u64,
    /// FIR requests received about the stream.
    pub(super) fir_count: u64,
    /// The last report block the remote sent about the stream.
    pub(super) last_report: Option<ReportBlock>,
    /// Report blocks received about the stream.
    pub(super) reports_received: u64,
    /// The sum of the round-trip times measured from report blocks.
    pub(super) total_round_trip_time: Duration,
    /// How many round-trip times were measured.
    pub(super) round_trip_time_measurements: u64,
}

/// What a receiving stream counted, for `getStats` (`inbound-rtp` and `remote-outbound-rtp`).
#[derive(Debug, Clone, Default)]
pub(super) struct ReceiveCounters {
    /// RTP packets received, retransmissions included.
    pub(super) packets_received: u64,
    /// Their payload bytes.
    pub(super) bytes_received: u64,
    /// Their header (and padding) bytes.
    pub(super) header_bytes_received: u64,
    /// When the last packet arrived.
    pub(super) last_packet_received: Option<Instant>,
    /// Frames the jitter buffer put out.
    pub(super) frames_received: u64,
    /// NACK packets sent about the stream.
    pub(super) nack_count: u64,
    /// PLI packets sent about the stream.
    pub(super) pli_count: u64,
    /// FIR requests sent about the stream; the next one's sequence number, modulo 256.
    pub(super) fir_count: u64,
    /// The last sender report from the stream's source: its NTP time, packet and octet counts.
    pub(super) last_sender_report: Option<(NtpTime, u32, u32)>,
    /// Sender reports received from the source.
    pub(super) sender_reports_received: u64,
}

/// A snapshot of one sending stream.
#[derive(Debug, Clone)]
pub(super) struct SendStreamInfo {
    pub(super) transceiver: TransceiverId,
    pub(super) ssrc: u32,
    /// The simulcast layer's rid, if the stream is one.
    pub(super) rid: Option<String>,
    pub(super) payload_type: u8,
    /// The last round-trip time the peer's reports gave.
    pub(super) rtt: Option<Duration>,
    pub(super) counters: SendCounters,
}

/// A snapshot of one receiving stream.
#[derive(Debug, Clone)]
pub(super) struct ReceiveStreamInfo {
    pub(super) transceiver: TransceiverId,
    pub(super) ssrc: u32,
    pub(super) rid: Option<String>,
    pub(super) codec: Option<Codec>,
    /// Packets expected but not received (negative with duplicates).
    pub(super) packets_lost: i64,
    /// The interarrival jitter, in seconds.
    pub(super) jitter: f64,
    pub(super) counters: ReceiveCounters,
}

impl std::fmt::Debug for SendStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SendStream")
            .field("transceiver", &self.transceiver)
            .field("ssrc", &self.ssrc)
            .field("codec", &self.codec)
            .field("payload_type", &self.payload_type)
            .field("seq", &self.seq)
            .finish_non_exhaustive()
    }
}

/// One stream we receive (one remote SSRC).
#[derive(Debug)]
struct ReceiveStream {
    transceiver: TransceiverId,
    ssrc: u32,
    rid: Option<String>,
    codec: Option<Codec>,
    jitter: Option<JitterBuffer>,
    nack: Option<NackTracker>,
    stats: ReceiverStats,
    newest_timestamp: Option<u64>,
    last_keyframe_request: Option<Instant>,
    clock_rate: u32,
    /// The transport-wide sequence number extension's id, if negotiated.
    twcc_ext: Option<u8>,
    /// The SSRC of the RTX stream repairing this one, once known (signalled FID group, or
    /// learned from the first RTX packet that names it).
    rtx_ssrc: Option<u32>,
    counters: ReceiveCounters,
}

/// Unwraps a 32-bit RTP timestamp into a 64-bit one, by its signed distance from the newest.
fn extend_timestamp(newest: &mut Option<u64>, ts: u32) -> u64 {
    let Some(last) = *newest else {
        *newest = Some(u64::from(ts));
        return u64::from(ts);
    };
    let delta = i64::from(ts.wrapping_sub(last as u32) as i32);
    let extended = last.saturating_add_signed(delta);
    if delta > 0 {
        *newest = Some(extended);
    }
    extended
}

/// The media state of a connection.
#[derive(Debug)]
pub(super) struct MediaEngine {
    /// Boxed: the two keyed contexts are most of the engine's size (7 KiB), and a connection
    /// without media never builds them (see [`MediaEngine::prepare_srtp`]).
    srtp: Option<Box<SrtpSession>>,
    /// The keys DTLS exported, until SRTP is first needed.
    srtp_keys: Option<crate::dtls::SrtpKeyingMaterial>,
    senders: Vec<SendStream>,
    receivers: Vec<ReceiveStream>,
    twcc: Option<TwccRecorder>,
    twcc_seq: u16,
    epoch: Instant,
    next_report: Option<Instant>,
    /// Scratch for one plaintext packet (an RTCP packet or retransmission built before protecting,
    /// or a received packet unprotected); empty until first used, then it keeps its capacity.
    plain: Vec<u8>,
    /// Scratch for the packet an RTX packet carries (grown on the first one, as `plain`).
    restored: Vec<u8>,
    pub(super) counters: MediaCounters,
    /// Send-side bandwidth estimation from the peer's transport-wide feedback.
    pub(super) bwe: crate::bwe::SendSideBwe,
    /// Video packets with a transport-wide sequence number, paced at a multiple of the target.
    pub(super) pacer: crate::bwe::Pacer<PacedRtp>,
    /// The target bitrate last announced with `PeerEvent::TargetBitrate`.
    pub(super) announced_target: Option<u64>,
    /// Transceivers whose received RTP packets are raised as `PeerEvent::RtpPacket`.
    pub(super) raw_receivers: Vec<TransceiverId>,
}

impl MediaEngine {
    pub(super) fn new(now: Instant, bwe: crate::bwe::BweConfig) -> MediaEngine {
        let estimator = crate::bwe::SendSideBwe::new(bwe);
        let pacer = crate::bwe::Pacer::new(bwe.pacer, estimator.pacing_bitrate());
        MediaEngine {
            bwe: estimator,
            pacer,
            announced_target: None,
            raw_receivers: Vec::new(),
            srtp: None,
            srtp_keys: None,
            senders: Vec::new(),
            receivers: Vec::new(),
            twcc: None,
            twcc_seq: 0,
            epoch: now,
            next_report: None,
            plain: Vec::new(),
            restored: Vec::new(),
            counters: MediaCounters::default(),
        }
    }

    /// The synthetic NTP wallclock at `now`.
    fn ntp(&self, now: Instant) -> NtpTime {
        NtpTime::from_duration(Duration::from_secs(NTP_BASE_SECS) + now.saturating_duration_since(self.epoch))
    }

    /// Sends a forwarded packet's payload on send stream `index`, its sequence number and
    /// timestamp mapped into the stream's own (see [`map_forwarded`](super::raw_rtp::map_forwarded)).
    pub(super) fn forward_packet(
        &mut self,
        now: Instant,
        index: usize,
        packet: &RtpPacket<'_>,
    ) -> Result<(), RtcError> {
        let Some(stream) = self.senders.get_mut(index) else {
            return Err(RtcError::InvalidState("the sender has no stream".into()));
        };
        let mapped = super::raw_rtp::map_forwarded(
            super::raw_rtp::StreamPosition {
                source: &mut stream.raw_source,
                next_seq: &mut stream.seq,
                last_sent: stream.last_sent,
                clock_rate: stream.clock_rate,
            },
            now,
            packet.ssrc,
            packet.sequence_number,
            packet.timestamp,
        );
        // A video frame ends with a marked packet; every audio packet is a frame.
        let audio = stream.codec.media_type() == Some(crate::jsep::MediaType::Audio);
        if packet.marker || audio {
            stream.counters.frames_sent += 1;
        }
        stream.last_sent = Some((mapped.timestamp, now));
        self.send_packet(
            now,
            index,
            mapped.sequence_number,
            mapped.timestamp,
            packet.marker,
            packet.payload,
        )
    }

    /// Stamps one packet of send stream `index` with the stream's SSRC, payload type and header
    /// extensions (mid, rid, abs-send-time, transport-wide sequence number, as negotiated), keeps it in the send
    /// history, counts it and hands it, protected, to the pacer. `InvalidState` before SRTP is up.
    pub(super) fn send_packet(
        &mut self,
        now: Instant,
        index: usize,
        seq: u16,
        timestamp: u32,
        marker: bool,
        payload: &[u8],
    ) -> Result<(), RtcError> {
        let sent_at = crate::rtp::extension::AbsSendTime::from_ntp(self.ntp(now))
            .0
            .to_be_bytes();
        let (Some(srtp), Some(stream)) = (&mut self.srtp, self.senders.get_mut(index)) else {
            return Err(RtcError::InvalidState("the transport is not connected yet".into()));
        };
        let mut builder = RtpBuilder::new(stream.payload_type, seq, timestamp, stream.ssrc);
        builder.marker = marker;
        let mut twcc_seq = None;
        if let Some(ext) = stream.mid_ext {
            builder.extension(ext, stream.mid.as_bytes());
        }
        if let (Some(ext), Some(rid)) = (stream.rid_ext, &stream.rid) {
            builder.extension(ext, rid.as_bytes());
        }
        if let (Some(ext), Some(time)) = (stream.abs_send_time_ext, sent_at.get(1..)) {
            builder.extension(ext, time);
        }
        if let Some(ext) = stream.twcc_ext {
            builder.extension(ext, &self.twcc_seq.to_be_bytes());
            twcc_seq = Some(self.twcc_seq);
            self.twcc_seq = self.twcc_seq.wrapping_add(1);
        }
        // Built straight into the buffer that becomes the packet's `Transmit`, protected in place.
        let mut packet = Vec::with_capacity(payload.len() + MAX_RTP_HEADER + MAX_OVERHEAD);
        builder
            .write(payload, &mut packet)
            .map_err(|e| RtcError::Operation(format!("RTP: {e}")))?;
        let _ = stream.history.insert(&packet, now);
        stream.stats.on_sent(timestamp, payload.len(), now);
        let header_len = packet.len().saturating_sub(payload.len());
        if let Err(e) = srtp.tx.protect_rtp_in_place(&mut packet) {
            count_srtp_error(&mut self.counters, &e);
            return Ok(());
        }
        self.counters.rtp_sent += 1;
        stream.counters.packets_sent += 1;
        stream.counters.bytes_sent += payload.len() as u64;
        stream.counters.header_bytes_sent += header_len as u64;
        let audio = stream.codec.media_type() == Some(crate::jsep::MediaType::Audio);
        super::congestion::pace(&mut self.pacer, packet, twcc_seq, audio);
        Ok(())
    }

    pub(super) fn poll_timeout(&self) -> Option<Instant> {
        self.srtp.as_ref()?;
        let jitter = self.receivers.iter().filter_map(|r| r.jitter.as_ref()?.poll_timeout());
        let nack = self.receivers.iter().filter_map(|r| r.nack.as_ref()?.poll_timeout());
        let twcc = self.twcc.as_ref().and_then(TwccRecorder::poll_timeout);
        let pacer = self.pacer.poll_timeout();
        jitter
            .chain(nack)
            .chain(twcc)
            .chain(pacer)
            .chain(self.next_report)
            .min()
    }

    /// The SRTP protection profile in use, once DTLS gave keys.
    pub(super) fn srtp_profile(&self) -> Option<crate::dtls::SrtpProfile> {
        let keyed = self.srtp_keys.as_ref().map(|k| k.profile);
        self.srtp.as_ref().map(|s| s.tx.profile()).or(keyed)
    }

    /// Builds the SRTP contexts from the keys DTLS exported, if that has not happened yet: when
    /// DTLS connects with media negotiated, else on the first media packet written or received.
    pub(super) fn prepare_srtp(&mut self, now: Instant) {
        if self.srtp.is_some() {
            return;
        }
        let Some(keys) = self.srtp_keys.take() else { return };
        match SrtpSession::new(&keys) {
            Ok(session) => {
                debug!(profile = %keys.profile, "SRTP keys in place");
                self.srtp = Some(Box::new(session));
                self.next_report = Some(now + REPORT_INTERVAL);
            }
            Err(e) => debug!(error = %e, "SRTP keys unusable"),
        }
    }

    /// A snapshot of every sending stream.
    pub(super) fn send_streams(&self) -> Vec<SendStreamInfo> {
        self.senders
            .iter()
            .map(|s| SendStreamInfo {
                transceiver: s.transceiver,
                ssrc: s.ssrc,
                rid: s.rid.clone(),
                payload_type: s.payload_type,
                rtt: s.rtt,
                counters: s.counters.clone(),
            })
            .collect()
    }

    /// The transceiver of the first stream we receive, if any.
    pub(super) fn first_receiving_transceiver(&self) -> Option<TransceiverId> {
        self.receivers.first().map(|r| r.transceiver)
    }

    /// The SSRCs of the streams we receive.
    pub(super) fn receive_ssrcs(&self) -> impl Iterator<Item = u32> + '_ {
        self.receivers.iter().map(|r| r.ssrc)
    }

    /// A snapshot of every receiving stream.
    pub(super) fn receive_streams(&self) -> Vec<ReceiveStreamInfo> {
        self.receivers
            .iter()
            .map(|r| ReceiveStreamInfo {
                transceiver: r.transceiver,
                ssrc: r.ssrc,
                rid: r.rid.clone(),
                codec: r.codec,
                packets_lost: r.stats.cumulative_lost(),
                jitter: f64::from(r.stats.jitter()) / f64::from(r.clock_rate.max(1)),
                counters: r.counters.clone(),
            })
            .collect()
    }
}

fn count_srtp_error(counters: &mut MediaCounters, e: &SrtpError) {
    match e {
        SrtpError::AuthFailed => counters.srtp_auth_failures += 1,
        SrtpError::Replayed { .. } | SrtpError::TooOld { .. } => counters.srtp_replays += 1,
        _ => counters.srtp_errors += 1,
    }
}

impl PeerConnection {
    /// What the media path has counted.
    pub fn media_counters(&self) -> MediaCounters {
        self.media.counters
    }

    /// DTLS is up: SRTP starts with the exported keys, at once when media is negotiated, else
    /// once media first flows (a data-only connection never pays for the SRTP contexts).
    pub(super) fn start_srtp(&mut self, keys: Option<crate::dtls::SrtpKeyingMaterial>, now: Instant) {
        let media_negotiated = self.transceivers.iter().any(|t| t.negotiated.is_some());
        let Some(keys) = keys else {
            if media_negotiated {
                debug!("DTLS connected without an SRTP profile: media cannot flow");
            }
            return;
        };
        self.media.srtp = None;
        self.media.srtp_keys = Some(keys);
        if media_negotiated {
            self.media.prepare_srtp(now);
        }
    }

    /// `track.write_frame` for every transceiver whose sender carries the track `track_id`.
    pub fn write_track_frame(&mut self, now: Instant, track_id: &str, frame: &MediaFrame) {
        self.write_track_frame_for_rid(now, track_id, None, frame);
    }

    /// [`write_track_frame`](Self::write_track_frame) for one encoding (simulcast layer) of the
    /// senders: see [`write_frame_for_rid`](Self::write_frame_for_rid). A sender without an
    /// encoding of that rid skips the frame.
    pub fn write_track_frame_for_rid(&mut self, now: Instant, track_id: &str, rid: Option<&str>, frame: &MediaFrame) {
        self.write_to_track(track_id, |pc, id| pc.write_frame_for_rid(now, id, rid, frame));
    }

    /// Calls `write` for every transceiver whose sender carries the track `track_id` (a runtime's
    /// track fan-out); errors are logged, not returned.
    pub(super) fn write_to_track(
        &mut self,
        track_id: &str,
        mut write: impl FnMut(&mut Self, TransceiverId) -> Result<bool, RtcError>,
    ) {
        for index in 0..self.transceivers.len() {
            let Some(id) = self
                .transceivers
                .get(index)
                .filter(|t| t.track.as_ref().is_some_and(|track| track.id == track_id))
                .map(|t| t.id)
            else {
                continue;
            };
            if let Err(e) = write(self, id) {
                trace!(error = %e, %id, "not sent");
            }
        }
    }

    /// Runs one write of the application's (a frame or a raw packet): refused once the connection
    /// is closed, and counted in `frames_not_sent` when it fails.
    pub(super) fn write_counted(
        &mut self,
        write: impl FnOnce(&mut Self) -> Result<bool, RtcError>,
    ) -> Result<bool, RtcError> {
        let result = if self.closed {
            Err(super::closed_error())
        } else {
            write(self)
        };
        if result.is_err() {
            self.media.counters.frames_not_sent += 1;
        }
        result
    }

    /// The send stream of the transceiver's encoding `rid`, with SRTP in place (see
    /// [`send_stream`](Self::send_stream)): `None` when that encoding is not sent, `InvalidState`
    /// before the transport is up.
    pub(super) fn ready_send_stream(
        &mut self,
        now: Instant,
        id: TransceiverId,
        rid: Option<&str>,
    ) -> Result<Option<usize>, RtcError> {
        let Some(index) = self.send_stream(id, rid)? else {
            trace!(%id, ?rid, "encoding not sent (inactive or not accepted)");
            return Ok(None);
        };
        self.media.prepare_srtp(now);
        if self.media.srtp.is_none() {
            return Err(RtcError::InvalidState("the transport is not connected yet".into()));
        }
        Ok(Some(index))
    }

    /// Sends one encoded frame of the transceiver's track, on its first encoding (the only one
    /// without simulcast). See [`write_frame_for_rid`](Self::write_frame_for_rid).
    ///
    /// `InvalidStateError` before the transport is up or when the transceiver does not send,
    /// `OperationError` when the track's codec was not negotiated or the frame cannot be packetized.
    pub fn write_frame(&mut self, now: Instant, id: TransceiverId, frame: &MediaFrame) -> Result<(), RtcError> {
        self.write_frame_for_rid(now, id, None, frame).map(|_| ())
    }

    /// Sends one encoded frame for the encoding (simulcast layer) `rid` of the transceiver's
    /// sender; `None` is the first encoding. The application encodes each layer itself (at the
    /// encoding's `scale_resolution_down_by`, `max_bitrate`, …) and writes each layer's frames
    /// with its rid; every layer is its own RTP stream with its own SSRC, sequence numbers,
    /// timestamps, send history and RTX stream.
    ///
    /// Frames of an encoding that is not `active`, or that the remote did not accept (an answer
    /// without that rid in `a=simulcast:recv`), are not sent: `Ok(false)`. `Ok(true)` when the
    /// frame went out. A PLI or FIR about a layer's SSRC raises [`PeerEvent::KeyframeRequested`]
    /// naming the transceiver and that layer's rid: answer it with a keyframe on that layer.
    /// `InvalidAccessError` for a rid the sender has no encoding for; the other
    /// errors are [`write_frame`](Self::write_frame)'s.
    pub fn write_frame_for_rid(
        &mut self,
        now: Instant,
        id: TransceiverId,
        rid: Option<&str>,
        frame: &MediaFrame,
    ) -> Result<bool, RtcError> {
        self.write_counted(|pc| pc.write_frame_inner(now, id, rid, frame))
    }

    fn write_frame_inner(
        &mut self,
        now: Instant,
        id: TransceiverId,
        rid: Option<&str>,
        frame: &MediaFrame,
    ) -> Result<bool, RtcError> {
        let Some(index) = self.ready_send_stream(now, id, rid)? else {
            return Ok(false);
        };
        let Some(stream) = self.media.senders.get_mut(index) else {
            return Err(RtcError::InvalidState(format!("{id} does not send")));
        };
        // Frames continue the stream's own numbering; a forwarded source starts anew after them.
        stream.raw_source = None;
        let ticks = u64::try_from(frame.pts.as_nanos() * u128::from(stream.clock_rate) / 1_000_000_000).unwrap_or(0);
        let timestamp = stream.timestamp_offset.wrapping_add(ticks as u32);
        let payloads = stream
            .packetizer
            .packetize(&frame.data, timestamp, MAX_RTP_PAYLOAD)
            .map_err(|e| RtcError::Operation(format!("{}: {e}", stream.codec)))?;
        let mut seq = stream.seq;
        stream.seq = seq.wrapping_add(payloads.len() as u16);
        stream.counters.frames_sent += 1;
        stream.last_sent = Some((timestamp, now));
        for payload in payloads {
            // The packetizer marks the last packet of a video frame (RFC 3551 §4.1 for audio: never).
            self.media
                .send_packet(now, index, seq, timestamp, payload.marker, &payload.data)?;
            seq = seq.wrapping_add(1);
        }
        self.flush_pacer(now);
        Ok(true)
    }

    /// The index of the send stream of the transceiver's encoding `rid` (`None`: the first),
    /// made (or remade) for what was negotiated; `None` when that encoding is not sent (inactive,
    /// or not among the layers the remote accepted).
    pub(super) fn send_stream(&mut self, id: TransceiverId, rid: Option<&str>) -> Result<Option<usize>, RtcError> {
        let t = self
            .transceivers
            .get(id.0)
            .ok_or_else(|| RtcError::InvalidAccess(format!("no {id} on this connection")))?;
        let sends = t.direction.sends() && t.current_direction.is_some_and(|d| d.sends());
        if !sends {
            return Err(RtcError::InvalidState(format!("{id} does not send")));
        }
        let (Some(format), Some(negotiated), Some(mid)) = (t.send_format(), &t.negotiated, &t.mid) else {
            let codec = t
                .track
                .as_ref()
                .map(|track| track.codec.to_string())
                .unwrap_or_default();
            return Err(RtcError::Operation(format!("{id}: codec {codec} was not negotiated")));
        };
        if rid.is_some() && t.encoding(rid).is_none() {
            return Err(RtcError::InvalidAccess(format!(
                "{id} has no encoding with rid {rid:?}"
            )));
        }
        // Without simulcast only the first encoding is sent, as one stream without a rid.
        let layer_rid = match (negotiated.send_rids.as_slice(), rid) {
            ([], None) => None,
            ([], Some(rid)) if t.encodings.first().and_then(|e| e.params.rid.as_deref()) == Some(rid) => None,
            ([], Some(_)) => return Ok(None),
            ([first, ..], None) => Some(first.as_str()),
            (rids, Some(rid)) if rids.iter().any(|r| r == rid) => Some(rid),
            (_, Some(_)) => return Ok(None),
        };
        let Some(encoding) = t.encoding(layer_rid.or(rid)) else {
            return Ok(None);
        };
        if !encoding.params.active {
            return Ok(None);
        }
        let (ssrc, rtx_ssrc) = (encoding.ssrc, encoding.rtx_ssrc);
        let existing = self
            .media
            .senders
            .iter()
            .position(|s| s.transceiver == id && s.ssrc == ssrc);
        if let Some(index) = existing {
            let s = &self.media.senders[index];
            if s.payload_type == format.payload_type && s.codec == format.codec {
                return Ok(Some(index));
            }
        }
        let packetizer = format.codec.packetizer();
        let stream = SendStream {
            transceiver: id,
            rid: layer_rid.map(str::to_string),
            ssrc,
            codec: format.codec,
            payload_type: format.payload_type,
            clock_rate: format.clock_rate,
            packetizer,
            seq: crate::rand::u64() as u16,
            timestamp_offset: crate::rand::u64() as u32,
            history: SendHistory::new(HISTORY_PACKETS, HISTORY_BYTES),
            rtx: format
                .rtx_payload_type
                .map(|pt| RtxSender::new(pt, rtx_ssrc, crate::rand::u64() as u16)),
            stats: SenderStats::new(ssrc, format.clock_rate),
            mid: mid.clone(),
            mid_ext: extension_id(negotiated, extension::MID),
            twcc_ext: extension_id(negotiated, extension::TRANSPORT_CC),
            abs_send_time_ext: extension_id(negotiated, extension::ABS_SEND_TIME),
            rid_ext: layer_rid.and_then(|_| extension_id(negotiated, extension::RTP_STREAM_ID)),
            repaired_rid_ext: layer_rid.and_then(|_| extension_id(negotiated, extension::REPAIRED_RTP_STREAM_ID)),
            rtt: None,
            counters: SendCounters::default(),
            last_sent: None,
            raw_source: None,
        };
        match existing {
            Some(index) => {
                // A new format keeps the stream's sequence and timestamp continuity.
                let old = std::mem::replace(&mut self.media.senders[index], stream);
                let s = &mut self.media.senders[index];
                s.seq = old.seq;
                s.timestamp_offset = old.timestamp_offset;
                s.counters = old.counters;
                s.last_sent = old.last_sent;
                s.raw_source = old.raw_source;
                Ok(Some(index))
            }
            None => {
                self.media.senders.push(stream);
                Ok(Some(self.media.senders.len() - 1))
            }
        }
    }

    /// Asks the sender of the transceiver's remote track for a keyframe on every stream it
    /// sends us (each simulcast layer): with PLI, or with FIR (RFC 5104 §4.3.1) when the
    /// negotiated formats take `ccm fir` but not `nack pli`.
    pub fn request_keyframe(&mut self, id: TransceiverId) {
        self.request_keyframes(id, None);
    }

    /// Asks the remote sender for a keyframe on one simulcast layer only, the stream whose rid
    /// is `rid` (what an SFU does when one subscriber of that layer needs a refresh). Nothing
    /// is sent when no stream of that rid has arrived.
    pub fn request_keyframe_for_rid(&mut self, id: TransceiverId, rid: &str) {
        self.request_keyframes(id, Some(rid));
    }

    /// PLI or FIR for the transceiver's receive streams, or only the one of layer `only`.
    fn request_keyframes(&mut self, id: TransceiverId, only: Option<&str>) {
        let Some(t) = self.transceivers.get(id.0) else {
            return;
        };
        let sender_ssrc = t.ssrc;
        let by_fir = t.negotiated.as_ref().is_some_and(|n| n.keyframe_by_fir);
        let ssrcs: Vec<u32> = self
            .media
            .receivers
            .iter()
            .filter(|r| r.transceiver == id && only.is_none_or(|rid| r.rid.as_deref() == Some(rid)))
            .map(|r| r.ssrc)
            .collect();
        for media_ssrc in ssrcs {
            let Some(r) = self.media.receivers.iter_mut().find(|r| r.ssrc == media_ssrc) else {
                continue;
            };
            let packet = if by_fir {
                // Each new request takes the next sequence number (§4.3.1.2).
                let seq_nr = (r.counters.fir_count % 256) as u8;
                r.counters.fir_count += 1;
                self.media.counters.firs_sent += 1;
                RtcpPacket::Fir(Fir {
                    sender_ssrc,
                    entries: vec![FirEntry {
                        ssrc: media_ssrc,
                        seq_nr,
                    }],
                })
            } else {
                r.counters.pli_count += 1;
                self.media.counters.plis_sent += 1;
                RtcpPacket::Pli(Pli {
                    sender_ssrc,
                    media_ssrc,
                })
            };
            self.send_rtcp(&[packet]);
        }
    }

    /// An SRTP or SRTCP datagram from a checked path.
    pub(super) fn handle_srtp(&mut self, now: Instant, datagram: &[u8]) {
        self.media.prepare_srtp(now);
        let Some(srtp) = &mut self.media.srtp else {
            self.drops.rtp += 1;
            return;
        };
        let mut plain = std::mem::take(&mut self.media.plain);
        if is_rtcp(datagram) {
            match srtp.rx.unprotect_rtcp(datagram, &mut plain) {
                Ok(()) => {
                    self.media.counters.rtcp_received += 1;
                    self.handle_rtcp(now, &plain);
                }
                Err(e) => count_srtp_error(&mut self.media.counters, &e),
            }
        } else {
            match srtp.rx.unprotect_rtp(datagram, &mut plain) {
                Ok(()) => {
                    self.media.counters.rtp_received += 1;
                    self.handle_rtp(now, &plain, 0);
                }
                Err(e) => count_srtp_error(&mut self.media.counters, &e),
            }
        }
        self.media.plain = plain;
    }

    fn handle_rtp(&mut self, now: Instant, plain: &[u8], depth: u8) {
        let Ok(packet) = RtpPacket::parse(plain) else {
            self.media.counters.malformed += 1;
            return;
        };
        let index = match self.media.receivers.iter().position(|r| r.ssrc == packet.ssrc) {
            Some(index) => Some(index),
            None => self.claim_stream(&packet),
        };
        let Some(index) = index else {
            // Maybe RTX repairing a stream we know.
            if depth == 0 {
                self.handle_rtx(now, &packet, plain);
            } else {
                self.media.counters.unknown_stream += 1;
            }
            return;
        };
        let Some(stream) = self.media.receivers.get(index) else {
            return;
        };
        let Some(t) = self.transceivers.get(stream.transceiver.0) else {
            return;
        };
        let Some(negotiated) = &t.negotiated else { return };
        let Some(format) = negotiated.format(packet.payload_type) else {
            self.media.counters.unknown_stream += 1;
            return;
        };
        if format.codec == Codec::Rtx {
            // An RTX packet on a stream we took for media (no SSRC signalled): unwrap it.
            if depth == 0 {
                self.handle_rtx(now, &packet, plain);
            }
            return;
        }
        let codec = format.codec;
        let deliver = t.track_fired;
        let unmutes = t.track_fired && t.receiver_muted;
        let id = t.id;
        let sender_ssrc = t.ssrc;
        // The rid is copied into a raw packet only for a transceiver that asked for them.
        let raw_rid = (deliver && self.media.raw_receivers.contains(&id)).then(|| stream.rid.clone());
        if let Some(seq) = stream
            .twcc_ext
            .and_then(|ext| packet.extension_data(ext))
            .and_then(|d| d.get(..2))
        {
            let seq = u16::from_be_bytes([seq[0], seq[1]]);
            let twcc = self
                .media
                .twcc
                .get_or_insert_with(|| TwccRecorder::new(sender_ssrc, packet.ssrc, TwccConfig::default()));
            twcc.on_received(seq, now);
        }
        if unmutes {
            // The first RTP of an announced track: `unmute` (before its first frame).
            if let Some(t) = self.transceivers.get_mut(id.0) {
                t.receiver_muted = false;
            }
            self.push_event(PeerEvent::TrackUnmuted(id));
        }
        if let Some(rid) = raw_rid {
            self.deliver_raw(id, codec, rid, &packet, plain);
        }
        let Some(stream) = self.media.receivers.get_mut(index) else {
            return;
        };
        stream.stats.on_packet(packet.sequence_number, packet.timestamp, now);
        stream.counters.packets_received += 1;
        stream.counters.bytes_received += packet.payload.len() as u64;
        stream.counters.header_bytes_received += plain.len().saturating_sub(packet.payload.len()) as u64;
        stream.counters.last_packet_received = Some(now);
        if let Some(nack) = &mut stream.nack {
            nack.on_received(packet.sequence_number, now);
        }
        if stream.codec != Some(codec) {
            stream.codec = Some(codec);
            stream.jitter = Some(JitterBuffer::new(codec));
        }
        if let Some(jitter) = &mut stream.jitter {
            jitter.insert(
                packet.sequence_number,
                packet.timestamp,
                packet.marker,
                Bytes::copy_from_slice(packet.payload),
                now,
            );
        }
        self.drain_frames(now, index, id, deliver);
    }

    /// An RTX packet (RFC 4588): restores the original and handles it.
    fn handle_rtx(&mut self, now: Instant, packet: &RtpPacket<'_>, plain: &[u8]) {
        // The transceiver whose negotiated formats make this payload type RTX.
        let found = self.transceivers.iter().find_map(|t| {
            let format = t.negotiated.as_ref()?.format(packet.payload_type)?;
            (format.codec == Codec::Rtx).then_some((t.id, format.primary?))
        });
        let Some((id, primary_pt)) = found else {
            self.media.counters.unknown_stream += 1;
            return;
        };
        // The repaired stream: the one this RTX SSRC is known to repair, else the layer the
        // repaired-rid extension names (simulcast, RFC 8852), else the transceiver's only stream.
        let known = self
            .media
            .receivers
            .iter()
            .position(|r| r.rtx_ssrc == Some(packet.ssrc));
        let repaired_rid = self
            .transceivers
            .get(id.0)
            .and_then(|t| extension_id(t.negotiated.as_ref()?, extension::REPAIRED_RTP_STREAM_ID))
            .and_then(|ext| packet.extension_data(ext));
        let of_transceiver = |r: &ReceiveStream| r.transceiver == id && r.rtx_ssrc.is_none();
        let by_rid = || {
            let rid = repaired_rid?;
            self.media
                .receivers
                .iter()
                .position(|r| of_transceiver(r) && r.rid.as_deref().map(str::as_bytes) == Some(rid))
        };
        let only = || {
            let mut streams = self
                .media
                .receivers
                .iter()
                .enumerate()
                .filter(|(_, r)| of_transceiver(r));
            match (streams.next(), streams.next()) {
                (Some((index, _)), None) => Some(index),
                _ => None,
            }
        };
        let Some(index) = known.or_else(by_rid).or_else(only) else {
            self.media.counters.unknown_stream += 1;
            return;
        };
        let Some(stream) = self.media.receivers.get_mut(index) else {
            return;
        };
        stream.rtx_ssrc = Some(packet.ssrc);
        let primary_ssrc = stream.ssrc;
        let mut restored = std::mem::take(&mut self.media.restored);
        restored.clear();
        // Padding-only RTX (bandwidth probing) carries no OSN: nothing to restore.
        if unwrap_rtx(plain, primary_pt, primary_ssrc, &mut restored).is_ok() {
            self.handle_rtp(now, &restored, 1);
        }
        self.media.restored = restored;
    }

    /// A new remote SSRC: which transceiver's receiver does it belong to?
    fn claim_stream(&mut self, packet: &RtpPacket<'_>) -> Option<usize> {
        if self.media.receivers.len() >= MAX_RECEIVE_STREAMS {
            return None;
        }
        let receiving = |t: &&Transceiver| t.current_direction.is_some_and(|d| d.receives()) && t.negotiated.is_some();
        let by_mid = self.transceivers.iter().filter(receiving).find(|t| {
            let (Some(n), Some(mid)) = (&t.negotiated, &t.mid) else {
                return false;
            };
            extension_id(n, extension::MID)
                .and_then(|ext| packet.extension_data(ext))
                .is_some_and(|value| value == mid.as_bytes())
        });
        let by_ssrc = || {
            self.transceivers.iter().filter(receiving).find(|t| {
                t.negotiated
                    .as_ref()
                    .is_some_and(|n| n.remote_ssrcs.contains(&packet.ssrc))
            })
        };
        let by_payload_type = || {
            let mut candidates = self.transceivers.iter().filter(receiving).filter(|t| {
                t.negotiated
                    .as_ref()
                    .and_then(|n| n.format(packet.payload_type))
                    .is_some_and(|f| f.codec != Codec::Rtx)
            });
            let first = candidates.next();
            if candidates.next().is_some() {
                None
            } else {
                first
            }
        };
        let t = by_mid.or_else(by_ssrc).or_else(by_payload_type)?;
        let negotiated = t.negotiated.as_ref()?;
        let format = negotiated.format(packet.payload_type)?;
        if format.codec == Codec::Rtx {
            return None;
        }
        let rid = extension_id(negotiated, extension::RTP_STREAM_ID)
            .and_then(|ext| packet.extension_data(ext))
            .and_then(|v| std::str::from_utf8(v).ok())
            .map(str::to_string);
        let video = format.codec.media_type() == Some(crate::jsep::MediaType::Video);
        let rtx_ssrc = self.remote.as_ref().and_then(|r| {
            let section = r.sections.iter().find(|s| s.mid.is_some() && s.mid == t.mid)?;
            section.media.as_ref()?.rtx_ssrc_for(packet.ssrc)
        });
        debug!(ssrc = packet.ssrc, mid = ?t.mid, ?rid, "new receive stream");
        self.media.receivers.push(ReceiveStream {
            transceiver: t.id,
            ssrc: packet.ssrc,
            rid,
            codec: None,
            jitter: None,
            nack: video.then(|| NackTracker::new(t.ssrc, packet.ssrc, NackConfig::default())),
            stats: ReceiverStats::new(packet.ssrc, format.clock_rate),
            newest_timestamp: None,
            last_keyframe_request: None,
            clock_rate: format.clock_rate,
            twcc_ext: extension_id(negotiated, extension::TRANSPORT_CC),
            rtx_ssrc,
            counters: ReceiveCounters::default(),
        });
        Some(self.media.receivers.len() - 1)
    }

    /// Hands out the frames the stream's jitter buffer has ready, and asks for a keyframe when
    /// it cannot decode on.
    fn drain_frames(&mut self, now: Instant, index: usize, id: TransceiverId, deliver: bool) {
        let mut frames = Vec::new();
        let mut want_keyframe = false;
        let Some(stream) = self.media.receivers.get_mut(index) else {
            return;
        };
        let (Some(codec), Some(jitter)) = (stream.codec, &mut stream.jitter) else {
            return;
        };
        while let Some(frame) = jitter.poll_frame(now) {
            frames.push(ReceivedFrame {
                rtp_timestamp: extend_timestamp(&mut stream.newest_timestamp, frame.timestamp),
                data: frame.data,
                codec,
                keyframe: frame.keyframe,
                rid: stream.rid.clone(),
            });
        }
        let due = stream
            .last_keyframe_request
            .is_none_or(|at| now.saturating_duration_since(at) >= KEYFRAME_REQUEST_INTERVAL);
        if jitter.needs_keyframe() && due {
            stream.last_keyframe_request = Some(now);
            want_keyframe = true;
        }
        stream.counters.frames_received += frames.len() as u64;
        if deliver {
            for frame in frames {
                self.push_event(PeerEvent::Frame(id, frame));
            }
        }
        if want_keyframe {
            self.request_keyframe(id);
        }
    }

    fn handle_rtcp(&mut self, now: Instant, plain: &[u8]) {
        let packets = match RtcpPacket::parse_compound(plain) {
            Ok(packets) => packets,
            Err(e) => {
                trace!(error = %e, "malformed RTCP");
                self.media.counters.malformed += 1;
                return;
            }
        };
        for packet in packets {
            match packet {
                RtcpPacket::SenderReport(sr) => {
                    if let Some(r) = self.media.receivers.iter_mut().find(|r| r.ssrc == sr.ssrc) {
                        r.stats.on_sender_report(sr.ntp_time, now);
                        r.counters.last_sender_report = Some((sr.ntp_time, sr.packet_count, sr.octet_count));
                        r.counters.sender_reports_received += 1;
                    }
                    self.handle_report_blocks(now, &sr.reports);
                }
                RtcpPacket::ReceiverReport(rr) => self.handle_report_blocks(now, &rr.reports),
                RtcpPacket::Nack(nack) => {
                    self.count_feedback(nack.media_ssrc, |c| c.nack_count += 1);
                    self.retransmit(&nack, now);
                }
                RtcpPacket::Pli(pli) => {
                    self.count_feedback(pli.media_ssrc, |c| c.pli_count += 1);
                    self.keyframe_requested(pli.media_ssrc);
                }
                RtcpPacket::Fir(fir) => {
                    for entry in &fir.entries {
                        self.count_feedback(entry.ssrc, |c| c.fir_count += 1);
                        self.keyframe_requested(entry.ssrc);
                    }
                }
                RtcpPacket::TransportCc(feedback) => self.on_transport_feedback(&feedback, now),
                RtcpPacket::Remb(remb) => self.on_remb(&remb),
                _ => {}
            }
        }
    }

    /// Counts a feedback message about one of our sending streams.
    fn count_feedback(&mut self, ssrc: u32, count: impl FnOnce(&mut SendCounters)) {
        if let Some(s) = self.media.senders.iter_mut().find(|s| s.ssrc == ssrc) {
            count(&mut s.counters);
        }
    }

    fn keyframe_requested(&mut self, ssrc: u32) {
        if let Some(s) = self.media.senders.iter().find(|s| s.ssrc == ssrc) {
            let event = PeerEvent::KeyframeRequested(s.transceiver, s.rid.clone());
            self.push_event(event);
        }
    }

    fn handle_report_blocks(&mut self, now: Instant, blocks: &[ReportBlock]) {
        let arrival = self.media.ntp(now);
        for block in blocks {
            let Some(sender) = self.media.senders.iter_mut().find(|s| s.ssrc == block.ssrc) else {
                continue;
            };
            sender.counters.last_report = Some(*block);
            sender.counters.reports_received += 1;
            if let Some(rtt) = rtt_from_report(block, arrival) {
                self.media.bwe.on_rtt(rtt);
                sender.rtt = Some(rtt);
                sender.counters.total_round_trip_time += rtt;
                sender.counters.round_trip_time_measurements += 1;
                for r in &mut self.media.receivers {
                    if let Some(nack) = &mut r.nack {
                        nack.set_rtt(rtt);
                    }
                }
            }
        }
    }

    /// Answers a NACK from the send history, over RTX when it was negotiated.
    fn retransmit(&mut self, nack: &Nack, now: Instant) {
        let Some(srtp) = &mut self.media.srtp else { return };
        let Some(stream) = self.media.senders.iter_mut().find(|s| s.ssrc == nack.media_ssrc) else {
            return;
        };
        for seq in nack.pairs.iter().flat_map(|p| p.seqs()) {
            let Some(stored) = stream.history.get(seq) else {
                continue;
            };
            self.media.plain.clear();
            let built = match &mut stream.rtx {
                Some(rtx) => rtx.wrap(stored.data, &mut self.media.plain).is_ok(),
                None => {
                    self.media.plain.extend_from_slice(stored.data);
                    true
                }
            };
            // A simulcast layer's RTX packet names the layer it repairs (RFC 8852 §3.2) instead
            // of carrying the layer's rid.
            let mut restored = false;
            if let (true, Some(_), Some(rid), Some(ext)) = (built, &stream.rtx, &stream.rid, stream.repaired_rid_ext) {
                self.media.restored.clear();
                let plain = &self.media.plain;
                if with_repaired_rid(plain, stream.rid_ext, ext, rid, &mut self.media.restored).is_err() {
                    continue;
                }
                restored = true;
            }
            let plain = if restored {
                &mut self.media.restored
            } else {
                &mut self.media.plain
            };
            // A retransmission is a new packet to the congestion controller: a fresh transport-wide
            // sequence number, so the original's loss is not masked and its late arrival is not
            // mistaken for queueing delay.
            let twcc_seq = stream
                .twcc_ext
                .filter(|_| built)
                .and_then(|ext| super::congestion::restamp_twcc(plain, ext, &mut self.media.twcc_seq));
            let mut packet = Vec::with_capacity(plain.len() + MAX_OVERHEAD);
            if !built || srtp.tx.protect_rtp(plain, &mut packet).is_err() {
                continue;
            }
            if let Some(seq) = twcc_seq {
                self.media.bwe.on_packet_sent(seq, packet.len(), now);
            }
            self.media.counters.retransmitted += 1;
            self.media.counters.rtp_sent += 1;
            let (payload, header) = RtpPacket::parse(stored.data)
                .map(|p| (p.payload.len(), stored.data.len().saturating_sub(p.payload.len())))
                .unwrap_or((0, stored.data.len()));
            stream.counters.packets_sent += 1;
            stream.counters.bytes_sent += payload as u64;
            stream.counters.header_bytes_sent += header as u64;
            stream.counters.retransmitted_packets_sent += 1;
            stream.counters.retransmitted_bytes_sent += payload as u64;
            queue_transmit(&self.ice, &mut self.transmits, packet);
        }
    }

    /// Protects and sends one RTCP compound packet.
    pub(super) fn send_rtcp(&mut self, packets: &[RtcpPacket]) {
        let Some(srtp) = &mut self.media.srtp else { return };
        self.media.plain.clear();
        if RtcpPacket::write_compound(packets, &mut self.media.plain).is_err() {
            return;
        }
        let mut packet = Vec::with_capacity(self.media.plain.len() + MAX_OVERHEAD);
        if let Err(e) = srtp.tx.protect_rtcp(&self.media.plain, &mut packet) {
            count_srtp_error(&mut self.media.counters, &e);
            return;
        }
        self.media.counters.rtcp_sent += 1;
        queue_transmit(&self.ice, &mut self.transmits, packet);
    }

    /// Media timers: reports, NACKs, jitter-buffer deadlines, transport-wide feedback.
    pub(super) fn media_timeout(&mut self, now: Instant) {
        if self.media.srtp.is_none() {
            return;
        }
        self.flush_pacer(now);
        for index in 0..self.media.receivers.len() {
            let Some(r) = self.media.receivers.get(index) else {
                continue;
            };
            let id = r.transceiver;
            let deliver = self.transceivers.get(id.0).is_some_and(|t| t.track_fired);
            self.drain_frames(now, index, id, deliver);
            let nack = self
                .media
                .receivers
                .get_mut(index)
                .and_then(|r| r.nack.as_mut())
                .and_then(|n| n.poll_nack(now));
            if let Some(nack) = nack {
                self.media.counters.nacks_sent += 1;
                if let Some(r) = self.media.receivers.get_mut(index) {
                    r.counters.nack_count += 1;
                }
                self.send_rtcp(&[RtcpPacket::Nack(nack)]);
            }
        }
        if let Some(feedback) = self.media.twcc.as_mut().and_then(|t| t.poll_feedback(now)) {
            self.send_rtcp(&[RtcpPacket::TransportCc(feedback)]);
        }
        if self.media.next_report.is_some_and(|at| at <= now) {
            self.media.next_report = Some(now + REPORT_INTERVAL);
            self.send_reports(now);
        }
    }

    /// One compound report: SR per sending stream (or an RR), report blocks for what we receive,
    /// and our CNAME.
    fn send_reports(&mut self, now: Instant) {
        if self.media.senders.is_empty() && self.media.receivers.is_empty() {
            return;
        }
        let ntp = self.media.ntp(now);
        let blocks: Vec<ReportBlock> = self
            .media
            .receivers
            .iter_mut()
            .filter_map(|r| r.stats.report_block(now))
            .take(31)
            .collect();
        let mut packets = Vec::new();
        let mut blocks = Some(blocks);
        for s in &self.media.senders {
            let mut sr = s.stats.sender_report(ntp, now);
            if let Some(blocks) = blocks.take() {
                sr.reports = blocks;
            }
            packets.push(RtcpPacket::SenderReport(sr));
        }
        let own_ssrc = self
            .media
            .senders
            .first()
            .map(|s| s.ssrc)
            .or_else(|| {
                let first = self.media.receivers.first()?;
                self.transceivers.get(first.transceiver.0).map(|t| t.ssrc)
            })
            .unwrap_or(1);
        if let Some(reports) = blocks {
            packets.push(RtcpPacket::ReceiverReport(ReceiverReport {
                ssrc: own_ssrc,
                reports,
            }));
        }
        packets.push(RtcpPacket::Sdes(Sdes::cname(own_ssrc, &self.cname)));
        self.send_rtcp(&packets);
    }
}

/// Rewrites an RTX packet of a simulcast layer into `out` naming the layer it repairs: the rid
/// extension (`rid_ext`) gives way to the repaired-rid one; the others (mid, abs-send-time, the
/// transport-wide sequence number the retransmission is restamped with) are kept.
fn with_repaired_rid(
    rtx: &[u8],
    rid_ext: Option<u8>,
    repaired_rid_ext: u8,
    rid: &str,
    out: &mut Vec<u8>,
) -> Result<usize, crate::rtp::RtpError> {
    let packet = RtpPacket::parse(rtx)?;
    let mut builder = RtpBuilder::new(
        packet.payload_type,
        packet.sequence_number,
        packet.timestamp,
        packet.ssrc,
    );
    builder.marker = packet.marker;
    for element in packet.extensions().filter(|e| Some(e.id) != rid_ext) {
        builder.extension(element.id, element.data);
    }
    builder.extension(repaired_rid_ext, rid.as_bytes());
    builder.write(packet.payload, out)
}

/// The id a negotiated section gives a header extension, if it fits RTP's 8 bits.
fn extension_id(negotiated: &NegotiatedMedia, uri: &str) -> Option<u8> {
    negotiated.extension_id(uri).and_then(|id| u8::try_from(id).ok())
}

/// Queues a protected packet to the peer over the selected pair.
pub(super) fn queue_transmit(
    ice: &crate::ice::IceAgent,
    transmits: &mut std::collections::VecDeque<crate::net::Transmit>,
    contents: Vec<u8>,
) {
    let Some((source, destination)) = ice.selected_pair() else {
        return;
    };
    if transmits.len() >= MAX_QUEUED_TRANSMITS {
        transmits.pop_front();
    }
    transmits.push_back(crate::net::Transmit {
        source,
        destination,
        contents,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_layer_s_rtx_packet_names_the_layer_it_repairs_and_keeps_its_other_extensions() {
        let mut builder = RtpBuilder::new(97, 5, 9000, 0x1234);
        builder.marker = true;
        builder
            .extension(4, b"0")
            .extension(10, b"h")
            .extension(3, &[0x00, 0x07]);
        let mut rtx = Vec::new();
        builder.write(b"osn+payload", &mut rtx).unwrap();
        let mut out = Vec::new();
        with_repaired_rid(&rtx, Some(10), 11, "h", &mut out).unwrap();
        let packet = RtpPacket::parse(&out).unwrap();
        assert_eq!(packet.extension_data(10), None);
        assert_eq!(packet.extension_data(11), Some(&b"h"[..]));
        assert_eq!(packet.extension_data(4), Some(&b"0"[..]));
        // The transport-wide sequence number stays, so the retransmission can be restamped.
        let mut next = 40;
        assert_eq!(super::super::congestion::restamp_twcc(&mut out, 3, &mut next), Some(40));
        let packet = RtpPacket::parse(&out).unwrap();
        assert_eq!(packet.extension_data(3), Some(&[0x00, 0x28][..]));
        assert_eq!(
            (
                packet.payload_type,
                packet.sequence_number,
                packet.timestamp,
                packet.ssrc,
                packet.marker
            ),
            (97, 5, 9000, 0x1234, true)
        );
        assert_eq!(packet.payload, b"osn+payload");
    }
}
