//! The served peers: one [`RTCPeerConnection`] per offer, kept in a bounded table
//! until it closes or fails.
//!
//! Each session has a task that reads the connection's events: it echoes every
//! channel the remote opens, opens the server's own `rtcpeer` channel once the
//! connection is up and greets on it, and removes the session from the table
//! when the connection ends.

use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rtcpeer::{
    DataChannelEvent, DataChannelInit, DtlsTransportState, IceCandidateInit, IceGatheringState, PeerConnectionEvent,
    PeerConnectionState, RTCConfiguration, RTCDataChannel, RTCPeerConnection, RtcError, SdpType,
    SessionDescriptionInit,
};
use tokio::sync::oneshot;
use tokio::time::Instant;
use tracing::{debug, info, warn};

use super::media::{MediaConfig, SessionMedia};
use crate::echo::{self, EchoTotals, Say};

/// The label of the channel the server opens on every connection.
pub const GREETING_CHANNEL: &str = "rtcpeer";

/// The one message the server sends on its own channel.
pub const GREETING: &str = "hello from rtcpeer";

/// How the sessions are made and bounded.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// The addresses the peers bind their UDP sockets on; empty means every usable interface.
    pub bind: Vec<IpAddr>,
    /// STUN/TURN servers and the relay-only policy.
    pub ice: crate::ice_options::IceOptions,
    /// At most this many sessions at once; one more is refused.
    pub max_sessions: usize,
    /// How long an answer waits for ICE gathering to complete before it is sent as it is.
    pub gathering_timeout: Duration,
    /// A session that has not connected after this long is closed.
    pub connect_timeout: Duration,
    /// A session that stays `disconnected` this long is closed (it would reach `failed` only
    /// when ICE consent expires, 30 s after the remote went away).
    pub disconnect_timeout: Duration,
    /// What the sessions do with media (record, play, reflect).
    pub media: Arc<MediaConfig>,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            bind: Vec::new(),
            ice: Default::default(),
            max_sessions: 64,
            gathering_timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(30),
            disconnect_timeout: Duration::from_secs(10),
            media: Arc::default(),
        }
    }
}

/// Why a session could not be opened or changed.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The table is full.
    #[error("too many sessions (at most {0})")]
    Full(usize),
    /// The description was not an offer.
    #[error("expected a description of type \"offer\", got {0:?}")]
    NotAnOffer(&'static str),
    /// The peer refused what the client sent (an SDP it cannot parse or accept, a bad candidate).
    #[error("{0}")]
    Rejected(RtcError),
    /// The server could not make a peer (for example no UDP socket could be bound).
    #[error("cannot create a peer: {0}")]
    Internal(RtcError),
    /// No session has this id.
    #[error("no session {0:?}")]
    Unknown(String),
}

/// The live sessions by id.
#[derive(Debug)]
pub struct Sessions {
    config: SessionConfig,
    table: Mutex<HashMap<String, RTCPeerConnection>>,
}

/// A fresh 128-bit id in hex, from the standard library's randomly keyed hasher
/// (unguessable enough that one client cannot name another's session).
fn new_id() -> String {
    let mut id = String::with_capacity(32);
    for _ in 0..2 {
        let mut hasher = RandomState::new().build_hasher();
        hasher.write_u64(0x0072_7463_7065_6572);
        id.push_str(&format!("{:016x}", hasher.finish()));
    }
    id
}

impl Sessions {
    /// An empty table.
    pub fn new(config: SessionConfig) -> Arc<Self> {
        Arc::new(Sessions {
            config,
            table: Mutex::new(HashMap::new()),
        })
    }

    fn table(&self) -> std::sync::MutexGuard<'_, HashMap<String, RTCPeerConnection>> {
        // The table holds plain handles; a panic elsewhere leaves it consistent.
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// How many sessions are live.
    pub fn len(&self) -> usize {
        self.table().len()
    }

    /// Answers `offer` with a new peer and returns the session's id and the answer,
    /// which carries every local candidate (gathering has completed, or timed out).
    pub async fn open(
        self: &Arc<Self>,
        offer: SessionDescriptionInit,
    ) -> Result<(String, SessionDescriptionInit), SessionError> {
        if offer.kind != SdpType::Offer {
            return Err(SessionError::NotAnOffer(offer.kind.as_str()));
        }
        if self.len() >= self.config.max_sessions {
            return Err(SessionError::Full(self.config.max_sessions));
        }
        let config = if self.config.bind.is_empty() {
            RTCConfiguration::default()
        } else {
            RTCConfiguration::bound_to(self.config.bind.iter().copied())
        };
        let config = self.config.ice.apply(config);
        let mut pc = RTCPeerConnection::new(config).await.map_err(SessionError::Internal)?;
        let id = new_id();
        let inserted = {
            let mut table = self.table();
            let room = table.len() < self.config.max_sessions;
            if room {
                table.insert(id.clone(), pc.clone());
            }
            room
        };
        if !inserted {
            pc.close().await;
            return Err(SessionError::Full(self.config.max_sessions));
        }
        let (gathered_tx, gathered_rx) = oneshot::channel();
        let media = SessionMedia::new(self.config.media.clone(), &id);
        match pc.take_events() {
            Some(events) => {
                let session = Session {
                    sessions: self.clone(),
                    id: id.clone(),
                    pc: pc.clone(),
                    media: media.clone(),
                };
                tokio::spawn(run(session, events, gathered_tx));
            }
            None => {
                self.close(&id).await.ok();
                return Err(SessionError::Internal(RtcError::InvalidState("no event stream".into())));
            }
        }
        match self.negotiate(&pc, &media, offer, gathered_rx).await {
            Ok(answer) => {
                info!(session = %id, "answered");
                Ok((id, answer))
            }
            Err(error) => {
                debug!(session = %id, %error, "offer refused");
                media.abandon();
                self.close(&id).await.ok();
                Err(error)
            }
        }
    }

    async fn negotiate(
        &self,
        pc: &RTCPeerConnection,
        media: &SessionMedia,
        offer: SessionDescriptionInit,
        gathered: oneshot::Receiver<()>,
    ) -> Result<SessionDescriptionInit, SessionError> {
        let offer_sdp = offer.sdp.clone();
        pc.set_remote_description(offer).await.map_err(SessionError::Rejected)?;
        media.prepare(pc, &offer_sdp).await;
        pc.set_local_description(None).await.map_err(SessionError::Rejected)?;
        let complete = pc.ice_gathering_state().await.map_err(SessionError::Internal)? == IceGatheringState::Complete;
        if !complete
            && tokio::time::timeout(self.config.gathering_timeout, gathered)
                .await
                .is_err()
        {
            warn!("ICE gathering did not complete in time; answering with the candidates so far");
        }
        pc.local_description()
            .await
            .map_err(SessionError::Internal)?
            .ok_or_else(|| SessionError::Internal(RtcError::InvalidState("no local description".into())))
    }

    /// Adds the remote's trickled candidates (`None` entries are end-of-candidates) to session `id`.
    pub async fn add_candidates(
        &self,
        id: &str,
        candidates: Vec<Option<IceCandidateInit>>,
    ) -> Result<(), SessionError> {
        let pc = self
            .table()
            .get(id)
            .cloned()
            .ok_or_else(|| SessionError::Unknown(id.to_string()))?;
        for candidate in candidates {
            pc.add_ice_candidate(candidate).await.map_err(SessionError::Rejected)?;
        }
        Ok(())
    }

    /// The remote description's ICE username fragment of session `id`, if it has one.
    pub async fn remote_ufrag(&self, id: &str) -> Result<Option<String>, SessionError> {
        let pc = self
            .table()
            .get(id)
            .cloned()
            .ok_or_else(|| SessionError::Unknown(id.to_string()))?;
        let remote = pc.remote_description().await.map_err(SessionError::Internal)?;
        Ok(remote.and_then(|d| {
            d.sdp
                .lines()
                .find_map(|l| l.trim_end().strip_prefix("a=ice-ufrag:").map(str::to_string))
        }))
    }

    /// Closes session `id` and removes it from the table.
    pub async fn close(&self, id: &str) -> Result<(), SessionError> {
        let pc = self
            .table()
            .remove(id)
            .ok_or_else(|| SessionError::Unknown(id.to_string()))?;
        pc.close().await;
        info!(session = %id, "closed");
        Ok(())
    }

    fn forget(&self, id: &str) {
        if self.table().remove(id).is_some() {
            debug!(session = %id, "removed from the table");
        }
    }
}

/// What a session's event task works on.
struct Session {
    sessions: Arc<Sessions>,
    id: String,
    pc: RTCPeerConnection,
    media: Arc<SessionMedia>,
}

/// Reads one session's events until its connection ends, then removes it from the table.
async fn run(session: Session, mut events: rtcpeer::Events<PeerConnectionEvent>, gathered: oneshot::Sender<()>) {
    let Session {
        sessions,
        id,
        pc,
        media,
    } = session;
    let mut gathered = Some(gathered);
    let mut greeted = false;
    // Until connected, the connect deadline; while disconnected, the disconnect deadline.
    let mut deadline = Some(Instant::now() + sessions.config.connect_timeout);
    loop {
        let expiry = deadline.unwrap_or_else(Instant::now);
        let event = tokio::select! {
            event = events.recv() => event,
            () = pc.closed() => None,
            () = tokio::time::sleep_until(expiry), if deadline.is_some() => {
                warn!(session = %id, "not connected (or not back from disconnected) in time; closing");
                break;
            }
        };
        let Some(event) = event else { break };
        match event {
            PeerConnectionEvent::IceGatheringStateChange(IceGatheringState::Complete) => {
                if let Some(tx) = gathered.take() {
                    let _ = tx.send(());
                }
            }
            PeerConnectionEvent::DataChannel(channel) => {
                info!(session = %id, label = channel.label(), "remote opened a channel");
                tokio::spawn(echo::echo_channel(channel, Arc::default(), log_say()));
            }
            PeerConnectionEvent::Track(track) => media.track(track),
            PeerConnectionEvent::KeyframeRequested(transceiver, _) => media.keyframe_requested(transceiver),
            PeerConnectionEvent::CodecNotNegotiated(transceiver, codec) => {
                warn!(session = %id, ?transceiver, %codec, "the answer does not carry this track's codec; not sent");
            }
            PeerConnectionEvent::ConnectionStateChange(state) => {
                info!(session = %id, %state, "connection state");
                match state {
                    PeerConnectionState::Connected => {
                        deadline = None;
                        if !greeted {
                            greeted = true;
                            match pc
                                .create_data_channel(GREETING_CHANNEL, DataChannelInit::default())
                                .await
                            {
                                Ok(channel) => {
                                    tokio::spawn(greet(channel));
                                }
                                Err(error) => warn!(session = %id, %error, "cannot open the greeting channel"),
                            }
                        }
                    }
                    PeerConnectionState::Disconnected => {
                        deadline = Some(Instant::now() + sessions.config.disconnect_timeout);
                    }
                    PeerConnectionState::Failed | PeerConnectionState::Closed => break,
                    _ => {}
                }
            }
            // The peer's close() sent close_notify: nothing more will come, so the session ends
            // now rather than when ICE consent expires (the connection state stays "connected").
            PeerConnectionEvent::DtlsStateChange(DtlsTransportState::Closed) => {
                info!(session = %id, "the peer closed the connection");
                break;
            }
            _ => {}
        }
    }
    sessions.forget(&id);
    pc.close().await;
    debug!(session = %id, "session ended");
}

/// Sends [`GREETING`] once the channel is open, then echoes what the remote sends on it.
async fn greet(mut channel: RTCDataChannel) {
    loop {
        match channel.next_event().await {
            Some(DataChannelEvent::Open) => break,
            Some(DataChannelEvent::Close) | None => return,
            Some(_) => {}
        }
    }
    if let Err(error) = channel.send_text(GREETING).await {
        warn!(%error, "cannot send the greeting");
        return;
    }
    echo::echo_channel(channel, Arc::<EchoTotals>::default(), log_say()).await;
}

/// The echo's progress lines go to the debug log: a server has no console to talk to.
fn log_say() -> Say {
    Arc::new(|line: String| debug!("{line}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_long_hex_and_distinct() {
        let ids: Vec<String> = (0..100).map(|_| new_id()).collect();
        for id in &ids {
            assert_eq!(id.len(), 32);
            assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
        }
        let mut unique = ids.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), ids.len());
    }

    #[tokio::test]
    async fn an_answer_is_refused_as_an_offer() {
        let sessions = Sessions::new(SessionConfig::default());
        let error = sessions
            .open(SessionDescriptionInit::answer("v=0\r\n"))
            .await
            .expect_err("not an offer");
        assert!(matches!(error, SessionError::NotAnOffer("answer")));
        assert_eq!(sessions.len(), 0);
    }

    #[tokio::test]
    async fn a_broken_offer_leaves_no_session() {
        let sessions = Sessions::new(SessionConfig {
            bind: vec![IpAddr::from([127, 0, 0, 1])],
            ..SessionConfig::default()
        });
        let error = sessions
            .open(SessionDescriptionInit::offer("v=0\r\nthis is not sdp\r\n"))
            .await
            .expect_err("broken");
        assert!(matches!(error, SessionError::Rejected(_)), "{error:?}");
        assert_eq!(sessions.len(), 0);
    }

    #[tokio::test]
    async fn unknown_ids_are_reported() {
        let sessions = Sessions::new(SessionConfig::default());
        assert!(matches!(sessions.close("nope").await, Err(SessionError::Unknown(_))));
        assert!(matches!(
            sessions.add_candidates("nope", vec![None]).await,
            Err(SessionError::Unknown(_))
        ));
    }

    fn loopback_sessions(connect_timeout: Duration) -> Arc<Sessions> {
        Sessions::new(SessionConfig {
            bind: vec![IpAddr::from([127, 0, 0, 1])],
            connect_timeout,
            ..SessionConfig::default()
        })
    }

    /// A client peer on loopback with one channel, and its complete offer.
    async fn client() -> (RTCPeerConnection, RTCDataChannel, SessionDescriptionInit) {
        let mut pc = RTCPeerConnection::new(RTCConfiguration::bound_to([IpAddr::from([127, 0, 0, 1])]))
            .await
            .expect("client");
        let mut events = pc.take_events().expect("events");
        let channel = pc
            .create_data_channel("chat", DataChannelInit::default())
            .await
            .expect("channel");
        pc.set_local_description(None).await.expect("offer");
        while pc.ice_gathering_state().await.expect("state") != IceGatheringState::Complete {
            tokio::time::timeout(Duration::from_secs(5), events.recv())
                .await
                .expect("gathering completes");
        }
        tokio::spawn(async move { while events.recv().await.is_some() {} });
        let offer = pc.local_description().await.expect("call").expect("offer");
        (pc, channel, offer)
    }

    async fn wait_until_empty(sessions: &Sessions, within: Duration) -> Duration {
        let start = tokio::time::Instant::now();
        while sessions.len() != 0 {
            assert!(
                start.elapsed() < within,
                "{} sessions left after {within:?}",
                sessions.len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        start.elapsed()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_peer_that_never_connects_is_removed() {
        let sessions = loopback_sessions(Duration::from_millis(500));
        let (client, _channel, offer) = client().await;
        // The client never applies the answer, so nothing connects.
        let (id, answer) = sessions.open(offer).await.expect("answered");
        assert_eq!(answer.kind, SdpType::Answer);
        assert_eq!(sessions.len(), 1);
        wait_until_empty(&sessions, Duration::from_secs(5)).await;
        assert!(matches!(sessions.close(&id).await, Err(SessionError::Unknown(_))));
        client.close().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_closed_session_is_removed_and_its_peer_closed() {
        let sessions = loopback_sessions(Duration::from_secs(30));
        let (client, mut channel, offer) = client().await;
        let (id, answer) = sessions.open(offer).await.expect("answered");
        client.set_remote_description(answer).await.expect("answer applied");
        loop {
            match tokio::time::timeout(Duration::from_secs(10), channel.next_event()).await {
                Ok(Some(DataChannelEvent::Open)) => break,
                Ok(Some(_)) => {}
                other => panic!("the channel did not open: {other:?}"),
            }
        }
        let server_pc = sessions.table().get(&id).cloned().expect("in the table");
        sessions.close(&id).await.expect("closed");
        assert_eq!(sessions.len(), 0);
        assert!(server_pc.is_closed());
        client.close().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_session_whose_remote_closes_is_removed_at_once() {
        // Neither timeout could end the session within the test's two seconds.
        let sessions = loopback_sessions(Duration::from_secs(30));
        let (client, mut channel, offer) = client().await;
        let (_, answer) = sessions.open(offer).await.expect("answered");
        client.set_remote_description(answer).await.expect("answer applied");
        loop {
            match tokio::time::timeout(Duration::from_secs(10), channel.next_event()).await {
                Ok(Some(DataChannelEvent::Open)) => break,
                Ok(Some(_)) => {}
                other => panic!("the channel did not open: {other:?}"),
            }
        }
        // The client's close() sends close_notify: the session ends without waiting for consent.
        client.close().await;
        let took = wait_until_empty(&sessions, Duration::from_secs(2)).await;
        assert!(took < Duration::from_secs(1), "removed only after {took:?}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_session_whose_remote_vanishes_is_removed() {
        let sessions = Sessions::new(SessionConfig {
            bind: vec![IpAddr::from([127, 0, 0, 1])],
            disconnect_timeout: Duration::from_millis(200),
            ..SessionConfig::default()
        });
        // The client runs on a runtime of its own, so that shutting that runtime down drops its
        // connection without a word (no close_notify): a peer whose machine went away.
        let client_runtime = tokio::runtime::Runtime::new().expect("client runtime");
        let (client, mut channel, offer) = client_runtime.spawn(client()).await.expect("client");
        let (_, answer) = sessions.open(offer).await.expect("answered");
        client.set_remote_description(answer).await.expect("answer applied");
        loop {
            match tokio::time::timeout(Duration::from_secs(10), channel.next_event()).await {
                Ok(Some(DataChannelEvent::Open)) => break,
                Ok(Some(_)) => {}
                other => panic!("the channel did not open: {other:?}"),
            }
        }
        client_runtime.shutdown_background();
        drop((client, channel));
        // Consent checks find the remote gone within about 5 s; 200 ms of `disconnected` later it is removed.
        let took = wait_until_empty(&sessions, Duration::from_secs(15)).await;
        assert!(took < Duration::from_secs(10), "removed only after {took:?}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_table_is_bounded() {
        let sessions = Sessions::new(SessionConfig {
            bind: vec![IpAddr::from([127, 0, 0, 1])],
            max_sessions: 1,
            ..SessionConfig::default()
        });
        let (first, _first_channel, first_offer) = client().await;
        let (second, _second_channel, second_offer) = client().await;
        let (id, _) = sessions.open(first_offer).await.expect("room for one");
        let refused = sessions.open(second_offer.clone()).await.expect_err("full");
        assert!(matches!(refused, SessionError::Full(1)), "{refused:?}");
        assert_eq!(sessions.len(), 1);
        sessions.close(&id).await.expect("closed");
        sessions.open(second_offer).await.expect("room again");
        first.close().await;
        second.close().await;
    }
}
