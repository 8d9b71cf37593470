//! What the handles ask the connection task to do.

use std::net::SocketAddr;

use tokio::sync::{mpsc, oneshot};

use crate::data_channel::RTCDataChannel;
use crate::proto::RtpSendParameters;
use crate::proto::{
    ChannelId, DataChannelInit, DataChannelMessage, IceCandidateInit, IceConnectionState, IceGatheringState, MediaType,
    OfferOptions, PeerConnectionState, RtcError, SessionDescriptionInit, SignalingState, TransceiverDirection,
    TransceiverId, TransceiverInfo, TransceiverInit,
};
use crate::proto::{StatsReport, StatsSelector};
use crate::stats::TransportStats;
use crate::track::LocalTrack;

/// The reply to a command that can fail.
pub(crate) type Reply<T> = oneshot::Sender<Result<T, RtcError>>;

/// How many commands may wait for the task before callers wait to enqueue more.
pub(crate) const COMMAND_QUEUE: usize = 64;

/// The four state attributes of a connection, read together.
#[derive(Debug, Clone, Copy)]
pub(crate) struct States {
    pub signaling: SignalingState,
    pub ice_gathering: IceGatheringState,
    pub ice_connection: IceConnectionState,
    pub connection: PeerConnectionState,
}

/// The description attributes of `RTCPeerConnection`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DescriptionAttribute {
    Local,
    CurrentLocal,
    PendingLocal,
    Remote,
    CurrentRemote,
    PendingRemote,
}

/// One request to the connection task. Kept at 48 bytes (the size of `Send`, the frequent one):
/// the task's queue allocates room for 32 commands up front, so the rare large requests carry
/// their payload boxed.
#[derive(Debug)]
pub(crate) enum Command {
    CreateOffer(OfferOptions, Reply<SessionDescriptionInit>),
    /// `restartIce()`.
    RestartIce(oneshot::Sender<()>),
    CreateAnswer(Reply<SessionDescriptionInit>),
    SetLocalDescription(Option<SessionDescriptionInit>, Reply<()>),
    SetRemoteDescription(SessionDescriptionInit, Reply<()>),
    AddIceCandidate(Box<Option<IceCandidateInit>>, Reply<()>),
    /// One of the six description attributes.
    Description(DescriptionAttribute, oneshot::Sender<Option<SessionDescriptionInit>>),
    CanTrickleIceCandidates(oneshot::Sender<Option<bool>>),
    /// `setConfiguration`'s ICE part (servers already resolved, with the TLS configuration for
    /// their `turns:` URLs).
    SetIceConfiguration(
        rtcpeer_proto::peer::IceTransportPolicy,
        Vec<rtcpeer_proto::ice::ServerEndpoint>,
        Option<std::sync::Arc<rustls::ClientConfig>>,
        Reply<()>,
    ),
    States(oneshot::Sender<States>),
    LocalAddresses(oneshot::Sender<Vec<SocketAddr>>),
    SelectedCandidatePair(oneshot::Sender<Option<(rtcpeer_proto::ice::Candidate, rtcpeer_proto::ice::Candidate)>>),
    Stats(oneshot::Sender<TransportStats>),
    /// `getStats()`, of the whole connection or of one sender or receiver.
    GetStats(Option<StatsSelector>, oneshot::Sender<StatsReport>),
    CreateDataChannel {
        label: String,
        init: Box<DataChannelInit>,
        reply: Reply<RTCDataChannel>,
    },
    Send {
        channel: ChannelId,
        message: DataChannelMessage,
        reply: Reply<()>,
    },
    CloseChannel(ChannelId),
    AddTrack(LocalTrack, Reply<TransceiverId>),
    AddTransceiver {
        kind: MediaType,
        track: Option<LocalTrack>,
        init: Box<TransceiverInit>,
        reply: Reply<TransceiverId>,
    },
    RemoveTrack(TransceiverId, Reply<()>),
    ReplaceTrack(TransceiverId, Option<LocalTrack>, Reply<()>),
    SetDirection(TransceiverId, TransceiverDirection, Reply<()>),
    /// `sender.getParameters()`.
    GetParameters(TransceiverId, Reply<RtpSendParameters>),
    /// `sender.setParameters(parameters)`.
    SetParameters(TransceiverId, Box<RtpSendParameters>, Reply<()>),
    StopTransceiver(TransceiverId, Reply<()>),
    Transceivers(oneshot::Sender<Vec<TransceiverInfo>>),
    RequestKeyframe(TransceiverId),
    /// Deliver the transceiver's received RTP packets to this queue (a remote track's `next_rtp`).
    ReceiveRtp(TransceiverId, tokio::sync::mpsc::Sender<crate::proto::ReceivedRtp>),
    SetBufferedAmountLowThreshold(ChannelId, usize),
    /// Close the connection; the reply comes after the sockets are closed.
    Close(oneshot::Sender<()>),
}

/// The error every call gets once the connection's task has ended.
pub(crate) fn closed_error() -> RtcError {
    RtcError::InvalidState("the RTCPeerConnection is closed".into())
}

/// Sends a command built around a fresh reply channel and waits for the reply.
pub(crate) async fn call<T>(
    commands: &mpsc::Sender<Command>,
    make: impl FnOnce(oneshot::Sender<T>) -> Command,
) -> Result<T, RtcError> {
    let (tx, rx) = oneshot::channel();
    commands.send(make(tx)).await.map_err(|_| closed_error())?;
    rx.await.map_err(|_| closed_error())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_command_is_no_larger_than_a_send() {
        // The queue's first block holds 32 commands for every connection, idle or not.
        assert!(
            std::mem::size_of::<Command>() <= 48,
            "{} bytes",
            std::mem::size_of::<Command>()
        );
    }
}
