//! `RTCPeerConnection`: the application's handle to one connection's task.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use rtcpeer_proto::ice::server::{IceServerHost, ValidIceServer};
use rtcpeer_proto::ice::{Candidate, ServerEndpoint};

use tokio::net::UdpSocket;
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::{mpsc, oneshot, watch};
use tracing::{debug, info_span, warn, Instrument};

use crate::certificate::{KeyAlgorithm, RTCCertificate, DEFAULT_CERTIFICATE_LIFETIME};
use crate::command::{call, closed_error, Command, DescriptionAttribute, Reply, States, COMMAND_QUEUE};
use crate::config::{check_rtcp_mux_policy, RTCConfiguration};
use crate::data_channel::RTCDataChannel;
use crate::driver::Driver;
use crate::events::{self, Backlog, Events};
use crate::interfaces;
use crate::proto::StatsSelector;
use crate::proto::{
    Codec, Core, DataChannelInit, DtlsTransportState, IceCandidateInit, IceConnectionState, IceGatheringState,
    MediaType, OfferOptions, PeerConfig, PeerConnectionState, RtcError, RtpSendParameters, SessionDescriptionInit,
    SignalingState, TransceiverDirection, TransceiverId, TransceiverInfo, TransceiverInit,
};
use crate::rtp_sender::{self, RTCRtpReceiver, RTCRtpSender};
use crate::socket;
use crate::stats::{RTCStatsReport, TransportStats};
use crate::track::{LocalTrack, RemoteTrack};
use crate::turn_stream::ServerStreams;

/// An event of the connection, in the order the W3C specification fires them.
#[derive(Debug)]
pub enum PeerConnectionEvent {
    /// `icecandidate`: a local candidate to hand to the peer; `None` is the end-of-candidates (null) candidate.
    IceCandidate(Option<IceCandidateInit>),
    /// `icecandidateerror`: a STUN or TURN server gave no candidate.
    IceCandidateError {
        /// The local IP the request left from (`None` over TCP).
        address: Option<IpAddr>,
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
    /// peer called `close()` (it sent `close_notify`); the connection state stays `connected`
    /// (W3C webrtc-pc §4.3.3) until ICE consent expires, so an application that serves many
    /// peers ends the connection here instead of waiting.
    DtlsStateChange(DtlsTransportState),
    /// `signalingstatechange`.
    SignalingStateChange(SignalingState),
    /// `negotiationneeded`.
    NegotiationNeeded,
    /// `datachannel`: the peer opened a channel.
    DataChannel(RTCDataChannel),
    /// `track`: a remote track arrived; read its frames from the [`RemoteTrack`].
    Track(RemoteTrack),
    /// The remote track's `mute` (the track of this transceiver's receiver): the peer stopped
    /// sending it (it removed the track, or a rollback undid the offer that announced it). It
    /// comes before the `set_remote_description` that says so resolves, and only after an
    /// [`TrackUnmuted`](Self::TrackUnmuted): a track is muted until its first RTP packet.
    TrackMuted(TransceiverId),
    /// The remote track's `unmute`: its first RTP packet arrived.
    TrackUnmuted(TransceiverId),
    /// The remote stream's `removetrack`: the track (of this transceiver's receiver, which
    /// stays) left the remote stream `stream_id`. Follows [`TrackMuted`](Self::TrackMuted).
    StreamTrackRemoved {
        /// The stream's id (one of the [`RemoteTrack::stream_ids`]).
        stream_id: String,
        /// The transceiver whose receiver carries the track ([`RemoteTrack::transceiver`]).
        transceiver: TransceiverId,
        /// The track's id ([`RemoteTrack::id`]).
        track_id: String,
    },
    /// A sender's track codec is not among the negotiated formats, so it sends nothing.
    CodecNotNegotiated(TransceiverId, Codec),
    /// rtcpeer extension: the peer asked this transceiver's sender for a keyframe (PLI/FIR), on
    /// the simulcast layer with this rid (`None` without simulcast); an application that
    /// encodes should make that layer's next frame a keyframe.
    KeyframeRequested(TransceiverId, Option<String>),
    /// rtcpeer extension: the congestion controller's target for everything the connection
    /// sends changed materially; encoders (or a simulcast layer selector) should follow it. The
    /// same estimate is `availableOutgoingBitrate` in the selected candidate pair's stats.
    TargetBitrate {
        /// The target, bits/s.
        bitrate_bps: u64,
    },
}

impl crate::events::sealed::Sealed for PeerConnectionEvent {}

/// Boxed while queued: see [`Queued`](crate::Queued).
impl crate::Queued for PeerConnectionEvent {
    type Slot = Box<PeerConnectionEvent>;
    fn into_slot(self) -> Box<PeerConnectionEvent> {
        Box::new(self)
    }
    fn from_slot(slot: Box<PeerConnectionEvent>) -> PeerConnectionEvent {
        *slot
    }
}

/// At most one certificate, not expired (webrtc-pc: an expired one is an `InvalidAccessError`).
fn check_certificates(certificates: &[RTCCertificate]) -> Result<(), RtcError> {
    if certificates.len() > 1 {
        return Err(RtcError::NotSupported("at most one certificate is supported".into()));
    }
    if let Some(expired) = certificates.iter().find(|c| c.is_expired()) {
        return Err(RtcError::InvalidAccess(format!(
            "the certificate {} has expired",
            expired
                .get_fingerprints()
                .first()
                .map(|f| f.value.as_str())
                .unwrap_or("")
        )));
    }
    Ok(())
}

/// Numbers the connections in log spans.
static NEXT_CONNECTION: AtomicU64 = AtomicU64::new(1);

/// The W3C `RTCPeerConnection`, on tokio.
///
/// The handle talks to one task per connection, which owns the UDP sockets and the
/// sans-IO core; every call is a message to that task and an answer back. Events
/// come on the connection's event stream ([`next_event`](Self::next_event) or
/// [`take_events`](Self::take_events)) and on each [`RTCDataChannel`]'s own stream.
///
/// The connection ends on [`close`](Self::close), or when this handle and every
/// data channel handle have been dropped. After that every call returns
/// `InvalidStateError`.
///
/// Clones share the connection but not its event stream: the stream stays with
/// the handle returned by [`new`](Self::new) (or goes wherever
/// [`take_events`](Self::take_events) sends it); a clone's `next_event` returns `None`.
///
/// Unread events are bounded: see [`RECEIVE_BACKLOG_LIMIT`](crate::RECEIVE_BACKLOG_LIMIT).
///
/// # The operations chain
///
/// As in the browser, [`create_offer`](Self::create_offer), [`create_answer`](Self::create_answer),
/// [`set_local_description`](Self::set_local_description),
/// [`set_remote_description`](Self::set_remote_description) and
/// [`add_ice_candidate`](Self::add_ice_candidate) take their place in the connection's queue
/// when they are *called*, not when their future is first polled, and run one after another in
/// that order: `tokio::join!(pc.set_local_description(None), pc.set_remote_description(answer))`
/// applies the offer and then the answer, whichever future the runtime polls first, and a
/// future that is never awaited still runs. (With more than
/// 64 commands already waiting, a call takes its place when it is
/// first polled instead.) The events an operation raises are on the event stream before its
/// result is returned.
#[derive(Debug)]
pub struct RTCPeerConnection {
    commands: mpsc::Sender<Command>,
    events: Option<Events<PeerConnectionEvent>>,
    ended: watch::Receiver<bool>,
    /// The states the task left behind when it ended: what the state getters return after `close()`.
    final_states: Arc<OnceLock<States>>,
    /// What `get_configuration` reports, shared by the clones.
    config: Arc<Mutex<RTCConfiguration>>,
}

impl Clone for RTCPeerConnection {
    fn clone(&self) -> Self {
        RTCPeerConnection {
            commands: self.commands.clone(),
            events: None,
            ended: self.ended.clone(),
            final_states: self.final_states.clone(),
            config: self.config.clone(),
        }
    }
}

/// The same type under the name the rest of Rust uses.
pub type PeerConnection = RTCPeerConnection;

async fn bind_all(addresses: &[IpAddr]) -> Result<Vec<(UdpSocket, SocketAddr)>, RtcError> {
    let mut sockets = Vec::new();
    for &ip in addresses {
        if ip.is_unspecified() {
            return Err(RtcError::Type(format!(
                "bind address {ip} is unspecified; name the address of an interface"
            )));
        }
        match socket::bind_udp(ip) {
            Ok(socket) => match socket.local_addr() {
                Ok(local) => {
                    debug!(%local, "bound");
                    sockets.push((socket, local));
                }
                Err(error) => warn!(%ip, %error, "bound socket has no local address; skipped"),
            },
            Err(error) => warn!(%ip, %error, "cannot bind; address skipped"),
        }
    }
    if sockets.is_empty() {
        return Err(RtcError::Operation(format!(
            "could not bind a UDP socket on any of {addresses:?}"
        )));
    }
    Ok(sockets)
}

/// How long one ICE server's host name may take to resolve before it counts as unreachable.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(2);

/// One endpoint per server URL, host names resolved (all at once, each bounded by
/// [`RESOLVE_TIMEOUT`]) with the system resolver; a name that does not resolve keeps no address
/// and gathering reports it as an `icecandidateerror` 701.
async fn resolve_servers(servers: &[ValidIceServer]) -> Vec<ServerEndpoint> {
    let endpoints: Vec<ServerEndpoint> = servers.iter().flat_map(ServerEndpoint::from_server).collect();
    let lookups = endpoints.into_iter().map(|endpoint| async move {
        let IceServerHost::Domain(name) = endpoint.url.host.clone() else {
            return endpoint;
        };
        let lookup = tokio::net::lookup_host(format!("{name}:{}", endpoint.url.port));
        let result = tokio::time::timeout(RESOLVE_TIMEOUT, lookup).await;
        match result {
            Ok(Ok(mut addresses)) => match addresses.next() {
                Some(address) => {
                    debug!(%name, %address, "ICE server resolved");
                    endpoint.resolved(address)
                }
                None => endpoint,
            },
            Ok(Err(error)) => {
                debug!(%name, %error, "cannot resolve ICE server");
                endpoint
            }
            Err(_) => {
                debug!(%name, "resolving the ICE server timed out");
                endpoint
            }
        }
    });
    let mut resolved = Vec::new();
    let mut set = tokio::task::JoinSet::new();
    for (i, lookup) in lookups.enumerate() {
        set.spawn(async move { (i, lookup.await) });
    }
    while let Some(done) = set.join_next().await {
        if let Ok(pair) = done {
            resolved.push(pair);
        }
    }
    resolved.sort_by_key(|(i, _)| *i);
    resolved.into_iter().map(|(_, e)| e).collect()
}

impl RTCPeerConnection {
    /// Creates a connection: binds one UDP socket (ephemeral port) per local address, or uses
    /// [`RTCConfiguration::shared_socket`], and starts its task.
    ///
    /// Must be called inside a tokio runtime.
    ///
    /// Errors, as the browser's constructor: a server URL that does not parse is a
    /// `SyntaxError`, a TURN server without credentials an `InvalidAccessError`, an expired
    /// certificate an `InvalidAccessError`; more than one certificate or
    /// `rtcp_mux_policy: Negotiate` is a `NotSupportedError`.
    pub async fn new(mut config: RTCConfiguration) -> Result<Self, RtcError> {
        check_certificates(&config.certificates)?;
        check_rtcp_mux_policy(config.rtcp_mux_policy)?;
        let servers = crate::config::validate(&config.ice_servers)?;
        let tls = crate::turn_stream::tls_for(&servers, &config.turn_tls_roots)?;
        let shared = config.shared_socket.as_ref().map(|socket| socket.register());
        let follows_addresses = shared.is_none() && config.bind_addresses.is_empty();
        let addresses = if shared.is_some() {
            Vec::new()
        } else if config.bind_addresses.is_empty() {
            let system = interfaces::system_addresses()
                .map_err(|e| RtcError::Operation(format!("cannot list network interfaces: {e}")))?;
            interfaces::default_addresses(&system)
        } else {
            config.bind_addresses.clone()
        };
        let span = info_span!("rtcpeer", connection = NEXT_CONNECTION.fetch_add(1, Ordering::Relaxed));
        let sockets = if shared.is_some() {
            Vec::new()
        } else {
            bind_all(&addresses).instrument(span.clone()).await?
        };
        let ice_servers = resolve_servers(&servers).instrument(span.clone()).await;
        let core_config = PeerConfig {
            certificate: config.certificates.first().map(|c| c.as_proto().clone()),
            bundle_policy: config.bundle_policy,
            ice_transport_policy: config.ice_transport_policy,
            ice_servers,
            ice_timing: config.ice_timing,
            bwe: config.congestion_control,
            ..PeerConfig::default()
        };
        let mut core = Core::new(core_config, Instant::now())?;
        // getConfiguration().certificates holds the certificate in use, generated or given.
        config.certificates = vec![RTCCertificate::from(core.certificate().clone())];
        let mdns = config.mdns.clone();
        for local in sockets
            .iter()
            .map(|(_, local)| *local)
            .chain(shared.as_ref().map(|port| port.local_addr()))
        {
            core.add_local_address(local);
        }
        let (commands, command_rx) = mpsc::channel(COMMAND_QUEUE);
        let backlog = Arc::new(Backlog::default());
        let (event_tx, event_rx) = events::stream(&backlog);
        let (ended_tx, ended) = watch::channel(false);
        let final_states = Arc::new(OnceLock::new());
        let mut driver = Driver::new(
            core,
            sockets,
            shared,
            command_rx,
            commands.downgrade(),
            event_tx,
            backlog,
            ended_tx,
            mdns,
            ServerStreams::new(tls),
            final_states.clone(),
        );
        if follows_addresses {
            driver = driver.following_addresses();
        }
        tokio::spawn(driver.run().instrument(span));
        Ok(RTCPeerConnection {
            commands,
            events: Some(event_rx),
            ended,
            final_states,
            config: Arc::new(Mutex::new(config)),
        })
    }

    /// `restartIce()`: after the first negotiation, fires `negotiationneeded` and makes the next
    /// offer restart ICE (new credentials, candidates gathered again). The selected candidate pair
    /// keeps carrying the data until the restarted checks select a new one, and the ICE connection
    /// state stays `connected` meanwhile, as in Chromium (`completed` becomes `connected`,
    /// `disconnected` and `failed` become `checking`); DTLS, data channels and tracks carry on.
    /// Before the first negotiation it does nothing.
    pub async fn restart_ice(&self) -> Result<(), RtcError> {
        call(&self.commands, Command::RestartIce).await
    }

    /// `RTCPeerConnection.generateCertificate()`: a new ECDSA P-256 certificate valid for
    /// 30 days (RSA is a `NotSupportedError`: see [`KeyAlgorithm::Rsa`]). Give it to several
    /// connections through [`RTCConfiguration::certificates`] to keep one fingerprint.
    pub fn generate_certificate(algorithm: KeyAlgorithm) -> Result<RTCCertificate, RtcError> {
        RTCCertificate::generate(algorithm, DEFAULT_CERTIFICATE_LIFETIME)
    }

    /// Puts an operation on the chain now and returns the future of its result (see the
    /// type's documentation).
    fn enqueue<T: Send + 'static>(
        &self,
        make: impl FnOnce(Reply<T>) -> Command,
    ) -> impl Future<Output = Result<T, RtcError>> + Send + 'static {
        let (tx, rx) = oneshot::channel();
        let (waiting, closed) = match self.commands.try_send(make(tx)) {
            Ok(()) => (None, false),
            Err(TrySendError::Full(command)) => (Some((self.commands.clone(), command)), false),
            Err(TrySendError::Closed(_)) => (None, true),
        };
        async move {
            if closed {
                return Err(closed_error());
            }
            if let Some((commands, command)) = waiting {
                commands.send(command).await.map_err(|_| closed_error())?;
            }
            rx.await.map_err(|_| closed_error())?
        }
    }

    /// `createOffer()` (on the operations chain).
    pub fn create_offer(&self) -> impl Future<Output = Result<SessionDescriptionInit, RtcError>> + Send + 'static {
        self.create_offer_with(OfferOptions::default())
    }

    /// `createOffer(options)` (on the operations chain): with `ice_restart`, the offer carries
    /// new ICE credentials.
    pub fn create_offer_with(
        &self,
        options: OfferOptions,
    ) -> impl Future<Output = Result<SessionDescriptionInit, RtcError>> + Send + 'static {
        self.enqueue(move |reply| Command::CreateOffer(options, reply))
    }

    /// `createAnswer()` (on the operations chain).
    pub fn create_answer(&self) -> impl Future<Output = Result<SessionDescriptionInit, RtcError>> + Send + 'static {
        self.enqueue(Command::CreateAnswer)
    }

    /// `setLocalDescription()` (on the operations chain); `None` lets the connection create the
    /// offer or answer itself.
    pub fn set_local_description(
        &self,
        description: Option<SessionDescriptionInit>,
    ) -> impl Future<Output = Result<(), RtcError>> + Send + 'static {
        self.enqueue(|reply| Command::SetLocalDescription(description, reply))
    }

    /// `setRemoteDescription()` (on the operations chain).
    pub fn set_remote_description(
        &self,
        description: SessionDescriptionInit,
    ) -> impl Future<Output = Result<(), RtcError>> + Send + 'static {
        self.enqueue(|reply| Command::SetRemoteDescription(description, reply))
    }

    /// `addIceCandidate()` (on the operations chain); `None` or an empty candidate is the
    /// end-of-candidates indication.
    pub fn add_ice_candidate(
        &self,
        candidate: Option<IceCandidateInit>,
    ) -> impl Future<Output = Result<(), RtcError>> + Send + 'static {
        self.enqueue(|reply| Command::AddIceCandidate(Box::new(candidate), reply))
    }

    async fn description(&self, attribute: DescriptionAttribute) -> Result<Option<SessionDescriptionInit>, RtcError> {
        call(&self.commands, |reply| Command::Description(attribute, reply)).await
    }

    /// `localDescription`, with the candidates gathered so far.
    pub async fn local_description(&self) -> Result<Option<SessionDescriptionInit>, RtcError> {
        self.description(DescriptionAttribute::Local).await
    }

    /// `currentLocalDescription`.
    pub async fn current_local_description(&self) -> Result<Option<SessionDescriptionInit>, RtcError> {
        self.description(DescriptionAttribute::CurrentLocal).await
    }

    /// `pendingLocalDescription`.
    pub async fn pending_local_description(&self) -> Result<Option<SessionDescriptionInit>, RtcError> {
        self.description(DescriptionAttribute::PendingLocal).await
    }

    /// `remoteDescription`.
    pub async fn remote_description(&self) -> Result<Option<SessionDescriptionInit>, RtcError> {
        self.description(DescriptionAttribute::Remote).await
    }

    /// `currentRemoteDescription`.
    pub async fn current_remote_description(&self) -> Result<Option<SessionDescriptionInit>, RtcError> {
        self.description(DescriptionAttribute::CurrentRemote).await
    }

    /// `pendingRemoteDescription`.
    pub async fn pending_remote_description(&self) -> Result<Option<SessionDescriptionInit>, RtcError> {
        self.description(DescriptionAttribute::PendingRemote).await
    }

    /// `canTrickleIceCandidates`: `None` until a remote description is set.
    pub async fn can_trickle_ice_candidates(&self) -> Result<Option<bool>, RtcError> {
        call(&self.commands, Command::CanTrickleIceCandidates).await
    }

    /// `getConfiguration()`: the configuration in force, with the certificate in use.
    pub fn get_configuration(&self) -> RTCConfiguration {
        self.config
            .lock()
            .map(|c| c.clone())
            .unwrap_or_else(|poisoned| poisoned.into_inner().clone())
    }

    /// `setConfiguration()`: all or nothing. It checks the whole configuration as
    /// [`new`](Self::new) does (`SyntaxError`, `InvalidAccessError`, …), and refuses with
    /// `InvalidModificationError` to change what cannot change after construction: the
    /// certificates (an empty list keeps them), `bundle_policy`, `rtcp_mux_policy`, and
    /// `ice_candidate_pool_size` once a local description is set. The ICE
    /// servers, transport policy and `turn_tls_roots` apply from the next gathering on; the other
    /// rtcpeer extensions (`bind_addresses`, `mdns`, `ice_timing`, `congestion_control`,
    /// `shared_socket`) keep their values from construction, and `get_configuration` reports those.
    pub async fn set_configuration(&self, config: RTCConfiguration) -> Result<(), RtcError> {
        if self.is_closed() {
            return Err(closed_error());
        }
        let current = self.get_configuration();
        check_certificates(&config.certificates)?;
        let same_certificates = config.certificates.is_empty()
            || (config.certificates.len() == current.certificates.len()
                && config
                    .certificates
                    .iter()
                    .zip(&current.certificates)
                    .all(|(a, b)| a.same_as(b)));
        if !same_certificates {
            return Err(RtcError::InvalidModification("the certificates cannot change".into()));
        }
        if config.bundle_policy != current.bundle_policy {
            return Err(RtcError::InvalidModification(format!(
                "bundlePolicy cannot change from {} to {}",
                current.bundle_policy, config.bundle_policy
            )));
        }
        if config.rtcp_mux_policy != current.rtcp_mux_policy {
            return Err(RtcError::InvalidModification(format!(
                "rtcpMuxPolicy cannot change from {} to {}",
                current.rtcp_mux_policy.as_str(),
                config.rtcp_mux_policy.as_str()
            )));
        }
        if config.ice_candidate_pool_size != current.ice_candidate_pool_size
            && self.local_description().await?.is_some()
        {
            return Err(RtcError::InvalidModification(
                "iceCandidatePoolSize cannot change once a local description is set".into(),
            ));
        }
        let servers = crate::config::validate(&config.ice_servers)?;
        let tls = crate::turn_stream::tls_for(&servers, &config.turn_tls_roots)?;
        let endpoints = resolve_servers(&servers).await;
        let policy = config.ice_transport_policy;
        call(&self.commands, |reply| {
            Command::SetIceConfiguration(policy, endpoints, tls, reply)
        })
        .await??;
        let mut stored = self.config.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        *stored = RTCConfiguration {
            certificates: current.certificates,
            bind_addresses: current.bind_addresses,
            mdns: current.mdns,
            ice_timing: current.ice_timing,
            congestion_control: current.congestion_control,
            shared_socket: current.shared_socket,
            ..config
        };
        Ok(())
    }

    /// The four states; once the connection has ended, the states it ended in (all `closed`,
    /// as in the browser, except `iceGatheringState`, which keeps its last value).
    async fn states(&self) -> Result<States, RtcError> {
        match call(&self.commands, Command::States).await {
            Ok(states) => Ok(states),
            Err(error) => self.final_states.get().copied().ok_or(error),
        }
    }

    /// `signalingState`: `closed` after [`close`](Self::close).
    pub async fn signaling_state(&self) -> Result<SignalingState, RtcError> {
        Ok(self.states().await?.signaling)
    }

    /// `iceGatheringState`.
    pub async fn ice_gathering_state(&self) -> Result<IceGatheringState, RtcError> {
        Ok(self.states().await?.ice_gathering)
    }

    /// `iceConnectionState`.
    pub async fn ice_connection_state(&self) -> Result<IceConnectionState, RtcError> {
        Ok(self.states().await?.ice_connection)
    }

    /// `connectionState`.
    pub async fn connection_state(&self) -> Result<PeerConnectionState, RtcError> {
        Ok(self.states().await?.connection)
    }

    /// `createDataChannel(label, init)`.
    pub async fn create_data_channel(&self, label: &str, init: DataChannelInit) -> Result<RTCDataChannel, RtcError> {
        let label = label.to_owned();
        call(&self.commands, |reply| Command::CreateDataChannel {
            label,
            init: Box::new(init),
            reply,
        })
        .await?
    }

    /// `addTrack(track, ...streams)`: sends the track (its streams are the track's own). Returns the
    /// transceiver whose sender carries it; frames written to the track go to the peer once a
    /// negotiation has agreed on its codec.
    pub async fn add_track(&self, track: &LocalTrack) -> Result<TransceiverId, RtcError> {
        call(&self.commands, |reply| Command::AddTrack(track.clone(), reply)).await?
    }

    /// `addTransceiver(kind, init)`.
    pub async fn add_transceiver(&self, kind: MediaType, init: TransceiverInit) -> Result<TransceiverId, RtcError> {
        call(&self.commands, |reply| Command::AddTransceiver {
            kind,
            track: None,
            init: Box::new(init),
            reply,
        })
        .await?
    }

    /// `addTransceiver(track, init)`.
    pub async fn add_transceiver_with_track(
        &self,
        track: &LocalTrack,
        init: TransceiverInit,
    ) -> Result<TransceiverId, RtcError> {
        call(&self.commands, |reply| Command::AddTransceiver {
            kind: track.kind(),
            track: Some(track.clone()),
            init: Box::new(init),
            reply,
        })
        .await?
    }

    /// `removeTrack(sender)`: the transceiver's sender stops sending.
    pub async fn remove_track(&self, transceiver: TransceiverId) -> Result<(), RtcError> {
        call(&self.commands, |reply| Command::RemoveTrack(transceiver, reply)).await?
    }

    /// `sender.replaceTrack(track)`: swaps the sender's track without renegotiating.
    pub async fn replace_track(&self, transceiver: TransceiverId, track: Option<&LocalTrack>) -> Result<(), RtcError> {
        let track = track.cloned();
        call(&self.commands, |reply| Command::ReplaceTrack(transceiver, track, reply)).await?
    }

    /// `transceiver.direction = direction`.
    pub async fn set_direction(
        &self,
        transceiver: TransceiverId,
        direction: TransceiverDirection,
    ) -> Result<(), RtcError> {
        call(&self.commands, |reply| {
            Command::SetDirection(transceiver, direction, reply)
        })
        .await?
    }

    /// `sender.getParameters()`: the sender's encodings (simulcast layers) with a fresh
    /// `transactionId` for [`set_parameters`](Self::set_parameters).
    pub async fn get_parameters(&self, transceiver: TransceiverId) -> Result<RtpSendParameters, RtcError> {
        call(&self.commands, |reply| Command::GetParameters(transceiver, reply)).await?
    }

    /// `sender.setParameters(parameters)`: switches encodings on and off (`active`) and changes
    /// their `max_bitrate`, `max_framerate` and `scale_resolution_down_by` without renegotiating.
    /// `parameters` must come from the last [`get_parameters`](Self::get_parameters).
    pub async fn set_parameters(
        &self,
        transceiver: TransceiverId,
        parameters: RtpSendParameters,
    ) -> Result<(), RtcError> {
        call(&self.commands, |reply| {
            Command::SetParameters(transceiver, Box::new(parameters), reply)
        })
        .await?
    }

    /// `transceiver.stop()`: the transceiver stops sending and receiving at once (the remote
    /// track's stream ends) and leaves [`get_transceivers`](Self::get_transceivers) after the next
    /// negotiation. Stopping it again does nothing.
    pub async fn stop_transceiver(&self, transceiver: TransceiverId) -> Result<(), RtcError> {
        call(&self.commands, |reply| Command::StopTransceiver(transceiver, reply)).await?
    }

    /// `getTransceivers()`, as snapshots (the `sender.track` and `receiver.track` ids included).
    pub async fn get_transceivers(&self) -> Result<Vec<TransceiverInfo>, RtcError> {
        call(&self.commands, Command::Transceivers).await
    }

    /// `getSenders()`: the senders of the transceivers that are not stopped, as snapshots.
    pub async fn get_senders(&self) -> Result<Vec<RTCRtpSender>, RtcError> {
        Ok(rtp_sender::senders(&self.get_transceivers().await?))
    }

    /// `getReceivers()`: the receivers of the transceivers that are not stopped, as snapshots.
    pub async fn get_receivers(&self) -> Result<Vec<RTCRtpReceiver>, RtcError> {
        Ok(rtp_sender::receivers(&self.get_transceivers().await?))
    }

    /// The local addresses of the connection's sockets (rtcpeer extension).
    pub async fn local_addresses(&self) -> Result<Vec<SocketAddr>, RtcError> {
        call(&self.commands, Command::LocalAddresses).await
    }

    /// The selected candidate pair (`RTCIceTransport.getSelectedCandidatePair()`): the local
    /// and the remote candidate, with their types; `None` until ICE has selected one.
    pub async fn selected_candidate_pair(&self) -> Result<Option<(Candidate, Candidate)>, RtcError> {
        call(&self.commands, Command::SelectedCandidatePair).await
    }

    /// What the connection's sockets have carried (rtcpeer extension).
    pub async fn transport_stats(&self) -> Result<TransportStats, RtcError> {
        call(&self.commands, Command::Stats).await
    }

    /// `getStats()`: a W3C webrtc-stats report of the whole connection (see
    /// [`RTCStatsReport::to_json`] for the browser's JSON shape).
    pub async fn get_stats(&self) -> Result<RTCStatsReport, RtcError> {
        call(&self.commands, |reply| Command::GetStats(None, reply)).await
    }

    /// `sender.getStats()`: the transceiver's outbound streams and what they refer to.
    pub async fn get_sender_stats(&self, transceiver: TransceiverId) -> Result<RTCStatsReport, RtcError> {
        call(&self.commands, |reply| {
            Command::GetStats(Some(StatsSelector::Sender(transceiver)), reply)
        })
        .await
    }

    /// `receiver.getStats()`: the transceiver's inbound streams and what they refer to.
    pub async fn get_receiver_stats(&self, transceiver: TransceiverId) -> Result<RTCStatsReport, RtcError> {
        call(&self.commands, |reply| {
            Command::GetStats(Some(StatsSelector::Receiver(transceiver)), reply)
        })
        .await
    }

    /// `close()`: closes every channel and the connection, and returns once the sockets are closed
    /// and the task has ended. Closing a closed connection does nothing.
    ///
    /// As in the browser, the states read `closed` from then on, no event of the connection
    /// fires any more (its event stream ends), every channel's `ready_state` is `Closed`, and
    /// every other call fails with `InvalidStateError`. Dropping every handle (the connection's
    /// and its channels') without `close()` ends the task the same way.
    pub async fn close(&self) {
        // An error means the task has already ended, which is what close() wants.
        let _ = call(&self.commands, Command::Close).await;
        self.closed().await;
    }

    /// Resolves once the connection's task has ended (after `close()`, or when it closed for another reason).
    pub async fn closed(&self) {
        let mut ended = self.ended.clone();
        // An error means the task dropped its sender, so it has ended too.
        let _ = ended.wait_for(|ended| *ended).await;
    }

    /// Whether the connection's task has ended.
    pub fn is_closed(&self) -> bool {
        *self.ended.borrow() || self.commands.is_closed()
    }

    /// The next connection event; `None` once the connection has ended (or after [`take_events`](Self::take_events)).
    pub async fn next_event(&mut self) -> Option<PeerConnectionEvent> {
        self.events.as_mut()?.recv().await
    }

    /// Takes the connection's event stream, for reading it in another task. Returns `None` the second time.
    pub fn take_events(&mut self) -> Option<Events<PeerConnectionEvent>> {
        self.events.take()
    }
}
