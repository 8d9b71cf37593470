//! [`SctpAssociation`]: one SCTP association over DTLS, wrapping `sctp-proto`.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use sctp_proto::{
    Association, AssociationError, AssociationHandle, ClientConfig, DatagramEvent, Endpoint, EndpointConfig, Event,
    Payload, PayloadProtocolIdentifier, ReliabilityType, ServerConfig, StreamEvent, TransportConfig,
};

use super::{Reliability, SctpConfig, SctpError, SctpEvent, MAX_MESSAGE_SIZE_LIMIT, MAX_PACKET_SIZE};

/// The most bytes queued for sending across all streams; sends beyond it fail
/// with [`SctpError::BufferFull`] (browsers use a similar 16 MiB limit).
pub const MAX_SEND_BUFFER: usize = 16 * 1024 * 1024;

/// The most outgoing packets kept between two [`SctpAssociation::poll_transmit`] calls.
/// `sctp-proto` only produces what its congestion window allows, so this is a guard,
/// not a flow control.
const MAX_TRANSMIT_QUEUE: usize = 4096;

/// The lower bound of the retransmission timeout (RTO.Min), in milliseconds: 400, as Chrome's
/// dcsctp uses, instead of RFC 9260's recommended 1 s. It stays above the peers' delayed-SACK
/// timer (200 ms in usrsctp, dcsctp and sctp-proto) plus a round trip, so a delayed SACK does not
/// cause a spurious timeout; the RTO itself still follows the measured round trip
/// (SRTT + 4 RTTVAR) when that is larger. Under random loss every tail loss costs one RTO, with
/// the congestion window back to one packet: with 5 % loss and 100 ms round trips that was a
/// fifth of the transfer time at 1 s (docs/decisions/0003-sctp.md, "Throughput under loss").
pub const RTO_MIN_MS: u64 = 400;

/// How long after our latest SACK, with no DATA from the peer since, we send it again;
/// each further repetition waits twice as long. See [`SackRepeat`].
const SACK_REPEAT_AFTER: Duration = Duration::from_millis(200);

/// How many times one SACK is repeated at most.
const SACK_REPEATS: u8 = 2;

/// A copy of our latest SACK, sent again while the peer stays silent.
///
/// A peer whose congestion window is full sends nothing until a SACK frees it. When our
/// SACK for its last DATA is lost, it waits for its retransmission timer (at least 1 s,
/// RFC 9260 RTO.Min), and on a `maxRetransmits: 0` channel then abandons what we already
/// received. Seen with aiortc answering a flood of unordered messages: its UDP receive
/// buffer overflowed, our SACKs went with it, and its echoes stopped for over a second
/// (docs/decisions/0003-sctp.md, Known weaknesses). Only SACKs without gap blocks or
/// duplicate TSNs are repeated: a repeat then tells the peer nothing it could misread
/// as a loss report, and its receive window is never larger than the one we now have
/// (no DATA arrived since).
#[derive(Debug)]
struct SackRepeat {
    packet: Vec<u8>,
    due: Instant,
    wait: Duration,
    left: u8,
}

/// One SCTP association carried over DTLS (RFC 8261).
///
/// Created when DTLS is connected. The DTLS client side sends INIT right away;
/// the server side waits for it. Packets from [`poll_transmit`](Self::poll_transmit)
/// go into DTLS; packets out of DTLS go into [`handle_receive`](Self::handle_receive).
pub struct SctpAssociation {
    config: SctpConfig,
    endpoint: Endpoint,
    association: Option<(AssociationHandle, Association)>,
    /// `sctp-proto` addresses associations by socket address; over DTLS there is
    /// only one peer, so this is a fixed placeholder that never reaches the wire.
    peer: SocketAddr,
    /// The time of the latest input, used when `sctp-proto` wants a clock to transmit.
    now: Instant,
    connected: bool,
    closed: bool,
    local_close: bool,
    events: VecDeque<SctpEvent>,
    transmits: VecDeque<Vec<u8>>,
    /// Streams that have complete messages waiting in `sctp-proto`. Messages are read
    /// from there one per [`poll_event`](Self::poll_event), so they stay in its bounded
    /// receive buffer until the layer above takes them.
    readable: BTreeSet<u16>,
    /// Streams we asked to reset and have not yet seen reset.
    resetting: BTreeSet<u16>,
    /// Streams reset but whose reset handshake has not completed: their ids cannot
    /// be used again yet (RFC 6525).
    quarantined: BTreeSet<u16>,
    /// Last known buffered amount of every stream with data queued.
    buffered: BTreeMap<u16, usize>,
    low_thresholds: HashMap<u16, usize>,
    /// The peer's cumulative TSN as our latest SACK (or its INIT/INIT-ACK) stated it;
    /// DATA too far beyond it is dropped, see [`tsn_out_of_window`].
    peer_cumulative_tsn: Option<u32>,
    /// Packets dropped by our guards; see [`rejected_packets`](Self::rejected_packets).
    rejected_packets: u64,
    /// Our latest gap-free SACK, to send again if the peer stays silent.
    sack_repeat: Option<SackRepeat>,
    /// How many SACKs were sent again; see [`repeated_sacks`](Self::repeated_sacks).
    repeated_sacks: u64,
    /// Something happened since `sctp-proto` was last asked for packets; see [`collect_transmits`].
    ///
    /// [`collect_transmits`]: Self::collect_transmits
    output_pending: bool,
    /// An input that may have to be answered at once (a packet, a timeout, a send, a reset, a
    /// close) arrived since `sctp-proto` was last asked for packets. Output is gathered lazily, once
    /// per batch of inputs, in [`poll_transmit`](Self::poll_transmit); until then
    /// [`poll_timeout`](Self::poll_timeout) says "now", so a caller that asks for the deadline
    /// without draining first still does not leave the answer waiting for a timer.
    unanswered_input: bool,
}

impl std::fmt::Debug for SctpAssociation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SctpAssociation")
            .field("config", &self.config)
            .field("connected", &self.connected)
            .field("closed", &self.closed)
            .field("buffered", &self.buffered)
            .finish_non_exhaustive()
    }
}

impl SctpAssociation {
    /// Creates the association; on the client side this queues the INIT.
    pub fn new(config: SctpConfig, now: Instant) -> Self {
        let local_max = clamp_message_size(config.local_max_message_size);
        let remote_max = clamp_message_size(config.remote_max_message_size);
        let transport = TransportConfig::default()
            .with_local_port(config.local_port)
            .with_remote_port(config.remote_port)
            .with_max_receive_message_size(local_max as u32)
            .with_max_send_message_size(remote_max as u32)
            // Room for a few maximum-size messages in reassembly at once.
            .with_max_receive_buffer_size((local_max.saturating_mul(4)).clamp(1 << 20, 64 << 20) as u32)
            // As for browsers, the association lives as long as DTLS does; ICE decides
            // when the peer is gone.
            .with_max_init_retransmits(None)
            .with_max_data_retransmits(None)
            // Same initial RTO as RFC 9260 recommends (1 s) rather than 3 s.
            .with_rto_initial_ms(1000)
            .with_rto_min_ms(RTO_MIN_MS);
        let transport = Arc::new(transport);
        let server = (!config.is_client).then(|| {
            let mut server = ServerConfig::new();
            server.transport = Arc::clone(&transport);
            Arc::new(server)
        });
        let mut endpoint_config = EndpointConfig::new();
        // `sctp-proto` sizes its packets from the largest DATA payload: the packet less the common
        // header (12 bytes, RFC 9260 §3.1) and one DATA chunk header (16 bytes, §3.3.1).
        endpoint_config.max_payload_size((MAX_PACKET_SIZE - 12 - 16) as u32);
        let mut endpoint = Endpoint::new(Arc::new(endpoint_config), server);
        let peer = SocketAddr::from(([127, 0, 0, 1], config.remote_port.max(1)));
        let mut association = None;
        let mut events = VecDeque::new();
        let mut closed = false;
        if config.is_client {
            let mut client = ClientConfig::new();
            client.transport = transport;
            match endpoint.connect(client, peer) {
                Ok(a) => association = Some(a),
                Err(e) => {
                    tracing::warn!(error = %e, "SCTP association could not be started");
                    closed = true;
                    events.push_back(SctpEvent::Closed {
                        reason: Some(e.to_string()),
                    });
                }
            }
        }
        SctpAssociation {
            config,
            endpoint,
            association,
            peer,
            now,
            connected: false,
            closed,
            local_close: false,
            events,
            transmits: VecDeque::new(),
            readable: BTreeSet::new(),
            resetting: BTreeSet::new(),
            quarantined: BTreeSet::new(),
            buffered: BTreeMap::new(),
            low_thresholds: HashMap::new(),
            peer_cumulative_tsn: None,
            rejected_packets: 0,
            sack_repeat: None,
            repeated_sacks: 0,
            output_pending: true,
            unanswered_input: true,
        }
    }

    /// The configuration the association was created with.
    pub fn config(&self) -> &SctpConfig {
        &self.config
    }

    /// True once the association has ended (closed, aborted or failed).
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// True once the association is established and until it closes or a shutdown
    /// (ours or the peer's SHUTDOWN) starts.
    ///
    /// A peer's SHUTDOWN ends the association for data: it sends nothing more, and
    /// `sctp-proto` discards what arrives from then on. A peer that sent SHUTDOWN
    /// but ignores our SHUTDOWN-ACK would otherwise leave us reporting a connection
    /// that carries nothing (found by the `sctp_packets` fuzz target).
    pub fn is_connected(&self) -> bool {
        self.connected
            && !self.closed
            && !self
                .association
                .as_ref()
                .is_some_and(|(_, a)| a.is_closing() || a.is_closed())
    }

    /// How many packets from the peer this boundary dropped before `sctp-proto`
    /// saw them, because they would have made it panic or misbehave.
    pub fn rejected_packets(&self) -> u64 {
        self.rejected_packets
    }

    /// How many of our SACKs were sent again because the peer stayed silent after them.
    pub fn repeated_sacks(&self) -> u64 {
        self.repeated_sacks
    }

    /// Feeds one SCTP packet that came out of DTLS. Malformed packets are dropped.
    pub fn handle_receive(&mut self, now: Instant, packet: &[u8]) {
        self.now = now;
        self.output_pending = true;
        self.unanswered_input = true;
        if self.closed {
            return;
        }
        // sctp-proto treats an INIT (verification tag 0) that matches none of its own INITs as
        // a new association and, on an endpoint without a server configuration (ours as the
        // client), panics. Browsers send an INIT whatever their DTLS role, so as the client we
        // drop it: the peer answers our INIT (RFC 9260 section 5.2.1) and the association forms.
        if self.config.is_client && is_init(packet) {
            tracing::trace!("INIT from the peer dropped; we are the SCTP client");
            self.rejected_packets += 1;
            return;
        }
        if !self.connected {
            if let Some(initial) = peer_initial_tsn(packet) {
                self.peer_cumulative_tsn = Some(initial.wrapping_sub(1));
            }
        }
        if let Some(cumulative) = self.peer_cumulative_tsn {
            if tsn_out_of_window(packet, cumulative) {
                tracing::debug!(cumulative, "SCTP packet with a TSN far beyond the window dropped");
                self.rejected_packets += 1;
                return;
            }
        }
        if self.config.is_client && !self.connected && self.association.is_some() && carries_data_or_sack(packet) {
            // The peer sends DATA or SACK only once our COOKIE-ECHO established its side, so
            // its COOKIE-ACK was sent and was lost or overtaken. sctp-proto would stay in
            // COOKIE-ECHOED, neither acknowledging DATA nor sending any, until its T1-cookie
            // timer (backing off from 1 s) gets another COOKIE-ACK through; meanwhile the
            // peer abandons or retransmits everything. Feed the COOKIE-ACK it implies, under
            // the packet's own common header (so sctp-proto checks its verification tag).
            if let Some(cookie_ack) = implied_cookie_ack(packet) {
                tracing::debug!("DATA before COOKIE-ACK: completing the SCTP handshake");
                self.feed(now, &cookie_ack);
            }
        }
        if carries_data(packet) {
            // sctp-proto acknowledges it with a new SACK, which replaces the repeat.
            self.sack_repeat = None;
        }
        self.feed(now, packet);
        self.pump();
        self.check_shutdown_done();
    }

    /// Hands one packet to `sctp-proto`.
    fn feed(&mut self, now: Instant, packet: &[u8]) {
        let Some((handle, event)) = self
            .endpoint
            .handle(now, self.peer, None, None, Bytes::copy_from_slice(packet))
        else {
            tracing::trace!(len = packet.len(), "SCTP packet dropped");
            return;
        };
        match event {
            DatagramEvent::NewAssociation(association) => {
                if self.association.is_none() {
                    tracing::debug!("SCTP association accepted");
                    self.association = Some((handle, association));
                } else {
                    tracing::debug!("second SCTP association refused");
                }
            }
            DatagramEvent::AssociationEvent(event) => {
                if let Some((h, association)) = self.association.as_mut() {
                    if *h == handle {
                        association.handle_event(event);
                    }
                }
            }
        }
    }

    /// Runs the timers that are due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.now = now;
        self.output_pending = true;
        self.unanswered_input = true;
        if let Some((_, association)) = self.association.as_mut() {
            if association.poll_timeout().is_some_and(|t| t <= now) {
                association.handle_timeout(now);
            }
        }
        self.repeat_sack(now);
        self.pump();
        self.check_shutdown_done();
    }

    /// Sends our latest SACK again if its time has come; see [`SackRepeat`].
    fn repeat_sack(&mut self, now: Instant) {
        if self.sack_repeat.as_ref().is_none_or(|r| r.due > now) {
            return;
        }
        if !self.is_connected() || self.transmits.len() >= MAX_TRANSMIT_QUEUE {
            self.sack_repeat = None;
            return;
        }
        let Some(repeat) = self.sack_repeat.as_mut() else {
            return;
        };
        tracing::trace!(left = repeat.left, "peer silent since our SACK: sending it again");
        self.transmits.push_back(repeat.packet.clone());
        self.repeated_sacks += 1;
        repeat.left -= 1;
        repeat.wait *= 2;
        repeat.due = now + repeat.wait;
        if repeat.left == 0 {
            self.sack_repeat = None;
        }
    }

    /// After our [`close`](Self::close), notices the end of the SHUTDOWN exchange.
    ///
    /// `sctp-proto` does not move the initiator of a shutdown to its closed state after
    /// SHUTDOWN-COMPLETE; once its shutdown timer stopped (SHUTDOWN-ACK received) no
    /// timer is left, which is the sign. Only checked after input, when the SHUTDOWN
    /// has had a chance to leave.
    fn check_shutdown_done(&mut self) {
        if self.closed || !self.local_close {
            return;
        }
        let Some((_, association)) = self.association.as_ref() else {
            return;
        };
        if association.is_closed() || (association.is_closing() && association.poll_timeout().is_none()) {
            self.closed = true;
            tracing::debug!("SCTP association shut down");
            self.events.push_back(SctpEvent::Closed { reason: None });
        }
    }

    /// The next SCTP packet to hand to DTLS.
    ///
    /// Inputs ([`handle_receive`](Self::handle_receive), [`send`](Self::send), timeouts, …) only mark
    /// the association as having output to gather; the first call after them asks `sctp-proto` once
    /// for everything it can send. Feeding a whole batch of inputs before polling therefore pays
    /// `sctp-proto`'s per-poll walk over the chunks in flight once per batch, not once per packet.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        if self.transmits.is_empty() && self.output_pending {
            self.collect_transmits();
            self.pump();
        }
        self.transmits.pop_front()
    }

    /// The next event, if any: notifications first, then received messages.
    pub fn poll_event(&mut self) -> Option<SctpEvent> {
        self.poll_notification().or_else(|| self.read_message())
    }

    /// The next event that is not a received message.
    ///
    /// Lets a caller that cannot take more messages right now keep up with state
    /// changes; the messages stay in the association's bounded receive buffer, whose
    /// shrinking window slows the peer down.
    pub fn poll_notification(&mut self) -> Option<SctpEvent> {
        self.pump();
        self.events.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) should be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.closed {
            return None;
        }
        let association = self.association.as_ref().and_then(|(_, a)| a.poll_timeout());
        let repeat = self.sack_repeat.as_ref().map(|r| r.due);
        let unanswered = self.unanswered_input.then_some(self.now);
        [association, repeat, unanswered].into_iter().flatten().min()
    }

    /// Queues one message on `stream`.
    ///
    /// `data` must not be empty (data channels send one zero byte for empty
    /// messages, RFC 8831 §6.6) and must fit the peer's maximum message size.
    pub fn send(
        &mut self,
        stream: u16,
        ppid: u32,
        data: &[u8],
        ordered: bool,
        reliability: Reliability,
    ) -> Result<(), SctpError> {
        if !self.is_connected() {
            return Err(SctpError::NotConnected);
        }
        if data.is_empty() {
            return Err(SctpError::EmptyMessage);
        }
        let max = clamp_message_size(self.config.remote_max_message_size);
        if data.len() > max {
            return Err(SctpError::MessageTooLarge { len: data.len(), max });
        }
        let ppi = PayloadProtocolIdentifier::from(ppid);
        if ppi == PayloadProtocolIdentifier::Unknown {
            return Err(SctpError::UnsupportedPpid(ppid));
        }
        if self.resetting.contains(&stream) {
            return Err(SctpError::StreamClosed(stream));
        }
        let total: usize = self.buffered.values().sum();
        if total.saturating_add(data.len()) > MAX_SEND_BUFFER {
            return Err(SctpError::BufferFull);
        }
        let (rel_type, rel_value) = match reliability {
            Reliability::Reliable => (ReliabilityType::Reliable, 0),
            Reliability::MaxRetransmits(n) => (ReliabilityType::Rexmit, u32::from(n)),
            Reliability::MaxPacketLifeTime(d) => {
                (ReliabilityType::Timed, u32::try_from(d.as_millis()).unwrap_or(u32::MAX))
            }
        };
        let Some((_, association)) = self.association.as_mut() else {
            return Err(SctpError::NotConnected);
        };
        self.output_pending = true;
        self.unanswered_input = true;
        let mut s = match association.stream(stream) {
            Ok(s) => s,
            Err(_) => association.open_stream(stream, ppi).map_err(|e| map_error(stream, e))?,
        };
        s.set_reliability_params(!ordered, rel_type, rel_value)
            .map_err(|e| map_error(stream, e))?;
        s.write_sctp(&Bytes::copy_from_slice(data), ppi)
            .map_err(|e| map_error(stream, e))?;
        let amount = s.buffered_amount().unwrap_or(0);
        self.buffered.insert(stream, amount);
        Ok(())
    }

    /// Makes sure `stream` exists on our side, so a reset from the peer reaches it
    /// even before we have sent or received anything on it (negotiated channels).
    pub fn open_stream(&mut self, stream: u16) -> Result<(), SctpError> {
        let Some((_, association)) = self.association.as_mut() else {
            return Err(SctpError::NotConnected);
        };
        if association.stream(stream).is_ok() {
            return Ok(());
        }
        self.output_pending = true;
        association
            .open_stream(stream, PayloadProtocolIdentifier::Binary)
            .map(|_| ())
            .map_err(|e| map_error(stream, e))
    }

    /// False while `stream` is being reset or its reset has not completed, when its
    /// id must not carry a new channel yet.
    pub fn is_stream_available(&self, stream: u16) -> bool {
        !self.resetting.contains(&stream) && !self.quarantined.contains(&stream)
    }

    /// Bytes queued on `stream` and not yet acknowledged by the peer.
    pub fn buffered_amount(&self, stream: u16) -> usize {
        self.buffered.get(&stream).copied().unwrap_or(0)
    }

    /// Sets the level at or below which [`SctpEvent::BufferedAmountLow`] fires for `stream`.
    pub fn set_buffered_amount_low_threshold(&mut self, stream: u16, threshold: usize) {
        self.low_thresholds.insert(stream, threshold);
    }

    /// Resets our outgoing `stream` (RFC 6525), after the data already queued on it.
    /// The peer answers by resetting its side, which yields [`SctpEvent::StreamReset`].
    pub fn reset_stream(&mut self, stream: u16) -> Result<(), SctpError> {
        let Some((_, association)) = self.association.as_mut() else {
            return Err(SctpError::NotConnected);
        };
        if self.closed || !self.connected {
            return Err(SctpError::NotConnected);
        }
        if self.resetting.contains(&stream) {
            return Ok(());
        }
        self.output_pending = true;
        self.unanswered_input = true;
        let mut s = match association.stream(stream) {
            Ok(s) => s,
            Err(_) => association
                .open_stream(stream, PayloadProtocolIdentifier::Binary)
                .map_err(|e| map_error(stream, e))?,
        };
        s.close().map_err(|e| map_error(stream, e))?;
        self.resetting.insert(stream);
        self.pump();
        Ok(())
    }

    /// Shuts the association down gracefully (SHUTDOWN), or aborts it if it is not established yet.
    pub fn close(&mut self) {
        if self.closed {
            return;
        }
        self.local_close = true;
        self.output_pending = true;
        self.unanswered_input = true;
        if let Some((_, association)) = self.association.as_mut() {
            if association.shutdown().is_err() {
                let _ = association.close();
            }
        } else {
            self.closed = true;
            self.events.push_back(SctpEvent::Closed { reason: None });
        }
        self.pump();
    }

    /// Moves `sctp-proto`'s output into our queues and turns its events into ours.
    fn pump(&mut self) {
        let Some((_, association)) = self.association.as_mut() else {
            return;
        };
        // The only endpoint event is "drained", which `sctp-proto` raises as soon as a
        // shutdown starts; passing it on would unroute the SHUTDOWN-ACK. The endpoint
        // holds just this one association, so it is simply never removed.
        while association.poll_endpoint_event().is_some() {}
        while let Some(event) = association.poll() {
            match event {
                Event::Connected if !self.connected => {
                    self.connected = true;
                    tracing::debug!("SCTP association established");
                    self.events.push_back(SctpEvent::Connected);
                }
                Event::HandshakeFailed { reason } | Event::AssociationLost { reason } if !self.closed => {
                    self.closed = true;
                    let reason = match reason {
                        // Orderly ends: our close, the peer's SHUTDOWN or ABORT.
                        AssociationError::AssociationClosed
                        | AssociationError::ApplicationClosed
                        | AssociationError::LocallyClosed => None,
                        _ if self.local_close => None,
                        failure => Some(failure.to_string()),
                    };
                    tracing::debug!(?reason, "SCTP association closed");
                    self.events.push_back(SctpEvent::Closed { reason });
                }
                Event::Stream(StreamEvent::Opened { .. }) => {
                    // Streams the peer opened; we address them by id, so just drain the queue.
                    while association.accept_stream().is_some() {}
                }
                Event::Stream(StreamEvent::Readable { id }) => {
                    self.readable.insert(id);
                }
                Event::Stream(StreamEvent::Finished { id }) => {
                    self.resetting.remove(&id);
                    self.quarantined.insert(id);
                    self.buffered.remove(&id);
                    self.events.push_back(SctpEvent::StreamReset { stream: id });
                }
                Event::Stream(StreamEvent::ResetComplete { id }) => {
                    self.quarantined.remove(&id);
                    // A reset of a stream the peer never knew completes without a
                    // reciprocal reset; report it all the same.
                    if self.resetting.remove(&id) {
                        self.buffered.remove(&id);
                        self.events.push_back(SctpEvent::StreamReset { stream: id });
                    }
                }
                Event::Stream(StreamEvent::ResetFailed { id, reason }) => {
                    // The id stays quarantined: the peer may still consider it in use.
                    tracing::debug!(stream = id, ?reason, "SCTP stream reset failed");
                    self.quarantined.insert(id);
                    if self.resetting.remove(&id) {
                        self.events.push_back(SctpEvent::StreamReset { stream: id });
                    }
                }
                _ => {}
            }
        }
        self.refresh_buffered();
    }

    /// Updates the cached buffered amounts and fires the low-threshold crossings.
    fn refresh_buffered(&mut self) {
        let Some((_, association)) = self.association.as_mut() else {
            return;
        };
        let streams: Vec<u16> = self.buffered.keys().copied().collect();
        for stream in streams {
            let old = self.buffered.get(&stream).copied().unwrap_or(0);
            let new = association
                .stream(stream)
                .and_then(|s| s.buffered_amount())
                .unwrap_or(0);
            if new == 0 {
                self.buffered.remove(&stream);
            } else {
                self.buffered.insert(stream, new);
            }
            let threshold = self.low_thresholds.get(&stream).copied().unwrap_or(0);
            if old > threshold && new <= threshold {
                self.events.push_back(SctpEvent::BufferedAmountLow { stream });
            }
        }
    }

    /// Moves what `sctp-proto` has to send into [`transmits`](Self::transmits).
    ///
    /// One `Association::poll_transmit` gathers everything the association can send at that moment
    /// (control chunks, retransmissions, as much new DATA as the windows allow, SACK, FORWARD-TSN), and
    /// each call walks every chunk in flight several times (`expire_inflight_messages`, the retransmission
    /// scan): with a megabyte in flight that is thousands of lookups. So it is called once per batch of
    /// inputs (packets, timeouts, sends, resets, a close, messages read), when the packets are asked
    /// for, not again until the next input; asking twice for the same inputs only repeats those walks
    /// to learn there is nothing more.
    fn collect_transmits(&mut self) {
        self.output_pending = false;
        self.unanswered_input = false;
        while let Some(t) = self.endpoint.poll_transmit() {
            self.queue_payload(t.payload);
        }
        let now = self.now;
        if let Some(t) = self.association.as_mut().and_then(|(_, a)| a.poll_transmit(now)) {
            self.queue_payload(t.payload);
        }
    }

    /// Queues the packets of one `sctp-proto` transmit, noting the SACKs among them.
    fn queue_payload(&mut self, payload: Payload) {
        let Payload::RawEncode(packets) = payload else { return };
        for packet in packets {
            if let Some(cumulative) = sack_cumulative_tsn(&packet) {
                self.peer_cumulative_tsn = Some(cumulative);
                self.sack_repeat = plain_sack_copy(&packet).map(|packet| SackRepeat {
                    packet,
                    due: self.now + SACK_REPEAT_AFTER,
                    wait: SACK_REPEAT_AFTER,
                    left: SACK_REPEATS,
                });
            }
            self.transmits.push_back(packet.to_vec());
        }
    }

    /// Reads one complete message from a readable stream.
    fn read_message(&mut self) -> Option<SctpEvent> {
        let (_, association) = self.association.as_mut()?;
        while let Some(&stream) = self.readable.first() {
            let chunks = match association.stream(stream) {
                Ok(mut s) => s.read_sctp(),
                Err(_) => Ok(None),
            };
            match chunks {
                Ok(Some(chunks)) => {
                    // Reading frees receive buffer: sctp-proto may want to announce the larger window.
                    self.output_pending = true;
                    let mut data = vec![0u8; chunks.len()];
                    let n = chunks.read(&mut data).unwrap_or(0);
                    data.truncate(n);
                    let ppid = match chunks.ppi {
                        PayloadProtocolIdentifier::Dcep => 50,
                        PayloadProtocolIdentifier::String => 51,
                        PayloadProtocolIdentifier::Binary => 53,
                        PayloadProtocolIdentifier::StringEmpty => 56,
                        PayloadProtocolIdentifier::BinaryEmpty => 57,
                        PayloadProtocolIdentifier::Unknown => {
                            tracing::debug!(stream, "message with an unknown PPID dropped");
                            continue;
                        }
                    };
                    return Some(SctpEvent::Message { stream, ppid, data });
                }
                Ok(None) | Err(_) => {
                    self.readable.remove(&stream);
                }
            }
        }
        None
    }
}

/// Maps SDP's "0 = no limit" and oversized values to what we are ready to buffer.
fn clamp_message_size(size: usize) -> usize {
    if size == 0 {
        MAX_MESSAGE_SIZE_LIMIT
    } else {
        size.min(MAX_MESSAGE_SIZE_LIMIT)
    }
}

fn map_error(stream: u16, e: sctp_proto::Error) -> SctpError {
    match e {
        sctp_proto::Error::ErrStreamClosed | sctp_proto::Error::ErrStreamResetPending => {
            SctpError::StreamClosed(stream)
        }
        other => SctpError::Refused(other.to_string()),
    }
}

/// How far past the peer's cumulative TSN a DATA chunk's TSN may be.
///
/// `sctp-proto` accepts any TSN above its cumulative TSN. One far beyond it (more than
/// the 16-bit gap offsets of a SACK can express) leaves it unable to report the gap
/// correctly and stalls the association for good while both ends stay "connected"
/// (found by the `sctp_packets` fuzz target). A real peer never has this many chunks
/// in flight; if one did, the dropped chunks are simply retransmitted later.
const TSN_WINDOW: u32 = 32_768;

/// The chunks of an SCTP packet as (type, value) pairs; stops at the first malformed one.
fn chunks(packet: &[u8]) -> impl Iterator<Item = (u8, &[u8])> {
    let mut rest = packet.get(12..).unwrap_or(&[]);
    std::iter::from_fn(move || {
        let typ = *rest.first()?;
        let len = usize::from(u16::from_be_bytes([*rest.get(2)?, *rest.get(3)?]));
        let value = rest.get(4..len)?;
        rest = rest.get(len.next_multiple_of(4)..).unwrap_or(&[]);
        Some((typ, value))
    })
}

fn be_u32(bytes: &[u8], at: usize) -> Option<u32> {
    let b = bytes.get(at..at + 4)?;
    Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

/// Whether `packet` carries a DATA, I-DATA or FORWARD-TSN chunk whose TSN is more
/// than [`TSN_WINDOW`] past `cumulative` (serial number arithmetic, RFC 1982).
fn tsn_out_of_window(packet: &[u8], cumulative: u32) -> bool {
    const DATA: u8 = 0;
    const I_DATA: u8 = 64;
    const FORWARD_TSN: u8 = 192;
    const I_FORWARD_TSN: u8 = 194;
    chunks(packet).any(|(typ, value)| {
        matches!(typ, DATA | I_DATA | FORWARD_TSN | I_FORWARD_TSN)
            && be_u32(value, 0).is_some_and(|tsn| {
                let ahead = tsn.wrapping_sub(cumulative);
                ahead > TSN_WINDOW && ahead < 1 << 31
            })
    })
}

/// Whether `packet` carries a DATA, I-DATA, SACK or FORWARD-TSN chunk: traffic of an
/// established association.
fn carries_data_or_sack(packet: &[u8]) -> bool {
    const DATA: u8 = 0;
    const SACK: u8 = 3;
    const I_DATA: u8 = 64;
    const FORWARD_TSN: u8 = 192;
    chunks(packet).any(|(typ, _)| matches!(typ, DATA | SACK | I_DATA | FORWARD_TSN))
}

/// Whether `packet` carries a DATA, I-DATA or FORWARD-TSN chunk: something the
/// receiver acknowledges with a SACK.
fn carries_data(packet: &[u8]) -> bool {
    const DATA: u8 = 0;
    const I_DATA: u8 = 64;
    const FORWARD_TSN: u8 = 192;
    const I_FORWARD_TSN: u8 = 194;
    chunks(packet).any(|(typ, _)| matches!(typ, DATA | I_DATA | FORWARD_TSN | I_FORWARD_TSN))
}

/// A packet holding just the last SACK of our own `packet`, under its common header and
/// with its checksum, if that SACK reports no gap blocks and no duplicate TSNs.
fn plain_sack_copy(packet: &[u8]) -> Option<Vec<u8>> {
    const SACK: u8 = 3;
    let (_, value) = chunks(packet).filter(|(typ, _)| *typ == SACK).last()?;
    // Cumulative TSN ack (4), a_rwnd (4), number of gap blocks (2), of duplicate TSNs (2).
    let fixed = value.get(..12)?;
    if fixed[8..12] != [0, 0, 0, 0] {
        return None;
    }
    let mut copy = packet.get(..8)?.to_vec();
    copy.extend_from_slice(&[0, 0, 0, 0, SACK, 0, 0, 16]);
    copy.extend_from_slice(fixed);
    super::checksum::seal(&mut copy);
    Some(copy)
}

/// A packet holding one COOKIE-ACK under the common header (ports, verification tag) of
/// `packet`, with its checksum.
fn implied_cookie_ack(packet: &[u8]) -> Option<Vec<u8>> {
    const COOKIE_ACK: u8 = 11;
    let mut ack = packet.get(..8)?.to_vec();
    ack.extend_from_slice(&[0, 0, 0, 0, COOKIE_ACK, 0, 0, 4]);
    super::checksum::seal(&mut ack);
    Some(ack)
}

/// The initial TSN announced by an INIT or INIT-ACK leading `packet`.
fn peer_initial_tsn(packet: &[u8]) -> Option<u32> {
    const INIT: u8 = 1;
    const INIT_ACK: u8 = 2;
    match chunks(packet).next()? {
        (INIT | INIT_ACK, value) => be_u32(value, 12),
        _ => None,
    }
}

/// The cumulative TSN ack of the last SACK in one of our own packets.
fn sack_cumulative_tsn(packet: &[u8]) -> Option<u32> {
    const SACK: u8 = 3;
    chunks(packet)
        .filter(|(typ, _)| *typ == SACK)
        .filter_map(|(_, value)| be_u32(value, 0))
        .last()
}

/// Whether the first chunk of `packet` is an INIT, whatever its verification tag.
///
/// An INIT with a non-zero tag (which RFC 9260 forbids, but a peer may send) that
/// matches no association reaches the same `sctp-proto` unwrap as a correct one
/// (`endpoint/mod.rs:423`, found by the `sctp_packets` fuzz target).
fn is_init(packet: &[u8]) -> bool {
    const CHUNK_INIT: u8 = 1;
    packet.len() >= 16 && packet.get(12) == Some(&CHUNK_INIT)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sctp::DEFAULT_MAX_MESSAGE_SIZE;
    use std::time::Duration;

    struct Pair {
        a: SctpAssociation,
        b: SctpAssociation,
        now: Instant,
        a_events: Vec<SctpEvent>,
        b_events: Vec<SctpEvent>,
    }

    impl Pair {
        fn new() -> Pair {
            let now = Instant::now();
            let a = SctpAssociation::new(SctpConfig::new(true), now);
            let b = SctpAssociation::new(SctpConfig::new(false), now);
            Pair {
                a,
                b,
                now,
                a_events: Vec::new(),
                b_events: Vec::new(),
            }
        }

        /// Shuttles packets until both sides are quiet, advancing time to due timers.
        fn run(&mut self, max_time: Duration) {
            self.run_dropping(max_time, |_| false);
        }

        /// Like [`run`](Self::run), but loses the packets from b to a that `lost` picks.
        fn run_dropping(&mut self, max_time: Duration, lost: impl Fn(&[u8]) -> bool) {
            let end = self.now + max_time;
            loop {
                let mut moved = false;
                while let Some(p) = self.a.poll_transmit() {
                    self.b.handle_receive(self.now, &p);
                    moved = true;
                }
                while let Some(p) = self.b.poll_transmit() {
                    if !lost(&p) {
                        self.a.handle_receive(self.now, &p);
                    }
                    moved = true;
                }
                while let Some(e) = self.a.poll_event() {
                    self.a_events.push(e);
                }
                while let Some(e) = self.b.poll_event() {
                    self.b_events.push(e);
                }
                if moved {
                    continue;
                }
                let next = [self.a.poll_timeout(), self.b.poll_timeout()]
                    .into_iter()
                    .flatten()
                    .min();
                match next {
                    Some(t) if t <= end => {
                        self.now = self.now.max(t);
                        self.a.handle_timeout(self.now);
                        self.b.handle_timeout(self.now);
                    }
                    _ => return,
                }
            }
        }
    }

    fn connected_pair() -> Pair {
        let mut p = Pair::new();
        p.run(Duration::from_secs(5));
        assert!(p.a.is_connected() && p.b.is_connected());
        assert!(p.a_events.contains(&SctpEvent::Connected));
        assert!(p.b_events.contains(&SctpEvent::Connected));
        p.a_events.clear();
        p.b_events.clear();
        p
    }

    fn messages(events: &[SctpEvent]) -> Vec<(u16, u32, Vec<u8>)> {
        events
            .iter()
            .filter_map(|e| match e {
                SctpEvent::Message { stream, ppid, data } => Some((*stream, *ppid, data.clone())),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn connects_and_carries_messages_both_ways() {
        let mut p = connected_pair();
        p.a.send(1, 53, b"hello", true, Reliability::Reliable).unwrap();
        p.b.send(2, 51, b"world", true, Reliability::Reliable).unwrap();
        p.run(Duration::from_secs(1));
        assert_eq!(messages(&p.b_events), vec![(1, 53, b"hello".to_vec())]);
        assert_eq!(messages(&p.a_events), vec![(2, 51, b"world".to_vec())]);
    }

    #[test]
    fn no_packet_is_larger_than_the_path_budget() {
        let mut p = connected_pair();
        let big: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        p.a.send(1, 53, &big, true, Reliability::Reliable).unwrap();
        let mut largest = 0;
        let mut packets = 0;
        let end = p.now + Duration::from_secs(10);
        while messages(&p.b_events).is_empty() && p.now < end {
            while let Some(packet) = p.a.poll_transmit() {
                largest = largest.max(packet.len());
                packets += 1;
                p.b.handle_receive(p.now, &packet);
            }
            while let Some(packet) = p.b.poll_transmit() {
                p.a.handle_receive(p.now, &packet);
            }
            while let Some(e) = p.b.poll_event() {
                p.b_events.push(e);
            }
            p.now += Duration::from_millis(1);
            p.a.handle_timeout(p.now);
            p.b.handle_timeout(p.now);
        }
        assert_eq!(messages(&p.b_events), vec![(1, 53, big)]);
        // Full packets, none too large: the 200 kB message needs about 200_000 / 1052 of them.
        assert!(largest <= MAX_PACKET_SIZE, "a {largest}-byte packet");
        assert!(
            largest > MAX_PACKET_SIZE - 64,
            "packets are not filled: largest {largest}"
        );
        assert!(packets >= 200_000 / (MAX_PACKET_SIZE - 28), "{packets} packets");
    }

    #[test]
    fn the_client_survives_an_init_from_its_peer_and_still_connects() {
        // Browsers send an INIT even when they are the DTLS server: feed another client's
        // INIT to our client before the real handshake.
        let now = Instant::now();
        let mut other_client = SctpAssociation::new(SctpConfig::new(true), now);
        let init = other_client.poll_transmit().expect("a client sends an INIT");
        assert!(is_init(&init));
        let mut p = Pair::new();
        p.a.handle_receive(p.now, &init);
        p.run(Duration::from_secs(5));
        assert!(p.a.is_connected() && p.b.is_connected());
        // And once connected, another INIT changes nothing.
        p.a.handle_receive(p.now, &init);
        p.a.send(1, 53, b"still here", true, Reliability::Reliable).unwrap();
        p.run(Duration::from_secs(1));
        assert_eq!(messages(&p.b_events), vec![(1, 53, b"still here".to_vec())]);
    }

    #[test]
    fn data_from_the_server_completes_a_handshake_whose_cookie_ack_is_lost() {
        // Every COOKIE-ACK from b is lost: without the implied COOKIE-ACK, a would stay in
        // COOKIE-ECHOED, never acknowledging b's DATA nor able to send.
        let carries_cookie_ack = |p: &[u8]| chunks(p).any(|(typ, _)| typ == 11);
        let mut p = Pair::new();
        p.run_dropping(Duration::from_millis(100), carries_cookie_ack);
        assert!(p.b.is_connected(), "the server got the COOKIE-ECHO");
        assert!(!p.a.is_connected(), "the client has no COOKIE-ACK yet");
        p.b.send(1, 53, b"from the server", true, Reliability::Reliable)
            .unwrap();
        p.run_dropping(Duration::from_millis(100), carries_cookie_ack);
        assert!(p.a.is_connected());
        assert!(p.a_events.contains(&SctpEvent::Connected));
        assert_eq!(messages(&p.a_events), vec![(1, 53, b"from the server".to_vec())]);
        p.a.send(2, 51, b"and back", true, Reliability::Reliable).unwrap();
        // Shorter than the 1 s retransmission timeout: what arrives needed no retransmission.
        p.run_dropping(Duration::from_millis(500), carries_cookie_ack);
        assert_eq!(messages(&p.b_events), vec![(2, 51, b"and back".to_vec())]);
        assert_eq!(p.b.buffered_amount(1), 0, "the client acknowledged the server's DATA");
    }

    #[test]
    fn a_lost_last_packet_is_sent_again_after_the_shorter_minimum_rto() {
        let mut p = connected_pair();
        // A first message gives a its round-trip measurement (near zero here: two packets, so
        // b acknowledges at once instead of delaying its SACK), so its RTO is the minimum.
        p.a.send(1, 53, &[1u8; 2000], true, Reliability::Reliable).unwrap();
        p.run(Duration::from_millis(300));
        assert_eq!(messages(&p.b_events).len(), 1);
        // The next message's only packet is lost: nothing after it can report the gap, only
        // the retransmission timer brings it.
        p.a.send(1, 53, b"second", true, Reliability::Reliable).unwrap();
        assert!(p.a.poll_transmit().is_some(), "a sends the DATA at once");
        let lost_at = p.now;
        p.run(Duration::from_millis(RTO_MIN_MS - 50));
        assert_eq!(messages(&p.b_events).len(), 1, "retransmitted before RTO.Min");
        // `run` only moves the clock to due timers.
        p.now = lost_at + Duration::from_millis(RTO_MIN_MS - 50);
        p.run(Duration::from_millis(150));
        assert_eq!(
            messages(&p.b_events).last(),
            Some(&(1, 53, b"second".to_vec())),
            "not retransmitted within {} ms",
            RTO_MIN_MS + 100
        );
    }

    /// Loses the first packet from b to a that carries a SACK.
    fn first_sack_lost() -> impl Fn(&[u8]) -> bool {
        let lost = std::cell::Cell::new(false);
        move |p: &[u8]| {
            let is_sack = chunks(p).any(|(typ, _)| typ == 3);
            let drop = is_sack && !lost.get();
            lost.set(lost.get() || drop);
            drop
        }
    }

    #[test]
    fn a_lost_sack_is_sent_again_before_the_sender_would_retransmit() {
        let mut p = connected_pair();
        let unreliable = Reliability::MaxRetransmits(0);
        p.a.send(1, 53, &[5u8; 1000], false, unreliable).unwrap();
        // Shorter than a's 1 s retransmission timeout: only a repeated SACK can drain it.
        p.run_dropping(Duration::from_millis(700), first_sack_lost());
        assert_eq!(messages(&p.b_events), vec![(1, 53, vec![5u8; 1000])]);
        assert_eq!(p.a.buffered_amount(1), 0, "a learned that b got its message");
        assert!(p.b.repeated_sacks() >= 1);
    }

    #[test]
    fn a_sender_stalled_by_a_lost_sack_goes_on_at_once() {
        // More than a's first congestion window: after the window, a waits for b's SACK.
        let mut p = connected_pair();
        let unreliable = Reliability::MaxRetransmits(0);
        for i in 0..30u8 {
            p.a.send(1, 53, &[i; 1100], false, unreliable).unwrap();
        }
        p.run_dropping(Duration::from_millis(900), first_sack_lost());
        let got = messages(&p.b_events);
        assert_eq!(got.len(), 30, "all 30 messages arrived before a's retransmission timer");
        let mut firsts: Vec<u8> = got.iter().map(|(_, _, data)| data[0]).collect();
        firsts.sort_unstable();
        assert_eq!(firsts, (0..30).collect::<Vec<u8>>());
    }

    #[test]
    fn each_sack_is_repeated_a_bounded_number_of_times() {
        let mut p = connected_pair();
        p.a.send(1, 53, b"one", true, Reliability::Reliable).unwrap();
        p.run(Duration::from_secs(3));
        assert_eq!(p.b.repeated_sacks(), u64::from(SACK_REPEATS));
        p.a.send(1, 53, b"two", true, Reliability::Reliable).unwrap();
        p.run(Duration::from_secs(3));
        assert_eq!(p.b.repeated_sacks(), 2 * u64::from(SACK_REPEATS));
        assert_eq!(messages(&p.b_events).len(), 2, "repeats deliver nothing twice");
    }

    #[test]
    fn only_plain_sacks_are_copied() {
        // Common header (ports 5000, tag 7, checksum 0), then a SACK with `gaps` gap blocks.
        let sack = |gaps: u8| {
            let mut p = vec![0x13, 0x88, 0x13, 0x88, 0, 0, 0, 7, 0, 0, 0, 0];
            let len = 16 + 4 * gaps;
            p.extend_from_slice(&[3, 0, 0, len, 0, 0, 1, 0, 0, 1, 0, 0, 0, gaps, 0, 0]);
            for _ in 0..gaps {
                p.extend_from_slice(&[0, 2, 0, 3]);
            }
            p
        };
        assert_eq!(plain_sack_copy(&sack(1)), None);
        let copy = plain_sack_copy(&sack(0)).expect("a gap-free SACK is copied");
        assert_eq!(copy.len(), 28);
        assert_eq!(&copy[12..], &sack(0)[12..]);
        let mut unsealed = copy.clone();
        crate::sctp::checksum::seal(&mut unsealed);
        assert_eq!(unsealed, copy, "the copy carries its checksum");
        assert_eq!(plain_sack_copy(&sack(0)[..20]), None, "a truncated SACK is not copied");
    }

    #[test]
    fn refuses_what_it_cannot_send() {
        let now = Instant::now();
        let mut lone = SctpAssociation::new(SctpConfig::new(true), now);
        assert_eq!(
            lone.send(1, 53, b"x", true, Reliability::Reliable),
            Err(SctpError::NotConnected)
        );

        let mut p = connected_pair();
        assert_eq!(
            p.a.send(1, 53, b"", true, Reliability::Reliable),
            Err(SctpError::EmptyMessage)
        );
        assert_eq!(
            p.a.send(1, 52, b"x", true, Reliability::Reliable),
            Err(SctpError::UnsupportedPpid(52))
        );
        let big = vec![0u8; DEFAULT_MAX_MESSAGE_SIZE + 1];
        assert_eq!(
            p.a.send(1, 53, &big, true, Reliability::Reliable),
            Err(SctpError::MessageTooLarge {
                len: big.len(),
                max: DEFAULT_MAX_MESSAGE_SIZE
            })
        );
        let fits = vec![7u8; DEFAULT_MAX_MESSAGE_SIZE];
        p.a.send(1, 53, &fits, true, Reliability::Reliable).unwrap();
        p.run(Duration::from_secs(2));
        assert_eq!(messages(&p.b_events), vec![(1, 53, fits)]);
    }

    #[test]
    fn reset_is_reported_on_both_sides() {
        let mut p = connected_pair();
        p.a.send(3, 53, b"last words", true, Reliability::Reliable).unwrap();
        p.run(Duration::from_millis(10));
        p.a.reset_stream(3).unwrap();
        assert_eq!(
            p.a.send(3, 53, b"too late", true, Reliability::Reliable),
            Err(SctpError::StreamClosed(3))
        );
        p.run(Duration::from_secs(2));
        assert_eq!(messages(&p.b_events), vec![(3, 53, b"last words".to_vec())]);
        assert!(
            p.b_events.contains(&SctpEvent::StreamReset { stream: 3 }),
            "{:?}",
            p.b_events
        );
        assert!(
            p.a_events.contains(&SctpEvent::StreamReset { stream: 3 }),
            "{:?}",
            p.a_events
        );
    }

    #[test]
    fn buffered_amount_drains_and_fires_low() {
        let mut p = connected_pair();
        p.a.set_buffered_amount_low_threshold(1, 1000);
        for _ in 0..20 {
            p.a.send(1, 53, &[1u8; 10_000], true, Reliability::Reliable).unwrap();
        }
        assert_eq!(p.a.buffered_amount(1), 200_000);
        p.run(Duration::from_secs(2));
        assert_eq!(p.a.buffered_amount(1), 0);
        let lows = p
            .a_events
            .iter()
            .filter(|e| **e == SctpEvent::BufferedAmountLow { stream: 1 })
            .count();
        assert_eq!(lows, 1);
        assert_eq!(messages(&p.b_events).len(), 20);
    }

    #[test]
    fn close_reaches_the_peer() {
        let mut p = connected_pair();
        p.a.close();
        p.run(Duration::from_secs(5));
        assert!(
            p.a_events.contains(&SctpEvent::Closed { reason: None }),
            "{:?}",
            p.a_events
        );
        assert!(
            p.b_events.contains(&SctpEvent::Closed { reason: None }),
            "{:?}",
            p.b_events
        );
        assert!(!p.a.is_connected() && !p.b.is_connected());
    }

    /// Sends `count` messages of one packet each from a to b and returns a's DATA packets, all
    /// within a's first congestion window (about 4 MTU, RFC 9260 section 7.2.1).
    fn data_packets_from_a(p: &mut Pair, count: u8) -> Vec<Vec<u8>> {
        for i in 0..count {
            p.a.send(1, 53, &[i; 1000], true, Reliability::Reliable).unwrap();
        }
        let packets: Vec<Vec<u8>> = std::iter::from_fn(|| p.a.poll_transmit()).collect();
        assert!(packets.iter().all(|packet| carries_data(packet)));
        packets
    }

    #[test]
    fn a_batch_of_received_packets_is_answered_by_one_sack() {
        let mut p = connected_pair();
        let packets = data_packets_from_a(&mut p, 3);
        assert_eq!(packets.len(), 3, "three messages, three packets");
        for packet in &packets {
            p.b.handle_receive(p.now, packet);
        }
        let answers: Vec<Vec<u8>> = std::iter::from_fn(|| p.b.poll_transmit()).collect();
        let sacks = answers.iter().filter(|a| chunks(a).any(|(typ, _)| typ == 3)).count();
        assert_eq!(sacks, 1, "one SACK for the whole batch: {} packets", answers.len());
        for answer in &answers {
            p.a.handle_receive(p.now, answer);
        }
        assert_eq!(p.a.buffered_amount(1), 0, "that SACK acknowledged all three messages");
        while let Some(e) = p.b.poll_event() {
            p.b_events.push(e);
        }
        assert_eq!(messages(&p.b_events).len(), 3);
    }

    #[test]
    fn unanswered_input_makes_the_deadline_now() {
        let mut p = connected_pair();
        let later = p.now + Duration::from_millis(5);
        p.b.send(2, 51, b"queued", true, Reliability::Reliable).unwrap();
        p.a.handle_receive(later, &[0u8; 4]);
        assert_eq!(p.b.poll_timeout(), Some(p.now), "a send waits for nothing");
        assert_eq!(p.a.poll_timeout(), Some(later), "a packet waits for nothing");
        // Once polled, the deadline is a's real timer again: the DATA's retransmission timeout.
        assert!(p.b.poll_transmit().is_some());
        while p.b.poll_transmit().is_some() {}
        let deadline = p.b.poll_timeout().expect("the DATA is timed");
        assert!(deadline >= p.now + Duration::from_millis(RTO_MIN_MS), "{deadline:?}");
        while p.a.poll_transmit().is_some() {}
        assert!(p.a.poll_timeout().is_none_or(|t| t > later));
    }

    #[test]
    fn garbage_input_is_ignored() {
        let mut p = connected_pair();
        let mut seed = 0x1234_5678_u32;
        for len in 0..300 {
            let pkt: Vec<u8> = (0..len)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 17;
                    seed ^= seed << 5;
                    seed as u8
                })
                .collect();
            p.b.handle_receive(p.now, &pkt);
        }
        p.a.send(1, 53, b"still alive", true, Reliability::Reliable).unwrap();
        p.run(Duration::from_secs(1));
        assert_eq!(messages(&p.b_events), vec![(1, 53, b"still alive".to_vec())]);
    }
}
