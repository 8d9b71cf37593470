//! DTLS-SRTP: the exported keys (RFC 5764 §4.2). The profile type itself
//! lives in [`crate::srtp`]; it is re-exported here for the DTLS API.

use std::fmt;

use super::error::DtlsError;
use super::DtlsRole;

pub use crate::srtp::SrtpProfile;

/// One direction's SRTP master key and salt.
#[derive(Clone, PartialEq, Eq)]
pub struct SrtpMasterKey {
    /// The master key (`key_len` bytes).
    pub key: Vec<u8>,
    /// The master salt (`salt_len` bytes).
    pub salt: Vec<u8>,
}

impl fmt::Debug for SrtpMasterKey {
    /// Never prints the secret.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "SrtpMasterKey({} key bytes, {} salt bytes)",
            self.key.len(),
            self.salt.len()
        )
    }
}

/// The keys exported by the DTLS handshake for SRTP (RFC 5764 §4.2), split
/// into the key we protect our packets with and the key we unprotect the
/// peer's packets with.
///
/// The client's `local` is the server's `remote` and vice versa.
#[derive(Clone, PartialEq, Eq)]
pub struct SrtpKeyingMaterial {
    /// The negotiated profile.
    pub profile: SrtpProfile,
    /// Our write key and salt (protect outgoing SRTP/SRTCP).
    pub local: SrtpMasterKey,
    /// The peer's write key and salt (unprotect incoming SRTP/SRTCP).
    pub remote: SrtpMasterKey,
    /// The exporter output as is: client key, server key, client salt, server salt.
    pub raw: Vec<u8>,
}

impl SrtpKeyingMaterial {
    /// Splits exported material laid out as RFC 5764 §4.2 says:
    /// `client_write_key | server_write_key | client_write_salt | server_write_salt`.
    pub fn split(profile: SrtpProfile, role: DtlsRole, raw: &[u8]) -> Result<SrtpKeyingMaterial, DtlsError> {
        let (k, s) = (profile.key_len(), profile.salt_len());
        let expected = 2 * (k + s);
        if raw.len() != expected {
            return Err(DtlsError::BadKeyingMaterial {
                profile: profile.name().into(),
                expected,
                found: raw.len(),
            });
        }
        let part = |from: usize, len: usize| raw.get(from..from + len).unwrap_or_default().to_vec();
        let client = SrtpMasterKey {
            key: part(0, k),
            salt: part(2 * k, s),
        };
        let server = SrtpMasterKey {
            key: part(k, k),
            salt: part(2 * k + s, s),
        };
        let (local, remote) = match role {
            DtlsRole::Client => (client, server),
            DtlsRole::Server => (server, client),
        };
        Ok(SrtpKeyingMaterial {
            profile,
            local,
            remote,
            raw: raw.to_vec(),
        })
    }
}

impl fmt::Debug for SrtpKeyingMaterial {
    /// Never prints the secrets.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SrtpKeyingMaterial")
            .field("profile", &self.profile)
            .field("local", &self.local)
            .field("remote", &self.remote)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_follows_rfc5764_layout() {
        let p = SrtpProfile::Aes128CmSha1_80;
        let raw: Vec<u8> = (0..60u8).collect();
        let client = SrtpKeyingMaterial::split(p, DtlsRole::Client, &raw).unwrap();
        assert_eq!(client.local.key, (0..16).collect::<Vec<u8>>());
        assert_eq!(client.remote.key, (16..32).collect::<Vec<u8>>());
        assert_eq!(client.local.salt, (32..46).collect::<Vec<u8>>());
        assert_eq!(client.remote.salt, (46..60).collect::<Vec<u8>>());
        let server = SrtpKeyingMaterial::split(p, DtlsRole::Server, &raw).unwrap();
        assert_eq!(server.local, client.remote);
        assert_eq!(server.remote, client.local);
        assert!(
            !format!("{client:?}").contains("[0, 1"),
            "Debug must not leak key bytes"
        );
    }

    #[test]
    fn split_rejects_wrong_length() {
        let err = SrtpKeyingMaterial::split(SrtpProfile::AeadAes128Gcm, DtlsRole::Client, &[0; 60]).unwrap_err();
        assert_eq!(
            err,
            DtlsError::BadKeyingMaterial {
                profile: "SRTP_AEAD_AES_128_GCM".into(),
                expected: 56,
                found: 60
            }
        );
        assert!(SrtpKeyingMaterial::split(SrtpProfile::AeadAes256Gcm, DtlsRole::Server, &[0; 88]).is_ok());
        assert!(SrtpKeyingMaterial::split(SrtpProfile::Aes128CmSha1_32, DtlsRole::Server, &[0; 60]).is_ok());
    }
}
