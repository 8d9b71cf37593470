//! Source descriptions and goodbyes (RFC 3550 §6.5, §6.6).

use super::Reader;
use crate::rtp::error::RtcpError;

/// The SDES item type of the canonical name.
pub const SDES_CNAME: u8 = 1;

/// The most chunks or SSRCs one packet can carry (the count is five bits).
const MAX_COUNT: usize = 31;

/// One SDES item: its type and text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SdesItem {
    /// The item type (1 = CNAME, 2 = NAME, ...).
    pub kind: u8,
    /// The text, at most 255 bytes (UTF-8 by the RFC, kept as bytes).
    pub value: Vec<u8>,
}

/// The items describing one source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SdesChunk {
    /// The source described.
    pub ssrc: u32,
    /// Its items.
    pub items: Vec<SdesItem>,
}

/// A source description packet.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Sdes {
    /// One chunk per source (at most 31).
    pub chunks: Vec<SdesChunk>,
}

impl Sdes {
    /// A packet with one chunk carrying only the CNAME of `ssrc`.
    pub fn cname(ssrc: u32, cname: &str) -> Self {
        Sdes {
            chunks: vec![SdesChunk {
                ssrc,
                items: vec![SdesItem {
                    kind: SDES_CNAME,
                    value: cname.as_bytes().to_vec(),
                }],
            }],
        }
    }

    /// The CNAME given for `ssrc`, if there is one and it is UTF-8.
    pub fn cname_of(&self, ssrc: u32) -> Option<&str> {
        self.chunks
            .iter()
            .filter(|chunk| chunk.ssrc == ssrc)
            .flat_map(|chunk| &chunk.items)
            .find(|item| item.kind == SDES_CNAME)
            .and_then(|item| std::str::from_utf8(&item.value).ok())
    }

    pub(super) fn parse(count: u8, body: &[u8]) -> Result<Self, RtcpError> {
        let mut r = Reader::new(body);
        let mut chunks = Vec::with_capacity(usize::from(count));
        for _ in 0..count {
            let ssrc = r.u32("SDES chunk")?;
            let mut items = Vec::new();
            loop {
                let kind = r.u8("SDES item")?;
                if kind == 0 {
                    // The end of the list, then null bytes to the next 32-bit boundary.
                    let pad = (4 - (body.len() - r.remaining()) % 4) % 4;
                    r.skip(pad.min(r.remaining()), "SDES padding")?;
                    break;
                }
                let len = r.u8("SDES item length")?;
                items.push(SdesItem {
                    kind,
                    value: r.take(usize::from(len), "SDES item text")?.to_vec(),
                });
            }
            chunks.push(SdesChunk { ssrc, items });
        }
        Ok(Sdes { chunks })
    }

    pub(super) fn write_body(&self, out: &mut Vec<u8>) -> Result<u8, RtcpError> {
        if self.chunks.len() > MAX_COUNT {
            return Err(RtcpError::TooLarge {
                what: "SDES chunk count",
                value: self.chunks.len(),
            });
        }
        for chunk in &self.chunks {
            let start = out.len();
            out.extend_from_slice(&chunk.ssrc.to_be_bytes());
            for item in &chunk.items {
                let len = u8::try_from(item.value.len()).map_err(|_| RtcpError::TooLarge {
                    what: "SDES item length",
                    value: item.value.len(),
                })?;
                if item.kind == 0 {
                    return Err(RtcpError::TooLarge {
                        what: "SDES item type 0 (reserved for the end)",
                        value: 0,
                    });
                }
                out.extend_from_slice(&[item.kind, len]);
                out.extend_from_slice(&item.value);
            }
            // At least one null byte ends the list; more pad the chunk to 32 bits.
            out.push(0);
            while (out.len() - start) % 4 != 0 {
                out.push(0);
            }
        }
        Ok(self.chunks.len() as u8)
    }
}

/// A goodbye packet.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Bye {
    /// The sources leaving (at most 31).
    pub ssrcs: Vec<u32>,
    /// Why, if given (invalid UTF-8 is replaced).
    pub reason: Option<String>,
}

impl Bye {
    pub(super) fn parse(count: u8, body: &[u8]) -> Result<Self, RtcpError> {
        let mut r = Reader::new(body);
        let ssrcs = (0..count).map(|_| r.u32("BYE SSRC")).collect::<Result<Vec<_>, _>>()?;
        let reason = if r.remaining() > 0 {
            let len = r.u8("BYE reason length")?;
            let text = r.take(usize::from(len), "BYE reason")?;
            Some(String::from_utf8_lossy(text).into_owned())
        } else {
            None
        };
        Ok(Bye { ssrcs, reason })
    }

    pub(super) fn write_body(&self, out: &mut Vec<u8>) -> Result<u8, RtcpError> {
        if self.ssrcs.len() > MAX_COUNT {
            return Err(RtcpError::TooLarge {
                what: "BYE SSRC count",
                value: self.ssrcs.len(),
            });
        }
        for ssrc in &self.ssrcs {
            out.extend_from_slice(&ssrc.to_be_bytes());
        }
        if let Some(reason) = &self.reason {
            let len = u8::try_from(reason.len()).map_err(|_| RtcpError::TooLarge {
                what: "BYE reason length",
                value: reason.len(),
            })?;
            let start = out.len();
            out.push(len);
            out.extend_from_slice(reason.as_bytes());
            while (out.len() - start) % 4 != 0 {
                out.push(0);
            }
        }
        Ok(self.ssrcs.len() as u8)
    }
}
