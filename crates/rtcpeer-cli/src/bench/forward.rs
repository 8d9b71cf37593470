//! Media forwarding, as an SFU does it: receive an SRTP packet, decrypt it, send it on encrypted with
//! the next hop's keys. Three loopback sockets: source → forwarder → sink.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rtcpeer_proto::srtp::{SrtpContext, SrtpProfile};
use tokio::net::UdpSocket;

use super::srtp::rtp_packet;
use super::BenchError;

/// Size of the forwarded RTP packets before protection.
pub const PACKET: usize = 1200;
/// The profile both hops use.
pub const PROFILE: SrtpProfile = SrtpProfile::AeadAes128Gcm;

async fn loopback_socket() -> Result<UdpSocket, BenchError> {
    UdpSocket::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .await
        .map_err(BenchError::Io)
}

fn context(profile: SrtpProfile, seed: u8) -> Result<SrtpContext, BenchError> {
    let key: Vec<u8> = (0..profile.key_len() as u8).map(|b| b ^ seed).collect();
    let salt: Vec<u8> = (0..profile.salt_len() as u8)
        .map(|b| b.wrapping_mul(3) ^ seed)
        .collect();
    SrtpContext::new(profile, &key, &salt).map_err(|e| BenchError::Rtc(format!("SRTP context: {e}")))
}

/// Forwards for `duration`; returns packets per second forwarded. With `encrypted` false the forwarder only
/// receives and sends (the UDP ceiling of the same path).
pub async fn packets_per_second(duration: Duration, encrypted: bool) -> Result<f64, BenchError> {
    let source = loopback_socket().await?;
    let forwarder = loopback_socket().await?;
    let sink = loopback_socket().await?;
    source
        .connect(forwarder.local_addr().map_err(BenchError::Io)?)
        .await
        .map_err(BenchError::Io)?;
    // Not connected: a connected socket would only receive from the sink.
    let sink_addr = sink.local_addr().map_err(BenchError::Io)?;
    let stop = Arc::new(AtomicBool::new(false));
    let forwarded = Arc::new(AtomicU64::new(0));
    let rejected = Arc::new(AtomicU64::new(0));

    let source_task = {
        let stop = stop.clone();
        let mut ctx = context(PROFILE, 1)?;
        tokio::spawn(async move {
            let mut seq = 0u16;
            let mut out = Vec::with_capacity(PACKET + 16);
            let mut packet = rtp_packet(PACKET, 0);
            while !stop.load(Ordering::Relaxed) {
                seq = seq.wrapping_add(1);
                packet[2..4].copy_from_slice(&seq.to_be_bytes());
                if encrypted {
                    if ctx.protect_rtp(&packet, &mut out).is_err() {
                        return;
                    }
                    let _ = source.send(&out).await;
                } else {
                    let _ = source.send(&packet).await;
                }
            }
        })
    };
    let forward_task = {
        let forwarded = forwarded.clone();
        let rejected = rejected.clone();
        let mut from_source = context(PROFILE, 1)?;
        let mut to_sink = context(PROFILE, 2)?;
        tokio::spawn(async move {
            let mut buf = vec![0u8; 2048];
            let mut plain = Vec::with_capacity(PACKET);
            let mut out = Vec::with_capacity(PACKET + 16);
            while let Ok(n) = forwarder.recv(&mut buf).await {
                let datagram = buf.get(..n).unwrap_or_default();
                let next = if encrypted {
                    if from_source.unprotect_rtp(datagram, &mut plain).is_err()
                        || to_sink.protect_rtp(&plain, &mut out).is_err()
                    {
                        rejected.fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                    &out[..]
                } else {
                    datagram
                };
                if forwarder.send_to(next, sink_addr).await.is_ok() {
                    forwarded.fetch_add(1, Ordering::Relaxed);
                }
            }
        })
    };
    let sink_task = tokio::spawn(async move {
        let mut buf = vec![0u8; 2048];
        while sink.recv(&mut buf).await.is_ok() {}
    });

    let start = Instant::now();
    tokio::time::sleep(duration).await;
    let packets = forwarded.load(Ordering::Relaxed);
    let elapsed = start.elapsed();
    stop.store(true, Ordering::Relaxed);
    forward_task.abort();
    sink_task.abort();
    let _ = source_task.await;
    let rejected = rejected.load(Ordering::Relaxed);
    if rejected > 0 {
        return Err(BenchError::Rtc(format!("the forwarder rejected {rejected} packets")));
    }
    Ok(packets as f64 / elapsed.as_secs_f64())
}
