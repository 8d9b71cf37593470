//! H.264 `profile-level-id` (RFC 6184 §8.1): which profile and level a
//! format names, whether two formats are the same profile, and which level an
//! answer states (RFC 6184 §8.2.2).

use std::cmp::Ordering;
use std::fmt;

/// What is wrong with a `profile-level-id`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProfileLevelIdError {
    /// Not six hexadecimal digits.
    #[error("profile-level-id {0:?} is not six hexadecimal digits")]
    NotHex(String),
    /// `profile_idc` and `profile-iop` name no profile of RFC 6184 Table 5.
    #[error("profile_idc {profile_idc:#04x} with profile-iop {profile_iop:#04x} is no known H.264 profile")]
    UnknownProfile {
        /// The first byte.
        profile_idc: u8,
        /// The second byte (the constraint flags).
        profile_iop: u8,
    },
    /// `level_idc` is not an H.264 level.
    #[error("level_idc {0} is not an H.264 level")]
    UnknownLevel(u8),
}

/// An H.264 profile as RFC 6184 Table 5 (and H.264 Annex A) defines it from
/// `profile_idc` and the constraint flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum H264Profile {
    /// Constrained Baseline (`42e0`, `4240`, `4de0`, `58c0`, ...).
    ConstrainedBaseline,
    /// Baseline (`4200`, `5880`, ...).
    Baseline,
    /// Main (`4d00`, ...).
    Main,
    /// Extended (`5800`, ...).
    Extended,
    /// High (`6400`).
    High,
    /// Constrained High (`640c`: constraint_set4 and constraint_set5).
    ConstrainedHigh,
    /// High 10 (`6e00`).
    High10,
    /// High 4:2:2 (`7a00`).
    High422,
    /// High 4:4:4 Predictive (`f400`).
    High444,
}

/// One row of the profile table: `profile_idc`, the constraint bits that
/// matter (mask), the value they must have, and the profile they name.
struct ProfilePattern {
    profile_idc: u8,
    mask: u8,
    value: u8,
    profile: H264Profile,
}

/// Constraint flags are, from the high bit: constraint_set0 … constraint_set5,
/// then two reserved zero bits. Written as RFC 6184 Table 5 does, `x` being
/// "either": the mask has a 1 where the pattern has 0 or 1.
const fn pattern(profile_idc: u8, bits: &[u8; 8], profile: H264Profile) -> ProfilePattern {
    let mut mask = 0u8;
    let mut value = 0u8;
    let mut i = 0;
    while i < 8 {
        let bit = 1u8 << (7 - i);
        match bits[i] {
            b'0' => mask |= bit,
            b'1' => {
                mask |= bit;
                value |= bit;
            }
            _ => {}
        }
        i += 1;
    }
    ProfilePattern {
        profile_idc,
        mask,
        value,
        profile,
    }
}

/// RFC 6184 Table 5, plus Constrained High (H.264 A.2.11: High with
/// constraint_set4 and constraint_set5), in the order they are tried.
const PROFILES: &[ProfilePattern] = &[
    pattern(0x42, b"x1xx0000", H264Profile::ConstrainedBaseline),
    pattern(0x4d, b"1xxx0000", H264Profile::ConstrainedBaseline),
    pattern(0x58, b"11xx0000", H264Profile::ConstrainedBaseline),
    pattern(0x42, b"x0xx0000", H264Profile::Baseline),
    pattern(0x58, b"10xx0000", H264Profile::Baseline),
    pattern(0x4d, b"0x0x0000", H264Profile::Main),
    pattern(0x58, b"00xx0000", H264Profile::Extended),
    pattern(0x64, b"00000000", H264Profile::High),
    pattern(0x64, b"00001100", H264Profile::ConstrainedHigh),
    pattern(0x6e, b"00000000", H264Profile::High10),
    pattern(0x7a, b"00000000", H264Profile::High422),
    pattern(0xf4, b"00000000", H264Profile::High444),
];

/// The `level_idc` values of H.264 Table A-1 (level 1b is `11` with
/// constraint_set3 in the Baseline, Constrained Baseline and Main profiles).
const LEVELS: &[u8] = &[10, 11, 12, 13, 20, 21, 22, 30, 31, 32, 40, 41, 42, 50, 51, 52];

/// An H.264 level, ordered: level 1b sits between 1 and 1.1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct H264Level {
    /// `level_idc`: ten times the level number (`31` is level 3.1).
    pub level_idc: u8,
    /// Whether this is level 1b.
    pub is_1b: bool,
}

impl H264Level {
    /// Level 1b.
    pub const LEVEL_1B: H264Level = H264Level {
        level_idc: 11,
        is_1b: true,
    };

    /// A level from its `level_idc` (not 1b).
    pub fn from_idc(level_idc: u8) -> Option<H264Level> {
        LEVELS.contains(&level_idc).then_some(H264Level {
            level_idc,
            is_1b: false,
        })
    }

    /// Twice the level number, with 1b as 1.05: a key that sorts levels.
    fn rank(self) -> u16 {
        if self.is_1b {
            21
        } else {
            u16::from(self.level_idc) * 2
        }
    }
}

impl Ord for H264Level {
    fn cmp(&self, other: &Self) -> Ordering {
        self.rank().cmp(&other.rank())
    }
}

impl PartialOrd for H264Level {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// A parsed `profile-level-id`: the three bytes as written, with the profile
/// and level they name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ProfileLevelId {
    /// `profile_idc`.
    pub profile_idc: u8,
    /// `profile-iop`: the constraint flags.
    pub profile_iop: u8,
    /// The profile the first two bytes name.
    pub profile: H264Profile,
    /// The level.
    pub level: H264Level,
}

/// The default when a format has no `profile-level-id` (RFC 6184 §8.1):
/// Baseline, level 1 (`42000a`).
pub const DEFAULT_PROFILE_LEVEL_ID: &str = "42000a";

/// The constraint_set3 flag, which marks level 1b when `level_idc` is 11.
const CONSTRAINT_SET3: u8 = 0x10;

impl ProfileLevelId {
    /// Parses the six hex digits of `profile-level-id`.
    pub fn parse(text: &str) -> Result<ProfileLevelId, ProfileLevelIdError> {
        let not_hex = || ProfileLevelIdError::NotHex(text.chars().take(16).collect());
        if text.len() != 6 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(not_hex());
        }
        let value = u32::from_str_radix(text, 16).map_err(|_| not_hex())?;
        let [_, profile_idc, profile_iop, level_idc] = value.to_be_bytes();
        let profile = PROFILES
            .iter()
            .find(|p| p.profile_idc == profile_idc && profile_iop & p.mask == p.value)
            .map(|p| p.profile)
            .ok_or(ProfileLevelIdError::UnknownProfile {
                profile_idc,
                profile_iop,
            })?;
        let level_1b = level_idc == 11
            && profile_iop & CONSTRAINT_SET3 != 0
            && matches!(
                profile,
                H264Profile::Baseline | H264Profile::ConstrainedBaseline | H264Profile::Main
            );
        // H.264 A.3.1: level_idc 9 also means 1b (in the High profiles).
        let level = if level_1b || level_idc == 9 {
            H264Level::LEVEL_1B
        } else {
            H264Level::from_idc(level_idc).ok_or(ProfileLevelIdError::UnknownLevel(level_idc))?
        };
        Ok(ProfileLevelId {
            profile_idc,
            profile_iop,
            profile,
            level,
        })
    }

    /// The same profile bytes at another level.
    pub fn with_level(self, level: H264Level) -> ProfileLevelId {
        let baseline_like = matches!(
            self.profile,
            H264Profile::Baseline | H264Profile::ConstrainedBaseline | H264Profile::Main
        );
        let mut iop = self.profile_iop;
        if baseline_like {
            // constraint_set3 carries "1b" in these profiles; elsewhere it keeps its meaning.
            if level.is_1b {
                iop |= CONSTRAINT_SET3;
            } else {
                iop &= !CONSTRAINT_SET3;
            }
        }
        ProfileLevelId {
            profile_iop: iop,
            level,
            ..self
        }
    }

    fn level_idc(&self) -> u8 {
        match (self.level.is_1b, self.profile) {
            (true, H264Profile::Baseline | H264Profile::ConstrainedBaseline | H264Profile::Main) => 11,
            (true, _) => 9,
            (false, _) => self.level.level_idc,
        }
    }
}

impl fmt::Display for ProfileLevelId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:02x}{:02x}{:02x}",
            self.profile_idc,
            self.profile_iop,
            self.level_idc()
        )
    }
}

/// The `profile-level-id` an answer states for an offered one, given ours
/// (RFC 6184 §8.2.2). `None` if the profiles differ (the formats do not match).
///
/// With `level-asymmetry-allowed=1` on both sides each side states the level
/// it can receive, so the answer carries our level; otherwise both directions
/// use one level, the lower of the two.
pub fn answer_profile_level_id(
    offered: ProfileLevelId,
    ours: ProfileLevelId,
    level_asymmetry_allowed: bool,
) -> Option<ProfileLevelId> {
    if offered.profile != ours.profile {
        return None;
    }
    let level = if level_asymmetry_allowed {
        ours.level
    } else {
        offered.level.min(ours.level)
    };
    Some(offered.with_level(level))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pli(s: &str) -> ProfileLevelId {
        ProfileLevelId::parse(s).unwrap()
    }

    #[test]
    fn browser_profile_level_ids_name_their_profiles() {
        let table = [
            ("42e01f", H264Profile::ConstrainedBaseline, 31),
            ("42001f", H264Profile::Baseline, 31),
            ("4d001f", H264Profile::Main, 31),
            ("4d0032", H264Profile::Main, 50),
            ("640032", H264Profile::High, 50),
            ("640c1f", H264Profile::ConstrainedHigh, 31),
            ("64001f", H264Profile::High, 31),
            ("42c01e", H264Profile::ConstrainedBaseline, 30),
            ("4de01f", H264Profile::ConstrainedBaseline, 31),
            ("58a01f", H264Profile::Baseline, 31),
            ("580028", H264Profile::Extended, 40),
            ("f4001f", H264Profile::High444, 31),
        ];
        for (text, profile, level) in table {
            let p = pli(text);
            assert_eq!(p.profile, profile, "{text}");
            assert_eq!(p.level, H264Level::from_idc(level).unwrap(), "{text}");
            assert_eq!(p.to_string(), text, "{text} writes back as read");
        }
    }

    #[test]
    fn level_1b_is_read_and_ordered_between_1_and_1_1() {
        let p = pli("42f00b");
        assert_eq!(p.profile, H264Profile::ConstrainedBaseline);
        assert!(p.level.is_1b);
        assert!(H264Level::from_idc(10).unwrap() < H264Level::LEVEL_1B);
        assert!(H264Level::LEVEL_1B < H264Level::from_idc(11).unwrap());
        // Plain level 1.1 in constrained baseline has constraint_set3 clear.
        assert!(!pli("42e00b").level.is_1b);
        assert_eq!(pli("640009").level, H264Level::LEVEL_1B);
    }

    #[test]
    fn malformed_values_are_typed_errors() {
        assert!(matches!(
            ProfileLevelId::parse("42e01"),
            Err(ProfileLevelIdError::NotHex(_))
        ));
        assert!(matches!(
            ProfileLevelId::parse("42e01g"),
            Err(ProfileLevelIdError::NotHex(_))
        ));
        assert!(matches!(
            ProfileLevelId::parse("+2e01f"),
            Err(ProfileLevelIdError::NotHex(_))
        ));
        assert!(matches!(
            ProfileLevelId::parse("é2e01"),
            Err(ProfileLevelIdError::NotHex(_))
        ));
        assert_eq!(
            ProfileLevelId::parse("ff001f"),
            Err(ProfileLevelIdError::UnknownProfile {
                profile_idc: 0xff,
                profile_iop: 0
            })
        );
        // High with a stray constraint flag is not High.
        assert!(ProfileLevelId::parse("64801f").is_err());
        assert_eq!(
            ProfileLevelId::parse("42e0ff"),
            Err(ProfileLevelIdError::UnknownLevel(0xff))
        );
    }

    #[test]
    fn answers_keep_the_profile_and_pick_the_level() {
        // (offered, ours, asymmetry, expected answer)
        let table = [
            // Same profile, different levels.
            ("42e01f", "42e01f", true, Some("42e01f")),
            ("42e034", "42e01f", true, Some("42e01f")),
            ("42e00a", "42e01f", true, Some("42e01f")),
            ("42e034", "42e01f", false, Some("42e01f")),
            ("42e00a", "42e01f", false, Some("42e00a")),
            // The offerer's profile bytes are kept: 4de0 is constrained baseline too.
            ("4de01e", "42e01f", false, Some("4de01e")),
            ("4de034", "42e01f", false, Some("4de01f")),
            ("640032", "64001f", true, Some("64001f")),
            ("640032", "64001f", false, Some("64001f")),
            // Level 1b survives the lower-level rule.
            ("42f00b", "42e01f", false, Some("42f00b")),
            // Different profiles never match.
            ("42001f", "42e01f", true, None),
            ("4d001f", "42e01f", true, None),
            ("640c1f", "64001f", true, None),
            ("42e01f", "640c1f", true, None),
        ];
        for (offered, ours, asym, expected) in table {
            let answer = answer_profile_level_id(pli(offered), pli(ours), asym).map(|p| p.to_string());
            assert_eq!(
                answer.as_deref(),
                expected,
                "offer {offered}, ours {ours}, asymmetry {asym}"
            );
        }
    }
}
