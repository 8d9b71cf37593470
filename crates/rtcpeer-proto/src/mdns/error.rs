//! Why an mDNS message could not be decoded or a query could not be built.

/// An error decoding an mDNS (DNS wire format) message or encoding a query.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MdnsError {
    /// Fewer bytes than the 12-byte header.
    #[error("message is {0} bytes, shorter than the 12-byte DNS header")]
    TooShort(usize),
    /// A field runs past the end of the message.
    #[error("{0} runs past the end of the message")]
    Truncated(&'static str),
    /// A label length byte uses the reserved `0b01`/`0b10` prefixes.
    #[error("label length byte {0:#04x} uses a reserved prefix")]
    BadLabelType(u8),
    /// A compression pointer points at or after itself, which could loop.
    #[error("compression pointer at offset {at} points forward to {target}")]
    ForwardPointer {
        /// Where the pointer is.
        at: usize,
        /// Where it points.
        target: usize,
    },
    /// A name follows more compression pointers than allowed.
    #[error("name follows more than {0} compression pointers")]
    TooManyPointers(usize),
    /// A name is longer than the 255 bytes DNS allows.
    #[error("name is longer than 255 bytes")]
    NameTooLong,
    /// A name has an empty label, or a label longer than 63 bytes.
    #[error("name {0:?} has an empty label or one longer than 63 bytes")]
    BadLabel(String),
    /// A label is not printable ASCII (the names we resolve are `<uuid>.local`).
    #[error("name has a label that is not printable ASCII")]
    NotAscii,
    /// The message claims more records than we read.
    #[error("message has {0} records, more than the {1} we read")]
    TooManyRecords(usize, usize),
    /// An A or AAAA record's data has the wrong length.
    #[error("record of type {rtype} has {len} bytes of data, expected {expected}")]
    BadRecordLength {
        /// The record type.
        rtype: u16,
        /// The data length in the record.
        len: usize,
        /// The length the type requires.
        expected: usize,
    },
}
