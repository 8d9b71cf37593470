//! Two rtcpeer peers in this process, connected over loopback with open data channels.

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use rtcpeer::{
    DataChannelEvent, DataChannelInit, IceCandidateInit, PeerConnectionEvent, PeerConnectionState, RTCConfiguration,
    RTCDataChannel, RTCPeerConnection,
};
use tokio::sync::mpsc;

use super::BenchError;

/// A connected pair: `channels[i]` on the offerer is `remote[i]` on the answerer.
pub struct Pair {
    /// The offering peer.
    pub offerer: RTCPeerConnection,
    /// The answering peer.
    pub answerer: RTCPeerConnection,
    /// The offerer's channels, open.
    pub local: Vec<RTCDataChannel>,
    /// The answerer's ends of the same channels, open, in the same order.
    pub remote: Vec<RTCDataChannel>,
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

fn call(step: &'static str) -> impl FnOnce(rtcpeer::RtcError) -> BenchError {
    move |error| BenchError::Rtc(format!("{step}: {error}"))
}

/// Forwards `pc`'s candidates to `to`, the answerer's channels to `channels`, and a failed connection to `failed`.
fn pump_events(
    pc: &mut RTCPeerConnection,
    to: mpsc::UnboundedSender<Option<IceCandidateInit>>,
    channels: Option<mpsc::UnboundedSender<RTCDataChannel>>,
    failed: mpsc::UnboundedSender<PeerConnectionState>,
) -> Result<(), BenchError> {
    let mut events = pc
        .take_events()
        .ok_or_else(|| BenchError::Rtc("event stream already taken".into()))?;
    tokio::spawn(async move {
        while let Some(event) = events.recv().await {
            match event {
                PeerConnectionEvent::IceCandidate(candidate) => {
                    let _ = to.send(candidate);
                }
                PeerConnectionEvent::DataChannel(channel) => {
                    if let Some(channels) = &channels {
                        let _ = channels.send(channel);
                    }
                }
                PeerConnectionEvent::ConnectionStateChange(
                    state @ (PeerConnectionState::Failed | PeerConnectionState::Closed),
                ) => {
                    let _ = failed.send(state);
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

async fn wait_open(channel: &mut RTCDataChannel) -> Result<(), BenchError> {
    loop {
        match channel.next_event().await {
            Some(DataChannelEvent::Open) => return Ok(()),
            Some(DataChannelEvent::BufferedAmountLow) => {}
            other => return Err(BenchError::Rtc(format!("channel did not open: {other:?}"))),
        }
    }
}

/// Connects two peers bound to 127.0.0.1 with `channels` reliable ordered channels, within `limit`.
pub async fn connect(channels: usize, limit: Duration) -> Result<Pair, BenchError> {
    tokio::time::timeout(limit, connect_steps(channels))
        .await
        .map_err(|_| BenchError::Rtc(format!("connecting took longer than {limit:?}")))?
}

async fn connect_steps(count: usize) -> Result<Pair, BenchError> {
    let loopback = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let mut offerer = RTCPeerConnection::new(RTCConfiguration::bound_to([loopback]))
        .await
        .map_err(call("creating the offerer"))?;
    let mut answerer = RTCPeerConnection::new(RTCConfiguration::bound_to([loopback]))
        .await
        .map_err(call("creating the answerer"))?;
    let mut local = Vec::with_capacity(count);
    for i in 0..count {
        let channel = offerer
            .create_data_channel(&format!("bench-{i}"), DataChannelInit::default())
            .await
            .map_err(call("createDataChannel"))?;
        local.push(channel);
    }
    let (to_answerer, answerer_inbox) = mpsc::unbounded_channel();
    let (to_offerer, offerer_inbox) = mpsc::unbounded_channel();
    let (channel_tx, mut channel_rx) = mpsc::unbounded_channel();
    let (failed_tx, mut failed) = mpsc::unbounded_channel();
    pump_events(&mut offerer, to_answerer, None, failed_tx.clone())?;
    pump_events(&mut answerer, to_offerer, Some(channel_tx), failed_tx)?;

    let start = Instant::now();
    offerer
        .set_local_description(None)
        .await
        .map_err(call("offerer setLocalDescription"))?;
    let offer = offerer
        .local_description()
        .await
        .map_err(call("offerer localDescription"))?
        .ok_or_else(|| BenchError::Rtc("no offer".into()))?;
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
        .ok_or_else(|| BenchError::Rtc("no answer".into()))?;
    offerer
        .set_remote_description(answer)
        .await
        .map_err(call("offerer setRemoteDescription"))?;
    apply_candidates(&offerer, offerer_inbox);

    for channel in &mut local {
        wait_open(channel).await?;
    }
    let mut remote = Vec::with_capacity(count);
    while remote.len() < count {
        tokio::select! {
            channel = channel_rx.recv() => {
                let mut channel = channel.ok_or_else(|| BenchError::Rtc("answerer event stream ended".into()))?;
                wait_open(&mut channel).await?;
                remote.push(channel);
            }
            Some(state) = failed.recv() => return Err(BenchError::Rtc(format!("connection {state}"))),
        }
    }
    let connect_time = start.elapsed();
    // Pair the answerer's channels with the offerer's by label.
    remote.sort_by_key(label_index);
    Ok(Pair {
        offerer,
        answerer,
        local,
        remote,
        connect_time,
    })
}

fn label_index(channel: &RTCDataChannel) -> usize {
    channel
        .label()
        .strip_prefix("bench-")
        .and_then(|n| n.parse().ok())
        .unwrap_or(usize::MAX)
}
