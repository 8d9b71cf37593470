//! Long-term credentials (RFC 8489 §9.2): the key a TURN client signs its requests with.

use md5::{Digest, Md5};

/// The MESSAGE-INTEGRITY key of the long-term credential mechanism with the MD5 algorithm
/// (RFC 8489 §9.2.2): `MD5(username ":" realm ":" password)`.
///
/// The strings are used as given: the OpaqueString profile (RFC 8265) that RFC 8489 asks for
/// is not applied, so a caller with non-ASCII passwords must pass them already prepared.
/// ASCII credentials, the only ones WebRTC TURN servers hand out in practice, are unchanged by it.
pub fn long_term_key(username: &str, realm: &str, password: &str) -> [u8; 16] {
    let mut hasher = Md5::new();
    hasher.update(username.as_bytes());
    hasher.update(b":");
    hasher.update(realm.as_bytes());
    hasher.update(b":");
    hasher.update(password.as_bytes());
    hasher.finalize().into()
}
