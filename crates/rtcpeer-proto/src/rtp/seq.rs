//! Extending 16-bit sequence numbers past their wrap.

/// Turns 16-bit sequence numbers into ever-increasing 64-bit ones, taking each to be the value
/// nearest the highest seen so far (so a packet up to 32767 behind counts as old, not as a wrap).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SeqUnwrapper {
    highest: Option<i64>,
}

impl SeqUnwrapper {
    /// An unwrapper that has seen nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// The extended value of `seq` without remembering it.
    pub fn peek(&self, seq: u16) -> i64 {
        match self.highest {
            None => i64::from(seq),
            Some(highest) => highest + i64::from(seq.wrapping_sub(highest as u16) as i16),
        }
    }

    /// The extended value of `seq`, remembering it if it is the newest.
    pub fn unwrap(&mut self, seq: u16) -> i64 {
        let extended = self.peek(seq);
        if self.highest.is_none_or(|h| extended > h) {
            self.highest = Some(extended);
        }
        extended
    }

    /// The highest extended value seen.
    pub fn highest(&self) -> Option<i64> {
        self.highest
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_wraps_both_ways() {
        let mut u = SeqUnwrapper::new();
        assert_eq!(u.unwrap(65534), 65534);
        assert_eq!(u.unwrap(1), 65537);
        assert_eq!(u.unwrap(65535), 65535);
        assert_eq!(u.highest(), Some(65537));
        assert_eq!(u.unwrap(0x8000), 0x18000);
        assert_eq!(u.peek(2), 0x10002);
        let mut v = SeqUnwrapper::new();
        v.unwrap(3);
        assert_eq!(v.unwrap(65533), -3);
    }
}
