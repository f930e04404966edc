//! The client's configuration file, `client.toml` in the XDG configuration
//! directory (`$XDG_CONFIG_HOME/chatroom/`, by default
//! `~/.config/chatroom/`; found with the `directories` crate, which knows
//! each system's conventions): the settings and the saved servers.
//!
//! The file is created on first use from [`TEMPLATE`], whose comments
//! explain every key; it is read with serde (unknown keys are refused, so
//! a typo is reported rather than ignored) and `/save` edits it with
//! `toml_edit`, which keeps the user's comments and layout. Files are
//! written owner-only (the file may hold a password) and replaced whole
//! (written aside, then renamed), so a crash never leaves half a file.
//!
//! It must not decide how a setting is used (the state model and the front
//! ends do) and never writes a password: `/save` stores settings, nicks,
//! addresses and rooms only.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Deserialize;

use crate::settings::{Settings, Value};

pub const FILE_NAME: &str = "client.toml";

/// The file as first written: every setting at its default, commented.
pub const TEMPLATE: &str = r##"# chatroom's terminal client (`chatroom join`).
# Written on first use; edit it freely. It is read at every start; inside
# the client /set lists and changes settings, and /save writes them here
# (keeping these comments).

# The saved server `chatroom join` uses when given none.
# default_server = "lan"

[settings]
# Your nick when neither --nick nor the server below names one
# ("": your login name).
nick = ""
# Colour each nick; a nick keeps its colour everywhere.
colors = true
# How times are shown in the scrollback (strftime: %H:%M, %H:%M:%S, %I:%M %p).
time_format = "%H:%M"
# Lines kept in memory per buffer; older ones are fetched again from the
# server's history when scrolled back to.
scrollback = 5000
# Lines asked for per page of server history.
history_page = 100
# Words that highlight a line (whole words, any case) besides your nick,
# which always does: highlights = ["pizza", "alice_"].
highlights = []
# Ring the terminal bell on a highlight or a private message.
bell = true
# Desktop notifications, by the terminal's escape sequences: "auto" (only
# where the terminal is known to show them: OSC 777 in foot, urxvt,
# VTE-based terminals and WezTerm; OSC 9 in iTerm2, Windows Terminal,
# ConEmu and kitty; none inside tmux or screen), "osc777", "osc9" or "off".
notifications = "auto"
# Whose messages, notices and invitations are not shown: masks of
# nick!user@host with * and ? (/ignore and /unignore change the list).
ignores = []
# Take the mouse: the wheel scrolls the scrollback, a click on the buffer
# bar switches buffers. Most terminals still select text with Shift held.
mouse = true
# Failed connection attempts in a row (1 s, 2 s, 4 s ... up to 30 s apart,
# each varied a little) before the client stops and waits for /reconnect;
# 0 never stops. A certificate that is not the expected one, or a refused
# login, stops it at once, saying why. Read at start.
reconnect_tries = 10
# Keep a log file per buffer (plain text, one line per event with its
# date and time); on a server without history a room's log is shown as
# its scrollback on joining.
logs = true
# Where the logs go ("": logs/ in the XDG data directory,
# ~/.local/share/chatroom/logs/<server>/<buffer>.log).
log_dir = ""

# Saved servers: `chatroom join lan` connects to [servers.lan].
# Command-line options override what an entry says.
#
# [servers.lan]
# address = "192.0.2.2:6697"      # HOST[:PORT]
# tls = true                       # TLS, the certificate checked against the system's roots
# fingerprint = "AB:CD:..."        # or TLS, accepting only this certificate (the server prints it)
# nick = "alice"
# rooms = ["#lobby", "#rust"]      # joined on connect; the first one is shown
# account = "alice"                # log in with SASL PLAIN (default: the nick) ...
# ask_password = true              # ... asking for the password at start,
# password = "..."                 # or with it written here (this file is owner-only)
# tls_cert = "~/.config/chatroom/alice.pem"  # or SASL EXTERNAL with a client certificate
"##;

/// The whole file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClientConfig {
    pub default_server: Option<String>,
    pub settings: Settings,
    pub servers: BTreeMap<String, ServerEntry>,
}

/// One saved server.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerEntry {
    pub address: String,
    pub tls: bool,
    pub fingerprint: Option<String>,
    pub tls_insecure: bool,
    pub nick: Option<String>,
    pub rooms: Vec<String>,
    pub account: Option<String>,
    pub password: Option<String>,
    pub ask_password: bool,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
}

/// Where the client keeps its files.
#[derive(Debug, Clone)]
pub struct Dirs {
    pub config_file: PathBuf,
    /// Logs go under `logs/` here (`$XDG_DATA_HOME/chatroom`).
    pub data_dir: PathBuf,
}

/// The XDG directories (or the system's equivalent), if there is a home.
pub fn dirs() -> Option<Dirs> {
    let p = directories::ProjectDirs::from("", "", "chatroom")?;
    Some(Dirs {
        config_file: p.config_dir().join(FILE_NAME),
        data_dir: p.data_dir().to_path_buf(),
    })
}

/// `~/x` as `$HOME/x` (paths in the file are often written so).
pub fn expand_home(p: &Path) -> PathBuf {
    match p.strip_prefix("~") {
        Ok(rest) => match directories::BaseDirs::new() {
            Some(b) => b.home_dir().join(rest),
            None => p.to_path_buf(),
        },
        Err(_) => p.to_path_buf(),
    }
}

/// The file read, and whether it was just created.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub path: PathBuf,
    pub config: ClientConfig,
    pub created: bool,
}

/// Reads `path`, creating it from [`TEMPLATE`] first when it is missing.
pub fn load_or_create(path: &Path) -> anyhow::Result<Loaded> {
    let created = if path.exists() {
        false
    } else {
        write_file(path, TEMPLATE)?;
        true
    };
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let config = parse(&text).with_context(|| format!("in {}", path.display()))?;
    Ok(Loaded {
        path: path.to_path_buf(),
        config,
        created,
    })
}

/// Parses and checks the file's text.
pub fn parse(text: &str) -> anyhow::Result<ClientConfig> {
    let config: ClientConfig = toml::from_str(text)?;
    config.settings.validate().map_err(anyhow::Error::msg)?;
    for (name, s) in &config.servers {
        if s.address.trim().is_empty() {
            anyhow::bail!("[servers.{name}] has no address");
        }
    }
    if let Some(d) = &config.default_server
        && !config.servers.contains_key(d)
    {
        anyhow::bail!("default_server = {d:?}, but there is no [servers.{d}]");
    }
    Ok(config)
}

/// What `/save` stores about the server in use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerSave {
    pub name: String,
    pub address: String,
    pub tls: bool,
    pub fingerprint: Option<String>,
    pub nick: String,
    pub rooms: Vec<String>,
}

fn item(v: &Value) -> toml_edit::Item {
    match v {
        Value::Bool(b) => toml_edit::value(*b),
        Value::Int(n) => toml_edit::value(*n),
        Value::Str(s) => toml_edit::value(s.as_str()),
        Value::List(l) => toml_edit::value(l.iter().collect::<toml_edit::Array>()),
    }
}

/// The file's text with `settings` (and `server`) written into it; the
/// rest, comments included, as it was.
pub fn edited(
    text: &str,
    settings: &Settings,
    server: Option<&ServerSave>,
) -> anyhow::Result<String> {
    let mut doc: toml_edit::DocumentMut = text.parse()?;
    if !doc.contains_table("settings") {
        doc["settings"] = toml_edit::table();
    }
    for (name, value) in settings.entries() {
        // Only what differs from the file: an unchanged value keeps its
        // spelling (`'%H:%M'` stays single-quoted).
        let now = doc["settings"]
            .get(name)
            .and_then(|i| i.as_value())
            .cloned();
        let want = item(&value);
        let same = now
            .as_ref()
            .zip(want.as_value())
            .is_some_and(|(a, b)| a.to_string().trim() == b.to_string().trim());
        if !same {
            doc["settings"][name] = want;
        }
    }
    if let Some(s) = server {
        if !doc.contains_table("servers") {
            let mut servers = toml_edit::Table::new();
            servers.set_implicit(true);
            doc["servers"] = toml_edit::Item::Table(servers);
        }
        let servers = doc["servers"]
            .as_table_mut()
            .context("`servers` in the file is not a table")?;
        if !servers.contains_table(&s.name) {
            servers[&s.name] = toml_edit::table();
        }
        let entry = &mut servers[&s.name];
        entry["address"] = toml_edit::value(s.address.as_str());
        if s.tls || entry.get("tls").is_some() {
            entry["tls"] = toml_edit::value(s.tls);
        }
        if let Some(fp) = &s.fingerprint {
            entry["fingerprint"] = toml_edit::value(fp.as_str());
        }
        entry["nick"] = toml_edit::value(s.nick.as_str());
        entry["rooms"] = toml_edit::value(s.rooms.iter().collect::<toml_edit::Array>());
    }
    let out = doc.to_string();
    // What is written must read back.
    parse(&out).context("the edited file would not read back")?;
    Ok(out)
}

/// `/save`: writes `settings` (and `server`) into the file at `path`.
pub fn save(path: &Path, settings: &Settings, server: Option<&ServerSave>) -> anyhow::Result<()> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => TEMPLATE.to_string(),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let out = edited(&text, settings, server).with_context(|| format!("in {}", path.display()))?;
    write_file(path, &out)
}

/// Writes `text` to `path` whole: aside first, owner-only, then renamed.
fn write_file(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let aside = path.with_extension("toml.new");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options
        .open(&aside)
        .with_context(|| format!("cannot write {}", aside.display()))?;
    f.write_all(text.as_bytes())
        .and_then(|_| f.sync_all())
        .with_context(|| format!("cannot write {}", aside.display()))?;
    std::fs::rename(&aside, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(tag: &str) -> PathBuf {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let d = std::env::temp_dir().join(format!(
            "chatroom-client-config-{tag}-{}-{n}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn the_template_reads_as_the_defaults() {
        let c = parse(TEMPLATE).expect("template parses");
        assert_eq!(c, ClientConfig::default());
    }

    #[test]
    fn created_on_first_use_owner_only_then_read() {
        let dir = temp_dir("create");
        let path = dir.join("chatroom").join(FILE_NAME);
        let first = load_or_create(&path).expect("created");
        assert!(first.created);
        assert_eq!(std::fs::read_to_string(&path).expect("read"), TEMPLATE);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let again = load_or_create(&path).expect("read");
        assert!(!again.created);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn servers_and_settings_are_read_and_typos_refused() {
        let c = parse(
            r##"
default_server = "lan"
[settings]
colors = false
[servers.lan]
address = "127.0.0.1:6697"
fingerprint = "AB:CD"
rooms = ["#a", "#b"]
ask_password = true
"##,
        )
        .expect("parses");
        assert!(!c.settings.colors);
        let lan = &c.servers["lan"];
        assert_eq!(lan.rooms, vec!["#a", "#b"]);
        assert!(lan.ask_password);
        let err = parse("[settings]\ncolour = true\n").expect_err("typo");
        assert!(format!("{err:#}").contains("colour"), "{err:#}");
        assert!(parse("default_server = \"x\"\n").is_err());
        assert!(parse("[settings]\ntime_format = \"%Q\"\n").is_err());
    }

    #[test]
    fn save_keeps_comments_and_writes_changes_and_the_server() {
        let mut settings = Settings::default();
        settings.set("time_format", "%H:%M:%S").expect("set");
        let server = ServerSave {
            name: "lan".into(),
            address: "127.0.0.1:6667".into(),
            tls: false,
            fingerprint: None,
            nick: "alice".into(),
            rooms: vec!["#lobby".into(), "#rust".into()],
        };
        let out = edited(TEMPLATE, &settings, Some(&server)).expect("edits");
        // Every comment line of the template is still there.
        for line in TEMPLATE.lines().filter(|l| l.starts_with('#')) {
            assert!(out.contains(line), "lost {line:?}:\n{out}");
        }
        let c = parse(&out).expect("reads back");
        assert_eq!(c.settings.time_format, "%H:%M:%S");
        assert_eq!(c.servers["lan"].rooms, vec!["#lobby", "#rust"]);
        assert_eq!(c.servers["lan"].nick.as_deref(), Some("alice"));
        // Unchanged values are left exactly as written.
        assert!(out.contains("\ncolors = true\n"), "{out}");
        // Saving again changes nothing.
        assert_eq!(edited(&out, &settings, Some(&server)).expect("again"), out);
    }

    #[test]
    fn save_never_writes_a_password_it_was_not_given() {
        let text = "[servers.lan]\naddress = \"h\"\npassword = \"pw\"\n";
        let server = ServerSave {
            name: "lan".into(),
            address: "h".into(),
            tls: false,
            fingerprint: None,
            nick: "a".into(),
            rooms: vec![],
        };
        let out = edited(text, &Settings::default(), Some(&server)).expect("edits");
        // The user's own line stays; nothing else mentions a password.
        assert_eq!(out.matches("password").count(), 1, "{out}");
    }

    #[test]
    fn save_writes_the_file_whole() {
        let dir = temp_dir("save");
        let path = dir.join(FILE_NAME);
        let mut settings = Settings::default();
        settings.set("colors", "off").expect("set");
        save(&path, &settings, None).expect("saves");
        let c = load_or_create(&path).expect("reads");
        assert!(!c.created);
        assert!(!c.config.settings.colors);
        assert!(!dir.join("client.toml.new").exists());
        let _ = std::fs::remove_dir_all(dir);
    }
}
