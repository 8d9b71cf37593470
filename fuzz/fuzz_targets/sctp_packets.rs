//! Fuzzes the SCTP boundary directly, below DTLS: what an authenticated peer can send.
//!
//! Two endpoints are connected in memory, packets going straight from one's
//! `poll_transmit` to the other's `handle_receive`. The first input byte picks the
//! setup (mod 3):
//!
//! - 0: a `DataChannels` pair (client `a`, server `b`) with a channel open;
//! - 1: the same pair just started, before the SCTP handshake (the INIT is queued);
//! - 2: a raw `SctpAssociation` client `a` against a `DataChannels` server `b`, with a
//!   channel opened by a DCEP OPEN `a` sent itself, so the input can also send any
//!   message with any PPID (DCEP 50 with garbage bodies included) on any stream.
//!
//! The rest is a program of operations (each listed in the `match` below): packets injected into
//! either side (raw bytes; or with a valid common header — ports 5000/5000, the real
//! verification tag — and a valid CRC32c so they pass the checksum; replays of
//! captured packets bit-flipped or cut short with the CRC fixed), time passing with
//! the real traffic flowing, messages sent. Nothing may panic, and if both sides
//! still say connected with the channel open, a message must get through each way.
#![no_main]

use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use rtcpeer_fuzz::ops::Reader;
use rtcpeer_proto::datachannel::dcep::{ChannelReliability, ChannelType, DataChannelOpen, DcepMessage};
use rtcpeer_proto::datachannel::{
    ChannelId, DataChannelEvent, DataChannelInit, DataChannelMessage, DataChannelState, DataChannels,
    DataChannelsConfig,
};
use rtcpeer_proto::sctp::checksum::seal;
use rtcpeer_proto::sctp::{Reliability, SctpAssociation, SctpConfig, SctpEvent};

/// At most this many operations per input.
const MAX_OPS: usize = 64;
/// At most this many captured packets per direction.
const MAX_CAPTURED: usize = 64;
/// The stream the raw client opens its channel on.
const RAW_STREAM: u16 = 0;

/// A packet with ports 5000/5000, `tag` and a valid checksum around `body` (the chunks).
fn packet(tag: u32, body: &[u8]) -> Vec<u8> {
    let mut p = Vec::with_capacity(12 + body.len());
    p.extend_from_slice(&5000u16.to_be_bytes());
    p.extend_from_slice(&5000u16.to_be_bytes());
    p.extend_from_slice(&tag.to_be_bytes());
    p.extend_from_slice(&[0; 4]);
    p.extend_from_slice(body);
    seal(&mut p);
    p
}

/// One chunk with a correct length field and padding.
fn chunk(typ: u8, flags: u8, value: &[u8]) -> Vec<u8> {
    let len = (4 + value.len()).min(usize::from(u16::MAX));
    let mut c = vec![typ, flags];
    c.extend_from_slice(&(len as u16).to_be_bytes());
    c.extend_from_slice(&value[..len - 4]);
    while c.len() % 4 != 0 {
        c.push(0);
    }
    c
}

/// The client end: a `DataChannels` or, in raw mode, a bare association.
enum Client {
    Channels(DataChannels),
    Raw(SctpAssociation),
}

struct Harness {
    a: Client,
    b: DataChannels,
    now: Instant,
    /// The channel as each side knows it (in raw mode `a` uses [`RAW_STREAM`]).
    a_channel: Option<ChannelId>,
    b_channel: Option<ChannelId>,
    /// Packets each side sent: `[0]` by a (to b), `[1]` by b (to a).
    captured: [Vec<Vec<u8>>; 2],
    /// The verification tag packets to a / to b must carry, as last seen.
    tag_to: [u32; 2],
    /// Messages received since the last clear: by a, by b.
    received: [Vec<Vec<u8>>; 2],
}

impl Harness {
    fn new(mode: u8) -> Harness {
        let now = Instant::now();
        let mut b = DataChannels::new(DataChannelsConfig::default());
        b.start(false, 5000, 256 * 1024, now);
        let (a, a_channel) = if mode == 2 {
            (Client::Raw(SctpAssociation::new(SctpConfig::new(true), now)), None)
        } else {
            let mut a = DataChannels::new(DataChannelsConfig::default());
            let id = a.create("fuzz", DataChannelInit::default()).expect("a first channel");
            a.start(true, 5000, 256 * 1024, now);
            (Client::Channels(a), Some(id))
        };
        Harness {
            a,
            b,
            now,
            a_channel,
            b_channel: None,
            captured: [Vec::new(), Vec::new()],
            tag_to: [0, 0],
            received: [Vec::new(), Vec::new()],
        }
    }

    fn a_connected(&self) -> bool {
        match &self.a {
            Client::Channels(a) => a.is_connected(),
            Client::Raw(a) => a.is_connected(),
        }
    }

    fn channel_open(&self) -> bool {
        let b_open = self
            .b_channel
            .and_then(|id| self.b.info(id))
            .is_some_and(|i| i.state == DataChannelState::Open);
        let a_open = match &self.a {
            Client::Channels(a) => self
                .a_channel
                .and_then(|id| a.info(id))
                .is_some_and(|i| i.state == DataChannelState::Open),
            Client::Raw(a) => a.is_connected(),
        };
        a_open && b_open
    }

    /// Delivers `p` to side `to` (0 = a, 1 = b).
    fn inject(&mut self, to: usize, p: &[u8]) {
        if to == 0 {
            match &mut self.a {
                Client::Channels(a) => a.handle_receive(self.now, p),
                Client::Raw(a) => a.handle_receive(self.now, p),
            }
        } else {
            self.b.handle_receive(self.now, p);
        }
        self.drain_events();
    }

    fn drain_events(&mut self) {
        match &mut self.a {
            Client::Channels(a) => {
                while let Some(e) = a.poll_event() {
                    if let DataChannelEvent::Message(_, m) = e {
                        self.received[0].push(bytes_of(m));
                    }
                }
            }
            Client::Raw(a) => {
                while let Some(e) = a.poll_event() {
                    if let SctpEvent::Message { data, .. } = e {
                        self.received[0].push(data);
                    }
                }
            }
        }
        while let Some(e) = self.b.poll_event() {
            match e {
                DataChannelEvent::RemoteCreated(id) if self.b_channel.is_none() => self.b_channel = Some(id),
                DataChannelEvent::Message(_, m) => self.received[1].push(bytes_of(m)),
                _ => {}
            }
        }
    }

    /// Moves every queued packet to the other side until both are quiet.
    fn shuttle(&mut self) {
        for _ in 0..1000 {
            let mut moved = false;
            let from_a = match &mut self.a {
                Client::Channels(a) => a.poll_transmit(),
                Client::Raw(a) => a.poll_transmit(),
            };
            if let Some(p) = from_a {
                self.learn(0, &p);
                self.b.handle_receive(self.now, &p);
                moved = true;
            }
            if let Some(p) = self.b.poll_transmit() {
                self.learn(1, &p);
                match &mut self.a {
                    Client::Channels(a) => a.handle_receive(self.now, &p),
                    Client::Raw(a) => a.handle_receive(self.now, &p),
                }
                moved = true;
            }
            self.drain_events();
            if !moved {
                return;
            }
        }
    }

    /// Records a packet sent by `from` and the verification tag it reveals.
    fn learn(&mut self, from: usize, p: &[u8]) {
        if self.captured[from].len() < MAX_CAPTURED {
            self.captured[from].push(p.to_vec());
        }
        let tag = p.get(4..8).map_or(0, |t| u32::from_be_bytes([t[0], t[1], t[2], t[3]]));
        let to = 1 - from;
        if tag != 0 {
            self.tag_to[to] = tag;
        }
        // An INIT or INIT-ACK names the tag its sender expects.
        if matches!(p.get(12), Some(1 | 2)) {
            if let Some(t) = p.get(16..20) {
                self.tag_to[from] = u32::from_be_bytes([t[0], t[1], t[2], t[3]]);
            }
        }
    }

    /// Lets `duration` of virtual time pass, running due timers and the traffic.
    fn run(&mut self, duration: Duration) {
        let end = self.now + duration;
        loop {
            self.shuttle();
            let a_timeout = match &self.a {
                Client::Channels(a) => a.poll_timeout(),
                Client::Raw(a) => a.poll_timeout(),
            };
            let next = [a_timeout, self.b.poll_timeout()].into_iter().flatten().min();
            match next {
                Some(t) if t <= end => {
                    self.now = self.now.max(t);
                    match &mut self.a {
                        Client::Channels(a) => a.handle_timeout(self.now),
                        Client::Raw(a) => a.handle_timeout(self.now),
                    }
                    self.b.handle_timeout(self.now);
                }
                _ => break,
            }
        }
        self.now = self.now.max(end);
        self.shuttle();
    }

    /// Sends `data` from side `from`; errors (closed, too large, ...) are fine.
    fn send(&mut self, from: usize, data: &[u8], text: bool) {
        let message = if text {
            DataChannelMessage::Text(String::from_utf8_lossy(data).into_owned())
        } else {
            DataChannelMessage::Binary(data.to_vec())
        };
        if from == 0 {
            match &mut self.a {
                Client::Channels(a) => {
                    if let Some(id) = self.a_channel {
                        let _ = a.send(id, &message);
                    }
                }
                Client::Raw(a) => {
                    let ppid = if text { 51 } else { 53 };
                    let _ = a.send(RAW_STREAM, ppid, data, true, Reliability::Reliable);
                }
            }
        } else if let Some(id) = self.b_channel {
            let _ = self.b.send(id, &message);
        }
    }

    /// In raw mode: the client opens its channel with a DCEP OPEN of its own.
    fn raw_open(&mut self) {
        if let Client::Raw(a) = &mut self.a {
            let open = DcepMessage::Open(DataChannelOpen {
                channel_type: ChannelType {
                    ordered: true,
                    reliability: ChannelReliability::Reliable,
                },
                priority: 256,
                label: "raw".into(),
                protocol: String::new(),
            });
            let bytes = open.encode().expect("a valid OPEN encodes");
            a.send(RAW_STREAM, 50, &bytes, true, Reliability::Reliable)
                .expect("the raw client is connected");
        }
    }
}

fn bytes_of(m: DataChannelMessage) -> Vec<u8> {
    match m {
        DataChannelMessage::Text(s) => s.into_bytes(),
        DataChannelMessage::Binary(b) => b,
    }
}

fuzz_target!(|data: &[u8]| {
    let mut input = Reader::new(data);
    let mode = input.u8() % 3;
    let mut h = Harness::new(mode);
    if mode != 1 {
        h.run(Duration::from_secs(3));
        assert!(h.a_connected() && h.b.is_connected(), "the handshake must succeed");
        h.raw_open();
        h.run(Duration::from_millis(100));
        if mode == 0 {
            assert!(h.channel_open(), "the channel must open on a perfect link");
        }
        assert!(h.b_channel.is_some(), "b must see the channel");
    }

    for _ in 0..MAX_OPS {
        if input.is_empty() {
            break;
        }
        let op = input.u8();
        let to = usize::from(op >> 7);
        let real_tag = h.tag_to[to];
        match op & 0x0f {
            // Raw bytes, as they come.
            0 | 1 => {
                let p = input.chunk().to_vec();
                h.inject(to, &p);
            }
            // Chunks after a valid header with the real tag.
            2 | 3 => {
                let p = packet(real_tag, input.chunk());
                h.inject(to, &p);
            }
            // One well-formed chunk (type, flags, value) with the real tag.
            4 | 5 => {
                let (typ, flags) = (input.u8(), input.u8());
                let p = packet(real_tag, &chunk(typ, flags, input.chunk()));
                h.inject(to, &p);
            }
            // One well-formed chunk with tag 0 (how an INIT comes).
            6 => {
                let (typ, flags) = (input.u8(), input.u8());
                let p = packet(0, &chunk(typ, flags, input.chunk()));
                h.inject(to, &p);
            }
            // Any header fields, valid checksum.
            7 => {
                let mut p = input.bytes(8).to_vec();
                p.resize(12, 0);
                p.extend_from_slice(input.chunk());
                seal(&mut p);
                h.inject(to, &p);
            }
            // Replay of a packet the other side sent, verbatim.
            8 => {
                let index = usize::from(input.u8());
                let src = &h.captured[1 - to];
                if let Some(p) = src.get(index % src.len().max(1)).cloned() {
                    h.inject(to, &p);
                }
            }
            // Replay with one byte XORed and the checksum fixed.
            9 => {
                let (index, pos, xor) = (usize::from(input.u8()), usize::from(input.u16()), input.u8());
                let src = &h.captured[1 - to];
                if let Some(mut p) = src.get(index % src.len().max(1)).cloned() {
                    if !p.is_empty() {
                        let at = pos % p.len();
                        p[at] ^= xor;
                        seal(&mut p);
                        h.inject(to, &p);
                    }
                }
            }
            // Replay cut short, the checksum fixed.
            10 => {
                let (index, len) = (usize::from(input.u8()), usize::from(input.u16()));
                let src = &h.captured[1 - to];
                if let Some(mut p) = src.get(index % src.len().max(1)).cloned() {
                    p.truncate(len % (p.len() + 1));
                    seal(&mut p);
                    h.inject(to, &p);
                }
            }
            // Time passes (u8 × 10 ms) with the real traffic flowing.
            11 | 12 => {
                let ms = u64::from(input.u8()) * 10;
                h.run(Duration::from_millis(ms));
            }
            // A message from side `to` (bit 4: text).
            13 => {
                let body = input.chunk().to_vec();
                h.send(to, &body, op & 0x10 != 0);
            }
            // Raw mode: any PPID on any stream from the raw client (DCEP included).
            14 => {
                let (ppid_pick, stream, flags) = (input.u8(), input.u16(), input.u8());
                let body = input.chunk().to_vec();
                if let Client::Raw(a) = &mut h.a {
                    let ppid = [50, 50, 50, 51, 53, 56, 57, 52][usize::from(ppid_pick & 7)];
                    let stream = if flags & 1 == 0 {
                        RAW_STREAM + (stream & 7)
                    } else {
                        stream
                    };
                    let reliability = match flags >> 6 {
                        0 | 1 => Reliability::Reliable,
                        2 => Reliability::MaxRetransmits(0),
                        _ => Reliability::MaxPacketLifeTime(Duration::from_millis(u64::from(flags & 0x3f))),
                    };
                    let _ = a.send(stream, ppid, &body, flags & 2 == 0, reliability);
                    h.shuttle();
                }
            }
            // Deliver what is queued, no time passing.
            _ => h.shuttle(),
        }
    }

    // Let the dust settle, then check the channel still works if everyone says it does.
    h.run(Duration::from_secs(2));
    if h.a_connected() && h.b.is_connected() && h.channel_open() {
        h.received = [Vec::new(), Vec::new()];
        h.send(0, b"ping after fuzz", false);
        h.send(1, b"pong after fuzz", false);
        h.run(Duration::from_secs(30));
        assert!(
            h.received[1].iter().any(|m| m == b"ping after fuzz"),
            "a connected channel did not deliver a -> b"
        );
        assert!(
            h.received[0].iter().any(|m| m == b"pong after fuzz"),
            "a connected channel did not deliver b -> a"
        );
    }
});
