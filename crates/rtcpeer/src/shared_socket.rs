//! [`SharedUdpSocket`]: one UDP port shared by many connections, as media servers use.
//!
//! One task reads the socket and hands each datagram to the connection it belongs to:
//!
//! - a STUN Binding request whose USERNAME (`local-ufrag:remote-ufrag`, RFC 8445 §7.2.2) starts with
//!   the ICE ufrag of one of the connections goes to that connection, which from then on also owns
//!   the request's source address;
//! - anything else goes to the connection owning its source address: one that sent it a STUN
//!   request, or one that sent a datagram to it first.
//!
//! Datagrams no connection owns are dropped and counted ([`SharedUdpSocket::unrouted`]). A remote
//! address belongs to one connection at a time, so two connections sharing a port cannot talk to the
//! same remote address and port (one side's host candidate); a browser or another process with its
//! own port per connection is what this is for.

use std::collections::{HashMap, HashSet, VecDeque};
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use rtcpeer_proto::stun::{peek_header, Class, Message, Method};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, trace};

use crate::socket;

/// Datagrams waiting for one connection's task; more are dropped (as a full socket buffer drops them).
pub const SHARED_RECEIVE_QUEUE: usize = 256;

/// The most remote addresses one connection owns at once; claiming another releases its oldest.
pub const ADDRESSES_PER_CONNECTION: usize = 32;

/// The largest UDP payload.
const MAX_DATAGRAM: usize = 65_535;

/// One datagram for a connection: its bytes and where it came from.
type Datagram = (Vec<u8>, SocketAddr);

/// A UDP socket whose port many [`RTCPeerConnection`](crate::RTCPeerConnection)s share.
///
/// Give a clone to each connection through
/// [`RTCConfiguration::shared_socket`](crate::RTCConfiguration::shared_socket); the connection then binds
/// no socket of its own and gathers one host candidate, this socket's address. The socket closes when
/// the last clone and the last connection using it are gone.
#[derive(Clone)]
pub struct SharedUdpSocket {
    inner: Arc<Inner>,
}

struct Inner {
    socket: Arc<UdpSocket>,
    local: SocketAddr,
    routes: Arc<Mutex<Routes>>,
    unrouted: Arc<AtomicU64>,
    /// Dropped with the last handle: ends the reading task.
    _stop: oneshot::Sender<()>,
}

/// Which connection gets what.
#[derive(Default)]
struct Routes {
    next_id: u64,
    connections: HashMap<u64, Route>,
    by_ufrag: HashMap<String, u64>,
    by_address: HashMap<SocketAddr, u64>,
}

/// One registered connection.
struct Route {
    inbox: mpsc::Sender<Datagram>,
    ufrag: Option<String>,
    /// The addresses it owns, oldest first.
    addresses: VecDeque<SocketAddr>,
}

impl std::fmt::Debug for SharedUdpSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedUdpSocket")
            .field("local", &self.inner.local)
            .field("connections", &self.connections())
            .finish_non_exhaustive()
    }
}

impl SharedUdpSocket {
    /// Binds `address` (a concrete IP, not `0.0.0.0`/`::`; port 0 picks one) and starts reading it.
    ///
    /// Must be called inside a tokio runtime.
    pub fn bind(address: SocketAddr) -> io::Result<SharedUdpSocket> {
        if address.ip().is_unspecified() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{address} is unspecified; a shared socket is a host candidate and needs an interface address"),
            ));
        }
        let socket = Arc::new(socket::bind_udp_at(address)?);
        let local = socket.local_addr()?;
        let routes = Arc::new(Mutex::new(Routes::default()));
        let unrouted = Arc::new(AtomicU64::new(0));
        let (stop, stopped) = oneshot::channel();
        tokio::spawn(read_loop(socket.clone(), routes.clone(), unrouted.clone(), stopped));
        debug!(%local, "shared UDP socket bound");
        Ok(SharedUdpSocket {
            inner: Arc::new(Inner {
                socket,
                local,
                routes,
                unrouted,
                _stop: stop,
            }),
        })
    }

    /// The address the socket is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.inner.local
    }

    /// How many connections use the socket now.
    pub fn connections(&self) -> usize {
        lock(&self.inner.routes).connections.len()
    }

    /// Datagrams dropped because no connection owned them or the owner's queue was full.
    pub fn unrouted(&self) -> u64 {
        self.inner.unrouted.load(Ordering::Relaxed)
    }

    /// Registers a connection; its datagrams arrive on the returned port until it is dropped.
    pub(crate) fn register(&self) -> SharedPort {
        let (inbox, receiver) = mpsc::channel(SHARED_RECEIVE_QUEUE);
        let mut routes = lock(&self.inner.routes);
        let id = routes.next_id;
        routes.next_id += 1;
        routes.connections.insert(
            id,
            Route {
                inbox,
                ufrag: None,
                addresses: VecDeque::new(),
            },
        );
        SharedPort {
            shared: self.clone(),
            id,
            receiver,
            closed: false,
            claimed: HashSet::new(),
        }
    }
}

/// A connection's use of a [`SharedUdpSocket`]: its inbox and its claims.
pub(crate) struct SharedPort {
    shared: SharedUdpSocket,
    id: u64,
    receiver: mpsc::Receiver<Datagram>,
    /// The reading task has ended (the socket failed): nothing more arrives.
    closed: bool,
    /// Destinations this connection has sent to (claimed once each).
    claimed: HashSet<SocketAddr>,
}

impl SharedPort {
    /// The shared socket's address.
    pub(crate) fn local_addr(&self) -> SocketAddr {
        self.shared.inner.local
    }

    /// Routes STUN requests for `ufrag` (our ICE ufrag) here from now on, instead of any earlier one.
    pub(crate) fn set_ufrag(&mut self, ufrag: &str) {
        let mut routes = lock(&self.shared.inner.routes);
        let Some(route) = routes.connections.get_mut(&self.id) else {
            return;
        };
        if route.ufrag.as_deref() == Some(ufrag) {
            return;
        }
        let old = route.ufrag.replace(ufrag.to_owned());
        if let Some(old) = old {
            if routes.by_ufrag.get(&old) == Some(&self.id) {
                routes.by_ufrag.remove(&old);
            }
        }
        trace!(ufrag, "shared socket: ufrag registered");
        routes.by_ufrag.insert(ufrag.to_owned(), self.id);
    }

    /// Sends `contents` to `destination`; the first send to an address nobody owns claims it.
    pub(crate) async fn send_to(&mut self, contents: &[u8], destination: SocketAddr) -> io::Result<usize> {
        if self.claimed.len() < ADDRESSES_PER_CONNECTION * 4 && self.claimed.insert(destination) {
            let mut routes = lock(&self.shared.inner.routes);
            if !routes.by_address.contains_key(&destination) {
                routes.claim(self.id, destination);
            }
        }
        self.shared.inner.socket.send_to(contents, destination).await
    }

    /// Like [`poll_recv`](Self::poll_recv), without waiting: `None` when no datagram is queued.
    pub(crate) fn try_recv(&mut self) -> Option<Datagram> {
        if self.closed {
            return None;
        }
        self.receiver.try_recv().ok()
    }

    /// The next datagram for this connection, with its source.
    pub(crate) fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Datagram> {
        if self.closed {
            return Poll::Pending;
        }
        match self.receiver.poll_recv(cx) {
            Poll::Ready(Some(datagram)) => Poll::Ready(datagram),
            Poll::Ready(None) => {
                self.closed = true;
                Poll::Pending
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl Drop for SharedPort {
    fn drop(&mut self) {
        let mut routes = lock(&self.shared.inner.routes);
        if let Some(route) = routes.connections.remove(&self.id) {
            if let Some(ufrag) = route.ufrag {
                if routes.by_ufrag.get(&ufrag) == Some(&self.id) {
                    routes.by_ufrag.remove(&ufrag);
                }
            }
            for address in route.addresses {
                if routes.by_address.get(&address) == Some(&self.id) {
                    routes.by_address.remove(&address);
                }
            }
        }
    }
}

impl Routes {
    /// Makes `address` belong to connection `id`, releasing the connection's oldest address beyond the limit.
    fn claim(&mut self, id: u64, address: SocketAddr) {
        if !self.connections.contains_key(&id) {
            return;
        }
        if let Some(previous) = self.by_address.insert(address, id) {
            if previous == id {
                return;
            }
            if let Some(other) = self.connections.get_mut(&previous) {
                other.addresses.retain(|a| *a != address);
            }
        }
        let Some(route) = self.connections.get_mut(&id) else {
            return;
        };
        route.addresses.push_back(address);
        if route.addresses.len() > ADDRESSES_PER_CONNECTION {
            if let Some(oldest) = route.addresses.pop_front() {
                if self.by_address.get(&oldest) == Some(&id) {
                    self.by_address.remove(&oldest);
                }
            }
        }
    }

    /// The connection `datagram` from `source` belongs to, claiming `source` for it when it is a STUN
    /// request naming its ufrag.
    fn route(&mut self, source: SocketAddr, datagram: &[u8]) -> Option<&mpsc::Sender<Datagram>> {
        let id = match request_ufrag(datagram).and_then(|ufrag| self.by_ufrag.get(ufrag.as_str()).copied()) {
            Some(id) => {
                if self.by_address.get(&source) != Some(&id) {
                    self.claim(id, source);
                }
                id
            }
            None => *self.by_address.get(&source)?,
        };
        self.connections.get(&id).map(|route| &route.inbox)
    }
}

/// The local ufrag named by a STUN Binding request's USERNAME (the part before the colon), if `datagram`
/// is one.
fn request_ufrag(datagram: &[u8]) -> Option<String> {
    match peek_header(datagram) {
        Ok((Class::Request, Method::BINDING, _)) => {}
        _ => return None,
    }
    let message = Message::decode(datagram).ok()?;
    let username = message.username()?;
    let local = username.split(':').next()?;
    (!local.is_empty()).then(|| local.to_owned())
}

fn lock(routes: &Mutex<Routes>) -> MutexGuard<'_, Routes> {
    // A panic while holding the lock leaves the maps consistent enough to go on.
    routes.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Reads the socket and routes each datagram until every handle is gone.
async fn read_loop(
    socket: Arc<UdpSocket>,
    routes: Arc<Mutex<Routes>>,
    unrouted: Arc<AtomicU64>,
    mut stopped: oneshot::Receiver<()>,
) {
    let mut buffer = vec![0u8; MAX_DATAGRAM];
    loop {
        let received = tokio::select! {
            _ = &mut stopped => break,
            received = socket.recv_from(&mut buffer) => received,
        };
        let (len, source) = match received {
            Ok(received) => received,
            Err(error) => {
                // ECONNREFUSED after an ICMP port unreachable and the like: never fatal.
                debug!(%error, "shared socket receive error");
                continue;
            }
        };
        let datagram = buffer.get(..len).unwrap_or_default();
        let delivered = match lock(&routes).route(source, datagram) {
            Some(inbox) => inbox.try_send((datagram.to_vec(), source)).is_ok(),
            None => false,
        };
        if !delivered {
            trace!(%source, len, "shared socket: datagram dropped (no owner or queue full)");
            unrouted.fetch_add(1, Ordering::Relaxed);
        }
    }
    debug!("shared UDP socket closed");
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtcpeer_proto::stun::{Attribute, TransactionId};

    fn binding_request(username: &str) -> Vec<u8> {
        Message::new(Class::Request, Method::BINDING, TransactionId::random())
            .with(Attribute::Username(username.to_owned()))
            .encode()
            .expect("encodes")
    }

    fn routes_with(ids: usize) -> (Routes, Vec<mpsc::Receiver<Datagram>>) {
        let mut routes = Routes::default();
        let mut receivers = Vec::new();
        for id in 0..ids as u64 {
            let (inbox, receiver) = mpsc::channel(4);
            routes.connections.insert(
                id,
                Route {
                    inbox,
                    ufrag: None,
                    addresses: VecDeque::new(),
                },
            );
            receivers.push(receiver);
        }
        routes.next_id = ids as u64;
        (routes, receivers)
    }

    fn routed_to(routes: &mut Routes, source: SocketAddr, datagram: &[u8]) -> Option<u64> {
        let inbox = routes.route(source, datagram)?.clone();
        routes
            .connections
            .iter()
            .find(|(_, route)| route.inbox.same_channel(&inbox))
            .map(|(id, _)| *id)
    }

    #[test]
    fn the_ufrag_of_a_binding_request_picks_the_connection_and_claims_the_source() {
        let (mut routes, _receivers) = routes_with(2);
        routes.by_ufrag.insert("aaaa".into(), 0);
        routes.by_ufrag.insert("bbbb".into(), 1);
        let first: SocketAddr = "127.0.0.1:4000".parse().unwrap();
        let second: SocketAddr = "127.0.0.1:4001".parse().unwrap();
        assert_eq!(routed_to(&mut routes, first, &binding_request("bbbb:remote")), Some(1));
        assert_eq!(routed_to(&mut routes, second, &binding_request("aaaa:remote")), Some(0));
        // DTLS from those sources follows the claim.
        let dtls = [22u8, 0xfe, 0xfd, 0, 0];
        assert_eq!(routed_to(&mut routes, first, &dtls), Some(1));
        assert_eq!(routed_to(&mut routes, second, &dtls), Some(0));
        // Unknown ufrags and unknown sources go nowhere.
        let third: SocketAddr = "127.0.0.1:4002".parse().unwrap();
        assert_eq!(routed_to(&mut routes, third, &binding_request("cccc:remote")), None);
        assert_eq!(routed_to(&mut routes, third, &dtls), None);
        // A request for the other connection moves the address over.
        assert_eq!(routed_to(&mut routes, first, &binding_request("aaaa:remote")), Some(0));
        assert_eq!(routed_to(&mut routes, first, &dtls), Some(0));
        assert_eq!(routes.connections[&1].addresses.len(), 0);
    }

    #[test]
    fn a_connection_owns_a_bounded_number_of_addresses() {
        let (mut routes, _receivers) = routes_with(1);
        routes.by_ufrag.insert("aaaa".into(), 0);
        for port in 0..(ADDRESSES_PER_CONNECTION as u16 + 10) {
            let source = SocketAddr::from(([127, 0, 0, 1], 5000 + port));
            assert_eq!(routed_to(&mut routes, source, &binding_request("aaaa:x")), Some(0));
        }
        assert_eq!(routes.by_address.len(), ADDRESSES_PER_CONNECTION);
        assert_eq!(routes.connections[&0].addresses.len(), ADDRESSES_PER_CONNECTION);
        // The oldest were released.
        let oldest = SocketAddr::from(([127, 0, 0, 1], 5000));
        assert_eq!(routed_to(&mut routes, oldest, &[22u8, 0xfe, 0xfd]), None);
    }

    #[test]
    fn malformed_stun_is_not_routed_by_ufrag() {
        let mut request = binding_request("aaaa:b");
        request.truncate(request.len() - 3);
        assert_eq!(request_ufrag(&request), None);
        assert_eq!(request_ufrag(&[0, 1, 0]), None);
        assert_eq!(request_ufrag(&binding_request(":b")), None);
        assert_eq!(request_ufrag(&binding_request("aaaa:b")).as_deref(), Some("aaaa"));
    }
}
