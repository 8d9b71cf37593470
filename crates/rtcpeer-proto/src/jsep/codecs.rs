//! Codecs: what a payload type carries, our default capabilities (like a
//! browser's), and when an offered format matches one of ours.

use std::fmt;

use super::h264::{answer_profile_level_id, ProfileLevelId, DEFAULT_PROFILE_LEVEL_ID};

/// Audio or video: the kinds of media section that carry RTP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MediaType {
    /// `m=audio`.
    Audio,
    /// `m=video`.
    Video,
}

impl MediaType {
    /// The `m=` token.
    pub fn as_str(self) -> &'static str {
        match self {
            MediaType::Audio => "audio",
            MediaType::Video => "video",
        }
    }

    /// The media type of an SDP media kind, if it carries RTP media.
    pub fn from_kind(kind: &crate::sdp::MediaKind) -> Option<MediaType> {
        match kind {
            crate::sdp::MediaKind::Audio => Some(MediaType::Audio),
            crate::sdp::MediaKind::Video => Some(MediaType::Video),
            _ => None,
        }
    }
}

impl fmt::Display for MediaType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A codec we know how to negotiate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    /// Opus (RFC 7587), 48 kHz, always written with 2 channels.
    Opus,
    /// G.711 µ-law.
    Pcmu,
    /// G.711 A-law.
    Pcma,
    /// G.722 (its RTP clock rate is 8000, RFC 3551 §4.5.2).
    G722,
    /// VP8 (RFC 7741).
    Vp8,
    /// VP9 (RFC 9628).
    Vp9,
    /// H.264 (RFC 6184).
    H264,
    /// AV1 (the AOM RTP specification).
    Av1,
    /// Retransmission (RFC 4588): a repair format for a primary named by `apt=`.
    Rtx,
}

impl Codec {
    /// The codec an `a=rtpmap` encoding name names (case-insensitive, RFC 4855 §3).
    pub fn from_encoding_name(name: &str) -> Option<Codec> {
        const NAMES: &[(&str, Codec)] = &[
            ("opus", Codec::Opus),
            ("PCMU", Codec::Pcmu),
            ("PCMA", Codec::Pcma),
            ("G722", Codec::G722),
            ("VP8", Codec::Vp8),
            ("VP9", Codec::Vp9),
            ("H264", Codec::H264),
            ("AV1", Codec::Av1),
            ("rtx", Codec::Rtx),
        ];
        NAMES
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, c)| *c)
    }

    /// The encoding name written in `a=rtpmap`, spelled as browsers spell it.
    pub fn encoding_name(self) -> &'static str {
        match self {
            Codec::Opus => "opus",
            Codec::Pcmu => "PCMU",
            Codec::Pcma => "PCMA",
            Codec::G722 => "G722",
            Codec::Vp8 => "VP8",
            Codec::Vp9 => "VP9",
            Codec::H264 => "H264",
            Codec::Av1 => "AV1",
            Codec::Rtx => "rtx",
        }
    }

    /// The media type the codec belongs to; `None` for RTX, which repairs either.
    pub fn media_type(self) -> Option<MediaType> {
        match self {
            Codec::Opus | Codec::Pcmu | Codec::Pcma | Codec::G722 => Some(MediaType::Audio),
            Codec::Vp8 | Codec::Vp9 | Codec::H264 | Codec::Av1 => Some(MediaType::Video),
            Codec::Rtx => None,
        }
    }
}

impl fmt::Display for Codec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.encoding_name())
    }
}

/// One negotiated or offered format: a payload type, its codec, the format
/// parameters, the RTCP feedback, and its RTX payload type if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodecParameters {
    /// The RTP payload type (0–127).
    pub payload_type: u8,
    /// The codec.
    pub codec: Codec,
    /// The RTP clock rate.
    pub clock_rate: u32,
    /// The channel count (audio), if written.
    pub channels: Option<u8>,
    /// The `a=fmtp` parameters in order, unknown ones kept; a parameter without `=` has an empty value.
    pub fmtp: Vec<(String, String)>,
    /// The `a=rtcp-fb` values (`nack`, `nack pli`, `ccm fir`, `goog-remb`, `transport-cc`).
    pub rtcp_fb: Vec<String>,
    /// The payload type of the RTX format repairing this one.
    pub rtx_payload_type: Option<u8>,
}

/// Splits `a=fmtp` parameters (`minptime=10;useinbandfec=1`) into ordered
/// pairs; a parameter without `=` (`0-15`) gets an empty value.
pub fn parse_fmtp(params: &str) -> Vec<(String, String)> {
    params
        .split(';')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (k.trim().to_string(), v.trim().to_string()),
            None => (p.to_string(), String::new()),
        })
        .collect()
}

/// Writes `fmtp` pairs back as `key=value;key` (the inverse of [`parse_fmtp`]).
pub fn format_fmtp(fmtp: &[(String, String)]) -> String {
    let parts: Vec<String> = fmtp
        .iter()
        .map(|(k, v)| if v.is_empty() { k.clone() } else { format!("{k}={v}") })
        .collect();
    parts.join(";")
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn strings(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// The RTCP feedback we offer and accept for video (what browsers offer).
pub const VIDEO_RTCP_FEEDBACK: &[&str] = &["goog-remb", "transport-cc", "ccm fir", "nack", "nack pli"];
/// The RTCP feedback we offer and accept for audio.
pub const AUDIO_RTCP_FEEDBACK: &[&str] = &["transport-cc"];

impl CodecParameters {
    /// A format with no fmtp, feedback or RTX.
    pub fn new(payload_type: u8, codec: Codec, clock_rate: u32, channels: Option<u8>) -> CodecParameters {
        CodecParameters {
            payload_type,
            codec,
            clock_rate,
            channels,
            fmtp: Vec::new(),
            rtcp_fb: Vec::new(),
            rtx_payload_type: None,
        }
    }

    /// The value of an fmtp parameter (names compare case-insensitively, RFC 4855 §3).
    pub fn fmtp_value(&self, name: &str) -> Option<&str> {
        self.fmtp
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Sets an fmtp parameter, in place if present, else at the end.
    pub fn set_fmtp(&mut self, name: &str, value: &str) {
        match self.fmtp.iter_mut().find(|(k, _)| k.eq_ignore_ascii_case(name)) {
            Some((_, v)) => *v = value.to_string(),
            None => self.fmtp.push((name.to_string(), value.to_string())),
        }
    }

    /// The channel count, 1 when not written (RFC 4566 `a=rtpmap`).
    pub fn channel_count(&self) -> u8 {
        self.channels.unwrap_or(1)
    }

    /// The default audio capabilities, in preference order: Opus/48000/2 111
    /// (`minptime=10;useinbandfec=1`), G.722 9, PCMU 0, PCMA 8.
    pub fn default_audio() -> Vec<CodecParameters> {
        let mut opus = CodecParameters::new(111, Codec::Opus, 48_000, Some(2));
        opus.fmtp = pairs(&[("minptime", "10"), ("useinbandfec", "1")]);
        opus.rtcp_fb = strings(AUDIO_RTCP_FEEDBACK);
        vec![
            opus,
            CodecParameters::new(9, Codec::G722, 8_000, None),
            CodecParameters::new(0, Codec::Pcmu, 8_000, None),
            CodecParameters::new(8, Codec::Pcma, 8_000, None),
        ]
    }

    /// The default video capabilities, in preference order, each with RTX: VP8 96/97,
    /// VP9 profile 0 98/99, H.264 Constrained Baseline 3.1 102/103, H.264 Baseline 3.1
    /// 108/109, H.264 Constrained High 3.1 112/113 (all packetization-mode 1), AV1 45/46.
    pub fn default_video() -> Vec<CodecParameters> {
        let video = |pt: u8, codec: Codec, rtx: u8, fmtp: &[(&str, &str)]| {
            let mut c = CodecParameters::new(pt, codec, 90_000, None);
            c.fmtp = pairs(fmtp);
            c.rtcp_fb = strings(VIDEO_RTCP_FEEDBACK);
            c.rtx_payload_type = Some(rtx);
            c
        };
        let h264 = |pt: u8, rtx: u8, profile_level_id: &str| {
            video(
                pt,
                Codec::H264,
                rtx,
                &[
                    ("level-asymmetry-allowed", "1"),
                    ("packetization-mode", "1"),
                    ("profile-level-id", profile_level_id),
                ],
            )
        };
        vec![
            video(96, Codec::Vp8, 97, &[]),
            video(98, Codec::Vp9, 99, &[("profile-id", "0")]),
            h264(102, 103, "42e01f"),
            h264(108, 109, "42001f"),
            h264(112, 113, "640c1f"),
            video(
                45,
                Codec::Av1,
                46,
                &[("level-idx", "5"), ("profile", "0"), ("tier", "0")],
            ),
        ]
    }

    fn h264_profile_level_id(&self) -> Option<ProfileLevelId> {
        ProfileLevelId::parse(self.fmtp_value("profile-level-id").unwrap_or(DEFAULT_PROFILE_LEVEL_ID)).ok()
    }

    /// Whether an offered format is one of ours: same codec, clock rate and
    /// channels, and the codec-specific parameters that must agree:
    /// H.264 profile and `packetization-mode` (RFC 6184 §8.2.2; the level may
    /// differ), VP9 `profile-id` and AV1 `profile` (both default 0).
    pub fn matches(&self, other: &CodecParameters) -> bool {
        if self.codec != other.codec || self.clock_rate != other.clock_rate {
            return false;
        }
        if self.codec.media_type() == Some(MediaType::Audio) && self.channel_count() != other.channel_count() {
            return false;
        }
        let same = |name: &str, default: &str| {
            self.fmtp_value(name).unwrap_or(default) == other.fmtp_value(name).unwrap_or(default)
        };
        match self.codec {
            Codec::H264 => {
                same("packetization-mode", "0")
                    && match (self.h264_profile_level_id(), other.h264_profile_level_id()) {
                        (Some(a), Some(b)) => a.profile == b.profile,
                        _ => false,
                    }
            }
            Codec::Vp9 => same("profile-id", "0"),
            Codec::Av1 => same("profile", "0"),
            _ => true,
        }
    }

    /// Our answer to an offered format that [`matches`](Self::matches) this
    /// capability: the offerer's payload type and RTX payload type (when we
    /// do RTX), our fmtp (for H.264 the level of RFC 6184 §8.2.2), and the
    /// feedback both sides do.
    pub fn answer_to(&self, offered: &CodecParameters) -> CodecParameters {
        let mut answer = self.clone();
        answer.payload_type = offered.payload_type;
        answer.rtx_payload_type = offered.rtx_payload_type.filter(|_| self.rtx_payload_type.is_some());
        answer.rtcp_fb.retain(|fb| offered.rtcp_fb.contains(fb));
        if self.codec == Codec::H264 {
            let asymmetry = |c: &CodecParameters| c.fmtp_value("level-asymmetry-allowed") == Some("1");
            if let (Some(theirs), Some(ours)) = (offered.h264_profile_level_id(), self.h264_profile_level_id()) {
                if let Some(p) = answer_profile_level_id(theirs, ours, asymmetry(offered) && asymmetry(self)) {
                    answer.set_fmtp("profile-level-id", &p.to_string());
                }
            }
        }
        answer
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h264(pt: u8, fmtp: &str) -> CodecParameters {
        let mut c = CodecParameters::new(pt, Codec::H264, 90_000, None);
        c.fmtp = parse_fmtp(fmtp);
        c
    }

    #[test]
    fn fmtp_round_trips_with_unknown_and_bare_parameters() {
        let fmtp = parse_fmtp("minptime=10; useinbandfec=1;0-15;x-google-start-bitrate=800");
        assert_eq!(
            fmtp,
            pairs(&[
                ("minptime", "10"),
                ("useinbandfec", "1"),
                ("0-15", ""),
                ("x-google-start-bitrate", "800")
            ])
        );
        assert_eq!(
            format_fmtp(&fmtp),
            "minptime=10;useinbandfec=1;0-15;x-google-start-bitrate=800"
        );
        assert!(parse_fmtp("").is_empty());
    }

    #[test]
    fn encoding_names_are_case_insensitive() {
        assert_eq!(Codec::from_encoding_name("OPUS"), Some(Codec::Opus));
        assert_eq!(Codec::from_encoding_name("h264"), Some(Codec::H264));
        assert_eq!(Codec::from_encoding_name("RTX"), Some(Codec::Rtx));
        assert_eq!(Codec::from_encoding_name("red"), None);
    }

    #[test]
    fn audio_matching_uses_channels_with_one_as_default() {
        let g722 = CodecParameters::new(9, Codec::G722, 8000, None);
        assert!(g722.matches(&CodecParameters::new(9, Codec::G722, 8000, Some(1))));
        assert!(!g722.matches(&CodecParameters::new(9, Codec::G722, 16000, None)));
        let opus = &CodecParameters::default_audio()[0];
        assert!(!opus.matches(&CodecParameters::new(111, Codec::Opus, 48000, None)));
        assert!(opus.matches(&CodecParameters::new(109, Codec::Opus, 48000, Some(2))));
    }

    #[test]
    fn h264_matches_on_profile_and_packetization_mode_not_level() {
        let cb = h264(
            102,
            "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f",
        );
        let table = [
            ("packetization-mode=1;profile-level-id=42e034", true),
            ("packetization-mode=1;profile-level-id=4de01f", true),
            ("packetization-mode=0;profile-level-id=42e01f", false),
            ("profile-level-id=42e01f", false),
            ("packetization-mode=1;profile-level-id=42001f", false),
            ("packetization-mode=1;profile-level-id=640c1f", false),
            ("packetization-mode=1;profile-level-id=zzzzzz", false),
            // No profile-level-id is Baseline level 1 (RFC 6184 §8.1).
            ("packetization-mode=1", false),
        ];
        for (fmtp, expected) in table {
            assert_eq!(cb.matches(&h264(100, fmtp)), expected, "{fmtp}");
        }
        let baseline = h264(108, "packetization-mode=1;profile-level-id=42001f");
        assert!(baseline.matches(&h264(100, "packetization-mode=1")));
    }

    #[test]
    fn vp9_and_av1_profiles_must_agree() {
        let caps = CodecParameters::default_video();
        let vp9 = caps.iter().find(|c| c.codec == Codec::Vp9).unwrap();
        let mut offered = CodecParameters::new(100, Codec::Vp9, 90000, None);
        assert!(vp9.matches(&offered), "profile-id defaults to 0");
        offered.fmtp = parse_fmtp("profile-id=2");
        assert!(!vp9.matches(&offered));
        let av1 = caps.iter().find(|c| c.codec == Codec::Av1).unwrap();
        let mut offered = CodecParameters::new(41, Codec::Av1, 90000, None);
        assert!(av1.matches(&offered));
        offered.fmtp = parse_fmtp("profile=1");
        assert!(!av1.matches(&offered));
    }

    #[test]
    fn answers_take_the_offered_payload_types_and_common_feedback() {
        let ours = h264(
            102,
            "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f",
        );
        let mut ours = ours;
        ours.rtcp_fb = strings(VIDEO_RTCP_FEEDBACK);
        ours.rtx_payload_type = Some(103);
        let mut offered = h264(126, "profile-level-id=42e034;packetization-mode=1");
        offered.rtcp_fb = strings(&["nack", "nack pli", "ccm fir", "foo"]);
        offered.rtx_payload_type = Some(127);
        let answer = ours.answer_to(&offered);
        assert_eq!(answer.payload_type, 126);
        assert_eq!(answer.rtx_payload_type, Some(127));
        assert_eq!(answer.rtcp_fb, strings(&["ccm fir", "nack", "nack pli"]));
        // No level-asymmetry-allowed in the offer: the lower level (ours, 3.1).
        assert_eq!(answer.fmtp_value("profile-level-id"), Some("42e01f"));
        offered.fmtp = parse_fmtp("profile-level-id=42e00d;packetization-mode=1");
        assert_eq!(ours.answer_to(&offered).fmtp_value("profile-level-id"), Some("42e00d"));
        offered.rtx_payload_type = None;
        assert_eq!(ours.answer_to(&offered).rtx_payload_type, None);
    }
}
