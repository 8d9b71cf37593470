//! The line parser: splits the text into `<type>=<value>` lines, checks their
//! order against the RFC 8866 grammar and fills the model.

use tracing::trace;

use super::attribute::{payload_type, Attribute};
use super::error::{quote, SdpError, SdpErrorKind};
use super::model::{Bandwidth, Connection, MediaDescription, MediaKind, Origin, SessionDescription, Timing};
use super::{MAX_DESCRIPTION_BYTES, MAX_LINES_PER_SECTION, MAX_LINE_BYTES, MAX_MEDIA_SECTIONS};

/// Parses a whole description from bytes (see [`SessionDescription::parse`]).
pub(super) fn parse_bytes(input: &[u8]) -> Result<SessionDescription, SdpError> {
    if input.len() > MAX_DESCRIPTION_BYTES {
        return Err(SdpError::new(
            0,
            SdpErrorKind::TooLarge {
                size: input.len(),
                limit: MAX_DESCRIPTION_BYTES,
            },
        ));
    }
    let body = input.strip_suffix(b"\n").unwrap_or(input);
    if body.is_empty() {
        return Err(SdpError::new(0, SdpErrorKind::Empty));
    }
    let mut parser = Parser::default();
    let mut line_no = 0;
    for raw in body.split(|&b| b == b'\n') {
        line_no += 1;
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        let line = check_line(raw).map_err(|kind| SdpError::new(line_no, kind))?;
        parser.line(line_no, line)?;
    }
    let desc = parser.finish(line_no + 1)?;
    trace!(media = desc.media.len(), lines = line_no, "parsed session description");
    Ok(desc)
}

/// Checks the bytes of one line and returns it as text.
fn check_line(raw: &[u8]) -> Result<&str, SdpErrorKind> {
    if raw.len() > MAX_LINE_BYTES {
        return Err(SdpErrorKind::LineTooLong {
            len: raw.len(),
            limit: MAX_LINE_BYTES,
        });
    }
    let line = std::str::from_utf8(raw).map_err(|_| SdpErrorKind::NotUtf8)?;
    if line.is_empty() {
        return Err(SdpErrorKind::EmptyLine);
    }
    if let Some(&b) = raw.iter().find(|&&b| (b < 0x20 && b != b'\t') || b == 0x7f) {
        return Err(SdpErrorKind::ControlCharacter(b));
    }
    Ok(line)
}

/// Where the parser is in the grammar.
#[derive(Default)]
struct Parser {
    /// Filled from the `v=`, `o=`, `s=` lines.
    desc: Option<SessionDescription>,
    /// The order rank of the last line in the current section.
    rank: u8,
    /// Lines in the current section.
    section_lines: usize,
    /// The media section being read.
    media: Option<MediaDescription>,
}

/// Order ranks of session-level lines (RFC 8866 §9); lines of equal rank may only repeat if repeatable.
fn session_rank(kind: char) -> Option<(u8, bool)> {
    Some(match kind {
        'i' => (3, false),
        'u' => (4, false),
        'e' => (5, true),
        'p' => (6, true),
        'c' => (7, false),
        'b' => (8, true),
        't' | 'r' | 'z' => (9, true),
        'k' => (10, false),
        'a' => (11, true),
        _ => return None,
    })
}

/// Order ranks of media-level lines.
fn media_rank(kind: char) -> Option<(u8, bool)> {
    Some(match kind {
        'i' => (1, false),
        'c' => (2, true),
        'b' => (3, true),
        'k' => (4, false),
        'a' => (5, true),
        _ => return None,
    })
}

fn field(field: &'static str, reason: String) -> SdpErrorKind {
    SdpErrorKind::InvalidField { field, reason }
}

fn number<T: std::str::FromStr>(name: &'static str, s: &str) -> Result<T, SdpErrorKind> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(field(name, format!("{} is not a number", quote(s))));
    }
    s.parse()
        .map_err(|_| field(name, format!("{} is out of range", quote(s))))
}

impl Parser {
    fn line(&mut self, line_no: usize, line: &str) -> Result<(), SdpError> {
        if line_no > 3 && line.starts_with("m=") {
            // The end of the session part or of the previous media section is checked first.
            self.close_section(line_no)?;
        }
        self.line_kind(line_no, line)
            .map_err(|kind| SdpError::new(line_no, kind))
    }

    fn line_kind(&mut self, line_no: usize, line: &str) -> Result<(), SdpErrorKind> {
        let bytes = line.as_bytes();
        let kind = char::from(bytes[0]);
        if bytes.get(1) != Some(&b'=') {
            return Err(SdpErrorKind::NotTypeValue);
        }
        if !kind.is_ascii_alphabetic() {
            return Err(SdpErrorKind::NotTypeValue);
        }
        if !"vosiuepcbtrzkam".contains(kind) {
            return Err(SdpErrorKind::UnknownType(kind));
        }
        let value = &line[2..];
        // `s= ` is RFC 8866's recommended empty session name; `i=` is free text too.
        if !matches!(kind, 's' | 'i') && value.starts_with([' ', '\t']) {
            return Err(SdpErrorKind::WhitespaceAfterEquals);
        }

        match line_no {
            1 => return self.version(kind, value),
            2 => return self.origin(kind, value),
            3 => {
                return match (kind, self.desc.as_mut()) {
                    ('s', Some(desc)) => {
                        desc.session_name = value.to_string();
                        Ok(())
                    }
                    _ => Err(SdpErrorKind::Expected { expected: 's' }),
                }
            }
            _ => {}
        }

        self.section_lines += 1;
        if self.section_lines > MAX_LINES_PER_SECTION {
            return Err(SdpErrorKind::TooManyLines {
                limit: MAX_LINES_PER_SECTION,
            });
        }
        if kind == 'm' {
            return self.media_line(value);
        }
        if self.media.is_some() {
            self.media_level(kind, value)
        } else {
            self.session_level(kind, value)
        }
    }

    fn version(&mut self, kind: char, value: &str) -> Result<(), SdpErrorKind> {
        if kind != 'v' {
            return Err(SdpErrorKind::Expected { expected: 'v' });
        }
        if value != "0" {
            return Err(field("v= version", format!("{} is not 0", quote(value))));
        }
        Ok(())
    }

    fn origin(&mut self, kind: char, value: &str) -> Result<(), SdpErrorKind> {
        if kind != 'o' {
            return Err(SdpErrorKind::Expected { expected: 'o' });
        }
        let words: Vec<&str> = value.split_ascii_whitespace().take(7).collect();
        let [username, id, version, net, addr_type, address] = words[..] else {
            return Err(field(
                "o=",
                format!(
                    "{} is not <username> <sess-id> <sess-version> <nettype> <addrtype> <address>",
                    quote(value)
                ),
            ));
        };
        let connection = Connection::parse(&[net, addr_type, address].join(" ")).map_err(|r| field("o=", r))?;
        let mut desc = SessionDescription::new(number("o= session id", id)?, number("o= session version", version)?);
        desc.origin = Origin {
            username: username.to_string(),
            connection,
            ..desc.origin
        };
        desc.timings.clear();
        self.desc = Some(desc);
        Ok(())
    }

    fn desc(&mut self) -> &mut SessionDescription {
        // Lines 1-3 are checked before any other line is looked at, so the origin exists.
        self.desc.get_or_insert_with(|| SessionDescription::new(0, 0))
    }

    fn session_level(&mut self, kind: char, value: &str) -> Result<(), SdpErrorKind> {
        let Some((rank, repeatable)) = session_rank(kind) else {
            return Err(SdpErrorKind::OutOfOrder(kind));
        };
        if rank < self.rank {
            return Err(SdpErrorKind::OutOfOrder(kind));
        }
        if rank == self.rank && !repeatable {
            return Err(SdpErrorKind::Duplicate(kind));
        }
        self.rank = rank;
        let desc = self.desc();
        match kind {
            'i' => desc.session_information = Some(value.to_string()),
            'u' => desc.uri = Some(value.to_string()),
            'e' => desc.emails.push(value.to_string()),
            'p' => desc.phones.push(value.to_string()),
            'c' => desc.connection = Some(Connection::parse(value).map_err(|r| field("c=", r))?),
            'b' => desc.bandwidths.push(parse_bandwidth(value)?),
            't' => {
                let mut words = value.split_ascii_whitespace();
                let (Some(start), Some(stop), None) = (words.next(), words.next(), words.next()) else {
                    return Err(field("t=", format!("{} is not <start> <stop>", quote(value))));
                };
                desc.timings.push(Timing {
                    start: number("t= start", start)?,
                    stop: number("t= stop", stop)?,
                    repeats: Vec::new(),
                    zone_adjustments: None,
                });
            }
            'r' | 'z' => {
                let timing = desc.timings.last_mut().ok_or(SdpErrorKind::OutOfOrder(kind))?;
                if value.trim().is_empty() {
                    return Err(field(if kind == 'r' { "r=" } else { "z=" }, "empty value".to_string()));
                }
                if kind == 'r' {
                    if timing.zone_adjustments.is_some() {
                        return Err(SdpErrorKind::OutOfOrder('r'));
                    }
                    timing.repeats.push(value.to_string());
                } else if timing.zone_adjustments.replace(value.to_string()).is_some() {
                    return Err(SdpErrorKind::Duplicate('z'));
                }
            }
            'k' => desc.key = Some(value.to_string()),
            _ => desc.attributes.push(Attribute::parse(value)?),
        }
        Ok(())
    }

    fn media_level(&mut self, kind: char, value: &str) -> Result<(), SdpErrorKind> {
        let Some((rank, repeatable)) = media_rank(kind) else {
            return Err(SdpErrorKind::OutOfOrder(kind));
        };
        if rank < self.rank {
            return Err(SdpErrorKind::OutOfOrder(kind));
        }
        if rank == self.rank && !repeatable {
            return Err(SdpErrorKind::Duplicate(kind));
        }
        self.rank = rank;
        let Some(media) = self.media.as_mut() else {
            return Err(SdpErrorKind::OutOfOrder(kind));
        };
        match kind {
            'i' => media.title = Some(value.to_string()),
            'c' => media
                .connections
                .push(Connection::parse(value).map_err(|r| field("c=", r))?),
            'b' => media.bandwidths.push(parse_bandwidth(value)?),
            'k' => media.key = Some(value.to_string()),
            _ => {
                media.attributes.push(Attribute::parse(value)?);
            }
        }
        Ok(())
    }

    fn media_line(&mut self, value: &str) -> Result<(), SdpErrorKind> {
        let media = parse_media_line(value)?;
        let desc = self.desc();
        if desc.media.len() >= MAX_MEDIA_SECTIONS {
            return Err(SdpErrorKind::TooManyMediaSections {
                limit: MAX_MEDIA_SECTIONS,
            });
        }
        self.media = Some(media);
        self.rank = 0;
        self.section_lines = 0;
        Ok(())
    }

    /// Ends the session part (which needs a `t=` line) or the current media section.
    fn close_section(&mut self, line_no: usize) -> Result<(), SdpError> {
        match self.media.take() {
            None => {
                if self.desc().timings.is_empty() {
                    return Err(SdpError::new(line_no, SdpErrorKind::Expected { expected: 't' }));
                }
            }
            Some(media) => {
                self.desc().media.push(media);
            }
        }
        Ok(())
    }

    fn finish(mut self, end_line: usize) -> Result<SessionDescription, SdpError> {
        if end_line <= 3 {
            let expected = if end_line == 2 { 'o' } else { 's' };
            return Err(SdpError::new(end_line, SdpErrorKind::Expected { expected }));
        }
        self.close_section(end_line)?;
        Ok(self.desc.take().unwrap_or_else(|| SessionDescription::new(0, 0)))
    }
}

fn parse_bandwidth(value: &str) -> Result<Bandwidth, SdpErrorKind> {
    let (kind, amount) = value
        .split_once(':')
        .ok_or_else(|| field("b=", format!("{} is not <bwtype>:<bandwidth>", quote(value))))?;
    if !super::attribute::is_token(kind) {
        return Err(field("b=", format!("type {} is not a token", quote(kind))));
    }
    Ok(Bandwidth {
        kind: kind.to_string(),
        value: number("b= bandwidth", amount)?,
    })
}

fn parse_media_line(value: &str) -> Result<MediaDescription, SdpErrorKind> {
    let mut words = value.split_ascii_whitespace();
    let (Some(kind), Some(port), Some(protocol)) = (words.next(), words.next(), words.next()) else {
        return Err(field(
            "m=",
            format!("{} is not <media> <port> <proto> <fmt>...", quote(value)),
        ));
    };
    if !super::attribute::is_token(kind) {
        return Err(field("m= media", format!("{} is not a token", quote(kind))));
    }
    let (port, port_count) = match port.split_once('/') {
        Some((p, n)) => (p, Some(number("m= port count", n)?)),
        None => (port, None),
    };
    let port = number("m= port", port)?;
    let valid_protocol = protocol
        .split('/')
        .all(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b)));
    if !valid_protocol {
        return Err(field(
            "m= protocol",
            format!("{} is not tokens separated by '/'", quote(protocol)),
        ));
    }
    let mut media = MediaDescription::new(MediaKind::from_token(kind), port, protocol, Vec::new());
    media.port_count = port_count;
    for format in words {
        if media.is_rtp() {
            payload_type("m= format", format).map_err(|e| match e {
                SdpErrorKind::InvalidAttribute { reason, .. } => field("m= format", reason),
                other => other,
            })?;
        } else if !super::attribute::is_token(format) {
            return Err(field("m= format", format!("{} is not a token", quote(format))));
        }
        media.formats.push(format.to_string());
    }
    if media.formats.is_empty() {
        return Err(field("m=", "no format listed".to_string()));
    }
    Ok(media)
}
