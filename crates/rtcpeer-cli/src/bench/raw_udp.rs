//! The ceiling: plain UDP between two tokio sockets on loopback, no protocol at all.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::UdpSocket;

use super::BenchError;

/// Size of the datagrams: what rtcpeer's SCTP packets are at most.
pub const DATAGRAM: usize = 1200;

async fn loopback_socket() -> Result<UdpSocket, BenchError> {
    UdpSocket::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .await
        .map_err(BenchError::Io)
}

/// Sends [`DATAGRAM`]-byte datagrams from one socket to another for `duration`; returns the bytes per second
/// that arrived, in MB/s.
pub async fn throughput(duration: Duration) -> Result<f64, BenchError> {
    let sender = loopback_socket().await?;
    let receiver = loopback_socket().await?;
    sender
        .connect(receiver.local_addr().map_err(BenchError::Io)?)
        .await
        .map_err(BenchError::Io)?;
    let stop = Arc::new(AtomicBool::new(false));
    let received = Arc::new(AtomicU64::new(0));
    let send_task = {
        let stop = stop.clone();
        tokio::spawn(async move {
            let datagram = [0x5au8; DATAGRAM];
            while !stop.load(Ordering::Relaxed) {
                // Loopback drops what the receiver cannot take; only what arrives counts.
                let _ = sender.send(&datagram).await;
            }
        })
    };
    let receive_task = {
        let received = received.clone();
        tokio::spawn(async move {
            let mut buf = [0u8; 2048];
            while let Ok(n) = receiver.recv(&mut buf).await {
                received.fetch_add(n as u64, Ordering::Relaxed);
            }
        })
    };
    let start = Instant::now();
    tokio::time::sleep(duration).await;
    let bytes = received.load(Ordering::Relaxed);
    let elapsed = start.elapsed();
    stop.store(true, Ordering::Relaxed);
    receive_task.abort();
    let _ = send_task.await;
    Ok(bytes as f64 / 1e6 / elapsed.as_secs_f64())
}
