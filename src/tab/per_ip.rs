//! [`ConnsPerIp`]: open WebSockets per peer address, so that one host
//! cannot hold every socket the service can carry. The socket route takes
//! an [`IpSlot`] before the upgrade (HTTP 429 when the address has none
//! left); the connection's `TabActor` owns it, and dropping it gives it
//! back, however the connection ends.
//!
//! Addresses are the TCP peer's (`HttpRequest::peer_addr`), or, when the
//! peer is a trusted proxy (`--trusted-proxy`), the client's address from
//! its `Forwarded` / `X-Forwarded-For` headers (`client_ip.rs`); headers
//! from any other peer are ignored. Behind a reverse proxy that is not
//! trusted every connection has the proxy's address: trust it, raise the
//! limit, or turn it off (0) and limit at the proxy. IPv4-mapped IPv6 peers count as their
//! IPv4 address, and IPv6 peers count per /64 network, since one host is
//! usually given a whole /64.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Arc, Mutex, PoisonError};

/// Open connections per address, under a limit.
pub(crate) struct ConnsPerIp {
    /// Most open connections per address; 0 = unlimited (nothing counted).
    limit: usize,
    /// Open connections per address. An address without any has no entry,
    /// so the map's size follows the open connections, not every address
    /// ever seen.
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

/// One open connection's place in [`ConnsPerIp`]; given back on drop.
#[derive(Debug)]
pub(crate) struct IpSlot {
    ip: IpAddr,
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

/// An upgrade refused because its address already has `limit` open
/// connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AtLimit {
    /// The address (an IPv6 one as its /64 network).
    pub(crate) ip: IpAddr,
    /// The limit it is at.
    pub(crate) limit: usize,
}

/// The address a peer is counted under: IPv4 as is (also when mapped into
/// IPv6), IPv6 as its /64 network.
fn counted_as(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !u128::from(u64::MAX))),
        v4 => v4,
    }
}

impl ConnsPerIp {
    /// At most `limit` open connections per address; 0 = unlimited.
    pub(crate) fn new(limit: usize) -> Self {
        Self {
            limit,
            open: Arc::default(),
        }
    }

    /// A place for one more connection from `peer`: `Ok(None)` when nothing
    /// is counted (no limit, or no peer address, as on a Unix socket).
    ///
    /// # Errors
    /// [`AtLimit`] when the address already has `limit` open connections.
    pub(crate) fn take(&self, peer: Option<IpAddr>) -> Result<Option<IpSlot>, AtLimit> {
        let Some(ip) = peer.filter(|_| self.limit > 0).map(counted_as) else {
            return Ok(None);
        };
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let count = open.entry(ip).or_insert(0);
        if *count >= self.limit {
            return Err(AtLimit {
                ip,
                limit: self.limit,
            });
        }
        *count += 1;
        Ok(Some(IpSlot {
            ip,
            open: self.open.clone(),
        }))
    }

    /// Open connections counted for `peer`'s address.
    #[cfg(test)]
    fn open_from(&self, peer: IpAddr) -> usize {
        let open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        open.get(&counted_as(peer)).copied().unwrap_or(0)
    }

    /// Addresses with an open connection.
    #[cfg(test)]
    fn addresses(&self) -> usize {
        self.open
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = open.get_mut(&self.ip) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> Option<IpAddr> {
        text.parse().ok()
    }

    #[test]
    fn an_address_gets_limit_slots_and_a_dropped_slot_is_given_back() {
        let conns = ConnsPerIp::new(2);
        let a = conns.take(ip("10.0.0.1")).expect("first");
        let _b = conns.take(ip("10.0.0.1")).expect("second");
        let refused = conns.take(ip("10.0.0.1")).err();
        assert_eq!(refused.map(|r| r.limit), Some(2));
        assert!(
            conns.take(ip("10.0.0.2")).is_ok(),
            "other addresses are apart"
        );
        drop(a);
        assert_eq!(conns.open_from("10.0.0.1".parse().expect("ip")), 1);
        assert!(conns.take(ip("10.0.0.1")).is_ok());
    }

    #[test]
    fn addresses_without_open_connections_leave_no_entry() {
        let conns = ConnsPerIp::new(1);
        for n in 0..100u8 {
            let slot = conns.take(ip(&format!("10.0.1.{n}"))).expect("a slot");
            drop(slot);
        }
        assert_eq!(conns.addresses(), 0);
    }

    #[test]
    fn zero_means_unlimited_and_nothing_is_counted() {
        let conns = ConnsPerIp::new(0);
        let slots: Vec<_> = (0..1000).map(|_| conns.take(ip("10.0.0.1"))).collect();
        assert!(slots.iter().all(|s| matches!(s, Ok(None))));
        assert_eq!(conns.addresses(), 0);
        assert!(matches!(ConnsPerIp::new(1).take(None), Ok(None)));
    }

    #[test]
    fn ipv6_counts_per_64_network_and_mapped_ipv4_as_ipv4() {
        let conns = ConnsPerIp::new(1);
        let _one = conns.take(ip("2001:db8:1:2::1")).expect("a slot");
        assert!(conns.take(ip("2001:db8:1:2:ffff::9")).is_err(), "same /64");
        assert!(conns.take(ip("2001:db8:1:3::1")).is_ok(), "another /64");
        let _v4 = conns.take(ip("192.0.2.7")).expect("a slot");
        assert!(conns.take(ip("::ffff:192.0.2.7")).is_err(), "mapped IPv4");
    }
}
