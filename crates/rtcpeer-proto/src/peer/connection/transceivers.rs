//! The transceivers of a [`PeerConnection`] (webrtc-pc §5.4): adding tracks and
//! transceivers, and what offers, answers and applied descriptions do to them
//! (JSEP RFC 8829 §5.2, §5.3, §5.10).

use tracing::debug;

use crate::jsep::{
    align_extension_ids, answer_media, apply_answer, offer_media, simulcast, Codec, HeaderExtension, LocalSection,
    MediaNegotiationError, MediaType, NegotiatedMedia, RemoteMsid, RemoteParameters, RemoteSection, SendLayer,
    SenderParams, TransceiverWants,
};
use crate::peer::transceiver::*;

use super::super::types::*;
use super::{closed_error, PeerConnection, PeerEvent};

/// The most transceivers one connection holds (each one is an m-line).
pub(crate) const MAX_TRANSCEIVERS: usize = 64;

/// One `RTCRtpTransceiver`: a sender and a receiver sharing a media section.
#[derive(Debug)]
pub(crate) struct Transceiver {
    pub(crate) id: TransceiverId,
    pub(crate) kind: MediaType,
    /// Set when an applied description associates it with a media section.
    pub(crate) mid: Option<String>,
    pub(crate) direction: TransceiverDirection,
    pub(crate) current_direction: Option<TransceiverDirection>,
    /// Created by `add_track` (and so reusable by a remote offer, JSEP §5.10).
    pub(crate) from_add_track: bool,
    /// Whether its sender has ever had a track (a transceiver `add_track` may not reuse).
    pub(crate) sender_ever_had_track: bool,
    pub(crate) track: Option<TrackInit>,
    pub(crate) stream_ids: Vec<String>,
    pub(crate) ssrc: u32,
    pub(crate) rtx_ssrc: u32,
    pub(crate) receiver_track_id: String,
    pub(crate) remote_stream_ids: Vec<String>,
    /// What the last applied offer/answer exchange negotiated for it.
    pub(crate) negotiated: Option<NegotiatedMedia>,
    /// Whether the application has heard of its remote track (`track` event) for the current negotiation.
    pub(crate) track_fired: bool,
    /// The remote track's `muted`: from its `track` event until RTP arrives, and again once
    /// the remote stops sending it.
    pub(crate) receiver_muted: bool,
    /// Listed nowhere any more: stopped and negotiated away, or removed by the rollback of the
    /// remote offer that created it (kept only so that later transceivers' ids stay valid).
    pub(crate) removed: bool,
    /// The sender's encodings (at least one; the first sends with `ssrc`/`rtx_ssrc`).
    pub(crate) encodings: Vec<SendEncoding>,
    /// The `transactionId` the last `get_parameters` returned.
    pub(crate) parameters_transaction: Option<String>,
}

/// One encoding of a sender: its parameters and the SSRCs of its RTP streams.
#[derive(Debug, Clone)]
pub(crate) struct SendEncoding {
    pub(crate) params: RtpEncodingParameters,
    pub(crate) ssrc: u32,
    pub(crate) rtx_ssrc: u32,
}

impl Transceiver {
    fn new(id: TransceiverId, kind: MediaType, direction: TransceiverDirection) -> Transceiver {
        Transceiver {
            id,
            kind,
            mid: None,
            direction,
            current_direction: None,
            from_add_track: false,
            sender_ever_had_track: false,
            track: None,
            stream_ids: Vec::new(),
            ssrc: nonzero_ssrc(),
            rtx_ssrc: nonzero_ssrc(),
            receiver_track_id: random_id(),
            remote_stream_ids: Vec::new(),
            negotiated: None,
            track_fired: false,
            receiver_muted: true,
            encodings: Vec::new(),
            parameters_transaction: None,
            removed: false,
        }
        .with_encodings(vec![RtpEncodingParameters::default()])
    }

    /// Replaces the sender's encodings; the first keeps the transceiver's SSRCs, others get new ones.
    pub(crate) fn with_encodings(mut self, encodings: Vec<RtpEncodingParameters>) -> Transceiver {
        self.set_encodings(encodings);
        self
    }

    fn set_encodings(&mut self, encodings: Vec<RtpEncodingParameters>) {
        self.encodings = encodings
            .into_iter()
            .enumerate()
            .map(|(index, params)| SendEncoding {
                params,
                ssrc: if index == 0 { self.ssrc } else { nonzero_ssrc() },
                rtx_ssrc: if index == 0 { self.rtx_ssrc } else { nonzero_ssrc() },
            })
            .collect();
    }

    /// The encoding that sends as the rid `rid`, or for `None` the first one.
    pub(crate) fn encoding(&self, rid: Option<&str>) -> Option<&SendEncoding> {
        match rid {
            None => self.encodings.first(),
            Some(rid) => self.encodings.iter().find(|e| e.params.rid.as_deref() == Some(rid)),
        }
    }

    /// The simulcast layers it states when it sends: one per encoding when there are several.
    fn send_layers(&self) -> Vec<SendLayer> {
        if self.encodings.len() < 2 {
            return Vec::new();
        }
        self.encodings
            .iter()
            .filter_map(|e| {
                Some(SendLayer {
                    rid: e.params.rid.clone()?,
                    ssrc: e.ssrc,
                    rtx_ssrc: (self.kind == MediaType::Video).then_some(e.rtx_ssrc),
                })
            })
            .collect()
    }

    /// Stopping or stopped: `stop()` was called (or a negotiation rejected its section).
    fn stopping_or_stopped(&self) -> bool {
        self.direction == TransceiverDirection::Stopped
    }

    /// `[[Stopped]]`: its media section was rejected by a negotiation (or the connection closed);
    /// `currentDirection` reads `stopped` (only [`mark_stopped`](Self::mark_stopped) sets it, and
    /// no negotiation changes it afterwards: a stopped transceiver's section is always rejected).
    /// `direction` reading `stopped` alone is `[[Stopping]]`.
    fn is_stopped(&self) -> bool {
        self.current_direction == Some(TransceiverDirection::Stopped)
    }

    /// `[[Stopped]]` (webrtc-pc §5.4 "stop the RTCRtpTransceiver"): it neither sends nor
    /// receives, and `currentDirection` reads `stopped`.
    pub(super) fn mark_stopped(&mut self) {
        self.direction = TransceiverDirection::Stopped;
        self.current_direction = Some(TransceiverDirection::Stopped);
        self.negotiated = None;
        self.track_fired = false;
    }

    /// "Process the addition of a remote track" (webrtc-pc §4.4.1.6): the remote's section `mid`
    /// sends to us, with the track and streams its `a=msid` names. The track is muted until its
    /// first RTP packet. Returns its `track` event; nothing if the application heard of it already.
    fn add_remote_track(&mut self, mid: &str, msid: &[RemoteMsid]) -> Option<PeerEvent> {
        if self.track_fired {
            return None;
        }
        self.track_fired = true;
        self.receiver_muted = true;
        if let Some(track_id) = msid.first().and_then(|m| m.track_id.clone()) {
            self.receiver_track_id = track_id;
        }
        self.remote_stream_ids = remote_streams(msid);
        Some(PeerEvent::Track {
            transceiver: self.id,
            mid: mid.to_string(),
            kind: self.kind,
            track_id: self.receiver_track_id.clone(),
            stream_ids: self.remote_stream_ids.clone(),
        })
    }

    /// "Process the removal of a remote track" (webrtc-pc §4.4.1.6): a track the application
    /// heard of mutes (if it was unmuted) and leaves each of its remote streams, in that order.
    /// Returns the events; nothing if no `track` event announced it.
    pub(crate) fn remove_remote_track(&mut self) -> Vec<PeerEvent> {
        if !self.track_fired {
            return Vec::new();
        }
        self.track_fired = false;
        let mut events = Vec::new();
        if !self.receiver_muted {
            self.receiver_muted = true;
            events.push(PeerEvent::TrackMuted(self.id));
        }
        for stream_id in &self.remote_stream_ids {
            events.push(PeerEvent::StreamTrackRemoved {
                stream_id: stream_id.clone(),
                transceiver: self.id,
                track_id: self.receiver_track_id.clone(),
            });
        }
        events
    }

    /// What it asks for in an offer or answer.
    fn wants(&self, cname: &str) -> TransceiverWants {
        // JSEP §5.2.2: the section's direction is the transceiver's, with or without a track;
        // a sender without a track still announces its (muted) track, as browsers do.
        let send = self.direction.sends().then(|| SenderParams {
            stream_id: self.stream_ids.first().cloned(),
            track_id: self
                .track
                .as_ref()
                .map_or_else(|| format!("sender-{:08x}", self.ssrc), |track| track.id.clone()),
            ssrc: self.ssrc,
            rtx_ssrc: (self.kind == MediaType::Video).then_some(self.rtx_ssrc),
            cname: cname.to_string(),
            layers: self.send_layers(),
        });
        TransceiverWants {
            send,
            recv: self.direction.receives(),
        }
    }

    /// The codec the sender sends its track with: the remote's most preferred format of the
    /// track's codec among those negotiated.
    pub(crate) fn send_format(&self) -> Option<&crate::jsep::CodecParameters> {
        let track = self.track.as_ref()?;
        self.negotiated
            .as_ref()?
            .send_codecs
            .iter()
            .find(|c| c.codec == track.codec)
    }

    pub(crate) fn info(&self) -> TransceiverInfo {
        let receive_codecs = match &self.negotiated {
            Some(n)
                if n.direction == crate::sdp::Direction::SendRecv || n.direction == crate::sdp::Direction::RecvOnly =>
            {
                let mut codecs: Vec<Codec> = Vec::new();
                for format in n.payload_types.values() {
                    if format.codec != Codec::Rtx && !codecs.contains(&format.codec) {
                        codecs.push(format.codec);
                    }
                }
                codecs
            }
            _ => Vec::new(),
        };
        TransceiverInfo {
            id: self.id,
            mid: self.mid.clone(),
            kind: self.kind,
            direction: self.direction,
            current_direction: self.current_direction,
            sender_track: self.track.clone(),
            receiver_track_id: self.receiver_track_id.clone(),
            send_codec: self.send_format().map(|c| c.codec),
            receive_codecs,
            stopped: self.is_stopped(),
        }
    }
}

fn nonzero_ssrc() -> u32 {
    loop {
        let ssrc = crate::rand::u64() as u32;
        if ssrc != 0 {
            return ssrc;
        }
    }
}

fn random_id() -> String {
    format!("{:016x}", crate::rand::u64())
}

impl PeerConnection {
    /// `addTransceiver(kind, init)`.
    pub fn add_transceiver(&mut self, kind: MediaType, init: TransceiverInit) -> Result<TransceiverId, RtcError> {
        if self.closed {
            return Err(closed_error());
        }
        if init.direction == TransceiverDirection::Stopped {
            return Err(RtcError::Type("a new transceiver cannot be stopped".into()));
        }
        let encodings = simulcast::check_send_encodings(kind, &init.send_encodings)?;
        let id = self.new_transceiver(kind, init.direction)?;
        if let Some(t) = self.transceivers.get_mut(id.0) {
            t.stream_ids = init.stream_ids;
            t.set_encodings(encodings);
        }
        self.update_negotiation_needed();
        Ok(id)
    }

    /// `addTransceiver(track, init)`: a transceiver sending this track.
    pub fn add_transceiver_with_track(
        &mut self,
        track: TrackInit,
        init: TransceiverInit,
    ) -> Result<TransceiverId, RtcError> {
        let kind = track_kind(&track)?;
        let id = self.add_transceiver(kind, init)?;
        if let Some(t) = self.transceivers.get_mut(id.0) {
            // `init.streams` if it named any, else the track's own.
            if t.stream_ids.is_empty() {
                t.stream_ids = track.stream_ids.clone();
            }
            t.track = Some(track);
            t.sender_ever_had_track = true;
        }
        Ok(id)
    }

    /// `addTrack(track, ...streams)`: reuses a transceiver of the track's kind whose sender never
    /// had a track (one a remote offer created), or adds a `sendrecv` one.
    pub fn add_track(&mut self, track: TrackInit) -> Result<TransceiverId, RtcError> {
        if self.closed {
            return Err(closed_error());
        }
        let kind = track_kind(&track)?;
        if self
            .transceivers
            .iter()
            .any(|t| t.track.as_ref().is_some_and(|s| s.id == track.id) && !t.stopping_or_stopped())
        {
            return Err(RtcError::InvalidAccess(format!(
                "track {} already has a sender on this connection",
                track.id
            )));
        }
        let reusable = self
            .transceivers
            .iter()
            .position(|t| t.kind == kind && !t.sender_ever_had_track && !t.stopping_or_stopped());
        let id = match reusable {
            Some(index) => TransceiverId(index),
            None => {
                let id = self.new_transceiver(kind, TransceiverDirection::SendRecv)?;
                if let Some(t) = self.transceivers.get_mut(id.0) {
                    t.from_add_track = true;
                }
                id
            }
        };
        if let Some(t) = self.transceivers.get_mut(id.0) {
            t.stream_ids = track.stream_ids.clone();
            t.track = Some(track);
            t.sender_ever_had_track = true;
            t.direction = match t.direction {
                TransceiverDirection::RecvOnly => TransceiverDirection::SendRecv,
                TransceiverDirection::Inactive => TransceiverDirection::SendOnly,
                other => other,
            };
        }
        self.update_negotiation_needed();
        Ok(id)
    }

    /// `removeTrack(sender)`: the transceiver stops sending (its direction loses `send`).
    pub fn remove_track(&mut self, id: TransceiverId) -> Result<(), RtcError> {
        if self.closed {
            return Err(closed_error());
        }
        let t = self
            .transceivers
            .get_mut(id.0)
            .ok_or_else(|| RtcError::InvalidAccess(format!("no {id} on this connection")))?;
        // webrtc-pc §4.4.1.6 removeTrack: nothing happens on a stopping or stopped transceiver.
        if t.stopping_or_stopped() || t.track.take().is_none() {
            return Ok(());
        }
        t.direction = match t.direction {
            TransceiverDirection::SendRecv => TransceiverDirection::RecvOnly,
            TransceiverDirection::SendOnly => TransceiverDirection::Inactive,
            other => other,
        };
        self.update_negotiation_needed();
        Ok(())
    }

    /// `sender.replaceTrack(track)`: swaps the track without renegotiation. The new track must
    /// be of the same kind, and its codec must have been negotiated if the transceiver sends.
    pub fn replace_track(&mut self, id: TransceiverId, track: Option<TrackInit>) -> Result<(), RtcError> {
        if self.closed {
            return Err(closed_error());
        }
        let t = self
            .transceivers
            .get_mut(id.0)
            .ok_or_else(|| RtcError::InvalidAccess(format!("no {id} on this connection")))?;
        if t.stopping_or_stopped() {
            return Err(RtcError::InvalidState(format!("{id} is stopped")));
        }
        if let Some(track) = &track {
            if track_kind(track)? != t.kind {
                return Err(RtcError::Type(format!("{id} carries {}, not {}", t.kind, track.codec)));
            }
            t.sender_ever_had_track = true;
        }
        t.track = track;
        Ok(())
    }

    /// `transceiver.direction = direction`.
    pub fn set_transceiver_direction(
        &mut self,
        id: TransceiverId,
        direction: TransceiverDirection,
    ) -> Result<(), RtcError> {
        if self.closed {
            return Err(closed_error());
        }
        if direction == TransceiverDirection::Stopped {
            return Err(RtcError::Type("use stop() to stop a transceiver".into()));
        }
        let t = self
            .transceivers
            .get_mut(id.0)
            .ok_or_else(|| RtcError::InvalidAccess(format!("no {id} on this connection")))?;
        if t.stopping_or_stopped() {
            return Err(RtcError::InvalidState(format!("{id} is stopped")));
        }
        if t.direction != direction {
            t.direction = direction;
            self.update_negotiation_needed();
        }
        Ok(())
    }

    /// `transceiver.stop()` (webrtc-pc §5.4): the transceiver stops sending and receiving at
    /// once (its receiver's track ends and `direction` reads `stopped`), stays listed until the
    /// next offer/answer exchange rejects its media section, and then leaves
    /// [`transceivers`](Self::transceivers). Stopping it again does nothing.
    ///
    /// `InvalidStateError` once the connection is closed (checked before whether it is stopped).
    pub fn stop_transceiver(&mut self, id: TransceiverId) -> Result<(), RtcError> {
        if self.closed {
            return Err(closed_error());
        }
        let t = self
            .transceivers
            .get_mut(id.0)
            .ok_or_else(|| RtcError::InvalidAccess(format!("no {id} on this connection")))?;
        if t.stopping_or_stopped() {
            return Ok(());
        }
        debug!(%id, "transceiver stopping");
        t.direction = TransceiverDirection::Stopped;
        t.track_fired = false;
        self.update_negotiation_needed();
        Ok(())
    }

    /// `getTransceivers()`: every transceiver that a negotiation has not stopped and removed.
    pub fn transceivers(&self) -> Vec<TransceiverInfo> {
        self.transceivers
            .iter()
            .filter(|t| !t.removed)
            .map(Transceiver::info)
            .collect()
    }

    /// One transceiver's snapshot (also after it was stopped and left `getTransceivers()`, or
    /// was removed by a rollback, like a transceiver object the application still holds).
    pub fn transceiver(&self, id: TransceiverId) -> Option<TransceiverInfo> {
        self.transceivers.get(id.0).map(Transceiver::info)
    }

    /// `close()`: every transceiver is stopped (webrtc-pc §4.4.1.4 step 7).
    pub(super) fn stop_all_transceivers(&mut self) {
        for t in &mut self.transceivers {
            t.mark_stopped();
        }
    }

    fn new_transceiver(&mut self, kind: MediaType, direction: TransceiverDirection) -> Result<TransceiverId, RtcError> {
        if self.transceivers.len() >= MAX_TRANSCEIVERS {
            return Err(RtcError::Operation(format!(
                "a connection holds at most {MAX_TRANSCEIVERS} transceivers"
            )));
        }
        let id = TransceiverId(self.transceivers.len());
        self.transceivers.push(Transceiver::new(id, kind, direction));
        Ok(id)
    }

    /// Webrtc-pc §4.7.3 "update the negotiation-needed flag": in `stable` only, and at most one
    /// `negotiationneeded` until a negotiation completes (changes made meanwhile coalesce). Called
    /// after every change that may need one and whenever the connection returns to `stable`, so
    /// a change made during an offer/answer exchange fires once that exchange has completed.
    pub(super) fn update_negotiation_needed(&mut self) {
        if self.closed || self.signaling != SignalingState::Stable || self.negotiation_needed {
            return;
        }
        if self.is_negotiation_needed() {
            debug!("negotiation needed");
            self.negotiation_needed = true;
            self.push_event(PeerEvent::NegotiationNeeded);
        }
    }

    /// Webrtc-pc §4.7.3 "check if negotiation is needed", against the applied descriptions.
    fn is_negotiation_needed(&self) -> bool {
        // `[[LocalIceCredentialsToReplace]]`: `restartIce()`, or a rolled-back restart offer.
        if self.ice_restart_pending() {
            return true;
        }
        let data_section = self.local.as_ref().is_some_and(|l| {
            l.sections
                .iter()
                .any(|s| matches!(s, crate::jsep::LocalSection::Data { .. }))
        }) && self
            .remote
            .as_ref()
            .is_some_and(|r| r.sections.iter().any(|s| s.is_data && !s.rejected));
        if self.channels.ids().next().is_some() && !data_section {
            return true;
        }
        self.transceivers.iter().filter(|t| !t.removed).any(|t| {
            if t.stopping_or_stopped() {
                // Stopping: its section must be rejected. One never offered has nothing to tell.
                return !t.is_stopped() && t.mid.is_some();
            }
            match (&t.mid, t.current_direction) {
                (None, _) | (Some(_), None) => true,
                // The application's direction differs from what was negotiated, on our side.
                (Some(_), Some(current)) => {
                    current.sends() != t.direction.sends() || current.receives() && !t.direction.receives()
                }
            }
        })
    }

    /// `negotiationneeded` fired and no negotiation has completed since (the browser's
    /// `[[NegotiationNeeded]]` slot).
    pub fn negotiation_needed(&self) -> bool {
        self.negotiation_needed
    }

    /// The media sections of a new offer: those already negotiated keep their place,
    /// transceivers without a section get a new one at the end.
    pub(super) fn offer_sections(&self, mut sections: Vec<LocalSection>) -> Vec<LocalSection> {
        let established: Vec<HeaderExtension> = sections
            .iter()
            .filter_map(|s| match s {
                LocalSection::Media(params) => Some(params.extensions.iter().cloned()),
                _ => None,
            })
            .flatten()
            .collect();
        for section in sections.iter_mut() {
            let LocalSection::Media(params) = section else { continue };
            let Some(t) = self
                .transceivers
                .iter()
                .find(|t| t.mid.as_deref() == Some(params.mid.as_str()))
            else {
                continue;
            };
            if t.stopping_or_stopped() {
                *section = LocalSection::Rejected {
                    kind: params.kind.as_str().to_string(),
                    protocol: params.protocol.clone(),
                    formats: params.payload_types().iter().map(u8::to_string).collect(),
                    mid: Some(params.mid.clone()),
                };
            } else {
                *params = offer_media(&params.mid, t.kind, &t.wants(&self.cname), &self.capabilities);
            }
        }
        for index in 0..self.transceivers.len() {
            let Some(t) = self.transceivers.get(index) else {
                continue;
            };
            if t.stopping_or_stopped()
                || t.mid
                    .as_ref()
                    .is_some_and(|m| sections.iter().any(|s| s.mid() == Some(m.as_str())))
            {
                continue;
            }
            let mid = t.mid.clone().unwrap_or_else(|| next_free_mid(&sections));
            let params = offer_media(&mid, t.kind, &t.wants(&self.cname), &self.capabilities);
            sections.push(LocalSection::Media(params));
        }
        align_extension_ids(&mut sections, &established);
        sections
    }

    /// Our answer's section for a remote audio/video section.
    pub(super) fn answer_section(&self, remote: &RemoteSection) -> LocalSection {
        let rejected = || LocalSection::mirroring(remote, false);
        let (Some(media), Some(mid), false) = (&remote.media, &remote.mid, remote.rejected) else {
            return rejected();
        };
        let Some(t) = self
            .transceivers
            .iter()
            .find(|t| t.mid.as_deref() == Some(mid.as_str()))
        else {
            return rejected();
        };
        if t.stopping_or_stopped() {
            return rejected();
        }
        match answer_media(mid, media, &remote.protocol, &t.wants(&self.cname), &self.capabilities) {
            Ok(params) => LocalSection::Media(params),
            Err(e) => {
                debug!(error = %e, "media section rejected");
                rejected()
            }
        }
    }

    /// Before a remote offer is applied: whether the transceivers its audio/video sections
    /// would add (those [`associate_remote_offer`](Self::associate_remote_offer) finds no
    /// transceiver for) fit within [`MAX_TRANSCEIVERS`]; an `OperationError` if not, so that
    /// the offer is refused whole and the connection stays as it was.
    pub(super) fn check_room_for_remote_offer(&self, remote: &RemoteParameters) -> Result<(), RtcError> {
        let added = self
            .remote_offer_assignments(remote)
            .iter()
            .filter(|(_, _, reused)| reused.is_none())
            .count();
        if self.transceivers.len() + added > MAX_TRANSCEIVERS {
            return Err(RtcError::Operation(format!(
                "the remote offer needs {added} more transceivers than the {} this connection has; \
                 a connection holds at most {MAX_TRANSCEIVERS}",
                self.transceivers.len()
            )));
        }
        Ok(())
    }

    /// Setting a remote offer: associates each audio/video section with a transceiver,
    /// creating `recvonly` ones for sections nothing matches (JSEP §5.10).
    pub(super) fn associate_remote_offer(&mut self) {
        let Some(remote) = &self.remote else { return };
        // A rejected section (port 0) stops the transceiver it belonged to (webrtc-pc §4.4.1.6,
        // JSEP §5.10): `currentDirection` reads `stopped` from now on.
        let rejected: Vec<String> = remote
            .sections
            .iter()
            .filter(|s| s.rejected)
            .filter_map(|s| s.mid.clone())
            .collect();
        for t in &mut self.transceivers {
            if !t.is_stopped() && t.mid.as_ref().is_some_and(|m| rejected.contains(m)) {
                debug!(id = %t.id, "the remote offer rejected its section; transceiver stopped");
                t.mark_stopped();
            }
        }
        for (mid, kind, reused) in self.remote_offer_assignments(remote) {
            let index = match reused {
                Some(index) => index,
                None => match self.new_transceiver(kind, TransceiverDirection::RecvOnly) {
                    Ok(id) => id.0,
                    Err(e) => {
                        debug!(error = %e, mid, "remote section left without a transceiver");
                        continue;
                    }
                },
            };
            if let Some(t) = self.transceivers.get_mut(index) {
                t.mid = Some(mid);
            }
        }
        self.take_offered_simulcast();
    }

    /// The audio/video sections of a remote offer that no transceiver has yet, each with the
    /// transceiver it goes to: the first unassociated one of its kind that `add_track` made
    /// (JSEP §5.10), or `None` for a new `recvonly` one.
    fn remote_offer_assignments(&self, remote: &RemoteParameters) -> Vec<(String, MediaType, Option<usize>)> {
        let mut reusable: Vec<(usize, MediaType)> = self
            .transceivers
            .iter()
            .enumerate()
            .filter(|(_, t)| t.mid.is_none() && t.from_add_track && !t.stopping_or_stopped())
            .map(|(index, t)| (index, t.kind))
            .collect();
        let mut assignments: Vec<(String, MediaType, Option<usize>)> = Vec::new();
        for s in remote.sections.iter().filter(|s| !s.rejected) {
            let (Some(mid), Some(media)) = (&s.mid, &s.media) else {
                continue;
            };
            let taken = self.transceivers.iter().any(|t| t.mid.as_ref() == Some(mid))
                || assignments.iter().any(|(m, _, _)| m == mid);
            if taken {
                continue;
            }
            let reused = reusable
                .iter()
                .position(|(_, kind)| *kind == media.kind)
                .map(|p| reusable.remove(p).0);
            assignments.push((mid.clone(), media.kind, reused));
        }
        assignments
    }

    /// A remote offer that asks to receive simulcast (`a=simulcast:recv`, as an SFU sends)
    /// gives a sender that has a single unnamed encoding, and was never negotiated, one encoding
    /// per offered rid (webrtc-pc §4.4.1.5, "proposed sendEncodings"); invalid rids are left out.
    fn take_offered_simulcast(&mut self) {
        let Some(remote) = &self.remote else { return };
        let offered: Vec<(String, Vec<String>)> = remote
            .sections
            .iter()
            .filter(|s| !s.rejected)
            .filter_map(|s| {
                let media = s.media.as_ref().filter(|m| m.kind == MediaType::Video)?;
                let rids: Vec<String> = media
                    .recv_rids()
                    .into_iter()
                    .filter(|rid| simulcast::check_rid(rid).is_ok())
                    .take(crate::peer::transceiver::MAX_SEND_ENCODINGS)
                    .collect();
                let mid = s.mid.clone()?;
                (rids.len() > 1).then_some((mid, rids))
            })
            .collect();
        for (mid, rids) in offered {
            let Some(t) = self
                .transceivers
                .iter_mut()
                .find(|t| t.mid.as_deref() == Some(mid.as_str()))
            else {
                continue;
            };
            // Only before its first negotiation: a stream already flowing keeps its form.
            let single_default = t.current_direction.is_none()
                && t.encodings.len() == 1
                && t.encodings.iter().all(|e| e.params.rid.is_none());
            if single_default {
                let first = t.encodings.first().map(|e| e.params.clone()).unwrap_or_default();
                let encodings = rids
                    .into_iter()
                    .map(|rid| RtpEncodingParameters {
                        rid: Some(rid),
                        ..first.clone()
                    })
                    .collect();
                t.set_encodings(encodings);
            }
        }
    }

    /// `sender.getParameters()`: the sender's encodings, with a new `transactionId`.
    pub fn get_parameters(&mut self, id: TransceiverId) -> Result<RtpSendParameters, RtcError> {
        let t = self
            .transceivers
            .get_mut(id.0)
            .ok_or_else(|| RtcError::InvalidAccess(format!("no {id} on this connection")))?;
        let transaction_id = random_id();
        t.parameters_transaction = Some(transaction_id.clone());
        Ok(RtpSendParameters {
            transaction_id,
            encodings: t.encodings.iter().map(|e| e.params.clone()).collect(),
        })
    }

    /// `sender.setParameters(parameters)`: changes what each encoding may change (`active`,
    /// `maxBitrate`, `maxFramerate`, `scaleResolutionDownBy`) without renegotiation.
    ///
    /// `InvalidStateError` without a preceding `get_parameters` or when stopped,
    /// `InvalidModificationError` for another `transactionId`, another number of encodings or
    /// a changed rid, `RangeError` for values out of range.
    pub fn set_parameters(&mut self, id: TransceiverId, parameters: RtpSendParameters) -> Result<(), RtcError> {
        if self.closed {
            return Err(closed_error());
        }
        let t = self
            .transceivers
            .get_mut(id.0)
            .ok_or_else(|| RtcError::InvalidAccess(format!("no {id} on this connection")))?;
        if t.stopping_or_stopped() {
            return Err(RtcError::InvalidState(format!("{id} is stopped")));
        }
        let Some(expected) = t.parameters_transaction.take() else {
            return Err(RtcError::InvalidState("getParameters() was not called first".into()));
        };
        if parameters.transaction_id != expected {
            return Err(RtcError::InvalidModification(
                "the transactionId is not the last one given".into(),
            ));
        }
        if parameters.encodings.len() != t.encodings.len() {
            return Err(RtcError::InvalidModification(format!(
                "{id} has {} encodings, not {}",
                t.encodings.len(),
                parameters.encodings.len()
            )));
        }
        if t.encodings
            .iter()
            .zip(&parameters.encodings)
            .any(|(old, new)| old.params.rid != new.rid)
        {
            return Err(RtcError::InvalidModification("an encoding's rid cannot change".into()));
        }
        let checked = simulcast::check_send_encodings(t.kind, &parameters.encodings)?;
        for (encoding, params) in t.encodings.iter_mut().zip(checked) {
            if encoding.params.active != params.active {
                debug!(%id, rid = ?params.rid, active = params.active, "encoding switched");
            }
            encoding.params = params;
        }
        Ok(())
    }

    /// A remote offer applied (after its `signalingstatechange`): `track` for every section the
    /// remote sends on whose track the application has not heard of (webrtc-pc §4.4.1.6
    /// "process the addition of a remote track"), before `setRemoteDescription` returns.
    pub(super) fn fire_remote_tracks(&mut self) {
        let Some(remote) = &self.remote else { return };
        let mut events = Vec::new();
        for section in remote.sections.iter().filter(|s| !s.rejected) {
            let (Some(media), Some(mid)) = (&section.media, &section.mid) else {
                continue;
            };
            let remote_sends = TransceiverDirection::from(media.direction).sends();
            let Some(t) = self
                .transceivers
                .iter_mut()
                .find(|t| t.mid.as_deref() == Some(mid.as_str()) && !t.stopping_or_stopped())
            else {
                continue;
            };
            if !remote_sends {
                // The remote stopped sending: the track mutes and leaves its streams now, before
                // setRemoteDescription returns; the receiver stays.
                events.extend(t.remove_remote_track());
                continue;
            }
            events.extend(t.add_remote_track(mid, &media.msid));
        }
        for event in events {
            self.push_event(event);
        }
    }

    /// Our offer applied: its new sections' mids now belong to their transceivers.
    pub(super) fn associate_local_offer(&mut self) {
        let Some(local) = &self.local else { return };
        let mut assigned = Vec::new();
        for section in &local.sections {
            let LocalSection::Media(params) = section else { continue };
            if self
                .transceivers
                .iter()
                .any(|t| t.mid.as_deref() == Some(params.mid.as_str()))
            {
                continue;
            }
            assigned.push((params.mid.clone(), params.kind));
        }
        for (mid, kind) in assigned {
            if let Some(t) = self
                .transceivers
                .iter_mut()
                .find(|t| t.mid.is_none() && t.kind == kind && !t.stopping_or_stopped())
            {
                t.mid = Some(mid);
            }
        }
    }

    /// A complete offer/answer exchange: what each transceiver negotiated, and the `track`
    /// events for remote tracks that now arrive. `our_answer` says which side answered.
    pub(super) fn apply_media_negotiation(&mut self, our_answer: bool) {
        self.negotiate_transceivers(our_answer);
        self.remove_stopped_transceivers();
    }

    /// After a complete exchange: transceivers whose section is rejected are stopped, and
    /// stopped ones leave `getTransceivers()` (webrtc-pc §4.4.1.6, "answer" steps).
    fn remove_stopped_transceivers(&mut self) {
        let rejected: Vec<String> = self
            .local
            .as_ref()
            .map(|l| {
                l.sections
                    .iter()
                    .filter(|s| matches!(s, LocalSection::Rejected { .. }))
                    .filter_map(|s| s.mid().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        for t in &mut self.transceivers {
            let section_rejected = t.mid.as_ref().is_some_and(|m| rejected.contains(m));
            // A transceiver stopped before it was ever offered has no section to reject.
            if section_rejected || (t.stopping_or_stopped() && t.mid.is_none()) {
                t.mark_stopped();
            }
            if t.is_stopped() && !t.removed {
                debug!(id = %t.id, "stopped transceiver removed");
                t.removed = true;
            }
        }
    }

    fn negotiate_transceivers(&mut self, our_answer: bool) {
        let (Some(local), Some(remote)) = (&self.local, &self.remote) else {
            return;
        };
        let mut results = Vec::new();
        for (index, section) in local.sections.iter().enumerate() {
            let LocalSection::Media(params) = section else { continue };
            let Some(remote_media) = remote.sections.get(index).and_then(|s| s.media.as_ref()) else {
                continue;
            };
            let rejected = remote.sections.get(index).is_some_and(|s| s.rejected);
            let negotiated: Result<NegotiatedMedia, MediaNegotiationError> = if rejected {
                Err(MediaNegotiationError::NoCommonCodec {
                    mid: params.mid.clone(),
                    kind: params.kind,
                })
            } else if our_answer {
                Ok(NegotiatedMedia::from_our_answer(params, remote_media))
            } else {
                apply_answer(params, remote_media)
            };
            let remote_sends = TransceiverDirection::from(remote_media.direction).sends();
            results.push((params.mid.clone(), negotiated, remote_sends, remote_media.msid.clone()));
        }
        for (mid, negotiated, remote_sends, msid) in results {
            let Some(index) = self
                .transceivers
                .iter()
                .position(|t| t.mid.as_deref() == Some(mid.as_str()))
            else {
                continue;
            };
            let mut events = Vec::new();
            if let Some(t) = self.transceivers.get_mut(index) {
                match negotiated {
                    Ok(n) => {
                        t.current_direction = Some(n.direction.into());
                        t.negotiated = Some(n);
                        if let (Some(track), true) = (&t.track, t.direction.sends()) {
                            if t.send_format().is_none() {
                                events.push(PeerEvent::CodecNotNegotiated(t.id, track.codec));
                            }
                        }
                    }
                    Err(e) => {
                        debug!(error = %e, "media section not negotiated");
                        t.current_direction = Some(TransceiverDirection::Inactive);
                        t.negotiated = None;
                        if let Some(track) = &t.track {
                            events.push(PeerEvent::CodecNotNegotiated(t.id, track.codec));
                        }
                    }
                }
                let receives = t.current_direction.is_some_and(TransceiverDirection::receives);
                if remote_sends && receives {
                    events.extend(t.add_remote_track(&mid, &msid));
                } else {
                    events.extend(t.remove_remote_track());
                }
            }
            for event in events {
                self.push_event(event);
            }
        }
    }
}

/// The stream id the remote's tracks without any `a=msid` belong to (JSEP §5.10: such a track
/// gets a default stream; `a=msid:- <track>` means no stream at all).
pub(crate) const DEFAULT_STREAM_ID: &str = "default";

/// The streams of a remote track, from its section's `a=msid` lines (RFC 8830).
fn remote_streams(msid: &[crate::jsep::RemoteMsid]) -> Vec<String> {
    if msid.is_empty() {
        return vec![DEFAULT_STREAM_ID.to_string()];
    }
    msid.iter()
        .filter_map(|m| m.stream_id.clone())
        .filter(|s| s != "-")
        .collect()
}

fn track_kind(track: &TrackInit) -> Result<MediaType, RtcError> {
    track
        .kind()
        .ok_or_else(|| RtcError::Type(format!("{} is not a codec a track can carry", track.codec)))
}

/// The lowest numeric mid not used by these sections.
pub(super) fn next_free_mid(sections: &[LocalSection]) -> String {
    (0u32..)
        .map(|n| n.to_string())
        .find(|m| !sections.iter().any(|s| s.mid() == Some(m.as_str())))
        .unwrap_or_else(|| "0".into())
}
