//! The per-packet cryptography of one key set (SRTP or SRTCP): AES-CM with
//! HMAC-SHA1 (RFC 3711 §4.1.1, §4.2.1) or AES-GCM (RFC 7714).
//!
//! The keyed aws-lc contexts are made once, when the session keys are
//! derived, and reused for every packet; nothing here allocates except when
//! the caller's buffer has no room for the tag.

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_128_GCM, AES_256_GCM};
use aws_lc_rs::cipher::{EncryptingKey, EncryptionContext, UnboundCipherKey, AES_128};
use aws_lc_rs::constant_time::verify_slices_are_equal;
use aws_lc_rs::hmac;
use aws_lc_rs::iv::FixedLength;

use super::header::RTCP_HEADER;
use super::kdf::{KeyDerivation, Label};
use super::{SrtpError, SrtpProfile};

/// The E flag of the SRTCP index word: the packet's payload is encrypted.
pub(crate) const SRTCP_E_BIT: u32 = 0x8000_0000;
/// Length of the `E || SRTCP index` word.
pub(crate) const SRTCP_INDEX_LEN: usize = 4;
/// Length of the HMAC-SHA1 session authentication key (RFC 3711 §8.2, n_a = 160).
const AUTH_KEY_LEN: usize = 20;
/// AES-CM session salt length (112 bits).
const CM_SALT_LEN: usize = 14;
/// GCM session salt length (96 bits).
const GCM_SALT_LEN: usize = 12;

/// One set of session keys, ready to use.
// Two per context, made once: the size difference (aws-lc's inline HMAC
// state) costs nothing worth an extra indirection per packet.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Transform {
    /// AES-128 in counter mode, HMAC-SHA1 truncated to `tag_len` bytes.
    CmHmac {
        /// AES-CTR keyed with the session encryption key.
        cipher: EncryptingKey,
        /// Session salt.
        salt: [u8; CM_SALT_LEN],
        /// HMAC-SHA1 keyed with the session authentication key.
        auth: hmac::Key,
        /// Bytes of the HMAC kept as the tag.
        tag_len: usize,
    },
    /// AES-GCM with a 16-byte tag.
    Gcm {
        /// AES-GCM keyed with the session encryption key.
        aead: LessSafeKey,
        /// Session salt.
        salt: [u8; GCM_SALT_LEN],
    },
}

/// Which packets a [`Transform`] is for: they use different labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// SRTP (labels 0, 1, 2).
    Rtp,
    /// SRTCP (labels 3, 4, 5).
    Rtcp,
}

impl Transform {
    /// Derives the session keys for `kind` and keys the ciphers.
    pub(crate) fn new(profile: SrtpProfile, kdf: &KeyDerivation, kind: Kind) -> Result<Transform, SrtpError> {
        let (key_label, auth_label, salt_label) = match kind {
            Kind::Rtp => (Label::RtpKey, Label::RtpAuth, Label::RtpSalt),
            Kind::Rtcp => (Label::RtcpKey, Label::RtcpAuth, Label::RtcpSalt),
        };
        let mut key = [0u8; 32];
        let key = &mut key[..profile.key_len()];
        kdf.derive(key_label, key)?;
        let mut salt = [0u8; CM_SALT_LEN];
        let salt = &mut salt[..profile.salt_len()];
        kdf.derive(salt_label, salt)?;
        let mut auth = [0u8; AUTH_KEY_LEN];
        if !profile.is_aead() {
            kdf.derive(auth_label, &mut auth)?;
        }
        Transform::with_session_keys(profile, kind, key, salt, &auth)
    }

    /// Keys the ciphers with session keys as they are (`auth` is ignored for
    /// GCM). The lengths must be the profile's.
    pub(crate) fn with_session_keys(
        profile: SrtpProfile,
        kind: Kind,
        key: &[u8],
        salt: &[u8],
        auth: &[u8],
    ) -> Result<Transform, SrtpError> {
        if profile.is_aead() {
            let algorithm = if key.len() == 32 { &AES_256_GCM } else { &AES_128_GCM };
            let aead = LessSafeKey::new(UnboundKey::new(algorithm, key).map_err(|_| SrtpError::Crypto)?);
            let salt = salt.try_into().map_err(|_| SrtpError::Crypto)?;
            Ok(Transform::Gcm { aead, salt })
        } else {
            Ok(Transform::CmHmac {
                cipher: ctr(key)?,
                salt: salt.try_into().map_err(|_| SrtpError::Crypto)?,
                auth: hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, auth),
                tag_len: match kind {
                    Kind::Rtp => profile.rtp_tag_len(),
                    Kind::Rtcp => profile.rtcp_tag_len(),
                },
            })
        }
    }

    /// Length of the tag this transform appends.
    pub(crate) fn tag_len(&self) -> usize {
        match self {
            Transform::CmHmac { tag_len, .. } => *tag_len,
            Transform::Gcm { .. } => 16,
        }
    }

    /// Encrypts the payload after `header` bytes and appends the tag.
    pub(crate) fn protect_rtp(&self, buf: &mut Vec<u8>, header: usize, ssrc: u32, index: u64) -> Result<(), SrtpError> {
        match self {
            Transform::CmHmac {
                cipher,
                salt,
                auth,
                tag_len,
            } => {
                let payload = buf.get_mut(header..).ok_or(SrtpError::Crypto)?;
                apply_keystream(cipher, cm_iv(salt, ssrc, index), payload)?;
                let tag = hmac_tag(auth, buf, Some(roc(index)));
                buf.extend_from_slice(tag.as_ref().get(..*tag_len).ok_or(SrtpError::Crypto)?);
            }
            Transform::Gcm { aead, salt } => {
                let nonce = gcm_rtp_iv(salt, ssrc, index);
                let (head, payload) = split_mut(buf, header)?;
                let tag = aead
                    .seal_in_place_separate_tag(Nonce::assume_unique_for_key(nonce), Aad::from(&*head), payload)
                    .map_err(|_| SrtpError::Crypto)?;
                buf.extend_from_slice(tag.as_ref());
            }
        }
        Ok(())
    }

    /// Verifies the tag at the end of `buf`, then removes it and decrypts the
    /// payload after `header` bytes. `header + tag_len() <= buf.len()`.
    pub(crate) fn unprotect_rtp(
        &self,
        buf: &mut Vec<u8>,
        header: usize,
        ssrc: u32,
        index: u64,
    ) -> Result<(), SrtpError> {
        let body = buf.len().checked_sub(self.tag_len()).ok_or(SrtpError::AuthFailed)?;
        match self {
            Transform::CmHmac {
                cipher,
                salt,
                auth,
                tag_len,
            } => {
                let (signed, received) = buf.split_at(body);
                let tag = hmac_tag(auth, signed, Some(roc(index)));
                verify_tag(tag.as_ref(), *tag_len, received)?;
                buf.truncate(body);
                let payload = buf.get_mut(header..).ok_or(SrtpError::AuthFailed)?;
                apply_keystream(cipher, cm_iv(salt, ssrc, index), payload)?;
            }
            Transform::Gcm { aead, salt } => {
                let nonce = gcm_rtp_iv(salt, ssrc, index);
                let (head, sealed) = split_mut(buf, header)?;
                let plain = aead
                    .open_in_place(Nonce::assume_unique_for_key(nonce), Aad::from(&*head), sealed)
                    .map_err(|_| SrtpError::AuthFailed)?
                    .len();
                buf.truncate(header + plain);
            }
        }
        Ok(())
    }

    /// Encrypts everything after the RTCP header and sender SSRC, and appends
    /// the `E || index` word and the tag in the order the profile puts them.
    pub(crate) fn protect_rtcp(&self, buf: &mut Vec<u8>, ssrc: u32, index: u32) -> Result<(), SrtpError> {
        let word = (SRTCP_E_BIT | index).to_be_bytes();
        match self {
            Transform::CmHmac {
                cipher,
                salt,
                auth,
                tag_len,
            } => {
                let payload = buf.get_mut(RTCP_HEADER..).ok_or(SrtpError::Crypto)?;
                apply_keystream(cipher, cm_iv(salt, ssrc, u64::from(index)), payload)?;
                buf.extend_from_slice(&word);
                let tag = hmac_tag(auth, buf, None);
                buf.extend_from_slice(tag.as_ref().get(..*tag_len).ok_or(SrtpError::Crypto)?);
            }
            Transform::Gcm { aead, salt } => {
                let nonce = gcm_rtcp_iv(salt, ssrc, index);
                let (head, payload) = split_mut(buf, RTCP_HEADER)?;
                let aad = rtcp_aad(head, word)?;
                let tag = aead
                    .seal_in_place_separate_tag(Nonce::assume_unique_for_key(nonce), Aad::from(&aad), payload)
                    .map_err(|_| SrtpError::Crypto)?;
                buf.extend_from_slice(tag.as_ref());
                buf.extend_from_slice(&word);
            }
        }
        Ok(())
    }

    /// Reads the `E || SRTCP index` word of a protected SRTCP packet: before
    /// the tag for AES-CM (RFC 3711 §3.4), last for GCM (RFC 7714 §9).
    pub(crate) fn srtcp_word(&self, buf: &[u8]) -> Option<u32> {
        let end = match self {
            Transform::CmHmac { tag_len, .. } => buf.len().checked_sub(*tag_len)?,
            Transform::Gcm { .. } => buf.len(),
        };
        let at = end.checked_sub(SRTCP_INDEX_LEN)?;
        Some(u32::from_be_bytes(buf.get(at..end)?.try_into().ok()?))
    }

    /// Verifies a protected SRTCP packet whose index word is `word`, then
    /// strips the trailer and decrypts (if the E flag is set). The caller
    /// has checked `buf` holds the header and the trailer.
    pub(crate) fn unprotect_rtcp(&self, buf: &mut Vec<u8>, ssrc: u32, word: u32) -> Result<(), SrtpError> {
        let index = word & !SRTCP_E_BIT;
        let encrypted = word & SRTCP_E_BIT != 0;
        let trailer = self.tag_len() + SRTCP_INDEX_LEN;
        let plain_len = buf.len().checked_sub(trailer).ok_or(SrtpError::AuthFailed)?;
        if plain_len < RTCP_HEADER {
            return Err(SrtpError::AuthFailed);
        }
        match self {
            Transform::CmHmac {
                cipher,
                salt,
                auth,
                tag_len,
            } => {
                let (signed, received) = buf.split_at(plain_len + SRTCP_INDEX_LEN);
                let tag = hmac_tag(auth, signed, None);
                verify_tag(tag.as_ref(), *tag_len, received)?;
                buf.truncate(plain_len);
                if encrypted {
                    let payload = buf.get_mut(RTCP_HEADER..).ok_or(SrtpError::AuthFailed)?;
                    apply_keystream(cipher, cm_iv(salt, ssrc, u64::from(index)), payload)?;
                }
            }
            Transform::Gcm { aead, salt } => {
                let nonce = Nonce::assume_unique_for_key(gcm_rtcp_iv(salt, ssrc, index));
                if encrypted {
                    // header | ciphertext+tag | word: AAD is header || word.
                    let word_at = buf.len() - SRTCP_INDEX_LEN;
                    let (rest, _) = buf.split_at_mut(word_at);
                    let (head, sealed) = rest.split_at_mut(RTCP_HEADER);
                    let aad = rtcp_aad(head, word.to_be_bytes())?;
                    aead.open_in_place(nonce, Aad::from(&aad), sealed)
                        .map_err(|_| SrtpError::AuthFailed)?;
                } else {
                    // header | payload | tag | word, all authenticated but
                    // the tag (RFC 7714 §9.2): move the word in front of the
                    // tag so the AAD is contiguous.
                    let tail = buf.get_mut(plain_len..).ok_or(SrtpError::AuthFailed)?;
                    tail.rotate_right(SRTCP_INDEX_LEN);
                    let (aad, tag) = buf.split_at(plain_len + SRTCP_INDEX_LEN);
                    aead.open_in_place_separate_tag(nonce, Aad::from(aad), tag, &mut [])
                        .map_err(|_| SrtpError::AuthFailed)?;
                }
                buf.truncate(plain_len);
            }
        }
        Ok(())
    }
}

/// An AES-128 counter-mode key.
fn ctr(key: &[u8]) -> Result<EncryptingKey, SrtpError> {
    let key = UnboundCipherKey::new(&AES_128, key).map_err(|_| SrtpError::Crypto)?;
    EncryptingKey::ctr(key).map_err(|_| SrtpError::Crypto)
}

/// XORs `data` with the AES-CM keystream starting at counter block `iv`.
fn apply_keystream(cipher: &EncryptingKey, iv: [u8; 16], data: &mut [u8]) -> Result<(), SrtpError> {
    cipher
        .less_safe_encrypt(data, EncryptionContext::Iv128(FixedLength::from(iv)))
        .map(drop)
        .map_err(|_| SrtpError::Crypto)
}

/// HMAC-SHA1 over `data` followed by the ROC if given (RFC 3711 §4.2).
fn hmac_tag(auth: &hmac::Key, data: &[u8], roc: Option<[u8; 4]>) -> hmac::Tag {
    let mut ctx = hmac::Context::with_key(auth);
    ctx.update(data);
    if let Some(roc) = roc {
        ctx.update(&roc);
    }
    ctx.sign()
}

/// Compares the first `len` bytes of the computed tag with the received one
/// in constant time.
fn verify_tag(computed: &[u8], len: usize, received: &[u8]) -> Result<(), SrtpError> {
    let computed = computed.get(..len).ok_or(SrtpError::AuthFailed)?;
    verify_slices_are_equal(computed, received).map_err(|_| SrtpError::AuthFailed)
}

/// The roll-over counter of a 48-bit packet index.
fn roc(index: u64) -> [u8; 4] {
    ((index >> 16) as u32).to_be_bytes()
}

fn split_mut(buf: &mut [u8], at: usize) -> Result<(&mut [u8], &mut [u8]), SrtpError> {
    if at > buf.len() {
        return Err(SrtpError::Crypto);
    }
    Ok(buf.split_at_mut(at))
}

/// `header || E+index` for SRTCP with GCM.
fn rtcp_aad(head: &[u8], word: [u8; 4]) -> Result<[u8; RTCP_HEADER + SRTCP_INDEX_LEN], SrtpError> {
    let mut aad = [0u8; RTCP_HEADER + SRTCP_INDEX_LEN];
    aad[..RTCP_HEADER].copy_from_slice(head.get(..RTCP_HEADER).ok_or(SrtpError::Crypto)?);
    aad[RTCP_HEADER..].copy_from_slice(&word);
    Ok(aad)
}

/// AES-CM counter block (RFC 3711 §4.1.1):
/// `(salt * 2^16) XOR (SSRC * 2^64) XOR (index * 2^16)`.
pub(crate) fn cm_iv(salt: &[u8; CM_SALT_LEN], ssrc: u32, index: u64) -> [u8; 16] {
    let mut iv = [0u8; 16];
    iv[..CM_SALT_LEN].copy_from_slice(salt);
    xor(&mut iv[4..8], &ssrc.to_be_bytes());
    xor(&mut iv[8..16], &(index << 16).to_be_bytes());
    iv
}

/// GCM IV for SRTP (RFC 7714 §8.1): `00 00 || SSRC || ROC || SEQ`, XOR salt.
pub(crate) fn gcm_rtp_iv(salt: &[u8; GCM_SALT_LEN], ssrc: u32, index: u64) -> [u8; 12] {
    let mut iv = [0u8; 12];
    iv[2..6].copy_from_slice(&ssrc.to_be_bytes());
    iv[6..12].copy_from_slice(&(index << 16).to_be_bytes()[..6]);
    xor(&mut iv, salt);
    iv
}

/// GCM IV for SRTCP (RFC 7714 §9.1): `00 00 || SSRC || 00 00 || 0 + index`, XOR salt.
pub(crate) fn gcm_rtcp_iv(salt: &[u8; GCM_SALT_LEN], ssrc: u32, index: u32) -> [u8; 12] {
    let mut iv = [0u8; 12];
    iv[2..6].copy_from_slice(&ssrc.to_be_bytes());
    iv[8..12].copy_from_slice(&(index & !SRTCP_E_BIT).to_be_bytes());
    xor(&mut iv, salt);
    iv
}

fn xor(dst: &mut [u8], src: &[u8]) {
    for (d, s) in dst.iter_mut().zip(src) {
        *d ^= s;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::srtp::test_util::hex;

    /// RFC 3711 Appendix B.2: the AES-CM keystream for session key
    /// 2B7E1516..., session salt F0F1...FCFD, SSRC 0 and index 0.
    #[test]
    fn rfc3711_b2_keystream() {
        let salt: [u8; 14] = hex("F0F1F2F3F4F5F6F7F8F9FAFBFCFD").try_into().unwrap();
        let iv = cm_iv(&salt, 0, 0);
        assert_eq!(iv.to_vec(), hex("F0F1F2F3F4F5F6F7F8F9FAFBFCFD0000"));
        let cipher = ctr(&hex("2B7E151628AED2A6ABF7158809CF4F3C")).unwrap();
        let mut stream = vec![0u8; 0xff02 * 16];
        apply_keystream(&cipher, iv, &mut stream).unwrap();
        assert_eq!(
            stream[..48].to_vec(),
            hex("E03EAD0935C95E80E166B16DD92B4EB4D23513162B02D0F72A43A2FE4A5F97AB41E95B3BB0A2E8DD477901E4FCA894C0")
        );
        // The table's last three blocks (counters FEFF, FF00, FF01).
        assert_eq!(
            stream[0xfeff * 16..].to_vec(),
            hex("EC8CDF7398607CB0F2D21675EA9EA1E4362B7C3C6773516318A077D7FC5073AE6A2CC3787889374FBEB4C81B17BA6C44")
        );
    }

    /// RFC 7714 §16.1 and §17.1 list the IVs their packets use.
    #[test]
    fn rfc7714_ivs() {
        let salt: [u8; 12] = hex("517569642070726f2071756f").try_into().unwrap();
        assert_eq!(
            gcm_rtp_iv(&salt, 0x5501a0b2, 0xf17b).to_vec(),
            hex("51753c6580c2726f20718414")
        );
        assert_eq!(
            gcm_rtcp_iv(&salt, 0x4d617273, 0x5d4).to_vec(),
            hex("517524055203726f207170bb")
        );
    }

    #[test]
    fn cm_iv_places_ssrc_and_index() {
        let iv = cm_iv(&[0; 14], 0x01020304, 0x0000_0506_0708_090a);
        assert_eq!(iv, [0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 0, 0]);
    }
}
