//! The transfers through webrtc-rs (`webrtc` 0.14): two `RTCPeerConnection`s on a multi-thread tokio
//! runtime, loopback candidates only, the offer and answer exchanged once gathering is complete.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::{mpsc, Notify};
use webrtc::api::setting_engine::SettingEngine;
use webrtc::api::APIBuilder;
use webrtc::data_channel::data_channel_message::DataChannelMessage;
use webrtc::data_channel::data_channel_state::RTCDataChannelState;
use webrtc::data_channel::RTCDataChannel;
use webrtc::ice::network_type::NetworkType;
use webrtc::peer_connection::configuration::RTCConfiguration;
use webrtc::peer_connection::RTCPeerConnection;

/// Above this many buffered bytes a sender waits for `bufferedamountlow` (the value rtcpeer uses).
const HIGH_WATER: usize = 1024 * 1024;
/// The low threshold that wakes a waiting sender.
const LOW_WATER: usize = 512 * 1024;

fn e(what: &'static str) -> impl Fn(webrtc::Error) -> String {
    move |error| format!("webrtc {what}: {error}")
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|error| format!("tokio: {error}"))
}

async fn peer() -> Result<Arc<RTCPeerConnection>, String> {
    let mut settings = SettingEngine::default();
    settings.set_include_loopback_candidate(true);
    settings.set_network_types(vec![NetworkType::Udp4]);
    settings.set_ip_filter(Box::new(|ip| ip.is_loopback()));
    let api = APIBuilder::new().with_setting_engine(settings).build();
    let pc = api
        .new_peer_connection(RTCConfiguration::default())
        .await
        .map_err(e("new_peer_connection"))?;
    Ok(Arc::new(pc))
}

/// A connected pair with open channels: `local[i]` on the offerer, `remote[i]` on the answerer.
struct Pair {
    offerer: Arc<RTCPeerConnection>,
    answerer: Arc<RTCPeerConnection>,
    local: Vec<Arc<RTCDataChannel>>,
    remote: Vec<Arc<RTCDataChannel>>,
    connect_time: Duration,
}

/// Connects two peers with `count` channels; `on_message` is installed on every answerer channel.
async fn connect(count: usize, received: Arc<AtomicU64>) -> Result<Pair, String> {
    let offerer = peer().await?;
    let answerer = peer().await?;
    let start = Instant::now();
    let (open_tx, mut open_rx) = mpsc::unbounded_channel::<()>();
    let (remote_tx, mut remote_rx) = mpsc::unbounded_channel::<Arc<RTCDataChannel>>();
    {
        let open_tx = open_tx.clone();
        answerer.on_data_channel(Box::new(move |channel: Arc<RTCDataChannel>| {
            let open_tx = open_tx.clone();
            let remote_tx = remote_tx.clone();
            let received = received.clone();
            Box::pin(async move {
                channel.on_message(Box::new(move |message: DataChannelMessage| {
                    received.fetch_add(message.data.len() as u64, Ordering::Relaxed);
                    Box::pin(async {})
                }));
                channel.on_open(Box::new(move || {
                    let _ = open_tx.send(());
                    Box::pin(async {})
                }));
                let _ = remote_tx.send(channel);
            })
        }));
    }
    let mut local = Vec::with_capacity(count);
    for i in 0..count {
        let channel = offerer
            .create_data_channel(&format!("bench-{i}"), None)
            .await
            .map_err(e("create_data_channel"))?;
        let open_tx = open_tx.clone();
        channel.on_open(Box::new(move || {
            let _ = open_tx.send(());
            Box::pin(async {})
        }));
        local.push(channel);
    }

    let offer = offerer.create_offer(None).await.map_err(e("create_offer"))?;
    let mut gathered = offerer.gathering_complete_promise().await;
    offerer
        .set_local_description(offer)
        .await
        .map_err(e("offerer set_local_description"))?;
    let _ = gathered.recv().await;
    let offer = offerer.local_description().await.ok_or("webrtc: no offer")?;
    answerer
        .set_remote_description(offer)
        .await
        .map_err(e("answerer set_remote_description"))?;
    let answer = answerer.create_answer(None).await.map_err(e("create_answer"))?;
    let mut gathered = answerer.gathering_complete_promise().await;
    answerer
        .set_local_description(answer)
        .await
        .map_err(e("answerer set_local_description"))?;
    let _ = gathered.recv().await;
    let answer = answerer.local_description().await.ok_or("webrtc: no answer")?;
    offerer
        .set_remote_description(answer)
        .await
        .map_err(e("offerer set_remote_description"))?;

    for _ in 0..2 * count {
        open_rx.recv().await.ok_or("webrtc: open events ended")?;
    }
    let connect_time = start.elapsed();
    let mut remote = Vec::with_capacity(count);
    while remote.len() < count {
        remote.push(remote_rx.recv().await.ok_or("webrtc: datachannel events ended")?);
    }
    Ok(Pair {
        offerer,
        answerer,
        local,
        remote,
        connect_time,
    })
}

async fn close(pair: Pair) {
    drop(pair.local);
    drop(pair.remote);
    let _ = pair.offerer.close().await;
    let _ = pair.answerer.close().await;
}

/// Sends on `channel` forever, keeping at most [`HIGH_WATER`] bytes buffered.
async fn send_loop(channel: Arc<RTCDataChannel>, payload: Bytes) {
    let low = Arc::new(Notify::new());
    channel.set_buffered_amount_low_threshold(LOW_WATER).await;
    {
        let low = low.clone();
        channel
            .on_buffered_amount_low(Box::new(move || {
                low.notify_one();
                Box::pin(async {})
            }))
            .await;
    }
    loop {
        if channel.buffered_amount().await > HIGH_WATER {
            low.notified().await;
            continue;
        }
        if channel.send(&payload).await.is_err() {
            return;
        }
    }
}

/// Sends `size`-byte binary messages on `channels` channels for `duration`; MB/s that arrived.
pub fn throughput(channels: usize, size: usize, duration: Duration) -> Result<f64, String> {
    runtime()?.block_on(async move {
        let received = Arc::new(AtomicU64::new(0));
        let pair = tokio::time::timeout(Duration::from_secs(20), connect(channels, received.clone()))
            .await
            .map_err(|_| "webrtc: connecting took longer than 20 s")??;
        let payload = Bytes::from((0..size).map(|i| i as u8).collect::<Vec<u8>>());
        let senders: Vec<_> = pair
            .local
            .iter()
            .map(|channel| tokio::spawn(send_loop(channel.clone(), payload.clone())))
            .collect();
        let before = received.load(Ordering::Relaxed);
        let start = Instant::now();
        tokio::time::sleep(duration).await;
        let bytes = received.load(Ordering::Relaxed) - before;
        let mut closed = false;
        for channel in &pair.local {
            closed |= channel.ready_state() != RTCDataChannelState::Open;
        }
        let elapsed = start.elapsed();
        for sender in senders {
            sender.abort();
        }
        close(pair).await;
        if closed {
            // webrtc-rs 0.14 closes the channel when sent 64 KiB messages (seen on loopback, both ends its own).
            return Err(format!("a channel closed during the transfer of {size}-byte messages"));
        }
        if bytes == 0 {
            return Err("no message arrived".to_owned());
        }
        Ok(bytes as f64 / 1e6 / elapsed.as_secs_f64())
    })
}

/// Connect times of `runs` fresh pairs: from `create_offer` to the channel open on both sides.
pub fn connect_times(runs: usize) -> Result<Vec<Duration>, String> {
    runtime()?.block_on(async move {
        let mut times = Vec::with_capacity(runs);
        for _ in 0..runs {
            let pair = tokio::time::timeout(Duration::from_secs(20), connect(1, Arc::new(AtomicU64::new(0))))
                .await
                .map_err(|_| "webrtc: connecting took longer than 20 s")??;
            times.push(pair.connect_time);
            close(pair).await;
        }
        Ok(times)
    })
}
