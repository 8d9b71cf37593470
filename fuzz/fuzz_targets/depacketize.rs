//! Fuzzes the codec depacketizers, packetizers and the jitter buffer. The first byte selects
//! the codec (and a maximum payload size); the rest is a list of length-prefixed payloads.
//!
//! - No payload list may panic a depacketizer, and a rebuilt frame is never empty.
//! - The same bytes taken as one encoded frame either fail to packetize with a typed error, or
//!   packetize into payloads within the size limit, with one marker on the last (video), that
//!   depacketize back to the frame (byte for byte for VP8, VP9 and audio; as the same NAL units
//!   for H.264).
//! - The payloads fed to a small jitter buffer (the first four bytes of each giving sequence
//!   number, timestamp, marker and time step) never push it past its limits, and no frame
//!   it emits spans more packets than it may hold.
#![no_main]

use std::time::{Duration, Instant};

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use rtcpeer_proto::media::codec::{h264, Codec};
use rtcpeer_proto::media::jitter::{JitterBuffer, JitterConfig};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let codec = Codec::ALL[usize::from(selector) % Codec::ALL.len()];
    let max_payload = 3 + usize::from(selector >> 3) * 40;

    let mut payloads = Vec::new();
    let mut cursor = rest;
    while let Some((&len, tail)) = cursor.split_first() {
        let n = usize::from(len).min(tail.len());
        payloads.push(Bytes::copy_from_slice(&tail[..n]));
        cursor = &tail[n..];
    }

    // Depacketizing arbitrary payloads, all together and one by one.
    let depacketizer = codec.depacketizer();
    for payload in &payloads {
        let _ = depacketizer.is_frame_start(payload);
        if let Ok(frame) = depacketizer.depacketize(std::slice::from_ref(payload)) {
            assert!(!frame.data.is_empty());
        }
    }
    if let Ok(frame) = depacketizer.depacketize(&payloads) {
        assert!(!frame.data.is_empty());
    }

    // Packetizing the input as a frame, and back.
    let mut packetizer = codec.packetizer();
    if let Ok(out) = packetizer.packetize(rest, 1234, max_payload) {
        assert!(!out.is_empty());
        assert!(out.iter().all(|p| p.data.len() <= max_payload && p.timestamp == 1234));
        if !codec.is_audio() {
            assert!(out.iter().rev().skip(1).all(|p| !p.marker) && out.last().is_some_and(|p| p.marker));
        }
        let sent: Vec<Bytes> = out.into_iter().map(|p| p.data).collect();
        let frame = depacketizer
            .depacketize(&sent)
            .expect("our own payloads must depacketize");
        match codec {
            Codec::H264 => assert_eq!(h264::split_annex_b(&frame.data), h264::split_annex_b(rest)),
            Codec::Av1 => {}
            _ => assert_eq!(&frame.data[..], rest),
        }
    }

    // The jitter buffer under arbitrary packets.
    let config = JitterConfig {
        max_wait: Duration::from_millis(50),
        max_packets: 32,
        max_buffered_bytes: 4096,
        max_frame_bytes: 2048,
    };
    let mut buffer = JitterBuffer::with_config(codec, config);
    let mut now = Instant::now();
    for payload in &payloads {
        let [s0, s1, ts, flags, ..] = payload[..] else {
            continue;
        };
        now += Duration::from_millis(u64::from(flags >> 1));
        buffer.insert(
            u16::from_be_bytes([s0, s1]),
            u32::from(ts),
            flags & 1 == 1,
            payload.slice(4..),
            now,
        );
        assert!(buffer.len() <= config.max_packets);
        assert!(buffer.buffered_bytes() <= config.max_buffered_bytes);
        while let Some(frame) = buffer.poll_frame(now) {
            assert!(!frame.data.is_empty());
            let span = usize::from(frame.last_seq.wrapping_sub(frame.first_seq)) + 1;
            assert!(
                span <= config.max_packets,
                "a frame of {span} packets from a buffer of {}",
                config.max_packets
            );
        }
    }
});
