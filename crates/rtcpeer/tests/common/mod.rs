//! Helpers shared by the integration tests: two loopback peers connected by trickle.
#![allow(dead_code)]

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use rtcpeer::{
    DataChannelEvent, DataChannelInit, DataChannelMessage, DataChannelState, DtlsTransportState, IceCandidateInit,
    PeerConnectionEvent, PeerConnectionState, RTCConfiguration, RTCDataChannel, RTCPeerConnection, RemoteTrack,
    SignalingState,
};
use tokio::sync::mpsc;
use tokio::time::{sleep, timeout};

pub const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
pub const PATIENCE: Duration = Duration::from_secs(20);

/// What a pump saw, in order, as the W3C event names (plus the candidate for `icecandidate`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    Signaling(SignalingState),
    Gathering(String),
    Candidate(Option<IceCandidateInit>),
    IceConnection(String),
    Connection(PeerConnectionState),
    Dtls(DtlsTransportState),
    NegotiationNeeded,
    DataChannel,
    /// A media event (track, keyframe request, codec not negotiated): these tests carry data only.
    Media,
    /// `icecandidateerror`, with its code.
    CandidateError(u16),
}

/// Reads `pc`'s events, hands its candidates to `other`, reports every event on `seen` and
/// remote channels on `channels`.
pub fn pump(
    pc: &mut RTCPeerConnection,
    other: &RTCPeerConnection,
) -> (mpsc::UnboundedReceiver<Seen>, mpsc::UnboundedReceiver<RTCDataChannel>) {
    pump_with(pc, other, false)
}

/// Like [`pump`], but a candidate the peer refuses is offered again a little later (in order), as
/// a signaling channel would hold one gathered under new credentials until the peer has the
/// description that carries them.
pub fn pump_holding(
    pc: &mut RTCPeerConnection,
    other: &RTCPeerConnection,
) -> (mpsc::UnboundedReceiver<Seen>, mpsc::UnboundedReceiver<RTCDataChannel>) {
    pump_with(pc, other, true)
}

fn pump_with(
    pc: &mut RTCPeerConnection,
    other: &RTCPeerConnection,
    holding: bool,
) -> (mpsc::UnboundedReceiver<Seen>, mpsc::UnboundedReceiver<RTCDataChannel>) {
    let other = other.clone();
    let (seen_tx, seen) = mpsc::unbounded_channel();
    let (channel_tx, channels) = mpsc::unbounded_channel();
    let mut events = pc.take_events().expect("a fresh connection has its event stream");
    tokio::spawn(async move {
        while let Some(event) = events.recv().await {
            let seen = match event {
                PeerConnectionEvent::IceCandidate(candidate) if holding => {
                    hand_over(&other, candidate.clone()).await;
                    Seen::Candidate(candidate)
                }
                PeerConnectionEvent::IceCandidate(candidate) => {
                    other
                        .add_ice_candidate(candidate.clone())
                        .await
                        .expect("the peer accepts our candidate");
                    Seen::Candidate(candidate)
                }
                PeerConnectionEvent::IceGatheringStateChange(s) => Seen::Gathering(s.to_string()),
                PeerConnectionEvent::IceConnectionStateChange(s) => Seen::IceConnection(s.to_string()),
                PeerConnectionEvent::ConnectionStateChange(s) => Seen::Connection(s),
                PeerConnectionEvent::DtlsStateChange(s) => Seen::Dtls(s),
                PeerConnectionEvent::SignalingStateChange(s) => Seen::Signaling(s),
                PeerConnectionEvent::NegotiationNeeded => Seen::NegotiationNeeded,
                PeerConnectionEvent::IceCandidateError { error_code, .. } => Seen::CandidateError(error_code),
                PeerConnectionEvent::DataChannel(channel) => {
                    let _ = channel_tx.send(channel);
                    Seen::DataChannel
                }
                PeerConnectionEvent::Track(_)
                | PeerConnectionEvent::CodecNotNegotiated(..)
                | PeerConnectionEvent::KeyframeRequested(..)
                | PeerConnectionEvent::TrackMuted(_)
                | PeerConnectionEvent::TrackUnmuted(_)
                | PeerConnectionEvent::StreamTrackRemoved { .. }
                | PeerConnectionEvent::TargetBitrate { .. } => Seen::Media,
            };
            let _ = seen_tx.send(seen);
        }
    });
    (seen, channels)
}

/// Adds `candidate` to `other`, retrying for a while as long as it is refused.
async fn hand_over(other: &RTCPeerConnection, candidate: Option<IceCandidateInit>) {
    for _ in 0..100 {
        if other.add_ice_candidate(candidate.clone()).await.is_ok() {
            return;
        }
        sleep(Duration::from_millis(20)).await;
    }
    panic!("the peer never accepted {candidate:?}");
}

pub struct Pair {
    pub offerer: RTCPeerConnection,
    pub answerer: RTCPeerConnection,
    pub answerer_seen: mpsc::UnboundedReceiver<Seen>,
    pub offerer_channel: RTCDataChannel,
    pub answerer_channel: RTCDataChannel,
}

pub async fn loopback_peer() -> RTCPeerConnection {
    RTCPeerConnection::new(RTCConfiguration::bound_to([LOOPBACK]))
        .await
        .expect("a connection bound to loopback")
}

/// Waits until `seen` reports `wanted`, returning everything seen up to and including it.
pub async fn wait_for(seen: &mut mpsc::UnboundedReceiver<Seen>, wanted: Seen) -> Vec<Seen> {
    let mut log = Vec::new();
    let found = timeout(PATIENCE, async {
        while let Some(s) = seen.recv().await {
            log.push(s.clone());
            if s == wanted {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(found, Ok(true), "{wanted:?} never came; saw {log:?}");
    log
}

/// Offer/answer in memory with the descriptions `setLocalDescription()` makes (on loopback they
/// carry the host candidates, gathered at once).
pub async fn negotiate(offerer: &RTCPeerConnection, answerer: &RTCPeerConnection) {
    offerer.set_local_description(None).await.expect("SLD(offer)");
    let offer = offerer.local_description().await.expect("alive").expect("offer");
    answerer.set_remote_description(offer).await.expect("SRD(offer)");
    answerer.set_local_description(None).await.expect("SLD(answer)");
    let answer = answerer.local_description().await.expect("alive").expect("answer");
    offerer.set_remote_description(answer).await.expect("SRD(answer)");
}

/// The first `track` event of `pc`, skipping the others.
pub async fn next_track(pc: &mut RTCPeerConnection) -> RemoteTrack {
    timeout(PATIENCE, async {
        while let Some(event) = pc.next_event().await {
            if let PeerConnectionEvent::Track(track) = event {
                return track;
            }
        }
        panic!("the connection ended before a track arrived");
    })
    .await
    .expect("a track event")
}

/// The remote end of the offerer's channel (from the answerer's pump), once both ends are open.
pub async fn open_both(
    offerer_channel: &mut RTCDataChannel,
    answerer_channels: &mut mpsc::UnboundedReceiver<RTCDataChannel>,
) -> RTCDataChannel {
    let mut answerer_channel = timeout(PATIENCE, answerer_channels.recv())
        .await
        .expect("the datachannel event comes")
        .expect("a remote channel");
    open_channel(offerer_channel).await;
    open_channel(&mut answerer_channel).await;
    answerer_channel
}

pub async fn open_channel(channel: &mut RTCDataChannel) {
    let event = timeout(PATIENCE, channel.next_event())
        .await
        .expect("the channel opens");
    assert_eq!(event, Some(DataChannelEvent::Open));
    assert_eq!(channel.ready_state(), DataChannelState::Open);
}

/// Offer/answer in memory, candidates by trickle, a reliable channel open on both sides.
pub async fn connected_pair() -> (Pair, Vec<Seen>) {
    connect_pair(loopback_peer().await, loopback_peer().await, "test").await
}

/// [`connected_pair`] for two given connections and a channel labelled `label`; also returns
/// the offerer's events up to `connected`.
pub async fn connect_pair(
    mut offerer: RTCPeerConnection,
    mut answerer: RTCPeerConnection,
    label: &str,
) -> (Pair, Vec<Seen>) {
    let mut offerer_channel = offerer
        .create_data_channel(label, DataChannelInit::default())
        .await
        .expect("createDataChannel");
    assert_eq!(offerer_channel.label(), label);
    assert_eq!(offerer_channel.ready_state(), DataChannelState::Connecting);

    let offer = offerer.create_offer().await.expect("createOffer");
    offerer
        .set_local_description(Some(offer.clone()))
        .await
        .expect("SLD(offer)");
    answerer.set_remote_description(offer).await.expect("SRD(offer)");
    let answer = answerer.create_answer().await.expect("createAnswer");
    answerer
        .set_local_description(Some(answer.clone()))
        .await
        .expect("SLD(answer)");
    offerer.set_remote_description(answer).await.expect("SRD(answer)");

    let (mut offerer_seen, _offerer_channels) = pump(&mut offerer, &answerer);
    let (answerer_seen, mut answerer_channels) = pump(&mut answerer, &offerer);
    let offerer_log = wait_for(&mut offerer_seen, Seen::Connection(PeerConnectionState::Connected)).await;

    let answerer_channel = open_both(&mut offerer_channel, &mut answerer_channels).await;
    assert_eq!(answerer_channel.label(), label);
    (
        Pair {
            offerer,
            answerer,
            answerer_seen,
            offerer_channel,
            answerer_channel,
        },
        offerer_log,
    )
}

/// The channel's next message, passing over `bufferedamountlow` (which our own sends cause).
pub async fn next_message(channel: &mut RTCDataChannel) -> DataChannelMessage {
    loop {
        match timeout(PATIENCE, channel.next_event()).await.expect("a message comes") {
            Some(DataChannelEvent::Message(message)) => return message,
            Some(DataChannelEvent::BufferedAmountLow) => {}
            other => panic!("expected a message, got {other:?}"),
        }
    }
}

pub fn position(log: &[Seen], wanted: &Seen) -> usize {
    log.iter()
        .position(|s| s == wanted)
        .unwrap_or_else(|| panic!("{wanted:?} missing from {log:?}"))
}

pub fn port_is_free(addr: std::net::SocketAddr) -> bool {
    std::net::UdpSocket::bind(addr).is_ok()
}
