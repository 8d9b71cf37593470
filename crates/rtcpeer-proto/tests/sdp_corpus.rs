//! The shared SDP corpus: every real description round-trips, every malformed
//! one fails with the expected error (or parses under a documented tolerance).

#[path = "common/corpus.rs"]
mod corpus;

use corpus::corpus_dir;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use rtcpeer_proto::ice::{CandidateAddress, CandidateKind, TransportProtocol};
use rtcpeer_proto::sdp::{
    Attribute, Direction, MediaKind, SdpError, SdpErrorKind, SessionDescription, Setup, MAX_DESCRIPTION_BYTES,
    MAX_LINES_PER_SECTION,
};

fn sdp_files(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "sdp"))
        .collect();
    files.sort();
    files
}

fn read(name: &str) -> Vec<u8> {
    let path = corpus_dir().join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

fn parse_file(name: &str) -> SessionDescription {
    SessionDescription::parse_bytes(&read(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn every_real_description_round_trips() {
    let files = sdp_files(&corpus_dir());
    assert!(files.len() >= 50, "only {} corpus files found", files.len());
    let mut failures = Vec::new();
    for path in &files {
        let name = path.file_name().unwrap().to_string_lossy();
        let bytes = std::fs::read(path).expect("readable corpus file");
        let first = match SessionDescription::parse_bytes(&bytes) {
            Ok(d) => d,
            Err(e) => {
                failures.push(format!("{name}: {e}"));
                continue;
            }
        };
        let text = first.to_string();
        match SessionDescription::parse(&text) {
            Ok(second) if second == first => {}
            Ok(_) => failures.push(format!("{name}: re-parsed model differs")),
            Err(e) => failures.push(format!("{name}: serialized form does not parse: {e}")),
        }
        // Serialization uses CRLF only.
        assert!(!text.replace("\r\n", "").contains('\n'), "{name}: bare LF in output");
    }
    assert!(
        failures.is_empty(),
        "{} files failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn chrome_156_data_channel_offer_values() {
    let d = parse_file("gen-chrome-156-offer-datachannel-only.sdp");
    assert_eq!(d.origin.session_id, 6680830932953159549);
    assert_eq!(d.media.len(), 1);
    let groups: Vec<_> = d.bundle_groups().collect();
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0].ids, ["0"]);
    assert!(!d.is_ice_lite());
    let m = d.media_sections().next().unwrap();
    assert_eq!(m.mid(), Some("0"));
    assert!(m.is_data_channel());
    assert!(!m.is_rejected());
    assert_eq!(m.sctp_port(), Some(5000));
    assert_eq!(m.max_message_size(), Some(262144));
    assert_eq!(m.setup(), Some(Setup::ActPass));
    assert_eq!(m.ice_ufrag(), Some("WTEK"));
    assert_eq!(m.ice_pwd(), Some("PD766rnCySvoQjum/zrQWNO1"));
    assert_eq!(m.ice_options(), ["trickle"]);
    let fps = m.fingerprints();
    assert_eq!(fps.len(), 1);
    assert_eq!(fps[0].algorithm, "sha-256");
    assert!(fps[0].value.starts_with("8D:DD:0A:EE"));
    assert_eq!(m.candidates().count(), 0);
    assert!(!m.end_of_candidates());
}

#[test]
fn chrome_156_full_offer_values() {
    let d = parse_file("gen-chrome-156-offer-datachannel-audio-video.sdp");
    let kinds: Vec<_> = d.media.iter().map(|m| m.media.clone()).collect();
    assert_eq!(kinds, [MediaKind::Audio, MediaKind::Video, MediaKind::Application]);
    let mids: Vec<_> = d.media.iter().map(|m| m.mid().unwrap()).collect();
    assert_eq!(mids, ["0", "1", "2"]);
    assert_eq!(d.bundle_groups().next().unwrap().ids, mids);
    let audio = &d.media[0];
    let opus = audio
        .attributes
        .iter()
        .find_map(|a| match a {
            Attribute::Rtpmap(r) if r.payload_type == 111 => Some(r),
            _ => None,
        })
        .expect("opus rtpmap");
    assert_eq!(
        (opus.encoding.as_str(), opus.clock_rate, opus.channels),
        ("opus", 48000, Some(2))
    );
    let candidates: Vec<_> = audio.candidates().collect();
    assert_eq!(candidates.len(), 2);
    assert!(matches!(&candidates[0].address, CandidateAddress::Hostname(h) if h.ends_with(".local")));
    assert_eq!(candidates[0].port, 48031);
    assert_eq!(d.media[2].sctp_port(), Some(5000));
    assert!(d.media[2].is_data_channel());
    assert!(!d.media[0].is_data_channel());
}

#[test]
fn legacy_sctpmap_and_dtls_sctp_forms() {
    let d = parse_file("firefox-58-datachannel-sctpmap-offer.sdp");
    let m = &d.media[0];
    assert_eq!(m.protocol, "DTLS/SCTP");
    assert!(m.is_data_channel());
    assert_eq!(m.sctp_port(), Some(5000));
    assert!(m
        .attributes
        .iter()
        .any(|a| matches!(a, Attribute::Sctpmap(s) if s.protocol == "webrtc-datachannel" && s.streams == Some(256))));

    // No sctpmap at all: the port is the m= line's format (tolerance 6).
    let lite = parse_file("malformed/ice-lite-dtls-sctp-offer-no-setup.sdp");
    assert!(lite.is_ice_lite());
    let m = lite.media_sections().next().unwrap();
    assert_eq!(m.sctp_port(), Some(5000));
    assert_eq!(m.mid(), Some("data"));
    assert_eq!(m.ice_ufrag(), Some("1/MvHwjAyVf27aLu"));
    assert_eq!(m.setup(), None);
}

#[test]
fn firefox_simulcast_and_janus_negative_ssrc() {
    let d = parse_file("firefox-152-simulcast-offer.sdp");
    let video = &d.media[0];
    let rids: Vec<_> = video
        .attributes
        .iter()
        .filter_map(|a| match a {
            Attribute::Rid(r) => Some(r.id.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(rids, ["h", "m", "l"]);
    let simulcast = video
        .attributes
        .iter()
        .find_map(|a| match a {
            Attribute::Simulcast(s) => Some(s),
            _ => None,
        })
        .expect("a=simulcast");
    let send: Vec<_> = simulcast.send.iter().map(|alts| alts[0].rid.as_str()).collect();
    assert_eq!(send, ["h", "m", "l"]);
    assert!(simulcast.recv.is_empty());
    let fid_groups = video
        .attributes
        .iter()
        .filter(|a| matches!(a, Attribute::SsrcGroup(g) if g.semantics == "FID"))
        .count();
    assert_eq!(fid_groups, 3);

    // a=ssrc:-1056430916 is read as its two's complement (tolerance 5).
    let janus = parse_file("janus-0.2-streaming-offer-rtp-savpf-negative-ssrc.sdp");
    let ssrc = janus.media[0]
        .attributes
        .iter()
        .find_map(|a| match a {
            Attribute::Ssrc(s) => Some(s.ssrc),
            _ => None,
        })
        .unwrap();
    assert_eq!(ssrc, (-1056430916i32) as u32);
}

#[test]
fn candidates_with_tcp_and_ipv6() {
    let d = parse_file("chrome-audio-offer-ipv6-tcp-candidates.sdp");
    let candidates: Vec<_> = d.media[0].candidates().collect();
    assert!(candidates
        .iter()
        .any(|c| matches!(c.address, CandidateAddress::Ip(ip) if ip.is_ipv6())));
    let tcp = candidates
        .iter()
        .find(|c| c.protocol == TransportProtocol::Tcp)
        .expect("a TCP candidate");
    assert_eq!(tcp.tcp_type.as_deref(), Some("active"));
    assert_eq!(tcp.port, 9);

    let hacky = parse_file("malformed/chrome-hacky-mixed-candidates.sdp");
    let all: Vec<_> = hacky.media.iter().flat_map(|m| m.candidates()).collect();
    assert_eq!(all.len(), 8);
    let so = all.iter().filter(|c| c.tcp_type.as_deref() == Some("so")).count();
    assert_eq!(so, 2);
    assert!(all
        .iter()
        .any(|c| c.kind == CandidateKind::ServerReflexive && c.protocol == TransportProtocol::Tcp));
}

/// What a malformed file must produce.
enum Outcome {
    /// A typed error on this line.
    Error(usize, fn(&SdpErrorKind) -> bool),
    /// Parses (under the numbered tolerance of the module docs), with a check of what a user sees.
    Parses(fn(&SessionDescription) -> bool),
}

#[test]
fn every_malformed_file_has_its_expected_outcome() {
    use Outcome::*;
    let expectations: &[(&str, Outcome)] = &[
        // Tolerance 8: BUNDLE-wide header extension consistency is the JSEP layer's check; both ids are visible.
        (
            "bad-bundle-extmap-id-collision.sdp",
            Parses(|d| {
                let uris: Vec<_> = d
                    .media
                    .iter()
                    .flat_map(|m| &m.attributes)
                    .filter_map(|a| match a {
                        Attribute::Extmap(e) if e.id == 3 => Some(e.uri.as_str()),
                        _ => None,
                    })
                    .collect();
                uris.len() == 2 && uris[0] != uris[1]
            }),
        ),
        (
            "bad-m-line-empty-proto-token.sdp",
            Error(5, |k| {
                matches!(
                    k,
                    SdpErrorKind::InvalidField {
                        field: "m= protocol",
                        ..
                    }
                )
            }),
        ),
        // Tolerance 11: the mid is kept, and is visibly over the RTP header extension limit.
        (
            "bad-mid-too-long.sdp",
            Parses(|d| {
                d.media[0]
                    .mid()
                    .is_some_and(|m| m.len() > rtcpeer_proto::sdp::MAX_MID_LEN)
            }),
        ),
        (
            "bad-payload-type-200.sdp",
            Error(
                11,
                |k| matches!(k, SdpErrorKind::InvalidField { field: "m= format", reason } if reason.contains("200")),
            ),
        ),
        // Tolerance 10: the group is kept; the media layer decides.
        (
            "bad-ssrc-group-fid-unknown-ssrc.sdp",
            Parses(|d| {
                d.media[0]
                    .attributes
                    .iter()
                    .any(|a| matches!(a, Attribute::SsrcGroup(g) if g.semantics == "FID"))
            }),
        ),
        (
            "bad-ssrc-group-sim-too-many.sdp",
            Error(19, |k| {
                matches!(k, SdpErrorKind::InvalidAttribute { name: "ssrc-group", .. })
            }),
        ),
        (
            "chrome-hacky-mixed-candidates.sdp",
            Parses(|d| d.media.len() == 3 && d.media[2].is_data_channel()),
        ),
        // The brief's rule: port 0 without a=bundle-only is rejected, even though the mid is in a BUNDLE group.
        (
            "edge-max-bundle-offer-port0-bundled.sdp",
            Parses(|d| {
                let m = d.media_sections().nth(1).unwrap();
                !d.media[0].is_rejected()
                    && m.is_rejected()
                    && m.setup() == Some(Setup::ActPass)
                    && m.ice_ufrag() == Some("testufrag")
                    && m.fingerprints().len() == 1
            }),
        ),
        // Tolerance 9.
        (
            "edge-uncommon-m-line-protos.sdp",
            Parses(|d| {
                let protos: Vec<_> = d.media.iter().map(|m| m.protocol.as_str()).collect();
                protos
                    == [
                        "UDP/BFCP",
                        "TCP/DTLS/SCTP",
                        "UDP/UDT/IX",
                        "UDP/FEC",
                        "TCP/MRCPv2",
                        "FOO",
                    ]
                    && d.media[1].is_data_channel()
                    && !d.media[0].is_data_channel()
            }),
        ),
        // Tolerance 8: a disabled section without a=setup.
        (
            "firefox-99-inactive-missing-setup.sdp",
            Parses(|d| d.media[0].is_rejected() && d.media[0].setup().is_none()),
        ),
        // Tolerance 8: no direction means sendrecv; BUNDLE names mids that do not exist.
        (
            "firefox-99-missing-direction-and-weird-bundle-mids.sdp",
            Parses(|d| {
                d.media[0].direction() == Direction::SendRecv
                    && d.bundle_groups().next().is_some_and(|g| g.ids.len() == 10)
                    && d.media_by_mid("hxI").is_none()
                    && d.media_by_mid("1").is_some()
            }),
        ),
        ("ice-lite-dtls-sctp-offer-no-setup.sdp", Parses(|d| d.is_ice_lite())),
        (
            "janus-fuzz-timeout-259k-attribute-lines.sdp",
            Error(
                0,
                |k| matches!(k, SdpErrorKind::TooLarge { limit, .. } if *limit == MAX_DESCRIPTION_BYTES),
            ),
        ),
        (
            "janus-fuzz-timeout-huge-binary-m-line.sdp",
            Error(1, |k| {
                matches!(
                    k,
                    SdpErrorKind::InvalidField {
                        field: "v= version",
                        ..
                    }
                )
            }),
        ),
        (
            "libwebrtc-destroyed-m-video-line.sdp",
            Error(28, |k| *k == SdpErrorKind::NotTypeValue),
        ),
        (
            "libwebrtc-destroyed-v-line.sdp",
            Error(1, |k| *k == SdpErrorKind::NotTypeValue),
        ),
        ("libwebrtc-empty-line.sdp", Error(9, |k| *k == SdpErrorKind::EmptyLine)),
        (
            "libwebrtc-md5-fingerprint.sdp",
            Error(
                20,
                |k| matches!(k, SdpErrorKind::InvalidAttribute { name: "fingerprint", reason } if reason.contains("md5")),
            ),
        ),
        (
            "libwebrtc-space-after-equals.sdp",
            Error(10, |k| *k == SdpErrorKind::WhitespaceAfterEquals),
        ),
        (
            "libwebrtc-uppercase-attribute-type.sdp",
            Error(10, |k| *k == SdpErrorKind::UnknownType('A')),
        ),
        (
            "sdp-transform-invalid-ip7-and-f-line.sdp",
            Error(
                7,
                |k| matches!(k, SdpErrorKind::InvalidAttribute { name: "rtcp", reason } if reason.contains("IP7")),
            ),
        ),
    ];

    let files = sdp_files(&corpus_dir().join("malformed"));
    let names: Vec<String> = files
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    let expected_names: Vec<&str> = expectations.iter().map(|(n, _)| *n).collect();
    assert_eq!(names, expected_names, "every malformed file needs an expectation");

    for (name, outcome) in expectations {
        let result = SessionDescription::parse_bytes(&read(&format!("malformed/{name}")));
        match (outcome, result) {
            (Error(line, check), Err(SdpError { line: got, kind })) => {
                assert_eq!(got, *line, "{name}: error on the wrong line: {kind}");
                assert!(check(&kind), "{name}: unexpected error kind: {kind}");
            }
            (Error(..), Ok(_)) => panic!("{name}: parsed, but must be refused"),
            (Parses(check), Ok(d)) => {
                assert!(check(&d), "{name}: parsed, but not as expected");
                assert_eq!(
                    SessionDescription::parse(&d.to_string()).as_ref(),
                    Ok(&d),
                    "{name}: round trip"
                );
            }
            (Parses(_), Err(e)) => panic!("{name}: refused, but must parse: {e}"),
        }
    }
}

#[test]
fn the_259k_line_file_fails_fast_even_below_the_size_limit() {
    let bytes = read("malformed/janus-fuzz-timeout-259k-attribute-lines.sdp");
    let start = Instant::now();
    let err = SessionDescription::parse_bytes(&bytes).unwrap_err();
    assert!(matches!(err.kind, SdpErrorKind::TooLarge { size, .. } if size == bytes.len()));
    // Its first 256 KiB: refused on line 2 (s= where o= must be), without reading on.
    let err = SessionDescription::parse_bytes(&bytes[..MAX_DESCRIPTION_BYTES]).unwrap_err();
    assert_eq!((err.line, err.kind), (2, SdpErrorKind::Expected { expected: 'o' }));
    assert!(start.elapsed() < Duration::from_secs(1));
}

#[test]
fn a_generated_megabyte_of_attributes_is_refused_quickly() {
    let mut text =
        String::from("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n");
    while text.len() < 1024 * 1024 {
        text.push_str("a=d\r\n");
    }
    let start = Instant::now();
    let err = SessionDescription::parse(&text).unwrap_err();
    assert!(matches!(err.kind, SdpErrorKind::TooLarge { .. }), "{err}");
    assert!(start.elapsed() < Duration::from_secs(1));

    // Just under the size limit, the per-section line limit stops it, naming the limit and the line.
    text.truncate(MAX_DESCRIPTION_BYTES - 100);
    let start = Instant::now();
    let err = SessionDescription::parse(&text).unwrap_err();
    assert_eq!(
        err.kind,
        SdpErrorKind::TooManyLines {
            limit: MAX_LINES_PER_SECTION
        }
    );
    assert_eq!(err.line, 5 + MAX_LINES_PER_SECTION + 1);
    assert!(err.to_string().contains(&MAX_LINES_PER_SECTION.to_string()));
    assert!(start.elapsed() < Duration::from_secs(1));
}

/// A small deterministic generator (xorshift64), so failures reproduce without a fuzzing dependency.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Applies one random edit that tends to hit SDP's structure.
fn mutate(rng: &mut XorShift, data: &mut Vec<u8>) {
    const INTERESTING: &[u8] = b" :/=;,-~*0159\r\n\t\x00\xffaAmcvto";
    let at = rng.below(data.len());
    match rng.below(7) {
        0 if !data.is_empty() => data[at] = INTERESTING[rng.below(INTERESTING.len())],
        1 if !data.is_empty() => {
            data.remove(at);
        }
        2 => data.insert(at.min(data.len()), INTERESTING[rng.below(INTERESTING.len())]),
        3 => data.truncate(at),
        4 if !data.is_empty() => data[at] ^= 1 << rng.below(8),
        5 => {
            // Duplicate a line somewhere else.
            let text = data.clone();
            let lines: Vec<&[u8]> = text.split(|&b| b == b'\n').collect();
            let line = lines[rng.below(lines.len())];
            let to = rng.below(data.len());
            let mut copy = line.to_vec();
            copy.push(b'\n');
            data.splice(to..to, copy);
        }
        _ => {
            // Replace a number with a large or odd one.
            if let Some(pos) = data.iter().skip(at).position(|b| b.is_ascii_digit()) {
                let big: &[u8] = [&b"99999999999999999999"[..], b"-1", b"128", b"0", b"65536"][rng.below(5)];
                let i = at + pos;
                data.splice(i..i + 1, big.iter().copied());
            }
        }
    }
}

#[test]
fn mutated_corpus_never_panics_and_round_trips() {
    let files: Vec<Vec<u8>> = sdp_files(&corpus_dir())
        .iter()
        .map(|p| std::fs::read(p).expect("readable corpus file"))
        .collect();
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    let (mut parsed, mut refused) = (0, 0);
    let start = Instant::now();
    for case in 0..4000 {
        let mut data = files[rng.below(files.len())].clone();
        for _ in 0..1 + rng.below(4) {
            mutate(&mut rng, &mut data);
        }
        let outcome = std::panic::catch_unwind(|| match SessionDescription::parse_bytes(&data) {
            Ok(d) => {
                let again = SessionDescription::parse(&d.to_string());
                assert_eq!(again.as_ref(), Ok(&d), "round trip changed the model");
                true
            }
            Err(e) => {
                assert!(!e.to_string().is_empty());
                false
            }
        });
        match outcome {
            Ok(true) => parsed += 1,
            Ok(false) => refused += 1,
            Err(_) => panic!("case {case} failed on input {:?}", String::from_utf8_lossy(&data)),
        }
    }
    // Both paths must have been exercised for the test to mean anything.
    assert!(parsed > 100 && refused > 100, "parsed {parsed}, refused {refused}");
    assert!(start.elapsed() < Duration::from_secs(30));
}
