//! The validity period of an X.509 certificate (RFC 5280 §4.1.2.5), read from its DER: just
//! enough of DER (X.690) to walk `Certificate → tbsCertificate → validity` and decode its two
//! times, `UTCTime` or `GeneralizedTime`, both in the `YYMMDDHHMMSSZ` / `YYYYMMDDHHMMSSZ` forms
//! RFC 5280 requires.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Why a certificate's validity could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValidityError {
    /// The DER ends inside an element.
    #[error("the certificate's DER is truncated")]
    Truncated,
    /// A length in a form DER does not allow (indefinite, or longer than 4 bytes).
    #[error("the certificate's DER has an unsupported length form")]
    BadLength,
    /// An element of another type than the structure calls for.
    #[error("expected DER tag {expected:#04x} for the {what}, found {found:#04x}")]
    UnexpectedTag {
        /// What was being read.
        what: &'static str,
        /// The tag required there.
        expected: u8,
        /// The tag found.
        found: u8,
    },
    /// A time that is not `YYMMDDHHMMSSZ` or `YYYYMMDDHHMMSSZ`, or not a real date.
    #[error("invalid certificate time {0:?}")]
    BadTime(String),
}

const SEQUENCE: u8 = 0x30;
const INTEGER: u8 = 0x02;
const VERSION: u8 = 0xa0;
const UTC_TIME: u8 = 0x17;
const GENERALIZED_TIME: u8 = 0x18;

/// `notBefore` and `notAfter` of a DER certificate.
pub(crate) fn validity(cert_der: &[u8]) -> Result<(SystemTime, SystemTime), ValidityError> {
    let (certificate, _) = expect(cert_der, SEQUENCE, "certificate")?;
    let (tbs, _) = expect(certificate, SEQUENCE, "tbsCertificate")?;
    let mut rest = tbs;
    if rest.first() == Some(&VERSION) {
        rest = element(rest)?.2;
    }
    let (_, rest) = expect(rest, INTEGER, "serial number")?;
    let (_, rest) = expect(rest, SEQUENCE, "signature algorithm")?;
    let (_, rest) = expect(rest, SEQUENCE, "issuer")?;
    let (validity, _) = expect(rest, SEQUENCE, "validity")?;
    let (not_before, rest) = time(validity)?;
    let (not_after, _) = time(rest)?;
    Ok((not_before, not_after))
}

/// One element: its tag, its contents and what follows it.
fn element(input: &[u8]) -> Result<(u8, &[u8], &[u8]), ValidityError> {
    let (&tag, rest) = input.split_first().ok_or(ValidityError::Truncated)?;
    let (&first, rest) = rest.split_first().ok_or(ValidityError::Truncated)?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 {
            return Err(ValidityError::BadLength);
        }
        let bytes = rest.get(..count).ok_or(ValidityError::Truncated)?;
        let len = bytes.iter().fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        (len, rest.get(count..).ok_or(ValidityError::Truncated)?)
    };
    let contents = rest.get(..len).ok_or(ValidityError::Truncated)?;
    let after = rest.get(len..).ok_or(ValidityError::Truncated)?;
    Ok((tag, contents, after))
}

fn expect<'a>(input: &'a [u8], tag: u8, what: &'static str) -> Result<(&'a [u8], &'a [u8]), ValidityError> {
    let (found, contents, rest) = element(input)?;
    if found != tag {
        return Err(ValidityError::UnexpectedTag {
            what,
            expected: tag,
            found,
        });
    }
    Ok((contents, rest))
}

fn time(input: &[u8]) -> Result<(SystemTime, &[u8]), ValidityError> {
    let (tag, contents, rest) = element(input)?;
    let text = std::str::from_utf8(contents).map_err(|_| ValidityError::BadTime(format!("{contents:02x?}")))?;
    let bad = || ValidityError::BadTime(text.to_string());
    let (year, digits) = match tag {
        UTC_TIME if text.len() == 13 => {
            // RFC 5280: YY of 50 or more is 19YY, otherwise 20YY.
            let yy = number(text, 0, 2).ok_or_else(bad)?;
            (
                if yy >= 50 { 1900 + yy } else { 2000 + yy },
                text.get(2..).ok_or_else(bad)?,
            )
        }
        GENERALIZED_TIME if text.len() == 15 => (number(text, 0, 4).ok_or_else(bad)?, text.get(4..).ok_or_else(bad)?),
        UTC_TIME | GENERALIZED_TIME => return Err(bad()),
        found => {
            return Err(ValidityError::UnexpectedTag {
                what: "time",
                expected: UTC_TIME,
                found,
            })
        }
    };
    if !digits.ends_with('Z') {
        return Err(bad());
    }
    let field = |at: usize| number(digits, at, 2).ok_or_else(bad);
    let (month, day, hour, minute, second) = (field(0)?, field(2)?, field(4)?, field(6)?, field(8)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 || second > 59 {
        return Err(bad());
    }
    let days = days_since_epoch(year, month, day);
    let seconds = days * 86_400 + i64::from(hour * 3600 + minute * 60 + second);
    let at = if seconds >= 0 {
        UNIX_EPOCH + Duration::from_secs(seconds.unsigned_abs())
    } else {
        UNIX_EPOCH - Duration::from_secs(seconds.unsigned_abs())
    };
    Ok((at, rest))
}

/// The decimal number in `text[at..at + len]`, digits only.
fn number(text: &str, at: usize, len: usize) -> Option<u32> {
    let digits = text.get(at..at + len)?;
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Days from 1970-01-01 to a date of the proleptic Gregorian calendar: whole 400-year eras
/// (146 097 days each) counted from 0000-03-01, so that the leap day ends a year.
fn days_since_epoch(year: u32, month: u32, day: u32) -> i64 {
    let year = i64::from(year) - i64::from(month <= 2);
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_from_march = (i64::from(month) + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    // 719 468 days separate 0000-03-01 from 1970-01-01.
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calendar_days_match_known_dates() {
        assert_eq!(days_since_epoch(1970, 1, 1), 0);
        assert_eq!(days_since_epoch(2000, 3, 1), 11_017);
        assert_eq!(days_since_epoch(2024, 2, 29), 19_782);
        assert_eq!(days_since_epoch(1969, 12, 31), -1);
    }

    #[test]
    fn reads_both_time_forms() {
        // UTCTime 2020-01-01T00:00:00Z and GeneralizedTime 2050-01-01T00:00:00Z.
        let utc = [&[UTC_TIME, 13][..], b"200101000000Z"].concat();
        let generalized = [&[GENERALIZED_TIME, 15][..], b"20500101000000Z"].concat();
        let both = [utc.as_slice(), generalized.as_slice()].concat();
        let (at, rest) = time(&both).unwrap();
        assert_eq!(at, UNIX_EPOCH + Duration::from_secs(1_577_836_800));
        assert_eq!(time(rest).unwrap().0, UNIX_EPOCH + Duration::from_secs(2_524_608_000));
    }

    #[test]
    fn rejects_bad_times_and_truncation() {
        let month_13 = [&[UTC_TIME, 13][..], b"201301000000Z"].concat();
        assert!(matches!(time(&month_13), Err(ValidityError::BadTime(_))));
        let local_time = [&[UTC_TIME, 13][..], b"2001010000001"].concat();
        assert!(matches!(time(&local_time), Err(ValidityError::BadTime(_))));
        assert_eq!(validity(&[SEQUENCE, 5, 1]), Err(ValidityError::Truncated));
        assert_eq!(
            validity(&[SEQUENCE, 0x85, 1, 1, 1, 1, 1]),
            Err(ValidityError::BadLength)
        );
        assert!(matches!(
            validity(&[INTEGER, 0]),
            Err(ValidityError::UnexpectedTag {
                what: "certificate",
                ..
            })
        ));
    }
}
