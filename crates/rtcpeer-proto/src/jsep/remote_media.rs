//! What a remote audio/video section says: codecs, header extensions, the
//! sender's SSRCs and msid, rids and simulcast.

use super::codecs::{parse_fmtp, Codec, CodecParameters, MediaType};
use super::media::HeaderExtension;
use crate::sdp::{Attribute, Direction, MediaDescription, Rid, RidDirection, Simulcast, SsrcGroup};

/// The most SSRCs kept from one section (Plan B sections list a few per track).
pub const MAX_REMOTE_SSRCS: usize = 64;
/// The most rids kept from one section.
pub const MAX_REMOTE_RIDS: usize = 16;

/// A MediaStream id and track id pair (`a=msid` or `a=ssrc:<n> msid:`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteMsid {
    /// The stream id, `None` for `-` (a track in no stream).
    pub stream_id: Option<String>,
    /// The track id, if given.
    pub track_id: Option<String>,
}

impl RemoteMsid {
    fn new(stream: &str, track: Option<&str>) -> RemoteMsid {
        RemoteMsid {
            stream_id: (stream != "-").then(|| stream.to_string()),
            track_id: track.map(str::to_string),
        }
    }

    fn parse_ssrc_value(value: &str) -> Option<RemoteMsid> {
        let mut words = value.split_ascii_whitespace();
        let stream = words.next()?;
        Some(RemoteMsid::new(stream, words.next()))
    }
}

/// One remote SSRC and its source attributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteSsrc {
    /// The SSRC.
    pub ssrc: u32,
    /// `a=ssrc:<n> cname:`.
    pub cname: Option<String>,
    /// `a=ssrc:<n> msid:`.
    pub msid: Option<RemoteMsid>,
}

/// An audio or video section of the remote description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteMedia {
    /// Audio or video.
    pub kind: MediaType,
    /// The direction, from the remote's view (`sendonly`: the remote sends).
    pub direction: Direction,
    /// The formats we know, in the m-line's order, with `a=rtcp-fb` (`*` applied
    /// to every format) and RTX joined to its primary by `apt=`. Formats we do not
    /// know (red, ulpfec, CN, telephone-event, …) are left out.
    pub codecs: Vec<CodecParameters>,
    /// The header extensions.
    pub extensions: Vec<HeaderExtension>,
    /// The SSRCs with their cname and msid, in order of appearance.
    pub ssrcs: Vec<RemoteSsrc>,
    /// The `a=ssrc-group` lines (`FID`, `SIM`, `FEC-FR`, …).
    pub ssrc_groups: Vec<SsrcGroup>,
    /// The sender's stream and track: `a=msid`, else the first `a=ssrc:… msid:`.
    pub msid: Vec<RemoteMsid>,
    /// The `a=rid` lines (their direction is the remote's view: `send` means it sends).
    pub rids: Vec<Rid>,
    /// `a=simulcast`, from the remote's view.
    pub simulcast: Option<Simulcast>,
    /// `a=rtcp-mux`.
    pub rtcp_mux: bool,
    /// `a=rtcp-rsize`.
    pub rtcp_rsize: bool,
    /// `a=bundle-only`.
    pub bundle_only: bool,
}

impl RemoteMedia {
    /// Reads an audio or video RTP section; `None` for any other section.
    pub fn from_section(section: &MediaDescription) -> Option<RemoteMedia> {
        let kind = MediaType::from_kind(&section.media)?;
        if !section.is_rtp() {
            return None;
        }
        let attributes = &section.attributes;
        let mut media = RemoteMedia {
            kind,
            direction: section.direction(),
            codecs: Vec::new(),
            extensions: Vec::new(),
            ssrcs: Vec::new(),
            ssrc_groups: Vec::new(),
            msid: Vec::new(),
            rids: Vec::new(),
            simulcast: None,
            rtcp_mux: false,
            rtcp_rsize: false,
            bundle_only: section.is_bundle_only(),
        };
        let mut formats: Vec<u8> = Vec::new();
        for pt in section.formats.iter().filter_map(|f| f.parse::<u8>().ok()) {
            if !formats.contains(&pt) {
                formats.push(pt);
            }
        }
        let mut rtx: Vec<(u8, Option<u8>)> = Vec::new();
        for pt in &formats {
            let Some(map) = attributes.iter().find_map(|a| match a {
                Attribute::Rtpmap(m) if m.payload_type == *pt => Some(m),
                _ => None,
            }) else {
                continue;
            };
            let Some(codec) = Codec::from_encoding_name(&map.encoding) else {
                continue;
            };
            let fmtp = attributes
                .iter()
                .find_map(|a| match a {
                    Attribute::Fmtp(f) if f.payload_type == *pt => Some(parse_fmtp(&f.params)),
                    _ => None,
                })
                .unwrap_or_default();
            if codec == Codec::Rtx {
                let apt = fmtp
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case("apt"))
                    .and_then(|(_, v)| v.parse().ok());
                rtx.push((*pt, apt));
                continue;
            }
            let rtcp_fb = attributes
                .iter()
                .filter_map(|a| match a {
                    Attribute::RtcpFb(fb) if fb.payload_type.is_none() || fb.payload_type == Some(*pt) => {
                        Some(match &fb.params {
                            Some(p) => format!("{} {p}", fb.kind),
                            None => fb.kind.clone(),
                        })
                    }
                    _ => None,
                })
                .fold(Vec::new(), |mut list: Vec<String>, fb| {
                    if !list.contains(&fb) {
                        list.push(fb);
                    }
                    list
                });
            media.codecs.push(CodecParameters {
                payload_type: *pt,
                codec,
                clock_rate: map.clock_rate,
                channels: map.channels.and_then(|c| u8::try_from(c).ok()),
                fmtp,
                rtcp_fb,
                rtx_payload_type: None,
            });
        }
        for (pt, apt) in rtx {
            if let Some(primary) = media
                .codecs
                .iter_mut()
                .find(|c| Some(c.payload_type) == apt && c.rtx_payload_type.is_none())
            {
                primary.rtx_payload_type = Some(pt);
            }
        }
        for a in attributes {
            match a {
                Attribute::Extmap(e) => media.extensions.push(HeaderExtension {
                    id: e.id,
                    uri: e.uri.clone(),
                }),
                Attribute::Ssrc(s) => {
                    let entry = match media.ssrcs.iter().position(|r| r.ssrc == s.ssrc) {
                        Some(i) => media.ssrcs.get_mut(i),
                        None if media.ssrcs.len() < MAX_REMOTE_SSRCS => {
                            media.ssrcs.push(RemoteSsrc {
                                ssrc: s.ssrc,
                                cname: None,
                                msid: None,
                            });
                            media.ssrcs.last_mut()
                        }
                        None => None,
                    };
                    if let (Some(entry), Some(value)) = (entry, &s.value) {
                        match s.name.as_str() {
                            "cname" => entry.cname = Some(value.clone()),
                            "msid" => entry.msid = RemoteMsid::parse_ssrc_value(value),
                            _ => {}
                        }
                    }
                }
                Attribute::SsrcGroup(g) if media.ssrc_groups.len() < MAX_REMOTE_SSRCS => {
                    media.ssrc_groups.push(g.clone());
                }
                Attribute::Msid(m) => media.msid.push(RemoteMsid::new(&m.stream_id, m.track_id.as_deref())),
                Attribute::Rid(r) if media.rids.len() < MAX_REMOTE_RIDS => media.rids.push(r.clone()),
                Attribute::Simulcast(s) => media.simulcast = Some(s.clone()),
                Attribute::RtcpMux => media.rtcp_mux = true,
                Attribute::RtcpRsize => media.rtcp_rsize = true,
                _ => {}
            }
        }
        if media.msid.is_empty() {
            if let Some(m) = media.ssrcs.iter().find_map(|s| s.msid.clone()) {
                media.msid.push(m);
            }
        }
        Some(media)
    }

    /// The rids the remote sends as simulcast: those its `a=simulcast` send list names
    /// (first alternative of each stream) that have an `a=rid:<id> send` line.
    pub fn send_rids(&self) -> Vec<String> {
        self.simulcast_rids(RidDirection::Send)
    }

    /// The rids the remote asks to receive as simulcast (`a=simulcast:recv`, first alternative
    /// of each stream, with an `a=rid:<id> recv` line), in its order.
    pub fn recv_rids(&self) -> Vec<String> {
        self.simulcast_rids(RidDirection::Recv)
    }

    /// The rids of the `a=simulcast` list for `direction` (first alternative of each stream)
    /// that have an `a=rid` line of that direction, in the list's order.
    fn simulcast_rids(&self, direction: RidDirection) -> Vec<String> {
        let Some(simulcast) = &self.simulcast else {
            return Vec::new();
        };
        let list = match direction {
            RidDirection::Send => &simulcast.send,
            RidDirection::Recv => &simulcast.recv,
        };
        list.iter()
            .filter_map(|alternatives| alternatives.first())
            .map(|id| &id.rid)
            .filter(|rid| self.rids.iter().any(|r| &r.id == *rid && r.direction == direction))
            .take(MAX_REMOTE_RIDS)
            .cloned()
            .collect()
    }

    /// The primary SSRCs the remote sends: every SSRC that is not the second
    /// member of an FID or FEC-FR group (their repair streams).
    pub fn media_ssrcs(&self) -> Vec<u32> {
        let repair: Vec<u32> = self
            .ssrc_groups
            .iter()
            .filter(|g| g.semantics == "FID" || g.semantics == "FEC-FR")
            .filter_map(|g| g.ssrcs.get(1).copied())
            .collect();
        self.ssrcs
            .iter()
            .map(|s| s.ssrc)
            .filter(|s| !repair.contains(s))
            .collect()
    }

    /// The RTX SSRC paired with a media SSRC by `a=ssrc-group:FID`.
    pub fn rtx_ssrc_for(&self, ssrc: u32) -> Option<u32> {
        self.ssrc_groups
            .iter()
            .filter(|g| g.semantics == "FID")
            .find(|g| g.ssrcs.first() == Some(&ssrc))
            .and_then(|g| g.ssrcs.get(1).copied())
    }
}
