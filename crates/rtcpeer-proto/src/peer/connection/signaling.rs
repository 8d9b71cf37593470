//! The signaling half of [`PeerConnection`]: offers, answers, descriptions,
//! remote candidates and gathering (W3C webrtc-pc §4.4, JSEP RFC 8829).

use std::net::SocketAddr;
use std::time::Instant;

use crate::dtls::DtlsRole;
use crate::ice::{Candidate, CandidateKind, GatherEvent, IceCredentials, IceRole};
use crate::jsep::{LocalParameters, LocalSection, RemoteParameters, RemoteSection};
use crate::sdp::SessionDescription;

use super::super::types::*;
use super::transceivers::next_free_mid;
use super::{closed_error, PeerConnection, PeerEvent};

/// Which description a signaling step applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Side {
    Local,
    Remote,
}

impl PeerConnection {
    /// `createOffer`.
    pub fn create_offer(&mut self) -> Result<SessionDescriptionInit, RtcError> {
        if self.closed {
            return Err(closed_error());
        }
        // An offer can be created wherever a local offer could be applied.
        self.check_transition(Side::Local, SdpType::Offer)?;
        // Keep the sections already negotiated, in order; then new transceivers; then the data
        // section if channels exist and none was negotiated.
        let base = self.local.as_ref().map(|l| l.sections.clone()).unwrap_or_default();
        let mut sections = self.offer_sections(base);
        if !sections.iter().any(|s| matches!(s, LocalSection::Data { .. })) && self.channels.ids().next().is_some() {
            let mid = next_free_mid(&sections);
            sections.push(LocalSection::Data { mid });
        }
        let params = self.local_parameters("actpass", sections);
        let init = SessionDescriptionInit::offer(params.render(&[], false));
        self.last_created = Some((init.clone(), params));
        Ok(init)
    }

    /// `createAnswer`.
    pub fn create_answer(&mut self) -> Result<SessionDescriptionInit, RtcError> {
        if self.closed {
            return Err(closed_error());
        }
        self.check_transition(Side::Local, SdpType::Answer)?;
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
        // Browsers answer actpass with active (they become the DTLS client).
        let setup = match remote.setup {
            Some(DtlsRole::Client) => "passive",
            _ => "active",
        };
        let params = self.local_parameters(setup, sections);
        let init = SessionDescriptionInit::answer(params.render(&[], false));
        self.last_created = Some((init.clone(), params));
        Ok(init)
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

    /// `setLocalDescription`. `None` applies the offer or answer the state
    /// calls for, creating it first (the browser's implicit form).
    pub fn set_local_description(
        &mut self,
        now: Instant,
        desc: Option<SessionDescriptionInit>,
    ) -> Result<(), RtcError> {
        if self.closed {
            return Err(closed_error());
        }
        let desc = match desc {
            Some(d) if !(d.sdp.is_empty() && d.kind != SdpType::Rollback) => d,
            other => {
                let kind = other.map(|d| d.kind);
                match (kind, self.signaling) {
                    (Some(SdpType::Rollback), _) => SessionDescriptionInit {
                        kind: SdpType::Rollback,
                        sdp: String::new(),
                    },
                    (None, SignalingState::Stable | SignalingState::HaveLocalOffer) | (Some(SdpType::Offer), _) => {
                        self.create_offer()?
                    }
                    _ => self.create_answer()?,
                }
            }
        };
        if desc.kind == SdpType::Rollback {
            return self.rollback_local();
        }
        self.check_transition(Side::Local, desc.kind)?;
        // SDP munging is not supported: the description must be the one we created last.
        let params = match &self.last_created {
            Some((created, params)) if created.kind == desc.kind && created.sdp == desc.sdp => params.clone(),
            _ => {
                return Err(RtcError::InvalidModification(
                    "the description is not the last one created by create_offer/create_answer".into(),
                ))
            }
        };
        self.local = Some(params);

        match desc.kind {
            SdpType::Offer => {
                self.pending_local = Some(desc);
                self.associate_local_offer();
                self.set_signaling(SignalingState::HaveLocalOffer);
            }
            SdpType::Pranswer => {
                self.pending_local = Some(desc);
                self.set_signaling(SignalingState::HaveLocalPranswer);
            }
            SdpType::Answer => {
                self.current_local = Some(desc);
                self.pending_local = None;
                if let Some(p) = self.pending_remote.take() {
                    self.current_remote = Some(p);
                }
                self.set_signaling(SignalingState::Stable);
                self.ice.set_role(if self.remote.as_ref().is_some_and(|r| r.ice_lite) {
                    IceRole::Controlling
                } else {
                    IceRole::Controlled
                });
                self.negotiate_dtls_role();
                self.apply_media_negotiation(true);
            }
            SdpType::Rollback => unreachable!("handled above"),
        }
        self.start_gathering(now);
        self.pump(now);
        Ok(())
    }

    /// `setRemoteDescription`. A malformed description fails with
    /// `OperationError` and leaves the connection as it was.
    pub fn set_remote_description(&mut self, now: Instant, desc: SessionDescriptionInit) -> Result<(), RtcError> {
        if self.closed {
            return Err(closed_error());
        }
        if desc.kind == SdpType::Rollback {
            return self.rollback_remote();
        }
        self.check_transition(Side::Remote, desc.kind)?;
        let parsed =
            SessionDescription::parse(&desc.sdp).map_err(|e| RtcError::Operation(format!("remote SDP: {e}")))?;
        // Only data sections are accepted so far: the transport is the first bundled data section's.
        let remote = RemoteParameters::from_sdp_accepting(&parsed, desc.kind, |s| self.can_accept(s))?;
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
        if let (Some(previous), true) = (&self.remote, self.dtls.is_some()) {
            if previous.ice_ufrag != remote.ice_ufrag {
                return Err(RtcError::NotSupported("ICE restart is not supported yet".into()));
            }
        }

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
                self.pending_remote = Some(applied);
                self.remote = Some(remote);
                self.associate_remote_offer();
                self.set_signaling(SignalingState::HaveRemoteOffer);
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
                self.set_signaling(SignalingState::Stable);
                // The offerer controls, unless it is lite (never us: we are full ICE).
                self.ice.set_role(IceRole::Controlling);
                self.negotiate_dtls_role();
                self.apply_media_negotiation(false);
            }
            SdpType::Rollback => unreachable!("handled above"),
        }
        self.pump(now);
        Ok(())
    }

    /// Whether a description of this kind may be applied to this side in the current
    /// signaling state (W3C webrtc-pc §4.4.1.5); `InvalidStateError` if not.
    pub(super) fn check_transition(&self, side: Side, kind: SdpType) -> Result<(), RtcError> {
        use SignalingState as S;
        let allowed: &[SignalingState] = match (side, kind) {
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

    pub(super) fn rollback_local(&mut self) -> Result<(), RtcError> {
        if self.signaling != SignalingState::HaveLocalOffer {
            return Err(RtcError::InvalidState(format!(
                "nothing local to roll back in state {}",
                self.signaling
            )));
        }
        self.pending_local = None;
        self.set_signaling(SignalingState::Stable);
        Ok(())
    }

    pub(super) fn rollback_remote(&mut self) -> Result<(), RtcError> {
        if self.signaling != SignalingState::HaveRemoteOffer {
            return Err(RtcError::InvalidState(format!(
                "nothing remote to roll back in state {}",
                self.signaling
            )));
        }
        self.pending_remote = None;
        self.remote = self.current_remote.as_ref().and_then(|a| {
            let parsed = SessionDescription::parse(&a.sdp).ok()?;
            RemoteParameters::from_sdp_accepting(&parsed, a.kind, |s| self.can_accept(s)).ok()
        });
        self.set_signaling(SignalingState::Stable);
        Ok(())
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
        let candidate = match candidate {
            Some(c) if !c.candidate.trim().is_empty() => c,
            _ => {
                self.ice.end_of_remote_candidates(now);
                self.pump(now);
                return Ok(());
            }
        };
        if candidate.sdp_mid.is_none() && candidate.sdp_m_line_index.is_none() {
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
        let parsed = Candidate::parse(&candidate.candidate).map_err(|e| RtcError::Operation(e.to_string()))?;
        // Only the bundled transport's component 1 is used (rtcp-mux).
        if parsed.component == 1 {
            self.ice.add_remote_candidate(parsed);
        }
        self.pump(now);
        Ok(())
    }

    /// Starts gathering on the first `setLocalDescription`: host candidates at once, then
    /// server-reflexive and relayed ones as the servers answer. Gathering is complete (and the
    /// null candidate fires) when every server transaction has finished or failed.
    pub(super) fn start_gathering(&mut self, now: Instant) {
        if self.gathering != IceGatheringState::New {
            return;
        }
        self.set_gathering(IceGatheringState::Gathering);
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
    fn signal_candidate(&mut self, candidate: Candidate) {
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
