//! Candidate pairs: their priority (RFC 8445 §6.1.2.3) and check state.

use std::time::{Duration, Instant};

use crate::stun::TransactionId;

/// The priority of a pair whose controlling-side candidate has priority `controlling` and
/// controlled-side candidate `controlled`: `2^32·min(G,D) + 2·max(G,D) + (G>D ? 1 : 0)`.
pub fn pair_priority(controlling: u32, controlled: u32) -> u64 {
    let (g, d) = (u64::from(controlling), u64::from(controlled));
    (g.min(d) << 32) + 2 * g.max(d) + u64::from(g > d)
}

/// The check state of a pair (RFC 8445 §6.1.2.6). This agent does not use the Frozen state:
/// every new pair starts Waiting and the Ta pacing bounds the check rate instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PairState {
    /// Not checked yet.
    Waiting,
    /// A check is in flight.
    InProgress,
    /// A check succeeded: the pair is valid.
    Succeeded,
    /// A check failed or timed out.
    Failed,
}

/// A connectivity check in flight, with what is needed to retransmit it.
#[derive(Debug, Clone)]
pub(crate) struct InFlight {
    pub(crate) transaction_id: TransactionId,
    pub(crate) bytes: Vec<u8>,
    pub(crate) next_at: Instant,
    pub(crate) rto: Duration,
    pub(crate) transmits: u32,
    pub(crate) use_candidate: bool,
    pub(crate) sent_as_controlling: bool,
}

/// One local/remote candidate pair.
#[derive(Debug, Clone)]
pub(crate) struct CandidatePair {
    /// Index into the agent's local candidates.
    pub(crate) local: usize,
    /// Index into the agent's remote candidates.
    pub(crate) remote: usize,
    pub(crate) priority: u64,
    pub(crate) state: PairState,
    /// The controlling side asked (or we asked) to nominate this pair.
    pub(crate) nominate_on_success: bool,
    pub(crate) nominated: bool,
    /// The peer's authenticated check arrived on this pair: the path works towards us.
    pub(crate) checked_by_peer: bool,
    pub(crate) in_flight: Option<InFlight>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pair_priority_follows_rfc_8445_and_is_symmetric_between_agents() {
        assert_eq!(pair_priority(10, 20), (10u64 << 32) + 40);
        assert_eq!(pair_priority(20, 10), (10u64 << 32) + 40 + 1);
        // Both agents compute the same value for the same pair: each passes (controlling, controlled).
        let (a, b) = (2_130_706_431u32, 1_694_498_815u32);
        assert_eq!(pair_priority(a, b), pair_priority(a, b));
        assert!(pair_priority(a, a) > pair_priority(a, b));
    }
}
