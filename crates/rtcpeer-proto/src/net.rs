//! Types shared by every layer for datagrams crossing the sans-IO boundary.

use std::net::SocketAddr;

/// A datagram the core wants sent: from which local address, to where, and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// The local address (socket) to send from.
    pub source: SocketAddr,
    /// The remote address to send to.
    pub destination: SocketAddr,
    /// The datagram's bytes.
    pub contents: Vec<u8>,
}

/// A datagram handed to the core: where it came from, which local address received it, and what.
#[derive(Debug, Clone, Copy)]
pub struct Receive<'a> {
    /// The remote address the datagram came from.
    pub source: SocketAddr,
    /// The local address (socket) that received it.
    pub destination: SocketAddr,
    /// The datagram's bytes.
    pub contents: &'a [u8],
}

/// What kind of packet a datagram carries, by its first byte (RFC 7983 §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PacketKind {
    /// 0..=3: a STUN message.
    Stun,
    /// 20..=63: a DTLS record.
    Dtls,
    /// 128..=191: RTP or RTCP.
    Rtp,
    /// Anything else (ZRTP, TURN channel data, garbage).
    Unknown,
}

impl PacketKind {
    /// Classifies a datagram by its first byte.
    pub fn of(datagram: &[u8]) -> PacketKind {
        match datagram.first() {
            Some(0..=3) => PacketKind::Stun,
            Some(20..=63) => PacketKind::Dtls,
            Some(128..=191) => PacketKind::Rtp,
            _ => PacketKind::Unknown,
        }
    }
}
