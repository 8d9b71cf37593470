//! `rtcpeer offer`: opens the scenario's channel, writes the offer line once ICE gathering has
//! completed, reads the answer line, sends the deterministic message stream, checks what the
//! answerer echoes, then closes the channel and the connection.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use rtcpeer::{
    DataChannelEvent, DataChannelMessage, Events, PeerConnectionEvent, PeerConnectionState, RTCDataChannel,
    RTCPeerConnection, SdpType,
};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::signaling::{self, LineReader};
use super::{local_description_when_gathered, say, step, with_timeout, PairError, PairOptions, Scenario, WaitingFor};
use crate::messages::{describe, message, message_len, shape};

const ROLE: &str = "offer";

/// The seed of the message stream the offerer sends.
pub const SEED: u64 = 0x5eed;

/// Messages sent when `--count` is not given.
pub const DEFAULT_COUNT: usize = 100;

/// Messages sent in the `close` scenario when `--count` is not given ("a few").
pub const CLOSE_DEFAULT_COUNT: usize = 10;

/// The sender waits while the channel's `bufferedAmount` is above this many bytes.
pub const PACE_LIMIT: usize = 256 * 1024;

/// On an unordered channel at least this percentage of the messages must come back: the
/// interop harness's rule for every peer (`interop/README.md`); a `maxRetransmits: 0` channel
/// promises no more, and peers such as aiortc drop a tenth or more of a burst even on loopback.
pub const UNORDERED_REQUIRED_PERCENT: usize = 50;

/// On an unordered channel, how long to wait for more echoes after the last message was sent
/// and no echo came: longer than SCTP's 1 s minimum retransmission timeout, as the browser and
/// aiortc drivers wait.
const UNORDERED_QUIET: Duration = Duration::from_secs(2);

/// How long closing the channel may take before the offerer closes the connection anyway.
const CLOSE_WAIT: Duration = Duration::from_secs(5);

/// What `rtcpeer offer` is asked to do.
#[derive(Debug, Clone)]
pub struct OfferOptions {
    /// The options both roles share.
    pub pair: PairOptions,
    /// Messages to send.
    pub count: usize,
}

/// Runs the offerer on stdin/stdout; returns the one-line summary of a run that passed.
pub async fn run(options: &OfferOptions) -> Result<String, PairError> {
    let waiting_for = WaitingFor::default();
    let mut lines = LineReader::stdin();
    with_timeout(
        options.pair.timeout,
        &waiting_for,
        steps(options, &mut lines, &waiting_for),
    )
    .await
}

async fn steps(options: &OfferOptions, lines: &mut LineReader, waiting_for: &WaitingFor) -> Result<String, PairError> {
    waiting_for.set("creating the connection");
    let mut pc = RTCPeerConnection::new(options.pair.configuration())
        .await
        .map_err(step("creating the connection"))?;
    let result = offer_and_check(options, &mut pc, lines, waiting_for).await;
    pc.close().await;
    result
}

async fn offer_and_check(
    options: &OfferOptions,
    pc: &mut RTCPeerConnection,
    lines: &mut LineReader,
    waiting_for: &WaitingFor,
) -> Result<String, PairError> {
    let scenario = options.pair.scenario;
    let (label, init) = scenario.channel();
    let mut channel = pc
        .create_data_channel(label, init)
        .await
        .map_err(step("createDataChannel"))?;
    let mut events = pc
        .take_events()
        .ok_or_else(|| PairError::Check("the connection's event stream was already taken".into()))?;

    waiting_for.set("gathering candidates");
    let (offer, _) = local_description_when_gathered(ROLE, pc, &mut events).await?;
    signaling::write_stdout(&offer)?;
    let mut state = watch_connection(events);

    waiting_for.set("waiting for the answer line on stdin");
    let line = lines.next_line(SdpType::Answer).await?;
    let answer = signaling::parse(&line, SdpType::Answer)?;
    say(ROLE, &format!("got the answer ({} B of SDP)", answer.sdp.len()));
    pc.set_remote_description(answer)
        .await
        .map_err(step("setRemoteDescription(answer)"))?;

    waiting_for.set(format!("waiting for channel '{label}' to open"));
    let connect_start = Instant::now();
    wait_open(&mut channel, &mut state).await?;
    say(
        ROLE,
        &format!(
            "channel '{label}' (id {}) open after {:.1} ms",
            channel.id().map_or_else(|| "none".into(), |id| id.to_string()),
            connect_start.elapsed().as_secs_f64() * 1e3
        ),
    );

    waiting_for.set(format!("waiting for the echoes of {} messages", options.count));
    let transfer_start = Instant::now();
    let sender = spawn_sender(channel.clone(), options.count);
    let mut check = Check::new(scenario, options.count);
    let transfer = transfer(&mut channel, &mut state, sender, &mut check, options.count).await;
    let transfer_time = transfer_start.elapsed();
    transfer?;
    let verdict = check.verdict()?;

    waiting_for.set(format!("waiting for channel '{label}' to close"));
    channel.close().await.map_err(step("closing the channel"))?;
    let closed = wait_closed(&mut channel).await;
    match (closed, scenario) {
        (true, _) => say(ROLE, &format!("channel '{label}' closed")),
        (false, Scenario::Close) => {
            return Err(PairError::Check(format!(
                "channel '{label}' did not close within {} s of close()",
                CLOSE_WAIT.as_secs()
            )))
        }
        (false, _) => say(
            ROLE,
            &format!("channel '{label}' did not report its close; closing anyway"),
        ),
    }
    waiting_for.set("closing the connection");
    pc.close().await;
    Ok(format!(
        "passed: {scenario}: {verdict} in {:.1} ms; channel and connection closed",
        transfer_time.as_secs_f64() * 1e3
    ))
}

/// Logs the connection's events on stderr and publishes its state.
fn watch_connection(mut events: Events<PeerConnectionEvent>) -> watch::Receiver<PeerConnectionState> {
    let (tx, rx) = watch::channel(PeerConnectionState::New);
    tokio::spawn(async move {
        while let Some(event) = events.recv().await {
            match event {
                PeerConnectionEvent::ConnectionStateChange(state) => {
                    say(ROLE, &format!("connection {state}"));
                    let _ = tx.send(state);
                }
                PeerConnectionEvent::IceConnectionStateChange(state) => say(ROLE, &format!("ice {state}")),
                PeerConnectionEvent::DataChannel(channel) => say(
                    ROLE,
                    &format!("the answerer opened channel '{}'; ignored", channel.label()),
                ),
                _ => {}
            }
        }
        let _ = tx.send(PeerConnectionState::Closed);
    });
    rx
}

/// An error if the connection has failed or closed; `Ok` while it may still carry messages.
fn still_usable(state: &watch::Receiver<PeerConnectionState>, when: &str) -> Result<(), PairError> {
    match *state.borrow() {
        s @ (PeerConnectionState::Failed | PeerConnectionState::Closed) => {
            Err(PairError::ConnectionFailed(format!("connection {s} {when}")))
        }
        _ => Ok(()),
    }
}

async fn wait_open(
    channel: &mut RTCDataChannel,
    state: &mut watch::Receiver<PeerConnectionState>,
) -> Result<(), PairError> {
    loop {
        still_usable(state, "before the channel opened")?;
        tokio::select! {
            event = channel.next_event() => match event {
                Some(DataChannelEvent::Open) => return Ok(()),
                Some(DataChannelEvent::Error(error)) => say(ROLE, &format!("channel error: {error}")),
                Some(DataChannelEvent::Close) | None => {
                    return Err(PairError::ConnectionFailed("connection lost: the channel closed before it opened".into()))
                }
                Some(_) => {}
            },
            changed = state.changed() => if changed.is_err() {
                return Err(PairError::ConnectionFailed("connection ended before the channel opened".into()));
            },
        }
    }
}

/// Sends messages `0..count` of the stream, pausing while the channel buffers more than [`PACE_LIMIT`].
fn spawn_sender(channel: RTCDataChannel, count: usize) -> JoinHandle<Result<(), PairError>> {
    tokio::spawn(async move {
        for index in 0..count {
            while channel.buffered_amount() > PACE_LIMIT {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            channel
                .send_message(message(SEED, index))
                .await
                .map_err(step("sending a message"))?;
        }
        Ok(())
    })
}

async fn transfer(
    channel: &mut RTCDataChannel,
    state: &mut watch::Receiver<PeerConnectionState>,
    mut sender: JoinHandle<Result<(), PairError>>,
    check: &mut Check,
    count: usize,
) -> Result<(), PairError> {
    let result = receive(channel, state, &mut sender, check, count).await;
    sender.abort();
    result
}

async fn receive(
    channel: &mut RTCDataChannel,
    state: &mut watch::Receiver<PeerConnectionState>,
    sender: &mut JoinHandle<Result<(), PairError>>,
    check: &mut Check,
    count: usize,
) -> Result<(), PairError> {
    let mut sent_all = false;
    let mut last_progress = Instant::now();
    while !check.complete() {
        let when = format!("after {} of {count} echoes", check.received());
        still_usable(state, &when)?;
        let quiet = tokio::time::Instant::from_std(last_progress + UNORDERED_QUIET);
        tokio::select! {
            event = channel.next_event() => match event {
                Some(DataChannelEvent::Message(got)) => {
                    check.accept(got)?;
                    last_progress = Instant::now();
                }
                Some(DataChannelEvent::Error(error)) => say(ROLE, &format!("channel error: {error}")),
                Some(DataChannelEvent::Closing | DataChannelEvent::Close) | None => {
                    return Err(PairError::Check(format!("the channel closed {when}")));
                }
                Some(DataChannelEvent::Open | DataChannelEvent::BufferedAmountLow) => {}
            },
            sent = &mut *sender, if !sent_all => {
                sent.map_err(|e| PairError::Check(format!("the sender task died: {e}")))??;
                sent_all = true;
                last_progress = Instant::now();
                say(ROLE, &format!("all {count} messages sent"));
            },
            () = tokio::time::sleep_until(quiet), if sent_all && check.lossy() => {
                say(ROLE, &format!("no echo for {} ms; counting what came back", UNORDERED_QUIET.as_millis()));
                break;
            },
            changed = state.changed() => if changed.is_err() {
                return Err(PairError::ConnectionFailed(format!("connection ended {when}")));
            },
        }
    }
    Ok(())
}

/// Checks the echoes against the stream that was sent.
#[derive(Debug)]
enum Check {
    /// Every message must come back, byte-exact and in order.
    Ordered { count: usize, next: usize, bytes: u64 },
    /// Messages may be lost or reordered, but none may be corrupted or duplicated.
    Unordered(UnorderedCheck),
}

#[derive(Debug)]
struct UnorderedCheck {
    count: usize,
    /// The indexes of the messages of each (is text, size).
    shapes: HashMap<(bool, usize), Vec<usize>>,
    returned: Vec<bool>,
    received: usize,
    bytes: u64,
}

fn is_text(message: &DataChannelMessage) -> bool {
    matches!(message, DataChannelMessage::Text(_))
}

impl Check {
    fn new(scenario: Scenario, count: usize) -> Self {
        if scenario != Scenario::Unordered {
            return Check::Ordered {
                count,
                next: 0,
                bytes: 0,
            };
        }
        let mut shapes: HashMap<(bool, usize), Vec<usize>> = HashMap::new();
        for index in 0..count {
            shapes.entry(shape(SEED, index)).or_default().push(index);
        }
        Check::Unordered(UnorderedCheck {
            count,
            shapes,
            returned: vec![false; count],
            received: 0,
            bytes: 0,
        })
    }

    fn lossy(&self) -> bool {
        matches!(self, Check::Unordered(_))
    }

    fn received(&self) -> usize {
        match self {
            Check::Ordered { next, .. } => *next,
            Check::Unordered(check) => check.received,
        }
    }

    fn complete(&self) -> bool {
        match self {
            Check::Ordered { count, next, .. } => next >= count,
            Check::Unordered(check) => check.received >= check.count,
        }
    }

    fn accept(&mut self, got: DataChannelMessage) -> Result<(), PairError> {
        match self {
            Check::Ordered { count, next, bytes } => {
                if *next >= *count {
                    return Err(PairError::Check(format!(
                        "an echo beyond the {count} messages sent: {}",
                        describe(&got)
                    )));
                }
                let expected = message(SEED, *next);
                if got != expected {
                    let what = if is_text(&got) != is_text(&expected) || message_len(&got) != message_len(&expected) {
                        format!("expected {}, got {}", describe(&expected), describe(&got))
                    } else {
                        format!("{}, same size, different bytes", describe(&got))
                    };
                    return Err(PairError::Check(format!(
                        "echo {} of {count} differs from what was sent: {what}",
                        *next + 1
                    )));
                }
                *bytes += message_len(&got) as u64;
                *next += 1;
                Ok(())
            }
            Check::Unordered(check) => check.accept(got),
        }
    }

    /// The verdict once the echoes have stopped: a description of what passed, or why it failed.
    fn verdict(&self) -> Result<String, PairError> {
        match self {
            Check::Ordered { count, bytes, .. } => Ok(format!(
                "{count}/{count} messages ({bytes} B) came back byte-exact and in order"
            )),
            Check::Unordered(check) => {
                let UnorderedCheck {
                    count, received, bytes, ..
                } = check;
                let enough = received * 100 >= count * UNORDERED_REQUIRED_PERCENT && (*received > 0 || *count == 0);
                if enough {
                    Ok(format!(
                        "{received}/{count} messages ({bytes} B) came back intact, none corrupted or duplicated \
                         (at least {UNORDERED_REQUIRED_PERCENT}% required)"
                    ))
                } else {
                    Err(PairError::Check(format!(
                        "only {received} of {count} messages came back (at least {UNORDERED_REQUIRED_PERCENT}% required)"
                    )))
                }
            }
        }
    }
}

impl UnorderedCheck {
    fn accept(&mut self, got: DataChannelMessage) -> Result<(), PairError> {
        let candidates = self
            .shapes
            .get(&(is_text(&got), message_len(&got)))
            .map(Vec::as_slice)
            .unwrap_or_default();
        let mut duplicate = false;
        for &index in candidates {
            if message(SEED, index) != got {
                continue;
            }
            match self.returned.get_mut(index) {
                Some(returned) if !*returned => {
                    *returned = true;
                    self.received += 1;
                    self.bytes += message_len(&got) as u64;
                    return Ok(());
                }
                _ => duplicate = true,
            }
        }
        let what = if duplicate {
            "came back twice"
        } else {
            "matches no message that was sent (corrupted)"
        };
        Err(PairError::Check(format!("an echo of {} {what}", describe(&got))))
    }
}

/// Reads the channel until its `close` event; false if the stream ended without one or
/// [`CLOSE_WAIT`] passed.
async fn wait_closed(channel: &mut RTCDataChannel) -> bool {
    let until_close = async {
        loop {
            match channel.next_event().await {
                Some(DataChannelEvent::Close) => return true,
                Some(_) => {}
                None => return false,
            }
        }
    };
    tokio::time::timeout(CLOSE_WAIT, until_close).await.unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordered_check_takes_the_stream_in_order_and_names_the_first_difference() {
        let mut check = Check::new(Scenario::Reliable, 3);
        check.accept(message(SEED, 0)).unwrap();
        let error = check.accept(message(SEED, 2)).unwrap_err().to_string();
        assert!(error.starts_with("echo 2 of 3 differs from what was sent"), "{error}");
        assert!(!check.complete());
    }

    #[test]
    fn ordered_check_passes_only_when_everything_came_back() {
        let mut check = Check::new(Scenario::Negotiated, 3);
        for index in 0..3 {
            assert!(!check.complete());
            check.accept(message(SEED, index)).unwrap();
        }
        assert!(check.complete());
        let expected: usize = (0..3).map(|i| message_len(&message(SEED, i))).sum();
        assert_eq!(
            check.verdict().unwrap(),
            format!("3/3 messages ({expected} B) came back byte-exact and in order")
        );
    }

    #[test]
    fn unordered_check_accepts_any_order_and_refuses_duplicates_and_corruption() {
        let mut check = Check::new(Scenario::Unordered, 20);
        for index in (0..19).rev() {
            check.accept(message(SEED, index)).unwrap();
        }
        assert_eq!(check.received(), 19);
        assert!(!check.complete());
        let duplicate = check.accept(message(SEED, 5)).unwrap_err().to_string();
        assert!(duplicate.ends_with("came back twice"), "{duplicate}");
        let mut corrupted = message(SEED, 19);
        match &mut corrupted {
            DataChannelMessage::Text(text) => text.replace_range(0..1, if text.starts_with('a') { "b" } else { "a" }),
            DataChannelMessage::Binary(bytes) => bytes[0] ^= 1,
        }
        let error = check.accept(corrupted).unwrap_err().to_string();
        assert!(error.ends_with("(corrupted)"), "{error}");
        // 19 of 20 is 95 %: enough.
        assert!(check.verdict().unwrap().starts_with("19/20 messages"));
    }

    #[test]
    fn unordered_check_requires_half() {
        let mut check = Check::new(Scenario::Unordered, 20);
        for index in 0..9 {
            check.accept(message(SEED, index)).unwrap();
        }
        let error = check.verdict().unwrap_err().to_string();
        assert_eq!(error, "only 9 of 20 messages came back (at least 50% required)");
        check.accept(message(SEED, 9)).unwrap();
        assert!(check.verdict().is_ok());
    }
}
