//! Binding the connection's UDP sockets.

use std::io;
use std::net::{IpAddr, SocketAddr};

use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::UdpSocket;
use tracing::debug;

/// The receive and send buffer size asked of the kernel for each socket.
///
/// The default on Linux (about 208 KiB) overflows under a burst of full-size
/// SCTP packets, and every overflow costs an SCTP retransmission timeout. The
/// kernel caps the request at `net.core.rmem_max` / `wmem_max`; a smaller
/// buffer is not an error.
pub(crate) const SOCKET_BUFFER: usize = 4 * 1024 * 1024;

/// Binds a UDP socket on `ip`, ephemeral port, with large buffers, ready for tokio.
///
/// Must be called inside a tokio runtime.
pub(crate) fn bind_udp(ip: IpAddr) -> io::Result<UdpSocket> {
    bind_udp_at(SocketAddr::new(ip, 0))
}

/// Binds a UDP socket on `address` with large buffers, ready for tokio.
///
/// Must be called inside a tokio runtime.
pub(crate) fn bind_udp_at(address: SocketAddr) -> io::Result<UdpSocket> {
    let ip = address.ip();
    let socket = Socket::new(Domain::for_address(address), Type::DGRAM, Some(Protocol::UDP))?;
    if ip.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    for (what, result) in [
        ("receive", socket.set_recv_buffer_size(SOCKET_BUFFER)),
        ("send", socket.set_send_buffer_size(SOCKET_BUFFER)),
    ] {
        if let Err(error) = result {
            debug!(%ip, %error, "cannot enlarge the {what} buffer");
        }
    }
    socket.bind(&address.into())?;
    socket.set_nonblocking(true)?;
    UdpSocket::from_std(socket.into())
}
