//! `rtcpeer soak` (hidden): two peers in this process, over loopback, carry data and video for a
//! given time, while short-lived connections come and go beside them. `scripts/soak.sh` runs it
//! and watches the process's memory, file descriptors and threads.
//!
//! The long-lived pair: the offerer sends 16 KiB messages on a reliable ordered channel, the
//! answerer echoes them, and the offerer checks every echo byte for byte and in order (at most
//! [`WINDOW`] messages unanswered); meanwhile a VP8 track sends 30 frames a second of synthetic
//! video. Every `churn` seconds a fresh pair connects, exchanges one message and closes.

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use rtcpeer::{
    Codec, DataChannelEvent, DataChannelInit, DataChannelMessage, IceCandidateInit, LocalTrack, MediaFrame,
    PeerConnectionEvent, RTCConfiguration, RTCDataChannel, RTCPeerConnection, RemoteTrack,
};
use tokio::sync::mpsc;

/// Size of each data message.
const MESSAGE: usize = 16 * 1024;
/// Messages sent and not yet echoed, at most.
const WINDOW: u64 = 32;
/// Data messages sent per second, at most (2 MiB/s: steady load that leaves CPU to the rest).
const RATE: f64 = 128.0;
/// How long one connection may take to come up.
const CONNECT_LIMIT: Duration = Duration::from_secs(20);

/// What the soak is asked to do.
#[derive(Debug, Clone)]
pub struct SoakOptions {
    /// How long the long-lived pair runs.
    pub duration: Duration,
    /// Seconds between short-lived connections (0: none).
    pub churn: Duration,
}

/// Why the soak failed.
#[derive(Debug, thiserror::Error)]
pub enum SoakError {
    /// A call or a connection failed.
    #[error("{0}")]
    Rtc(String),
    /// An echoed message differs from the one sent.
    #[error("echo of message {0} differs from what was sent")]
    Mismatch(u64),
}

fn call(step: &'static str) -> impl FnOnce(rtcpeer::RtcError) -> SoakError {
    move |error| SoakError::Rtc(format!("{step}: {error}"))
}

/// A connected pair with one open channel, and the answerer's remote track when the offerer sent one.
struct Pair {
    offerer: RTCPeerConnection,
    answerer: RTCPeerConnection,
    local: RTCDataChannel,
    remote: RTCDataChannel,
    track: Option<RemoteTrack>,
}

/// Forwards `pc`'s candidates to `to`, and (on the answerer) its channels and tracks.
fn pump_events(
    pc: &mut RTCPeerConnection,
    to: mpsc::UnboundedSender<Option<IceCandidateInit>>,
    arrivals: Option<mpsc::UnboundedSender<PeerConnectionEvent>>,
) -> Result<(), SoakError> {
    let mut events = pc
        .take_events()
        .ok_or_else(|| SoakError::Rtc("event stream already taken".into()))?;
    tokio::spawn(async move {
        while let Some(event) = events.recv().await {
            match event {
                PeerConnectionEvent::IceCandidate(candidate) => {
                    let _ = to.send(candidate);
                }
                event @ (PeerConnectionEvent::DataChannel(_) | PeerConnectionEvent::Track(_)) => {
                    if let Some(arrivals) = &arrivals {
                        let _ = arrivals.send(event);
                    }
                }
                _ => {}
            }
        }
    });
    Ok(())
}

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

async fn wait_open(channel: &mut RTCDataChannel) -> Result<(), SoakError> {
    loop {
        match channel.next_event().await {
            Some(DataChannelEvent::Open) => return Ok(()),
            Some(DataChannelEvent::BufferedAmountLow) => {}
            other => return Err(SoakError::Rtc(format!("channel did not open: {other:?}"))),
        }
    }
}

async fn connect(track: Option<&LocalTrack>) -> Result<Pair, SoakError> {
    let loopback = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let mut offerer = RTCPeerConnection::new(RTCConfiguration::bound_to([loopback]))
        .await
        .map_err(call("creating the offerer"))?;
    let mut answerer = RTCPeerConnection::new(RTCConfiguration::bound_to([loopback]))
        .await
        .map_err(call("creating the answerer"))?;
    let mut local = offerer
        .create_data_channel("soak", DataChannelInit::default())
        .await
        .map_err(call("createDataChannel"))?;
    if let Some(track) = track {
        offerer.add_track(track).await.map_err(call("addTrack"))?;
    }
    let (to_answerer, answerer_inbox) = mpsc::unbounded_channel();
    let (to_offerer, offerer_inbox) = mpsc::unbounded_channel();
    let (arrivals_tx, mut arrivals) = mpsc::unbounded_channel();
    pump_events(&mut offerer, to_answerer, None)?;
    pump_events(&mut answerer, to_offerer, Some(arrivals_tx))?;

    offerer
        .set_local_description(None)
        .await
        .map_err(call("offerer setLocalDescription"))?;
    let offer = offerer
        .local_description()
        .await
        .map_err(call("offerer localDescription"))?
        .ok_or_else(|| SoakError::Rtc("no offer".into()))?;
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
        .ok_or_else(|| SoakError::Rtc("no answer".into()))?;
    offerer
        .set_remote_description(answer)
        .await
        .map_err(call("offerer setRemoteDescription"))?;
    apply_candidates(&offerer, offerer_inbox);

    wait_open(&mut local).await?;
    let (mut remote, mut remote_track) = (None, None);
    while remote.is_none() || (track.is_some() && remote_track.is_none()) {
        match arrivals.recv().await {
            Some(PeerConnectionEvent::DataChannel(mut channel)) => {
                wait_open(&mut channel).await?;
                remote = Some(channel);
            }
            Some(PeerConnectionEvent::Track(t)) => remote_track = Some(t),
            Some(_) => {}
            None => return Err(SoakError::Rtc("answerer event stream ended".into())),
        }
    }
    let remote = remote.ok_or_else(|| SoakError::Rtc("no remote channel".into()))?;
    Ok(Pair {
        offerer,
        answerer,
        local,
        remote,
        track: remote_track,
    })
}

async fn connect_within(track: Option<&LocalTrack>) -> Result<Pair, SoakError> {
    tokio::time::timeout(CONNECT_LIMIT, connect(track))
        .await
        .map_err(|_| SoakError::Rtc(format!("connecting took longer than {CONNECT_LIMIT:?}")))?
}

/// Message `n`: its number, then a pattern that depends on it.
fn message(n: u64) -> Vec<u8> {
    let mut m = n.to_be_bytes().to_vec();
    m.extend((0..MESSAGE - 8).map(|i| (i as u64).wrapping_mul(31).wrapping_add(n) as u8));
    m
}

/// Echoes every message of `channel` back until it closes.
fn echo(mut channel: RTCDataChannel) {
    tokio::spawn(async move {
        while let Some(event) = channel.next_event().await {
            if let DataChannelEvent::Message(m) = event {
                if channel.send_message(m).await.is_err() {
                    return;
                }
            }
        }
    });
}

/// Counts the frames of `track` until it ends.
fn count_frames(mut track: RemoteTrack) -> tokio::task::JoinHandle<u64> {
    tokio::spawn(async move {
        let mut frames = 0;
        while track.next_frame().await.is_some() {
            frames += 1;
        }
        frames
    })
}

/// Sends 30 synthetic VP8 frames a second (a keyframe every second) until `until`.
async fn send_video(track: LocalTrack, until: Instant) -> u64 {
    let mut tick = tokio::time::interval(Duration::from_millis(33));
    let mut sent = 0u64;
    while Instant::now() < until {
        tick.tick().await;
        let keyframe = sent % 30 == 0;
        let len = if keyframe {
            20_000
        } else {
            3_000 + (sent as usize * 997) % 3000
        };
        let mut data: Vec<u8> = (0..len).map(|i| (i as u64 ^ sent) as u8).collect();
        data[0] = if keyframe { 0x00 } else { 0x01 };
        track.write_frame(MediaFrame {
            data: data.into(),
            pts: Duration::from_millis(33 * sent),
        });
        sent += 1;
    }
    sent
}

/// One short-lived pair: connect, one message there and back, close both.
async fn churn_once() -> Result<(), SoakError> {
    let mut pair = connect_within(None).await?;
    echo(pair.remote);
    pair.local.send(b"ping").await.map_err(call("churn send"))?;
    loop {
        match pair.local.next_event().await {
            Some(DataChannelEvent::Message(DataChannelMessage::Binary(b))) if b == b"ping" => break,
            Some(DataChannelEvent::BufferedAmountLow) => {}
            other => return Err(SoakError::Rtc(format!("churn: no echo: {other:?}"))),
        }
    }
    pair.offerer.close().await;
    pair.answerer.close().await;
    Ok(())
}

/// Runs the soak; prints progress every 10 s and a summary line at the end.
pub async fn run(options: SoakOptions) -> Result<String, SoakError> {
    let start = Instant::now();
    let until = start + options.duration;
    let track = LocalTrack::new("soak-video", Codec::Vp8, vec!["soak".into()]).map_err(call("LocalTrack"))?;
    let mut pair = connect_within(Some(&track)).await?;
    let remote_track = pair
        .track
        .take()
        .ok_or_else(|| SoakError::Rtc("the video track did not arrive".into()))?;
    let frames = count_frames(remote_track);
    let video = tokio::spawn(send_video(track, until));
    echo(pair.remote);

    let churn = options.churn;
    let churner = tokio::spawn(async move {
        let mut done = 0u64;
        if churn.is_zero() {
            return Ok(done);
        }
        while Instant::now() + churn < until {
            tokio::time::sleep(churn).await;
            churn_once().await?;
            done += 1;
        }
        Ok::<u64, SoakError>(done)
    });

    let (mut sent, mut echoed) = (0u64, 0u64);
    let mut report = start + Duration::from_secs(10);
    while Instant::now() < until || echoed < sent {
        let allowed = (start.elapsed().as_secs_f64() * RATE) as u64;
        while sent < echoed + WINDOW && sent < allowed && Instant::now() < until {
            pair.local.send(&message(sent)).await.map_err(call("send"))?;
            sent += 1;
        }
        if echoed == sent {
            if Instant::now() >= until {
                break;
            }
            tokio::time::sleep(Duration::from_secs_f64(1.0 / RATE)).await;
            continue;
        }
        let event = tokio::time::timeout(Duration::from_secs(10), pair.local.next_event())
            .await
            .map_err(|_| SoakError::Rtc(format!("no echo for 10 s ({echoed} of {sent} back)")))?;
        match event {
            Some(DataChannelEvent::Message(DataChannelMessage::Binary(bytes))) => {
                if bytes != message(echoed) {
                    return Err(SoakError::Mismatch(echoed));
                }
                echoed += 1;
            }
            Some(DataChannelEvent::BufferedAmountLow) => {}
            other => return Err(SoakError::Rtc(format!("data channel: {other:?}"))),
        }
        if Instant::now() >= report {
            eprintln!(
                "soak: {:>5.0} s: {echoed} messages echoed ({:.1} MB each way)",
                start.elapsed().as_secs_f64(),
                echoed as f64 * MESSAGE as f64 / 1e6
            );
            report += Duration::from_secs(10);
        }
    }
    let frames_sent = video.await.map_err(|e| SoakError::Rtc(format!("video task: {e}")))?;
    let churned = churner
        .await
        .map_err(|e| SoakError::Rtc(format!("churn task: {e}")))??;
    pair.offerer.close().await;
    pair.answerer.close().await;
    let frames_received = frames.await.map_err(|e| SoakError::Rtc(format!("frame task: {e}")))?;
    if frames_received == 0 {
        return Err(SoakError::Rtc(format!("none of {frames_sent} video frames arrived")));
    }
    Ok(format!(
        "{:.0} s: {echoed} messages ({:.1} MB) echoed byte-exact and in order; video frames {frames_received} of \
         {frames_sent} received; {churned} short-lived connections",
        start.elapsed().as_secs_f64(),
        echoed as f64 * MESSAGE as f64 / 1e6,
    ))
}
