//! The header extensions WebRTC uses: their URIs, the id map negotiated with `a=extmap`, and typed values.

use super::error::RtpError;
use super::header_ext::ExtensionElement;
use super::ntp::NtpTime;
use super::packet::RtpPacket;

/// A header extension this crate understands, named by its URI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExtensionKind {
    /// The media identification (RFC 9143 §15).
    Mid,
    /// The RTP stream id (RFC 8852).
    Rid,
    /// The RTP stream id of the stream a redundancy stream repairs (RFC 8852).
    RepairedRid,
    /// The 24-bit 6.18 fixed-point send time used by Google congestion control.
    AbsSendTime,
    /// The transport-wide sequence number (draft-holmer-rmcat-transport-wide-cc-extensions-01).
    TransportCc,
    /// The client-to-mixer audio level (RFC 6464).
    AudioLevel,
    /// The coordination of video orientation (3GPP TS 26.114).
    VideoOrientation,
}

impl ExtensionKind {
    /// Every kind, for looking one up by URI.
    pub const ALL: [ExtensionKind; 7] = [
        ExtensionKind::Mid,
        ExtensionKind::Rid,
        ExtensionKind::RepairedRid,
        ExtensionKind::AbsSendTime,
        ExtensionKind::TransportCc,
        ExtensionKind::AudioLevel,
        ExtensionKind::VideoOrientation,
    ];

    /// The URI that names this extension in `a=extmap`.
    pub fn uri(self) -> &'static str {
        match self {
            ExtensionKind::Mid => "urn:ietf:params:rtp-hdrext:sdes:mid",
            ExtensionKind::Rid => "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id",
            ExtensionKind::RepairedRid => "urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id",
            ExtensionKind::AbsSendTime => "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time",
            ExtensionKind::TransportCc => "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01",
            ExtensionKind::AudioLevel => "urn:ietf:params:rtp-hdrext:ssrc-audio-level",
            ExtensionKind::VideoOrientation => "urn:3gpp:video-orientation",
        }
    }

    /// The kind a URI names, if this crate knows it.
    pub fn from_uri(uri: &str) -> Option<ExtensionKind> {
        ExtensionKind::ALL.into_iter().find(|kind| kind.uri() == uri)
    }
}

/// The local ids (1..=255) negotiated for each known extension.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtensionMap {
    by_id: [Option<ExtensionKind>; 256],
}

impl Default for ExtensionMap {
    fn default() -> Self {
        ExtensionMap { by_id: [None; 256] }
    }
}

impl ExtensionMap {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    /// Maps `id` to `kind`, replacing whatever `id` or `kind` was mapped to before.
    pub fn insert(&mut self, id: u8, kind: ExtensionKind) -> Result<(), RtpError> {
        if id == 0 {
            return Err(RtpError::BadExtensionId(0));
        }
        if let Some(old) = self.id_of(kind) {
            self.by_id[usize::from(old)] = None;
        }
        self.by_id[usize::from(id)] = Some(kind);
        Ok(())
    }

    /// Maps `id` to the extension `uri` names; returns the kind, or `None` (and maps nothing) for an
    /// unknown URI.
    pub fn insert_uri(&mut self, id: u8, uri: &str) -> Result<Option<ExtensionKind>, RtpError> {
        let Some(kind) = ExtensionKind::from_uri(uri) else {
            return Ok(None);
        };
        self.insert(id, kind)?;
        Ok(Some(kind))
    }

    /// Removes the mapping of `id`.
    pub fn remove(&mut self, id: u8) {
        self.by_id[usize::from(id)] = None;
    }

    /// The kind mapped to `id`.
    pub fn kind(&self, id: u8) -> Option<ExtensionKind> {
        self.by_id[usize::from(id)]
    }

    /// The id mapped to `kind`.
    pub fn id_of(&self, kind: ExtensionKind) -> Option<u8> {
        (1..=255u8).find(|&id| self.by_id[usize::from(id)] == Some(kind))
    }

    /// Decodes the known extensions of `packet`. Elements with unmapped ids are skipped; an element
    /// whose value does not fit its kind is skipped and logged.
    pub fn read<'a>(&self, packet: &RtpPacket<'a>) -> ExtensionValues<'a> {
        let mut values = ExtensionValues::default();
        for element in packet.extensions() {
            if let Some(kind) = self.kind(element.id) {
                match ExtensionValue::parse(kind, element.data) {
                    Ok(value) => values.set(value),
                    Err(e) => tracing::debug!(id = element.id, error = %e, "skipping malformed header extension"),
                }
            }
        }
        values
    }

    /// The typed value of one raw element, if its id is mapped.
    pub fn decode<'a>(&self, element: ExtensionElement<'a>) -> Option<Result<ExtensionValue<'a>, RtpError>> {
        self.kind(element.id)
            .map(|kind| ExtensionValue::parse(kind, element.data))
    }
}

/// The rotation a receiver should apply, in quarter turns (3GPP TS 26.114 §7.4.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Rotation {
    /// No rotation.
    #[default]
    Deg0,
    /// 90 degrees.
    Deg90,
    /// 180 degrees.
    Deg180,
    /// 270 degrees.
    Deg270,
}

/// The video orientation extension's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct VideoOrientation {
    /// C: the back-facing camera (true) or the front-facing one.
    pub back_camera: bool,
    /// F: horizontal flip.
    pub flip: bool,
    /// R1 R0: the rotation.
    pub rotation: Rotation,
}

/// The audio level extension's value (RFC 6464 §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AudioLevel {
    /// V: whether the encoder believes the packet contains voice.
    pub voice_activity: bool,
    /// The level in -dBov, 0 (loudest) ..= 127 (silence).
    pub level: u8,
}

/// An abs-send-time value: 24 bits of 6.18 fixed-point seconds, wrapping every 64 s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AbsSendTime(pub u32);

impl AbsSendTime {
    /// The abs-send-time of an NTP time (its bits 14..38 from the low end).
    pub fn from_ntp(ntp: NtpTime) -> Self {
        AbsSendTime(((ntp.as_u64() >> 14) & 0x00FF_FFFF) as u32)
    }

    /// The time since the last 64-second wrap, in microseconds.
    pub fn as_micros(self) -> u64 {
        (u64::from(self.0) * 1_000_000) >> 18
    }
}

/// A typed header extension value, borrowing strings from the packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExtensionValue<'a> {
    /// The MID.
    Mid(&'a str),
    /// The RID.
    Rid(&'a str),
    /// The repaired RID.
    RepairedRid(&'a str),
    /// The send time.
    AbsSendTime(AbsSendTime),
    /// The transport-wide sequence number.
    TransportCc(u16),
    /// The audio level.
    AudioLevel(AudioLevel),
    /// The video orientation.
    VideoOrientation(VideoOrientation),
}

fn bad(kind: ExtensionKind, reason: &'static str) -> RtpError {
    RtpError::BadExtensionValue {
        kind: kind.uri(),
        reason,
    }
}

/// Checks an SDES identifier value: a MID is an SDP token (RFC 9143 §4, RFC 8866 §9), a RID is made
/// of alphanumerics, `-` and `_` (RFC 8851 §10).
fn sdes_id(kind: ExtensionKind, data: &[u8]) -> Result<&str, RtpError> {
    // Some senders pad with trailing zero bytes; they are not part of the identifier.
    let end = data.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    let text = std::str::from_utf8(&data[..end]).map_err(|_| bad(kind, "not UTF-8"))?;
    if text.is_empty() {
        return Err(bad(kind, "empty identifier"));
    }
    let allowed = |b: u8| {
        b.is_ascii_alphanumeric()
            || b == b'-'
            || b == b'_'
            || (kind == ExtensionKind::Mid && b"!#$%&'*+.^`{|}~".contains(&b))
    };
    if !text.bytes().all(allowed) {
        return Err(bad(kind, "identifier holds characters its grammar does not allow"));
    }
    Ok(text)
}

impl<'a> ExtensionValue<'a> {
    /// The kind of this value.
    pub fn kind(&self) -> ExtensionKind {
        match self {
            ExtensionValue::Mid(_) => ExtensionKind::Mid,
            ExtensionValue::Rid(_) => ExtensionKind::Rid,
            ExtensionValue::RepairedRid(_) => ExtensionKind::RepairedRid,
            ExtensionValue::AbsSendTime(_) => ExtensionKind::AbsSendTime,
            ExtensionValue::TransportCc(_) => ExtensionKind::TransportCc,
            ExtensionValue::AudioLevel(_) => ExtensionKind::AudioLevel,
            ExtensionValue::VideoOrientation(_) => ExtensionKind::VideoOrientation,
        }
    }

    /// Decodes the bytes of an element of `kind`.
    pub fn parse(kind: ExtensionKind, data: &'a [u8]) -> Result<Self, RtpError> {
        let exact = |n: usize| {
            if data.len() == n {
                Ok(())
            } else {
                Err(bad(kind, "wrong length"))
            }
        };
        Ok(match kind {
            ExtensionKind::Mid => ExtensionValue::Mid(sdes_id(kind, data)?),
            ExtensionKind::Rid => ExtensionValue::Rid(sdes_id(kind, data)?),
            ExtensionKind::RepairedRid => ExtensionValue::RepairedRid(sdes_id(kind, data)?),
            ExtensionKind::AbsSendTime => {
                exact(3)?;
                ExtensionValue::AbsSendTime(AbsSendTime(u32::from_be_bytes([0, data[0], data[1], data[2]])))
            }
            ExtensionKind::TransportCc => {
                exact(2)?;
                ExtensionValue::TransportCc(u16::from_be_bytes([data[0], data[1]]))
            }
            ExtensionKind::AudioLevel => {
                // RFC 6464 allows the one byte to be followed by padding in the two-byte form.
                let &first = data.first().ok_or(bad(kind, "empty"))?;
                ExtensionValue::AudioLevel(AudioLevel {
                    voice_activity: first & 0x80 != 0,
                    level: first & 0x7F,
                })
            }
            ExtensionKind::VideoOrientation => {
                let &first = data.first().ok_or(bad(kind, "empty"))?;
                let rotation = match first & 0x03 {
                    0 => Rotation::Deg0,
                    1 => Rotation::Deg90,
                    2 => Rotation::Deg180,
                    _ => Rotation::Deg270,
                };
                ExtensionValue::VideoOrientation(VideoOrientation {
                    back_camera: first & 0x08 != 0,
                    flip: first & 0x04 != 0,
                    rotation,
                })
            }
        })
    }

    /// Appends the value's bytes to `out`.
    pub fn write(&self, out: &mut Vec<u8>) -> Result<(), RtpError> {
        let kind = self.kind();
        match *self {
            ExtensionValue::Mid(text) | ExtensionValue::Rid(text) | ExtensionValue::RepairedRid(text) => {
                if text.len() > 255 {
                    return Err(RtpError::ExtensionTooLong(text.len()));
                }
                sdes_id(kind, text.as_bytes())?;
                out.extend_from_slice(text.as_bytes());
            }
            ExtensionValue::AbsSendTime(AbsSendTime(t)) => {
                if t > 0x00FF_FFFF {
                    return Err(bad(kind, "more than 24 bits"));
                }
                out.extend_from_slice(&t.to_be_bytes()[1..]);
            }
            ExtensionValue::TransportCc(seq) => out.extend_from_slice(&seq.to_be_bytes()),
            ExtensionValue::AudioLevel(AudioLevel { voice_activity, level }) => {
                if level > 127 {
                    return Err(bad(kind, "level above 127"));
                }
                out.push((u8::from(voice_activity) << 7) | level);
            }
            ExtensionValue::VideoOrientation(VideoOrientation {
                back_camera,
                flip,
                rotation,
            }) => {
                let r = match rotation {
                    Rotation::Deg0 => 0,
                    Rotation::Deg90 => 1,
                    Rotation::Deg180 => 2,
                    Rotation::Deg270 => 3,
                };
                out.push((u8::from(back_camera) << 3) | (u8::from(flip) << 2) | r);
            }
        }
        Ok(())
    }
}

/// The known extension values of one packet.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExtensionValues<'a> {
    /// The MID.
    pub mid: Option<&'a str>,
    /// The RID.
    pub rid: Option<&'a str>,
    /// The repaired RID.
    pub repaired_rid: Option<&'a str>,
    /// The send time.
    pub abs_send_time: Option<AbsSendTime>,
    /// The transport-wide sequence number.
    pub transport_cc: Option<u16>,
    /// The audio level.
    pub audio_level: Option<AudioLevel>,
    /// The video orientation.
    pub video_orientation: Option<VideoOrientation>,
}

impl<'a> ExtensionValues<'a> {
    /// Stores `value` in its field.
    pub fn set(&mut self, value: ExtensionValue<'a>) {
        match value {
            ExtensionValue::Mid(v) => self.mid = Some(v),
            ExtensionValue::Rid(v) => self.rid = Some(v),
            ExtensionValue::RepairedRid(v) => self.repaired_rid = Some(v),
            ExtensionValue::AbsSendTime(v) => self.abs_send_time = Some(v),
            ExtensionValue::TransportCc(v) => self.transport_cc = Some(v),
            ExtensionValue::AudioLevel(v) => self.audio_level = Some(v),
            ExtensionValue::VideoOrientation(v) => self.video_orientation = Some(v),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::packet::RtpBuilder;
    use super::*;

    #[test]
    fn uris_round_trip() {
        for kind in ExtensionKind::ALL {
            assert_eq!(ExtensionKind::from_uri(kind.uri()), Some(kind));
        }
        assert_eq!(ExtensionKind::from_uri("urn:ietf:params:rtp-hdrext:toffset"), None);
    }

    #[test]
    fn map_keeps_one_id_per_kind() {
        let mut map = ExtensionMap::new();
        assert_eq!(map.insert(0, ExtensionKind::Mid), Err(RtpError::BadExtensionId(0)));
        map.insert(4, ExtensionKind::Mid).unwrap();
        map.insert(9, ExtensionKind::Mid).unwrap();
        assert_eq!(map.kind(4), None);
        assert_eq!(map.id_of(ExtensionKind::Mid), Some(9));
        assert_eq!(
            map.insert_uri(200, "urn:3gpp:video-orientation"),
            Ok(Some(ExtensionKind::VideoOrientation))
        );
        assert_eq!(map.insert_uri(201, "urn:example:nothing"), Ok(None));
        assert_eq!(map.kind(201), None);
        assert_eq!(map.kind(200), Some(ExtensionKind::VideoOrientation));
    }

    #[test]
    fn typed_values_round_trip_through_a_packet() {
        let mut map = ExtensionMap::new();
        for (id, kind) in (1..).zip(ExtensionKind::ALL) {
            map.insert(id, kind).unwrap();
        }
        let values = [
            ExtensionValue::Mid("0"),
            ExtensionValue::Rid("hi-res"),
            ExtensionValue::RepairedRid("lo_res"),
            ExtensionValue::AbsSendTime(AbsSendTime(0x00AB_CDEF)),
            ExtensionValue::TransportCc(0xFFFE),
            ExtensionValue::AudioLevel(AudioLevel {
                voice_activity: true,
                level: 42,
            }),
            ExtensionValue::VideoOrientation(VideoOrientation {
                back_camera: true,
                flip: false,
                rotation: Rotation::Deg270,
            }),
        ];
        let mut builder = RtpBuilder::new(96, 1, 2, 3);
        for value in &values {
            builder.extension_value(&map, value).unwrap();
        }
        let mut out = Vec::new();
        builder.write(b"x", &mut out).unwrap();
        let packet = RtpPacket::parse(&out).unwrap();
        let read = map.read(&packet);
        let mut expected = ExtensionValues::default();
        for value in values {
            expected.set(value);
        }
        assert_eq!(read, expected);
        assert_eq!(read.mid, Some("0"));
        assert_eq!(read.video_orientation.unwrap().rotation, Rotation::Deg270);
    }

    #[test]
    fn known_byte_layouts() {
        // RFC 6464 §3: V=1, level 0x2A.
        assert_eq!(
            ExtensionValue::parse(ExtensionKind::AudioLevel, &[0xAA]),
            Ok(ExtensionValue::AudioLevel(AudioLevel {
                voice_activity: true,
                level: 42
            }))
        );
        // C=1 F=1 R=01: back camera, flipped, 90 degrees.
        assert_eq!(
            ExtensionValue::parse(ExtensionKind::VideoOrientation, &[0x0D]),
            Ok(ExtensionValue::VideoOrientation(VideoOrientation {
                back_camera: true,
                flip: true,
                rotation: Rotation::Deg90
            }))
        );
        // A MID padded with a zero byte.
        assert_eq!(
            ExtensionValue::parse(ExtensionKind::Mid, b"ab\0"),
            Ok(ExtensionValue::Mid("ab"))
        );
    }

    #[test]
    fn malformed_values_are_typed_errors_and_skipped_by_read() {
        assert!(ExtensionValue::parse(ExtensionKind::TransportCc, &[1]).is_err());
        assert!(ExtensionValue::parse(ExtensionKind::AbsSendTime, &[1, 2, 3, 4]).is_err());
        assert!(ExtensionValue::parse(ExtensionKind::Mid, &[0xFF]).is_err());
        assert!(ExtensionValue::parse(ExtensionKind::Rid, b"a b").is_err());
        assert!(ExtensionValue::parse(ExtensionKind::Rid, b"").is_err());
        assert!(ExtensionValue::parse(ExtensionKind::AudioLevel, b"").is_err());

        let mut map = ExtensionMap::new();
        map.insert(1, ExtensionKind::TransportCc).unwrap();
        map.insert(2, ExtensionKind::Mid).unwrap();
        let mut builder = RtpBuilder::new(96, 1, 2, 3);
        builder.extension(1, &[7]).extension(2, b"m1");
        let mut out = Vec::new();
        builder.write(b"", &mut out).unwrap();
        let read = map.read(&RtpPacket::parse(&out).unwrap());
        assert_eq!(read.transport_cc, None);
        assert_eq!(read.mid, Some("m1"));
    }

    #[test]
    fn writing_checks_values() {
        let mut out = Vec::new();
        assert!(ExtensionValue::AbsSendTime(AbsSendTime(1 << 24))
            .write(&mut out)
            .is_err());
        assert!(ExtensionValue::AudioLevel(AudioLevel {
            voice_activity: false,
            level: 128
        })
        .write(&mut out)
        .is_err());
        assert!(ExtensionValue::Mid("").write(&mut out).is_err());
        let map = ExtensionMap::new();
        assert!(RtpBuilder::new(96, 1, 2, 3)
            .extension_value(&map, &ExtensionValue::TransportCc(1))
            .is_err());
    }

    #[test]
    fn abs_send_time_from_ntp() {
        // 1.5 s: 6.18 fixed point is 1.5 * 2^18.
        let ntp = NtpTime::new(1, 0x8000_0000);
        let t = AbsSendTime::from_ntp(ntp);
        assert_eq!(t.0, 3 << 17);
        assert_eq!(t.as_micros(), 1_500_000);
        // The seconds wrap at 64.
        assert_eq!(AbsSendTime::from_ntp(NtpTime::new(65, 0x8000_0000)), t);
    }
}
