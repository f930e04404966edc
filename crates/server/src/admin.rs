//! `chatroom admin`: the administrator's Unix socket in the data directory
//! (`admin.sock`, mode 0600, and a peer must run as the server's own user
//! or root), one command per connection, answered in plain text: status,
//! who and where, kick and kill, ban and unban an address, a network or a
//! mask, a notice to everyone, reload. Also the server-wide bans (kept in
//! `bans.txt` in the data directory, checked at accept and at
//! registration), what the hub task carries out for the socket
//! ([`apply`]), and the client half that the binary runs.
//!
//! Must not decide chat rules: the hub carries out kicks, kills and
//! notices; this only words what it reports.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant, SystemTime};

use clap::{Args, Subcommand};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use chatroom_config::{Config, Net};
use chatroom_core::modes::{glob_match, normalize_mask};
use chatroom_core::{ConnId, Hub, HubError, Outbox, UserInfo};

use crate::inbox::{AdminAsk, AdminDone, HubHandle, HubMsg, HubStats};
use crate::limits::Admission;
use crate::metrics::{Disconnect, Metrics};
use crate::reload::Reloader;
use crate::server::Protocol;

/// The socket's name in the data directory.
pub const SOCKET: &str = "admin.sock";

/// The bans' file in the data directory.
const BANS_FILE: &str = "bans.txt";

/// Longest command line the socket reads.
const MAX_LINE: usize = 4096;

/// Where the admin socket of the server with `data_dir` is.
pub fn socket_path(data_dir: &Path) -> PathBuf {
    data_dir.join(SOCKET)
}

/// Whom a ban matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mask {
    /// An address or a network (`192.0.2.7`, `10.0.0.0/8`, `2001:db8::/32`).
    Net(Net),
    /// An IRC mask, `nick!user@host` with `*` and `?` (completed as IRC
    /// bans are: `bob` is `bob!*@*`).
    Glob(String),
}

impl Mask {
    pub fn parse(text: &str) -> Result<Mask, String> {
        let text = text.trim();
        if text.is_empty() {
            return Err("a ban needs an address, a network or a mask".into());
        }
        if let Ok(net) = text.parse::<Net>() {
            return Ok(Mask::Net(net));
        }
        if text.contains(|c: char| c.is_whitespace() || c.is_control()) {
            return Err(format!("{text:?} is not a mask"));
        }
        Ok(Mask::Glob(normalize_mask(text, 200)))
    }

    /// Whether a connection from `ip` is banned before it says anything:
    /// a network, or a mask that names only a host (`*!*@192.0.2.*`).
    pub fn matches_ip(&self, ip: IpAddr) -> bool {
        match self {
            Mask::Net(net) => net.contains(ip),
            Mask::Glob(mask) => mask
                .strip_prefix("*!*@")
                .is_some_and(|host| glob_match(host, &ip.to_string())),
        }
    }

    /// Whether someone registered is banned.
    pub fn matches_user(&self, who: &UserInfo) -> bool {
        match self {
            Mask::Net(net) => who.host.parse().is_ok_and(|ip| net.contains(ip)),
            Mask::Glob(mask) => {
                glob_match(mask, &format!("{}!{}@{}", who.nick, who.user, who.host))
            }
        }
    }
}

/// One ban, as given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ban {
    /// As the administrator wrote it (what `unban` takes).
    pub text: String,
    pub mask: Mask,
    pub reason: String,
}

/// The server-wide bans, kept in the data directory.
pub struct Bans {
    list: RwLock<Vec<Ban>>,
    file: PathBuf,
}

impl Bans {
    /// The bans kept in `data_dir` (none when there is no file; a line
    /// that does not parse is skipped with a warning).
    pub fn load(data_dir: &Path) -> Bans {
        let file = data_dir.join(BANS_FILE);
        let mut list = Vec::new();
        if let Ok(text) = std::fs::read_to_string(&file) {
            for line in text.lines().filter(|l| !l.trim().is_empty()) {
                let (mask, reason) = line.split_once('\t').unwrap_or((line, ""));
                match Mask::parse(mask) {
                    Ok(parsed) => list.push(Ban {
                        text: mask.trim().to_string(),
                        mask: parsed,
                        reason: reason.trim().to_string(),
                    }),
                    Err(e) => tracing::warn!("{}: skipping a ban: {e}", file.display()),
                }
            }
        }
        Bans {
            list: RwLock::new(list),
            file,
        }
    }

    pub fn list(&self) -> Vec<Ban> {
        self.list
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Why a connection from `ip` is refused, if it is banned.
    pub fn refusal(&self, ip: IpAddr) -> Option<String> {
        let list = self.list.read().unwrap_or_else(PoisonError::into_inner);
        if list.is_empty() {
            return None;
        }
        list.iter()
            .find(|b| b.mask.matches_ip(ip))
            .map(|b| b.reason.clone())
    }

    /// Why `who` may not stay, if a ban matches them.
    pub fn banned(&self, who: &UserInfo) -> Option<String> {
        let list = self.list.read().unwrap_or_else(PoisonError::into_inner);
        list.iter()
            .find(|b| b.mask.matches_user(who))
            .map(|b| b.reason.clone())
    }

    /// Adds (or replaces) a ban and writes the file.
    fn add(&self, ban: Ban) -> std::io::Result<()> {
        let mut list = self.list.write().unwrap_or_else(PoisonError::into_inner);
        list.retain(|b| b.mask != ban.mask);
        list.push(ban);
        self.save(&list)
    }

    /// Removes the ban given as `text`; whether there was one.
    fn remove(&self, text: &str) -> std::io::Result<bool> {
        let mask = Mask::parse(text).ok();
        let mut list = self.list.write().unwrap_or_else(PoisonError::into_inner);
        let before = list.len();
        list.retain(|b| b.text != text.trim() && Some(&b.mask) != mask.as_ref());
        if list.len() == before {
            return Ok(false);
        }
        self.save(&list).map(|()| true)
    }

    /// Writes the list whole (a temporary file renamed over the old one,
    /// so a crash leaves the old list or the new one).
    fn save(&self, list: &[Ban]) -> std::io::Result<()> {
        let text: String = list
            .iter()
            .map(|b| format!("{}\t{}\n", b.text, b.reason))
            .collect();
        let tmp = self.file.with_extension("txt.tmp");
        std::fs::write(&tmp, text)?;
        std::fs::rename(&tmp, &self.file)
    }
}

/// Carries out an administrator's ask in the hub task.
pub fn apply(hub: &mut Hub, out: &mut impl Outbox, metrics: &Metrics, ask: AdminAsk) -> AdminDone {
    match ask {
        AdminAsk::Who { room: None } => AdminDone::People(hub.people()),
        AdminAsk::Who { room: Some(room) } => AdminDone::People(
            hub.people()
                .into_iter()
                .filter(|p| p.rooms.iter().any(|r| chatroom_core::names::same(r, &room)))
                .collect(),
        ),
        AdminAsk::Where { nick } => AdminDone::People(
            hub.people()
                .into_iter()
                .filter(|p| chatroom_core::names::same(&p.info.nick, &nick))
                .collect(),
        ),
        AdminAsk::Kick {
            room,
            nick,
            reason,
            by,
        } => AdminDone::Done(hub.admin_kick(&room, &nick, &reason, by, out)),
        AdminAsk::Kill { nick, reason } => match hub.conn_of(&nick) {
            None => AdminDone::Done(Err(HubError::NoSuchNick(nick.as_str().into()))),
            Some(conn) => {
                let reason = if reason.trim().is_empty() {
                    "Disconnected by the server administrator".to_string()
                } else {
                    format!("Disconnected by the server administrator: {reason}")
                };
                log_removal(hub, conn, &reason);
                metrics.disconnected(Disconnect::Kill);
                hub.admin_disconnect(conn, &reason, out);
                AdminDone::Done(Ok(()))
            }
        },
        AdminAsk::Ban { user, reason } => {
            let found = hub.conns_matching(|who| who.is_some_and(|u| user(u)));
            let mut removed = Vec::new();
            let reason = banned_reason(&reason);
            for conn in found {
                removed.push(
                    hub.nick_of(conn)
                        .map_or_else(|| format!("connection {conn}"), |n| n.to_string()),
                );
                log_removal(hub, conn, &reason);
                metrics.disconnected(Disconnect::Ban);
                hub.admin_disconnect(conn, &reason, out);
            }
            AdminDone::Removed(removed)
        }
        AdminAsk::Notice { text } => AdminDone::Done(hub.admin_notice(&text, out)),
        AdminAsk::Reconfigure(cfg) => {
            hub.reconfigure(cfg);
            AdminDone::Done(Ok(()))
        }
        AdminAsk::Rooms(rooms) => {
            for problem in hub.configure_rooms(&rooms, out) {
                tracing::warn!("rooms: {problem}");
            }
            AdminDone::Done(Ok(()))
        }
    }
}

/// What someone a ban removes, or refused at registration, is told.
pub fn banned_reason(reason: &str) -> String {
    if reason.trim().is_empty() {
        "Banned".to_string()
    } else {
        format!("Banned: {reason}")
    }
}

fn log_removal(hub: &Hub, conn: ConnId, reason: &str) {
    match hub.user_of(conn) {
        Some(u) => {
            let (nick, addr) = (&*u.nick, &*u.host);
            tracing::info!(conn, nick = %nick, addr = %addr, "{nick} removed by the administrator: {reason}")
        }
        None => tracing::info!(conn, "connection removed by the administrator: {reason}"),
    }
}

/// `chatroom admin`: what the administrator asks, and where the server is.
#[derive(Debug, Clone, Args)]
pub struct AdminArgs {
    /// The running server's data directory, where its admin socket is
    /// (default ./chatroom-data, or what --config says).
    #[arg(long, env = "CHATROOM_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// The server's configuration file, to find its data directory.
    #[arg(long, env = "CHATROOM_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub ask: AdminCmd,
}

#[derive(Debug, Clone, Subcommand)]
pub enum AdminCmd {
    /// Uptime, connections, rooms, accounts, history size, listeners.
    Status,
    /// Who is connected, from where, in which rooms (or only ROOM's members).
    Who { room: Option<String> },
    /// Where one person is: address, rooms, account, since when.
    Where { nick: String },
    /// Remove NICK from ROOM.
    Kick {
        room: String,
        nick: String,
        reason: Vec<String>,
    },
    /// Disconnect NICK.
    Kill { nick: String, reason: Vec<String> },
    /// Ban an address (192.0.2.7), a network (10.0.0.0/8) or a mask
    /// (nick!user@host, with * and ?): matching connections are closed
    /// and refused from now on (kept across restarts).
    Ban { mask: String, reason: Vec<String> },
    /// Lift a ban.
    Unban { mask: String },
    /// The bans in force.
    Bans,
    /// A notice to everyone connected.
    Notice { text: Vec<String> },
    /// Reload the configuration (as SIGHUP does) and say what changed.
    Reload,
}

impl AdminCmd {
    /// The command as one line on the socket.
    pub fn line(&self) -> String {
        let rest = |words: &[String]| words.join(" ");
        match self {
            AdminCmd::Status => "status".into(),
            AdminCmd::Who { room: None } => "who".into(),
            AdminCmd::Who { room: Some(r) } => format!("who {r}"),
            AdminCmd::Where { nick } => format!("where {nick}"),
            AdminCmd::Kick { room, nick, reason } => {
                format!("kick {room} {nick} {}", rest(reason))
            }
            AdminCmd::Kill { nick, reason } => format!("kill {nick} {}", rest(reason)),
            AdminCmd::Ban { mask, reason } => format!("ban {mask} {}", rest(reason)),
            AdminCmd::Unban { mask } => format!("unban {mask}"),
            AdminCmd::Bans => "bans".into(),
            AdminCmd::Notice { text } => format!("notice {}", rest(text)),
            AdminCmd::Reload => "reload".into(),
        }
        .trim_end()
        .replace(['\r', '\n'], " ")
    }
}

/// Runs `chatroom admin`: asks the server, prints the answer; an error
/// answer (or no server) is an error.
pub async fn run_client(args: AdminArgs) -> anyhow::Result<()> {
    let data_dir = match (&args.data_dir, &args.config) {
        (Some(dir), _) => dir.clone(),
        (None, Some(file)) => Config::from_file(file)?.data_dir,
        (None, None) => Config::default().data_dir,
    };
    let path = socket_path(&data_dir);
    let answer = ask(&path, &args.ask.line()).await.map_err(|e| {
        anyhow::anyhow!(
            "cannot reach the server's admin socket {}: {e} (is the server running with --data-dir {}, and are you its user?)",
            path.display(),
            data_dir.display()
        )
    })?;
    print!("{answer}");
    if answer.starts_with("error: ") {
        std::process::exit(1);
    }
    Ok(())
}

/// Sends one command line to the admin socket at `path` and reads the
/// answer to its end.
pub async fn ask(path: &Path, line: &str) -> std::io::Result<String> {
    let mut stream = UnixStream::connect(path).await?;
    stream.write_all(format!("{line}\n").as_bytes()).await?;
    stream.shutdown().await?;
    let mut answer = String::new();
    tokio::time::timeout(Duration::from_secs(30), stream.read_to_string(&mut answer))
        .await
        .map_err(|_| std::io::Error::other("the server did not answer within 30 s"))??;
    Ok(answer)
}

/// Opens the admin socket in `data_dir`, readable and writable by the
/// server's user only. A socket left by a server that is gone is replaced;
/// one that answers belongs to a running server and is left alone (`Err`).
pub fn bind(data_dir: &Path) -> anyhow::Result<UnixListener> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(data_dir)?;
    let path = socket_path(data_dir);
    if path.exists() {
        if std::os::unix::net::UnixStream::connect(&path).is_ok() {
            anyhow::bail!(
                "{} answers: another server uses this data directory",
                path.display()
            );
        }
        std::fs::remove_file(&path)?;
    }
    let listener = UnixListener::bind(&path)?;
    // Peers are checked by user too (see `serve`), so nobody gets in during
    // the moment before this.
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    Ok(listener)
}

/// What the admin socket reads from and acts on.
pub struct Admin {
    pub hub: HubHandle,
    pub admission: Arc<Admission>,
    pub bans: Arc<Bans>,
    pub reloader: Arc<Reloader>,
    pub started: Instant,
    pub since: SystemTime,
    pub listeners: Vec<(Protocol, std::net::SocketAddr)>,
    pub history: Option<PathBuf>,
    pub history_files: Vec<PathBuf>,
    /// The server as the source of kicks.
    pub identity: Arc<UserInfo>,
}

/// Serves the admin socket until `stop`: one command per connection.
pub async fn serve(listener: UnixListener, admin: Arc<Admin>, stop: CancellationToken) {
    let me = rustix::process::geteuid().as_raw();
    loop {
        let accepted = tokio::select! {
            _ = stop.cancelled() => return,
            a = listener.accept() => a,
        };
        let Ok((stream, _)) = accepted else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let uid = stream.peer_cred().map(|c| c.uid()).ok();
        if !matches!(uid, Some(u) if u == me || u == 0) {
            tracing::warn!(?uid, "admin: refused a connection from another user");
            continue;
        }
        let admin = admin.clone();
        tokio::spawn(async move {
            let (rd, mut wr) = stream.into_split();
            let mut line = String::new();
            let mut rd = BufReader::new(rd.take(MAX_LINE as u64));
            let read = rd.read_line(&mut line);
            let answer = match tokio::time::timeout(Duration::from_secs(10), read).await {
                Ok(Ok(_)) => admin.answer(line.trim()).await,
                _ => "error: no command\n".to_string(),
            };
            let _ = wr.write_all(answer.as_bytes()).await;
            let _ = wr.shutdown().await;
        });
    }
}

impl Admin {
    async fn ask_hub(&self, ask: AdminAsk) -> Option<AdminDone> {
        let (tx, rx) = oneshot::channel();
        self.hub.send(HubMsg::Admin { ask, reply: tx }).await.ok()?;
        tokio::time::timeout(Duration::from_secs(10), rx)
            .await
            .ok()?
            .ok()
    }

    /// The answer to one command line.
    pub async fn answer(&self, line: &str) -> String {
        let (word, rest) = line.split_once(' ').unwrap_or((line, ""));
        let rest = rest.trim();
        let (first, more) = rest.split_once(' ').unwrap_or((rest, ""));
        let more = more.trim();
        tracing::info!("admin: {word} {rest}");
        match word {
            "status" => self.status().await,
            "who" => self.who((!rest.is_empty()).then(|| rest.to_string())).await,
            "where" if !first.is_empty() => self.where_is(first).await,
            "kick" => {
                let (nick, reason) = more.split_once(' ').unwrap_or((more, ""));
                if first.is_empty() || nick.is_empty() {
                    return "error: kick ROOM NICK [REASON]\n".into();
                }
                let ask = AdminAsk::Kick {
                    room: first.to_string(),
                    nick: nick.to_string(),
                    reason: reason.trim().to_string(),
                    by: self.identity.clone(),
                };
                match self.ask_hub(ask).await {
                    Some(AdminDone::Done(Ok(()))) => format!("kicked {nick} from {first}\n"),
                    Some(AdminDone::Done(Err(e))) => format!("error: {}\n", hub_error(&e)),
                    _ => "error: the server is shutting down\n".into(),
                }
            }
            "kill" if !first.is_empty() => {
                let ask = AdminAsk::Kill {
                    nick: first.to_string(),
                    reason: more.to_string(),
                };
                match self.ask_hub(ask).await {
                    Some(AdminDone::Done(Ok(()))) => format!("disconnected {first}\n"),
                    Some(AdminDone::Done(Err(e))) => format!("error: {}\n", hub_error(&e)),
                    _ => "error: the server is shutting down\n".into(),
                }
            }
            "ban" => self.ban(first, more).await,
            "unban" if !first.is_empty() => {
                let bans = self.bans.clone();
                let mask = first.to_string();
                match tokio::task::spawn_blocking(move || bans.remove(&mask)).await {
                    Ok(Ok(true)) => format!("unbanned {first}\n"),
                    Ok(Ok(false)) => format!("error: {first} is not banned\n"),
                    Ok(Err(e)) => format!("error: cannot write the bans: {e}\n"),
                    Err(e) => format!("error: {e}\n"),
                }
            }
            "bans" => {
                let list = self.bans.list();
                if list.is_empty() {
                    return "no bans\n".into();
                }
                list.iter()
                    .map(|b| format!("{}\t{}\n", b.text, b.reason))
                    .collect()
            }
            "notice" if !rest.is_empty() => {
                match self
                    .ask_hub(AdminAsk::Notice {
                        text: rest.to_string(),
                    })
                    .await
                {
                    Some(AdminDone::Done(Ok(()))) => "notice sent to everyone connected\n".into(),
                    Some(AdminDone::Done(Err(e))) => format!("error: {}\n", hub_error(&e)),
                    _ => "error: the server is shutting down\n".into(),
                }
            }
            "reload" => {
                let said = self.reloader.reload().await;
                said.iter().map(|l| format!("{l}\n")).collect()
            }
            _ => "error: commands: status, who [ROOM], where NICK, kick ROOM NICK [REASON], kill NICK [REASON], ban MASK [REASON], unban MASK, bans, notice TEXT, reload\n".into(),
        }
    }

    async fn ban(&self, mask_text: &str, reason: &str) -> String {
        let mask = match Mask::parse(mask_text) {
            Ok(m) => m,
            Err(e) => return format!("error: {e}\n"),
        };
        let ban = Ban {
            text: mask_text.to_string(),
            mask: mask.clone(),
            reason: reason.to_string(),
        };
        let bans = self.bans.clone();
        match tokio::task::spawn_blocking(move || bans.add(ban)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return format!("error: cannot write the bans: {e}\n"),
            Err(e) => return format!("error: {e}\n"),
        }
        let matcher = mask.clone();
        let ask = AdminAsk::Ban {
            user: Arc::new(move |u: &UserInfo| matcher.matches_user(u)),
            reason: reason.to_string(),
        };
        let removed = match self.ask_hub(ask).await {
            Some(AdminDone::Removed(r)) => r,
            _ => Vec::new(),
        };
        let mut text = format!("banned {mask_text}");
        if removed.is_empty() {
            text.push_str("; nobody connected matches\n");
        } else {
            text.push_str(&format!("; disconnected {}\n", removed.join(", ")));
        }
        text
    }

    async fn status(&self) -> String {
        let stats = crate::metrics::ask_hub(&self.hub, Duration::from_secs(5))
            .await
            .unwrap_or_default();
        let HubStats {
            members,
            unregistered,
            rooms,
            accounts,
            queued_bytes,
            history,
            ..
        } = stats;
        let mut out = format!(
            "chatroom {} up {} (since {})\n",
            env!("CARGO_PKG_VERSION"),
            duration(self.started.elapsed()),
            chrono::DateTime::<chrono::Local>::from(self.since).format("%Y-%m-%d %H:%M:%S %Z")
        );
        out.push_str(&format!(
            "connections: {} open ({members} registered, {unregistered} not yet)\n",
            self.admission.open()
        ));
        out.push_str(&format!("rooms: {rooms}\naccounts: {accounts}\n"));
        match (&self.history, history) {
            (Some(file), Some((journal, apply))) => {
                let bytes = crate::metrics::files_size(&self.history_files).await;
                out.push_str(&format!(
                    "history: {} in {} (batches waiting: {journal} for the journal, {apply} for the database)\n",
                    size(bytes),
                    file.display()
                ));
            }
            _ => out.push_str("history: off\n"),
        }
        out.push_str(&format!(
            "queued for clients: {}\n",
            size(queued_bytes as u64)
        ));
        out.push_str(&format!("bans: {}\n", self.bans.list().len()));
        let listening: Vec<String> = self
            .listeners
            .iter()
            .map(|(p, a)| format!("{p} {a}"))
            .collect();
        out.push_str(&format!("listening: {}\n", listening.join(", ")));
        out
    }

    async fn who(&self, room: Option<String>) -> String {
        let people = match self.ask_hub(AdminAsk::Who { room: room.clone() }).await {
            Some(AdminDone::People(p)) => p,
            _ => return "error: the server is shutting down\n".into(),
        };
        if people.is_empty() {
            return match room {
                Some(r) => format!("nobody in {r}\n"),
                None => "nobody is connected\n".into(),
            };
        }
        let now = SystemTime::now();
        let mut out = String::from("NICK\tADDRESS\tCONNECTED\tROOMS\n");
        for p in people {
            let rooms: Vec<&str> = p.rooms.iter().map(|r| &**r).collect();
            let since = now.duration_since(p.signon).unwrap_or_default();
            out.push_str(&format!(
                "{}\t{}\t{}\t{}\n",
                p.info.nick,
                p.info.host,
                duration(since),
                rooms.join(" ")
            ));
        }
        out
    }

    async fn where_is(&self, nick: &str) -> String {
        let people = match self
            .ask_hub(AdminAsk::Where {
                nick: nick.to_string(),
            })
            .await
        {
            Some(AdminDone::People(p)) => p,
            _ => return "error: the server is shutting down\n".into(),
        };
        let Some(p) = people.first() else {
            return format!("error: nobody is called {nick}\n");
        };
        let rooms: Vec<&str> = p.rooms.iter().map(|r| &**r).collect();
        let since = SystemTime::now()
            .duration_since(p.signon)
            .unwrap_or_default();
        format!(
            "nick: {}\nuser: {}\naddress: {}\naccount: {}\nrooms: {}\nconnected: {} ago (connection {})\noperator: {}\naway: {}\n",
            p.info.nick,
            p.info.user,
            p.info.host,
            p.info.account.as_deref().unwrap_or("(not logged in)"),
            if rooms.is_empty() {
                "(none)".to_string()
            } else {
                rooms.join(" ")
            },
            duration(since),
            p.conn,
            if p.oper { "yes" } else { "no" },
            if p.away { "yes" } else { "no" },
        )
    }
}

fn hub_error(e: &HubError) -> String {
    match e {
        HubError::NoSuchNick(n) => format!("nobody is called {n}"),
        HubError::NoSuchRoom(r) => format!("there is no room {r}"),
        HubError::UserNotInRoom { nick, room } => format!("{nick} is not in {room}"),
        HubError::NoText => "nothing to say".to_string(),
        other => format!("{other:?}"),
    }
}

/// `1h 2m 3s`, to the second.
fn duration(d: Duration) -> String {
    let s = d.as_secs();
    let (h, m, s) = (s / 3600, s / 60 % 60, s % 60);
    match (h, m) {
        (0, 0) => format!("{s}s"),
        (0, _) => format!("{m}m {s}s"),
        _ => format!("{h}h {m}m {s}s"),
    }
}

/// Bytes, in the largest unit that keeps a number of at least 1.
fn size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["bytes", "KiB", "MiB", "GiB"];
    let mut v = bytes as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} bytes")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(nick: &str, host: &str) -> UserInfo {
        UserInfo {
            nick: nick.into(),
            user: nick.into(),
            realname: nick.into(),
            host: host.into(),
            account: None,
            bot: false,
        }
    }

    #[test]
    fn masks_match_addresses_networks_and_identities() {
        let ip = |s: &str| -> IpAddr { s.parse().expect("ip") };
        let net = Mask::parse("10.0.0.0/8").expect("net");
        assert!(net.matches_ip(ip("10.1.2.3")));
        assert!(!net.matches_ip(ip("11.1.2.3")));
        assert!(net.matches_user(&user("a", "10.9.9.9")));
        let one = Mask::parse("192.0.2.7").expect("address");
        assert!(one.matches_ip(ip("192.0.2.7")));
        let host = Mask::parse("*!*@192.0.2.*").expect("host mask");
        assert!(host.matches_ip(ip("192.0.2.99")));
        assert!(!host.matches_ip(ip("192.0.3.1")));
        let nick = Mask::parse("troll").expect("nick mask");
        assert_eq!(nick, Mask::Glob("troll!*@*".into()));
        assert!(nick.matches_user(&user("TROLL", "192.0.2.1")));
        assert!(!nick.matches_user(&user("trolley", "192.0.2.1")));
        // A nick mask says nothing about an address before registration.
        assert!(!nick.matches_ip(ip("192.0.2.1")));
        assert!(Mask::parse("").is_err());
        assert!(Mask::parse("a b").is_err());
    }

    #[test]
    fn bans_are_kept_in_the_data_directory() {
        let dir = std::env::temp_dir().join(format!("chatroom-bans-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let bans = Bans::load(&dir);
        assert!(bans.list().is_empty());
        bans.add(Ban {
            text: "10.0.0.0/8".into(),
            mask: Mask::parse("10.0.0.0/8").expect("net"),
            reason: "spam".into(),
        })
        .expect("add");
        let again = Bans::load(&dir);
        assert_eq!(
            again.refusal("10.2.3.4".parse().expect("ip")).as_deref(),
            Some("spam")
        );
        assert!(again.remove("10.0.0.0/8").expect("remove"));
        assert!(!again.remove("10.0.0.0/8").expect("remove"));
        assert!(Bans::load(&dir).list().is_empty());
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn commands_become_one_line() {
        let cmd = AdminCmd::Kick {
            room: "#a".into(),
            nick: "bob".into(),
            reason: vec!["too".into(), "loud\nnow".into()],
        };
        assert_eq!(cmd.line(), "kick #a bob too loud now");
        assert_eq!(AdminCmd::Who { room: None }.line(), "who");
    }
}
