//! Round trips and known byte layouts for every RTCP packet this crate decodes.

use super::*;
use crate::rtp::ntp::NtpTime;

fn round_trip(packet: RtcpPacket) -> Vec<u8> {
    let mut out = Vec::new();
    packet.write(&mut out).unwrap();
    assert_eq!(out.len() % 4, 0, "packets are padded to 32 bits");
    let parsed = RtcpPacket::parse_compound(&out).unwrap();
    assert_eq!(parsed, [packet]);
    out
}

fn block(ssrc: u32) -> ReportBlock {
    ReportBlock {
        ssrc,
        fraction_lost: 0x40,
        cumulative_lost: -3,
        extended_highest_seq: 0x0001_0005,
        jitter: 17,
        last_sr: 0x1234_5678,
        delay_since_last_sr: 0x0001_8000,
    }
}

#[test]
fn sender_report_matches_the_rfc_figure() {
    // RFC 3550 §6.4.1: header, sender info, one report block.
    let bytes: Vec<u8> = [
        &[0x81, 200, 0x00, 0x0C][..], // V=2 P=0 RC=1, PT=SR, length 12 words
        &[0x11, 0x22, 0x33, 0x44],    // SSRC of sender
        &[0xE0, 0x00, 0x00, 0x01],    // NTP seconds
        &[0x80, 0x00, 0x00, 0x00],    // NTP fraction (0.5 s)
        &[0x00, 0x00, 0x10, 0x00],    // RTP timestamp
        &[0x00, 0x00, 0x00, 0x64],    // packet count 100
        &[0x00, 0x00, 0x27, 0x10],    // octet count 10000
        &[0x55, 0x66, 0x77, 0x88],    // SSRC_1
        &[0x40, 0xFF, 0xFF, 0xFD],    // fraction 1/4, cumulative -3
        &[0x00, 0x01, 0x00, 0x05],    // extended highest seq
        &[0x00, 0x00, 0x00, 0x11],    // jitter
        &[0x12, 0x34, 0x56, 0x78],    // LSR
        &[0x00, 0x01, 0x80, 0x00],    // DLSR 1.5 s
    ]
    .concat();
    let expected = RtcpPacket::SenderReport(SenderReport {
        ssrc: 0x1122_3344,
        ntp_time: NtpTime::new(0xE000_0001, 0x8000_0000),
        rtp_time: 0x1000,
        packet_count: 100,
        octet_count: 10_000,
        reports: vec![block(0x5566_7788)],
    });
    assert_eq!(
        RtcpPacket::parse_compound(&bytes).unwrap(),
        std::slice::from_ref(&expected)
    );
    assert_eq!(round_trip(expected), bytes);
}

#[test]
fn receiver_report_matches_the_rfc_figure() {
    let bytes: Vec<u8> = [
        &[0x80, 201, 0x00, 0x01][..], // RC=0, length 1 word
        &[0xDE, 0xAD, 0xBE, 0xEF],
    ]
    .concat();
    let rr = RtcpPacket::ReceiverReport(ReceiverReport {
        ssrc: 0xDEADBEEF,
        reports: vec![],
    });
    assert_eq!(RtcpPacket::parse_compound(&bytes).unwrap(), std::slice::from_ref(&rr));
    assert_eq!(round_trip(rr), bytes);
    round_trip(RtcpPacket::ReceiverReport(ReceiverReport {
        ssrc: 1,
        reports: (0..31).map(block).collect(),
    }));
}

#[test]
fn cumulative_loss_is_clamped_to_24_bits() {
    let mut b = block(1);
    b.cumulative_lost = 10_000_000;
    let mut out = Vec::new();
    RtcpPacket::ReceiverReport(ReceiverReport {
        ssrc: 1,
        reports: vec![b],
    })
    .write(&mut out)
    .unwrap();
    let [RtcpPacket::ReceiverReport(rr)] = &RtcpPacket::parse_compound(&out).unwrap()[..] else {
        panic!()
    };
    assert_eq!(rr.reports[0].cumulative_lost, 0x7F_FFFF);
}

#[test]
fn compound_with_sdes_and_bye() {
    let packets = vec![
        RtcpPacket::ReceiverReport(ReceiverReport {
            ssrc: 7,
            reports: vec![block(9)],
        }),
        RtcpPacket::Sdes(Sdes::cname(7, "user@host-cname")),
        RtcpPacket::Bye(Bye {
            ssrcs: vec![7, 8],
            reason: Some("done".into()),
        }),
    ];
    let mut out = Vec::new();
    RtcpPacket::write_compound(&packets, &mut out).unwrap();
    let parsed = RtcpPacket::parse_compound(&out).unwrap();
    assert_eq!(parsed, packets);
    let RtcpPacket::Sdes(sdes) = &parsed[1] else { panic!() };
    assert_eq!(sdes.cname_of(7), Some("user@host-cname"));
    assert_eq!(sdes.cname_of(8), None);
}

#[test]
fn sdes_known_layout_and_multi_chunk_round_trip() {
    // One chunk: SSRC, CNAME "ab", end, padding to 32 bits.
    let bytes = [0x81, 202, 0x00, 0x03, 0, 0, 0, 5, 1, 2, b'a', b'b', 0, 0, 0, 0];
    assert_eq!(
        RtcpPacket::parse_compound(&bytes).unwrap(),
        [RtcpPacket::Sdes(Sdes::cname(5, "ab"))]
    );
    assert_eq!(round_trip(RtcpPacket::Sdes(Sdes::cname(5, "ab"))), bytes);
    round_trip(RtcpPacket::Sdes(Sdes {
        chunks: vec![
            SdesChunk {
                ssrc: 1,
                items: vec![
                    SdesItem {
                        kind: 1,
                        value: b"abc".to_vec(),
                    },
                    SdesItem { kind: 2, value: vec![] },
                ],
            },
            SdesChunk { ssrc: 2, items: vec![] },
        ],
    }));
    round_trip(RtcpPacket::Bye(Bye {
        ssrcs: vec![],
        reason: None,
    }));
    round_trip(RtcpPacket::Bye(Bye {
        ssrcs: vec![3],
        reason: Some(String::new()),
    }));
}

#[test]
fn nack_blp_bit_mapping() {
    // PID 100, BLP 0b1000_0000_0000_0101: 101, 103 and 116 are lost too.
    let bytes = [0x81, 205, 0x00, 0x03, 0, 0, 0, 1, 0, 0, 0, 2, 0x00, 0x64, 0x80, 0x05];
    let parsed = RtcpPacket::parse_compound(&bytes).unwrap();
    let [RtcpPacket::Nack(nack)] = &parsed[..] else {
        panic!("{parsed:?}")
    };
    assert_eq!(nack.lost().collect::<Vec<_>>(), [100, 101, 103, 116]);
    assert_eq!(Nack::from_lost(1, 2, [100, 101, 103, 116]), *nack);
    assert_eq!(round_trip(RtcpPacket::Nack(nack.clone())), bytes);
}

#[test]
fn nack_packing_wraps_and_splits() {
    let lost = [65534, 65535, 0, 1, 20, 21];
    let nack = Nack::from_lost(1, 2, lost);
    assert_eq!(
        nack.pairs,
        [NackPair { pid: 65534, blp: 0b111 }, NackPair { pid: 20, blp: 1 }]
    );
    assert_eq!(nack.lost().collect::<Vec<_>>(), lost);
    round_trip(RtcpPacket::Nack(nack));
}

#[test]
fn pli_fir_remb_round_trip() {
    let pli = [0x81, 206, 0x00, 0x02, 0, 0, 0, 1, 0, 0, 0, 2];
    assert_eq!(
        round_trip(RtcpPacket::Pli(Pli {
            sender_ssrc: 1,
            media_ssrc: 2
        })),
        pli
    );
    round_trip(RtcpPacket::Fir(Fir {
        sender_ssrc: 1,
        entries: vec![FirEntry { ssrc: 5, seq_nr: 9 }, FirEntry { ssrc: 6, seq_nr: 255 }],
    }));
    round_trip(RtcpPacket::Remb(Remb {
        sender_ssrc: 1,
        bitrate: 0x3_FFFF << 10,
        ssrcs: vec![10, 11],
    }));
    round_trip(RtcpPacket::Remb(Remb {
        sender_ssrc: 1,
        bitrate: 0,
        ssrcs: vec![],
    }));
}

#[test]
fn remb_known_layout_and_rounding() {
    // 1 SSRC, exponent 3, mantissa 125000: 1 Mbit/s.
    let fci = [b'R', b'E', b'M', b'B', 1, (3 << 2) | 0x01, 0xE8, 0x48, 0, 0, 0, 9];
    let bytes: Vec<u8> = [&[0x8F, 206, 0x00, 0x05][..], &[0, 0, 0, 1, 0, 0, 0, 0], &fci].concat();
    let remb = Remb {
        sender_ssrc: 1,
        bitrate: 1_000_000,
        ssrcs: vec![9],
    };
    assert_eq!(
        RtcpPacket::parse_compound(&bytes).unwrap(),
        [RtcpPacket::Remb(remb.clone())]
    );
    // The writer uses the smallest exponent: 2, with mantissa 250000.
    let written = round_trip(RtcpPacket::Remb(remb));
    assert_eq!(written[16..20], [1, (2 << 2) | 0x03, 0xD0, 0x90]);
    // 2^18 + 1 needs 19 significant bits: it is rounded down.
    let mut out = Vec::new();
    RtcpPacket::Remb(Remb {
        sender_ssrc: 1,
        bitrate: (1 << 18) + 1,
        ssrcs: vec![],
    })
    .write(&mut out)
    .unwrap();
    let [RtcpPacket::Remb(back)] = &RtcpPacket::parse_compound(&out).unwrap()[..] else {
        panic!()
    };
    assert_eq!(back.bitrate, 1 << 18);
}

#[test]
fn unknown_packets_are_kept() {
    let app = RtcpPacket::Unknown {
        pt: PT_APP,
        count: 3,
        body: b"\0\0\0\x01NAMEdata".to_vec(),
    };
    round_trip(app);
    // An AFB that is not REMB and an unknown RTPFB format.
    round_trip(RtcpPacket::Unknown {
        pt: PT_PSFB,
        count: 15,
        body: b"\0\0\0\x01\0\0\0\0ABCD".to_vec(),
    });
    round_trip(RtcpPacket::Unknown {
        pt: PT_RTPFB,
        count: 9,
        body: vec![1, 2, 3, 4, 5, 6, 7, 8],
    });
    // A body that is not a multiple of 4 is written with RTCP padding.
    let odd = RtcpPacket::Unknown {
        pt: 210,
        count: 0,
        body: vec![1, 2, 3, 4, 5],
    };
    let bytes = round_trip(odd);
    assert_eq!(bytes[0] & 0x20, 0x20);
    assert_eq!(*bytes.last().unwrap(), 3);
}

#[test]
fn twcc_chunk_encodings() {
    // From the draft's examples: a run of 221 "received, small delta" statuses...
    let run = [0x20, 0xDD];
    // ...a 1-bit status vector: not received, received, then 12 more alternating...
    let one_bit = [0x9F, 0x1C]; // 1 0 | 01 1111 0001 1100
                                // ...and a 2-bit vector: small, large, not received, small, ..., per two bits.
    let two_bit = [0xD8, 0x40]; // 1 1 | 01 10 00 01 00 00 00
    let mut body = vec![0, 0, 0, 1, 0, 0, 0, 2, 0x00, 0x0A, 0x00, 235, 0x00, 0x00, 0x05, 7];
    body.extend_from_slice(&run);
    body.extend_from_slice(&one_bit);
    body.extend_from_slice(&two_bit[..0]);
    // 235 statuses: 221 from the run, 14 from the vector; 221 + 9 received packets.
    let received = 221 + [0, 1, 1, 1, 1, 1, 0, 0, 0, 1, 1, 1, 0, 0].iter().sum::<usize>();
    body.extend(std::iter::repeat_n(4u8, received));
    while body.len() % 4 != 0 {
        body.push(0);
    }
    let mut bytes = vec![0x8F, 205];
    bytes.extend_from_slice(&((body.len() / 4) as u16).to_be_bytes());
    bytes.extend_from_slice(&body);
    let parsed = RtcpPacket::parse_compound(&bytes).unwrap();
    let [RtcpPacket::TransportCc(fb)] = &parsed[..] else {
        panic!("{parsed:?}")
    };
    assert_eq!(fb.base_seq, 10);
    assert_eq!(fb.reference_time, 5);
    assert_eq!(fb.fb_pkt_count, 7);
    assert_eq!(fb.statuses.len(), 235);
    assert!(fb.statuses[..221].iter().all(|s| *s == PacketStatus::SmallDelta(4)));
    assert_eq!(fb.statuses[221], PacketStatus::NotReceived);
    assert_eq!(fb.statuses[222], PacketStatus::SmallDelta(4));
    let arrivals: Vec<_> = fb.arrivals().collect();
    assert_eq!(arrivals[0], (10, Some(5 * 64_000 + 1000)));
    assert_eq!(arrivals[221], (231, None));
    round_trip(RtcpPacket::TransportCc(fb.clone()));

    // The 2-bit vector on its own.
    let mut body = vec![0, 0, 0, 1, 0, 0, 0, 2, 0xFF, 0xFF, 0x00, 4, 0xFF, 0xFF, 0xFF, 0];
    body.extend_from_slice(&two_bit);
    body.extend_from_slice(&[1, 0xFF, 0xFE, 2, 0, 0]); // small 1, large -2, small 2, zero padding
    let mut bytes = vec![0x8F, 205, 0, (body.len() / 4) as u8];
    bytes.extend_from_slice(&body);
    let parsed = RtcpPacket::parse_compound(&bytes).unwrap();
    let [RtcpPacket::TransportCc(fb)] = &parsed[..] else {
        panic!("{parsed:?}")
    };
    assert_eq!(
        fb.statuses,
        [
            PacketStatus::SmallDelta(1),
            PacketStatus::LargeDelta(-2),
            PacketStatus::NotReceived,
            PacketStatus::SmallDelta(2)
        ]
    );
    assert_eq!(fb.reference_time, 0xFF_FFFF);
    let seqs: Vec<_> = fb.arrivals().map(|(seq, _)| seq).collect();
    assert_eq!(seqs, [65535, 0, 1, 2]);
    round_trip(RtcpPacket::TransportCc(fb.clone()));
}

#[test]
fn twcc_writer_chooses_compact_chunks() {
    let packet = |statuses: Vec<PacketStatus>| {
        let fb = TransportCc {
            sender_ssrc: 1,
            media_ssrc: 2,
            base_seq: 0,
            reference_time: 0,
            fb_pkt_count: 0,
            statuses,
        };
        let bytes = round_trip(RtcpPacket::TransportCc(fb));
        bytes[20..22].to_vec()
    };
    // 100 small deltas: one run-length chunk.
    assert_eq!(packet(vec![PacketStatus::SmallDelta(1); 100]), [0x20, 100]);
    // Alternating received/lost: a 1-bit vector.
    let alternating = (0..14).map(|i| {
        if i % 2 == 0 {
            PacketStatus::SmallDelta(1)
        } else {
            PacketStatus::NotReceived
        }
    });
    assert_eq!(packet(alternating.collect()), [0xAA, 0xAA]);
    // A large delta among small ones: a 2-bit vector.
    let mixed = vec![
        PacketStatus::SmallDelta(1),
        PacketStatus::LargeDelta(-1),
        PacketStatus::SmallDelta(1),
    ];
    assert_eq!(packet([mixed.clone(), mixed].concat()), [0xD9, 0x64]);
    // A long mixed sequence survives the round trip.
    let long: Vec<_> = (0..3000)
        .map(|i| match i % 37 {
            0..=20 => PacketStatus::SmallDelta((i % 200) as u8),
            21..=25 => PacketStatus::NotReceived,
            _ => PacketStatus::LargeDelta(-(i as i16)),
        })
        .collect();
    packet(long);
}

#[test]
fn truncated_and_lying_packets_are_errors() {
    assert_eq!(RtcpPacket::parse_compound(&[]), Err(RtcpError::Empty));
    assert!(matches!(
        RtcpPacket::parse_compound(&[0x80, 200, 0]),
        Err(RtcpError::Truncated { .. })
    ));
    assert_eq!(
        RtcpPacket::parse_compound(&[0x40, 200, 0, 0]),
        Err(RtcpError::BadVersion(1))
    );
    // Length says 255 words.
    assert!(matches!(
        RtcpPacket::parse_compound(&[0x80, 201, 0, 0xFF, 0, 0, 0, 1]),
        Err(RtcpError::Truncated { .. })
    ));
    // RR claims 2 report blocks but carries none.
    assert!(matches!(
        RtcpPacket::parse_compound(&[0x82, 201, 0, 1, 0, 0, 0, 1]),
        Err(RtcpError::Truncated {
            what: "report blocks",
            ..
        })
    ));
    // SR without its sender info.
    assert!(matches!(
        RtcpPacket::parse_compound(&[0x80, 200, 0, 1, 0, 0, 0, 1]),
        Err(RtcpError::Truncated { .. })
    ));
    // Padding count larger than the packet, and zero.
    assert!(matches!(
        RtcpPacket::parse_compound(&[0xA0, 201, 0, 1, 0, 0, 0, 9]),
        Err(RtcpError::BadPadding(_))
    ));
    assert!(matches!(
        RtcpPacket::parse_compound(&[0xA0, 201, 0, 1, 0, 0, 0, 0]),
        Err(RtcpError::BadPadding(_))
    ));
    // SDES item running past the packet.
    assert!(matches!(
        RtcpPacket::parse_compound(&[0x81, 202, 0, 2, 0, 0, 0, 1, 1, 200, b'a', b'b']),
        Err(RtcpError::Truncated { .. })
    ));
    // NACK whose padding leaves half an entry.
    assert!(matches!(
        RtcpPacket::parse_compound(&[0xA1, 205, 0, 3, 0, 0, 0, 1, 0, 0, 0, 2, 0, 1, 0, 2]),
        Err(RtcpError::Invalid { pt: PT_RTPFB, .. })
    ));
    // TWCC claiming 1000 statuses with no chunks, and one with missing deltas.
    let twcc = |tail: &[u8]| {
        let mut bytes = vec![0x8F, 205, 0, 0, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0x03, 0xE8, 0, 0, 0, 0];
        bytes.extend_from_slice(tail);
        while bytes.len() % 4 != 0 {
            bytes.push(0);
        }
        let words = (bytes.len() / 4 - 1) as u16;
        bytes[2..4].copy_from_slice(&words.to_be_bytes());
        RtcpPacket::parse_compound(&bytes)
    };
    assert!(matches!(
        twcc(&[]),
        Err(RtcpError::Truncated {
            what: "TWCC packet chunk",
            ..
        })
    ));
    assert!(matches!(
        twcc(&[0x23, 0xE8, 1]),
        Err(RtcpError::Truncated {
            what: "TWCC receive delta",
            ..
        })
    ));
    assert!(matches!(twcc(&[0x63, 0xE8]), Err(RtcpError::Invalid { .. })));
    // Too many packets in one datagram.
    let many: Vec<u8> = std::iter::repeat_n([0x80, 201, 0, 1, 0, 0, 0, 1], 300)
        .flatten()
        .collect();
    assert_eq!(
        RtcpPacket::parse_compound(&many),
        Err(RtcpError::TooManyPackets(MAX_COMPOUND_PACKETS))
    );
}

#[test]
fn writing_rejects_what_does_not_fit() {
    let mut out = vec![9];
    let rr = RtcpPacket::ReceiverReport(ReceiverReport {
        ssrc: 1,
        reports: vec![block(1); 32],
    });
    assert!(matches!(rr.write(&mut out), Err(RtcpError::TooLarge { .. })));
    let sdes = RtcpPacket::Sdes(Sdes {
        chunks: vec![SdesChunk {
            ssrc: 1,
            items: vec![SdesItem {
                kind: 1,
                value: vec![0; 256],
            }],
        }],
    });
    assert!(matches!(sdes.write(&mut out), Err(RtcpError::TooLarge { .. })));
    let nack = RtcpPacket::Nack(Nack {
        sender_ssrc: 1,
        media_ssrc: 2,
        pairs: vec![NackPair { pid: 0, blp: 0 }; 70_000],
    });
    assert!(matches!(
        nack.write(&mut out),
        Err(RtcpError::TooLarge {
            what: "packet length",
            ..
        })
    ));
    assert_eq!(out, [9]);
}
