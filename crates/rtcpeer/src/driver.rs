//! The connection task: owns the sockets and the sans-IO core, and moves bytes,
//! commands, timers and events between them.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::future::poll_fn;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, OnceLock};
use std::task::Poll;
use std::time::Instant;

use tokio::io::ReadBuf;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, watch};
use tracing::{debug, trace, warn};

use crate::command::{closed_error, Command, Reply, States};
use crate::connection::PeerConnectionEvent;
use crate::data_channel::{ChannelShared, DataChannelEvent, RTCDataChannel, SEND_HIGH_WATER_MARK};
use crate::events::{self, Backlog, EventSender};
use crate::interfaces;
use crate::mdns::{LookupResult, Lookups, MdnsResolver};
use crate::proto::{
    ChannelId, Core, DataChannelMessage, DataChannelState, IceCandidateInit, PeerEvent, Receive, RtcError,
    TransceiverId,
};
use crate::shared_socket::SharedPort;
use crate::socket;
use crate::stats::TransportStats;
use crate::track::{self, LocalTrack, RemoteTrackSender, TrackFrame, TrackMedia};
use crate::turn_stream::{ServerStreams, StreamInput};

/// The largest UDP payload; a datagram is never bigger.
const MAX_DATAGRAM: usize = 65_535;

/// At most this many datagrams are read from a readable socket and fed to the core before the
/// core is asked for what to send. The core drains SCTP once per batch (its cost per drain grows
/// with the data in flight), so reading what is already queued saves that cost per datagram.
const RECEIVE_BATCH: usize = 64;

/// At most this many commands already queued are handled after the one that woke the task before
/// the core is asked for what to send, so that sends written back to back go out in one drain.
const COMMAND_BATCH: usize = 64;

/// At most this many sends may wait for buffer space, over all channels of a connection.
const MAX_WAITING_SENDS: usize = 1024;

/// A send waiting for the channel's buffered amount to fall below the high-water mark.
struct WaitingSend {
    message: DataChannelMessage,
    reply: Reply<()>,
}

/// What the task keeps per data channel.
struct ChannelEntry {
    shared: Arc<ChannelShared>,
    events: EventSender<DataChannelEvent>,
    waiting: VecDeque<WaitingSend>,
}

/// One UDP socket the connection sends and receives on.
struct Socket {
    io: SocketIo,
    local: SocketAddr,
}

/// A socket of the connection's own, or its share of a [`SharedUdpSocket`](crate::SharedUdpSocket).
enum SocketIo {
    Own(UdpSocket),
    Shared(SharedPort),
}

impl Socket {
    async fn send_to(&mut self, contents: &[u8], destination: SocketAddr) -> io::Result<usize> {
        match &mut self.io {
            SocketIo::Own(socket) => socket.send_to(contents, destination).await,
            SocketIo::Shared(port) => port.send_to(contents, destination).await,
        }
    }
}

/// Where the bytes of a datagram the task received are.
enum Received {
    /// The first this many bytes of this thread's [`RECEIVE_BUFFER`] (read from a socket of our own).
    Buffered(usize),
    /// Handed over by a shared socket, which allocates every datagram for its connection's queue.
    Owned(Vec<u8>),
}

/// What woke the task.
enum Input {
    Command(Option<Command>),
    Datagram(usize, io::Result<(Received, SocketAddr)>),
    Timeout,
    Drained,
    Resolved(LookupResult),
    Frame(TrackFrame),
    Stream(StreamInput),
}

/// The state of one connection's task.
pub(crate) struct Driver {
    /// Boxed: the core is about 16 KiB, and the task's future would otherwise hold the driver twice
    /// (as `run`'s argument and as its moved-in state), which idle connections pay for in memory.
    core: Box<Core>,
    sockets: Vec<Socket>,
    commands: mpsc::Receiver<Command>,
    /// Lets the task hand out new channel handles without keeping itself alive.
    weak_commands: mpsc::WeakSender<Command>,
    events: EventSender<PeerConnectionEvent>,
    backlog: Arc<Backlog>,
    channels: HashMap<ChannelId, ChannelEntry>,
    waiting_sends: usize,
    stats: TransportStats,
    /// The socket polled first next time, so that no socket starves the others.
    next_socket: usize,
    ended: watch::Sender<bool>,
    /// Resolution of remote `.local` candidates; its lookups end with the task.
    lookups: Lookups,
    /// The queue local tracks write their frames to (the task keeps a sender to subscribe new tracks);
    /// made when the first track is subscribed, as a connection without media never needs it.
    frames: Option<(mpsc::Sender<TrackFrame>, mpsc::Receiver<TrackFrame>)>,
    /// The task's ends of the remote tracks handed out in `track` events.
    remote_tracks: HashMap<TransceiverId, RemoteTrackSender>,
    /// TCP and TLS connections to TURN servers.
    streams: ServerStreams,
    /// The states the handles read once the task has ended (all `closed` but gathering).
    final_states: Arc<OnceLock<States>>,
    /// A `negotiationneeded` held back while more commands were queued (webrtc-pc §4.7.3: it
    /// fires only once the operations chain is empty).
    negotiation_deferred: bool,
    /// The sockets follow the machine's addresses (the default gathering policy): see
    /// [`Driver::follow_addresses`].
    follows_addresses: bool,
}

impl Driver {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        core: Core,
        sockets: Vec<(UdpSocket, SocketAddr)>,
        shared: Option<SharedPort>,
        commands: mpsc::Receiver<Command>,
        weak_commands: mpsc::WeakSender<Command>,
        events: EventSender<PeerConnectionEvent>,
        backlog: Arc<Backlog>,
        ended: watch::Sender<bool>,
        mdns: MdnsResolver,
        streams: ServerStreams,
        final_states: Arc<OnceLock<States>>,
    ) -> Self {
        let mut sockets: Vec<Socket> = sockets
            .into_iter()
            .map(|(socket, local)| Socket {
                io: SocketIo::Own(socket),
                local,
            })
            .collect();
        if let Some(port) = shared {
            sockets.push(Socket {
                local: port.local_addr(),
                io: SocketIo::Shared(port),
            });
        }
        let locals: Vec<SocketAddr> = sockets.iter().map(|socket| socket.local).collect();
        Driver {
            frames: None,
            remote_tracks: HashMap::new(),
            streams,
            lookups: Lookups::new(mdns, &locals),
            core: Box::new(core),
            sockets,
            commands,
            weak_commands,
            events,
            backlog,
            channels: HashMap::new(),
            waiting_sends: 0,
            stats: TransportStats::default(),
            next_socket: 0,
            ended,
            final_states,
            negotiation_deferred: false,
            follows_addresses: false,
        }
    }

    /// Makes the sockets follow the machine's addresses: before every local description is
    /// applied (so before an ICE restart gathers again), addresses that appeared get a socket and
    /// a host candidate, and the sockets of addresses that are gone are closed. Only for the
    /// default gathering policy; explicitly bound addresses stay as they are.
    pub(crate) fn following_addresses(mut self) -> Self {
        self.follows_addresses = true;
        self
    }

    /// Runs until the connection is closed or every handle is dropped; the sockets close when this returns.
    pub(crate) async fn run(mut self) {
        let mut close_reply = None;
        loop {
            self.flush().await;
            let deadline = self.core.poll_timeout();
            let reading = !self.backlog.is_full();
            let input = {
                let sockets = &mut self.sockets;
                let first = self.next_socket;
                let resolving = self.lookups.is_busy();
                let lookups = &mut self.lookups;
                tokio::select! {
                    command = self.commands.recv() => Input::Command(command),
                    (index, result) = poll_fn(|cx| poll_sockets(sockets, first, cx)), if reading => {
                        Input::Datagram(index, result)
                    }
                    () = self.backlog.drained(), if !reading => Input::Drained,
                    () = sleep_until(deadline), if deadline.is_some() => Input::Timeout,
                    result = lookups.next(), if resolving => Input::Resolved(result),
                    Some(frame) = next_frame(&mut self.frames) => Input::Frame(frame),
                    Some(input) = self.streams.next_input() => Input::Stream(input),
                }
            };
            match input {
                Input::Command(None) => {
                    debug!("every handle was dropped; closing");
                    break;
                }
                Input::Command(Some(Command::Close(reply))) => {
                    close_reply = Some(reply);
                    break;
                }
                Input::Command(Some(command)) => {
                    self.handle_command(command);
                    if let Some(reply) = self.handle_queued_commands() {
                        close_reply = Some(reply);
                        break;
                    }
                }
                Input::Datagram(index, result) => {
                    self.handle_datagram(index, result);
                    self.read_queued_datagrams(index);
                }
                Input::Timeout => self.core.handle_timeout(Instant::now()),
                Input::Drained => trace!("the application caught up; reading the network again"),
                Input::Resolved(result) => {
                    let ready = self.lookups.finish(result);
                    self.add_resolved(ready);
                }
                Input::Frame(item) => match &item.media {
                    TrackMedia::Frame(frame) => {
                        self.core
                            .write_track_frame_for_rid(Instant::now(), &item.track_id, item.rid.as_deref(), frame)
                    }
                    TrackMedia::Rtp(packet) => {
                        self.core
                            .write_track_rtp_for_rid(Instant::now(), &item.track_id, item.rid.as_deref(), packet)
                    }
                },
                Input::Stream(StreamInput::Data(server, bytes)) => {
                    self.core.handle_stream_receive(Instant::now(), server, &bytes)
                }
                Input::Stream(StreamInput::Failed(server, reason)) => {
                    self.streams.remove(server);
                    self.core.handle_stream_failed(Instant::now(), server, reason);
                }
            }
        }
        self.shut_down().await;
        // Dropping the writers ends the TURN connections once their last bytes (the allocation's
        // release) are written.
        drop(self.streams);
        // Dropping the sockets closes them before anybody hears that the connection is closed.
        drop(self.sockets);
        let _ = self.ended.send(true);
        if let Some(reply) = close_reply {
            let _ = reply.send(());
        }
    }

    /// Closes the core, sends what it still has to say, and ends every stream.
    async fn shut_down(&mut self) {
        self.core.close();
        let _ = self.final_states.set(self.states());
        self.commands.close();
        self.flush().await;
        // Channels the core closed without a close event still end with `Close`, then the stream ends.
        for (_, mut entry) in self.channels.drain() {
            entry.shared.update(None);
            entry.events.send(1, DataChannelEvent::Close);
            for waiting in entry.waiting.drain(..) {
                let _ = waiting.reply.send(Err(closed_error()));
            }
        }
        for (_, track) in self.remote_tracks.drain() {
            track.end();
        }
        // Commands that were queued before the channel closed get the closed error, not silence.
        while let Ok(command) = self.commands.try_recv() {
            reject(command);
        }
    }

    /// Handles the commands already queued, up to [`COMMAND_BATCH`], without flushing in between.
    /// Returns the reply of a `Close` among them, which ends the task.
    fn handle_queued_commands(&mut self) -> Option<tokio::sync::oneshot::Sender<()>> {
        for _ in 0..COMMAND_BATCH {
            match self.commands.try_recv() {
                Ok(Command::Close(reply)) => return Some(reply),
                Ok(command) => self.handle_command(command),
                Err(_) => break,
            }
        }
        None
    }

    /// After a datagram from socket `index`: feeds the core the datagrams that socket already has
    /// queued, up to [`RECEIVE_BATCH`] in all, without waiting and without flushing in between.
    fn read_queued_datagrams(&mut self, index: usize) {
        for _ in 1..RECEIVE_BATCH {
            if self.backlog.is_full() {
                return;
            }
            let Some(socket) = self.sockets.get_mut(index) else {
                return;
            };
            let result = match &mut socket.io {
                SocketIo::Own(udp) => match with_receive_buffer(|buffer| udp.try_recv_from(buffer)) {
                    Err(error) if error.kind() == io::ErrorKind::WouldBlock => return,
                    result => result.map(|(len, source)| (Received::Buffered(len), source)),
                },
                SocketIo::Shared(port) => match port.try_recv() {
                    Some((bytes, source)) => Ok((Received::Owned(bytes), source)),
                    None => return,
                },
            };
            self.handle_datagram(index, result);
        }
    }

    fn handle_datagram(&mut self, index: usize, result: io::Result<(Received, SocketAddr)>) {
        self.next_socket = (index + 1) % self.sockets.len().max(1);
        let Some(socket) = self.sockets.get(index) else {
            return;
        };
        match result {
            Ok((received, source)) => {
                let destination = socket.local;
                let mut handle = |contents: &[u8]| {
                    self.stats.datagrams_received += 1;
                    self.stats.bytes_received += contents.len() as u64;
                    self.core.handle_receive(
                        Instant::now(),
                        Receive {
                            source,
                            destination,
                            contents,
                        },
                    );
                };
                match received {
                    Received::Buffered(len) => {
                        RECEIVE_BUFFER.with_borrow(|buffer| handle(buffer.get(..len).unwrap_or_default()))
                    }
                    Received::Owned(bytes) => handle(&bytes),
                }
            }
            Err(error) => {
                // ECONNREFUSED after an ICMP port unreachable and the like: count, never fatal.
                self.stats.receive_errors += 1;
                debug!(local = %socket.local, %error, "receive error");
            }
        }
    }

    fn handle_command(&mut self, command: Command) {
        let now = Instant::now();
        match command {
            // The operations chain: each runs to its end before the next command, and the events
            // it raised (signalingstatechange first) are handed out before its result.
            Command::CreateOffer(options, reply) => {
                let _ = reply.send(self.core.create_offer_with(options));
            }
            Command::RestartIce(reply) => {
                self.core.restart_ice();
                let _ = reply.send(());
            }
            Command::CreateAnswer(reply) => {
                let _ = reply.send(self.core.create_answer());
            }
            Command::SetLocalDescription(desc, reply) => {
                self.follow_addresses();
                let result = self.core.set_local_description(now, desc);
                if result.is_ok() {
                    self.register_ufrag();
                }
                self.deliver_events();
                let _ = reply.send(result);
                // The core gathers on the first timer after setLocalDescription (its candidates
                // come after the result, as in the browser). Run it now, before the next command,
                // so that a description read after SLD resolves has the host candidates.
                if self.core.poll_timeout().is_some_and(|due| due <= now) {
                    self.core.handle_timeout(now);
                }
            }
            Command::SetRemoteDescription(desc, reply) => {
                let result = self.core.set_remote_description(now, desc.clone());
                if result.is_ok() {
                    let ready = self.lookups.request_from_description(&desc);
                    self.add_resolved(ready);
                }
                self.deliver_events();
                let _ = reply.send(result);
            }
            Command::AddIceCandidate(candidate, reply) => {
                let candidate = *candidate;
                let result = self.core.add_ice_candidate(now, candidate.clone());
                if let (Ok(()), Some(candidate)) = (&result, candidate) {
                    let ready = self.lookups.request(&candidate);
                    self.add_resolved(ready);
                }
                self.deliver_events();
                let _ = reply.send(result);
            }
            Command::Description(attribute, reply) => {
                use crate::command::DescriptionAttribute as A;
                let _ = reply.send(match attribute {
                    A::Local => self.core.local_description(),
                    A::CurrentLocal => self.core.current_local_description(),
                    A::PendingLocal => self.core.pending_local_description(),
                    A::Remote => self.core.remote_description(),
                    A::CurrentRemote => self.core.current_remote_description(),
                    A::PendingRemote => self.core.pending_remote_description(),
                });
            }
            Command::CanTrickleIceCandidates(reply) => {
                let _ = reply.send(self.core.can_trickle_ice_candidates());
            }
            Command::SetIceConfiguration(policy, servers, tls, reply) => {
                let result = self.core.set_ice_configuration(policy, servers);
                if result.is_ok() {
                    self.streams.set_tls(tls);
                }
                let _ = reply.send(result);
            }
            Command::States(reply) => {
                let _ = reply.send(self.states());
            }
            Command::SelectedCandidatePair(reply) => {
                let _ = reply.send(self.core.selected_candidates());
            }
            Command::LocalAddresses(reply) => {
                let _ = reply.send(self.sockets.iter().map(|s| s.local).collect());
            }
            Command::Stats(reply) => {
                let _ = reply.send(TransportStats {
                    dropped: self.core.drop_counters(),
                    media: self.core.media_counters(),
                    ..self.stats
                });
            }
            Command::CreateDataChannel { label, init, reply } => {
                let result = self
                    .core
                    .create_data_channel(&label, *init)
                    .and_then(|channel| self.channel_handle(channel).ok_or_else(closed_error));
                let _ = reply.send(result);
            }
            Command::Send {
                channel,
                message,
                reply,
            } => self.send(channel, message, reply),
            Command::CloseChannel(channel) => self.core.close_data_channel(channel),
            Command::SetBufferedAmountLowThreshold(channel, threshold) => {
                self.core.set_buffered_amount_low_threshold(channel, threshold)
            }
            Command::AddTrack(track, reply) => {
                let result = self.core.add_track(track.init());
                if result.is_ok() {
                    track.subscribe(self.frame_sender());
                }
                let _ = reply.send(result);
            }
            Command::AddTransceiver {
                kind,
                track,
                init,
                reply,
            } => {
                let result = match &track {
                    Some(track) => self.core.add_transceiver_with_track(track.init(), *init),
                    None => self.core.add_transceiver(kind, *init),
                };
                if let (Ok(_), Some(track)) = (&result, track) {
                    track.subscribe(self.frame_sender());
                }
                let _ = reply.send(result);
            }
            Command::RemoveTrack(id, reply) => {
                let _ = reply.send(self.core.remove_track(id));
            }
            Command::ReplaceTrack(id, track, reply) => {
                let result = self.core.replace_track(id, track.as_ref().map(LocalTrack::init));
                if let (Ok(()), Some(track)) = (&result, track) {
                    track.subscribe(self.frame_sender());
                }
                let _ = reply.send(result);
            }
            Command::SetDirection(id, direction, reply) => {
                let _ = reply.send(self.core.set_transceiver_direction(id, direction));
            }
            Command::GetParameters(id, reply) => {
                let _ = reply.send(self.core.get_parameters(id));
            }
            Command::SetParameters(id, parameters, reply) => {
                let _ = reply.send(self.core.set_parameters(id, *parameters));
            }
            Command::StopTransceiver(id, reply) => {
                let result = self.core.stop_transceiver(id);
                if result.is_ok() {
                    // The receiver's track ends at once (webrtc-pc §5.4 stop()).
                    if let Some(track) = self.remote_tracks.remove(&id) {
                        track.end();
                    }
                }
                let _ = reply.send(result);
            }
            Command::GetStats(selector, reply) => {
                // The core has no wallclock: the report's timestamps come from here.
                let timestamp_ms = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0.0, |d| d.as_secs_f64() * 1000.0);
                let report = match selector {
                    None => self.core.get_stats(now, timestamp_ms),
                    Some(selector) => self.core.get_stats_for(now, timestamp_ms, selector),
                };
                let _ = reply.send(report);
            }
            Command::Transceivers(reply) => {
                let _ = reply.send(self.core.transceivers());
            }
            Command::RequestKeyframe(id) => self.core.request_keyframe(id),
            Command::ReceiveRtp(id, packets) => {
                if let Some(track) = self.remote_tracks.get_mut(&id) {
                    track.set_rtp(packets);
                    if let Err(e) = self.core.set_receive_rtp(id, true) {
                        debug!(error = %e, "raw RTP not delivered");
                    }
                }
            }
            Command::Close(reply) => {
                // Handled by the loop; unreachable here, but answering is harmless.
                let _ = reply.send(());
            }
        }
    }

    fn states(&self) -> States {
        States {
            signaling: self.core.signaling_state(),
            ice_gathering: self.core.ice_gathering_state(),
            ice_connection: self.core.ice_connection_state(),
            connection: self.core.connection_state(),
        }
    }

    /// Fires a held-back `negotiationneeded` once no command is queued, if the connection
    /// still needs a negotiation and is in `stable` (webrtc-pc §4.7.3 steps 4–7).
    fn release_negotiation_needed(&mut self) {
        if !self.negotiation_deferred || !self.commands.is_empty() {
            return;
        }
        self.negotiation_deferred = false;
        if self.core.negotiation_needed() && self.core.signaling_state() == crate::proto::SignalingState::Stable {
            self.events.send(1, PeerConnectionEvent::NegotiationNeeded);
        } else {
            trace!("negotiationneeded dropped: a queued operation took care of it");
        }
    }

    /// Gives the core candidates whose `.local` name was resolved to an address.
    fn add_resolved(&mut self, ready: Vec<IceCandidateInit>) {
        let now = Instant::now();
        for candidate in ready {
            debug!(candidate = %candidate.candidate, "adding a resolved mDNS candidate");
            if let Err(error) = self.core.add_ice_candidate(now, Some(candidate)) {
                // The remote description changed while resolving, for example.
                debug!(%error, "the core refused a resolved candidate");
            }
        }
    }

    /// Tells the shared socket, if the connection uses one, our ICE ufrag (from the local
    /// description), so STUN requests naming it find this connection.
    fn register_ufrag(&mut self) {
        let Some(port) = self.sockets.iter_mut().find_map(|socket| match &mut socket.io {
            SocketIo::Shared(port) => Some(port),
            SocketIo::Own(_) => None,
        }) else {
            return;
        };
        port.set_ufrag(self.core.local_ice_ufrag());
    }

    /// Sends now, or queues the send behind earlier waiting ones while the channel's buffer is above the mark.
    fn send(&mut self, channel: ChannelId, message: DataChannelMessage, reply: Reply<()>) {
        let Some(entry) = self.channels.get_mut(&channel) else {
            let _ = reply.send(Err(RtcError::InvalidState("the data channel is closed".into())));
            return;
        };
        let buffered = self.core.data_channel(channel).map_or(0, |info| info.buffered_amount);
        if entry.waiting.is_empty() && buffered <= SEND_HIGH_WATER_MARK {
            let result = self.core.send(channel, &message);
            entry.shared.update(self.core.data_channel(channel).as_ref());
            let _ = reply.send(result);
        } else if self.waiting_sends >= MAX_WAITING_SENDS {
            let _ = reply.send(Err(RtcError::Operation(format!(
                "more than {MAX_WAITING_SENDS} sends are already waiting for buffer space"
            ))));
        } else {
            entry.waiting.push_back(WaitingSend { message, reply });
            self.waiting_sends += 1;
        }
    }

    /// Lets waiting sends through as far as the buffered amounts allow.
    /// Returns whether any send went through.
    fn release_waiting_sends(&mut self) -> bool {
        if self.waiting_sends == 0 {
            return false;
        }
        let mut released = false;
        for (&channel, entry) in self.channels.iter_mut() {
            while !entry.waiting.is_empty() {
                let info = self.core.data_channel(channel);
                if info.is_some_and(|i| i.state == DataChannelState::Open && i.buffered_amount > SEND_HIGH_WATER_MARK) {
                    break;
                }
                let Some(waiting) = entry.waiting.pop_front() else {
                    break;
                };
                self.waiting_sends -= 1;
                released = true;
                let result = self.core.send(channel, &waiting.message);
                let _ = waiting.reply.send(result);
            }
        }
        released
    }

    /// A sender into the local tracks' frame queue, which is made on first use.
    fn frame_sender(&mut self) -> mpsc::Sender<TrackFrame> {
        self.frames.get_or_insert_with(track::frame_queue).0.clone()
    }

    /// Creates the application's handle for a channel and starts tracking it.
    fn channel_handle(&mut self, channel: ChannelId) -> Option<RTCDataChannel> {
        let info = self.core.data_channel(channel)?;
        let commands = self.weak_commands.upgrade()?;
        let shared = Arc::new(ChannelShared::new(&info));
        let (sender, stream) = events::stream(&self.backlog);
        self.channels.insert(
            channel,
            ChannelEntry {
                shared: shared.clone(),
                events: sender,
                waiting: VecDeque::new(),
            },
        );
        Some(RTCDataChannel::new(channel, &info, shared, commands, stream))
    }

    /// Binds a socket on every usable address that has none and closes the sockets of addresses
    /// the machine no longer has, telling the core (the host moved to another network or got a
    /// new address). When the interfaces cannot be listed, or none is usable, nothing changes.
    fn follow_addresses(&mut self) {
        if !self.follows_addresses {
            return;
        }
        let current: Vec<IpAddr> = match interfaces::system_addresses() {
            Ok(system) => interfaces::default_addresses(&system),
            Err(error) => {
                debug!(%error, "cannot list network interfaces; keeping the sockets");
                return;
            }
        };
        if current.is_empty() {
            return;
        }
        let core = &mut self.core;
        self.sockets.retain(|socket| {
            let kept = current.contains(&socket.local.ip());
            if !kept {
                debug!(local = %socket.local, "address gone; socket closed");
                core.remove_local_address(socket.local);
            }
            kept
        });
        for ip in current {
            if self.sockets.iter().any(|s| s.local.ip() == ip) {
                continue;
            }
            match socket::bind_udp(ip).and_then(|socket| Ok((socket.local_addr()?, socket))) {
                Ok((local, socket)) => {
                    debug!(%local, "new address; bound");
                    self.sockets.push(Socket {
                        io: SocketIo::Own(socket),
                        local,
                    });
                    self.core.add_local_address(local);
                }
                Err(error) => warn!(%ip, %error, "cannot bind on a new address; skipped"),
            }
        }
        self.next_socket = 0;
    }

    /// After every input: sends what the core wants sent, hands its events out, and refreshes the channels.
    async fn flush(&mut self) {
        loop {
            // Sends released and messages read first, so that one drain of the core sends for all of them.
            let mut progressed = self.release_waiting_sends();
            progressed |= self.deliver_events();
            while let Some(transmit) = self.core.poll_transmit() {
                progressed = true;
                let Some(socket) = self.sockets.iter_mut().find(|s| s.local == transmit.source) else {
                    self.stats.send_errors += 1;
                    warn!(source = %transmit.source, "the core sent from an address with no socket");
                    continue;
                };
                match socket.send_to(&transmit.contents, transmit.destination).await {
                    Ok(_) => {
                        self.stats.datagrams_sent += 1;
                        self.stats.bytes_sent += transmit.contents.len() as u64;
                    }
                    Err(error) => {
                        self.stats.send_errors += 1;
                        debug!(destination = %transmit.destination, %error, "send failed");
                    }
                }
            }
            while let Some(transmit) = self.core.poll_stream_transmit() {
                progressed = true;
                self.streams
                    .send(transmit.server, transmit.tls.as_ref(), transmit.contents);
            }
            // Sending can raise events and free buffer space, and released sends and events (a channel
            // closing) can queue more datagrams: go round until quiet.
            if !progressed {
                break;
            }
        }
        self.release_negotiation_needed();
    }

    /// Hands the core's events out; returns whether there were any.
    fn deliver_events(&mut self) -> bool {
        // Refreshed before the events go out, so a handle reading `Open` sees an open channel.
        for (&channel, entry) in &self.channels {
            entry.shared.update(self.core.data_channel(channel).as_ref());
        }
        let mut any = false;
        while let Some(event) = self.core.poll_event() {
            any = true;
            self.dispatch(event);
        }
        any
    }

    fn dispatch(&mut self, event: PeerEvent) {
        trace!(?event, "core event");
        let to_app = match event {
            PeerEvent::IceCandidate(candidate) => PeerConnectionEvent::IceCandidate(candidate),
            PeerEvent::IceCandidateError {
                address,
                port,
                url,
                error_code,
                error_text,
            } => PeerConnectionEvent::IceCandidateError {
                address,
                port,
                url,
                error_code,
                error_text,
            },
            PeerEvent::IceGatheringStateChange(state) => PeerConnectionEvent::IceGatheringStateChange(state),
            PeerEvent::IceConnectionStateChange(state) => PeerConnectionEvent::IceConnectionStateChange(state),
            PeerEvent::ConnectionStateChange(state) => PeerConnectionEvent::ConnectionStateChange(state),
            PeerEvent::DtlsStateChange(state) => PeerConnectionEvent::DtlsStateChange(state),
            PeerEvent::SignalingStateChange(state) => PeerConnectionEvent::SignalingStateChange(state),
            PeerEvent::NegotiationNeeded if !self.commands.is_empty() => {
                // More operations are queued: fire once the chain is empty (if still needed).
                self.negotiation_deferred = true;
                return;
            }
            PeerEvent::NegotiationNeeded => PeerConnectionEvent::NegotiationNeeded,
            PeerEvent::DataChannel(channel) => match self.channel_handle(channel) {
                Some(handle) => PeerConnectionEvent::DataChannel(handle),
                None => return,
            },
            PeerEvent::Track {
                transceiver,
                mid,
                kind,
                track_id,
                stream_ids,
            } => {
                let Some(commands) = self.weak_commands.upgrade() else {
                    return;
                };
                let (sender, track) =
                    RemoteTrackSender::pair(track_id, kind, transceiver, Some(mid), stream_ids, commands.downgrade());
                if let Some(previous) = self.remote_tracks.insert(transceiver, sender) {
                    previous.end();
                }
                PeerConnectionEvent::Track(track)
            }
            PeerEvent::Frame(transceiver, frame) => {
                if let Some(track) = self.remote_tracks.get_mut(&transceiver) {
                    track.send(frame);
                }
                return;
            }
            PeerEvent::TrackMuted(transceiver) => PeerConnectionEvent::TrackMuted(transceiver),
            PeerEvent::TrackUnmuted(transceiver) => PeerConnectionEvent::TrackUnmuted(transceiver),
            PeerEvent::StreamTrackRemoved {
                stream_id,
                transceiver,
                track_id,
            } => PeerConnectionEvent::StreamTrackRemoved {
                stream_id,
                transceiver,
                track_id,
            },
            PeerEvent::RtpPacket(transceiver, packet) => {
                let wanted = self
                    .remote_tracks
                    .get_mut(&transceiver)
                    .is_some_and(|track| track.send_rtp(packet));
                if !wanted {
                    let _ = self.core.set_receive_rtp(transceiver, false);
                }
                return;
            }
            PeerEvent::KeyframeRequested(transceiver, rid) => PeerConnectionEvent::KeyframeRequested(transceiver, rid),
            PeerEvent::TargetBitrate { bitrate_bps } => PeerConnectionEvent::TargetBitrate { bitrate_bps },
            PeerEvent::CodecNotNegotiated(transceiver, codec) => {
                PeerConnectionEvent::CodecNotNegotiated(transceiver, codec)
            }
            PeerEvent::ChannelOpen(channel) => return self.deliver_to_channel(channel, 1, DataChannelEvent::Open),
            PeerEvent::ChannelMessage(channel, message) => {
                let cost = match &message {
                    DataChannelMessage::Text(text) => text.len(),
                    DataChannelMessage::Binary(bytes) => bytes.len(),
                };
                return self.deliver_to_channel(channel, cost, DataChannelEvent::Message(message));
            }
            PeerEvent::ChannelBufferedAmountLow(channel) => {
                return self.deliver_to_channel(channel, 1, DataChannelEvent::BufferedAmountLow)
            }
            PeerEvent::ChannelClosing(channel) => {
                return self.deliver_to_channel(channel, 1, DataChannelEvent::Closing)
            }
            PeerEvent::ChannelError(channel, error) => {
                return self.deliver_to_channel(channel, error.len(), DataChannelEvent::Error(error))
            }
            PeerEvent::ChannelClose(channel) => {
                self.deliver_to_channel(channel, 1, DataChannelEvent::Close);
                if let Some(mut entry) = self.channels.remove(&channel) {
                    entry.shared.update(None);
                    for waiting in entry.waiting.drain(..) {
                        self.waiting_sends -= 1;
                        let _ = waiting
                            .reply
                            .send(Err(RtcError::InvalidState("the data channel is closed".into())));
                    }
                }
                return;
            }
        };
        if !self.events.send(1, to_app) {
            trace!("the application dropped the connection's event stream");
        }
    }

    fn deliver_to_channel(&self, channel: ChannelId, cost: usize, event: DataChannelEvent) {
        if let Some(entry) = self.channels.get(&channel) {
            entry.events.send(cost, event);
        }
    }
}

/// Answers a command that arrived after the connection closed.
fn reject(command: Command) {
    match command {
        Command::CreateOffer(_, reply) | Command::CreateAnswer(reply) => drop(reply.send(Err(closed_error()))),
        Command::SetLocalDescription(_, reply)
        | Command::SetRemoteDescription(_, reply)
        | Command::AddIceCandidate(_, reply)
        | Command::SetIceConfiguration(_, _, _, reply)
        | Command::Send { reply, .. } => drop(reply.send(Err(closed_error()))),
        Command::CreateDataChannel { reply, .. } => drop(reply.send(Err(closed_error()))),
        Command::AddTrack(_, reply) | Command::AddTransceiver { reply, .. } => drop(reply.send(Err(closed_error()))),
        Command::RemoveTrack(_, reply)
        | Command::ReplaceTrack(_, _, reply)
        | Command::SetDirection(_, _, reply)
        | Command::SetParameters(_, _, reply)
        | Command::StopTransceiver(_, reply) => drop(reply.send(Err(closed_error()))),
        Command::GetParameters(_, reply) => drop(reply.send(Err(closed_error()))),
        Command::Close(reply) => drop(reply.send(())),
        // The other replies are dropped, which their callers read as "closed".
        _ => {}
    }
}

thread_local! {
    /// The receive buffer of every connection task that runs on this thread: a task reads a
    /// datagram from its own socket into it and hands it to the core in the same poll, so tasks
    /// need no buffer of their own (64 KiB each, of which idle connections kept a page or more).
    static RECEIVE_BUFFER: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Runs `read` on this thread's [`RECEIVE_BUFFER`], made on first use.
fn with_receive_buffer<R>(read: impl FnOnce(&mut [u8]) -> R) -> R {
    RECEIVE_BUFFER.with_borrow_mut(|buffer| {
        if buffer.len() < MAX_DATAGRAM {
            // Zeroed by the allocator: pages the kernel never writes to stay unmapped.
            *buffer = vec![0; MAX_DATAGRAM];
        }
        read(buffer)
    })
}

/// Polls every socket once, starting at `first`, for one datagram.
fn poll_sockets(
    sockets: &mut [Socket],
    first: usize,
    cx: &mut std::task::Context<'_>,
) -> Poll<(usize, io::Result<(Received, SocketAddr)>)> {
    let count = sockets.len();
    for offset in 0..count {
        let index = (first + offset) % count;
        let Some(socket) = sockets.get_mut(index) else { continue };
        let polled = match &mut socket.io {
            SocketIo::Own(socket) => with_receive_buffer(|buffer| {
                let mut read = ReadBuf::new(buffer);
                socket
                    .poll_recv_from(cx, &mut read)
                    .map_ok(|source| (Received::Buffered(read.filled().len()), source))
            }),
            SocketIo::Shared(port) => port
                .poll_recv(cx)
                .map(|(bytes, source)| Ok((Received::Owned(bytes), source))),
        };
        if polled.is_ready() {
            return polled.map(|result| (index, result));
        }
    }
    Poll::Pending
}

/// The next frame a local track wrote; never resolves while no track was ever subscribed.
async fn next_frame(frames: &mut Option<(mpsc::Sender<TrackFrame>, mpsc::Receiver<TrackFrame>)>) -> Option<TrackFrame> {
    match frames {
        Some((_, receiver)) => receiver.recv().await,
        None => std::future::pending().await,
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    if let Some(deadline) = deadline {
        tokio::time::sleep_until(tokio::time::Instant::from_std(deadline)).await
    }
}
