//! Fuzzes the ICE server URL parser and the iceServers validation: no input may panic them; a
//! URL that parses prints (Display) to a canonical URL that parses back equal; validation of
//! an entry agrees with the parser (SyntaxError exactly when a URL does not parse).
#![no_main]

use libfuzzer_sys::fuzz_target;
use rtcpeer_proto::ice::server::{validate_ice_servers, IceServer, IceServerUrl};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let parsed = IceServerUrl::parse(&text);
    if let Ok(url) = &parsed {
        let printed = url.to_string();
        assert_eq!(IceServerUrl::parse(&printed).as_ref(), Ok(url), "{printed:?} does not reparse");
        assert_eq!(IceServerUrl::parse(&printed).map(|u| u.to_string()), Ok(printed.clone()));
    }
    let server = IceServer {
        urls: vec![text.to_string()],
        username: Some("u".into()),
        credential: Some("c".into()),
    };
    match validate_ice_servers(&[server]) {
        Ok(valid) => assert_eq!(Some(&valid[0].urls[0]), parsed.as_ref().ok()),
        Err(e) => {
            assert!(parsed.is_err());
            assert_eq!(e.name(), "SyntaxError");
        }
    }
});
