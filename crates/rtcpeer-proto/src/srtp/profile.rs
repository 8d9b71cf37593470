//! The SRTP protection profiles rtcpeer supports, with their parameters
//! (RFC 5764 §4.1.2, RFC 7714 §14.2).

use std::fmt;

/// An SRTP protection profile: the cipher, the authentication and the key,
/// salt and tag lengths for both SRTP and SRTCP.
///
/// This is the one profile type of the crate: the DTLS transport reports the
/// negotiated one with it and [`SrtpContext`](super::SrtpContext) is built
/// from it. dimpl 0.9 negotiates only [`Aes128CmSha1_80`](Self::Aes128CmSha1_80),
/// [`AeadAes128Gcm`](Self::AeadAes128Gcm) and [`AeadAes256Gcm`](Self::AeadAes256Gcm);
/// [`Aes128CmSha1_32`](Self::Aes128CmSha1_32) is there for keys obtained
/// another way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SrtpProfile {
    /// `SRTP_AES128_CM_HMAC_SHA1_80` (RFC 5764 §4.1.2): AES-128 counter mode,
    /// HMAC-SHA1 tags of 80 bits on SRTP and SRTCP.
    Aes128CmSha1_80,
    /// `SRTP_AES128_CM_HMAC_SHA1_32` (RFC 5764 §4.1.2): like the `_80` profile
    /// but with 32-bit SRTP tags; SRTCP tags stay 80 bits.
    Aes128CmSha1_32,
    /// `SRTP_AEAD_AES_128_GCM` (RFC 7714 §14.2): AES-128-GCM with 128-bit tags.
    AeadAes128Gcm,
    /// `SRTP_AEAD_AES_256_GCM` (RFC 7714 §14.2): AES-256-GCM with 128-bit tags.
    AeadAes256Gcm,
}

impl SrtpProfile {
    /// Every profile, strongest first.
    pub const ALL: [SrtpProfile; 4] = [
        SrtpProfile::AeadAes256Gcm,
        SrtpProfile::AeadAes128Gcm,
        SrtpProfile::Aes128CmSha1_80,
        SrtpProfile::Aes128CmSha1_32,
    ];

    /// Master (and session encryption) key length in bytes.
    pub fn key_len(self) -> usize {
        match self {
            SrtpProfile::Aes128CmSha1_80 | SrtpProfile::Aes128CmSha1_32 | SrtpProfile::AeadAes128Gcm => 16,
            SrtpProfile::AeadAes256Gcm => 32,
        }
    }

    /// Master (and session) salt length in bytes: 14 for AES-CM, 12 for GCM.
    pub fn salt_len(self) -> usize {
        if self.is_aead() {
            12
        } else {
            14
        }
    }

    /// Length in bytes of the authentication tag appended to SRTP packets.
    pub fn rtp_tag_len(self) -> usize {
        match self {
            SrtpProfile::Aes128CmSha1_80 => 10,
            SrtpProfile::Aes128CmSha1_32 => 4,
            SrtpProfile::AeadAes128Gcm | SrtpProfile::AeadAes256Gcm => 16,
        }
    }

    /// Length in bytes of the authentication tag of SRTCP packets (80 bits
    /// for both AES-CM profiles, RFC 5764 §4.1.2).
    pub fn rtcp_tag_len(self) -> usize {
        if self.is_aead() {
            16
        } else {
            10
        }
    }

    /// Whether the profile is an AEAD (GCM) one rather than AES-CM + HMAC-SHA1.
    pub fn is_aead(self) -> bool {
        matches!(self, SrtpProfile::AeadAes128Gcm | SrtpProfile::AeadAes256Gcm)
    }

    /// Length of the keying material the DTLS exporter must produce for this
    /// profile: both directions' keys and salts (RFC 5764 §4.2).
    pub fn keying_material_len(self) -> usize {
        2 * (self.key_len() + self.salt_len())
    }

    /// The registered name, e.g. `"SRTP_AEAD_AES_128_GCM"`.
    pub fn name(self) -> &'static str {
        match self {
            SrtpProfile::Aes128CmSha1_80 => "SRTP_AES128_CM_HMAC_SHA1_80",
            SrtpProfile::Aes128CmSha1_32 => "SRTP_AES128_CM_HMAC_SHA1_32",
            SrtpProfile::AeadAes128Gcm => "SRTP_AEAD_AES_128_GCM",
            SrtpProfile::AeadAes256Gcm => "SRTP_AEAD_AES_256_GCM",
        }
    }

    /// The two-byte identifier of the DTLS `use_srtp` extension
    /// (RFC 5764 §4.1.2, RFC 7714 §14.2).
    pub fn dtls_id(self) -> u16 {
        match self {
            SrtpProfile::Aes128CmSha1_80 => 0x0001,
            SrtpProfile::Aes128CmSha1_32 => 0x0002,
            SrtpProfile::AeadAes128Gcm => 0x0007,
            SrtpProfile::AeadAes256Gcm => 0x0008,
        }
    }

    /// The profile with the given `use_srtp` identifier; `None` for one we do
    /// not implement.
    pub fn from_dtls_id(id: u16) -> Option<SrtpProfile> {
        SrtpProfile::ALL.into_iter().find(|p| p.dtls_id() == id)
    }

    /// Maps dimpl's profile; `None` for one this version does not know.
    pub(crate) fn from_dimpl(profile: dimpl::SrtpProfile) -> Option<SrtpProfile> {
        match profile {
            dimpl::SrtpProfile::AES128_CM_SHA1_80 => Some(SrtpProfile::Aes128CmSha1_80),
            dimpl::SrtpProfile::AEAD_AES_128_GCM => Some(SrtpProfile::AeadAes128Gcm),
            dimpl::SrtpProfile::AEAD_AES_256_GCM => Some(SrtpProfile::AeadAes256Gcm),
            _ => None,
        }
    }
}

impl fmt::Display for SrtpProfile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_follow_the_registrations() {
        use SrtpProfile::*;
        let table = [
            (Aes128CmSha1_80, 16, 14, 10, 10, 0x0001, 60),
            (Aes128CmSha1_32, 16, 14, 4, 10, 0x0002, 60),
            (AeadAes128Gcm, 16, 12, 16, 16, 0x0007, 56),
            (AeadAes256Gcm, 32, 12, 16, 16, 0x0008, 88),
        ];
        for (p, key, salt, rtp_tag, rtcp_tag, id, material) in table {
            assert_eq!(p.key_len(), key, "{p}");
            assert_eq!(p.salt_len(), salt, "{p}");
            assert_eq!(p.rtp_tag_len(), rtp_tag, "{p}");
            assert_eq!(p.rtcp_tag_len(), rtcp_tag, "{p}");
            assert_eq!(p.dtls_id(), id, "{p}");
            assert_eq!(p.keying_material_len(), material, "{p}");
            assert_eq!(SrtpProfile::from_dtls_id(id), Some(p));
        }
        assert_eq!(SrtpProfile::from_dtls_id(0x0005), None);
        assert_eq!(AeadAes256Gcm.to_string(), "SRTP_AEAD_AES_256_GCM");
    }

    #[test]
    fn dimpl_profiles_map_to_ours() {
        assert_eq!(
            SrtpProfile::from_dimpl(dimpl::SrtpProfile::AES128_CM_SHA1_80),
            Some(SrtpProfile::Aes128CmSha1_80)
        );
        assert_eq!(
            SrtpProfile::from_dimpl(dimpl::SrtpProfile::AEAD_AES_128_GCM),
            Some(SrtpProfile::AeadAes128Gcm)
        );
        assert_eq!(
            SrtpProfile::from_dimpl(dimpl::SrtpProfile::AEAD_AES_256_GCM),
            Some(SrtpProfile::AeadAes256Gcm)
        );
    }
}
