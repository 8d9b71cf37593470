//! Fuzzes the RTP parser: no datagram may panic it; a packet that parses must rebuild (with the
//! builder, from its parsed fields) into a packet that parses to the same header, extensions and
//! payload; typed extension decoding and RTX wrapping/unwrapping must hold up on anything parsed.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rtcpeer_proto::rtp::header_ext::ExtensionForm;
use rtcpeer_proto::rtp::{
    is_rtcp, unwrap_rtx, ExtensionKind, ExtensionMap, RtpBuilder, RtpError, RtpPacket, RtxSender,
};

fuzz_target!(|data: &[u8]| {
    let _ = is_rtcp(data);
    let Ok(packet) = RtpPacket::parse(data) else {
        return;
    };
    assert!(packet.header_len + packet.payload.len() + usize::from(packet.padding) == data.len());

    // Every known kind under ids 1..=7: decoding values must not panic.
    let mut map = ExtensionMap::new();
    for (id, kind) in (1..).zip(ExtensionKind::ALL) {
        map.insert(id, kind).expect("ids 1..=7 are valid");
    }
    let _ = map.read(&packet);

    let mut builder = RtpBuilder::new(
        packet.payload_type,
        packet.sequence_number,
        packet.timestamp,
        packet.ssrc,
    );
    builder.marker = packet.marker;
    builder.padding = packet.padding;
    builder.csrcs = packet.csrcs().collect();
    let known_form = packet.extension.is_some_and(|e| e.form() != ExtensionForm::Other);
    for element in packet.extensions() {
        builder.extension(element.id, element.data);
    }
    let mut out = Vec::new();
    match builder.write(packet.payload, &mut out) {
        Ok(_) => {
            let again = RtpPacket::parse(&out).expect("a built packet must parse");
            assert_eq!(again.marker, packet.marker);
            assert_eq!(again.payload_type, packet.payload_type);
            assert_eq!(again.sequence_number, packet.sequence_number);
            assert_eq!(again.timestamp, packet.timestamp);
            assert_eq!(again.ssrc, packet.ssrc);
            assert!(again.csrcs().eq(packet.csrcs()));
            assert_eq!(again.payload, packet.payload);
            assert_eq!(again.padding, packet.padding);
            assert!(again.extensions().eq(packet.extensions()), "extension elements changed");
            // Elements of a known form are written back; an opaque block is not.
            assert_eq!(again.extension.is_some(), known_form && packet.extensions().next().is_some());
        }
        // The only thing a parsed packet can hold that the writer refuses is a repeated id.
        Err(RtpError::DuplicateExtension(_)) => {}
        Err(e) => panic!("rebuilding a parsed packet failed: {e}"),
    }

    // RTX: wrapping then unwrapping restores sequence number and payload.
    let mut rtx = RtxSender::new(97, 0x5555_5555, 1);
    let mut wrapped = Vec::new();
    rtx.wrap(data, &mut wrapped).expect("a parsed packet must wrap");
    let mut restored = Vec::new();
    let osn = unwrap_rtx(&wrapped, packet.payload_type, packet.ssrc, &mut restored)
        .expect("a wrapped packet must unwrap");
    assert_eq!(osn, packet.sequence_number);
    let restored = RtpPacket::parse(&restored).expect("an unwrapped packet must parse");
    assert_eq!(restored.payload, packet.payload);
    assert_eq!(restored.ssrc, packet.ssrc);
});
