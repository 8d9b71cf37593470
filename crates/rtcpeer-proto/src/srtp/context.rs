//! [`SrtpContext`]: SRTP and SRTCP protection for one direction of one
//! transport, all SSRCs.

use std::collections::HashMap;
use std::fmt;

use tracing::debug;

use super::header::{rtcp_ssrc, rtp_header};
use super::index::{estimate_index, IndexError};
use super::kdf::KeyDerivation;
use super::replay::{ReplayCheck, ReplayWindow};
use super::transform::{Kind, Transform, SRTCP_E_BIT, SRTCP_INDEX_LEN};
use super::{SrtpError, SrtpProfile};

/// The most SSRCs a context keeps state for, separately for SRTP and SRTCP.
/// A packet from one more SSRC is refused with [`SrtpError::TooManySsrcs`]
/// until [`SrtpContext::forget_ssrc`] frees a slot.
pub const MAX_SSRCS: usize = 1024;

/// The largest SRTCP index (31 bits).
const MAX_SRTCP_INDEX: u64 = 0x7fff_ffff;

/// The most bytes protection adds to an RTP or RTCP packet (GCM SRTCP: a
/// 16-byte tag and the 4-byte index word).
pub const MAX_OVERHEAD: usize = 20;

/// SRTP/SRTCP state for one direction of one transport: the session keys
/// derived from one master key and salt (RFC 3711 §4.3, key derivation rate
/// 0), and per SSRC the roll-over counter and replay window of SRTP and the
/// index and replay window of SRTCP.
///
/// Use one context to protect what we send and another, keyed with the
/// peer's master key, to unprotect what we receive ([`SrtpSession`](super::SrtpSession)
/// holds both). Mixing protect and unprotect calls on one context mixes
/// their per-SSRC state.
///
/// Limits: at most [`MAX_SSRCS`] SSRCs each for SRTP and SRTCP; a replay
/// window of [`REPLAY_WINDOW`](super::REPLAY_WINDOW) packets; no MKI; no
/// header extension encryption. A new SSRC's state is only stored once one of
/// its packets has authenticated, so forged packets cannot fill the table.
///
/// Protecting and unprotecting do not allocate once the output buffer has
/// grown to the packet size plus [`MAX_OVERHEAD`].
pub struct SrtpContext {
    profile: SrtpProfile,
    rtp: Transform,
    rtcp: Transform,
    /// Per SSRC, the highest SRTP index (ROC and sequence number) and the
    /// replay window behind it.
    rtp_streams: HashMap<u32, ReplayWindow>,
    /// Per SSRC, the highest SRTCP index and the replay window behind it.
    rtcp_streams: HashMap<u32, ReplayWindow>,
}

impl fmt::Debug for SrtpContext {
    /// Never prints key material.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SrtpContext")
            .field("profile", &self.profile)
            .field("rtp_ssrcs", &self.rtp_streams.len())
            .field("rtcp_ssrcs", &self.rtcp_streams.len())
            .finish_non_exhaustive()
    }
}

impl SrtpContext {
    /// Derives the SRTP and SRTCP session keys from a master key and salt of
    /// the lengths `profile` requires.
    pub fn new(profile: SrtpProfile, master_key: &[u8], master_salt: &[u8]) -> Result<SrtpContext, SrtpError> {
        if master_key.len() != profile.key_len() {
            return Err(SrtpError::BadKeyLength {
                profile,
                expected: profile.key_len(),
                found: master_key.len(),
            });
        }
        if master_salt.len() != profile.salt_len() {
            return Err(SrtpError::BadSaltLength {
                profile,
                expected: profile.salt_len(),
                found: master_salt.len(),
            });
        }
        let kdf = KeyDerivation::new(master_key, master_salt)?;
        Ok(SrtpContext::with_transforms(
            profile,
            Transform::new(profile, &kdf, Kind::Rtp)?,
            Transform::new(profile, &kdf, Kind::Rtcp)?,
        ))
    }

    pub(crate) fn with_transforms(profile: SrtpProfile, rtp: Transform, rtcp: Transform) -> SrtpContext {
        SrtpContext {
            profile,
            rtp,
            rtcp,
            rtp_streams: HashMap::new(),
            rtcp_streams: HashMap::new(),
        }
    }

    /// Makes the next SRTCP packet of `ssrc` use index `next` (`next >= 1`),
    /// as the RFC vectors need.
    #[cfg(test)]
    pub(crate) fn set_next_srtcp_index(&mut self, ssrc: u32, next: u64) {
        self.rtcp_streams.insert(ssrc, ReplayWindow::starting_at(next - 1));
    }

    /// The profile the context was made for.
    pub fn profile(&self) -> SrtpProfile {
        self.profile
    }

    /// The roll-over counter of `ssrc`'s SRTP stream: how many times its
    /// sequence number has wrapped. `None` for an SSRC not seen yet.
    pub fn roc(&self, ssrc: u32) -> Option<u32> {
        self.rtp_streams.get(&ssrc).map(|w| (w.highest() >> 16) as u32)
    }

    /// How many SSRCs the context keeps SRTP and SRTCP state for.
    pub fn ssrc_counts(&self) -> (usize, usize) {
        (self.rtp_streams.len(), self.rtcp_streams.len())
    }

    /// Drops the SRTP and SRTCP state of `ssrc` (e.g. when its stream
    /// ended), making room for another. A packet of `ssrc` seen afterwards
    /// starts a new stream with ROC 0 and an empty replay window.
    pub fn forget_ssrc(&mut self, ssrc: u32) {
        self.rtp_streams.remove(&ssrc);
        self.rtcp_streams.remove(&ssrc);
    }

    /// Protects the RTP packet `packet` into `out` (cleared first; its
    /// capacity is reused): encrypts the payload and appends the tag.
    ///
    /// On error `out` is left empty and the context unchanged.
    pub fn protect_rtp(&mut self, packet: &[u8], out: &mut Vec<u8>) -> Result<(), SrtpError> {
        copy_into(packet, out);
        self.protect_rtp_in_place(out).inspect_err(|_| out.clear())
    }

    /// Unprotects the SRTP packet `packet` into `out` (cleared first; its
    /// capacity is reused): checks replay and the tag, then decrypts.
    ///
    /// On error `out` is left empty and the context unchanged.
    pub fn unprotect_rtp(&mut self, packet: &[u8], out: &mut Vec<u8>) -> Result<(), SrtpError> {
        copy_into(packet, out);
        self.unprotect_rtp_in_place(out).inspect_err(|_| out.clear())
    }

    /// Protects the RTCP (compound) packet `packet` into `out` (cleared
    /// first): encrypts all but the first header and sender SSRC, appends
    /// the `E || SRTCP index` word and the tag.
    ///
    /// On error `out` is left empty and the context unchanged.
    pub fn protect_rtcp(&mut self, packet: &[u8], out: &mut Vec<u8>) -> Result<(), SrtpError> {
        copy_into(packet, out);
        self.protect_rtcp_in_place(out).inspect_err(|_| out.clear())
    }

    /// Unprotects the SRTCP packet `packet` into `out` (cleared first).
    /// Packets sent unencrypted (E flag clear) are accepted once their tag
    /// verifies.
    ///
    /// On error `out` is left empty and the context unchanged.
    pub fn unprotect_rtcp(&mut self, packet: &[u8], out: &mut Vec<u8>) -> Result<(), SrtpError> {
        copy_into(packet, out);
        self.unprotect_rtcp_in_place(out).inspect_err(|_| out.clear())
    }

    /// Like [`protect_rtp`](Self::protect_rtp) on `buf` itself: the packet
    /// grows by the tag. On error `buf`'s content is unspecified.
    pub fn protect_rtp_in_place(&mut self, buf: &mut Vec<u8>) -> Result<(), SrtpError> {
        let header = rtp_header(buf, 0)?;
        let ssrc = header.ssrc;
        let index = match self.rtp_streams.get(&ssrc) {
            Some(window) => estimate_index(window.highest(), header.seq).map_err(|e| index_error(e, ssrc))?,
            None => {
                room_for(&self.rtp_streams, ssrc)?;
                u64::from(header.seq)
            }
        };
        self.rtp.protect_rtp(buf, header.len, ssrc, index)?;
        remember(&mut self.rtp_streams, ssrc, index, "SRTP");
        Ok(())
    }

    /// Like [`unprotect_rtp`](Self::unprotect_rtp) on `buf` itself: the
    /// packet shrinks by the tag. On error `buf`'s content is unspecified.
    pub fn unprotect_rtp_in_place(&mut self, buf: &mut Vec<u8>) -> Result<(), SrtpError> {
        let header = rtp_header(buf, self.rtp.tag_len())?;
        let ssrc = header.ssrc;
        let index = match self.rtp_streams.get(&ssrc) {
            Some(window) => {
                let index = estimate_index(window.highest(), header.seq).map_err(|e| index_error(e, ssrc))?;
                fresh(window, ssrc, index)?;
                index
            }
            None => {
                room_for(&self.rtp_streams, ssrc)?;
                u64::from(header.seq)
            }
        };
        self.rtp.unprotect_rtp(buf, header.len, ssrc, index)?;
        remember(&mut self.rtp_streams, ssrc, index, "SRTP");
        Ok(())
    }

    /// Like [`protect_rtcp`](Self::protect_rtcp) on `buf` itself. On error
    /// `buf`'s content is unspecified.
    pub fn protect_rtcp_in_place(&mut self, buf: &mut Vec<u8>) -> Result<(), SrtpError> {
        let ssrc = rtcp_ssrc(buf, 0)?;
        let index = match self.rtcp_streams.get(&ssrc) {
            Some(window) => window.highest() + 1,
            None => {
                room_for(&self.rtcp_streams, ssrc)?;
                0
            }
        };
        if index > MAX_SRTCP_INDEX {
            return Err(SrtpError::IndexExhausted { ssrc });
        }
        self.rtcp.protect_rtcp(buf, ssrc, index as u32)?;
        remember(&mut self.rtcp_streams, ssrc, index, "SRTCP");
        Ok(())
    }

    /// Like [`unprotect_rtcp`](Self::unprotect_rtcp) on `buf` itself. On
    /// error `buf`'s content is unspecified.
    pub fn unprotect_rtcp_in_place(&mut self, buf: &mut Vec<u8>) -> Result<(), SrtpError> {
        let ssrc = rtcp_ssrc(buf, self.rtcp.tag_len() + SRTCP_INDEX_LEN)?;
        let word = self.rtcp.srtcp_word(buf).ok_or(SrtpError::TooShort {
            len: buf.len(),
            needed: self.rtcp.tag_len() + SRTCP_INDEX_LEN,
        })?;
        let index = u64::from(word & !SRTCP_E_BIT);
        match self.rtcp_streams.get(&ssrc) {
            Some(window) => fresh(window, ssrc, index)?,
            None => room_for(&self.rtcp_streams, ssrc)?,
        }
        self.rtcp.unprotect_rtcp(buf, ssrc, word)?;
        remember(&mut self.rtcp_streams, ssrc, index, "SRTCP");
        Ok(())
    }
}

/// Copies `packet` into `out`, reserving room for the largest trailer so the
/// tag never makes `out` reallocate.
fn copy_into(packet: &[u8], out: &mut Vec<u8>) {
    out.clear();
    out.reserve(packet.len() + MAX_OVERHEAD);
    out.extend_from_slice(packet);
}

fn room_for(streams: &HashMap<u32, ReplayWindow>, ssrc: u32) -> Result<(), SrtpError> {
    if streams.len() >= MAX_SSRCS {
        return Err(SrtpError::TooManySsrcs { ssrc, limit: MAX_SSRCS });
    }
    Ok(())
}

fn fresh(window: &ReplayWindow, ssrc: u32, index: u64) -> Result<(), SrtpError> {
    match window.check(index) {
        ReplayCheck::Fresh => Ok(()),
        ReplayCheck::Replayed => Err(SrtpError::Replayed { ssrc, index }),
        ReplayCheck::TooOld => Err(SrtpError::TooOld { ssrc, index }),
    }
}

fn remember(streams: &mut HashMap<u32, ReplayWindow>, ssrc: u32, index: u64, what: &str) {
    match streams.get_mut(&ssrc) {
        Some(window) => window.accept(index),
        None => {
            debug!(ssrc, index, "new {what} stream");
            streams.insert(ssrc, ReplayWindow::starting_at(index));
        }
    }
}

fn index_error(e: IndexError, ssrc: u32) -> SrtpError {
    match e {
        IndexError::BeforeStart => SrtpError::TooOld { ssrc, index: 0 },
        IndexError::Exhausted => SrtpError::IndexExhausted { ssrc },
    }
}
