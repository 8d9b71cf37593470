//! The peer-connection state machine: the sans-IO `RTCPeerConnection`.

pub mod types;

pub use types::{
    BundlePolicy, IceCandidateInit, IceConnectionState, IceGatheringState, IceTransportPolicy, PeerConnectionState,
    RtcError, SdpType, SessionDescriptionInit, SignalingState,
};
