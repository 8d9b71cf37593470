//! Codec payload formats: one module per codec, each with a packetizer (frame → RTP payloads)
//! and a depacketizer (payloads of one frame → frame).
//!
//! [`Codec`] names a codec and builds its [`Packetizer`] and [`Depacketizer`]; the per-codec
//! types can also be used directly when their options matter (for example the first VP8
//! picture id).

pub mod av1;
mod error;
pub mod h264;
pub mod opus;
pub mod plain;
pub mod vp8;
pub mod vp9;

use bytes::{BufMut, Bytes, BytesMut};

pub use error::{DepacketizeError, PacketizeError};

pub use crate::jsep::Codec;

impl Codec {
    /// Every codec that carries frames (all but RTX), in a fixed order (handy for tests and fuzzing).
    pub const ALL: [Codec; 8] = [
        Codec::Opus,
        Codec::Pcmu,
        Codec::Pcma,
        Codec::G722,
        Codec::Vp8,
        Codec::Vp9,
        Codec::H264,
        Codec::Av1,
    ];

    /// The RTP clock rate (G.722 uses 8000 although it samples at 16 kHz, RFC 3551 4.5.2);
    /// `None` for RTX, which runs at its primary's rate.
    pub fn clock_rate(self) -> Option<u32> {
        match self {
            Codec::Opus => Some(48_000),
            Codec::Pcmu | Codec::Pcma | Codec::G722 => Some(8_000),
            Codec::Vp8 | Codec::Vp9 | Codec::H264 | Codec::Av1 => Some(90_000),
            Codec::Rtx => None,
        }
    }

    /// Whether this is an audio codec: one payload per frame, every frame decodable on its own.
    pub fn is_audio(self) -> bool {
        self.media_type() == Some(crate::jsep::MediaType::Audio)
    }

    /// A packetizer for this codec with default options. RTX carries no frames of its own:
    /// its packetizer refuses every frame.
    pub fn packetizer(self) -> Box<dyn Packetizer + Send> {
        match self {
            Codec::Opus => Box::new(opus::OpusPacketizer),
            Codec::Pcmu | Codec::Pcma | Codec::G722 => Box::new(plain::PlainPacketizer),
            Codec::Vp8 => Box::new(vp8::Vp8Packetizer::default()),
            Codec::Vp9 => Box::new(vp9::Vp9Packetizer::default()),
            Codec::H264 => Box::new(h264::H264Packetizer),
            Codec::Av1 => Box::new(av1::Av1Packetizer),
            Codec::Rtx => Box::new(NoFrames),
        }
    }

    /// A depacketizer for this codec (for RTX, one that refuses every payload: RTX packets are
    /// unwrapped to the packets they repair before they reach a depacketizer).
    pub fn depacketizer(self) -> Box<dyn Depacketizer + Send> {
        match self {
            Codec::Opus => Box::new(opus::OpusDepacketizer),
            Codec::Pcmu | Codec::Pcma | Codec::G722 => Box::new(plain::PlainDepacketizer),
            Codec::Vp8 => Box::new(vp8::Vp8Depacketizer),
            Codec::Vp9 => Box::new(vp9::Vp9Depacketizer),
            Codec::H264 => Box::new(h264::H264Depacketizer),
            Codec::Av1 => Box::new(av1::Av1Depacketizer),
            Codec::Rtx => Box::new(NoFrames),
        }
    }
}

/// The payload format of RTX, which has no frames of its own.
struct NoFrames;

impl Packetizer for NoFrames {
    fn packetize(&mut self, _: &[u8], _: u32, _: usize) -> Result<Vec<Payload>, PacketizeError> {
        Err(PacketizeError::NoFrames)
    }
}

impl Depacketizer for NoFrames {
    fn is_frame_start(&self, _: &[u8]) -> bool {
        false
    }

    fn depacketize(&self, _: &[Bytes]) -> Result<Depacketized, DepacketizeError> {
        Err(DepacketizeError::NoFrames)
    }
}

/// One RTP payload produced by a [`Packetizer`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payload {
    /// The RTP timestamp of the frame this payload belongs to.
    pub timestamp: u32,
    /// The payload bytes (everything after the RTP header).
    pub data: Bytes,
    /// Whether the RTP marker bit is set on this payload's packet.
    pub marker: bool,
}

/// Turns encoded frames into RTP payloads.
pub trait Packetizer {
    /// Splits `frame` (taken at RTP `timestamp`) into payloads of at most `max_payload` bytes.
    ///
    /// For video the last payload carries the marker bit; audio payloads never do (the
    /// talkspurt marker is the sender's business).
    fn packetize(&mut self, frame: &[u8], timestamp: u32, max_payload: usize) -> Result<Vec<Payload>, PacketizeError>;
}

/// A frame rebuilt from its RTP payloads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Depacketized {
    /// The frame as the decoder wants it (H.264 as Annex B, AV1 as a low-overhead OBU stream).
    pub data: Bytes,
    /// Whether the frame can be decoded without any earlier frame.
    pub keyframe: bool,
}

/// Turns the RTP payloads of one frame back into the frame.
pub trait Depacketizer {
    /// Whether `payload` looks like the first payload of a frame, by the codec's own start
    /// flags. Codecs without such a flag answer `true` when the payload *may* start a frame.
    fn is_frame_start(&self, payload: &[u8]) -> bool;

    /// Rebuilds one frame from its payloads, in sequence order, the last one being the one with
    /// the marker bit.
    fn depacketize(&self, payloads: &[Bytes]) -> Result<Depacketized, DepacketizeError>;
}

/// Checks the `max_payload` a packetizer was given against the smallest it can work with.
fn check_max_payload(max_payload: usize, minimum: usize) -> Result<(), PacketizeError> {
    if max_payload < minimum {
        return Err(PacketizeError::MaxPayloadTooSmall { max_payload, minimum });
    }
    Ok(())
}

/// Packs a frame of a codec that sends one frame per payload.
fn single_payload(frame: &[u8], timestamp: u32, max_payload: usize) -> Result<Vec<Payload>, PacketizeError> {
    if frame.is_empty() {
        return Err(PacketizeError::EmptyFrame);
    }
    if frame.len() > max_payload {
        return Err(PacketizeError::FrameTooLarge {
            len: frame.len(),
            max_payload,
        });
    }
    Ok(vec![Payload {
        timestamp,
        data: Bytes::copy_from_slice(frame),
        marker: false,
    }])
}

/// Unpacks a frame of a codec that sends one frame per payload.
fn single_frame(payloads: &[Bytes]) -> Result<Bytes, DepacketizeError> {
    match payloads {
        [] => Err(DepacketizeError::NoPayloads),
        [one] if one.is_empty() => Err(DepacketizeError::EmptyPayload),
        [one] => Ok(one.clone()),
        more => Err(DepacketizeError::OnePayloadPerFrame(more.len())),
    }
}

/// The payloads of one video frame, in order: the last one carries the marker bit.
fn marked_payloads(timestamp: u32, payloads: Vec<Bytes>) -> Vec<Payload> {
    let count = payloads.len();
    payloads
        .into_iter()
        .enumerate()
        .map(|(i, data)| Payload {
            timestamp,
            data,
            marker: i + 1 == count,
        })
        .collect()
}

/// Splits `body` as evenly as possible into pieces that fit in `max_payload` bytes behind a
/// `header_len`-byte header, which `header(data, first, last)` writes in front of each piece.
///
/// `max_payload` must exceed `header_len`.
fn split_behind_header(
    body: &[u8],
    max_payload: usize,
    header_len: usize,
    header: impl Fn(&mut BytesMut, bool, bool),
) -> Vec<Bytes> {
    let chunks: Vec<_> = even_chunks(body.len(), max_payload - header_len).collect();
    let count = chunks.len();
    chunks
        .into_iter()
        .enumerate()
        .map(|(i, range)| {
            let mut data = BytesMut::with_capacity(header_len + range.len());
            header(&mut data, i == 0, i + 1 == count);
            data.put_slice(&body[range]);
            data.freeze()
        })
        .collect()
}

/// 15-bit picture ids, one per frame, counting up and wrapping (the VP8 and VP9 descriptors'
/// picture id as we send it).
#[derive(Debug, Clone, Copy, Default)]
struct PictureIds {
    next: u16,
}

impl PictureIds {
    /// Ids from `first` (taken modulo 2^15).
    fn starting_at(first: u16) -> Self {
        Self { next: first & 0x7fff }
    }

    /// The id the next frame will get.
    fn peek(self) -> u16 {
        self.next
    }

    /// The next frame's id.
    fn take(&mut self) -> u16 {
        let id = self.next;
        self.next = (id + 1) & 0x7fff;
        id
    }
}

/// Checks that a later payload of a frame belongs to the first payload's picture, when both carry
/// a picture id.
fn same_picture(first: Option<u16>, found: Option<u16>) -> Result<(), DepacketizeError> {
    match (first, found) {
        (Some(first), Some(found)) if first != found => Err(DepacketizeError::PictureIdMismatch { first, found }),
        _ => Ok(()),
    }
}

/// Splits `len` bytes into the fewest chunks of at most `max` bytes, as evenly as possible
/// (so the last packet of a frame is not a tiny leftover).
fn even_chunks(len: usize, max: usize) -> impl Iterator<Item = std::ops::Range<usize>> {
    let max = max.max(1);
    let count = len.div_ceil(max).max(1);
    let base = len / count;
    let extra = len % count;
    (0..count).scan(0usize, move |start, i| {
        let size = base + usize::from(i < extra);
        let range = *start..*start + size;
        *start += size;
        Some(range)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn even_chunks_cover_everything_within_the_limit() {
        for (len, max) in [(1, 10), (10, 10), (11, 10), (2500, 1196), (0, 5)] {
            let chunks: Vec<_> = even_chunks(len, max).collect();
            assert_eq!(chunks.first().map(|r| r.start), Some(0));
            assert_eq!(chunks.last().map(|r| r.end), Some(len));
            assert!(chunks.windows(2).all(|w| w[0].end == w[1].start));
            assert!(chunks.iter().all(|r| r.len() <= max));
            assert_eq!(chunks.len(), len.div_ceil(max).max(1));
        }
    }

    /// A small deterministic generator for the tests below.
    fn xorshift(seed: u64) -> impl FnMut() -> u64 {
        let mut state = seed | 1;
        move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        }
    }

    #[test]
    fn mangled_payloads_never_panic_a_depacketizer() {
        let mut next = xorshift(0x5eed);
        for codec in Codec::ALL {
            let depacketizer = codec.depacketizer();
            let mut packetizer = codec.packetizer();
            // A valid-looking frame for each codec, so mangling starts from real payloads.
            let frame: Vec<u8> = match codec {
                Codec::H264 => [&[0, 0, 0, 1, 0x67, 1][..], &[0, 0, 0, 1, 0x65], &[7; 3000]].concat(),
                Codec::Av1 => [&[0x0a, 0x02, 0, 0][..], &[0x32, 0x88, 0x17], &[0x10; 3000]].concat(),
                Codec::Vp9 => [&[0x80][..], &[5; 3000]].concat(),
                _ => vec![0xf8; 100],
            };
            let valid: Vec<Bytes> = packetizer
                .packetize(&frame, 0, 1000)
                .unwrap()
                .into_iter()
                .map(|p| p.data)
                .collect();
            assert!(depacketizer.depacketize(&valid).is_ok(), "{codec:?}");
            for _ in 0..3000 {
                let mut payloads = valid.clone();
                let r = next();
                match r % 4 {
                    // Flip a few bits.
                    0 | 1 => {
                        for _ in 0..1 + r % 3 {
                            let p = (next() as usize) % payloads.len();
                            let mut bytes = payloads[p].to_vec();
                            let at = (next() as usize) % bytes.len();
                            bytes[at] ^= 1 << (next() % 8);
                            payloads[p] = Bytes::from(bytes);
                        }
                    }
                    // Cut a payload short.
                    2 => {
                        let p = (next() as usize) % payloads.len();
                        let cut = (next() as usize) % (payloads[p].len() + 1);
                        payloads[p].truncate(cut);
                    }
                    // Random bytes.
                    _ => {
                        payloads = (0..1 + r % 3)
                            .map(|_| (0..next() % 40).map(|_| next() as u8).collect::<Vec<u8>>().into())
                            .collect();
                    }
                }
                let _ = depacketizer.is_frame_start(&payloads[0]);
                if let Ok(out) = depacketizer.depacketize(&payloads) {
                    assert!(!out.data.is_empty(), "{codec:?}");
                }
            }
        }
    }

    #[test]
    fn codecs_are_found_by_their_sdp_names() {
        for codec in Codec::ALL {
            assert_eq!(Codec::from_encoding_name(codec.encoding_name()), Some(codec));
        }
        assert_eq!(Codec::from_encoding_name("OPUS"), Some(Codec::Opus));
        assert_eq!(Codec::from_encoding_name("h264"), Some(Codec::H264));
        assert_eq!(Codec::from_encoding_name("H265"), None);
        assert_eq!(Codec::Opus.clock_rate(), Some(48_000));
        assert_eq!(Codec::G722.clock_rate(), Some(8_000));
        assert_eq!(Codec::Av1.clock_rate(), Some(90_000));
        assert_eq!(Codec::Rtx.clock_rate(), None);
    }

    #[test]
    fn audio_codecs_are_audio() {
        let audio: Vec<_> = Codec::ALL.into_iter().filter(|c| c.is_audio()).collect();
        assert_eq!(audio, [Codec::Opus, Codec::Pcmu, Codec::Pcma, Codec::G722]);
    }
}
