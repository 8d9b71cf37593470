//! `rtcpeer soak` (hidden): two peers in this process, over loopback, carry data and video for a
//! given time, while short-lived connections come and go beside them. `scripts/soak.sh` runs it
//! and watches the process's memory, file descriptors and threads.
//!
//! The long-lived pair: the offerer sends 16 KiB messages on a reliable ordered channel, the
//! answerer echoes them, and the offerer checks every echo byte for byte and in order (at most
//! [`WINDOW`] messages unanswered); meanwhile a VP8 track sends 30 frames a second of synthetic
//! video. Every `churn` seconds a fresh pair connects, exchanges one message and closes.

use std::time::{Duration, Instant};

use rtcpeer::{Codec, DataChannelEvent, DataChannelMessage, LocalTrack, MediaFrame, RTCDataChannel, RemoteTrack};

use crate::loopback;

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

/// A pair with one open channel and, when given, `track` from the offerer to the answerer.
async fn connect(track: Option<&LocalTrack>) -> Result<loopback::Pair, SoakError> {
    loopback::connect(1, track, CONNECT_LIMIT).await.map_err(SoakError::Rtc)
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
    let mut pair = connect(None).await?;
    echo(pair.remote.remove(0));
    let local = &mut pair.local[0];
    local.send(b"ping").await.map_err(call("churn send"))?;
    loop {
        match local.next_event().await {
            Some(DataChannelEvent::Message(DataChannelMessage::Binary(b))) if b == b"ping" => break,
            Some(DataChannelEvent::BufferedAmountLow) => {}
            other => return Err(SoakError::Rtc(format!("churn: no echo: {other:?}"))),
        }
    }
    pair.close().await;
    Ok(())
}

/// Runs the soak; prints progress every 10 s and a summary line at the end.
pub async fn run(options: SoakOptions) -> Result<String, SoakError> {
    let start = Instant::now();
    let until = start + options.duration;
    let track = LocalTrack::new("soak-video", Codec::Vp8, vec!["soak".into()]).map_err(call("LocalTrack"))?;
    let mut pair = connect(Some(&track)).await?;
    let remote_track = pair
        .track
        .take()
        .ok_or_else(|| SoakError::Rtc("the video track did not arrive".into()))?;
    let frames = count_frames(remote_track);
    let video = tokio::spawn(send_video(track, until));
    echo(pair.remote.remove(0));
    let local = &mut pair.local[0];

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
            local.send(&message(sent)).await.map_err(call("send"))?;
            sent += 1;
        }
        if echoed == sent {
            if Instant::now() >= until {
                break;
            }
            tokio::time::sleep(Duration::from_secs_f64(1.0 / RATE)).await;
            continue;
        }
        let event = tokio::time::timeout(Duration::from_secs(10), local.next_event())
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
    pair.close().await;
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
