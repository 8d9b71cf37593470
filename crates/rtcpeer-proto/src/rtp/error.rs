//! Why an RTP or RTCP packet could not be parsed or written.

/// An error parsing or writing an RTP packet or its header extensions.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RtpError {
    /// Fewer bytes than the part of the packet being read needs.
    #[error("RTP packet truncated: {what} needs {needed} bytes but only {available} remain")]
    Truncated {
        /// The part of the packet being read.
        what: &'static str,
        /// The bytes that part needs.
        needed: usize,
        /// The bytes actually left.
        available: usize,
    },
    /// The version field is not 2.
    #[error("RTP version is {0}, not 2")]
    BadVersion(u8),
    /// The padding count is zero or larger than the packet body.
    #[error("RTP padding count {padding} is invalid for a body of {body} bytes")]
    BadPadding {
        /// The padding count in the packet's last byte.
        padding: u8,
        /// The bytes after the header, including the padding.
        body: usize,
    },
    /// A header extension element runs past the end of the extension block.
    #[error("header extension element {id} of length {len} runs past the end of the extension block")]
    TruncatedExtension {
        /// The element's id.
        id: u8,
        /// Its declared length.
        len: usize,
    },
    /// An extension id that cannot be used (0, 15 in the one-byte form, or outside 1..=255).
    #[error("header extension id {0} is not usable")]
    BadExtensionId(u8),
    /// An extension value longer than its form allows (16 bytes one-byte form, 255 two-byte form).
    #[error("header extension value of {0} bytes is too long")]
    ExtensionTooLong(usize),
    /// The same extension id appears twice when writing.
    #[error("header extension id {0} given twice")]
    DuplicateExtension(u8),
    /// A typed extension value does not fit its definition.
    #[error("header extension {kind} is invalid: {reason}")]
    BadExtensionValue {
        /// The URI of the extension.
        kind: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// More than 15 CSRCs when writing.
    #[error("{0} CSRCs given, at most 15 fit")]
    TooManyCsrcs(usize),
    /// A payload type outside 0..=127 when writing.
    #[error("payload type {0} does not fit in 7 bits")]
    BadPayloadType(u8),
    /// An RTX packet whose payload is too short to hold the original sequence number.
    #[error("RTX packet has a {0}-byte payload, too short for the original sequence number")]
    RtxTooShort(usize),
}

/// An error parsing or writing an RTCP packet.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RtcpError {
    /// Fewer bytes than the part of the packet being read needs.
    #[error("RTCP packet truncated: {what} needs {needed} bytes but only {available} remain")]
    Truncated {
        /// The part of the packet being read.
        what: &'static str,
        /// The bytes that part needs.
        needed: usize,
        /// The bytes actually left.
        available: usize,
    },
    /// The version field is not 2.
    #[error("RTCP version is {0}, not 2")]
    BadVersion(u8),
    /// An empty datagram.
    #[error("empty RTCP compound packet")]
    Empty,
    /// The padding bit is set on a packet that is not the last of its compound packet, or the
    /// padding count does not fit.
    #[error("RTCP padding is invalid: {0}")]
    BadPadding(&'static str),
    /// A packet's body does not fit its definition.
    #[error("RTCP packet type {pt} is invalid: {reason}")]
    Invalid {
        /// The packet type.
        pt: u8,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A count or a length does not fit its field when writing.
    #[error("RTCP {what} is too large to write: {value}")]
    TooLarge {
        /// The field that overflowed.
        what: &'static str,
        /// The value that did not fit.
        value: usize,
    },
    /// A compound packet holding more packets than we are willing to keep.
    #[error("RTCP compound packet holds more than {0} packets")]
    TooManyPackets(usize),
}
