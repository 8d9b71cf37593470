//! The SCTP packet checksum: CRC-32C (Castagnoli), RFC 9260 appendix A.
//!
//! sctp-proto checks it on every packet; we compute it only for the few packets
//! the boundary builds itself, and tests and fuzz targets use it to craft packets
//! that get past the check.

/// CRC-32C of `bytes`, computed bitwise (no table: it is off the hot path).
pub fn crc32c(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0x82F6_3B78
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// Writes the checksum of an SCTP packet into its bytes 8..12 (computed with that
/// field zeroed, sent least significant byte first). Packets shorter than the common
/// header are left alone.
pub fn seal(packet: &mut [u8]) {
    let Some(field) = packet.get_mut(8..12) else { return };
    field.fill(0);
    let crc = crc32c(packet);
    packet[8..12].copy_from_slice(&crc.to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32c_matches_the_check_value() {
        // The standard check value of CRC-32C over the ASCII digits 1 to 9.
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
    }

    #[test]
    fn seal_writes_a_checksum_that_covers_the_zeroed_field() {
        let mut packet = vec![0x13, 0x88, 0x13, 0x88, 1, 2, 3, 4, 0xff, 0xff, 0xff, 0xff, 11, 0, 0, 4];
        seal(&mut packet);
        let written = u32::from_le_bytes([packet[8], packet[9], packet[10], packet[11]]);
        packet[8..12].fill(0);
        assert_eq!(written, crc32c(&packet));
        let mut short = vec![1, 2, 3];
        seal(&mut short);
        assert_eq!(short, [1, 2, 3]);
    }
}
