//! LAN discovery: the server announces itself with mDNS/DNS-SD (RFC 6762,
//! 6763, through `mdns-sd`) as `_chatroom._tcp` (with a TXT record: the
//! server's name, version, each protocol's port, the web address and the
//! TLS fingerprint, so that `chatroom join` can pin it), `_irc._tcp` and
//! `_ircs-u._tcp` (RFC 7194's name for IRC over TLS), under the host's
//! `.local` name, which it also answers for.
//!
//! Only when listening beyond loopback, on the interfaces and families
//! the listeners take: a server bound to one address announces that one.
//! Must not decide anything about connections; announcing is all it does.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

use mdns_sd::{IfKind, ServiceDaemon, ServiceInfo};

use chatroom_config::Config;

/// The DNS-SD service types.
pub const CHATROOM: &str = "_chatroom._tcp.local.";
pub const IRC: &str = "_irc._tcp.local.";
pub const IRCS: &str = "_ircs-u._tcp.local.";

/// The announcements in force; withdrawn (with goodbye packets) by
/// [`Announcer::withdraw`] or when dropped.
pub struct Announcer {
    daemon: ServiceDaemon,
    names: Vec<String>,
}

/// The TXT record of `_chatroom._tcp`: what a client needs to pick a
/// protocol and check the certificate, from the configuration (whose ports
/// are those really listened on) and the host's `.local` name.
pub fn txt(cfg: &Config, local_name: &str, fingerprint: Option<&str>) -> Vec<(String, String)> {
    let mut txt = vec![
        ("name".to_string(), cfg.server_name.clone()),
        ("version".to_string(), env!("CARGO_PKG_VERSION").to_string()),
    ];
    let l = &cfg.listeners;
    let mut port = |on: bool, key: &str, port: u16| {
        if on {
            txt.push((key.to_string(), port.to_string()));
        }
    };
    port(l.line, "line", l.line_port);
    port(l.irc, "irc", l.irc_port);
    port(cfg.tls.enabled, "ircs", cfg.tls.port);
    port(l.lenheader, "lenheader", l.lenheader_port);
    port(l.nick, "nick", l.nick_port);
    if cfg.web.enabled {
        txt.push((
            "web".to_string(),
            format!("http://{local_name}:{}/", cfg.web.port),
        ));
    }
    if let Some(fp) = fingerprint {
        txt.push(("fp".to_string(), fp.to_string()));
    }
    txt
}

/// Whether the server announces itself: on, and listening beyond loopback.
pub fn wanted(cfg: &Config) -> bool {
    cfg.mdns.enabled && !cfg.bind.is_loopback()
}

/// Starts announcing. `local_name` is the host's name with `.local`.
pub fn announce(
    cfg: &Config,
    local_name: &str,
    fingerprint: Option<&str>,
) -> anyhow::Result<Announcer> {
    let daemon = ServiceDaemon::new()?;
    // Nobody on loopback needs to be told; and a listener bound to one
    // family (or one address) is announced on that one only.
    daemon.disable_interface(vec![IfKind::LoopbackV4, IfKind::LoopbackV6])?;
    match cfg.bind {
        IpAddr::V4(v4) if v4.is_unspecified() => daemon.disable_interface(IfKind::IPv6)?,
        ip if !ip.is_unspecified() => {
            daemon.disable_interface(IfKind::All)?;
            daemon.enable_interface(IfKind::Addr(ip))?;
        }
        _ => {}
    }
    let host = format!("{local_name}.");
    let short = local_name.trim_end_matches(".local");
    let instance = format!("{} on {short}", cfg.server_name);
    // DNS labels hold 63 bytes.
    let instance: String = instance.chars().take(63).collect();
    let addrs: Vec<IpAddr> = if cfg.bind.is_unspecified() {
        Vec::new()
    } else {
        vec![cfg.bind]
    };
    let l = &cfg.listeners;
    // The port of the record itself: what `chatroom join` speaks first.
    let main_port = if l.irc {
        l.irc_port
    } else if cfg.tls.enabled {
        cfg.tls.port
    } else {
        l.line_port
    };
    let mut services = vec![(CHATROOM, main_port, txt(cfg, local_name, fingerprint))];
    if l.irc {
        services.push((IRC, l.irc_port, Vec::new()));
    }
    if cfg.tls.enabled {
        services.push((IRCS, cfg.tls.port, Vec::new()));
    }
    let mut names = Vec::new();
    for (ty, port, props) in services {
        let props: HashMap<String, String> = props.into_iter().collect();
        let info = ServiceInfo::new(ty, &instance, &host, &addrs[..], port, props)?;
        let info = if addrs.is_empty() {
            info.enable_addr_auto()
        } else {
            info
        };
        names.push(info.get_fullname().to_string());
        daemon.register(info)?;
    }
    Ok(Announcer { daemon, names })
}

impl Announcer {
    /// Withdraws the announcements (goodbye packets, so that browsers
    /// forget the server at once) and stops the daemon, waiting a little
    /// for it.
    pub fn withdraw(self) {
        for name in &self.names {
            if let Ok(done) = self.daemon.unregister(name) {
                let _ = done.recv_timeout(Duration::from_millis(500));
            }
        }
        if let Ok(done) = self.daemon.shutdown() {
            let _ = done.recv_timeout(Duration::from_millis(500));
        }
    }

    /// The instance names announced.
    pub fn names(&self) -> &[String] {
        &self.names
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn txt_names_each_port_the_web_and_the_fingerprint() {
        let mut cfg = Config::default();
        cfg.listeners.irc_port = 16667;
        let txt: HashMap<String, String> =
            txt(&cfg, "vm.local", Some("AB:CD")).into_iter().collect();
        assert_eq!(txt["name"], "chatroom");
        assert_eq!(txt["irc"], "16667");
        assert_eq!(txt["line"], "5000");
        assert_eq!(txt["ircs"], "6697");
        assert_eq!(txt["web"], "http://vm.local:8080/");
        assert_eq!(txt["fp"], "AB:CD");
        assert!(!txt.contains_key("nick"));
        // Each string of a TXT record holds 255 bytes.
        assert!(txt.iter().all(|(k, v)| k.len() + 1 + v.len() <= 255));
    }

    #[test]
    fn not_on_loopback_and_not_when_off() {
        let mut cfg = Config::default();
        assert!(wanted(&cfg));
        cfg.bind = "127.0.0.1".parse().expect("ip");
        assert!(!wanted(&cfg));
        cfg.bind = "::".parse().expect("ip");
        cfg.mdns.enabled = false;
        assert!(!wanted(&cfg));
    }
}
