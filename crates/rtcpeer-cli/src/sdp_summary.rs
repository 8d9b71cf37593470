//! A short human-readable summary of a session description, for `rtcpeer sdp FILE…`.

use std::fmt::Write as _;

use rtcpeer_proto::sdp::{Attribute, SessionDescription};

/// Summarizes a description: the origin and session, then one block per
/// media section (index, mid, kind, port, protocol, direction, codecs,
/// candidate count, fingerprints, setup, SCTP details), then the BUNDLE groups.
pub fn summarize(desc: &SessionDescription) -> String {
    let mut out = String::new();
    let o = &desc.origin;
    // Writing to a String cannot fail.
    let _ = writeln!(
        out,
        "session {} v{} from {} ({}), name {:?}{}",
        o.session_id,
        o.session_version,
        o.username,
        o.connection.address,
        desc.session_name,
        if desc.is_ice_lite() { ", ice-lite" } else { "" }
    );
    for (index, m) in desc.media_sections().enumerate() {
        let _ = writeln!(
            out,
            "  [{index}] mid {} {} port {} {} {}{}",
            m.mid().unwrap_or("-"),
            m.description.media,
            m.port,
            m.protocol,
            m.direction().as_str(),
            if m.is_rejected() { " (rejected)" } else { "" }
        );
        let codecs: Vec<String> = m
            .attributes
            .iter()
            .filter_map(|a| match a {
                Attribute::Rtpmap(r) => Some(match r.channels {
                    Some(c) => format!("{}/{}/{c}", r.encoding, r.clock_rate),
                    None => format!("{}/{}", r.encoding, r.clock_rate),
                }),
                _ => None,
            })
            .collect();
        if !codecs.is_empty() {
            let _ = writeln!(out, "      codecs: {}", codecs.join(" "));
        }
        let _ = write!(out, "      candidates: {}", m.candidates().count());
        if m.end_of_candidates() {
            out.push_str(" (end-of-candidates)");
        }
        out.push('\n');
        for fp in m.fingerprints() {
            let _ = writeln!(out, "      fingerprint: {} {}", fp.algorithm, fp.value);
        }
        if let Some(setup) = m.setup() {
            let _ = writeln!(out, "      setup: {}", setup.as_str());
        }
        if m.is_data_channel() {
            let port = m.sctp_port().map_or_else(|| "-".to_string(), |p| p.to_string());
            let size = m.max_message_size().map_or_else(|| "-".to_string(), |s| s.to_string());
            let _ = writeln!(out, "      sctp-port: {port}, max-message-size: {size}");
        }
    }
    for group in desc.bundle_groups() {
        let _ = writeln!(out, "bundle: {}", group.ids.join(" "));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const OFFER: &str = "v=0\r\n\
o=- 42 2 IN IP4 127.0.0.1\r\n\
s=-\r\n\
t=0 0\r\n\
a=group:BUNDLE a d\r\n\
m=audio 9 UDP/TLS/RTP/SAVPF 111 0\r\n\
c=IN IP4 0.0.0.0\r\n\
a=mid:a\r\n\
a=sendonly\r\n\
a=ice-ufrag:abcd\r\n\
a=fingerprint:sha-256 00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF\r\n\
a=setup:actpass\r\n\
a=rtpmap:111 opus/48000/2\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host\r\n\
m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n\
a=mid:d\r\n\
a=setup:active\r\n\
a=sctp-port:5000\r\n\
a=max-message-size:262144\r\n";

    #[test]
    fn summary_lists_each_section() {
        let desc = SessionDescription::parse(OFFER).unwrap();
        let summary = summarize(&desc);
        let lines: Vec<&str> = summary.lines().collect();
        assert_eq!(lines[0], "session 42 v2 from - (127.0.0.1), name \"-\"");
        assert_eq!(lines[1], "  [0] mid a audio port 9 UDP/TLS/RTP/SAVPF sendonly");
        assert_eq!(lines[2], "      codecs: opus/48000/2 PCMU/8000");
        assert_eq!(lines[3], "      candidates: 1");
        assert!(lines[4].starts_with("      fingerprint: sha-256 00:11:22"));
        assert_eq!(lines[5], "      setup: actpass");
        assert_eq!(lines[6], "  [1] mid d application port 9 UDP/DTLS/SCTP sendrecv");
        assert_eq!(lines[7], "      candidates: 0");
        assert_eq!(lines[8], "      setup: active");
        assert_eq!(lines[9], "      sctp-port: 5000, max-message-size: 262144");
        assert_eq!(lines[10], "bundle: a d");
        assert_eq!(lines.len(), 11);
    }
}
