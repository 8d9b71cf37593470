//! Media tracks: [`LocalTrack`] (what the application sends) and [`RemoteTrack`] (what the
//! `track` event hands out).
//!
//! A local track is a fan-out point: the same track can be added to any number of
//! connections, and each frame written to it goes to every connection it is attached
//! to. Media is real-time, so neither direction waits for a slow reader: a connection
//! whose queue is full misses the frame (counted), and a remote track whose application
//! does not read misses new frames (counted) rather than stall the network.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;

use crate::command::Command;
use bytes::Bytes;

use crate::proto::{Codec, MediaFrame, MediaType, ReceivedFrame, ReceivedRtp, RtcError, TrackInit, TransceiverId};

/// How many frames a connection queues from one local track before it misses frames.
pub const LOCAL_FRAME_QUEUE: usize = 256;
/// How many frames a remote track holds for the application; later frames are dropped until it reads.
pub const REMOTE_FRAME_QUEUE: usize = 256;
/// How many RTP packets a remote track holds for [`RemoteTrack::next_rtp`]; later packets are
/// dropped until the application reads.
pub const REMOTE_RTP_QUEUE: usize = 1024;

/// One frame on its way from a local track to a connection's task.
#[derive(Debug)]
pub(crate) struct TrackFrame {
    pub(crate) track_id: Arc<str>,
    /// The encoding (simulcast layer) the frame is for; `None` for the first.
    pub(crate) rid: Option<Arc<str>>,
    pub(crate) media: TrackMedia,
}

/// What a local track carries to a connection: a frame to packetize, or a ready RTP packet.
#[derive(Debug, Clone)]
pub(crate) enum TrackMedia {
    Frame(MediaFrame),
    Rtp(Bytes),
}

/// A connection subscribed to a local track.
#[derive(Debug)]
struct Subscriber {
    frames: mpsc::Sender<TrackFrame>,
}

#[derive(Debug)]
struct LocalTrackShared {
    id: Arc<str>,
    kind: MediaType,
    codec: Codec,
    stream_ids: Vec<String>,
    subscribers: Mutex<Vec<Subscriber>>,
    missed: AtomicU64,
}

/// A local `MediaStreamTrack` that carries encoded frames of one codec.
///
/// Cloning gives another handle to the same track.
#[derive(Debug, Clone)]
pub struct LocalTrack {
    shared: Arc<LocalTrackShared>,
}

impl LocalTrack {
    /// A track with this id, carrying frames of `codec`, in the given streams (msid).
    ///
    /// `TypeError` for a codec that carries no media of its own (RTX).
    pub fn new(id: impl Into<String>, codec: Codec, stream_ids: Vec<String>) -> Result<LocalTrack, RtcError> {
        let kind = codec
            .media_type()
            .ok_or_else(|| RtcError::Type(format!("{codec} is not a codec a track can carry")))?;
        Ok(LocalTrack {
            shared: Arc::new(LocalTrackShared {
                kind,
                id: Arc::from(id.into()),
                codec,
                stream_ids,
                subscribers: Mutex::new(Vec::new()),
                missed: AtomicU64::new(0),
            }),
        })
    }

    /// `MediaStreamTrack.id`.
    pub fn id(&self) -> &str {
        &self.shared.id
    }

    /// `MediaStreamTrack.kind`.
    pub fn kind(&self) -> MediaType {
        self.shared.kind
    }

    /// The codec of the frames this track carries.
    pub fn codec(&self) -> Codec {
        self.shared.codec
    }

    /// The track as a connection's core knows it.
    pub(crate) fn init(&self) -> TrackInit {
        TrackInit {
            id: self.shared.id.to_string(),
            codec: self.shared.codec,
            stream_ids: self.shared.stream_ids.clone(),
        }
    }

    /// Attaches a connection's frame queue to the track.
    pub(crate) fn subscribe(&self, frames: mpsc::Sender<TrackFrame>) {
        let mut subscribers = self.shared.subscribers.lock().unwrap_or_else(|e| e.into_inner());
        if !subscribers.iter().any(|s| s.frames.same_channel(&frames)) {
            subscribers.push(Subscriber { frames });
        }
    }

    /// Writes one encoded frame to every connection the track is attached to. With simulcast it
    /// goes to each sender's first encoding; see [`write_frame_for`](Self::write_frame_for).
    ///
    /// Returns how many connections took it. Connections that have closed are forgotten.
    pub fn write_frame(&self, frame: MediaFrame) -> usize {
        self.write(None, TrackMedia::Frame(frame))
    }

    /// Writes one complete RTP packet to every connection the track is attached to, as a media
    /// server forwards what it receives (see [`RemoteTrack::next_rtp`]) without depacketizing.
    ///
    /// The payload must be of the track's codec; each connection sends it with its own SSRC,
    /// the payload type it negotiated for the codec, its own header extensions and a sequence
    /// number in its own continuous space (a new source SSRC continues it, and its timestamps
    /// are shifted to follow on), keeps it for retransmission and counts it. A packet that
    /// does not parse is dropped by each connection (logged). With simulcast it goes to each
    /// sender's first encoding; see [`write_rtp_for`](Self::write_rtp_for).
    ///
    /// Returns how many connections took it (into their queue).
    pub fn write_rtp(&self, packet: Bytes) -> usize {
        self.write(None, TrackMedia::Rtp(packet))
    }

    /// [`write_rtp`](Self::write_rtp) for the simulcast layer `rid`.
    pub fn write_rtp_for(&self, rid: &str, packet: Bytes) -> usize {
        self.write(Some(Arc::from(rid)), TrackMedia::Rtp(packet))
    }

    /// Writes one encoded frame of the simulcast layer `rid` to every connection the track is
    /// attached to.
    ///
    /// A sender with several encodings (`TransceiverInit::send_encodings`, or the layers an SFU's
    /// offer asked for) sends each layer as its own RTP stream. The application encodes the
    /// track once per layer — at the encoding's `scale_resolution_down_by` and within its
    /// `max_bitrate` — and writes each layer's frames with its rid, as a media server forwards
    /// the layers it receives. A connection sends the frame only if the layer is active and the
    /// remote accepted it; a sender without that rid skips the frame.
    ///
    /// Returns how many connections took it (into their queue).
    pub fn write_frame_for(&self, rid: &str, frame: MediaFrame) -> usize {
        self.write(Some(Arc::from(rid)), TrackMedia::Frame(frame))
    }

    fn write(&self, rid: Option<Arc<str>>, media: TrackMedia) -> usize {
        let mut subscribers = self.shared.subscribers.lock().unwrap_or_else(|e| e.into_inner());
        subscribers.retain(|s| !s.frames.is_closed());
        let mut taken = 0;
        for subscriber in subscribers.iter() {
            let item = TrackFrame {
                track_id: self.shared.id.clone(),
                rid: rid.clone(),
                media: media.clone(),
            };
            match subscriber.frames.try_send(item) {
                Ok(()) => taken += 1,
                Err(_) => {
                    self.shared.missed.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        taken
    }

    /// How many (connection, frame) deliveries were missed because a connection's queue was full.
    pub fn missed_frames(&self) -> u64 {
        self.shared.missed.load(Ordering::Relaxed)
    }
}

/// What a remote track yields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemoteTrackEvent {
    /// A reassembled frame.
    Frame(ReceivedFrame),
    /// The track ended (`ended`): the transceiver stopped or the connection closed.
    Ended,
}

/// The remote `MediaStreamTrack` a `track` event delivers, yielding reassembled frames.
#[derive(Debug)]
pub struct RemoteTrack {
    pub(crate) id: String,
    pub(crate) kind: MediaType,
    pub(crate) transceiver: TransceiverId,
    pub(crate) mid: Option<String>,
    pub(crate) stream_ids: Vec<String>,
    pub(crate) frames: mpsc::Receiver<RemoteTrackEvent>,
    /// The RTP packet queue, once [`next_rtp`](RemoteTrack::next_rtp) asked for it.
    pub(crate) rtp: Option<mpsc::Receiver<ReceivedRtp>>,
    /// RTP packets dropped because the queue was full (shared with the task's end).
    pub(crate) rtp_dropped: Arc<AtomicU64>,
    pub(crate) commands: mpsc::WeakSender<Command>,
}

impl RemoteTrack {
    /// `MediaStreamTrack.id` (the sender's msid track id, or a generated one).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// `MediaStreamTrack.kind`.
    pub fn kind(&self) -> MediaType {
        self.kind
    }

    /// The transceiver whose receiver carries it.
    pub fn transceiver(&self) -> TransceiverId {
        self.transceiver
    }

    /// The mid of the transceiver that receives it.
    pub fn mid(&self) -> Option<&str> {
        self.mid.as_deref()
    }

    /// The ids of the remote streams the track belongs to (the `track` event's `streams`).
    pub fn stream_ids(&self) -> &[String] {
        &self.stream_ids
    }

    /// The next frame; `None` once the track has ended.
    pub async fn next_frame(&mut self) -> Option<ReceivedFrame> {
        match self.frames.recv().await? {
            RemoteTrackEvent::Frame(frame) => Some(frame),
            RemoteTrackEvent::Ended => None,
        }
    }

    /// The next RTP packet of the track, as it arrived (decrypted, authenticated, repaired over
    /// RTX, before the jitter buffer): what a media server forwards with
    /// [`LocalTrack::write_rtp`]. `None` once the connection has closed.
    ///
    /// The first call turns raw delivery on (packets that arrived before are not kept); until
    /// then the connection copies nothing. Frames keep arriving for [`next_frame`](Self::next_frame)
    /// too: a reader of packets only should not hold on to frames it never reads (they are
    /// dropped when their queue is full). When the application falls behind by
    /// [`REMOTE_RTP_QUEUE`] packets, newer packets are dropped and counted.
    pub async fn next_rtp(&mut self) -> Option<ReceivedRtp> {
        if self.rtp.is_none() {
            let (tx, rx) = mpsc::channel(REMOTE_RTP_QUEUE);
            let commands = self.commands.upgrade()?;
            commands.send(Command::ReceiveRtp(self.transceiver, tx)).await.ok()?;
            self.rtp = Some(rx);
        }
        self.rtp.as_mut()?.recv().await
    }

    /// How many RTP packets were dropped because [`next_rtp`](Self::next_rtp) was not called
    /// soon enough.
    pub fn dropped_rtp_packets(&self) -> u64 {
        self.rtp_dropped.load(Ordering::Relaxed)
    }

    /// Asks the sender for a keyframe (sends an RTCP PLI). Does nothing once the connection has closed.
    pub async fn request_keyframe(&self) {
        if let Some(commands) = self.commands.upgrade() {
            let _ = commands.send(Command::RequestKeyframe(self.transceiver)).await;
        }
    }
}

/// The task's end of a remote track: a bounded queue that drops new frames while full.
#[derive(Debug)]
pub(crate) struct RemoteTrackSender {
    tx: mpsc::Sender<RemoteTrackEvent>,
    pub(crate) dropped: u64,
    /// The RTP packet queue, once the application asked for packets.
    rtp: Option<mpsc::Sender<ReceivedRtp>>,
    /// RTP packets dropped because the application did not read them in time.
    rtp_dropped: Arc<AtomicU64>,
}

impl RemoteTrackSender {
    /// A remote track and the task's end of it.
    pub(crate) fn pair(
        id: String,
        kind: MediaType,
        transceiver: TransceiverId,
        mid: Option<String>,
        stream_ids: Vec<String>,
        commands: mpsc::WeakSender<Command>,
    ) -> (RemoteTrackSender, RemoteTrack) {
        let (tx, frames) = mpsc::channel(REMOTE_FRAME_QUEUE);
        let rtp_dropped = Arc::new(AtomicU64::new(0));
        let track = RemoteTrack {
            id,
            kind,
            transceiver,
            mid,
            stream_ids,
            frames,
            rtp: None,
            rtp_dropped: rtp_dropped.clone(),
            commands,
        };
        let sender = RemoteTrackSender {
            tx,
            dropped: 0,
            rtp: None,
            rtp_dropped,
        };
        (sender, track)
    }

    /// Hands a frame to the application, or counts it dropped when the queue is full.
    pub(crate) fn send(&mut self, frame: ReceivedFrame) {
        if self.tx.try_send(RemoteTrackEvent::Frame(frame)).is_err() {
            self.dropped += 1;
        }
    }

    /// Starts handing RTP packets to the application through `packets`.
    pub(crate) fn set_rtp(&mut self, packets: mpsc::Sender<ReceivedRtp>) {
        self.rtp = Some(packets);
    }

    /// Hands an RTP packet to the application, or counts it dropped when its queue is full.
    /// Returns false once the application has dropped the track (packets are no longer wanted).
    pub(crate) fn send_rtp(&mut self, packet: ReceivedRtp) -> bool {
        let Some(rtp) = &self.rtp else { return false };
        match rtp.try_send(packet) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.rtp_dropped.fetch_add(1, Ordering::Relaxed);
                true
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                self.rtp = None;
                false
            }
        }
    }

    /// Tells the application the track ended (best effort when the queue is full).
    pub(crate) fn end(&self) {
        let _ = self.tx.try_send(RemoteTrackEvent::Ended);
    }
}

/// The frame queue a connection's task reads local tracks from.
pub(crate) fn frame_queue() -> (mpsc::Sender<TrackFrame>, mpsc::Receiver<TrackFrame>) {
    mpsc::channel(LOCAL_FRAME_QUEUE)
}
