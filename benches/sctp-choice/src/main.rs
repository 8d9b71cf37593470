//! Throughput of the two SCTP candidates, one reliable ordered stream, 64 KiB messages.
//!
//! Both associations run in this one thread. Packets travel either through an
//! in-memory queue (`mem`) or through two UDP sockets bound to 127.0.0.1 (`udp`).
//! The sender keeps at most `WINDOW` bytes buffered in the association and tops it
//! up with 64 KiB messages; the receiver counts the bytes of complete messages.
//!
//! Usage: `sctp-choice [mem|udp] [seconds]`

use std::collections::VecDeque;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

const MSG: usize = 64 * 1024;
const WINDOW: usize = 1024 * 1024;

/// What the measurement loop needs from one side of an association.
trait Side {
    fn name(&self) -> &'static str;
    fn start(&mut self, now: Instant);
    fn input(&mut self, now: Instant, pkt: &[u8]);
    fn tick(&mut self, now: Instant);
    fn take_packets(&mut self, now: Instant, out: &mut Vec<Vec<u8>>);
    fn connected(&self) -> bool;
    /// Queues one message; false when the association refused it.
    fn send(&mut self, data: &[u8]) -> bool;
    fn buffered(&mut self) -> usize;
    /// Bytes of complete messages received since the last call, and their count.
    fn drain_received(&mut self) -> (usize, usize);
}

mod dc {
    use super::*;
    use dcsctp::api::{DcSctpSocket, Message, Options, PpId, SendOptions, SocketEvent, SocketTime, StreamId};

    pub struct Dc {
        sock: Box<dyn DcSctpSocket>,
        client: bool,
        epoch: Instant,
        connected: bool,
        out: Vec<Vec<u8>>,
    }

    impl Dc {
        pub fn new(client: bool, epoch: Instant) -> Self {
            let opts = Options::default();
            Dc { sock: dcsctp::new_socket(if client { "c" } else { "s" }, &opts), client, epoch, connected: false, out: Vec::new() }
        }
        fn t(&self, now: Instant) -> SocketTime {
            SocketTime::zero() + (now - self.epoch)
        }
        fn events(&mut self) {
            while let Some(ev) = self.sock.poll_event() {
                match ev {
                    SocketEvent::SendPacket(p) => self.out.push(p),
                    SocketEvent::OnConnected() => self.connected = true,
                    SocketEvent::OnAborted(k, s) => panic!("aborted {k:?} {s}"),
                    _ => {}
                }
            }
        }
    }

    impl Side for Dc {
        fn name(&self) -> &'static str {
            "dcsctp 0.1.16"
        }
        fn start(&mut self, now: Instant) {
            let t = self.t(now);
            self.sock.advance_time(t);
            if self.client {
                self.sock.connect();
            }
            self.events();
        }
        fn input(&mut self, now: Instant, pkt: &[u8]) {
            let t = self.t(now);
            self.sock.advance_time(t);
            self.sock.handle_input(pkt);
            self.events();
        }
        fn tick(&mut self, now: Instant) {
            let t = self.t(now);
            if self.sock.poll_timeout() <= t {
                self.sock.advance_time(t);
            }
            self.events();
        }
        fn take_packets(&mut self, _now: Instant, out: &mut Vec<Vec<u8>>) {
            self.events();
            out.append(&mut self.out);
        }
        fn connected(&self) -> bool {
            self.connected
        }
        fn send(&mut self, data: &[u8]) -> bool {
            let r = self.sock.send(Message::new(StreamId(1), PpId(53), data.to_vec()), &SendOptions::default());
            self.events();
            r.is_ok()
        }
        fn buffered(&mut self) -> usize {
            self.sock.buffered_amount(StreamId(1))
        }
        fn drain_received(&mut self) -> (usize, usize) {
            let (mut b, mut n) = (0, 0);
            while let Some(m) = self.sock.get_next_message() {
                b += m.payload.len();
                n += 1;
            }
            (b, n)
        }
    }
}

mod sp {
    use super::*;
    use bytes::Bytes;
    use sctp_proto::{
        Association, AssociationHandle, ClientConfig, DatagramEvent, Endpoint, EndpointConfig, Event, Payload,
        PayloadProtocolIdentifier, ServerConfig, StreamEvent,
    };
    use std::sync::Arc;

    pub struct Sp {
        ep: Endpoint,
        assoc: Option<(AssociationHandle, Association)>,
        client: bool,
        peer: SocketAddr,
        connected: bool,
        rx_bytes: usize,
        rx_msgs: usize,
        stream_open: bool,
    }

    impl Sp {
        pub fn new(client: bool) -> Self {
            let server = if client { None } else { Some(Arc::new(ServerConfig::new())) };
            let ep = Endpoint::new(Arc::new(EndpointConfig::new()), server);
            // The address only labels the peer; packets are carried by the harness.
            let peer: SocketAddr = if client { "127.0.0.1:2".parse().unwrap() } else { "127.0.0.1:1".parse().unwrap() };
            Sp { ep, assoc: None, client, peer, connected: false, rx_bytes: 0, rx_msgs: 0, stream_open: false }
        }
        fn events(&mut self) {
            let Some((h, a)) = self.assoc.as_mut() else { return };
            while let Some(ev) = a.poll_endpoint_event() {
                self.ep.handle_event(*h, ev);
            }
            while let Some(ev) = a.poll() {
                match ev {
                    Event::Connected => self.connected = true,
                    Event::Stream(StreamEvent::Opened { .. }) => {
                        while a.accept_stream().is_some() {}
                    }
                    Event::Stream(StreamEvent::Readable { id }) => {
                        if let Ok(mut s) = a.stream(id) {
                            while let Ok(Some(chunks)) = s.read_sctp() {
                                let mut buf = vec![0u8; chunks.len()];
                                let n = chunks.read(&mut buf).unwrap();
                                self.rx_bytes += n;
                                self.rx_msgs += 1;
                            }
                        }
                    }
                    Event::AssociationLost { reason } => panic!("lost {reason:?}"),
                    _ => {}
                }
            }
        }
    }

    impl Side for Sp {
        fn name(&self) -> &'static str {
            "sctp-proto 0.10.8"
        }
        fn start(&mut self, _now: Instant) {
            if self.client {
                let (h, a) = self.ep.connect(ClientConfig::new(), self.peer).unwrap();
                self.assoc = Some((h, a));
            }
        }
        fn input(&mut self, now: Instant, pkt: &[u8]) {
            let Some((h, ev)) = self.ep.handle(now, self.peer, None, None, Bytes::copy_from_slice(pkt)) else {
                return;
            };
            match ev {
                DatagramEvent::NewAssociation(a) => self.assoc = Some((h, a)),
                DatagramEvent::AssociationEvent(e) => {
                    if let Some((_, a)) = self.assoc.as_mut() {
                        a.handle_event(e);
                    }
                }
            }
            self.events();
        }
        fn tick(&mut self, now: Instant) {
            if let Some((_, a)) = self.assoc.as_mut() {
                if a.poll_timeout().is_some_and(|t| t <= now) {
                    a.handle_timeout(now);
                }
            }
            self.events();
        }
        fn take_packets(&mut self, now: Instant, out: &mut Vec<Vec<u8>>) {
            while let Some(t) = self.ep.poll_transmit() {
                push(t.payload, out);
            }
            if let Some((_, a)) = self.assoc.as_mut() {
                while let Some(t) = a.poll_transmit(now) {
                    push(t.payload, out);
                }
            }
            self.events();
        }
        fn connected(&self) -> bool {
            self.connected
        }
        fn send(&mut self, data: &[u8]) -> bool {
            let Some((_, a)) = self.assoc.as_mut() else { return false };
            if !self.stream_open {
                a.open_stream(1, PayloadProtocolIdentifier::Binary).unwrap();
                self.stream_open = true;
            }
            let ok = a.stream(1).and_then(|mut s| s.write_sctp(&Bytes::copy_from_slice(data), PayloadProtocolIdentifier::Binary)).is_ok();
            self.events();
            ok
        }
        fn buffered(&mut self) -> usize {
            let Some((_, a)) = self.assoc.as_mut() else { return 0 };
            a.stream(1).and_then(|s| s.buffered_amount()).unwrap_or(0)
        }
        fn drain_received(&mut self) -> (usize, usize) {
            self.events();
            let r = (self.rx_bytes, self.rx_msgs);
            self.rx_bytes = 0;
            self.rx_msgs = 0;
            r
        }
    }

    fn push(p: Payload, out: &mut Vec<Vec<u8>>) {
        if let Payload::RawEncode(v) = p {
            out.extend(v.into_iter().map(|b| b.to_vec()));
        }
    }
}

/// Carries packets between the two sides.
enum Wire {
    Mem { to_b: VecDeque<Vec<u8>>, to_a: VecDeque<Vec<u8>> },
    Udp { a: UdpSocket, b: UdpSocket, a_addr: SocketAddr, b_addr: SocketAddr },
}

impl Wire {
    fn new(kind: &str) -> Wire {
        match kind {
            "mem" => Wire::Mem { to_b: VecDeque::new(), to_a: VecDeque::new() },
            "udp" => {
                let a = UdpSocket::bind("127.0.0.1:0").unwrap();
                let b = UdpSocket::bind("127.0.0.1:0").unwrap();
                a.set_nonblocking(true).unwrap();
                b.set_nonblocking(true).unwrap();
                let (a_addr, b_addr) = (a.local_addr().unwrap(), b.local_addr().unwrap());
                Wire::Udp { a, b, a_addr, b_addr }
            }
            other => panic!("unknown wire {other}"),
        }
    }
    fn send(&mut self, from_a: bool, pkts: &mut Vec<Vec<u8>>) {
        for p in pkts.drain(..) {
            match self {
                Wire::Mem { to_b, to_a } => {
                    if from_a { to_b } else { to_a }.push_back(p);
                }
                Wire::Udp { a, b, a_addr, b_addr } => {
                    // A full socket buffer drops the datagram, like a congested link.
                    let _ = if from_a { a.send_to(&p, *b_addr) } else { b.send_to(&p, *a_addr) };
                }
            }
        }
    }
    fn recv(&mut self, at_a: bool, buf: &mut [u8]) -> Option<Vec<u8>> {
        match self {
            Wire::Mem { to_b, to_a } => if at_a { to_a } else { to_b }.pop_front(),
            Wire::Udp { a, b, .. } => {
                let s = if at_a { a } else { b };
                s.recv_from(buf).ok().map(|(n, _)| buf[..n].to_vec())
            }
        }
    }
}

fn run(mut a: Box<dyn Side>, mut b: Box<dyn Side>, wire: &str, secs: u64) {
    let mut wire = Wire::new(wire);
    let name = a.name();
    let t0 = Instant::now();
    a.start(t0);
    b.start(t0);
    let payload = vec![0xA5u8; MSG];
    let mut pkts = Vec::new();
    let mut buf = vec![0u8; 65536];
    let mut measuring: Option<Instant> = None;
    let (mut bytes, mut msgs, mut sent, mut packets) = (0usize, 0usize, 0usize, 0usize);
    loop {
        let now = Instant::now();
        if let Some(start) = measuring {
            if now - start >= Duration::from_secs(secs) {
                let el = (now - start).as_secs_f64();
                println!(
                    "{name:18} {:4}: {:8.1} MB/s  ({msgs} msgs of 64 KiB received, {sent} sent, {packets} packets, {el:.2} s)",
                    match &wire {
                        Wire::Mem { .. } => "mem",
                        Wire::Udp { .. } => "udp",
                    },
                    bytes as f64 / el / 1e6
                );
                return;
            }
        } else if a.connected() && b.connected() {
            measuring = Some(now);
        } else if now - t0 > Duration::from_secs(5) {
            panic!("{name}: no connection");
        }
        if measuring.is_some() {
            while a.buffered() < WINDOW {
                if !a.send(&payload) {
                    break;
                }
                sent += 1;
            }
        }
        a.tick(now);
        b.tick(now);
        a.take_packets(now, &mut pkts);
        packets += pkts.len();
        wire.send(true, &mut pkts);
        while let Some(p) = wire.recv(false, &mut buf) {
            b.input(now, &p);
        }
        b.take_packets(now, &mut pkts);
        packets += pkts.len();
        wire.send(false, &mut pkts);
        while let Some(p) = wire.recv(true, &mut buf) {
            a.input(now, &p);
        }
        let (n, m) = b.drain_received();
        if measuring.is_some() {
            bytes += n;
            msgs += m;
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let wire = args.get(1).map(String::as_str).unwrap_or("mem").to_string();
    let secs: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(3);
    let which = args.get(3).map(String::as_str).unwrap_or("both").to_string();
    println!("one reliable ordered stream, {} KiB messages, sender window {} KiB", MSG / 1024, WINDOW / 1024);
    if which == "both" || which == "dcsctp" {
        let epoch = Instant::now();
        run(Box::new(dc::Dc::new(true, epoch)), Box::new(dc::Dc::new(false, epoch)), &wire, secs);
    }
    if which == "both" || which == "sctp-proto" {
        run(Box::new(sp::Sp::new(true)), Box::new(sp::Sp::new(false)), &wire, secs);
    }
}
