//! JSEP media negotiation against real descriptions: every browser offer of
//! the shared corpus with audio or video is answered, the answer re-parses
//! and gives back what was answered, and both sides agree on the result.

#[path = "common/corpus.rs"]
mod corpus;

use corpus::corpus_dir;
use rtcpeer_proto::jsep::{
    answer_media, apply_answer, extension, offer_media, Codec, LocalParameters, LocalSection, MediaCapabilities,
    MediaNegotiationError, MediaSectionParams, MediaType, NegotiatedMedia, RemoteMedia, RemoteParameters,
    RemoteSection, SenderParams, TransceiverWants,
};
use rtcpeer_proto::peer::SdpType;
use rtcpeer_proto::sdp::{Attribute, Direction, SessionDescription};

fn parse_file(name: &str) -> SessionDescription {
    let bytes = std::fs::read(corpus_dir().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    SessionDescription::parse_bytes(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn sender(mid: &str) -> SenderParams {
    SenderParams {
        stream_id: Some("stream".into()),
        track_id: format!("track-{mid}"),
        ssrc: 0x1000 + mid_number(mid),
        rtx_ssrc: Some(0x2000 + mid_number(mid)),
        cname: "rtcpeer-cname".into(),
        layers: Vec::new(),
    }
}

/// A small number distinct for each mid of a description, so that SSRCs differ across BUNDLEd sections.
fn mid_number(mid: &str) -> u32 {
    mid.bytes()
        .fold(0u32, |n, b| n.wrapping_mul(31).wrapping_add(u32::from(b)))
        & 0xfff
}

fn send_recv(mid: &str) -> TransceiverWants {
    TransceiverWants {
        send: Some(sender(mid)),
        recv: true,
    }
}

fn local(sections: Vec<LocalSection>, setup: &'static str) -> LocalParameters {
    LocalParameters {
        session_id: 42,
        session_version: 1,
        ice_ufrag: "abcd".into(),
        ice_pwd: "0123456789abcdefghijkl".into(),
        fingerprint: format!("sha-256 {}", vec!["AB"; 32].join(":")),
        setup,
        sections,
    }
}

/// The offer's sections (read section by section, so that a description
/// whose transport we would refuse is still answered) and our answer to each.
fn answer_offer(offer: &SessionDescription) -> (Vec<RemoteSection>, Vec<LocalSection>) {
    let caps = MediaCapabilities::default();
    let remote = RemoteParameters::from_sdp_accepting(offer, SdpType::Offer, |_| false).expect("sections");
    let mut data_taken = false;
    let answer = remote
        .sections
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let mid = s.mid.clone().unwrap_or_else(|| i.to_string());
            match &s.media {
                Some(m) if !s.rejected => match answer_media(&mid, m, &s.protocol, &send_recv(&mid), &caps) {
                    Ok(params) => LocalSection::Media(params),
                    Err(MediaNegotiationError::NoCommonCodec { .. }) => LocalSection::mirroring(s, false),
                    Err(e) => panic!("{e}"),
                },
                _ => {
                    let accept = s.is_data && !s.rejected && !data_taken;
                    data_taken |= accept;
                    LocalSection::mirroring(s, accept)
                }
            }
        })
        .collect();
    (remote.sections, answer)
}

/// The offer seen from the offerer's side, to apply our answer to it.
fn as_offered(mid: &str, m: &RemoteMedia, protocol: &str) -> MediaSectionParams {
    MediaSectionParams {
        mid: mid.to_string(),
        kind: m.kind,
        protocol: protocol.to_string(),
        direction: m.direction,
        codecs: m.codecs.clone(),
        extensions: m.extensions.clone(),
        rtcp_mux: m.rtcp_mux,
        rtcp_rsize: m.rtcp_rsize,
        sender: None,
        receive_rids: Vec::new(),
    }
}

fn mirrored(d: Direction) -> Direction {
    match d {
        Direction::SendOnly => Direction::RecvOnly,
        Direction::RecvOnly => Direction::SendOnly,
        other => other,
    }
}

fn media_files() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(corpus_dir())
        .expect("corpus listing")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".sdp"))
        .filter(|n| {
            parse_file(n)
                .media
                .iter()
                .any(|m| MediaType::from_kind(&m.media).is_some() && m.is_rtp())
        })
        .collect();
    names.sort();
    names
}

#[test]
fn every_corpus_description_with_media_is_answered_and_round_trips() {
    let files = media_files();
    assert!(files.len() >= 30, "only {} corpus files with media", files.len());
    let mut answered_media_sections = 0;
    for name in &files {
        let offer = parse_file(name);
        let (offered, answer) = answer_offer(&offer);
        let text = local(answer.clone(), "active").render(&[], true);
        let reparsed = SessionDescription::parse(&text).unwrap_or_else(|e| panic!("{name}: our answer: {e}\n{text}"));
        let ours = RemoteParameters::from_sdp(&reparsed, SdpType::Answer).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(ours.sections.len(), offered.len(), "{name}");

        // BUNDLE lists every accepted section, in order.
        let accepted: Vec<String> = answer
            .iter()
            .filter(|s| !matches!(s, LocalSection::Rejected { .. }))
            .filter_map(|s| s.mid().map(str::to_string))
            .collect();
        let bundle: Vec<String> = reparsed.bundle_groups().flat_map(|g| g.ids.clone()).collect();
        assert_eq!(bundle, accepted, "{name}: BUNDLE");
        if !accepted.is_empty() {
            assert_eq!(
                ours.ice_ufrag, "abcd",
                "{name}: the transport comes from the first bundled section"
            );
        }

        for ((section, off), back) in answer.iter().zip(&offered).zip(&ours.sections) {
            let LocalSection::Media(params) = section else {
                assert!(back.media.is_none() || back.rejected, "{name}: {section:?}");
                continue;
            };
            answered_media_sections += 1;
            let offered_media = off.media.as_ref().expect("answered sections are media");
            let got = back
                .media
                .as_ref()
                .unwrap_or_else(|| panic!("{name}: mid {} lost", params.mid));
            // What we answered is what a parser reads back.
            assert_eq!(got.codecs, params.codecs, "{name}: mid {}", params.mid);
            assert_eq!(got.extensions, params.extensions, "{name}: mid {}", params.mid);
            assert_eq!(got.direction, params.direction, "{name}: mid {}", params.mid);
            assert!(got.rtcp_mux);
            assert_eq!(
                back.protocol, off.protocol,
                "{name}: the answer keeps the offer's protocol"
            );
            // The answer uses the offer's payload types, in its order, and its extension ids.
            let offered_pts: Vec<u8> = offered_media.codecs.iter().map(|c| c.payload_type).collect();
            let answered_pts: Vec<u8> = params.codecs.iter().map(|c| c.payload_type).collect();
            let mut in_offer_order = offered_pts.clone();
            in_offer_order.retain(|pt| answered_pts.contains(pt));
            assert_eq!(answered_pts, in_offer_order, "{name}: offer order");
            for e in &params.extensions {
                assert!(
                    offered_media.extensions.contains(e),
                    "{name}: extension {e:?} not offered"
                );
            }
            // The offerer applying our answer ends up where we are.
            let theirs = apply_answer(&as_offered(&params.mid, offered_media, &off.protocol), got)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            let we = NegotiatedMedia::from_our_answer(params, offered_media);
            assert_eq!(theirs.payload_types, we.payload_types, "{name}: mid {}", params.mid);
            assert_eq!(theirs.extensions, we.extensions, "{name}: mid {}", params.mid);
            assert_eq!(theirs.direction, mirrored(we.direction), "{name}: mid {}", params.mid);
            // Our sending track is announced when we send.
            if matches!(params.direction, Direction::SendRecv | Direction::SendOnly) {
                assert_eq!(got.msid.len(), 1, "{name}");
                assert_eq!(
                    got.msid[0].track_id.as_deref(),
                    Some(format!("track-{}", params.mid).as_str())
                );
                assert_eq!(got.media_ssrcs(), vec![params.sender.as_ref().unwrap().ssrc]);
            } else {
                assert!(got.msid.is_empty() && got.ssrcs.is_empty(), "{name}");
            }
        }
    }
    assert!(
        answered_media_sections >= 50,
        "only {answered_media_sections} media sections answered"
    );
    eprintln!(
        "{} files, {answered_media_sections} media sections answered",
        files.len()
    );
}

fn media_of(answer: &[LocalSection], mid: &str) -> MediaSectionParams {
    answer
        .iter()
        .find_map(|s| match s {
            LocalSection::Media(m) if m.mid == mid => Some(m.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no media section {mid}"))
}

fn pts(m: &MediaSectionParams) -> Vec<u8> {
    m.payload_types()
}

#[test]
fn chrome_156_offer_gets_a_browser_like_answer() {
    let offer = parse_file("gen-chrome-156-offer-datachannel-audio-video.sdp");
    let (_, answer) = answer_offer(&offer);
    let audio = media_of(&answer, "0");
    assert_eq!(pts(&audio), vec![111, 9, 0, 8]);
    assert_eq!(audio.codecs[0].fmtp_value("useinbandfec"), Some("1"));
    assert_eq!(audio.codecs[0].rtcp_fb, vec!["transport-cc".to_string()]);
    let audio_ext: Vec<(u16, &str)> = audio.extensions.iter().map(|e| (e.id, e.uri.as_str())).collect();
    assert_eq!(
        audio_ext,
        vec![
            (1, extension::AUDIO_LEVEL),
            (2, extension::ABS_SEND_TIME),
            (3, extension::TRANSPORT_CC),
            (4, extension::MID)
        ]
    );
    let video = media_of(&answer, "1");
    // VP8, H.264 Baseline pm1 (102), Constrained Baseline pm1 (108), AV1, VP9 profile 0, each with its RTX;
    // packetization-mode 0, Main, VP9 profile 2, red and ulpfec are left out.
    assert_eq!(pts(&video), vec![96, 97, 102, 103, 108, 109, 45, 46, 98, 99]);
    let h264: Vec<&str> = video
        .codecs
        .iter()
        .filter(|c| c.codec == Codec::H264)
        .filter_map(|c| c.fmtp_value("profile-level-id"))
        .collect();
    assert_eq!(h264, vec!["42001f", "42e01f"]);
    let video_ext: Vec<u16> = video.extensions.iter().map(|e| e.id).collect();
    assert_eq!(video_ext, vec![2, 13, 3, 4, 10, 11]);
    assert_eq!(video.direction, Direction::SendRecv);
    assert!(matches!(answer.get(2), Some(LocalSection::Data { mid }) if mid == "2"));
    let text = local(answer, "active").render(&[], false);
    assert!(text.contains("a=group:BUNDLE 0 1 2\r\n"));
    assert!(text.contains("m=video 9 UDP/TLS/RTP/SAVPF 96 97 102 103 108 109 45 46 98 99\r\n"));
    assert!(text.contains("a=ssrc-group:FID 4145 8241\r\na=ssrc:4145 cname:rtcpeer-cname\r\n"));
    assert!(text.contains("a=msid:stream track-1\r\n"));
}

#[test]
fn firefox_offer_without_h264_is_answered_with_vp8_vp9_av1() {
    let offer = parse_file("gen-firefox-153esr-offer-datachannel-audio-video.sdp");
    let (_, answer) = answer_offer(&offer);
    let audio = media_of(&answer, "0");
    assert_eq!(pts(&audio), vec![109, 9, 0, 8]);
    let video = media_of(&answer, "1");
    assert_eq!(pts(&video), vec![120, 124, 121, 125, 99, 100]);
    let ids: Vec<u16> = video.extensions.iter().map(|e| e.id).collect();
    assert_eq!(ids, vec![3, 4, 7]);
}

#[test]
fn a_simulcast_offer_is_answered_with_receive_rids() {
    for (file, rids) in [
        ("chrome-simulcast-rid-sendonly-offer.sdp", vec!["hi", "lo"]),
        ("chrome-rid-simulcast-f-h-q-offer.sdp", vec!["f", "h", "q"]),
        ("firefox-152-simulcast-offer.sdp", vec!["h", "m", "l"]),
    ] {
        let offer = parse_file(file);
        let (offered, answer) = answer_offer(&offer);
        let video = answer
            .iter()
            .find_map(|s| match s {
                LocalSection::Media(m) if m.kind == MediaType::Video => Some(m.clone()),
                _ => None,
            })
            .unwrap();
        assert_eq!(video.receive_rids, rids, "{file}");
        let offered_direction = offered
            .iter()
            .find_map(|s| s.media.as_ref().filter(|m| m.kind == MediaType::Video))
            .unwrap()
            .direction;
        let expected = if offered_direction == Direction::SendOnly {
            Direction::RecvOnly
        } else {
            Direction::SendRecv
        };
        assert_eq!(video.direction, expected, "{file}: the simulcast is received");
        let text = local(answer.clone(), "active").render(&[], false);
        for rid in &rids {
            assert!(text.contains(&format!("a=rid:{rid} recv\r\n")), "{file}");
        }
        assert!(
            text.contains(&format!("a=simulcast:recv {}\r\n", rids.join(";"))),
            "{file}"
        );
        let back = SessionDescription::parse(&text).unwrap();
        assert!(back.media.iter().any(|m| m
            .attributes
            .iter()
            .any(|a| matches!(a, Attribute::Simulcast(s) if s.recv.len() == rids.len()))));
        let offered_video = offered
            .iter()
            .find_map(|s| s.media.clone().filter(|m| m.kind == MediaType::Video))
            .unwrap();
        let negotiated = NegotiatedMedia::from_our_answer(&video, &offered_video);
        assert_eq!(negotiated.remote_rids, rids, "{file}");
        assert!(negotiated.extension_id(extension::RTP_STREAM_ID).is_some(), "{file}");
    }
}

#[test]
fn remote_sections_give_ssrcs_msid_and_groups() {
    let offer = parse_file("firefox-152-simulcast-offer.sdp");
    let remote = RemoteParameters::from_sdp(&offer, SdpType::Offer).unwrap();
    let video = remote
        .sections
        .iter()
        .find_map(|s| s.media.clone().filter(|m| m.kind == MediaType::Video))
        .unwrap();
    assert_eq!(video.ssrc_groups.iter().filter(|g| g.semantics == "FID").count(), 3);
    assert_eq!(video.media_ssrcs(), vec![1730948, 3146512205, 1708365952]);
    assert_eq!(video.rtx_ssrc_for(1730948), Some(819241208));

    let chrome = parse_file("chrome-addtransceiver-audio-sendonly-offer.sdp");
    let remote = RemoteParameters::from_sdp(&chrome, SdpType::Offer).unwrap();
    let audio = remote.sections[0].media.as_ref().unwrap();
    assert_eq!(audio.direction, Direction::SendOnly);
    assert_eq!(audio.msid.len(), 1);
    assert_eq!(audio.msid[0].stream_id, None, "a=msid:- is a track in no stream");
    assert!(audio.ssrcs[0].cname.is_some());

    // A description with audio only gives the transport too.
    assert!(!remote.ice_ufrag.is_empty() && !remote.fingerprints.is_empty());
    assert_eq!(remote.sctp_port, None);
}

#[test]
fn transport_comes_from_the_first_bundled_section_we_accept() {
    let offer = parse_file("gen-chrome-156-offer-datachannel-audio-video.sdp");
    let all = RemoteParameters::from_sdp(&offer, SdpType::Offer).unwrap();
    let ports: Vec<u16> = all.candidates.iter().map(|c| c.port).collect();
    assert_eq!(
        ports,
        vec![48031, 50742],
        "the audio section (mid 0) carries the bundle"
    );
    assert_eq!(all.sctp_port, Some(5000));
    let data_only = RemoteParameters::from_sdp_accepting(&offer, SdpType::Offer, |s| s.is_data).unwrap();
    let ports: Vec<u16> = data_only.candidates.iter().map(|c| c.port).collect();
    assert_eq!(
        ports,
        vec![49552, 54778],
        "only the data section accepted: its transport"
    );
    assert_eq!(data_only.ice_ufrag, all.ice_ufrag);
}

#[test]
fn conflicting_extension_ids_in_one_bundle_are_refused() {
    let bad = parse_file("malformed/bad-bundle-extmap-id-collision.sdp");
    let err = RemoteParameters::from_sdp(&bad, SdpType::Offer).unwrap_err();
    assert!(err.to_string().contains("extension id"), "{err}");
}

#[test]
fn our_offer_parses_back_to_our_capabilities() {
    let caps = MediaCapabilities::default();
    let audio = offer_media("0", MediaType::Audio, &send_recv("0"), &caps);
    let recv_only = TransceiverWants { send: None, recv: true };
    let video = offer_media("1", MediaType::Video, &recv_only, &caps);
    let sections = vec![
        LocalSection::Media(audio.clone()),
        LocalSection::Media(video.clone()),
        LocalSection::Data { mid: "2".into() },
    ];
    let text = local(sections, "actpass").render(&[], false);
    let parsed = SessionDescription::parse(&text).unwrap();
    let remote = RemoteParameters::from_sdp(&parsed, SdpType::Offer).unwrap();
    assert_eq!(parsed.bundle_groups().next().unwrap().ids, vec!["0", "1", "2"]);
    let a = remote.sections[0].media.as_ref().unwrap();
    assert_eq!(a.codecs, caps.audio);
    assert_eq!(a.extensions, caps.audio_extensions);
    assert_eq!(a.direction, Direction::SendRecv);
    assert!(a.rtcp_mux && a.rtcp_rsize);
    assert_eq!(a.msid[0].stream_id.as_deref(), Some("stream"));
    assert_eq!(a.media_ssrcs(), vec![0x1030]);
    assert_eq!(a.rtx_ssrc_for(0x1030), Some(0x2030));
    let v = remote.sections[1].media.as_ref().unwrap();
    assert_eq!(v.codecs, caps.video);
    assert_eq!(v.extensions, caps.video_extensions);
    assert_eq!(v.direction, Direction::RecvOnly);
    assert!(
        v.ssrcs.is_empty() && v.msid.is_empty(),
        "a receive-only section announces no track"
    );
    assert_eq!(remote.sctp_port, Some(5000));
    assert_eq!(remote.ice_ufrag, "abcd");
    // And answering our own offer with our own capabilities keeps every codec.
    let answer = answer_media("1", v, "UDP/TLS/RTP/SAVPF", &send_recv("1"), &caps).unwrap();
    assert_eq!(answer.codecs, caps.video);
    assert_eq!(answer.direction, Direction::SendOnly);
}

#[test]
fn a_section_keeps_at_most_max_remote_ssrcs_and_rids() {
    use rtcpeer_proto::jsep::{MAX_REMOTE_RIDS, MAX_REMOTE_SSRCS};
    let name = "chrome-addtransceiver-audio-sendonly-offer.sdp";
    let mut text = std::fs::read_to_string(corpus_dir().join(name)).unwrap();
    // Its one section is the last: lines appended belong to it.
    for i in 0..MAX_REMOTE_SSRCS as u32 + 6 {
        text.push_str(&format!("a=ssrc:{} cname:flood\r\n", 1000 + i));
        text.push_str(&format!("a=ssrc-group:FID {} {}\r\n", 1000 + i, 5000 + i));
    }
    for i in 0..MAX_REMOTE_RIDS + 4 {
        text.push_str(&format!("a=rid:r{i} send\r\n"));
    }
    let sdp = SessionDescription::parse(&text).unwrap();
    let remote = RemoteParameters::from_sdp(&sdp, SdpType::Offer).unwrap();
    let audio = remote.sections[0].media.as_ref().unwrap();
    assert_eq!(audio.ssrcs.len(), MAX_REMOTE_SSRCS);
    // The SSRC the offer had comes first and is kept; the flood fills the rest.
    assert_eq!(audio.ssrcs[0].ssrc, 2147603131);
    assert!(audio.ssrcs[1..].iter().all(|s| s.cname.as_deref() == Some("flood")));
    assert_eq!(audio.ssrc_groups.len(), MAX_REMOTE_SSRCS);
    assert_eq!(audio.rids.len(), MAX_REMOTE_RIDS);
    assert_eq!(audio.rids[0].id, "r0");
}

/// A re-offer after answering a Firefox offer keeps Firefox's header extension ids, and no id
/// names two extensions anywhere in the BUNDLE (Firefox refuses a remapped id).
#[test]
fn a_re_offer_keeps_the_extension_ids_the_session_negotiated() {
    use rtcpeer_proto::peer::{PeerConfig, PeerConnection, SessionDescriptionInit, TransceiverInit};
    use std::time::Instant;
    let sdp = std::fs::read_to_string(corpus_dir().join("firefox-61-video-offer.sdp")).expect("corpus file");
    let offer = SessionDescriptionInit::offer(sdp);
    let mut pc = PeerConnection::new(PeerConfig::default(), Instant::now()).expect("pc");
    pc.set_remote_description(Instant::now(), offer).expect("srd");
    let answer = pc.create_answer().expect("answer");
    pc.set_local_description(Instant::now(), Some(answer)).expect("sld");
    pc.add_transceiver(MediaType::Audio, TransceiverInit::default())
        .expect("audio");
    pc.add_transceiver(MediaType::Video, TransceiverInit::default())
        .expect("video");
    let reoffer = pc.create_offer().expect("offer");
    let mut ids: std::collections::BTreeMap<u16, String> = std::collections::BTreeMap::new();
    for line in reoffer.sdp.lines() {
        let Some(rest) = line.strip_prefix("a=extmap:") else {
            continue;
        };
        let (id, uri) = rest.split_once(' ').expect("extmap line");
        let id: u16 = id.parse().expect("id");
        let uri = uri.split(' ').next().expect("uri").to_string();
        if let Some(known) = ids.insert(id, uri.clone()) {
            assert_eq!(known, uri, "id {id} names two extensions:\n{}", reoffer.sdp);
        }
    }
    // Firefox's ids: mid 3, abs-send-time 4.
    assert_eq!(
        ids.get(&3).map(String::as_str),
        Some("urn:ietf:params:rtp-hdrext:sdes:mid")
    );
    assert_eq!(
        ids.get(&4).map(String::as_str),
        Some("http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time")
    );
    assert!(ids.values().any(|u| u.contains("transport-wide-cc")), "{ids:?}");
}
