//! Sending simulcast (RFC 8853, RFC 8851): checking `sendEncodings` as
//! `addTransceiver` does (webrtc-pc §5.1), the layers a sending section states
//! (`a=rid:<rid> send`, `a=simulcast:send …`), and which of them the other side
//! accepted.

use super::codecs::MediaType;
use crate::peer::transceiver::{RtpEncodingParameters, MAX_RID_LENGTH, MAX_SEND_ENCODINGS};
use crate::peer::types::RtcError;

/// Why `sendEncodings` (or `setParameters`' encodings) are refused.
///
/// Each variant maps to the exception a browser throws ([`SendEncodingsError::w3c_name`]).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SendEncodingsError {
    /// A rid with a character other than an ASCII letter or digit (`TypeError`).
    #[error("TypeError: rid {rid:?} may only contain letters and digits")]
    InvalidRidCharacter {
        /// The rid as given.
        rid: String,
    },
    /// An empty rid, or one longer than [`MAX_RID_LENGTH`] (`TypeError`).
    #[error("TypeError: rid {rid:?} must be 1 to {MAX_RID_LENGTH} characters long")]
    InvalidRidLength {
        /// The rid as given.
        rid: String,
    },
    /// Two encodings with the same rid (`TypeError`).
    #[error("TypeError: rid {rid:?} is used by two encodings")]
    DuplicateRid {
        /// The repeated rid.
        rid: String,
    },
    /// Several encodings, some of them without a rid (`TypeError`).
    #[error("TypeError: with several encodings every one needs a rid (encoding {index} has none)")]
    MissingRid {
        /// The index of the first encoding without a rid.
        index: usize,
    },
    /// `scaleResolutionDownBy` below 1 (`RangeError`).
    #[error("RangeError: scaleResolutionDownBy {value} is below 1")]
    ScaleBelowOne {
        /// The value given.
        value: f64,
    },
    /// A negative or not-a-number `maxFramerate` (`RangeError`).
    #[error("RangeError: maxFramerate {value} is negative")]
    NegativeFramerate {
        /// The value given.
        value: f64,
    },
}

impl SendEncodingsError {
    /// The W3C exception name (`TypeError` or `RangeError`).
    pub fn w3c_name(&self) -> &'static str {
        match self {
            SendEncodingsError::ScaleBelowOne { .. } | SendEncodingsError::NegativeFramerate { .. } => "RangeError",
            _ => "TypeError",
        }
    }
}

impl From<SendEncodingsError> for RtcError {
    fn from(e: SendEncodingsError) -> RtcError {
        let text = e.to_string();
        // The Display text starts with the W3C name; the RtcError adds its own.
        let message = text.split_once(": ").map_or(text.clone(), |(_, rest)| rest.to_string());
        match e.w3c_name() {
            "RangeError" => RtcError::Range(message),
            _ => RtcError::Type(message),
        }
    }
}

/// Checks one rid: 1 to [`MAX_RID_LENGTH`] ASCII letters and digits (RFC 8851 §10's
/// `rid-syntax` without `-` and `_`, as browsers take it).
pub fn check_rid(rid: &str) -> Result<(), SendEncodingsError> {
    if rid.is_empty() || rid.len() > MAX_RID_LENGTH {
        return Err(SendEncodingsError::InvalidRidLength { rid: rid.to_string() });
    }
    if !rid.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(SendEncodingsError::InvalidRidCharacter { rid: rid.to_string() });
    }
    Ok(())
}

/// `addTransceiver`'s processing of `sendEncodings` (webrtc-pc §5.1 steps "validate
/// sendEncodings"): every rid well formed, no rid twice, with several encodings every one
/// named, `scaleResolutionDownBy` ≥ 1 and `maxFramerate` ≥ 0. Returns the encodings the
/// sender keeps: for audio only the first (without its video-only members), for video at most
/// [`MAX_SEND_ENCODINGS`]; no encodings give one default encoding.
pub fn check_send_encodings(
    kind: MediaType,
    encodings: &[RtpEncodingParameters],
) -> Result<Vec<RtpEncodingParameters>, SendEncodingsError> {
    for (index, e) in encodings.iter().enumerate() {
        match &e.rid {
            Some(rid) => {
                check_rid(rid)?;
                if encodings[..index].iter().any(|other| other.rid.as_ref() == Some(rid)) {
                    return Err(SendEncodingsError::DuplicateRid { rid: rid.clone() });
                }
            }
            None if encodings.len() > 1 => return Err(SendEncodingsError::MissingRid { index }),
            None => {}
        }
        if let Some(value) = e.scale_resolution_down_by {
            if value.is_nan() || value < 1.0 {
                return Err(SendEncodingsError::ScaleBelowOne { value });
            }
        }
        if let Some(value) = e.max_framerate {
            if value.is_nan() || value < 0.0 {
                return Err(SendEncodingsError::NegativeFramerate { value });
            }
        }
    }
    let mut kept: Vec<RtpEncodingParameters> = encodings.to_vec();
    if kept.is_empty() {
        kept.push(RtpEncodingParameters::default());
    }
    match kind {
        MediaType::Audio => {
            kept.truncate(1);
            for e in &mut kept {
                e.scale_resolution_down_by = None;
                e.max_framerate = None;
            }
        }
        MediaType::Video => {
            kept.truncate(MAX_SEND_ENCODINGS);
            if kept.len() > 1 {
                for e in &mut kept {
                    e.scale_resolution_down_by.get_or_insert(1.0);
                }
            }
        }
    }
    Ok(kept)
}

/// One simulcast layer a sending section states: its rid and the SSRCs it is sent with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendLayer {
    /// The rid (`a=rid:<rid> send`).
    pub rid: String,
    /// The SSRC of the layer's media stream.
    pub ssrc: u32,
    /// The SSRC of its RTX stream, if RTX is negotiated.
    pub rtx_ssrc: Option<u32>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named(rids: &[&str]) -> Vec<RtpEncodingParameters> {
        rids.iter().map(|r| RtpEncodingParameters::with_rid(*r)).collect()
    }

    #[test]
    fn rids_follow_the_browsers_grammar() {
        assert_eq!(check_rid("q"), Ok(()));
        assert_eq!(check_rid("Layer0"), Ok(()));
        assert_eq!(check_rid("abcdefghijklmnop"), Ok(()));
        assert!(matches!(
            check_rid("abcdefghijklmnopq"),
            Err(SendEncodingsError::InvalidRidLength { .. })
        ));
        assert!(matches!(
            check_rid(""),
            Err(SendEncodingsError::InvalidRidLength { .. })
        ));
        for bad in ["@Invalid!", "a-b", "a_b", "a b", "é", "a;b", "~a"] {
            assert!(
                matches!(check_rid(bad), Err(SendEncodingsError::InvalidRidCharacter { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn send_encodings_are_checked_like_add_transceiver() {
        let err = check_send_encodings(MediaType::Video, &named(&["a", "b", "a"])).unwrap_err();
        assert_eq!(err, SendEncodingsError::DuplicateRid { rid: "a".into() });
        assert_eq!(err.w3c_name(), "TypeError");

        let mut mixed = named(&["a"]);
        mixed.push(RtpEncodingParameters::default());
        assert_eq!(
            check_send_encodings(MediaType::Video, &mixed),
            Err(SendEncodingsError::MissingRid { index: 1 })
        );

        let mut small = named(&["a"]);
        small[0].scale_resolution_down_by = Some(0.5);
        let err = check_send_encodings(MediaType::Video, &small).unwrap_err();
        assert_eq!(err.w3c_name(), "RangeError");
        assert!(matches!(RtcError::from(err), RtcError::Range(_)));

        let mut nan = named(&["a"]);
        nan[0].max_framerate = Some(f64::NAN);
        assert!(matches!(
            check_send_encodings(MediaType::Video, &nan),
            Err(SendEncodingsError::NegativeFramerate { .. })
        ));

        let err = check_send_encodings(MediaType::Video, &named(&["a-1"])).unwrap_err();
        assert!(matches!(RtcError::from(err), RtcError::Type(_)));
    }

    #[test]
    fn kept_encodings_default_truncate_and_drop_video_members_for_audio() {
        let one = check_send_encodings(MediaType::Video, &[]).unwrap();
        assert_eq!(one, vec![RtpEncodingParameters::default()]);

        let five = check_send_encodings(MediaType::Video, &named(&["a", "b", "c", "d", "e"])).unwrap();
        let rids: Vec<_> = five.iter().filter_map(|e| e.rid.as_deref()).collect();
        assert_eq!(rids, ["a", "b", "c", "d"]);
        assert!(five.iter().all(|e| e.scale_resolution_down_by == Some(1.0)));

        let mut audio = named(&["a", "b"]);
        audio[0].max_framerate = Some(30.0);
        let kept = check_send_encodings(MediaType::Audio, &audio).unwrap();
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].max_framerate, None);
    }
}
