//! The W3C `RTCRtpTransceiver` model: which tracks a connection sends and
//! receives, and in which direction (webrtc-pc §5.4, JSEP RFC 8829 §3.4).

use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::jsep::{Codec, MediaType};
use crate::sdp::Direction;

/// Identifies one transceiver of a connection (its index in `getTransceivers()` order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TransceiverId(pub usize);

impl fmt::Display for TransceiverId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "transceiver {}", self.0)
    }
}

/// `RTCRtpTransceiverDirection`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TransceiverDirection {
    /// `sendrecv`.
    #[default]
    SendRecv,
    /// `sendonly`.
    SendOnly,
    /// `recvonly`.
    RecvOnly,
    /// `inactive`.
    Inactive,
    /// `stopped`.
    Stopped,
}

impl TransceiverDirection {
    /// Builds the direction from whether it sends and whether it receives.
    pub fn from_parts(send: bool, recv: bool) -> TransceiverDirection {
        match (send, recv) {
            (true, true) => TransceiverDirection::SendRecv,
            (true, false) => TransceiverDirection::SendOnly,
            (false, true) => TransceiverDirection::RecvOnly,
            (false, false) => TransceiverDirection::Inactive,
        }
    }

    /// Whether the direction includes sending.
    pub fn sends(self) -> bool {
        matches!(self, TransceiverDirection::SendRecv | TransceiverDirection::SendOnly)
    }

    /// Whether the direction includes receiving.
    pub fn receives(self) -> bool {
        matches!(self, TransceiverDirection::SendRecv | TransceiverDirection::RecvOnly)
    }

    /// The W3C token.
    pub fn as_str(self) -> &'static str {
        match self {
            TransceiverDirection::SendRecv => "sendrecv",
            TransceiverDirection::SendOnly => "sendonly",
            TransceiverDirection::RecvOnly => "recvonly",
            TransceiverDirection::Inactive => "inactive",
            TransceiverDirection::Stopped => "stopped",
        }
    }
}

impl From<Direction> for TransceiverDirection {
    fn from(d: Direction) -> Self {
        match d {
            Direction::SendRecv => TransceiverDirection::SendRecv,
            Direction::SendOnly => TransceiverDirection::SendOnly,
            Direction::RecvOnly => TransceiverDirection::RecvOnly,
            Direction::Inactive => TransceiverDirection::Inactive,
        }
    }
}

impl TransceiverDirection {
    /// The SDP direction attribute (`stopped` is written `inactive` on a rejected section).
    pub fn to_sdp(self) -> Direction {
        match self {
            TransceiverDirection::SendRecv => Direction::SendRecv,
            TransceiverDirection::SendOnly => Direction::SendOnly,
            TransceiverDirection::RecvOnly => Direction::RecvOnly,
            TransceiverDirection::Inactive | TransceiverDirection::Stopped => Direction::Inactive,
        }
    }
}

impl fmt::Display for TransceiverDirection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A local track as the connection knows it: its id, kind, codec and streams (msid).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackInit {
    /// `MediaStreamTrack.id`, sent as the msid track id.
    pub id: String,
    /// The codec of the frames the track will write.
    pub codec: Codec,
    /// The ids of the streams the track belongs to (`addTrack(track, ...streams)`).
    pub stream_ids: Vec<String>,
}

impl TrackInit {
    /// The track's kind, from its codec; `None` for a codec that is not a media codec (RTX).
    pub fn kind(&self) -> Option<MediaType> {
        self.codec.media_type()
    }
}

/// `RTCRtpTransceiverInit`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TransceiverInit {
    /// The transceiver's direction (default `sendrecv`).
    pub direction: TransceiverDirection,
    /// The streams the sender's track is associated with.
    pub stream_ids: Vec<String>,
    /// `sendEncodings`: empty for one encoding with the defaults; several, each with a rid,
    /// to send simulcast (checked as the browser does, see [`RtpEncodingParameters`]).
    pub send_encodings: Vec<RtpEncodingParameters>,
}

/// `RTCRtpEncodingParameters`: one encoding (simulcast layer) a sender sends.
///
/// With several encodings every one has a distinct `rid` (RFC 8851: letters and digits, here at
/// most [`MAX_RID_LENGTH`] of them, as browsers allow); the offer then says
/// `a=rid:<rid> send` for each and `a=simulcast:send <rid>;<rid>;…`, and each encoding that the
/// answer accepts is sent as its own RTP stream (own SSRC and RTX SSRC) carrying the rid header
/// extension. The application writes frames per encoding (`write_frame_for_rid`).
#[derive(Debug, Clone, PartialEq)]
pub struct RtpEncodingParameters {
    /// `rid`: the RTP stream id of the layer, `None` for a single unnamed encoding.
    pub rid: Option<String>,
    /// `active`: whether the encoding is sent (default `true`). Frames written for an inactive
    /// encoding are not sent.
    pub active: bool,
    /// `maxBitrate` in bits per second, if capped. Stated for the application's encoder; the
    /// connection does not pace to it.
    pub max_bitrate: Option<u32>,
    /// `maxFramerate` in frames per second, if capped (video only; for the application's encoder).
    pub max_framerate: Option<f64>,
    /// `scaleResolutionDownBy` (≥ 1, video only): by how much the application's encoder scales
    /// the track down for this layer.
    pub scale_resolution_down_by: Option<f64>,
}

impl Default for RtpEncodingParameters {
    fn default() -> Self {
        RtpEncodingParameters {
            rid: None,
            active: true,
            max_bitrate: None,
            max_framerate: None,
            scale_resolution_down_by: None,
        }
    }
}

impl RtpEncodingParameters {
    /// An active encoding with this rid and no other settings.
    pub fn with_rid(rid: impl Into<String>) -> RtpEncodingParameters {
        RtpEncodingParameters {
            rid: Some(rid.into()),
            ..Default::default()
        }
    }
}

/// The longest rid `sendEncodings` accepts (Chromium's and WPT's limit; RFC 8851 allows 255).
pub const MAX_RID_LENGTH: usize = 16;

/// The most encodings a sender keeps; further ones are dropped, as webrtc-pc §5.2 lets a user
/// agent do (`addTransceiver` step "truncate sendEncodings").
pub const MAX_SEND_ENCODINGS: usize = 4;

/// `RTCRtpSendParameters`: what `sender.getParameters()` returns and `setParameters()` takes.
#[derive(Debug, Clone, PartialEq)]
pub struct RtpSendParameters {
    /// `transactionId`: `setParameters` must pass back the one the last `getParameters` gave.
    pub transaction_id: String,
    /// `encodings`, in the order `sendEncodings` gave them.
    pub encodings: Vec<RtpEncodingParameters>,
}

/// A snapshot of one transceiver, as `getTransceivers()` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransceiverInfo {
    /// Which transceiver.
    pub id: TransceiverId,
    /// `mid`: `None` until a description associates it with a media section.
    pub mid: Option<String>,
    /// The kind of media it carries.
    pub kind: MediaType,
    /// `direction`: what the application wants.
    pub direction: TransceiverDirection,
    /// `currentDirection`: what the last applied answer negotiated, `None` before.
    pub current_direction: Option<TransceiverDirection>,
    /// The sender's track (`sender.track`), if any.
    pub sender_track: Option<TrackInit>,
    /// The receiver's track id (`receiver.track.id`).
    pub receiver_track_id: String,
    /// The codec the sender sends with, once negotiated.
    pub send_codec: Option<Codec>,
    /// The codecs the receiver may receive, once negotiated.
    pub receive_codecs: Vec<Codec>,
    /// `[[Stopped]]`: a negotiation (or `close()`) has stopped it; `current_direction` is
    /// `stopped`. While only `direction` reads `stopped` the transceiver is stopping: its
    /// receiver's track has ended, and the next negotiation stops it.
    pub stopped: bool,
}

/// One encoded frame a local track hands to the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaFrame {
    /// The encoded bytes: an Opus or G.711 packet, a VP8/VP9 frame, an H.264 access unit
    /// in Annex B form, or an AV1 temporal unit (low-overhead OBUs).
    pub data: Bytes,
    /// The frame's presentation time from the start of the track.
    pub pts: Duration,
}

/// One RTP packet of a remote track, as it arrived: decrypted, authenticated and (for a
/// packet repaired over RTX) restored to the original, before the jitter buffer. A media
/// server forwards these with [`PeerConnection::write_rtp`](crate::peer::PeerConnection::write_rtp).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedRtp {
    /// The whole packet: header (with the sender's header extensions) and payload.
    pub data: Bytes,
    /// The codec its payload type was negotiated for.
    pub codec: Codec,
    /// The rid of the simulcast layer it came on, if any.
    pub rid: Option<String>,
    /// The payload type.
    pub payload_type: u8,
    /// The sender's sequence number.
    pub sequence_number: u16,
    /// The RTP timestamp.
    pub timestamp: u32,
    /// The sender's SSRC.
    pub ssrc: u32,
    /// The marker bit (the last packet of a video frame).
    pub marker: bool,
}

impl ReceivedRtp {
    /// The packet parsed again, for its header extensions, CSRCs and payload.
    pub fn parse(&self) -> Result<crate::rtp::RtpPacket<'_>, crate::rtp::RtpError> {
        crate::rtp::RtpPacket::parse(&self.data)
    }
}

/// One frame a remote track produced, reassembled from RTP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedFrame {
    /// The encoded bytes, in the form [`MediaFrame::data`] describes.
    pub data: Bytes,
    /// The codec it was sent with.
    pub codec: Codec,
    /// Its RTP timestamp (the codec's clock, unwrapped from the first frame).
    pub rtp_timestamp: u64,
    /// Whether a decoder can start from it (always true for audio).
    pub keyframe: bool,
    /// The rid of the simulcast layer it came on, if any.
    pub rid: Option<String>,
}
