//! `RTCDataChannel`: the application's handle to one data channel.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::mpsc;

use crate::command::{call, closed_error, Command};
use crate::events::Events;
use crate::proto::{ChannelId, DataChannelInfo, DataChannelMessage, DataChannelState, RtcError};

/// An event of one data channel, in the order the W3C specification fires them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataChannelEvent {
    /// `open`: the channel can carry messages.
    Open,
    /// `message`: a message from the peer.
    Message(DataChannelMessage),
    /// `bufferedamountlow`: the buffered amount fell to the low threshold.
    BufferedAmountLow,
    /// `error`: the channel failed (the text says why); `Close` follows.
    Error(String),
    /// `closing`: the channel is shutting down.
    Closing,
    /// `close`: the channel is closed; the stream ends after this event.
    Close,
}

impl crate::events::sealed::Sealed for DataChannelEvent {}

/// Queued as it is: a message costs no allocation of its own. See [`Queued`](crate::Queued).
impl crate::Queued for DataChannelEvent {
    type Slot = DataChannelEvent;
    fn into_slot(self) -> DataChannelEvent {
        self
    }
    fn from_slot(slot: DataChannelEvent) -> DataChannelEvent {
        slot
    }
}

/// The channel attributes that change while the application holds the handle.
///
/// Written only by the connection task, read by the handle: plain atomics, no lock.
#[derive(Debug)]
pub(crate) struct ChannelShared {
    ready_state: AtomicU8,
    buffered_amount: AtomicUsize,
    /// The SCTP stream id, or `NO_STREAM` until it is known.
    stream_id: AtomicU32,
    /// The application called `close()`: `readyState` reads `closing` at once, and an `open`
    /// not yet read is never delivered (webrtc-pc §6.2 "announce the channel as open").
    close_requested: AtomicBool,
}

const NO_STREAM: u32 = u32::MAX;

fn state_to_u8(state: DataChannelState) -> u8 {
    match state {
        DataChannelState::Connecting => 0,
        DataChannelState::Open => 1,
        DataChannelState::Closing => 2,
        DataChannelState::Closed => 3,
    }
}

fn state_from_u8(value: u8) -> DataChannelState {
    match value {
        0 => DataChannelState::Connecting,
        1 => DataChannelState::Open,
        2 => DataChannelState::Closing,
        _ => DataChannelState::Closed,
    }
}

impl ChannelShared {
    pub(crate) fn new(info: &DataChannelInfo) -> Self {
        let shared = ChannelShared {
            ready_state: AtomicU8::new(0),
            buffered_amount: AtomicUsize::new(0),
            stream_id: AtomicU32::new(NO_STREAM),
            close_requested: AtomicBool::new(false),
        };
        shared.update(Some(info));
        shared
    }

    /// Copies the core's view of the channel; `None` (the core forgot it) means closed.
    pub(crate) fn update(&self, info: Option<&DataChannelInfo>) {
        match info {
            Some(info) => {
                let state = match info.state {
                    DataChannelState::Connecting | DataChannelState::Open
                        if self.close_requested.load(Ordering::Acquire) =>
                    {
                        DataChannelState::Closing
                    }
                    state => state,
                };
                self.ready_state.store(state_to_u8(state), Ordering::Release);
                self.buffered_amount.store(info.buffered_amount, Ordering::Release);
                self.stream_id
                    .store(info.stream_id.map_or(NO_STREAM, u32::from), Ordering::Release);
            }
            None => {
                self.ready_state
                    .store(state_to_u8(DataChannelState::Closed), Ordering::Release);
                self.buffered_amount.store(0, Ordering::Release);
            }
        }
    }
}

/// A data channel of an [`RTCPeerConnection`](crate::RTCPeerConnection).
///
/// Obtained from [`RTCPeerConnection::create_data_channel`](crate::RTCPeerConnection::create_data_channel)
/// or from a [`PeerConnectionEvent::DataChannel`](crate::PeerConnectionEvent::DataChannel) event.
/// The handle keeps the connection's task alive; the connection ends when it is
/// closed or when its last handle (connection or channel) is dropped.
///
/// **Flow control:** [`send`](Self::send) returns once the message has been queued
/// in the connection. When the channel already buffers more than
/// [`SEND_HIGH_WATER_MARK`] bytes, `send` waits until the buffered amount has
/// fallen below it, so a loop of `send(..).await` cannot outrun the network.
///
/// Clones share the channel but not its event stream, which stays with the
/// original handle; a clone's `next_event` returns `None`. Clone a handle to send
/// from one task while another reads the events.
#[derive(Debug)]
pub struct RTCDataChannel {
    pub(crate) channel: ChannelId,
    label: String,
    protocol: String,
    ordered: bool,
    negotiated: bool,
    max_retransmits: Option<u16>,
    max_packet_life_time: Option<u16>,
    shared: Arc<ChannelShared>,
    commands: mpsc::Sender<Command>,
    events: Option<Events<DataChannelEvent>>,
}

impl Clone for RTCDataChannel {
    fn clone(&self) -> Self {
        RTCDataChannel {
            channel: self.channel,
            label: self.label.clone(),
            protocol: self.protocol.clone(),
            ordered: self.ordered,
            negotiated: self.negotiated,
            max_retransmits: self.max_retransmits,
            max_packet_life_time: self.max_packet_life_time,
            shared: self.shared.clone(),
            commands: self.commands.clone(),
            events: None,
        }
    }
}

/// Above this many buffered bytes, [`RTCDataChannel::send`] waits before queuing more.
pub const SEND_HIGH_WATER_MARK: usize = 1024 * 1024;

impl RTCDataChannel {
    pub(crate) fn new(
        channel: ChannelId,
        info: &DataChannelInfo,
        shared: Arc<ChannelShared>,
        commands: mpsc::Sender<Command>,
        events: Events<DataChannelEvent>,
    ) -> Self {
        RTCDataChannel {
            channel,
            label: info.label.clone(),
            protocol: info.protocol.clone(),
            ordered: info.ordered,
            negotiated: info.negotiated,
            max_retransmits: info.max_retransmits,
            max_packet_life_time: info.max_packet_life_time,
            shared,
            commands,
            events: Some(events),
        }
    }

    /// `label`.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// `protocol`: the subprotocol name.
    pub fn protocol(&self) -> &str {
        &self.protocol
    }

    /// `ordered`: whether messages arrive in the order they were sent.
    pub fn ordered(&self) -> bool {
        self.ordered
    }

    /// `negotiated`: whether the application negotiated the channel out of band.
    pub fn negotiated(&self) -> bool {
        self.negotiated
    }

    /// `maxRetransmits`.
    pub fn max_retransmits(&self) -> Option<u16> {
        self.max_retransmits
    }

    /// `maxPacketLifeTime`, in milliseconds.
    pub fn max_packet_life_time(&self) -> Option<u16> {
        self.max_packet_life_time
    }

    /// `id`: the SCTP stream id, `None` until the DTLS role (and so the id) is known.
    pub fn id(&self) -> Option<u16> {
        u16::try_from(self.shared.stream_id.load(Ordering::Acquire)).ok()
    }

    /// `readyState`.
    pub fn ready_state(&self) -> DataChannelState {
        state_from_u8(self.shared.ready_state.load(Ordering::Acquire))
    }

    /// `bufferedAmount`: bytes queued by `send` and not yet handed to the network.
    pub fn buffered_amount(&self) -> usize {
        self.shared.buffered_amount.load(Ordering::Acquire)
    }

    /// Sets `bufferedAmountLowThreshold`.
    pub async fn set_buffered_amount_low_threshold(&self, threshold: usize) -> Result<(), RtcError> {
        self.commands
            .send(Command::SetBufferedAmountLowThreshold(self.channel, threshold))
            .await
            .map_err(|_| closed_error())
    }

    /// Sends a binary message. Waits while the channel buffers more than [`SEND_HIGH_WATER_MARK`] bytes.
    pub async fn send(&self, data: &[u8]) -> Result<(), RtcError> {
        self.send_message(DataChannelMessage::Binary(data.to_vec())).await
    }

    /// Sends a text message. Waits while the channel buffers more than [`SEND_HIGH_WATER_MARK`] bytes.
    pub async fn send_text(&self, text: &str) -> Result<(), RtcError> {
        self.send_message(DataChannelMessage::Text(text.to_owned())).await
    }

    /// Sends a message of either kind (see [`send`](Self::send)).
    pub async fn send_message(&self, message: DataChannelMessage) -> Result<(), RtcError> {
        call(&self.commands, |reply| Command::Send {
            channel: self.channel,
            message,
            reply,
        })
        .await?
    }

    /// Starts closing the channel: `ready_state` reads `Closing` at once, an `Open` event not yet
    /// read is dropped (closing in the `datachannel` handler suppresses `open`, as in the
    /// browser), and `Closing` and `Close` events follow.
    pub async fn close(&self) -> Result<(), RtcError> {
        self.shared.close_requested.store(true, Ordering::Release);
        let _ = self
            .shared
            .ready_state
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |s| match state_from_u8(s) {
                DataChannelState::Connecting | DataChannelState::Open => Some(state_to_u8(DataChannelState::Closing)),
                _ => None,
            });
        self.commands
            .send(Command::CloseChannel(self.channel))
            .await
            .map_err(|_| closed_error())
    }

    /// The next event of this channel; `None` after `Close` (or when the connection is gone).
    pub async fn next_event(&mut self) -> Option<DataChannelEvent> {
        loop {
            let event = self.events.as_mut()?.recv().await?;
            if event == DataChannelEvent::Open && self.shared.close_requested.load(Ordering::Acquire) {
                continue;
            }
            return Some(event);
        }
    }
}
