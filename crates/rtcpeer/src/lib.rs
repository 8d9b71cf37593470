//! # rtcpeer
//!
//! A WebRTC stack in Rust: the W3C `RTCPeerConnection` on tokio, driving the
//! sans-IO core in `rtcpeer-proto`.
#![warn(missing_docs)]
