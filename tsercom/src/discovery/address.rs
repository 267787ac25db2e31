//! Which of a peer's advertised addresses to dial, and in which order.
//!
//! - Loopback addresses are dialed only when the peer advertises nothing
//!   else (tsercom's loopback-only mode, a peer on this host): a remote
//!   host's 127.0.0.1 is this host.
//! - IPv6 link-local addresses (`fe80::/10`) are skipped: without the
//!   interface's scope id, which announcements do not carry here, they
//!   cannot be dialed.
//! - Unspecified and multicast addresses are skipped.
//! - The rest in this order: IPv4 (private or global), global IPv6,
//!   unique-local IPv6 (`fc00::/7`), IPv4 link-local (`169.254/16`); the
//!   announcement's order is kept within each class.

use std::net::{IpAddr, Ipv6Addr};

/// The addresses to dial, best first (see the module docs).
pub fn dial_order(addresses: &[IpAddr]) -> Vec<IpAddr> {
    let mut unique: Vec<IpAddr> = Vec::with_capacity(addresses.len());
    for ip in addresses {
        if !unique.contains(ip) {
            unique.push(*ip);
        }
    }
    if !unique.is_empty() && unique.iter().all(IpAddr::is_loopback) {
        // IPv4 first: tsercom's loopback mode answers on 127.0.0.1.
        unique.sort_by_key(|ip| ip.is_ipv6());
        return unique;
    }
    let mut ranked: Vec<(u8, IpAddr)> = unique
        .into_iter()
        .filter_map(|ip| rank(ip).map(|r| (r, ip)))
        .collect();
    // A stable sort keeps the announcement's order within a class.
    ranked.sort_by_key(|(r, _)| *r);
    ranked.into_iter().map(|(_, ip)| ip).collect()
}

/// The class of a dialable non-loopback address (lower first); `None`:
/// never dialed.
fn rank(ip: IpAddr) -> Option<u8> {
    if ip.is_loopback() || ip.is_unspecified() || ip.is_multicast() {
        return None;
    }
    match ip {
        IpAddr::V4(v4) if v4.is_link_local() => Some(3),
        IpAddr::V4(v4) if v4.is_broadcast() => None,
        IpAddr::V4(_) => Some(0),
        IpAddr::V6(v6) if is_link_local_v6(&v6) => None,
        IpAddr::V6(v6) if v6.to_ipv4_mapped().is_some() => Some(0),
        IpAddr::V6(v6) if is_unique_local_v6(&v6) => Some(2),
        IpAddr::V6(_) => Some(1),
    }
}

fn is_link_local_v6(ip: &Ipv6Addr) -> bool {
    (ip.segments()[0] & 0xffc0) == 0xfe80
}

fn is_unique_local_v6(ip: &Ipv6Addr) -> bool {
    (ip.segments()[0] & 0xfe00) == 0xfc00
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ips(list: &[&str]) -> Vec<IpAddr> {
        list.iter().map(|s| s.parse().expect(s)).collect()
    }

    #[test]
    fn a_remote_peers_loopback_is_never_dialed() {
        assert_eq!(
            dial_order(&ips(&["127.0.0.1", "::1", "192.168.1.20"])),
            ips(&["192.168.1.20"])
        );
        assert_eq!(
            dial_order(&ips(&["127.0.0.1", "10.0.0.7", "127.0.1.1"])),
            ips(&["10.0.0.7"])
        );
    }

    #[test]
    fn loopback_only_peers_are_dialed_on_loopback() {
        assert_eq!(
            dial_order(&ips(&["::1", "127.0.0.1"])),
            ips(&["127.0.0.1", "::1"])
        );
        assert_eq!(dial_order(&ips(&["127.0.0.1"])), ips(&["127.0.0.1"]));
        assert!(dial_order(&[]).is_empty());
    }

    #[test]
    fn every_other_address_is_tried_best_first() {
        assert_eq!(
            dial_order(&ips(&[
                "fe80::1",
                "169.254.3.4",
                "fd12::9",
                "2001:db8::5",
                "192.168.1.20",
                "10.1.1.1",
                "192.168.1.20",
            ])),
            ips(&[
                "192.168.1.20",
                "10.1.1.1",
                "2001:db8::5",
                "fd12::9",
                "169.254.3.4"
            ])
        );
    }

    #[test]
    fn undialable_addresses_are_skipped() {
        assert!(dial_order(&ips(&["fe80::1", "0.0.0.0", "::", "224.0.0.251"])).is_empty());
        assert!(dial_order(&ips(&["fe80::1", "127.0.0.1"])).is_empty());
    }
}
