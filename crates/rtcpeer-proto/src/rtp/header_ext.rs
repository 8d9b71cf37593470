//! The RTP header extension block and its one-byte and two-byte element forms (RFC 8285).

use super::error::RtpError;

/// The "defined by profile" value that marks the one-byte form (RFC 8285 §4.2).
pub const ONE_BYTE_PROFILE: u16 = 0xBEDE;
/// The "defined by profile" value of the two-byte form, with the four "appbits" zero (RFC 8285 §4.3).
pub const TWO_BYTE_PROFILE: u16 = 0x1000;

/// Which element form an extension block uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExtensionForm {
    /// One byte of id (1..=14) and length (1..=16) per element.
    OneByte,
    /// One byte of id (1..=255) and one byte of length (0..=255) per element.
    TwoByte,
    /// A profile this crate does not know; the block is kept as opaque bytes.
    Other,
}

impl ExtensionForm {
    /// The form the "defined by profile" field announces.
    pub fn of_profile(profile: u16) -> ExtensionForm {
        if profile == ONE_BYTE_PROFILE {
            ExtensionForm::OneByte
        } else if profile & 0xFFF0 == TWO_BYTE_PROFILE {
            ExtensionForm::TwoByte
        } else {
            ExtensionForm::Other
        }
    }
}

/// One header extension element: its local id and its value's bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExtensionElement<'a> {
    /// The local identifier negotiated with `a=extmap`.
    pub id: u8,
    /// The value's bytes.
    pub data: &'a [u8],
}

/// The header extension block of an RTP packet, borrowed from it and already checked to be well formed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderExtension<'a> {
    profile: u16,
    data: &'a [u8],
}

impl<'a> HeaderExtension<'a> {
    /// Checks an extension block (the bytes after its 4-byte header) and wraps it.
    pub fn parse(profile: u16, data: &'a [u8]) -> Result<Self, RtpError> {
        let mut elements = ElementIter {
            form: ExtensionForm::of_profile(profile),
            rest: data,
        };
        while let Some(element) = elements.next_element() {
            element?;
        }
        Ok(HeaderExtension { profile, data })
    }

    /// The 16-bit "defined by profile" field.
    pub fn profile(&self) -> u16 {
        self.profile
    }

    /// The block's bytes after its 4-byte header, padding included.
    pub fn data(&self) -> &'a [u8] {
        self.data
    }

    /// The element form of this block.
    pub fn form(&self) -> ExtensionForm {
        ExtensionForm::of_profile(self.profile)
    }

    /// The elements of the block in order (none for an unknown profile).
    pub fn elements(&self) -> impl Iterator<Item = ExtensionElement<'a>> + 'a {
        let mut iter = ElementIter {
            form: self.form(),
            rest: self.data,
        };
        // The block was checked in `parse`, so no element is an error here.
        std::iter::from_fn(move || iter.next_element().and_then(Result::ok))
    }

    /// The value of the element with `id`, if present.
    pub fn get(&self, id: u8) -> Option<&'a [u8]> {
        self.elements().find(|e| e.id == id).map(|e| e.data)
    }
}

/// Walks the elements of an extension block.
struct ElementIter<'a> {
    form: ExtensionForm,
    rest: &'a [u8],
}

impl<'a> ElementIter<'a> {
    fn next_element(&mut self) -> Option<Result<ExtensionElement<'a>, RtpError>> {
        loop {
            let (&first, after) = self.rest.split_first()?;
            let (id, len, header) = match self.form {
                ExtensionForm::Other => return None,
                ExtensionForm::OneByte => {
                    let id = first >> 4;
                    if id == 0 {
                        // A padding byte.
                        self.rest = after;
                        continue;
                    }
                    if id == 15 {
                        // Reserved: stop processing the block (RFC 8285 §4.2).
                        self.rest = &[];
                        return None;
                    }
                    (id, usize::from(first & 0x0F) + 1, 1)
                }
                ExtensionForm::TwoByte => {
                    if first == 0 {
                        self.rest = after;
                        continue;
                    }
                    let Some(&len) = after.first() else {
                        self.rest = &[];
                        return Some(Err(RtpError::TruncatedExtension { id: first, len: 0 }));
                    };
                    (first, usize::from(len), 2)
                }
            };
            let Some(data) = self.rest.get(header..header + len) else {
                self.rest = &[];
                return Some(Err(RtpError::TruncatedExtension { id, len }));
            };
            self.rest = &self.rest[header + len..];
            return Some(Ok(ExtensionElement { id, data }));
        }
    }
}

/// Appends an extension block (4-byte header, elements, zero padding to 32 bits) holding `elements`.
///
/// The one-byte form is used when every id is 1..=14 and every value 1..=16 bytes long, the two-byte
/// form otherwise. Ids must be unique and non-zero.
pub fn write_extension_block<'e>(
    elements: impl Iterator<Item = ExtensionElement<'e>> + Clone,
    out: &mut Vec<u8>,
) -> Result<(), RtpError> {
    let mut seen = [false; 256];
    let mut one_byte = true;
    for element in elements.clone() {
        if element.id == 0 {
            return Err(RtpError::BadExtensionId(0));
        }
        if element.data.len() > 255 {
            return Err(RtpError::ExtensionTooLong(element.data.len()));
        }
        if std::mem::replace(&mut seen[usize::from(element.id)], true) {
            return Err(RtpError::DuplicateExtension(element.id));
        }
        if element.id > 14 || element.data.is_empty() || element.data.len() > 16 {
            one_byte = false;
        }
    }
    let start = out.len();
    out.extend_from_slice(&if one_byte { ONE_BYTE_PROFILE } else { TWO_BYTE_PROFILE }.to_be_bytes());
    out.extend_from_slice(&[0, 0]);
    for element in elements {
        if one_byte {
            // Lengths were checked to be 1..=16 above.
            out.push((element.id << 4) | (element.data.len() as u8 - 1));
        } else {
            out.extend_from_slice(&[element.id, element.data.len() as u8]);
        }
        out.extend_from_slice(element.data);
    }
    while (out.len() - start) % 4 != 0 {
        out.push(0);
    }
    // At most 255 elements of at most 257 bytes: the word count fits in 16 bits.
    let words = ((out.len() - start - 4) / 4) as u16;
    out[start + 2..start + 4].copy_from_slice(&words.to_be_bytes());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_byte_example_from_rfc8285() {
        // RFC 8285 §4.2: ID 1 with 1 byte, ID 2 with 2 bytes, one padding byte, ID 3 with 4 bytes.
        let data = [0x10, 0xAA, 0x21, 0xBB, 0xBB, 0x00, 0x33, 0xCC, 0xCC, 0xCC, 0xCC, 0x00];
        let block = HeaderExtension::parse(ONE_BYTE_PROFILE, &data).unwrap();
        let elements: Vec<_> = block.elements().collect();
        assert_eq!(
            elements,
            [
                ExtensionElement { id: 1, data: &[0xAA] },
                ExtensionElement {
                    id: 2,
                    data: &[0xBB, 0xBB]
                },
                ExtensionElement {
                    id: 3,
                    data: &[0xCC; 4]
                },
            ]
        );
        assert_eq!(block.get(2), Some(&[0xBB, 0xBB][..]));
        assert_eq!(block.get(4), None);
    }

    #[test]
    fn two_byte_form_allows_empty_values_and_large_ids() {
        let data = [0x01, 0x00, 0x00, 0xC8, 0x02, 0x11, 0x22, 0x00];
        let block = HeaderExtension::parse(0x1003, &data).unwrap();
        assert_eq!(block.form(), ExtensionForm::TwoByte);
        let elements: Vec<_> = block.elements().collect();
        assert_eq!(
            elements,
            [
                ExtensionElement { id: 1, data: &[] },
                ExtensionElement {
                    id: 200,
                    data: &[0x11, 0x22]
                }
            ]
        );
    }

    #[test]
    fn id_15_stops_processing() {
        let data = [0x10, 0xAA, 0xF0, 0x20, 0xBB, 0x00, 0x00, 0x00];
        let block = HeaderExtension::parse(ONE_BYTE_PROFILE, &data).unwrap();
        assert_eq!(block.elements().count(), 1);
    }

    #[test]
    fn truncated_elements_are_errors() {
        assert_eq!(
            HeaderExtension::parse(ONE_BYTE_PROFILE, &[0x13, 0xAA, 0xBB, 0xCC]),
            Err(RtpError::TruncatedExtension { id: 1, len: 4 })
        );
        assert_eq!(
            HeaderExtension::parse(TWO_BYTE_PROFILE, &[0x00, 0x00, 0x00, 0x07]),
            Err(RtpError::TruncatedExtension { id: 7, len: 0 })
        );
        assert_eq!(
            HeaderExtension::parse(TWO_BYTE_PROFILE, &[0x07, 0x09, 0x00, 0x00]),
            Err(RtpError::TruncatedExtension { id: 7, len: 9 })
        );
    }

    #[test]
    fn unknown_profile_is_opaque() {
        let block = HeaderExtension::parse(0x1234, &[1, 2, 3, 4]).unwrap();
        assert_eq!(block.form(), ExtensionForm::Other);
        assert_eq!(block.elements().count(), 0);
    }

    fn write(elements: &[ExtensionElement<'_>]) -> Result<Vec<u8>, RtpError> {
        let mut out = Vec::new();
        write_extension_block(elements.iter().copied(), &mut out).map(|()| out)
    }

    #[test]
    fn writer_picks_the_form_and_round_trips() {
        let small = [
            ExtensionElement { id: 1, data: &[0xAA] },
            ExtensionElement { id: 14, data: &[1; 16] },
        ];
        let bytes = write(&small).unwrap();
        assert_eq!(&bytes[..4], &[0xBE, 0xDE, 0x00, 0x05]);
        assert_eq!(bytes.len(), 4 + 20);
        let block = HeaderExtension::parse(ONE_BYTE_PROFILE, &bytes[4..]).unwrap();
        assert_eq!(block.elements().collect::<Vec<_>>(), small);

        for large in [
            [
                ExtensionElement { id: 1, data: &[0xAA] },
                ExtensionElement { id: 15, data: &[2] },
            ],
            [
                ExtensionElement { id: 1, data: &[0xAA] },
                ExtensionElement { id: 2, data: &[] },
            ],
            [
                ExtensionElement { id: 1, data: &[0xAA] },
                ExtensionElement { id: 2, data: &[3; 17] },
            ],
        ] {
            let bytes = write(&large).unwrap();
            assert_eq!(&bytes[..2], &[0x10, 0x00]);
            assert_eq!(bytes.len() % 4, 0);
            let block = HeaderExtension::parse(TWO_BYTE_PROFILE, &bytes[4..]).unwrap();
            assert_eq!(block.elements().collect::<Vec<_>>(), large);
        }
    }

    #[test]
    fn writer_rejects_bad_elements() {
        assert_eq!(
            write(&[ExtensionElement { id: 0, data: &[1] }]),
            Err(RtpError::BadExtensionId(0))
        );
        assert_eq!(
            write(&[
                ExtensionElement { id: 3, data: &[1] },
                ExtensionElement { id: 3, data: &[2] }
            ]),
            Err(RtpError::DuplicateExtension(3))
        );
        assert_eq!(
            write(&[ExtensionElement { id: 3, data: &[0; 256] }]),
            Err(RtpError::ExtensionTooLong(256))
        );
    }
}
