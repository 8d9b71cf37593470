//! The STUN message: header, attribute list, encoding, and the integrity and fingerprint checks.

use aws_lc_rs::hmac;

use super::attribute::{Attribute, FINGERPRINT, MESSAGE_INTEGRITY, MESSAGE_INTEGRITY_SHA256};
use super::crc32::crc32;
use super::error::StunError;

/// The fixed value in bytes 4..8 of every RFC 5389/8489 message.
pub const MAGIC_COOKIE: u32 = 0x2112_A442;
/// The value the CRC-32 is XORed with in FINGERPRINT.
pub const FINGERPRINT_XOR: u32 = 0x5354_554E;
/// Size of the STUN header in bytes.
pub const HEADER_LEN: usize = 20;
/// The most attributes kept from one decoded message; more is an error.
pub const MAX_ATTRIBUTES: usize = 64;

/// The 96-bit transaction id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TransactionId([u8; 12]);

impl TransactionId {
    /// A transaction id with the given bytes.
    pub fn new(bytes: [u8; 12]) -> Self {
        TransactionId(bytes)
    }

    /// A transaction id from the system's secure random generator.
    pub fn random() -> Self {
        let mut bytes = [0u8; 12];
        // Filling from the OS generator only fails if the OS has no entropy source at all;
        // a zero id then still works, it is only guessable.
        if aws_lc_rs::rand::fill(&mut bytes).is_err() {
            tracing::warn!("no system randomness for a STUN transaction id");
        }
        TransactionId(bytes)
    }

    /// The id's bytes.
    pub fn as_bytes(&self) -> &[u8; 12] {
        &self.0
    }
}

/// The class of a message (RFC 8489 §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Class {
    /// A request, answered by a response.
    Request,
    /// An indication, never answered.
    Indication,
    /// A success response.
    SuccessResponse,
    /// An error response (carries ERROR-CODE).
    ErrorResponse,
}

/// The method of a message: a 12-bit number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Method(pub u16);

impl Method {
    /// Binding, the only method ICE uses.
    pub const BINDING: Method = Method(0x001);
    /// Allocate (TURN, RFC 8656 §7).
    pub const ALLOCATE: Method = Method(0x003);
    /// Refresh (TURN, RFC 8656 §8).
    pub const REFRESH: Method = Method(0x004);
    /// Send, an indication from client to server (TURN, RFC 8656 §11).
    pub const SEND: Method = Method(0x006);
    /// Data, an indication from server to client (TURN, RFC 8656 §11).
    pub const DATA: Method = Method(0x007);
    /// CreatePermission (TURN, RFC 8656 §9).
    pub const CREATE_PERMISSION: Method = Method(0x008);
    /// ChannelBind (TURN, RFC 8656 §12).
    pub const CHANNEL_BIND: Method = Method(0x009);
}

/// Which MESSAGE-INTEGRITY variant to add when encoding.
#[derive(Debug, Clone, Copy)]
pub enum Integrity<'a> {
    /// MESSAGE-INTEGRITY (HMAC-SHA1) with this key.
    Sha1(&'a [u8]),
    /// MESSAGE-INTEGRITY-SHA256 (untruncated HMAC-SHA256) with this key.
    Sha256(&'a [u8]),
}

/// A STUN message. Built with [`Message::new`] and [`Message::with`], or decoded with [`Message::decode`];
/// a decoded message remembers its bytes so that [`Message::check_integrity`] and
/// [`Message::check_fingerprint`] can verify it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Request, indication, success or error response.
    pub class: Class,
    /// The method (Binding for ICE).
    pub method: Method,
    /// The transaction id.
    pub transaction_id: TransactionId,
    /// The attributes in order. When decoding, attributes after MESSAGE-INTEGRITY other than
    /// MESSAGE-INTEGRITY-SHA256 and FINGERPRINT are dropped, as RFC 8489 §14.5 requires.
    pub attributes: Vec<Attribute>,
    /// The bytes this message was decoded from, and where each kept attribute starts in them.
    received: Option<Received>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Received {
    bytes: Vec<u8>,
    offsets: Vec<usize>,
}

/// The header fields of a datagram that looks like STUN, without decoding attributes.
pub fn peek_header(datagram: &[u8]) -> Result<(Class, Method, TransactionId), StunError> {
    let header: &[u8; HEADER_LEN] = datagram
        .get(..HEADER_LEN)
        .and_then(|h| h.try_into().ok())
        .ok_or(StunError::TooShort(datagram.len()))?;
    let typ = u16::from_be_bytes([header[0], header[1]]);
    if typ & 0xC000 != 0 {
        return Err(StunError::NotStun);
    }
    let cookie = u32::from_be_bytes([header[4], header[5], header[6], header[7]]);
    if cookie != MAGIC_COOKIE {
        return Err(StunError::BadMagicCookie(cookie));
    }
    let mut tid = [0u8; 12];
    tid.copy_from_slice(&header[8..]);
    let class = match ((typ >> 7) & 0b10) | ((typ >> 4) & 0b01) {
        0 => Class::Request,
        1 => Class::Indication,
        2 => Class::SuccessResponse,
        _ => Class::ErrorResponse,
    };
    let method = (typ & 0x000F) | ((typ >> 1) & 0x0070) | ((typ >> 2) & 0x0F80);
    Ok((class, Method(method), TransactionId(tid)))
}

fn message_type(class: Class, method: Method) -> u16 {
    let m = method.0 & 0x0FFF;
    let c: u16 = match class {
        Class::Request => 0,
        Class::Indication => 1,
        Class::SuccessResponse => 2,
        Class::ErrorResponse => 3,
    };
    (m & 0x000F) | ((m & 0x0070) << 1) | ((m & 0x0F80) << 2) | ((c & 1) << 4) | ((c & 2) << 7)
}

impl Message {
    /// An empty message.
    pub fn new(class: Class, method: Method, transaction_id: TransactionId) -> Self {
        Message {
            class,
            method,
            transaction_id,
            attributes: Vec::new(),
            received: None,
        }
    }

    /// Appends an attribute (builder style).
    pub fn with(mut self, attribute: Attribute) -> Self {
        self.attributes.push(attribute);
        self
    }

    /// Decodes a whole datagram. Checks the header, the length and each attribute's
    /// format; does not check integrity or fingerprint (see [`Message::check_integrity`]).
    pub fn decode(datagram: &[u8]) -> Result<Message, StunError> {
        let (class, method, transaction_id) = peek_header(datagram)?;
        let declared = usize::from(u16::from_be_bytes([datagram[2], datagram[3]]));
        let actual = datagram.len() - HEADER_LEN;
        if declared != actual {
            return Err(StunError::LengthMismatch { declared, actual });
        }
        if declared % 4 != 0 {
            return Err(StunError::UnalignedLength(declared));
        }
        let mut attributes = Vec::new();
        let mut offsets = Vec::new();
        let mut pos = HEADER_LEN;
        let mut seen_integrity = false;
        let mut seen_fingerprint = false;
        while pos < datagram.len() {
            if seen_fingerprint {
                return Err(StunError::FingerprintNotLast);
            }
            let head = datagram
                .get(pos..pos + 4)
                .ok_or(StunError::TruncatedAttribute { typ: 0, len: 0 })?;
            let typ = u16::from_be_bytes([head[0], head[1]]);
            let len = usize::from(u16::from_be_bytes([head[2], head[3]]));
            let value = datagram
                .get(pos + 4..pos + 4 + len)
                .ok_or(StunError::TruncatedAttribute { typ, len })?;
            let padded = (len + 3) & !3;
            if pos + 4 + padded > datagram.len() {
                return Err(StunError::TruncatedAttribute { typ, len });
            }
            let keep = !seen_integrity || typ == FINGERPRINT || typ == MESSAGE_INTEGRITY_SHA256;
            if keep {
                if attributes.len() >= MAX_ATTRIBUTES {
                    return Err(StunError::TooManyAttributes(MAX_ATTRIBUTES));
                }
                attributes.push(Attribute::decode(typ, value, &transaction_id)?);
                offsets.push(pos);
            }
            seen_integrity |= typ == MESSAGE_INTEGRITY || typ == MESSAGE_INTEGRITY_SHA256;
            seen_fingerprint |= typ == FINGERPRINT;
            pos += 4 + padded;
        }
        Ok(Message {
            class,
            method,
            transaction_id,
            attributes,
            received: Some(Received {
                bytes: datagram.to_vec(),
                offsets,
            }),
        })
    }

    /// Encodes the attributes exactly as they are in [`Message::attributes`].
    pub fn encode(&self) -> Result<Vec<u8>, StunError> {
        self.encode_with(None, false)
    }

    /// Encodes the message, then appends a freshly computed MESSAGE-INTEGRITY(-SHA256) if
    /// `integrity` is given and a FINGERPRINT if `fingerprint` is true. Integrity or fingerprint
    /// attributes already in [`Message::attributes`] are left out.
    pub fn encode_with(&self, integrity: Option<Integrity<'_>>, fingerprint: bool) -> Result<Vec<u8>, StunError> {
        let computed = integrity.is_some() || fingerprint;
        let kept = self
            .attributes
            .iter()
            .filter(|a| !(computed && matches!(a.typ(), MESSAGE_INTEGRITY | MESSAGE_INTEGRITY_SHA256 | FINGERPRINT)))
            .count();
        if kept + usize::from(integrity.is_some()) + usize::from(fingerprint) > MAX_ATTRIBUTES {
            // Never write what `decode` refuses.
            return Err(StunError::TooManyAttributes(MAX_ATTRIBUTES));
        }
        let mut out = Vec::with_capacity(128);
        out.extend_from_slice(&message_type(self.class, self.method).to_be_bytes());
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(&MAGIC_COOKIE.to_be_bytes());
        out.extend_from_slice(self.transaction_id.as_bytes());
        for attribute in &self.attributes {
            let typ = attribute.typ();
            if computed && matches!(typ, MESSAGE_INTEGRITY | MESSAGE_INTEGRITY_SHA256 | FINGERPRINT) {
                continue;
            }
            let mut value = Vec::new();
            attribute.encode_value(&mut value, &self.transaction_id);
            push_attribute(&mut out, typ, &value)?;
        }
        match integrity {
            Some(Integrity::Sha1(key)) => {
                set_length(&mut out, 24)?;
                let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, key), &out);
                push_attribute(&mut out, MESSAGE_INTEGRITY, tag.as_ref())?;
            }
            Some(Integrity::Sha256(key)) => {
                set_length(&mut out, 36)?;
                let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), &out);
                push_attribute(&mut out, MESSAGE_INTEGRITY_SHA256, tag.as_ref())?;
            }
            None => {}
        }
        if fingerprint {
            set_length(&mut out, 8)?;
            let crc = crc32(&out) ^ FINGERPRINT_XOR;
            push_attribute(&mut out, FINGERPRINT, &crc.to_be_bytes())?;
        }
        set_length(&mut out, 0)?;
        Ok(out)
    }

    /// The first attribute of type `typ`.
    pub fn attribute(&self, typ: u16) -> Option<&Attribute> {
        self.attributes.iter().find(|a| a.typ() == typ)
    }

    /// The USERNAME value.
    pub fn username(&self) -> Option<&str> {
        self.attributes.iter().find_map(|a| match a {
            Attribute::Username(u) => Some(u.as_str()),
            _ => None,
        })
    }

    /// The XOR-MAPPED-ADDRESS, or failing that the MAPPED-ADDRESS.
    pub fn mapped_address(&self) -> Option<std::net::SocketAddr> {
        let xor = self.attributes.iter().find_map(|a| match a {
            Attribute::XorMappedAddress(x) => Some(*x),
            _ => None,
        });
        xor.or_else(|| {
            self.attributes.iter().find_map(|a| match a {
                Attribute::MappedAddress(x) => Some(*x),
                _ => None,
            })
        })
    }

    /// The ERROR-CODE number.
    pub fn error_code(&self) -> Option<u16> {
        self.attributes.iter().find_map(|a| match a {
            Attribute::ErrorCode { code, .. } => Some(*code),
            _ => None,
        })
    }

    /// The ERROR-CODE number and reason phrase.
    pub fn error(&self) -> Option<(u16, &str)> {
        self.attributes.iter().find_map(|a| match a {
            Attribute::ErrorCode { code, reason } => Some((*code, reason.as_str())),
            _ => None,
        })
    }

    /// The REALM value.
    pub fn realm(&self) -> Option<&str> {
        self.attributes.iter().find_map(|a| match a {
            Attribute::Realm(r) => Some(r.as_str()),
            _ => None,
        })
    }

    /// The NONCE value.
    pub fn nonce(&self) -> Option<&str> {
        self.attributes.iter().find_map(|a| match a {
            Attribute::Nonce(n) => Some(n.as_str()),
            _ => None,
        })
    }

    /// The LIFETIME value in seconds (TURN).
    pub fn lifetime(&self) -> Option<u32> {
        self.attributes.iter().find_map(|a| match a {
            Attribute::Lifetime(l) => Some(*l),
            _ => None,
        })
    }

    /// The XOR-RELAYED-ADDRESS (TURN).
    pub fn relayed_address(&self) -> Option<std::net::SocketAddr> {
        self.attributes.iter().find_map(|a| match a {
            Attribute::XorRelayedAddress(x) => Some(*x),
            _ => None,
        })
    }

    /// The XOR-PEER-ADDRESS (TURN).
    pub fn peer_address(&self) -> Option<std::net::SocketAddr> {
        self.attributes.iter().find_map(|a| match a {
            Attribute::XorPeerAddress(x) => Some(*x),
            _ => None,
        })
    }

    /// The CHANNEL-NUMBER (TURN).
    pub fn channel_number(&self) -> Option<u16> {
        self.attributes.iter().find_map(|a| match a {
            Attribute::ChannelNumber(c) => Some(*c),
            _ => None,
        })
    }

    /// The DATA value (TURN).
    pub fn data(&self) -> Option<&[u8]> {
        self.attributes.iter().find_map(|a| match a {
            Attribute::Data(d) => Some(d.as_slice()),
            _ => None,
        })
    }

    /// The PRIORITY value.
    pub fn priority(&self) -> Option<u32> {
        self.attributes.iter().find_map(|a| match a {
            Attribute::Priority(p) => Some(*p),
            _ => None,
        })
    }

    /// Whether USE-CANDIDATE is present.
    pub fn use_candidate(&self) -> bool {
        self.attributes.iter().any(|a| matches!(a, Attribute::UseCandidate))
    }

    /// The ICE-CONTROLLING tie-breaker.
    pub fn ice_controlling(&self) -> Option<u64> {
        self.attributes.iter().find_map(|a| match a {
            Attribute::IceControlling(t) => Some(*t),
            _ => None,
        })
    }

    /// The ICE-CONTROLLED tie-breaker.
    pub fn ice_controlled(&self) -> Option<u64> {
        self.attributes.iter().find_map(|a| match a {
            Attribute::IceControlled(t) => Some(*t),
            _ => None,
        })
    }

    /// The comprehension-required attribute types this crate does not understand (for a 420 response).
    pub fn unknown_comprehension_required(&self) -> Vec<u16> {
        self.attributes
            .iter()
            .filter_map(|a| match a {
                Attribute::Unknown { typ, .. } if Attribute::is_comprehension_required(*typ) => Some(*typ),
                _ => None,
            })
            .collect()
    }

    /// Verifies the message's integrity with `key` (for ICE: the password of the agent the
    /// request was sent to). MESSAGE-INTEGRITY-SHA256 is checked if present, otherwise
    /// MESSAGE-INTEGRITY. The HMAC covers the message up to the attribute, with the header's
    /// length adjusted to end after it (RFC 8489 §14.5/§14.6).
    pub fn check_integrity(&self, key: &[u8]) -> Result<(), StunError> {
        let received = self.received.as_ref().ok_or(StunError::NotDecoded)?;
        let find = |typ: u16| {
            self.attributes
                .iter()
                .zip(&received.offsets)
                .find(|(a, _)| a.typ() == typ)
                .map(|(a, off)| (a, *off))
        };
        let (expected, offset, algorithm): (&[u8], usize, hmac::Algorithm) =
            match (find(MESSAGE_INTEGRITY_SHA256), find(MESSAGE_INTEGRITY)) {
                (Some((Attribute::MessageIntegritySha256(m), off)), _) => (m, off, hmac::HMAC_SHA256),
                (_, Some((Attribute::MessageIntegrity(m), off))) => (m, off, hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY),
                _ => return Err(StunError::MissingIntegrity),
            };
        let covered = adjusted_prefix(&received.bytes, offset, expected.len())?;
        let tag = hmac::sign(&hmac::Key::new(algorithm, key), &covered);
        let tag = tag.as_ref();
        if tag.len() < expected.len() || !constant_time_eq(&tag[..expected.len()], expected) {
            return Err(StunError::IntegrityMismatch);
        }
        Ok(())
    }

    /// Verifies the FINGERPRINT attribute (CRC-32 of the message before it, XOR `0x5354554e`).
    pub fn check_fingerprint(&self) -> Result<(), StunError> {
        let received = self.received.as_ref().ok_or(StunError::NotDecoded)?;
        let (value, offset) = self
            .attributes
            .iter()
            .zip(&received.offsets)
            .find_map(|(a, off)| match a {
                Attribute::Fingerprint(v) => Some((*v, *off)),
                _ => None,
            })
            .ok_or(StunError::MissingFingerprint)?;
        let covered = adjusted_prefix(&received.bytes, offset, 4)?;
        if crc32(&covered) ^ FINGERPRINT_XOR != value {
            return Err(StunError::FingerprintMismatch);
        }
        Ok(())
    }

    /// Whether the message carries a FINGERPRINT attribute.
    pub fn has_fingerprint(&self) -> bool {
        self.attribute(FINGERPRINT).is_some()
    }
}

/// The message bytes before the attribute at `offset`, with the header length set as if
/// that attribute (with a `value_len`-byte value) were the last one.
fn adjusted_prefix(bytes: &[u8], offset: usize, value_len: usize) -> Result<Vec<u8>, StunError> {
    let mut covered = bytes.get(..offset).ok_or(StunError::NotDecoded)?.to_vec();
    let len = u16::try_from(offset - HEADER_LEN + 4 + value_len).map_err(|_| StunError::TooLong)?;
    if let Some(field) = covered.get_mut(2..4) {
        field.copy_from_slice(&len.to_be_bytes());
    }
    Ok(covered)
}

/// Sets the header length to the current body plus `extra` bytes still to come.
fn set_length(out: &mut [u8], extra: usize) -> Result<(), StunError> {
    let len = u16::try_from(out.len() - HEADER_LEN + extra).map_err(|_| StunError::TooLong)?;
    out[2..4].copy_from_slice(&len.to_be_bytes());
    Ok(())
}

fn push_attribute(out: &mut Vec<u8>, typ: u16, value: &[u8]) -> Result<(), StunError> {
    let len = u16::try_from(value.len()).map_err(|_| StunError::TooLong)?;
    out.extend_from_slice(&typ.to_be_bytes());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(value);
    out.resize((out.len() + 3) & !3, 0);
    if out.len() - HEADER_LEN > usize::from(u16::MAX) {
        return Err(StunError::TooLong);
    }
    Ok(())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
