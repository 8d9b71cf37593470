//! `rtcpeer netpeer` (hidden): a peer for the network-namespace tests (`crates/rtcpeer-cli/tests/netns.rs`).
//!
//! It connects like `offer`/`answer` (one JSON signaling line each way, non-trickle), then stays
//! up and takes commands on stdin while it reports what happens as JSON lines on stdout, so a
//! test can cut and restore links and watch the states change:
//!
//! - with `--video` the offerer also sends synthetic VP8 frames (30 a second, a 20 kB keyframe
//!   every second), each carrying its number and bytes derived from it; the answerer checks
//!   every frame that arrives and reports `{"event":"video","frames":…}` every 30 frames;
//! - commands: `send BYTES` (append BYTES of the deterministic byte stream to the channel
//!   `bulk`, then a `mark TOTAL` text message), `restart` (`restartIce()` and a new offer, on
//!   either side), a description line `{"type":"offer"|"answer","sdp":…}` (the peer's offer is
//!   answered, its answer applied), `quit`;
//! - events: `{"event":"connection"|"ice","state":…,"t_ms":…}`, `{"event":"selected","local":…,
//!   "remote":…}` on every `connected`, `{"event":"open"}`, `{"event":"sent","bytes":…,"ms":…}`,
//!   `{"event":"verified","bytes":…,"ms":…}` when a mark arrives after exactly the bytes it
//!   names, every byte matching the stream and in order, `{"event":"description",
//!   "description":{"type":…,"sdp":…}}` for every description after the first (complete with its
//!   candidates: the line to hand to the peer), and `{"event":"error","what":…}`.
//!
//! The first offer and answer are bare description lines, as `offer`/`answer` write them; later
//! ones (renegotiation after `restart`) travel as `description` events out and bare lines in.
//!
//! The stream's byte at position `p` depends on `p` alone, so a receiver checks every byte,
//! its order and its position without anything being stored.

use std::io::Write;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rtcpeer::{
    Codec, DataChannelEvent, DataChannelInit, DataChannelMessage, Events, IceGatheringState, IceTiming, LocalTrack,
    MediaFrame, PeerConnectionEvent, PeerConnectionState, RTCConfiguration, RTCDataChannel, RTCPeerConnection,
    RemoteTrack, SdpType, SessionDescriptionInit,
};
use serde_json::json;
use tokio::sync::{mpsc, Notify};

use crate::messages::Generator;
use crate::pair::signaling::{self, LineReader};
use crate::pair::{local_description_when_gathered, step as call, PairError};

/// The label of the channel the offerer opens.
pub const CHANNEL: &str = "bulk";

/// The sender waits while the channel buffers more than this many bytes.
const PACE_LIMIT: usize = 1024 * 1024;

/// Which side of the signaling the peer takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Role {
    /// Opens the channel and writes the offer.
    Offer,
    /// Reads the offer and writes the answer.
    Answer,
}

/// What `rtcpeer netpeer` is asked to do.
#[derive(Debug, Clone)]
pub struct NetpeerOptions {
    /// Offerer or answerer.
    pub role: Role,
    /// Gather host candidates only on these addresses; empty: every interface.
    pub bind: Vec<IpAddr>,
    /// Size of the binary messages `send` cuts the stream into.
    pub message_size: usize,
    /// The offerer sends synthetic video; the answerer checks it.
    pub video: bool,
    /// STUN/TURN servers and the relay-only policy.
    pub ice: crate::ice_options::IceOptions,
    /// Consent timers: when a silent path makes the connection `disconnected` and `failed`.
    pub ice_timing: IceTiming,
}

/// The deterministic stream from `position` on: word `w` (bytes `8w..8w+8`, little endian) is
/// the first output of `Generator::new(w)`, made once for its eight bytes.
fn stream_from(position: u64) -> impl Iterator<Item = u8> {
    (position / 8..)
        .flat_map(|word| Generator::new(word).next().to_le_bytes())
        .skip((position % 8) as usize)
}

/// `len` bytes of the stream from `position` on.
pub fn stream_bytes(position: u64, len: usize) -> Vec<u8> {
    stream_from(position).take(len).collect()
}

/// Synthetic VP8 frame `number`: the VP8 key-frame bit, the number (8 bytes, little endian), then
/// bytes derived from the number; 20 kB for a keyframe (every 30th), 3 to 6 kB otherwise.
pub fn video_frame(number: u64) -> Vec<u8> {
    let keyframe = number % 30 == 0;
    let len = if keyframe {
        20_000
    } else {
        3_000 + (number as usize * 997) % 3_000
    };
    let mut generator = Generator::new(number ^ 0x766964656f);
    let mut frame = Vec::with_capacity(len);
    frame.push(if keyframe { 0x00 } else { 0x01 });
    frame.extend_from_slice(&number.to_le_bytes());
    while frame.len() < len {
        frame.extend_from_slice(&generator.next().to_le_bytes());
    }
    frame.truncate(len);
    frame
}

/// Sends [`video_frame`]s on `track`, 30 a second, until the process ends.
fn spawn_video_sender(track: LocalTrack) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(33));
        for number in 0u64.. {
            tick.tick().await;
            track.write_frame(MediaFrame {
                data: video_frame(number).into(),
                pts: Duration::from_millis(33 * number),
            });
        }
    });
}

/// Checks every frame of `track` against [`video_frame`]; reports the count every 30 frames.
fn spawn_video_checker(mut track: RemoteTrack, start: Instant) {
    tokio::spawn(async move {
        let mut frames = 0u64;
        while let Some(frame) = track.next_frame().await {
            let number = frame
                .data
                .get(1..9)
                .and_then(|bytes| bytes.try_into().ok())
                .map(u64::from_le_bytes);
            if number.map(video_frame).as_deref() != Some(&frame.data[..]) {
                emit(
                    start,
                    json!({"event": "error", "what": format!("video frame {number:?} ({} B) is not what was sent", frame.data.len())}),
                );
                return;
            }
            frames += 1;
            if frames % 30 == 0 {
                emit(start, json!({"event": "video", "frames": frames}));
            }
        }
    });
}

/// Writes one JSON event line on stdout.
fn emit(start: Instant, mut event: serde_json::Value) {
    if let Some(object) = event.as_object_mut() {
        object.insert("t_ms".into(), json!(start.elapsed().as_millis() as u64));
    }
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{event}");
    let _ = stdout.flush();
}

/// Runs the peer until `quit`, the end of stdin, or a broken stream.
pub async fn run(options: NetpeerOptions) -> Result<String, PairError> {
    let start = Instant::now();
    let mut lines = LineReader::stdin();
    let mut config = options
        .ice
        .apply(RTCConfiguration::bound_to(options.bind.iter().copied()));
    config.ice_timing = options.ice_timing;
    let mut pc = RTCPeerConnection::new(config)
        .await
        .map_err(call("creating the connection"))?;
    let result = connect_and_serve(&options, &mut pc, &mut lines, start).await;
    pc.close().await;
    result
}

async fn connect_and_serve(
    options: &NetpeerOptions,
    pc: &mut RTCPeerConnection,
    lines: &mut LineReader,
    start: Instant,
) -> Result<String, PairError> {
    let mut events = pc
        .take_events()
        .ok_or_else(|| PairError::Check("the event stream was already taken".into()))?;
    let channel = match options.role {
        Role::Offer => {
            let channel = pc
                .create_data_channel(CHANNEL, DataChannelInit::default())
                .await
                .map_err(call("createDataChannel"))?;
            if options.video {
                let track = LocalTrack::new("netpeer-video", Codec::Vp8, vec!["netpeer".into()])
                    .map_err(call("creating the video track"))?;
                pc.add_track(&track).await.map_err(call("addTrack"))?;
                spawn_video_sender(track);
            }
            let (offer, _) = local_description_when_gathered("netpeer", pc, &mut events).await?;
            signaling::write_stdout(&offer)?;
            let line = lines.next_line(SdpType::Answer).await?;
            pc.set_remote_description(signaling::parse(&line, SdpType::Answer)?)
                .await
                .map_err(call("setRemoteDescription(answer)"))?;
            Some(channel)
        }
        Role::Answer => {
            let line = lines.next_line(SdpType::Offer).await?;
            pc.set_remote_description(signaling::parse(&line, SdpType::Offer)?)
                .await
                .map_err(call("setRemoteDescription(offer)"))?;
            let (answer, early) = local_description_when_gathered("netpeer", pc, &mut events).await?;
            signaling::write_stdout(&answer)?;
            let mut channel = None;
            for event in early {
                match event {
                    PeerConnectionEvent::DataChannel(c) => channel = channel.or(Some(c)),
                    PeerConnectionEvent::Track(track) => spawn_video_checker(track, start),
                    _ => {}
                }
            }
            channel
        }
    };
    let (channel_tx, mut channel_rx) = mpsc::unbounded_channel();
    if let Some(channel) = channel {
        let _ = channel_tx.send(channel);
    }
    let gathered = Arc::new(Notify::new());
    watch_connection(pc.clone(), events, channel_tx, Arc::clone(&gathered), start);
    let negotiator = spawn_negotiator(pc.clone(), gathered, start);

    // The channel arrives (answerer) or opens later; commands wait for it.
    let mut channel: Option<RTCDataChannel> = None;
    let mut receiver = Receiver::default();
    let mut sent: u64 = 0;
    let mut sender: Option<tokio::task::JoinHandle<Result<u64, PairError>>> = None;
    let mut pending_send: Vec<u64> = Vec::new();
    loop {
        tokio::select! {
            got = channel_rx.recv(), if channel.is_none() => match got {
                Some(c) => channel = Some(c),
                None => return Err(PairError::ConnectionFailed("connection ended before a channel came".into())),
            },
            event = next_channel_event(&mut channel) => match event {
                Some(DataChannelEvent::Open) => {
                    emit(start, json!({"event": "open"}));
                    if let (Some(c), None) = (&channel, &sender) {
                        if !pending_send.is_empty() {
                            sender = Some(spawn_sender(c.clone(), sent, pending_send.drain(..).sum(), options.message_size, start));
                        }
                    }
                }
                Some(DataChannelEvent::Message(message)) => {
                    if let Err(what) = receiver.accept(message, start) {
                        emit(start, json!({"event": "error", "what": what}));
                        return Err(PairError::Check(what));
                    }
                }
                Some(DataChannelEvent::Close) | None => {
                    emit(start, json!({"event": "channel-closed"}));
                    channel = None;
                    // Keep reporting states; a closed channel takes no more commands.
                }
                Some(_) => {}
            },
            done = finished(&mut sender), if sender.is_some() => {
                sender = None;
                match done {
                    Ok(Ok(total)) => sent = total,
                    Ok(Err(error)) => {
                        emit(start, json!({"event": "error", "what": error.to_string()}));
                        return Err(error);
                    }
                    Err(error) => return Err(PairError::Check(format!("the sender task died: {error}"))),
                }
                if let (Some(c), false) = (&channel, pending_send.is_empty()) {
                    sender = Some(spawn_sender(c.clone(), sent, pending_send.drain(..).sum(), options.message_size, start));
                }
            },
            line = lines.next_line(SdpType::Offer) => {
                let line = match line {
                    Ok(line) => line,
                    Err(signaling::SignalingError::Ended(_)) => break,
                    // A line too long or not UTF-8: say so rather than quit as if asked to.
                    Err(error) => {
                        emit(start, json!({"event": "error", "what": error.to_string()}));
                        return Err(error.into());
                    }
                };
                if line.trim_start().starts_with('{') {
                    match serde_json::from_str::<SessionDescriptionInit>(&line) {
                        Ok(description) => {
                            let _ = negotiator.send(Negotiation::Remote(description));
                        }
                        Err(error) => emit(start, json!({"event": "error", "what": format!("not a description line: {error}")})),
                    }
                    continue;
                }
                let mut words = line.split_whitespace();
                match (words.next(), words.next().map(str::parse::<u64>)) {
                    (Some("quit"), _) => break,
                    (Some("restart"), None) => {
                        let _ = negotiator.send(Negotiation::Restart);
                    }
                    (Some("send"), Some(Ok(bytes))) => {
                        let open = channel.as_ref().is_some_and(|c| c.ready_state() == rtcpeer::DataChannelState::Open);
                        match (&channel, &sender, open) {
                            (Some(c), None, true) => {
                                sender = Some(spawn_sender(c.clone(), sent, bytes, options.message_size, start));
                            }
                            _ => pending_send.push(bytes),
                        }
                    }
                    _ => emit(start, json!({"event": "error", "what": format!("unknown command {line:?}")})),
                }
            },
        }
    }
    Ok(format!("sent {sent} B, verified {} B", receiver.verified))
}

/// The outcome of the running sender, or never when there is none.
async fn finished(
    sender: &mut Option<tokio::task::JoinHandle<Result<u64, PairError>>>,
) -> Result<Result<u64, PairError>, tokio::task::JoinError> {
    match sender {
        Some(task) => task.await,
        None => std::future::pending().await,
    }
}

/// The next event of `channel`, or never when there is none.
async fn next_channel_event(channel: &mut Option<RTCDataChannel>) -> Option<DataChannelEvent> {
    match channel {
        Some(c) => c.next_event().await,
        None => std::future::pending().await,
    }
}

/// A negotiation after the first offer and answer.
#[derive(Debug)]
enum Negotiation {
    /// `restartIce()`, then a new offer.
    Restart,
    /// A description from the peer: an offer is answered, an answer applied.
    Remote(SessionDescriptionInit),
}

/// Runs renegotiations one after another, in the order they are asked for; reports each
/// description to hand to the peer as a `description` event and each failure as an `error`.
fn spawn_negotiator(
    pc: RTCPeerConnection,
    gathered: Arc<Notify>,
    start: Instant,
) -> mpsc::UnboundedSender<Negotiation> {
    let (tx, mut rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(step) = rx.recv().await {
            match negotiate(&pc, step, &gathered).await {
                Ok(Some(description)) => emit(start, json!({"event": "description", "description": description})),
                Ok(None) => {}
                Err(error) => emit(start, json!({"event": "error", "what": error.to_string()})),
            }
        }
    });
    tx
}

/// One renegotiation step; returns the local description to send, complete with its candidates.
async fn negotiate(
    pc: &RTCPeerConnection,
    step: Negotiation,
    gathered: &Notify,
) -> Result<Option<SessionDescriptionInit>, PairError> {
    match step {
        Negotiation::Restart => pc.restart_ice().await.map_err(call("restartIce"))?,
        Negotiation::Remote(description) => {
            let offer = description.kind == SdpType::Offer;
            pc.set_remote_description(description)
                .await
                .map_err(call("setRemoteDescription"))?;
            if !offer {
                return Ok(None);
            }
        }
    }
    // An offer after `restartIce()`, or the answer to the peer's offer.
    pc.set_local_description(None)
        .await
        .map_err(call("setLocalDescription"))?;
    // Applying the description started gathering again when ICE restarted; every change of the
    // gathering state notifies `gathered`.
    while pc.ice_gathering_state().await.map_err(call("iceGatheringState"))? != IceGatheringState::Complete {
        gathered.notified().await;
    }
    pc.local_description()
        .await
        .map_err(call("localDescription"))?
        .map(Some)
        .ok_or_else(|| PairError::Check("no local description after setLocalDescription".into()))
}

/// Reports the connection's states (and the selected pair on every `connected`), hands
/// channels the remote opens to `channels` and notifies `gathered` of every change of the
/// gathering state.
fn watch_connection(
    pc: RTCPeerConnection,
    mut events: Events<PeerConnectionEvent>,
    channels: mpsc::UnboundedSender<RTCDataChannel>,
    gathered: Arc<Notify>,
    start: Instant,
) {
    tokio::spawn(async move {
        while let Some(event) = events.recv().await {
            match event {
                PeerConnectionEvent::ConnectionStateChange(state) => {
                    emit(start, json!({"event": "connection", "state": state.to_string()}));
                    if state == PeerConnectionState::Connected {
                        if let Ok(Some((local, remote))) = pc.selected_candidate_pair().await {
                            let describe = |c: &rtcpeer_proto::ice::candidate::Candidate| {
                                format!("{} {}:{}", c.kind.as_str(), c.address, c.port)
                            };
                            emit(
                                start,
                                json!({"event": "selected", "local": describe(&local), "remote": describe(&remote)}),
                            );
                        }
                    }
                }
                PeerConnectionEvent::IceConnectionStateChange(state) => {
                    emit(start, json!({"event": "ice", "state": state.to_string()}));
                }
                PeerConnectionEvent::DataChannel(channel) => {
                    let _ = channels.send(channel);
                }
                PeerConnectionEvent::IceGatheringStateChange(_) => gathered.notify_one(),
                PeerConnectionEvent::Track(track) => spawn_video_checker(track, start),
                PeerConnectionEvent::IceCandidateError {
                    url,
                    error_code,
                    error_text,
                    ..
                } => emit(
                    start,
                    json!({"event": "candidate-error", "url": url, "code": error_code, "text": error_text}),
                ),
                _ => {}
            }
        }
    });
}

/// Sends `bytes` of the stream from `position` on in messages of `message_size`, then the mark;
/// returns the new position.
fn spawn_sender(
    channel: RTCDataChannel,
    position: u64,
    bytes: u64,
    message_size: usize,
    start: Instant,
) -> tokio::task::JoinHandle<Result<u64, PairError>> {
    tokio::spawn(async move {
        let began = Instant::now();
        let end = position + bytes;
        let mut at = position;
        while at < end {
            while channel.buffered_amount() > PACE_LIMIT {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            let len = usize::try_from(end - at).unwrap_or(usize::MAX).min(message_size.max(1));
            channel
                .send(&stream_bytes(at, len))
                .await
                .map_err(call("sending stream bytes"))?;
            at += len as u64;
        }
        channel
            .send_text(&format!("mark {end}"))
            .await
            .map_err(call("sending the mark"))?;
        emit(
            start,
            json!({"event": "sent", "bytes": end, "ms": began.elapsed().as_millis() as u64}),
        );
        Ok(end)
    })
}

/// Checks what arrives against the stream.
#[derive(Debug, Default)]
struct Receiver {
    /// Bytes of the stream received and checked so far.
    position: u64,
    /// Bytes confirmed by a mark.
    verified: u64,
    /// When the first message after the latest mark arrived.
    batch_start: Option<Instant>,
}

impl Receiver {
    fn accept(&mut self, message: DataChannelMessage, start: Instant) -> Result<(), String> {
        match message {
            DataChannelMessage::Binary(bytes) => {
                self.batch_start.get_or_insert_with(Instant::now);
                if let Some(offset) = bytes
                    .iter()
                    .zip(stream_from(self.position))
                    .position(|(got, want)| *got != want)
                {
                    return Err(format!(
                        "byte {} of the stream differs (a message of {} B at position {})",
                        self.position + offset as u64,
                        bytes.len(),
                        self.position
                    ));
                }
                self.position += bytes.len() as u64;
                Ok(())
            }
            DataChannelMessage::Text(text) => {
                let total = text
                    .strip_prefix("mark ")
                    .and_then(|n| n.parse::<u64>().ok())
                    .ok_or_else(|| format!("unexpected text message {text:?}"))?;
                if total != self.position {
                    return Err(format!("mark {total} after {} B of the stream", self.position));
                }
                let ms = self.batch_start.take().map_or(0, |t| t.elapsed().as_millis() as u64);
                emit(
                    start,
                    json!({"event": "verified", "bytes": total, "batch": total - self.verified, "ms": ms}),
                );
                self.verified = total;
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn video_frames_carry_their_number_and_differ() {
        let key = video_frame(30);
        assert_eq!((key.len(), key[0]), (20_000, 0));
        assert_eq!(key[1..9], 30u64.to_le_bytes());
        let delta = video_frame(31);
        assert_eq!(delta[0], 1);
        assert!((3_000..6_000).contains(&delta.len()));
        assert_ne!(video_frame(32)[9..100], video_frame(33)[9..100]);
    }

    #[test]
    fn the_stream_depends_on_the_position_so_swapped_messages_are_caught() {
        let first = stream_bytes(0, 1000);
        let second = stream_bytes(1000, 1000);
        assert_ne!(first, second);
        assert_eq!(stream_bytes(500, 10), first[500..510]);
        // Byte p is byte p % 8 of the first output of the generator seeded with p / 8.
        for p in [0u64, 7, 8, 501, 4093] {
            assert_eq!(
                stream_bytes(p, 1)[0],
                (Generator::new(p / 8).next() >> (p % 8 * 8)) as u8
            );
        }
        let start = Instant::now();
        let mut receiver = Receiver::default();
        let error = receiver
            .accept(DataChannelMessage::Binary(second.clone()), start)
            .unwrap_err();
        assert!(error.starts_with("byte "), "{error}");
        let mut receiver = Receiver::default();
        // Messages need not end on a word of the stream.
        receiver
            .accept(DataChannelMessage::Binary(first[..3].to_vec()), start)
            .unwrap();
        receiver
            .accept(DataChannelMessage::Binary(first[3..].to_vec()), start)
            .unwrap();
        receiver.accept(DataChannelMessage::Binary(second), start).unwrap();
        assert_eq!(
            receiver.accept(DataChannelMessage::Text("mark 1500".into()), start),
            Err("mark 1500 after 2000 B of the stream".into())
        );
        receiver
            .accept(DataChannelMessage::Text("mark 2000".into()), start)
            .unwrap();
        assert_eq!(receiver.verified, 2000);
    }
}
