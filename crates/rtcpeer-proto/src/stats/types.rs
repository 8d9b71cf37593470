//! The stats types of W3C webrtc-stats, with the members rtcpeer fills.
//!
//! Member names follow the specification (camelCase in JSON); optional members are the
//! ones the connection may not know yet (or never, for a kind of media).

use serde::{Deserialize, Serialize};

/// The type of a stats object (`RTCStatsType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StatsType {
    /// `peer-connection`.
    PeerConnection,
    /// `transport`.
    Transport,
    /// `candidate-pair`.
    CandidatePair,
    /// `local-candidate`.
    LocalCandidate,
    /// `remote-candidate`.
    RemoteCandidate,
    /// `certificate`.
    Certificate,
    /// `codec`.
    Codec,
    /// `inbound-rtp`.
    InboundRtp,
    /// `outbound-rtp`.
    OutboundRtp,
    /// `remote-inbound-rtp`.
    RemoteInboundRtp,
    /// `remote-outbound-rtp`.
    RemoteOutboundRtp,
    /// `media-source`.
    MediaSource,
    /// `data-channel`.
    DataChannel,
}

impl StatsType {
    /// The `type` string.
    pub fn as_str(self) -> &'static str {
        match self {
            StatsType::PeerConnection => "peer-connection",
            StatsType::Transport => "transport",
            StatsType::CandidatePair => "candidate-pair",
            StatsType::LocalCandidate => "local-candidate",
            StatsType::RemoteCandidate => "remote-candidate",
            StatsType::Certificate => "certificate",
            StatsType::Codec => "codec",
            StatsType::InboundRtp => "inbound-rtp",
            StatsType::OutboundRtp => "outbound-rtp",
            StatsType::RemoteInboundRtp => "remote-inbound-rtp",
            StatsType::RemoteOutboundRtp => "remote-outbound-rtp",
            StatsType::MediaSource => "media-source",
            StatsType::DataChannel => "data-channel",
        }
    }
}

/// The typed body of a stats object; the variant is its `type`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum StatsKind {
    /// `RTCPeerConnectionStats`.
    PeerConnection(PeerConnectionStats),
    /// `RTCTransportStats`.
    Transport(TransportStats),
    /// `RTCIceCandidatePairStats`.
    CandidatePair(CandidatePairStats),
    /// `RTCIceCandidateStats` of one of ours.
    LocalCandidate(IceCandidateStats),
    /// `RTCIceCandidateStats` of the peer's.
    RemoteCandidate(IceCandidateStats),
    /// `RTCCertificateStats`.
    Certificate(CertificateStats),
    /// `RTCCodecStats`.
    Codec(CodecStats),
    /// `RTCInboundRtpStreamStats`.
    InboundRtp(InboundRtpStats),
    /// `RTCOutboundRtpStreamStats`.
    OutboundRtp(OutboundRtpStats),
    /// `RTCRemoteInboundRtpStreamStats`: what the peer's receiver reports say about a stream we send.
    RemoteInboundRtp(RemoteInboundRtpStats),
    /// `RTCRemoteOutboundRtpStreamStats`: what the peer's sender reports say about a stream we receive.
    RemoteOutboundRtp(RemoteOutboundRtpStats),
    /// `RTCAudioSourceStats`/`RTCVideoSourceStats` (the members common to both).
    MediaSource(MediaSourceStats),
    /// `RTCDataChannelStats`.
    DataChannel(DataChannelStats),
}

impl StatsKind {
    /// Its type.
    pub fn stats_type(&self) -> StatsType {
        match self {
            StatsKind::PeerConnection(_) => StatsType::PeerConnection,
            StatsKind::Transport(_) => StatsType::Transport,
            StatsKind::CandidatePair(_) => StatsType::CandidatePair,
            StatsKind::LocalCandidate(_) => StatsType::LocalCandidate,
            StatsKind::RemoteCandidate(_) => StatsType::RemoteCandidate,
            StatsKind::Certificate(_) => StatsType::Certificate,
            StatsKind::Codec(_) => StatsType::Codec,
            StatsKind::InboundRtp(_) => StatsType::InboundRtp,
            StatsKind::OutboundRtp(_) => StatsType::OutboundRtp,
            StatsKind::RemoteInboundRtp(_) => StatsType::RemoteInboundRtp,
            StatsKind::RemoteOutboundRtp(_) => StatsType::RemoteOutboundRtp,
            StatsKind::MediaSource(_) => StatsType::MediaSource,
            StatsKind::DataChannel(_) => StatsType::DataChannel,
        }
    }

    /// The ids of the other objects this one refers to.
    pub fn references(&self) -> Vec<&str> {
        let ids: Vec<Option<&String>> = match self {
            StatsKind::PeerConnection(_) | StatsKind::Certificate(_) | StatsKind::MediaSource(_) => Vec::new(),
            StatsKind::DataChannel(_) => Vec::new(),
            StatsKind::Transport(t) => vec![
                t.selected_candidate_pair_id.as_ref(),
                t.local_certificate_id.as_ref(),
                t.remote_certificate_id.as_ref(),
            ],
            StatsKind::CandidatePair(p) => vec![
                Some(&p.transport_id),
                Some(&p.local_candidate_id),
                Some(&p.remote_candidate_id),
            ],
            StatsKind::LocalCandidate(c) | StatsKind::RemoteCandidate(c) => vec![Some(&c.transport_id)],
            StatsKind::Codec(c) => vec![Some(&c.transport_id)],
            StatsKind::InboundRtp(s) => vec![Some(&s.transport_id), s.codec_id.as_ref(), s.remote_id.as_ref()],
            StatsKind::OutboundRtp(s) => vec![
                Some(&s.transport_id),
                s.codec_id.as_ref(),
                s.media_source_id.as_ref(),
                s.remote_id.as_ref(),
            ],
            StatsKind::RemoteInboundRtp(s) => vec![Some(&s.transport_id), s.codec_id.as_ref(), Some(&s.local_id)],
            StatsKind::RemoteOutboundRtp(s) => vec![Some(&s.transport_id), s.codec_id.as_ref(), Some(&s.local_id)],
        };
        ids.into_iter().flatten().map(String::as_str).collect()
    }
}

/// `RTCPeerConnectionStats`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PeerConnectionStats {
    /// Data channels that reached `open`.
    pub data_channels_opened: u64,
    /// Data channels that left `open`.
    pub data_channels_closed: u64,
}

/// `RTCIceRole`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StatsIceRole {
    /// Not decided yet.
    Unknown,
    /// Controlling.
    Controlling,
    /// Controlled.
    Controlled,
}

/// `RTCDtlsRole`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StatsDtlsRole {
    /// The DTLS client.
    Client,
    /// The DTLS server.
    Server,
    /// Not decided yet.
    Unknown,
}

/// `RTCDtlsTransportState`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StatsDtlsState {
    /// `new`.
    New,
    /// `connecting`.
    Connecting,
    /// `connected`.
    Connected,
    /// `closed`.
    Closed,
    /// `failed`.
    Failed,
}

/// `RTCIceTransportState`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StatsIceState {
    /// `new`.
    New,
    /// `checking`.
    Checking,
    /// `connected`.
    Connected,
    /// `completed`.
    Completed,
    /// `disconnected`.
    Disconnected,
    /// `failed`.
    Failed,
    /// `closed`.
    Closed,
}

/// `RTCTransportStats`: the bundled ICE + DTLS transport.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TransportStats {
    /// Datagrams (DTLS, SRTP) sent.
    pub packets_sent: u64,
    /// Datagrams (DTLS, SRTP) received.
    pub packets_received: u64,
    /// Their bytes sent (UDP payload).
    pub bytes_sent: u64,
    /// Their bytes received (UDP payload).
    pub bytes_received: u64,
    /// Our ICE role.
    pub ice_role: StatsIceRole,
    /// Our ICE ufrag.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ice_local_username_fragment: Option<String>,
    /// The DTLS transport's state.
    pub dtls_state: StatsDtlsState,
    /// The ICE transport's state.
    pub ice_state: StatsIceState,
    /// The selected candidate pair's id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub selected_candidate_pair_id: Option<String>,
    /// Our certificate's id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub local_certificate_id: Option<String>,
    /// The peer's certificate's id, once DTLS verified it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remote_certificate_id: Option<String>,
    /// The DTLS version as the hex of its wire value (`FEFD` for 1.2, `FEFC` for 1.3).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_version: Option<String>,
    /// Our DTLS role.
    pub dtls_role: StatsDtlsRole,
    /// The SRTP protection profile's name (RFC 5764 §4.1.2, RFC 7714 §14.2).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub srtp_cipher: Option<String>,
    /// How many times a candidate pair was selected.
    pub selected_candidate_pair_changes: u64,
}

/// `RTCStatsIceCandidatePairState`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StatsCandidatePairState {
    /// `frozen` (this agent does not freeze pairs, but a report may say so).
    Frozen,
    /// `waiting`.
    Waiting,
    /// `in-progress`.
    InProgress,
    /// `failed`.
    Failed,
    /// `succeeded`.
    Succeeded,
}

/// `RTCIceCandidatePairStats`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CandidatePairStats {
    /// The transport it belongs to.
    pub transport_id: String,
    /// Its local candidate.
    pub local_candidate_id: String,
    /// Its remote candidate.
    pub remote_candidate_id: String,
    /// Its check state.
    pub state: StatsCandidatePairState,
    /// Whether it was nominated.
    pub nominated: bool,
    /// Application datagrams sent over it.
    pub packets_sent: u64,
    /// Application datagrams received over it.
    pub packets_received: u64,
    /// Their bytes sent.
    pub bytes_sent: u64,
    /// Their bytes received.
    pub bytes_received: u64,
    /// When the last application datagram arrived (ms since the UNIX epoch).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_packet_received_timestamp: Option<f64>,
    /// The sum of the STUN round-trip times measured, in seconds.
    pub total_round_trip_time: f64,
    /// The last STUN round-trip time measured, in seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_round_trip_time: Option<f64>,
    /// Binding requests received.
    pub requests_received: u64,
    /// Binding requests sent.
    pub requests_sent: u64,
    /// Binding responses received.
    pub responses_received: u64,
    /// Binding responses sent.
    pub responses_sent: u64,
    /// Consent-freshness requests sent.
    pub consent_requests_sent: u64,
    /// The congestion controller's estimate of the bitrate available for sending over the pair,
    /// bits/s (on the selected pair once media flows, as browsers report it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub available_outgoing_bitrate: Option<f64>,
}

/// `RTCIceCandidateType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StatsCandidateType {
    /// `host`.
    Host,
    /// `srflx`.
    Srflx,
    /// `prflx`.
    Prflx,
    /// `relay`.
    Relay,
}

/// `RTCIceCandidateStats`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IceCandidateStats {
    /// The transport it belongs to.
    pub transport_id: String,
    /// Its address (an IP, or an mDNS name for a remote `.local` candidate).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// Its port.
    pub port: u16,
    /// `udp` or `tcp`.
    pub protocol: String,
    /// Its type.
    pub candidate_type: StatsCandidateType,
    /// Its priority.
    pub priority: u32,
    /// Its foundation.
    pub foundation: String,
    /// The related address of a reflexive or relayed candidate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub related_address: Option<String>,
    /// The related port of a reflexive or relayed candidate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub related_port: Option<u16>,
    /// The ufrag of the side the candidate belongs to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username_fragment: Option<String>,
    /// How a local relayed candidate reaches its TURN server: `udp`, `tcp` or `tls`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relay_protocol: Option<String>,
}

/// `RTCCertificateStats`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CertificateStats {
    /// The fingerprint, as `a=fingerprint` writes it (upper-case hex, colon-separated).
    pub fingerprint: String,
    /// The hash function's name (`sha-256`).
    pub fingerprint_algorithm: String,
    /// The DER certificate in base64.
    pub base64_certificate: String,
}

/// `RTCCodecStats`: one negotiated payload type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CodecStats {
    /// The payload type.
    pub payload_type: u8,
    /// The transport it is used on.
    pub transport_id: String,
    /// `type/subtype`, e.g. `video/VP8`.
    pub mime_type: String,
    /// The RTP clock rate.
    pub clock_rate: u32,
    /// The channel count (audio), if negotiated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channels: Option<u8>,
    /// The `a=fmtp` parameters, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sdp_fmtp_line: Option<String>,
}

/// `audio` or `video`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StatsMediaKind {
    /// Audio.
    Audio,
    /// Video.
    Video,
}

/// `RTCInboundRtpStreamStats`: one SSRC we receive.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InboundRtpStats {
    /// The SSRC.
    pub ssrc: u32,
    /// Audio or video.
    pub kind: StatsMediaKind,
    /// The transport it arrives on.
    pub transport_id: String,
    /// The codec it is received with, once a packet arrived.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub codec_id: Option<String>,
    /// The transceiver's mid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mid: Option<String>,
    /// The receiving track's id.
    pub track_identifier: String,
    /// The simulcast layer's rid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rid: Option<String>,
    /// The `remote-outbound-rtp` object, once a sender report arrived.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remote_id: Option<String>,
    /// RTP packets received (retransmissions included).
    pub packets_received: u64,
    /// Their payload bytes.
    pub bytes_received: u64,
    /// Their header and padding bytes.
    pub header_bytes_received: u64,
    /// Packets expected and not received (RFC 3550 §6.4.1; negative with duplicates).
    pub packets_lost: i64,
    /// The interarrival jitter, in seconds.
    pub jitter: f64,
    /// When the last packet arrived (ms since the UNIX epoch).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_packet_received_timestamp: Option<f64>,
    /// Frames the jitter buffer completed (video only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frames_received: Option<u64>,
    /// NACK packets sent.
    pub nack_count: u64,
    /// PLI packets sent (video only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pli_count: Option<u64>,
    /// FIR packets sent (video only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fir_count: Option<u64>,
}

/// `RTCOutboundRtpStreamStats`: one SSRC we send.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OutboundRtpStats {
    /// The SSRC.
    pub ssrc: u32,
    /// Audio or video.
    pub kind: StatsMediaKind,
    /// The transport it leaves on.
    pub transport_id: String,
    /// The codec it is sent with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub codec_id: Option<String>,
    /// The transceiver's mid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mid: Option<String>,
    /// The simulcast layer's rid (`sendEncodings[i].rid`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rid: Option<String>,
    /// The track being sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub media_source_id: Option<String>,
    /// The `remote-inbound-rtp` object, once a receiver report arrived.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remote_id: Option<String>,
    /// RTP packets sent (retransmissions included).
    pub packets_sent: u64,
    /// Their payload bytes.
    pub bytes_sent: u64,
    /// Their header and padding bytes.
    pub header_bytes_sent: u64,
    /// Packets retransmitted.
    pub retransmitted_packets_sent: u64,
    /// Their payload bytes.
    pub retransmitted_bytes_sent: u64,
    /// NACK packets received.
    pub nack_count: u64,
    /// PLI packets received (video only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pli_count: Option<u64>,
    /// FIR requests received (video only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fir_count: Option<u64>,
    /// Frames sent (video only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frames_sent: Option<u64>,
    /// Whether the sender is sending.
    pub active: bool,
}

/// `RTCRemoteInboundRtpStreamStats`, from the peer's report blocks about one of our SSRCs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RemoteInboundRtpStats {
    /// Our SSRC the reports are about.
    pub ssrc: u32,
    /// Audio or video.
    pub kind: StatsMediaKind,
    /// The transport.
    pub transport_id: String,
    /// The codec the stream is sent with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub codec_id: Option<String>,
    /// The `outbound-rtp` object of the stream.
    pub local_id: String,
    /// The peer's cumulative number of packets lost.
    pub packets_lost: i64,
    /// The fraction lost in the last report interval (0 to 1).
    pub fraction_lost: f64,
    /// The peer's interarrival jitter, in seconds.
    pub jitter: f64,
    /// The last round-trip time measured (seconds).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub round_trip_time: Option<f64>,
    /// The sum of the round-trip times measured (seconds).
    pub total_round_trip_time: f64,
    /// How many round-trip times were measured.
    pub round_trip_time_measurements: u64,
}

/// `RTCRemoteOutboundRtpStreamStats`, from the peer's sender reports about one SSRC we receive.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RemoteOutboundRtpStats {
    /// The peer's SSRC.
    pub ssrc: u32,
    /// Audio or video.
    pub kind: StatsMediaKind,
    /// The transport.
    pub transport_id: String,
    /// The codec the stream is received with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub codec_id: Option<String>,
    /// The `inbound-rtp` object of the stream.
    pub local_id: String,
    /// The NTP time of the last sender report, in ms since the UNIX epoch (the peer's clock).
    pub remote_timestamp: f64,
    /// The packet count of the last sender report.
    pub packets_sent: u64,
    /// The octet count of the last sender report.
    pub bytes_sent: u64,
    /// Sender reports received.
    pub reports_sent: u64,
}

/// A track attached to a sender (`media-source`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MediaSourceStats {
    /// The track's id.
    pub track_identifier: String,
    /// Audio or video.
    pub kind: StatsMediaKind,
}

/// `RTCDataChannelState`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StatsDataChannelState {
    /// `connecting`.
    Connecting,
    /// `open`.
    Open,
    /// `closing`.
    Closing,
    /// `closed`.
    Closed,
}

/// `RTCDataChannelStats`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DataChannelStats {
    /// The label.
    pub label: String,
    /// The subprotocol.
    pub protocol: String,
    /// The SCTP stream id, once assigned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_channel_identifier: Option<u16>,
    /// The channel's state.
    pub state: StatsDataChannelState,
    /// Messages sent.
    pub messages_sent: u64,
    /// Their payload bytes.
    pub bytes_sent: u64,
    /// Messages received.
    pub messages_received: u64,
    /// Their payload bytes.
    pub bytes_received: u64,
}
