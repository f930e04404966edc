//! Opening the listening sockets: the address to bind (`::` takes IPv6
//! and IPv4 alike, and falls back to `0.0.0.0` on a system without IPv6),
//! one socket per listener, and the flag that moves each listener when its
//! port is taken.
//!
//! Must not accept connections or know what a listener speaks.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use socket2::{Domain, Protocol as IpProto, Socket, Type};
use tokio::net::TcpListener;

use crate::server::Protocol;

/// Pending connections the kernel may hold per listener (tokio's own
/// `TcpListener::bind` uses the same).
const BACKLOG: i32 = 1024;

/// The address to bind for `wanted`: itself, unless it is `::` on a system
/// that cannot open an IPv6 socket (IPv6 disabled in the kernel), where
/// `0.0.0.0` still serves IPv4.
pub fn effective_bind(wanted: IpAddr) -> IpAddr {
    if wanted != IpAddr::from(std::net::Ipv6Addr::UNSPECIFIED) {
        return wanted;
    }
    let works = Socket::new(Domain::IPV6, Type::STREAM, Some(IpProto::TCP))
        .and_then(|s| {
            s.set_only_v6(false)?;
            s.bind(&SocketAddr::new(wanted, 0).into())
        })
        .is_ok();
    if works {
        wanted
    } else {
        tracing::info!("this system has no IPv6: listening on 0.0.0.0 (IPv4) instead of ::");
        IpAddr::V4(Ipv4Addr::UNSPECIFIED)
    }
}

/// A listening socket on `addr`. On `::` it takes IPv4 too (IPv4 clients
/// arrive as `::ffff:a.b.c.d`, which the accept loop turns back into
/// `a.b.c.d`), whatever the system's default (`net.ipv6.bindv6only`).
pub fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(IpProto::TCP))?;
    if addr.is_ipv6() && addr.ip().is_unspecified() {
        socket.set_only_v6(false)?;
    }
    // A restarted server can take its ports back while old connections
    // linger in TIME_WAIT.
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(BACKLOG)?;
    TcpListener::from_std(socket.into())
}

/// The flag of `chatroom serve` that moves `proto`'s listener.
pub fn port_flag(proto: Protocol) -> &'static str {
    match proto {
        Protocol::Line => "--line-port",
        Protocol::Irc => "--irc-port",
        Protocol::IrcTls => "--tls-port",
        Protocol::Web => "--web-port",
        Protocol::WebTls => "--web-tls-port",
        Protocol::LenHeader => "--lenheader-port",
        Protocol::Nick => "--nick-port",
    }
}

/// `peer` as people write it: an IPv4 client of a dual-stack listener
/// arrives as `::ffff:a.b.c.d`, shown (and limited) as `a.b.c.d`.
pub fn canonical(peer: SocketAddr) -> SocketAddr {
    SocketAddr::new(peer.ip().to_canonical(), peer.port())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapped_peers_become_ipv4() {
        let mapped: SocketAddr = "[::ffff:192.0.2.9]:4000".parse().expect("addr");
        assert_eq!(canonical(mapped), "192.0.2.9:4000".parse().expect("addr"));
        let v6: SocketAddr = "[2001:db8::1]:4000".parse().expect("addr");
        assert_eq!(canonical(v6), v6);
    }

    #[tokio::test]
    async fn dual_stack_listener_takes_ipv4_on_loopback() {
        let wanted = IpAddr::from(std::net::Ipv6Addr::UNSPECIFIED);
        let bind_to = effective_bind(wanted);
        let listener = bind(SocketAddr::new(bind_to, 0)).expect("listen");
        let port = listener.local_addr().expect("addr").port();
        let client = tokio::net::TcpStream::connect(("127.0.0.1", port));
        let (accepted, connected) = tokio::join!(listener.accept(), client);
        connected.expect("connect over IPv4");
        let (_, peer) = accepted.expect("accept");
        assert_eq!(canonical(peer).ip(), IpAddr::from([127, 0, 0, 1]));
    }
}
