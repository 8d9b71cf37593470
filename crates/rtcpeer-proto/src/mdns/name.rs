//! Domain names in the DNS wire format (RFC 1035 §3.1, §4.1.4): encoding without compression,
//! decoding with compression pointers that may only point backwards.

use super::error::MdnsError;

/// The longest name on the wire, length bytes and terminating zero included (RFC 1035 §2.3.4).
pub(crate) const MAX_NAME_LEN: usize = 255;
/// The longest label (RFC 1035 §2.3.4).
const MAX_LABEL_LEN: usize = 63;
/// The most compression pointers followed while reading one name.
pub(crate) const MAX_POINTERS: usize = 16;

/// Appends `name` (dotted, one trailing dot allowed) to `out` as a sequence of labels.
pub(crate) fn encode(name: &str, out: &mut Vec<u8>) -> Result<(), MdnsError> {
    let trimmed = name.strip_suffix('.').unwrap_or(name);
    let mut written = 1; // the terminating zero
    for label in trimmed.split('.') {
        if label.is_empty() || label.len() > MAX_LABEL_LEN {
            return Err(MdnsError::BadLabel(name.chars().take(64).collect()));
        }
        if !label.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(MdnsError::NotAscii);
        }
        written += 1 + label.len();
        if written > MAX_NAME_LEN {
            return Err(MdnsError::NameTooLong);
        }
        out.push(label.len() as u8);
        out.extend_from_slice(label.as_bytes());
    }
    out.push(0);
    Ok(())
}

/// Reads the name starting at `start` in `message`. Returns the dotted name (no trailing dot)
/// and the offset just after the name where it started (after the first pointer, if any).
///
/// Every pointer must point strictly before the label sequence that contains it, so a name
/// cannot loop; the number of pointers and the name's length are bounded as well.
pub(crate) fn decode(message: &[u8], start: usize) -> Result<(String, usize), MdnsError> {
    let mut name = String::new();
    let mut wire_len = 1;
    let mut pos = start;
    // The lowest offset of the labels read so far: a pointer must go below it.
    let mut floor = start;
    let mut end = None;
    let mut pointers = 0;
    loop {
        let &len = message.get(pos).ok_or(MdnsError::Truncated("name"))?;
        match len >> 6 {
            0b00 if len == 0 => {
                return Ok((name, end.unwrap_or(pos + 1)));
            }
            0b00 => {
                let len = usize::from(len);
                let label = message
                    .get(pos + 1..pos + 1 + len)
                    .ok_or(MdnsError::Truncated("label"))?;
                wire_len += 1 + len;
                if wire_len > MAX_NAME_LEN {
                    return Err(MdnsError::NameTooLong);
                }
                if !label.iter().all(|b| b.is_ascii_graphic()) {
                    return Err(MdnsError::NotAscii);
                }
                if !name.is_empty() {
                    name.push('.');
                }
                // Printable ASCII is valid UTF-8, byte for byte.
                name.extend(label.iter().map(|&b| char::from(b)));
                pos += 1 + len;
            }
            0b11 => {
                let &low = message
                    .get(pos + 1)
                    .ok_or(MdnsError::Truncated("compression pointer"))?;
                let target = usize::from(len & 0x3f) << 8 | usize::from(low);
                if target >= floor {
                    return Err(MdnsError::ForwardPointer { at: pos, target });
                }
                pointers += 1;
                if pointers > MAX_POINTERS {
                    return Err(MdnsError::TooManyPointers(MAX_POINTERS));
                }
                end.get_or_insert(pos + 2);
                floor = target;
                pos = target;
            }
            _ => return Err(MdnsError::BadLabelType(len)),
        }
    }
}

/// Whether two names are the same, ignoring ASCII case and one trailing dot (RFC 6762 §16).
pub(crate) fn same(a: &str, b: &str) -> bool {
    let a = a.strip_suffix('.').unwrap_or(a);
    let b = b.strip_suffix('.').unwrap_or(b);
    a.eq_ignore_ascii_case(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_labels_with_lengths() {
        let mut out = Vec::new();
        encode("ab.local.", &mut out).unwrap();
        assert_eq!(out, b"\x02ab\x05local\x00");
    }

    #[test]
    fn refuses_empty_and_long_labels_and_long_names() {
        let mut out = Vec::new();
        assert!(matches!(encode("a..local", &mut out), Err(MdnsError::BadLabel(_))));
        assert!(matches!(encode(&"x".repeat(64), &mut out), Err(MdnsError::BadLabel(_))));
        let long = vec!["a".repeat(60); 5].join(".");
        assert_eq!(encode(&long, &mut out), Err(MdnsError::NameTooLong));
        assert_eq!(encode("a b.local", &mut out), Err(MdnsError::NotAscii));
    }

    #[test]
    fn follows_a_backward_pointer() {
        // "local" at 0, then "x" + pointer to 0 at 7.
        let message = b"\x05local\x00\x01x\xc0\x00";
        let (name, end) = decode(message, 7).unwrap();
        assert_eq!(name, "x.local");
        assert_eq!(end, message.len());
    }

    #[test]
    fn refuses_a_pointer_to_itself_or_forward() {
        assert_eq!(
            decode(b"\xc0\x00", 0),
            Err(MdnsError::ForwardPointer { at: 0, target: 0 })
        );
        assert_eq!(
            decode(b"\xc0\x02\x00", 0),
            Err(MdnsError::ForwardPointer { at: 0, target: 2 })
        );
    }

    #[test]
    fn refuses_a_loop_through_two_pointers() {
        // At 2: "\x01a" then a pointer back to 0; at 0 a pointer to 2 would go forward of the floor.
        let message = b"\xc0\x02\x01a\xc0\x00";
        assert!(matches!(decode(message, 2), Err(MdnsError::ForwardPointer { .. })));
    }

    #[test]
    fn reports_truncation_and_reserved_prefixes() {
        assert_eq!(decode(b"\x05loc", 0), Err(MdnsError::Truncated("label")));
        assert_eq!(decode(b"\x01a", 0), Err(MdnsError::Truncated("name")));
        assert_eq!(decode(b"\xc0", 0), Err(MdnsError::Truncated("compression pointer")));
        assert_eq!(decode(b"\x40", 0), Err(MdnsError::BadLabelType(0x40)));
    }

    #[test]
    fn bounds_the_name_length_through_pointers() {
        // A chain of 63-byte labels, each pointing back at the previous one: longer than 255 bytes.
        let mut message = Vec::new();
        message.extend_from_slice(&[63]);
        message.extend_from_slice(&[b'a'; 63]);
        message.push(0);
        let mut previous = 0;
        for _ in 0..5 {
            let here = message.len();
            message.push(63);
            message.extend_from_slice(&[b'b'; 63]);
            message.extend_from_slice(&[0xc0 | (previous >> 8) as u8, previous as u8]);
            previous = here;
        }
        assert_eq!(decode(&message, previous), Err(MdnsError::NameTooLong));
    }

    #[test]
    fn bounds_the_number_of_pointers() {
        // "\x01a\x00" at 0, then a chain of pointers, each pointing at the one before it.
        let mut message = b"\x01a\x00".to_vec();
        let mut previous = 0u8;
        for _ in 0..20 {
            let here = message.len() as u8;
            message.extend_from_slice(&[0xc0, previous]);
            previous = here;
        }
        assert_eq!(
            decode(&message, usize::from(previous)),
            Err(MdnsError::TooManyPointers(MAX_POINTERS))
        );
        // A short chain is fine.
        assert_eq!(decode(&message, 5).unwrap().0, "a");
    }

    #[test]
    fn compares_names_without_case_or_trailing_dot() {
        assert!(same("ABC.local.", "abc.LOCAL"));
        assert!(!same("abc.local", "abd.local"));
    }
}
