//! What we take from the remote's description, checked.

use super::remote_media::RemoteMedia;
use crate::dtls::{DtlsRole, Fingerprint};
use crate::ice::Candidate;
use crate::peer::{RtcError, SdpType};
use crate::sdp::{MediaSection, SessionDescription, Setup};

/// The most remote candidates taken from one description.
const MAX_REMOTE_CANDIDATES: usize = 100;

/// One media section of the remote description, as much as we need to answer it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteSection {
    /// The media kind (`audio`, `video`, `application`, …).
    pub kind: String,
    /// The transport protocol (`UDP/DTLS/SCTP`, `UDP/TLS/RTP/SAVPF`, …).
    pub protocol: String,
    /// The formats of the m-line.
    pub formats: Vec<String>,
    /// Its mid.
    pub mid: Option<String>,
    /// Whether this is a data-channel section.
    pub is_data: bool,
    /// Whether it is rejected (port 0 and not bundle-only).
    pub rejected: bool,
    /// What an audio or video RTP section says; `None` for any other section.
    pub media: Option<RemoteMedia>,
}

/// The transport parameters of the remote description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteParameters {
    /// The remote ICE username fragment.
    pub ice_ufrag: String,
    /// The remote ICE password.
    pub ice_pwd: String,
    /// Whether the remote is an ICE-lite agent.
    pub ice_lite: bool,
    /// The fingerprints the remote's DTLS certificate must match.
    pub fingerprints: Vec<Fingerprint>,
    /// The remote's DTLS role, or `None` for `actpass` (it lets us choose).
    pub setup: Option<DtlsRole>,
    /// The remote SCTP port.
    pub sctp_port: Option<u16>,
    /// The remote's `a=max-message-size` (0 means no limit, per RFC 8841).
    pub max_message_size: Option<usize>,
    /// The candidates in the description.
    pub candidates: Vec<Candidate>,
    /// Whether the description says `a=end-of-candidates`.
    pub end_of_candidates: bool,
    /// Every media section, in order.
    pub sections: Vec<RemoteSection>,
}

fn invalid(what: impl Into<String>) -> RtcError {
    RtcError::InvalidAccess(what.into())
}

impl RemoteParameters {
    /// Reads and checks the remote description, taking the transport from
    /// the first usable section of the BUNDLE group: see [`from_sdp_accepting`](Self::from_sdp_accepting).
    pub fn from_sdp(sdp: &SessionDescription, kind: SdpType) -> Result<RemoteParameters, RtcError> {
        RemoteParameters::from_sdp_accepting(sdp, kind, |_| true)
    }

    /// Reads and checks the remote description.
    ///
    /// The ICE and DTLS parameters and the candidates are those of the
    /// section that carries the bundled transport (RFC 8843 §7): the first
    /// mid of the first BUNDLE group whose section is not rejected, is data
    /// or RTP media, and that `accept` takes (the caller passes the sections
    /// it accepts, so that an answerer uses the offerer's section it tags);
    /// without a BUNDLE group, the first such section in order. The SCTP
    /// parameters are the first accepted data section's. Without any such
    /// section only the sections are recorded.
    pub fn from_sdp_accepting(
        sdp: &SessionDescription,
        kind: SdpType,
        accept: impl Fn(&RemoteSection) -> bool,
    ) -> Result<RemoteParameters, RtcError> {
        let sections: Vec<RemoteSection> = sdp
            .media
            .iter()
            .map(|m| RemoteSection {
                kind: m.media.as_str().to_string(),
                protocol: m.protocol.clone(),
                formats: m.formats.clone(),
                mid: m.mid().map(str::to_string),
                is_data: m.is_data_channel(),
                rejected: m.is_rejected(),
                media: RemoteMedia::from_section(m),
            })
            .collect();
        check_bundled_extensions(sdp, &sections)?;
        let mut params = RemoteParameters {
            ice_ufrag: String::new(),
            ice_pwd: String::new(),
            ice_lite: sdp.is_ice_lite(),
            fingerprints: Vec::new(),
            setup: None,
            sctp_port: None,
            max_message_size: None,
            candidates: Vec::new(),
            end_of_candidates: false,
            sections,
        };
        let usable = |i: usize| {
            params
                .sections
                .get(i)
                .is_some_and(|s| !s.rejected && (s.is_data || s.media.is_some()) && accept(s))
        };
        let bundle_order: Vec<usize> = sdp
            .bundle_groups()
            .next()
            .map(|g| {
                g.ids
                    .iter()
                    .filter_map(|id| {
                        params
                            .sections
                            .iter()
                            .position(|s| s.mid.as_deref() == Some(id.as_str()))
                    })
                    .collect()
            })
            .unwrap_or_else(|| (0..params.sections.len()).collect());
        let transport_index = bundle_order.into_iter().find(|i| usable(*i));
        let data_index =
            (0..params.sections.len()).find(|i| usable(*i) && params.sections.get(*i).is_some_and(|s| s.is_data));
        let Some(transport) = transport_index.and_then(|i| sdp.media_sections().nth(i)) else {
            return Ok(params);
        };
        let mid = transport.mid().unwrap_or("?").to_string();
        params.ice_ufrag = transport
            .ice_ufrag()
            .ok_or_else(|| invalid(format!("section {mid} has no a=ice-ufrag")))?
            .to_string();
        params.ice_pwd = transport
            .ice_pwd()
            .ok_or_else(|| invalid(format!("section {mid} has no a=ice-pwd")))?
            .to_string();
        if !(4..=256).contains(&params.ice_ufrag.len()) || !(22..=256).contains(&params.ice_pwd.len()) {
            return Err(invalid(
                "the ICE ufrag or password has an invalid length (RFC 8839 §5.4)",
            ));
        }
        // ice-char = ALPHA / DIGIT / "+" / "/" (RFC 8839 §5.4).
        let ice_chars = |s: &str| s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/');
        if !ice_chars(&params.ice_ufrag) || !ice_chars(&params.ice_pwd) {
            return Err(invalid(
                "the ICE ufrag or password has a character outside ALPHA / DIGIT / + / (RFC 8839 §5.4)",
            ));
        }
        for f in transport.fingerprints() {
            match Fingerprint::parse(&f.algorithm, &f.value) {
                Ok(f) => params.fingerprints.push(f),
                Err(e) => return Err(invalid(format!("a=fingerprint: {e}"))),
            }
        }
        if params.fingerprints.is_empty() {
            return Err(invalid(format!("section {mid} has no a=fingerprint")));
        }
        params.setup = match transport.setup() {
            Some(Setup::Active) => Some(DtlsRole::Client),
            Some(Setup::Passive) => Some(DtlsRole::Server),
            Some(Setup::ActPass) if kind == SdpType::Offer => None,
            // RFC 8842 §5.3: an offer without a=setup is actpass.
            None if kind == SdpType::Offer => None,
            // RFC 8842 §5.4: an answer without a=setup means active.
            None => Some(DtlsRole::Client),
            Some(other) => {
                return Err(invalid(format!(
                    "a=setup:{other:?} is not valid in an {}",
                    kind.as_str()
                )))
            }
        };
        if let Some(sctp) = data_index.and_then(|i| sdp.media.get(i)) {
            params.sctp_port = sctp.sctp_port();
            params.max_message_size = sctp
                .max_message_size()
                .map(|m| usize::try_from(m).unwrap_or(usize::MAX));
        }
        collect_candidates(&transport, &mut params);
        Ok(params)
    }
}

/// RFC 8843 §9.2: the sections of one BUNDLE group share one RTP session, so
/// an extension id must name the same URI in all of them.
fn check_bundled_extensions(sdp: &SessionDescription, sections: &[RemoteSection]) -> Result<(), RtcError> {
    for group in sdp.bundle_groups() {
        let mut seen: Vec<(u16, &str, &str)> = Vec::new();
        for section in sections
            .iter()
            .filter(|s| !s.rejected && s.mid.as_ref().is_some_and(|m| group.ids.contains(m)))
        {
            let (Some(media), Some(mid)) = (&section.media, &section.mid) else {
                continue;
            };
            for e in &media.extensions {
                match seen.iter().find(|(id, _, _)| *id == e.id) {
                    Some((_, uri, other)) if *uri != e.uri => {
                        return Err(invalid(format!(
                            "extension id {} is {} in section {other} but {} in section {mid} of one BUNDLE group",
                            e.id, uri, e.uri
                        )))
                    }
                    Some(_) => {}
                    None => seen.push((e.id, &e.uri, mid)),
                }
            }
        }
    }
    Ok(())
}

fn collect_candidates(section: &MediaSection<'_>, params: &mut RemoteParameters) {
    params.candidates = section
        .candidates()
        .filter(|c| c.component == 1)
        .take(MAX_REMOTE_CANDIDATES)
        .cloned()
        .collect();
    params.end_of_candidates = section.end_of_candidates();
}
