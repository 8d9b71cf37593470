//! The one place that names the sans-IO core's types, so the rest of the runtime
//! imports them from here.

pub use crate::standin::{
    Certificate, ChannelId, DataChannelInfo, DataChannelInit, DataChannelMessage, DataChannelState, PeerConfig,
    PeerConnection as Core, PeerEvent,
};
pub use rtcpeer_proto::net::Receive;
pub use rtcpeer_proto::peer::{
    BundlePolicy, IceCandidateInit, IceConnectionState, IceGatheringState, IceTransportPolicy, PeerConnectionState,
    RtcError, SdpType, SessionDescriptionInit, SignalingState,
};
