//! RTP and RTCP (RFC 3550) with the extensions and feedback WebRTC uses.
//!
//! - [`RtpPacket`] parses a packet into a view borrowing the datagram; [`RtpBuilder`] writes one.
//!   [`is_rtcp`] tells RTCP from RTP on a muxed port (RFC 5761).
//! - [`header_ext`] handles the one-byte and two-byte header extension forms (RFC 8285);
//!   [`ExtensionMap`] maps negotiated ids to the [`ExtensionKind`]s we understand and decodes them.
//! - [`rtcp`] parses and writes compound and reduced-size RTCP: reports, SDES, BYE, NACK, PLI, FIR,
//!   REMB and transport-wide feedback.
//! - State helpers, all driven with the caller's `Instant`: [`SendHistory`] and [`RtxSender`] for
//!   retransmission, [`NackTracker`] for asking for it, [`ReceiverStats`] and [`SenderStats`] for
//!   reports, [`TwccRecorder`] for transport-wide feedback, and [`NtpTime`].

mod error;
pub mod extension;
pub mod header_ext;
mod history;
mod nack;
mod ntp;
mod packet;
pub mod rtcp;
mod seq;
mod stats;
mod twcc_recorder;

pub use error::{RtcpError, RtpError};
pub use extension::{ExtensionKind, ExtensionMap, ExtensionValue, ExtensionValues};
pub use header_ext::{ExtensionElement, HeaderExtension};
pub use history::{unwrap_rtx, RtxSender, SendHistory, StoredPacket};
pub use nack::{NackConfig, NackTracker};
pub use ntp::{compact_to_duration, duration_to_compact, NtpTime, UNIX_EPOCH_OFFSET_SECS};
pub use packet::{is_rtcp, RtpBuilder, RtpPacket, FIXED_HEADER_LEN, RTP_VERSION};
pub use rtcp::RtcpPacket;
pub use seq::SeqUnwrapper;
pub use stats::{rtt_from_report, ReceiverStats, SenderStats};
pub use twcc_recorder::{TwccConfig, TwccRecorder};
