//! The local DTLS identity: an ECDSA P-256 self-signed certificate and its key.

use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use aws_lc_rs::rand::SecureRandom;
use rcgen::{
    CertificateParams, DistinguishedName, DnType, IsCa, KeyPair, PKCS_ECDSA_P256_SHA256, PKCS_ECDSA_P384_SHA384,
};

use super::error::DtlsError;
use super::fingerprint::{Fingerprint, HashAlgorithm};
use super::pem;
use super::validity::validity;

const CERT_LABEL: &str = "CERTIFICATE";
const KEY_LABEL: &str = "PRIVATE KEY";

/// A self-signed certificate and its private key, as used for DTLS in WebRTC
/// (RFC 8827 §6.5: certificates are not validated by a CA, only matched
/// against the `a=fingerprint` in the session description).
///
/// Cloning is cheap: the DER bytes sit behind an [`Arc`].
#[derive(Clone)]
pub struct Certificate {
    inner: Arc<Inner>,
}

struct Inner {
    /// The certificate, DER.
    cert_der: Vec<u8>,
    /// The private key, PKCS#8 DER.
    key_der: Vec<u8>,
    /// SHA-256 of `cert_der`, computed once.
    fingerprint: Fingerprint,
    /// The validity period, read from `cert_der`.
    not_before: SystemTime,
    not_after: SystemTime,
}

impl Certificate {
    /// Makes a new ECDSA P-256 key and a self-signed certificate for it, valid
    /// from 2020-01-01 to 2050-01-01 (no clock is read; browsers do not check
    /// the validity of WebRTC certificates, only their fingerprint).
    ///
    /// The serial number is 127 random bits: Firefox refuses two certificates
    /// with the same issuer and serial, so serials must not repeat across
    /// processes or machines.
    pub fn generate() -> Result<Certificate, DtlsError> {
        Certificate::generate_with_validity(
            rcgen::date_time_ymd(2020, 1, 1).into(),
            rcgen::date_time_ymd(2050, 1, 1).into(),
        )
    }

    /// Like [`generate`](Self::generate) with an explicit validity window
    /// (the runtime may pass `now - 1 day .. now + 30 days`, as browsers do).
    pub fn generate_with_validity(not_before: SystemTime, not_after: SystemTime) -> Result<Certificate, DtlsError> {
        let gen_err = |e: &dyn fmt::Display| DtlsError::CertificateGeneration(e.to_string());
        let key_pair = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(|e| gen_err(&e))?;
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(|e| gen_err(&e))?;
        let mut name = DistinguishedName::new();
        name.push(DnType::CommonName, "rtcpeer");
        params.distinguished_name = name;
        params.is_ca = IsCa::NoCa;
        params.not_before = not_before.into();
        params.not_after = not_after.into();
        let mut serial = [0u8; 16];
        aws_lc_rs::rand::SystemRandom::new()
            .fill(&mut serial)
            .map_err(|e| gen_err(&e))?;
        serial[0] &= 0x7f; // keep the INTEGER positive
        serial[0] |= 0x01; // and without a leading zero byte
        params.serial_number = Some(serial.to_vec().into());
        let cert = params.self_signed(&key_pair).map_err(|e| gen_err(&e))?;
        Certificate::from_parts(cert.der().to_vec(), key_pair.serialize_der())
    }

    /// Loads a certificate and key saved by [`to_pem`](Self::to_pem): a
    /// `CERTIFICATE` block and a PKCS#8 `PRIVATE KEY` block, in any order.
    ///
    /// The key must be ECDSA P-256 or P-384 (what dimpl can sign with) and must
    /// belong to the certificate.
    pub fn from_pem(text: &str) -> Result<Certificate, DtlsError> {
        let cert_der = pem::decode_block(text, CERT_LABEL)?;
        let key_der = pem::decode_block(text, KEY_LABEL)?;
        let key_pair = KeyPair::try_from(key_der.as_slice()).map_err(|e| DtlsError::BadPrivateKey(e.to_string()))?;
        if !key_pair.is_compatible(&PKCS_ECDSA_P256_SHA256) && !key_pair.is_compatible(&PKCS_ECDSA_P384_SHA384) {
            return Err(DtlsError::BadPrivateKey("not an ECDSA P-256 or P-384 key".into()));
        }
        // The SubjectPublicKeyInfo inside the certificate holds the raw public
        // point verbatim; a key whose point is absent belongs to another certificate.
        let public = key_pair.public_key_raw();
        if public.is_empty() || !cert_der.windows(public.len()).any(|w| w == public) {
            return Err(DtlsError::KeyMismatch);
        }
        Certificate::from_parts(cert_der, key_der)
    }

    /// Writes the certificate and the private key as two PEM blocks.
    ///
    /// The text contains the private key: store it like a password.
    pub fn to_pem(&self) -> String {
        let mut out = pem::encode_block(CERT_LABEL, &self.inner.cert_der);
        out.push_str(&pem::encode_block(KEY_LABEL, &self.inner.key_der));
        out
    }

    /// The SHA-256 fingerprint, for the local `a=fingerprint`.
    pub fn fingerprint(&self) -> Fingerprint {
        self.inner.fingerprint.clone()
    }

    /// The fingerprint made with another hash function.
    pub fn fingerprint_with(&self, algorithm: HashAlgorithm) -> Fingerprint {
        Fingerprint::of_der(algorithm, &self.inner.cert_der)
    }

    /// The certificate, DER-encoded.
    pub fn der(&self) -> &[u8] {
        &self.inner.cert_der
    }

    /// When the certificate stops being valid (its `notAfter`): `RTCCertificate.expires`.
    pub fn expires(&self) -> SystemTime {
        self.inner.not_after
    }

    /// When the certificate starts being valid (its `notBefore`).
    pub fn not_before(&self) -> SystemTime {
        self.inner.not_before
    }

    /// Whether the certificate has expired at `now` (the caller reads the clock).
    pub fn is_expired(&self, now: SystemTime) -> bool {
        now >= self.inner.not_after
    }

    fn from_parts(cert_der: Vec<u8>, key_der: Vec<u8>) -> Result<Certificate, DtlsError> {
        let fingerprint = Fingerprint::of_der(HashAlgorithm::Sha256, &cert_der);
        let (not_before, not_after) = validity(&cert_der)?;
        Ok(Certificate {
            inner: Arc::new(Inner {
                cert_der,
                key_der,
                fingerprint,
                not_before,
                not_after,
            }),
        })
    }

    /// The form dimpl takes.
    pub(crate) fn to_dimpl(&self) -> dimpl::DtlsCertificate {
        dimpl::DtlsCertificate {
            certificate: self.inner.cert_der.clone(),
            private_key: self.inner.key_der.clone(),
        }
    }
}

impl fmt::Debug for Certificate {
    /// Shows the fingerprint, never the key.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Certificate")
            .field("fingerprint", &self.inner.fingerprint.to_string())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtls::pem::PemError;

    #[test]
    fn generated_certificates_differ_and_fingerprint_their_der() {
        let a = Certificate::generate().unwrap();
        let b = Certificate::generate().unwrap();
        assert_ne!(a.der(), b.der());
        assert_ne!(a.fingerprint(), b.fingerprint());
        assert_eq!(a.fingerprint(), Fingerprint::of_der(HashAlgorithm::Sha256, a.der()));
        assert!(a.fingerprint().matches(a.der()));
        assert!(!a.fingerprint().matches(b.der()));
        // A DER certificate starts with a SEQUENCE.
        assert_eq!(a.der().first(), Some(&0x30));
        let shown = format!("{a:?}");
        assert!(shown.contains("sha-256"), "{shown}");
    }

    #[test]
    fn pem_round_trip_keeps_the_fingerprint() {
        let cert = Certificate::generate().unwrap();
        let text = cert.to_pem();
        assert!(text.contains("-----BEGIN CERTIFICATE-----"));
        assert!(text.contains("-----BEGIN PRIVATE KEY-----"));
        let loaded = Certificate::from_pem(&text).unwrap();
        assert_eq!(loaded.fingerprint(), cert.fingerprint());
        assert_eq!(loaded.der(), cert.der());
        assert_eq!(loaded.to_pem(), text);
        assert_eq!(loaded.expires(), cert.expires());
    }

    #[test]
    fn the_validity_is_read_back_from_the_certificate() {
        let not_before: SystemTime = rcgen::date_time_ymd(2021, 6, 1).into();
        let not_after: SystemTime = rcgen::date_time_ymd(2061, 6, 2).into();
        let cert = Certificate::generate_with_validity(not_before, not_after).unwrap();
        assert_eq!(cert.not_before(), not_before);
        assert_eq!(cert.expires(), not_after);
        assert!(!cert.is_expired(not_before));
        assert!(cert.is_expired(not_after));
    }

    #[test]
    fn from_pem_rejects_a_key_from_another_certificate() {
        let a = Certificate::generate().unwrap().to_pem();
        let b = Certificate::generate().unwrap().to_pem();
        let a_cert = &a[..a.find("-----BEGIN PRIVATE KEY-----").unwrap()];
        let b_key = &b[b.find("-----BEGIN PRIVATE KEY-----").unwrap()..];
        assert_eq!(
            Certificate::from_pem(&format!("{a_cert}{b_key}")).unwrap_err(),
            DtlsError::KeyMismatch
        );
    }

    #[test]
    fn from_pem_rejects_missing_or_broken_parts() {
        let text = Certificate::generate().unwrap().to_pem();
        let cert_only = &text[..text.find("-----BEGIN PRIVATE KEY-----").unwrap()];
        assert_eq!(
            Certificate::from_pem(cert_only).unwrap_err(),
            DtlsError::Pem(PemError::MissingBlock("PRIVATE KEY"))
        );
        let garbage_key = format!("{cert_only}-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n");
        assert!(matches!(
            Certificate::from_pem(&garbage_key),
            Err(DtlsError::BadPrivateKey(_))
        ));
        assert!(Certificate::from_pem("").is_err());
    }

    /// Why RSA certificates are refused (decision 0012): rcgen with aws-lc-rs makes an RSA-2048
    /// key and certificate, but dimpl cannot sign with the key. If dimpl learns RSA, this fails
    /// and RSA can be offered.
    #[test]
    fn rsa_keys_can_be_made_but_dimpl_cannot_sign_with_them() {
        let key = KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).unwrap();
        let cert = CertificateParams::new(Vec::<String>::new())
            .unwrap()
            .self_signed(&key)
            .unwrap();
        assert_eq!(cert.der().first(), Some(&0x30));
        let provider = dimpl::crypto::aws_lc_rs::default_provider();
        assert!(provider.key_provider.load_private_key(&key.serialize_der()).is_err());
        let ecdsa = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
        assert!(provider.key_provider.load_private_key(&ecdsa.serialize_der()).is_ok());
    }
}
