//! STUN attributes (RFC 8489 §14, RFC 8445 §16.1, RFC 8656 §18): their types, values and wire format.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::error::StunError;
use super::message::{TransactionId, MAGIC_COOKIE};

/// MAPPED-ADDRESS.
pub const MAPPED_ADDRESS: u16 = 0x0001;
/// USERNAME.
pub const USERNAME: u16 = 0x0006;
/// MESSAGE-INTEGRITY.
pub const MESSAGE_INTEGRITY: u16 = 0x0008;
/// ERROR-CODE.
pub const ERROR_CODE: u16 = 0x0009;
/// UNKNOWN-ATTRIBUTES.
pub const UNKNOWN_ATTRIBUTES: u16 = 0x000A;
/// CHANNEL-NUMBER (TURN).
pub const CHANNEL_NUMBER: u16 = 0x000C;
/// LIFETIME (TURN).
pub const LIFETIME: u16 = 0x000D;
/// XOR-PEER-ADDRESS (TURN).
pub const XOR_PEER_ADDRESS: u16 = 0x0012;
/// DATA (TURN).
pub const DATA: u16 = 0x0013;
/// REALM.
pub const REALM: u16 = 0x0014;
/// NONCE.
pub const NONCE: u16 = 0x0015;
/// XOR-RELAYED-ADDRESS (TURN).
pub const XOR_RELAYED_ADDRESS: u16 = 0x0016;
/// REQUESTED-TRANSPORT (TURN).
pub const REQUESTED_TRANSPORT: u16 = 0x0019;
/// MESSAGE-INTEGRITY-SHA256.
pub const MESSAGE_INTEGRITY_SHA256: u16 = 0x001C;
/// XOR-MAPPED-ADDRESS.
pub const XOR_MAPPED_ADDRESS: u16 = 0x0020;
/// PRIORITY (ICE).
pub const PRIORITY: u16 = 0x0024;
/// USE-CANDIDATE (ICE).
pub const USE_CANDIDATE: u16 = 0x0025;
/// SOFTWARE.
pub const SOFTWARE: u16 = 0x8022;
/// FINGERPRINT.
pub const FINGERPRINT: u16 = 0x8028;
/// ICE-CONTROLLED (ICE).
pub const ICE_CONTROLLED: u16 = 0x8029;
/// ICE-CONTROLLING (ICE).
pub const ICE_CONTROLLING: u16 = 0x802A;

/// Longest USERNAME value in bytes (RFC 8489 §14.3).
pub const MAX_USERNAME_LEN: usize = 513;
/// Longest REALM, NONCE, SOFTWARE or error reason value in bytes (763 = 4 × 190 + 3).
pub const MAX_TEXT_LEN: usize = 763;

/// One STUN attribute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attribute {
    /// MAPPED-ADDRESS: the reflexive address, in the clear.
    MappedAddress(SocketAddr),
    /// XOR-MAPPED-ADDRESS: the reflexive address, obfuscated with the cookie and transaction id.
    XorMappedAddress(SocketAddr),
    /// USERNAME (ICE: `receiver-ufrag:sender-ufrag`).
    Username(String),
    /// MESSAGE-INTEGRITY: HMAC-SHA1 over the message before it.
    MessageIntegrity([u8; 20]),
    /// MESSAGE-INTEGRITY-SHA256: HMAC-SHA256 (possibly truncated to 16..=32 bytes).
    MessageIntegritySha256(Vec<u8>),
    /// FINGERPRINT: CRC-32 of the message before it, XOR `0x5354554e`.
    Fingerprint(u32),
    /// ERROR-CODE: a 300..=699 code and a reason phrase.
    ErrorCode {
        /// The error code (for example 400, 401, 420, 487).
        code: u16,
        /// The reason phrase.
        reason: String,
    },
    /// UNKNOWN-ATTRIBUTES: the comprehension-required types a server did not understand.
    UnknownAttributes(Vec<u16>),
    /// REALM.
    Realm(String),
    /// NONCE.
    Nonce(String),
    /// SOFTWARE: a description of the sender's software.
    Software(String),
    /// PRIORITY: the priority a peer-reflexive candidate learned from this check would have.
    Priority(u32),
    /// USE-CANDIDATE: the controlling agent nominates this pair.
    UseCandidate,
    /// ICE-CONTROLLED with the sender's tie-breaker.
    IceControlled(u64),
    /// ICE-CONTROLLING with the sender's tie-breaker.
    IceControlling(u64),
    /// XOR-PEER-ADDRESS (TURN): a peer's address as the relay sees it.
    XorPeerAddress(SocketAddr),
    /// XOR-RELAYED-ADDRESS (TURN): the address the server allocated for the client.
    XorRelayedAddress(SocketAddr),
    /// LIFETIME (TURN): seconds until the allocation expires unless refreshed.
    Lifetime(u32),
    /// REQUESTED-TRANSPORT (TURN): the IP protocol number of the relayed transport (17 = UDP).
    RequestedTransport(u8),
    /// CHANNEL-NUMBER (TURN): a channel in 0x4000..=0x4FFF (other values decode too, the
    /// receiver judges them).
    ChannelNumber(u16),
    /// DATA (TURN): application data in a Send or Data indication.
    Data(Vec<u8>),
    /// Any other attribute, kept as it was received.
    Unknown {
        /// The attribute type.
        typ: u16,
        /// The value, without padding.
        value: Vec<u8>,
    },
}

impl Attribute {
    /// The attribute's type code.
    pub fn typ(&self) -> u16 {
        match self {
            Attribute::MappedAddress(_) => MAPPED_ADDRESS,
            Attribute::XorMappedAddress(_) => XOR_MAPPED_ADDRESS,
            Attribute::Username(_) => USERNAME,
            Attribute::MessageIntegrity(_) => MESSAGE_INTEGRITY,
            Attribute::MessageIntegritySha256(_) => MESSAGE_INTEGRITY_SHA256,
            Attribute::Fingerprint(_) => FINGERPRINT,
            Attribute::ErrorCode { .. } => ERROR_CODE,
            Attribute::UnknownAttributes(_) => UNKNOWN_ATTRIBUTES,
            Attribute::Realm(_) => REALM,
            Attribute::Nonce(_) => NONCE,
            Attribute::Software(_) => SOFTWARE,
            Attribute::Priority(_) => PRIORITY,
            Attribute::UseCandidate => USE_CANDIDATE,
            Attribute::IceControlled(_) => ICE_CONTROLLED,
            Attribute::IceControlling(_) => ICE_CONTROLLING,
            Attribute::XorPeerAddress(_) => XOR_PEER_ADDRESS,
            Attribute::XorRelayedAddress(_) => XOR_RELAYED_ADDRESS,
            Attribute::Lifetime(_) => LIFETIME,
            Attribute::RequestedTransport(_) => REQUESTED_TRANSPORT,
            Attribute::ChannelNumber(_) => CHANNEL_NUMBER,
            Attribute::Data(_) => DATA,
            Attribute::Unknown { typ, .. } => *typ,
        }
    }

    /// Whether an agent that does not understand this type must reject the message (types below 0x8000).
    pub fn is_comprehension_required(typ: u16) -> bool {
        typ < 0x8000
    }

    /// Decodes one attribute value of type `typ`.
    pub(crate) fn decode(typ: u16, value: &[u8], tid: &TransactionId) -> Result<Attribute, StunError> {
        let invalid = |reason| StunError::InvalidAttribute { typ, reason };
        Ok(match typ {
            MAPPED_ADDRESS => Attribute::MappedAddress(decode_address(typ, value, None)?),
            XOR_MAPPED_ADDRESS => Attribute::XorMappedAddress(decode_address(typ, value, Some(tid))?),
            USERNAME => Attribute::Username(decode_text(typ, value, MAX_USERNAME_LEN)?),
            MESSAGE_INTEGRITY => {
                Attribute::MessageIntegrity(value.try_into().map_err(|_| invalid("length must be 20"))?)
            }
            MESSAGE_INTEGRITY_SHA256 => {
                if !(16..=32).contains(&value.len()) || value.len() % 4 != 0 {
                    return Err(invalid("length must be 16..=32 and a multiple of 4"));
                }
                Attribute::MessageIntegritySha256(value.to_vec())
            }
            FINGERPRINT => Attribute::Fingerprint(u32::from_be_bytes(
                value.try_into().map_err(|_| invalid("length must be 4"))?,
            )),
            ERROR_CODE => {
                let [_, _, class, number, reason @ ..] = value else {
                    return Err(invalid("shorter than 4 bytes"));
                };
                let class = u16::from(class & 0x07);
                let number = u16::from(*number);
                if !(3..=6).contains(&class) || number > 99 {
                    return Err(invalid("code outside 300..=699"));
                }
                Attribute::ErrorCode {
                    code: class * 100 + number,
                    reason: decode_text(typ, reason, MAX_TEXT_LEN)?,
                }
            }
            UNKNOWN_ATTRIBUTES => {
                if value.len() % 2 != 0 {
                    return Err(invalid("odd length"));
                }
                Attribute::UnknownAttributes(
                    value
                        .chunks_exact(2)
                        .map(|c| u16::from_be_bytes([c[0], c[1]]))
                        .collect(),
                )
            }
            REALM => Attribute::Realm(decode_text(typ, value, MAX_TEXT_LEN)?),
            NONCE => Attribute::Nonce(decode_text(typ, value, MAX_TEXT_LEN)?),
            SOFTWARE => Attribute::Software(decode_text(typ, value, MAX_TEXT_LEN)?),
            PRIORITY => Attribute::Priority(u32::from_be_bytes(
                value.try_into().map_err(|_| invalid("length must be 4"))?,
            )),
            USE_CANDIDATE => {
                if !value.is_empty() {
                    return Err(invalid("must be empty"));
                }
                Attribute::UseCandidate
            }
            ICE_CONTROLLED => Attribute::IceControlled(u64::from_be_bytes(
                value.try_into().map_err(|_| invalid("length must be 8"))?,
            )),
            ICE_CONTROLLING => Attribute::IceControlling(u64::from_be_bytes(
                value.try_into().map_err(|_| invalid("length must be 8"))?,
            )),
            XOR_PEER_ADDRESS => Attribute::XorPeerAddress(decode_address(typ, value, Some(tid))?),
            XOR_RELAYED_ADDRESS => Attribute::XorRelayedAddress(decode_address(typ, value, Some(tid))?),
            LIFETIME => Attribute::Lifetime(u32::from_be_bytes(
                value.try_into().map_err(|_| invalid("length must be 4"))?,
            )),
            REQUESTED_TRANSPORT => {
                let [protocol, _, _, _] = value else {
                    return Err(invalid("length must be 4"));
                };
                Attribute::RequestedTransport(*protocol)
            }
            CHANNEL_NUMBER => {
                let [hi, lo, _, _] = value else {
                    return Err(invalid("length must be 4"));
                };
                Attribute::ChannelNumber(u16::from_be_bytes([*hi, *lo]))
            }
            DATA => Attribute::Data(value.to_vec()),
            _ => Attribute::Unknown {
                typ,
                value: value.to_vec(),
            },
        })
    }

    /// Appends the attribute's value (without header or padding) to `out`.
    pub(crate) fn encode_value(&self, out: &mut Vec<u8>, tid: &TransactionId) {
        match self {
            Attribute::MappedAddress(a) => encode_address(out, *a, None),
            Attribute::XorMappedAddress(a) => encode_address(out, *a, Some(tid)),
            Attribute::Username(s) | Attribute::Realm(s) | Attribute::Nonce(s) | Attribute::Software(s) => {
                out.extend_from_slice(s.as_bytes())
            }
            Attribute::MessageIntegrity(m) => out.extend_from_slice(m),
            Attribute::MessageIntegritySha256(m) => out.extend_from_slice(m),
            Attribute::Fingerprint(f) => out.extend_from_slice(&f.to_be_bytes()),
            Attribute::ErrorCode { code, reason } => {
                let code = (*code).clamp(300, 699);
                out.extend_from_slice(&[0, 0, (code / 100) as u8, (code % 100) as u8]);
                out.extend_from_slice(reason.as_bytes());
            }
            Attribute::UnknownAttributes(types) => {
                for t in types {
                    out.extend_from_slice(&t.to_be_bytes());
                }
            }
            Attribute::Priority(p) => out.extend_from_slice(&p.to_be_bytes()),
            Attribute::UseCandidate => {}
            Attribute::IceControlled(t) | Attribute::IceControlling(t) => out.extend_from_slice(&t.to_be_bytes()),
            Attribute::XorPeerAddress(a) | Attribute::XorRelayedAddress(a) => encode_address(out, *a, Some(tid)),
            Attribute::Lifetime(l) => out.extend_from_slice(&l.to_be_bytes()),
            Attribute::RequestedTransport(p) => out.extend_from_slice(&[*p, 0, 0, 0]),
            Attribute::ChannelNumber(c) => {
                out.extend_from_slice(&c.to_be_bytes());
                out.extend_from_slice(&[0, 0]);
            }
            Attribute::Data(d) => out.extend_from_slice(d),
            Attribute::Unknown { value, .. } => out.extend_from_slice(value),
        }
    }
}

fn decode_text(typ: u16, value: &[u8], max: usize) -> Result<String, StunError> {
    if value.len() > max {
        return Err(StunError::InvalidAttribute {
            typ,
            reason: "text too long",
        });
    }
    String::from_utf8(value.to_vec()).map_err(|_| StunError::InvalidAttribute {
        typ,
        reason: "text is not UTF-8",
    })
}

/// The 16 bytes an IPv6 XOR-MAPPED-ADDRESS is XORed with: cookie then transaction id.
fn xor_key(tid: &TransactionId) -> [u8; 16] {
    let mut key = [0u8; 16];
    key[..4].copy_from_slice(&MAGIC_COOKIE.to_be_bytes());
    key[4..].copy_from_slice(tid.as_bytes());
    key
}

fn decode_address(typ: u16, value: &[u8], xor: Option<&TransactionId>) -> Result<SocketAddr, StunError> {
    let invalid = |reason| StunError::InvalidAttribute { typ, reason };
    let [_, family, p0, p1, addr @ ..] = value else {
        return Err(invalid("shorter than 4 bytes"));
    };
    let mut port = u16::from_be_bytes([*p0, *p1]);
    let key = xor.map(xor_key);
    if key.is_some() {
        port ^= (MAGIC_COOKIE >> 16) as u16;
    }
    let ip = match family {
        0x01 => {
            let mut b: [u8; 4] = addr.try_into().map_err(|_| invalid("IPv4 address must be 4 bytes"))?;
            if let Some(k) = key {
                b.iter_mut().zip(k).for_each(|(x, k)| *x ^= k);
            }
            IpAddr::V4(Ipv4Addr::from(b))
        }
        0x02 => {
            let mut b: [u8; 16] = addr.try_into().map_err(|_| invalid("IPv6 address must be 16 bytes"))?;
            if let Some(k) = key {
                b.iter_mut().zip(k).for_each(|(x, k)| *x ^= k);
            }
            IpAddr::V6(Ipv6Addr::from(b))
        }
        _ => return Err(invalid("unknown address family")),
    };
    Ok(SocketAddr::new(ip, port))
}

fn encode_address(out: &mut Vec<u8>, addr: SocketAddr, xor: Option<&TransactionId>) {
    let key = xor.map(xor_key);
    let mut port = addr.port();
    if key.is_some() {
        port ^= (MAGIC_COOKIE >> 16) as u16;
    }
    let family = if addr.is_ipv4() { 1 } else { 2 };
    out.extend_from_slice(&[0, family]);
    out.extend_from_slice(&port.to_be_bytes());
    let mut bytes = match addr.ip() {
        IpAddr::V4(v4) => v4.octets().to_vec(),
        IpAddr::V6(v6) => v6.octets().to_vec(),
    };
    if let Some(k) = key {
        bytes.iter_mut().zip(k).for_each(|(x, k)| *x ^= k);
    }
    out.extend_from_slice(&bytes);
}
