//! [`PeerConnection::get_stats`]: a W3C webrtc-stats report of the connection.
//!
//! Ids are stable for the life of the connection and built from what they describe, in the
//! manner browsers use: `P` (the connection), `T01` (the one bundled transport), `IL<n>`/`IR<n>`
//! (local/remote candidates by index), `CP<l>_<r>` (pairs), `CF<fingerprint>` (certificates),
//! `COT01_<pt>`/`CIT01_<pt>` (codecs we send/receive with), `OT01<A|V><ssrc>`/`IT01<A|V><ssrc>`
//! (outbound/inbound RTP), `RI<A|V><ssrc>`/`RO<A|V><ssrc>` (remote-inbound/outbound), `S<n>` (media
//! sources, by transceiver) and `D<n>` (data channels).

use std::time::Instant;

use crate::datachannel::DataChannelState;
use crate::dtls::{DtlsRole, DtlsState, DtlsVersion};
use crate::ice::{
    CandidateAddress, CandidateKind, CandidatePairInfo, CandidatePairState, IceConnectionState, IceRole,
    TransportProtocol,
};
use crate::jsep::{Codec, MediaType};
use crate::peer::transceiver::TransceiverId;
use crate::stats::*;

use super::PeerConnection;

/// The id of the one (bundled) transport.
const TRANSPORT_ID: &str = "T01";

/// Which part of the connection [`PeerConnection::get_stats_for`] reports on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StatsSelector {
    /// `sender.getStats()`: the transceiver's outbound streams and what they refer to.
    Sender(TransceiverId),
    /// `receiver.getStats()`: the transceiver's inbound streams and what they refer to.
    Receiver(TransceiverId),
}

fn kind_of(kind: MediaType) -> StatsMediaKind {
    match kind {
        MediaType::Audio => StatsMediaKind::Audio,
        MediaType::Video => StatsMediaKind::Video,
    }
}

fn kind_letter(kind: MediaType) -> char {
    match kind {
        MediaType::Audio => 'A',
        MediaType::Video => 'V',
    }
}

fn certificate_id(fingerprint: &str) -> String {
    format!("CF{fingerprint}")
}

fn certificate_stats(der: &[u8]) -> (String, CertificateStats) {
    let fingerprint = crate::dtls::Fingerprint::of_der(crate::dtls::HashAlgorithm::Sha256, der);
    let value = fingerprint.value_string();
    (
        certificate_id(&value),
        CertificateStats {
            fingerprint: value,
            fingerprint_algorithm: fingerprint.algorithm_name().to_string(),
            base64_certificate: crate::dtls::encode_base64(der),
        },
    )
}

fn srtp_cipher_name(profile: crate::dtls::SrtpProfile) -> &'static str {
    use crate::dtls::SrtpProfile as P;
    match profile {
        P::Aes128CmSha1_80 => "AES_CM_128_HMAC_SHA1_80",
        P::Aes128CmSha1_32 => "AES_CM_128_HMAC_SHA1_32",
        P::AeadAes128Gcm => "AEAD_AES_128_GCM",
        P::AeadAes256Gcm => "AEAD_AES_256_GCM",
    }
}

fn mime_type(codec: Codec) -> String {
    let kind = codec.media_type().map_or("video", MediaType::as_str);
    format!("{kind}/{}", codec.encoding_name())
}

impl PeerConnection {
    /// `getStats()`: everything the connection measures, as of `now`. `timestamp_ms` is the
    /// wallclock at `now` in milliseconds since the UNIX epoch (the core has no clock); every
    /// object's `timestamp`, and the times objects carry, are derived from it.
    pub fn get_stats(&self, now: Instant, timestamp_ms: f64) -> StatsReport {
        let mut b = Builder {
            report: StatsReport::new(),
            now,
            timestamp_ms,
        };
        self.peer_connection_stats(&mut b);
        self.transport_stats(&mut b);
        self.media_stats(&mut b);
        self.data_channel_stats(&mut b);
        b.report
    }

    /// `sender.getStats()` / `receiver.getStats()`: the selected transceiver's outbound (or
    /// inbound) RTP objects and, transitively, every object they refer to.
    pub fn get_stats_for(&self, now: Instant, timestamp_ms: f64, selector: StatsSelector) -> StatsReport {
        let full = self.get_stats(now, timestamp_ms);
        let (id, wanted) = match selector {
            StatsSelector::Sender(id) => (id, StatsType::OutboundRtp),
            StatsSelector::Receiver(id) => (id, StatsType::InboundRtp),
        };
        let Some(mid) = self.transceivers.get(id.0).and_then(|t| t.mid.clone()) else {
            return StatsReport::new();
        };
        let roots: Vec<String> = full
            .of_type(wanted)
            .filter(|s| match &s.kind {
                StatsKind::OutboundRtp(o) => o.mid.as_deref() == Some(mid.as_str()),
                StatsKind::InboundRtp(i) => i.mid.as_deref() == Some(mid.as_str()),
                _ => false,
            })
            .map(|s| s.id.clone())
            .collect();
        full.select(roots)
    }

    fn peer_connection_stats(&self, b: &mut Builder) {
        let (opened, closed) = self.channels.opened_and_closed();
        b.add(
            "P".into(),
            StatsKind::PeerConnection(PeerConnectionStats {
                data_channels_opened: opened,
                data_channels_closed: closed,
            }),
        );
    }

    fn transport_stats(&self, b: &mut Builder) {
        let local_ufrag = self.ice.local_credentials().ufrag.clone();
        let remote_ufrag = self.remote.as_ref().map(|r| r.ice_ufrag.clone());
        for (i, (candidate, _)) in self.ice.local_candidates().enumerate() {
            let mut stats = candidate_stats(candidate, Some(local_ufrag.clone()));
            if candidate.kind == CandidateKind::Relay {
                let protocol = candidate.socket_addr().and_then(|a| self.gatherer.relay_protocol(a));
                stats.relay_protocol = protocol.map(|p| p.as_str().to_string());
            }
            b.add(format!("IL{i}"), StatsKind::LocalCandidate(stats));
        }
        for (i, candidate) in self.ice.remote_candidates().enumerate() {
            b.add(
                format!("IR{i}"),
                StatsKind::RemoteCandidate(candidate_stats(candidate, remote_ufrag.clone())),
            );
        }
        let pairs = self.ice.candidate_pairs();
        let (mut packets_sent, mut packets_received, mut bytes_sent, mut bytes_received) = (0, 0, 0, 0);
        let mut selected = None;
        for p in &pairs {
            let id = pair_id(p);
            if p.selected {
                selected = Some(id.clone());
            }
            let c = &p.counters;
            packets_sent += c.packets_sent;
            packets_received += c.packets_received;
            bytes_sent += c.bytes_sent;
            bytes_received += c.bytes_received;
            b.add(
                id,
                StatsKind::CandidatePair(CandidatePairStats {
                    transport_id: TRANSPORT_ID.into(),
                    local_candidate_id: format!("IL{}", p.local),
                    remote_candidate_id: format!("IR{}", p.remote),
                    state: match p.state {
                        CandidatePairState::Waiting => StatsCandidatePairState::Waiting,
                        CandidatePairState::InProgress => StatsCandidatePairState::InProgress,
                        CandidatePairState::Succeeded => StatsCandidatePairState::Succeeded,
                        CandidatePairState::Failed => StatsCandidatePairState::Failed,
                    },
                    nominated: p.nominated,
                    packets_sent: c.packets_sent,
                    packets_received: c.packets_received,
                    bytes_sent: c.bytes_sent,
                    bytes_received: c.bytes_received,
                    last_packet_received_timestamp: c.last_packet_received.map(|at| b.ms_at(at)),
                    total_round_trip_time: c.total_round_trip_time.as_secs_f64(),
                    current_round_trip_time: c.current_round_trip_time.map(|d| d.as_secs_f64()),
                    requests_received: c.requests_received,
                    requests_sent: c.requests_sent,
                    responses_received: c.responses_received,
                    responses_sent: c.responses_sent,
                    consent_requests_sent: c.consent_requests_sent,
                    available_outgoing_bitrate: (p.selected && self.media_transport_up())
                        .then(|| self.target_bitrate() as f64),
                }),
            );
        }

        let (local_cert_id, local_cert) = certificate_stats(self.certificate.der());
        b.add(local_cert_id.clone(), StatsKind::Certificate(local_cert));
        let remote_cert_id = self.dtls.as_ref().and_then(|d| d.remote_certificate()).map(|der| {
            let (id, stats) = certificate_stats(der);
            b.add(id.clone(), StatsKind::Certificate(stats));
            id
        });
        let dtls_state = match self.dtls.as_ref().map(|d| d.state()) {
            None if self.dtls_failed => StatsDtlsState::Failed,
            None => StatsDtlsState::New,
            Some(DtlsState::New) => StatsDtlsState::New,
            Some(DtlsState::Connecting) => StatsDtlsState::Connecting,
            Some(DtlsState::Connected) => StatsDtlsState::Connected,
            Some(DtlsState::Closed) => StatsDtlsState::Closed,
            Some(DtlsState::Failed) => StatsDtlsState::Failed,
        };
        let ice_state = match self.ice.state() {
            IceConnectionState::New => StatsIceState::New,
            IceConnectionState::Checking => StatsIceState::Checking,
            IceConnectionState::Connected => StatsIceState::Connected,
            IceConnectionState::Completed => StatsIceState::Completed,
            IceConnectionState::Disconnected => StatsIceState::Disconnected,
            IceConnectionState::Failed => StatsIceState::Failed,
            IceConnectionState::Closed => StatsIceState::Closed,
        };
        // The role is settled once a remote description is applied (before, it is provisional).
        let ice_role = match (self.remote.is_some(), self.ice.role()) {
            (false, _) => StatsIceRole::Unknown,
            (true, IceRole::Controlling) => StatsIceRole::Controlling,
            (true, IceRole::Controlled) => StatsIceRole::Controlled,
        };
        let dtls_role = match self.dtls.as_ref().map(|d| d.role()).or(self.dtls_role) {
            Some(DtlsRole::Client) => StatsDtlsRole::Client,
            Some(DtlsRole::Server) => StatsDtlsRole::Server,
            None => StatsDtlsRole::Unknown,
        };
        let tls_version = self.dtls.as_ref().and_then(|d| d.version()).map(|v| match v {
            DtlsVersion::Dtls12 => "FEFD".to_string(),
            DtlsVersion::Dtls13 => "FEFC".to_string(),
        });
        b.add(
            TRANSPORT_ID.into(),
            StatsKind::Transport(TransportStats {
                packets_sent,
                packets_received,
                bytes_sent,
                bytes_received,
                ice_role,
                ice_local_username_fragment: Some(local_ufrag),
                dtls_state,
                ice_state,
                selected_candidate_pair_id: selected,
                local_certificate_id: Some(local_cert_id),
                remote_certificate_id: remote_cert_id,
                tls_version,
                dtls_role,
                srtp_cipher: self.media.srtp_profile().map(|p| srtp_cipher_name(p).to_string()),
                selected_candidate_pair_changes: self.ice.stats().selected_pair_changes,
            }),
        );
    }

    fn media_stats(&self, b: &mut Builder) {
        for s in self.media.send_streams() {
            let Some(t) = self.transceivers.get(s.transceiver.0) else {
                continue;
            };
            let letter = kind_letter(t.kind);
            let kind = kind_of(t.kind);
            let video = t.kind == MediaType::Video;
            let id = format!("OT01{letter}{}", s.ssrc);
            let format = t
                .negotiated
                .as_ref()
                .and_then(|n| n.send_codecs.iter().find(|c| c.payload_type == s.payload_type));
            let codec_id = format.map(|f| {
                let id = format!("COT01_{}", f.payload_type);
                b.add(
                    id.clone(),
                    StatsKind::Codec(CodecStats {
                        payload_type: f.payload_type,
                        transport_id: TRANSPORT_ID.into(),
                        mime_type: mime_type(f.codec),
                        clock_rate: f.clock_rate,
                        channels: f.channels,
                        sdp_fmtp_line: fmtp_line(&f.fmtp),
                    }),
                );
                id
            });
            let media_source_id = t.track.as_ref().map(|track| {
                let id = format!("S{}", t.id.0);
                b.add(
                    id.clone(),
                    StatsKind::MediaSource(MediaSourceStats {
                        track_identifier: track.id.clone(),
                        kind,
                    }),
                );
                id
            });
            let c = &s.counters;
            let remote_id = c.last_report.as_ref().map(|block| {
                let rid = format!("RI{letter}{}", s.ssrc);
                let clock_rate = format.map_or(90_000, |f| f.clock_rate).max(1);
                b.add(
                    rid.clone(),
                    StatsKind::RemoteInboundRtp(RemoteInboundRtpStats {
                        ssrc: s.ssrc,
                        kind,
                        transport_id: TRANSPORT_ID.into(),
                        codec_id: codec_id.clone(),
                        local_id: id.clone(),
                        packets_lost: i64::from(block.cumulative_lost),
                        fraction_lost: f64::from(block.fraction_lost) / 256.0,
                        jitter: f64::from(block.jitter) / f64::from(clock_rate),
                        round_trip_time: s.rtt.map(|d| d.as_secs_f64()),
                        total_round_trip_time: c.total_round_trip_time.as_secs_f64(),
                        round_trip_time_measurements: c.round_trip_time_measurements,
                    }),
                );
                rid
            });
            b.add(
                id,
                StatsKind::OutboundRtp(OutboundRtpStats {
                    ssrc: s.ssrc,
                    kind,
                    transport_id: TRANSPORT_ID.into(),
                    codec_id,
                    mid: t.mid.clone(),
                    rid: s.rid.clone(),
                    media_source_id,
                    remote_id,
                    packets_sent: c.packets_sent,
                    bytes_sent: c.bytes_sent,
                    header_bytes_sent: c.header_bytes_sent,
                    retransmitted_packets_sent: c.retransmitted_packets_sent,
                    retransmitted_bytes_sent: c.retransmitted_bytes_sent,
                    nack_count: c.nack_count,
                    pli_count: video.then_some(c.pli_count),
                    fir_count: video.then_some(c.fir_count),
                    frames_sent: video.then_some(c.frames_sent),
                    active: t.direction.sends() && t.track.is_some(),
                }),
            );
        }

        for r in self.media.receive_streams() {
            let Some(t) = self.transceivers.get(r.transceiver.0) else {
                continue;
            };
            let letter = kind_letter(t.kind);
            let kind = kind_of(t.kind);
            let video = t.kind == MediaType::Video;
            let id = format!("IT01{letter}{}", r.ssrc);
            // The payload type the stream's codec was negotiated with (the first, if several).
            let codec_id = r.codec.and_then(|codec| {
                let n = t.negotiated.as_ref()?;
                let (pt, format) = n.payload_types.iter().find(|(_, f)| f.codec == codec)?;
                let described = n.send_codecs.iter().find(|c| c.payload_type == *pt && c.codec == codec);
                let id = format!("CIT01_{pt}");
                b.add(
                    id.clone(),
                    StatsKind::Codec(CodecStats {
                        payload_type: *pt,
                        transport_id: TRANSPORT_ID.into(),
                        mime_type: mime_type(codec),
                        clock_rate: format.clock_rate,
                        channels: described.and_then(|c| c.channels),
                        sdp_fmtp_line: described.and_then(|c| fmtp_line(&c.fmtp)),
                    }),
                );
                Some(id)
            });
            let c = &r.counters;
            let remote_id = c.last_sender_report.map(|(ntp, packets, octets)| {
                let rid = format!("RO{letter}{}", r.ssrc);
                // NTP counts from 1900; the UNIX epoch is 2208988800 s later.
                let remote_ms = (ntp.to_duration().as_secs_f64() - 2_208_988_800.0) * 1000.0;
                b.add(
                    rid.clone(),
                    StatsKind::RemoteOutboundRtp(RemoteOutboundRtpStats {
                        ssrc: r.ssrc,
                        kind,
                        transport_id: TRANSPORT_ID.into(),
                        codec_id: codec_id.clone(),
                        local_id: id.clone(),
                        remote_timestamp: remote_ms,
                        packets_sent: u64::from(packets),
                        bytes_sent: u64::from(octets),
                        reports_sent: c.sender_reports_received,
                    }),
                );
                rid
            });
            b.add(
                id,
                StatsKind::InboundRtp(InboundRtpStats {
                    ssrc: r.ssrc,
                    kind,
                    transport_id: TRANSPORT_ID.into(),
                    codec_id,
                    mid: t.mid.clone(),
                    track_identifier: t.receiver_track_id.clone(),
                    rid: r.rid.clone(),
                    remote_id,
                    packets_received: c.packets_received,
                    bytes_received: c.bytes_received,
                    header_bytes_received: c.header_bytes_received,
                    packets_lost: r.packets_lost,
                    jitter: r.jitter,
                    last_packet_received_timestamp: c.last_packet_received.map(|at| b.ms_at(at)),
                    frames_received: video.then_some(c.frames_received),
                    nack_count: c.nack_count,
                    pli_count: video.then_some(c.pli_count),
                    fir_count: video.then_some(c.fir_count),
                }),
            );
        }
    }

    fn data_channel_stats(&self, b: &mut Builder) {
        for cid in self.channels.ids() {
            let (Some(info), Some(c)) = (self.channels.info(cid), self.channels.counters(cid)) else {
                continue;
            };
            b.add(
                format!("D{}", cid.number()),
                StatsKind::DataChannel(DataChannelStats {
                    label: info.label,
                    protocol: info.protocol,
                    data_channel_identifier: info.stream_id,
                    state: match info.state {
                        DataChannelState::Connecting => StatsDataChannelState::Connecting,
                        DataChannelState::Open => StatsDataChannelState::Open,
                        DataChannelState::Closing => StatsDataChannelState::Closing,
                        DataChannelState::Closed => StatsDataChannelState::Closed,
                    },
                    messages_sent: c.messages_sent,
                    bytes_sent: c.bytes_sent,
                    messages_received: c.messages_received,
                    bytes_received: c.bytes_received,
                }),
            );
        }
    }
}

/// Collects objects, all stamped with the report's time.
struct Builder {
    report: StatsReport,
    now: Instant,
    timestamp_ms: f64,
}

impl Builder {
    fn add(&mut self, id: String, kind: StatsKind) {
        self.report.insert(Stats {
            id,
            timestamp: self.timestamp_ms,
            kind,
        });
    }

    /// The wallclock (ms since the UNIX epoch) of an earlier instant.
    fn ms_at(&self, at: Instant) -> f64 {
        self.timestamp_ms - self.now.saturating_duration_since(at).as_secs_f64() * 1000.0
    }
}

fn pair_id(p: &CandidatePairInfo) -> String {
    format!("CP{}_{}", p.local, p.remote)
}

fn fmtp_line(fmtp: &[(String, String)]) -> Option<String> {
    if fmtp.is_empty() {
        return None;
    }
    let parts: Vec<String> = fmtp
        .iter()
        .map(|(k, v)| if v.is_empty() { k.clone() } else { format!("{k}={v}") })
        .collect();
    Some(parts.join(";"))
}

fn candidate_stats(c: &crate::ice::Candidate, username_fragment: Option<String>) -> IceCandidateStats {
    let related = matches!(
        c.kind,
        CandidateKind::ServerReflexive | CandidateKind::Relay | CandidateKind::PeerReflexive
    )
    .then_some(c.related.as_ref())
    .flatten();
    IceCandidateStats {
        transport_id: TRANSPORT_ID.into(),
        address: Some(match &c.address {
            CandidateAddress::Ip(ip) => ip.to_string(),
            CandidateAddress::Hostname(name) => name.clone(),
        }),
        port: c.port,
        protocol: match c.protocol {
            TransportProtocol::Udp => "udp",
            TransportProtocol::Tcp => "tcp",
        }
        .to_string(),
        candidate_type: match c.kind {
            CandidateKind::Host => StatsCandidateType::Host,
            CandidateKind::ServerReflexive => StatsCandidateType::Srflx,
            CandidateKind::PeerReflexive => StatsCandidateType::Prflx,
            CandidateKind::Relay => StatsCandidateType::Relay,
        },
        priority: c.priority,
        foundation: c.foundation.clone(),
        related_address: related.map(|(a, _)| a.to_string()),
        related_port: related.map(|(_, p)| *p),
        username_fragment,
        relay_protocol: None,
    }
}
