//! Fuzzes the ICE candidate grammar: no input may panic, and whatever parses
//! must print to a candidate line that parses back to an equal candidate.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rtcpeer_proto::ice::Candidate;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(candidate) = Candidate::parse(&text) {
        let again = Candidate::parse(&candidate.to_string()).expect("printed candidate must parse");
        assert_eq!(again, candidate, "round trip changed the candidate");
    }
});
