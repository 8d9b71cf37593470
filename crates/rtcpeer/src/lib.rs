//! # rtcpeer
//!
//! A WebRTC stack in Rust: the W3C `RTCPeerConnection` on tokio, driving the
//! sans-IO core in `rtcpeer-proto`.
//!
//! Each [`RTCPeerConnection`] is a handle to one tokio task that owns the
//! connection's UDP sockets and its `rtcpeer_proto` core. Handles send commands
//! to the task over a bounded channel and get their answers on a oneshot channel;
//! the task sends events back on per-connection and per-channel streams. There is
//! no lock shared between the application and the task.
//!
//! ```no_run
//! # async fn demo() -> Result<(), rtcpeer::RtcError> {
//! use rtcpeer::{RTCConfiguration, RTCPeerConnection, DataChannelInit};
//! let pc = RTCPeerConnection::new(RTCConfiguration::default()).await?;
//! let channel = pc.create_data_channel("chat", DataChannelInit::default()).await?;
//! pc.set_local_description(None).await?;
//! let offer = pc.local_description().await?;
//! # let _ = (channel, offer);
//! # Ok(()) }
//! ```
#![warn(missing_docs)]
#![forbid(unsafe_code)]

mod certificate;
mod command;
mod config;
mod connection;
mod data_channel;
mod driver;
mod events;
mod interfaces;
mod mdns;
mod proto;
mod rtp_sender;
mod shared_socket;
mod socket;
mod stats;
mod track;
mod turn_stream;

pub mod media_file;

pub use certificate::{KeyAlgorithm, RTCCertificate, RTCDtlsFingerprint, DEFAULT_CERTIFICATE_LIFETIME};
pub use config::{RTCConfiguration, RTCIceServer, RtcpMuxPolicy};
pub use connection::{PeerConnection, PeerConnectionEvent, RTCPeerConnection};
pub use data_channel::{DataChannelEvent, RTCDataChannel, SEND_HIGH_WATER_MARK};
pub use events::{Events, Queued, RECEIVE_BACKLOG_LIMIT};
pub use mdns::{MdnsResolveError, MdnsResolver, MDNS_IPV4};
pub use proto::{
    BundlePolicy, Certificate, Codec, DataChannelInit, DataChannelMessage, DataChannelState, DtlsTransportState,
    IceCandidateInit, IceConnectionState, IceGatheringState, IceTiming, IceTransportPolicy, MediaFrame, MediaType,
    OfferOptions, PeerConnectionState, ReceivedFrame, ReceivedRtp, RtcError, RtpEncodingParameters, RtpSendParameters,
    SdpType, SessionDescriptionInit, SignalingState, TransceiverDirection, TransceiverId, TransceiverInfo,
    TransceiverInit,
};
pub use rtcpeer_proto::peer::StatsSelector;
pub use rtcpeer_proto::peer::{DropCounters, MediaCounters};
pub use rtcpeer_proto::stats::{Stats, StatsKind, StatsType};
pub use rtp_sender::{RTCRtpReceiver, RTCRtpSender};
/// A DER certificate, as [`RTCConfiguration::turn_tls_roots`] takes them (from `rustls`).
pub use rustls::pki_types::CertificateDer;
pub use shared_socket::{SharedUdpSocket, ADDRESSES_PER_CONNECTION, SHARED_RECEIVE_QUEUE};
pub use stats::{RTCStatsReport, TransportStats};
pub use track::{LocalTrack, RemoteTrack, RemoteTrackEvent, LOCAL_FRAME_QUEUE, REMOTE_FRAME_QUEUE};
