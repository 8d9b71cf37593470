//! Fuzzes the media file readers (`rtcpeer::media_file`): the first byte picks IVF, Ogg Opus or
//! H.264 Annex B, the rest is the file. No input may panic a reader; whatever a reader accepts,
//! our writer writes back to a file that reads back the same (IVF frames, Opus packets, H.264
//! access units); the generic `MediaFileReader` never panics and its timestamps never go back.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rtcpeer::media_file::opus::opus_packet_samples;
use rtcpeer::media_file::{
    AnnexBReader, AnnexBWriter, IvfReader, IvfWriter, MediaFileReader, OggOpusReader, OggOpusWriter,
};

/// Most records read per input, to keep each run short.
const MAX_RECORDS: usize = 256;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, file)) = data.split_first() else {
        return;
    };
    match selector % 3 {
        0 => ivf(file),
        1 => ogg_opus(file),
        _ => annex_b(file),
    }
});

fn ivf(file: &[u8]) {
    let Ok(mut reader) = IvfReader::new(file) else {
        return;
    };
    let header = *reader.header();
    let mut frames = Vec::new();
    while let Ok(Some(frame)) = reader.next_frame() {
        frames.push(frame);
        if frames.len() == MAX_RECORDS {
            break;
        }
    }
    let mut writer = IvfWriter::new(
        std::io::Cursor::new(Vec::new()),
        header.fourcc,
        header.width,
        header.height,
        header.timebase_numerator,
        header.timebase_denominator,
    )
    .expect("a header that was read can be written");
    for frame in &frames {
        writer.write_frame(frame.pts, &frame.data).expect("write frame");
    }
    let bytes = writer.finish().expect("finish").into_inner();
    let mut again = IvfReader::new(bytes.as_slice()).expect("own header reads back");
    assert_eq!(again.header().frame_count as usize, frames.len());
    for frame in &frames {
        assert_eq!(again.next_frame().expect("own frame reads back").as_ref(), Some(frame));
    }
    assert!(again.next_frame().expect("clean end").is_none());
    paced(MediaFileReader::ivf(file));
}

fn ogg_opus(file: &[u8]) {
    let Ok(mut reader) = OggOpusReader::new(file) else {
        return;
    };
    let head = reader.head().clone();
    let mut packets = Vec::new();
    while let Ok(Some(packet)) = reader.next_packet() {
        packets.push(packet.data);
        if packets.len() == MAX_RECORDS {
            break;
        }
    }
    let Ok(mut writer) = OggOpusWriter::with_head(Vec::new(), head.clone(), 1) else {
        return;
    };
    let mut written = Vec::new();
    for packet in packets {
        if let Some(samples) = opus_packet_samples(&packet) {
            writer.write_packet(&packet, samples).expect("write packet");
            written.push(packet);
        }
    }
    let bytes = writer.finish().expect("finish");
    let mut again = OggOpusReader::new(bytes.as_slice()).expect("own headers read back");
    assert_eq!(again.head(), &head);
    for packet in &written {
        assert_eq!(
            again
                .next_packet()
                .expect("own packet reads back")
                .map(|p| p.data)
                .as_ref(),
            Some(packet)
        );
    }
    assert!(again.next_packet().expect("clean end").is_none());
    paced(MediaFileReader::ogg_opus(file));
}

fn annex_b(file: &[u8]) {
    let mut reader = AnnexBReader::new(file);
    let mut units = Vec::new();
    while let Ok(Some(au)) = reader.next_access_unit() {
        units.push(au);
        if units.len() == MAX_RECORDS {
            break;
        }
    }
    let mut writer = AnnexBWriter::new(Vec::new());
    // NAL units holding `00 00 02` are read but refused by the writer: compare only when all write.
    if units.iter().all(|au| writer.write_access_unit(au).is_ok()) {
        let bytes = writer.into_inner().expect("into_inner");
        let mut again = AnnexBReader::new(bytes.as_slice());
        for au in &units {
            assert_eq!(
                again.next_access_unit().expect("own stream reads back").as_ref(),
                Some(au)
            );
        }
        if units.len() < MAX_RECORDS {
            assert!(again.next_access_unit().expect("clean end").is_none());
        }
    }
    paced(Ok(MediaFileReader::h264(file, 30)));
}

/// Reads frames from the generic reader: no panic, and timestamps never decrease for Opus and H.264.
fn paced<R: std::io::Read>(reader: Result<MediaFileReader<R>, rtcpeer::media_file::MediaFileError>) {
    let Ok(mut reader) = reader else {
        return;
    };
    let monotonic = !matches!(
        reader.codec(),
        rtcpeer::media_file::MediaCodec::Vp8
            | rtcpeer::media_file::MediaCodec::Vp9
            | rtcpeer::media_file::MediaCodec::Av1
    );
    let mut last = std::time::Duration::ZERO;
    for _ in 0..MAX_RECORDS {
        let Ok(Some(frame)) = reader.next_frame() else {
            return;
        };
        if monotonic {
            assert!(frame.timestamp >= last);
        }
        last = frame.timestamp;
    }
}
