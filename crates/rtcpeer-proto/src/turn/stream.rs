//! Framing of STUN and ChannelData messages on a TCP or TLS connection to a TURN server
//! (RFC 8656 §12.5: over a stream, ChannelData is padded to a multiple of four bytes).
//!
//! The first byte of a frame tells which it is: 0..=0x3F a STUN message (its length is in
//! bytes 2..4, plus the 20-byte header), 0x40..=0x4F a ChannelData message (4-byte header,
//! length in bytes 2..4, padded). Anything else means the stream lost sync; the decoder then
//! refuses every further byte and the connection must be closed.

use crate::stun::{HEADER_LEN, MAGIC_COOKIE};

use super::channel_data::{padded, CHANNEL_DATA_HEADER_LEN};
use super::error::TurnError;

/// The longest frame: a STUN message with a 65535-byte body is longer than any padded ChannelData.
pub const MAX_FRAME_LEN: usize = HEADER_LEN + u16::MAX as usize;
/// The default limit of buffered, not yet framed bytes.
pub const DEFAULT_MAX_BUFFERED: usize = 4 * MAX_FRAME_LEN;

/// One complete frame cut from the stream, borrowed from the decoder's buffer until the next
/// call to the decoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame<'a> {
    /// A whole STUN message, ready for [`crate::stun::Message::decode`].
    Stun(&'a [u8]),
    /// A whole ChannelData message including its padding, ready for
    /// [`ChannelData::decode`](super::ChannelData::decode).
    ChannelData(&'a [u8]),
}

impl<'a> Frame<'a> {
    /// The frame's bytes.
    pub fn bytes(&self) -> &'a [u8] {
        match self {
            Frame::Stun(b) | Frame::ChannelData(b) => b,
        }
    }
}

/// Splits a byte stream into [`Frame`]s. Push what the socket delivered with
/// [`StreamDecoder::push`], then take frames with [`StreamDecoder::next_frame`] until it returns
/// `Ok(None)`. Holds at most `max_buffered` bytes.
#[derive(Debug)]
pub struct StreamDecoder {
    buffer: Vec<u8>,
    start: usize,
    max_buffered: usize,
    broken: Option<TurnError>,
}

impl Default for StreamDecoder {
    fn default() -> Self {
        StreamDecoder::new(DEFAULT_MAX_BUFFERED)
    }
}

impl StreamDecoder {
    /// A decoder that buffers at most `max_buffered` bytes (raised to [`MAX_FRAME_LEN`] if lower,
    /// so that every valid frame fits).
    pub fn new(max_buffered: usize) -> Self {
        StreamDecoder {
            buffer: Vec::new(),
            start: 0,
            max_buffered: max_buffered.max(MAX_FRAME_LEN),
            broken: None,
        }
    }

    /// How many received bytes are not yet part of a returned frame.
    pub fn buffered(&self) -> usize {
        self.buffer.len() - self.start
    }

    /// Appends bytes read from the stream. Fails if the buffer would exceed its limit (the caller
    /// did not take frames) or the stream already lost sync.
    pub fn push(&mut self, bytes: &[u8]) -> Result<(), TurnError> {
        if let Some(e) = &self.broken {
            return Err(e.clone());
        }
        if self.buffered() + bytes.len() > self.max_buffered {
            return Err(TurnError::StreamBufferFull(self.max_buffered));
        }
        if self.start > 0 {
            self.buffer.drain(..self.start);
            self.start = 0;
        }
        self.buffer.extend_from_slice(bytes);
        Ok(())
    }

    /// The next complete frame, `Ok(None)` if more bytes are needed, or an error if the stream
    /// does not carry STUN/ChannelData framing (after which the decoder stays broken).
    pub fn next_frame(&mut self) -> Result<Option<Frame<'_>>, TurnError> {
        if let Some(e) = &self.broken {
            return Err(e.clone());
        }
        let begin = self.start;
        let pending = self.buffer.get(begin..).unwrap_or_default();
        let Some([first, _, l0, l1]) = pending.get(..4).and_then(|h| <[u8; 4]>::try_from(h).ok()) else {
            return Ok(None);
        };
        let declared = usize::from(u16::from_be_bytes([l0, l1]));
        let (len, stun) = match first {
            0x00..=0x3F => {
                if declared % 4 != 0 {
                    return Err(self.break_with(TurnError::StreamUnaligned(declared)));
                }
                if pending
                    .get(4..8)
                    .is_some_and(|cookie| cookie != MAGIC_COOKIE.to_be_bytes())
                {
                    return Err(self.break_with(TurnError::StreamNotStun));
                }
                (HEADER_LEN + declared, true)
            }
            0x40..=0x4F => (CHANNEL_DATA_HEADER_LEN + padded(declared), false),
            other => return Err(self.break_with(TurnError::StreamBadByte(other))),
        };
        // Borrowed afresh: the error paths above needed `self` mutably.
        let Some(frame) = self.buffer.get(begin..begin + len) else {
            return Ok(None);
        };
        // The consumed bytes leave the buffer on the next push.
        self.start += len;
        Ok(Some(if stun {
            Frame::Stun(frame)
        } else {
            Frame::ChannelData(frame)
        }))
    }

    fn break_with(&mut self, error: TurnError) -> TurnError {
        tracing::debug!(%error, "TURN stream lost sync");
        self.broken = Some(error.clone());
        self.buffer = Vec::new();
        self.start = 0;
        error
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stun::{Attribute, Class, Message, Method, TransactionId};
    use crate::turn::channel_data::{encode, ChannelData};

    fn stun_message(n: u8) -> Vec<u8> {
        Message::new(Class::Indication, Method::DATA, TransactionId::new([n; 12]))
            .with(Attribute::Data(vec![n; usize::from(n)]))
            .encode()
            .unwrap()
    }

    /// A frame owned: whether it is STUN, and its bytes.
    type Owned = (bool, Vec<u8>);

    fn owned(frame: Frame<'_>) -> Owned {
        (matches!(frame, Frame::Stun(_)), frame.bytes().to_vec())
    }

    fn stream() -> (Vec<u8>, Vec<Owned>) {
        let frames = vec![
            (true, stun_message(3)),
            (false, encode(0x4000, b"hello", true).unwrap()),
            (false, encode(0x4FFF, b"", true).unwrap()),
            (true, stun_message(17)),
            (false, encode(0x4123, &[7; 300], true).unwrap()),
        ];
        let bytes = frames.iter().flat_map(|(_, b)| b.clone()).collect();
        (bytes, frames)
    }

    fn decode_in_chunks(bytes: &[u8], chunk: usize) -> Vec<Owned> {
        let mut d = StreamDecoder::default();
        let mut out = Vec::new();
        for piece in bytes.chunks(chunk) {
            d.push(piece).unwrap();
            while let Some(f) = d.next_frame().unwrap() {
                out.push(owned(f));
            }
        }
        assert_eq!(d.buffered(), 0);
        out
    }

    #[test]
    fn frames_survive_any_split() {
        let (bytes, frames) = stream();
        for chunk in [1, 2, 3, 5, 7, 19, 64, 1000, bytes.len()] {
            assert_eq!(decode_in_chunks(&bytes, chunk), frames, "chunk size {chunk}");
        }
        // Every frame decodes as what it claims to be.
        for (stun, b) in &frames {
            if *stun {
                assert!(Message::decode(b).is_ok());
            } else {
                assert!(ChannelData::decode(b).is_ok());
            }
        }
    }

    #[test]
    fn partial_frame_waits_for_more() {
        let (bytes, _) = stream();
        let mut d = StreamDecoder::default();
        d.push(&bytes[..10]).unwrap();
        assert_eq!(d.next_frame(), Ok(None));
        assert_eq!(d.buffered(), 10);
    }

    #[test]
    fn lost_sync_is_an_error_that_sticks() {
        let mut d = StreamDecoder::default();
        d.push(&[0x80, 0, 0, 4, 1, 2, 3, 4]).unwrap();
        assert_eq!(d.next_frame(), Err(TurnError::StreamBadByte(0x80)));
        assert_eq!(d.next_frame(), Err(TurnError::StreamBadByte(0x80)));
        assert_eq!(d.push(b"more"), Err(TurnError::StreamBadByte(0x80)));
        assert_eq!(d.buffered(), 0);

        let mut d = StreamDecoder::default();
        d.push(&[0x00, 0x01, 0, 4, 0xDE, 0xAD, 0xBE, 0xEF]).unwrap();
        assert_eq!(d.next_frame(), Err(TurnError::StreamNotStun));
        let mut d = StreamDecoder::default();
        d.push(&[0x00, 0x01, 0, 5]).unwrap();
        assert_eq!(d.next_frame(), Err(TurnError::StreamUnaligned(5)));
    }

    #[test]
    fn the_buffer_is_bounded() {
        let mut d = StreamDecoder::new(0);
        // A maximal STUN header waits for 65535 more bytes, all of which fit...
        let mut header = vec![0x00, 0x17, 0xFF, 0xFC];
        header.extend_from_slice(&MAGIC_COOKIE.to_be_bytes());
        header.extend_from_slice(&[0; 12]);
        d.push(&header).unwrap();
        d.push(&vec![0; 0xFFFC]).unwrap();
        assert!(matches!(d.next_frame(), Ok(Some(Frame::Stun(b))) if b.len() == 20 + 0xFFFC));
        // ...but a caller that never takes frames hits the limit.
        let chunk = vec![0x40; 1000];
        let mut refused = false;
        for _ in 0..100 {
            if d.push(&chunk).is_err() {
                refused = true;
                break;
            }
        }
        assert!(refused);
        assert!(d.buffered() <= MAX_FRAME_LEN);
    }
}
