//! Fuzzes JSEP media negotiation with arbitrary descriptions: every audio or
//! video section is read and answered with our default capabilities. Nothing
//! may panic; an answer that is produced must render to SDP that parses and
//! reads back as the same codecs, extensions and direction, and applying it
//! from the offerer's side must succeed.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rtcpeer_proto::jsep::{
    answer_media, apply_answer, LocalParameters, LocalSection, MediaCapabilities, MediaSectionParams,
    RemoteParameters, SenderParams, TransceiverWants,
};
use rtcpeer_proto::peer::SdpType;
use rtcpeer_proto::sdp::SessionDescription;

fuzz_target!(|data: &[u8]| {
    let Ok(sdp) = SessionDescription::parse_bytes(data) else {
        return;
    };
    let Ok(remote) = RemoteParameters::from_sdp(&sdp, SdpType::Offer) else {
        return;
    };
    let caps = MediaCapabilities::default();
    let wants = TransceiverWants {
        send: Some(SenderParams {
            stream_id: None,
            track_id: "track".into(),
            ssrc: 1,
            rtx_ssrc: Some(2),
            cname: "cname".into(),
            layers: Vec::new(),
        }),
        recv: true,
    };
    for (i, section) in remote.sections.iter().enumerate() {
        let Some(offered) = &section.media else { continue };
        let mid = format!("m{i}");
        let Ok(answer) = answer_media(&mid, offered, &section.protocol, &wants, &caps) else {
            continue;
        };
        let local = LocalParameters {
            session_id: 1,
            session_version: 1,
            ice_ufrag: "abcd".into(),
            ice_pwd: "0123456789abcdefghijkl".into(),
            fingerprint: format!("sha-256 {}", vec!["00"; 32].join(":")),
            setup: "active",
            sections: vec![LocalSection::Media(answer.clone())],
        };
        let text = local.render(&[], true);
        let parsed = SessionDescription::parse(&text).expect("our answer must parse");
        let back = RemoteParameters::from_sdp(&parsed, SdpType::Answer).expect("our answer must be valid");
        let got = back.sections[0].media.as_ref().expect("our answer is a media section");
        assert_eq!(got.codecs, answer.codecs);
        assert_eq!(got.extensions, answer.extensions);
        assert_eq!(got.direction, answer.direction);
        let as_offered = MediaSectionParams {
            codecs: offered.codecs.clone(),
            extensions: offered.extensions.clone(),
            direction: offered.direction,
            sender: None,
            receive_rids: Vec::new(),
            ..answer.clone()
        };
        apply_answer(&as_offered, got).expect("the offerer accepts our answer");
    }
});
