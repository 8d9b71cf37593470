//! What a session does with media: record what arrives (`--record`), send the played files
//! (`--play`), or send each received track back on its own transceiver (`--reflect`).
//!
//! Tracks are added after the remote offer is applied and before the answer is made, so they
//! take over the receive-only transceivers the offer created and the answer says `sendrecv`
//! where the browser offered it.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rtcpeer::{Codec, LocalTrack, MediaFrame, MediaType, RTCPeerConnection, ReceivedFrame, RemoteTrack, TransceiverId};
use rtcpeer_proto::sdp::{Attribute, SessionDescription};
use tokio::sync::{watch, Notify};
use tracing::{debug, info, warn};

use super::play::{self, PlayedFile};
use super::record::{self, Recording};

/// How often a video recording asks again for a keyframe while it waits for its first one.
const KEYFRAME_RETRY: Duration = Duration::from_secs(1);

/// The most simulcast layers of one track recorded (each to its own file).
const MAX_RECORDED_LAYERS: usize = 4;

/// How long a track that arrives while the answer is being made waits for the session's tracks.
const PREPARE_WAIT: Duration = Duration::from_secs(10);

/// The media options of the server, shared by every session.
#[derive(Debug, Clone, Default)]
pub struct MediaConfig {
    /// Record every received track into this directory.
    pub record: Option<PathBuf>,
    /// The played files and their tracks (already playing).
    pub play: Vec<PlayedFile>,
    /// Send every received track back to its sender.
    pub reflect: bool,
    /// Reflect the received RTP packets themselves (`--reflect-rtp`, not with `--record`).
    pub reflect_rtp: bool,
}

/// One audio or video section of an offer: its kind and the first codec it offers that we support.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfferedSection {
    /// `m=audio` or `m=video`.
    pub kind: MediaType,
    /// The section's mid.
    pub mid: Option<String>,
    /// The offerer's most preferred codec we support (the `m=` line lists formats by preference).
    pub codec: Option<Codec>,
}

/// The audio and video sections of an offer, in order; `None` if the SDP does not parse (the
/// connection then refuses the offer itself).
pub fn offered_sections(sdp: &str) -> Option<Vec<OfferedSection>> {
    let description = SessionDescription::parse(sdp).ok()?;
    let sections = description
        .media
        .iter()
        .filter(|m| !m.is_rejected())
        .filter_map(|m| {
            let kind = MediaType::from_kind(&m.media)?;
            let codec = m.formats.iter().find_map(|format| {
                let payload_type: u8 = format.parse().ok()?;
                m.attributes.iter().find_map(|a| match a {
                    Attribute::Rtpmap(map) if map.payload_type == payload_type => {
                        Codec::from_encoding_name(&map.encoding)
                            // RTX has no media type of its own: it is passed over here.
                            .filter(|c| c.media_type() == Some(kind))
                    }
                    _ => None,
                })
            });
            Some(OfferedSection {
                kind,
                mid: m.mid().map(str::to_string),
                codec,
            })
        })
        .collect();
    Some(sections)
}

/// A transceiver that sends a received track back.
#[derive(Debug)]
struct Reflection {
    /// The track the received frames are written to.
    track: LocalTrack,
    /// Notified when the browser asks this transceiver for a keyframe.
    keyframe_wanted: Arc<Notify>,
}

/// The reflections of one session by mid, once the answer's tracks are in place.
#[derive(Debug, Default)]
struct Reflections {
    by_mid: HashMap<String, Reflection>,
    mid_of: HashMap<TransceiverId, String>,
}

/// One session's media: made before the offer is applied, filled in by [`SessionMedia::prepare`].
#[derive(Debug)]
pub struct SessionMedia {
    config: Arc<MediaConfig>,
    session: String,
    /// `None` until `prepare` has run (tracks may arrive before it ends).
    reflections: watch::Sender<Option<Arc<Reflections>>>,
}

impl SessionMedia {
    /// Media for session `session`.
    pub fn new(config: Arc<MediaConfig>, session: &str) -> Arc<SessionMedia> {
        Arc::new(SessionMedia {
            config,
            session: session.to_string(),
            reflections: watch::Sender::new(None),
        })
    }

    /// Adds the session's tracks: after `set_remote_description(offer)`, before the answer.
    ///
    /// Played files go on the first audio / video section; with `--reflect` every audio and
    /// video section gets a track of the codec it offers first.
    pub async fn prepare(&self, pc: &RTCPeerConnection, offer_sdp: &str) {
        let sections = offered_sections(offer_sdp).unwrap_or_default();
        let mut reflections = Reflections::default();
        if self.config.reflect {
            for (index, section) in sections.iter().enumerate() {
                let Some(codec) = section.codec else {
                    debug!(session = %self.session, mid = ?section.mid, "no codec to reflect with");
                    continue;
                };
                let track = match LocalTrack::new(format!("reflect-{index}"), codec, vec!["rtcpeer-reflect".into()]) {
                    Ok(track) => track,
                    Err(error) => {
                        warn!(session = %self.session, %error, "cannot make a reflecting track");
                        continue;
                    }
                };
                match pc.add_track(&track).await {
                    Ok(transceiver) => {
                        let mid = mid_of(pc, transceiver).await;
                        info!(session = %self.session, ?mid, %codec, "reflecting");
                        if let Some(mid) = mid {
                            reflections.mid_of.insert(transceiver, mid.clone());
                            reflections.by_mid.insert(
                                mid,
                                Reflection {
                                    track,
                                    keyframe_wanted: Arc::default(),
                                },
                            );
                        }
                    }
                    Err(error) => warn!(session = %self.session, %error, "cannot add the reflecting track"),
                }
            }
        } else {
            for kind in [MediaType::Video, MediaType::Audio] {
                let Some(track) = play::track_of_kind(&self.config.play, kind) else {
                    continue;
                };
                if !sections.iter().any(|s| s.kind == kind) {
                    debug!(session = %self.session, %kind, "the offer has no section for the played file");
                    continue;
                }
                match pc.add_track(track).await {
                    Ok(transceiver) => {
                        let mid = mid_of(pc, transceiver).await;
                        info!(session = %self.session, %kind, ?mid, "sending the played file");
                    }
                    Err(error) => warn!(session = %self.session, %kind, %error, "cannot add the played track"),
                }
            }
        }
        self.reflections.send_replace(Some(Arc::new(reflections)));
    }

    /// The offer was refused: tracks that arrived stop waiting for [`prepare`](Self::prepare).
    pub fn abandon(&self) {
        self.reflections.send_if_modified(|r| {
            let unset = r.is_none();
            if unset {
                *r = Some(Arc::default());
            }
            unset
        });
    }

    /// The browser asked `transceiver` for a keyframe: pass it on to the track being reflected
    /// there; a played file cannot make one.
    pub fn keyframe_requested(&self, transceiver: TransceiverId) {
        let reflections = self.reflections.borrow().clone();
        let reflection = reflections
            .as_ref()
            .and_then(|r| r.mid_of.get(&transceiver).and_then(|mid| r.by_mid.get(mid)));
        match reflection {
            Some(reflection) => {
                debug!(session = %self.session, ?transceiver, "keyframe requested; asking the sender");
                reflection.keyframe_wanted.notify_one();
            }
            None => debug!(
                session = %self.session,
                ?transceiver,
                "keyframe requested; a played file cannot make one (the next comes with the file)"
            ),
        }
    }

    /// Starts the task that handles a received track (recording it, reflecting it), if there is
    /// anything to do with it.
    pub fn track(self: &Arc<Self>, track: RemoteTrack) {
        if self.config.record.is_none() && !self.config.reflect {
            debug!(session = %self.session, mid = ?track.mid(), "track not used");
            return;
        }
        tokio::spawn(self.clone().handle_track(track));
    }

    async fn handle_track(self: Arc<Self>, mut track: RemoteTrack) {
        let mid = track.mid().unwrap_or("none").to_string();
        let kind = track.kind();
        info!(session = %self.session, %mid, %kind, "receiving a track");
        // The reflecting track for this mid, once `prepare` has placed it.
        let mut ready = self.reflections.subscribe();
        let reflections = match tokio::time::timeout(PREPARE_WAIT, ready.wait_for(Option::is_some)).await {
            Ok(Ok(r)) => r.clone().unwrap_or_default(),
            _ => {
                warn!(session = %self.session, %mid, "the session's tracks were never set up; track dropped");
                return;
            }
        };
        let reflection = reflections.by_mid.get(&mid);
        let keyframe_wanted = reflection.map(|r| r.keyframe_wanted.clone()).unwrap_or_default();
        if let (Some(reflection), true) = (reflection, self.config.reflect_rtp) {
            self.reflect_packets(&mut track, reflection, &mid, &keyframe_wanted)
                .await;
            info!(session = %self.session, %mid, "track ended");
            return;
        }
        // One recorder per simulcast layer (rid), each writing its own file; the first frame
        // without a rid makes the track's only one.
        let mut recorders: Vec<Recorder> = Vec::new();
        if self.config.record.is_some() && kind == MediaType::Video {
            track.request_keyframe().await;
        }
        // A simulcast track is reflected from one layer: the first one heard.
        let mut reflected_rid: Option<Option<String>> = None;
        let mut retry = tokio::time::interval(KEYFRAME_RETRY);
        retry.tick().await;
        let mut reflected = Timeline::default();
        loop {
            let frame = tokio::select! {
                frame = track.next_frame() => frame,
                () = keyframe_wanted.notified() => {
                    track.request_keyframe().await;
                    continue;
                }
                _ = retry.tick(), if recorders.is_empty() && self.config.record.is_some() && kind == MediaType::Video
                    || recorders.iter().any(Recorder::waiting_for_keyframe) => {
                    track.request_keyframe().await;
                    continue;
                }
            };
            let Some(frame) = frame else { break };
            let reflect_layer = reflected_rid.get_or_insert_with(|| frame.rid.clone()) == &frame.rid;
            if let (Some(reflection), true) = (reflection, reflect_layer) {
                if frame.codec == reflection.track.codec() {
                    reflection.track.write_frame(MediaFrame {
                        data: frame.data.clone(),
                        pts: reflected.pts(&frame),
                    });
                } else {
                    reflected.mismatch(&self.session, &mid, frame.codec, reflection.track.codec());
                }
            }
            if let Some(dir) = &self.config.record {
                let index = match recorders.iter().position(|r| r.rid == frame.rid) {
                    Some(index) => Some(index),
                    None if recorders.len() < MAX_RECORDED_LAYERS => {
                        recorders.push(Recorder::new(dir.clone(), &self.session, &mid, frame.rid.clone(), kind));
                        Some(recorders.len() - 1)
                    }
                    None => None,
                };
                if let Some(recorder) = index.and_then(|i| recorders.get_mut(i)) {
                    recorder.write(&frame);
                }
            }
        }
        for recorder in recorders {
            recorder.finish();
        }
        info!(session = %self.session, %mid, "track ended");
    }
}

impl SessionMedia {
    /// `--reflect-rtp`: sends every received RTP packet back as it arrives, without reassembling
    /// frames. A simulcast track is reflected from one layer, the first one heard.
    async fn reflect_packets(
        &self,
        track: &mut RemoteTrack,
        reflection: &Reflection,
        mid: &str,
        keyframe_wanted: &Notify,
    ) {
        let mut reflected_rid: Option<Option<String>> = None;
        let mut timeline = Timeline::default();
        loop {
            let packet = tokio::select! {
                packet = track.next_rtp() => packet,
                () = keyframe_wanted.notified() => {
                    track.request_keyframe().await;
                    continue;
                }
            };
            let Some(packet) = packet else { break };
            if reflected_rid.get_or_insert_with(|| packet.rid.clone()) != &packet.rid {
                continue;
            }
            if packet.codec == reflection.track.codec() {
                reflection.track.write_rtp(packet.data);
            } else {
                timeline.mismatch(&self.session, mid, packet.codec, reflection.track.codec());
            }
        }
        if track.dropped_rtp_packets() > 0 {
            warn!(session = %self.session, mid, dropped = track.dropped_rtp_packets(), "reflected packets dropped");
        }
    }
}

/// The mid a transceiver got, once the remote description gave it one.
async fn mid_of(pc: &RTCPeerConnection, transceiver: TransceiverId) -> Option<String> {
    let transceivers = pc.get_transceivers().await.ok()?;
    transceivers.into_iter().find(|t| t.id == transceiver)?.mid
}

/// Turns RTP timestamps of reflected frames into presentation times.
#[derive(Debug, Default)]
struct Timeline {
    first: Option<u64>,
    warned: bool,
}

impl Timeline {
    fn pts(&mut self, frame: &ReceivedFrame) -> Duration {
        let first = *self.first.get_or_insert(frame.rtp_timestamp);
        let ticks = frame.rtp_timestamp.saturating_sub(first);
        let rate = u64::from(frame.codec.clock_rate().unwrap_or(90_000));
        Duration::from_nanos(ticks.saturating_mul(1_000_000_000) / rate)
    }

    fn mismatch(&mut self, session: &str, mid: &str, got: Codec, sending: Codec) {
        if !self.warned {
            self.warned = true;
            warn!(session, mid, %got, %sending, "received frames of another codec than the answer sends; not reflected");
        }
    }
}

/// Records one track, or one simulcast layer of it: waits for a keyframe (video), then writes
/// every frame. A layer's file is named `<session>-<mid>-<rid>.<ext>`.
#[derive(Debug)]
struct Recorder {
    dir: PathBuf,
    session: String,
    mid: String,
    /// The simulcast layer recorded, if the track has layers.
    rid: Option<String>,
    kind: MediaType,
    recording: Option<Recording>,
    /// Set once writing failed or the codec cannot be recorded: the rest is dropped.
    given_up: bool,
}

impl Recorder {
    fn new(dir: PathBuf, session: &str, mid: &str, rid: Option<String>, kind: MediaType) -> Recorder {
        Recorder {
            dir,
            session: session.to_string(),
            mid: mid.to_string(),
            rid,
            kind,
            recording: None,
            given_up: false,
        }
    }

    fn waiting_for_keyframe(&self) -> bool {
        self.kind == MediaType::Video && self.recording.is_none() && !self.given_up
    }

    fn write(&mut self, frame: &ReceivedFrame) {
        if self.given_up {
            return;
        }
        let result = match self.recording.as_mut() {
            Some(recording) => recording.write(frame).map(|_| ()),
            None => {
                if self.kind == MediaType::Video && !frame.keyframe {
                    return;
                }
                let name = match &self.rid {
                    Some(rid) => format!("{}-{rid}", self.mid),
                    None => self.mid.clone(),
                };
                let Some(path) = record::file_path(&self.dir, &self.session, &name, frame.codec) else {
                    warn!(session = %self.session, mid = %self.mid, codec = %frame.codec, "cannot record this codec");
                    self.given_up = true;
                    return;
                };
                Recording::create(path, frame).map(|recording| {
                    info!(session = %self.session, path = %recording.path().display(), "recording");
                    self.recording = Some(recording);
                })
            }
        };
        if let Err(error) = result {
            warn!(session = %self.session, %error, "recording stopped");
            self.given_up = true;
        }
    }

    fn finish(self) {
        let Some(recording) = self.recording else {
            info!(session = %self.session, mid = %self.mid, "nothing recorded");
            return;
        };
        let path = recording.path().to_path_buf();
        match recording.finish() {
            Ok(frames) => {
                info!(session = %self.session, rid = ?self.rid, path = %path.display(), frames, "recording finished")
            }
            Err(error) => warn!(session = %self.session, %error, "cannot finish the recording"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OFFER: &str = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n\
a=group:BUNDLE 0 1 2\r\n\
m=audio 9 UDP/TLS/RTP/SAVPF 63 111 0\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\n\
a=rtpmap:63 red/48000/2\r\na=rtpmap:111 opus/48000/2\r\na=rtpmap:0 PCMU/8000\r\n\
m=video 9 UDP/TLS/RTP/SAVPF 96 97 102 45\r\nc=IN IP4 0.0.0.0\r\na=mid:1\r\n\
a=rtpmap:96 VP8/90000\r\na=rtpmap:97 rtx/90000\r\na=rtpmap:102 H264/90000\r\na=rtpmap:45 AV1/90000\r\n\
m=video 9 UDP/TLS/RTP/SAVPF 97 102 96\r\nc=IN IP4 0.0.0.0\r\na=mid:2\r\n\
a=rtpmap:96 VP8/90000\r\na=rtpmap:97 rtx/90000\r\na=rtpmap:102 H264/90000\r\n\
m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\na=mid:3\r\n";

    #[test]
    fn the_first_supported_codec_of_each_section_is_picked_in_offer_order() {
        let sections = offered_sections(OFFER).expect("parses");
        assert_eq!(
            sections,
            vec![
                OfferedSection {
                    kind: MediaType::Audio,
                    mid: Some("0".into()),
                    codec: Some(Codec::Opus)
                },
                OfferedSection {
                    kind: MediaType::Video,
                    mid: Some("1".into()),
                    codec: Some(Codec::Vp8)
                },
                // RTX first in the m= line is passed over; H.264 comes before VP8 here.
                OfferedSection {
                    kind: MediaType::Video,
                    mid: Some("2".into()),
                    codec: Some(Codec::H264)
                },
            ]
        );
        assert_eq!(offered_sections("not sdp"), None);
    }

    #[test]
    fn reflected_timestamps_count_from_the_first_frame_at_the_codec_clock() {
        let mut timeline = Timeline::default();
        let frame = |codec, rtp_timestamp| ReceivedFrame {
            data: bytes::Bytes::new(),
            codec,
            rtp_timestamp,
            keyframe: true,
            rid: None,
        };
        assert_eq!(timeline.pts(&frame(Codec::Opus, 48_000)), Duration::ZERO);
        assert_eq!(timeline.pts(&frame(Codec::Opus, 48_960)), Duration::from_millis(20));
        let mut video = Timeline::default();
        video.pts(&frame(Codec::Vp8, 7));
        assert_eq!(video.pts(&frame(Codec::Vp8, 7 + 90_000)), Duration::from_secs(1));
    }

    #[test]
    fn video_recording_starts_at_a_keyframe() {
        let dir = std::env::temp_dir().join(format!("rtcpeer-recorder-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let mut recorder = Recorder::new(dir.clone(), "s", "1", None, MediaType::Video);
        let frame = |keyframe: bool, rtp_timestamp| ReceivedFrame {
            data: vec![u8::from(!keyframe), 1, 2].into(),
            codec: Codec::Vp8,
            rtp_timestamp,
            keyframe,
            rid: None,
        };
        assert!(recorder.waiting_for_keyframe());
        recorder.write(&frame(false, 0));
        assert!(recorder.waiting_for_keyframe());
        assert!(!dir.join("s-1.ivf").exists(), "no file before the keyframe");
        recorder.write(&frame(true, 3000));
        recorder.write(&frame(false, 6000));
        assert!(!recorder.waiting_for_keyframe());
        recorder.finish();
        let bytes = std::fs::read(dir.join("s-1.ivf")).expect("recorded");
        assert_eq!(
            &bytes[24..28],
            &2u32.to_le_bytes(),
            "two frames: the keyframe and the one after"
        );
        // The first frame's pts is 0: counted from the keyframe, not from the frame dropped before it.
        assert_eq!(&bytes[32 + 4..32 + 12], &0u64.to_le_bytes());
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn a_simulcast_layer_is_recorded_to_a_file_named_with_its_rid() {
        let dir = std::env::temp_dir().join(format!("rtcpeer-recorder-rid-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let mut recorder = Recorder::new(dir.clone(), "s", "0", Some("h".into()), MediaType::Video);
        recorder.write(&ReceivedFrame {
            data: vec![0, 1, 2].into(),
            codec: Codec::Vp8,
            rtp_timestamp: 0,
            keyframe: true,
            rid: Some("h".into()),
        });
        recorder.finish();
        assert!(
            dir.join("s-0-h.ivf").exists(),
            "{:?}",
            std::fs::read_dir(&dir).map(|d| d.count())
        );
        assert!(!dir.join("s-0.ivf").exists());
        std::fs::remove_dir_all(dir).ok();
    }
}
