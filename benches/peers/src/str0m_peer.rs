//! The transfers through str0m: two sans-IO `Rtc`s, each driven by its own thread with a blocking
//! loopback UDP socket, following the run loop str0m's documentation describes (drain `poll_output` to
//! `Timeout` after every mutation).

use std::io::ErrorKind;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use str0m::channel::ChannelId;
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, Input, Output, Rtc};

/// Longest wait on the socket, so a stop request is seen promptly.
const MAX_WAIT: Duration = Duration::from_millis(50);

fn err(what: &str) -> impl Fn(String) -> String + '_ {
    move |e| format!("str0m {what}: {e}")
}

/// A peer: its engine and its socket.
struct Peer {
    rtc: Rtc,
    socket: UdpSocket,
    addr: SocketAddr,
}

impl Peer {
    fn new() -> Result<Peer, String> {
        let socket = UdpSocket::bind("127.0.0.1:0").map_err(|e| format!("bind: {e}"))?;
        let addr = socket.local_addr().map_err(|e| format!("local_addr: {e}"))?;
        let mut rtc = Rtc::new(Instant::now());
        let candidate = Candidate::host(addr, "udp").map_err(|e| format!("str0m candidate: {e}"))?;
        let _ = rtc.add_local_candidate(candidate);
        Ok(Peer { rtc, socket, addr })
    }

    /// Runs the loop until `stop`: `on_event` sees every event, `app` may make one mutation (returning
    /// true) each time the engine is drained.
    fn drive(
        mut self,
        stop: &AtomicBool,
        mut on_event: impl FnMut(Event),
        mut app: impl FnMut(&mut Rtc) -> bool,
    ) -> Result<(), String> {
        let mut buf = vec![0u8; 2048];
        loop {
            let deadline = loop {
                match self.rtc.poll_output().map_err(|e| format!("str0m poll_output: {e}"))? {
                    Output::Timeout(t) => break t,
                    Output::Transmit(t) => {
                        let _ = self.socket.send_to(&t.contents, t.destination);
                    }
                    Output::Event(e) => on_event(e),
                }
            };
            if stop.load(Ordering::Relaxed) {
                return Ok(());
            }
            if app(&mut self.rtc) {
                continue;
            }
            let wait = deadline
                .saturating_duration_since(Instant::now())
                .clamp(Duration::from_millis(1), MAX_WAIT);
            self.socket
                .set_read_timeout(Some(wait))
                .map_err(|e| format!("socket: {e}"))?;
            let input_result = match self.socket.recv_from(&mut buf) {
                Ok((n, source)) => match Receive::new(Protocol::Udp, source, self.addr, &buf[..n]) {
                    Ok(receive) => self.rtc.handle_input(Input::Receive(Instant::now(), receive)),
                    Err(_) => continue,
                },
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    self.rtc.handle_input(Input::Timeout(Instant::now()))
                }
                Err(e) => return Err(format!("recv: {e}")),
            };
            input_result.map_err(|e| format!("str0m handle_input: {e}"))?;
        }
    }
}

/// Negotiates `channels` channels between two fresh peers (the offer carries the offerer's candidate, the
/// answer the answerer's). Returns the peers, the offerer's channel ids and when the offer was started.
fn negotiate(channels: usize) -> Result<(Peer, Peer, Vec<ChannelId>, Instant), String> {
    let mut offerer = Peer::new()?;
    let mut answerer = Peer::new()?;
    let start = Instant::now();
    let mut change = offerer.rtc.sdp_api();
    let ids: Vec<ChannelId> = (0..channels)
        .map(|i| change.add_channel(format!("bench-{i}")))
        .collect();
    let (offer, pending) = change.apply().ok_or("str0m: the change made no offer")?;
    let answer = answerer
        .rtc
        .sdp_api()
        .accept_offer(offer)
        .map_err(|e| err("accept_offer")(e.to_string()))?;
    offerer
        .rtc
        .sdp_api()
        .accept_answer(pending, answer)
        .map_err(|e| err("accept_answer")(e.to_string()))?;
    Ok((offerer, answerer, ids, start))
}

/// Sends `size`-byte binary messages on `channels` channels for `duration`; MB/s that arrived.
pub fn throughput(channels: usize, size: usize, duration: Duration) -> Result<f64, String> {
    let (offerer, answerer, ids, _) = negotiate(channels)?;
    let stop = Arc::new(AtomicBool::new(false));
    let received = Arc::new(AtomicU64::new(0));
    let (open_tx, open_rx) = mpsc::channel();

    let sender = {
        let stop = stop.clone();
        thread::spawn(move || {
            let payload: Vec<u8> = (0..size).map(|i| i as u8).collect();
            let mut open: Vec<ChannelId> = Vec::new();
            let mut next = 0usize;
            let mut announced = false;
            // Filled by the event callback, taken by the writer: both run on this thread.
            let opened = std::cell::RefCell::new(Vec::new());
            offerer.drive(
                &stop,
                |event| {
                    if let Event::ChannelOpen(id, _) = event {
                        opened.borrow_mut().push(id);
                    }
                },
                |rtc| {
                    open.append(&mut opened.borrow_mut());
                    if open.len() < ids.len() {
                        return false;
                    }
                    if !announced {
                        announced = true;
                        let _ = open_tx.send(Instant::now());
                    }
                    // One write per drain, round robin; false when every channel is full.
                    for _ in 0..open.len() {
                        let id = open[next % open.len()];
                        next = next.wrapping_add(1);
                        if let Some(mut channel) = rtc.channel(id) {
                            if let Ok(true) = channel.write(true, &payload) {
                                return true;
                            }
                        }
                    }
                    false
                },
            )
        })
    };
    let receiver = {
        let stop = stop.clone();
        let received = received.clone();
        thread::spawn(move || {
            answerer.drive(
                &stop,
                |event| {
                    if let Event::ChannelData(data) = event {
                        received.fetch_add(data.data.len() as u64, Ordering::Relaxed);
                    }
                },
                |_| false,
            )
        })
    };

    let outcome = match open_rx.recv_timeout(Duration::from_secs(20)) {
        Ok(_) => {
            let before = received.load(Ordering::Relaxed);
            let start = Instant::now();
            thread::sleep(duration);
            let bytes = received.load(Ordering::Relaxed) - before;
            if bytes == 0 {
                Err("no message arrived".to_owned())
            } else {
                Ok(bytes as f64 / 1e6 / start.elapsed().as_secs_f64())
            }
        }
        Err(_) => Err("str0m: the channels did not open within 20 s".to_owned()),
    };
    stop.store(true, Ordering::Relaxed);
    for handle in [sender, receiver] {
        handle.join().map_err(|_| "str0m peer thread panicked")??;
    }
    outcome
}

/// Connect times of `runs` fresh pairs: from making the offer to the channel open on both sides.
pub fn connect_times(runs: usize) -> Result<Vec<Duration>, String> {
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let (offerer, answerer, _, start) = negotiate(1)?;
        let stop = Arc::new(AtomicBool::new(false));
        let (open_tx, open_rx) = mpsc::channel::<Instant>();
        let handles: Vec<_> = [offerer, answerer]
            .into_iter()
            .map(|peer| {
                let stop = stop.clone();
                let open_tx = open_tx.clone();
                thread::spawn(move || {
                    peer.drive(
                        &stop,
                        |event| {
                            if let Event::ChannelOpen(..) = event {
                                let _ = open_tx.send(Instant::now());
                            }
                        },
                        |_| false,
                    )
                })
            })
            .collect();
        let mut last = start;
        let mut outcome = Ok(());
        for _ in 0..2 {
            match open_rx.recv_timeout(Duration::from_secs(20)) {
                Ok(at) => last = last.max(at),
                Err(_) => outcome = Err("str0m: the channel did not open within 20 s".to_owned()),
            }
        }
        stop.store(true, Ordering::Relaxed);
        for handle in handles {
            handle.join().map_err(|_| "str0m peer thread panicked")??;
        }
        outcome?;
        times.push(last - start);
    }
    Ok(times)
}
