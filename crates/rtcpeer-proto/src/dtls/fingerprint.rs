//! Certificate fingerprints as carried by `a=fingerprint` (RFC 8122 §5, RFC 8842).

use std::fmt;

use aws_lc_rs::digest;

/// The hash functions a fingerprint can be made with.
///
/// We produce `sha-256` fingerprints (what every browser uses); the others are
/// accepted when verifying a peer that announces them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HashAlgorithm {
    /// SHA-256 (`sha-256`), 32 bytes.
    Sha256,
    /// SHA-384 (`sha-384`), 48 bytes.
    Sha384,
    /// SHA-512 (`sha-512`), 64 bytes.
    Sha512,
    /// SHA-1 (`sha-1`), 20 bytes. Legacy; accepted for verification only.
    Sha1,
}

impl HashAlgorithm {
    /// The name used in `a=fingerprint` (the IANA "Hash Function Textual Names"), lowercase.
    pub fn name(self) -> &'static str {
        match self {
            HashAlgorithm::Sha256 => "sha-256",
            HashAlgorithm::Sha384 => "sha-384",
            HashAlgorithm::Sha512 => "sha-512",
            HashAlgorithm::Sha1 => "sha-1",
        }
    }

    /// The digest length in bytes.
    pub fn output_len(self) -> usize {
        match self {
            HashAlgorithm::Sha256 => 32,
            HashAlgorithm::Sha384 => 48,
            HashAlgorithm::Sha512 => 64,
            HashAlgorithm::Sha1 => 20,
        }
    }

    /// Looks an algorithm up by its textual name, ignoring ASCII case.
    ///
    /// Names registered but not supported here (`md5`, `md2`, `sha-224`) give
    /// [`FingerprintError::UnsupportedAlgorithm`]; anything else gives
    /// [`FingerprintError::UnknownAlgorithm`].
    pub fn from_name(name: &str) -> Result<HashAlgorithm, FingerprintError> {
        const KNOWN: [HashAlgorithm; 4] = [
            HashAlgorithm::Sha256,
            HashAlgorithm::Sha384,
            HashAlgorithm::Sha512,
            HashAlgorithm::Sha1,
        ];
        if let Some(alg) = KNOWN.into_iter().find(|a| a.name().eq_ignore_ascii_case(name)) {
            return Ok(alg);
        }
        if ["md5", "md2", "sha-224"].iter().any(|n| n.eq_ignore_ascii_case(name)) {
            return Err(FingerprintError::UnsupportedAlgorithm(name.to_ascii_lowercase()));
        }
        Err(FingerprintError::UnknownAlgorithm(shorten(name)))
    }

    fn digest_algorithm(self) -> &'static digest::Algorithm {
        match self {
            HashAlgorithm::Sha256 => &digest::SHA256,
            HashAlgorithm::Sha384 => &digest::SHA384,
            HashAlgorithm::Sha512 => &digest::SHA512,
            HashAlgorithm::Sha1 => &digest::SHA1_FOR_LEGACY_USE_ONLY,
        }
    }
}

impl fmt::Display for HashAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a fingerprint text was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FingerprintError {
    /// The hash name is not one in the IANA registry.
    #[error("unknown fingerprint hash algorithm {0:?}")]
    UnknownAlgorithm(String),
    /// The hash name is registered but too weak or too rare to support.
    #[error("unsupported fingerprint hash algorithm {0:?}")]
    UnsupportedAlgorithm(String),
    /// The value is empty.
    #[error("empty fingerprint value")]
    Empty,
    /// A byte is not two hex digits (counting bytes from 0).
    #[error("fingerprint byte {index} is not two hex digits")]
    BadHex {
        /// Index of the offending byte.
        index: usize,
    },
    /// The value has the wrong number of bytes for its algorithm.
    #[error("{algorithm} fingerprint has {found} bytes, expected {expected}")]
    WrongLength {
        /// The algorithm named.
        algorithm: HashAlgorithm,
        /// The length the algorithm produces.
        expected: usize,
        /// The number of bytes in the value (counting stops one past `expected`).
        found: usize,
    },
}

/// A certificate fingerprint: a hash algorithm and the hash of the DER certificate.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Fingerprint {
    /// The hash function used.
    pub algorithm: HashAlgorithm,
    /// The digest of the DER-encoded certificate.
    pub bytes: Vec<u8>,
}

impl Fingerprint {
    /// Hashes a DER certificate with `algorithm`.
    pub fn of_der(algorithm: HashAlgorithm, der: &[u8]) -> Fingerprint {
        let bytes = digest::digest(algorithm.digest_algorithm(), der).as_ref().to_vec();
        Fingerprint { algorithm, bytes }
    }

    /// Parses the two halves of an `a=fingerprint` value: the hash name
    /// (`"sha-256"`, any ASCII case) and the colon-separated hex bytes
    /// (`"AB:CD:..."`, any case). The byte count must match the algorithm.
    pub fn parse(algorithm: &str, value: &str) -> Result<Fingerprint, FingerprintError> {
        let algorithm = HashAlgorithm::from_name(algorithm.trim())?;
        let value = value.trim();
        if value.is_empty() {
            return Err(FingerprintError::Empty);
        }
        let expected = algorithm.output_len();
        let mut bytes = Vec::with_capacity(expected);
        for (index, pair) in value.split(':').enumerate() {
            if bytes.len() == expected {
                // Count no further than one past the limit: enough to report, and bounded.
                return Err(FingerprintError::WrongLength {
                    algorithm,
                    expected,
                    found: expected + 1,
                });
            }
            bytes.push(parse_hex_byte(pair).ok_or(FingerprintError::BadHex { index })?);
        }
        if bytes.len() != expected {
            return Err(FingerprintError::WrongLength {
                algorithm,
                expected,
                found: bytes.len(),
            });
        }
        Ok(Fingerprint { algorithm, bytes })
    }

    /// Parses a whole `a=fingerprint` value, `"sha-256 AB:CD:..."`.
    pub fn parse_attribute(value: &str) -> Result<Fingerprint, FingerprintError> {
        let value = value.trim();
        let (algorithm, hex) = value.split_once(char::is_whitespace).unwrap_or((value, ""));
        Fingerprint::parse(algorithm, hex)
    }

    /// The hash name as written in `a=fingerprint`, e.g. `"sha-256"`.
    pub fn algorithm_name(&self) -> &'static str {
        self.algorithm.name()
    }

    /// The digest as colon-separated uppercase hex, e.g. `"AB:CD:..."`.
    pub fn value_string(&self) -> String {
        let mut out = String::with_capacity(self.bytes.len() * 3);
        for (i, b) in self.bytes.iter().enumerate() {
            if i > 0 {
                out.push(':');
            }
            out.push_str(&format!("{b:02X}"));
        }
        out
    }

    /// Whether `der` is the certificate this fingerprint was made from.
    pub fn matches(&self, der: &[u8]) -> bool {
        let digest = digest::digest(self.algorithm.digest_algorithm(), der);
        constant_time_eq(digest.as_ref(), &self.bytes)
    }
}

impl fmt::Display for Fingerprint {
    /// Writes `"sha-256 AB:CD:..."`, the value of an `a=fingerprint` attribute.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.algorithm_name(), self.value_string())
    }
}

impl std::str::FromStr for Fingerprint {
    type Err = FingerprintError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Fingerprint::parse_attribute(s)
    }
}

fn parse_hex_byte(pair: &str) -> Option<u8> {
    let bytes = pair.as_bytes();
    if bytes.len() != 2 {
        return None;
    }
    let hi = (bytes[0] as char).to_digit(16)?;
    let lo = (bytes[1] as char).to_digit(16)?;
    u8::try_from(hi * 16 + lo).ok()
}

/// Compares without an early exit, so timing says nothing about where a forged
/// fingerprint first differs.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Keeps error messages short whatever the input length.
fn shorten(s: &str) -> String {
    const MAX: usize = 32;
    match s.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", &s[..cut]),
        None => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_then_parse_round_trips() {
        let fp = Fingerprint::of_der(HashAlgorithm::Sha256, b"not really a certificate");
        let text = fp.to_string();
        assert!(text.starts_with("sha-256 "));
        assert_eq!(text.len(), "sha-256 ".len() + 32 * 3 - 1);
        assert_eq!(
            text,
            text.to_ascii_uppercase().replacen("SHA-256", "sha-256", 1),
            "hex is uppercase"
        );
        let back: Fingerprint = text.parse().unwrap();
        assert_eq!(back, fp);
    }

    #[test]
    fn parse_is_case_insensitive() {
        let fp = Fingerprint::of_der(HashAlgorithm::Sha256, b"x");
        let lower = fp.value_string().to_ascii_lowercase();
        assert_eq!(Fingerprint::parse("SHA-256", &lower).unwrap(), fp);
    }

    #[test]
    fn of_der_matches_known_sha256_vector() {
        // FIPS 180-2 test vector: SHA-256("abc").
        let fp = Fingerprint::of_der(HashAlgorithm::Sha256, b"abc");
        assert_eq!(
            fp.value_string(),
            "BA:78:16:BF:8F:01:CF:EA:41:41:40:DE:5D:AE:22:23:B0:03:61:A3:96:17:7A:9C:B4:10:FF:61:F2:00:15:AD"
        );
    }

    #[test]
    fn other_algorithms_have_their_lengths_and_match() {
        for alg in [HashAlgorithm::Sha1, HashAlgorithm::Sha384, HashAlgorithm::Sha512] {
            let fp = Fingerprint::of_der(alg, b"cert");
            assert_eq!(fp.bytes.len(), alg.output_len());
            assert!(fp.matches(b"cert"));
            assert!(!fp.matches(b"cerT"));
            assert_eq!(Fingerprint::parse(alg.name(), &fp.value_string()).unwrap(), fp);
        }
    }

    #[test]
    fn rejects_wrong_length() {
        let short = "AB:".repeat(30) + "AB";
        assert_eq!(
            Fingerprint::parse("sha-256", &short),
            Err(FingerprintError::WrongLength {
                algorithm: HashAlgorithm::Sha256,
                expected: 32,
                found: 31
            })
        );
        let long = "AB:".repeat(1000) + "AB";
        assert!(matches!(
            Fingerprint::parse("sha-256", &long),
            Err(FingerprintError::WrongLength { found: 33, .. })
        ));
    }

    #[test]
    fn rejects_bad_hex_and_separators() {
        let mut bad = vec!["AB"; 32];
        bad[5] = "G1";
        assert_eq!(
            Fingerprint::parse("sha-256", &bad.join(":")),
            Err(FingerprintError::BadHex { index: 5 })
        );
        bad[5] = "ABC";
        assert_eq!(
            Fingerprint::parse("sha-256", &bad.join(":")),
            Err(FingerprintError::BadHex { index: 5 })
        );
        // No separators at all.
        assert_eq!(
            Fingerprint::parse("sha-256", &"AB".repeat(32)),
            Err(FingerprintError::BadHex { index: 0 })
        );
        // Doubled colon gives an empty byte.
        let doubled = "AB:".repeat(16) + ":" + &"AB:".repeat(15) + "AB";
        assert_eq!(
            Fingerprint::parse("sha-256", &doubled),
            Err(FingerprintError::BadHex { index: 16 })
        );
        // Non-ASCII must not panic on slicing.
        assert!(Fingerprint::parse("sha-256", "é:AB").is_err());
        assert_eq!(Fingerprint::parse("sha-256", "  "), Err(FingerprintError::Empty));
    }

    #[test]
    fn rejects_unknown_and_unsupported_algorithms() {
        assert_eq!(
            Fingerprint::parse("md5", "AB"),
            Err(FingerprintError::UnsupportedAlgorithm("md5".into()))
        );
        assert!(matches!(
            Fingerprint::parse("sha256", "AB"),
            Err(FingerprintError::UnknownAlgorithm(_))
        ));
        let huge = "x".repeat(10_000);
        match Fingerprint::parse(&huge, "AB") {
            Err(FingerprintError::UnknownAlgorithm(name)) => assert!(name.chars().count() <= 33),
            other => panic!("unexpected {other:?}"),
        }
        assert!(matches!(
            Fingerprint::parse_attribute(""),
            Err(FingerprintError::UnknownAlgorithm(_))
        ));
        assert_eq!(Fingerprint::parse_attribute("sha-256"), Err(FingerprintError::Empty));
    }
}
