//! `rtcpeer demo`: two peers in one process connect over loopback and check a
//! data channel byte for byte in both directions.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use rtcpeer::{
    DataChannelEvent, DataChannelInit, IceCandidateInit, PeerConnectionEvent, PeerConnectionState, RTCConfiguration,
    RTCDataChannel, RTCPeerConnection, RtcError,
};
use tokio::sync::{mpsc, oneshot};

use crate::messages::{describe, message, message_len};

/// What the demo is asked to do.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Messages sent in each direction.
    pub messages: usize,
    /// Seed of the message generator.
    pub seed: u64,
    /// The whole demo fails if it takes longer than this.
    pub timeout: Duration,
    /// STUN/TURN servers and the relay-only policy of both peers.
    pub ice: crate::ice_options::IceOptions,
}

/// What a successful demo measured.
#[derive(Debug, Clone)]
pub struct DemoSummary {
    /// From the first `setLocalDescription` to both peers `connected`.
    pub time_to_connect: Duration,
    /// From both channels open to the last message verified.
    pub transfer_time: Duration,
    /// Messages received and verified per direction.
    pub messages: usize,
    /// Payload bytes verified, both directions together.
    pub bytes: u64,
    /// Datagrams both peers sent.
    pub datagrams_sent: u64,
    /// Datagrams both peers received.
    pub datagrams_received: u64,
}

impl fmt::Display for DemoSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let seconds = self.transfer_time.as_secs_f64().max(1e-9);
        writeln!(f, "time to connect: {:.1} ms", self.time_to_connect.as_secs_f64() * 1e3)?;
        writeln!(
            f,
            "messages: {} each way, every byte and the order verified",
            self.messages
        )?;
        writeln!(f, "bytes: {} ({:.2} MB)", self.bytes, self.bytes as f64 / 1e6)?;
        writeln!(
            f,
            "datagrams: {} sent, {} received ({} lost on loopback)",
            self.datagrams_sent,
            self.datagrams_received,
            self.datagrams_sent.saturating_sub(self.datagrams_received)
        )?;
        write!(
            f,
            "throughput: {:.2} MB/s over {:.1} ms",
            self.bytes as f64 / 1e6 / seconds,
            seconds * 1e3
        )
    }
}

/// Why the demo failed.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// A peer-connection call failed.
    #[error("{step}: {error}")]
    Call {
        /// What the demo was doing.
        step: &'static str,
        /// The error the call returned.
        error: RtcError,
    },
    /// The connection reached `failed` or `closed` before the transfer was done.
    #[error("[{peer}] connection {state} before the demo finished")]
    ConnectionLost {
        /// Which peer.
        peer: &'static str,
        /// The state it reached.
        state: PeerConnectionState,
    },
    /// A message differs from the one sent.
    #[error("[{peer}] message {index}: {what}")]
    Mismatch {
        /// The receiving peer.
        peer: &'static str,
        /// The message's number.
        index: usize,
        /// How it differs.
        what: String,
    },
    /// A stream ended early or an expected event never came.
    #[error("{0}")]
    Missing(String),
    /// The demo took longer than allowed; the text says what it was waiting for.
    #[error("timed out after {seconds} s while {waiting_for}")]
    Timeout {
        /// The time limit.
        seconds: u64,
        /// What had not happened yet.
        waiting_for: String,
    },
}

fn step(step: &'static str) -> impl FnOnce(RtcError) -> DemoError {
    move |error| DemoError::Call { step, error }
}

/// What the event readers tell the demo.
#[derive(Debug)]
enum Progress {
    Connected,
    Lost(&'static str, PeerConnectionState),
    CandidateRefused(&'static str, RtcError),
}

/// Prints `peer`'s events as they happen, trickles its candidates into `signaling` (the
/// in-memory signaling channel to the other peer), and passes on what the demo waits for.
fn watch_events(
    peer: &'static str,
    pc: &mut RTCPeerConnection,
    signaling: mpsc::UnboundedSender<Option<IceCandidateInit>>,
    progress: mpsc::UnboundedSender<Progress>,
    remote_channel: Option<oneshot::Sender<RTCDataChannel>>,
) -> Result<(), DemoError> {
    let mut events = pc
        .take_events()
        .ok_or_else(|| DemoError::Missing(format!("[{peer}] event stream already taken")))?;
    let mut remote_channel = remote_channel;
    tokio::spawn(async move {
        while let Some(event) = events.recv().await {
            match event {
                PeerConnectionEvent::IceCandidate(candidate) => {
                    match &candidate {
                        Some(c) => println!("[{peer}] icecandidate: {}", c.candidate),
                        None => println!("[{peer}] icecandidate: null (end of candidates)"),
                    }
                    let _ = signaling.send(candidate);
                }
                PeerConnectionEvent::IceGatheringStateChange(s) => println!("[{peer}] icegatheringstatechange: {s}"),
                PeerConnectionEvent::IceConnectionStateChange(s) => println!("[{peer}] iceconnectionstatechange: {s}"),
                PeerConnectionEvent::SignalingStateChange(s) => println!("[{peer}] signalingstatechange: {s}"),
                PeerConnectionEvent::NegotiationNeeded => println!("[{peer}] negotiationneeded"),
                PeerConnectionEvent::DtlsStateChange(s) => println!("[{peer}] dtlsstatechange: {s}"),
                PeerConnectionEvent::IceCandidateError {
                    url,
                    error_code,
                    error_text,
                    ..
                } => println!("[{peer}] icecandidateerror: {url} {error_code} {error_text}"),
                PeerConnectionEvent::ConnectionStateChange(s) => {
                    println!("[{peer}] connectionstatechange: {s}");
                    let report = match s {
                        PeerConnectionState::Connected => Some(Progress::Connected),
                        PeerConnectionState::Failed | PeerConnectionState::Closed => Some(Progress::Lost(peer, s)),
                        _ => None,
                    };
                    if let Some(report) = report {
                        let _ = progress.send(report);
                    }
                }
                PeerConnectionEvent::DataChannel(channel) => {
                    println!("[{peer}] datachannel: '{}'", channel.label());
                    if let Some(slot) = remote_channel.take() {
                        let _ = slot.send(channel);
                    }
                }
                // The demo carries data only.
                PeerConnectionEvent::Track(_)
                | PeerConnectionEvent::CodecNotNegotiated(..)
                | PeerConnectionEvent::KeyframeRequested(..)
                | PeerConnectionEvent::TrackMuted(_)
                | PeerConnectionEvent::TrackUnmuted(_)
                | PeerConnectionEvent::StreamTrackRemoved { .. }
                | PeerConnectionEvent::TargetBitrate { .. } => {}
            }
        }
    });
    Ok(())
}

/// The receiving end of the signaling channel: once `pc` has its remote description, adds the
/// peer's candidates in the order they were sent, as a signaling server would deliver them.
fn apply_candidates(
    peer: &'static str,
    pc: &RTCPeerConnection,
    mut signaling: mpsc::UnboundedReceiver<Option<IceCandidateInit>>,
    progress: mpsc::UnboundedSender<Progress>,
) {
    let pc = pc.clone();
    tokio::spawn(async move {
        while let Some(candidate) = signaling.recv().await {
            if let Err(error) = pc.add_ice_candidate(candidate).await {
                let _ = progress.send(Progress::CandidateRefused(peer, error));
                return;
            }
        }
    });
}

/// Sends `count` messages of the stream `seed` on `channel`.
async fn send_all(channel: RTCDataChannel, seed: u64, count: usize) -> Result<(), DemoError> {
    for index in 0..count {
        channel
            .send_message(message(seed, index))
            .await
            .map_err(step("sending a message"))?;
    }
    Ok(())
}

/// Receives and checks `count` messages of the stream `seed`; returns the payload bytes.
async fn receive_all(
    peer: &'static str,
    channel: &mut RTCDataChannel,
    seed: u64,
    count: usize,
) -> Result<u64, DemoError> {
    let mut bytes = 0u64;
    let mut index = 0;
    while index < count {
        match channel.next_event().await {
            Some(DataChannelEvent::Message(got)) => {
                let expected = message(seed, index);
                if got != expected {
                    let what = if message_len(&got) != message_len(&expected)
                        || std::mem::discriminant(&got) != std::mem::discriminant(&expected)
                    {
                        format!("expected {}, got {}", describe(&expected), describe(&got))
                    } else {
                        "same size, different bytes".to_owned()
                    };
                    return Err(DemoError::Mismatch { peer, index, what });
                }
                bytes += message_len(&got) as u64;
                index += 1;
            }
            Some(DataChannelEvent::BufferedAmountLow | DataChannelEvent::Open) => {}
            Some(other) => {
                return Err(DemoError::Missing(format!(
                    "[{peer}] channel event {other:?} after {index} of {count} messages"
                )))
            }
            None => {
                return Err(DemoError::Missing(format!(
                    "[{peer}] channel ended after {index} of {count} messages"
                )))
            }
        }
    }
    Ok(bytes)
}

async fn wait_open(peer: &'static str, channel: &mut RTCDataChannel) -> Result<(), DemoError> {
    match channel.next_event().await {
        Some(DataChannelEvent::Open) => {
            println!(
                "[{peer}] datachannel '{}' open (id {})",
                channel.label(),
                channel.id().map_or_else(|| "none".to_string(), |id| id.to_string())
            );
            Ok(())
        }
        other => Err(DemoError::Missing(format!(
            "[{peer}] expected the channel to open, got {other:?}"
        ))),
    }
}

/// Runs the demo; `waiting_for` always says what the demo is waiting for, for the timeout message.
async fn run_steps(options: &DemoOptions, waiting_for: &mut String) -> Result<DemoSummary, DemoError> {
    let loopback = IpAddr::V4(Ipv4Addr::LOCALHOST);
    *waiting_for = "creating the peers".into();
    let config = options.ice.apply(RTCConfiguration::bound_to([loopback]));
    let mut offerer = RTCPeerConnection::new(config.clone())
        .await
        .map_err(step("creating the offerer"))?;
    let mut answerer = RTCPeerConnection::new(config)
        .await
        .map_err(step("creating the answerer"))?;
    let mut local_channel = offerer
        .create_data_channel("demo", DataChannelInit::default())
        .await
        .map_err(step("createDataChannel"))?;

    let (progress_tx, mut progress) = mpsc::unbounded_channel();
    let (channel_tx, channel_rx) = oneshot::channel();
    let (to_answerer, answerer_inbox) = mpsc::unbounded_channel();
    let (to_offerer, offerer_inbox) = mpsc::unbounded_channel();
    watch_events("offerer", &mut offerer, to_answerer, progress_tx.clone(), None)?;
    watch_events(
        "answerer",
        &mut answerer,
        to_offerer,
        progress_tx.clone(),
        Some(channel_tx),
    )?;

    *waiting_for = "negotiating".into();
    let start = Instant::now();
    offerer
        .set_local_description(None)
        .await
        .map_err(step("offerer setLocalDescription"))?;
    let offer = offerer
        .local_description()
        .await
        .map_err(step("offerer localDescription"))?
        .ok_or_else(|| DemoError::Missing("the offerer has no local description".into()))?;
    answerer
        .set_remote_description(offer)
        .await
        .map_err(step("answerer setRemoteDescription"))?;
    apply_candidates("answerer", &answerer, answerer_inbox, progress_tx.clone());
    answerer
        .set_local_description(None)
        .await
        .map_err(step("answerer setLocalDescription"))?;
    let answer = answerer
        .local_description()
        .await
        .map_err(step("answerer localDescription"))?
        .ok_or_else(|| DemoError::Missing("the answerer has no local description".into()))?;
    offerer
        .set_remote_description(answer)
        .await
        .map_err(step("offerer setRemoteDescription"))?;
    apply_candidates("offerer", &offerer, offerer_inbox, progress_tx);

    *waiting_for = "both peers to reach connectionState connected".into();
    let mut connected = 0;
    while connected < 2 {
        match progress.recv().await {
            Some(Progress::Connected) => connected += 1,
            Some(Progress::Lost(peer, state)) => return Err(DemoError::ConnectionLost { peer, state }),
            Some(Progress::CandidateRefused(peer, error)) => {
                return Err(DemoError::Call {
                    step: if peer == "offerer" {
                        "offerer addIceCandidate"
                    } else {
                        "answerer addIceCandidate"
                    },
                    error,
                })
            }
            None => return Err(DemoError::Missing("the event readers stopped".into())),
        }
    }
    let time_to_connect = start.elapsed();
    for (name, pc) in [("offerer", &offerer), ("answerer", &answerer)] {
        if let Ok(Some((local, remote))) = pc.selected_candidate_pair().await {
            println!(
                "[{name}] selected candidate pair: local {} {}:{} <-> remote {} {}:{}",
                local.kind.as_str(),
                local.address,
                local.port,
                remote.kind.as_str(),
                remote.address,
                remote.port
            );
        }
    }

    *waiting_for = "the datachannel event and both channels to open".into();
    let mut remote_channel = channel_rx
        .await
        .map_err(|_| DemoError::Missing("the answerer never got the datachannel event".into()))?;
    wait_open("offerer", &mut local_channel).await?;
    wait_open("answerer", &mut remote_channel).await?;

    *waiting_for = format!("{} messages each way", options.messages);
    let transfer_start = Instant::now();
    let (offerer_seed, answerer_seed) = (options.seed, options.seed.rotate_left(32) ^ 0xa5a5);
    let count = options.messages;
    let sends = tokio::spawn(send_all(local_channel.clone(), offerer_seed, count));
    let replies = tokio::spawn(send_all(remote_channel.clone(), answerer_seed, count));
    let (at_answerer, at_offerer) = tokio::join!(
        receive_all("answerer", &mut remote_channel, offerer_seed, count),
        receive_all("offerer", &mut local_channel, answerer_seed, count),
    );
    let bytes = at_answerer? + at_offerer?;
    for sender in [sends, replies] {
        sender
            .await
            .map_err(|e| DemoError::Missing(format!("a sender task died: {e}")))??;
    }
    let transfer_time = transfer_start.elapsed();

    let mut datagrams_sent = 0;
    let mut datagrams_received = 0;
    for pc in [&offerer, &answerer] {
        let stats = pc.transport_stats().await.map_err(step("reading transport stats"))?;
        datagrams_sent += stats.datagrams_sent;
        datagrams_received += stats.datagrams_received;
    }
    *waiting_for = "closing".into();
    offerer.close().await;
    answerer.close().await;
    Ok(DemoSummary {
        time_to_connect,
        transfer_time,
        messages: count,
        bytes,
        datagrams_sent,
        datagrams_received,
    })
}

/// Runs the demo within `options.timeout`.
pub async fn run(options: DemoOptions) -> Result<DemoSummary, DemoError> {
    let mut waiting_for = String::from("starting");
    match tokio::time::timeout(options.timeout, run_steps(&options, &mut waiting_for)).await {
        Ok(result) => result,
        Err(_) => Err(DemoError::Timeout {
            seconds: options.timeout.as_secs(),
            waiting_for,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_demo_passes_on_loopback() {
        let summary = run(DemoOptions {
            messages: 50,
            seed: 1,
            timeout: Duration::from_secs(30),
            ice: Default::default(),
        })
        .await
        .expect("the demo succeeds");
        assert_eq!(summary.messages, 50);
        let expected: u64 = (0..50)
            .map(|i| (message_len(&message(1, i)) + message_len(&message(1u64.rotate_left(32) ^ 0xa5a5, i))) as u64)
            .sum();
        assert_eq!(summary.bytes, expected);
    }
}
