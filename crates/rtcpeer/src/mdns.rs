//! Resolving the `<uuid>.local` names browsers put in their host candidates (RFC 6762 one-shot
//! queries), and the per-connection bookkeeping that turns answers into candidates for the core.
//!
//! Each lookup runs as its own task on an ephemeral UDP socket: it sends the query (encoded by
//! [`rtcpeer_proto::mdns`]) to `224.0.0.251:5353` out of every local IPv4 address of the
//! connection, sends it again after 250 ms and 1 s, and gives up after 3 s. RFC 6762 §6.7 has
//! responders answer a query from a port other than 5353 by unicast to that port, but Chromium
//! multicasts every answer to the group: so a lookup also listens on `224.0.0.251:5353` (address
//! shared with the browser's own responder socket), joined on each interface. The connection task
//! collects the results; dropping the connection's [`Lookups`] aborts every lookup still running.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use rtcpeer_proto::ice::candidate::{Candidate, CandidateAddress, TransportProtocol};
use rtcpeer_proto::mdns::{self, MdnsError, RecordType};
use rtcpeer_proto::sdp::SessionDescription;
use socket2::{Domain, Protocol, SockRef, Socket, Type};
use tokio::net::UdpSocket;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tracing::{debug, trace};

use crate::proto::{IceCandidateInit, SessionDescriptionInit};

/// The IPv4 mDNS group and port (RFC 6762 §3).
pub const MDNS_IPV4: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(224, 0, 0, 251)), 5353);

/// The multicast TTL of a query (RFC 6762 §11: 255).
const MULTICAST_TTL: u32 = 255;
/// The largest response read; mDNS messages fit in 9000 bytes (RFC 6762 §17).
const MAX_RESPONSE: usize = 9000;
/// Lookups running at once per connection; candidates for further names are dropped.
pub(crate) const MAX_PENDING_LOOKUPS: usize = 16;
/// Names remembered per connection (resolved, failed or pending).
pub(crate) const MAX_NAMES: usize = 64;
/// Candidates waiting for one name.
const MAX_WAITING_PER_NAME: usize = 8;
/// Addresses kept per name.
const MAX_ADDRESSES_PER_NAME: usize = 4;
/// Local interfaces a query is sent out of.
const MAX_INTERFACES: usize = 8;

/// Why a `.local` name could not be resolved.
#[derive(Debug, thiserror::Error)]
pub enum MdnsResolveError {
    /// The name is not a `.local` name.
    #[error("{0:?} is not an mDNS .local name")]
    NotLocal(String),
    /// The query could not be encoded.
    #[error("cannot build the query: {0}")]
    Encode(#[from] MdnsError),
    /// The query socket could not be opened.
    #[error("cannot open the query socket: {0}")]
    Io(#[from] io::Error),
    /// Nobody answered in time.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// Resolution is turned off ([`MdnsResolver::disabled`]).
    #[error("mDNS resolution is disabled")]
    Disabled,
}

/// Resolves `.local` names with one-shot mDNS queries (rtcpeer extension, part of
/// [`RTCConfiguration`](crate::RTCConfiguration)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MdnsResolver {
    target: Option<SocketAddr>,
    retransmit_after: Vec<Duration>,
    give_up_after: Duration,
}

impl Default for MdnsResolver {
    fn default() -> Self {
        MdnsResolver::with_target(MDNS_IPV4)
    }
}

impl MdnsResolver {
    /// Queries the IPv4 mDNS group, [`MDNS_IPV4`].
    pub fn new() -> Self {
        MdnsResolver::default()
    }

    /// Queries `target` instead of the mDNS group: a unicast address is sent one datagram per
    /// attempt, with no multicast options (for tests with a responder on loopback).
    pub fn with_target(target: SocketAddr) -> Self {
        MdnsResolver {
            target: Some(target),
            retransmit_after: vec![Duration::from_millis(250), Duration::from_secs(1)],
            give_up_after: Duration::from_secs(3),
        }
    }

    /// Resolves nothing: `.local` candidates are ignored, as before this resolver existed.
    pub fn disabled() -> Self {
        MdnsResolver {
            target: None,
            ..MdnsResolver::default()
        }
    }

    /// Changes when the query is sent again (offsets from the first send) and when to give up.
    pub fn with_timing(mut self, retransmit_after: &[Duration], give_up_after: Duration) -> Self {
        self.retransmit_after = retransmit_after.to_vec();
        self.give_up_after = give_up_after;
        self
    }

    /// Where queries go, `None` when disabled.
    pub fn target(&self) -> Option<SocketAddr> {
        self.target
    }

    /// Resolves `name`, sending multicast queries out of each of `interfaces` (the default
    /// interface when empty). Returns the usable addresses of the first response that has any.
    pub async fn resolve(&self, name: &str, interfaces: &[Ipv4Addr]) -> Result<Vec<IpAddr>, MdnsResolveError> {
        let target = self.target.ok_or(MdnsResolveError::Disabled)?;
        if !mdns::is_mdns_name(name) {
            return Err(MdnsResolveError::NotLocal(name.chars().take(64).collect()));
        }
        let query = mdns::encode_query(0, name, &[RecordType::A, RecordType::Aaaa], true)?;
        let socket = self.open_socket(target).await?;
        let listener = if is_multicast_v4(target) {
            open_listener(target, interfaces)
                .inspect_err(|error| debug!(%target, %error, "cannot listen for multicast answers"))
                .ok()
        } else {
            None
        };
        let mut group_buffer = vec![0; if listener.is_some() { MAX_RESPONSE } else { 0 }];
        let start = Instant::now();
        let deadline = start + self.give_up_after;
        let mut schedule = self.retransmit_after.iter().map(|after| start + *after);
        let mut next_send = Some(start);
        let mut buffer = vec![0; MAX_RESPONSE];
        loop {
            tokio::select! {
                () = sleep_until(next_send), if next_send.is_some() => {
                    send_query(&socket, target, &query, interfaces).await;
                    next_send = schedule.next();
                }
                received = socket.recv_from(&mut buffer) => match received {
                    Ok((len, from)) => {
                        let addresses = usable_addresses(name, buffer.get(..len).unwrap_or_default(), from);
                        if !addresses.is_empty() {
                            debug!(name, ?addresses, %from, "resolved");
                            return Ok(addresses);
                        }
                    }
                    // An ICMP error for a unicast target, for example: keep waiting.
                    Err(error) => debug!(name, %error, "mDNS receive error"),
                },
                received = recv_from(listener.as_ref(), &mut group_buffer) => match received {
                    Ok((len, from)) => {
                        let addresses = usable_addresses(name, group_buffer.get(..len).unwrap_or_default(), from);
                        if !addresses.is_empty() {
                            debug!(name, ?addresses, %from, "resolved from a multicast answer");
                            return Ok(addresses);
                        }
                    }
                    Err(error) => debug!(name, %error, "mDNS group receive error"),
                },
                () = tokio::time::sleep_until(deadline) => {
                    debug!(name, "no mDNS answer");
                    return Err(MdnsResolveError::Timeout(self.give_up_after));
                }
            }
        }
    }

    async fn open_socket(&self, target: SocketAddr) -> io::Result<UdpSocket> {
        let bind: SocketAddr = match target {
            SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
            SocketAddr::V6(_) => (std::net::Ipv6Addr::UNSPECIFIED, 0).into(),
        };
        let socket = UdpSocket::bind(bind).await?;
        if is_multicast_v4(target) {
            socket.set_multicast_ttl_v4(MULTICAST_TTL)?;
            socket.set_multicast_loop_v4(true)?;
        }
        Ok(socket)
    }
}

/// Whether `target` is an IPv4 multicast group.
fn is_multicast_v4(target: SocketAddr) -> bool {
    target.is_ipv4() && target.ip().is_multicast()
}

/// A socket bound to the group and port of `target`, shared with other listeners (the browser's
/// responder among them), that has joined the group on each of `interfaces`.
fn open_listener(target: SocketAddr, interfaces: &[Ipv4Addr]) -> io::Result<UdpSocket> {
    let IpAddr::V4(group) = target.ip() else {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "not an IPv4 group"));
    };
    let socket = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.bind(&target.into())?;
    let mut joined = false;
    let any = [Ipv4Addr::UNSPECIFIED];
    let interfaces = if interfaces.is_empty() { &any[..] } else { interfaces };
    for interface in interfaces.iter().take(MAX_INTERFACES) {
        match socket.join_multicast_v4(&group, interface) {
            Ok(()) => joined = true,
            Err(error) => debug!(%interface, %error, "cannot join the mDNS group"),
        }
    }
    if !joined {
        return Err(io::Error::other("joined the mDNS group on no interface"));
    }
    socket.set_nonblocking(true)?;
    UdpSocket::from_std(socket.into())
}

/// Receives on `socket`; never completes without one.
async fn recv_from(socket: Option<&UdpSocket>, buffer: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
    match socket {
        Some(socket) => socket.recv_from(buffer).await,
        None => std::future::pending().await,
    }
}

/// Sends `query` to `target`; to a multicast group once out of each interface.
async fn send_query(socket: &UdpSocket, target: SocketAddr, query: &[u8], interfaces: &[Ipv4Addr]) {
    let multicast = is_multicast_v4(target);
    if !multicast || interfaces.is_empty() {
        if let Err(error) = socket.send_to(query, target).await {
            debug!(%target, %error, "cannot send the mDNS query");
        }
        return;
    }
    for interface in interfaces.iter().take(MAX_INTERFACES) {
        if let Err(error) = SockRef::from(socket).set_multicast_if_v4(interface) {
            debug!(%interface, %error, "cannot choose the multicast interface");
            continue;
        }
        match socket.send_to(query, target).await {
            Ok(_) => trace!(%interface, "mDNS query sent"),
            Err(error) => debug!(%interface, %error, "cannot send the mDNS query"),
        }
    }
}

/// The addresses a datagram gives for `name` that a candidate can use.
fn usable_addresses(name: &str, datagram: &[u8], from: SocketAddr) -> Vec<IpAddr> {
    match mdns::decode(datagram) {
        Ok(message) => message
            .addresses_for(name)
            .into_iter()
            .filter(is_usable)
            .take(MAX_ADDRESSES_PER_NAME)
            .collect(),
        Err(error) => {
            debug!(%from, %error, "ignoring a malformed mDNS datagram");
            Vec::new()
        }
    }
}

/// Whether a resolved address can be a candidate: not unspecified, multicast or broadcast, and
/// not an IPv6 link-local address (a candidate cannot carry its scope).
fn is_usable(ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => !v4.is_unspecified() && !v4.is_multicast() && !v4.is_broadcast(),
        IpAddr::V6(v6) => !v6.is_unspecified() && !v6.is_multicast() && !v6.is_unicast_link_local(),
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    if let Some(deadline) = deadline {
        tokio::time::sleep_until(deadline).await
    }
}

/// What a connection knows about one name.
#[derive(Debug)]
enum NameState {
    /// A lookup is running; these candidates wait for it.
    Pending(Vec<IceCandidateInit>),
    Resolved(Vec<IpAddr>),
    Failed,
}

/// The outcome of one lookup task.
pub(crate) type LookupResult = (String, Result<Vec<IpAddr>, MdnsResolveError>);

/// A connection's mDNS lookups: its cache of names, the candidates waiting for them, and the
/// running lookup tasks, which are aborted when this is dropped.
pub(crate) struct Lookups {
    resolver: MdnsResolver,
    interfaces: Vec<Ipv4Addr>,
    names: HashMap<String, NameState>,
    tasks: JoinSet<LookupResult>,
}

impl Lookups {
    /// Lookups with `resolver`, querying out of the IPv4 addresses among `local`.
    pub(crate) fn new(resolver: MdnsResolver, local: &[SocketAddr]) -> Self {
        let mut interfaces = Vec::new();
        for address in local {
            if let IpAddr::V4(ip) = address.ip() {
                if !ip.is_unspecified() && !interfaces.contains(&ip) {
                    interfaces.push(ip);
                }
            }
        }
        Lookups {
            resolver,
            interfaces,
            names: HashMap::new(),
            tasks: JoinSet::new(),
        }
    }

    /// Whether a lookup is running.
    pub(crate) fn is_busy(&self) -> bool {
        !self.tasks.is_empty()
    }

    /// The next finished lookup; pending forever while none runs.
    pub(crate) async fn next(&mut self) -> LookupResult {
        loop {
            match self.tasks.join_next().await {
                Some(Ok(result)) => return result,
                Some(Err(error)) => debug!(%error, "an mDNS lookup task ended abnormally"),
                None => std::future::pending::<()>().await,
            }
        }
    }

    /// Takes a candidate the core accepted: if it names a `.local` host, returns the candidates
    /// with known addresses to add now, or starts (or joins) a lookup and returns nothing.
    pub(crate) fn request(&mut self, init: &IceCandidateInit) -> Vec<IceCandidateInit> {
        let Some(name) = mdns_name(&init.candidate) else {
            return Vec::new();
        };
        if self.resolver.target.is_none() {
            return Vec::new();
        }
        let key = name.to_ascii_lowercase();
        match self.names.get_mut(&key) {
            Some(NameState::Resolved(addresses)) => return with_addresses(init, addresses),
            Some(NameState::Failed) => {
                debug!(name, "not resolved earlier; candidate ignored");
                return Vec::new();
            }
            Some(NameState::Pending(waiting)) => {
                if waiting.len() < MAX_WAITING_PER_NAME {
                    waiting.push(init.clone());
                } else {
                    debug!(name, "too many candidates wait for this name; candidate dropped");
                }
                return Vec::new();
            }
            None => {}
        }
        let pending = self
            .names
            .values()
            .filter(|s| matches!(s, NameState::Pending(_)))
            .count();
        if pending >= MAX_PENDING_LOOKUPS || self.names.len() >= MAX_NAMES {
            debug!(
                name,
                pending,
                names = self.names.len(),
                "too many mDNS names; candidate dropped"
            );
            return Vec::new();
        }
        debug!(name, "resolving");
        self.names.insert(key.clone(), NameState::Pending(vec![init.clone()]));
        let resolver = self.resolver.clone();
        let interfaces = self.interfaces.clone();
        self.tasks.spawn(async move {
            let result = resolver.resolve(&key, &interfaces).await;
            (key, result)
        });
        Vec::new()
    }

    /// [`request`](Self::request) for every `.local` candidate in a remote description the core accepted.
    pub(crate) fn request_from_description(&mut self, description: &SessionDescriptionInit) -> Vec<IceCandidateInit> {
        let Ok(parsed) = SessionDescription::parse(&description.sdp) else {
            return Vec::new();
        };
        let mut ready = Vec::new();
        for (index, section) in parsed.media_sections().enumerate() {
            for candidate in section.candidates() {
                let init = IceCandidateInit {
                    candidate: candidate.to_string(),
                    sdp_mid: section.mid().map(str::to_owned),
                    sdp_m_line_index: u16::try_from(index).ok(),
                    username_fragment: section.ice_ufrag().map(str::to_owned),
                };
                ready.extend(self.request(&init));
            }
        }
        ready
    }

    /// Records a finished lookup and returns the candidates it makes ready.
    pub(crate) fn finish(&mut self, result: LookupResult) -> Vec<IceCandidateInit> {
        let (key, result) = result;
        let waiting = match self.names.remove(&key) {
            Some(NameState::Pending(waiting)) => waiting,
            other => {
                // Not pending: nothing waits; keep what was known.
                if let Some(state) = other {
                    self.names.insert(key, state);
                }
                return Vec::new();
            }
        };
        match result {
            Ok(addresses) => {
                let ready = waiting
                    .iter()
                    .flat_map(|init| with_addresses(init, &addresses))
                    .collect();
                self.names.insert(key, NameState::Resolved(addresses));
                ready
            }
            Err(error) => {
                debug!(name = key, %error, "mDNS lookup failed; its candidates are ignored");
                self.names.insert(key, NameState::Failed);
                Vec::new()
            }
        }
    }
}

/// The `.local` name of a UDP component-1 candidate, if it has one.
fn mdns_name(candidate: &str) -> Option<String> {
    let parsed = Candidate::parse(candidate).ok()?;
    if parsed.component != 1 || parsed.protocol != TransportProtocol::Udp {
        return None;
    }
    match parsed.address {
        CandidateAddress::Hostname(name) if mdns::is_mdns_name(&name) => Some(name),
        _ => None,
    }
}

/// `init` once per address, with the address in place of the candidate's name.
fn with_addresses(init: &IceCandidateInit, addresses: &[IpAddr]) -> Vec<IceCandidateInit> {
    let Ok(candidate) = Candidate::parse(&init.candidate) else {
        return Vec::new();
    };
    addresses
        .iter()
        .map(|ip| IceCandidateInit {
            candidate: Candidate {
                address: CandidateAddress::Ip(*ip),
                ..candidate.clone()
            }
            .to_string(),
            ..init.clone()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAME: &str = "4c0e2b1a-55aa-4d7e-9c1b-0123456789ab.local";

    fn init(address: &str) -> IceCandidateInit {
        IceCandidateInit {
            candidate: format!("candidate:1 1 udp 2122260223 {address} 54321 typ host generation 0"),
            sdp_mid: Some("0".into()),
            sdp_m_line_index: None,
            username_fragment: Some("abcd".into()),
        }
    }

    #[test]
    fn names_only_udp_component_one_local_candidates() {
        assert_eq!(mdns_name(&init(NAME).candidate).as_deref(), Some(NAME));
        assert_eq!(mdns_name(&init("192.0.2.1").candidate), None);
        assert_eq!(mdns_name(&init("host.example").candidate), None);
        let rtcp = format!("candidate:1 2 udp 2122260222 {NAME} 54322 typ host");
        assert_eq!(mdns_name(&rtcp), None);
    }

    #[test]
    fn substitutes_each_address_and_keeps_the_rest() {
        let ready = with_addresses(
            &init(NAME),
            &[IpAddr::from([192, 0, 2, 1]), "2001:db8::1".parse().unwrap()],
        );
        assert_eq!(ready.len(), 2);
        assert_eq!(
            ready[0].candidate,
            "candidate:1 1 udp 2122260223 192.0.2.1 54321 typ host generation 0"
        );
        assert_eq!(
            ready[1].candidate,
            "candidate:1 1 udp 2122260223 2001:db8::1 54321 typ host generation 0"
        );
        assert_eq!(ready[0].sdp_mid.as_deref(), Some("0"));
        assert_eq!(ready[0].username_fragment.as_deref(), Some("abcd"));
    }

    #[test]
    fn filters_unusable_addresses() {
        assert!(is_usable(&IpAddr::from([127, 0, 0, 1])));
        assert!(!is_usable(&IpAddr::from([0, 0, 0, 0])));
        assert!(!is_usable(&IpAddr::from([224, 0, 0, 251])));
        assert!(!is_usable(&"fe80::1".parse().unwrap()));
    }

    #[tokio::test]
    async fn a_resolved_name_is_cached_and_a_failed_one_is_not_retried() {
        // A target that never answers: nothing is sent off loopback.
        let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let resolver = MdnsResolver::with_target(silent.local_addr().unwrap());
        let mut lookups = Lookups::new(resolver, &[]);
        assert!(lookups.request(&init(NAME)).is_empty());
        assert!(lookups.is_busy());
        // A second candidate for the same name waits for the same lookup.
        let mut second = init(NAME);
        second.candidate = second.candidate.replace("54321", "54329");
        assert!(lookups.request(&second).is_empty());
        assert_eq!(lookups.tasks.len(), 1);

        let ready = lookups.finish((NAME.to_owned(), Ok(vec![IpAddr::from([192, 0, 2, 1])])));
        let ready: Vec<_> = ready.iter().map(|i| i.candidate.as_str()).collect();
        assert_eq!(
            ready,
            [
                "candidate:1 1 udp 2122260223 192.0.2.1 54321 typ host generation 0",
                "candidate:1 1 udp 2122260223 192.0.2.1 54329 typ host generation 0"
            ]
        );
        // Now known: answered at once, in any case.
        let upper = init(&NAME.to_uppercase());
        assert_eq!(lookups.request(&upper).len(), 1);

        let other = "0000aaaa-55aa-4d7e-9c1b-0123456789ab.local";
        assert!(lookups.request(&init(other)).is_empty());
        assert!(lookups
            .finish((other.to_owned(), Err(MdnsResolveError::Timeout(Duration::ZERO))))
            .is_empty());
        assert!(lookups.request(&init(other)).is_empty());
        assert_eq!(lookups.tasks.len(), 2, "no new lookup for a failed name");
    }

    #[tokio::test]
    async fn bounds_the_lookups_running_at_once() {
        let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut lookups = Lookups::new(MdnsResolver::with_target(silent.local_addr().unwrap()), &[]);
        for n in 0..MAX_PENDING_LOOKUPS + 5 {
            lookups.request(&init(&format!("name{n}.local")));
        }
        assert_eq!(lookups.tasks.len(), MAX_PENDING_LOOKUPS);
        assert_eq!(lookups.names.len(), MAX_PENDING_LOOKUPS);
    }

    #[tokio::test]
    async fn disabled_resolver_starts_nothing() {
        let mut lookups = Lookups::new(MdnsResolver::disabled(), &[]);
        assert!(lookups.request(&init(NAME)).is_empty());
        assert!(!lookups.is_busy());
        assert!(matches!(
            MdnsResolver::disabled().resolve(NAME, &[]).await,
            Err(MdnsResolveError::Disabled)
        ));
    }
}
