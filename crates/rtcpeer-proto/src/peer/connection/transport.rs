//! The transport half of [`PeerConnection`]: moving packets and events
//! between ICE, DTLS and the data channels, and deriving the W3C states.

use std::time::Instant;

use tracing::{debug, trace};

use crate::datachannel::DataChannelEvent;
use crate::dtls::{DtlsEvent, DtlsRole, DtlsTransport};
use crate::ice::IceEvent;
use crate::net::Transmit;

use super::super::types::*;
use super::{PeerConnection, PeerEvent, MAX_QUEUED_EVENTS, MAX_QUEUED_TRANSMITS};

impl PeerConnection {
    /// Once both descriptions are in place: settle our DTLS role. The
    /// transport itself starts when ICE has selected a pair, so that the
    /// handshake's retransmission budget is not spent while ICE is checking.
    pub(super) fn negotiate_dtls_role(&mut self) {
        if self.dtls_role.is_some() {
            return;
        }
        let Some(remote) = &self.remote else { return };
        if !remote
            .sections
            .iter()
            .any(|s| (s.is_data || s.media.is_some()) && !s.rejected)
        {
            debug!("no section negotiated; nothing to connect");
            return;
        }
        let local_setup = self.local.as_ref().map(|l| l.setup).unwrap_or("actpass");
        self.dtls_role = Some(match (local_setup, remote.setup) {
            ("active", _) => DtlsRole::Client,
            ("passive", _) => DtlsRole::Server,
            // We offered actpass: the answer decides.
            (_, Some(DtlsRole::Client)) => DtlsRole::Server,
            _ => DtlsRole::Client,
        });
        // Channel ids follow the role, and are known from now on.
        self.channels.set_dtls_role(self.dtls_role == Some(DtlsRole::Client));
    }

    pub(super) fn start_dtls(&mut self, now: Instant) {
        let (Some(role), None, Some(remote)) = (self.dtls_role, &self.dtls, &self.remote) else {
            return;
        };
        if self.ice.selected_pair().is_none() {
            return;
        }
        match DtlsTransport::new(&self.certificate, role, remote.fingerprints.clone(), now) {
            Ok(dtls) => self.dtls = Some(dtls),
            Err(e) => {
                debug!(error = %e, "cannot start DTLS");
                self.dtls_failed = true;
            }
        }
    }

    /// Moves everything that became ready between the layers, then derives the states.
    pub(super) fn pump(&mut self, now: Instant) {
        while let Some(event) = self.ice.poll_event() {
            match event {
                IceEvent::StateChanged(s) => self.set_ice_state(w3c_ice_state(s)),
                IceEvent::SelectedPairChanged { local, remote } => {
                    debug!(%local, %remote, "selected candidate pair");
                    // Data over a relayed pair travels as ChannelData from now on.
                    self.gatherer.bind_channel(now, local, remote);
                }
                IceEvent::RemoteCandidateLearned(c) => trace!(candidate = %c, "peer-reflexive candidate"),
            }
        }
        self.drain_gather_events(now);
        self.start_dtls(now);
        let data_negotiated = self.local.as_ref().is_some_and(|l| {
            l.sections
                .iter()
                .any(|s| matches!(s, crate::jsep::LocalSection::Data { .. }))
        }) && self
            .remote
            .as_ref()
            .is_some_and(|r| r.sections.iter().any(|s| s.is_data && !s.rejected));
        let mut srtp_keys = None;
        if let Some(dtls) = &mut self.dtls {
            while let Some(event) = dtls.poll_event() {
                match event {
                    DtlsEvent::Connected { srtp } if !data_negotiated => {
                        debug!("DTLS connected; no data section negotiated, so no SCTP association");
                        srtp_keys = Some(srtp);
                    }
                    DtlsEvent::Connected { srtp } => srtp_keys = Some(srtp),
                    DtlsEvent::Data(packet) => self.channels.handle_receive(now, &packet),
                    DtlsEvent::Closed => self.channels.close_all(),
                    DtlsEvent::Failed(e) => debug!(error = %e, "DTLS failed"),
                }
            }
        }
        if let Some(keys) = srtp_keys {
            self.start_srtp(keys, now);
        }
        // The association starts once DTLS is up and a data section is negotiated, which a
        // renegotiation may add to a connection that so far carried media only.
        let dtls_up = self
            .dtls
            .as_ref()
            .is_some_and(|d| d.state() == crate::dtls::DtlsState::Connected);
        if data_negotiated && dtls_up && !self.channels.is_started() {
            let remote = self.remote.as_ref();
            let port = remote.and_then(|r| r.sctp_port).unwrap_or(crate::jsep::SCTP_PORT);
            let max = remote
                .and_then(|r| r.max_message_size)
                .unwrap_or(crate::jsep::DEFAULT_REMOTE_MAX_MESSAGE_SIZE);
            self.channels
                .start(self.dtls_role == Some(DtlsRole::Client), port, max, now);
        }
        // SCTP is not drained here but in `poll_transmit`: a batch of received packets and sends
        // then costs one pass over sctp-proto's in-flight chunks, not one per input.
        self.drain_channel_events();
        self.update_connection_state();
    }

    pub(super) fn flush_sctp(&mut self) {
        // Record by record: one drain of SCTP can yield more packets than DTLS queues.
        loop {
            self.flush_dtls();
            let Some(dtls) = &mut self.dtls else { return };
            let Some(packet) = self.channels.poll_transmit() else {
                return;
            };
            if let Err(e) = dtls.send(&packet) {
                trace!(error = %e, "SCTP packet not sent");
            }
        }
    }

    pub(super) fn flush_dtls(&mut self) {
        let Some(dtls) = &mut self.dtls else { return };
        let Some((local, remote)) = self.ice.selected_pair() else {
            return;
        };
        while let Some(contents) = dtls.poll_transmit() {
            if self.transmits.len() >= MAX_QUEUED_TRANSMITS {
                self.transmits.pop_front();
            }
            self.transmits.push_back(Transmit {
                source: local,
                destination: remote,
                contents,
            });
        }
    }

    pub(super) fn drain_channel_events(&mut self) {
        while let Some(event) = self.channels.poll_event() {
            let event = match event {
                DataChannelEvent::RemoteCreated(id) => PeerEvent::DataChannel(id),
                DataChannelEvent::Opened(id) => PeerEvent::ChannelOpen(id),
                DataChannelEvent::Message(id, m) => PeerEvent::ChannelMessage(id, m),
                DataChannelEvent::BufferedAmountLow(id) => PeerEvent::ChannelBufferedAmountLow(id),
                DataChannelEvent::Closing(id) => PeerEvent::ChannelClosing(id),
                DataChannelEvent::Closed(id) => PeerEvent::ChannelClose(id),
                DataChannelEvent::Error(id, e) => PeerEvent::ChannelError(id, e.to_string()),
            };
            self.push_event(event);
        }
    }

    pub(super) fn update_connection_state(&mut self) {
        use crate::dtls::DtlsState;
        let dtls = self.dtls.as_ref().map(|d| d.state());
        let dtls_state = match dtls {
            _ if self.dtls_failed => DtlsTransportState::Failed,
            None | Some(DtlsState::New) => DtlsTransportState::New,
            Some(DtlsState::Connecting) => DtlsTransportState::Connecting,
            Some(DtlsState::Connected) => DtlsTransportState::Connected,
            Some(DtlsState::Closed) => DtlsTransportState::Closed,
            Some(DtlsState::Failed) => DtlsTransportState::Failed,
        };
        if dtls_state != self.dtls_state {
            debug!(from = %self.dtls_state, to = %dtls_state, "DTLS transport state");
            self.dtls_state = dtls_state;
            self.push_event(PeerEvent::DtlsStateChange(dtls_state));
        }
        let state = match (self.ice_state, dtls) {
            _ if self.dtls_failed => PeerConnectionState::Failed,
            (IceConnectionState::Failed, _) | (_, Some(DtlsState::Failed)) => PeerConnectionState::Failed,
            (IceConnectionState::Disconnected, _) => PeerConnectionState::Disconnected,
            // W3C webrtc-pc §4.3.3: a DTLS transport the peer closed counts as connected;
            // consent freshness then tells whether the path is still alive.
            (
                IceConnectionState::Connected | IceConnectionState::Completed,
                Some(DtlsState::Connected | DtlsState::Closed),
            ) => PeerConnectionState::Connected,
            (IceConnectionState::New, None | Some(DtlsState::New)) => PeerConnectionState::New,
            _ => PeerConnectionState::Connecting,
        };
        self.set_connection_state(state);
    }

    pub(super) fn set_signaling(&mut self, state: SignalingState) {
        if self.signaling != state {
            self.signaling = state;
            self.push_event(PeerEvent::SignalingStateChange(state));
            if state == SignalingState::Stable {
                self.negotiation_needed = false;
            }
        }
    }

    pub(super) fn set_gathering(&mut self, state: IceGatheringState) {
        if self.gathering != state {
            self.gathering = state;
            self.push_event(PeerEvent::IceGatheringStateChange(state));
        }
    }

    pub(super) fn set_ice_state(&mut self, state: IceConnectionState) {
        if self.ice_state != state {
            self.ice_state = state;
            self.push_event(PeerEvent::IceConnectionStateChange(state));
        }
    }

    pub(super) fn set_connection_state(&mut self, state: PeerConnectionState) {
        if self.state != state && self.state != PeerConnectionState::Failed {
            self.state = state;
            self.push_event(PeerEvent::ConnectionStateChange(state));
        }
    }

    pub(super) fn push_event(&mut self, event: PeerEvent) {
        if self.closed {
            return;
        }
        if self.events.len() >= MAX_QUEUED_EVENTS {
            self.events.pop_front();
            self.drops.events += 1;
        }
        self.events.push_back(event);
    }
}

/// The agent's state as `RTCIceConnectionState` (one transport: they coincide).
fn w3c_ice_state(s: crate::ice::IceConnectionState) -> IceConnectionState {
    use crate::ice::IceConnectionState as S;
    match s {
        S::New => IceConnectionState::New,
        S::Checking => IceConnectionState::Checking,
        S::Connected => IceConnectionState::Connected,
        S::Completed => IceConnectionState::Completed,
        S::Disconnected => IceConnectionState::Disconnected,
        S::Failed => IceConnectionState::Failed,
        S::Closed => IceConnectionState::Closed,
    }
}
