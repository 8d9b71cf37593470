//! [`DataChannels`]: the registry of data channels on one SCTP association.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{Duration, Instant};

use super::dcep::{ChannelReliability, ChannelType, DataChannelOpen, DcepMessage};
use super::{
    ppid, ChannelId, DataChannelError, DataChannelEvent, DataChannelInfo, DataChannelInit, DataChannelMessage,
    DataChannelState,
};
use crate::sctp::{
    Reliability, SctpAssociation, SctpConfig, SctpError, SctpEvent, DEFAULT_MAX_MESSAGE_SIZE, DEFAULT_SCTP_PORT,
    MAX_MESSAGE_SIZE_LIMIT,
};

/// The most channels that may exist (not closed) at once.
pub const MAX_CHANNELS: usize = 1024;

/// The most bytes of received messages held in the event queue; beyond it, messages
/// stay in the SCTP receive buffer until [`DataChannels::poll_event`] is called.
pub const MAX_QUEUED_MESSAGE_BYTES: usize = 4 * 1024 * 1024;

/// How many closed channels stay visible to [`DataChannels::info`] before the oldest is forgotten.
const MAX_RETAINED_CLOSED: usize = 256;

/// The highest stream id; 65535 is reserved (RFC 8831 §6.5).
const MAX_STREAM_ID: u16 = 65534;

/// The W3C default priority ("low"), sent in every OPEN.
const DEFAULT_PRIORITY: u16 = 256;

/// What one channel carried: messages and their payload bytes (for `getStats`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DataChannelCounters {
    /// Messages the application sent.
    pub messages_sent: u64,
    /// Payload bytes of those messages.
    pub bytes_sent: u64,
    /// Messages delivered to the application.
    pub messages_received: u64,
    /// Payload bytes of those messages.
    pub bytes_received: u64,
}

/// Local settings of the data-channel transport.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataChannelsConfig {
    /// The largest message we accept; advertise it as `a=max-message-size`.
    pub local_max_message_size: usize,
    /// Our SCTP port; advertise it as `a=sctp-port`.
    pub local_port: u16,
    /// The highest stream id a channel without `negotiated` is given (65534, the whole space,
    /// by default; Chromium stops at 1023). When the ids of our parity up to it are all taken,
    /// `createDataChannel` fails, or, for a channel created before the DTLS role was known,
    /// the channel gets an `error` and closes once the role is.
    pub max_stream_id: u16,
}

impl Default for DataChannelsConfig {
    fn default() -> Self {
        DataChannelsConfig {
            local_max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            local_port: DEFAULT_SCTP_PORT,
            max_stream_id: MAX_STREAM_ID,
        }
    }
}

#[derive(Debug)]
struct Channel {
    label: String,
    protocol: String,
    ordered: bool,
    max_packet_life_time: Option<u16>,
    max_retransmits: Option<u16>,
    negotiated: bool,
    stream_id: Option<u16>,
    state: DataChannelState,
    low_threshold: usize,
    /// We sent the OPEN and no ACK came yet: messages go ordered (RFC 8832 §6).
    awaiting_ack: bool,
    /// The peer's OPEN came before our side of the SCTP association was established
    /// (its DATA overtook or outlived a lost COOKIE-ACK), so our ACK could not be sent
    /// yet; it goes when the association is up. Without it the peer would send every
    /// message ordered for the life of the channel.
    ack_pending: bool,
    /// The application sent data since the last `bufferedamountlow`; DCEP traffic
    /// alone does not make the event fire.
    low_armed: bool,
    /// Messages and payload bytes sent and received, for `getStats`.
    counters: DataChannelCounters,
}

impl Channel {
    fn reliability(&self) -> Reliability {
        match (self.max_retransmits, self.max_packet_life_time) {
            (Some(n), _) => Reliability::MaxRetransmits(n),
            (None, Some(ms)) => Reliability::MaxPacketLifeTime(Duration::from_millis(u64::from(ms))),
            (None, None) => Reliability::Reliable,
        }
    }

    fn channel_type(&self) -> ChannelType {
        let reliability = match (self.max_retransmits, self.max_packet_life_time) {
            (Some(n), _) => ChannelReliability::MaxRetransmits(u32::from(n)),
            (None, Some(ms)) => ChannelReliability::MaxPacketLifeTime(u32::from(ms)),
            (None, None) => ChannelReliability::Reliable,
        };
        ChannelType {
            ordered: self.ordered,
            reliability,
        }
    }
}

/// The data channels of one peer connection, on top of its SCTP association.
///
/// Channels may be created before DTLS is up; [`start`](Self::start) then creates the
/// association, and the channels open once it is established. Stream ids of
/// in-band channels are even on the DTLS client and odd on the DTLS server
/// (RFC 8832 §6).
///
/// ```
/// # use std::time::Instant;
/// use rtcpeer_proto::datachannel::{DataChannels, DataChannelsConfig, DataChannelInit, DataChannelState};
/// let mut channels = DataChannels::new(DataChannelsConfig::default());
/// let chat = channels.create("chat", DataChannelInit::default()).unwrap();
/// assert_eq!(channels.info(chat).unwrap().state, DataChannelState::Connecting);
/// channels.start(true, 5000, 256 * 1024, Instant::now());
/// // The first SCTP packet (INIT) is ready for DTLS.
/// assert!(channels.poll_transmit().is_some());
/// ```
#[derive(Debug)]
pub struct DataChannels {
    config: DataChannelsConfig,
    sctp: Option<SctpAssociation>,
    is_dtls_client: bool,
    remote_max_message_size: usize,
    channels: BTreeMap<ChannelId, Channel>,
    by_stream: HashMap<u16, ChannelId>,
    /// The DTLS role is known ([`set_dtls_role`](Self::set_dtls_role) or [`start`](Self::start)):
    /// stream ids are allocated when channels are created.
    role_known: bool,
    next_id: u32,
    events: VecDeque<DataChannelEvent>,
    queued_message_bytes: usize,
    closed_order: VecDeque<ChannelId>,
    /// Channels that reached `open`.
    opened: u64,
    /// Channels that left `open`.
    closed: u64,
}

impl DataChannels {
    /// An empty registry; no SCTP association exists until [`start`](Self::start).
    pub fn new(config: DataChannelsConfig) -> Self {
        DataChannels {
            config,
            sctp: None,
            is_dtls_client: false,
            remote_max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            channels: BTreeMap::new(),
            by_stream: HashMap::new(),
            role_known: false,
            next_id: 0,
            events: VecDeque::new(),
            queued_message_bytes: 0,
            closed_order: VecDeque::new(),
            opened: 0,
            closed: 0,
        }
    }

    /// The local settings (what to advertise in SDP).
    pub fn config(&self) -> &DataChannelsConfig {
        &self.config
    }

    /// Creates a channel, validating `init` as the W3C `createDataChannel` does.
    ///
    /// The channel is [`Connecting`](DataChannelState::Connecting) until the SCTP
    /// association is up; then [`DataChannelEvent::Opened`] fires.
    pub fn create(&mut self, label: &str, init: DataChannelInit) -> Result<ChannelId, DataChannelError> {
        if label.len() > usize::from(u16::MAX) {
            return Err(DataChannelError::TooLong {
                field: "label",
                len: label.len(),
            });
        }
        if init.protocol.len() > usize::from(u16::MAX) {
            return Err(DataChannelError::TooLong {
                field: "protocol",
                len: init.protocol.len(),
            });
        }
        if init.max_packet_life_time.is_some() && init.max_retransmits.is_some() {
            return Err(DataChannelError::BothReliabilityLimits);
        }
        if init.negotiated && init.id.is_none() {
            return Err(DataChannelError::NegotiatedWithoutId);
        }
        // Without `negotiated` the id is ignored (webrtc-pc §6.1 createDataChannel step 11).
        if let (Some(id), true) = (init.id, init.negotiated) {
            if id > MAX_STREAM_ID {
                return Err(DataChannelError::IdOutOfRange(id));
            }
        }
        if self.sctp.as_ref().is_some_and(SctpAssociation::is_closed) {
            return Err(DataChannelError::InvalidState(DataChannelState::Closed));
        }
        if self.live_channels() >= MAX_CHANNELS {
            return Err(DataChannelError::TooManyChannels);
        }
        let stream_id = if init.negotiated {
            let id = init.id.ok_or(DataChannelError::NegotiatedWithoutId)?;
            if !self.stream_id_free(id) {
                return Err(DataChannelError::IdInUse(id));
            }
            Some(id)
        } else if self.role_known {
            Some(self.allocate_stream_id().ok_or(DataChannelError::TooManyChannels)?)
        } else {
            None
        };
        let cid = self.next_channel_id()?;
        let channel = Channel {
            label: label.to_owned(),
            protocol: init.protocol,
            ordered: init.ordered,
            max_packet_life_time: init.max_packet_life_time,
            max_retransmits: init.max_retransmits,
            negotiated: init.negotiated,
            stream_id,
            state: DataChannelState::Connecting,
            low_threshold: 0,
            awaiting_ack: false,
            ack_pending: false,
            low_armed: false,
            counters: DataChannelCounters::default(),
        };
        if let Some(sid) = stream_id {
            self.by_stream.insert(sid, cid);
        }
        self.channels.insert(cid, channel);
        tracing::debug!(channel = %cid, label, ?stream_id, "data channel created");
        if self.sctp.as_ref().is_some_and(SctpAssociation::is_connected) {
            self.open_channel(cid);
        }
        Ok(cid)
    }

    /// The negotiation has settled the DTLS role: the channels created so far, and those
    /// created from now on, get their stream ids at once (webrtc-pc §6.2: `id` is known as
    /// soon as the role is). Ignored once the association exists.
    pub fn set_dtls_role(&mut self, is_dtls_client: bool) {
        if self.role_known {
            return;
        }
        self.is_dtls_client = is_dtls_client;
        self.role_known = true;
        self.assign_waiting_stream_ids();
    }

    fn assign_waiting_stream_ids(&mut self) {
        let waiting: Vec<ChannelId> = self
            .channels
            .iter()
            .filter(|(_, c)| c.stream_id.is_none() && c.state == DataChannelState::Connecting)
            .map(|(id, _)| *id)
            .collect();
        for cid in waiting {
            match self.allocate_stream_id() {
                Some(sid) => {
                    self.by_stream.insert(sid, cid);
                    if let Some(channel) = self.channels.get_mut(&cid) {
                        channel.stream_id = Some(sid);
                    }
                }
                None => self.fail(cid, DataChannelError::TooManyChannels),
            }
        }
    }

    /// DTLS is connected: creates the SCTP association and assigns stream ids to
    /// the channels created so far. On the DTLS client the INIT is queued at once.
    ///
    /// Called once; later calls are ignored.
    pub fn start(&mut self, is_dtls_client: bool, remote_port: u16, remote_max_message_size: usize, now: Instant) {
        if self.sctp.is_some() {
            tracing::warn!("data channels already started");
            return;
        }
        self.is_dtls_client = is_dtls_client;
        self.role_known = true;
        self.remote_max_message_size = remote_max_message_size;
        let config = SctpConfig {
            is_client: is_dtls_client,
            local_port: self.config.local_port,
            remote_port,
            local_max_message_size: self.config.local_max_message_size,
            remote_max_message_size,
        };
        self.sctp = Some(SctpAssociation::new(config, now));
        self.assign_waiting_stream_ids();
        self.process_notifications();
    }

    /// Feeds one SCTP packet that DTLS decrypted.
    pub fn handle_receive(&mut self, now: Instant, sctp_packet: &[u8]) {
        if let Some(sctp) = self.sctp.as_mut() {
            sctp.handle_receive(now, sctp_packet);
        }
        self.process_notifications();
    }

    /// Runs the timers due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        if let Some(sctp) = self.sctp.as_mut() {
            sctp.handle_timeout(now);
        }
        self.process_notifications();
    }

    /// The next SCTP packet to give to DTLS.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.sctp.as_mut()?.poll_transmit()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<DataChannelEvent> {
        self.process_notifications();
        if self.events.is_empty() {
            self.fill_messages();
        }
        let event = self.events.pop_front()?;
        if let DataChannelEvent::Message(_, msg) = &event {
            self.queued_message_bytes = self.queued_message_bytes.saturating_sub(msg.len());
        }
        Some(event)
    }

    /// When [`handle_timeout`](Self::handle_timeout) should be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.sctp.as_ref()?.poll_timeout()
    }

    /// Sends one message on an open channel.
    pub fn send(&mut self, id: ChannelId, message: &DataChannelMessage) -> Result<(), DataChannelError> {
        let channel = self.channels.get(&id).ok_or(DataChannelError::UnknownChannel(id))?;
        if channel.state != DataChannelState::Open {
            return Err(DataChannelError::InvalidState(channel.state));
        }
        let max = effective_max(self.remote_max_message_size);
        if message.len() > max {
            return Err(DataChannelError::MessageTooLarge {
                len: message.len(),
                max,
            });
        }
        let stream = channel.stream_id.ok_or(DataChannelError::InvalidState(channel.state))?;
        let (ppid, payload): (u32, &[u8]) = match message {
            DataChannelMessage::Text(s) if s.is_empty() => (ppid::STRING_EMPTY, &[0]),
            DataChannelMessage::Text(s) => (ppid::STRING, s.as_bytes()),
            DataChannelMessage::Binary(b) if b.is_empty() => (ppid::BINARY_EMPTY, &[0]),
            DataChannelMessage::Binary(b) => (ppid::BINARY, b),
        };
        let ordered = channel.ordered || channel.awaiting_ack;
        let reliability = channel.reliability();
        let sctp = self
            .sctp
            .as_mut()
            .ok_or(DataChannelError::InvalidState(DataChannelState::Connecting))?;
        sctp.send(stream, ppid, payload, ordered, reliability)
            .map_err(|e| match e {
                SctpError::BufferFull => DataChannelError::SendBufferFull,
                SctpError::MessageTooLarge { max, .. } => DataChannelError::MessageTooLarge {
                    len: message.len(),
                    max,
                },
                SctpError::NotConnected | SctpError::StreamClosed(_) => {
                    DataChannelError::InvalidState(DataChannelState::Closing)
                }
                other => DataChannelError::Sctp(other),
            })?;
        if let Some(channel) = self.channels.get_mut(&id) {
            channel.low_armed = true;
            channel.counters.messages_sent += 1;
            channel.counters.bytes_sent += message.len() as u64;
        }
        Ok(())
    }

    /// Closes a channel (RFC 8831 §6.7): our outgoing stream is reset after the data
    /// queued on it, the peer resets its own, and then both sides report
    /// [`DataChannelEvent::Closed`]. A local close does not emit
    /// [`DataChannelEvent::Closing`] (as in the W3C, where `closing` marks a remote close).
    pub fn close(&mut self, id: ChannelId) {
        let Some(channel) = self.channels.get_mut(&id) else {
            return;
        };
        match channel.state {
            DataChannelState::Closing | DataChannelState::Closed => {}
            DataChannelState::Connecting => {
                // Nothing was sent on the stream yet; the peer never knew this channel.
                self.finish_close(id);
            }
            DataChannelState::Open => {
                channel.state = DataChannelState::Closing;
                let stream = channel.stream_id;
                let reset = match (stream, self.sctp.as_mut()) {
                    (Some(stream), Some(sctp)) => sctp.reset_stream(stream),
                    _ => Err(SctpError::NotConnected),
                };
                if let Err(e) = reset {
                    tracing::debug!(channel = %id, error = %e, "stream reset impossible; closing at once");
                    self.finish_close(id);
                }
            }
        }
    }

    /// Closes every channel at once and shuts the SCTP association down (the peer
    /// connection is closing). Every channel that was not closed reports
    /// [`DataChannelEvent::Closed`].
    pub fn close_all(&mut self) {
        let live: Vec<ChannelId> = self
            .channels
            .iter()
            .filter(|(_, c)| c.state != DataChannelState::Closed)
            .map(|(id, _)| *id)
            .collect();
        for id in live {
            self.finish_close(id);
        }
        if let Some(sctp) = self.sctp.as_mut() {
            sctp.close();
        }
    }

    /// A snapshot of a channel, or `None` for an unknown (or long closed) handle.
    pub fn info(&self, id: ChannelId) -> Option<DataChannelInfo> {
        let c = self.channels.get(&id)?;
        let buffered_amount = match (c.stream_id, self.sctp.as_ref()) {
            (Some(stream), Some(sctp)) if c.state != DataChannelState::Closed => sctp.buffered_amount(stream),
            _ => 0,
        };
        Some(DataChannelInfo {
            label: c.label.clone(),
            protocol: c.protocol.clone(),
            ordered: c.ordered,
            max_packet_life_time: c.max_packet_life_time,
            max_retransmits: c.max_retransmits,
            negotiated: c.negotiated,
            stream_id: c.stream_id,
            state: c.state,
            buffered_amount,
            buffered_amount_low_threshold: c.low_threshold,
        })
    }

    /// Sets the level at or below which [`DataChannelEvent::BufferedAmountLow`] fires.
    pub fn set_buffered_amount_low_threshold(&mut self, id: ChannelId, threshold: usize) {
        let Some(channel) = self.channels.get_mut(&id) else {
            return;
        };
        channel.low_threshold = threshold;
        if let (Some(stream), Some(sctp)) = (channel.stream_id, self.sctp.as_mut()) {
            sctp.set_buffered_amount_low_threshold(stream, threshold);
        }
    }

    /// The handles of all channels known, closed ones included while retained.
    pub fn ids(&self) -> impl Iterator<Item = ChannelId> + '_ {
        self.channels.keys().copied()
    }

    /// Whether [`start`](Self::start) has created the SCTP association.
    pub fn is_started(&self) -> bool {
        self.sctp.is_some()
    }

    /// Whether the SCTP association is established.
    pub fn is_connected(&self) -> bool {
        self.sctp.as_ref().is_some_and(SctpAssociation::is_connected)
    }

    /// The messages and payload bytes a channel sent and received, or `None` for an unknown handle.
    pub fn counters(&self, id: ChannelId) -> Option<DataChannelCounters> {
        self.channels.get(&id).map(|c| c.counters)
    }

    /// How many channels reached `open`, and how many of those left it since (the
    /// `dataChannelsOpened` and `dataChannelsClosed` of `getStats`).
    pub fn opened_and_closed(&self) -> (u64, u64) {
        (self.opened, self.closed)
    }

    fn live_channels(&self) -> usize {
        self.channels
            .values()
            .filter(|c| c.state != DataChannelState::Closed)
            .count()
    }

    fn next_channel_id(&mut self) -> Result<ChannelId, DataChannelError> {
        let id = ChannelId(self.next_id);
        self.next_id = self.next_id.checked_add(1).ok_or(DataChannelError::TooManyChannels)?;
        Ok(id)
    }

    /// The lowest free stream id of our parity: even on the DTLS client, odd on the server.
    fn allocate_stream_id(&self) -> Option<u16> {
        let first = if self.is_dtls_client { 0 } else { 1 };
        let last = self.config.max_stream_id.min(MAX_STREAM_ID);
        (first..=last).step_by(2).find(|sid| self.stream_id_free(*sid))
    }

    /// Neither used by a channel nor still being reset.
    fn stream_id_free(&self, sid: u16) -> bool {
        !self.by_stream.contains_key(&sid) && self.sctp.as_ref().is_none_or(|s| s.is_stream_available(sid))
    }

    /// Opens a channel on the established association: DCEP OPEN for in-band channels.
    fn open_channel(&mut self, cid: ChannelId) {
        let Some(channel) = self.channels.get_mut(&cid) else {
            return;
        };
        let (Some(stream), Some(sctp)) = (channel.stream_id, self.sctp.as_mut()) else {
            return;
        };
        sctp.set_buffered_amount_low_threshold(stream, channel.low_threshold);
        let result = if channel.negotiated {
            sctp.open_stream(stream).map_err(DataChannelError::from)
        } else {
            let open = DataChannelOpen {
                channel_type: channel.channel_type(),
                priority: DEFAULT_PRIORITY,
                label: channel.label.clone(),
                protocol: channel.protocol.clone(),
            };
            // RFC 8832 §6: the OPEN goes reliable and ordered.
            DcepMessage::Open(open)
                .encode()
                .map_err(DataChannelError::Dcep)
                .and_then(|bytes| {
                    sctp.send(stream, ppid::DCEP, &bytes, true, Reliability::Reliable)
                        .map_err(Into::into)
                })
        };
        match result {
            Ok(()) => {
                channel.awaiting_ack = !channel.negotiated;
                channel.state = DataChannelState::Open;
                tracing::debug!(channel = %cid, stream, "data channel open");
                self.opened += 1;
                self.events.push_back(DataChannelEvent::Opened(cid));
            }
            Err(e) => self.fail(cid, e),
        }
    }

    /// Reports an error on a channel and closes it.
    fn fail(&mut self, cid: ChannelId, error: DataChannelError) {
        tracing::debug!(channel = %cid, %error, "data channel failed");
        self.events.push_back(DataChannelEvent::Error(cid, error));
        self.finish_close(cid);
    }

    /// Moves a channel to Closed, frees its stream id and reports it.
    fn finish_close(&mut self, cid: ChannelId) {
        let Some(channel) = self.channels.get_mut(&cid) else {
            return;
        };
        if channel.state == DataChannelState::Closed {
            return;
        }
        if matches!(channel.state, DataChannelState::Open | DataChannelState::Closing) {
            self.closed += 1;
        }
        channel.state = DataChannelState::Closed;
        if let Some(stream) = channel.stream_id {
            if self.by_stream.get(&stream) == Some(&cid) {
                self.by_stream.remove(&stream);
            }
        }
        self.events.push_back(DataChannelEvent::Closed(cid));
        self.closed_order.push_back(cid);
        while self.closed_order.len() > MAX_RETAINED_CLOSED {
            if let Some(old) = self.closed_order.pop_front() {
                self.channels.remove(&old);
            }
        }
    }

    /// Handles every pending SCTP notification, leaving received messages in SCTP.
    fn process_notifications(&mut self) {
        while let Some(event) = self.sctp.as_mut().and_then(SctpAssociation::poll_notification) {
            self.handle_sctp_event(event);
        }
    }

    /// Takes received messages from SCTP while the event queue has room.
    fn fill_messages(&mut self) {
        while self.queued_message_bytes < MAX_QUEUED_MESSAGE_BYTES {
            let Some(event) = self.sctp.as_mut().and_then(SctpAssociation::poll_event) else {
                break;
            };
            self.handle_sctp_event(event);
        }
    }

    fn handle_sctp_event(&mut self, event: SctpEvent) {
        match event {
            SctpEvent::Connected => {
                let waiting: Vec<ChannelId> = self
                    .channels
                    .iter()
                    .filter(|(_, c)| c.state == DataChannelState::Connecting)
                    .map(|(id, _)| *id)
                    .collect();
                for cid in waiting {
                    self.open_channel(cid);
                }
                self.send_pending_acks();
            }
            SctpEvent::Message { stream, ppid, data } => self.handle_message(stream, ppid, data),
            SctpEvent::StreamReset { stream } => {
                let Some(&cid) = self.by_stream.get(&stream) else {
                    return;
                };
                if let Some(channel) = self.channels.get_mut(&cid) {
                    if channel.state == DataChannelState::Open || channel.state == DataChannelState::Connecting {
                        // The peer closed: W3C "closing", then "close".
                        channel.state = DataChannelState::Closing;
                        self.events.push_back(DataChannelEvent::Closing(cid));
                    }
                }
                self.finish_close(cid);
            }
            SctpEvent::BufferedAmountLow { stream } => {
                let Some(&cid) = self.by_stream.get(&stream) else {
                    return;
                };
                if let Some(channel) = self.channels.get_mut(&cid) {
                    if std::mem::take(&mut channel.low_armed) {
                        self.events.push_back(DataChannelEvent::BufferedAmountLow(cid));
                    }
                }
            }
            SctpEvent::Closed { reason } => {
                let live: Vec<ChannelId> = self
                    .channels
                    .iter()
                    .filter(|(_, c)| c.state != DataChannelState::Closed && c.stream_id.is_some())
                    .map(|(id, _)| *id)
                    .collect();
                for cid in live {
                    match &reason {
                        Some(reason) => self.fail(cid, DataChannelError::SctpFailure(reason.clone())),
                        None => self.finish_close(cid),
                    }
                }
            }
        }
    }

    fn handle_message(&mut self, stream: u16, ppid: u32, data: Vec<u8>) {
        if ppid == ppid::DCEP {
            self.handle_dcep(stream, &data);
            return;
        }
        let Some(&cid) = self.by_stream.get(&stream) else {
            tracing::debug!(stream, "message on a stream without a channel dropped");
            return;
        };
        let Some(channel) = self.channels.get_mut(&cid) else {
            return;
        };
        if channel.state != DataChannelState::Open {
            tracing::debug!(channel = %cid, "message on a channel that is not open dropped");
            return;
        }
        // RFC 8832 §6: any message from the peer on the channel acknowledges it as well as
        // a DATA_CHANNEL_ACK does (which may still be on its way, or lost and retransmitted).
        channel.awaiting_ack = false;
        let message = match ppid {
            ppid::STRING => match String::from_utf8(data) {
                Ok(text) => DataChannelMessage::Text(text),
                Err(_) => {
                    self.events
                        .push_back(DataChannelEvent::Error(cid, DataChannelError::InvalidUtf8));
                    return;
                }
            },
            ppid::BINARY => DataChannelMessage::Binary(data),
            ppid::STRING_EMPTY => DataChannelMessage::Text(String::new()),
            ppid::BINARY_EMPTY => DataChannelMessage::Binary(Vec::new()),
            other => {
                tracing::debug!(channel = %cid, ppid = other, "message with an unsupported PPID dropped");
                return;
            }
        };
        self.queued_message_bytes = self.queued_message_bytes.saturating_add(message.len());
        channel.counters.messages_received += 1;
        channel.counters.bytes_received += message.len() as u64;
        self.events.push_back(DataChannelEvent::Message(cid, message));
    }

    fn handle_dcep(&mut self, stream: u16, data: &[u8]) {
        let message = match DcepMessage::decode(data) {
            Ok(m) => m,
            Err(e) => {
                tracing::debug!(stream, error = %e, "malformed DCEP message dropped");
                return;
            }
        };
        match message {
            DcepMessage::Ack => {
                if let Some(channel) = self.by_stream.get(&stream).and_then(|cid| self.channels.get_mut(cid)) {
                    channel.awaiting_ack = false;
                }
            }
            DcepMessage::Open(open) => self.accept_open(stream, open),
        }
    }

    /// The peer opened a channel: create it, acknowledge, and report it open.
    fn accept_open(&mut self, stream: u16, open: DataChannelOpen) {
        if self.by_stream.contains_key(&stream) {
            tracing::debug!(stream, "DCEP OPEN for a stream already in use ignored");
            return;
        }
        // RFC 8832 §6: the DTLS client opens even stream ids, the server odd ones, so the
        // peer's OPENs must come on ids of its parity; ours could collide with our own channels.
        let peer_parity = (stream % 2 == 1) == self.is_dtls_client;
        let refuse = if stream > MAX_STREAM_ID || !peer_parity {
            Some("invalid stream id")
        } else if self.live_channels() >= MAX_CHANNELS {
            Some("too many channels")
        } else {
            None
        };
        let cid = match (refuse, self.next_channel_id()) {
            (None, Ok(cid)) => cid,
            (reason, _) => {
                let reason = reason.unwrap_or("no channel id left");
                tracing::debug!(stream, reason, "DCEP OPEN refused");
                if let Some(sctp) = self.sctp.as_mut() {
                    let _ = sctp.reset_stream(stream);
                }
                return;
            }
        };
        let (max_retransmits, max_packet_life_time) = match open.channel_type.reliability {
            ChannelReliability::Reliable => (None, None),
            ChannelReliability::MaxRetransmits(n) => (Some(saturate_u16(n)), None),
            ChannelReliability::MaxPacketLifeTime(ms) => (None, Some(saturate_u16(ms))),
        };
        let channel = Channel {
            label: open.label,
            protocol: open.protocol,
            ordered: open.channel_type.ordered,
            max_packet_life_time,
            max_retransmits,
            negotiated: false,
            stream_id: Some(stream),
            state: DataChannelState::Open,
            low_threshold: 0,
            awaiting_ack: false,
            ack_pending: false,
            low_armed: false,
            counters: DataChannelCounters::default(),
        };
        tracing::debug!(channel = %cid, stream, label = %channel.label, "data channel opened by the peer");
        self.channels.insert(cid, channel);
        self.by_stream.insert(stream, cid);
        if let Some(sctp) = self.sctp.as_mut() {
            sctp.set_buffered_amount_low_threshold(stream, 0);
        }
        if !self.send_ack(stream) {
            if let Some(channel) = self.channels.get_mut(&cid) {
                channel.ack_pending = true;
            }
        }
        self.events.push_back(DataChannelEvent::RemoteCreated(cid));
        self.opened += 1;
        self.events.push_back(DataChannelEvent::Opened(cid));
    }

    /// Sends a DCEP ACK on `stream`; false if the association cannot carry it yet.
    fn send_ack(&mut self, stream: u16) -> bool {
        let Some(sctp) = self.sctp.as_mut() else {
            return false;
        };
        let ack = DcepMessage::Ack.encode().unwrap_or_else(|_| vec![0x02]);
        match sctp.send(stream, ppid::DCEP, &ack, true, Reliability::Reliable) {
            Ok(()) => true,
            Err(SctpError::NotConnected) => {
                tracing::debug!(stream, "DCEP ACK deferred until the SCTP association is established");
                false
            }
            Err(e) => {
                tracing::debug!(stream, error = %e, "DCEP ACK not sent");
                true
            }
        }
    }

    /// Sends the ACKs deferred by [`accept_open`](Self::accept_open).
    fn send_pending_acks(&mut self) {
        let pending: Vec<(ChannelId, u16)> = self
            .channels
            .iter()
            .filter(|(_, c)| c.ack_pending && c.state == DataChannelState::Open)
            .filter_map(|(id, c)| Some((*id, c.stream_id?)))
            .collect();
        for (cid, stream) in pending {
            if self.send_ack(stream) {
                if let Some(channel) = self.channels.get_mut(&cid) {
                    channel.ack_pending = false;
                }
            }
        }
    }
}

fn saturate_u16(v: u32) -> u16 {
    u16::try_from(v).unwrap_or(u16::MAX)
}

/// SDP's `max-message-size:0` means "no limit"; we still cap what we will send.
fn effective_max(size: usize) -> usize {
    if size == 0 {
        MAX_MESSAGE_SIZE_LIMIT
    } else {
        size.min(MAX_MESSAGE_SIZE_LIMIT)
    }
}
