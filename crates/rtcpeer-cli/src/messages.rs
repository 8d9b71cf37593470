//! The deterministic message stream the demo and `rtcpeer offer` send: both ends derive
//! message `index` of a stream from its seed alone, so a receiver can check every byte
//! without the messages being stored or sent twice.

use rtcpeer::DataChannelMessage;

/// A small deterministic generator (SplitMix64), so both sides derive the same messages from a seed.
#[derive(Debug, Clone)]
pub struct Generator(u64);

impl Generator {
    /// A generator whose stream is determined by `seed`.
    pub fn new(seed: u64) -> Self {
        Generator(seed)
    }

    /// The next 64 random bits.
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..bound` (`bound` > 0).
    pub fn below(&mut self, bound: usize) -> usize {
        (self.next() % bound as u64) as usize
    }
}

/// The largest message the demo sends.
pub const MAX_MESSAGE: usize = 64 * 1024;

/// Whether message `index` is text, and its size, without generating its payload; the generator
/// is left where the payload starts.
fn start(seed: u64, index: usize) -> (Generator, bool, usize) {
    let mut g = Generator(seed ^ (index as u64).wrapping_mul(0x2545_f491_4f6c_dd1d));
    let size = match index {
        0 => 1,
        1 => MAX_MESSAGE,
        _ => match g.below(4) {
            0 | 1 => 1 + g.below(1024),
            2 => 1 + g.below(16 * 1024),
            _ => 1 + g.below(MAX_MESSAGE),
        },
    };
    let text = g.next() & 1 == 0;
    (g, text, size)
}

/// Whether message `index` of the stream `seed` is text, and its size in bytes (cheap: no payload).
pub fn shape(seed: u64, index: usize) -> (bool, usize) {
    let (_, text, size) = start(seed, index);
    (text, size)
}

/// Message `index` of the stream seeded with `seed`: sizes mixed from 1 B to 64 KiB (the first two are
/// exactly 1 B and 64 KiB), text or binary.
pub fn message(seed: u64, index: usize) -> DataChannelMessage {
    let (mut g, text, size) = start(seed, index);
    if text {
        let text: String = (0..size).map(|_| char::from(b' ' + g.below(95) as u8)).collect();
        DataChannelMessage::Text(text)
    } else {
        let mut bytes = Vec::with_capacity(size);
        while bytes.len() < size {
            let word = g.next().to_le_bytes();
            let take = (size - bytes.len()).min(word.len());
            bytes.extend_from_slice(word.get(..take).unwrap_or_default());
        }
        DataChannelMessage::Binary(bytes)
    }
}

/// "N B of text" or "N B of binary", for error messages.
pub fn describe(message: &DataChannelMessage) -> String {
    match message {
        DataChannelMessage::Text(t) => format!("{} B of text", t.len()),
        DataChannelMessage::Binary(b) => format!("{} B of binary", b.len()),
    }
}

/// The message's size in bytes (UTF-8 bytes of a text).
pub fn message_len(message: &DataChannelMessage) -> usize {
    match message {
        DataChannelMessage::Text(t) => t.len(),
        DataChannelMessage::Binary(b) => b.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_deterministic_and_cover_the_size_range() {
        assert_eq!(message(7, 42), message(7, 42));
        assert_ne!(message(7, 42), message(8, 42));
        let sizes: Vec<usize> = (0..1000).map(|i| message_len(&message(7, i))).collect();
        assert_eq!(sizes[0], 1);
        assert_eq!(sizes[1], MAX_MESSAGE);
        assert!(sizes.iter().all(|&s| (1..=MAX_MESSAGE).contains(&s)));
        assert!(sizes.iter().filter(|&&s| s <= 1024).count() > 300);
        assert!(sizes.iter().filter(|&&s| s > 16 * 1024).count() > 100);
        let texts = (0..1000)
            .filter(|&i| matches!(message(7, i), DataChannelMessage::Text(_)))
            .count();
        assert!((300..700).contains(&texts), "{texts} text messages");
        for index in 0..200 {
            let sent = message(7, index);
            assert_eq!(
                shape(7, index),
                (matches!(sent, DataChannelMessage::Text(_)), message_len(&sent))
            );
        }
    }
}
