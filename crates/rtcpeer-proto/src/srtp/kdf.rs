//! The SRTP key derivation function (RFC 3711 §4.3) with the AES-CM PRF,
//! key derivation rate 0: each session key is derived once per master key.

use aws_lc_rs::cipher::{EncryptingKey, EncryptionContext, UnboundCipherKey, AES_128, AES_256};
use aws_lc_rs::iv::FixedLength;

use super::SrtpError;

/// The labels of RFC 3711 §4.3.1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Label {
    /// SRTP encryption key.
    RtpKey = 0x00,
    /// SRTP authentication key.
    RtpAuth = 0x01,
    /// SRTP salting key.
    RtpSalt = 0x02,
    /// SRTCP encryption key.
    RtcpKey = 0x03,
    /// SRTCP authentication key.
    RtcpAuth = 0x04,
    /// SRTCP salting key.
    RtcpSalt = 0x05,
}

/// The AES-CM PRF keyed with the master key, applied to the master salt.
pub(crate) struct KeyDerivation {
    prf: EncryptingKey,
    /// The master salt as a 112-bit value. A 96-bit GCM salt is multiplied by
    /// 2^16 first (RFC 7714 §11 as corrected by verified erratum 4938), i.e.
    /// it takes the first 12 bytes and the last two stay zero.
    salt: [u8; 14],
}

impl KeyDerivation {
    /// Keys the PRF: AES-128 for a 16-byte master key, AES-256 (RFC 6188) for
    /// a 32-byte one. The caller has checked the lengths.
    pub(crate) fn new(master_key: &[u8], master_salt: &[u8]) -> Result<KeyDerivation, SrtpError> {
        let algorithm = if master_key.len() == 32 { &AES_256 } else { &AES_128 };
        let key = UnboundCipherKey::new(algorithm, master_key).map_err(|_| SrtpError::Crypto)?;
        let prf = EncryptingKey::ctr(key).map_err(|_| SrtpError::Crypto)?;
        let mut salt = [0u8; 14];
        let n = master_salt.len().min(14);
        salt[..n].copy_from_slice(&master_salt[..n]);
        Ok(KeyDerivation { prf, salt })
    }

    /// Fills `out` with the session key for `label`: the AES-CM keystream
    /// with IV `(label || 0^48 XOR salt) * 2^16` (r = index DIV kdr = 0).
    pub(crate) fn derive(&self, label: Label, out: &mut [u8]) -> Result<(), SrtpError> {
        let mut iv = [0u8; 16];
        iv[..14].copy_from_slice(&self.salt);
        // key_id = label || r (48 bits) is aligned to the salt's low end, so
        // the label lands 7 bytes before the end of the 14-byte salt.
        iv[7] ^= label as u8;
        out.fill(0);
        self.prf
            .less_safe_encrypt(out, EncryptionContext::Iv128(FixedLength::from(iv)))
            .map_err(|_| SrtpError::Crypto)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::srtp::test_util::hex;

    /// RFC 3711 Appendix B.3 (key derivation test vectors).
    #[test]
    fn rfc3711_b3_key_derivation() {
        let kdf = KeyDerivation::new(
            &hex("E1F97A0D3E018BE0D64FA32C06DE4139"),
            &hex("0EC675AD498AFEEBB6960B3AABE6"),
        )
        .unwrap();
        let mut key = [0u8; 16];
        kdf.derive(Label::RtpKey, &mut key).unwrap();
        assert_eq!(key.to_vec(), hex("C61E7A93744F39EE10734AFE3FF7A087"));
        let mut salt = [0u8; 14];
        kdf.derive(Label::RtpSalt, &mut salt).unwrap();
        assert_eq!(salt.to_vec(), hex("30CBBC08863D8C85D49DB34A9AE1"));
        // The appendix lists 94 bytes of auth key to show the counter running
        // over several blocks; we use the first 20 but check them all.
        let mut auth = [0u8; 94];
        kdf.derive(Label::RtpAuth, &mut auth).unwrap();
        assert_eq!(
            auth.to_vec(),
            hex("CEBE321F6FF7716B6FD4AB49AF256A156D38BAA48F0A0ACF3C34E2359E6CDBCE\
                 E049646C43D9327AD175578EF72270986371C10C9A369AC2F94A8C5FBCDDDC25\
                 6D6E919A48B610EF17C2041E474035766B68642C59BBFC2F34DB60DBDFB2")
        );
    }

    /// RFC 6188 §7.2 (AES_256_CM_PRF key derivation test vectors).
    #[test]
    fn rfc6188_aes256_key_derivation() {
        let kdf = KeyDerivation::new(
            &hex("F0F04914B513F2763A1B1FA130F10E2998F6F6E43E4309D1E622A0E332B9F1B6"),
            &hex("3B04803DE51EE7C96423AB5B78D2"),
        )
        .unwrap();
        let mut key = [0u8; 32];
        kdf.derive(Label::RtpKey, &mut key).unwrap();
        assert_eq!(
            key.to_vec(),
            hex("5BA1064E30EC51613CAD926C5A28EF731EC7FB397F70A960653CAF06554CD8C4")
        );
        let mut salt = [0u8; 14];
        kdf.derive(Label::RtpSalt, &mut salt).unwrap();
        assert_eq!(salt.to_vec(), hex("FA31791685CA444A9E07C6C64E93"));
    }

    /// A 12-byte GCM master salt: cross-checked against an independent
    /// computation (`openssl enc -aes-128-ctr`/`-aes-256-ctr` over zero bytes
    /// with IV = salt || 00000000 and the label XORed into byte 7),
    /// which agrees with libsrtp's reading of the erratum.
    #[test]
    fn gcm_master_salt_is_shifted_by_16_bits() {
        let salt = hex("a0a1a2a3a4a5a6a7a8a9aaab");
        let kdf = KeyDerivation::new(&hex("000102030405060708090a0b0c0d0e0f"), &salt).unwrap();
        let mut key = [0u8; 16];
        kdf.derive(Label::RtpKey, &mut key).unwrap();
        assert_eq!(key.to_vec(), hex("077c6143cb221bc355ff23d5f984a16e"));
        let mut s = [0u8; 12];
        kdf.derive(Label::RtcpSalt, &mut s).unwrap();
        assert_eq!(s.to_vec(), hex("fcca937b9112a500dac72269"));
    }
}
