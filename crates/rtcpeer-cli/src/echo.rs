//! Echoing: every message of every data channel the remote opens goes back unchanged
//! (text stays text, binary stays binary) on the same channel.
//!
//! Used by `rtcpeer answer` and meant for `rtcpeer serve`: [`echo_connection`] reads a
//! connection's event stream, echoes on each channel the remote opens (and on channels
//! the application created itself, such as pre-negotiated ones) and returns once the
//! remote has closed: every channel closed after the connection was `connected`, or the
//! connection left `connected`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use rtcpeer::{DataChannelEvent, Events, PeerConnectionEvent, PeerConnectionState, RTCDataChannel};
use tokio::task::JoinSet;

/// Where progress lines go (the CLI prints them on stderr).
pub type Say = Arc<dyn Fn(String) + Send + Sync>;

/// Messages and bytes echoed, over every channel of a connection.
#[derive(Debug, Default)]
pub struct EchoTotals {
    messages: AtomicU64,
    bytes: AtomicU64,
}

impl EchoTotals {
    /// Messages echoed.
    pub fn messages(&self) -> u64 {
        self.messages.load(Ordering::Relaxed)
    }

    /// Payload bytes echoed.
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    fn add(&self, bytes: usize) {
        self.messages.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(bytes as u64, Ordering::Relaxed);
    }
}

/// What one channel's echo did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelEchoReport {
    /// The channel's label.
    pub label: String,
    /// The channel's stream id, when it had one.
    pub id: Option<u16>,
    /// Messages echoed on this channel.
    pub messages: u64,
    /// Payload bytes echoed on this channel.
    pub bytes: u64,
    /// Echoes the connection refused (for instance because the channel was closing).
    pub send_errors: u64,
    /// Whether the channel ended with a `close` event (rather than its stream just ending).
    pub closed: bool,
}

fn channel_name(channel: &RTCDataChannel) -> String {
    match channel.id() {
        Some(id) => format!("'{}' (id {id})", channel.label()),
        None => format!("'{}'", channel.label()),
    }
}

/// Echoes every message of `channel` back on it until the channel closes.
///
/// Messages go back in the order they came; while the connection buffers more than
/// [`rtcpeer::SEND_HIGH_WATER_MARK`] bytes the echo waits, and so stops reading.
pub async fn echo_channel(mut channel: RTCDataChannel, totals: Arc<EchoTotals>, say: Say) -> ChannelEchoReport {
    let mut report = ChannelEchoReport {
        label: channel.label().to_owned(),
        id: channel.id(),
        messages: 0,
        bytes: 0,
        send_errors: 0,
        closed: false,
    };
    while let Some(event) = channel.next_event().await {
        match event {
            DataChannelEvent::Open => say(format!("channel {} open", channel_name(&channel))),
            DataChannelEvent::Message(message) => {
                let size = message.len();
                match channel.send_message(message).await {
                    Ok(()) => {
                        report.messages += 1;
                        report.bytes += size as u64;
                        totals.add(size);
                    }
                    Err(error) => {
                        report.send_errors += 1;
                        say(format!("channel {}: echo refused: {error}", channel_name(&channel)));
                    }
                }
            }
            DataChannelEvent::BufferedAmountLow => {}
            DataChannelEvent::Error(error) => say(format!("channel {}: error: {error}", channel_name(&channel))),
            DataChannelEvent::Closing => say(format!("channel {} closing", channel_name(&channel))),
            DataChannelEvent::Close => {
                report.closed = true;
                break;
            }
        }
    }
    report.id = report.id.or(channel.id());
    say(format!(
        "channel {} {} after echoing {} messages ({} B)",
        channel_name(&channel),
        if report.closed { "closed" } else { "ended" },
        report.messages,
        report.bytes
    ));
    report
}

/// Why [`echo_connection`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EchoEnd {
    /// The connection was `connected` and then every channel closed.
    ChannelsClosed,
    /// The connection was `connected` and then reached this state.
    ConnectionLeft(PeerConnectionState),
    /// The connection reached this state (`failed` or `closed`) without ever being `connected`.
    NeverConnected(PeerConnectionState),
    /// The connection's event stream ended (the connection was closed locally or its handles dropped).
    EventsEnded,
}

/// What [`echo_connection`] saw.
#[derive(Debug)]
pub struct EchoOutcome {
    /// Why it returned.
    pub end: EchoEnd,
    /// Whether the connection was ever `connected`.
    pub connected: bool,
    /// The channels that ended, in the order they ended.
    pub channels: Vec<ChannelEchoReport>,
    /// Channels still open when it returned.
    pub still_open: usize,
    /// Messages and bytes echoed on every channel, those still open included.
    pub totals: Arc<EchoTotals>,
}

impl EchoOutcome {
    /// Whether the remote closed after a successful connection (rather than never connecting).
    pub fn remote_closed(&self) -> bool {
        self.connected && matches!(self.end, EchoEnd::ChannelsClosed | EchoEnd::ConnectionLeft(_))
    }
}

/// Reads `events` and echoes on every channel the remote opens and on each of `local_channels`,
/// until the remote closes (see [`EchoEnd`]). Channels still open then are left to their tasks'
/// end: their tasks are stopped and counted in [`EchoOutcome::still_open`].
pub async fn echo_connection(
    events: &mut Events<PeerConnectionEvent>,
    local_channels: Vec<RTCDataChannel>,
    say: Say,
) -> EchoOutcome {
    let totals = Arc::new(EchoTotals::default());
    let mut tasks = JoinSet::new();
    for channel in local_channels {
        tasks.spawn(echo_channel(channel, totals.clone(), say.clone()));
    }
    let mut channels = Vec::new();
    let mut connected = false;
    let end = loop {
        tokio::select! {
            event = events.recv() => match event {
                None => break EchoEnd::EventsEnded,
                Some(PeerConnectionEvent::DataChannel(channel)) => {
                    say(format!("remote opened channel {}", channel_name(&channel)));
                    tasks.spawn(echo_channel(channel, totals.clone(), say.clone()));
                }
                Some(PeerConnectionEvent::ConnectionStateChange(state)) => {
                    say(format!("connection {state}"));
                    match state {
                        PeerConnectionState::Connected => {
                            connected = true;
                            // Channels that all ended before the state event still mean the remote closed.
                            if !channels.is_empty() && tasks.is_empty() {
                                break EchoEnd::ChannelsClosed;
                            }
                        }
                        PeerConnectionState::Disconnected | PeerConnectionState::Failed | PeerConnectionState::Closed
                            if connected =>
                        {
                            break EchoEnd::ConnectionLeft(state)
                        }
                        PeerConnectionState::Failed | PeerConnectionState::Closed => {
                            break EchoEnd::NeverConnected(state)
                        }
                        _ => {}
                    }
                }
                Some(PeerConnectionEvent::IceConnectionStateChange(state)) => say(format!("ice {state}")),
                Some(_) => {}
            },
            Some(done) = tasks.join_next() => {
                if let Ok(report) = done {
                    channels.push(report);
                }
                if connected && tasks.is_empty() {
                    break EchoEnd::ChannelsClosed;
                }
            }
        }
    };
    let still_open = tasks.len();
    tasks.abort_all();
    EchoOutcome {
        end,
        connected,
        channels,
        still_open,
        totals,
    }
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};
    use std::sync::Mutex;
    use std::time::{Duration, Instant};

    use rtcpeer::{DataChannelInit, DataChannelMessage, IceGatheringState, RTCConfiguration, RTCPeerConnection};

    use super::*;

    async fn gathered(pc: &RTCPeerConnection) -> rtcpeer::SessionDescriptionInit {
        while pc.ice_gathering_state().await.unwrap() != IceGatheringState::Complete {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        pc.local_description().await.unwrap().unwrap()
    }

    /// An offerer with an open channel `chat`, and the answerer's echo running; the echo's
    /// outcome and what it said come back through the join handle and the log.
    async fn echoing_pair() -> (
        RTCPeerConnection,
        RTCDataChannel,
        RTCPeerConnection,
        tokio::task::JoinHandle<EchoOutcome>,
        Arc<Mutex<Vec<String>>>,
    ) {
        let loopback = [IpAddr::V4(Ipv4Addr::LOCALHOST)];
        let offerer = RTCPeerConnection::new(RTCConfiguration::bound_to(loopback))
            .await
            .unwrap();
        let mut answerer = RTCPeerConnection::new(RTCConfiguration::bound_to(loopback))
            .await
            .unwrap();
        let mut channel = offerer
            .create_data_channel("chat", DataChannelInit::default())
            .await
            .unwrap();
        offerer.set_local_description(None).await.unwrap();
        answerer.set_remote_description(gathered(&offerer).await).await.unwrap();
        answerer.set_local_description(None).await.unwrap();
        offerer.set_remote_description(gathered(&answerer).await).await.unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let said = log.clone();
        let say: Say = Arc::new(move |text| said.lock().unwrap().push(text));
        let mut events = answerer.take_events().unwrap();
        let echo = tokio::spawn(async move { echo_connection(&mut events, Vec::new(), say).await });
        assert_eq!(channel.next_event().await, Some(DataChannelEvent::Open));
        (offerer, channel, answerer, echo, log)
    }

    async fn next_message(channel: &mut RTCDataChannel) -> DataChannelMessage {
        loop {
            match channel.next_event().await {
                Some(DataChannelEvent::Message(message)) => return message,
                Some(DataChannelEvent::BufferedAmountLow) => {}
                other => panic!("expected a message, got {other:?}"),
            }
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn messages_come_back_unchanged_and_closing_the_channel_ends_the_echo() {
        let (offerer, mut channel, answerer, echo, log) = echoing_pair().await;
        channel.send_text("hello").await.unwrap();
        channel.send(&[0, 1, 2]).await.unwrap();
        channel.send(&[]).await.unwrap();
        assert_eq!(
            next_message(&mut channel).await,
            DataChannelMessage::Text("hello".into())
        );
        assert_eq!(
            next_message(&mut channel).await,
            DataChannelMessage::Binary(vec![0, 1, 2])
        );
        assert_eq!(next_message(&mut channel).await, DataChannelMessage::Binary(Vec::new()));
        channel.close().await.unwrap();
        let outcome = tokio::time::timeout(Duration::from_secs(10), echo)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(outcome.end, EchoEnd::ChannelsClosed);
        assert!(outcome.remote_closed());
        assert_eq!((outcome.totals.messages(), outcome.totals.bytes()), (3, 8));
        assert_eq!(outcome.still_open, 0);
        assert_eq!(outcome.channels.len(), 1);
        assert_eq!(outcome.channels[0].label, "chat");
        assert!(outcome.channels[0].closed);
        let log = log.lock().unwrap().clone();
        assert!(
            log.contains(&"remote opened channel 'chat' (id 1)".to_string()),
            "{log:?}"
        );
        offerer.close().await;
        answerer.close().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_remote_closing_its_connection_ends_the_echo() {
        let (offerer, mut channel, answerer, echo, _log) = echoing_pair().await;
        channel.send_text("one").await.unwrap();
        assert_eq!(next_message(&mut channel).await, DataChannelMessage::Text("one".into()));
        let start = Instant::now();
        offerer.close().await;
        let outcome = tokio::time::timeout(Duration::from_secs(15), echo)
            .await
            .expect("the echo ends once the remote has closed")
            .unwrap();
        assert!(outcome.remote_closed(), "{outcome:?}");
        assert_eq!(outcome.totals.messages(), 1);
        eprintln!(
            "echo ended {:?} after the remote closed: {:?}",
            start.elapsed(),
            outcome.end
        );
        answerer.close().await;
    }
}
