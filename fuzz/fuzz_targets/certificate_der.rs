//! Fuzzes what reads a certificate from outside: the DER walk to the validity period
//! (`dtls::certificate_validity`) and `Certificate::from_pem` on the same bytes as text. Neither
//! may panic (a validity that reads is two real calendar dates, so the times cannot overflow);
//! a PEM that loads saves to a PEM that loads back with the same fingerprint and expiry.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rtcpeer_proto::dtls::{certificate_validity, Certificate};

fuzz_target!(|data: &[u8]| {
    if let Ok((not_before, not_after)) = certificate_validity(data) {
        // Years are at most 9999, so both times are representable and can be compared.
        let _ = not_before.cmp(&not_after);
    }
    let text = String::from_utf8_lossy(data);
    if let Ok(cert) = Certificate::from_pem(&text) {
        let again = Certificate::from_pem(&cert.to_pem()).expect("our own PEM loads");
        assert_eq!(again.fingerprint(), cert.fingerprint());
        assert_eq!(again.expires(), cert.expires());
    }
});
