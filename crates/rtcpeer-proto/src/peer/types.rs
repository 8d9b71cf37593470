//! The W3C-shaped values of the peer connection: descriptions and candidates
//! in the browsers' JSON, the four state enums, and the errors with their
//! DOMException names.

use serde::{Deserialize, Serialize};
use std::fmt;

/// `RTCSdpType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SdpType {
    /// An offer.
    Offer,
    /// A provisional answer.
    Pranswer,
    /// A final answer.
    Answer,
    /// Cancels the pending offer.
    Rollback,
}

impl SdpType {
    /// The JSON and W3C name (`offer`, `pranswer`, `answer`, `rollback`).
    pub fn as_str(self) -> &'static str {
        match self {
            SdpType::Offer => "offer",
            SdpType::Pranswer => "pranswer",
            SdpType::Answer => "answer",
            SdpType::Rollback => "rollback",
        }
    }
}

/// `RTCSessionDescriptionInit`: serializes to `{"type":"offer","sdp":"v=0…"}` exactly like a browser's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionDescriptionInit {
    /// The description's type.
    #[serde(rename = "type")]
    pub kind: SdpType,
    /// The SDP text (may be empty for a rollback).
    #[serde(default)]
    pub sdp: String,
}

impl SessionDescriptionInit {
    /// An offer with this SDP.
    pub fn offer(sdp: impl Into<String>) -> Self {
        SessionDescriptionInit {
            kind: SdpType::Offer,
            sdp: sdp.into(),
        }
    }
    /// An answer with this SDP.
    pub fn answer(sdp: impl Into<String>) -> Self {
        SessionDescriptionInit {
            kind: SdpType::Answer,
            sdp: sdp.into(),
        }
    }
    /// Parses the browsers' JSON form.
    pub fn from_json(json: &str) -> Result<Self, RtcError> {
        serde_json::from_str(json).map_err(|e| RtcError::Type(format!("not a session description: {e}")))
    }
    /// The browsers' JSON form.
    pub fn to_json(&self) -> String {
        // Serializing a struct of strings cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// `RTCIceCandidateInit`: `{"candidate":"candidate:…","sdpMid":"0","sdpMLineIndex":0,"usernameFragment":"…"}`.
///
/// An empty `candidate` string means end-of-candidates, as in the browsers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct IceCandidateInit {
    /// The `candidate:…` attribute value, or empty for end-of-candidates.
    #[serde(default)]
    pub candidate: String,
    /// The media section's mid.
    #[serde(default)]
    pub sdp_mid: Option<String>,
    /// The media section's index.
    #[serde(default, rename = "sdpMLineIndex")]
    pub sdp_m_line_index: Option<u16>,
    /// The ICE username fragment the candidate belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username_fragment: Option<String>,
}

impl IceCandidateInit {
    /// Parses the browsers' JSON form.
    pub fn from_json(json: &str) -> Result<Self, RtcError> {
        serde_json::from_str(json).map_err(|e| RtcError::Type(format!("not an ICE candidate: {e}")))
    }
    /// The browsers' JSON form.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

macro_rules! w3c_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident => $text:literal),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
        pub enum $name {
            $($(#[$vdoc])* #[serde(rename = $text)] $variant,)*
        }
        impl $name {
            /// The W3C name of this value.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text,)* }
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

w3c_enum!(
    /// `RTCSignalingState`.
    SignalingState {
        /// No offer/answer exchange in progress.
        #[default]
        Stable => "stable",
        /// A local offer has been applied.
        HaveLocalOffer => "have-local-offer",
        /// A remote offer has been applied.
        HaveRemoteOffer => "have-remote-offer",
        /// A local provisional answer has been applied.
        HaveLocalPranswer => "have-local-pranswer",
        /// A remote provisional answer has been applied.
        HaveRemotePranswer => "have-remote-pranswer",
        /// The connection is closed.
        Closed => "closed",
    }
);

w3c_enum!(
    /// `RTCIceGatheringState`.
    IceGatheringState {
        /// Nothing gathered yet.
        #[default]
        New => "new",
        /// Gathering candidates.
        Gathering => "gathering",
        /// Every candidate has been gathered.
        Complete => "complete",
    }
);

w3c_enum!(
    /// `RTCIceConnectionState`.
    IceConnectionState {
        /// Not started.
        #[default]
        New => "new",
        /// Checking candidate pairs.
        Checking => "checking",
        /// A usable pair has been found.
        Connected => "connected",
        /// Checking is finished and a pair is selected.
        Completed => "completed",
        /// Connectivity was lost for a while.
        Disconnected => "disconnected",
        /// No pair works.
        Failed => "failed",
        /// The connection is closed.
        Closed => "closed",
    }
);

w3c_enum!(
    /// `RTCPeerConnectionState`: ICE and DTLS combined.
    PeerConnectionState {
        /// Not started.
        #[default]
        New => "new",
        /// ICE or DTLS in progress.
        Connecting => "connecting",
        /// ICE and DTLS both connected.
        Connected => "connected",
        /// ICE lost connectivity.
        Disconnected => "disconnected",
        /// ICE or DTLS failed.
        Failed => "failed",
        /// The connection is closed.
        Closed => "closed",
    }
);

w3c_enum!(
    /// `RTCBundlePolicy`.
    BundlePolicy {
        /// Bundle by media type.
        #[default]
        Balanced => "balanced",
        /// One transport for everything.
        MaxBundle => "max-bundle",
        /// A transport per media section.
        MaxCompat => "max-compat",
    }
);

w3c_enum!(
    /// `RTCIceTransportPolicy`.
    IceTransportPolicy {
        /// Every kind of candidate.
        #[default]
        All => "all",
        /// Relay candidates only.
        Relay => "relay",
    }
);

/// An error of the peer-connection API, named as the W3C specification names
/// the DOMException or JavaScript error a browser would throw.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RtcError {
    /// The call is not allowed in the object's current state.
    #[error("InvalidStateError: {0}")]
    InvalidState(String),
    /// A parameter is not acceptable (for example a description that does not match the offer).
    #[error("InvalidAccessError: {0}")]
    InvalidAccess(String),
    /// A modification that is not allowed.
    #[error("InvalidModificationError: {0}")]
    InvalidModification(String),
    /// The operation failed for an operation-specific reason (for example an unparsable SDP).
    #[error("OperationError: {0}")]
    Operation(String),
    /// Text that does not follow its grammar (for example an ICE server URL).
    #[error("SyntaxError: {0}")]
    Syntax(String),
    /// A value of the wrong type or out of its range.
    #[error("TypeError: {0}")]
    Type(String),
    /// A feature we do not support.
    #[error("NotSupportedError: {0}")]
    NotSupported(String),
    /// An `RTCError` (an `OperationError`) whose `errorDetail` is `sdp-syntax-error`: a
    /// description whose SDP does not parse.
    #[error("OperationError (sdp-syntax-error): {0}")]
    SdpSyntax(String),
}

impl RtcError {
    /// The W3C name of the error (`InvalidStateError`, `TypeError`, …).
    pub fn name(&self) -> &'static str {
        match self {
            RtcError::InvalidState(_) => "InvalidStateError",
            RtcError::InvalidAccess(_) => "InvalidAccessError",
            RtcError::InvalidModification(_) => "InvalidModificationError",
            RtcError::Operation(_) => "OperationError",
            RtcError::Syntax(_) => "SyntaxError",
            RtcError::Type(_) => "TypeError",
            RtcError::NotSupported(_) => "NotSupportedError",
            RtcError::SdpSyntax(_) => "OperationError",
        }
    }

    /// The `RTCError.errorDetail` of an `RTCError` (`sdp-syntax-error`), `None` for the others.
    pub fn error_detail(&self) -> Option<&'static str> {
        match self {
            RtcError::SdpSyntax(_) => Some("sdp-syntax-error"),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptions_use_the_browsers_json() {
        let d = SessionDescriptionInit::offer("v=0\r\n");
        assert_eq!(d.to_json(), r#"{"type":"offer","sdp":"v=0\r\n"}"#);
        let back = SessionDescriptionInit::from_json(r#"{"type":"answer","sdp":"x"}"#).unwrap();
        assert_eq!(back.kind, SdpType::Answer);
        assert!(SessionDescriptionInit::from_json(r#"{"type":"bogus","sdp":""}"#).is_err());
        let rollback = SessionDescriptionInit::from_json(r#"{"type":"rollback"}"#).unwrap();
        assert_eq!(rollback.sdp, "");
    }

    #[test]
    fn candidates_use_the_browsers_json() {
        let json = r#"{"candidate":"candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host","sdpMid":"0","sdpMLineIndex":0,"usernameFragment":"abcd"}"#;
        let c = IceCandidateInit::from_json(json).unwrap();
        assert_eq!(c.sdp_mid.as_deref(), Some("0"));
        assert_eq!(c.sdp_m_line_index, Some(0));
        assert_eq!(c.to_json(), json);
        let end = IceCandidateInit::from_json(r#"{"candidate":"","sdpMid":null,"sdpMLineIndex":null}"#).unwrap();
        assert!(end.candidate.is_empty());
    }

    #[test]
    fn states_have_w3c_names() {
        assert_eq!(SignalingState::HaveLocalOffer.to_string(), "have-local-offer");
        assert_eq!(
            serde_json::to_string(&PeerConnectionState::Connected).unwrap(),
            r#""connected""#
        );
        assert_eq!(RtcError::InvalidState("closed".into()).name(), "InvalidStateError");
    }
}
