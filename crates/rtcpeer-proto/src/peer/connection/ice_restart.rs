//! ICE restart in [`PeerConnection`] (W3C webrtc-pc `restartIce()` and `createOffer({iceRestart})`,
//! JSEP RFC 8829 §5.2.1 and §5.3.1, RFC 8445 §9).
//!
//! - [`PeerConnection::restart_ice`] after a negotiation asks for new local credentials: it fires
//!   `negotiationneeded` (in `stable`) and the next offer carries a new ufrag and pwd. Before the
//!   first negotiation it does nothing. The request lasts until the ICE agent has new local
//!   credentials: a rolled-back offer leaves them unnegotiated, so negotiation is still needed; a
//!   remote offer that restarts ICE satisfies it (its answer carries new credentials).
//! - Applying a local description whose credentials differ from the agent's restarts the agent
//!   with them; applying one whose ufrag differs from that of the candidates signalled so far
//!   gathers again (`iceGatheringState` `gathering` → `complete`, new `icecandidate` events under
//!   the new ufrag, then the null candidate).
//! - A remote offer with a new ufrag restarts the agent with fresh local credentials, which the
//!   answer carries; a remote answer with new credentials (the answer to our restart) gives the
//!   agent the peer's side.
//!
//! DTLS, SCTP, SRTP, data channels and transceivers are untouched: the agent keeps sending over the
//! pair selected before the restart until the new checks select one, and `iceConnectionState`
//! stays `connected` (see [`IceAgent::restart`](crate::ice::IceAgent::restart)). A connection
//! that had failed because of ICE is `connecting` again.

use std::time::Instant;

use crate::dtls::DtlsState;
use crate::ice::IceCredentials;
use crate::jsep::{LocalParameters, RemoteParameters};

use super::super::types::*;
use super::PeerConnection;

/// The options of `createOffer` (`RTCOfferOptions`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OfferOptions {
    /// `iceRestart`: the offer carries new ICE credentials, restarting ICE once applied. A pending
    /// [`PeerConnection::restart_ice`] does the same even when this is false.
    pub ice_restart: bool,
}

/// What the connection remembers about ICE restarts.
#[derive(Debug, Default)]
pub(super) struct IceRestartState {
    /// `restartIce()` was called after a negotiation and the agent has not restarted since.
    requested: bool,
    /// The ufrag the signalled local candidates were gathered under.
    gathered_ufrag: Option<String>,
    /// The ufrag of the current (negotiated) local description.
    negotiated_ufrag: Option<String>,
}

impl PeerConnection {
    /// The ICE ufrag this connection's checks answer to now (the local description's, once
    /// applied): what a shared UDP port routes STUN requests by.
    pub fn local_ice_ufrag(&self) -> &str {
        &self.ice.local_credentials().ufrag
    }

    /// `restartIce()`: the next offer restarts ICE. Before the first negotiation (no local
    /// description yet) it has no effect; afterwards it fires `negotiationneeded` once the
    /// signaling state is `stable`.
    pub fn restart_ice(&mut self) {
        if self.closed || (self.current_local.is_none() && self.pending_local.is_none()) {
            return;
        }
        self.ice_restart.requested = true;
        self.update_negotiation_needed();
    }

    /// Whether the next offer must restart ICE: `restartIce()` was called, or the agent has
    /// credentials the peer has not agreed to yet (a restart offer was rolled back).
    pub fn ice_restart_pending(&self) -> bool {
        self.ice_restart.requested
            || self
                .ice_restart
                .negotiated_ufrag
                .as_ref()
                .is_some_and(|u| *u != self.ice.local_credentials().ufrag)
    }

    /// Gives a new offer fresh ICE credentials when a restart is asked for.
    pub(super) fn apply_offer_ice_restart(&self, params: &mut LocalParameters, options: OfferOptions) {
        if options.ice_restart || self.ice_restart.requested {
            let fresh = IceCredentials::random();
            params.ice_ufrag = fresh.ufrag;
            params.ice_pwd = fresh.pwd;
        }
    }

    /// Before a remote description is applied: a remote offer with a new ufrag is an ICE restart
    /// by the peer, so the agent restarts with fresh credentials for our answer. (A new ufrag in
    /// an answer reaches the agent through its remote credentials.)
    pub(super) fn prepare_remote_ice_restart(&mut self, remote: &RemoteParameters, kind: SdpType) {
        let restarted = self.remote.as_ref().is_some_and(|r| r.ice_ufrag != remote.ice_ufrag);
        if restarted && kind == SdpType::Offer {
            tracing::debug!("the remote offer restarts ICE");
            self.restart_agent(IceCredentials::random());
        }
    }

    /// After a local description is applied (gathering has started): restarts the agent with the
    /// description's credentials if they are new, and gathers again under a new ufrag.
    pub(super) fn local_ice_description_applied(&mut self, now: Instant) {
        let Some((ufrag, pwd)) = self.local.as_ref().map(|l| (l.ice_ufrag.clone(), l.ice_pwd.clone())) else {
            return;
        };
        if self.ice.local_credentials().ufrag != ufrag {
            self.restart_agent(IceCredentials::new(ufrag.clone(), pwd));
        }
        match &self.ice_restart.gathered_ufrag {
            None => self.ice_restart.gathered_ufrag = Some(ufrag),
            // Without a transport (gathering back to `new`) there is nothing to gather again.
            Some(gathered) if *gathered != ufrag && self.gathering != IceGatheringState::New => {
                self.regather(now, ufrag)
            }
            Some(_) => {}
        }
        self.ice_description_settled();
    }

    /// Restarts the agent with new local credentials. A connection that failed because ICE did
    /// (consent expired, or no pair worked) while DTLS did not is `connecting` again: the
    /// restart may bring it back (webrtc-pc derives `connectionState` from the transports).
    fn restart_agent(&mut self, local: IceCredentials) {
        self.ice.restart(local);
        self.ice_restart.requested = false;
        let dtls_ok = !self.dtls_failed && self.dtls.as_ref().is_none_or(|d| d.state() != DtlsState::Failed);
        if self.state == PeerConnectionState::Failed && dtls_ok {
            // Not failed any more: the pump that ends every description step derives the state
            // again (`connecting`) and announces it after the ICE state change.
            self.state = PeerConnectionState::New;
        }
    }

    /// After a remote description is applied.
    pub(super) fn remote_ice_description_applied(&mut self) {
        self.ice_description_settled();
    }

    /// In `stable`, remembers the negotiated ufrag (a restart still pending then is a reason for
    /// `negotiationneeded`, see [`ice_restart_pending`](Self::ice_restart_pending)).
    fn ice_description_settled(&mut self) {
        if self.signaling == SignalingState::Stable && self.current_local.is_some() {
            // The description just negotiated is the one last applied locally.
            self.ice_restart.negotiated_ufrag = self.local.as_ref().map(|l| l.ice_ufrag.clone());
        }
    }

    /// The runtime's socket on `addr` is gone (the interface went down or changed address): its
    /// host candidate is not signalled again when ICE restarts. Checks from it simply fail; the
    /// new address comes in through [`add_local_address`](Self::add_local_address).
    pub fn remove_local_address(&mut self, addr: std::net::SocketAddr) {
        self.local_addresses.retain(|a| *a != addr);
    }

    /// Gathers again under `ufrag`: host candidates and live relayed ones are signalled again
    /// (their sockets and allocations stay), server-reflexive ones are asked for anew.
    fn regather(&mut self, now: Instant, ufrag: String) {
        tracing::debug!(%ufrag, "gathering again after an ICE restart");
        self.ice_restart.gathered_ufrag = Some(ufrag);
        let previous = std::mem::take(&mut self.local_candidates);
        self.set_gathering(IceGatheringState::Gathering);
        for candidate in previous {
            let Some(addr) = candidate.socket_addr() else { continue };
            let keep = match candidate.kind {
                crate::ice::CandidateKind::Host => self.local_addresses.contains(&addr),
                crate::ice::CandidateKind::Relay => self.gatherer.is_relayed(addr),
                _ => false,
            };
            if keep {
                self.signal_candidate(candidate);
            }
        }
        let relay_only = self.ice_transport_policy == IceTransportPolicy::Relay;
        self.gatherer
            .regather(now, &self.local_addresses, &self.ice_servers, relay_only);
        self.drain_gather_events(now);
    }
}
