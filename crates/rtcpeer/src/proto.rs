//! The one place that names the sans-IO core's types, so the rest of the runtime
//! imports them from here.

pub use rtcpeer_proto::bwe::BweConfig;
pub use rtcpeer_proto::datachannel::{
    ChannelId, DataChannelInfo, DataChannelInit, DataChannelMessage, DataChannelState,
};
pub use rtcpeer_proto::dtls::Certificate;
pub use rtcpeer_proto::ice::IceTiming;
pub use rtcpeer_proto::jsep::{Codec, MediaType};
pub use rtcpeer_proto::net::Receive;
pub use rtcpeer_proto::peer::StatsSelector;
pub use rtcpeer_proto::peer::{
    BundlePolicy, DtlsTransportState, IceCandidateInit, IceConnectionState, IceGatheringState, IceTransportPolicy,
    MediaFrame, OfferOptions, PeerConfig, PeerConnection as Core, PeerConnectionState, PeerEvent, ReceivedFrame,
    ReceivedRtp, RtcError, RtpEncodingParameters, RtpSendParameters, SdpType, SessionDescriptionInit, SignalingState,
    TrackInit, TransceiverDirection, TransceiverId, TransceiverInfo, TransceiverInit,
};
pub use rtcpeer_proto::stats::StatsReport;
