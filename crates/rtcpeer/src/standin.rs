//! THROWAWAY stand-in for `rtcpeer_proto::peer::PeerConnection` with the agreed
//! signatures, so the runtime can be built and its plumbing exercised before the
//! real core lands on main. It speaks a toy protocol (no ICE checks, DTLS or SCTP)
//! and is deleted as soon as the real core is merged.
#![allow(missing_docs, dead_code)]

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

pub use rtcpeer_proto::net::{Receive, Transmit};
pub use rtcpeer_proto::peer::{
    BundlePolicy, IceCandidateInit, IceConnectionState, IceGatheringState, IceTransportPolicy, PeerConnectionState,
    RtcError, SdpType, SessionDescriptionInit, SignalingState,
};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Certificate;

#[derive(Debug, Clone)]
pub struct PeerConfig {
    pub certificate: Option<Certificate>,
    pub bundle_policy: BundlePolicy,
    pub ice_transport_policy: IceTransportPolicy,
}

impl Default for PeerConfig {
    fn default() -> Self {
        PeerConfig {
            certificate: None,
            bundle_policy: BundlePolicy::MaxBundle,
            ice_transport_policy: IceTransportPolicy::All,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ChannelId(u16);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataChannelInit {
    pub ordered: bool,
    pub max_packet_life_time: Option<u16>,
    pub max_retransmits: Option<u16>,
    pub protocol: String,
    pub negotiated: bool,
    pub id: Option<u16>,
}

impl Default for DataChannelInit {
    fn default() -> Self {
        DataChannelInit {
            ordered: true,
            max_packet_life_time: None,
            max_retransmits: None,
            protocol: String::new(),
            negotiated: false,
            id: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataChannelMessage {
    Text(String),
    Binary(Vec<u8>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataChannelState {
    Connecting,
    Open,
    Closing,
    Closed,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataChannelInfo {
    pub label: String,
    pub protocol: String,
    pub ordered: bool,
    pub max_retransmits: Option<u16>,
    pub max_packet_life_time: Option<u16>,
    pub negotiated: bool,
    pub stream_id: Option<u16>,
    pub state: DataChannelState,
    pub buffered_amount: usize,
    pub buffered_amount_low_threshold: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerEvent {
    IceCandidate(Option<IceCandidateInit>),
    IceGatheringStateChange(IceGatheringState),
    IceConnectionStateChange(IceConnectionState),
    ConnectionStateChange(PeerConnectionState),
    SignalingStateChange(SignalingState),
    NegotiationNeeded,
    DataChannel(ChannelId),
    ChannelOpen(ChannelId),
    ChannelMessage(ChannelId, DataChannelMessage),
    ChannelBufferedAmountLow(ChannelId),
    ChannelClosing(ChannelId),
    ChannelClose(ChannelId),
    ChannelError(ChannelId, String),
}

pub struct PeerConnection {
    locals: Vec<SocketAddr>,
    remote: Option<SocketAddr>,
    signaling: SignalingState,
    gathering: IceGatheringState,
    connected: bool,
    closed: bool,
    offerer: Option<bool>,
    next_id: u16,
    channels: HashMap<ChannelId, DataChannelInfo>,
    events: VecDeque<PeerEvent>,
    transmits: VecDeque<Transmit>,
    next_ping: Option<Instant>,
    local: Option<SessionDescriptionInit>,
    remote_desc: Option<SessionDescriptionInit>,
}

impl PeerConnection {
    pub fn new(_config: PeerConfig, _now: Instant) -> Result<PeerConnection, RtcError> {
        Ok(PeerConnection {
            locals: Vec::new(),
            remote: None,
            signaling: SignalingState::Stable,
            gathering: IceGatheringState::New,
            connected: false,
            closed: false,
            offerer: None,
            next_id: 0,
            channels: HashMap::new(),
            events: VecDeque::new(),
            transmits: VecDeque::new(),
            next_ping: None,
            local: None,
            remote_desc: None,
        })
    }
    fn check(&self) -> Result<(), RtcError> {
        if self.closed {
            Err(RtcError::InvalidState("closed".into()))
        } else {
            Ok(())
        }
    }
    pub fn add_local_address(&mut self, addr: SocketAddr) {
        self.locals.push(addr);
    }
    pub fn create_offer(&mut self) -> Result<SessionDescriptionInit, RtcError> {
        self.check()?;
        Ok(SessionDescriptionInit::offer("v=0\r\ns=standin\r\n"))
    }
    pub fn create_answer(&mut self) -> Result<SessionDescriptionInit, RtcError> {
        self.check()?;
        if self.signaling != SignalingState::HaveRemoteOffer {
            return Err(RtcError::InvalidState("no remote offer".into()));
        }
        Ok(SessionDescriptionInit::answer("v=0\r\ns=standin\r\n"))
    }
    fn set_signaling(&mut self, s: SignalingState) {
        self.signaling = s;
        self.events.push_back(PeerEvent::SignalingStateChange(s));
    }
    pub fn set_local_description(
        &mut self,
        _now: Instant,
        desc: Option<SessionDescriptionInit>,
    ) -> Result<(), RtcError> {
        self.check()?;
        let desc = match desc {
            Some(d) => d,
            None if self.signaling == SignalingState::HaveRemoteOffer => self.create_answer()?,
            None => self.create_offer()?,
        };
        match desc.kind {
            SdpType::Offer => {
                self.offerer = Some(true);
                self.set_signaling(SignalingState::HaveLocalOffer)
            }
            SdpType::Answer => self.set_signaling(SignalingState::Stable),
            _ => return Err(RtcError::NotSupported("standin".into())),
        }
        self.local = Some(desc);
        if self.gathering == IceGatheringState::New {
            self.gathering = IceGatheringState::Gathering;
            self.events
                .push_back(PeerEvent::IceGatheringStateChange(self.gathering));
            for (i, a) in self.locals.iter().enumerate() {
                self.events.push_back(PeerEvent::IceCandidate(Some(IceCandidateInit {
                    candidate: format!("candidate:{i} 1 udp 2130706431 {} {} typ host", a.ip(), a.port()),
                    sdp_mid: Some("0".into()),
                    sdp_m_line_index: Some(0),
                    username_fragment: None,
                })));
            }
            self.events.push_back(PeerEvent::IceCandidate(None));
            self.gathering = IceGatheringState::Complete;
            self.events
                .push_back(PeerEvent::IceGatheringStateChange(self.gathering));
        }
        Ok(())
    }
    pub fn set_remote_description(&mut self, _now: Instant, desc: SessionDescriptionInit) -> Result<(), RtcError> {
        self.check()?;
        match desc.kind {
            SdpType::Offer => {
                self.offerer = Some(false);
                self.set_signaling(SignalingState::HaveRemoteOffer)
            }
            SdpType::Answer => self.set_signaling(SignalingState::Stable),
            _ => return Err(RtcError::NotSupported("standin".into())),
        }
        self.remote_desc = Some(desc);
        Ok(())
    }
    pub fn add_ice_candidate(&mut self, now: Instant, candidate: Option<IceCandidateInit>) -> Result<(), RtcError> {
        self.check()?;
        let Some(c) = candidate.filter(|c| !c.candidate.is_empty()) else {
            return Ok(());
        };
        let parts: Vec<&str> = c.candidate.split_whitespace().collect();
        let addr = match (parts.get(4), parts.get(5)) {
            (Some(ip), Some(port)) => format!("{ip}:{port}").parse().ok(),
            _ => None,
        };
        let addr: SocketAddr = addr.ok_or_else(|| RtcError::Operation("bad candidate".into()))?;
        if self.remote.is_none() {
            self.remote = Some(addr);
            self.events
                .push_back(PeerEvent::IceConnectionStateChange(IceConnectionState::Checking));
            self.events
                .push_back(PeerEvent::ConnectionStateChange(PeerConnectionState::Connecting));
            self.next_ping = Some(now);
        }
        Ok(())
    }
    pub fn local_description(&self) -> Option<SessionDescriptionInit> {
        self.local.clone()
    }
    pub fn remote_description(&self) -> Option<SessionDescriptionInit> {
        self.remote_desc.clone()
    }
    pub fn signaling_state(&self) -> SignalingState {
        self.signaling
    }
    pub fn ice_gathering_state(&self) -> IceGatheringState {
        self.gathering
    }
    pub fn ice_connection_state(&self) -> IceConnectionState {
        if self.closed {
            IceConnectionState::Closed
        } else if self.connected {
            IceConnectionState::Connected
        } else {
            IceConnectionState::New
        }
    }
    pub fn connection_state(&self) -> PeerConnectionState {
        if self.closed {
            PeerConnectionState::Closed
        } else if self.connected {
            PeerConnectionState::Connected
        } else {
            PeerConnectionState::New
        }
    }
    pub fn create_data_channel(&mut self, label: &str, init: DataChannelInit) -> Result<ChannelId, RtcError> {
        self.check()?;
        let id = ChannelId(self.next_id);
        self.next_id += 2;
        self.channels.insert(
            id,
            DataChannelInfo {
                label: label.into(),
                protocol: init.protocol,
                ordered: init.ordered,
                max_retransmits: init.max_retransmits,
                max_packet_life_time: init.max_packet_life_time,
                negotiated: init.negotiated,
                stream_id: None,
                state: DataChannelState::Connecting,
                buffered_amount: 0,
                buffered_amount_low_threshold: 0,
            },
        );
        if self.connected {
            self.open(id);
        }
        Ok(id)
    }
    fn datagram(&mut self, contents: Vec<u8>) {
        if let (Some(&source), Some(destination)) = (self.locals.first(), self.remote) {
            self.transmits.push_back(Transmit {
                source,
                destination,
                contents,
            });
        }
    }
    fn open(&mut self, id: ChannelId) {
        let Some(info) = self.channels.get_mut(&id) else { return };
        if info.state != DataChannelState::Connecting {
            return;
        }
        let offset = if self.offerer == Some(true) { 0 } else { 1 };
        info.stream_id = Some(id.0 + offset);
        info.state = DataChannelState::Open;
        let mut d = b"O".to_vec();
        d.extend_from_slice(&(id.0 + offset).to_be_bytes());
        d.extend_from_slice(info.label.as_bytes());
        self.datagram(d);
        self.events.push_back(PeerEvent::ChannelOpen(id));
    }
    pub fn send(&mut self, channel: ChannelId, message: &DataChannelMessage) -> Result<(), RtcError> {
        self.check()?;
        let info = self
            .channels
            .get(&channel)
            .ok_or_else(|| RtcError::InvalidState("no channel".into()))?;
        if info.state != DataChannelState::Open {
            return Err(RtcError::InvalidState("not open".into()));
        }
        let sid = info.stream_id.unwrap_or(0);
        let mut d = b"M".to_vec();
        d.extend_from_slice(&sid.to_be_bytes());
        match message {
            DataChannelMessage::Text(t) => {
                d.push(b't');
                d.extend_from_slice(t.as_bytes())
            }
            DataChannelMessage::Binary(b) => {
                d.push(b'b');
                d.extend_from_slice(b)
            }
        }
        self.datagram(d);
        Ok(())
    }
    pub fn close_data_channel(&mut self, channel: ChannelId) {
        if let Some(info) = self.channels.get_mut(&channel) {
            info.state = DataChannelState::Closed;
            self.events.push_back(PeerEvent::ChannelClose(channel));
        }
    }
    pub fn data_channel(&self, channel: ChannelId) -> Option<DataChannelInfo> {
        self.channels.get(&channel).cloned()
    }
    pub fn set_buffered_amount_low_threshold(&mut self, channel: ChannelId, threshold: usize) {
        if let Some(info) = self.channels.get_mut(&channel) {
            info.buffered_amount_low_threshold = threshold;
        }
    }
    fn by_stream(&self, sid: u16) -> Option<ChannelId> {
        self.channels
            .iter()
            .find(|(_, i)| i.stream_id == Some(sid))
            .map(|(id, _)| *id)
    }
    pub fn handle_receive(&mut self, _now: Instant, datagram: Receive<'_>) {
        if self.closed {
            return;
        }
        let c = datagram.contents;
        match c {
            b"PING" | b"PONG" => {
                if c == b"PING" {
                    if self.remote.is_none() {
                        self.remote = Some(datagram.source);
                    }
                    self.datagram(b"PONG".to_vec());
                }
                if !self.connected {
                    self.connected = true;
                    self.next_ping = None;
                    self.events
                        .push_back(PeerEvent::IceConnectionStateChange(IceConnectionState::Connected));
                    self.events
                        .push_back(PeerEvent::ConnectionStateChange(PeerConnectionState::Connected));
                    let ids: Vec<ChannelId> = self.channels.keys().copied().collect();
                    for id in ids {
                        self.open(id);
                    }
                }
            }
            [b'O', a, b, label @ ..] => {
                let sid = u16::from_be_bytes([*a, *b]);
                let id = ChannelId(sid | 0x8000);
                self.channels.insert(
                    id,
                    DataChannelInfo {
                        label: String::from_utf8_lossy(label).into_owned(),
                        protocol: String::new(),
                        ordered: true,
                        max_retransmits: None,
                        max_packet_life_time: None,
                        negotiated: false,
                        stream_id: Some(sid),
                        state: DataChannelState::Open,
                        buffered_amount: 0,
                        buffered_amount_low_threshold: 0,
                    },
                );
                self.events.push_back(PeerEvent::DataChannel(id));
                self.events.push_back(PeerEvent::ChannelOpen(id));
            }
            [b'M', a, b, kind, payload @ ..] => {
                let Some(id) = self.by_stream(u16::from_be_bytes([*a, *b])) else {
                    return;
                };
                let m = if *kind == b't' {
                    DataChannelMessage::Text(String::from_utf8_lossy(payload).into_owned())
                } else {
                    DataChannelMessage::Binary(payload.to_vec())
                };
                self.events.push_back(PeerEvent::ChannelMessage(id, m));
            }
            _ => {}
        }
    }
    pub fn handle_timeout(&mut self, now: Instant) {
        if let Some(t) = self.next_ping {
            if now >= t && !self.connected {
                self.datagram(b"PING".to_vec());
                self.next_ping = Some(now + Duration::from_millis(50));
            }
        }
    }
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }
    pub fn poll_event(&mut self) -> Option<PeerEvent> {
        self.events.pop_front()
    }
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.next_ping
    }
    pub fn close(&mut self) {
        if !self.closed {
            self.closed = true;
            let ids: Vec<ChannelId> = self.channels.keys().copied().collect();
            for id in ids {
                self.close_data_channel(id);
            }
            self.signaling = SignalingState::Closed;
        }
    }
}
