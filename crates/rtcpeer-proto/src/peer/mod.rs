//! The peer-connection state machine: the sans-IO `RTCPeerConnection`.

mod connection;
pub mod types;

pub use connection::{DropCounters, PeerConfig, PeerConnection, PeerEvent};
pub use types::{
    BundlePolicy, IceCandidateInit, IceConnectionState, IceGatheringState, IceTransportPolicy, PeerConnectionState,
    RtcError, SdpType, SessionDescriptionInit, SignalingState,
};
