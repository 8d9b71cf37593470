//! The sans-IO TURN client against a real coturn on loopback, over UDP and TCP.
//!
//! Each test starts its own `turnserver` (long-term credentials, loopback peers allowed) on a
//! free port with a temporary directory, and kills it when done.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use rtcpeer_proto::stun::{StunBinding, StunBindingConfig};
use rtcpeer_proto::turn::{Frame, StreamDecoder, TurnClient, TurnConfig, TurnEvent, TurnTransport};

#[path = "common/coturn.rs"]
mod coturn;

use coturn::{Coturn, PASS, USER};

/// How the test talks to the server: datagrams or a framed TCP stream.
enum Link {
    Udp(UdpSocket),
    Tcp(TcpStream, StreamDecoder),
}

impl Link {
    fn udp(server: SocketAddr) -> Link {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket.connect(server).unwrap();
        Link::Udp(socket)
    }

    fn tcp(server: SocketAddr) -> Link {
        let stream = TcpStream::connect(server).unwrap();
        stream.set_nodelay(true).unwrap();
        Link::Tcp(stream, StreamDecoder::default())
    }

    fn local_addr(&self) -> SocketAddr {
        match self {
            Link::Udp(s) => s.local_addr().unwrap(),
            Link::Tcp(s, _) => s.local_addr().unwrap(),
        }
    }

    fn send(&mut self, bytes: &[u8]) {
        match self {
            Link::Udp(s) => {
                s.send(bytes).unwrap();
            }
            Link::Tcp(s, _) => s.write_all(bytes).unwrap(),
        }
    }

    /// One datagram or frame from the server, waiting at most `wait`.
    fn recv(&mut self, wait: Duration) -> Option<Vec<u8>> {
        let wait = wait.max(Duration::from_millis(1));
        match self {
            Link::Udp(s) => {
                s.set_read_timeout(Some(wait)).unwrap();
                let mut buf = vec![0; 65_536];
                let n = s.recv(&mut buf).ok()?;
                buf.truncate(n);
                Some(buf)
            }
            Link::Tcp(s, decoder) => loop {
                if let Some(frame) = decoder.next_frame().expect("coturn keeps the stream in sync") {
                    return Some(match frame {
                        Frame::Stun(b) | Frame::ChannelData(b) => b.to_vec(),
                    });
                }
                s.set_read_timeout(Some(wait)).unwrap();
                let mut buf = [0; 4096];
                match s.read(&mut buf) {
                    Ok(0) => panic!("coturn closed the TCP connection"),
                    Ok(n) => decoder.push(&buf[..n]).unwrap(),
                    Err(_) => return None,
                }
            },
        }
    }
}

/// A client and its link, driven until an event matches.
struct Driver {
    client: TurnClient,
    link: Link,
}

impl Driver {
    fn new(link: Link, password: &str) -> Driver {
        let transport = match link {
            Link::Udp(_) => TurnTransport::Udp,
            Link::Tcp(..) => TurnTransport::Tcp,
        };
        let client = TurnClient::new(Instant::now(), TurnConfig::new(USER, password, transport));
        Driver { client, link }
    }

    fn flush(&mut self) {
        while let Some(bytes) = self.client.poll_transmit() {
            self.link.send(&bytes);
        }
    }

    /// Runs the client until `want` accepts an event (returned) or 10 s pass (panics).
    fn until(&mut self, what: &str, mut want: impl FnMut(&TurnEvent) -> bool) -> TurnEvent {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            self.flush();
            while let Some(event) = self.client.poll_event() {
                if want(&event) {
                    return event;
                }
                assert!(
                    !matches!(event, TurnEvent::Failed { .. }),
                    "unexpected {event:?} while waiting for {what}"
                );
            }
            let now = Instant::now();
            assert!(now < deadline, "timed out waiting for {what}");
            let wake = self.client.poll_timeout().unwrap_or(deadline).min(deadline);
            let wait = wake.saturating_duration_since(now).min(Duration::from_millis(100));
            match self.link.recv(wait) {
                Some(bytes) => self
                    .client
                    .handle_receive(Instant::now(), &bytes)
                    .expect("coturn sends valid messages"),
                None => self.client.handle_timeout(Instant::now()),
            }
        }
    }

    fn allocate(&mut self) -> (SocketAddr, Option<SocketAddr>) {
        match self.until("Allocated", |e| matches!(e, TurnEvent::Allocated { .. })) {
            TurnEvent::Allocated { relayed, mapped, .. } => (relayed, mapped),
            _ => unreachable!(),
        }
    }

    fn receive_data(&mut self, from: SocketAddr) -> Vec<u8> {
        match self.until("Data", |e| matches!(e, TurnEvent::Data { from: f, .. } if *f == from)) {
            TurnEvent::Data { data, .. } => data,
            _ => unreachable!(),
        }
    }
}

/// A "peer" on loopback that the relay forwards to.
fn peer_socket() -> UdpSocket {
    let peer = UdpSocket::bind("127.0.0.1:0").unwrap();
    peer.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    peer
}

fn peer_receive(peer: &UdpSocket) -> (Vec<u8>, SocketAddr) {
    let mut buf = vec![0; 65_536];
    let (n, from) = peer.recv_from(&mut buf).expect("the peer should receive relayed data");
    buf.truncate(n);
    (buf, from)
}

/// Payloads of awkward sizes (odd, for ChannelData padding) and content (STUN-like first byte).
fn payloads() -> Vec<Vec<u8>> {
    vec![
        b"hello through the relay".to_vec(),
        vec![0x00, 0x01, 0x02],
        (0..1200u32).map(|i| (i * 7 + 3) as u8).collect(),
        vec![0x40; 5],
    ]
}

fn relay_both_ways(d: &mut Driver) {
    let (relayed, mapped) = d.allocate();
    assert_eq!(relayed.ip(), std::net::IpAddr::from([127, 0, 0, 1]));
    assert_eq!(mapped, Some(d.link.local_addr()));
    let peer = peer_socket();
    let peer_addr = peer.local_addr().unwrap();

    d.client.create_permission(Instant::now(), peer_addr.ip()).unwrap();
    d.until("PermissionCreated", |e| {
        matches!(e, TurnEvent::PermissionCreated { .. })
    });

    // Send indications one way, Data indications the other.
    for payload in payloads() {
        d.client.send_to(peer_addr, &payload).unwrap();
        d.flush();
        let (got, from) = peer_receive(&peer);
        assert_eq!(from, relayed, "relayed data comes from the relayed address");
        assert_eq!(got, payload);
        peer.send_to(&payload, relayed).unwrap();
        assert_eq!(d.receive_data(peer_addr), payload);
    }

    // ChannelData both ways once the channel is bound.
    let channel = d.client.bind_channel(Instant::now(), peer_addr).unwrap();
    assert_eq!(channel, 0x4000);
    d.until("ChannelBound", |e| matches!(e, TurnEvent::ChannelBound { .. }));
    for payload in payloads() {
        d.client.send_to(peer_addr, &payload).unwrap();
        let queued = d.client.poll_transmit().unwrap();
        assert_eq!(queued[..2], [0x40, 0x00], "bound channel data goes as ChannelData");
        d.link.send(&queued);
        let (got, from) = peer_receive(&peer);
        assert_eq!((got.as_slice(), from), (payload.as_slice(), relayed));
        peer.send_to(&payload, relayed).unwrap();
        assert_eq!(d.receive_data(peer_addr), payload);
    }
}

#[test]
fn udp_allocation_relays_both_ways() {
    let server = Coturn::start();
    let mut d = Driver::new(Link::udp(server.addr()), PASS);
    relay_both_ways(&mut d);
}

#[test]
fn tcp_allocation_relays_both_ways() {
    let server = Coturn::start();
    let mut d = Driver::new(Link::tcp(server.addr()), PASS);
    relay_both_ways(&mut d);
}

#[test]
fn wrong_password_fails_with_401() {
    let server = Coturn::start();
    for link in [Link::udp(server.addr()), Link::tcp(server.addr())] {
        let mut d = Driver::new(link, "not-the-password");
        let event = d.until("Failed", |e| matches!(e, TurnEvent::Failed { .. }));
        assert!(matches!(event, TurnEvent::Failed { code: Some(401), .. }), "{event:?}");
    }
}

#[test]
fn close_deletes_the_allocation() {
    let server = Coturn::start();
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.connect(server.addr()).unwrap();
    let relink = |s: &UdpSocket| Link::Udp(s.try_clone().unwrap());

    let mut first = Driver::new(relink(&socket), PASS);
    let (relayed, _) = first.allocate();

    // While the allocation lives, a second one from the same 5-tuple is refused with 437.
    let mut second = Driver::new(relink(&socket), PASS);
    let event = second.until("Failed", |e| matches!(e, TurnEvent::Failed { .. }));
    assert!(matches!(event, TurnEvent::Failed { code: Some(437), .. }), "{event:?}");

    first.client.close(Instant::now());
    first.until("Closed", |e| *e == TurnEvent::Closed);

    // Once deleted, the same 5-tuple can allocate again. coturn frees the allocation on its next
    // timer tick (about a second later) and answers 437 until then; the allocation asked for
    // 600 s, so success within a few seconds proves the close deleted it.
    let started = Instant::now();
    let mut third = loop {
        let mut attempt = Driver::new(relink(&socket), PASS);
        let event = attempt.until("Allocated or Failed", |e| {
            matches!(e, TurnEvent::Allocated { .. } | TurnEvent::Failed { .. })
        });
        match event {
            TurnEvent::Allocated { .. } => break attempt,
            TurnEvent::Failed { code: Some(437), .. } if started.elapsed() < Duration::from_secs(5) => {
                std::thread::sleep(Duration::from_millis(200));
            }
            other => panic!("allocation after close: {other:?}"),
        }
    };
    eprintln!("re-allocated {:?} after the close", started.elapsed());
    assert_eq!(third.client.relayed_address().map(|a| a.ip()), Some(relayed.ip()));
    third.client.close(Instant::now());
    third.until("Closed", |e| *e == TurnEvent::Closed);
}

#[test]
fn stun_binding_discovers_the_mapped_address() {
    let server = Coturn::start();
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.connect(server.addr()).unwrap();
    let mut binding = StunBinding::new(Instant::now(), StunBindingConfig::default()).unwrap();
    let mut buf = vec![0; 2048];
    while binding.result().is_none() {
        while let Some(request) = binding.poll_transmit() {
            socket.send(&request).unwrap();
        }
        let wait = binding
            .poll_timeout()
            .map_or(Duration::from_millis(10), |t| {
                t.saturating_duration_since(Instant::now())
            })
            .max(Duration::from_millis(1));
        socket.set_read_timeout(Some(wait)).unwrap();
        match socket.recv(&mut buf) {
            Ok(n) => assert!(binding.handle_receive(&buf[..n]), "coturn answered another transaction"),
            Err(_) => binding.handle_timeout(Instant::now()),
        }
    }
    assert_eq!(binding.result(), Some(&Ok(socket.local_addr().unwrap())));
}
