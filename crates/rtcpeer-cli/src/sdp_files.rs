//! `rtcpeer sdp FILE…`: parses SDP files and prints a summary of each, or where it is broken.

use std::fmt::Write as _;
use std::path::Path;

use rtcpeer_proto::sdp::SessionDescription;

use crate::sdp_summary::summarize;

/// The report for one file: its summary, or `FILE: line N: what` (or `FILE: cannot read: …`).
pub fn report(path: &Path, bytes: std::io::Result<Vec<u8>>) -> Result<String, String> {
    let name = path.display();
    let bytes = bytes.map_err(|e| format!("{name}: cannot read: {e}"))?;
    let description = SessionDescription::parse_bytes(&bytes).map_err(|e| format!("{name}: {e}"))?;
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = writeln!(out, "{name}:");
    out.push_str(&summarize(&description));
    if !out.ends_with('\n') {
        out.push('\n');
    }
    Ok(out)
}

/// Reports every file, summaries on stdout and errors on stderr; returns whether every file parsed.
pub fn run(paths: &[std::path::PathBuf]) -> bool {
    let mut all_ok = true;
    for path in paths {
        match report(path, std::fs::read(path)) {
            Ok(summary) => print!("{summary}"),
            Err(error) => {
                eprintln!("{error}");
                all_ok = false;
            }
        }
    }
    all_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    const OFFER: &str = "v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n\
a=group:BUNDLE 0\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\n\
a=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\n\
a=fingerprint:sha-256 00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF\r\n\
a=setup:actpass\r\na=mid:0\r\na=sctp-port:5000\r\n";

    #[test]
    fn a_good_file_gets_its_name_and_summary() {
        let out = report(Path::new("offer.sdp"), Ok(OFFER.as_bytes().to_vec())).expect("parses");
        let parsed = SessionDescription::parse(OFFER).expect("parses");
        assert_eq!(
            out,
            format!("offer.sdp:\n{}", summarize(&parsed)).trim_end().to_owned() + "\n"
        );
    }

    #[test]
    fn a_broken_file_names_the_file_and_the_line() {
        let broken = OFFER.replace("t=0 0", "t=zero");
        let error = report(Path::new("broken.sdp"), Ok(broken.into_bytes())).expect_err("refused");
        assert!(error.starts_with("broken.sdp: line 4: "), "{error}");
    }

    #[test]
    fn an_unreadable_file_says_so() {
        let missing = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        let error = report(Path::new("gone.sdp"), Err(missing)).expect_err("unreadable");
        assert_eq!(error, "gone.sdp: cannot read: no such file");
    }
}
