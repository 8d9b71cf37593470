//! # rtcpeer-proto
//!
//! The sans-IO core of rtcpeer. Nothing in this crate opens a socket, reads a
//! clock, spawns a thread or awaits a future: every state machine takes
//! datagrams, commands and the current [`Instant`](std::time::Instant) as
//! input, and yields datagrams to send, events and its next deadline as output.
//! The `rtcpeer` crate drives it with real sockets and timers; the tests drive
//! it with a simulated network.
//!
//! One module per protocol:
//!
//! | module | protocol |
//! |---|---|
//! | [`sdp`] | SDP (RFC 8866) and the WebRTC attributes |
//! | [`stun`] | STUN messages (RFC 8489), server-reflexive discovery |
//! | [`turn`] | the TURN client (RFC 8656), ChannelData and stream framing |
//! | [`ice`] | the ICE agent (RFC 8445, trickle RFC 8838) |
//! | [`dtls`] | DTLS through `dimpl`, certificates and fingerprints (RFC 8842) |
//! | [`srtp`] | SRTP/SRTCP (RFC 3711, AES-GCM RFC 7714) for DTLS-SRTP (RFC 5764) |
//! | [`rtp`] | RTP and RTCP (RFC 3550), header extensions (RFC 8285), feedback (RFC 4585/5104) |
//! | [`sctp`] | the boundary around the SCTP association (RFC 8261) |
//! | [`datachannel`] | DCEP and data channels (RFC 8831/8832) |
//! | [`mdns`] | one-shot mDNS queries for `.local` candidates (RFC 6762) |
//! | [`media`] | codec packetizers/depacketizers and the receive jitter buffer |
//! | [`jsep`] | offer/answer generation and checking (RFC 8829) |
//! | [`peer`] | the peer-connection state machine that ties them together |
//! | [`stats`] | `getStats()` reports (W3C webrtc-stats) and their JSON |
//! | [`bwe`] | send-side congestion control: bandwidth estimation from transport-wide feedback, pacing |
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod bwe;
pub mod datachannel;
pub mod dtls;
pub mod ice;
pub mod jsep;
pub mod mdns;
pub mod media;
pub mod net;
pub mod peer;
mod rand;
pub mod rtp;
pub mod sctp;
pub mod sdp;
pub mod srtp;
pub mod stats;
pub mod stun;
pub mod turn;
