//! DNS messages as mDNS uses them (RFC 1035 §4.1, RFC 6762 §18): one-shot queries for the
//! A/AAAA records of a `.local` name, and the responses that answer them.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::error::MdnsError;
use super::name;

/// The header's length in bytes.
const HEADER_LEN: usize = 12;
/// The QR bit: the message is a response.
const FLAG_RESPONSE: u16 = 0x8000;
/// The AA bit; mDNS responses set it (RFC 6762 §18.4).
const FLAG_AUTHORITATIVE: u16 = 0x0400;
/// The class IN.
const CLASS_IN: u16 = 1;
/// The top bit of a question's class: the querier wants a unicast response (RFC 6762 §5.4).
const UNICAST_RESPONSE: u16 = 0x8000;
/// The top bit of a record's class: the cache-flush bit (RFC 6762 §10.2).
const CACHE_FLUSH: u16 = 0x8000;
/// The most questions plus records read from one message; the rest makes the message an error.
pub const MAX_RECORDS: usize = 64;

/// The record types a query can ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecordType {
    /// An IPv4 address (type 1).
    A,
    /// An IPv6 address (type 28, RFC 3596).
    Aaaa,
}

impl RecordType {
    /// The type's number on the wire.
    pub fn code(self) -> u16 {
        match self {
            RecordType::A => 1,
            RecordType::Aaaa => 28,
        }
    }
}

/// What a resource record carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordData {
    /// An A record.
    A(Ipv4Addr),
    /// An AAAA record.
    Aaaa(Ipv6Addr),
    /// Any other type, kept only by its number.
    Other(u16),
}

/// One resource record of a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The owner name, dotted, without a trailing dot.
    pub name: String,
    /// The class without the cache-flush bit.
    pub class: u16,
    /// Whether the cache-flush bit is set.
    pub cache_flush: bool,
    /// Time to live, in seconds.
    pub ttl: u32,
    /// The record's data.
    pub data: RecordData,
}

impl Record {
    /// The record's address, if it is an A or AAAA record of class IN.
    pub fn address(&self) -> Option<IpAddr> {
        if self.class != CLASS_IN {
            return None;
        }
        match self.data {
            RecordData::A(ip) => Some(IpAddr::V4(ip)),
            RecordData::Aaaa(ip) => Some(IpAddr::V6(ip)),
            RecordData::Other(_) => None,
        }
    }
}

/// One question of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Question {
    /// The name asked about.
    pub name: String,
    /// The type asked for, by number.
    pub rtype: u16,
    /// The class without the unicast-response bit.
    pub class: u16,
    /// Whether the unicast-response (QU) bit is set.
    pub unicast_response: bool,
}

/// A decoded message: the header fields mDNS uses, and its sections.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Message {
    /// The query identifier (zero in multicast mDNS; echoed in answers to one-shot queries).
    pub id: u16,
    /// Whether the QR bit says this is a response.
    pub is_response: bool,
    /// The question section.
    pub questions: Vec<Question>,
    /// The answer section.
    pub answers: Vec<Record>,
    /// The authority section.
    pub authorities: Vec<Record>,
    /// The additional section (responders often put the AAAA record for a name here).
    pub additionals: Vec<Record>,
}

impl Message {
    /// The addresses this message gives for `name`, from its answer and additional sections,
    /// in order, without duplicates. Empty unless the message is a response.
    pub fn addresses_for(&self, name: &str) -> Vec<IpAddr> {
        let mut found = Vec::new();
        if !self.is_response {
            return found;
        }
        for record in self.answers.iter().chain(&self.additionals) {
            if let Some(ip) = record.address().filter(|_| name::same(&record.name, name)) {
                if !found.contains(&ip) {
                    found.push(ip);
                }
            }
        }
        found
    }
}

/// Builds a one-shot query (RFC 6762 §5.1) for `types` of `name`, with the QU bit set when
/// `unicast_response` is true.
pub fn encode_query(id: u16, name: &str, types: &[RecordType], unicast_response: bool) -> Result<Vec<u8>, MdnsError> {
    if types.len() > MAX_RECORDS {
        return Err(MdnsError::TooManyRecords(types.len(), MAX_RECORDS));
    }
    let mut out = Vec::with_capacity(HEADER_LEN + (name.len() + 6) * types.len());
    header(&mut out, id, 0, types.len(), 0);
    let class = CLASS_IN | if unicast_response { UNICAST_RESPONSE } else { 0 };
    for rtype in types {
        name::encode(name, &mut out)?;
        push_u16(&mut out, rtype.code());
        push_u16(&mut out, class);
    }
    Ok(out)
}

/// Builds a response that repeats the query's `question` (as RFC 6762 §6.7 asks of answers to
/// one-shot queries) and answers it with an A or AAAA record per address, cache-flush set.
/// Used by test responders, and handy to check `decode` against.
pub fn encode_response(id: u16, name: &str, addresses: &[IpAddr], ttl: u32) -> Result<Vec<u8>, MdnsError> {
    if addresses.len() >= MAX_RECORDS {
        return Err(MdnsError::TooManyRecords(addresses.len() + 1, MAX_RECORDS));
    }
    let mut out = Vec::new();
    header(&mut out, id, FLAG_RESPONSE | FLAG_AUTHORITATIVE, 1, addresses.len());
    let question_at = out.len();
    name::encode(name, &mut out)?;
    push_u16(&mut out, RecordType::A.code());
    push_u16(&mut out, CLASS_IN);
    for address in addresses {
        // The owner name is a pointer to the question's name.
        push_u16(&mut out, 0xc000 | question_at as u16);
        let (rtype, data): (RecordType, Vec<u8>) = match address {
            IpAddr::V4(ip) => (RecordType::A, ip.octets().to_vec()),
            IpAddr::V6(ip) => (RecordType::Aaaa, ip.octets().to_vec()),
        };
        push_u16(&mut out, rtype.code());
        push_u16(&mut out, CLASS_IN | CACHE_FLUSH);
        out.extend_from_slice(&ttl.to_be_bytes());
        push_u16(&mut out, data.len() as u16);
        out.extend_from_slice(&data);
    }
    Ok(out)
}

/// Decodes a DNS message. Never panics; at most [`MAX_RECORDS`] questions and records in all.
pub fn decode(message: &[u8]) -> Result<Message, MdnsError> {
    if message.len() < HEADER_LEN {
        return Err(MdnsError::TooShort(message.len()));
    }
    let mut reader = Reader { message, pos: 0 };
    let id = reader.u16("header")?;
    let flags = reader.u16("header")?;
    let counts = [
        reader.u16("header")?,
        reader.u16("header")?,
        reader.u16("header")?,
        reader.u16("header")?,
    ];
    let total: usize = counts.iter().map(|&c| usize::from(c)).sum();
    if total > MAX_RECORDS {
        return Err(MdnsError::TooManyRecords(total, MAX_RECORDS));
    }
    let [questions, answers, authorities, additionals] = counts;
    let mut decoded = Message {
        id,
        is_response: flags & FLAG_RESPONSE != 0,
        ..Message::default()
    };
    for _ in 0..questions {
        let name = reader.name()?;
        let rtype = reader.u16("question")?;
        let class = reader.u16("question")?;
        decoded.questions.push(Question {
            name,
            rtype,
            class: class & !UNICAST_RESPONSE,
            unicast_response: class & UNICAST_RESPONSE != 0,
        });
    }
    for (count, section) in [
        (answers, &mut decoded.answers),
        (authorities, &mut decoded.authorities),
        (additionals, &mut decoded.additionals),
    ] {
        for _ in 0..count {
            section.push(reader.record()?);
        }
    }
    Ok(decoded)
}

/// A cursor over a message.
struct Reader<'a> {
    message: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn bytes(&mut self, len: usize, what: &'static str) -> Result<&[u8], MdnsError> {
        let bytes = self
            .message
            .get(self.pos..self.pos.saturating_add(len))
            .ok_or(MdnsError::Truncated(what))?;
        self.pos += len;
        Ok(bytes)
    }

    fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], MdnsError> {
        self.bytes(N, what)?.try_into().map_err(|_| MdnsError::Truncated(what))
    }

    fn u16(&mut self, what: &'static str) -> Result<u16, MdnsError> {
        self.array(what).map(u16::from_be_bytes)
    }

    fn u32(&mut self, what: &'static str) -> Result<u32, MdnsError> {
        self.array(what).map(u32::from_be_bytes)
    }

    fn name(&mut self) -> Result<String, MdnsError> {
        let (name, end) = name::decode(self.message, self.pos)?;
        self.pos = end;
        Ok(name)
    }

    fn record(&mut self) -> Result<Record, MdnsError> {
        let name = self.name()?;
        let rtype = self.u16("record")?;
        let class = self.u16("record")?;
        let ttl = self.u32("record")?;
        let len = usize::from(self.u16("record")?);
        let data = self.bytes(len, "record data")?;
        let bad_length = |expected: usize| MdnsError::BadRecordLength { rtype, len, expected };
        let data = if rtype == RecordType::A.code() {
            RecordData::A(Ipv4Addr::from(<[u8; 4]>::try_from(data).map_err(|_| bad_length(4))?))
        } else if rtype == RecordType::Aaaa.code() {
            RecordData::Aaaa(Ipv6Addr::from(<[u8; 16]>::try_from(data).map_err(|_| bad_length(16))?))
        } else {
            RecordData::Other(rtype)
        };
        Ok(Record {
            name,
            class: class & !CACHE_FLUSH,
            cache_flush: class & CACHE_FLUSH != 0,
            ttl,
            data,
        })
    }
}

fn header(out: &mut Vec<u8>, id: u16, flags: u16, questions: usize, answers: usize) {
    push_u16(out, id);
    push_u16(out, flags);
    push_u16(out, questions as u16);
    push_u16(out, answers as u16);
    push_u16(out, 0);
    push_u16(out, 0);
}

fn push_u16(out: &mut Vec<u8>, value: u16) {
    out.extend_from_slice(&value.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAME: &str = "4c0e2b1a-55aa-4d7e-9c1b-0123456789ab.local";

    /// The wire form of NAME, built by hand.
    fn name_bytes() -> Vec<u8> {
        let mut out = vec![36];
        out.extend_from_slice(b"4c0e2b1a-55aa-4d7e-9c1b-0123456789ab");
        out.push(5);
        out.extend_from_slice(b"local");
        out.push(0);
        out
    }

    #[test]
    fn query_matches_the_wire_format() {
        let query = encode_query(0x1234, NAME, &[RecordType::A, RecordType::Aaaa], true).unwrap();
        let mut expected = vec![0x12, 0x34, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0];
        expected.extend(name_bytes());
        expected.extend_from_slice(&[0, 1, 0x80, 1]);
        expected.extend(name_bytes());
        expected.extend_from_slice(&[0, 28, 0x80, 1]);
        assert_eq!(query, expected);
        let decoded = decode(&query).unwrap();
        assert!(!decoded.is_response);
        assert_eq!(decoded.questions.len(), 2);
        assert!(decoded
            .questions
            .iter()
            .all(|q| q.unicast_response && q.class == 1 && q.name == NAME));
    }

    #[test]
    fn query_refuses_a_bad_name() {
        assert!(encode_query(0, "bad..local", &[RecordType::A], true).is_err());
    }

    /// A response as a responder might send it: no question, the A record in the answers with the
    /// name written out, and an AAAA record in the additionals whose name is a pointer to it.
    fn hand_built_response() -> Vec<u8> {
        let mut out = vec![0, 0, 0x84, 0, 0, 0, 0, 1, 0, 0, 0, 1];
        out.extend(name_bytes());
        out.extend_from_slice(&[0, 1, 0x80, 1, 0, 0, 0, 120, 0, 4, 192, 0, 2, 7]);
        out.extend_from_slice(&[0xc0, 12, 0, 28, 0x80, 1, 0, 0, 0, 120, 0, 16]);
        out.extend_from_slice(&[0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9]);
        out
    }

    #[test]
    fn decodes_answers_and_additionals_through_pointers() {
        let message = decode(&hand_built_response()).unwrap();
        assert!(message.is_response);
        assert_eq!(message.answers.len(), 1);
        let answer = &message.answers[0];
        assert_eq!(answer.name, NAME);
        assert!(answer.cache_flush);
        assert_eq!(answer.ttl, 120);
        assert_eq!(
            message.addresses_for(&NAME.to_uppercase()),
            vec![
                IpAddr::from([192, 0, 2, 7]),
                IpAddr::from([0xfe80, 0, 0, 0, 0, 0, 0, 9])
            ]
        );
        assert!(message.addresses_for("other.local").is_empty());
    }

    #[test]
    fn a_query_gives_no_addresses() {
        let mut packet = hand_built_response();
        packet[2] = 0; // clear QR
        assert!(decode(&packet).unwrap().addresses_for(NAME).is_empty());
    }

    #[test]
    fn other_record_types_are_kept_by_number_only() {
        let mut out = vec![0, 0, 0x84, 0, 0, 0, 0, 1, 0, 0, 0, 0];
        out.extend(name_bytes());
        out.extend_from_slice(&[0, 16, 0, 1, 0, 0, 0, 1, 0, 3, 2, b'h', b'i']);
        let message = decode(&out).unwrap();
        assert_eq!(message.answers[0].data, RecordData::Other(16));
        assert!(message.addresses_for(NAME).is_empty());
    }

    #[test]
    fn response_round_trips() {
        let addresses = [IpAddr::from([127, 0, 0, 1]), IpAddr::from([0, 0, 0, 0, 0, 0, 0, 1])];
        let packet = encode_response(7, NAME, &addresses, 120).unwrap();
        let message = decode(&packet).unwrap();
        assert_eq!(message.id, 7);
        assert_eq!(message.questions[0].name, NAME);
        assert_eq!(message.addresses_for(NAME), addresses.to_vec());
    }

    #[test]
    fn refuses_wrong_address_lengths() {
        let mut out = vec![0, 0, 0x84, 0, 0, 0, 0, 1, 0, 0, 0, 0];
        out.extend(name_bytes());
        out.extend_from_slice(&[0, 1, 0, 1, 0, 0, 0, 1, 0, 3, 1, 2, 3]);
        assert_eq!(
            decode(&out),
            Err(MdnsError::BadRecordLength {
                rtype: 1,
                len: 3,
                expected: 4
            })
        );
    }

    #[test]
    fn refuses_short_truncated_and_oversized_messages() {
        assert_eq!(decode(&[0; 11]), Err(MdnsError::TooShort(11)));
        let full = hand_built_response();
        for cut in 12..full.len() {
            assert!(decode(&full[..cut]).is_err(), "cut at {cut} decoded");
        }
        let mut many = vec![0; 12];
        many[7] = 65;
        assert_eq!(decode(&many), Err(MdnsError::TooManyRecords(65, MAX_RECORDS)));
    }

    #[test]
    fn decoding_garbage_never_panics() {
        // Deterministic pseudo-random mutations and truncations of a valid response.
        let base = hand_built_response();
        let mut state = 0x2545_f491_u32;
        for _ in 0..20_000 {
            let mut packet = base.clone();
            for _ in 0..4 {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                let at = state as usize % packet.len();
                packet[at] = (state >> 24) as u8;
            }
            let cut = (state >> 8) as usize % (packet.len() + 1);
            let _ = decode(&packet[..cut]);
        }
    }
}
