//! Logging in, in the client's state model: SASL while registering (PLAIN
//! with an account and password, EXTERNAL with the TLS client certificate),
//! `/login` (NickServ `IDENTIFY`) and `/register` (IRCv3 `REGISTER` where
//! the server offers draft/account-registration, NickServ `REGISTER`
//! elsewhere), and the server's answers (900-908, `REGISTER SUCCESS`,
//! `FAIL REGISTER`).
//!
//! The password lives in a [`Secret`], whose `Debug` shows no character of
//! it; it only ever leaves this file inside a message to the server, and
//! what the user sees of a request carrying it is masked. Like the rest of
//! `state/` this does no I/O: the messages are returned for the caller to
//! send. It must not decide whether to reconnect after a refusal; it only
//! records the refusal ([`State::take_stop`]) for the session.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chatroom_proto::irc::message::Message;
use chrono::{DateTime, Local};

use super::buffer::LineKind;
use super::model::{Effect, Now, Scope, State};
use super::text::clean_text;

/// A password: never printed, never in a `Debug` output.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }

    /// The password itself, for the one place it is sent.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(****)")
    }
}

/// How the client logs in on every connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Login {
    /// SASL PLAIN; `account: None` is the account named after the nick.
    Plain {
        account: Option<String>,
        password: Secret,
    },
    /// SASL EXTERNAL: the server knows us by our TLS client certificate.
    External,
}

impl Login {
    fn mechanism(&self) -> &'static str {
        match self {
            Login::Plain { .. } => "PLAIN",
            Login::External => "EXTERNAL",
        }
    }
}

/// Where the SASL exchange of this connection is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sasl {
    Idle,
    /// `AUTHENTICATE MECH` sent; waiting for `+`, then the outcome.
    Started,
    Done,
}

/// SASL payloads go in pieces of at most this many base64 characters.
const SASL_CHUNK: usize = 400;

/// What the user sees of a line sent to NickServ: the request word, the
/// rest masked (it may hold a password).
pub(super) fn nickserv_shown(text: &str) -> String {
    match text.split_once(' ') {
        Some((word, rest)) if !rest.trim().is_empty() => format!("{word} ********"),
        _ => text.to_string(),
    }
}

impl State {
    pub(super) fn sasl_reset(&mut self) {
        self.sasl = Sasl::Idle;
        self.login_refused = None;
    }

    /// Whether to ask for the `sasl` capability: a login is wanted and the
    /// server offers its mechanism (or did not list them).
    pub(super) fn sasl_wanted(&self) -> bool {
        let Some(login) = &self.login else {
            return false;
        };
        self.caps.offered.iter().any(|c| c == "sasl")
            && self
                .caps
                .sasl_mechs
                .as_ref()
                .is_none_or(|m| m.iter().any(|x| x == login.mechanism()))
    }

    /// `sasl` was granted: starts the exchange.
    pub(super) fn sasl_start(&mut self) -> Option<Message> {
        let mechanism = self.login.as_ref()?.mechanism();
        self.sasl = Sasl::Started;
        Some(Message::new("AUTHENTICATE", &[mechanism]))
    }

    /// At the welcome: a login was wanted but SASL never started.
    pub(super) fn sasl_missing(&mut self, time: DateTime<Local>) {
        let Some(login) = &self.login else {
            return;
        };
        if self.sasl != Sasl::Idle || self.account.is_some() {
            return;
        }
        let text = match login {
            Login::Plain { .. } => {
                "not logged in: this server offers no SASL PLAIN login; /login PASSWORD asks NickServ instead"
            }
            Login::External => {
                "not logged in: this server offers no SASL EXTERNAL login for the client certificate"
            }
        };
        self.push(
            0,
            LineKind::Error(text.to_string()),
            time,
            Some(Scope::Global),
        );
    }

    /// `AUTHENTICATE +`: the server waits for our payload.
    pub(super) fn on_authenticate(&mut self, msg: &Message) -> Vec<Message> {
        if self.sasl != Sasl::Started || msg.param(0) != "+" {
            return Vec::new();
        }
        match &self.login {
            Some(Login::Plain { account, password }) => {
                let account = account.clone().unwrap_or_else(|| self.nick.clone());
                let payload = format!("{account}\0{account}\0{}", password.expose());
                let encoded = STANDARD.encode(payload.as_bytes());
                let mut out: Vec<Message> = encoded
                    .as_bytes()
                    .chunks(SASL_CHUNK)
                    .map(|c| {
                        let piece = String::from_utf8_lossy(c);
                        Message::new("AUTHENTICATE", &[&piece])
                    })
                    .collect();
                // A last piece of exactly 400 says more may follow; `+`
                // says it was the end.
                if encoded.len() % SASL_CHUNK == 0 {
                    out.push(Message::new("AUTHENTICATE", &["+"]));
                }
                out
            }
            Some(Login::External) => vec![Message::new("AUTHENTICATE", &["+"])],
            None => vec![Message::new("AUTHENTICATE", &["*"])],
        }
    }

    /// The account numerics: 900 logged in, 901 logged out, 902-907 the
    /// SASL outcome, 908 the mechanisms the server has.
    pub(super) fn on_account_numeric(
        &mut self,
        msg: &Message,
        time: DateTime<Local>,
    ) -> Vec<Message> {
        let last = clean_text(msg.params.last().map(String::as_str).unwrap_or(""));
        let at = if self.is_registered() {
            self.current
        } else {
            0
        };
        match msg.command.as_str() {
            "900" => {
                let account = clean_text(msg.param(2));
                self.account = Some(account.clone());
                if let Some(login) = self.pending_login.take() {
                    self.login = Some(login);
                }
                let text = format!("logged in as {account}");
                self.push(at, LineKind::Info(text), time, Some(Scope::Global));
                Vec::new()
            }
            "901" => {
                self.account = None;
                self.push(
                    at,
                    LineKind::Info("logged out".to_string()),
                    time,
                    Some(Scope::Global),
                );
                Vec::new()
            }
            "903" | "907" => {
                let was = self.sasl;
                self.sasl = Sasl::Done;
                if was == Sasl::Started {
                    self.cap_step_done()
                } else {
                    Vec::new()
                }
            }
            "908" => {
                let text = format!("the server logs in with SASL {}", msg.param(1));
                self.push(at, LineKind::Info(text), time, Some(Scope::Global));
                Vec::new()
            }
            // 902 nick locked, 904 failed, 905 too long, 906 aborted.
            _ => {
                let was = self.sasl;
                self.sasl = Sasl::Done;
                if was != Sasl::Started {
                    self.push(at, LineKind::Error(last), time, Some(Scope::Global));
                    return Vec::new();
                }
                let who = match &self.login {
                    Some(Login::Plain { account, .. }) => {
                        let account = account.clone().unwrap_or_else(|| self.nick.clone());
                        format!("the server refused the login as {account} ({last})")
                    }
                    _ => format!("the server refused the client certificate login ({last})"),
                };
                self.login_refused = Some(who.clone());
                self.push(0, LineKind::Error(who), time, Some(Scope::Global));
                // No CAP END: registering without the account is not what
                // was asked for; the session stops the link instead.
                Vec::new()
            }
        }
    }

    /// `REGISTER SUCCESS account :text` (and `VERIFICATION_REQUIRED`).
    pub(super) fn on_register_reply(&mut self, msg: &Message, time: DateTime<Local>) {
        let account = clean_text(msg.param(1));
        let text = clean_text(msg.params.last().map(String::as_str).unwrap_or(""));
        let line = match msg.param(0) {
            "SUCCESS" => {
                if let Some(login) = self.pending_login.take() {
                    self.login = Some(login);
                }
                format!("account {account} registered: {text}")
            }
            _ => format!("account {account}: {text}"),
        };
        self.push(
            self.current,
            LineKind::Info(line),
            time,
            Some(Scope::Global),
        );
    }

    /// `FAIL REGISTER code [account] :text`.
    pub(super) fn on_register_fail(&mut self, msg: &Message, time: DateTime<Local>) {
        self.pending_login = None;
        let text = clean_text(msg.params.last().map(String::as_str).unwrap_or(""));
        self.push(
            self.current,
            LineKind::Error(format!("registration refused: {text}")),
            time,
            Some(Scope::Global),
        );
    }

    /// `/login [ACCOUNT] PASSWORD`: NickServ `IDENTIFY` once registered;
    /// before that, SASL when the connection registers.
    pub(super) fn login_command(
        &mut self,
        account: Option<String>,
        password: String,
        now: Now,
    ) -> Vec<Effect> {
        let who = account.clone().unwrap_or_else(|| self.nick.clone());
        let request = match &account {
            Some(a) => format!("IDENTIFY {a} {password}"),
            None => format!("IDENTIFY {password}"),
        };
        let login = Login::Plain {
            account,
            password: Secret::new(password),
        };
        if !self.is_registered() {
            self.login = Some(login);
            self.info(format!("will log in as {who} when connected"), now);
            return Vec::new();
        }
        self.pending_login = Some(login);
        self.info(
            format!("logging in as {who} (NickServ IDENTIFY ********)"),
            now,
        );
        vec![Effect::Send(Message::new(
            "PRIVMSG",
            &["NickServ", &request],
        ))]
    }

    /// `/register PASSWORD [EMAIL]`: the nick becomes an account.
    pub(super) fn register_command(
        &mut self,
        password: String,
        email: Option<String>,
        now: Now,
    ) -> Vec<Effect> {
        let nick = self.nick.clone();
        self.pending_login = Some(Login::Plain {
            account: None,
            password: Secret::new(password.clone()),
        });
        let ircv3 = self
            .caps
            .offered
            .iter()
            .any(|c| c == "draft/account-registration");
        let msg = if ircv3 {
            let email = email.unwrap_or_else(|| "*".to_string());
            Message::new("REGISTER", &["*", &email, &password])
        } else {
            let request = match email {
                Some(e) => format!("REGISTER {password} {e}"),
                None => format!("REGISTER {password}"),
            };
            Message::new("PRIVMSG", &["NickServ", &request])
        };
        self.info(format!("registering the account {nick}"), now);
        vec![Effect::Send(msg)]
    }

    /// Why the last login was refused, once: the session stops the link
    /// instead of reconnecting with the same password.
    pub fn take_stop(&mut self) -> Option<String> {
        self.login_refused.take()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::test_support::{feed, joined, msgs, now, run, sent};

    fn connecting(login: Login) -> State {
        let mut s = State::new("h:1", "me", Some("#lobby"));
        s.login = Some(login);
        s.on_connected("h:1", now());
        s
    }

    fn plain(account: Option<&str>, password: &str) -> Login {
        Login::Plain {
            account: account.map(str::to_string),
            password: Secret::new(password),
        }
    }

    #[test]
    fn sasl_plain_logs_in_before_cap_end() {
        let mut s = connecting(plain(None, "hunter2"));
        let out = feed(&mut s, ":srv CAP * LS :server-time sasl=PLAIN,EXTERNAL");
        assert_eq!(out, msgs(&["CAP REQ :server-time sasl"]));
        let out = feed(&mut s, ":srv CAP * ACK :server-time sasl");
        assert_eq!(out, msgs(&["AUTHENTICATE PLAIN"]));
        let out = feed(&mut s, "AUTHENTICATE +");
        // base64("me\0me\0hunter2")
        assert_eq!(out, msgs(&["AUTHENTICATE bWUAbWUAaHVudGVyMg=="]));
        assert!(feed(&mut s, ":srv 900 me me!u@h me :You are now logged in as me").is_empty());
        let out = feed(&mut s, ":srv 903 me :SASL authentication successful");
        assert_eq!(out, msgs(&["CAP END"]));
        assert_eq!(s.account.as_deref(), Some("me"));
        assert_eq!(s.take_stop(), None);
        // The password is in no line shown.
        assert!(
            s.buffers
                .iter()
                .flat_map(|b| b.lines.iter())
                .all(|l| !format!("{:?}", l.kind).contains("hunter2"))
        );
        assert!(!format!("{:?}", s.login).contains("hunter2"));
    }

    #[test]
    fn long_payloads_are_cut_in_400s_ending_with_plus() {
        // 3 + 3 + 294 bytes = 300, base64 400 characters exactly.
        let mut s = connecting(plain(Some("abc"), &"p".repeat(292)));
        feed(&mut s, ":srv CAP * LS :sasl");
        feed(&mut s, ":srv CAP * ACK :sasl");
        let out = feed(&mut s, "AUTHENTICATE +");
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].param(0).len(), 400);
        assert_eq!(out[1].param(0), "+");
    }

    #[test]
    fn sasl_external_and_a_refusal_is_recorded() {
        let mut s = connecting(Login::External);
        let out = feed(&mut s, ":srv CAP * LS :sasl=EXTERNAL");
        assert_eq!(out, msgs(&["CAP REQ sasl"]));
        assert_eq!(
            feed(&mut s, ":srv CAP * ACK sasl"),
            msgs(&["AUTHENTICATE EXTERNAL"])
        );
        assert_eq!(feed(&mut s, "AUTHENTICATE +"), msgs(&["AUTHENTICATE +"]));
        let out = feed(&mut s, ":srv 904 * :SASL authentication failed");
        assert!(out.is_empty(), "no CAP END: {out:?}");
        let why = s.take_stop().expect("refusal recorded");
        assert!(why.contains("refused"), "{why}");
        assert_eq!(s.take_stop(), None, "told once");
    }

    #[test]
    fn no_matching_mechanism_means_no_sasl_and_a_warning() {
        let mut s = connecting(plain(None, "pw"));
        let out = feed(&mut s, ":srv CAP * LS :sasl=EXTERNAL server-time");
        assert_eq!(out, msgs(&["CAP REQ server-time"]));
        feed(&mut s, ":srv CAP * ACK server-time");
        feed(&mut s, ":srv 001 me :hi");
        let warned = s.buffers[0]
            .lines
            .iter()
            .any(|l| matches!(&l.kind, LineKind::Error(t) if t.starts_with("not logged in")));
        assert!(warned);
    }

    #[test]
    fn login_command_identifies_and_is_remembered_for_reconnects() {
        let mut s = joined();
        let out = sent(&run(&mut s, "/login alice s3cret"));
        assert_eq!(out, msgs(&["PRIVMSG NickServ :IDENTIFY alice s3cret"]));
        assert!(s.login.is_none(), "only once it worked");
        feed(&mut s, ":srv 900 me me!u@h alice :You are now logged in");
        assert_eq!(
            s.login,
            Some(plain(Some("alice"), "s3cret")),
            "used for SASL next time"
        );
        let shown: Vec<String> = s
            .buffers
            .iter()
            .flat_map(|b| b.lines.iter())
            .map(|l| format!("{:?}", l.kind))
            .collect();
        assert!(shown.iter().all(|l| !l.contains("s3cret")), "{shown:?}");
    }

    #[test]
    fn login_before_connecting_waits_for_sasl() {
        let mut s = State::new("h:1", "me", None);
        assert!(run(&mut s, "/login pw").is_empty());
        assert_eq!(s.login, Some(plain(None, "pw")));
    }

    #[test]
    fn register_uses_ircv3_register_when_offered() {
        let mut s = State::new("h:1", "me", Some("#lobby"));
        s.on_connected("h:1", now());
        feed(&mut s, ":srv CAP * LS :draft/account-registration");
        feed(&mut s, ":srv 001 me :hi");
        let out = sent(&run(&mut s, "/register longpassword"));
        assert_eq!(out, msgs(&["REGISTER * * longpassword"]));
        feed(
            &mut s,
            "REGISTER SUCCESS me :Account created; you are now logged in",
        );
        assert_eq!(s.login, Some(plain(None, "longpassword")));

        let mut s = joined();
        let out = sent(&run(&mut s, "/register pw me@example.org"));
        assert_eq!(out, msgs(&["PRIVMSG NickServ :REGISTER pw me@example.org"]));
        feed(&mut s, "FAIL REGISTER WEAK_PASSWORD * :too short");
        assert!(s.login.is_none());
    }

    #[test]
    fn messages_to_nickserv_are_shown_masked() {
        let mut s = joined();
        let out = sent(&run(&mut s, "/msg NickServ IDENTIFY pw123"));
        assert_eq!(out, msgs(&["PRIVMSG NickServ :IDENTIFY pw123"]));
        let i = s.find_buffer("NickServ").expect("query");
        let shown = format!("{:?}", s.buffers[i].lines);
        assert!(!shown.contains("pw123"), "{shown}");
        assert!(shown.contains("IDENTIFY ********"), "{shown}");
    }
}
