//! [`client_ip`]: the address a connection is counted and reported by.
//! It is the TCP peer's, unless the peer is a trusted proxy
//! (`--trusted-proxy`, `Config::trusted_proxies`): then it is the nearest
//! address in the proxies' `Forwarded` (RFC 7239) or, without that header,
//! `X-Forwarded-For` list that is not itself a trusted proxy. Headers from
//! any other peer are ignored, so a client cannot choose the address it is
//! counted by.

use std::net::{IpAddr, SocketAddr};

use actix_web::http::header::HeaderMap;
use actix_web::HttpRequest;
use ipnet::IpNet;

/// The client's address for `req` (see the module docs); `None` when the
/// request has no peer address (a test request).
pub(crate) fn client_ip(req: &HttpRequest, trusted: &[IpNet]) -> Option<IpAddr> {
    let peer = req.peer_addr()?.ip();
    Some(behind(peer, req.headers(), trusted))
}

/// The client behind `peer`: `peer` itself unless it is trusted; else the
/// hops the proxies appended, walked from the nearest, skipping trusted
/// ones. A hop that does not parse (`unknown`, an obfuscated name) ends
/// the walk at the last trusted address, which is all that is known.
fn behind(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let mut client = peer;
    for hop in hops(headers).iter().rev() {
        match hop {
            Some(ip) if is_trusted(ip) => client = *ip,
            Some(ip) => return *ip,
            None => return client,
        }
    }
    client
}

/// The `for` addresses of `Forwarded`, or else the `X-Forwarded-For` list,
/// farthest first, over every line of the header; `None` for one that is
/// not an address.
fn hops(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    let lines = |name: &str| -> Vec<String> {
        headers
            .get_all(name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect()
    };
    let forwarded = lines("forwarded");
    if !forwarded.is_empty() {
        return forwarded
            .iter()
            .flat_map(|line| line.split(','))
            .filter_map(|element| {
                element.split(';').find_map(|pair| {
                    let (name, value) = pair.split_once('=')?;
                    name.trim()
                        .eq_ignore_ascii_case("for")
                        .then(|| address(value))
                })
            })
            .collect();
    }
    lines("x-forwarded-for")
        .iter()
        .flat_map(|line| line.split(','))
        .map(address)
        .collect()
}

/// One hop's address: `192.0.2.1`, `"[2001:db8::1]:4711"`, `2001:db8::1`,
/// `192.0.2.1:80`; quotes and a port are dropped.
fn address(text: &str) -> Option<IpAddr> {
    let text = text.trim().trim_matches('"');
    text.parse::<IpAddr>()
        .ok()
        .or_else(|| text.parse::<SocketAddr>().ok().map(|a| a.ip()))
        .or_else(|| {
            text.strip_prefix('[')
                .and_then(|rest| rest.split_once(']'))
                .and_then(|(ip, _)| ip.parse().ok())
        })
}

#[cfg(test)]
mod tests {
    use actix_web::http::header::{HeaderName, HeaderValue};

    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter()
            .map(|n| n.parse().unwrap_or_else(|e| panic!("{n}: {e}")))
            .collect()
    }

    fn headers(lines: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in lines {
            map.append(
                HeaderName::from_static(name),
                HeaderValue::from_static(value),
            );
        }
        map
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_forwards() {
        let h = headers(&[("x-forwarded-for", "198.51.100.7")]);
        assert_eq!(behind(ip("203.0.113.9"), &h, &[]), ip("203.0.113.9"));
        let trusted = nets(&["10.0.0.0/8"]);
        assert_eq!(behind(ip("203.0.113.9"), &h, &trusted), ip("203.0.113.9"));
    }

    #[test]
    fn behind_trusted_proxies_the_nearest_untrusted_hop_is_the_client() {
        let trusted = nets(&["10.0.0.0/8", "192.0.2.1/32"]);
        // The client spoofs a first hop; the proxies append the real ones.
        let h = headers(&[("x-forwarded-for", "1.2.3.4, 198.51.100.7, 192.0.2.1")]);
        assert_eq!(behind(ip("10.1.2.3"), &h, &trusted), ip("198.51.100.7"));
        let split = headers(&[
            ("x-forwarded-for", "1.2.3.4"),
            ("x-forwarded-for", "198.51.100.7"),
        ]);
        assert_eq!(behind(ip("10.1.2.3"), &split, &trusted), ip("198.51.100.7"));
    }

    #[test]
    fn forwarded_wins_over_x_forwarded_for_and_its_forms_parse() {
        let trusted = nets(&["10.0.0.0/8"]);
        let h = headers(&[
            ("x-forwarded-for", "1.2.3.4"),
            (
                "forwarded",
                "for=198.51.100.7;proto=https, for=\"[2001:db8:cafe::17]:4711\";by=10.0.0.1",
            ),
        ]);
        assert_eq!(
            behind(ip("10.0.0.2"), &h, &trusted),
            ip("2001:db8:cafe::17")
        );
        let port = headers(&[("forwarded", "For=\"198.51.100.8:5555\"")]);
        assert_eq!(behind(ip("10.0.0.2"), &port, &trusted), ip("198.51.100.8"));
    }

    #[test]
    fn an_unknown_hop_or_no_header_leaves_the_nearest_trusted_address() {
        let trusted = nets(&["10.0.0.0/8"]);
        let unknown = headers(&[("forwarded", "for=unknown, for=10.0.0.5")]);
        assert_eq!(behind(ip("10.0.0.2"), &unknown, &trusted), ip("10.0.0.5"));
        assert_eq!(
            behind(ip("10.0.0.2"), &HeaderMap::new(), &trusted),
            ip("10.0.0.2")
        );
    }
}
