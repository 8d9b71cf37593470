//! Choosing the local addresses to gather host candidates on.

use std::io;
use std::net::IpAddr;

use if_addrs::IfOperStatus;

/// One local address as the operating system reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LocalAddress {
    /// The interface's address.
    pub ip: IpAddr,
    /// Whether the interface is usable (operationally up, or "unknown" as loopback and many virtual devices report).
    pub up: bool,
}

/// The addresses of this machine's interfaces.
pub(crate) fn system_addresses() -> io::Result<Vec<LocalAddress>> {
    Ok(if_addrs::get_if_addrs()?
        .into_iter()
        .map(|interface| LocalAddress {
            ip: interface.ip(),
            up: matches!(interface.oper_status, IfOperStatus::Up | IfOperStatus::Unknown),
        })
        .collect())
}

fn is_link_local(ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_link_local(),
        IpAddr::V6(v6) => v6.is_unicast_link_local(),
    }
}

/// The default gathering policy: every address of an interface that is up,
/// without link-local and unspecified addresses; loopback only when nothing else is left.
pub(crate) fn default_addresses(system: &[LocalAddress]) -> Vec<IpAddr> {
    let mut usable: Vec<IpAddr> = Vec::new();
    for address in system {
        if address.up && !is_link_local(&address.ip) && !address.ip.is_unspecified() && !usable.contains(&address.ip) {
            usable.push(address.ip);
        }
    }
    let (loopback, others): (Vec<IpAddr>, Vec<IpAddr>) = usable.into_iter().partition(|ip| ip.is_loopback());
    if others.is_empty() {
        loopback
    } else {
        others
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn up(ip: &str) -> LocalAddress {
        LocalAddress {
            ip: ip.parse().unwrap(),
            up: true,
        }
    }

    fn ips(list: &[&str]) -> Vec<IpAddr> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    #[test]
    fn loopback_and_link_local_are_left_out_when_there_is_a_real_interface() {
        let system = [
            up("127.0.0.1"),
            up("::1"),
            up("192.0.2.2"),
            up("fd00::2"),
            up("fe80::1"),
            up("169.254.1.1"),
        ];
        assert_eq!(default_addresses(&system), ips(&["192.0.2.2", "fd00::2"]));
    }

    #[test]
    fn loopback_is_used_when_it_is_the_only_interface() {
        let system = [up("127.0.0.1"), up("::1"), up("fe80::1")];
        assert_eq!(default_addresses(&system), ips(&["127.0.0.1", "::1"]));
    }

    #[test]
    fn interfaces_that_are_down_are_skipped() {
        let mut down = up("198.51.100.7");
        down.up = false;
        assert_eq!(default_addresses(&[down, up("203.0.113.9")]), ips(&["203.0.113.9"]));
    }

    #[test]
    fn this_machine_has_at_least_one_default_address() {
        let system = system_addresses().expect("getifaddrs works");
        assert!(!default_addresses(&system).is_empty(), "{system:?}");
    }
}
