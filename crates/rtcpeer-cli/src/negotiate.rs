//! `rtcpeer negotiate`: the interop harness's `perfect-negotiation` peer.
//!
//! Both peers run the W3C perfect-negotiation pattern (the same code as the example
//! `perfect_negotiation`, included below) and change their connection at the same moment,
//! round after round, so that their offers collide. Signaling is JSON lines, both ways, on
//! stdin/stdout (`interop/pair.py --relay all` passes every line to the other side):
//!
//! - `{"description": {"type": …, "sdp": …}}` and `{"candidate": {…} | null}`: the pattern's;
//! - `{"round": k}`: the impolite peer starts round `k` (0-based) and makes its change right
//!   after writing the line; the polite peer makes its change as soon as it reads it. A change
//!   is a data channel `<polite|impolite>-<k>` and, from round 1 on, an audio transceiver;
//! - `{"bye": {"transceivers": n, "channels": m}}`: the impolite peer, once every round has
//!   settled on its side (stable, every transceiver negotiated, every channel open both ways
//!   and a message echoed on each of its own);
//! - `{"ack": {"ok": true|false, "transceivers": n, "channels": m, "collisions": c, "why": "…"}}`:
//!   the polite peer's answer once it has settled with the same numbers (or why it could not).
//!
//! Each side echoes every message on the channels the other opened. The run passes when both
//! sides agree and at least one offer collided.

#[path = "../../rtcpeer/examples/perfect_negotiation/negotiator.rs"]
mod negotiator;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use rtcpeer::{
    DataChannelEvent, DataChannelInit, DataChannelMessage, DataChannelState, MediaType, PeerConnectionEvent,
    RTCConfiguration, RTCDataChannel, RTCPeerConnection, SdpType, SignalingState, TransceiverInit,
};
use serde_json::{json, Value};
use tokio::sync::mpsc;

use self::negotiator::{Negotiator, Politeness, Signal, Step};
use crate::pair::signaling::{LineReader, SignalingError};

/// How long to wait after a round has settled before starting the next.
const ROUND_PAUSE: Duration = Duration::from_millis(200);

/// Options of `rtcpeer negotiate`.
#[derive(Debug, Clone)]
pub struct NegotiateOptions {
    /// Which side of the pattern to play.
    pub polite: bool,
    /// How many rounds of simultaneous changes (the impolite peer decides).
    pub rounds: usize,
    /// Give up after this long.
    pub timeout: Duration,
    /// Gather host candidates only on these addresses; empty: the runtime's default.
    pub bind: Vec<IpAddr>,
    /// STUN/TURN servers and the relay-only policy.
    pub ice: crate::ice_options::IceOptions,
}

fn say(text: &str) {
    eprintln!("rtcpeer negotiate: {text}");
}

/// Runs one side; `Ok` holds the summary, `Err` why it failed.
pub async fn run(options: &NegotiateOptions) -> Result<String, String> {
    let config = options
        .ice
        .apply(RTCConfiguration::bound_to(options.bind.iter().copied()));
    let mut pc = RTCPeerConnection::new(config)
        .await
        .map_err(|e| format!("creating the connection: {e}"))?;
    let mut side = Side::start(&mut pc, options.polite);
    let outcome = {
        let work = async {
            if options.polite {
                side.polite().await
            } else {
                side.impolite(options.rounds).await
            }
        };
        tokio::time::timeout(options.timeout, work).await
    };
    let result = match outcome {
        Ok(result) => result,
        Err(_) => Err(format!(
            "timed out after {} s ({})",
            options.timeout.as_secs(),
            side.progress()
        )),
    };
    pc.close().await;
    // Let the last line reach the relay before the process ends.
    tokio::time::sleep(Duration::from_millis(100)).await;
    result
}

/// A control line of the harness (not the pattern's own signals).
#[derive(Debug)]
enum Control {
    Round(usize),
    Bye { transceivers: usize, channels: usize },
    Ack(Value),
}

/// What a channel task reports.
#[derive(Debug)]
enum ChannelNews {
    Open(String),
    /// The echo of the greeting sent on one of our channels came back.
    Echoed(String),
    Closed(String),
}

/// One side of the run.
struct Side {
    name: &'static str,
    pc: RTCPeerConnection,
    _negotiator: Negotiator,
    steps: mpsc::UnboundedReceiver<Step>,
    controls: mpsc::UnboundedReceiver<Result<Control, String>>,
    lines: mpsc::UnboundedSender<Value>,
    news_tx: mpsc::UnboundedSender<ChannelNews>,
    news: mpsc::UnboundedReceiver<ChannelNews>,
    /// Our channels and the peer's, by label: whether open.
    open: BTreeMap<String, bool>,
    own: BTreeSet<String>,
    remote: BTreeSet<String>,
    echoed: BTreeSet<String>,
    rounds_started: usize,
    /// The impolite side has sent its bye: the polite side may close from now on.
    bye_sent: bool,
    collisions: usize,
    offers: usize,
}

impl Side {
    fn start(pc: &mut RTCPeerConnection, polite: bool) -> Side {
        let (lines, to_stdout) = mpsc::unbounded_channel::<Value>();
        write_stdout(to_stdout);
        let (control_tx, controls) = mpsc::unbounded_channel();
        let (signal_tx, incoming) = mpsc::channel(256);
        read_stdin(signal_tx, control_tx);
        let (outgoing, mut signals) = mpsc::channel::<Signal>(256);
        {
            let lines = lines.clone();
            tokio::spawn(async move {
                while let Some(signal) = signals.recv().await {
                    let Ok(value) = serde_json::to_value(&signal) else {
                        continue;
                    };
                    if lines.send(value).is_err() {
                        return;
                    }
                }
            });
        }
        let politeness = if polite {
            Politeness::Polite
        } else {
            Politeness::Impolite
        };
        let (negotiator, steps) = Negotiator::start(pc, politeness, outgoing, incoming);
        let (news_tx, news) = mpsc::unbounded_channel();
        Side {
            name: if polite { "polite" } else { "impolite" },
            pc: pc.clone(),
            _negotiator: negotiator,
            steps,
            controls,
            lines,
            news_tx,
            news,
            open: BTreeMap::new(),
            own: BTreeSet::new(),
            remote: BTreeSet::new(),
            echoed: BTreeSet::new(),
            rounds_started: 0,
            bye_sent: false,
            collisions: 0,
            offers: 0,
        }
    }

    fn progress(&self) -> String {
        format!(
            "{} rounds started, channels open {}/{}, echoes {}/{}",
            self.rounds_started,
            self.open.values().filter(|o| **o).count(),
            self.open.len(),
            self.echoed.len(),
            self.own.len()
        )
    }

    fn send(&self, line: Value) -> Result<(), String> {
        self.lines.send(line).map_err(|_| "stdout is closed".to_string())
    }

    /// The change of round `k`: a data channel and an audio transceiver.
    async fn change(&mut self, round: usize) -> Result<(), String> {
        let label = format!("{}-{round}", self.name);
        let channel = self
            .pc
            .create_data_channel(&label, DataChannelInit::default())
            .await
            .map_err(|e| format!("createDataChannel: {e}"))?;
        // Round 0 adds only the first channel (see `transceivers_after`).
        if round > 0 {
            self.pc
                .add_transceiver(MediaType::Audio, TransceiverInit::default())
                .await
                .map_err(|e| format!("addTransceiver: {e}"))?;
        }
        let audio = if round > 0 { " and an audio transceiver" } else { "" };
        say(&format!("round {round}: added channel {label}{audio}"));
        self.own.insert(label.clone());
        self.open.insert(label, false);
        watch_channel(channel, true, self.news_tx.clone());
        self.rounds_started = round + 1;
        Ok(())
    }

    /// Takes in the pattern's steps and the channels' news.
    fn take_news(&mut self) -> Result<(), String> {
        while let Ok(step) = self.steps.try_recv() {
            match step {
                Step::Connection(PeerConnectionEvent::DataChannel(channel)) => {
                    let label = channel.label().to_string();
                    self.open
                        .insert(label.clone(), channel.ready_state() == DataChannelState::Open);
                    self.remote.insert(label);
                    watch_channel(channel, false, self.news_tx.clone());
                }
                Step::Connection(PeerConnectionEvent::ConnectionStateChange(state)) => {
                    say(&format!("connection {state}"));
                    if state == rtcpeer::PeerConnectionState::Failed && !self.bye_sent {
                        return Err("connection failed".into());
                    }
                }
                Step::Connection(_) | Step::StaleNegotiationNeeded => {}
                Step::SentOffer => {
                    self.offers += 1;
                    say("negotiationneeded: offer sent");
                }
                Step::SentAnswer => say("answered the peer's offer"),
                Step::AppliedAnswer => say("applied the peer's answer"),
                Step::IgnoredOffer => {
                    self.collisions += 1;
                    say("offer collision: ignored the peer's offer (impolite)");
                }
                Step::RolledBack => {
                    self.collisions += 1;
                    say("offer collision: rolled our offer back for the peer's (polite)");
                }
                Step::Error(e) => return Err(e),
            }
        }
        while let Ok(news) = self.news.try_recv() {
            match news {
                ChannelNews::Open(label) => {
                    self.open.insert(label, true);
                }
                ChannelNews::Echoed(label) => {
                    self.echoed.insert(label);
                }
                // Once the impolite peer has said bye, the polite one may close at any time.
                ChannelNews::Closed(label) if !self.bye_sent => return Err(format!("channel {label} closed")),
                ChannelNews::Closed(_) => {}
            }
        }
        Ok(())
    }

    /// `Some(transceivers)` once stable with every transceiver negotiated and every channel of the
    /// first `rounds` rounds open both ways, with its greeting echoed.
    async fn settled(&mut self, rounds: usize) -> Result<Option<usize>, String> {
        self.take_news()?;
        if self.pc.signaling_state().await.map_err(|e| e.to_string())? != SignalingState::Stable {
            return Ok(None);
        }
        let transceivers = self.pc.get_transceivers().await.map_err(|e| e.to_string())?;
        if transceivers.len() != transceivers_after(rounds)
            || transceivers
                .iter()
                .any(|t| t.mid.is_none() || t.current_direction.is_none())
        {
            return Ok(None);
        }
        for round in 0..rounds {
            for who in ["polite", "impolite"] {
                let label = format!("{who}-{round}");
                if self.open.get(&label) != Some(&true) {
                    return Ok(None);
                }
                if who == self.name && !self.echoed.contains(&label) {
                    return Ok(None);
                }
            }
        }
        Ok(Some(transceivers.len()))
    }

    async fn wait_settled(&mut self, rounds: usize) -> Result<usize, String> {
        loop {
            if let Some(n) = self.settled(rounds).await? {
                return Ok(n);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn next_control(&mut self) -> Result<Control, String> {
        loop {
            self.take_news()?;
            tokio::select! {
                control = self.controls.recv() => {
                    return control.unwrap_or_else(|| Err("stdin ended".into()));
                }
                _ = tokio::time::sleep(Duration::from_millis(20)) => {}
            }
        }
    }

    /// The impolite side leads the rounds.
    async fn impolite(&mut self, rounds: usize) -> Result<String, String> {
        let started = Instant::now();
        for round in 0..rounds {
            self.send(json!({ "round": round }))?;
            self.change(round).await?;
            let transceivers = self.wait_settled(round + 1).await?;
            say(&format!(
                "round {round} settled at {:.2} s: {transceivers} transceivers, {} channels open",
                started.elapsed().as_secs_f64(),
                self.open.len()
            ));
            tokio::time::sleep(ROUND_PAUSE).await;
        }
        let transceivers = self.wait_settled(rounds).await?;
        let channels = self.open.len();
        self.bye_sent = true;
        self.send(json!({ "bye": { "transceivers": transceivers, "channels": channels } }))?;
        let ack = loop {
            match self.next_control().await? {
                Control::Ack(ack) => break ack,
                other => say(&format!("ignored {other:?} while waiting for the ack")),
            }
        };
        if ack["ok"] != json!(true) {
            return Err(format!("the polite peer failed: {}", ack["why"]));
        }
        let (theirs_t, theirs_c) = (ack["transceivers"].as_u64(), ack["channels"].as_u64());
        if theirs_t != Some(transceivers as u64) || theirs_c != Some(channels as u64) {
            return Err(format!(
                "we have {transceivers} transceivers and {channels} channels, the polite peer {theirs_t:?} and {theirs_c:?}"
            ));
        }
        let their_collisions = ack["collisions"].as_u64().unwrap_or(0);
        if self.collisions == 0 && their_collisions == 0 {
            return Err(format!("no offer collided in {rounds} rounds: no glare to resolve"));
        }
        Ok(format!(
            "PASS {rounds} rounds in {:.1} s: both stable with {transceivers} transceivers and {channels} channels \
             open, every channel echoed; offers ignored here {}, rolled back there {their_collisions}; {} offers sent",
            started.elapsed().as_secs_f64(),
            self.collisions,
            self.offers
        ))
    }

    /// The polite side follows the rounds and acknowledges the end.
    async fn polite(&mut self) -> Result<String, String> {
        let started = Instant::now();
        loop {
            match self.next_control().await? {
                Control::Round(round) if round == self.rounds_started => self.change(round).await?,
                Control::Round(round) => {
                    return Err(format!("round {round} came after round {}", self.rounds_started));
                }
                Control::Bye { transceivers, channels } => {
                    let settle = tokio::time::timeout(Duration::from_secs(10), async {
                        loop {
                            let n = self.wait_settled(self.rounds_started).await?;
                            if n == transceivers && self.open.len() == channels {
                                return Ok::<usize, String>(n);
                            }
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                    })
                    .await;
                    let (ok, why) = match &settle {
                        Ok(Ok(_)) => (true, String::new()),
                        Ok(Err(e)) => (false, e.clone()),
                        Err(_) => (
                            false,
                            format!("not settled on {transceivers} transceivers: {}", self.progress()),
                        ),
                    };
                    let mine = self.pc.get_transceivers().await.map(|t| t.len()).unwrap_or(0);
                    self.send(json!({ "ack": {
                        "ok": ok, "why": why, "transceivers": mine, "channels": self.open.len(),
                        "collisions": self.collisions,
                    }}))?;
                    if !ok {
                        return Err(why);
                    }
                    // Let the impolite side read the ack before our channels close.
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    return Ok(format!(
                        "PASS {} rounds in {:.1} s: stable with {mine} transceivers and {} channels open, every \
                         channel echoed; rolled back {} times; {} offers sent",
                        self.rounds_started,
                        started.elapsed().as_secs_f64(),
                        self.open.len(),
                        self.collisions,
                        self.offers
                    ));
                }
                Control::Ack(_) => return Err("an ack came to the polite peer".into()),
            }
        }
    }
}

/// How many transceivers both sides hold after `rounds` rounds: round 0 adds only the first data
/// channel, each later round an audio transceiver on each side. (Chromium cannot roll back a first
/// offer whose data section is at another mid than in the peer's offer: its answer then fails with
/// "Failed to start SCTP transport". Keeping the first negotiation to data only puts the data
/// section at mid 0 in both offers.)
fn transceivers_after(rounds: usize) -> usize {
    2 * rounds.saturating_sub(1)
}

/// Reads a channel's events on its own task: ours send a greeting once open and report its
/// echo; the peer's echo every message.
fn watch_channel(mut channel: RTCDataChannel, ours: bool, news: mpsc::UnboundedSender<ChannelNews>) {
    tokio::spawn(async move {
        let label = channel.label().to_string();
        let greeting = format!("hello on {label}");
        let mut greeted = false;
        if channel.ready_state() == DataChannelState::Open {
            let _ = news.send(ChannelNews::Open(label.clone()));
            if ours {
                greeted = channel.send_text(&greeting).await.is_ok();
            }
        }
        while let Some(event) = channel.next_event().await {
            match event {
                DataChannelEvent::Open => {
                    let _ = news.send(ChannelNews::Open(label.clone()));
                    if ours && !greeted {
                        greeted = channel.send_text(&greeting).await.is_ok();
                    }
                }
                DataChannelEvent::Message(message) if !ours => {
                    let _ = channel.send_message(message).await;
                }
                DataChannelEvent::Message(DataChannelMessage::Text(text)) if text == greeting => {
                    let _ = news.send(ChannelNews::Echoed(label.clone()));
                }
                DataChannelEvent::Close => {
                    let _ = news.send(ChannelNews::Closed(label.clone()));
                    return;
                }
                _ => {}
            }
        }
    });
}

/// Writes each value as one JSON line on stdout.
fn write_stdout(mut values: mpsc::UnboundedReceiver<Value>) {
    std::thread::spawn(move || {
        let stdout = std::io::stdout();
        while let Some(value) = values.blocking_recv() {
            let mut out = stdout.lock();
            if writeln!(out, "{value}").and_then(|_| out.flush()).is_err() {
                return;
            }
        }
    });
}

/// Reads stdin lines (on the signaling's reader thread): the pattern's signals go to `signals`, the
/// harness's lines to `controls`.
fn read_stdin(signals: mpsc::Sender<Signal>, controls: mpsc::UnboundedSender<Result<Control, String>>) {
    let mut lines = LineReader::stdin();
    tokio::spawn(async move {
        loop {
            // The type only names what an ended stdin was waiting for, and an end is no error here.
            let line = match lines.next_line(SdpType::Offer).await {
                Ok(line) => line,
                Err(SignalingError::Ended(_)) => return,
                Err(e) => {
                    let _ = controls.send(Err(e.to_string()));
                    return;
                }
            };
            match parse_line(&line) {
                Ok(Ok(signal)) => {
                    if signals.send(signal).await.is_err() {
                        return;
                    }
                }
                Ok(Err(control)) => {
                    if controls.send(Ok(control)).is_err() {
                        return;
                    }
                }
                Err(e) => {
                    let _ = controls.send(Err(e));
                    return;
                }
            }
        }
    });
}

/// One stdin line: a pattern signal, or a harness control line.
fn parse_line(line: &str) -> Result<Result<Signal, Control>, String> {
    let short = || line.chars().take(80).collect::<String>();
    let value: Value = serde_json::from_str(line).map_err(|e| format!("stdin line is not JSON ({e}): {}", short()))?;
    if value.get("description").is_some() || value.get("candidate").is_some() {
        let signal = serde_json::from_value(value).map_err(|e| format!("bad signaling line ({e}): {}", short()))?;
        return Ok(Ok(signal));
    }
    let count = |v: &Value| v.as_u64().map(|n| n as usize);
    if let Some(round) = value.get("round").and_then(count) {
        return Ok(Err(Control::Round(round)));
    }
    if let Some(bye) = value.get("bye") {
        if let (Some(transceivers), Some(channels)) = (
            bye.get("transceivers").and_then(count),
            bye.get("channels").and_then(count),
        ) {
            return Ok(Err(Control::Bye { transceivers, channels }));
        }
    }
    if let Some(ack) = value.get("ack") {
        return Ok(Err(Control::Ack(ack.clone())));
    }
    Err(format!("unexpected stdin line: {}", short()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_signals_or_controls_and_anything_else_is_an_error() {
        let offer = r#"{"description":{"type":"offer","sdp":"v=0\r\n"}}"#;
        assert!(matches!(parse_line(offer), Ok(Ok(Signal::Description(d))) if d.sdp == "v=0\r\n"));
        assert!(matches!(
            parse_line(r#"{"candidate":null}"#),
            Ok(Ok(Signal::Candidate(None)))
        ));
        let candidate = r#"{"candidate":{"candidate":"candidate:1 1 udp 1 192.0.2.1 9 typ host","sdpMid":"0","sdpMLineIndex":0,"usernameFragment":null}}"#;
        assert!(
            matches!(parse_line(candidate), Ok(Ok(Signal::Candidate(Some(c)))) if c.sdp_mid.as_deref() == Some("0"))
        );
        assert!(matches!(parse_line(r#"{"round":3}"#), Ok(Err(Control::Round(3)))));
        assert!(matches!(
            parse_line(r#"{"bye":{"transceivers":4,"channels":4}}"#),
            Ok(Err(Control::Bye {
                transceivers: 4,
                channels: 4
            }))
        ));
        assert!(parse_line(r#"{"round":"x"}"#).unwrap_err().contains("unexpected"));
        assert!(parse_line("not json").unwrap_err().contains("not JSON"));
        assert!(parse_line(r#"{"description":{"type":"bogus"}}"#)
            .unwrap_err()
            .contains("bad signaling line"));
    }
}
