//! Reloading the configuration while the server runs (SIGHUP, `chatroom
//! admin reload`): the file (and the environment and flags) are read again,
//! checked, compared with what was loaded before, and each change is put in
//! force where it can be without a restart:
//!
//! - at once: the admission limits (connections per address, rates,
//!   exemptions, the server-wide ceiling), the hub's settings (`[hub]`:
//!   default rooms, lengths, modes), the configured rooms (`[[rooms]]`),
//!   and the TLS certificate, read again
//!   from its files whether or not the configuration changed;
//! - for connections made from now on: the MOTD, the operators, the
//!   connection password, the other `[limits]` (flood control, line
//!   lengths, queue sizes); connections already open keep what they started
//!   with;
//! - not without a restart: addresses and ports, which listeners run, the
//!   data directory, history, accounts, metrics, LAN discovery, the log
//!   format, the server's name. Those changes are reported and left as they
//!   were.
//!
//! Nothing changes when the new configuration does not load or is invalid.
//! Must not read the file itself: `load` (given by the binary) does.

use std::collections::BTreeMap;
use std::sync::Arc;

use chatroom_config::Config;

use crate::inbox::{AdminAsk, AdminDone, HubHandle, HubMsg};
use crate::limits::{Admission, Rules, ceiling};
use crate::live::Live;
use crate::tls::Tls;

/// Loads the configuration again, as at start (file, environment, flags).
pub type LoadConfig = Arc<dyn Fn() -> Result<Config, String> + Send + Sync>;

/// Where a changed key takes effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    Now,
    NewConnections,
    Restart,
}

/// Where a change of `key` (a dotted path: `limits.flood_rate`) takes effect.
pub fn effect_of(key: &str) -> Effect {
    const RESTART: [&str; 12] = [
        "bind",
        "server_name",
        "data_dir",
        "log_format",
        "listeners",
        "tls",
        "web",
        "history",
        "metrics",
        "accounts",
        "mdns",
        "limits.registration_timeout_secs",
    ];
    const RESTART_TOO: [&str; 2] = ["limits.descriptor_reserve", "limits.shutdown_grace_secs"];
    const NOW: [&str; 9] = [
        "hub",
        "rooms",
        "limits.max_connections",
        "limits.max_connections_per_ip",
        "limits.max_handshakes_per_ip",
        "limits.max_connects_per_ip",
        "limits.connect_window_secs",
        "limits.exempt",
        "limits.ipv6_prefix",
    ];
    let under = |prefix: &&str| key == *prefix || key.starts_with(&format!("{prefix}."));
    if RESTART.iter().any(under) || RESTART_TOO.iter().any(under) {
        Effect::Restart
    } else if NOW.iter().any(under) {
        Effect::Now
    } else {
        Effect::NewConnections
    }
}

/// Every key of `cfg` with its value, by dotted path.
fn flatten(cfg: &Config) -> BTreeMap<String, String> {
    fn walk(v: &toml::Value, path: String, out: &mut BTreeMap<String, String>) {
        match v {
            toml::Value::Table(t) if !t.is_empty() => {
                for (k, v) in t {
                    let p = if path.is_empty() {
                        k.clone()
                    } else {
                        format!("{path}.{k}")
                    };
                    walk(v, p, out);
                }
            }
            other => {
                out.insert(path, other.to_string());
            }
        }
    }
    let mut out = BTreeMap::new();
    if let Ok(v) = toml::Value::try_from(cfg) {
        walk(&v, String::new(), &mut out);
    }
    out
}

/// The keys whose values differ between `old` and `new` (one that is
/// absent on one side counts), with both values.
pub fn changes(old: &Config, new: &Config) -> Vec<(String, Option<String>, Option<String>)> {
    let (a, b) = (flatten(old), flatten(new));
    let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .map(|k| (k.clone(), a.get(k).cloned(), b.get(k).cloned()))
        .collect()
}

/// `new`, with everything that needs a restart as `running` has it (the
/// ports really listened on among them): what new connections start from.
pub fn in_force(running: &Config, new: &Config) -> Config {
    let mut c = new.clone();
    c.bind = running.bind;
    c.server_name = running.server_name.clone();
    c.data_dir = running.data_dir.clone();
    c.log_format = running.log_format;
    c.listeners = running.listeners.clone();
    c.tls = running.tls.clone();
    c.web = running.web.clone();
    c.history = running.history.clone();
    c.metrics = running.metrics.clone();
    c.accounts = running.accounts.clone();
    c.mdns = running.mdns.clone();
    c.limits.registration_timeout_secs = running.limits.registration_timeout_secs;
    c.limits.descriptor_reserve = running.limits.descriptor_reserve;
    c.limits.shutdown_grace_secs = running.limits.shutdown_grace_secs;
    c
}

/// What a reload needs of the running server.
pub struct Reloader {
    load: Option<LoadConfig>,
    /// The configuration as last loaded (before the ports were filled in),
    /// what the next reload is compared with; and the one in force.
    state: tokio::sync::Mutex<(Config, Arc<Config>)>,
    live: Arc<Live>,
    tls: Option<Arc<Tls>>,
    admission: Arc<Admission>,
    hub: HubHandle,
    /// The open-file limit, for the server-wide ceiling.
    nofile: Option<u64>,
}

impl Reloader {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        load: Option<LoadConfig>,
        loaded: Config,
        running: Arc<Config>,
        live: Arc<Live>,
        tls: Option<Arc<Tls>>,
        admission: Arc<Admission>,
        hub: HubHandle,
        nofile: Option<u64>,
    ) -> Reloader {
        Reloader {
            load,
            state: tokio::sync::Mutex::new((loaded, running)),
            live,
            tls,
            admission,
            hub,
            nofile,
        }
    }

    /// Reloads, and says what happened, one line each (also logged).
    pub async fn reload(&self) -> Vec<String> {
        let mut said = Vec::new();
        // One reload at a time.
        let mut state = self.state.lock().await;
        match &self.load {
            None => said.push("configuration: nothing to reload from".to_string()),
            Some(load) => {
                let load = load.clone();
                let loaded = tokio::task::spawn_blocking(move || load()).await;
                match loaded {
                    Ok(Ok(new)) => {
                        said.extend(self.apply(&mut state, new).await);
                    }
                    Ok(Err(e)) => said.push(format!(
                        "error: the configuration was not reloaded (nothing changed): {e}"
                    )),
                    Err(e) => said.push(format!("error: reloading failed: {e}")),
                }
            }
        }
        said.push(self.reload_tls().await);
        for line in &said {
            if line.starts_with("error") {
                tracing::error!("reload: {line}");
            } else {
                tracing::info!("reload: {line}");
            }
        }
        said
    }

    async fn apply(&self, state: &mut (Config, Arc<Config>), new: Config) -> Vec<String> {
        let (loaded, running) = state;
        let changed = changes(loaded, &new);
        if changed.is_empty() {
            return vec!["configuration: unchanged".to_string()];
        }
        let mut now = Vec::new();
        let mut later = Vec::new();
        let mut restart = Vec::new();
        for (key, old, new) in &changed {
            let shown = |v: &Option<String>| v.clone().unwrap_or_else(|| "(none)".to_string());
            match effect_of(key) {
                Effect::Now => now.push(key.clone()),
                Effect::NewConnections => later.push(key.clone()),
                Effect::Restart => {
                    restart.push(format!("{key} ({} -> {})", shown(old), shown(new)))
                }
            }
        }
        let force = Arc::new(in_force(running, &new));
        let mut said = Vec::new();
        // The admission limits, for every connection from now on.
        let total = ceiling(
            force.limits.max_connections,
            self.nofile,
            force.limits.descriptor_reserve,
        );
        match Rules::from_config(&force.limits, total) {
            Ok(rules) => self.admission.set_rules(rules),
            Err(e) => said.push(format!("error: the limits were not changed: {e}")),
        }
        if force.hub != running.hub {
            let (tx, rx) = tokio::sync::oneshot::channel();
            let asked = self
                .hub
                .send(HubMsg::Admin {
                    ask: AdminAsk::Reconfigure(force.hub.clone()),
                    reply: tx,
                })
                .await;
            if asked.is_err() || !matches!(rx.await, Ok(AdminDone::Done(Ok(())))) {
                said.push("error: the hub did not take its new settings".to_string());
            }
        }
        if force.rooms != running.rooms {
            let (tx, rx) = tokio::sync::oneshot::channel();
            let asked = self
                .hub
                .send(HubMsg::Admin {
                    ask: AdminAsk::Rooms(force.rooms.clone()),
                    reply: tx,
                })
                .await;
            if asked.is_err() || !matches!(rx.await, Ok(AdminDone::Done(Ok(())))) {
                said.push("error: the hub did not take the new rooms".to_string());
            }
        }
        self.live.set(force.clone());
        *running = force;
        *loaded = new;
        if !now.is_empty() {
            said.push(format!("applied now: {}", now.join(", ")));
        }
        if !later.is_empty() {
            said.push(format!(
                "applied to new connections (open ones keep theirs): {}",
                later.join(", ")
            ));
        }
        if !restart.is_empty() {
            said.push(format!(
                "needs a restart (kept as it was): {}",
                restart.join(", ")
            ));
        }
        said
    }

    /// The TLS certificate, read again from its files.
    async fn reload_tls(&self) -> String {
        let Some(tls) = self.tls.clone() else {
            return "tls: off, no certificate to reload".to_string();
        };
        // File reads stay off the async workers.
        let outcome = tokio::task::spawn_blocking(move || {
            let res = tls.reload();
            (res, tls.cert_path().display().to_string())
        })
        .await;
        match outcome {
            Ok((Ok(fp), path)) => format!("tls: reloaded {path}; SHA-256 fingerprint {fp}"),
            Ok((Err(e), _)) => {
                format!("error: tls: reload failed, keeping the current certificate: {e:#}")
            }
            Err(e) => format!("error: tls: reload task failed: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_key_has_its_effect() {
        assert_eq!(effect_of("listeners.line_port"), Effect::Restart);
        assert_eq!(effect_of("bind"), Effect::Restart);
        assert_eq!(effect_of("hub.default_rooms"), Effect::Now);
        assert_eq!(effect_of("rooms"), Effect::Now);
        assert_eq!(effect_of("limits.max_connections_per_ip"), Effect::Now);
        assert_eq!(effect_of("limits.max_connections"), Effect::Now);
        assert_eq!(effect_of("limits.flood_rate"), Effect::NewConnections);
        assert_eq!(effect_of("motd"), Effect::NewConnections);
        assert_eq!(effect_of("opers"), Effect::NewConnections);
        assert_eq!(
            effect_of("limits.registration_timeout_secs"),
            Effect::Restart
        );
        // A prefix is a whole key, not the start of another.
        assert_eq!(effect_of("binder"), Effect::NewConnections);
    }

    #[test]
    fn changes_name_the_keys_and_in_force_keeps_what_needs_a_restart() {
        let old = Config::default();
        let mut new = Config {
            motd: Some("hi".into()),
            ..Config::default()
        };
        new.limits.flood_rate = 1.0;
        new.listeners.line_port = 5001;
        let keys: Vec<String> = changes(&old, &new).into_iter().map(|c| c.0).collect();
        assert_eq!(keys, ["limits.flood_rate", "listeners.line_port", "motd"]);
        let mut running = Config::default();
        running.listeners.line_port = 41234;
        let force = in_force(&running, &new);
        assert_eq!(force.listeners.line_port, 41234);
        assert_eq!(force.motd.as_deref(), Some("hi"));
        assert_eq!(force.limits.flood_rate, 1.0);
    }
}
