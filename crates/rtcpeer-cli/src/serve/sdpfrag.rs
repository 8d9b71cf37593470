//! The `application/trickle-ice-sdpfrag` body of a WHIP `PATCH` (RFC 8840 section 9, RFC 9725 section 4.3).
//!
//! A fragment carries the ICE credentials, the media sections it talks about
//! (`m=` and `a=mid`), the candidates of each (`a=candidate:`) and possibly
//! `a=end-of-candidates`. Every other line is allowed and ignored.

use rtcpeer::IceCandidateInit;

/// At most this many candidates in one fragment; more is refused.
pub const MAX_CANDIDATES: usize = 256;

/// At most this many media sections in one fragment; more is refused.
pub const MAX_SECTIONS: usize = 64;

/// Why a fragment was refused. Line numbers count from 1.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SdpFragError {
    /// A line that is not `x=value` with a single-letter type.
    #[error("line {line}: expected `<letter>=<value>`, found {text:?}")]
    MalformedLine {
        /// The line's number.
        line: usize,
        /// The line, cut to 80 characters.
        text: String,
    },
    /// An attribute whose value is required but empty.
    #[error("line {line}: a={attribute} has no value")]
    EmptyValue {
        /// The line's number.
        line: usize,
        /// The attribute's name.
        attribute: &'static str,
    },
    /// More candidates than [`MAX_CANDIDATES`].
    #[error("more than {MAX_CANDIDATES} candidates")]
    TooManyCandidates,
    /// More media sections than [`MAX_SECTIONS`].
    #[error("more than {MAX_SECTIONS} media sections")]
    TooManySections,
}

/// One media section of a fragment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FragSection {
    /// `a=mid`, if given.
    pub mid: Option<String>,
    /// `a=ice-ufrag` of this section, if given.
    pub ice_ufrag: Option<String>,
    /// `a=ice-pwd` of this section, if given.
    pub ice_pwd: Option<String>,
    /// The `candidate:…` values (without the `a=`), in order.
    pub candidates: Vec<String>,
    /// `a=end-of-candidates` was in this section.
    pub end_of_candidates: bool,
}

/// A parsed trickle-ICE fragment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SdpFrag {
    /// Session-level `a=ice-ufrag`.
    pub ice_ufrag: Option<String>,
    /// Session-level `a=ice-pwd`.
    pub ice_pwd: Option<String>,
    /// Session-level `a=end-of-candidates`.
    pub end_of_candidates: bool,
    /// Candidates before any `m=` line (allowed by some clients; they go to the first section).
    pub session_candidates: Vec<String>,
    /// The media sections, in order.
    pub sections: Vec<FragSection>,
}

fn cut(text: &str) -> String {
    text.chars().take(80).collect()
}

impl SdpFrag {
    /// Parses a fragment; lines may end in CRLF or LF.
    pub fn parse(text: &str) -> Result<SdpFrag, SdpFragError> {
        let mut frag = SdpFrag::default();
        let mut candidates = 0usize;
        for (index, raw) in text.lines().enumerate() {
            let line = index + 1;
            let raw = raw.trim_end_matches('\r');
            if raw.trim().is_empty() {
                continue;
            }
            let malformed = || SdpFragError::MalformedLine { line, text: cut(raw) };
            let (kind, value) = raw.split_once('=').ok_or_else(malformed)?;
            if kind.len() != 1 || !kind.bytes().all(|b| b.is_ascii_lowercase()) {
                return Err(malformed());
            }
            if kind == "m" {
                if frag.sections.len() >= MAX_SECTIONS {
                    return Err(SdpFragError::TooManySections);
                }
                frag.sections.push(FragSection::default());
                continue;
            }
            if kind != "a" {
                continue;
            }
            let (name, attr_value) = match value.split_once(':') {
                Some((name, rest)) => (name, Some(rest.trim())),
                None => (value, None),
            };
            let nonempty = |attribute: &'static str| match attr_value {
                Some(v) if !v.is_empty() => Ok(v.to_string()),
                _ => Err(SdpFragError::EmptyValue { line, attribute }),
            };
            let section = frag.sections.last_mut();
            match name {
                "ice-ufrag" => {
                    let v = nonempty("ice-ufrag")?;
                    match section {
                        Some(s) => s.ice_ufrag = Some(v),
                        None => frag.ice_ufrag = Some(v),
                    }
                }
                "ice-pwd" => {
                    let v = nonempty("ice-pwd")?;
                    match section {
                        Some(s) => s.ice_pwd = Some(v),
                        None => frag.ice_pwd = Some(v),
                    }
                }
                "mid" => {
                    let v = nonempty("mid")?;
                    // A mid before any m= line names nothing; it is ignored like other session lines.
                    if let Some(s) = section {
                        s.mid = Some(v);
                    }
                }
                "candidate" => {
                    let v = nonempty("candidate")?;
                    candidates += 1;
                    if candidates > MAX_CANDIDATES {
                        return Err(SdpFragError::TooManyCandidates);
                    }
                    let candidate = format!("candidate:{v}");
                    match section {
                        Some(s) => s.candidates.push(candidate),
                        None => frag.session_candidates.push(candidate),
                    }
                }
                "end-of-candidates" => match section {
                    Some(s) => s.end_of_candidates = true,
                    None => frag.end_of_candidates = true,
                },
                _ => {}
            }
        }
        Ok(frag)
    }

    /// Whether the fragment says the remote has no more candidates.
    pub fn has_end_of_candidates(&self) -> bool {
        self.end_of_candidates || self.sections.iter().any(|s| s.end_of_candidates)
    }

    /// The candidates as `addIceCandidate()` arguments, each tagged with its section's mid
    /// (or index, when the section has no `a=mid`) and its ICE username fragment.
    pub fn candidate_inits(&self) -> Vec<IceCandidateInit> {
        let mut inits = Vec::new();
        let first_mid = self.sections.first().and_then(|s| s.mid.clone());
        for candidate in &self.session_candidates {
            inits.push(IceCandidateInit {
                candidate: candidate.clone(),
                sdp_mid: first_mid.clone(),
                sdp_m_line_index: Some(0),
                username_fragment: self.ice_ufrag.clone(),
            });
        }
        for (index, section) in self.sections.iter().enumerate() {
            let ufrag = section.ice_ufrag.clone().or_else(|| self.ice_ufrag.clone());
            for candidate in &section.candidates {
                inits.push(IceCandidateInit {
                    candidate: candidate.clone(),
                    sdp_mid: section.mid.clone(),
                    sdp_m_line_index: if section.mid.is_some() {
                        None
                    } else {
                        u16::try_from(index).ok()
                    },
                    username_fragment: ufrag.clone(),
                });
            }
        }
        inits
    }

    /// The ICE username fragment the fragment names (the session's, else the first section's).
    pub fn ufrag(&self) -> Option<&str> {
        self.ice_ufrag
            .as_deref()
            .or_else(|| self.sections.iter().find_map(|s| s.ice_ufrag.as_deref()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RFC_EXAMPLE: &str = "a=ice-options:trickle ice2\r\n\
a=group:BUNDLE 0\r\n\
m=audio 9 RTP/AVP 0\r\n\
a=mid:0\r\n\
a=ice-ufrag:EsAw\r\n\
a=ice-pwd:P2uYro0UCOQ4zxjKXaWCBui1\r\n\
a=candidate:1387637174 1 udp 2122260223 192.0.2.1 61764 typ host generation 0 ufrag EsAw network-id 1\r\n\
a=candidate:3471623853 1 udp 2122194687 198.51.100.2 61765 typ host generation 0 ufrag EsAw network-id 2\r\n\
a=end-of-candidates\r\n";

    #[test]
    fn parses_a_whip_fragment() {
        let frag = SdpFrag::parse(RFC_EXAMPLE).expect("valid fragment");
        assert_eq!(frag.sections.len(), 1);
        assert_eq!(frag.ufrag(), Some("EsAw"));
        assert_eq!(frag.sections[0].ice_pwd.as_deref(), Some("P2uYro0UCOQ4zxjKXaWCBui1"));
        assert!(frag.has_end_of_candidates());
        let inits = frag.candidate_inits();
        assert_eq!(inits.len(), 2);
        assert_eq!(
            inits[0].candidate,
            "candidate:1387637174 1 udp 2122260223 192.0.2.1 61764 typ host generation 0 ufrag EsAw network-id 1"
        );
        assert_eq!(inits[0].sdp_mid.as_deref(), Some("0"));
        assert_eq!(inits[0].sdp_m_line_index, None);
        assert_eq!(inits[1].username_fragment.as_deref(), Some("EsAw"));
    }

    #[test]
    fn session_level_credentials_apply_to_sections_and_lf_endings_work() {
        let frag = SdpFrag::parse("a=ice-ufrag:abcd\na=ice-pwd:secretsecretsecretsecret\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\na=candidate:1 1 udp 1 127.0.0.1 5000 typ host\n").expect("valid");
        let inits = frag.candidate_inits();
        assert_eq!(inits.len(), 1);
        assert_eq!(inits[0].username_fragment.as_deref(), Some("abcd"));
        // No a=mid: the section is named by its index.
        assert_eq!(inits[0].sdp_mid, None);
        assert_eq!(inits[0].sdp_m_line_index, Some(0));
        assert!(!frag.has_end_of_candidates());
    }

    #[test]
    fn candidates_before_any_section_go_to_the_first() {
        let frag =
            SdpFrag::parse("a=candidate:1 1 udp 1 127.0.0.1 5000 typ host\r\nm=application 9 x y\r\na=mid:data\r\n")
                .expect("valid");
        let inits = frag.candidate_inits();
        assert_eq!(inits.len(), 1);
        assert_eq!(inits[0].sdp_mid.as_deref(), Some("data"));
        assert_eq!(inits[0].sdp_m_line_index, Some(0));
    }

    #[test]
    fn end_of_candidates_alone_is_valid() {
        let frag = SdpFrag::parse("a=end-of-candidates\r\n").expect("valid");
        assert!(frag.has_end_of_candidates());
        assert!(frag.candidate_inits().is_empty());
    }

    #[test]
    fn a_line_without_equals_names_its_line() {
        let error = SdpFrag::parse("a=mid:0\r\nthis is not sdp\r\n").expect_err("malformed");
        assert_eq!(
            error,
            SdpFragError::MalformedLine {
                line: 2,
                text: "this is not sdp".into()
            }
        );
        assert!(error.to_string().starts_with("line 2:"));
    }

    #[test]
    fn an_empty_candidate_is_refused() {
        let error = SdpFrag::parse("m=audio 9 x 0\r\na=candidate:\r\n").expect_err("empty");
        assert_eq!(
            error,
            SdpFragError::EmptyValue {
                line: 2,
                attribute: "candidate"
            }
        );
    }

    #[test]
    fn too_many_candidates_or_sections_are_refused() {
        let many: String = (0..=MAX_CANDIDATES)
            .map(|i| format!("a=candidate:{i} 1 udp 1 127.0.0.1 5000 typ host\r\n"))
            .collect();
        assert_eq!(SdpFrag::parse(&many), Err(SdpFragError::TooManyCandidates));
        let sections: String = (0..=MAX_SECTIONS).map(|_| "m=audio 9 x 0\r\n").collect();
        assert_eq!(SdpFrag::parse(&sections), Err(SdpFragError::TooManySections));
    }

    #[test]
    fn bytes_that_are_not_sdp_never_panic() {
        for text in [
            "=",
            "a=",
            "ab=c",
            "A=b",
            "a=:",
            "m=",
            "\u{0}=\u{0}",
            "a=candidate",
            "a=mid:",
        ] {
            let _ = SdpFrag::parse(text);
        }
        assert!(SdpFrag::parse("a=").is_ok());
    }
}
