//! [`PeerConnection`]: the sans-IO `RTCPeerConnection`.
//!
//! It owns one ICE agent, one DTLS transport and one SCTP association (all
//! media sections are bundled onto one transport), and runs the signaling
//! state machine of W3C webrtc-pc §4.4 over them.
//!
//! The path of one datagram in: [`PeerConnection::handle_receive`] looks at
//! its first byte (RFC 7983): STUN goes to the ICE agent; DTLS goes to the
//! DTLS transport if it came from the selected candidate pair's remote
//! address; anything else is dropped and counted. Decrypted DTLS application
//! data is an SCTP packet, handed to the data channels. On the way out, data
//! channels produce SCTP packets, DTLS encrypts them into records, and they
//! leave as [`Transmit`]s over the selected pair.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Instant;

use tracing::{debug, trace};

use crate::datachannel::{
    ChannelId, DataChannelError, DataChannelEvent, DataChannelInfo, DataChannelInit, DataChannelMessage, DataChannels,
    DataChannelsConfig,
};
use crate::dtls::{Certificate, DtlsEvent, DtlsRole, DtlsTransport};
use crate::ice::{Candidate, IceAgent, IceAgentConfig, IceCredentials, IceEvent, IceRole};
use crate::jsep::{LocalParameters, LocalSection, RemoteParameters};
use crate::net::{PacketKind, Receive, Transmit};
use crate::sdp::SessionDescription;

use super::types::*;

/// The most events queued for the application before the oldest are dropped.
const MAX_QUEUED_EVENTS: usize = 4096;
/// The most datagrams queued for sending.
const MAX_QUEUED_TRANSMITS: usize = 4096;
/// The most local addresses (host candidates) a connection gathers on.
const MAX_LOCAL_ADDRESSES: usize = 32;

/// The configuration of a [`PeerConnection`] (the parts of `RTCConfiguration` the core uses).
#[derive(Debug, Clone, Default)]
pub struct PeerConfig {
    /// The DTLS certificate; one is generated when absent.
    pub certificate: Option<Certificate>,
    /// `bundlePolicy`. Every policy bundles the data section, the only one this slice negotiates.
    pub bundle_policy: BundlePolicy,
    /// `iceTransportPolicy`.
    pub ice_transport_policy: IceTransportPolicy,
}

/// What the application hears from a [`PeerConnection`].
#[derive(Debug, Clone, PartialEq)]
pub enum PeerEvent {
    /// `icecandidate`: a local candidate, or `None` for end-of-candidates (the null candidate).
    IceCandidate(Option<IceCandidateInit>),
    /// `icegatheringstatechange`.
    IceGatheringStateChange(IceGatheringState),
    /// `iceconnectionstatechange`.
    IceConnectionStateChange(IceConnectionState),
    /// `connectionstatechange`.
    ConnectionStateChange(PeerConnectionState),
    /// `signalingstatechange`.
    SignalingStateChange(SignalingState),
    /// `negotiationneeded`.
    NegotiationNeeded,
    /// `datachannel`: the remote opened this channel.
    DataChannel(ChannelId),
    /// The channel's `open`.
    ChannelOpen(ChannelId),
    /// The channel's `message`.
    ChannelMessage(ChannelId, DataChannelMessage),
    /// The channel's `bufferedamountlow`.
    ChannelBufferedAmountLow(ChannelId),
    /// The channel's `closing`.
    ChannelClosing(ChannelId),
    /// The channel's `close`.
    ChannelClose(ChannelId),
    /// The channel's `error`, with what went wrong.
    ChannelError(ChannelId, String),
}

/// Counters of what the connection dropped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DropCounters {
    /// Datagrams that were neither STUN, DTLS nor RTP.
    pub unknown: u64,
    /// DTLS records from an address that is not the selected pair's.
    pub unexpected_source: u64,
    /// RTP/RTCP (no media is negotiated in this slice).
    pub rtp: u64,
    /// Events dropped because the application did not read them.
    pub events: u64,
}

/// The sans-IO `RTCPeerConnection`.
#[derive(Debug)]
pub struct PeerConnection {
    certificate: Certificate,
    ice_transport_policy: IceTransportPolicy,
    closed: bool,
    signaling: SignalingState,
    gathering: IceGatheringState,
    ice_state: IceConnectionState,
    state: PeerConnectionState,

    ice: IceAgent,
    dtls: Option<DtlsTransport>,
    dtls_role: Option<DtlsRole>,
    /// The DTLS transport could not even be created.
    dtls_failed: bool,
    channels: DataChannels,

    local_addresses: Vec<SocketAddr>,
    local_candidates: Vec<Candidate>,
    /// What we offered or answered last (rendered again with candidates for `local_description`).
    local: Option<LocalParameters>,
    /// Our last `create_offer`/`create_answer`, with what it says.
    last_created: Option<(SessionDescriptionInit, LocalParameters)>,
    current_local: Option<SessionDescriptionInit>,
    pending_local: Option<SessionDescriptionInit>,
    current_remote: Option<SessionDescriptionInit>,
    pending_remote: Option<SessionDescriptionInit>,
    remote: Option<RemoteParameters>,
    session_id: u64,
    session_version: u64,
    negotiation_needed: bool,

    events: VecDeque<PeerEvent>,
    transmits: VecDeque<Transmit>,
    drops: DropCounters,
}

fn closed_error() -> RtcError {
    RtcError::InvalidState("the peer connection is closed".into())
}

impl PeerConnection {
    /// A new connection in the `stable` signaling state with everything `new`.
    pub fn new(config: PeerConfig, now: Instant) -> Result<PeerConnection, RtcError> {
        let certificate = match config.certificate {
            Some(c) => c,
            None => Certificate::generate().map_err(|e| RtcError::Operation(format!("certificate: {e}")))?,
        };
        let ice = IceAgent::new(IceAgentConfig::new(IceRole::Controlling), now);
        let session_id = crate::rand::u64() >> 1;
        Ok(PeerConnection {
            certificate,
            ice_transport_policy: config.ice_transport_policy,
            closed: false,
            signaling: SignalingState::Stable,
            gathering: IceGatheringState::New,
            ice_state: IceConnectionState::New,
            state: PeerConnectionState::New,
            ice,
            dtls: None,
            dtls_role: None,
            dtls_failed: false,
            channels: DataChannels::new(DataChannelsConfig::default()),
            local_addresses: Vec::new(),
            local_candidates: Vec::new(),
            local: None,
            last_created: None,
            current_local: None,
            pending_local: None,
            current_remote: None,
            pending_remote: None,
            remote: None,
            session_id,
            session_version: 1,
            negotiation_needed: false,
            events: VecDeque::new(),
            transmits: VecDeque::new(),
            drops: DropCounters::default(),
        })
    }

    /// Tells the core about a local socket the runtime has bound: it becomes a
    /// host candidate (at once if gathering has begun).
    pub fn add_local_address(&mut self, addr: SocketAddr) {
        if self.closed || self.local_addresses.contains(&addr) || self.local_addresses.len() >= MAX_LOCAL_ADDRESSES {
            return;
        }
        self.local_addresses.push(addr);
        if self.gathering != IceGatheringState::New {
            self.gather_address(addr);
        }
    }

    /// The signaling state.
    pub fn signaling_state(&self) -> SignalingState {
        self.signaling
    }
    /// The ICE gathering state.
    pub fn ice_gathering_state(&self) -> IceGatheringState {
        self.gathering
    }
    /// The ICE connection state.
    pub fn ice_connection_state(&self) -> IceConnectionState {
        self.ice_state
    }
    /// The combined ICE + DTLS connection state.
    pub fn connection_state(&self) -> PeerConnectionState {
        self.state
    }
    /// What was dropped so far.
    pub fn drop_counters(&self) -> DropCounters {
        self.drops
    }
    /// Our certificate.
    pub fn certificate(&self) -> &Certificate {
        &self.certificate
    }
    /// The selected candidate pair, `(local, remote)`, once ICE has one.
    pub fn selected_candidate_pair(&self) -> Option<(SocketAddr, SocketAddr)> {
        self.ice.selected_pair()
    }

    /// `localDescription`: the pending local description if any, else the
    /// current one, with the candidates gathered so far.
    pub fn local_description(&self) -> Option<SessionDescriptionInit> {
        let applied = self.pending_local.as_ref().or(self.current_local.as_ref())?;
        let params = self.local.as_ref()?;
        let sdp = params.render(&self.local_candidates, self.gathering == IceGatheringState::Complete);
        Some(SessionDescriptionInit {
            kind: applied.kind,
            sdp,
        })
    }

    /// `remoteDescription`: the pending remote description if any, else the current one.
    pub fn remote_description(&self) -> Option<SessionDescriptionInit> {
        self.pending_remote.as_ref().or(self.current_remote.as_ref()).cloned()
    }

    /// `currentRemoteDescription`.
    pub fn current_remote_description(&self) -> Option<SessionDescriptionInit> {
        self.current_remote.clone()
    }

    /// `createOffer`.
    pub fn create_offer(&mut self) -> Result<SessionDescriptionInit, RtcError> {
        if self.closed {
            return Err(closed_error());
        }
        if !matches!(self.signaling, SignalingState::Stable | SignalingState::HaveLocalOffer) {
            return Err(RtcError::InvalidState(format!(
                "cannot create an offer in state {}",
                self.signaling
            )));
        }
        let mut sections = Vec::new();
        // Keep the sections already negotiated, in order; add the data section if channels exist.
        if let Some(remote) = &self.remote {
            for s in &remote.sections {
                sections.push(if s.is_data {
                    LocalSection::Data {
                        mid: s.mid.clone().unwrap_or_else(|| "0".into()),
                    }
                } else {
                    LocalSection::Rejected {
                        kind: s.kind.clone(),
                        protocol: s.protocol.clone(),
                        formats: s.formats.clone(),
                        mid: s.mid.clone(),
                    }
                });
            }
        }
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
        if !matches!(
            self.signaling,
            SignalingState::HaveRemoteOffer | SignalingState::HaveLocalPranswer
        ) {
            return Err(RtcError::InvalidState(format!(
                "cannot create an answer in state {}",
                self.signaling
            )));
        }
        let remote = self
            .remote
            .as_ref()
            .ok_or_else(|| RtcError::InvalidState("no remote offer".into()))?;
        let mut data_taken = false;
        let sections = remote
            .sections
            .iter()
            .map(|s| {
                if s.is_data && !s.rejected && !data_taken {
                    data_taken = true;
                    LocalSection::Data {
                        mid: s.mid.clone().unwrap_or_else(|| "0".into()),
                    }
                } else {
                    LocalSection::Rejected {
                        kind: s.kind.clone(),
                        protocol: s.protocol.clone(),
                        formats: s.formats.clone(),
                        mid: s.mid.clone(),
                    }
                }
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

    fn local_parameters(&mut self, setup: &'static str, sections: Vec<LocalSection>) -> LocalParameters {
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
        match desc.kind {
            SdpType::Rollback => return self.rollback_local(),
            SdpType::Offer if !matches!(self.signaling, SignalingState::Stable | SignalingState::HaveLocalOffer) => {
                return Err(RtcError::InvalidState(format!(
                    "cannot set a local offer in state {}",
                    self.signaling
                )));
            }
            SdpType::Answer | SdpType::Pranswer
                if !matches!(
                    self.signaling,
                    SignalingState::HaveRemoteOffer | SignalingState::HaveLocalPranswer
                ) =>
            {
                return Err(RtcError::InvalidState(format!(
                    "cannot set a local answer in state {}",
                    self.signaling
                )));
            }
            _ => {}
        }
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
            }
            SdpType::Rollback => unreachable!("handled above"),
        }
        self.start_gathering();
        self.pump(now);
        Ok(())
    }

    /// `setRemoteDescription`. A malformed description fails with
    /// `OperationError` and leaves the connection as it was.
    pub fn set_remote_description(&mut self, now: Instant, desc: SessionDescriptionInit) -> Result<(), RtcError> {
        if self.closed {
            return Err(closed_error());
        }
        match desc.kind {
            SdpType::Rollback => return self.rollback_remote(),
            SdpType::Offer if !matches!(self.signaling, SignalingState::Stable | SignalingState::HaveRemoteOffer) => {
                return Err(RtcError::InvalidState(format!(
                    "cannot set a remote offer in state {}",
                    self.signaling
                )));
            }
            SdpType::Answer | SdpType::Pranswer
                if !matches!(
                    self.signaling,
                    SignalingState::HaveLocalOffer | SignalingState::HaveRemotePranswer
                ) =>
            {
                return Err(RtcError::InvalidState(format!(
                    "cannot set a remote answer in state {}",
                    self.signaling
                )));
            }
            _ => {}
        }
        let parsed =
            SessionDescription::parse(&desc.sdp).map_err(|e| RtcError::Operation(format!("remote SDP: {e}")))?;
        let remote = RemoteParameters::from_sdp(&parsed, desc.kind)?;
        if matches!(desc.kind, SdpType::Answer | SdpType::Pranswer) {
            let offered = self.local.as_ref().map(|l| l.sections.len()).unwrap_or(0);
            if remote.sections.len() != offered {
                return Err(RtcError::InvalidAccess(format!(
                    "the answer has {} media sections, the offer {offered}",
                    remote.sections.len()
                )));
            }
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
            }
            SdpType::Rollback => unreachable!("handled above"),
        }
        self.pump(now);
        Ok(())
    }

    fn rollback_local(&mut self) -> Result<(), RtcError> {
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

    fn rollback_remote(&mut self) -> Result<(), RtcError> {
        if self.signaling != SignalingState::HaveRemoteOffer {
            return Err(RtcError::InvalidState(format!(
                "nothing remote to roll back in state {}",
                self.signaling
            )));
        }
        self.pending_remote = None;
        self.remote = self.current_remote.as_ref().and_then(|a| {
            let parsed = SessionDescription::parse(&a.sdp).ok()?;
            RemoteParameters::from_sdp(&parsed, a.kind).ok()
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

    /// `createDataChannel`. The first channel makes negotiation needed when no data section exists yet.
    pub fn create_data_channel(&mut self, label: &str, init: DataChannelInit) -> Result<ChannelId, RtcError> {
        if self.closed {
            return Err(closed_error());
        }
        let id = self.channels.create(label, init).map_err(channel_error)?;
        let negotiated_data = self
            .remote
            .as_ref()
            .is_some_and(|r| r.sections.iter().any(|s| s.is_data && !s.rejected));
        if !negotiated_data && !self.negotiation_needed {
            self.negotiation_needed = true;
            self.push_event(PeerEvent::NegotiationNeeded);
        }
        // On a live association the DCEP OPEN (or a negotiated channel's open) happens now.
        self.flush_sctp();
        self.drain_channel_events();
        Ok(id)
    }

    /// Sends a message on a data channel (`RTCDataChannel.send`).
    pub fn send(&mut self, channel: ChannelId, message: &DataChannelMessage) -> Result<(), RtcError> {
        if self.closed {
            return Err(closed_error());
        }
        self.channels.send(channel, message).map_err(channel_error)?;
        self.flush_sctp();
        Ok(())
    }

    /// Closes a data channel (`RTCDataChannel.close`).
    pub fn close_data_channel(&mut self, channel: ChannelId) {
        self.channels.close(channel);
        self.flush_sctp();
        self.drain_channel_events();
    }

    /// The channel's attributes (label, id, state, bufferedAmount, …).
    pub fn data_channel(&self, channel: ChannelId) -> Option<DataChannelInfo> {
        self.channels.info(channel)
    }

    /// Sets the channel's `bufferedAmountLowThreshold`.
    pub fn set_buffered_amount_low_threshold(&mut self, channel: ChannelId, threshold: usize) {
        self.channels.set_buffered_amount_low_threshold(channel, threshold);
    }

    /// Feeds one received datagram.
    pub fn handle_receive(&mut self, now: Instant, datagram: Receive<'_>) {
        if self.closed {
            return;
        }
        match PacketKind::of(datagram.contents) {
            PacketKind::Stun => self.ice.handle_receive(now, datagram),
            PacketKind::Dtls => {
                let from_selected = self
                    .ice
                    .selected_pair()
                    .is_some_and(|(_, remote)| remote == datagram.source);
                match (&mut self.dtls, from_selected) {
                    (Some(dtls), true) => dtls.handle_receive(now, datagram.contents),
                    _ => {
                        trace!(source = %datagram.source, "dropping DTLS from an unselected address");
                        self.drops.unexpected_source += 1;
                    }
                }
            }
            PacketKind::Rtp => self.drops.rtp += 1,
            PacketKind::Unknown => self.drops.unknown += 1,
        }
        self.pump(now);
    }

    /// Advances timers to `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.closed {
            return;
        }
        self.ice.handle_timeout(now);
        if let Some(dtls) = &mut self.dtls {
            dtls.handle_timeout(now);
        }
        self.channels.handle_timeout(now);
        self.pump(now);
    }

    /// The next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        if let Some(t) = self.ice.poll_transmit() {
            return Some(t);
        }
        self.transmits.pop_front()
    }

    /// The next event for the application.
    pub fn poll_event(&mut self) -> Option<PeerEvent> {
        self.events.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) must be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.closed {
            return None;
        }
        [
            self.ice.poll_timeout(),
            self.dtls.as_ref().and_then(|d| d.poll_timeout()),
            self.channels.poll_timeout(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// `close()`: final. Every state becomes closed at once and no further
    /// events are raised; later calls fail with `InvalidStateError`.
    pub fn close(&mut self) {
        if self.closed {
            return;
        }
        self.channels.close_all();
        self.flush_sctp();
        if let Some(dtls) = &mut self.dtls {
            dtls.close();
        }
        self.flush_dtls();
        self.ice.close();
        self.closed = true;
        self.signaling = SignalingState::Closed;
        self.ice_state = IceConnectionState::Closed;
        self.state = PeerConnectionState::Closed;
        // As in the browser, close() raises no events.
        self.events.clear();
    }

    /// Whether `close()` has been called.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    fn start_gathering(&mut self) {
        if self.gathering != IceGatheringState::New {
            return;
        }
        self.set_gathering(IceGatheringState::Gathering);
        for addr in self.local_addresses.clone() {
            self.gather_address(addr);
        }
        self.set_gathering(IceGatheringState::Complete);
        self.push_event(PeerEvent::IceCandidate(None));
    }

    fn gather_address(&mut self, addr: SocketAddr) {
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
    fn transport_mid(&self) -> (Option<String>, u16) {
        let sections = self.local.as_ref().map(|l| l.sections.as_slice()).unwrap_or_default();
        sections
            .iter()
            .enumerate()
            .find(|(_, s)| matches!(s, LocalSection::Data { .. }))
            .map(|(i, s)| (s.mid().map(str::to_string), i as u16))
            .unwrap_or((Some("0".into()), 0))
    }

    /// Once both descriptions are in place: settle our DTLS role. The
    /// transport itself starts when ICE has selected a pair, so that the
    /// handshake's retransmission budget is not spent while ICE is checking.
    fn negotiate_dtls_role(&mut self) {
        if self.dtls_role.is_some() {
            return;
        }
        let Some(remote) = &self.remote else { return };
        if !remote.sections.iter().any(|s| s.is_data && !s.rejected) {
            debug!("no data section negotiated; nothing to connect");
            return;
        }
        let local_setup = self.local.as_ref().map(|l| l.setup).unwrap_or("actpass");
        self.dtls_role = Some(match (local_setup, remote.setup) {
            ("active", _) => DtlsRole::Client,
            ("passive", _) => DtlsRole::Server,
            // We offered actpass: the answer decides.
            (_, Some(DtlsRole::Client)) => DtlsRole::Server,
            _ => DtlsRole::Client,
        });
    }

    fn start_dtls(&mut self, now: Instant) {
        let (Some(role), None, Some(remote)) = (self.dtls_role, &self.dtls, &self.remote) else {
            return;
        };
        if self.ice.selected_pair().is_none() {
            return;
        }
        match DtlsTransport::new(&self.certificate, role, remote.fingerprints.clone(), now) {
            Ok(dtls) => self.dtls = Some(dtls),
            Err(e) => {
                debug!(error = %e, "cannot start DTLS");
                self.dtls_failed = true;
            }
        }
    }

    /// Moves everything that became ready between the layers, then derives the states.
    fn pump(&mut self, now: Instant) {
        while let Some(event) = self.ice.poll_event() {
            match event {
                IceEvent::StateChanged(s) => self.set_ice_state(w3c_ice_state(s)),
                IceEvent::SelectedPairChanged { local, remote } => {
                    debug!(%local, %remote, "selected candidate pair");
                }
                IceEvent::RemoteCandidateLearned(c) => trace!(candidate = %c, "peer-reflexive candidate"),
            }
        }
        self.start_dtls(now);
        if let Some(dtls) = &mut self.dtls {
            while let Some(event) = dtls.poll_event() {
                match event {
                    DtlsEvent::Connected { .. } => {
                        let remote = self.remote.as_ref();
                        let port = remote.and_then(|r| r.sctp_port).unwrap_or(crate::jsep::SCTP_PORT);
                        let max = remote
                            .and_then(|r| r.max_message_size)
                            .unwrap_or(crate::jsep::DEFAULT_REMOTE_MAX_MESSAGE_SIZE);
                        self.channels
                            .start(self.dtls_role == Some(DtlsRole::Client), port, max, now);
                    }
                    DtlsEvent::Data(packet) => self.channels.handle_receive(now, &packet),
                    DtlsEvent::Closed => self.channels.close_all(),
                    DtlsEvent::Failed(e) => debug!(error = %e, "DTLS failed"),
                }
            }
        }
        self.flush_sctp();
        self.drain_channel_events();
        self.update_connection_state();
    }

    fn flush_sctp(&mut self) {
        if let Some(dtls) = &mut self.dtls {
            while let Some(packet) = self.channels.poll_transmit() {
                if let Err(e) = dtls.send(&packet) {
                    trace!(error = %e, "SCTP packet not sent");
                }
            }
        }
        self.flush_dtls();
    }

    fn flush_dtls(&mut self) {
        let Some(dtls) = &mut self.dtls else { return };
        let Some((local, remote)) = self.ice.selected_pair() else {
            return;
        };
        while let Some(contents) = dtls.poll_transmit() {
            if self.transmits.len() >= MAX_QUEUED_TRANSMITS {
                self.transmits.pop_front();
            }
            self.transmits.push_back(Transmit {
                source: local,
                destination: remote,
                contents,
            });
        }
    }

    fn drain_channel_events(&mut self) {
        while let Some(event) = self.channels.poll_event() {
            let event = match event {
                DataChannelEvent::RemoteCreated(id) => PeerEvent::DataChannel(id),
                DataChannelEvent::Opened(id) => PeerEvent::ChannelOpen(id),
                DataChannelEvent::Message(id, m) => PeerEvent::ChannelMessage(id, m),
                DataChannelEvent::BufferedAmountLow(id) => PeerEvent::ChannelBufferedAmountLow(id),
                DataChannelEvent::Closing(id) => PeerEvent::ChannelClosing(id),
                DataChannelEvent::Closed(id) => PeerEvent::ChannelClose(id),
                DataChannelEvent::Error(id, e) => PeerEvent::ChannelError(id, e.to_string()),
            };
            self.push_event(event);
        }
    }

    fn update_connection_state(&mut self) {
        use crate::dtls::DtlsState;
        let dtls = self.dtls.as_ref().map(|d| d.state());
        let state = match (self.ice_state, dtls) {
            _ if self.dtls_failed => PeerConnectionState::Failed,
            (IceConnectionState::Failed, _) | (_, Some(DtlsState::Failed)) => PeerConnectionState::Failed,
            (IceConnectionState::Disconnected, _) => PeerConnectionState::Disconnected,
            // W3C webrtc-pc §4.3.3: a DTLS transport the peer closed counts as connected;
            // consent freshness then tells whether the path is still alive.
            (
                IceConnectionState::Connected | IceConnectionState::Completed,
                Some(DtlsState::Connected | DtlsState::Closed),
            ) => PeerConnectionState::Connected,
            (IceConnectionState::New, None | Some(DtlsState::New)) => PeerConnectionState::New,
            _ => PeerConnectionState::Connecting,
        };
        self.set_connection_state(state);
    }

    fn set_signaling(&mut self, state: SignalingState) {
        if self.signaling != state {
            self.signaling = state;
            self.push_event(PeerEvent::SignalingStateChange(state));
            if state == SignalingState::Stable {
                self.negotiation_needed = false;
            }
        }
    }

    fn set_gathering(&mut self, state: IceGatheringState) {
        if self.gathering != state {
            self.gathering = state;
            self.push_event(PeerEvent::IceGatheringStateChange(state));
        }
    }

    fn set_ice_state(&mut self, state: IceConnectionState) {
        if self.ice_state != state {
            self.ice_state = state;
            self.push_event(PeerEvent::IceConnectionStateChange(state));
        }
    }

    fn set_connection_state(&mut self, state: PeerConnectionState) {
        if self.state != state && self.state != PeerConnectionState::Failed {
            self.state = state;
            self.push_event(PeerEvent::ConnectionStateChange(state));
        }
    }

    fn push_event(&mut self, event: PeerEvent) {
        if self.closed {
            return;
        }
        if self.events.len() >= MAX_QUEUED_EVENTS {
            self.events.pop_front();
            self.drops.events += 1;
        }
        self.events.push_back(event);
    }
}

/// The agent's state as `RTCIceConnectionState` (one transport: they coincide).
fn w3c_ice_state(s: crate::ice::IceConnectionState) -> IceConnectionState {
    use crate::ice::IceConnectionState as S;
    match s {
        S::New => IceConnectionState::New,
        S::Checking => IceConnectionState::Checking,
        S::Connected => IceConnectionState::Connected,
        S::Completed => IceConnectionState::Completed,
        S::Disconnected => IceConnectionState::Disconnected,
        S::Failed => IceConnectionState::Failed,
        S::Closed => IceConnectionState::Closed,
    }
}

/// The W3C error a browser throws for each data-channel refusal.
fn channel_error(e: DataChannelError) -> RtcError {
    use DataChannelError as E;
    let text = e.to_string();
    match e {
        E::BothReliabilityLimits | E::NegotiatedWithoutId | E::IdOutOfRange(_) | E::TooLong { .. } => {
            RtcError::Type(text)
        }
        E::MessageTooLarge { .. } => RtcError::Type(text),
        E::InvalidState(_) | E::UnknownChannel(_) => RtcError::InvalidState(text),
        _ => RtcError::Operation(text),
    }
}

/// The lowest numeric mid not used by these sections.
fn next_free_mid(sections: &[LocalSection]) -> String {
    (0u32..)
        .map(|n| n.to_string())
        .find(|m| !sections.iter().any(|s| s.mid() == Some(m.as_str())))
        .unwrap_or_else(|| "0".into())
}
