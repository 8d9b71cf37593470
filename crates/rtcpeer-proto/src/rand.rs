//! Random numbers from the system's CSPRNG (through aws-lc-rs).

use aws_lc_rs::rand::{SecureRandom, SystemRandom};

/// Fills `buf` with random bytes.
pub(crate) fn fill(buf: &mut [u8]) {
    // The system generator only fails if the OS has no entropy source at all,
    // in which case nothing in WebRTC can be secure: treat it as fatal.
    SystemRandom::new()
        .fill(buf)
        .expect("the system random number generator failed");
}

/// A random `u64`.
pub(crate) fn u64() -> u64 {
    let mut b = [0u8; 8];
    fill(&mut b);
    u64::from_le_bytes(b)
}
