//! `rtcpeer serve` end to end: the binary serves on loopback, an `rtcpeer` peer is the client.
//!
//! The media tests need `ffmpeg` and `ffprobe` (installed by `scripts/deps.sh`) to make real
//! VP8 / Opus files and to check that what was recorded decodes; they fail, not skip, without them.

use std::io::BufRead;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use rtcpeer::{
    DataChannelEvent, DataChannelInit, DataChannelMessage, IceGatheringState, PeerConnectionEvent, PeerConnectionState,
    RTCConfiguration, RTCDataChannel, RTCPeerConnection, SessionDescriptionInit,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::timeout;

const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const WAIT: Duration = Duration::from_secs(20);

/// The server process; killed when dropped.
struct Server {
    addr: SocketAddr,
    child: Child,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    async fn start() -> Server {
        Server::start_with(&[]).await
    }

    /// `rtcpeer serve` on loopback with `extra` arguments.
    async fn start_with(extra: &[&str]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_rtcpeer"))
            .args(["serve", "--listen", "127.0.0.1:0", "--bind", "127.0.0.1"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start rtcpeer serve");
        let stdout = child.stdout.take().expect("stdout is piped");
        let read = tokio::task::spawn_blocking(move || {
            let mut line = String::new();
            std::io::BufReader::new(stdout).read_line(&mut line).map(|_| line)
        });
        let line = timeout(WAIT, read)
            .await
            .expect("the server prints its address in time")
            .expect("the reader task")
            .expect("read the server's stdout");
        let addr = line
            .trim()
            .strip_prefix("listening on http://")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .parse()
            .expect("an address");
        Server { addr, child }
    }

    async fn sessions(&self) -> u64 {
        let response = request(self.addr, "GET", "/sessions", &[], b"").await;
        assert_eq!(response.status, 200);
        let json: serde_json::Value = serde_json::from_slice(&response.body).expect("JSON");
        json["sessions"].as_u64().expect("a count")
    }

    /// Waits until the session table has `count` entries.
    async fn wait_for_sessions(&self, count: u64) {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let now = self.sessions().await;
            if now == count {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "still {now} sessions, expected {count}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

#[derive(Debug)]
struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A minimal HTTP/1.1 client: one request per connection (`Connection: close`).
async fn request(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Response {
    let mut stream = TcpStream::connect(addr).await.expect("connect to the server");
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await.expect("send the head");
    // The server may answer (413) and close before taking the whole body: a failed write is fine then.
    let _ = stream.write_all(body).await;
    let mut raw = Vec::new();
    let read = timeout(WAIT, stream.read_to_end(&mut raw))
        .await
        .expect("a response in time");
    if let Err(error) = read {
        assert!(!raw.is_empty(), "no response: {error}");
    }
    parse_response(&raw)
}

fn parse_response(raw: &[u8]) -> Response {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no end of head in {:?}", String::from_utf8_lossy(raw)));
    let head = std::str::from_utf8(&raw[..end]).expect("an ASCII head");
    let mut lines = head.split("\r\n");
    let status_line = lines.next().expect("a status line");
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect();
    Response {
        status,
        headers,
        body: raw[end + 4..].to_vec(),
    }
}

/// A client peer bound to loopback, with a `chat` channel, whose offer has every candidate.
struct Client {
    pc: RTCPeerConnection,
    chat: RTCDataChannel,
    events: mpsc::UnboundedReceiver<PeerConnectionEvent>,
}

impl Client {
    async fn new() -> Client {
        let mut pc = RTCPeerConnection::new(RTCConfiguration::bound_to([LOOPBACK]))
            .await
            .expect("client peer");
        let mut stream = pc.take_events().expect("event stream");
        let (tx, events) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Some(event) = stream.recv().await {
                if tx.send(event).is_err() {
                    break;
                }
            }
        });
        let chat = pc
            .create_data_channel("chat", DataChannelInit::default())
            .await
            .expect("chat channel");
        Client { pc, chat, events }
    }

    /// The offer, once gathering has completed.
    async fn offer(&mut self) -> SessionDescriptionInit {
        self.pc.set_local_description(None).await.expect("set the offer");
        if self.pc.ice_gathering_state().await.expect("state") != IceGatheringState::Complete {
            self.wait_for(|e| {
                matches!(
                    e,
                    PeerConnectionEvent::IceGatheringStateChange(IceGatheringState::Complete)
                )
            })
            .await;
        }
        self.pc.local_description().await.expect("call").expect("an offer")
    }

    /// Waits for an event that `want` picks, passing over the others.
    async fn wait_for(&mut self, want: impl Fn(&PeerConnectionEvent) -> bool) -> PeerConnectionEvent {
        timeout(WAIT, async {
            loop {
                let event = self.events.recv().await.expect("event stream open");
                if let PeerConnectionEvent::ConnectionStateChange(PeerConnectionState::Failed) = event {
                    panic!("the client's connection failed");
                }
                if want(&event) {
                    return event;
                }
            }
        })
        .await
        .expect("the event in time")
    }

    /// Waits for the server's `rtcpeer` channel and returns its first message.
    async fn greeting(&mut self) -> DataChannelMessage {
        let event = self
            .wait_for(|e| matches!(e, PeerConnectionEvent::DataChannel(c) if c.label() == "rtcpeer"))
            .await;
        let PeerConnectionEvent::DataChannel(mut channel) = event else {
            unreachable!("wait_for picked a data channel event")
        };
        next_message(&mut channel).await
    }
}

async fn next_message(channel: &mut RTCDataChannel) -> DataChannelMessage {
    timeout(WAIT, async {
        loop {
            match channel.next_event().await {
                Some(DataChannelEvent::Message(message)) => return message,
                Some(DataChannelEvent::Close) | None => panic!("channel {} closed before a message", channel.label()),
                Some(_) => {}
            }
        }
    })
    .await
    .expect("a message in time")
}

async fn wait_open(channel: &mut RTCDataChannel) {
    timeout(WAIT, async {
        loop {
            match channel.next_event().await {
                Some(DataChannelEvent::Open) => return,
                Some(DataChannelEvent::Close) | None => panic!("channel {} closed before opening", channel.label()),
                Some(_) => {}
            }
        }
    })
    .await
    .expect("the channel opens in time")
}

/// Sends text and binary messages on `chat` and checks each comes back byte for byte.
async fn check_echo(chat: &mut RTCDataChannel) {
    let binary: Vec<u8> = (0..5000u32).map(|i| (i * 7 % 256) as u8).collect();
    let messages = [
        DataChannelMessage::Text("hello, echo ☃".into()),
        DataChannelMessage::Binary(binary),
        DataChannelMessage::Binary(vec![0, 255, 0]),
        DataChannelMessage::Text("x".repeat(20_000)),
    ];
    for message in &messages {
        chat.send_message(message.clone()).await.expect("send");
    }
    for message in &messages {
        assert_eq!(&next_message(chat).await, message);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offer_gets_an_answer_that_connects_echoes_and_greets() {
    let server = Server::start().await;
    let mut client = Client::new().await;
    let offer = client.offer().await;
    let response = request(
        server.addr,
        "POST",
        "/offer",
        &[("Content-Type", "application/json")],
        offer.to_json().as_bytes(),
    )
    .await;
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.header("content-type"), Some("application/json"));
    assert_eq!(response.header("access-control-allow-origin"), Some("*"));
    let answer = SessionDescriptionInit::from_json(&response.text()).expect("an answer in JSON");
    assert_eq!(answer.kind, rtcpeer::SdpType::Answer);
    // Gathering completed before the answer was sent: it carries a candidate and end-of-candidates.
    assert!(answer.sdp.contains("a=candidate:"), "{}", answer.sdp);
    assert!(answer.sdp.contains("a=end-of-candidates"), "{}", answer.sdp);
    client
        .pc
        .set_remote_description(answer)
        .await
        .expect("apply the answer");
    wait_open(&mut client.chat).await;
    check_echo(&mut client.chat).await;
    assert_eq!(
        client.greeting().await,
        DataChannelMessage::Text("hello from rtcpeer".into())
    );
    assert_eq!(server.sessions().await, 1);
    // No DELETE: the client's close() (its close_notify) ends the session within a second or two.
    client.pc.close().await;
    let closed = tokio::time::Instant::now();
    server.wait_for_sessions(0).await;
    assert!(
        closed.elapsed() < Duration::from_secs(2),
        "the session outlived its peer by {:?}",
        closed.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whip_creates_trickles_and_deletes_a_session() {
    let server = Server::start().await;
    let mut client = Client::new().await;
    let offer = client.offer().await;
    let response = request(
        server.addr,
        "POST",
        "/whip",
        &[("Content-Type", "application/sdp")],
        offer.sdp.as_bytes(),
    )
    .await;
    assert_eq!(response.status, 201, "{}", response.text());
    assert_eq!(response.header("content-type"), Some("application/sdp"));
    assert_eq!(response.header("access-control-expose-headers"), Some("Location"));
    let location = response.header("location").expect("a Location").to_string();
    assert!(
        location.starts_with("/whip/") && location.len() > "/whip/".len(),
        "{location}"
    );
    let answer = response.text();
    assert!(answer.starts_with("v=0"), "{answer}");
    client
        .pc
        .set_remote_description(SessionDescriptionInit::answer(answer))
        .await
        .expect("apply the answer");
    assert_eq!(server.sessions().await, 1);

    // Trickle the client's own candidate again (as a late candidate) and end-of-candidates.
    let ufrag = sdp_value(&offer.sdp, "a=ice-ufrag:");
    let pwd = sdp_value(&offer.sdp, "a=ice-pwd:");
    let mid = sdp_value(&offer.sdp, "a=mid:");
    let candidate = offer
        .sdp
        .lines()
        .find(|l| l.starts_with("a=candidate:"))
        .expect("the offer has a candidate");
    let frag = format!(
        "a=ice-ufrag:{ufrag}\r\na=ice-pwd:{pwd}\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\na=mid:{mid}\r\n{candidate}\r\na=end-of-candidates\r\n"
    );
    let sdpfrag = [("Content-Type", "application/trickle-ice-sdpfrag")];
    let patched = request(server.addr, "PATCH", &location, &sdpfrag, frag.as_bytes()).await;
    assert_eq!(patched.status, 204, "{}", patched.text());

    // A fragment with another ufrag is an ICE restart, which is not supported.
    let restart = frag.replace(&ufrag, "zzzz");
    let refused = request(server.addr, "PATCH", &location, &sdpfrag, restart.as_bytes()).await;
    assert_eq!(refused.status, 422, "{}", refused.text());

    wait_open(&mut client.chat).await;
    check_echo(&mut client.chat).await;

    let deleted = request(server.addr, "DELETE", &location, &[], b"").await;
    assert_eq!(deleted.status, 200, "{}", deleted.text());
    assert_eq!(server.sessions().await, 0);
    let again = request(server.addr, "DELETE", &location, &[], b"").await;
    assert_eq!(again.status, 404);
    let late = request(server.addr, "PATCH", &location, &sdpfrag, frag.as_bytes()).await;
    assert_eq!(late.status, 404);
    client.pc.close().await;
}

fn sdp_value(sdp: &str, prefix: &str) -> String {
    sdp.lines()
        .find_map(|l| l.strip_prefix(prefix))
        .unwrap_or_else(|| panic!("no {prefix} in {sdp}"))
        .trim()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_clear_errors_and_the_server_keeps_serving() {
    let server = Server::start().await;
    let json = [("Content-Type", "application/json")];

    let bad_json = request(server.addr, "POST", "/offer", &json, b"{not json").await;
    assert_eq!(bad_json.status, 400);
    assert!(bad_json
        .header("content-type")
        .is_some_and(|t| t.starts_with("text/plain")));
    assert!(bad_json.text().contains("TypeError"), "{}", bad_json.text());

    let wrong_type = request(
        server.addr,
        "POST",
        "/offer",
        &json,
        br#"{"type":"answer","sdp":"v=0\r\n"}"#,
    )
    .await;
    assert_eq!(wrong_type.status, 400);
    assert!(wrong_type.text().contains("\"offer\""), "{}", wrong_type.text());

    let bad_sdp = request(
        server.addr,
        "POST",
        "/offer",
        &json,
        br#"{"type":"offer","sdp":"v=0\r\nnonsense\r\n"}"#,
    )
    .await;
    assert_eq!(bad_sdp.status, 400);
    assert!(bad_sdp.text().contains("line"), "{}", bad_sdp.text());

    let sdp_as_text = request(
        server.addr,
        "POST",
        "/whip",
        &[("Content-Type", "text/plain")],
        b"v=0\r\n",
    )
    .await;
    assert_eq!(sdp_as_text.status, 415);

    let huge = vec![b' '; 300 * 1024];
    let too_large = request(server.addr, "POST", "/offer", &json, &huge).await;
    assert_eq!(too_large.status, 413);

    let long = "a".repeat(20 * 1024);
    let huge_head = request(server.addr, "GET", "/", &[("X-Long", &long)], b"").await;
    assert_eq!(huge_head.status, 431);

    let wrong_method = request(server.addr, "GET", "/offer", &[], b"").await;
    assert_eq!(wrong_method.status, 405);
    assert_eq!(wrong_method.header("allow"), Some("POST, OPTIONS"));

    let unknown = request(server.addr, "GET", "/nowhere", &[], b"").await;
    assert_eq!(unknown.status, 404);
    let unknown_session = request(server.addr, "DELETE", "/whip/0123456789abcdef", &[], b"").await;
    assert_eq!(unknown_session.status, 404);

    let preflight = request(
        server.addr,
        "OPTIONS",
        "/whip",
        &[
            ("Origin", "http://localhost:9"),
            ("Access-Control-Request-Method", "POST"),
        ],
        b"",
    )
    .await;
    assert_eq!(preflight.status, 204);
    assert_eq!(preflight.header("access-control-allow-origin"), Some("*"));
    assert!(preflight
        .header("access-control-allow-methods")
        .is_some_and(|m| m.contains("PATCH") && m.contains("DELETE")));
    assert!(preflight
        .header("access-control-allow-headers")
        .is_some_and(|h| h.contains("Content-Type")));

    let page = request(server.addr, "GET", "/", &[], b"").await;
    assert_eq!(page.status, 200);
    assert!(page.header("content-type").is_some_and(|t| t.starts_with("text/html")));
    assert!(page.text().contains("fetch(\"/offer\""));

    // Garbage that is not HTTP at all closes only that connection.
    let mut garbage = TcpStream::connect(server.addr).await.expect("connect");
    garbage
        .write_all(b"\x16\x03\x01 not http\r\n\r\n")
        .await
        .expect("write");
    let mut sink = Vec::new();
    let _ = timeout(WAIT, garbage.read_to_end(&mut sink)).await;

    // None of that left a session behind, and a real client still connects.
    assert_eq!(server.sessions().await, 0);
    let mut client = Client::new().await;
    let offer = client.offer().await;
    let response = request(server.addr, "POST", "/offer", &json, offer.to_json().as_bytes()).await;
    assert_eq!(response.status, 200, "{}", response.text());
    let answer = SessionDescriptionInit::from_json(&response.text()).expect("an answer");
    client
        .pc
        .set_remote_description(answer)
        .await
        .expect("apply the answer");
    wait_open(&mut client.chat).await;
    check_echo(&mut client.chat).await;
    server.wait_for_sessions(1).await;
}

// ------------------------------------------------------------------- media --

/// A scratch directory, removed when dropped.
struct TempDir(std::path::PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("rtcpeer-serve-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        TempDir(dir)
    }

    fn path(&self, file: &str) -> std::path::PathBuf {
        self.0.join(file)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn run_tool(program: &str, args: &[&str]) -> std::process::Output {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program} (scripts/deps.sh installs it): {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// 3 s of VP8 test pattern at 30 fps (a keyframe every second) and 3 s of Opus tone.
fn make_media(dir: &TempDir) -> (String, String) {
    let video = dir.path("video.ivf").display().to_string();
    let audio = dir.path("audio.ogg").display().to_string();
    run_tool(
        "ffmpeg",
        &[
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=320x240:rate=30",
            "-t",
            "3",
            "-c:v",
            "libvpx",
            "-g",
            "30",
            "-deadline",
            "realtime",
            &video,
        ],
    );
    run_tool(
        "ffmpeg",
        &[
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:sample_rate=48000",
            "-t",
            "3",
            "-c:a",
            "libopus",
            &audio,
        ],
    );
    (video, audio)
}

/// ffprobe of a file's first stream: (codec name, decoded frames, duration in seconds).
fn ffprobe(file: &std::path::Path) -> (String, u64, f64) {
    let out = run_tool(
        "ffprobe",
        &[
            "-v",
            "error",
            "-count_frames",
            "-show_entries",
            "stream=codec_name,nb_read_frames,duration",
            "-of",
            "json",
            &file.display().to_string(),
        ],
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("ffprobe JSON");
    let stream = &json["streams"][0];
    let number = |v: &serde_json::Value| v.as_str().and_then(|s| s.parse::<f64>().ok()).unwrap_or(0.0);
    (
        stream["codec_name"].as_str().unwrap_or_default().to_string(),
        number(&stream["nb_read_frames"]) as u64,
        number(&stream["duration"]),
    )
}

/// A client peer on loopback with no data channel; its events go to a channel.
async fn media_client() -> (RTCPeerConnection, mpsc::UnboundedReceiver<PeerConnectionEvent>) {
    let mut pc = RTCPeerConnection::new(RTCConfiguration::bound_to([LOOPBACK]))
        .await
        .expect("client peer");
    let mut stream = pc.take_events().expect("event stream");
    let (tx, events) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(event) = stream.recv().await {
            if tx.send(event).is_err() {
                break;
            }
        }
    });
    (pc, events)
}

/// Offers (complete, after gathering) with WHIP, applies the answer; returns the `Location`.
async fn whip_connect(
    server: &Server,
    pc: &RTCPeerConnection,
    events: &mut mpsc::UnboundedReceiver<PeerConnectionEvent>,
    tracks: &mut Vec<rtcpeer::RemoteTrack>,
) -> String {
    pc.set_local_description(None).await.expect("offer");
    while pc.ice_gathering_state().await.expect("state") != IceGatheringState::Complete {
        timeout(WAIT, events.recv()).await.expect("gathering completes");
    }
    let offer = pc.local_description().await.expect("call").expect("offer");
    let response = request(
        server.addr,
        "POST",
        "/whip",
        &[("Content-Type", "application/sdp")],
        offer.sdp.as_bytes(),
    )
    .await;
    assert_eq!(response.status, 201, "{}", response.text());
    let location = response.header("location").expect("Location").to_string();
    pc.set_remote_description(SessionDescriptionInit::answer(response.text()))
        .await
        .expect("apply the answer");
    timeout(WAIT, async {
        loop {
            match events.recv().await.expect("events") {
                PeerConnectionEvent::ConnectionStateChange(PeerConnectionState::Connected) => return,
                PeerConnectionEvent::ConnectionStateChange(PeerConnectionState::Failed) => panic!("failed"),
                PeerConnectionEvent::Track(track) => tracks.push(track),
                _ => {}
            }
        }
    })
    .await
    .expect("connected in time");
    location
}

/// Writes the frames of `path` to `track` in real time for `length`, looping the file.
async fn play_file(path: String, track: rtcpeer::LocalTrack, length: Duration) -> usize {
    let start = tokio::time::Instant::now();
    let mut written = 0;
    let mut offset = Duration::ZERO;
    while start.elapsed() < length {
        let mut reader = rtcpeer::media_file::MediaFileReader::open(&path).expect("open");
        let mut end = offset;
        while let Some(frame) = reader.next_frame().expect("read") {
            let pts = offset + frame.timestamp;
            end = pts + frame.duration;
            if pts >= length {
                return written;
            }
            tokio::time::sleep_until(start + pts).await;
            track.write_frame(rtcpeer::MediaFrame {
                data: frame.data.into(),
                pts,
            });
            written += 1;
        }
        offset = end;
    }
    written
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn record_writes_what_a_client_sends_into_files_ffprobe_decodes() {
    let media = TempDir::new("record-src");
    let recorded = TempDir::new("record-out");
    let (video, audio) = make_media(&media);
    let server = Server::start_with(&["--record", &recorded.0.display().to_string()]).await;
    let (pc, mut events) = media_client().await;
    let camera = rtcpeer::LocalTrack::new("camera", rtcpeer::Codec::Vp8, vec!["s".into()]).expect("track");
    let microphone = rtcpeer::LocalTrack::new("mic", rtcpeer::Codec::Opus, vec!["s".into()]).expect("track");
    pc.add_track(&camera).await.expect("add video");
    pc.add_track(&microphone).await.expect("add audio");
    let location = whip_connect(&server, &pc, &mut events, &mut Vec::new()).await;

    let (sent_video, sent_audio) = tokio::join!(
        play_file(video, camera, Duration::from_secs(3)),
        play_file(audio, microphone, Duration::from_secs(3)),
    );
    assert!(
        sent_video >= 85 && sent_audio >= 140,
        "sent {sent_video} frames, {sent_audio} packets"
    );
    // Let the last packets arrive, then end the session: that finishes the files.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let deleted = request(server.addr, "DELETE", &location, &[], b"").await;
    assert_eq!(deleted.status, 200);

    // The IVF header's frame count is written when the recording is finished.
    let deadline = tokio::time::Instant::now() + WAIT;
    let (ivf, ogg) = loop {
        let files: Vec<_> = std::fs::read_dir(&recorded.0)
            .expect("the record directory")
            .map(|e| e.expect("entry").path())
            .collect();
        let ivf = files
            .iter()
            .find(|p| p.extension().is_some_and(|e| e == "ivf"))
            .cloned();
        let ogg = files
            .iter()
            .find(|p| p.extension().is_some_and(|e| e == "ogg"))
            .cloned();
        if let (Some(ivf), Some(ogg)) = (ivf, ogg) {
            let header = std::fs::read(&ivf).expect("ivf");
            if header.len() >= 32 && header[24..28] != [0, 0, 0, 0] {
                break (ivf, ogg);
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no finished recordings in {files:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    // Named by session and mid.
    let session = location.trim_start_matches("/whip/");
    for file in [&ivf, &ogg] {
        let name = file.file_name().expect("name").to_string_lossy().into_owned();
        assert!(name.starts_with(&format!("{session}-")), "{name}");
    }
    // Give the audio recording the moment it may need to finish after the video one.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (codec, frames, _) = ffprobe(&ivf);
    assert_eq!(codec, "vp8");
    assert!(frames >= 80, "ffprobe decodes {frames} of {sent_video} frames sent");
    let (codec, packets, seconds) = ffprobe(&ogg);
    assert_eq!(codec, "opus");
    assert!(
        seconds >= 2.5,
        "{seconds} s of audio ({packets} packets; {sent_audio} sent)"
    );
    pc.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn play_sends_the_files_to_a_client_that_records_decodable_video() {
    let media = TempDir::new("play-src");
    let (video, audio) = make_media(&media);
    let server = Server::start_with(&["--play", &video, "--play", &audio]).await;
    let (pc, mut events) = media_client().await;
    for kind in [rtcpeer::MediaType::Video, rtcpeer::MediaType::Audio] {
        let init = rtcpeer::TransceiverInit {
            direction: rtcpeer::TransceiverDirection::RecvOnly,
            ..Default::default()
        };
        pc.add_transceiver(kind, init).await.expect("transceiver");
    }
    let mut tracks = Vec::new();
    let location = whip_connect(&server, &pc, &mut events, &mut tracks).await;
    while tracks.len() < 2 {
        let event = timeout(WAIT, events.recv()).await.expect("tracks in time");
        if let PeerConnectionEvent::Track(track) = event.expect("events") {
            tracks.push(track);
        }
    }
    let (video_track, audio_track) = if tracks[0].kind() == rtcpeer::MediaType::Video {
        (tracks.remove(0), tracks.remove(0))
    } else {
        (tracks.remove(1), tracks.remove(0))
    };

    // Record the video as the server would (from the first keyframe), count the audio.
    let out = media.path("received.ivf");
    let file = std::fs::File::create(&out).expect("create");
    let receive_video = async move {
        let mut video_track = video_track;
        let mut writer = rtcpeer::media_file::IvfWriter::new(file, *b"VP80", 320, 240, 1, 90_000).expect("ivf");
        let mut first = None;
        let until = tokio::time::Instant::now() + Duration::from_secs(3);
        while let Ok(Some(frame)) = tokio::time::timeout_at(until, video_track.next_frame()).await {
            assert_eq!(frame.codec, rtcpeer::Codec::Vp8);
            if first.is_none() && !frame.keyframe {
                continue;
            }
            let base = *first.get_or_insert(frame.rtp_timestamp);
            writer
                .write_frame(frame.rtp_timestamp - base, &frame.data)
                .expect("write");
        }
        writer.finish().expect("finish");
    };
    let receive_audio = async move {
        let mut audio_track = audio_track;
        let mut packets = 0;
        let until = tokio::time::Instant::now() + Duration::from_secs(3);
        while let Ok(Some(frame)) = tokio::time::timeout_at(until, audio_track.next_frame()).await {
            assert_eq!(frame.codec, rtcpeer::Codec::Opus);
            packets += 1;
        }
        packets
    };
    let ((), packets) = tokio::join!(receive_video, receive_audio);
    // 3 s of 20 ms packets is 150.
    assert!(packets >= 120, "{packets} audio packets in 3 s");
    let (codec, frames, _) = ffprobe(&out);
    assert_eq!(codec, "vp8");
    // 90 frames in 3 s, less up to a second before the first keyframe.
    assert!(frames >= 50, "ffprobe decodes {frames} received frames");
    let deleted = request(server.addr, "DELETE", &location, &[], b"").await;
    assert_eq!(deleted.status, 200);
    pc.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reflect_sends_each_frame_back_and_forwards_keyframe_requests() {
    reflect_round_trip(&["--reflect"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reflect_rtp_forwards_the_packets_back_and_forwards_keyframe_requests() {
    reflect_round_trip(&["--reflect", "--reflect-rtp"]).await;
}

/// A client sends VP8 frames to a server started with `args` and must get a run of them back
/// byte for byte; a keyframe request on the reflected track reaches the client's sender.
async fn reflect_round_trip(args: &[&str]) {
    let server = Server::start_with(args).await;
    let (pc, mut events) = media_client().await;
    let camera = rtcpeer::LocalTrack::new("camera", rtcpeer::Codec::Vp8, vec!["s".into()]).expect("track");
    let sender = pc.add_track(&camera).await.expect("add video");
    let mut tracks = Vec::new();
    let location = whip_connect(&server, &pc, &mut events, &mut tracks).await;
    let transceivers = pc.get_transceivers().await.expect("alive");
    assert_eq!(
        transceivers[sender.0].current_direction,
        Some(rtcpeer::TransceiverDirection::SendRecv),
        "the server answers sendrecv"
    );
    if tracks.is_empty() {
        match timeout(WAIT, async {
            loop {
                if let PeerConnectionEvent::Track(t) = events.recv().await.expect("events") {
                    return t;
                }
            }
        })
        .await
        {
            Ok(track) => tracks.push(track),
            Err(_) => panic!("no reflected track"),
        }
    }
    let mut reflected = tracks.remove(0);
    assert_eq!(reflected.kind(), rtcpeer::MediaType::Video);

    // Synthetic VP8 frames (keyframe every 10th) every 10 ms; the reflection must bring back
    // a run of them byte for byte.
    let frame = |i: usize| -> Vec<u8> {
        let len = 200 + (i * 977) % 3000;
        let mut data: Vec<u8> = (0..len).map(|b| (b * 7 + i) as u8).collect();
        data[0] = if i % 10 == 0 { 0x00 } else { 0x01 };
        data
    };
    let mut got = Vec::new();
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut i = 0;
    while got.len() < 50 && tokio::time::Instant::now() < deadline {
        camera.write_frame(rtcpeer::MediaFrame {
            data: frame(i).into(),
            pts: Duration::from_millis(10 * i as u64),
        });
        i += 1;
        tokio::time::sleep(Duration::from_millis(10)).await;
        while let Ok(Some(f)) = timeout(Duration::from_millis(1), reflected.next_frame()).await {
            got.push(f.data.to_vec());
        }
    }
    assert!(got.len() >= 50, "{} frames reflected of {i} sent", got.len());
    let first = (0..i)
        .position(|k| frame(k) == got[0])
        .expect("the first reflected frame is one we sent");
    for (k, data) in got.iter().enumerate() {
        assert_eq!(data, &frame(first + k), "reflected frame {k} differs");
    }

    // A keyframe request on the reflected track reaches the client's own sender.
    reflected.request_keyframe().await;
    let asked = timeout(WAIT, async {
        loop {
            if let PeerConnectionEvent::KeyframeRequested(t, _) = events.recv().await.expect("events") {
                return t;
            }
        }
    })
    .await
    .expect("the keyframe request comes back to the sender");
    assert_eq!(asked, sender);
    let deleted = request(server.addr, "DELETE", &location, &[], b"").await;
    assert_eq!(deleted.status, 200);
    pc.close().await;
}

#[tokio::test]
async fn bad_media_options_stop_the_server_before_it_listens() {
    for (args, expected) in [
        (vec!["--play", "/nonexistent/video.ivf"], "video.ivf"),
        (vec!["--play", "x.mp4"], "unknown media file extension"),
        (vec!["--play", "a.ivf", "--reflect"], "cannot be used with"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_rtcpeer"))
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(&args)
            .output()
            .expect("run rtcpeer serve");
        assert!(!out.status.success(), "{args:?} was accepted");
        assert!(
            out.stdout.is_empty(),
            "{args:?} printed {:?}",
            String::from_utf8_lossy(&out.stdout)
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
}
