//! Two rtcpeer peers in this process, connected over loopback with open data channels and, when asked,
//! one track: the setup `bench` and `soak` share.

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use rtcpeer::{
    DataChannelEvent, DataChannelInit, IceCandidateInit, LocalTrack, PeerConnectionEvent, PeerConnectionState,
    RTCConfiguration, RTCDataChannel, RTCPeerConnection, RemoteTrack,
};
use tokio::sync::mpsc;

/// A connected pair: `local[i]` on the offerer is `remote[i]` on the answerer.
pub struct Pair {
    /// The offering peer.
    pub offerer: RTCPeerConnection,
    /// The answering peer.
    pub answerer: RTCPeerConnection,
    /// The offerer's channels, open.
    pub local: Vec<RTCDataChannel>,
    /// The answerer's ends of the same channels, open, in the same order.
    pub remote: Vec<RTCDataChannel>,
    /// The answerer's end of the offerer's track, when [`connect`] was given one.
    pub track: Option<RemoteTrack>,
    /// From the offer (`setLocalDescription`) to every channel open on both sides.
    pub connect_time: Duration,
}

impl Pair {
    /// Closes both peers.
    pub async fn close(self) {
        self.offerer.close().await;
        self.answerer.close().await;
    }
}

fn call(step: &'static str) -> impl FnOnce(rtcpeer::RtcError) -> String {
    move |error| format!("{step}: {error}")
}

/// Forwards `pc`'s candidates to `to`, and its new channels and tracks and a failed or closed connection to
/// `arrivals`.
fn pump_events(
    pc: &mut RTCPeerConnection,
    to: mpsc::UnboundedSender<Option<IceCandidateInit>>,
    arrivals: mpsc::UnboundedSender<PeerConnectionEvent>,
) -> Result<(), String> {
    let mut events = pc.take_events().ok_or("event stream already taken")?;
    tokio::spawn(async move {
        while let Some(event) = events.recv().await {
            match event {
                PeerConnectionEvent::IceCandidate(candidate) => {
                    let _ = to.send(candidate);
                }
                event @ (PeerConnectionEvent::DataChannel(_)
                | PeerConnectionEvent::Track(_)
                | PeerConnectionEvent::ConnectionStateChange(
                    PeerConnectionState::Failed | PeerConnectionState::Closed,
                )) => {
                    let _ = arrivals.send(event);
                }
                _ => {}
            }
        }
    });
    Ok(())
}

/// Adds the candidates arriving on `from` to `pc`, in order.
fn apply_candidates(pc: &RTCPeerConnection, mut from: mpsc::UnboundedReceiver<Option<IceCandidateInit>>) {
    let pc = pc.clone();
    tokio::spawn(async move {
        while let Some(candidate) = from.recv().await {
            if pc.add_ice_candidate(candidate).await.is_err() {
                return;
            }
        }
    });
}

async fn wait_open(channel: &mut RTCDataChannel) -> Result<(), String> {
    loop {
        match channel.next_event().await {
            Some(DataChannelEvent::Open) => return Ok(()),
            Some(DataChannelEvent::BufferedAmountLow) => {}
            other => return Err(format!("channel did not open: {other:?}")),
        }
    }
}

/// Connects two peers bound to 127.0.0.1 with `channels` reliable ordered channels, and `track` sent from the
/// offerer when given, within `limit`.
pub async fn connect(channels: usize, track: Option<&LocalTrack>, limit: Duration) -> Result<Pair, String> {
    let loopback = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let config = RTCConfiguration::bound_to([loopback]);
    connect_configured(config.clone(), config, channels, track, limit).await
}

/// Like [`connect`], with the offerer's and the answerer's configurations given.
pub async fn connect_configured(
    offerer: RTCConfiguration,
    answerer: RTCConfiguration,
    channels: usize,
    track: Option<&LocalTrack>,
    limit: Duration,
) -> Result<Pair, String> {
    tokio::time::timeout(limit, connect_steps(offerer, answerer, channels, track))
        .await
        .map_err(|_| format!("connecting took longer than {limit:?}"))?
}

async fn connect_steps(
    offerer: RTCConfiguration,
    answerer: RTCConfiguration,
    count: usize,
    track: Option<&LocalTrack>,
) -> Result<Pair, String> {
    let mut offerer = RTCPeerConnection::new(offerer)
        .await
        .map_err(call("creating the offerer"))?;
    let mut answerer = RTCPeerConnection::new(answerer)
        .await
        .map_err(call("creating the answerer"))?;
    let mut local = Vec::with_capacity(count);
    for i in 0..count {
        let channel = offerer
            .create_data_channel(&i.to_string(), DataChannelInit::default())
            .await
            .map_err(call("createDataChannel"))?;
        local.push(channel);
    }
    if let Some(track) = track {
        offerer.add_track(track).await.map_err(call("addTrack"))?;
    }
    let (to_answerer, answerer_inbox) = mpsc::unbounded_channel();
    let (to_offerer, offerer_inbox) = mpsc::unbounded_channel();
    let (arrivals_tx, mut arrivals) = mpsc::unbounded_channel();
    pump_events(&mut offerer, to_answerer, arrivals_tx.clone())?;
    pump_events(&mut answerer, to_offerer, arrivals_tx)?;

    let start = Instant::now();
    offerer
        .set_local_description(None)
        .await
        .map_err(call("offerer setLocalDescription"))?;
    let offer = offerer
        .local_description()
        .await
        .map_err(call("offerer localDescription"))?
        .ok_or("no offer")?;
    answerer
        .set_remote_description(offer)
        .await
        .map_err(call("answerer setRemoteDescription"))?;
    apply_candidates(&answerer, answerer_inbox);
    answerer
        .set_local_description(None)
        .await
        .map_err(call("answerer setLocalDescription"))?;
    let answer = answerer
        .local_description()
        .await
        .map_err(call("answerer localDescription"))?
        .ok_or("no answer")?;
    offerer
        .set_remote_description(answer)
        .await
        .map_err(call("offerer setRemoteDescription"))?;
    apply_candidates(&offerer, offerer_inbox);

    for channel in &mut local {
        wait_open(channel).await?;
    }
    let mut remote = Vec::with_capacity(count);
    let mut remote_track = None;
    while remote.len() < count || (track.is_some() && remote_track.is_none()) {
        match arrivals.recv().await.ok_or("the event streams ended")? {
            PeerConnectionEvent::DataChannel(mut channel) => {
                wait_open(&mut channel).await?;
                remote.push(channel);
            }
            PeerConnectionEvent::Track(t) => remote_track = Some(t),
            PeerConnectionEvent::ConnectionStateChange(state) => return Err(format!("connection {state}")),
            _ => {}
        }
    }
    let connect_time = start.elapsed();
    // Pair the answerer's channels with the offerer's by label (the index).
    remote.sort_by_key(|channel| channel.label().parse().unwrap_or(usize::MAX));
    Ok(Pair {
        offerer,
        answerer,
        local,
        remote,
        track: remote_track,
        connect_time,
    })
}
