//! Finding chatroom servers on the LAN: browses mDNS/DNS-SD for
//! `_chatroom._tcp` for a moment and reads each answer's TXT record (the
//! server's name, version, ports, web address and TLS fingerprint), for
//! `chatroom discover` and for `chatroom join` without an address, which
//! then lets the user pick.
//!
//! Must not connect to anything: it only listens to what servers announce.

use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use mdns_sd::{ServiceDaemon, ServiceEvent};

/// The service type servers announce themselves under.
pub const SERVICE: &str = "_chatroom._tcp.local.";

/// One server found on the LAN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// The DNS-SD instance (`chatroom on vm`).
    pub instance: String,
    /// The name the server gives itself (TXT `name`).
    pub name: String,
    pub version: String,
    /// Its host's `.local` name, without the final dot.
    pub host: String,
    /// Its addresses, IPv4 first.
    pub addrs: Vec<IpAddr>,
    /// Each protocol's port, by TXT key (`irc`, `ircs`, `line`, ...).
    pub ports: BTreeMap<String, u16>,
    pub web: Option<String>,
    /// The TLS certificate's SHA-256 fingerprint (`AB:CD:...`).
    pub fingerprint: Option<String>,
}

impl Found {
    /// The address to connect to: IPv4 first, then IPv6 that is not
    /// link-local (which would need an interface name).
    pub fn address(&self) -> Option<IpAddr> {
        self.addrs.iter().copied().find(|ip| match ip {
            IpAddr::V4(_) => true,
            IpAddr::V6(v6) => !v6.is_unicast_link_local(),
        })
    }

    /// One line for scripts: tab-separated, then `key=value` fields.
    pub fn line(&self) -> String {
        let addrs: Vec<String> = self.addrs.iter().map(IpAddr::to_string).collect();
        let mut fields = vec![
            self.name.clone(),
            self.host.clone(),
            addrs.join(","),
            format!("version={}", self.version),
        ];
        fields.extend(self.ports.iter().map(|(k, v)| format!("{k}={v}")));
        if let Some(web) = &self.web {
            fields.push(format!("web={web}"));
        }
        if let Some(fp) = &self.fingerprint {
            fields.push(format!("fp={fp}"));
        }
        fields.join("\t")
    }
}

/// Browses the LAN for `wait` and returns every server that answered,
/// sorted by name.
pub fn browse(wait: Duration) -> anyhow::Result<Vec<Found>> {
    let daemon = ServiceDaemon::new()?;
    let events = daemon.browse(SERVICE)?;
    let deadline = Instant::now() + wait;
    let mut found: BTreeMap<String, Found> = BTreeMap::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        match events.recv_timeout(left) {
            Ok(ServiceEvent::ServiceResolved(info)) => {
                let txt = |key: &str| info.get_property_val_str(key).map(str::to_string);
                let mut addrs: Vec<IpAddr> = info
                    .get_addresses()
                    .iter()
                    .map(|a| a.to_ip_addr())
                    .collect();
                addrs.sort();
                addrs.dedup();
                let mut ports = BTreeMap::new();
                for key in ["line", "irc", "ircs", "lenheader", "nick"] {
                    if let Some(port) = txt(key).and_then(|p| p.parse().ok()) {
                        ports.insert(key.to_string(), port);
                    }
                }
                let instance = info
                    .get_fullname()
                    .trim_end_matches(SERVICE)
                    .trim_end_matches('.');
                found.insert(
                    info.get_fullname().to_string(),
                    Found {
                        instance: instance.to_string(),
                        name: txt("name").unwrap_or_else(|| instance.to_string()),
                        version: txt("version").unwrap_or_default(),
                        host: info.get_hostname().trim_end_matches('.').to_string(),
                        addrs,
                        ports,
                        web: txt("web"),
                        fingerprint: txt("fp"),
                    },
                );
            }
            Ok(ServiceEvent::ServiceRemoved(_, fullname)) => {
                found.remove(&fullname);
            }
            Ok(_) => {}
            Err(_) => break,
        }
    }
    let _ = daemon.stop_browse(SERVICE);
    if let Ok(done) = daemon.shutdown() {
        let _ = done.recv_timeout(Duration::from_millis(500));
    }
    let mut list: Vec<Found> = found.into_values().collect();
    list.sort_by(|a, b| a.name.cmp(&b.name).then(a.host.cmp(&b.host)));
    Ok(list)
}

/// Lets the user pick one of `found` (several): a numbered list on
/// stderr, a number read from `input`. `None` when nothing usable was
/// given.
pub fn pick(found: &[Found], input: &mut impl BufRead) -> Option<usize> {
    let mut err = std::io::stderr();
    let _ = writeln!(err, "chatroom servers on this network:");
    for (i, f) in found.iter().enumerate() {
        let at = f.address().map_or_else(String::new, |a| a.to_string());
        let _ = writeln!(err, "  {}) {} ({}, {at})", i + 1, f.name, f.host);
    }
    let _ = write!(err, "Which one? [1-{}] ", found.len());
    let _ = err.flush();
    let mut line = String::new();
    input.read_line(&mut line).ok()?;
    let n: usize = line.trim().parse().ok()?;
    (1..=found.len()).contains(&n).then(|| n - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(name: &str) -> Found {
        Found {
            instance: format!("{name} on vm"),
            name: name.into(),
            version: "0.1.0".into(),
            host: "vm.local".into(),
            addrs: vec![
                "fe80::1".parse().expect("ip"),
                "10.0.0.5".parse().expect("ip"),
            ],
            ports: [("irc".to_string(), 6667), ("line".to_string(), 5000)]
                .into_iter()
                .collect(),
            web: Some("http://vm.local:8080/".into()),
            fingerprint: Some("AB:CD".into()),
        }
    }

    #[test]
    fn a_line_for_scripts() {
        let mut f = found("lan");
        f.addrs.sort();
        assert_eq!(
            f.line(),
            "lan\tvm.local\t10.0.0.5,fe80::1\tversion=0.1.0\tirc=6667\tline=5000\tweb=http://vm.local:8080/\tfp=AB:CD"
        );
        assert_eq!(f.address(), Some("10.0.0.5".parse().expect("ip")));
    }

    #[test]
    fn picking_takes_a_number_in_range() {
        let list = [found("a"), found("b")];
        assert_eq!(pick(&list, &mut "2\n".as_bytes()), Some(1));
        assert_eq!(pick(&list, &mut "3\n".as_bytes()), None);
        assert_eq!(pick(&list, &mut "x\n".as_bytes()), None);
    }
}
