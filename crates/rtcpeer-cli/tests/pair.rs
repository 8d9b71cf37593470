//! `rtcpeer offer` and `rtcpeer answer` against each other: two processes, their signaling
//! lines passed between them by the test, on loopback.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// How long a test waits for a process before it kills it and fails.
const DEADLINE: Duration = Duration::from_secs(40);

/// One running `rtcpeer` process, its stdout read line by line and its stderr collected.
struct Peer {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
    stderr: mpsc::Receiver<String>,
}

impl Peer {
    fn start(args: &[&str]) -> Peer {
        let mut child = Command::new(env!("CARGO_BIN_EXE_rtcpeer"))
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("rtcpeer starts");
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("piped stdout");
        let mut stderr_pipe = child.stderr.take().expect("piped stderr");
        let (line_tx, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line_tx.send(line).is_err() {
                    return;
                }
            }
        });
        let (stderr_tx, stderr) = mpsc::channel();
        thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr_pipe.read_to_string(&mut text);
            let _ = stderr_tx.send(text);
        });
        Peer {
            child,
            stdin,
            lines,
            stderr,
        }
    }

    /// The next stdout line; panics with the stderr if none comes in time.
    fn read_line(&mut self) -> String {
        match self.lines.recv_timeout(Duration::from_secs(15)) {
            Ok(line) => line,
            Err(error) => {
                let _ = self.child.kill();
                panic!("no line on stdout ({error}); stderr:\n{}", self.stderr_text());
            }
        }
    }

    /// Writes `line` and `ending` (`"\n"` or `"\r\n"`) on stdin.
    fn write_line_ending(&mut self, line: &str, ending: &str) {
        let stdin = self.stdin.as_mut().expect("stdin still open");
        stdin.write_all(line.as_bytes()).expect("write stdin");
        stdin.write_all(ending.as_bytes()).expect("write stdin");
        stdin.flush().expect("flush stdin");
    }

    fn write_line(&mut self, line: &str) {
        self.write_line_ending(line, "\n");
    }

    fn stderr_text(&self) -> String {
        self.stderr.recv_timeout(Duration::from_secs(5)).unwrap_or_default()
    }

    /// Waits for the exit; returns its status, stderr, and how long it took.
    fn finish(mut self) -> (ExitStatus, String) {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return (status, self.stderr_text());
            }
            if start.elapsed() > DEADLINE {
                let _ = self.child.kill();
                panic!("rtcpeer did not exit in {DEADLINE:?}; stderr:\n{}", self.stderr_text());
            }
            thread::sleep(Duration::from_millis(20));
        }
    }
}

fn args<'a>(role: &'a str, scenario: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![role, "--scenario", scenario, "--bind", "127.0.0.1", "--timeout", "20"];
    args.extend_from_slice(extra);
    args
}

/// Runs an offerer and an answerer of `scenario` against each other; returns both exits and stderrs.
/// The offer line reaches the answerer with a `\r\n` ending, the answer line the offerer with `\n`.
fn pair(scenario: &str, offer_extra: &[&str]) -> ((ExitStatus, String), (ExitStatus, String)) {
    let mut offerer = Peer::start(&args("offer", scenario, offer_extra));
    let offer = offerer.read_line();
    assert!(offer.starts_with(r#"{"type":"offer","sdp":"v=0"#), "{offer}");
    assert!(
        offer.contains("a=candidate:"),
        "the offer carries its candidates: {offer}"
    );
    let mut answerer = Peer::start(&args("answer", scenario, &[]));
    answerer.write_line_ending(&offer, "\r\n");
    let answer = answerer.read_line();
    assert!(answer.starts_with(r#"{"type":"answer","sdp":"v=0"#), "{answer}");
    assert!(
        answer.contains("a=candidate:"),
        "the answer carries its candidates: {answer}"
    );
    offerer.write_line(&answer);
    let offer_result = offerer.finish();
    let answer_result = answerer.finish();
    (offer_result, answer_result)
}

fn last_line(text: &str) -> &str {
    text.lines().last().unwrap_or_default()
}

fn assert_passed(
    ((offer_status, offer_err), (answer_status, answer_err)): &((ExitStatus, String), (ExitStatus, String)),
) {
    assert_eq!(
        offer_status.code(),
        Some(0),
        "offerer stderr:\n{offer_err}\nanswerer stderr:\n{answer_err}"
    );
    assert_eq!(
        answer_status.code(),
        Some(0),
        "answerer stderr:\n{answer_err}\nofferer stderr:\n{offer_err}"
    );
}

#[test]
fn reliable_every_message_comes_back_in_order() {
    let result = pair("reliable", &[]);
    assert_passed(&result);
    let ((_, offer_err), (_, answer_err)) = &result;
    let summary = last_line(offer_err);
    assert!(
        summary.starts_with("rtcpeer offer: passed: reliable: 100/100 messages (")
            && summary.contains("came back byte-exact and in order"),
        "{summary}"
    );
    let summary = last_line(answer_err);
    assert!(
        summary.starts_with("rtcpeer answer: passed: remote closed"),
        "{summary}"
    );
    assert!(summary.contains("; 100 messages ("), "{summary}");
    assert!(answer_err.contains("remote opened channel 'chat'"), "{answer_err}");
}

#[test]
fn unordered_nearly_every_message_comes_back_intact() {
    let result = pair("unordered", &["--count", "60"]);
    assert_passed(&result);
    let ((_, offer_err), (_, answer_err)) = &result;
    let summary = last_line(offer_err);
    assert!(summary.starts_with("rtcpeer offer: passed: unordered: "), "{summary}");
    assert!(
        summary.contains("/60 messages (") && summary.contains("none corrupted or duplicated"),
        "{summary}"
    );
    assert!(answer_err.contains("remote opened channel 'lossy'"), "{answer_err}");
    assert!(
        last_line(answer_err).starts_with("rtcpeer answer: passed: remote closed"),
        "{answer_err}"
    );
}

#[test]
fn negotiated_channel_is_echoed_by_the_answerer() {
    let result = pair("negotiated", &["--count", "40"]);
    assert_passed(&result);
    let ((_, offer_err), (_, answer_err)) = &result;
    let summary = last_line(offer_err);
    assert!(
        summary.starts_with("rtcpeer offer: passed: negotiated: 40/40 messages ("),
        "{summary}"
    );
    assert!(offer_err.contains("(id 7) open"), "{offer_err}");
    assert!(
        !answer_err.contains("remote opened channel"),
        "no in-band open: {answer_err}"
    );
    let summary = last_line(answer_err);
    assert!(
        summary.starts_with("rtcpeer answer: passed: remote closed"),
        "{summary}"
    );
    assert!(
        summary.contains("; 40 messages (") && summary.contains("on 1 channels"),
        "{summary}"
    );
}

#[test]
fn close_the_answerer_sees_the_channel_close_and_reports_remote_closed() {
    let result = pair("close", &[]);
    assert_passed(&result);
    let ((_, offer_err), (_, answer_err)) = &result;
    assert!(
        last_line(offer_err).starts_with("rtcpeer offer: passed: close: 10/10 messages"),
        "{offer_err}"
    );
    assert!(answer_err.contains("channel 'chat' (id"), "{answer_err}");
    assert!(answer_err.contains("closed after echoing 10 messages"), "{answer_err}");
    assert!(
        last_line(answer_err).starts_with("rtcpeer answer: passed: remote closed (every channel closed); 10 messages"),
        "{answer_err}"
    );
}

#[test]
fn a_malformed_offer_line_fails_the_answerer_with_a_message() {
    let mut answerer = Peer::start(&args("answer", "reliable", &[]));
    answerer.write_line("{\"type\":\"offer\",\"sdp\":\r");
    let (status, stderr) = answerer.finish();
    assert_eq!(status.code(), Some(1), "{stderr}");
    let summary = last_line(&stderr);
    assert!(
        summary.starts_with("rtcpeer answer: FAILED: the line on stdin is not a JSON session description"),
        "{summary}"
    );
}

#[test]
fn an_answer_with_a_wrong_fingerprint_fails_the_offerer_within_the_timeout() {
    let mut offerer = Peer::start(&args("offer", "reliable", &[]));
    let offer = offerer.read_line();
    let mut answerer = Peer::start(&args("answer", "reliable", &[]));
    answerer.write_line(&offer);
    let answer = answerer.read_line();
    let marker = "a=fingerprint:sha-256 ";
    let at = answer.find(marker).expect("the answer has a sha-256 fingerprint") + marker.len();
    let first = &answer[at..at + 2];
    let flipped = if first == "00" { "11" } else { "00" };
    let mangled = format!("{}{flipped}{}", &answer[..at], &answer[at + 2..]);
    let start = Instant::now();
    offerer.write_line(&mangled);
    let (status, stderr) = offerer.finish();
    let took = start.elapsed();
    assert_eq!(status.code(), Some(1), "{stderr}");
    let summary = last_line(&stderr);
    assert!(
        summary.starts_with("rtcpeer offer: FAILED: connection failed"),
        "{summary}"
    );
    assert!(took < Duration::from_secs(15), "took {took:?}");
    let _ = answerer.child.kill();
}

#[test]
fn an_offer_with_nobody_answering_times_out_with_exit_code_2() {
    let mut offerer = Peer::start(&["offer", "--bind", "127.0.0.1", "--timeout", "1"]);
    let _offer = offerer.read_line();
    let (status, stderr) = offerer.finish();
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert_eq!(
        last_line(&stderr),
        "rtcpeer offer: FAILED: timed out after 1 s while waiting for the answer line on stdin"
    );
}

#[test]
fn an_offer_line_given_to_the_offerer_as_answer_fails_it_with_a_message() {
    let mut offerer = Peer::start(&args("offer", "reliable", &[]));
    let offer = offerer.read_line();
    offerer.write_line(&offer);
    let (status, stderr) = offerer.finish();
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert_eq!(
        last_line(&stderr),
        "rtcpeer offer: FAILED: expected a description of type answer, got offer"
    );
}

#[test]
fn stdin_closed_before_the_offer_fails_the_answerer_at_once() {
    let mut answerer = Peer::start(&args("answer", "reliable", &[]));
    drop(answerer.stdin.take());
    let (status, stderr) = answerer.finish();
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert_eq!(
        last_line(&stderr),
        "rtcpeer answer: FAILED: stdin ended before the offer line came"
    );
}

#[test]
fn an_offer_without_a_data_section_fails_at_once() {
    let sdp = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=rtpmap:111 opus/48000/2\r\n";
    let line = serde_json::json!({"type": "offer", "sdp": sdp}).to_string();
    let started = std::time::Instant::now();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_rtcpeer"))
        .args(["answer", "--bind", "127.0.0.1", "--timeout", "20"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("rtcpeer answer");
    use std::io::Write as _;
    writeln!(child.stdin.take().unwrap(), "{line}").unwrap();
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("no data-channel section"), "{stderr}");
    assert!(output.stdout.is_empty(), "wrote an answer for an offer it cannot serve");
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
}
