//! ICE (RFC 8445): candidates and the sans-IO agent.

pub mod candidate;

pub use candidate::{Candidate, CandidateAddress, CandidateKind, CandidateParseError, TransportProtocol};
