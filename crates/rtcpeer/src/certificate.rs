//! `RTCCertificate` and `RTCPeerConnection.generateCertificate()` (webrtc-pc §4.9).
//!
//! A certificate is the connection's DTLS identity: its fingerprint goes into every
//! description, and the peer checks the DTLS handshake against it. Giving the same certificate
//! to several connections keeps one fingerprint across them; saving it with
//! [`RTCCertificate::to_pem`] and loading it with [`RTCCertificate::from_pem`] keeps it across
//! runs. See docs/decisions/0012-certificates.md for the choices (ECDSA P-256 only, 30 days).

use std::time::{Duration, SystemTime};

use crate::proto::{Certificate, RtcError};

/// How long a generated certificate is valid unless told otherwise: 30 days, as in browsers.
pub const DEFAULT_CERTIFICATE_LIFETIME: Duration = Duration::from_secs(30 * 24 * 3600);

/// The key algorithm of [`RTCPeerConnection::generate_certificate`](crate::RTCPeerConnection::generate_certificate)
/// (the `AlgorithmIdentifier` of the browser's `generateCertificate`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KeyAlgorithm {
    /// ECDSA on the P-256 curve with SHA-256 (`{name: "ECDSA", namedCurve: "P-256"}`), the default.
    #[default]
    EcdsaP256,
    /// RSASSA-PKCS1-v1_5 with SHA-256 and a modulus of this many bits
    /// (`{name: "RSASSA-PKCS1-v1_5", modulusLength: 2048, …}`).
    ///
    /// Not supported: the DTLS stack (dimpl) signs and verifies with ECDSA only, so an RSA
    /// certificate could never complete a handshake. Asking for one is a `NotSupportedError`,
    /// what browsers answer for an algorithm they do not support.
    Rsa {
        /// The modulus length in bits (browsers take 1024 to 8192; 2048 is usual).
        modulus_length: u32,
    },
}

/// One fingerprint of a certificate (`RTCDtlsFingerprint`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RTCDtlsFingerprint {
    /// The hash function's name as in SDP: `sha-256`.
    pub algorithm: String,
    /// The hash, as uppercase hexadecimal bytes joined by colons.
    pub value: String,
}

/// `RTCCertificate`: a DTLS certificate and its private key.
///
/// Cloning is cheap and keeps the same key (the same fingerprint).
#[derive(Clone, Debug)]
pub struct RTCCertificate {
    inner: Certificate,
}

impl RTCCertificate {
    /// A new certificate of this algorithm, valid from a day ago (for peers whose clocks are
    /// behind) until `lifetime` from now.
    pub fn generate(algorithm: KeyAlgorithm, lifetime: Duration) -> Result<RTCCertificate, RtcError> {
        match algorithm {
            KeyAlgorithm::EcdsaP256 => {}
            KeyAlgorithm::Rsa { modulus_length } => {
                return Err(RtcError::NotSupported(format!(
                    "RSA certificates ({modulus_length}-bit) cannot be used: the DTLS stack signs with ECDSA only"
                )))
            }
        }
        let now = SystemTime::now();
        let not_before = now.checked_sub(Duration::from_secs(24 * 3600)).unwrap_or(now);
        let not_after = now
            .checked_add(lifetime)
            .ok_or_else(|| RtcError::Type(format!("a lifetime of {lifetime:?} is out of range")))?;
        let inner = Certificate::generate_with_validity(not_before, not_after)
            .map_err(|e| RtcError::Operation(format!("certificate generation: {e}")))?;
        Ok(RTCCertificate { inner })
    }

    /// `expires`: when the certificate stops being valid.
    pub fn expires(&self) -> SystemTime {
        self.inner.expires()
    }

    /// Whether the certificate has expired now.
    pub fn is_expired(&self) -> bool {
        self.inner.is_expired(SystemTime::now())
    }

    /// `getFingerprints()`: the SHA-256 fingerprint, the one put in descriptions.
    pub fn get_fingerprints(&self) -> Vec<RTCDtlsFingerprint> {
        let fingerprint = self.inner.fingerprint();
        vec![RTCDtlsFingerprint {
            algorithm: fingerprint.algorithm_name().to_string(),
            value: fingerprint.value_string(),
        }]
    }

    /// The certificate and its private key as two PEM blocks (`CERTIFICATE`, `PRIVATE KEY`).
    /// The text holds the private key: store it like a password.
    pub fn to_pem(&self) -> String {
        self.inner.to_pem()
    }

    /// Loads what [`to_pem`](Self::to_pem) wrote. A text without both blocks, a key that is
    /// not ECDSA P-256/P-384 or does not belong to the certificate is an `InvalidAccessError`
    /// saying which; an expired certificate loads (a connection refuses it).
    pub fn from_pem(text: &str) -> Result<RTCCertificate, RtcError> {
        let inner =
            Certificate::from_pem(text).map_err(|e| RtcError::InvalidAccess(format!("certificate PEM: {e}")))?;
        Ok(RTCCertificate { inner })
    }

    /// The core's certificate.
    pub fn as_proto(&self) -> &Certificate {
        &self.inner
    }

    /// Whether two handles hold the same certificate (same DER).
    pub(crate) fn same_as(&self, other: &RTCCertificate) -> bool {
        self.inner.der() == other.inner.der()
    }
}

impl From<Certificate> for RTCCertificate {
    fn from(inner: Certificate) -> Self {
        RTCCertificate { inner }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_are_sha_256_in_sdp_form() {
        let cert = RTCCertificate::generate(KeyAlgorithm::EcdsaP256, DEFAULT_CERTIFICATE_LIFETIME).unwrap();
        let fingerprints = cert.get_fingerprints();
        assert_eq!(fingerprints.len(), 1);
        assert_eq!(fingerprints[0].algorithm, "sha-256");
        // 32 bytes: 32 pairs of uppercase hex digits and 31 colons.
        assert_eq!(fingerprints[0].value.len(), 95);
        assert!(fingerprints[0]
            .value
            .chars()
            .all(|c| c == ':' || c.is_ascii_digit() || ('A'..='F').contains(&c)));
    }

    #[test]
    fn a_bad_pem_is_invalid_access_naming_the_problem() {
        let error = RTCCertificate::from_pem("not pem").unwrap_err();
        assert_eq!(error.name(), "InvalidAccessError");
        assert!(error.to_string().contains("CERTIFICATE"), "{error}");
    }
}
