//! The signaling half of [`PeerConnection`]: offers, answers, descriptions,
//! rollback, remote candidates and gathering (W3C webrtc-pc §4.4, JSEP RFC 8829).
//!
//! The state machine is webrtc-pc §4.4.1.5 ("set the session description"):
//!
//! | state | local offer | local (pr)answer | remote offer | remote (pr)answer | rollback |
//! |---|---|---|---|---|---|
//! | `stable` | → have-local-offer | ✗ | → have-remote-offer | ✗ | ✗ |
//! | `have-local-offer` | stays | ✗ | implicit rollback, → have-remote-offer | → stable / have-remote-pranswer | → stable |
//! | `have-remote-offer` | ✗ | → stable / have-local-pranswer | stays | ✗ | → stable |
//! | `have-local-pranswer` | ✗ | → stable / stays | ✗ | ✗ | ✗ |
//! | `have-remote-pranswer` | ✗ | ✗ | ✗ | → stable / stays | ✗ |
//!
//! ✗ is `InvalidStateError`, except that a local answer that is not our last created answer is
//! `InvalidModificationError` before the state is looked at (as browsers order the checks).

use std::net::SocketAddr;
use std::time::Instant;

use crate::dtls::DtlsRole;
use crate::ice::{Candidate, CandidateKind, GatherEvent, IceCredentials, IceRole};
use crate::jsep::{LocalParameters, LocalSection, RemoteParameters, RemoteSection};
use crate::sdp::SessionDescription;

use super::super::types::*;
use super::transceivers::next_free_mid;
use super::{closed_error, OfferOptions, PeerConnection, PeerEvent};

/// Which description a signaling step applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Side {
    Local,
    Remote,
}

/// What applying an offer from `stable` changed, so that a rollback can undo it
/// (webrtc-pc §4.4.1.5.2 "rollback").
#[derive(Debug, Clone)]
pub(super) struct RollbackPoint {
    /// Our parameters before the offer.
    local: Option<LocalParameters>,
    /// The remote's parameters before the offer.
    remote: Option<RemoteParameters>,
    /// Each transceiver's mid before the offer, by index.
    mids: Vec<Option<String>>,
    /// The transceivers a remote offer created (by index).
    created: Vec<usize>,
    /// Whether each transceiver's remote track had been announced (`track`), by index.
    fired: Vec<bool>,
}

impl PeerConnection {
    /// `createOffer`: an offer for the transceivers and data channels as they are now. It
    /// becomes `[[LastCreatedOffer]]`, the only offer `set_local_description` accepts.
    pub fn create_offer(&mut self) -> Result<SessionDescriptionInit, RtcError> {
        self.create_offer_with(OfferOptions::default())
    }

    /// `createOffer(options)`.
    pub fn create_offer_with(&mut self, options: OfferOptions) -> Result<SessionDescriptionInit, RtcError> {
        if self.closed {
            return Err(closed_error());
        }
        // An offer can be created wherever a local offer could be applied.
        self.check_transition(Side::Local, SdpType::Offer)?;
        let sections = self.offer_sections_now();
        let mut params = self.local_parameters("actpass", sections);
        self.apply_offer_ice_restart(&mut params, options);
        let init = SessionDescriptionInit::offer(params.render(&[], false));
        self.last_offer = Some((init.clone(), params));
        Ok(init)
    }

    /// The sections an offer made now would have: those already negotiated keep their place,
    /// in order; then new transceivers; then the data section if channels exist and none was
    /// negotiated.
    fn offer_sections_now(&self) -> Vec<LocalSection> {
        let base = self.local.as_ref().map(|l| l.sections.clone()).unwrap_or_default();
        let mut sections = self.offer_sections(base);
        if !sections.iter().any(|s| matches!(s, LocalSection::Data { .. })) && self.channels.ids().next().is_some() {
            let mid = next_free_mid(&sections);
            sections.push(LocalSection::Data { mid });
        }
        sections
    }

    /// `createAnswer`: an answer to the remote offer. It becomes `[[LastCreatedAnswer]]`.
    pub fn create_answer(&mut self) -> Result<SessionDescriptionInit, RtcError> {
        if self.closed {
            return Err(closed_error());
        }
        self.check_transition(Side::Local, SdpType::Answer)?;
        let (sections, setup) = self.answer_sections_now()?;
        let params = self.local_parameters(setup, sections);
        let init = SessionDescriptionInit::answer(params.render(&[], false));
        self.last_answer = Some((init.clone(), params));
        Ok(init)
    }

    /// The sections and `a=setup` of an answer made now.
    fn answer_sections_now(&self) -> Result<(Vec<LocalSection>, &'static str), RtcError> {
        let remote = self
            .remote
            .as_ref()
            .ok_or_else(|| RtcError::InvalidState("no remote offer".into()))?;
        let mut data_taken = false;
        let sections = remote
            .sections
            .iter()
            .map(|s| {
                if s.media.is_some() {
                    return self.answer_section(s);
                }
                let accept = s.is_data && !s.rejected && !data_taken;
                data_taken |= accept;
                LocalSection::mirroring(s, accept)
            })
            .collect();
        // Once negotiated, the DTLS roles stay (RFC 8842 §5.3: an answer to a re-offer keeps
        // them; browsers refuse an answer that flips them). Else browsers answer actpass with
        // active (they become the DTLS client).
        let setup = match (self.dtls_role, remote.setup) {
            (Some(DtlsRole::Client), _) => "active",
            (Some(DtlsRole::Server), _) | (None, Some(DtlsRole::Client)) => "passive",
            (None, _) => "active",
        };
        Ok((sections, setup))
    }

    /// Whether we could accept this remote section (its transport may carry the bundle):
    /// a data section, or an audio/video section with a codec in common.
    fn can_accept(&self, section: &RemoteSection) -> bool {
        section.is_data
            || section.media.as_ref().is_some_and(|m| {
                let ours = self.capabilities.codecs(m.kind);
                m.codecs.iter().any(|offered| ours.iter().any(|c| c.matches(offered)))
            })
    }

    pub(super) fn local_parameters(&mut self, setup: &'static str, sections: Vec<LocalSection>) -> LocalParameters {
        self.session_version += 1;
        let creds = self.ice.local_credentials();
        LocalParameters {
            session_id: self.session_id,
            session_version: self.session_version,
            ice_ufrag: creds.ufrag.clone(),
            ice_pwd: creds.pwd.clone(),
            fingerprint: self.certificate.fingerprint().to_string(),
            setup,
            sections,
        }
    }

    /// Whether a created description still says what one created now would (webrtc-pc: "no
    /// longer accurately represents the system state").
    fn still_valid(&self, params: &LocalParameters, kind: SdpType) -> bool {
        let creds = self.ice.local_credentials();
        if params.ice_ufrag != creds.ufrag || params.ice_pwd != creds.pwd {
            return false;
        }
        // After restartIce() only an offer with new credentials will do.
        if kind == SdpType::Offer && self.ice_restart_pending() {
            return false;
        }
        match kind {
            SdpType::Offer => self.offer_sections_now() == params.sections,
            _ => self
                .answer_sections_now()
                .is_ok_and(|(sections, setup)| sections == params.sections && setup == params.setup),
        }
    }

    /// `setLocalDescription`. `None` (or an offer or answer with an empty `sdp`) applies
    /// `[[LastCreatedOffer]]`/`[[LastCreatedAnswer]]` if it is still valid, else a freshly
    /// created one; `None` picks the kind the state calls for (an offer in `stable`,
    /// `have-local-offer` and `have-remote-pranswer`, an answer otherwise).
    ///
    /// Errors: `InvalidStateError` when closed or when the state does not allow the kind;
    /// `InvalidModificationError` when the SDP is not the last one created (no munging).
    pub fn set_local_description(
        &mut self,
        now: Instant,
        desc: Option<SessionDescriptionInit>,
    ) -> Result<(), RtcError> {
        if self.closed {
            return Err(closed_error());
        }
        use SignalingState as S;
        let (kind, sdp) = match desc {
            Some(d) => (d.kind, d.sdp),
            None => match self.signaling {
                S::Stable | S::HaveLocalOffer | S::HaveRemotePranswer => (SdpType::Offer, String::new()),
                _ => (SdpType::Answer, String::new()),
            },
        };
        if kind == SdpType::Rollback {
            // The sdp of a rollback is ignored.
            return self.rollback(now, false);
        }
        let last = match kind {
            SdpType::Offer => &self.last_offer,
            _ => &self.last_answer,
        };
        let matches_last = sdp.is_empty() || last.as_ref().is_some_and(|(created, _)| created.sdp == sdp);
        let munged = || {
            RtcError::InvalidModification(format!(
                "the {} is not the last one create_{} made (SDP munging is not supported)",
                kind.as_str(),
                if kind == SdpType::Offer { "offer" } else { "answer" },
            ))
        };
        // Browsers check an offer or answer against the last created one before the state, a
        // provisional answer after it.
        if kind == SdpType::Pranswer {
            self.check_transition(Side::Local, kind)?;
        }
        if !matches_last {
            return Err(munged());
        }
        self.check_transition(Side::Local, kind)?;

        let reusable = match (sdp.is_empty(), last.clone()) {
            (false, Some((created, params))) => Some((created.sdp, params)),
            (true, Some((created, params))) if self.still_valid(&params, kind) => Some((created.sdp, params)),
            _ => None,
        };
        let (sdp, params) = match reusable {
            Some(found) => found,
            None if kind == SdpType::Offer => {
                let created = self.create_offer()?;
                (
                    created.sdp,
                    self.last_offer.as_ref().map(|(_, p)| p.clone()).ok_or_else(munged)?,
                )
            }
            None => {
                let created = self.create_answer()?;
                (
                    created.sdp,
                    self.last_answer.as_ref().map(|(_, p)| p.clone()).ok_or_else(munged)?,
                )
            }
        };
        let applied = SessionDescriptionInit { kind, sdp };
        if kind == SdpType::Offer && self.signaling == S::Stable {
            self.rollback_point = Some(self.rollback_point_now());
        }
        self.local = Some(params);

        match kind {
            SdpType::Offer => {
                self.pending_local = Some(applied);
                self.associate_local_offer();
                self.set_signaling(S::HaveLocalOffer);
            }
            SdpType::Pranswer => {
                self.pending_local = Some(applied);
                self.set_signaling(S::HaveLocalPranswer);
            }
            SdpType::Answer => {
                self.current_local = Some(applied);
                self.pending_local = None;
                if let Some(p) = self.pending_remote.take() {
                    self.current_remote = Some(p);
                }
                self.rollback_point = None;
                self.set_signaling(S::Stable);
                self.ice.set_role(if self.remote.as_ref().is_some_and(|r| r.ice_lite) {
                    IceRole::Controlling
                } else {
                    IceRole::Controlled
                });
                self.negotiate_dtls_role();
                self.apply_media_negotiation(true);
                self.release_unused_transport();
            }
            SdpType::Rollback => {}
        }
        self.start_gathering(now);
        self.local_ice_description_applied(now);
        // Back in `stable` after an answer (a no-op otherwise), once the ICE credentials are
        // settled: what changed during the exchange may need another one.
        self.update_negotiation_needed();
        self.pump(now);
        Ok(())
    }

    /// `setRemoteDescription`.
    ///
    /// The state is checked before the SDP is parsed (`InvalidStateError` for an answer in
    /// `stable`, whatever its SDP). An offer in `have-local-offer` first rolls our offer back
    /// (perfect negotiation's implicit rollback), and stays rolled back if the offer then
    /// fails. An SDP that does not parse is an `RTCError` with `errorDetail`
    /// `sdp-syntax-error` ([`RtcError::SdpSyntax`]); a description we cannot use (no ICE
    /// credentials, no `a=rtcp-mux` under the `require` policy, an answer whose sections do not
    /// match the offer) is `InvalidAccessError`. A failed description leaves everything else as
    /// it was.
    pub fn set_remote_description(&mut self, now: Instant, desc: SessionDescriptionInit) -> Result<(), RtcError> {
        if self.closed {
            return Err(closed_error());
        }
        if desc.kind == SdpType::Rollback {
            return self.rollback(now, false);
        }
        let implicit_rollback = desc.kind == SdpType::Offer && self.signaling == SignalingState::HaveLocalOffer;
        if !implicit_rollback {
            self.check_transition(Side::Remote, desc.kind)?;
        }
        if implicit_rollback {
            self.rollback(now, true)?;
        }
        let parsed =
            SessionDescription::parse(&desc.sdp).map_err(|e| RtcError::SdpSyntax(format!("remote SDP: {e}")))?;
        let remote = RemoteParameters::from_sdp_accepting(&parsed, desc.kind, |s| self.can_accept(s))?;
        // rtcpMuxPolicy `require` (the only policy): RTP and RTCP must share the transport.
        if let Some(section) = remote
            .sections
            .iter()
            .find(|s| !s.rejected && s.media.as_ref().is_some_and(|m| !m.rtcp_mux))
        {
            return Err(RtcError::InvalidAccess(format!(
                "media section {} has no a=rtcp-mux, which the rtcpMuxPolicy require needs",
                section.mid.as_deref().unwrap_or("(no mid)")
            )));
        }
        if matches!(desc.kind, SdpType::Answer | SdpType::Pranswer) {
            let offered = self.local.as_ref().map(|l| l.sections.len()).unwrap_or(0);
            if remote.sections.len() != offered {
                return Err(RtcError::InvalidAccess(format!(
                    "the answer has {} media sections, the offer {offered}",
                    remote.sections.len()
                )));
            }
        }
        if desc.kind == SdpType::Offer {
            self.check_room_for_remote_offer(&remote)?;
        }
        self.prepare_remote_ice_restart(&remote, desc.kind);

        self.ice.set_remote_credentials(IceCredentials {
            ufrag: remote.ice_ufrag.clone(),
            pwd: remote.ice_pwd.clone(),
        });
        self.ice.set_remote_lite(remote.ice_lite);
        for c in &remote.candidates {
            self.ice.add_remote_candidate(c.clone());
        }
        if remote.end_of_candidates {
            self.ice.end_of_remote_candidates(now);
        }
        let applied = desc.clone();
        match desc.kind {
            SdpType::Offer => {
                if self.signaling == SignalingState::Stable {
                    self.rollback_point = Some(self.rollback_point_now());
                }
                // RFC 8445 §6.1.1: the answerer is controlled (unless the offerer is lite). Taken
                // now for the first negotiation, so that two agents that both offered (glare, an
                // implicit rollback) are not both controlling while the checks start.
                if self.current_remote.is_none() {
                    self.ice.set_role(if remote.ice_lite {
                        IceRole::Controlling
                    } else {
                        IceRole::Controlled
                    });
                }
                self.pending_remote = Some(applied);
                self.remote = Some(remote);
                let before = self.transceivers.len();
                self.associate_remote_offer();
                let after = self.transceivers.len();
                if let Some(point) = &mut self.rollback_point {
                    point.created.extend(before..after);
                }
                self.set_signaling(SignalingState::HaveRemoteOffer);
                self.fire_remote_tracks();
            }
            SdpType::Pranswer => {
                self.pending_remote = Some(applied);
                self.remote = Some(remote);
                self.set_signaling(SignalingState::HaveRemotePranswer);
            }
            SdpType::Answer => {
                self.current_remote = Some(applied);
                self.pending_remote = None;
                if let Some(l) = self.pending_local.take() {
                    self.current_local = Some(l);
                }
                self.remote = Some(remote);
                self.rollback_point = None;
                self.set_signaling(SignalingState::Stable);
                // The offerer controls, unless it is lite (never us: we are full ICE).
                self.ice.set_role(IceRole::Controlling);
                self.negotiate_dtls_role();
                self.apply_media_negotiation(false);
                self.release_unused_transport();
            }
            SdpType::Rollback => {}
        }
        self.remote_ice_description_applied();
        // As after a local answer.
        self.update_negotiation_needed();
        self.pump(now);
        Ok(())
    }

    /// After a completed exchange: when it left no section in use (every transceiver stopped,
    /// no data channel), no transport remains and `iceGatheringState` is `new` again
    /// (webrtc-pc §4.3.2: "there are no transports"). A later exchange that brings a section
    /// back gathers again, announcing the same candidates.
    fn release_unused_transport(&mut self) {
        let Some(local) = &self.local else { return };
        let remote = self.remote.as_ref();
        let in_use = local.sections.iter().enumerate().any(|(index, section)| {
            !matches!(section, LocalSection::Rejected { .. })
                && !remote.and_then(|r| r.sections.get(index)).is_some_and(|r| r.rejected)
        });
        if !in_use && self.gathering != IceGatheringState::New {
            tracing::debug!("no section left in use: no transport, gathering back to new");
            self.gather_due = None;
            self.set_gathering(IceGatheringState::New);
        }
    }

    /// Whether a description of this kind may be applied to this side in the current
    /// signaling state (W3C webrtc-pc §4.4.1.5); `InvalidStateError` if not.
    pub(super) fn check_transition(&self, side: Side, kind: SdpType) -> Result<(), RtcError> {
        use SignalingState as S;
        let allowed: &[SignalingState] = match (side, kind) {
            (_, SdpType::Rollback) => &[S::HaveLocalOffer, S::HaveRemoteOffer],
            (Side::Local, SdpType::Offer) => &[S::Stable, S::HaveLocalOffer],
            (Side::Local, _) => &[S::HaveRemoteOffer, S::HaveLocalPranswer],
            (Side::Remote, SdpType::Offer) => &[S::Stable, S::HaveRemoteOffer],
            (Side::Remote, _) => &[S::HaveLocalOffer, S::HaveRemotePranswer],
        };
        let side = match side {
            Side::Local => "local",
            Side::Remote => "remote",
        };
        if allowed.contains(&self.signaling) {
            Ok(())
        } else {
            Err(RtcError::InvalidState(format!(
                "a {side} {} is not allowed in state {}",
                kind.as_str(),
                self.signaling
            )))
        }
    }

    /// What a rollback of an offer applied now would restore.
    fn rollback_point_now(&self) -> RollbackPoint {
        RollbackPoint {
            local: self.local.clone(),
            remote: self.remote.clone(),
            mids: self.transceivers.iter().map(|t| t.mid.clone()).collect(),
            created: Vec::new(),
            fired: self.transceivers.iter().map(|t| t.track_fired).collect(),
        }
    }

    /// Rolls back the pending offer, local or remote (an `{type: rollback}` on either side, or
    /// the implicit rollback of a remote offer in `have-local-offer`): the descriptions and the
    /// transceivers' mids return to what they were in `stable`; transceivers the remote offer
    /// created are removed unless `add_track` attached a track to them; the remote tracks the
    /// offer announced mute and leave their streams (`removetrack`); a rolled-back first
    /// local offer takes the gathering state back to `new`. An implicit rollback does not
    /// check whether negotiation is needed: the connection is not staying in `stable`.
    fn rollback(&mut self, now: Instant, implicit: bool) -> Result<(), RtcError> {
        self.check_transition(Side::Local, SdpType::Rollback)?;
        let local_offer = self.signaling == SignalingState::HaveLocalOffer;
        // Tracks the rolled-back remote offer announced leave their streams again (before a
        // transceiver it created is stopped, which forgets its track).
        let mut removals = Vec::new();
        if let Some(point) = self.rollback_point.take() {
            self.local = point.local;
            self.remote = point.remote;
            for (index, t) in self.transceivers.iter_mut().enumerate() {
                if !point.fired.get(index).copied().unwrap_or(false) {
                    removals.extend(t.remove_remote_track());
                }
                if point.created.contains(&index) && !t.sender_ever_had_track {
                    t.removed = true;
                    t.mark_stopped();
                }
                // Transceivers added since `stable` had no mid then: any they have now came from
                // the rolled-back offer.
                t.mid = point.mids.get(index).cloned().flatten();
            }
        }
        self.pending_local = None;
        self.pending_remote = None;
        if local_offer && self.current_local.is_none() {
            self.set_gathering(IceGatheringState::New);
        }
        self.set_signaling(SignalingState::Stable);
        for event in removals {
            self.push_event(event);
        }
        if !implicit {
            self.update_negotiation_needed();
        }
        self.pump(now);
        Ok(())
    }

    /// `setConfiguration`'s ICE part: the transport policy and the servers (host names resolved
    /// by the runtime) that gathering uses from the next time it starts. A gathering already
    /// under way keeps what it started with.
    pub fn set_ice_configuration(
        &mut self,
        policy: IceTransportPolicy,
        servers: Vec<crate::ice::ServerEndpoint>,
    ) -> Result<(), RtcError> {
        if self.closed {
            return Err(closed_error());
        }
        self.ice_transport_policy = policy;
        self.ice_servers = servers;
        Ok(())
    }

    /// The `iceTransportPolicy` in force.
    pub fn ice_transport_policy(&self) -> IceTransportPolicy {
        self.ice_transport_policy
    }

    /// `pendingLocalDescription`: the local offer or provisional answer being negotiated, with
    /// the candidates gathered so far.
    pub fn pending_local_description(&self) -> Option<SessionDescriptionInit> {
        self.pending_local.as_ref()?;
        self.local_description()
    }

    /// `currentLocalDescription`: our side of the last completed offer/answer exchange. While
    /// nothing is pending it carries the candidates gathered so far; while an offer is pending
    /// it is the SDP as it was applied.
    pub fn current_local_description(&self) -> Option<SessionDescriptionInit> {
        if self.pending_local.is_none() {
            return self.current_local.as_ref().and_then(|_| self.local_description());
        }
        self.current_local.clone()
    }

    /// `pendingRemoteDescription`: the remote offer or provisional answer being negotiated.
    pub fn pending_remote_description(&self) -> Option<SessionDescriptionInit> {
        self.pending_remote.clone()
    }

    /// `canTrickleIceCandidates`: `None` until a remote description is set, then whether it
    /// says `a=ice-options:trickle`.
    pub fn can_trickle_ice_candidates(&self) -> Option<bool> {
        let remote = self.remote_description()?;
        let parsed = SessionDescription::parse(&remote.sdp).ok()?;
        let trickle = match parsed.media_sections().next() {
            Some(section) => section.ice_options().contains(&"trickle"),
            None => parsed.attributes.iter().any(
                |a| matches!(a, crate::sdp::Attribute::IceOptions(options) if options.iter().any(|o| o == "trickle")),
            ),
        };
        Some(trickle)
    }

    /// `addIceCandidate`. `None`, or a candidate with an empty `candidate`, is end-of-candidates.
    pub fn add_ice_candidate(&mut self, now: Instant, candidate: Option<IceCandidateInit>) -> Result<(), RtcError> {
        if self.closed {
            return Err(closed_error());
        }
        let remote = self
            .remote
            .as_ref()
            .ok_or_else(|| RtcError::InvalidState("add_ice_candidate needs a remote description".into()))?;
        let candidate = candidate.unwrap_or_default();
        let end_of_candidates = candidate.candidate.trim().is_empty();
        if !end_of_candidates && candidate.sdp_mid.is_none() && candidate.sdp_m_line_index.is_none() {
            return Err(RtcError::Type("a candidate needs sdpMid or sdpMLineIndex".into()));
        }
        if let Some(mid) = &candidate.sdp_mid {
            if !remote.sections.iter().any(|s| s.mid.as_deref() == Some(mid.as_str())) {
                return Err(RtcError::Operation(format!("no media section with mid {mid:?}")));
            }
        } else if let Some(index) = candidate.sdp_m_line_index {
            if usize::from(index) >= remote.sections.len() {
                return Err(RtcError::Operation(format!("no media section at index {index}")));
            }
        }
        if let Some(ufrag) = &candidate.username_fragment {
            if *ufrag != remote.ice_ufrag {
                return Err(RtcError::Operation(format!(
                    "the candidate's ufrag {ufrag:?} is not the remote's"
                )));
            }
        }
        // The media section the candidate belongs to (a valid mid wins over the index).
        let section = match &candidate.sdp_mid {
            Some(mid) => remote
                .sections
                .iter()
                .position(|s| s.mid.as_deref() == Some(mid.as_str())),
            None => candidate.sdp_m_line_index.map(usize::from),
        };
        if end_of_candidates {
            // For one section only when the ufrag says which generation and the section is named.
            let section = section.filter(|_| candidate.username_fragment.is_some());
            self.ice.end_of_remote_candidates(now);
            self.record_remote_line(section, "a=end-of-candidates");
            self.pump(now);
            return Ok(());
        }
        let parsed = Candidate::parse(&candidate.candidate).map_err(|e| RtcError::Operation(e.to_string()))?;
        // Only the bundled transport's component 1 is used (rtcp-mux).
        if parsed.component == 1 {
            self.ice.add_remote_candidate(parsed);
        }
        let line = candidate.candidate.trim();
        let line = if line.starts_with("a=") {
            line.to_string()
        } else {
            format!("a={line}")
        };
        self.record_remote_line(section, &line);
        self.pump(now);
        Ok(())
    }

    /// The first `setLocalDescription` starts gathering: the state becomes `gathering` at once,
    /// and the candidates come on the next [`handle_timeout`](PeerConnection::handle_timeout)
    /// (due at `now`, see [`begin_gathering`](Self::begin_gathering)). As in the browser, the
    /// description `setLocalDescription` leaves has no candidates; each one joins it as its
    /// `icecandidate` fires.
    pub(super) fn start_gathering(&mut self, now: Instant) {
        // A description without a section in use (none, or all rejected) has no transport to
        // gather for.
        let has_transport = self
            .local
            .as_ref()
            .is_some_and(|l| l.sections.iter().any(|s| !matches!(s, LocalSection::Rejected { .. })));
        if self.gathering != IceGatheringState::New || !has_transport {
            return;
        }
        self.set_gathering(IceGatheringState::Gathering);
        self.gather_due = Some(now);
    }

    /// Gathering proper: host candidates at once, then server-reflexive and relayed ones as the
    /// servers answer. Gathering is complete (and the null candidate fires) when every server
    /// transaction has finished or failed. Nothing happens if a rollback took the state back
    /// to `new` in between.
    pub(super) fn begin_gathering(&mut self, now: Instant) {
        self.gather_due = None;
        if self.gathering != IceGatheringState::Gathering {
            return;
        }
        if self.gather_started {
            // A rolled-back first offer had started gathering: its candidates are announced again.
            for candidate in std::mem::take(&mut self.local_candidates) {
                self.signal_candidate(candidate);
            }
            if self.gather_complete {
                self.set_gathering(IceGatheringState::Complete);
                self.push_event(PeerEvent::IceCandidate(None));
            }
            return;
        }
        self.gather_started = true;
        for addr in self.local_addresses.clone() {
            self.gather_address(addr);
        }
        let relay_only = self.ice_transport_policy == IceTransportPolicy::Relay;
        self.gatherer
            .start(now, &self.local_addresses, &self.ice_servers, relay_only);
        self.drain_gather_events(now);
    }

    /// Signals what the gatherer found, adds relayed candidates to the agent, asks the
    /// allocations for permissions towards every remote candidate (before checks go out) and
    /// completes gathering.
    pub(super) fn drain_gather_events(&mut self, now: Instant) {
        while let Some(event) = self.gatherer.poll_event() {
            match event {
                GatherEvent::Candidate(candidate) => {
                    if candidate.kind == CandidateKind::Relay && !self.ice.add_local_candidate(candidate.clone()) {
                        continue;
                    }
                    if self.gathering == IceGatheringState::New {
                        // Gathered after a rollback took the state back to new: announced later.
                        self.local_candidates.push(candidate);
                        continue;
                    }
                    self.signal_candidate(candidate);
                }
                GatherEvent::Error(e) => self.push_event(PeerEvent::IceCandidateError {
                    address: e.address.map(|a| a.ip()),
                    port: e.address.map(|a| a.port()),
                    url: e.url,
                    error_code: e.error_code,
                    error_text: e.error_text,
                }),
                GatherEvent::Complete => {
                    self.gather_complete = true;
                    if self.gathering == IceGatheringState::Gathering {
                        self.set_gathering(IceGatheringState::Complete);
                        self.push_event(PeerEvent::IceCandidate(None));
                    }
                }
            }
        }
        // New remote candidates: the gatherer lets their addresses in through every allocation,
        // present and future.
        let remotes = self.ice.remote_candidates().count();
        if remotes != self.permitted_remotes {
            self.permitted_remotes = remotes;
            let peers: Vec<_> = self
                .ice
                .remote_candidates()
                .filter_map(|c| c.socket_addr())
                .map(|a| a.ip())
                .collect();
            for peer in peers {
                self.gatherer.permit(now, peer);
            }
        }
    }

    pub(super) fn gather_address(&mut self, addr: SocketAddr) {
        // Host candidates are never used under the relay-only policy.
        if self.ice_transport_policy == IceTransportPolicy::Relay {
            return;
        }
        // Earlier addresses are preferred; IPv6 before IPv4 as browsers do.
        let rank = self.local_candidates.len() as u16;
        let family = if addr.is_ipv6() { 32768 } else { 0 };
        let candidate = Candidate::host(addr, 1, (family + 32767u16).saturating_sub(rank));
        if !self.ice.add_local_candidate(candidate.clone()) {
            return;
        }
        self.signal_candidate(candidate);
    }

    /// Adds a local candidate to the description and fires `icecandidate` for it.
    pub(super) fn signal_candidate(&mut self, candidate: Candidate) {
        let ufrag = self.ice.local_credentials().ufrag.clone();
        let (mid, index) = self.transport_mid();
        self.local_candidates.push(candidate.clone());
        self.push_event(PeerEvent::IceCandidate(Some(IceCandidateInit {
            candidate: candidate.to_string(),
            sdp_mid: mid,
            sdp_m_line_index: Some(index),
            username_fragment: Some(ufrag),
        })));
    }

    /// The mid and index of the section that carries the bundled transport.
    pub(super) fn transport_mid(&self) -> (Option<String>, u16) {
        let sections = self.local.as_ref().map(|l| l.sections.as_slice()).unwrap_or_default();
        sections
            .iter()
            .enumerate()
            .find(|(_, s)| matches!(s, LocalSection::Data { .. } | LocalSection::Media(_)))
            .map(|(i, s)| (s.mid().map(str::to_string), i as u16))
            .unwrap_or((Some("0".into()), 0))
    }
}
