//! The TCP and TLS connections to TURN servers (`turn:…?transport=tcp`, `turns:`).
//!
//! The core frames STUN and ChannelData on a stream the same way over TCP and TLS (RFC 8656
//! §3.1); this module only moves bytes. One small task per server address connects on the
//! first bytes the core has for it, wraps the connection in TLS (`rustls` with the aws-lc-rs
//! provider) when the core asks for it, writes what the connection's task queues, and reports
//! what it reads. A connection that cannot be made, a failed TLS handshake and a closed
//! connection are reported to the task, which tells the core (an `icecandidateerror` 701 while
//! gathering waits for that server).
//!
//! TLS is driven by hand with [`rustls::ClientConnection`] rather than through an async
//! adapter: the task already owns the read/write loop, so feeding records in and out of the
//! session is a few lines and needs no further dependency (docs/decisions/0014-turn-tls.md).

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rtcpeer_proto::ice::server::{IceServerHost, IceServerScheme, ValidIceServer};
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::mpsc;
use tracing::debug;

use crate::proto::RtcError;

/// How long connecting to a TURN server over TCP, and the TLS handshake, may take each.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Frames waiting to be written to one TURN server; more are dropped (like lost datagrams).
const WRITE_QUEUE: usize = 256;
/// Chunks read from the TURN servers waiting for the task; the readers wait beyond.
const READ_QUEUE: usize = 64;
/// Bytes read from a server's socket at once.
const READ_CHUNK: usize = 16 * 1024;

/// What a TURN server's connection reports to the connection's task.
#[derive(Debug)]
pub(crate) enum StreamInput {
    /// Bytes read from the server (decrypted, over TLS).
    Data(SocketAddr, Vec<u8>),
    /// The connection ended, or could not be made, for the reason given.
    Failed(SocketAddr, String),
}

/// Builds the TLS client configuration for `turns:` servers: the Mozilla roots of
/// `webpki-roots` plus `extra_roots` (the rtcpeer extension `turn_tls_roots`), TLS 1.2 and 1.3,
/// the aws-lc-rs provider. An extra root that is not a usable CA certificate is an error.
/// The TLS configuration for `servers` when one of them has a `turns:` URL, else `None`; the
/// extra roots are checked only then (see [`tls_config`]).
pub(crate) fn tls_for(
    servers: &[ValidIceServer],
    extra_roots: &[CertificateDer<'static>],
) -> Result<Option<Arc<ClientConfig>>, RtcError> {
    let any_tls = servers
        .iter()
        .flat_map(|server| &server.urls)
        .any(|url| url.scheme == IceServerScheme::Turns);
    any_tls.then(|| tls_config(extra_roots)).transpose()
}

pub(crate) fn tls_config(extra_roots: &[CertificateDer<'static>]) -> Result<Arc<ClientConfig>, RtcError> {
    let mut roots = RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    for (i, root) in extra_roots.iter().enumerate() {
        roots
            .add(root.clone())
            .map_err(|e| RtcError::Syntax(format!("turn_tls_roots[{i}] is not a usable CA certificate: {e}")))?;
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| RtcError::Operation(format!("cannot set up TLS: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// The name a `turns:` server's certificate must be valid for: the URL's host.
fn server_name(host: &IceServerHost) -> Result<ServerName<'static>, String> {
    match host {
        IceServerHost::Ip(ip) => Ok(ServerName::IpAddress((*ip).into())),
        IceServerHost::Domain(name) => ServerName::try_from(name.clone())
            .map_err(|e| format!("{name:?} cannot be checked against a certificate: {e}")),
    }
}

/// The connections to TURN servers of one peer connection: one small task each, opened on the
/// first bytes the core has for a server; each ends when its writer is dropped (its queued
/// bytes written first) or the server closes.
pub(crate) struct ServerStreams {
    writers: HashMap<SocketAddr, mpsc::Sender<Vec<u8>>>,
    /// What the connections report (the connection's task reads it with [`Self::next_input`]);
    /// made with the first connection, as most peer connections never open one.
    input: Option<(mpsc::Sender<StreamInput>, mpsc::Receiver<StreamInput>)>,
    /// The TLS configuration, when some server is `turns:`.
    tls: Option<Arc<ClientConfig>>,
}

impl ServerStreams {
    /// No connections yet; `tls` is used for servers the core marks as TLS.
    pub(crate) fn new(tls: Option<Arc<ClientConfig>>) -> Self {
        ServerStreams {
            writers: HashMap::new(),
            input: None,
            tls,
        }
    }

    /// Replaces the TLS configuration (`setConfiguration`): connections opened from now on use it.
    pub(crate) fn set_tls(&mut self, tls: Option<Arc<ClientConfig>>) {
        self.tls = tls;
    }

    /// The next report of a connection; never resolves while none was ever opened.
    pub(crate) async fn next_input(&mut self) -> Option<StreamInput> {
        match &mut self.input {
            Some((_, input)) => input.recv().await,
            None => std::future::pending().await,
        }
    }

    /// Queues bytes for `server`, connecting first if needed (over TLS verified for `tls`).
    pub(crate) fn send(&mut self, server: SocketAddr, tls: Option<&IceServerHost>, bytes: Vec<u8>) {
        let input = &mut self.input;
        let writer = self.writers.entry(server).or_insert_with(|| {
            let input_tx = input.get_or_insert_with(|| mpsc::channel(READ_QUEUE)).0.clone();
            let (tx, rx) = mpsc::channel(WRITE_QUEUE);
            let security = match tls {
                None => Ok(None),
                Some(host) => match (&self.tls, server_name(host)) {
                    (Some(config), Ok(name)) => Ok(Some((config.clone(), name))),
                    (None, _) => Err("TLS is not configured for this server".to_string()),
                    (_, Err(reason)) => Err(reason),
                },
            };
            tokio::spawn(run_stream(server, security, rx, input_tx));
            tx
        });
        if writer.try_send(bytes).is_err() {
            debug!(%server, "TURN stream write queue full; frame dropped");
        }
    }

    /// Forgets the connection to `server` (it has ended); the next bytes for it connect anew.
    pub(crate) fn remove(&mut self, server: SocketAddr) {
        self.writers.remove(&server);
    }
}

type Security = Result<Option<(Arc<ClientConfig>, ServerName<'static>)>, String>;

/// Connects to `server`, writes what comes on `writes`, and reports what it reads; reports
/// why it ended unless the connection's task ended it.
async fn run_stream(
    server: SocketAddr,
    security: Security,
    writes: mpsc::Receiver<Vec<u8>>,
    input: mpsc::Sender<StreamInput>,
) {
    if let Some(reason) = connect_and_serve(server, security, writes, &input).await {
        debug!(%server, %reason, "TURN server connection ended");
        let _ = input.send(StreamInput::Failed(server, reason)).await;
    }
}

/// Ends a connection whose peer connection's task has ended: writes every frame still queued
/// (the task's writers are gone, so the queue only drains), then closes TLS with close_notify.
async fn finish(mut tls: Option<&mut TlsSession>, writes: &mut mpsc::Receiver<Vec<u8>>, writer: &mut OwnedWriteHalf) {
    while let Some(bytes) = writes.recv().await {
        let written = match tls.as_deref_mut() {
            Some(tls) => tls.write(&bytes, writer).await,
            None => writer.write_all(&bytes).await,
        };
        if written.is_err() {
            return;
        }
    }
    if let Some(tls) = tls {
        tls.session.send_close_notify();
        let _ = tls.flush(writer).await;
    }
}

/// The body of [`run_stream`]: `None` when the task ended the connection, else the reason.
async fn connect_and_serve(
    server: SocketAddr,
    security: Security,
    mut writes: mpsc::Receiver<Vec<u8>>,
    input: &mpsc::Sender<StreamInput>,
) -> Option<String> {
    let security = match security {
        Ok(security) => security,
        Err(reason) => return Some(format!("TLS with the TURN server is impossible: {reason}")),
    };
    let stream = match tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::TcpStream::connect(server)).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(error)) => return Some(format!("cannot connect to the TURN server over TCP: {error}")),
        Err(_) => return Some("connecting to the TURN server over TCP timed out".into()),
    };
    let _ = stream.set_nodelay(true);
    let (mut reader, mut writer) = stream.into_split();
    let mut tls = match security {
        None => None,
        Some((config, name)) => match ClientConnection::new(config, name) {
            Ok(session) => Some(TlsSession::new(session)),
            Err(e) => return Some(format!("TLS with the TURN server failed: {e}")),
        },
    };
    let handshake_deadline = tokio::time::Instant::now() + CONNECT_TIMEOUT;
    let mut buffer = vec![0u8; READ_CHUNK];
    loop {
        if let Some(tls) = &mut tls {
            if let Err(e) = tls.flush(&mut writer).await {
                return Some(format!("TLS write to the TURN server failed: {e}"));
            }
        }
        let handshaking = tls.as_ref().is_some_and(|t| t.session.is_handshaking());
        tokio::select! {
            bytes = writes.recv() => match bytes {
                Some(bytes) => {
                    let written = match &mut tls {
                        Some(tls) => tls.write(&bytes, &mut writer).await,
                        None => writer.write_all(&bytes).await,
                    };
                    if let Err(error) = written {
                        return Some(format!("write to the TURN server failed: {error}"));
                    }
                }
                // The connection's task has ended and what it queued is written.
                None => {
                    finish(tls.as_mut(), &mut writes, &mut writer).await;
                    return None;
                }
            },
            read = reader.read(&mut buffer) => {
                let n = match read {
                    Ok(0) => return Some("the TURN server closed the connection".into()),
                    Ok(n) => n,
                    Err(error) => return Some(format!("read from the TURN server failed: {error}")),
                };
                let chunk = buffer.get(..n).unwrap_or_default();
                let plain = match &mut tls {
                    None => Ok(chunk.to_vec()),
                    Some(tls) => tls.receive(chunk),
                };
                let plain = match plain {
                    Ok(plain) => plain,
                    Err(reason) => {
                        // Send the alert the session queued, then give up.
                        if let Some(tls) = &mut tls {
                            let _ = tls.flush(&mut writer).await;
                        }
                        return Some(reason);
                    }
                };
                if !plain.is_empty() && input.send(StreamInput::Data(server, plain)).await.is_err() {
                    // The connection's task has ended; its last frames (the Refresh with
                    // lifetime 0 that deletes the allocation) may still be queued.
                    finish(tls.as_mut(), &mut writes, &mut writer).await;
                    return None;
                }
                if tls.as_ref().is_some_and(|t| t.peer_closed) {
                    return Some("the TURN server closed the TLS connection".into());
                }
            },
            () = tokio::time::sleep_until(handshake_deadline), if handshaking => {
                return Some("the TLS handshake with the TURN server timed out".into());
            }
        }
    }
}

/// A client TLS session over the connection's socket.
struct TlsSession {
    session: ClientConnection,
    /// The server sent close_notify.
    peer_closed: bool,
    /// The records on their way to the socket; kept so that a write needs no allocation.
    outgoing: Vec<u8>,
}

impl TlsSession {
    fn new(session: ClientConnection) -> Self {
        TlsSession {
            session,
            peer_closed: false,
            outgoing: Vec::new(),
        }
    }

    /// Writes the records the session has ready to the socket.
    async fn flush(&mut self, writer: &mut OwnedWriteHalf) -> io::Result<()> {
        while self.session.wants_write() {
            self.outgoing.clear();
            self.session.write_tls(&mut self.outgoing)?;
            writer.write_all(&self.outgoing).await?;
        }
        Ok(())
    }

    /// Encrypts `bytes` and writes the records; before the handshake ends rustls keeps the
    /// plaintext (up to its buffer limit) and sends it once the handshake is done.
    async fn write(&mut self, mut bytes: &[u8], writer: &mut OwnedWriteHalf) -> io::Result<()> {
        while !bytes.is_empty() {
            let taken = self.session.writer().write(bytes)?;
            if taken == 0 {
                if self.session.is_handshaking() {
                    return Err(io::Error::new(
                        io::ErrorKind::WouldBlock,
                        "TLS buffer full before the handshake ended",
                    ));
                }
                // The buffer limit was reached: write the records out and go on.
                self.flush(writer).await?;
                continue;
            }
            bytes = bytes.get(taken..).unwrap_or_default();
            self.flush(writer).await?;
        }
        Ok(())
    }

    /// Feeds records read from the socket in; returns the plaintext they carried, or why the
    /// session failed (certificate not trusted, bad record, …).
    fn receive(&mut self, mut records: &[u8]) -> Result<Vec<u8>, String> {
        let mut plain = Vec::new();
        while !records.is_empty() {
            self.session
                .read_tls(&mut records)
                .map_err(|e| format!("TLS read from the TURN server failed: {e}"))?;
            let state = self
                .session
                .process_new_packets()
                .map_err(|e| format!("TLS with the TURN server failed: {e}"))?;
            let ready = state.plaintext_bytes_to_read();
            if ready > 0 {
                let start = plain.len();
                plain.resize(start + ready, 0);
                let target = plain.get_mut(start..).unwrap_or_default();
                self.session
                    .reader()
                    .read_exact(target)
                    .map_err(|e| format!("TLS read from the TURN server failed: {e}"))?;
            }
            if state.peer_has_closed() {
                self.peer_closed = true;
                break;
            }
        }
        Ok(plain)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_certificate_is_checked_against_the_url_host_as_written() {
        let ip = server_name(&IceServerHost::Ip("192.0.2.7".parse().unwrap())).unwrap();
        assert!(matches!(ip, ServerName::IpAddress(_)), "{ip:?}");
        let v6 = server_name(&IceServerHost::Ip("2001:db8::1".parse().unwrap())).unwrap();
        assert!(matches!(v6, ServerName::IpAddress(_)), "{v6:?}");
        let name = server_name(&IceServerHost::Domain("turn.example.org".into())).unwrap();
        assert_eq!(name.to_str(), "turn.example.org");
        // A host the URL parser let through that is no DNS name (a label over 63 bytes).
        let long = format!("{}.example.org", "a".repeat(64));
        let error = server_name(&IceServerHost::Domain(long)).unwrap_err();
        assert!(error.contains("cannot be checked against a certificate"), "{error}");
    }

    #[test]
    fn extra_roots_must_be_certificates() {
        assert!(tls_config(&[]).is_ok());
        let error = tls_config(&[CertificateDer::from(vec![0x30, 0x00])]).unwrap_err();
        assert!(
            matches!(&error, RtcError::Syntax(text) if text.contains("turn_tls_roots[0]")),
            "{error:?}"
        );
    }
}
