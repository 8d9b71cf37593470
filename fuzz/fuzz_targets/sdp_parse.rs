//! Fuzzes the SDP parser: no input may panic, and whatever parses must
//! serialize to text that parses back to an equal description.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rtcpeer_proto::sdp::SessionDescription;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(desc) = SessionDescription::parse(&text) {
        let written = desc.to_string();
        let again = SessionDescription::parse(&written).expect("serialized description must parse");
        assert_eq!(again, desc, "round trip changed the description");
    }
    // The byte entry point must not panic either (it reports non-UTF-8 lines).
    let _ = SessionDescription::parse_bytes(data);
});
