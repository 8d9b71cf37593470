//! `rtcpeer answer`: reads the offer line, writes the answer line once ICE gathering has
//! completed, then echoes on every channel until the remote closes.

use std::sync::Arc;

use rtcpeer::{Events, PeerConnectionEvent, PeerConnectionState, RTCPeerConnection, SdpType};

use super::signaling::{self, LineReader};
use super::{local_description_when_gathered, say, step, with_timeout, PairError, PairOptions, Scenario, WaitingFor};
use crate::echo::{echo_connection, EchoEnd, EchoOutcome, Say};

const ROLE: &str = "answer";

/// Runs the answerer on stdin/stdout; returns the one-line summary of a run that passed.
pub async fn run(options: &PairOptions) -> Result<String, PairError> {
    let waiting_for = WaitingFor::default();
    let mut lines = LineReader::stdin();
    with_timeout(options.timeout, &waiting_for, steps(options, &mut lines, &waiting_for)).await
}

async fn steps(options: &PairOptions, lines: &mut LineReader, waiting_for: &WaitingFor) -> Result<String, PairError> {
    waiting_for.set("waiting for the offer line on stdin");
    let line = lines.next_line(SdpType::Offer).await?;
    let offer = signaling::parse(&line, SdpType::Offer)?;
    say(ROLE, &format!("got the offer ({} B of SDP)", offer.sdp.len()));
    require_data_section(&offer.sdp)?;

    waiting_for.set("creating the connection");
    let mut pc = RTCPeerConnection::new(options.configuration())
        .await
        .map_err(step("creating the connection"))?;
    let result = answer_and_echo(options, &mut pc, offer, waiting_for).await;
    pc.close().await;
    result
}

async fn answer_and_echo(
    options: &PairOptions,
    pc: &mut RTCPeerConnection,
    offer: rtcpeer::SessionDescriptionInit,
    waiting_for: &WaitingFor,
) -> Result<String, PairError> {
    let mut events = pc
        .take_events()
        .ok_or_else(|| PairError::Check("the connection's event stream was already taken".into()))?;
    pc.set_remote_description(offer)
        .await
        .map_err(step("setRemoteDescription(offer)"))?;
    let mut channels = Vec::new();
    if options.scenario == Scenario::Negotiated {
        let (label, init) = options.scenario.channel();
        channels.push(
            pc.create_data_channel(label, init)
                .await
                .map_err(step("createDataChannel(negotiated)"))?,
        );
    }

    waiting_for.set("gathering candidates");
    let (answer, early) = local_description_when_gathered(ROLE, pc, &mut events).await?;
    channels.extend(early.into_iter().filter_map(|event| match event {
        PeerConnectionEvent::DataChannel(channel) => Some(channel),
        _ => None,
    }));
    signaling::write_stdout(&answer)?;
    say(ROLE, "answer written; echoing");

    waiting_for.set("waiting for the remote to connect, send and close");
    let report: Say = Arc::new(|text| say(ROLE, &text));
    let outcome = echo_connection(&mut events, channels, report).await;
    let summary = summarize(&outcome)?;
    if options.scenario == Scenario::Close && outcome.end == EchoEnd::ChannelsClosed {
        // The remote closed its channel, then its connection: ours must leave `connected`
        // (ICE consent stops being answered; about 5 s).
        waiting_for.set("waiting for the connection to leave connected after the remote closed");
        let state = connection_left(&mut events).await;
        say(ROLE, &format!("connection {state} after the remote closed"));
        return Ok(format!("{summary}; then connection {state}"));
    }
    Ok(summary)
}

/// Waits until the connection is no longer `connected`, and says in which state it is.
async fn connection_left(events: &mut Events<PeerConnectionEvent>) -> PeerConnectionState {
    while let Some(event) = events.recv().await {
        if let PeerConnectionEvent::ConnectionStateChange(state) = event {
            if state != PeerConnectionState::Connected {
                return state;
            }
        }
    }
    PeerConnectionState::Closed
}

fn summarize(outcome: &EchoOutcome) -> Result<String, PairError> {
    let echoed = format!(
        "{} messages ({} B) echoed on {} channels",
        outcome.totals.messages(),
        outcome.totals.bytes(),
        outcome.channels.len() + outcome.still_open,
    );
    let send_errors: u64 = outcome.channels.iter().map(|c| c.send_errors).sum();
    if outcome.remote_closed() {
        let how = match outcome.end {
            EchoEnd::ChannelsClosed => "every channel closed".to_owned(),
            EchoEnd::ConnectionLeft(state) => format!(
                "connection {state}, {} channels closed, {} still open",
                outcome.channels.len(),
                outcome.still_open
            ),
            _ => String::new(),
        };
        let refused = if send_errors > 0 {
            format!(", {send_errors} echoes refused")
        } else {
            String::new()
        };
        return Ok(format!("passed: remote closed ({how}); {echoed}{refused}"));
    }
    Err(match outcome.end {
        EchoEnd::NeverConnected(state) => {
            PairError::ConnectionFailed(format!("connection {state} before it was ever connected"))
        }
        EchoEnd::EventsEnded => {
            PairError::ConnectionFailed(format!("connection ended before the remote closed; {echoed}"))
        }
        EchoEnd::ChannelsClosed | EchoEnd::ConnectionLeft(_) => {
            PairError::ConnectionFailed(format!("connection never connected; {echoed}"))
        }
    })
}

/// An offer without a usable data-channel section leaves nothing for the answerer to echo:
/// say so at once instead of waiting for a connection that cannot come. An SDP the parser
/// refuses is left to `setRemoteDescription`, which names the line.
fn require_data_section(sdp: &str) -> Result<(), PairError> {
    let Ok(parsed) = rtcpeer_proto::sdp::SessionDescription::parse(sdp) else {
        return Ok(());
    };
    if parsed.media.iter().any(|m| m.is_data_channel() && !m.is_rejected()) {
        Ok(())
    } else {
        Err(PairError::Check(
            "the offer has no data-channel section (m=application … webrtc-datachannel)".into(),
        ))
    }
}
