//! The transceivers of a [`PeerConnection`] (webrtc-pc §5.4): adding tracks and
//! transceivers, and what offers, answers and applied descriptions do to them
//! (JSEP RFC 8829 §5.2, §5.3, §5.10).

use tracing::debug;

use crate::jsep::{
    answer_media, apply_answer, offer_media, Codec, LocalSection, MediaNegotiationError, MediaType, NegotiatedMedia,
    RemoteSection, SenderParams, TransceiverWants,
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
    /// Removed by the rollback of the remote offer that created it: kept (stopped) only so that
    /// the ids of later transceivers stay valid, and listed nowhere.
    pub(crate) removed: bool,
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
            removed: false,
        }
    }

    fn stopped(&self) -> bool {
        self.direction == TransceiverDirection::Stopped
    }

    /// What it asks for in an offer or answer.
    fn wants(&self, cname: &str) -> TransceiverWants {
        let send = match (&self.track, self.direction.sends()) {
            (Some(track), true) => Some(SenderParams {
                stream_id: self.stream_ids.first().cloned(),
                track_id: track.id.clone(),
                ssrc: self.ssrc,
                rtx_ssrc: (self.kind == MediaType::Video).then_some(self.rtx_ssrc),
                cname: cname.to_string(),
            }),
            _ => None,
        };
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
        let id = self.new_transceiver(kind, init.direction)?;
        if let Some(t) = self.transceivers.get_mut(id.0) {
            t.stream_ids = init.stream_ids;
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
            t.stream_ids = if t.stream_ids.is_empty() {
                track.stream_ids.clone()
            } else {
                t.stream_ids.clone()
            };
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
            .any(|t| t.track.as_ref().is_some_and(|s| s.id == track.id) && !t.stopped())
        {
            return Err(RtcError::InvalidAccess(format!(
                "track {} already has a sender on this connection",
                track.id
            )));
        }
        let reusable = self
            .transceivers
            .iter()
            .position(|t| t.kind == kind && !t.sender_ever_had_track && !t.stopped());
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
        if t.track.take().is_none() {
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
        if t.stopped() {
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
        if t.stopped() {
            return Err(RtcError::InvalidState(format!("{id} is stopped")));
        }
        if t.direction != direction {
            t.direction = direction;
            self.update_negotiation_needed();
        }
        Ok(())
    }

    /// `getTransceivers()`.
    pub fn transceivers(&self) -> Vec<TransceiverInfo> {
        self.transceivers
            .iter()
            .filter(|t| !t.removed)
            .map(Transceiver::info)
            .collect()
    }

    /// One transceiver's snapshot.
    pub fn transceiver(&self, id: TransceiverId) -> Option<TransceiverInfo> {
        self.transceivers
            .get(id.0)
            .filter(|t| !t.removed)
            .map(Transceiver::info)
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

    /// Fires `negotiationneeded` when the transceivers no longer match what was negotiated
    /// (a simplified form of webrtc-pc §4.7.3 "check if negotiation is needed").
    pub(super) fn update_negotiation_needed(&mut self) {
        if self.closed || self.signaling != SignalingState::Stable {
            return;
        }
        let needed = self.transceivers.iter().any(|t| {
            if t.stopped() {
                return false;
            }
            match (&t.mid, t.current_direction) {
                (None, _) => true,
                (Some(_), Some(current)) => {
                    // The application's direction differs from what was negotiated, on our side.
                    // Without a track our descriptions do not offer to send (see `wants`), so a
                    // sending direction without a track must not count as a change, or every
                    // exchange would end wanting another.
                    let sends = t.direction.sends() && t.track.is_some();
                    current.sends() != sends || current.receives() && !t.direction.receives()
                }
                (Some(_), None) => true,
            }
        });
        if needed && !self.negotiation_needed {
            self.negotiation_needed = true;
            self.push_event(PeerEvent::NegotiationNeeded);
        }
    }

    /// The media sections of a new offer: those already negotiated keep their place,
    /// transceivers without a section get a new one at the end.
    pub(super) fn offer_sections(&mut self, mut sections: Vec<LocalSection>) -> Vec<LocalSection> {
        let cname = self.cname.clone();
        for section in sections.iter_mut() {
            let LocalSection::Media(params) = section else { continue };
            let Some(t) = self
                .transceivers
                .iter()
                .find(|t| t.mid.as_deref() == Some(params.mid.as_str()))
            else {
                continue;
            };
            if t.stopped() {
                *section = LocalSection::Rejected {
                    kind: params.kind.as_str().to_string(),
                    protocol: params.protocol.clone(),
                    formats: params.payload_types().iter().map(u8::to_string).collect(),
                    mid: Some(params.mid.clone()),
                };
            } else {
                *params = offer_media(&params.mid, t.kind, &t.wants(&cname), &self.capabilities);
            }
        }
        for index in 0..self.transceivers.len() {
            let Some(t) = self.transceivers.get(index) else {
                continue;
            };
            if t.stopped()
                || t.mid
                    .as_ref()
                    .is_some_and(|m| sections.iter().any(|s| s.mid() == Some(m.as_str())))
            {
                continue;
            }
            let mid = t.mid.clone().unwrap_or_else(|| next_free_mid(&sections));
            let params = offer_media(&mid, t.kind, &t.wants(&cname), &self.capabilities);
            sections.push(LocalSection::Media(params));
        }
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
        if t.stopped() {
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

    /// Setting a remote offer: associates each audio/video section with a transceiver,
    /// creating `recvonly` ones for sections nothing matches (JSEP §5.10).
    pub(super) fn associate_remote_offer(&mut self) {
        let Some(remote) = &self.remote else { return };
        let sections: Vec<(String, MediaType)> = remote
            .sections
            .iter()
            .filter(|s| !s.rejected)
            .filter_map(|s| Some((s.mid.clone()?, s.media.as_ref()?.kind)))
            .collect();
        for (mid, kind) in sections {
            if self.transceivers.iter().any(|t| t.mid.as_deref() == Some(mid.as_str())) {
                continue;
            }
            let reusable = self
                .transceivers
                .iter()
                .position(|t| t.mid.is_none() && t.kind == kind && t.from_add_track && !t.stopped());
            let index = match reusable {
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
                .find(|t| t.mid.is_none() && t.kind == kind && !t.stopped())
            {
                t.mid = Some(mid);
            }
        }
    }

    /// A complete offer/answer exchange: what each transceiver negotiated, and the `track`
    /// events for remote tracks that now arrive. `our_answer` says which side answered.
    pub(super) fn apply_media_negotiation(&mut self, our_answer: bool) {
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
            let remote_sends = matches!(
                remote_media.direction,
                crate::sdp::Direction::SendRecv | crate::sdp::Direction::SendOnly
            );
            let stream_ids: Vec<String> = remote_media.msid.iter().filter_map(|m| m.stream_id.clone()).collect();
            let track_id = remote_media.msid.first().and_then(|m| m.track_id.clone());
            results.push((params.mid.clone(), negotiated, remote_sends, stream_ids, track_id));
        }
        for (mid, negotiated, remote_sends, stream_ids, track_id) in results {
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
                if remote_sends && receives && !t.track_fired {
                    t.track_fired = true;
                    if let Some(track_id) = track_id {
                        t.receiver_track_id = track_id;
                    }
                    t.remote_stream_ids = stream_ids.into_iter().filter(|s| s != "-").collect();
                    events.push(PeerEvent::Track {
                        transceiver: t.id,
                        mid: mid.clone(),
                        kind: t.kind,
                        track_id: t.receiver_track_id.clone(),
                        stream_ids: t.remote_stream_ids.clone(),
                    });
                } else if !(remote_sends && receives) {
                    t.track_fired = false;
                }
            }
            for event in events {
                self.push_event(event);
            }
        }
    }
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
