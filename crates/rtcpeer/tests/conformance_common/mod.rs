//! Helpers of the runtime conformance and leak tests: loopback peers that signal without
//! trickle (each reads the other's complete description), so that no task holds a handle of
//! the other connection and dropping a test's handles ends both connections. The constants and
//! the panicking offer/answer helper are the trickle helpers' own ([`common`]).
#![allow(dead_code)]

#[path = "../common/mod.rs"]
mod common;

use std::time::Duration;

use rtcpeer::{
    Certificate, DataChannelEvent, DataChannelInit, DataChannelMessage, MdnsResolver, PeerConnectionEvent,
    RTCCertificate, RTCConfiguration, RTCDataChannel, RTCPeerConnection, RtcError,
};
use tokio::time::timeout;

// Not every test binary that includes this module uses each of them.
#[allow(unused_imports)]
pub use common::{negotiate, LOOPBACK, PATIENCE};

/// A connection bound to loopback only, with mDNS off (nothing leaves the machine).
pub async fn loopback_peer(certificate: Option<Certificate>) -> RTCPeerConnection {
    let config = RTCConfiguration {
        certificates: certificate.into_iter().map(RTCCertificate::from).collect(),
        mdns: MdnsResolver::disabled(),
        ..RTCConfiguration::bound_to([LOOPBACK])
    };
    RTCPeerConnection::new(config).await.expect("a loopback connection")
}

/// Two connected peers and the open channel between them.
pub struct Connected {
    pub offerer: RTCPeerConnection,
    pub answerer: RTCPeerConnection,
    pub offerer_channel: RTCDataChannel,
    pub answerer_channel: RTCDataChannel,
}

/// The next event of `pc` that `pick` keeps, skipping the others.
pub async fn next_matching<T>(
    pc: &mut RTCPeerConnection,
    mut pick: impl FnMut(PeerConnectionEvent) -> Option<T>,
) -> Result<T, String> {
    let found = timeout(PATIENCE, async {
        while let Some(event) = pc.next_event().await {
            if let Some(found) = pick(event) {
                return Some(found);
            }
        }
        None
    })
    .await;
    match found {
        Ok(Some(found)) => Ok(found),
        Ok(None) => Err("the event stream ended".into()),
        Err(_) => Err("timed out".into()),
    }
}

/// Offer/answer with complete descriptions (host candidates included), then waits for the
/// channel to open on both sides.
pub async fn connect(certificates: Option<(Certificate, Certificate)>) -> Result<Connected, String> {
    let (ca, cb) = match certificates {
        Some((a, b)) => (Some(a), Some(b)),
        None => (None, None),
    };
    let offerer = loopback_peer(ca).await;
    let mut answerer = loopback_peer(cb).await;
    let e = |what: &'static str| move |err: RtcError| format!("{what}: {err}");
    let mut offerer_channel = offerer
        .create_data_channel("chat", DataChannelInit::default())
        .await
        .map_err(e("createDataChannel"))?;
    offerer.set_local_description(None).await.map_err(e("offerer SLD"))?;
    let offer = offerer
        .local_description()
        .await
        .map_err(e("offer"))?
        .ok_or("no offer")?;
    answerer
        .set_remote_description(offer)
        .await
        .map_err(e("answerer SRD"))?;
    answerer.set_local_description(None).await.map_err(e("answerer SLD"))?;
    let answer = answerer
        .local_description()
        .await
        .map_err(e("answer"))?
        .ok_or("no answer")?;
    offerer.set_remote_description(answer).await.map_err(e("offerer SRD"))?;
    let answerer_channel = next_matching(&mut answerer, |event| match event {
        PeerConnectionEvent::DataChannel(channel) => Some(channel),
        _ => None,
    })
    .await?;
    match timeout(PATIENCE, offerer_channel.next_event()).await {
        Ok(Some(DataChannelEvent::Open)) => {}
        other => return Err(format!("the offerer's channel did not open: {other:?}")),
    }
    Ok(Connected {
        offerer,
        answerer,
        offerer_channel,
        answerer_channel,
    })
}

/// Sends `text` from the offerer and waits for it on the answerer.
pub async fn one_message(pair: &mut Connected, text: &str) -> Result<(), String> {
    pair.offerer_channel
        .send_text(text)
        .await
        .map_err(|e| format!("send: {e}"))?;
    loop {
        match timeout(PATIENCE, pair.answerer_channel.next_event()).await {
            Ok(Some(DataChannelEvent::Message(DataChannelMessage::Text(t)))) if t == text => return Ok(()),
            Ok(Some(DataChannelEvent::Open)) => continue,
            other => return Err(format!("no message: {other:?}")),
        }
    }
}

/// Open file descriptors of this process.
pub fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map(|d| d.count()).unwrap_or(0)
}

/// Resident memory of this process, in KiB.
pub fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Tasks alive on the current tokio runtime.
pub fn alive_tasks() -> usize {
    tokio::runtime::Handle::current().metrics().num_alive_tasks()
}

/// Waits (up to `PATIENCE`) until `check` holds; returns whether it did.
pub async fn eventually(mut check: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while tokio::time::Instant::now() < deadline {
        if check() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    check()
}
