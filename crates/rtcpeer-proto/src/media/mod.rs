//! Media payloads: codec packetizers and depacketizers, and the receive jitter buffer.
//!
//! Nothing here knows about RTP headers: a [`codec::Packetizer`] turns one encoded frame into
//! RTP *payloads* (plus which one carries the marker bit), a [`codec::Depacketizer`] turns the
//! payloads of one frame back into the frame, and the [`jitter::JitterBuffer`] takes plain
//! values (sequence number, timestamp, marker, payload, arrival time) for one stream and yields
//! complete frames in order.
//!
//! | codec | payload format |
//! |---|---|
//! | Opus | RFC 7587 |
//! | PCMU / PCMA | RFC 3551 |
//! | G.722 | RFC 3551 |
//! | VP8 | RFC 7741 |
//! | VP9 | RFC 9628 (non-flexible, non-layered when sending) |
//! | H.264 | RFC 6184, packetization-mode 1 |
//! | AV1 | the AV1 RTP payload specification (AOMedia) |

pub mod codec;
pub mod jitter;
