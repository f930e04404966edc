//! Which addresses count as one client for the limits that are kept per
//! address (connections, connection rate, handshakes, login failures).
//!
//! An IPv4 address is one client. An IPv6 client is usually given a whole
//! /64 (or more) by its provider and can pick any address in it, so per
//! address limits count the prefix instead; an IPv4 address mapped into
//! IPv6 (`::ffff:a.b.c.d`, what a dual-stack socket reports) is the IPv4
//! address. Pure: must not look anything up.

use std::net::{IpAddr, Ipv6Addr};

/// The key the per-address limits use for `ip`: IPv4 as is, IPv6 cut to
/// its first `v6_prefix` bits (clamped to 0..=128).
pub fn group(ip: IpAddr, v6_prefix: u8) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return IpAddr::V4(v4);
            }
            let bits = u32::from(v6_prefix.min(128));
            let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
            IpAddr::V6(Ipv6Addr::from(u128::from(v6) & mask))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("test address")
    }

    #[test]
    fn ipv6_addresses_in_one_prefix_are_one_client() {
        let a = group(ip("2001:db8:1:2:aaaa::1"), 64);
        assert_eq!(a, group(ip("2001:db8:1:2:ffff:1:2:3"), 64));
        assert_eq!(a, ip("2001:db8:1:2::"));
        assert_ne!(a, group(ip("2001:db8:1:3::1"), 64));
        assert_eq!(group(ip("2001:db8:1:2::1"), 48), ip("2001:db8:1::"));
        assert_eq!(group(ip("2001:db8::1"), 128), ip("2001:db8::1"));
        assert_eq!(group(ip("2001:db8::1"), 0), ip("::"));
        assert_eq!(group(ip("2001:db8::1"), 200), ip("2001:db8::1"));
    }

    #[test]
    fn ipv4_is_kept_and_mapped_ipv4_is_unwrapped() {
        assert_eq!(group(ip("192.0.2.7"), 64), ip("192.0.2.7"));
        assert_eq!(group(ip("::ffff:192.0.2.7"), 64), ip("192.0.2.7"));
    }
}
