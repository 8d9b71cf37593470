//! `rtcpeer offer` and `rtcpeer answer`: two programs connect through copy-paste signaling
//! (one JSON line each way on stdin/stdout) and check data channels end to end.
//!
//! This is the protocol every peer of the interop harness speaks: the answerer echoes, the
//! offerer sends the deterministic message stream of [`crate::messages`] and checks what
//! comes back. Stdout carries only the signaling line; everything else goes to stderr.

pub mod answer;
pub mod offer;
pub mod signaling;

use std::fmt;
use std::future::Future;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rtcpeer::{
    DataChannelInit, Events, IceGatheringState, PeerConnectionEvent, RTCConfiguration, RTCPeerConnection, RtcError,
    SessionDescriptionInit,
};

use self::signaling::SignalingError;

/// Exit code: the run passed.
pub const EXIT_OK: u8 = 0;
/// Exit code: the run failed (bad input, connection failed, a message differed, ...).
pub const EXIT_FAILED: u8 = 1;
/// Exit code: the run took longer than `--timeout`.
pub const EXIT_TIMEOUT: u8 = 2;

/// The stream id of the pre-negotiated channel of the `negotiated` scenario.
pub const NEGOTIATED_ID: u16 = 7;

/// What the two peers exercise (the same names in every peer of the interop harness).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scenario {
    /// An ordered, reliable channel `chat`.
    Reliable,
    /// Channel `lossy`: `ordered: false, maxRetransmits: 0`.
    Unordered,
    /// A pre-negotiated channel (`negotiated: true, id: 7`) that both sides create.
    Negotiated,
    /// A few messages on `chat`, then the offerer closes the channel and the connection.
    Close,
}

impl Scenario {
    /// The label and options of the channel the offerer opens.
    pub fn channel(self) -> (&'static str, DataChannelInit) {
        match self {
            Scenario::Reliable | Scenario::Close => ("chat", DataChannelInit::default()),
            Scenario::Unordered => (
                "lossy",
                DataChannelInit {
                    ordered: false,
                    max_retransmits: Some(0),
                    ..Default::default()
                },
            ),
            Scenario::Negotiated => (
                "negotiated",
                DataChannelInit {
                    negotiated: true,
                    id: Some(NEGOTIATED_ID),
                    ..Default::default()
                },
            ),
        }
    }

    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Reliable => "reliable",
            Scenario::Unordered => "unordered",
            Scenario::Negotiated => "negotiated",
            Scenario::Close => "close",
        }
    }
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Options both roles take.
#[derive(Debug, Clone)]
pub struct PairOptions {
    /// What to exercise.
    pub scenario: Scenario,
    /// Gather host candidates only on these addresses; empty: the runtime's default.
    pub bind: Vec<IpAddr>,
    /// The whole run fails with [`EXIT_TIMEOUT`] when it takes longer.
    pub timeout: Duration,
    /// STUN/TURN servers and the relay-only policy.
    pub ice: crate::ice_options::IceOptions,
}

impl PairOptions {
    fn configuration(&self) -> RTCConfiguration {
        self.ice.apply(RTCConfiguration::bound_to(self.bind.iter().copied()))
    }
}

/// Why a run failed.
#[derive(Debug, thiserror::Error)]
pub enum PairError {
    /// A peer-connection call failed.
    #[error("{step}: {error}")]
    Call {
        /// What the program was doing.
        step: &'static str,
        /// The error the call returned.
        error: RtcError,
    },
    /// Reading or writing a signaling line failed.
    #[error(transparent)]
    Signaling(#[from] SignalingError),
    /// The connection failed or closed; the text (which starts with "connection") says when.
    #[error("{0}")]
    ConnectionFailed(String),
    /// What came back was not what was sent, or a channel misbehaved.
    #[error("{0}")]
    Check(String),
    /// The run took longer than allowed; the text says what it was waiting for.
    #[error("timed out after {seconds} s while {waiting_for}")]
    Timeout {
        /// The time limit.
        seconds: u64,
        /// What had not happened yet.
        waiting_for: String,
    },
}

impl PairError {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            PairError::Timeout { .. } => EXIT_TIMEOUT,
            _ => EXIT_FAILED,
        }
    }
}

/// Names the API call `step` in the error it failed with.
pub(crate) fn step(step: &'static str) -> impl FnOnce(RtcError) -> PairError {
    move |error| PairError::Call { step, error }
}

/// Prints progress on stderr, prefixed with the role.
fn say(role: &str, text: &str) {
    eprintln!("rtcpeer {role}: {text}");
}

/// Sets the local description, waits for ICE gathering to complete (non-trickle signaling) and
/// returns the description with its candidates. The other events that came meanwhile (channels
/// and tracks the remote opened, state changes) are returned too, in order.
pub(crate) async fn local_description_when_gathered(
    role: &'static str,
    pc: &RTCPeerConnection,
    events: &mut Events<PeerConnectionEvent>,
) -> Result<(SessionDescriptionInit, Vec<PeerConnectionEvent>), PairError> {
    pc.set_local_description(None)
        .await
        .map_err(step("setLocalDescription"))?;
    let mut early = Vec::new();
    if pc.ice_gathering_state().await.map_err(step("iceGatheringState"))? != IceGatheringState::Complete {
        loop {
            match events.recv().await {
                Some(PeerConnectionEvent::IceGatheringStateChange(IceGatheringState::Complete)) => break,
                Some(event) => early.push(event),
                None => {
                    return Err(PairError::ConnectionFailed(
                        "connection closed while gathering candidates".into(),
                    ))
                }
            }
        }
    }
    let description = pc
        .local_description()
        .await
        .map_err(step("localDescription"))?
        .ok_or_else(|| PairError::Check("no local description after setLocalDescription".into()))?;
    let candidates: Vec<&str> = description
        .sdp
        .lines()
        .filter_map(|line| line.trim_end().strip_prefix("a=candidate:"))
        .collect();
    say(
        role,
        &format!(
            "gathering complete: {} candidates: {}",
            candidates.len(),
            candidates.join(" | ")
        ),
    );
    Ok((description, early))
}

/// What a run is waiting for, kept up to date by the run and read for the timeout message.
#[derive(Debug, Clone, Default)]
struct WaitingFor(Arc<Mutex<String>>);

impl WaitingFor {
    fn set(&self, what: impl Into<String>) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = what.into();
    }

    fn get(&self) -> String {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

/// Runs `work` within `timeout`; on timeout the error says what `waiting_for` last named.
async fn with_timeout<T>(
    timeout: Duration,
    waiting_for: &WaitingFor,
    work: impl Future<Output = Result<T, PairError>>,
) -> Result<T, PairError> {
    match tokio::time::timeout(timeout, work).await {
        Ok(result) => result,
        Err(_) => Err(PairError::Timeout {
            seconds: timeout.as_secs(),
            waiting_for: waiting_for.get(),
        }),
    }
}
