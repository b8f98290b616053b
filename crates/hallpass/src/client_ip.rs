//! The client's IP as seen through the trusted-proxy setting.
//!
//! `X-Forwarded-For` is believed only when the TCP peer is a trusted proxy; then the
//! rightmost address that is not itself a trusted proxy is the client (everything to
//! its left was written by the client and proves nothing).

use std::net::IpAddr;

use http::HeaderMap;
use ipnet::{IpNet, Ipv4Net};

/// A trusted range as the peers it is compared with: peers are canonical (an
/// IPv4-mapped `::ffff:a.b.c.d` is `a.b.c.d`), so an IPv4-mapped range
/// (`::ffff:10.0.0.0/104`) becomes the IPv4 range it names (`10.0.0.0/8`); without
/// this it would never match anything.
pub(crate) fn canonical_net(net: IpNet) -> IpNet {
    let IpNet::V6(v6) = net else { return net };
    let mapped = v6
        .prefix_len()
        .checked_sub(96)
        .zip(v6.network().to_ipv4_mapped())
        .and_then(|(prefix, v4)| Ipv4Net::new(v4, prefix).ok());
    mapped.map_or(net, IpNet::V4)
}

pub(crate) fn resolve(
    headers: &HeaderMap,
    peer: Option<IpAddr>,
    trusted: &[IpNet],
) -> Option<IpAddr> {
    // An IPv4 client of a dual-stack socket shows up as `::ffff:a.b.c.d`: compare
    // (and report) it as the IPv4 address it is, so IPv4 proxy ranges match it.
    let peer = peer?.to_canonical();
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return Some(peer);
    }
    let mut hops: Vec<IpAddr> = Vec::new();
    for field in headers.get_all("x-forwarded-for") {
        let Ok(text) = field.to_str() else {
            return Some(peer);
        };
        for part in text.split(',') {
            match part.trim().parse::<IpAddr>() {
                Ok(ip) => hops.push(ip.to_canonical()),
                // A malformed hop: nothing to its left can be trusted, and we cannot
                // tell who wrote it; fall back to the proxy itself.
                Err(_) => hops.clear(),
            }
        }
    }
    Some(
        hops.into_iter()
            .rev()
            .find(|ip| !is_trusted(ip))
            .unwrap_or(peer),
    )
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn ipv4_mapped_ranges_become_the_ipv4_ranges_they_name() {
        let net = |text: &str| text.parse::<IpNet>().unwrap();
        assert_eq!(canonical_net(net("::ffff:10.0.0.0/104")), net("10.0.0.0/8"));
        assert_eq!(
            canonical_net(net("::ffff:127.0.0.1/128")),
            net("127.0.0.1/32")
        );
        // Other IPv6 ranges, and ranges wider than the mapped block, stay as they are.
        assert_eq!(canonical_net(net("2001:db8::/32")), net("2001:db8::/32"));
        assert_eq!(canonical_net(net("::/0")), net("::/0"));
        assert_eq!(canonical_net(net("10.0.0.0/8")), net("10.0.0.0/8"));
    }

    #[test]
    fn an_ipv4_mapped_peer_matches_ipv4_proxy_ranges() {
        let trusted: Vec<IpNet> = vec!["127.0.0.1/32".parse().unwrap()];
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-forwarded-for",
            HeaderValue::from_static("203.0.113.7, ::ffff:127.0.0.1"),
        );
        assert_eq!(
            resolve(&headers, Some(ip("::ffff:127.0.0.1")), &trusted),
            Some(ip("203.0.113.7"))
        );
        // And an untrusted mapped peer is reported as the IPv4 address it is.
        assert_eq!(
            resolve(&headers, Some(ip("::ffff:198.51.100.1")), &trusted),
            Some(ip("198.51.100.1"))
        );
    }

    #[test]
    fn untrusted_peer_is_the_client_whatever_the_header_says() {
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", HeaderValue::from_static("1.2.3.4"));
        assert_eq!(
            resolve(&headers, Some(ip("9.9.9.9")), &[]),
            Some(ip("9.9.9.9"))
        );
    }

    #[test]
    fn trusted_proxy_yields_rightmost_untrusted_hop() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let mut headers = HeaderMap::new();
        headers.append(
            "x-forwarded-for",
            HeaderValue::from_static("6.6.6.6, 5.5.5.5"),
        );
        headers.append("x-forwarded-for", HeaderValue::from_static("10.0.0.2"));
        assert_eq!(
            resolve(&headers, Some(ip("10.0.0.1")), &trusted),
            Some(ip("5.5.5.5"))
        );
        assert_eq!(
            resolve(&HeaderMap::new(), Some(ip("10.0.0.1")), &trusted),
            Some(ip("10.0.0.1"))
        );
    }
}
