//! Ogg Opus files (RFC 7845): an `OpusHead` page, `OpusTags`, then Opus packets whose granule
//! positions count 48 kHz samples.

use std::io::{Read, Write};

use super::ogg::{OggError, OggPacketReader, OggStreamWriter};

/// Magic signature of the identification header.
const HEAD_MAGIC: &[u8; 8] = b"OpusHead";
/// Magic signature of the comment header.
const TAGS_MAGIC: &[u8; 8] = b"OpusTags";
/// Length of the identification header for channel mapping family 0.
const HEAD_LEN: usize = 19;
/// The vendor string this writer puts in `OpusTags`.
const VENDOR: &str = concat!("rtcpeer ", env!("CARGO_PKG_VERSION"));
/// The longest Opus packet: 120 ms at 48 kHz (RFC 6716 section 3.2.5).
pub const MAX_PACKET_SAMPLES: u32 = 5760;
/// Most comments read from `OpusTags`; more are an error rather than unbounded memory.
const MAX_COMMENTS: usize = 1024;

/// What went wrong reading or writing an Ogg Opus file.
#[derive(Debug, thiserror::Error)]
pub enum OggOpusError {
    /// The Ogg layer failed (I/O, CRC, framing).
    #[error(transparent)]
    Ogg(#[from] OggError),
    /// The stream has no identification header.
    #[error("Ogg stream is empty: no OpusHead packet")]
    MissingHead,
    /// The first packet is not an `OpusHead` identification header.
    #[error("first Ogg packet is not OpusHead")]
    NotOpusHead,
    /// The identification header is shorter than its fields need.
    #[error("OpusHead too short: {got} bytes, need {need}")]
    HeadTooShort {
        /// Bytes present.
        got: usize,
        /// Bytes needed.
        need: usize,
    },
    /// The identification header's major version is not 0 (version byte 16 or above).
    #[error("unsupported OpusHead version {0}")]
    UnsupportedVersion(u8),
    /// The channel count is 0, or too high for the channel mapping family.
    #[error("invalid channel count {channels} for mapping family {family}")]
    InvalidChannels {
        /// Channel count.
        channels: u8,
        /// Channel mapping family.
        family: u8,
    },
    /// The channel mapping table is inconsistent (stream counts, or an index out of range).
    #[error("invalid OpusHead channel mapping table")]
    InvalidMapping,
    /// The stream ends before the comment header.
    #[error("Ogg Opus stream has no OpusTags packet")]
    MissingTags,
    /// The second packet is not an `OpusTags` comment header.
    #[error("second Ogg packet is not OpusTags")]
    NotOpusTags,
    /// The comment header's lengths run past its end, or it has too many comments.
    #[error("malformed OpusTags: {0}")]
    InvalidTags(&'static str),
    /// An empty Opus packet was given to the writer (RFC 6716 packets have at least one byte).
    #[error("empty Opus packet")]
    EmptyPacket,
    /// A packet duration above 120 ms (5760 samples at 48 kHz) was given to the writer.
    #[error("Opus packet duration of {0} samples exceeds 5760 (120 ms)")]
    InvalidDuration(u32),
}

/// The Opus identification header (RFC 7845 section 5.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpusHead {
    /// Output channel count.
    pub channels: u8,
    /// Samples (at 48 kHz) to discard from the decoder output at the start.
    pub pre_skip: u16,
    /// Sample rate of the original input, for information only (playback is always 48 kHz).
    pub input_sample_rate: u32,
    /// Output gain in Q7.8 dB.
    pub output_gain: i16,
    /// Channel mapping family (0: mono/stereo, one stream).
    pub mapping_family: u8,
    /// For families other than 0: stream count, coupled stream count and one mapping byte per channel.
    pub mapping: Option<ChannelMapping>,
}

/// The channel mapping table of families other than 0.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelMapping {
    /// Number of Opus streams in each packet.
    pub stream_count: u8,
    /// How many of them are coupled (stereo).
    pub coupled_count: u8,
    /// For each output channel, the decoded channel it comes from (255: silence).
    pub channel_map: Vec<u8>,
}

impl OpusHead {
    /// A mono or stereo (mapping family 0) header.
    pub fn new(channels: u8, input_sample_rate: u32, pre_skip: u16) -> Self {
        OpusHead {
            channels,
            pre_skip,
            input_sample_rate,
            output_gain: 0,
            mapping_family: 0,
            mapping: None,
        }
    }

    /// Parses an `OpusHead` packet.
    pub fn parse(packet: &[u8]) -> Result<Self, OggOpusError> {
        if !packet.starts_with(HEAD_MAGIC) {
            return Err(OggOpusError::NotOpusHead);
        }
        if packet.len() < HEAD_LEN {
            return Err(OggOpusError::HeadTooShort {
                got: packet.len(),
                need: HEAD_LEN,
            });
        }
        let version = packet[8];
        if version >= 16 {
            return Err(OggOpusError::UnsupportedVersion(version));
        }
        let channels = packet[9];
        let mapping_family = packet[18];
        let mut head = OpusHead {
            channels,
            pre_skip: u16::from_le_bytes([packet[10], packet[11]]),
            input_sample_rate: u32::from_le_bytes([packet[12], packet[13], packet[14], packet[15]]),
            output_gain: i16::from_le_bytes([packet[16], packet[17]]),
            mapping_family,
            mapping: None,
        };
        let invalid_channels = OggOpusError::InvalidChannels {
            channels,
            family: mapping_family,
        };
        if channels == 0 || (mapping_family == 0 && channels > 2) {
            return Err(invalid_channels);
        }
        if mapping_family != 0 {
            let need = HEAD_LEN + 2 + usize::from(channels);
            let table = packet.get(HEAD_LEN..need).ok_or(OggOpusError::HeadTooShort {
                got: packet.len(),
                need,
            })?;
            let (stream_count, coupled_count) = (table[0], table[1]);
            let decoded = usize::from(stream_count) + usize::from(coupled_count);
            if stream_count == 0 || coupled_count > stream_count || decoded > 255 {
                return Err(OggOpusError::InvalidMapping);
            }
            let channel_map = table[2..].to_vec();
            if channel_map.iter().any(|&m| m != 255 && usize::from(m) >= decoded) {
                return Err(OggOpusError::InvalidMapping);
            }
            head.mapping = Some(ChannelMapping {
                stream_count,
                coupled_count,
                channel_map,
            });
        }
        Ok(head)
    }

    /// Serializes the header (version 1).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEAD_LEN);
        out.extend_from_slice(HEAD_MAGIC);
        out.push(1);
        out.push(self.channels);
        out.extend_from_slice(&self.pre_skip.to_le_bytes());
        out.extend_from_slice(&self.input_sample_rate.to_le_bytes());
        out.extend_from_slice(&self.output_gain.to_le_bytes());
        out.push(self.mapping_family);
        if let Some(mapping) = &self.mapping {
            out.push(mapping.stream_count);
            out.push(mapping.coupled_count);
            out.extend_from_slice(&mapping.channel_map);
        }
        out
    }

    fn validate(&self) -> Result<(), OggOpusError> {
        Self::parse(&self.to_bytes()).map(|_| ())
    }
}

/// Builds an `OpusTags` packet with our vendor string and no comments.
fn tags_packet() -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + 4 + VENDOR.len() + 4);
    out.extend_from_slice(TAGS_MAGIC);
    out.extend_from_slice(&(VENDOR.len() as u32).to_le_bytes());
    out.extend_from_slice(VENDOR.as_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out
}

/// The vendor string and user comments of an `OpusTags` packet.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OpusTags {
    /// The encoder's vendor string.
    pub vendor: String,
    /// User comments, `NAME=value` each (lossily decoded as UTF-8).
    pub comments: Vec<String>,
}

impl OpusTags {
    /// Parses an `OpusTags` packet.
    pub fn parse(packet: &[u8]) -> Result<Self, OggOpusError> {
        let mut rest = packet.strip_prefix(TAGS_MAGIC).ok_or(OggOpusError::NotOpusTags)?;
        let take_str = |rest: &mut &[u8]| -> Result<String, OggOpusError> {
            let len = take_u32(rest).ok_or(OggOpusError::InvalidTags("string length truncated"))?;
            let len = usize::try_from(len).map_err(|_| OggOpusError::InvalidTags("string too long"))?;
            if rest.len() < len {
                return Err(OggOpusError::InvalidTags("string runs past the packet"));
            }
            let (s, tail) = rest.split_at(len);
            *rest = tail;
            Ok(String::from_utf8_lossy(s).into_owned())
        };
        let vendor = take_str(&mut rest)?;
        let count = take_u32(&mut rest).ok_or(OggOpusError::InvalidTags("comment count truncated"))?;
        if count as usize > MAX_COMMENTS {
            return Err(OggOpusError::InvalidTags("too many comments"));
        }
        let mut comments = Vec::with_capacity(count as usize);
        for _ in 0..count {
            comments.push(take_str(&mut rest)?);
        }
        Ok(OpusTags { vendor, comments })
    }
}

fn take_u32(rest: &mut &[u8]) -> Option<u32> {
    let (head, tail) = rest.split_first_chunk::<4>()?;
    *rest = tail;
    Some(u32::from_le_bytes(*head))
}

/// The duration of an Opus packet in 48 kHz samples, from its TOC byte (RFC 6716 section 3.1);
/// `None` for an empty or malformed packet.
pub fn opus_packet_samples(packet: &[u8]) -> Option<u32> {
    let toc = *packet.first()?;
    let config = toc >> 3;
    let frame_samples: u32 = match config {
        // SILK-only: 10, 20, 40, 60 ms.
        0..=11 => [480, 960, 1920, 2880][usize::from(config % 4)],
        // Hybrid: 10, 20 ms.
        12..=15 => [480, 960][usize::from(config % 2)],
        // CELT-only: 2.5, 5, 10, 20 ms.
        _ => [120, 240, 480, 960][usize::from(config % 4)],
    };
    let frames = match toc & 0x3 {
        0 => 1,
        1 | 2 => 2,
        _ => u32::from(*packet.get(1)? & 0x3f),
    };
    let samples = frame_samples * frames;
    (frames > 0 && samples <= MAX_PACKET_SAMPLES).then_some(samples)
}

/// One Opus packet read from an Ogg Opus file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OggOpusPacket {
    /// The Opus packet.
    pub data: Vec<u8>,
    /// Granule position (48 kHz samples decoded so far, pre-skip included, up to the end of this
    /// packet) when this is the last packet completed on its page; Ogg stores no other.
    pub granule_position: Option<u64>,
}

/// Writes an Ogg Opus file: one page for `OpusHead`, one for `OpusTags`, one page per packet.
///
/// Each page is written when the next packet arrives (or on [`OggOpusWriter::finish`]), so that the
/// last page can carry the end-of-stream flag.
#[derive(Debug)]
pub struct OggOpusWriter<W: Write> {
    stream: OggStreamWriter<W>,
    /// The packet not yet written, with its granule position.
    pending: Option<(Vec<u8>, u64)>,
    granule: u64,
    packets: u64,
}

impl<W: Write> OggOpusWriter<W> {
    /// Starts a mono or stereo file (`channels` 1 or 2) whose source had `input_sample_rate` Hz, as
    /// logical stream `serial`. Pre-skip is 0: use [`OggOpusWriter::with_head`] to set the encoder's
    /// delay when known (libopus uses 312 samples).
    pub fn new(writer: W, channels: u8, input_sample_rate: u32, serial: u32) -> Result<Self, OggOpusError> {
        Self::with_head(writer, OpusHead::new(channels, input_sample_rate, 0), serial)
    }

    /// Starts a file with the given identification header.
    pub fn with_head(writer: W, head: OpusHead, serial: u32) -> Result<Self, OggOpusError> {
        head.validate()?;
        let mut stream = OggStreamWriter::new(writer, serial);
        stream.write_packet(&head.to_bytes(), 0, false)?;
        Ok(OggOpusWriter {
            stream,
            pending: Some((tags_packet(), 0)),
            granule: 0,
            packets: 0,
        })
    }

    /// Appends one Opus packet lasting `samples_48k` samples at 48 kHz (960 for 20 ms).
    pub fn write_packet(&mut self, data: &[u8], samples_48k: u32) -> Result<(), OggOpusError> {
        if data.is_empty() {
            return Err(OggOpusError::EmptyPacket);
        }
        if samples_48k > MAX_PACKET_SAMPLES {
            return Err(OggOpusError::InvalidDuration(samples_48k));
        }
        self.flush_pending(false)?;
        self.granule += u64::from(samples_48k);
        self.pending = Some((data.to_vec(), self.granule));
        self.packets += 1;
        Ok(())
    }

    /// Audio packets written so far.
    pub fn packet_count(&self) -> u64 {
        self.packets
    }

    /// The granule position after the last packet: 48 kHz samples so far, pre-skip included.
    pub fn granule_position(&self) -> u64 {
        self.granule
    }

    fn flush_pending(&mut self, eos: bool) -> Result<(), OggOpusError> {
        if let Some((data, granule)) = self.pending.take() {
            self.stream.write_packet(&data, granule, eos)?;
        }
        Ok(())
    }

    /// Writes the last page with the end-of-stream flag, flushes and returns the writer.
    pub fn finish(mut self) -> Result<W, OggOpusError> {
        self.flush_pending(true)?;
        self.stream.flush()?;
        Ok(self.stream.into_inner())
    }
}

/// Reads an Ogg Opus file packet by packet.
#[derive(Debug)]
pub struct OggOpusReader<R: Read> {
    packets: OggPacketReader<R>,
    head: OpusHead,
    tags: OpusTags,
}

impl<R: Read> OggOpusReader<R> {
    /// Reads and checks `OpusHead` and `OpusTags`.
    pub fn new(reader: R) -> Result<Self, OggOpusError> {
        let mut packets = OggPacketReader::new(reader);
        let head = packets.next_packet()?.ok_or(OggOpusError::MissingHead)?;
        let head = OpusHead::parse(&head.data)?;
        let tags = packets.next_packet()?.ok_or(OggOpusError::MissingTags)?;
        let tags = OpusTags::parse(&tags.data)?;
        tracing::debug!(?head, vendor = %tags.vendor, "Ogg Opus stream");
        Ok(OggOpusReader { packets, head, tags })
    }

    /// The identification header.
    pub fn head(&self) -> &OpusHead {
        &self.head
    }

    /// The comment header.
    pub fn tags(&self) -> &OpusTags {
        &self.tags
    }

    /// The next audio packet; `None` at the end of the stream.
    pub fn next_packet(&mut self) -> Result<Option<OggOpusPacket>, OggOpusError> {
        Ok(self.packets.next_packet()?.map(|p| OggOpusPacket {
            data: p.data,
            granule_position: p.granule_position,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media_file::ogg::{OggPage, FLAG_BOS, FLAG_EOS};

    /// A CELT-only fullband 20 ms mono packet TOC (config 31, code 0) followed by `len - 1` bytes.
    fn packet(len: usize, fill: u8) -> Vec<u8> {
        let mut p = vec![fill; len];
        p[0] = 31 << 3;
        p
    }

    #[test]
    fn round_trip_keeps_head_packets_and_granules() {
        let head = OpusHead::new(2, 44_100, 312);
        let mut w = OggOpusWriter::with_head(Vec::new(), head.clone(), 42).unwrap();
        let packets: Vec<Vec<u8>> = [10usize, 255, 600, 3].iter().map(|&n| packet(n, n as u8)).collect();
        for p in &packets {
            w.write_packet(p, 960).unwrap();
        }
        assert_eq!(w.granule_position(), 4 * 960);
        let bytes = w.finish().unwrap();
        let mut r = OggOpusReader::new(bytes.as_slice()).unwrap();
        assert_eq!(r.head(), &head);
        assert_eq!(r.tags().vendor, VENDOR);
        for (i, p) in packets.iter().enumerate() {
            let got = r.next_packet().unwrap().unwrap();
            assert_eq!(got.data, *p);
            assert_eq!(got.granule_position, Some((i as u64 + 1) * 960));
            assert_eq!(opus_packet_samples(&got.data), Some(960));
        }
        assert!(r.next_packet().unwrap().is_none());
    }

    #[test]
    fn pages_are_head_tags_then_one_per_packet_with_eos_last() {
        let mut w = OggOpusWriter::new(Vec::new(), 1, 48_000, 5).unwrap();
        w.write_packet(&packet(20, 1), 960).unwrap();
        w.write_packet(&packet(20, 2), 480).unwrap();
        let bytes = w.finish().unwrap();
        let mut r = &bytes[..];
        let pages: Vec<OggPage> = std::iter::from_fn(|| OggPage::read(&mut r).unwrap()).collect();
        let summary: Vec<(u8, u64, usize)> = pages
            .iter()
            .map(|p| (p.flags, p.granule_position, p.body.len()))
            .collect();
        assert_eq!(
            summary,
            vec![
                (FLAG_BOS, 0, HEAD_LEN),
                (0, 0, tags_packet().len()),
                (0, 960, 20),
                (FLAG_EOS, 1440, 20)
            ]
        );
        assert!(pages.iter().all(|p| p.serial == 5));
    }

    #[test]
    fn file_without_audio_still_ends_with_eos() {
        let bytes = OggOpusWriter::new(Vec::new(), 2, 48_000, 1).unwrap().finish().unwrap();
        let mut r = OggOpusReader::new(bytes.as_slice()).unwrap();
        assert_eq!(r.head().channels, 2);
        assert!(r.next_packet().unwrap().is_none());
    }

    #[test]
    fn writer_refuses_bad_channels_empty_packets_and_long_durations() {
        assert!(matches!(
            OggOpusWriter::new(Vec::new(), 3, 48_000, 1),
            Err(OggOpusError::InvalidChannels { channels: 3, family: 0 })
        ));
        assert!(matches!(
            OggOpusWriter::new(Vec::new(), 0, 48_000, 1),
            Err(OggOpusError::InvalidChannels { channels: 0, .. })
        ));
        let mut w = OggOpusWriter::new(Vec::new(), 1, 48_000, 1).unwrap();
        assert!(matches!(w.write_packet(&[], 960), Err(OggOpusError::EmptyPacket)));
        assert!(matches!(
            w.write_packet(&packet(3, 0), 5761),
            Err(OggOpusError::InvalidDuration(5761))
        ));
    }

    fn file_with_head_and_tags(head: &[u8], tags: &[u8]) -> Vec<u8> {
        let mut s = OggStreamWriter::new(Vec::new(), 9);
        s.write_packet(head, 0, false).unwrap();
        s.write_packet(tags, 0, true).unwrap();
        s.into_inner()
    }

    #[test]
    fn malformed_headers_are_errors() {
        let good_head = OpusHead::new(1, 48_000, 0).to_bytes();
        let good_tags = tags_packet();
        let read =
            |head: &[u8], tags: &[u8]| OggOpusReader::new(std::io::Cursor::new(file_with_head_and_tags(head, tags)));
        assert!(matches!(read(b"OpusHeaX", &good_tags), Err(OggOpusError::NotOpusHead)));
        assert!(matches!(
            read(&good_head[..12], &good_tags),
            Err(OggOpusError::HeadTooShort { got: 12, .. })
        ));
        let mut v = good_head.clone();
        v[8] = 16;
        assert!(matches!(
            read(&v, &good_tags),
            Err(OggOpusError::UnsupportedVersion(16))
        ));
        let mut fam1 = good_head.clone();
        fam1[9] = 6;
        fam1[18] = 1;
        assert!(matches!(
            read(&fam1, &good_tags),
            Err(OggOpusError::HeadTooShort { .. })
        ));
        fam1.extend_from_slice(&[4, 2, 0, 4, 1, 2, 3, 6]);
        assert!(matches!(read(&fam1, &good_tags), Err(OggOpusError::InvalidMapping)));
        let last = fam1.len() - 1;
        fam1[last] = 5;
        let parsed = read(&fam1, &good_tags).unwrap();
        assert_eq!(
            parsed.head().mapping.as_ref().unwrap().channel_map,
            vec![0, 4, 1, 2, 3, 5]
        );
        assert!(matches!(read(&good_head, b"OpusTagz"), Err(OggOpusError::NotOpusTags)));
        let mut huge = TAGS_MAGIC.to_vec();
        huge.extend_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(read(&good_head, &huge), Err(OggOpusError::InvalidTags(_))));
        let mut many = TAGS_MAGIC.to_vec();
        many.extend_from_slice(&0u32.to_le_bytes());
        many.extend_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(
            read(&good_head, &many),
            Err(OggOpusError::InvalidTags("too many comments"))
        ));
        assert!(matches!(OggOpusReader::new(&[][..]), Err(OggOpusError::MissingHead)));
    }

    #[test]
    fn tags_with_comments_parse() {
        let mut tags = TAGS_MAGIC.to_vec();
        tags.extend_from_slice(&3u32.to_le_bytes());
        tags.extend_from_slice(b"enc");
        tags.extend_from_slice(&2u32.to_le_bytes());
        for c in ["A=1", "TITLE=x"] {
            tags.extend_from_slice(&(c.len() as u32).to_le_bytes());
            tags.extend_from_slice(c.as_bytes());
        }
        let parsed = OpusTags::parse(&tags).unwrap();
        assert_eq!(parsed.vendor, "enc");
        assert_eq!(parsed.comments, vec!["A=1".to_string(), "TITLE=x".to_string()]);
        assert!(OpusTags::parse(&tags[..tags.len() - 1]).is_err());
    }

    #[test]
    fn toc_durations_follow_rfc_6716() {
        assert_eq!(opus_packet_samples(&[0 << 3]), Some(480)); // SILK NB 10 ms
        assert_eq!(opus_packet_samples(&[3 << 3]), Some(2880)); // SILK NB 60 ms
        assert_eq!(opus_packet_samples(&[(3 << 3) | 1]), Some(5760)); // two 60 ms frames
        assert_eq!(opus_packet_samples(&[13 << 3]), Some(960)); // hybrid SWB 20 ms
        assert_eq!(opus_packet_samples(&[16 << 3]), Some(120)); // CELT 2.5 ms
        assert_eq!(opus_packet_samples(&[(16 << 3) | 3, 48]), Some(5760)); // 48 x 2.5 ms
        assert_eq!(opus_packet_samples(&[(31 << 3) | 3, 7]), None); // 7 x 20 ms > 120 ms
        assert_eq!(opus_packet_samples(&[(31 << 3) | 3, 0]), None); // zero frames
        assert_eq!(opus_packet_samples(&[(31 << 3) | 3]), None); // missing frame count byte
        assert_eq!(opus_packet_samples(&[]), None);
    }
}
