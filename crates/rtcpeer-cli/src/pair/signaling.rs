//! Copy-paste signaling: one JSON line per session description, `{"type":"offer","sdp":"…"}`,
//! read from stdin and written to stdout.
//!
//! Stdin is read by a plain thread that hands whole lines to the runtime through a small
//! bounded queue, so no line is lost between reads and a pending read never keeps the
//! runtime from shutting down.

use std::io::{BufRead, Read, Write};

use rtcpeer::{SdpType, SessionDescriptionInit};
use tokio::sync::mpsc;

/// The longest line accepted, newline excluded; an SDP is a few kilobytes.
pub const MAX_LINE: usize = 1024 * 1024;

/// How many read lines may wait for the application.
const LINE_QUEUE: usize = 8;

/// What went wrong with a signaling line.
#[derive(Debug, thiserror::Error)]
pub enum SignalingError {
    /// Stdin ended before the line came.
    #[error("stdin ended before the {} line came", .0.as_str())]
    Ended(SdpType),
    /// Stdin could not be read.
    #[error("cannot read stdin: {0}")]
    Read(String),
    /// A line longer than [`MAX_LINE`].
    #[error("a line on stdin is longer than {MAX_LINE} bytes")]
    TooLong,
    /// The line is not UTF-8.
    #[error("the line on stdin is not UTF-8")]
    NotUtf8,
    /// The line is not a JSON session description.
    #[error("the line on stdin is not a JSON session description ({0}); expected {{\"type\":\"{1}\",\"sdp\":\"…\"}}")]
    Malformed(String, &'static str),
    /// A description of another type than expected.
    #[error("expected a description of type {}, got {}", .expected.as_str(), .got.as_str())]
    WrongType {
        /// The type this role waits for.
        expected: SdpType,
        /// The type that came.
        got: SdpType,
    },
    /// The description has no SDP text.
    #[error("the {} line has an empty sdp", .0.as_str())]
    EmptySdp(SdpType),
    /// Stdout could not be written.
    #[error("cannot write stdout: {0}")]
    Write(#[from] std::io::Error),
}

/// Whole lines of a byte stream (stdin in the program), read on their own thread.
#[derive(Debug)]
pub struct LineReader {
    lines: mpsc::Receiver<Result<String, SignalingError>>,
}

impl LineReader {
    /// Starts reading stdin.
    pub fn stdin() -> Self {
        Self::spawn(std::io::BufReader::new(std::io::stdin()))
    }

    /// Starts reading `input` on a new thread.
    pub fn spawn(input: impl BufRead + Send + 'static) -> Self {
        let (tx, lines) = mpsc::channel(LINE_QUEUE);
        std::thread::spawn(move || read_lines(input, &tx));
        LineReader { lines }
    }

    /// The next line that is not blank, without its line ending (`\n` or `\r\n`).
    pub async fn next_line(&mut self, waiting_for: SdpType) -> Result<String, SignalingError> {
        loop {
            match self.lines.recv().await {
                Some(Ok(line)) if line.trim().is_empty() => continue,
                Some(result) => return result,
                None => return Err(SignalingError::Ended(waiting_for)),
            }
        }
    }
}

fn read_lines(mut input: impl BufRead, tx: &mpsc::Sender<Result<String, SignalingError>>) {
    loop {
        let mut bytes = Vec::new();
        let limit = u64::try_from(MAX_LINE).unwrap_or(u64::MAX).saturating_add(2);
        let result = match Read::take(&mut input, limit).read_until(b'\n', &mut bytes) {
            Ok(0) => return,
            Ok(_) => line_from_bytes(bytes),
            Err(error) => Err(SignalingError::Read(error.to_string())),
        };
        let stop = result.is_err();
        if tx.blocking_send(result).is_err() || stop {
            return;
        }
    }
}

fn line_from_bytes(mut bytes: Vec<u8>) -> Result<String, SignalingError> {
    let complete = bytes.last() == Some(&b'\n');
    if complete {
        bytes.pop();
    }
    if bytes.last() == Some(&b'\r') {
        bytes.pop();
    }
    if bytes.len() > MAX_LINE || (!complete && bytes.len() >= MAX_LINE) {
        return Err(SignalingError::TooLong);
    }
    String::from_utf8(bytes).map_err(|_| SignalingError::NotUtf8)
}

/// Parses a signaling line into a description of type `expected`.
pub fn parse(line: &str, expected: SdpType) -> Result<SessionDescriptionInit, SignalingError> {
    let description: SessionDescriptionInit =
        serde_json::from_str(line).map_err(|e| SignalingError::Malformed(e.to_string(), expected.as_str()))?;
    if description.kind != expected {
        return Err(SignalingError::WrongType {
            expected,
            got: description.kind,
        });
    }
    if description.sdp.trim().is_empty() {
        return Err(SignalingError::EmptySdp(expected));
    }
    Ok(description)
}

/// The signaling line of `description`, without a line ending.
pub fn to_line(description: &SessionDescriptionInit) -> String {
    // A struct serializes its fields in order: `type` first, like a browser's `JSON.stringify`.
    serde_json::to_string(description).unwrap_or_default()
}

/// Writes `description` as one line on stdout and flushes it.
pub fn write_stdout(description: &SessionDescriptionInit) -> Result<(), SignalingError> {
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{}", to_line(description))?;
    stdout.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn lines_keep_their_order_lose_their_endings_and_blank_lines_are_skipped() {
        let input = b"first\r\n\n  \r\nsecond\nthird".to_vec();
        let mut reader = LineReader::spawn(std::io::Cursor::new(input));
        assert_eq!(reader.next_line(SdpType::Offer).await.unwrap(), "first");
        assert_eq!(reader.next_line(SdpType::Offer).await.unwrap(), "second");
        assert_eq!(reader.next_line(SdpType::Offer).await.unwrap(), "third");
        let end = reader.next_line(SdpType::Answer).await.unwrap_err();
        assert_eq!(end.to_string(), "stdin ended before the answer line came");
    }

    #[tokio::test]
    async fn an_endless_line_is_refused_not_buffered() {
        let input = vec![b'x'; MAX_LINE + 10];
        let mut reader = LineReader::spawn(std::io::Cursor::new(input));
        assert!(matches!(
            reader.next_line(SdpType::Offer).await,
            Err(SignalingError::TooLong)
        ));
    }

    #[test]
    fn a_description_survives_the_round_trip() {
        let offer = SessionDescriptionInit::offer("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\n");
        let line = to_line(&offer);
        assert!(!line.contains('\n'));
        assert!(line.starts_with(r#"{"type":"offer","sdp":"v=0\r\n"#), "{line}");
        assert_eq!(parse(&line, SdpType::Offer).unwrap(), offer);
    }

    #[test]
    fn bad_lines_say_what_is_wrong() {
        let malformed = parse("{\"type\":\"offer\",", SdpType::Offer).unwrap_err();
        assert!(malformed
            .to_string()
            .starts_with("the line on stdin is not a JSON session description"));
        let wrong = parse(r#"{"type":"answer","sdp":"v=0"}"#, SdpType::Offer).unwrap_err();
        assert_eq!(wrong.to_string(), "expected a description of type offer, got answer");
        let empty = parse(r#"{"type":"offer","sdp":""}"#, SdpType::Offer).unwrap_err();
        assert_eq!(empty.to_string(), "the offer line has an empty sdp");
        assert!(parse(r#"{"type":"bogus","sdp":"v=0"}"#, SdpType::Offer).is_err());
    }
}
