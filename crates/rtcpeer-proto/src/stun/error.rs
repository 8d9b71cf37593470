//! Why a STUN message could not be decoded or verified.

/// An error decoding, encoding or verifying a STUN message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StunError {
    /// Fewer bytes than the 20-byte header.
    #[error("message is {0} bytes, shorter than the 20-byte STUN header")]
    TooShort(usize),
    /// The two most significant bits of the first byte are not zero.
    #[error("the first two bits of a STUN message must be zero")]
    NotStun,
    /// The magic cookie is not `0x2112A442`.
    #[error("wrong magic cookie {0:#010x}")]
    BadMagicCookie(u32),
    /// The header's length field does not match the datagram.
    #[error("length field says {declared} bytes but {actual} follow the header")]
    LengthMismatch {
        /// The length in the header.
        declared: usize,
        /// The bytes actually present after the header.
        actual: usize,
    },
    /// The message length is not a multiple of four.
    #[error("message length {0} is not a multiple of 4")]
    UnalignedLength(usize),
    /// An attribute's length runs past the end of the message.
    #[error("attribute {typ:#06x} of length {len} runs past the end of the message")]
    TruncatedAttribute {
        /// The attribute type.
        typ: u16,
        /// Its declared length.
        len: usize,
    },
    /// An attribute's value does not fit its definition.
    #[error("attribute {typ:#06x} is invalid: {reason}")]
    InvalidAttribute {
        /// The attribute type.
        typ: u16,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// More attributes than we are willing to keep.
    #[error("message has more than {0} attributes")]
    TooManyAttributes(usize),
    /// An attribute follows FINGERPRINT.
    #[error("FINGERPRINT is not the last attribute")]
    FingerprintNotLast,
    /// `check_integrity` on a message without MESSAGE-INTEGRITY(-SHA256).
    #[error("message has no MESSAGE-INTEGRITY attribute")]
    MissingIntegrity,
    /// The HMAC does not match.
    #[error("MESSAGE-INTEGRITY does not match")]
    IntegrityMismatch,
    /// `check_fingerprint` on a message without FINGERPRINT.
    #[error("message has no FINGERPRINT attribute")]
    MissingFingerprint,
    /// The CRC does not match.
    #[error("FINGERPRINT does not match")]
    FingerprintMismatch,
    /// The message would exceed the 16-bit length field.
    #[error("message is too long to encode")]
    TooLong,
    /// The message was built, not decoded, so there are no received bytes to verify.
    #[error("message was not decoded from bytes, nothing to verify")]
    NotDecoded,
}
