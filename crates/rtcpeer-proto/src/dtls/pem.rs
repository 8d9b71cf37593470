//! Just enough PEM (RFC 7468) to store a certificate and its key in one text:
//! find a labelled block, decode its base64, and write blocks back out.

/// Why a PEM text was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PemError {
    /// No `-----BEGIN <label>-----` line for the label that was needed.
    #[error("no PEM block labelled {0:?}")]
    MissingBlock(&'static str),
    /// A block was opened but never closed with its `-----END <label>-----` line.
    #[error("PEM block {0:?} has no END line")]
    Unterminated(&'static str),
    /// The block's body is not valid base64.
    #[error("PEM block {label:?} has invalid base64 at character {position}")]
    BadBase64 {
        /// The block's label.
        label: &'static str,
        /// Offset of the bad character within the block body (whitespace excluded).
        position: usize,
    },
    /// The text is longer than [`MAX_PEM_LEN`].
    #[error("PEM text of {0} bytes exceeds the {MAX_PEM_LEN}-byte limit")]
    TooLong(usize),
}

/// The longest PEM text accepted. A P-256 certificate and key take under 1.5 KB.
pub const MAX_PEM_LEN: usize = 64 * 1024;

/// Decodes the first block labelled `label` in `text`.
pub(crate) fn decode_block(text: &str, label: &'static str) -> Result<Vec<u8>, PemError> {
    if text.len() > MAX_PEM_LEN {
        return Err(PemError::TooLong(text.len()));
    }
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = text.find(&begin).ok_or(PemError::MissingBlock(label))? + begin.len();
    let rest = text.get(start..).unwrap_or_default();
    let stop = rest.find(&end).ok_or(PemError::Unterminated(label))?;
    let body = rest.get(..stop).unwrap_or_default();
    decode_base64(body).map_err(|position| PemError::BadBase64 { label, position })
}

/// Writes `der` as a PEM block with 64-character lines.
pub(crate) fn encode_block(label: &str, der: &[u8]) -> String {
    let b64 = encode_base64(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

pub(crate) fn encode_base64(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk.first().copied().unwrap_or(0),
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Decodes base64 ignoring whitespace; on error returns the offending
/// character's position among the non-whitespace characters.
fn decode_base64(text: &str) -> Result<Vec<u8>, usize> {
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let mut acc: u32 = 0;
    let mut bits = 0u32;
    let mut padding = 0usize;
    let mut position = 0usize;
    for c in text.chars().filter(|c| !c.is_ascii_whitespace()) {
        if c == '=' {
            padding += 1;
            if padding > 2 {
                return Err(position);
            }
        } else {
            if padding > 0 {
                return Err(position); // data after padding
            }
            let v = ALPHABET.iter().position(|&a| char::from(a) == c).ok_or(position)?;
            acc = (acc << 6) | v as u32;
            bits += 6;
            if bits >= 8 {
                bits -= 8;
                out.push((acc >> bits) as u8);
                acc &= (1 << bits) - 1;
            }
        }
        position += 1;
    }
    if position % 4 != 0 || bits >= 6 {
        return Err(position);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trips_every_tail_length() {
        for len in 0..10 {
            let data: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
            assert_eq!(decode_base64(&encode_base64(&data)), Ok(data));
        }
        assert_eq!(encode_base64(b"foobar"), "Zm9vYmFy");
        assert_eq!(encode_base64(b"fo"), "Zm8=");
    }

    #[test]
    fn block_round_trips_and_lines_are_64_wide() {
        let der: Vec<u8> = (0..200u8).collect();
        let pem = encode_block("CERTIFICATE", &der);
        assert!(pem.lines().all(|l| l.len() <= 64 || l.starts_with("-----")));
        assert_eq!(decode_block(&pem, "CERTIFICATE"), Ok(der));
    }

    #[test]
    fn rejects_malformed_blocks() {
        assert_eq!(
            decode_block("hello", "CERTIFICATE"),
            Err(PemError::MissingBlock("CERTIFICATE"))
        );
        assert_eq!(
            decode_block("-----BEGIN CERTIFICATE-----\nAAAA\n", "CERTIFICATE"),
            Err(PemError::Unterminated("CERTIFICATE"))
        );
        let bad = "-----BEGIN CERTIFICATE-----\nAA*A\n-----END CERTIFICATE-----\n";
        assert_eq!(
            decode_block(bad, "CERTIFICATE"),
            Err(PemError::BadBase64 {
                label: "CERTIFICATE",
                position: 2
            })
        );
        let truncated = "-----BEGIN CERTIFICATE-----\nAAA\n-----END CERTIFICATE-----\n";
        assert!(matches!(
            decode_block(truncated, "CERTIFICATE"),
            Err(PemError::BadBase64 { .. })
        ));
        let after_pad = "-----BEGIN CERTIFICATE-----\nAA==AAAA\n-----END CERTIFICATE-----\n";
        assert!(matches!(
            decode_block(after_pad, "CERTIFICATE"),
            Err(PemError::BadBase64 { .. })
        ));
        let huge = "A".repeat(MAX_PEM_LEN + 1);
        assert_eq!(
            decode_block(&huge, "CERTIFICATE"),
            Err(PemError::TooLong(MAX_PEM_LEN + 1))
        );
    }
}
