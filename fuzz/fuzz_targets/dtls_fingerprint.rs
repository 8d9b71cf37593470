//! Fuzzes `a=fingerprint` parsing: no text may panic it; a fingerprint that
//! parses prints (Display) to a value that parses back equal, in the canonical
//! form (lower-case hash name, upper-case hex bytes); and the byte count
//! always matches the hash algorithm.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rtcpeer_proto::dtls::Fingerprint;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let Ok(fingerprint) = Fingerprint::parse_attribute(&text) else {
        return;
    };
    assert_eq!(
        fingerprint.bytes.len(),
        fingerprint.algorithm.output_len(),
        "wrong digest length accepted"
    );
    let printed = fingerprint.to_string();
    let again = Fingerprint::parse_attribute(&printed).expect("a printed fingerprint must parse");
    assert_eq!(again, fingerprint, "round trip changed the fingerprint");
    assert_eq!(again.to_string(), printed, "printing is not canonical");
    assert_eq!(
        printed.len(),
        fingerprint.algorithm_name().len() + 1 + fingerprint.bytes.len() * 3 - 1
    );
    // Parsing is case-insensitive: the lower-case form is the same fingerprint.
    assert_eq!(
        Fingerprint::parse_attribute(&printed.to_ascii_lowercase()).as_ref(),
        Ok(&fingerprint)
    );
});
