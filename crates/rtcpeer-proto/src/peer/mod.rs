//! The peer-connection state machine: the sans-IO `RTCPeerConnection`.

mod connection;
pub mod transceiver;
pub mod types;

pub use connection::{DropCounters, MediaCounters, OfferOptions, PeerConfig, PeerConnection, PeerEvent, StatsSelector};
pub use transceiver::{
    MediaFrame, ReceivedFrame, ReceivedRtp, RtpEncodingParameters, RtpSendParameters, TrackInit, TransceiverDirection,
    TransceiverId, TransceiverInfo, TransceiverInit, MAX_RID_LENGTH, MAX_SEND_ENCODINGS,
};
pub use types::{
    BundlePolicy, DtlsTransportState, IceCandidateInit, IceConnectionState, IceGatheringState, IceTransportPolicy,
    PeerConnectionState, RtcError, SdpType, SessionDescriptionInit, SignalingState,
};
