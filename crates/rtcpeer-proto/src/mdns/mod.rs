//! mDNS (RFC 6762) one-shot queries, enough to resolve the `<uuid>.local` names browsers put in
//! their host candidates.
//!
//! Sans-IO like the rest of the core: [`encode_query`] builds the datagram a runtime sends to
//! `224.0.0.251:5353` (or `[ff02::fb]:5353`) from an ephemeral port, and [`decode`] reads what
//! comes back; [`Message::addresses_for`] picks the A and AAAA answers for the name asked about.
//! Decoding is bounded (at most [`MAX_RECORDS`] records, names of at most 255 bytes through at
//! most 16 compression pointers, which may only point backwards) and returns a typed
//! [`MdnsError`] for anything malformed.

mod error;
mod message;
mod name;

pub use error::MdnsError;
pub use message::{
    decode, encode_query, encode_response, Message, Question, Record, RecordData, RecordType, MAX_RECORDS,
};

/// Whether `name` is a name mDNS resolves: valid DNS labels ending in `.local` (any case, one
/// trailing dot allowed), as in a browser's `<uuid>.local` host candidate.
pub fn is_mdns_name(name: &str) -> bool {
    let trimmed = name.strip_suffix('.').unwrap_or(name);
    let Some(split) = trimmed.len().checked_sub(".local".len()) else {
        return false;
    };
    let suffix_ok = trimmed.get(split..).is_some_and(|s| s.eq_ignore_ascii_case(".local"));
    suffix_ok && split > 0 && name::encode(name, &mut Vec::new()).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_local_names() {
        assert!(is_mdns_name("4c0e2b1a-55aa-4d7e-9c1b-0123456789ab.local"));
        assert!(is_mdns_name("Host.LOCAL."));
        assert!(!is_mdns_name(".local"));
        assert!(!is_mdns_name("local"));
        assert!(!is_mdns_name("host.example"));
        assert!(!is_mdns_name("a..local"));
        assert!(!is_mdns_name("é.local"));
    }
}
