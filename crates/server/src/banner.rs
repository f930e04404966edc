//! What `chatroom serve` prints about where to reach it: each address of
//! the machine (IPv4 first, then IPv6; loopback only when there is nothing
//! else), the host's `.local` name when the server announces itself on the
//! LAN, the web addresses, and the netcat command to paste.
//!
//! Pure: it is given the listeners and the machine's addresses, and only
//! words them.

use std::net::{IpAddr, SocketAddr};

use crate::server::Protocol;

/// The machine's addresses a friend could use to reach a server listening
/// on `bind`: `bind` itself unless it is unspecified; then every address
/// of `interfaces` of a family the listeners take (`::` takes both), less
/// loopback and IPv6 link-local ones (which need an interface name to be
/// used), IPv4 first; loopback when nothing else is left.
pub fn reachable(bind: IpAddr, interfaces: &[IpAddr]) -> Vec<IpAddr> {
    if !bind.is_unspecified() {
        return vec![bind];
    }
    let mut ips: Vec<IpAddr> = interfaces
        .iter()
        .copied()
        .filter(|ip| !ip.is_loopback())
        .filter(|ip| bind.is_ipv6() || ip.is_ipv4())
        .filter(|ip| match ip {
            IpAddr::V6(v6) => !v6.is_unicast_link_local(),
            IpAddr::V4(_) => true,
        })
        .collect();
    // IPv4 sorts before IPv6.
    ips.sort();
    ips.dedup();
    if ips.is_empty() {
        ips.push(if bind.is_ipv4() {
            IpAddr::from([127, 0, 0, 1])
        } else {
            IpAddr::from(std::net::Ipv6Addr::LOCALHOST)
        });
    }
    ips
}

/// The lines telling people how to reach the server: for each address
/// (and first the `.local` name, when given) one line of the chat
/// listeners (`line: 192.0.2.7:5000   irc: ...`) and one of the web
/// listeners (`web: http://...`), then the netcat command for the line
/// protocol (`nc 192.0.2.7 5000`, which wants the port apart).
pub fn lines(
    listeners: &[(Protocol, SocketAddr)],
    ips: &[IpAddr],
    local_name: Option<&str>,
) -> Vec<String> {
    let mut hosts: Vec<String> = local_name.map(str::to_string).into_iter().collect();
    hosts.extend(ips.iter().map(|ip| match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => format!("[{v6}]"),
    }));
    let mut lines = Vec::new();
    for host in &hosts {
        let chat: Vec<String> = listeners
            .iter()
            .filter(|(p, _)| !matches!(p, Protocol::Web | Protocol::WebTls))
            .map(|(p, a)| format!("{p}: {host}:{}", a.port()))
            .collect();
        if !chat.is_empty() {
            lines.push(chat.join("   "));
        }
        let web: Vec<String> = listeners
            .iter()
            .filter_map(|(p, a)| match p {
                Protocol::Web => Some(format!("http://{host}:{}/", a.port())),
                Protocol::WebTls => Some(format!("https://{host}:{}/", a.port())),
                _ => None,
            })
            .collect();
        if !web.is_empty() {
            lines.push(format!("web: {}", web.join("   ")));
        }
    }
    let line_port = listeners
        .iter()
        .find(|(p, _)| *p == Protocol::Line)
        .map(|(_, a)| a.port());
    if let (Some(port), Some(ip)) = (line_port, ips.first()) {
        // nc takes an IPv6 address without brackets.
        lines.push(format!("netcat: nc {ip} {port}"));
    }
    lines
}

/// This machine's name on the LAN as mDNS gives it: the host name's first
/// label with `.local` (`None` when the system has no usable name).
pub fn local_name() -> Option<String> {
    let name = rustix::system::uname();
    let name = name.nodename().to_str().ok()?;
    let label = name.split('.').next()?.trim();
    let usable = !label.is_empty()
        && label != "localhost"
        && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    usable.then(|| format!("{}.local", label.to_ascii_lowercase()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("test address")
    }

    #[test]
    fn every_family_the_listener_takes_ipv4_first_no_link_local() {
        let ifs = [
            ip("fe80::1"),
            ip("fd00::2"),
            ip("127.0.0.1"),
            ip("::1"),
            ip("192.0.2.2"),
        ];
        assert_eq!(reachable(ip("::"), &ifs), [ip("192.0.2.2"), ip("fd00::2")]);
        assert_eq!(reachable(ip("0.0.0.0"), &ifs), [ip("192.0.2.2")]);
        assert_eq!(reachable(ip("::"), &[ip("127.0.0.1")]), [ip("::1")]);
        assert_eq!(reachable(ip("127.0.0.1"), &ifs), [ip("127.0.0.1")]);
    }

    #[test]
    fn the_lines_name_each_address_the_web_and_netcat() {
        let at = |s: &str| -> SocketAddr { s.parse().expect("addr") };
        let listeners = [
            (Protocol::Line, at("[::]:5000")),
            (Protocol::Irc, at("[::]:6667")),
            (Protocol::Web, at("[::]:8080")),
        ];
        let got = lines(
            &listeners,
            &[ip("192.0.2.2"), ip("fd00::2")],
            Some("vm.local"),
        );
        assert_eq!(
            got,
            [
                "line: vm.local:5000   irc: vm.local:6667",
                "web: http://vm.local:8080/",
                "line: 192.0.2.2:5000   irc: 192.0.2.2:6667",
                "web: http://192.0.2.2:8080/",
                "line: [fd00::2]:5000   irc: [fd00::2]:6667",
                "web: http://[fd00::2]:8080/",
                "netcat: nc 192.0.2.2 5000",
            ]
        );
    }
}
