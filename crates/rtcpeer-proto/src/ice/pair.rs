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
    /// What was sent and received on the pair, for `getStats`.
    pub(crate) counters: PairCounters,
}

/// The check state of a pair, as `RTCStatsIceCandidatePairState` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CandidatePairState {
    /// Not checked yet (`waiting`).
    Waiting,
    /// A check is in flight (`in-progress`).
    InProgress,
    /// A check succeeded (`succeeded`).
    Succeeded,
    /// Checks failed (`failed`).
    Failed,
}

impl From<PairState> for CandidatePairState {
    fn from(state: PairState) -> Self {
        match state {
            PairState::Waiting => CandidatePairState::Waiting,
            PairState::InProgress => CandidatePairState::InProgress,
            PairState::Succeeded => CandidatePairState::Succeeded,
            PairState::Failed => CandidatePairState::Failed,
        }
    }
}

/// A snapshot of one candidate pair (see [`IceAgent::candidate_pairs`](super::IceAgent::candidate_pairs)).
#[derive(Debug, Clone, PartialEq)]
pub struct CandidatePairInfo {
    /// The index of its local candidate in [`IceAgent::local_candidates`](super::IceAgent::local_candidates).
    pub local: usize,
    /// The index of its remote candidate in [`IceAgent::remote_candidates`](super::IceAgent::remote_candidates).
    pub remote: usize,
    /// The pair priority (RFC 8445 §6.1.2.3).
    pub priority: u64,
    /// Its check state.
    pub state: CandidatePairState,
    /// Whether it was nominated.
    pub nominated: bool,
    /// Whether it is the selected pair.
    pub selected: bool,
    /// What it carried.
    pub counters: PairCounters,
}

/// What one candidate pair carried: connectivity checks, their round-trip times, and the
/// application data (DTLS, SRTP) the connection sent and received over it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PairCounters {
    /// Binding requests sent (checks, their retransmissions and consent checks).
    pub requests_sent: u64,
    /// Authenticated binding requests received.
    pub requests_received: u64,
    /// Success responses sent to the peer's authenticated requests.
    pub responses_sent: u64,
    /// Authenticated responses received to our requests.
    pub responses_received: u64,
    /// Consent-freshness requests sent (RFC 7675).
    pub consent_requests_sent: u64,
    /// The sum of every measured round-trip time.
    pub total_round_trip_time: Duration,
    /// The last measured round-trip time.
    pub current_round_trip_time: Option<Duration>,
    /// How many round-trip times were measured.
    pub round_trip_time_measurements: u64,
    /// Application datagrams sent over the pair.
    pub packets_sent: u64,
    /// Application bytes sent over the pair (UDP payload).
    pub bytes_sent: u64,
    /// Application datagrams received over the pair.
    pub packets_received: u64,
    /// Application bytes received over the pair (UDP payload).
    pub bytes_received: u64,
    /// When the last application datagram was received.
    pub last_packet_received: Option<Instant>,
    /// When the last binding request was sent, and its transaction (to time its answer).
    pub(crate) last_request: Option<(TransactionId, Instant)>,
}

impl PairCounters {
    /// Records a round-trip time measurement.
    pub(crate) fn on_round_trip(&mut self, rtt: Duration) {
        self.total_round_trip_time += rtt;
        self.current_round_trip_time = Some(rtt);
        self.round_trip_time_measurements += 1;
    }

    /// Records a binding request sent now (a retransmission keeps the original time: Karn's rule
    /// makes its answer ambiguous, so it is timed only if it answers the first transmission).
    pub(crate) fn on_request_sent(&mut self, tid: TransactionId, now: Instant, first: bool) {
        self.requests_sent += 1;
        if first {
            self.last_request = Some((tid, now));
        } else if self.last_request.is_some_and(|(t, _)| t == tid) {
            self.last_request = None;
        }
    }

    /// Records an authenticated response to `tid`, timing it if it answers the last request.
    pub(crate) fn on_response(&mut self, tid: TransactionId, now: Instant) {
        self.responses_received += 1;
        if let Some((t, at)) = self.last_request {
            if t == tid {
                self.on_round_trip(now.saturating_duration_since(at));
                self.last_request = None;
            }
        }
    }
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
