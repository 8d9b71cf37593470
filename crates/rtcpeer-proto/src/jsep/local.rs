//! The SDP our side sends.

use std::fmt::Write as _;

use super::media::MediaSectionParams;
use crate::ice::Candidate;

/// One media section of our description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LocalSection {
    /// The data-channel section (`m=application … UDP/DTLS/SCTP webrtc-datachannel`).
    Data {
        /// Its mid.
        mid: String,
    },
    /// An audio or video section (`m=audio|video 9 UDP/TLS/RTP/SAVPF …`).
    Media(MediaSectionParams),
    /// A section of the remote offer that we answer as rejected (port 0).
    Rejected {
        /// The media kind (`audio`, `video`, …) copied from the offer.
        kind: String,
        /// The transport protocol copied from the offer.
        protocol: String,
        /// The formats copied from the offer.
        formats: Vec<String>,
        /// Its mid, if the offer had one.
        mid: Option<String>,
    },
}

impl LocalSection {
    /// Our section answering (or re-offering) a remote one: the data section if `accept`,
    /// else the same m-line rejected.
    pub fn mirroring(remote: &super::RemoteSection, accept: bool) -> LocalSection {
        if accept {
            LocalSection::Data {
                mid: remote.mid.clone().unwrap_or_else(|| "0".into()),
            }
        } else {
            LocalSection::Rejected {
                kind: remote.kind.clone(),
                protocol: remote.protocol.clone(),
                formats: remote.formats.clone(),
                mid: remote.mid.clone(),
            }
        }
    }

    /// The section's mid.
    pub fn mid(&self) -> Option<&str> {
        match self {
            LocalSection::Data { mid } => Some(mid),
            LocalSection::Media(m) => Some(&m.mid),
            LocalSection::Rejected { mid, .. } => mid.as_deref(),
        }
    }
}

/// Everything our side states in an offer or answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalParameters {
    /// `o=` session id (random, below 2^63 as RFC 8866 asks).
    pub session_id: u64,
    /// `o=` session version, incremented on each new description.
    pub session_version: u64,
    /// Our ICE username fragment.
    pub ice_ufrag: String,
    /// Our ICE password.
    pub ice_pwd: String,
    /// Our certificate's fingerprint, as `sha-256 AB:CD:…`.
    pub fingerprint: String,
    /// Our `a=setup` value: `actpass` in offers, `active` or `passive` in answers.
    pub setup: &'static str,
    /// The media sections in order.
    pub sections: Vec<LocalSection>,
}

impl LocalParameters {
    /// Renders the description, with these candidates in every accepted section
    /// and `a=end-of-candidates` when gathering is complete.
    pub fn render(&self, candidates: &[Candidate], gathering_complete: bool) -> String {
        let mut sdp = String::with_capacity(1024);
        // `write!` into a String cannot fail.
        let _ = write!(
            sdp,
            "v=0\r\no=- {} {} IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n",
            self.session_id, self.session_version
        );
        let bundled: Vec<&str> = self
            .sections
            .iter()
            .filter(|s| !matches!(s, LocalSection::Rejected { .. }))
            .filter_map(LocalSection::mid)
            .collect();
        if !bundled.is_empty() {
            let _ = write!(sdp, "a=group:BUNDLE {}\r\n", bundled.join(" "));
        }
        sdp.push_str("a=msid-semantic: WMS\r\n");
        for section in &self.sections {
            match section {
                LocalSection::Data { mid } => {
                    sdp.push_str("m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\n");
                    self.write_transport(&mut sdp, mid, candidates, gathering_complete);
                    let _ = write!(
                        sdp,
                        "a=sctp-port:{}\r\na=max-message-size:{}\r\n",
                        super::SCTP_PORT,
                        super::LOCAL_MAX_MESSAGE_SIZE
                    );
                }
                LocalSection::Media(media) => {
                    sdp.push_str(&media.m_line());
                    sdp.push_str("c=IN IP4 0.0.0.0\r\na=rtcp:9 IN IP4 0.0.0.0\r\n");
                    self.write_transport(&mut sdp, &media.mid, candidates, gathering_complete);
                    media.write_media_lines(&mut sdp);
                }
                LocalSection::Rejected {
                    kind,
                    protocol,
                    formats,
                    mid,
                } => {
                    let _ = write!(
                        sdp,
                        "m={kind} 0 {protocol} {}\r\nc=IN IP4 0.0.0.0\r\n",
                        formats.join(" ")
                    );
                    if let Some(mid) = mid {
                        let _ = write!(sdp, "a=mid:{mid}\r\n");
                    }
                    sdp.push_str("a=inactive\r\n");
                }
            }
        }
        sdp
    }

    /// The candidates and the ICE/DTLS lines every accepted section carries (RFC 8829 §5.2.1), then `a=mid`.
    fn write_transport(&self, sdp: &mut String, mid: &str, candidates: &[Candidate], gathering_complete: bool) {
        for c in candidates {
            let _ = write!(sdp, "a={c}\r\n");
        }
        if gathering_complete {
            sdp.push_str("a=end-of-candidates\r\n");
        }
        let _ = write!(
            sdp,
            "a=ice-ufrag:{}\r\na=ice-pwd:{}\r\na=ice-options:trickle\r\na=fingerprint:{}\r\na=setup:{}\r\na=mid:{mid}\r\n",
            self.ice_ufrag, self.ice_pwd, self.fingerprint, self.setup
        );
    }
}
