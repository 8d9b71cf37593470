//! SRTP and SRTCP (RFC 3711) with the profiles DTLS-SRTP negotiates
//! (RFC 5764 §4.1.2): AES-128 counter mode with HMAC-SHA1, and AES-GCM
//! (RFC 7714).
//!
//! An [`SrtpContext`] protects or unprotects the packets of one direction of
//! one transport: it derives the session keys from a master key and salt once
//! (key derivation rate 0), then tracks per SSRC the roll-over counter and a
//! replay window. An [`SrtpSession`] pairs the context for what we send with
//! the one for what we receive, built from the keys the DTLS handshake
//! exported ([`SrtpKeyingMaterial`]).
//!
//! ```
//! use rtcpeer_proto::srtp::{SrtpContext, SrtpProfile};
//!
//! let profile = SrtpProfile::AeadAes128Gcm;
//! let (key, salt) = ([7u8; 16], [9u8; 12]);
//! let mut tx = SrtpContext::new(profile, &key, &salt)?;
//! let mut rx = SrtpContext::new(profile, &key, &salt)?;
//!
//! let rtp = [0x80, 96, 0, 1, 0, 0, 0, 0, 0x11, 0x22, 0x33, 0x44, 0xca, 0xfe];
//! let (mut srtp, mut back) = (Vec::new(), Vec::new());
//! tx.protect_rtp(&rtp, &mut srtp)?;
//! assert_eq!(srtp.len(), rtp.len() + profile.rtp_tag_len());
//! rx.unprotect_rtp(&srtp, &mut back)?;
//! assert_eq!(back, rtp);
//! assert!(rx.unprotect_rtp(&srtp, &mut back).is_err(), "a replay is refused");
//! # Ok::<(), rtcpeer_proto::srtp::SrtpError>(())
//! ```

mod context;
mod error;
mod header;
mod index;
mod kdf;
mod profile;
mod replay;
mod transform;

#[cfg(test)]
mod test_util;
#[cfg(test)]
mod tests;

pub use context::{SrtpContext, MAX_OVERHEAD, MAX_SSRCS};
pub use error::SrtpError;
pub use profile::SrtpProfile;
pub use replay::REPLAY_WINDOW;

use crate::dtls::SrtpKeyingMaterial;

/// Both directions of SRTP for one transport.
#[derive(Debug)]
pub struct SrtpSession {
    /// Protects what we send, keyed with our write key.
    pub tx: SrtpContext,
    /// Unprotects what the peer sends, keyed with its write key.
    pub rx: SrtpContext,
}

impl SrtpSession {
    /// Builds both contexts from the keys the DTLS handshake exported, which
    /// are already split by our role ([`SrtpKeyingMaterial::split`]): the
    /// local key protects, the remote one unprotects.
    pub fn new(keys: &SrtpKeyingMaterial) -> Result<SrtpSession, SrtpError> {
        Ok(SrtpSession {
            tx: SrtpContext::new(keys.profile, &keys.local.key, &keys.local.salt)?,
            rx: SrtpContext::new(keys.profile, &keys.remote.key, &keys.remote.salt)?,
        })
    }
}
