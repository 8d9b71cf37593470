//! The receive jitter buffer: RTP payloads of one stream in, complete frames out, in order.
//!
//! Packets are kept by extended sequence number (the 16-bit number unrolled across wraps). A
//! frame is complete when every sequence number from its first packet (the one after the
//! previous frame's last packet, or — after a loss or at the start — a packet carrying the
//! codec's start flag) to its marker packet is present. Frames come out in order: a missing
//! packet holds everything behind it back, for up to [`JitterConfig::max_wait`] after the
//! oldest waiting packet arrived (time for a NACK to bring it back); then the incomplete frame
//! and everything before it are dropped.
//!
//! For video, a dropped frame breaks the prediction chain: the buffer then reports
//! [`JitterBuffer::needs_keyframe`] (send a PLI) and discards delta frames until a key frame
//! comes out; while it waits for one, a complete key frame held behind a gap comes out at once,
//! without waiting for the gap's deadline. For audio every packet is a frame and there are no
//! key frames: the buffer only puts packets back in order within the wait.
//!
//! Packets from before what was already emitted are ignored as late, unless eight come in
//! sequence more than 1000 numbers back: then the sender has restarted its sequence numbers and
//! the buffer starts over with them.
//!
//! The buffer is bounded: at most [`JitterConfig::max_packets`] packets and
//! [`JitterConfig::max_buffered_bytes`] bytes are held (the oldest frame is dropped to make
//! room), and a frame larger than [`JitterConfig::max_frame_bytes`] is dropped.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tracing::{debug, trace};

use super::codec::{Codec, Depacketizer};

/// How far behind what was already emitted a packet must be to count towards a restart.
const RESTART_DISTANCE: u64 = 1000;

/// How many consecutive sequence numbers that far behind make the buffer start over: a sender
/// that restarted its sequence numbers, not stray retransmissions.
const RESTART_RUN: u32 = 8;

/// Limits and timing of a [`JitterBuffer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JitterConfig {
    /// How long a packet may wait for the packets missing before it.
    pub max_wait: Duration,
    /// The most packets held at once.
    pub max_packets: usize,
    /// The most payload bytes held at once.
    pub max_buffered_bytes: usize,
    /// The largest frame assembled; larger ones are dropped.
    pub max_frame_bytes: usize,
}

impl JitterConfig {
    /// Defaults for video: 200 ms wait, 2048 packets, 8 MiB held, 4 MiB frames.
    pub fn video() -> Self {
        Self {
            max_wait: Duration::from_millis(200),
            max_packets: 2048,
            max_buffered_bytes: 8 << 20,
            max_frame_bytes: 4 << 20,
        }
    }

    /// Defaults for audio: 60 ms wait, 64 packets, 64 KiB held, 8 KiB frames.
    pub fn audio() -> Self {
        Self {
            max_wait: Duration::from_millis(60),
            max_packets: 64,
            max_buffered_bytes: 64 << 10,
            max_frame_bytes: 8 << 10,
        }
    }

    /// The defaults for `codec`'s kind.
    pub fn for_codec(codec: Codec) -> Self {
        if codec.is_audio() {
            Self::audio()
        } else {
            Self::video()
        }
    }
}

/// A complete frame from the jitter buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// The RTP timestamp shared by the frame's packets.
    pub timestamp: u32,
    /// The depacketized frame.
    pub data: Bytes,
    /// Whether the frame decodes without earlier frames (always true for audio).
    pub keyframe: bool,
    /// The sequence number of the frame's first packet.
    pub first_seq: u16,
    /// The sequence number of the frame's last packet.
    pub last_seq: u16,
}

/// What [`JitterBuffer::insert`] did with a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InsertOutcome {
    /// The packet is held until its frame is complete.
    Buffered,
    /// A packet with this sequence number is already held; this one was ignored.
    Duplicate,
    /// The packet belongs before what was already emitted or dropped; it was ignored.
    Late,
    /// The payload alone is larger than a frame may be; it was ignored.
    TooLarge,
}

/// Counters of what the buffer did, for statistics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct JitterStats {
    /// Frames returned by [`JitterBuffer::poll_frame`].
    pub frames_emitted: u64,
    /// Frames dropped: incomplete at their deadline, evicted for room, too large, or malformed.
    /// For audio every packet given up on counts as one frame.
    pub frames_dropped: u64,
    /// Complete delta frames discarded while waiting for a key frame.
    pub frames_discarded: u64,
    /// Packets ignored as late.
    pub packets_late: u64,
    /// Packets ignored as duplicates.
    pub packets_duplicate: u64,
}

/// One held packet.
#[derive(Debug)]
struct Packet {
    timestamp: u32,
    marker: bool,
    /// Whether the codec's start flag says this payload may begin a frame.
    start: bool,
    payload: Bytes,
    arrival: Instant,
}

/// Whether the frame at a start sequence number is there in full.
enum Assembly {
    /// Every packet from the start through `end` is present.
    Complete { end: u64 },
    /// A packet is missing.
    Incomplete,
    /// The frame is larger than [`JitterConfig::max_frame_bytes`].
    TooLarge,
}

/// The jitter buffer of one received stream. See the [module documentation](self).
pub struct JitterBuffer {
    config: JitterConfig,
    audio: bool,
    depacketizer: Box<dyn Depacketizer + Send>,
    packets: BTreeMap<u64, Packet>,
    bytes: usize,
    /// The highest extended sequence number seen, the reference for unrolling the next one.
    highest: Option<u64>,
    /// The extended sequence number the next frame starts at, while it is known.
    next: Option<u64>,
    /// Packets below this extended sequence number are late.
    floor: Option<u64>,
    /// The timestamp of the last frame dropped, so its stragglers are not taken for a new frame.
    dropped_timestamp: Option<u32>,
    /// The last packet far behind the floor and how many came in sequence before it.
    far_behind: Option<(u16, u32)>,
    /// Video only: delta frames are discarded until a key frame comes out.
    keyframe_required: bool,
    /// A frame was lost or discarded and no key frame has come out since.
    needs_keyframe: bool,
    stats: JitterStats,
}

impl std::fmt::Debug for JitterBuffer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JitterBuffer")
            .field("config", &self.config)
            .field("audio", &self.audio)
            .field("packets", &self.packets.len())
            .field("bytes", &self.bytes)
            .field("next", &self.next)
            .field("needs_keyframe", &self.needs_keyframe)
            .field("stats", &self.stats)
            .finish()
    }
}

impl JitterBuffer {
    /// A buffer for a stream of `codec` with that kind's default limits.
    pub fn new(codec: Codec) -> Self {
        Self::with_config(codec, JitterConfig::for_codec(codec))
    }

    /// A buffer for a stream of `codec` with the given limits.
    pub fn with_config(codec: Codec, config: JitterConfig) -> Self {
        let audio = codec.is_audio();
        Self {
            config,
            audio,
            depacketizer: codec.depacketizer(),
            packets: BTreeMap::new(),
            bytes: 0,
            highest: None,
            next: None,
            floor: None,
            dropped_timestamp: None,
            far_behind: None,
            keyframe_required: !audio,
            needs_keyframe: false,
            stats: JitterStats::default(),
        }
    }

    /// Takes in one received packet's RTP fields and payload.
    pub fn insert(
        &mut self,
        seq: u16,
        timestamp: u32,
        marker: bool,
        payload: Bytes,
        arrival: Instant,
    ) -> InsertOutcome {
        if payload.len() > self.config.max_frame_bytes {
            return InsertOutcome::TooLarge;
        }
        let mut ext = self.extend(seq);
        if self.is_late(ext) && self.sender_restarted(seq, ext) {
            debug!(seq, "sequence numbers jumped back: starting over");
            self.restart();
            ext = self.extend(seq);
        }
        if self.is_late(ext) {
            self.stats.packets_late += 1;
            return InsertOutcome::Late;
        }
        self.far_behind = None;
        if self.packets.contains_key(&ext) {
            self.stats.packets_duplicate += 1;
            return InsertOutcome::Duplicate;
        }
        while !self.packets.is_empty()
            && (self.packets.len() >= self.config.max_packets
                || self.bytes + payload.len() > self.config.max_buffered_bytes)
        {
            debug!(
                held = self.packets.len(),
                bytes = self.bytes,
                "jitter buffer full: dropping the oldest frame"
            );
            self.drop_head_frame();
        }
        if self.is_late(ext) {
            self.stats.packets_late += 1;
            return InsertOutcome::Late;
        }
        self.highest = Some(self.highest.map_or(ext, |h| h.max(ext)));
        let start = self.depacketizer.is_frame_start(&payload);
        self.bytes += payload.len();
        self.packets.insert(
            ext,
            Packet {
                timestamp,
                marker,
                start,
                payload,
                arrival,
            },
        );
        InsertOutcome::Buffered
    }

    /// The next complete frame, in order, if there is one by `now`.
    ///
    /// Call it after every [`insert`](Self::insert) until it returns `None`, and again at
    /// [`poll_timeout`](Self::poll_timeout).
    pub fn poll_frame(&mut self, now: Instant) -> Option<Frame> {
        loop {
            let start = match self.next {
                Some(next) => Some(next),
                None => self.first_candidate(),
            };
            // In resync, a candidate with older packets before it waits for them like a gap.
            let blocked_by_older = start.is_some_and(|s| self.next.is_none() && self.head() != Some(s));
            let assembly = match start {
                Some(s) if !blocked_by_older => self.assemble(s),
                _ => Assembly::Incomplete,
            };
            match (assembly, start) {
                (Assembly::Complete { end }, Some(start)) => {
                    if let Some(frame) = self.take_frame(start, end) {
                        return Some(frame);
                    }
                }
                (Assembly::TooLarge, _) => {
                    debug!("frame larger than {} bytes: dropped", self.config.max_frame_bytes);
                    self.drop_head_frame();
                }
                _ => {
                    if self.packets.is_empty() {
                        return None;
                    }
                    if self.keyframe_required && self.skip_to_keyframe() {
                        continue;
                    }
                    match self.deadline() {
                        Some(deadline) if now >= deadline => self.give_up_head(),
                        _ => return None,
                    }
                }
            }
        }
    }

    /// When [`poll_frame`](Self::poll_frame) should be called again: the deadline of the oldest
    /// held packet (`None` while nothing is held).
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.deadline()
    }

    /// Whether the receiver should ask for a key frame (send a PLI): a frame was lost or
    /// discarded and no key frame has come out since. Always false for audio.
    pub fn needs_keyframe(&self) -> bool {
        self.needs_keyframe
    }

    /// How many packets are held.
    pub fn len(&self) -> usize {
        self.packets.len()
    }

    /// Whether no packet is held.
    pub fn is_empty(&self) -> bool {
        self.packets.is_empty()
    }

    /// How many payload bytes are held.
    pub fn buffered_bytes(&self) -> usize {
        self.bytes
    }

    /// Counters of what the buffer did so far.
    pub fn stats(&self) -> JitterStats {
        self.stats
    }

    /// Unrolls a 16-bit sequence number to the extended one nearest the highest seen.
    fn extend(&self, seq: u16) -> u64 {
        match self.highest {
            // Start far from zero so that going backwards never underflows.
            None => (1 << 32) | u64::from(seq),
            Some(highest) => {
                let delta = i64::from(seq.wrapping_sub(highest as u16) as i16);
                highest.wrapping_add_signed(delta)
            }
        }
    }

    /// Counts a late packet far behind the floor; true once enough came in sequence.
    fn sender_restarted(&mut self, seq: u16, ext: u64) -> bool {
        let far = self.floor.is_some_and(|floor| ext + RESTART_DISTANCE < floor);
        let run = match self.far_behind {
            Some((last, run)) if far && seq == last.wrapping_add(1) => run + 1,
            _ if far => 1,
            _ => 0,
        };
        self.far_behind = (run > 0).then_some((seq, run));
        run >= RESTART_RUN
    }

    /// Forgets everything held and where the sequence was, as for a new stream.
    fn restart(&mut self) {
        if !self.packets.is_empty() {
            self.note_loss();
        }
        self.packets.clear();
        self.bytes = 0;
        self.highest = None;
        self.next = None;
        self.floor = None;
        self.dropped_timestamp = None;
        self.far_behind = None;
    }

    fn is_late(&self, ext: u64) -> bool {
        self.floor.is_some_and(|floor| ext < floor)
    }

    fn head(&self) -> Option<u64> {
        self.packets.keys().next().copied()
    }

    /// When the oldest held packet has waited long enough.
    fn deadline(&self) -> Option<Instant> {
        self.packets
            .values()
            .map(|p| p.arrival)
            .min()
            .map(|a| a + self.config.max_wait)
    }

    /// Whether the packet at `seq` may begin a frame when the previous frame's end is unknown.
    fn is_candidate(&self, seq: u64, packet: &Packet) -> bool {
        if self.audio {
            return true;
        }
        if !packet.start {
            return false;
        }
        match seq.checked_sub(1).and_then(|prev| self.packets.get(&prev)) {
            Some(prev) => prev.marker || prev.timestamp != packet.timestamp,
            None => self.dropped_timestamp != Some(packet.timestamp),
        }
    }

    /// The first held packet that may begin a frame.
    fn first_candidate(&self) -> Option<u64> {
        self.packets
            .iter()
            .find(|(seq, p)| self.is_candidate(**seq, p))
            .map(|(seq, _)| *seq)
    }

    /// Checks whether the frame starting at `start` is all there.
    fn assemble(&self, start: u64) -> Assembly {
        let Some(first) = self.packets.get(&start) else {
            return Assembly::Incomplete;
        };
        if self.audio {
            return Assembly::Complete { end: start };
        }
        let mut size = 0usize;
        let mut seq = start;
        loop {
            let Some(packet) = self.packets.get(&seq) else {
                return Assembly::Incomplete;
            };
            if packet.timestamp != first.timestamp {
                // The frame ended without a marker bit: the next one has begun.
                return Assembly::Complete { end: seq - 1 };
            }
            size += packet.payload.len();
            if size > self.config.max_frame_bytes {
                return Assembly::TooLarge;
            }
            if packet.marker {
                return Assembly::Complete { end: seq };
            }
            seq += 1;
        }
    }

    /// Removes the packets below `end` (inclusive) and returns the payloads of `start..=end`.
    fn remove_through(&mut self, start: u64, end: u64) -> Vec<Bytes> {
        let rest = self.packets.split_off(&(end + 1));
        let taken = std::mem::replace(&mut self.packets, rest);
        let mut payloads = Vec::with_capacity(taken.len());
        for (seq, packet) in taken {
            self.bytes -= packet.payload.len();
            if seq >= start {
                payloads.push(packet.payload);
            }
        }
        self.floor = Some(end + 1);
        payloads
    }

    /// Takes the complete frame `start..=end` out; returns it unless it must be discarded.
    fn take_frame(&mut self, start: u64, end: u64) -> Option<Frame> {
        let timestamp = self.packets.get(&start).map(|p| p.timestamp).unwrap_or_default();
        let payloads = self.remove_through(start, end);
        self.next = Some(end + 1);
        match self.depacketizer.depacketize(&payloads) {
            Err(error) => {
                debug!(%error, timestamp, "malformed frame dropped");
                self.note_loss();
                None
            }
            Ok(frame) if self.keyframe_required && !frame.keyframe => {
                trace!(timestamp, "delta frame discarded while waiting for a key frame");
                self.stats.frames_discarded += 1;
                self.needs_keyframe = true;
                None
            }
            Ok(frame) => {
                if frame.keyframe && !self.audio {
                    self.keyframe_required = false;
                    self.needs_keyframe = false;
                }
                self.stats.frames_emitted += 1;
                Some(Frame {
                    timestamp,
                    data: frame.data,
                    keyframe: frame.keyframe,
                    first_seq: start as u16,
                    last_seq: end as u16,
                })
            }
        }
    }

    /// A frame was lost: video now needs a key frame.
    fn note_loss(&mut self) {
        self.stats.frames_dropped += 1;
        if !self.audio {
            self.keyframe_required = true;
            self.needs_keyframe = true;
        }
    }

    /// The wait for the head of the buffer is over: skip a gap, or drop the incomplete frame.
    fn give_up_head(&mut self) {
        let Some(head) = self.head() else {
            return;
        };
        if let Some(next) = self.next.filter(|next| *next < head) {
            // The packets next..head never came.
            debug!(missing = head - next, "gave up waiting for missing packets");
            self.floor = Some(head);
            if self.audio {
                self.stats.frames_dropped += head - next;
                self.next = Some(head);
                return;
            }
            self.note_loss();
            self.next = None;
            self.dropped_timestamp = None;
            if self.packets.get(&head).is_some_and(|p| p.start) {
                return;
            }
        }
        debug!("gave up waiting for an incomplete frame");
        self.drop_head_frame();
    }

    /// Drops the oldest held frame: the head packet and those after it with its timestamp, up to
    /// its marker. Always removes at least one packet.
    fn drop_head_frame(&mut self) {
        let Some((&head, first)) = self.packets.first_key_value() else {
            return;
        };
        let timestamp = first.timestamp;
        let mut end = head;
        for (&seq, packet) in self.packets.range(head..) {
            if packet.timestamp != timestamp {
                break;
            }
            end = seq;
            if packet.marker {
                break;
            }
        }
        self.remove_through(head, end);
        self.next = None;
        self.dropped_timestamp = Some(timestamp);
        self.note_loss();
    }

    /// While a key frame is required: if a complete key frame is held behind whatever blocks,
    /// drops everything before it and makes it the next frame.
    fn skip_to_keyframe(&mut self) -> bool {
        let head = self.head();
        let candidates: Vec<u64> = self
            .packets
            .iter()
            .filter(|(seq, p)| Some(**seq) != head && self.is_candidate(**seq, p))
            .map(|(seq, _)| *seq)
            .collect();
        for start in candidates {
            let Assembly::Complete { end } = self.assemble(start) else {
                continue;
            };
            let payloads: Vec<Bytes> = self
                .packets
                .range(start..=end)
                .map(|(_, p)| p.payload.clone())
                .collect();
            if self.depacketizer.depacketize(&payloads).is_ok_and(|f| f.keyframe) {
                debug!("skipping ahead to a complete key frame");
                if let Some(before) = start.checked_sub(1) {
                    self.remove_through(start, before);
                }
                self.stats.frames_dropped += 1;
                self.needs_keyframe = true;
                self.next = Some(start);
                return true;
            }
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::codec::vp8::Vp8Packetizer;
    use crate::media::codec::{Packetizer, Payload};

    /// One RTP packet as the sender would put it on the wire.
    #[derive(Debug, Clone)]
    struct Rtp {
        seq: u16,
        timestamp: u32,
        marker: bool,
        payload: Bytes,
    }

    /// A VP8 sender: frames of `len` bytes, key or delta, 3000 ticks apart, packetized to 1200.
    struct Sender {
        packetizer: Vp8Packetizer,
        seq: u16,
        timestamp: u32,
    }

    impl Sender {
        fn new(first_seq: u16) -> Self {
            Self {
                packetizer: Vp8Packetizer::new(0),
                seq: first_seq,
                timestamp: 90_000,
            }
        }

        fn frame(&mut self, len: usize, key: bool) -> (Vec<u8>, Vec<Rtp>) {
            let mut frame: Vec<u8> = (0..len).map(|i| (i as u32 ^ self.timestamp) as u8).collect();
            frame[0] = (frame[0] & !1) | u8::from(!key);
            let payloads = self.packetizer.packetize(&frame, self.timestamp, 1200).unwrap();
            let packets = payloads
                .into_iter()
                .map(
                    |Payload {
                         timestamp,
                         data,
                         marker,
                     }| {
                        let seq = self.seq;
                        self.seq = self.seq.wrapping_add(1);
                        Rtp {
                            seq,
                            timestamp,
                            marker,
                            payload: data,
                        }
                    },
                )
                .collect();
            self.timestamp = self.timestamp.wrapping_add(3000);
            (frame, packets)
        }
    }

    fn insert(buffer: &mut JitterBuffer, packet: &Rtp, at: Instant) -> InsertOutcome {
        buffer.insert(packet.seq, packet.timestamp, packet.marker, packet.payload.clone(), at)
    }

    fn drain(buffer: &mut JitterBuffer, now: Instant) -> Vec<Frame> {
        std::iter::from_fn(|| buffer.poll_frame(now)).collect()
    }

    #[test]
    fn in_order_frames_come_out_whole() {
        let t0 = Instant::now();
        let mut sender = Sender::new(1000);
        let mut buffer = JitterBuffer::new(Codec::Vp8);
        let mut expected = Vec::new();
        for (i, (len, key)) in [(5000, true), (100, false), (2400, false)].into_iter().enumerate() {
            let (frame, packets) = sender.frame(len, key);
            for (k, p) in packets.iter().enumerate() {
                assert_eq!(insert(&mut buffer, p, t0), InsertOutcome::Buffered);
                if k + 1 < packets.len() {
                    assert_eq!(buffer.poll_frame(t0), None, "frame {i} is not complete yet");
                }
            }
            let out = buffer.poll_frame(t0).expect("complete frame");
            assert_eq!(out.data, frame);
            assert_eq!(out.keyframe, key);
            assert_eq!(
                (out.first_seq, out.last_seq),
                (packets[0].seq, packets.last().unwrap().seq)
            );
            assert_eq!(out.timestamp, packets[0].timestamp);
            expected.push(out);
        }
        assert!(buffer.is_empty());
        assert_eq!(buffer.buffered_bytes(), 0);
        assert_eq!(buffer.poll_timeout(), None);
        assert!(!buffer.needs_keyframe());
        assert_eq!(buffer.stats().frames_emitted, 3);
    }

    #[test]
    fn reordered_and_duplicated_packets_across_the_sequence_wrap() {
        let t0 = Instant::now();
        let mut sender = Sender::new(65_530);
        let mut buffer = JitterBuffer::new(Codec::Vp8);
        let mut frames = Vec::new();
        let mut packets = Vec::new();
        for i in 0..4 {
            let (frame, p) = sender.frame(3000, i == 0);
            frames.push(frame);
            packets.extend(p);
        }
        // 12 packets, seq 65530..=65535 then 0..=5; deliver them in a scrambled order, each twice.
        assert_eq!(packets.last().unwrap().seq, 5);
        let order = [3, 0, 2, 1, 5, 4, 7, 6, 11, 9, 8, 10];
        let mut out = Vec::new();
        for &i in &order {
            assert_eq!(insert(&mut buffer, &packets[i], t0), InsertOutcome::Buffered);
            let outcome = insert(&mut buffer, &packets[i], t0);
            assert!(
                matches!(outcome, InsertOutcome::Duplicate | InsertOutcome::Late),
                "{outcome:?}"
            );
            out.extend(drain(&mut buffer, t0));
        }
        let data: Vec<_> = out.iter().map(|f| f.data.to_vec()).collect();
        assert_eq!(data, frames);
        assert_eq!(out[1].first_seq, 65_533);
        assert_eq!((out[2].first_seq, out[2].last_seq), (0, 2));
        // Anything of an emitted frame is late now.
        assert_eq!(insert(&mut buffer, &packets[0], t0), InsertOutcome::Late);
        assert_eq!(insert(&mut buffer, &packets[11], t0), InsertOutcome::Late);
        let stats = buffer.stats();
        assert_eq!(stats.frames_emitted, 4);
        assert_eq!(stats.packets_duplicate + stats.packets_late, 14);
        assert!(buffer.is_empty());
    }

    #[test]
    fn a_lost_packet_recovered_before_the_deadline_loses_nothing() {
        let t0 = Instant::now();
        let mut sender = Sender::new(10);
        let mut buffer = JitterBuffer::new(Codec::Vp8);
        let (key, key_packets) = sender.frame(3000, true);
        let (delta, delta_packets) = sender.frame(3000, false);
        for p in key_packets.iter().chain(&delta_packets).filter(|p| p.seq != 11) {
            insert(&mut buffer, p, t0);
        }
        assert_eq!(buffer.poll_frame(t0), None);
        assert_eq!(buffer.poll_timeout(), Some(t0 + Duration::from_millis(200)));
        // The retransmission arrives 150 ms later.
        let t1 = t0 + Duration::from_millis(150);
        assert_eq!(buffer.poll_frame(t1), None);
        insert(&mut buffer, &key_packets[1], t1);
        let out = drain(&mut buffer, t1);
        assert_eq!(out.iter().map(|f| f.data.to_vec()).collect::<Vec<_>>(), [key, delta]);
        assert!(!buffer.needs_keyframe());
        assert_eq!(buffer.stats().frames_dropped, 0);
    }

    #[test]
    fn a_loss_past_the_deadline_drops_the_frame_and_holds_deltas_until_a_key_frame() {
        let t0 = Instant::now();
        let mut sender = Sender::new(500);
        let mut buffer = JitterBuffer::new(Codec::Vp8);
        let (key, packets) = sender.frame(1000, true);
        insert(&mut buffer, &packets[0], t0);
        assert_eq!(buffer.poll_frame(t0).map(|f| f.data.to_vec()), Some(key));

        // Frame 2 loses its middle packet; frames 3 and 4 are complete deltas.
        let (_, lost) = sender.frame(3000, false);
        let (_, d3) = sender.frame(2000, false);
        let (_, d4) = sender.frame(100, false);
        for p in lost.iter().filter(|p| p.seq != lost[1].seq).chain(&d3).chain(&d4) {
            insert(&mut buffer, p, t0);
        }
        let just_before = t0 + Duration::from_millis(199);
        assert_eq!(buffer.poll_frame(just_before), None);
        assert!(!buffer.needs_keyframe(), "still waiting for a retransmission");

        let deadline = t0 + Duration::from_millis(200);
        assert_eq!(
            buffer.poll_frame(deadline),
            None,
            "deltas after a loss must not come out"
        );
        assert!(buffer.needs_keyframe());
        assert_eq!(buffer.stats().frames_dropped, 1);
        assert_eq!(buffer.stats().frames_discarded, 2);
        assert!(buffer.is_empty());
        // The lost packet arriving now is late.
        assert_eq!(insert(&mut buffer, &lost[1], deadline), InsertOutcome::Late);

        // More deltas are discarded; the key frame (the PLI's answer) comes out and clears the flag.
        let (_, d5) = sender.frame(500, false);
        let (key2, k6) = sender.frame(4000, true);
        let (delta7, d7) = sender.frame(500, false);
        for p in d5.iter().chain(&k6).chain(&d7) {
            insert(&mut buffer, p, deadline);
        }
        let out = drain(&mut buffer, deadline);
        assert_eq!(out.iter().map(|f| f.data.to_vec()).collect::<Vec<_>>(), [key2, delta7]);
        assert!(out[0].keyframe && !out[1].keyframe);
        assert!(!buffer.needs_keyframe());
    }

    #[test]
    fn a_stream_starting_with_deltas_waits_for_a_key_frame() {
        let t0 = Instant::now();
        let mut sender = Sender::new(0);
        let mut buffer = JitterBuffer::new(Codec::Vp8);
        for _ in 0..3 {
            for p in sender.frame(1500, false).1 {
                insert(&mut buffer, &p, t0);
            }
            assert_eq!(buffer.poll_frame(t0), None);
        }
        assert!(buffer.needs_keyframe());
        let (key, packets) = sender.frame(1500, true);
        for p in &packets {
            insert(&mut buffer, p, t0);
        }
        let out = drain(&mut buffer, t0);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].data, key);
        assert!(!buffer.needs_keyframe());
    }

    #[test]
    fn a_complete_key_frame_behind_a_gap_is_taken_as_soon_as_a_key_frame_is_needed() {
        let t0 = Instant::now();
        let mut sender = Sender::new(300);
        let mut buffer = JitterBuffer::new(Codec::Vp8);
        // The stream's first key frame lost a packet; a second key frame follows complete.
        let (_, first) = sender.frame(3000, true);
        let (key, second) = sender.frame(3000, true);
        for p in first.iter().skip(1).chain(&second) {
            insert(&mut buffer, p, t0);
        }
        let out = drain(&mut buffer, t0);
        assert_eq!(out.len(), 1, "no need to wait for the first key frame");
        assert_eq!(out[0].data, key);
        // The rest of the first key frame is late now.
        assert_eq!(insert(&mut buffer, &first[0], t0), InsertOutcome::Late);
    }

    #[test]
    fn frames_end_at_a_timestamp_change_when_the_marker_is_missing() {
        use crate::media::codec::h264::H264Packetizer;
        let t0 = Instant::now();
        let mut buffer = JitterBuffer::new(Codec::H264);
        let idr = [
            &[0, 0, 0, 1, 0x67, 1, 2][..],
            &[0, 0, 0, 1, 0x68, 3],
            &[0, 0, 0, 1, 0x65, 4, 5, 6],
        ]
        .concat();
        let slice = [0, 0, 0, 1, 0x41, 9, 9, 9];
        let a = H264Packetizer.packetize(&idr, 0, 1200).unwrap();
        let b = H264Packetizer.packetize(&slice, 3000, 1200).unwrap();
        buffer.insert(7, 0, false, a[0].data.clone(), t0);
        assert_eq!(buffer.poll_frame(t0), None, "the end of the frame is not known yet");
        buffer.insert(8, 3000, true, b[0].data.clone(), t0);
        let out = drain(&mut buffer, t0);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].data, idr);
        assert!(out[0].keyframe);
        assert_eq!(out[1].data, &slice[..]);
    }

    #[test]
    fn audio_is_reordered_and_gaps_are_skipped_at_the_deadline() {
        let t0 = Instant::now();
        let mut buffer = JitterBuffer::new(Codec::Opus);
        let packet = |n: u16| Bytes::from(vec![0xf8, n as u8]);
        for seq in [65_534u16, 0, 65_535, 2] {
            buffer.insert(seq, u32::from(seq) * 960, false, packet(seq), t0);
        }
        let out = drain(&mut buffer, t0);
        assert_eq!(out.iter().map(|f| f.first_seq).collect::<Vec<_>>(), [65_534, 65_535, 0]);
        assert!(out.iter().all(|f| f.keyframe && f.first_seq == f.last_seq));
        // Seq 1 is missing: 2 waits for it for 60 ms, then the gap is skipped.
        assert_eq!(buffer.poll_timeout(), Some(t0 + Duration::from_millis(60)));
        assert_eq!(buffer.poll_frame(t0 + Duration::from_millis(59)), None);
        let out = buffer.poll_frame(t0 + Duration::from_millis(60)).unwrap();
        assert_eq!(out.first_seq, 2);
        assert_eq!(out.data, packet(2));
        assert!(!buffer.needs_keyframe());
        assert_eq!(buffer.insert(1, 960, false, packet(1), t0), InsertOutcome::Late);
        // A malformed Opus packet is dropped, not emitted.
        buffer.insert(3, 0, false, Bytes::from_static(&[0xfb, 0]), t0);
        assert_eq!(buffer.poll_frame(t0), None);
        assert_eq!(buffer.stats().frames_dropped, 2);
    }

    #[test]
    fn frames_over_the_size_limit_are_dropped_and_a_blocked_buffer_evicts_the_oldest() {
        let t0 = Instant::now();
        let config = JitterConfig {
            max_frame_bytes: 4000,
            max_packets: 8,
            ..JitterConfig::video()
        };
        let mut buffer = JitterBuffer::with_config(Codec::Vp8, config);
        let mut sender = Sender::new(0);
        let (key, packets) = sender.frame(3000, true);
        packets
            .iter()
            .for_each(|p| assert_eq!(insert(&mut buffer, p, t0), InsertOutcome::Buffered));
        assert_eq!(buffer.poll_frame(t0).map(|f| f.data.to_vec()), Some(key));
        // 6000 bytes: over the limit.
        for p in sender.frame(6000, false).1 {
            insert(&mut buffer, &p, t0);
        }
        assert_eq!(buffer.poll_frame(t0), None);
        assert!(buffer.needs_keyframe());
        assert_eq!(buffer.stats().frames_dropped, 1);
        assert!(buffer.is_empty());
        // A gap, then more packets than the buffer holds: the oldest go, the newest stay.
        let (_, lost) = sender.frame(1000, true);
        assert_eq!(lost.len(), 1);
        let mut last = None;
        for _ in 0..6 {
            let (frame, packets) = sender.frame(2000, true);
            for p in &packets {
                insert(&mut buffer, p, t0);
                assert!(buffer.len() <= 8);
            }
            last = Some(frame);
        }
        let out = drain(&mut buffer, t0);
        assert_eq!(
            out.last().map(|f| f.data.to_vec()),
            last,
            "the newest key frame comes out"
        );
        assert!(!buffer.needs_keyframe());
    }

    #[test]
    fn a_sender_that_restarts_its_sequence_numbers_is_followed() {
        let t0 = Instant::now();
        let mut buffer = JitterBuffer::new(Codec::Opus);
        let packet = Bytes::from_static(&[0xf8, 1]);
        for seq in 20_000..20_010u16 {
            buffer.insert(seq, u32::from(seq) * 960, false, packet.clone(), t0);
        }
        assert_eq!(drain(&mut buffer, t0).len(), 10);
        // A stray old packet, or a few, are late and ignored.
        assert_eq!(buffer.insert(19_990, 0, false, packet.clone(), t0), InsertOutcome::Late);
        for seq in 100..107u16 {
            assert_eq!(buffer.insert(seq, 0, false, packet.clone(), t0), InsertOutcome::Late);
        }
        // The eighth in sequence shows the sender started over: the stream is followed from there.
        assert_eq!(
            buffer.insert(107, 960, false, packet.clone(), t0),
            InsertOutcome::Buffered
        );
        assert_eq!(buffer.poll_frame(t0).map(|f| f.first_seq), Some(107));
        assert_eq!(
            buffer.insert(108, 1920, false, packet.clone(), t0),
            InsertOutcome::Buffered
        );
        assert_eq!(buffer.poll_frame(t0).map(|f| f.first_seq), Some(108));
        // Retransmissions a little behind never count towards a restart.
        for seq in 90..107u16 {
            assert_eq!(buffer.insert(seq, 0, false, packet.clone(), t0), InsertOutcome::Late);
        }
        assert_eq!(buffer.insert(109, 2880, false, packet, t0), InsertOutcome::Buffered);
    }

    #[test]
    fn memory_stays_bounded_under_a_flood_of_random_packets() {
        let t0 = Instant::now();
        let config = JitterConfig {
            max_packets: 100,
            max_buffered_bytes: 20_000,
            ..JitterConfig::video()
        };
        for codec in Codec::ALL {
            let mut buffer = JitterBuffer::with_config(codec, config);
            let mut state = 0x9e37_79b9_7f4a_7c15u64 ^ codec as u64;
            let mut next = move || {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state
            };
            for i in 0..8_000u64 {
                let r = next();
                let len = (r >> 40) as usize % 1500;
                let payload: Vec<u8> = (0..len).map(|k| (r >> (k % 56)) as u8).collect();
                let now = t0 + Duration::from_millis(i / 4);
                buffer.insert(
                    r as u16,
                    (r >> 16) as u32 % 8,
                    r & (1 << 33) != 0,
                    Bytes::from(payload),
                    now,
                );
                assert!(buffer.len() <= config.max_packets);
                assert!(buffer.buffered_bytes() <= config.max_buffered_bytes);
                while let Some(frame) = buffer.poll_frame(now) {
                    assert!(frame.data.len() <= config.max_frame_bytes + 16 * config.max_packets);
                }
            }
            // The flood is not all rejected: some random packets do form frames.
            assert!(buffer.stats().frames_emitted > 0, "{codec:?}");
        }
    }
}
