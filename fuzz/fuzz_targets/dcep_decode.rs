//! Fuzzes the DCEP decoder (RFC 8832): no message may panic it, and a decoded
//! message must encode to bytes that decode to the same message. An encoded
//! OPEN is canonical: encoding its decoding gives the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rtcpeer_proto::datachannel::dcep::DcepMessage;

fuzz_target!(|data: &[u8]| {
    let Ok(message) = DcepMessage::decode(data) else {
        return;
    };
    // Label and protocol came from 16-bit length fields, so they always fit again.
    let encoded = message.encode().expect("a decoded message must encode");
    let again = DcepMessage::decode(&encoded).expect("an encoded message must decode");
    assert_eq!(again, message, "round trip changed the message");
    assert_eq!(
        again.encode().expect("encode again"),
        encoded,
        "encoding is not canonical"
    );
    // Trailing bytes are ignored on decoding, so the encoding is never longer than the input.
    assert!(encoded.len() <= data.len(), "encoding grew the message");
});
