//! SRTP packet index estimation (RFC 3711 §3.3.1 and Appendix A): the
//! 48-bit index `ROC * 2^16 + SEQ` of a packet from its 16-bit sequence
//! number and the highest index seen so far.

/// Why no index could be estimated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IndexError {
    /// The packet belongs before the first roll-over (ROC would be -1).
    BeforeStart,
    /// The roll-over counter would pass 2^32 - 1.
    Exhausted,
}

/// Guesses the index of a packet with sequence number `seq` given `highest`,
/// the highest index seen: of ROC - 1, ROC and ROC + 1, the one that puts
/// the packet closest to `highest` (RFC 3711 Appendix A).
pub(crate) fn estimate_index(highest: u64, seq: u16) -> Result<u64, IndexError> {
    let roc = highest >> 16;
    let s_l = highest as u16;
    let v = if s_l < 0x8000 {
        if seq > s_l && seq - s_l > 0x8000 {
            roc.checked_sub(1).ok_or(IndexError::BeforeStart)?
        } else {
            roc
        }
    } else if s_l - 0x8000 > seq {
        roc + 1
    } else {
        roc
    };
    if v > u64::from(u32::MAX) {
        return Err(IndexError::Exhausted);
    }
    Ok((v << 16) | u64::from(seq))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The largest valid SRTP index (48 bits).
    const MAX_INDEX: u64 = (1 << 48) - 1;

    #[test]
    fn picks_the_closest_roll_over() {
        // In order, within one ROC.
        assert_eq!(estimate_index(100, 101), Ok(101));
        // A wrap: highest 65535 with ROC 0, next is seq 0 with ROC 1.
        assert_eq!(estimate_index(0xffff, 0), Ok(0x1_0000));
        assert_eq!(estimate_index(0xfff0, 5), Ok(0x1_0005));
        // A late packet from before the wrap.
        assert_eq!(estimate_index(0x1_0003, 0xfffe), Ok(0xfffe));
        // Late, same ROC.
        assert_eq!(estimate_index(0x2_9000, 0x8fff), Ok(0x2_8fff));
        // Nothing before the first ROC.
        assert_eq!(estimate_index(3, 0xfffe), Err(IndexError::BeforeStart));
        // The ROC cannot pass 32 bits.
        assert_eq!(estimate_index(MAX_INDEX, 0), Err(IndexError::Exhausted));
        assert_eq!(estimate_index(MAX_INDEX - 5, 0xffff), Ok(MAX_INDEX));
    }
}
