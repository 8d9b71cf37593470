//! The W3C "perfect negotiation" pattern (webrtc-pc §10.7) on an [`RTCPeerConnection`].
//!
//! Each of the two peers runs the same code, and only one flag differs: the *polite* peer
//! gives way when both offer at once (glare), the *impolite* one does not.
//!
//! - `negotiationneeded` → `set_local_description(None)` (the connection makes the offer) →
//!   send `localDescription`. `making_offer` is set while this runs.
//! - a description arrives → it is an *offer collision* when it is an offer and we are
//!   making an offer or are not `stable`. The impolite peer ignores a colliding offer (and
//!   remembers it in `ignore_offer`, so that the candidates that follow it are dropped quietly);
//!   the polite peer applies it: `set_remote_description` rolls its own offer back implicitly.
//!   After a remote offer, `set_local_description(None)` makes the answer, which is sent.
//! - a candidate arrives → `add_ice_candidate`; a failure is an error unless the offer it
//!   belonged to was ignored.
//!
//! Unlike a browser's event handlers, the two handlers here take turns (see `Shared::turn`),
//! and a `negotiationneeded` read after the connection left `stable` is dropped: each rtcpeer
//! call is a message to the connection's task, so a check and the call it guards are not one
//! step as they are in a browser.
//!
//! The signaling channel is any pair of [`mpsc`] channels carrying [`Signal`]s: in-process
//! (the example and the tests) or JSON lines over stdin/stdout (`rtcpeer negotiate`).
//!
//! This file is shared: the example `perfect_negotiation` uses it, and so do the test
//! `tests/perfect_negotiation.rs` and the CLI's `negotiate` command (through `#[path]`).
#![allow(dead_code)] // each user takes what it needs

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use rtcpeer::{
    IceCandidateInit, PeerConnectionEvent, RTCPeerConnection, RtcError, SdpType, SessionDescriptionInit, SignalingState,
};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, Mutex};
use tokio::task::JoinHandle;

/// One message on the signaling channel, as the W3C example sends it:
/// `{"description": {"type": "offer", "sdp": "…"}}` or `{"candidate": {…}}` (`null` ends the candidates).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Signal {
    /// A session description (offer or answer).
    Description(SessionDescriptionInit),
    /// A trickled ICE candidate; `None` is the end of candidates.
    Candidate(Option<IceCandidateInit>),
}

/// What the pattern did, for the application to show or count, with the connection events it
/// does not consume itself (everything but `negotiationneeded` and `icecandidate`).
#[derive(Debug)]
pub enum Step {
    /// A connection event for the application (`datachannel`, `track`, state changes, …).
    Connection(PeerConnectionEvent),
    /// `negotiationneeded` fired and we sent an offer.
    SentOffer,
    /// We answered a remote offer.
    SentAnswer,
    /// A remote answer was applied.
    AppliedAnswer,
    /// Impolite: a remote offer collided with ours and was ignored.
    IgnoredOffer,
    /// Polite: a remote offer collided with ours; `set_remote_description` rolled ours back and applied it.
    RolledBack,
    /// `negotiationneeded` was read after the connection had left `stable` (an offer arrived in
    /// between): it is dropped, the connection fires it again once back in `stable` if still needed.
    StaleNegotiationNeeded,
    /// An operation failed (the W3C example logs these); the pattern goes on.
    Error(String),
}

/// Which side of the pattern a peer plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Politeness {
    /// Rolls its own offer back when offers collide.
    Polite,
    /// Ignores the remote's offer when offers collide.
    Impolite,
}

/// A running perfect negotiation: two tasks, one reading the connection's events, one reading
/// the signaling channel. Dropping it stops both.
#[derive(Debug)]
pub struct Negotiator {
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Negotiator {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// The pattern's state shared by the two tasks.
#[derive(Debug)]
struct Shared {
    pc: RTCPeerConnection,
    politeness: Politeness,
    /// `makingOffer`: set while `negotiationneeded` is being handled.
    making_offer: AtomicBool,
    outgoing: mpsc::Sender<Signal>,
    /// Taken by each handler for its whole turn. In a browser an event handler checks the
    /// state and queues its operation in one go; here each call is a message to the
    /// connection's task, so without turns a remote offer could be applied between
    /// `negotiationneeded`'s check and its `set_local_description` (or the reverse), and
    /// the impolite peer would end up rolling back. It also keeps the candidates gathered
    /// by a `set_local_description` behind the description that announces them.
    turn: Mutex<()>,
    steps: mpsc::UnboundedSender<Step>,
}

impl Negotiator {
    /// Runs the pattern on `pc` (whose event stream it takes: the events it does not handle
    /// come out as [`Step::Connection`]). Our signals go to `outgoing`, the peer's come from
    /// `incoming`. Returns the negotiator and its steps.
    ///
    /// Panics if `pc`'s event stream was already taken.
    pub fn start(
        pc: &mut RTCPeerConnection,
        politeness: Politeness,
        outgoing: mpsc::Sender<Signal>,
        incoming: mpsc::Receiver<Signal>,
    ) -> (Negotiator, mpsc::UnboundedReceiver<Step>) {
        let mut events = pc.take_events().expect("the connection's event stream is still there");
        let (steps, steps_rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            pc: pc.clone(),
            politeness,
            making_offer: AtomicBool::new(false),
            outgoing,
            turn: Mutex::new(()),
            steps,
        });
        let on_events = {
            let shared = shared.clone();
            tokio::spawn(async move {
                while let Some(event) = events.recv().await {
                    match event {
                        PeerConnectionEvent::NegotiationNeeded => shared.on_negotiation_needed().await,
                        PeerConnectionEvent::IceCandidate(candidate) => {
                            // The W3C example: `onicecandidate = ({candidate}) => signaler.send({candidate})`.
                            let _turn = shared.turn.lock().await;
                            let _ = shared.outgoing.send(Signal::Candidate(candidate)).await;
                        }
                        other => shared.step(Step::Connection(other)),
                    }
                }
            })
        };
        let on_signals = tokio::spawn(async move { shared.read_signals(incoming).await });
        (
            Negotiator {
                tasks: vec![on_events, on_signals],
            },
            steps_rx,
        )
    }
}

impl Shared {
    fn step(&self, step: Step) {
        let _ = self.steps.send(step);
    }

    /// `onnegotiationneeded`.
    async fn on_negotiation_needed(&self) {
        let _turn = self.turn.lock().await;
        self.making_offer.store(true, Ordering::SeqCst);
        let result = self.make_offer().await;
        self.making_offer.store(false, Ordering::SeqCst);
        match result {
            Ok(true) => self.step(Step::SentOffer),
            Ok(false) => self.step(Step::StaleNegotiationNeeded),
            Err(e) => self.step(Step::Error(format!("negotiationneeded: {e}"))),
        }
    }

    /// Sets and sends our offer; `Ok(false)` when the event was stale.
    async fn make_offer(&self) -> Result<bool, RtcError> {
        // In a browser the handler runs as the event fires, with the connection `stable`. Here
        // the event crossed a queue: a remote offer may have been applied since, and a
        // parameterless set_local_description would then answer it in the other task's place.
        if self.pc.signaling_state().await? != SignalingState::Stable {
            return Ok(false);
        }
        self.pc.set_local_description(None).await?;
        self.send_local_description().await?;
        Ok(true)
    }

    async fn send_local_description(&self) -> Result<(), RtcError> {
        let description = self
            .pc
            .local_description()
            .await?
            .ok_or_else(|| RtcError::InvalidState("no local description to send".into()))?;
        self.outgoing
            .send(Signal::Description(description))
            .await
            .map_err(|_| RtcError::Operation("the signaling channel is closed".into()))
    }

    /// `signaler.onmessage`, one message at a time.
    async fn read_signals(&self, mut incoming: mpsc::Receiver<Signal>) {
        // `ignoreOffer`: whether the last remote offer was ignored (its candidates will fail).
        let mut ignore_offer = false;
        while let Some(signal) = incoming.recv().await {
            match signal {
                Signal::Description(description) => {
                    let _turn = self.turn.lock().await;
                    if let Err(e) = self.on_description(description, &mut ignore_offer).await {
                        self.step(Step::Error(format!("description: {e}")));
                    }
                }
                Signal::Candidate(candidate) => {
                    if let Err(e) = self.pc.add_ice_candidate(candidate).await {
                        if !ignore_offer {
                            self.step(Step::Error(format!("candidate: {e}")));
                        }
                    }
                }
            }
        }
    }

    async fn on_description(
        &self,
        description: SessionDescriptionInit,
        ignore_offer: &mut bool,
    ) -> Result<(), RtcError> {
        let is_offer = description.kind == SdpType::Offer;
        // `making_offer` is the browser's guard for a handler that runs while the other is
        // between its awaits; with turns, a colliding offer shows as `have-local-offer`.
        let offer_collision = is_offer
            && (self.making_offer.load(Ordering::SeqCst) || self.pc.signaling_state().await? != SignalingState::Stable);
        *ignore_offer = self.politeness == Politeness::Impolite && offer_collision;
        if *ignore_offer {
            self.step(Step::IgnoredOffer);
            return Ok(());
        }
        if offer_collision {
            self.step(Step::RolledBack);
        }
        // In `have-local-offer` this rolls our offer back first (implicit rollback).
        self.pc.set_remote_description(description).await?;
        if is_offer {
            self.pc.set_local_description(None).await?;
            self.send_local_description().await?;
            self.step(Step::SentAnswer);
        } else {
            self.step(Step::AppliedAnswer);
        }
        Ok(())
    }
}
