//! [`PeerConnection`]: the sans-IO `RTCPeerConnection`.
//!
//! It owns one ICE agent, one DTLS transport and one SCTP association (all
//! media sections are bundled onto one transport), and runs the signaling
//! state machine of W3C webrtc-pc §4.4 over them.
//!
//! The path of one datagram in: [`PeerConnection::handle_receive`] looks at
//! its first byte (RFC 7983): STUN goes to the ICE agent; DTLS goes to the
//! DTLS transport if it came over a checked candidate pair (see
//! [`IceAgent::is_checked_path`]); anything else is dropped and counted.
//! Decrypted DTLS application data is an SCTP packet, handed to the data channels. On the way out, data
//! channels produce SCTP packets, DTLS encrypts them into records, and they
//! leave as [`Transmit`]s over the selected pair.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use tracing::trace;

use crate::datachannel::{
    ChannelId, DataChannelError, DataChannelInfo, DataChannelInit, DataChannelMessage, DataChannels, DataChannelsConfig,
};
use crate::dtls::{Certificate, DtlsRole, DtlsTransport};
use crate::ice::{
    Candidate, GatherConfig, IceAgent, IceAgentConfig, IceGatherer, IceRole, IceStats, IceTiming, ServerEndpoint,
};
use crate::jsep::{Codec, LocalParameters, MediaCapabilities, MediaType, RemoteParameters};
use crate::net::{PacketKind, Receive, Transmit};

use super::transceiver::{ReceivedFrame, ReceivedRtp, TransceiverId};
use super::types::*;
use ice_restart::IceRestartState;
pub use ice_restart::OfferOptions;
pub use media::MediaCounters;
use media::MediaEngine;
pub use stats::StatsSelector;
use transceivers::Transceiver;

mod congestion;
mod ice_restart;
mod media;
mod raw_rtp;
mod remote_candidates;
mod signaling;
mod stats;
mod transceivers;
mod transport;

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
    /// `iceServers`, one entry per URL, host names already resolved by the runtime
    /// (see [`ServerEndpoint::from_server`]).
    pub ice_servers: Vec<ServerEndpoint>,
    /// Timers and limits of server-reflexive and relayed candidate gathering.
    pub gather: GatherConfig,
    /// Consent freshness: how often the selected pair is checked, and how long without an answer
    /// makes ICE `disconnected` (5 s) and `failed` (30 s).
    pub ice_timing: IceTiming,
    /// Send-side congestion control: start, minimum and maximum bitrate, and pacing.
    pub bwe: crate::bwe::BweConfig,
    /// The data channels' transport: SCTP port, largest message, stream ids used.
    pub data_channels: DataChannelsConfig,
}

/// What the application hears from a [`PeerConnection`].
#[derive(Debug, Clone, PartialEq)]
pub enum PeerEvent {
    /// `icecandidate`: a local candidate, or `None` for end-of-candidates (the null candidate).
    IceCandidate(Option<IceCandidateInit>),
    /// `icecandidateerror`: a STUN or TURN server failed to give a candidate.
    IceCandidateError {
        /// The local IP the request left from (`None` over TCP or when nothing was sent).
        address: Option<std::net::IpAddr>,
        /// Its port.
        port: Option<u16>,
        /// The server's URL.
        url: String,
        /// The server's STUN error code (300–699), or 701 when it could not be reached.
        error_code: u16,
        /// The reason phrase, or what went wrong.
        error_text: String,
    },
    /// `icegatheringstatechange`.
    IceGatheringStateChange(IceGatheringState),
    /// `iceconnectionstatechange`.
    IceConnectionStateChange(IceConnectionState),
    /// `connectionstatechange`.
    ConnectionStateChange(PeerConnectionState),
    /// The `RTCDtlsTransport`'s `statechange`. `Closed` while the connection is open means the
    /// peer sent `close_notify`: it called `close()`, and nothing more will arrive from it.
    DtlsStateChange(DtlsTransportState),
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
    /// `track`: a negotiation made the remote's track on this transceiver arrive.
    Track {
        /// The transceiver whose receiver carries the track.
        transceiver: TransceiverId,
        /// Its mid.
        mid: String,
        /// Audio or video.
        kind: MediaType,
        /// The remote track's id (its msid track id).
        track_id: String,
        /// The remote streams the track belongs to (the event's `streams`).
        stream_ids: Vec<String>,
    },
    /// The remote track's `mute`: the remote stopped sending it (its section no longer says
    /// `sendrecv`/`sendonly` from the remote's side, or a rollback took back the offer that
    /// announced it). Fired before the `setRemoteDescription` that says so returns, and only
    /// for a track that was unmuted: a track is muted from its `track` event until its first
    /// RTP packet arrives ([`TrackUnmuted`](PeerEvent::TrackUnmuted)).
    TrackMuted(TransceiverId),
    /// The remote track's `unmute`: the first RTP packet for it arrived after its `track` event.
    TrackUnmuted(TransceiverId),
    /// The remote stream's `removetrack`: the remote removed the track from the stream (after
    /// [`TrackMuted`](PeerEvent::TrackMuted), in the same step). The receiver and its
    /// transceiver stay (webrtc-pc §4.4.1.6, "process the removal of a remote track").
    StreamTrackRemoved {
        /// The remote stream's id (one of the `track` event's `stream_ids`).
        stream_id: String,
        /// The transceiver whose receiver carries the track.
        transceiver: TransceiverId,
        /// The remote track's id.
        track_id: String,
    },
    /// The sender's track codec is not among the negotiated formats: it cannot send.
    CodecNotNegotiated(TransceiverId, Codec),
    /// A frame of a remote track, reassembled.
    Frame(TransceiverId, ReceivedFrame),
    /// An RTP packet of a remote track, for a transceiver whose raw packets were asked for with
    /// [`PeerConnection::set_receive_rtp`]; its frames still arrive as [`PeerEvent::Frame`].
    RtpPacket(TransceiverId, ReceivedRtp),
    /// The remote asked for a keyframe (PLI or FIR) on this transceiver's sender: on the
    /// simulcast layer with this rid, or on its only stream (`None`) without simulcast. An
    /// application that encodes each layer re-encodes only the one named.
    KeyframeRequested(TransceiverId, Option<String>),
    /// The congestion controller's target for everything we send changed materially (by 5 % or
    /// more since the last such event): encoders should aim for this many bits per second in
    /// total.
    TargetBitrate {
        /// The target, bits/s.
        bitrate_bps: u64,
    },
}

/// Counters of what the connection dropped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DropCounters {
    /// Datagrams that were neither STUN, DTLS nor RTP.
    pub unknown: u64,
    /// DTLS records or SRTP packets from an address no connectivity check has validated.
    pub unexpected_source: u64,
    /// SRTP/SRTCP before the DTLS handshake gave keys.
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
    dtls_state: DtlsTransportState,

    ice: IceAgent,
    /// Server-reflexive and relayed candidates, and the TURN allocations' traffic.
    gatherer: IceGatherer,
    ice_servers: Vec<ServerEndpoint>,
    /// How many remote candidates TURN permissions were last asked for.
    permitted_remotes: usize,
    dtls: Option<DtlsTransport>,
    dtls_role: Option<DtlsRole>,
    /// The DTLS transport could not even be created.
    dtls_failed: bool,
    channels: DataChannels,

    local_addresses: Vec<SocketAddr>,
    local_candidates: Vec<Candidate>,
    /// What we offered or answered last (rendered again with candidates for `local_description`).
    local: Option<LocalParameters>,
    /// `[[LastCreatedOffer]]`: our last `create_offer`, with what it says.
    last_offer: Option<(SessionDescriptionInit, LocalParameters)>,
    /// `[[LastCreatedAnswer]]`: our last `create_answer`, with what it says.
    last_answer: Option<(SessionDescriptionInit, LocalParameters)>,
    /// What a rollback of the offer being negotiated restores.
    rollback_point: Option<signaling::RollbackPoint>,
    /// Whether the gatherer was started (a rolled-back first offer leaves it running).
    gather_started: bool,
    /// Whether the gatherer has reported that it is done.
    gather_complete: bool,
    /// When the gathering that `setLocalDescription` began finds its first candidates: the next
    /// [`handle_timeout`](PeerConnection::handle_timeout), so that no candidate is in the
    /// description `setLocalDescription` leaves behind (webrtc-pc §4.4.1.5: gathering runs after).
    gather_due: Option<Instant>,
    current_local: Option<SessionDescriptionInit>,
    pending_local: Option<SessionDescriptionInit>,
    current_remote: Option<SessionDescriptionInit>,
    pending_remote: Option<SessionDescriptionInit>,
    remote: Option<RemoteParameters>,
    session_id: u64,
    session_version: u64,
    negotiation_needed: bool,
    /// `restartIce()` and the ufrags of the current ICE generation.
    ice_restart: IceRestartState,
    transceivers: Vec<Transceiver>,
    /// The RTCP CNAME of every stream we send (RFC 7022: random per connection).
    cname: String,
    /// Shared by every connection (immutable tables).
    capabilities: Arc<MediaCapabilities>,
    media: MediaEngine,

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
        let mut ice_config = IceAgentConfig::new(IceRole::Controlling);
        config.ice_timing.apply(&mut ice_config);
        let ice = IceAgent::new(ice_config, now);
        let session_id = crate::rand::u64() >> 1;
        Ok(PeerConnection {
            certificate,
            ice_transport_policy: config.ice_transport_policy,
            closed: false,
            signaling: SignalingState::Stable,
            gathering: IceGatheringState::New,
            ice_state: IceConnectionState::New,
            state: PeerConnectionState::New,
            dtls_state: DtlsTransportState::New,
            ice,
            gatherer: IceGatherer::new(config.gather),
            ice_servers: config.ice_servers,
            permitted_remotes: 0,
            dtls: None,
            dtls_role: None,
            dtls_failed: false,
            channels: DataChannels::new(config.data_channels),
            local_addresses: Vec::new(),
            local_candidates: Vec::new(),
            local: None,
            last_offer: None,
            last_answer: None,
            rollback_point: None,
            gather_started: false,
            gather_complete: false,
            gather_due: None,
            current_local: None,
            pending_local: None,
            current_remote: None,
            pending_remote: None,
            remote: None,
            session_id,
            session_version: 1,
            negotiation_needed: false,
            ice_restart: IceRestartState::default(),
            transceivers: Vec::new(),
            cname: format!("{:016x}", crate::rand::u64()),
            capabilities: MediaCapabilities::shared_default(),
            media: MediaEngine::new(now, config.bwe),
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
        // Gathering that has begun takes the address now; gathering still due takes it then.
        if self.gathering != IceGatheringState::New && self.gather_due.is_none() {
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
    /// The DTLS transport's state (`RTCDtlsTransport.state`); `Closed` once the peer sent
    /// `close_notify`, although [`connection_state`](Self::connection_state) stays `connected`
    /// then, as W3C webrtc-pc §4.3.3 aggregates a closed DTLS transport.
    pub fn dtls_transport_state(&self) -> DtlsTransportState {
        self.dtls_state
    }
    /// What was dropped so far.
    pub fn drop_counters(&self) -> DropCounters {
        self.drops
    }
    /// What the ICE agent counted: checks sent and accepted, and STUN it dropped (wrong
    /// FINGERPRINT or MESSAGE-INTEGRITY, unknown transactions, candidates over the limit, …).
    pub fn ice_stats(&self) -> &IceStats {
        self.ice.stats()
    }
    /// Our certificate.
    pub fn certificate(&self) -> &Certificate {
        &self.certificate
    }
    /// The selected candidate pair, `(local, remote)`, once ICE has one. For a relayed local
    /// candidate `local` is the relayed address on the TURN server.
    pub fn selected_candidate_pair(&self) -> Option<(SocketAddr, SocketAddr)> {
        self.ice.selected_pair()
    }

    /// The selected pair's candidates (`RTCIceCandidatePair`: local, remote), with their types.
    pub fn selected_candidates(&self) -> Option<(Candidate, Candidate)> {
        self.ice.selected_candidates().map(|(l, r)| (l.clone(), r.clone()))
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

    /// `createDataChannel`. The first channel makes negotiation needed when no data section exists yet.
    pub fn create_data_channel(&mut self, label: &str, init: DataChannelInit) -> Result<ChannelId, RtcError> {
        if self.closed {
            return Err(closed_error());
        }
        let id = self.channels.create(label, init).map_err(channel_error)?;
        self.update_negotiation_needed();
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
        // Not flushed here: SCTP is drained once for all the sends (and received packets) of a
        // batch, when the packets are asked for (`poll_transmit`).
        self.channels.send(channel, message).map_err(channel_error)?;
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
        if self
            .gatherer
            .handle_receive(now, datagram.source, datagram.destination, datagram.contents)
        {
            // From a STUN/TURN server: relayed datagrams arrive on the relayed candidate.
            self.route_relayed(now);
        } else {
            self.route_datagram(now, datagram);
        }
        self.pump(now);
    }

    /// Feeds the datagrams TURN allocations relayed to us in, as received on their relayed candidates.
    fn route_relayed(&mut self, now: Instant) {
        while let Some(relayed) = self.gatherer.poll_relayed() {
            self.route_datagram(
                now,
                Receive {
                    source: relayed.source,
                    destination: relayed.relayed,
                    contents: &relayed.contents,
                },
            );
        }
    }

    /// Bytes read from the TCP connection to a TURN server (the runtime opened it on the first
    /// [`poll_stream_transmit`](Self::poll_stream_transmit) for that server).
    pub fn handle_stream_receive(&mut self, now: Instant, server: SocketAddr, bytes: &[u8]) {
        if self.closed {
            return;
        }
        self.gatherer.handle_stream_receive(now, server, bytes);
        self.route_relayed(now);
        self.pump(now);
    }

    /// The TCP connection to a TURN server could not be opened or has ended.
    pub fn handle_stream_closed(&mut self, now: Instant, server: SocketAddr) {
        if self.closed {
            return;
        }
        self.gatherer.handle_stream_closed(now, server);
        self.pump(now);
    }

    /// The TCP or TLS connection to a TURN server failed for `reason` (e.g. the TLS error that
    /// ended the handshake): reported as an `icecandidateerror` 701 with `reason` as its text
    /// while gathering waits for that server.
    pub fn handle_stream_failed(&mut self, now: Instant, server: SocketAddr, reason: String) {
        if self.closed {
            return;
        }
        self.gatherer.handle_stream_failed(now, server, reason);
        self.pump(now);
    }

    /// The next bytes to write to the TCP connection to a TURN server (open it if there is none).
    /// Datagrams of relayed candidates get here through [`poll_transmit`](Self::poll_transmit),
    /// so poll that until `None` first: what it queued comes out here in the same round.
    pub fn poll_stream_transmit(&mut self) -> Option<crate::ice::StreamTransmit> {
        self.gatherer.poll_stream_transmit()
    }

    /// Hands a datagram (from the network or out of a TURN allocation) to ICE, DTLS or SRTP.
    fn route_datagram(&mut self, now: Instant, datagram: Receive<'_>) {
        match PacketKind::of(datagram.contents) {
            PacketKind::Stun => self.ice.handle_receive(now, datagram),
            PacketKind::Dtls => {
                let checked = self.ice.is_checked_path(datagram.destination, datagram.source);
                match (&mut self.dtls, checked) {
                    (Some(dtls), true) => {
                        self.ice
                            .record_received(datagram.destination, datagram.source, datagram.contents.len(), now);
                        dtls.handle_receive(now, datagram.contents);
                    }
                    _ => {
                        trace!(source = %datagram.source, "dropping DTLS from an unchecked path");
                        self.drops.unexpected_source += 1;
                    }
                }
            }
            PacketKind::Rtp => {
                if self.ice.is_checked_path(datagram.destination, datagram.source) {
                    self.ice
                        .record_received(datagram.destination, datagram.source, datagram.contents.len(), now);
                    self.handle_srtp(now, datagram.contents);
                } else {
                    self.drops.unexpected_source += 1;
                }
            }
            PacketKind::Unknown => self.drops.unknown += 1,
        }
    }

    /// Advances timers to `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.closed {
            return;
        }
        if self.gather_due.is_some_and(|due| due <= now) {
            self.begin_gathering(now);
        }
        self.ice.handle_timeout(now);
        self.gatherer.handle_timeout(now);
        if let Some(dtls) = &mut self.dtls {
            dtls.handle_timeout(now);
        }
        self.channels.handle_timeout(now);
        self.media_timeout(now);
        self.pump(now);
    }

    /// The next datagram to send. Datagrams of relayed candidates come out wrapped for their
    /// TURN server (from the local socket to the server); for a TURN server reached over TCP
    /// they come out of [`poll_stream_transmit`](Self::poll_stream_transmit) instead.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        loop {
            if let Some(t) = self.gatherer.poll_transmit() {
                return Some(t);
            }
            let t = match self.ice.poll_transmit() {
                Some(check) => check,
                None => {
                    if self.transmits.is_empty() && !self.closed {
                        // SCTP is drained lazily: once here for every input since the last time.
                        self.flush_sctp();
                        self.drain_channel_events();
                    }
                    // DTLS and SRTP: what the candidate pair's statistics count as sent.
                    let t = self.transmits.pop_front()?;
                    self.ice.record_sent(t.source, t.destination, t.contents.len());
                    t
                }
            };
            if self.gatherer.is_relayed(t.source) {
                self.gatherer.send_relayed(t.source, t.destination, &t.contents);
                continue;
            }
            return Some(t);
        }
    }

    /// Moves the queued DTLS/SRTP datagrams of relayed candidates into their allocations (counted
    /// as sent, like in [`poll_transmit`](Self::poll_transmit)), leaving the others queued.
    fn relay_queued_transmits(&mut self) {
        let (ice, gatherer) = (&mut self.ice, &mut self.gatherer);
        self.transmits.retain(|t| {
            if !gatherer.is_relayed(t.source) {
                return true;
            }
            ice.record_sent(t.source, t.destination, t.contents.len());
            gatherer.send_relayed(t.source, t.destination, &t.contents);
            false
        });
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
            self.gather_due,
            self.ice.poll_timeout(),
            self.gatherer.poll_timeout(),
            self.dtls.as_ref().and_then(|d| d.poll_timeout()),
            self.channels.poll_timeout(),
            self.media.poll_timeout(),
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
        // The close_notify of a relayed pair enters its allocation before the allocation is released.
        self.relay_queued_transmits();
        self.ice.close();
        // Releases the allocations: their Refresh (lifetime 0) is still polled after close.
        self.gatherer.close();
        self.stop_all_transceivers();
        self.closed = true;
        self.signaling = SignalingState::Closed;
        self.ice_state = IceConnectionState::Closed;
        self.state = PeerConnectionState::Closed;
        self.dtls_state = DtlsTransportState::Closed;
        // As in the browser, close() raises no events.
        self.events.clear();
    }

    /// Whether `close()` has been called.
    pub fn is_closed(&self) -> bool {
        self.closed
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
