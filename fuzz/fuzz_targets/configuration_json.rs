//! Fuzzes the browsers' JSON forms the runtime reads: `RTCConfiguration::from_json` and
//! `SessionDescriptionInit::from_json`. No input may panic; an error is one of the names WebIDL
//! conversion throws (TypeError, InvalidAccessError, NotSupportedError); a configuration that
//! reads holds no certificate and no bind address (JSON cannot give them).
#![no_main]

use libfuzzer_sys::fuzz_target;
use rtcpeer::{RTCConfiguration, SessionDescriptionInit};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    match RTCConfiguration::from_json(&text) {
        Ok(config) => {
            assert!(config.certificates.is_empty(), "certificates cannot come from JSON");
            assert!(config.bind_addresses.is_empty());
        }
        Err(e) => assert!(
            matches!(e.name(), "TypeError" | "InvalidAccessError" | "NotSupportedError"),
            "{e}"
        ),
    }
    if let Err(e) = SessionDescriptionInit::from_json(&text) {
        assert_eq!(e.name(), "TypeError");
    }
});
