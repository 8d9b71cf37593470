//! Our audio/video media sections: what they say and how they are written.

use std::fmt::Write as _;

use super::codecs::{format_fmtp, Codec, CodecParameters, MediaType};
use super::simulcast::SendLayer;
use crate::sdp::Direction;

/// RTP header extension URIs, spelled exactly as browsers write them.
pub mod extension {
    /// Audio level of the sender (RFC 6464).
    pub const AUDIO_LEVEL: &str = "urn:ietf:params:rtp-hdrext:ssrc-audio-level";
    /// Absolute send time (the Google extension used for REMB).
    pub const ABS_SEND_TIME: &str = "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time";
    /// Transport-wide sequence number for transport-cc feedback.
    pub const TRANSPORT_CC: &str = "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01";
    /// The media section's mid (RFC 8843 §15.2).
    pub const MID: &str = "urn:ietf:params:rtp-hdrext:sdes:mid";
    /// Video orientation (3GPP TS 26.114 CVO).
    pub const VIDEO_ORIENTATION: &str = "urn:3gpp:video-orientation";
    /// The RTP stream id of a simulcast layer (RFC 8852).
    pub const RTP_STREAM_ID: &str = "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id";
    /// The RTP stream id a repair stream repairs (RFC 8852).
    pub const REPAIRED_RTP_STREAM_ID: &str = "urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id";
}

/// The header extensions we offer and accept, with the ids we offer them
/// under (Chrome's, one id per URI across audio and video so that BUNDLEd
/// sections agree, RFC 8843 §9.2).
const EXTENSIONS: &[(u16, &str, bool, bool)] = &[
    // (id, uri, audio, video)
    (1, extension::AUDIO_LEVEL, true, false),
    (2, extension::ABS_SEND_TIME, true, true),
    (3, extension::TRANSPORT_CC, true, true),
    (4, extension::MID, true, true),
    (10, extension::RTP_STREAM_ID, false, true),
    (11, extension::REPAIRED_RTP_STREAM_ID, false, true),
    (13, extension::VIDEO_ORIENTATION, false, true),
];

/// The header extensions we do for a media type, with the ids we offer.
pub fn default_extensions(kind: MediaType) -> Vec<HeaderExtension> {
    EXTENSIONS
        .iter()
        .filter(|(_, _, audio, video)| match kind {
            MediaType::Audio => *audio,
            MediaType::Video => *video,
        })
        .map(|(id, uri, _, _)| HeaderExtension {
            id: *id,
            uri: (*uri).to_string(),
        })
        .collect()
}

/// One `a=extmap`: an id and the extension's URI.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HeaderExtension {
    /// The id (1–14 for one-byte headers, up to 255 for two-byte ones).
    pub id: u16,
    /// The extension's URI.
    pub uri: String,
}

/// What a section that sends states about its track (RFC 8830 `a=msid`,
/// RFC 5576 `a=ssrc`, RFC 4588 FID group).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SenderParams {
    /// The MediaStream id, or `None` for a track in no stream (`a=msid:- <track>`).
    pub stream_id: Option<String>,
    /// The track id.
    pub track_id: String,
    /// The SSRC of the media stream.
    pub ssrc: u32,
    /// The SSRC of its RTX stream, if RTX was negotiated.
    pub rtx_ssrc: Option<u32>,
    /// The RTCP CNAME (one per connection).
    pub cname: String,
    /// The simulcast layers, when it sends more than one encoding (empty otherwise). The
    /// section then states `a=rid:<rid> send` for each and `a=simulcast:send`, and no SSRCs:
    /// the layers are told apart by the rid header extension (RFC 8853 §5.4).
    pub layers: Vec<SendLayer>,
}

impl SenderParams {
    fn msid_value(&self) -> String {
        format!("{} {}", self.stream_id.as_deref().unwrap_or("-"), self.track_id)
    }
}

/// An audio or video section of our offer or answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaSectionParams {
    /// The mid.
    pub mid: String,
    /// Audio or video.
    pub kind: MediaType,
    /// The `m=` protocol: `UDP/TLS/RTP/SAVPF`, or in an answer the offer's.
    pub protocol: String,
    /// Our direction.
    pub direction: Direction,
    /// The formats in preference order; RTX formats are their primaries' `rtx_payload_type`.
    pub codecs: Vec<CodecParameters>,
    /// The header extensions.
    pub extensions: Vec<HeaderExtension>,
    /// Whether `a=rtcp-mux` is stated (always, for WebRTC).
    pub rtcp_mux: bool,
    /// Whether `a=rtcp-rsize` is stated.
    pub rtcp_rsize: bool,
    /// What we send, when the direction sends.
    pub sender: Option<SenderParams>,
    /// The rids we receive as simulcast (`a=rid:<id> recv`, `a=simulcast:recv …`).
    pub receive_rids: Vec<String>,
}

/// The protocol of WebRTC media sections (RFC 8829 §5.1.2).
pub const MEDIA_PROTOCOL: &str = "UDP/TLS/RTP/SAVPF";

impl MediaSectionParams {
    /// The payload types of the m-line: each format followed by its RTX format.
    pub fn payload_types(&self) -> Vec<u8> {
        self.codecs
            .iter()
            .flat_map(|c| std::iter::once(c.payload_type).chain(c.rtx_payload_type))
            .collect()
    }

    /// The `m=` line without its port and line end: `video 9 UDP/TLS/RTP/SAVPF 96 97`.
    pub(crate) fn m_line(&self) -> String {
        let pts: Vec<String> = self.payload_types().iter().map(u8::to_string).collect();
        format!("m={} 9 {} {}\r\n", self.kind, self.protocol, pts.join(" "))
    }

    /// Writes the media-specific lines (after the transport lines and `a=mid`).
    pub(crate) fn write_media_lines(&self, sdp: &mut String) {
        // `write!` into a String cannot fail.
        for e in &self.extensions {
            let _ = write!(sdp, "a=extmap:{} {}\r\n", e.id, e.uri);
        }
        let _ = write!(sdp, "a={}\r\n", self.direction.as_str());
        let sending = matches!(self.direction, Direction::SendRecv | Direction::SendOnly);
        let sender = self.sender.as_ref().filter(|_| sending);
        if let Some(s) = sender {
            let _ = write!(sdp, "a=msid:{}\r\n", s.msid_value());
        }
        if self.rtcp_mux {
            sdp.push_str("a=rtcp-mux\r\n");
        }
        if self.rtcp_rsize {
            sdp.push_str("a=rtcp-rsize\r\n");
        }
        for c in &self.codecs {
            let _ = write!(
                sdp,
                "a=rtpmap:{} {}/{}",
                c.payload_type,
                c.codec.encoding_name(),
                c.clock_rate
            );
            if let Some(ch) = c.channels {
                let _ = write!(sdp, "/{ch}");
            }
            sdp.push_str("\r\n");
            for fb in &c.rtcp_fb {
                let _ = write!(sdp, "a=rtcp-fb:{} {fb}\r\n", c.payload_type);
            }
            if !c.fmtp.is_empty() {
                let _ = write!(sdp, "a=fmtp:{} {}\r\n", c.payload_type, format_fmtp(&c.fmtp));
            }
            if let Some(rtx) = c.rtx_payload_type {
                let _ = write!(
                    sdp,
                    "a=rtpmap:{rtx} {}/{}\r\na=fmtp:{rtx} apt={}\r\n",
                    Codec::Rtx.encoding_name(),
                    c.clock_rate,
                    c.payload_type
                );
            }
        }
        let send_layers = sender.map(|s| s.layers.as_slice()).unwrap_or_default();
        for layer in send_layers {
            let _ = write!(sdp, "a=rid:{} send\r\n", layer.rid);
        }
        for rid in &self.receive_rids {
            let _ = write!(sdp, "a=rid:{rid} recv\r\n");
        }
        let send_list: Vec<&str> = send_layers.iter().map(|l| l.rid.as_str()).collect();
        match (send_list.is_empty(), self.receive_rids.is_empty()) {
            (true, true) => {}
            (false, true) => {
                let _ = write!(sdp, "a=simulcast:send {}\r\n", send_list.join(";"));
            }
            (true, false) => {
                let _ = write!(sdp, "a=simulcast:recv {}\r\n", self.receive_rids.join(";"));
            }
            (false, false) => {
                let _ = write!(
                    sdp,
                    "a=simulcast:send {} recv {}\r\n",
                    send_list.join(";"),
                    self.receive_rids.join(";")
                );
            }
        }
        if let Some(s) = sender.filter(|s| s.layers.is_empty()) {
            let msid = s.msid_value();
            let ssrcs: Vec<u32> = std::iter::once(s.ssrc).chain(s.rtx_ssrc).collect();
            if let Some(rtx) = s.rtx_ssrc {
                let _ = write!(sdp, "a=ssrc-group:FID {} {rtx}\r\n", s.ssrc);
            }
            for ssrc in ssrcs {
                let _ = write!(sdp, "a=ssrc:{ssrc} cname:{}\r\na=ssrc:{ssrc} msid:{msid}\r\n", s.cname);
            }
        }
    }
}
