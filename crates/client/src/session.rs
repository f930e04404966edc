//! The glue both front ends share: it feeds connection events and user lines
//! into the state model, writes what the model wants sent, writes the logs
//! it queues (and reads back those it asks for), carries out `/save`, stops
//! the link when the model saw the login refused, and keeps the timers (a
//! lag PING every 30 s; reconnect when the server stops answering).
//!
//! It owns the connection task's handle but must not render anything or read
//! the terminal or stdin; the plain and full-screen loops do that.

use std::time::{Duration, Instant};

use super::command::parse_input;
use super::config;
use super::conn::{self, Conn, ConnCommand, ConnEvent};
use super::logs::Logger;
use super::state::{Effect, Now, State};
use chatroom_proto::irc::message::Message;

/// How often lag is measured.
pub const LAG_INTERVAL: Duration = Duration::from_secs(30);

/// With no reply to our PING and no line at all for this long, the link is
/// taken as dead (a vanished server may never send a FIN).
pub const DEAD_AFTER: Duration = Duration::from_secs(90);

/// How long exiting waits for the QUIT to be written and answered.
const QUIT_WAIT: Duration = Duration::from_secs(5);

/// Reads both clocks, for the front ends' calls into the state model (which
/// never reads the clock itself).
pub fn now() -> Now {
    Now {
        instant: Instant::now(),
        local: chrono::Local::now(),
    }
}

/// What the front end should do after a user line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Flow {
    Continue,
    Quit(String),
}

/// Where `/save` writes, and what it says about the server in use.
#[derive(Debug, Clone, Default)]
pub struct Saving {
    /// The configuration file (`None`: there is no home to keep it in).
    pub path: Option<std::path::PathBuf>,
    /// The saved server's name, when the session started from one.
    pub name: Option<String>,
    pub address: String,
    pub tls: bool,
    pub fingerprint: Option<String>,
}

/// Lines read back from a log when a room is joined on a server without
/// history (at most; a log may hold fewer).
pub const LOG_SCROLLBACK: usize = 200;

pub struct Session {
    pub state: State,
    pub saving: Saving,
    logger: Option<Logger>,
    conn: Conn,
    next_ping: Option<Instant>,
    last_heard: Instant,
}

impl Session {
    /// Starts connecting to `host:port` in the background.
    pub fn start(host: String, port: u16, nick: &str, room: Option<&str>) -> Session {
        Session::start_with(host, port, None, nick, room)
    }

    /// Like [`Session::start`], over TLS when `tls` is given.
    pub fn start_with(
        host: String,
        port: u16,
        tls: Option<conn::TlsClient>,
        nick: &str,
        room: Option<&str>,
    ) -> Session {
        Session::start_tries(host, port, tls, conn::MAX_TRIES, nick, room)
    }

    /// Like [`Session::start_with`], giving up after `max_tries` failed
    /// attempts in a row (0: never).
    pub fn start_tries(
        host: String,
        port: u16,
        tls: Option<conn::TlsClient>,
        max_tries: u32,
        nick: &str,
        room: Option<&str>,
    ) -> Session {
        let shown = conn::display_server(&host, port);
        Session {
            state: State::new(&shown, nick, room),
            saving: Saving::default(),
            logger: None,
            conn: conn::spawn_with(host, port, tls, max_tries),
            next_ping: None,
            last_heard: Instant::now(),
        }
    }

    /// The next event from the connection task; `None` once it has ended.
    pub async fn next_conn_event(&mut self) -> Option<ConnEvent> {
        self.conn.events.recv().await
    }

    /// An event already waiting, to batch work before a redraw.
    pub fn try_conn_event(&mut self) -> Option<ConnEvent> {
        self.conn.events.try_recv().ok()
    }

    fn send(&self, msg: &Message) {
        // A closed channel means the task has ended; the loop notices that
        // through `next_conn_event`.
        let _ = self.conn.commands.send(ConnCommand::Send(msg.to_string()));
    }

    /// Writes the buffers' logs from now on (while the `logs` setting is
    /// on) with `logger`.
    pub fn set_logger(&mut self, logger: Logger) {
        self.logger = Some(logger);
        self.state.record_logs = true;
    }

    /// Writes what the state queued for the logs, and reads back the logs
    /// it asked for.
    fn logs(&mut self, now: Now) {
        let lines = self.state.take_log_lines();
        let wanted = self.state.take_log_wanted();
        let Some(logger) = &mut self.logger else {
            return;
        };
        let mut failed = None;
        for (name, line) in &lines {
            if let Err(why) = logger.write(name.as_deref(), line) {
                failed = Some(why);
            }
        }
        let mut loaded = Vec::new();
        for name in wanted {
            let max = LOG_SCROLLBACK.min(self.state.scrollback_limit);
            loaded.push((logger.tail(Some(&name), max, &self.state.nick), name));
        }
        if let Some(why) = failed {
            self.state.error(why, now);
        }
        for (lines, name) in loaded {
            self.state.load_log(&name, lines, now);
        }
    }

    pub fn on_conn_event(&mut self, ev: ConnEvent, now: Now) {
        self.conn_event(ev, now);
        self.logs(now);
    }

    fn conn_event(&mut self, ev: ConnEvent, now: Now) {
        match ev {
            ConnEvent::Connecting { attempt } => self.state.on_connecting(attempt, now),
            ConnEvent::Connected { peer } => {
                self.last_heard = now.instant;
                for msg in self.state.on_connected(&peer, now) {
                    self.send(&msg);
                }
            }
            ConnEvent::Line(line) => {
                self.last_heard = now.instant;
                // Unparseable lines (blank, or no command) carry nothing.
                let Ok(msg) = Message::parse(&line) else {
                    return;
                };
                let was_registered = self.state.is_registered();
                for reply in self.state.handle_message(&msg, now) {
                    self.send(&reply);
                }
                if let Some(why) = self.state.take_stop() {
                    // The same password would be refused again.
                    let reason = format!(
                        "{why}; not reconnecting with it: /login [ACCOUNT] PASSWORD then /reconnect, or start again with the right password"
                    );
                    let _ = self.conn.commands.send(ConnCommand::Stop(reason));
                }
                if !was_registered && self.state.is_registered() {
                    let _ = self.conn.commands.send(ConnCommand::Registered);
                    // Measure lag soon so the status line has a number.
                    self.next_ping = Some(now.instant + Duration::from_secs(2));
                }
            }
            ConnEvent::Disconnected { reason, retry_in } => {
                self.next_ping = None;
                self.state.on_disconnected(&reason, retry_in, now);
            }
        }
    }

    /// Carries out one line the user typed.
    pub fn submit(&mut self, line: &str, now: Now) -> Flow {
        let flow = self.run_command(line, now);
        self.logs(now);
        flow
    }

    fn run_command(&mut self, line: &str, now: Now) -> Flow {
        let effects = self.state.execute(parse_input(line), now);
        for effect in effects {
            match effect {
                Effect::Send(msg) => self.send(&msg),
                Effect::Quit(reason) => return Flow::Quit(reason),
                Effect::Save(name) => self.save(name, now),
                Effect::Reconnect => {
                    let why = "reconnecting (/reconnect)".to_string();
                    let _ = self.conn.commands.send(ConnCommand::Reconnect(why));
                }
                Effect::LagPing => match self.state.lag_ping(now, true) {
                    Some(ping) => self.send(&ping),
                    None => self.state.error("not connected", now),
                },
            }
        }
        Flow::Continue
    }

    /// `/save [NAME]`: the settings, and the server in use as NAME (or
    /// under the name it was started with).
    fn save(&mut self, name: Option<String>, now: Now) {
        let Some(path) = self.saving.path.clone() else {
            self.state.error(
                "there is no configuration directory (no home directory)",
                now,
            );
            return;
        };
        let server = name
            .or_else(|| self.saving.name.clone())
            .map(|name| config::ServerSave {
                name,
                address: self.saving.address.clone(),
                tls: self.saving.tls,
                fingerprint: self.saving.fingerprint.clone(),
                nick: self.state.nick.clone(),
                rooms: self.state.rooms(),
            });
        match config::save(&path, &self.state.settings, server.as_ref()) {
            Ok(()) => {
                let what = match &server {
                    Some(s) => format!("settings and server {:?}", s.name),
                    None => "settings".to_string(),
                };
                self.state
                    .info(format!("saved the {what} to {}", path.display()), now);
                if let Some(s) = &server {
                    self.saving.name = Some(s.name.clone());
                }
            }
            Err(e) => self.state.error(format!("not saved: {e:#}"), now),
        }
    }

    /// Scrolls the current buffer up (`up`) or down by `lines` rows of a
    /// view `view` rows high, sending the history request that may need.
    pub fn scroll(&mut self, up: bool, lines: usize, view: usize, now: Now) {
        let msgs = if up {
            self.state.scroll_up(lines, view, now)
        } else {
            self.state.scroll_down(lines, view, now)
        };
        for msg in msgs {
            self.send(&msg);
        }
    }

    /// Back to the newest lines of the current buffer.
    pub fn to_live(&mut self, now: Now) {
        for msg in self.state.to_live(now) {
            self.send(&msg);
        }
    }

    /// Periodic work; call about once a second.
    pub fn tick(&mut self, now: Now) {
        if !self.state.is_registered() {
            return;
        }
        let silent = now.instant.saturating_duration_since(self.last_heard);
        if let Some(waited) = self.state.ping_outstanding(now)
            && waited >= DEAD_AFTER
            && silent >= DEAD_AFTER
        {
            let reason = format!("no reply from the server for {}s", silent.as_secs());
            let _ = self.conn.commands.send(ConnCommand::Reconnect(reason));
            self.next_ping = None;
            return;
        }
        if self.next_ping.is_some_and(|t| now.instant >= t) {
            // While the last PONG is still outstanding there is nothing new
            // to learn; look again next interval.
            if self.state.ping_outstanding(now).is_none()
                && let Some(ping) = self.state.lag_ping(now, false)
            {
                self.send(&ping);
            }
            self.next_ping = Some(now.instant + LAG_INTERVAL);
        }
    }

    /// Sends QUIT, lets the connection close cleanly (bounded wait), ends.
    pub async fn quit(self, reason: &str) {
        let quit = Message::new("QUIT", &[reason]).to_string();
        let _ = self.conn.commands.send(ConnCommand::Quit(quit));
        let mut task = self.conn.task;
        if tokio::time::timeout(QUIT_WAIT, &mut task).await.is_err() {
            task.abort();
        }
    }
}

/// Resolves when the process is asked to stop (Ctrl-C, or SIGTERM on Unix).
/// If a handler cannot be installed, that signal simply never fires.
pub async fn stop_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                term.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}
