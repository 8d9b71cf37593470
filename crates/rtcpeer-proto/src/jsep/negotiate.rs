//! Media negotiation (RFC 8829 §5.2–§5.3, RFC 3264 §6): our offer for a new
//! transceiver, our answer to an offered section, and what an answer to our
//! offer leaves us with.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use super::codecs::{Codec, CodecParameters, MediaType};
use super::media::{default_extensions, HeaderExtension, MediaSectionParams, SenderParams, MEDIA_PROTOCOL};
use super::remote_media::RemoteMedia;
use super::LocalSection;
use crate::sdp::Direction;

/// Our codecs and header extensions for audio and video.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaCapabilities {
    /// Audio formats, in preference order.
    pub audio: Vec<CodecParameters>,
    /// Video formats, in preference order.
    pub video: Vec<CodecParameters>,
    /// Audio header extensions with the ids we offer.
    pub audio_extensions: Vec<HeaderExtension>,
    /// Video header extensions with the ids we offer.
    pub video_extensions: Vec<HeaderExtension>,
}

impl Default for MediaCapabilities {
    /// Browser-like capabilities: see [`CodecParameters::default_audio`],
    /// [`CodecParameters::default_video`] and [`default_extensions`].
    fn default() -> Self {
        MediaCapabilities {
            audio: CodecParameters::default_audio(),
            video: CodecParameters::default_video(),
            audio_extensions: default_extensions(MediaType::Audio),
            video_extensions: default_extensions(MediaType::Video),
        }
    }
}

impl MediaCapabilities {
    /// The [default](MediaCapabilities::default) capabilities, built once and shared: every
    /// connection negotiates from the same tables, so none needs a copy of its own (2.7 KiB of small
    /// strings each).
    pub fn shared_default() -> Arc<MediaCapabilities> {
        static SHARED: OnceLock<Arc<MediaCapabilities>> = OnceLock::new();
        Arc::clone(SHARED.get_or_init(|| Arc::new(MediaCapabilities::default())))
    }

    /// Our formats for a media type.
    pub fn codecs(&self, kind: MediaType) -> &[CodecParameters] {
        match kind {
            MediaType::Audio => &self.audio,
            MediaType::Video => &self.video,
        }
    }

    /// Our header extensions for a media type.
    pub fn extensions(&self, kind: MediaType) -> &[HeaderExtension] {
        match kind {
            MediaType::Audio => &self.audio_extensions,
            MediaType::Video => &self.video_extensions,
        }
    }
}

/// What a transceiver wants: to send (with these sender parameters) and/or to receive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransceiverWants {
    /// The track we send, if we want to send.
    pub send: Option<SenderParams>,
    /// Whether we want to receive.
    pub recv: bool,
}

impl TransceiverWants {
    /// The direction a transceiver with these wishes offers.
    pub fn direction(&self) -> Direction {
        direction_from(self.send.is_some(), self.recv)
    }
}

fn direction_from(send: bool, recv: bool) -> Direction {
    match (send, recv) {
        (true, true) => Direction::SendRecv,
        (true, false) => Direction::SendOnly,
        (false, true) => Direction::RecvOnly,
        (false, false) => Direction::Inactive,
    }
}

fn sends(d: Direction) -> bool {
    matches!(d, Direction::SendRecv | Direction::SendOnly)
}

fn receives(d: Direction) -> bool {
    matches!(d, Direction::SendRecv | Direction::RecvOnly)
}

/// Why an offered or answered media section cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MediaNegotiationError {
    /// No offered format matches any of ours: the section is answered rejected (port 0).
    #[error("mid {mid}: no {kind} codec in common")]
    NoCommonCodec {
        /// The section's mid.
        mid: String,
        /// Audio or video.
        kind: MediaType,
    },
    /// The answer's section is not the kind we offered.
    #[error("mid {mid}: the answer has {answered}, the offer {offered}")]
    KindMismatch {
        /// The section's mid.
        mid: String,
        /// What we offered.
        offered: MediaType,
        /// What the answer has.
        answered: MediaType,
    },
    /// The answer's direction is not one RFC 3264 §6.1 allows for our offer.
    #[error("mid {mid}: {answered} does not answer {offered}")]
    InvalidDirection {
        /// The section's mid.
        mid: String,
        /// What we offered.
        offered: &'static str,
        /// What the answer has.
        answered: &'static str,
    },
}

/// A fresh offer section for a new transceiver (RFC 8829 §5.2.1): every
/// codec and extension of ours, `rtcp-mux` and `rtcp-rsize`.
pub fn offer_media(
    mid: &str,
    kind: MediaType,
    wants: &TransceiverWants,
    caps: &MediaCapabilities,
) -> MediaSectionParams {
    MediaSectionParams {
        mid: mid.to_string(),
        kind,
        protocol: MEDIA_PROTOCOL.to_string(),
        direction: wants.direction(),
        codecs: caps.codecs(kind).to_vec(),
        extensions: caps.extensions(kind).to_vec(),
        rtcp_mux: true,
        rtcp_rsize: true,
        sender: wants.send.clone(),
        receive_rids: Vec::new(),
    }
}

/// Gives the header extensions of an offer the ids the session already uses: within a BUNDLE
/// group an id names one extension in every section (RFC 8843 §9.2), and an id the session
/// negotiated keeps its URI (RFC 8285 §6). `established` are the extensions of the sections
/// negotiated so far (an offerer's ids win once we answered it). An extension the session has
/// not seen keeps our usual id unless another URI holds it; then it takes the lowest free id
/// (one-byte ids first).
pub fn align_extension_ids(sections: &mut [LocalSection], established: &[HeaderExtension]) {
    let mut ids: BTreeMap<String, u16> = established.iter().map(|e| (e.uri.clone(), e.id)).collect();
    for section in sections.iter_mut() {
        let LocalSection::Media(params) = section else {
            continue;
        };
        for extension in &mut params.extensions {
            if let Some(&id) = ids.get(&extension.uri) {
                extension.id = id;
                continue;
            }
            let taken = |id: u16| ids.values().any(|&used| used == id);
            if taken(extension.id) {
                if let Some(free) = (1..=14).chain(16..=255).find(|&id| !taken(id)) {
                    extension.id = free;
                }
            }
            ids.insert(extension.uri.clone(), extension.id);
        }
    }
}

/// Our answer to an offered audio/video section (RFC 8829 §5.3.1):
///
/// * the offered formats we support, in the offerer's order and with its
///   payload types, each with its RTX format when both sides do RTX;
/// * the offered header extensions we support, with the offerer's ids;
/// * the direction of RFC 3264 §6.1: we send only if the offer receives and
///   we want to send, we receive only if the offer sends and we want to;
/// * `a=rid:<id> recv` and `a=simulcast:recv` for the rids of a simulcast
///   offer, when we receive.
///
/// No format in common is [`MediaNegotiationError::NoCommonCodec`]: answer the section rejected.
pub fn answer_media(
    mid: &str,
    offer: &RemoteMedia,
    protocol: &str,
    wants: &TransceiverWants,
    caps: &MediaCapabilities,
) -> Result<MediaSectionParams, MediaNegotiationError> {
    let ours = caps.codecs(offer.kind);
    let codecs: Vec<CodecParameters> = offer
        .codecs
        .iter()
        .filter_map(|offered| ours.iter().find(|c| c.matches(offered)).map(|c| c.answer_to(offered)))
        .collect();
    if codecs.is_empty() {
        return Err(MediaNegotiationError::NoCommonCodec {
            mid: mid.to_string(),
            kind: offer.kind,
        });
    }
    let extensions = common_extensions(&offer.extensions, caps.extensions(offer.kind));
    let send = wants.send.is_some() && receives(offer.direction);
    let recv = wants.recv && sends(offer.direction);
    let receive_rids = if recv { offer.send_rids() } else { Vec::new() };
    let mut sender = wants.send.clone().filter(|_| send);
    if let Some(s) = &mut sender {
        if !codecs.iter().any(|c| c.rtx_payload_type.is_some()) {
            s.rtx_ssrc = None;
            for layer in &mut s.layers {
                layer.rtx_ssrc = None;
            }
        }
        // We send the layers the offer asks to receive (RFC 8853 §5.3); none asked, one stream.
        let wanted = offer.recv_rids();
        s.layers.retain(|l| wanted.contains(&l.rid));
    }
    Ok(MediaSectionParams {
        mid: mid.to_string(),
        kind: offer.kind,
        protocol: protocol.to_string(),
        direction: direction_from(send, recv),
        codecs,
        extensions,
        rtcp_mux: true,
        rtcp_rsize: offer.rtcp_rsize,
        sender,
        receive_rids,
    })
}

/// The extensions of `listed` (with their ids, in their order) whose URI is
/// in `supported`; of two with the same id or URI only the first is kept.
fn common_extensions(listed: &[HeaderExtension], supported: &[HeaderExtension]) -> Vec<HeaderExtension> {
    let mut kept: Vec<HeaderExtension> = Vec::new();
    for e in listed {
        let known = supported.iter().any(|s| s.uri == e.uri);
        let clash = kept.iter().any(|k| k.id == e.id || k.uri == e.uri);
        if known && !clash {
            kept.push(e.clone());
        }
    }
    kept
}

/// One payload type of a negotiated section.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PayloadFormat {
    /// The codec (RTX for a repair format).
    pub codec: Codec,
    /// The RTP clock rate.
    pub clock_rate: u32,
    /// For RTX: the payload type it repairs.
    pub primary: Option<u8>,
}

/// What a negotiated audio/video section gives the RTP layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NegotiatedMedia {
    /// The mid.
    pub mid: String,
    /// Audio or video.
    pub kind: MediaType,
    /// Our direction after negotiation.
    pub direction: Direction,
    /// The formats we send with, best first, with the payload types the remote expects.
    pub send_codecs: Vec<CodecParameters>,
    /// Every negotiated payload type (RTX mapped to its primary).
    pub payload_types: BTreeMap<u8, PayloadFormat>,
    /// The negotiated header extensions: id → URI.
    pub extensions: BTreeMap<u16, String>,
    /// The remote's primary SSRCs (not its RTX/FEC ones).
    pub remote_ssrcs: Vec<u32>,
    /// The rids the remote sends as simulcast.
    pub remote_rids: Vec<String>,
    /// The rids we send as simulcast, in our order (empty: one stream without a rid).
    pub send_rids: Vec<String>,
    /// Ask the remote's sender for keyframes with FIR (RFC 5104 §4.3.1) rather than PLI: no
    /// format negotiated `nack pli` and one negotiated `ccm fir`.
    pub keyframe_by_fir: bool,
}

impl NegotiatedMedia {
    fn new(
        params: &MediaSectionParams,
        direction: Direction,
        extensions: &[HeaderExtension],
        remote: &RemoteMedia,
    ) -> NegotiatedMedia {
        let mut payload_types = BTreeMap::new();
        for c in &params.codecs {
            payload_types.insert(
                c.payload_type,
                PayloadFormat {
                    codec: c.codec,
                    clock_rate: c.clock_rate,
                    primary: None,
                },
            );
            if let Some(rtx) = c.rtx_payload_type {
                payload_types.insert(
                    rtx,
                    PayloadFormat {
                        codec: Codec::Rtx,
                        clock_rate: c.clock_rate,
                        primary: Some(c.payload_type),
                    },
                );
            }
        }
        let receiving = receives(direction);
        let has_feedback = |fb: &str| params.codecs.iter().any(|c| c.rtcp_fb.iter().any(|f| f == fb));
        let keyframe_by_fir = !has_feedback("nack pli") && has_feedback("ccm fir");
        NegotiatedMedia {
            mid: params.mid.clone(),
            kind: params.kind,
            direction,
            send_codecs: if sends(direction) {
                params.codecs.clone()
            } else {
                Vec::new()
            },
            payload_types,
            extensions: extensions.iter().map(|e| (e.id, e.uri.clone())).collect(),
            remote_ssrcs: if receiving { remote.media_ssrcs() } else { Vec::new() },
            remote_rids: if receiving { remote.send_rids() } else { Vec::new() },
            send_rids: match &params.sender {
                Some(s) if sends(direction) => s.layers.iter().map(|l| l.rid.clone()).collect(),
                _ => Vec::new(),
            },
            keyframe_by_fir,
        }
    }

    /// The result of our answer `answer` to the offered section `offer`.
    pub fn from_our_answer(answer: &MediaSectionParams, offer: &RemoteMedia) -> NegotiatedMedia {
        NegotiatedMedia::new(answer, answer.direction, &answer.extensions, offer)
    }

    /// The format of a payload type.
    pub fn format(&self, payload_type: u8) -> Option<&PayloadFormat> {
        self.payload_types.get(&payload_type)
    }

    /// The id of a header extension, if negotiated.
    pub fn extension_id(&self, uri: &str) -> Option<u16> {
        self.extensions.iter().find(|(_, u)| *u == uri).map(|(id, _)| *id)
    }
}

/// Applies the remote's answer to our offered section (RFC 8829 §5.10):
/// the formats of the answer that match ones we offered (with the
/// answerer's payload types, in the answerer's order), the extensions both
/// list (the answerer's ids), and our direction, the mirror of the answer's.
///
/// An answer with no format we offered is [`MediaNegotiationError::NoCommonCodec`]:
/// the codec failed to negotiate.
pub fn apply_answer(
    offer: &MediaSectionParams,
    answer: &RemoteMedia,
) -> Result<NegotiatedMedia, MediaNegotiationError> {
    if answer.kind != offer.kind {
        return Err(MediaNegotiationError::KindMismatch {
            mid: offer.mid.clone(),
            offered: offer.kind,
            answered: answer.kind,
        });
    }
    let allowed = match offer.direction {
        Direction::SendRecv => true,
        Direction::SendOnly => matches!(answer.direction, Direction::RecvOnly | Direction::Inactive),
        Direction::RecvOnly => matches!(answer.direction, Direction::SendOnly | Direction::Inactive),
        Direction::Inactive => answer.direction == Direction::Inactive,
    };
    if !allowed {
        return Err(MediaNegotiationError::InvalidDirection {
            mid: offer.mid.clone(),
            offered: offer.direction.as_str(),
            answered: answer.direction.as_str(),
        });
    }
    let codecs: Vec<CodecParameters> = answer
        .codecs
        .iter()
        .filter_map(|answered| {
            let ours = offer.codecs.iter().find(|c| c.matches(answered))?;
            let mut agreed = answered.clone();
            agreed.rtx_payload_type = answered.rtx_payload_type.filter(|_| ours.rtx_payload_type.is_some());
            agreed.rtcp_fb.retain(|fb| ours.rtcp_fb.contains(fb));
            Some(agreed)
        })
        .collect();
    if codecs.is_empty() {
        return Err(MediaNegotiationError::NoCommonCodec {
            mid: offer.mid.clone(),
            kind: offer.kind,
        });
    }
    let extensions = common_extensions(&answer.extensions, &offer.extensions);
    let direction = direction_from(receives(answer.direction), sends(answer.direction));
    let mut negotiated = MediaSectionParams {
        codecs,
        ..offer.clone()
    };
    if let Some(sender) = &mut negotiated.sender {
        // The layers the answer accepts with `a=simulcast:recv` (RFC 8853 §5.3); an answer
        // without simulcast takes one stream.
        let accepted = answer.recv_rids();
        sender.layers.retain(|l| accepted.contains(&l.rid));
    }
    Ok(NegotiatedMedia::new(&negotiated, direction, &extensions, answer))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sdp::SessionDescription;

    fn wants(send: bool, recv: bool) -> TransceiverWants {
        TransceiverWants {
            send: send.then(|| SenderParams {
                stream_id: Some("stream".into()),
                track_id: "track".into(),
                ssrc: 1111,
                rtx_ssrc: Some(2222),
                cname: "cname".into(),
                layers: Vec::new(),
            }),
            recv,
        }
    }

    fn remote_video(direction: &str, body: &str) -> RemoteMedia {
        let text = format!(
            "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF {}\r\na=mid:0\r\na={direction}\r\n{body}",
            body.lines()
                .filter_map(|l| l.strip_prefix("a=rtpmap:"))
                .map(|l| l.split(' ').next().unwrap())
                .collect::<Vec<_>>()
                .join(" ")
        );
        let sdp = SessionDescription::parse(&text).unwrap();
        RemoteMedia::from_section(&sdp.media[0]).unwrap()
    }

    const VP8_AND_VP9: &str = "a=rtpmap:100 VP8/90000\r\na=rtpmap:101 rtx/90000\r\na=fmtp:101 apt=100\r\n\
a=rtpmap:98 VP9/90000\r\na=fmtp:98 profile-id=2\r\na=rtcp-fb:* nack\r\n\
a=extmap:7 urn:ietf:params:rtp-hdrext:sdes:mid\r\na=extmap:9 urn:example:unknown\r\n\
a=extmap:7 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time\r\na=extmap:8 urn:ietf:params:rtp-hdrext:sdes:mid\r\n";

    #[test]
    fn answer_keeps_offered_payload_types_and_drops_what_we_do_not_do() {
        let offer = remote_video("sendrecv", VP8_AND_VP9);
        let answer = answer_media(
            "0",
            &offer,
            MEDIA_PROTOCOL,
            &wants(true, true),
            &MediaCapabilities::default(),
        )
        .unwrap();
        // VP9 profile 2 is not ours; VP8 keeps PT 100 and its RTX 101.
        // Of the extensions only the first of each id and URI is kept.
        assert_eq!(answer.payload_types(), vec![100, 101]);
        assert_eq!(answer.codecs[0].codec, Codec::Vp8);
        assert_eq!(answer.codecs[0].rtcp_fb, vec!["nack".to_string()]);
        assert_eq!(
            answer.extensions,
            vec![HeaderExtension {
                id: 7,
                uri: super::super::media::extension::MID.into()
            }]
        );
        assert_eq!(answer.direction, Direction::SendRecv);
        assert_eq!(answer.sender.as_ref().unwrap().rtx_ssrc, Some(2222));
    }

    #[test]
    fn only_vp9_offered_when_we_only_do_vp8_is_rejected() {
        let offer = remote_video("sendrecv", "a=rtpmap:98 VP9/90000\r\na=fmtp:98 profile-id=0\r\n");
        let mut caps = MediaCapabilities::default();
        caps.video.retain(|c| c.codec == Codec::Vp8);
        let err = answer_media("0", &offer, MEDIA_PROTOCOL, &wants(true, true), &caps).unwrap_err();
        assert_eq!(
            err,
            MediaNegotiationError::NoCommonCodec {
                mid: "0".into(),
                kind: MediaType::Video
            }
        );
    }

    #[test]
    fn answer_directions_follow_rfc_3264() {
        use Direction::*;
        // (offered, we send, we receive, answered)
        let table = [
            (SendRecv, true, true, SendRecv),
            (SendRecv, true, false, SendOnly),
            (SendRecv, false, true, RecvOnly),
            (SendRecv, false, false, Inactive),
            (SendOnly, true, true, RecvOnly),
            (SendOnly, true, false, Inactive),
            (RecvOnly, true, true, SendOnly),
            (RecvOnly, false, true, Inactive),
            (Inactive, true, true, Inactive),
        ];
        for (offered, send, recv, expected) in table {
            let offer = remote_video(offered.as_str(), "a=rtpmap:96 VP8/90000\r\n");
            let answer = answer_media(
                "0",
                &offer,
                MEDIA_PROTOCOL,
                &wants(send, recv),
                &MediaCapabilities::default(),
            )
            .unwrap();
            assert_eq!(
                answer.direction, expected,
                "offer {offered:?}, send {send}, recv {recv}"
            );
            assert_eq!(answer.sender.is_some(), sends(expected));
        }
    }

    #[test]
    fn applying_an_answer_takes_the_answerers_payload_types_and_mirrors_the_direction() {
        let caps = MediaCapabilities::default();
        let offer = offer_media("v", MediaType::Video, &wants(true, true), &caps);
        // The answerer renumbers VP8 to 120 (allowed for its receive side) and keeps H.264 CB.
        let answer = remote_video(
            "recvonly",
            "a=rtpmap:120 VP8/90000\r\na=rtpmap:121 rtx/90000\r\na=fmtp:121 apt=120\r\n\
a=rtpmap:102 H264/90000\r\na=fmtp:102 packetization-mode=1;profile-level-id=42e01f\r\n\
a=rtpmap:127 FOO/90000\r\na=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid\r\na=ssrc:77 cname:x\r\n",
        );
        let negotiated = apply_answer(&offer, &answer).unwrap();
        assert_eq!(negotiated.direction, Direction::SendOnly);
        let pts: Vec<u8> = negotiated.send_codecs.iter().map(|c| c.payload_type).collect();
        assert_eq!(pts, vec![120, 102]);
        assert_eq!(
            negotiated.format(121),
            Some(&PayloadFormat {
                codec: Codec::Rtx,
                clock_rate: 90000,
                primary: Some(120)
            })
        );
        assert_eq!(negotiated.format(127), None);
        assert_eq!(negotiated.extension_id(super::super::media::extension::MID), Some(4));
        // We do not receive, so the remote's SSRCs are not ours to demultiplex.
        assert!(negotiated.remote_ssrcs.is_empty());

        let codec_failed = remote_video("recvonly", "a=rtpmap:98 VP9/90000\r\na=fmtp:98 profile-id=2\r\n");
        assert!(matches!(
            apply_answer(&offer, &codec_failed),
            Err(MediaNegotiationError::NoCommonCodec { .. })
        ));
        let recv_offer = offer_media("v", MediaType::Video, &wants(false, true), &caps);
        assert!(matches!(
            apply_answer(&recv_offer, &remote_video("recvonly", "a=rtpmap:96 VP8/90000\r\n")),
            Err(MediaNegotiationError::InvalidDirection { .. })
        ));
    }
}
