//! What we take from the remote's description, checked.

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
    /// Reads and checks the remote description.
    ///
    /// The transport is the data section's (every section we accept is
    /// bundled onto it). Without a data section there is nothing for this
    /// slice to connect, and only the sections are recorded.
    pub fn from_sdp(sdp: &SessionDescription, kind: SdpType) -> Result<RemoteParameters, RtcError> {
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
            })
            .collect();
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
        let Some(data) = sdp.media_sections().find(|m| m.is_data_channel() && !m.is_rejected()) else {
            return Ok(params);
        };
        params.ice_ufrag = data
            .ice_ufrag()
            .ok_or_else(|| invalid("the data section has no a=ice-ufrag"))?
            .to_string();
        params.ice_pwd = data
            .ice_pwd()
            .ok_or_else(|| invalid("the data section has no a=ice-pwd"))?
            .to_string();
        if !(4..=256).contains(&params.ice_ufrag.len()) || !(22..=256).contains(&params.ice_pwd.len()) {
            return Err(invalid(
                "the ICE ufrag or password has an invalid length (RFC 8839 §5.4)",
            ));
        }
        for f in data.fingerprints() {
            match Fingerprint::parse(&f.algorithm, &f.value) {
                Ok(f) => params.fingerprints.push(f),
                Err(e) => return Err(invalid(format!("a=fingerprint: {e}"))),
            }
        }
        if params.fingerprints.is_empty() {
            return Err(invalid("the data section has no a=fingerprint"));
        }
        params.setup = match data.setup() {
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
        params.sctp_port = data.sctp_port();
        params.max_message_size = data
            .max_message_size()
            .map(|m| usize::try_from(m).unwrap_or(usize::MAX));
        collect_candidates(&data, &mut params);
        Ok(params)
    }
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
