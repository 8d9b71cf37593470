//! The error a description fails to parse with: the line and what was wrong.

use std::fmt;

use crate::ice::CandidateParseError;

/// Why a session description was refused, and on which line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SdpError {
    /// The 1-based line number, or 0 when the error concerns the whole
    /// description (for example its size).
    pub line: usize,
    /// What was wrong.
    pub kind: SdpErrorKind,
}

impl SdpError {
    pub(crate) fn new(line: usize, kind: SdpErrorKind) -> SdpError {
        SdpError { line, kind }
    }
}

impl fmt::Display for SdpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "description: {}", self.kind)
        } else {
            write!(f, "line {}: {}", self.line, self.kind)
        }
    }
}

impl std::error::Error for SdpError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            SdpErrorKind::Candidate(e) => Some(e),
            _ => None,
        }
    }
}

/// The ways a description can be wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SdpErrorKind {
    /// The description is larger than [`MAX_DESCRIPTION_BYTES`](super::MAX_DESCRIPTION_BYTES).
    #[error("description is {size} bytes, over the limit of {limit} bytes")]
    TooLarge {
        /// The description's size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// A line is longer than [`MAX_LINE_BYTES`](super::MAX_LINE_BYTES).
    #[error("line is {len} bytes, over the limit of {limit} bytes")]
    LineTooLong {
        /// The line's length.
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// More media sections than [`MAX_MEDIA_SECTIONS`](super::MAX_MEDIA_SECTIONS).
    #[error("more than {limit} media sections")]
    TooManyMediaSections {
        /// The limit.
        limit: usize,
    },
    /// More lines in one section than [`MAX_LINES_PER_SECTION`](super::MAX_LINES_PER_SECTION).
    #[error("more than {limit} lines in one section")]
    TooManyLines {
        /// The limit.
        limit: usize,
    },
    /// The description is empty.
    #[error("description is empty")]
    Empty,
    /// The line is not valid UTF-8.
    #[error("line is not valid UTF-8")]
    NotUtf8,
    /// An empty line (two line breaks in a row).
    #[error("empty line")]
    EmptyLine,
    /// A control character (NUL, a stray CR, ...) inside a line.
    #[error("control character {0:#04x} inside the line")]
    ControlCharacter(u8),
    /// The line does not start with `<letter>=`.
    #[error("line does not have the form <type>=<value>")]
    NotTypeValue,
    /// A type letter SDP does not define (type letters are case-sensitive).
    #[error("unknown line type '{0}'")]
    UnknownType(char),
    /// Whitespace right after the `=` (RFC 8866 §5 forbids it).
    #[error("whitespace after '='")]
    WhitespaceAfterEquals,
    /// A mandatory line is missing where it should be.
    #[error("expected a{} {expected}= line", if matches!(expected, 'o' | 's') { "n" } else { "" })]
    Expected {
        /// The type letter that was expected.
        expected: char,
    },
    /// A line appears where the grammar does not allow it.
    #[error("{0}= line out of order")]
    OutOfOrder(char),
    /// A line that may appear once appears again.
    #[error("second {0}= line where only one is allowed")]
    Duplicate(char),
    /// A field of a `v=`, `o=`, `c=`, `b=`, `t=` or `m=` line is invalid.
    #[error("invalid {field}: {reason}")]
    InvalidField {
        /// The field (for example `"m= protocol"`).
        field: &'static str,
        /// What was wrong, quoting the offending text.
        reason: String,
    },
    /// A known attribute does not fit its grammar.
    #[error("invalid a={name}: {reason}")]
    InvalidAttribute {
        /// The attribute's name.
        name: &'static str,
        /// What was wrong, quoting the offending text.
        reason: String,
    },
    /// An `a=candidate` line does not fit the candidate grammar.
    #[error("invalid a=candidate: {0}")]
    Candidate(#[from] CandidateParseError),
}

/// Quotes at most 64 characters of outside text for an error message.
pub(crate) fn quote(text: &str) -> String {
    let mut out: String = text.chars().take(64).collect();
    if out.len() < text.len() {
        out.push('…');
    }
    format!("{out:?}")
}
