//! ICE credentials (ufrag/pwd, RFC 8445 §5.3) and the agent's role.

/// Characters allowed in ufrag and pwd (`ice-char`, RFC 8839 §5.4).
const ICE_CHARS: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
/// Length of a generated ufrag (the minimum is 4).
const UFRAG_LEN: usize = 8;
/// Length of a generated pwd (the minimum is 22).
const PWD_LEN: usize = 24;

/// A username fragment and password, as carried in `a=ice-ufrag` and `a=ice-pwd`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IceCredentials {
    /// The username fragment.
    pub ufrag: String,
    /// The password (the STUN short-term credential key).
    pub pwd: String,
}

impl IceCredentials {
    /// Credentials from the given strings.
    pub fn new(ufrag: impl Into<String>, pwd: impl Into<String>) -> Self {
        IceCredentials {
            ufrag: ufrag.into(),
            pwd: pwd.into(),
        }
    }

    /// Fresh random credentials: an 8-character ufrag and a 24-character pwd of `ice-char`s
    /// (well above the 4 and 22 character minimums), from the system's secure generator.
    pub fn random() -> Self {
        IceCredentials {
            ufrag: random_ice_chars(UFRAG_LEN),
            pwd: random_ice_chars(PWD_LEN),
        }
    }
}

fn random_ice_chars(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    if aws_lc_rs::rand::fill(&mut bytes).is_err() {
        tracing::error!("no system randomness for ICE credentials");
    }
    // 64 symbols: taking the low 6 bits keeps the distribution uniform.
    bytes
        .iter()
        .map(|b| char::from(ICE_CHARS[usize::from(b & 63)]))
        .collect()
}

/// Which side decides the nominated pair (RFC 8445 §6.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IceRole {
    /// This agent nominates pairs (the offerer, or whoever faces an ice-lite peer).
    Controlling,
    /// The peer nominates pairs.
    Controlled,
}

/// A random 64-bit value (tie-breakers, jitter).
pub(crate) fn random_u64() -> u64 {
    let mut bytes = [0u8; 8];
    if aws_lc_rs::rand::fill(&mut bytes).is_err() {
        tracing::error!("no system randomness");
    }
    u64::from_be_bytes(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_credentials_use_ice_chars_and_differ() {
        let a = IceCredentials::random();
        let b = IceCredentials::random();
        assert_eq!(a.ufrag.len(), UFRAG_LEN);
        assert_eq!(a.pwd.len(), PWD_LEN);
        assert!(a.ufrag.bytes().chain(a.pwd.bytes()).all(|c| ICE_CHARS.contains(&c)));
        assert_ne!(a, b);
    }
}
