//! SRTP cost per packet: `SrtpContext::protect_rtp`/`unprotect_rtp` against the bare cipher work a packet
//! needs (AES-GCM seal/open, or AES-CTR plus HMAC-SHA1), measured the same way.

use std::hint::black_box;
use std::time::{Duration, Instant};

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_128_GCM, AES_256_GCM};
use aws_lc_rs::cipher::{EncryptingKey, EncryptionContext, UnboundCipherKey, AES_128};
use aws_lc_rs::hmac;
use aws_lc_rs::iv::FixedLength;
use rtcpeer_proto::srtp::{SrtpContext, SrtpProfile};

use super::BenchError;

/// The RTP header the benchmark packets carry: version 2, payload type 96, no CSRC, no extension.
const HEADER: usize = 12;
/// Packets protected (or unprotected) per timed batch.
const BATCH: usize = 4096;

/// An RTP packet of `size` bytes in total with sequence number `seq`.
pub fn rtp_packet(size: usize, seq: u16) -> Vec<u8> {
    let mut packet = vec![0u8; size.max(HEADER)];
    packet[0] = 0x80;
    packet[1] = 96;
    packet[2..4].copy_from_slice(&seq.to_be_bytes());
    packet[4..8].copy_from_slice(&(u32::from(seq) * 960).to_be_bytes());
    packet[8..12].copy_from_slice(&0x1234_5678u32.to_be_bytes());
    for (i, byte) in packet.iter_mut().enumerate().skip(HEADER) {
        *byte = i as u8;
    }
    packet
}

fn context(profile: SrtpProfile) -> Result<SrtpContext, BenchError> {
    let key: Vec<u8> = (0..profile.key_len() as u8).collect();
    let salt: Vec<u8> = (0..profile.salt_len() as u8).map(|b| b ^ 0xa5).collect();
    SrtpContext::new(profile, &key, &salt).map_err(|e| BenchError::Rtc(format!("SRTP context: {e}")))
}

/// Runs `batch` (which handles [`BATCH`] packets) until `budget` has passed; returns ns per packet.
fn time_batches(budget: Duration, mut batch: impl FnMut() -> Result<Duration, BenchError>) -> Result<f64, BenchError> {
    // One untimed batch to warm caches and the allocator.
    batch()?;
    let mut spent = Duration::ZERO;
    let mut packets = 0u64;
    let started = Instant::now();
    while started.elapsed() < budget {
        spent += batch()?;
        packets += BATCH as u64;
    }
    Ok(spent.as_nanos() as f64 / packets.max(1) as f64)
}

/// ns per `protect_rtp` of a `size`-byte packet.
pub fn protect(profile: SrtpProfile, size: usize, budget: Duration) -> Result<f64, BenchError> {
    let mut ctx = context(profile)?;
    let packets: Vec<Vec<u8>> = (0..BATCH).map(|i| rtp_packet(size, i as u16)).collect();
    let mut out = Vec::with_capacity(size + 16);
    let mut round = 0u16;
    time_batches(budget, || {
        round = round.wrapping_add(1);
        let start = Instant::now();
        for packet in &packets {
            ctx.protect_rtp(packet, &mut out)
                .map_err(|e| BenchError::Rtc(format!("protect: {e}")))?;
            black_box(&out);
        }
        Ok(start.elapsed())
    })
}

/// ns per `unprotect_rtp` of a `size`-byte packet (every packet authenticates and is fresh).
pub fn unprotect(profile: SrtpProfile, size: usize, budget: Duration) -> Result<f64, BenchError> {
    // The replay window forbids unprotecting a packet twice: each batch gets a fresh receiving context.
    let mut sender = context(profile)?;
    let mut protected = Vec::with_capacity(BATCH);
    for i in 0..BATCH {
        let mut out = Vec::new();
        sender
            .protect_rtp(&rtp_packet(size, i as u16), &mut out)
            .map_err(|e| BenchError::Rtc(format!("protect: {e}")))?;
        protected.push(out);
    }
    let mut out = Vec::with_capacity(size);
    time_batches(budget, || {
        let mut ctx = context(profile)?;
        let start = Instant::now();
        for packet in &protected {
            ctx.unprotect_rtp(packet, &mut out)
                .map_err(|e| BenchError::Rtc(format!("unprotect: {e}")))?;
            black_box(&out);
        }
        Ok(start.elapsed())
    })
}

/// The bare cipher of a profile, keyed once, as the floor SRTP's bookkeeping adds to.
// Made once per benchmark case: the size difference does not matter.
#[allow(clippy::large_enum_variant)]
enum BareCipher {
    Gcm(LessSafeKey),
    CtrHmac(EncryptingKey, hmac::Key, usize),
}

impl BareCipher {
    fn new(profile: SrtpProfile) -> Result<Self, BenchError> {
        let key: Vec<u8> = (0..profile.key_len() as u8).collect();
        let fail = |_| BenchError::Rtc("keying the bare cipher failed".into());
        Ok(match profile {
            SrtpProfile::AeadAes128Gcm | SrtpProfile::AeadAes256Gcm => {
                let algorithm = if profile == SrtpProfile::AeadAes256Gcm {
                    &AES_256_GCM
                } else {
                    &AES_128_GCM
                };
                BareCipher::Gcm(LessSafeKey::new(UnboundKey::new(algorithm, &key).map_err(fail)?))
            }
            SrtpProfile::Aes128CmSha1_80 | SrtpProfile::Aes128CmSha1_32 => {
                let ctr = EncryptingKey::ctr(UnboundCipherKey::new(&AES_128, &key).map_err(fail)?).map_err(fail)?;
                let auth = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, &[7u8; 20]);
                BareCipher::CtrHmac(ctr, auth, profile.rtp_tag_len())
            }
        })
    }

    /// Encrypts the payload of `buf` in place and appends the tag, as protect does, with no SRTP state.
    fn seal(&self, buf: &mut Vec<u8>, counter: u64) -> Result<(), BenchError> {
        let fail = |_| BenchError::Rtc("bare cipher failed".into());
        let mut iv = [0u8; 16];
        iv[6..14].copy_from_slice(&counter.to_be_bytes());
        match self {
            BareCipher::Gcm(key) => {
                let mut nonce = [0u8; 12];
                nonce.copy_from_slice(&iv[2..14]);
                let (head, payload) = buf.split_at_mut(HEADER);
                let tag = key
                    .seal_in_place_separate_tag(Nonce::assume_unique_for_key(nonce), Aad::from(&*head), payload)
                    .map_err(fail)?;
                buf.extend_from_slice(tag.as_ref());
            }
            BareCipher::CtrHmac(ctr, auth, tag_len) => {
                ctr.less_safe_encrypt(&mut buf[HEADER..], EncryptionContext::Iv128(FixedLength::from(iv)))
                    .map_err(fail)?;
                let tag = hmac::sign(auth, buf);
                buf.extend_from_slice(&tag.as_ref()[..*tag_len]);
            }
        }
        Ok(())
    }
}

/// ns per packet of the bare cipher work of `profile` on a `size`-byte packet (copy into a buffer, encrypt,
/// tag): what protect and unprotect cannot go below.
pub fn bare(profile: SrtpProfile, size: usize, budget: Duration) -> Result<f64, BenchError> {
    let cipher = BareCipher::new(profile)?;
    let packets: Vec<Vec<u8>> = (0..BATCH).map(|i| rtp_packet(size, i as u16)).collect();
    let mut out = Vec::with_capacity(size + 16);
    let mut counter = 0u64;
    time_batches(budget, || {
        let start = Instant::now();
        for packet in &packets {
            out.clear();
            out.extend_from_slice(packet);
            counter += 1;
            cipher.seal(&mut out, counter)?;
            black_box(&out);
        }
        Ok(start.elapsed())
    })
}

/// The short name of a profile used in benchmark names.
pub fn short_name(profile: SrtpProfile) -> &'static str {
    match profile {
        SrtpProfile::Aes128CmSha1_80 => "aes128cm-sha1-80",
        SrtpProfile::Aes128CmSha1_32 => "aes128cm-sha1-32",
        SrtpProfile::AeadAes128Gcm => "aes128gcm",
        SrtpProfile::AeadAes256Gcm => "aes256gcm",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn benchmark_packets_survive_a_protect_unprotect_round_trip() {
        for profile in SrtpProfile::ALL {
            let mut tx = context(profile).expect("context");
            let mut rx = context(profile).expect("context");
            let packet = rtp_packet(200, 7);
            let mut protected = Vec::new();
            tx.protect_rtp(&packet, &mut protected).expect("protect");
            assert_eq!(protected.len(), 200 + profile.rtp_tag_len());
            let mut plain = Vec::new();
            rx.unprotect_rtp(&protected, &mut plain).expect("unprotect");
            assert_eq!(plain, packet);
        }
    }

    #[test]
    fn bare_cipher_appends_the_profile_tag() {
        for profile in SrtpProfile::ALL {
            let cipher = BareCipher::new(profile).expect("cipher");
            let packet = rtp_packet(1200, 1);
            let mut buf = packet.clone();
            cipher.seal(&mut buf, 1).expect("seal");
            assert_eq!(buf.len(), 1200 + profile.rtp_tag_len());
            assert_eq!(buf[..HEADER], packet[..HEADER]);
            assert_ne!(buf[HEADER..1200], packet[HEADER..]);
        }
    }
}
