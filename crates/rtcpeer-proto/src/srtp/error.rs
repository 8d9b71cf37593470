//! The errors SRTP protection and unprotection report.

use super::SrtpProfile;

/// Why a context could not be made or a packet could not be protected or
/// unprotected. A failed call leaves the context's state as it was.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SrtpError {
    /// The master key does not have the length the profile needs.
    #[error("{profile} needs a {expected}-byte master key, got {found} bytes")]
    BadKeyLength {
        /// The profile the key was meant for.
        profile: SrtpProfile,
        /// The length the profile needs.
        expected: usize,
        /// The length given.
        found: usize,
    },
    /// The master salt does not have the length the profile needs.
    #[error("{profile} needs a {expected}-byte master salt, got {found} bytes")]
    BadSaltLength {
        /// The profile the salt was meant for.
        profile: SrtpProfile,
        /// The length the profile needs.
        expected: usize,
        /// The length given.
        found: usize,
    },
    /// The packet is shorter than its header (with CSRCs and extension) plus
    /// the trailer (tag, SRTCP index) requires.
    #[error("packet too short: {len} bytes, at least {needed} needed")]
    TooShort {
        /// The packet's length.
        len: usize,
        /// The minimum length its header and the profile require.
        needed: usize,
    },
    /// The packet does not carry RTP/RTCP version 2.
    #[error("not an RTP/RTCP version 2 packet (version {0})")]
    BadVersion(u8),
    /// The authentication tag did not verify: the packet was altered, or
    /// protected with another key.
    #[error("authentication failed")]
    AuthFailed,
    /// A packet with this index was already accepted from this SSRC.
    #[error("replayed packet: index {index} of SSRC {ssrc:#010x} was already received")]
    Replayed {
        /// The packet's SSRC.
        ssrc: u32,
        /// The packet's SRTP or SRTCP index.
        index: u64,
    },
    /// The packet is older than the replay window, so it cannot be told from
    /// a replay.
    #[error("packet too old: index {index} of SSRC {ssrc:#010x} is behind the replay window")]
    TooOld {
        /// The packet's SSRC.
        ssrc: u32,
        /// The packet's SRTP or SRTCP index.
        index: u64,
    },
    /// The context already tracks the maximum number of SSRCs and refuses a
    /// new one (see [`MAX_SSRCS`](super::MAX_SSRCS)).
    #[error("SSRC {ssrc:#010x} refused: already tracking the maximum of {limit} SSRCs")]
    TooManySsrcs {
        /// The refused SSRC.
        ssrc: u32,
        /// The limit.
        limit: usize,
    },
    /// The SRTP (2^48) or SRTCP (2^31) index space of this SSRC is used up;
    /// the session must be rekeyed.
    #[error("index space of SSRC {ssrc:#010x} exhausted: rekeying needed")]
    IndexExhausted {
        /// The SSRC.
        ssrc: u32,
    },
    /// The crypto library refused an operation (should not happen with valid keys).
    #[error("crypto library failure")]
    Crypto,
}
