//! Counters of the connection task's sockets.

use rtcpeer_proto::peer::{DropCounters, MediaCounters};

/// `RTCStatsReport`: what [`RTCPeerConnection::get_stats`](crate::RTCPeerConnection::get_stats) returns.
pub type RTCStatsReport = rtcpeer_proto::stats::StatsReport;

/// What the connection's sockets have carried, as counted by the runtime.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TransportStats {
    /// Datagrams received on any socket.
    pub datagrams_received: u64,
    /// Bytes received on any socket.
    pub bytes_received: u64,
    /// Datagrams sent.
    pub datagrams_sent: u64,
    /// Bytes sent.
    pub bytes_sent: u64,
    /// Receive errors the sockets reported (for example ECONNREFUSED after an ICMP port unreachable); never fatal.
    pub receive_errors: u64,
    /// Datagrams the operating system refused to send, or that named a source address with no socket.
    pub send_errors: u64,
    /// Datagrams the core received and dropped, by reason (garbage, wrong source, media).
    pub dropped: DropCounters,
    /// What the media path sent, received, repaired and dropped (SRTP failures, replays, unknown streams).
    pub media: MediaCounters,
}
