//! The validity period of an X.509 certificate (RFC 5280 §4.1.2.5), read from its DER with the
//! `x509-cert` crate (already in the build through dimpl).

use std::time::SystemTime;

use x509_cert::der::Decode;

/// Why a certificate's validity could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValidityError {
    /// The bytes are not a DER X.509 certificate (the decoder's reason).
    #[error("the certificate's DER does not parse: {0}")]
    Malformed(String),
}

/// `notBefore` and `notAfter` of a DER certificate.
pub fn certificate_validity(cert_der: &[u8]) -> Result<(SystemTime, SystemTime), ValidityError> {
    let certificate =
        x509_cert::Certificate::from_der(cert_der).map_err(|e| ValidityError::Malformed(e.to_string()))?;
    let validity = certificate.tbs_certificate().validity();
    Ok((
        validity.not_before.to_system_time(),
        validity.not_after.to_system_time(),
    ))
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    #[test]
    fn reads_the_validity_rcgen_wrote() {
        // rcgen writes UTCTime for 2020 and GeneralizedTime for 2050 (RFC 5280 §4.1.2.5).
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(vec!["rtcpeer".into()]).unwrap();
        params.not_before = rcgen::date_time_ymd(2020, 1, 1);
        params.not_after = rcgen::date_time_ymd(2050, 1, 1);
        let cert = params.self_signed(&key).unwrap();
        let (not_before, not_after) = certificate_validity(cert.der()).unwrap();
        assert_eq!(not_before, UNIX_EPOCH + Duration::from_secs(1_577_836_800));
        assert_eq!(not_after, UNIX_EPOCH + Duration::from_secs(2_524_608_000));
    }

    #[test]
    fn rejects_what_is_not_a_certificate() {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["rtcpeer".into()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let der = cert.der();
        for bad in [
            &der[..der.len() - 1],
            &der[..10],
            &[0x30, 0x85, 1, 1, 1, 1, 1][..],
            &[0x02, 0][..],
            &[][..],
        ] {
            assert!(
                matches!(certificate_validity(bad), Err(ValidityError::Malformed(_))),
                "{bad:?}"
            );
        }
    }
}
