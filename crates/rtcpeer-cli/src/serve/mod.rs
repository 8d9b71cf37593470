//! `rtcpeer serve`: HTTP signaling for browsers (`POST /offer`, JSON) and WHIP clients
//! (`POST /whip`, `PATCH`/`DELETE /whip/<id>`, RFC 9725), with a demo page at `/`.
//!
//! | route | what |
//! | --- | --- |
//! | `GET /` | the demo page (`page.html`) |
//! | `POST /offer` | `{"type":"offer","sdp":…}` → `200` `{"type":"answer","sdp":…}`, after ICE gathering |
//! | `POST /whip` | `application/sdp` offer → `201`, `Location: /whip/<id>`, the answer |
//! | `PATCH /whip/<id>` | `application/trickle-ice-sdpfrag` candidates → `204` |
//! | `DELETE /whip/<id>` | closes the connection → `200` |
//! | `GET /sessions` | `{"sessions":N}`, the live connections |
//! | `OPTIONS` anything | CORS preflight → `204` |
//!
//! Every connection the server answers echoes each data channel the remote opens,
//! and opens a channel named `rtcpeer` that carries one greeting. See decision 0007
//! for why HTTP is `hyper`.
//!
//! Media (see [`media`]): `--record DIR` writes every received track to a file
//! ([`record`]), `--play FILE` sends a looped file to every session ([`play`]), and
//! `--reflect` sends every received track back to its sender.
//!
//! Everything is bounded: concurrent HTTP connections (then `503`), header size and
//! header read time, body size (`413`) and body read time (`408`), live sessions (`503`).

mod http;
mod media;
mod play;
mod record;
mod routes;
mod sdpfrag;
mod session;

use std::convert::Infallible;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tracing::{debug, info, warn};

use media::MediaConfig;
use routes::Routes;
use session::{SessionConfig, Sessions};

/// What the server is asked to do and how far it is bounded.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// The addresses the served peers bind their UDP sockets on; empty means every usable interface.
    pub bind: Vec<IpAddr>,
    /// STUN/TURN servers and the relay-only policy of the served peers.
    pub ice: crate::ice_options::IceOptions,
    /// At most this many HTTP connections at once; one more gets `503` and is closed.
    pub max_connections: usize,
    /// At most this many live peer connections.
    pub max_sessions: usize,
    /// How long a client may take to send a request's headers.
    pub header_timeout: Duration,
    /// How long a client may take to send a request's body.
    pub body_timeout: Duration,
    /// Record every received track into this directory (created if missing).
    pub record: Option<PathBuf>,
    /// Send these files (at most one video and one audio), looped, to every session.
    pub play: Vec<PathBuf>,
    /// Send every received track back to its sender.
    pub reflect: bool,
    /// Reflect RTP packets rather than frames (unless recording).
    pub reflect_rtp: bool,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            bind: Vec::new(),
            ice: Default::default(),
            max_connections: 256,
            max_sessions: 64,
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(10),
            record: None,
            play: Vec::new(),
            reflect: false,
            reflect_rtp: false,
        }
    }
}

/// The largest request head (request line and headers) the server buffers.
const MAX_HEAD: usize = 16 * 1024;

/// At most this many request headers.
const MAX_HEADERS: usize = 64;

/// The response to a connection over the limit, written without parsing its request.
const BUSY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: 31\r\n\
Access-Control-Allow-Origin: *\r\nConnection: close\r\n\r\ntoo many connections, try later\n";

/// Checks the media options and starts playing the files; fails if they are unusable (a
/// `--play` file that cannot be read, a `--record` directory that cannot be created).
fn start_media(options: &ServeOptions) -> std::io::Result<MediaConfig> {
    let invalid = |message: String| std::io::Error::new(std::io::ErrorKind::InvalidInput, message);
    if options.reflect && !options.play.is_empty() {
        return Err(invalid("--reflect and --play both want to send: pick one".into()));
    }
    if let Some(dir) = &options.record {
        std::fs::create_dir_all(dir)
            .map_err(|error| std::io::Error::new(error.kind(), format!("--record {}: {error}", dir.display())))?;
        info!(dir = %dir.display(), "recording received tracks");
    }
    let play = play::open_files(&options.play).map_err(|error| invalid(format!("--play {error}")))?;
    play::start(&play);
    Ok(MediaConfig {
        record: options.record.clone(),
        play,
        reflect: options.reflect,
        reflect_rtp: options.reflect && options.reflect_rtp && options.record.is_none(),
    })
}

/// Serves HTTP on `listener` until the task is dropped or accepting fails for good; the
/// sessions use `media` (see [`start_media`]).
pub async fn serve(listener: TcpListener, options: ServeOptions, media: MediaConfig) -> std::io::Result<()> {
    let sessions = Sessions::new(SessionConfig {
        bind: options.bind.clone(),
        ice: options.ice.clone(),
        max_sessions: options.max_sessions,
        media: Arc::new(media),
        ..SessionConfig::default()
    });
    let routes = Arc::new(Routes {
        sessions: sessions.clone(),
        body_timeout: options.body_timeout,
    });
    let slots = Arc::new(Semaphore::new(options.max_connections));
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(options.header_timeout)
        .max_buf_size(MAX_HEAD)
        .max_headers(MAX_HEADERS);
    loop {
        let (mut stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                // Running out of file descriptors and the like pass; wait a little and go on.
                warn!(%error, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            warn!(%peer, "too many connections; refused");
            tokio::spawn(async move {
                let _ = tokio::time::timeout(Duration::from_secs(1), stream.write_all(BUSY)).await;
                let _ = stream.shutdown().await;
            });
            continue;
        };
        debug!(%peer, "accepted");
        let routes = routes.clone();
        let connection = builder.serve_connection(
            TokioIo::new(stream),
            service_fn(move |request| {
                let routes = routes.clone();
                async move { Ok::<_, Infallible>(routes.handle(request).await) }
            }),
        );
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                debug!(%peer, %error, "connection ended with an error");
            }
            drop(slot);
        });
    }
}

/// `rtcpeer serve`: binds `listen`, prints `listening on http://ADDR`, and serves until interrupted.
pub async fn run(listen: std::net::SocketAddr, options: ServeOptions) -> std::io::Result<()> {
    let media = start_media(&options)?;
    let listener = TcpListener::bind(listen)
        .await
        .map_err(|error| std::io::Error::new(error.kind(), format!("{listen}: {error}")))?;
    let local = listener.local_addr()?;
    println!("listening on http://{local}");
    info!(%local, "serving");
    serve(listener, options, media).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;
    use tokio::net::TcpStream;

    async fn start(options: ServeOptions) -> std::net::SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind loopback");
        let addr = listener.local_addr().expect("local address");
        tokio::spawn(serve(listener, options, MediaConfig::default()));
        addr
    }

    async fn read_all(stream: &mut TcpStream) -> String {
        let mut raw = Vec::new();
        tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut raw))
            .await
            .expect("the server answers or closes in time")
            .expect("read");
        String::from_utf8_lossy(&raw).into_owned()
    }

    #[tokio::test]
    async fn connections_over_the_limit_get_503_and_slots_come_back() {
        let addr = start(ServeOptions {
            max_connections: 2,
            ..ServeOptions::default()
        })
        .await;
        let first = TcpStream::connect(addr).await.expect("connect");
        let second = TcpStream::connect(addr).await.expect("connect");
        // Let the server accept both before the third arrives.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let mut third = TcpStream::connect(addr).await.expect("connect");
        let refused = read_all(&mut third).await;
        assert!(refused.starts_with("HTTP/1.1 503 "), "{refused}");
        assert!(refused.ends_with("too many connections, try later\n"), "{refused}");
        drop((first, second));
        tokio::time::sleep(Duration::from_millis(100)).await;
        let mut fourth = TcpStream::connect(addr).await.expect("connect");
        fourth
            .write_all(b"GET /sessions HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .expect("write");
        let answer = read_all(&mut fourth).await;
        assert!(answer.starts_with("HTTP/1.1 200 "), "{answer}");
        assert!(answer.ends_with(r#"{"sessions":0}"#), "{answer}");
    }

    #[tokio::test]
    async fn slow_silent_and_idle_clients_are_dropped_after_the_header_timeout() {
        let addr = start(ServeOptions {
            header_timeout: Duration::from_millis(200),
            ..ServeOptions::default()
        })
        .await;
        let mut slow = TcpStream::connect(addr).await.expect("connect");
        slow.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").await.expect("write");
        let started = tokio::time::Instant::now();
        let _ = read_all(&mut slow).await;
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "closed after {:?}",
            started.elapsed()
        );

        // A connection that says nothing at all is dropped as well.
        let mut silent = TcpStream::connect(addr).await.expect("connect");
        let started = tokio::time::Instant::now();
        let _ = read_all(&mut silent).await;
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "silent connection closed after {:?}",
            started.elapsed()
        );

        // So is one that stays idle after a request on a kept-alive connection.
        let mut idle = TcpStream::connect(addr).await.expect("connect");
        idle.write_all(b"GET /sessions HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .expect("write");
        let started = tokio::time::Instant::now();
        let answer = read_all(&mut idle).await;
        assert!(answer.starts_with("HTTP/1.1 200 "), "{answer}");
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "idle connection closed after {:?}",
            started.elapsed()
        );
    }
}
