//! NTP timestamps as RTCP carries them (RFC 3550 §4).

use std::time::Duration;

/// Seconds from the NTP epoch (1900) to the Unix epoch (1970).
pub const UNIX_EPOCH_OFFSET_SECS: u64 = 2_208_988_800;

/// A 64-bit NTP timestamp: 32 bits of seconds since 1900 and 32 bits of fraction.
///
/// The caller supplies the wall-clock time; this crate never reads a clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct NtpTime(pub u64);

impl NtpTime {
    /// A timestamp from its seconds and fraction halves.
    pub fn new(seconds: u32, fraction: u32) -> Self {
        NtpTime((u64::from(seconds) << 32) | u64::from(fraction))
    }

    /// The 64-bit value.
    pub fn as_u64(self) -> u64 {
        self.0
    }

    /// The seconds half.
    pub fn seconds(self) -> u32 {
        (self.0 >> 32) as u32
    }

    /// The fraction half, in units of 2^-32 s.
    pub fn fraction(self) -> u32 {
        self.0 as u32
    }

    /// The middle 32 bits (16.16 fixed-point seconds), as carried in LSR (RFC 3550 §6.4.1).
    pub fn middle_32(self) -> u32 {
        (self.0 >> 16) as u32
    }

    /// The time elapsed since the NTP epoch (wrapping in 2036 like the field itself).
    pub fn from_duration(since_1900: Duration) -> Self {
        let fraction = (u128::from(since_1900.subsec_nanos()) << 32) / 1_000_000_000;
        NtpTime((since_1900.as_secs() << 32).wrapping_add(fraction as u64))
    }

    /// The time since the NTP epoch this timestamp stands for.
    pub fn to_duration(self) -> Duration {
        let nanos = (u128::from(self.fraction()) * 1_000_000_000) >> 32;
        Duration::new(u64::from(self.seconds()), nanos as u32)
    }

    /// The NTP time of a wall-clock time given as the time since the Unix epoch.
    pub fn from_unix(since_1970: Duration) -> Self {
        Self::from_duration(since_1970 + Duration::from_secs(UNIX_EPOCH_OFFSET_SECS))
    }
}

impl std::ops::Add<Duration> for NtpTime {
    type Output = NtpTime;

    /// This time advanced by `d`, wrapping like the field.
    fn add(self, d: Duration) -> NtpTime {
        NtpTime(self.0.wrapping_add(Self::from_duration(d).0))
    }
}

/// A duration as a 16.16 fixed-point number of seconds (the unit of LSR and DLSR), saturating.
pub fn duration_to_compact(d: Duration) -> u32 {
    let units = (d.as_nanos() << 16) / 1_000_000_000;
    u32::try_from(units).unwrap_or(u32::MAX)
}

/// A 16.16 fixed-point number of seconds as a duration.
pub fn compact_to_duration(compact: u32) -> Duration {
    Duration::from_nanos((u64::from(compact) * 1_000_000_000) >> 16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn halves_and_middle_bits() {
        let t = NtpTime::new(0xAABB_CCDD, 0xEEFF_0011);
        assert_eq!(t.seconds(), 0xAABB_CCDD);
        assert_eq!(t.fraction(), 0xEEFF_0011);
        assert_eq!(t.middle_32(), 0xCCDD_EEFF);
    }

    #[test]
    fn converts_to_and_from_durations() {
        let d = Duration::new(3_900_000_000, 250_000_000);
        let t = NtpTime::from_duration(d);
        assert_eq!(t.seconds(), 3_900_000_000);
        assert_eq!(t.fraction(), 1 << 30);
        assert_eq!(t.to_duration(), d);
        let unix = NtpTime::from_unix(Duration::from_secs(1));
        assert_eq!(u64::from(unix.seconds()), UNIX_EPOCH_OFFSET_SECS + 1);
        assert_eq!(
            NtpTime::new(5, 0) + Duration::from_millis(500),
            NtpTime::new(5, 1 << 31)
        );
    }

    #[test]
    fn compact_form() {
        assert_eq!(duration_to_compact(Duration::from_millis(1500)), 0x0001_8000);
        assert_eq!(compact_to_duration(0x0001_8000), Duration::from_millis(1500));
        assert_eq!(duration_to_compact(Duration::from_secs(1 << 20)), u32::MAX);
    }
}
