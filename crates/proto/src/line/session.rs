//! The line protocol's reading side as a pure state machine: a line in
//! (or the framer's "too long"), the steps to carry out; a history answer
//! in, the steps to show it. The server's session loop only waits for
//! input and for answers, and carries the steps out.
//!
//! Before registration a line is a nickname (or `/quit`); after it, a line
//! is text for the focused room unless it starts with `/` (`//` sends text
//! that starts with a slash).
//!
//! Must not decide what the hub decides (whether a name is free, who may
//! speak) nor word what the renderer words; the few replies here are about
//! the line itself (usage, unknown command, too long).

use bytes::Bytes;

use chatroom_config::Config;
use chatroom_core::history::{HistoryAsk, HistoryError, HistoryPage, MAX_ANSWER};
use chatroom_core::names::normalize_room;
use chatroom_core::services::accounts::{LoginError, RegisterError};
use chatroom_core::{Command, Event, MsgKind, RoomRef, SayTarget};

use super::{HELP, command_help, help_text, plural};
use crate::Body;
use crate::irc::chanserv;
use crate::irc::nickserv::{self, Request};
use crate::say::says;

/// The first thing a new connection is told.
pub const GREETING: &[u8] = b"Welcome to chatroom! Choose a nickname:\n";

/// Messages `/history` shows when not told how many.
const HISTORY_PAGE: usize = 20;

/// Results `/search` shows.
const SEARCH_RESULTS: usize = 20;

/// What the session remembers between lines.
#[derive(Debug, Default)]
pub struct State {
    registered: bool,
    /// Where `/history` goes on from: the room of the last page shown and
    /// the msgid of the oldest message on it.
    pages: Option<(String, u64)>,
}

/// One thing to carry out, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Something for this connection only, in order with the hub's replies.
    Tell(Body),
    /// A hub command; the hub reports a refusal itself.
    Send(Command),
    /// Register under `nick` (with the peer's address as host); the
    /// outcome goes to [`State::registered`] when it succeeds.
    Register {
        nick: String,
    },
    /// A question about the focused room's history; the answer goes to
    /// [`State::answered`] with the same ask.
    Ask(HistoryAsk),
    /// An operator login (`/oper NAME PASSWORD`), checked by the server
    /// under the core's operator rules.
    Oper {
        name: String,
        password: String,
    },
    /// Log in to `account` (`None`: the one named after the nickname),
    /// checked by the server's accounts service; the outcome is worded by
    /// [`account_news`].
    Login {
        account: Option<String>,
        password: String,
    },
    Logout,
    /// Register the nickname as an account with this password.
    CreateAccount {
        password: String,
    },
    /// Close the connection with this reason (after what came before).
    End(String),
}

/// How an account request went, for [`account_news`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccountNews {
    LoggedIn(String),
    AlreadyIn(String),
    LoggedOut,
    NotIn,
    Registered(String),
    Login(LoginError),
    Register(RegisterError),
    /// The server offers no accounts.
    NoAccounts,
}

/// The line protocol's wording of an account request's outcome.
pub fn account_news(news: &AccountNews) -> Body {
    let text = match news {
        AccountNews::LoggedIn(a) => format!("* you are now logged in as {a}\n"),
        AccountNews::AlreadyIn(a) => format!("! you are already logged in as {a}\n"),
        AccountNews::LoggedOut => "* you are no longer logged in\n".into(),
        AccountNews::NotIn => "! you are not logged in\n".into(),
        AccountNews::Registered(a) => {
            format!("* account {a} registered; you are now logged in as {a}\n")
        }
        AccountNews::Login(LoginError::Invalid) => {
            "! login failed: wrong password or unknown account\n".into()
        }
        AccountNews::Login(LoginError::Locked { secs }) => format!(
            "! login refused: too many failed logins; try again in {}\n",
            plural(*secs as usize, "second", "seconds")
        ),
        AccountNews::Login(LoginError::Unavailable) => {
            "! login failed: accounts are unavailable right now; try again later\n".into()
        }
        AccountNews::Register(e) => format!("! registration refused: {}\n", register_why(e)),
        AccountNews::NoAccounts => "! this server has no accounts\n".into(),
    };
    Bytes::from(text).into()
}

fn register_why(e: &RegisterError) -> String {
    match e {
        RegisterError::Disabled => "registration is closed on this server".into(),
        RegisterError::TooMany { secs } => format!(
            "too many accounts registered or failed logins from your address lately; try again in {}",
            plural(*secs as usize, "second", "seconds")
        ),
        RegisterError::Exists => "that account already exists".into(),
        RegisterError::BadName(why) => format!("your nickname cannot be an account: {why}"),
        RegisterError::WeakPassword(min) => {
            format!("choose a password of at least {min} characters")
        }
        RegisterError::Unavailable => "accounts are unavailable right now; try again later".into(),
    }
}

impl State {
    pub fn is_registered(&self) -> bool {
        self.registered
    }

    /// The hub accepted the nickname.
    pub fn registered(&mut self) {
        self.registered = true;
    }

    /// A line longer than the configured limit arrived (and was dropped
    /// whole by the framer).
    pub fn too_long(&self, cfg: &Config) -> Vec<Step> {
        let max = cfg.limits.max_line_bytes;
        vec![raw(format!(
            "! line too long (at most {max} bytes); it was not sent\n"
        ))]
    }

    /// One line from the client, without its line ending.
    pub fn line(&mut self, line: &str) -> Vec<Step> {
        let line = line.trim_end_matches(['\r', '\n']);
        if !self.registered {
            return choose_nick(line);
        }
        if let Some(text) = line.strip_prefix("//") {
            return say(SayTarget::Focus, MsgKind::Say, &format!("/{text}"));
        }
        match line.strip_prefix('/') {
            Some(command) => self.command(command),
            None if line.trim().is_empty() => Vec::new(),
            None => say(SayTarget::Focus, MsgKind::Say, line),
        }
    }

    fn command(&mut self, cmdline: &str) -> Vec<Step> {
        let (word, rest) = cmdline.split_once(' ').unwrap_or((cmdline, ""));
        let rest = rest.trim();
        let (arg1, arg_rest) = rest.split_once(' ').unwrap_or((rest, ""));
        let arg_rest = arg_rest.trim();
        let opt = |s: &str| (!s.is_empty()).then(|| s.to_string());
        let cmd = match word.to_ascii_lowercase().as_str() {
            "nick" if !arg1.is_empty() => Command::Nick(arg1.into()),
            "join" | "j" if !arg1.is_empty() => Command::Join(normalize_room(arg1)),
            "part" | "leave" if arg1.starts_with('#') => Command::Part {
                room: arg1.into(),
                reason: Some(arg_rest.into()),
            },
            "part" | "leave" => Command::Part {
                room: RoomRef::Focus,
                reason: opt(rest),
            },
            "rooms" | "list" => Command::ListRooms,
            "who" | "names" if arg1.is_empty() => Command::Who(RoomRef::Focus),
            "who" | "names" => Command::Who(normalize_room(arg1).into()),
            "whois" if !arg1.is_empty() => Command::Whois(arg1.into()),
            "msg" | "query" | "m" if arg1.eq_ignore_ascii_case("nickserv") => {
                return nick_serv(arg_rest);
            }
            "ns" | "nickserv" => return nick_serv(rest),
            "msg" | "query" | "m" if chanserv::is_chanserv(arg1) => {
                return chan_serv(arg_rest);
            }
            "cs" | "chanserv" => return chan_serv(rest),
            "op" | "deop" if !arg1.is_empty() => {
                let sign = if word.eq_ignore_ascii_case("op") {
                    "+o"
                } else {
                    "-o"
                };
                Command::Mode {
                    target: RoomRef::Focus,
                    args: vec![sign.to_string(), arg1.to_string()],
                }
            }
            "msg" | "query" | "m" if !arg1.is_empty() && !arg_rest.is_empty() => {
                let target = if arg1.starts_with('#') {
                    SayTarget::Room(arg1.into())
                } else {
                    SayTarget::Nick(arg1.into())
                };
                return say(target, MsgKind::Say, arg_rest);
            }
            "me" if !rest.is_empty() => return say(SayTarget::Focus, MsgKind::Action, rest),
            "topic" if arg1.starts_with('#') => Command::Topic {
                room: arg1.into(),
                topic: opt(arg_rest),
            },
            "topic" => Command::Topic {
                room: RoomRef::Focus,
                topic: opt(rest),
            },
            // Room management: an omitted room is the current one.
            "kick" if !arg1.is_empty() => Command::Kick {
                room: RoomRef::Focus,
                nick: arg1.into(),
                reason: opt(arg_rest),
            },
            "invite" if !arg1.is_empty() => Command::Invite {
                nick: arg1.into(),
                room: match arg_rest.split(' ').next() {
                    Some(room) if !room.is_empty() => room.into(),
                    _ => RoomRef::Focus,
                },
            },
            "mode" => {
                let mut words: Vec<String> = rest.split_whitespace().map(String::from).collect();
                // `/mode +m` is about the current room; `/mode #room ...` and
                // `/mode nick +i` name their target.
                let target = if words.first().is_some_and(|w| !w.starts_with(['+', '-'])) {
                    words.remove(0).into()
                } else {
                    RoomRef::Focus
                };
                Command::Mode {
                    target,
                    args: words,
                }
            }
            "oper" if !arg1.is_empty() && !arg_rest.is_empty() => {
                return vec![Step::Oper {
                    name: arg1.into(),
                    password: arg_rest.into(),
                }];
            }
            "login" if !arg1.is_empty() => {
                let (account, password) = if arg_rest.is_empty() {
                    (None, arg1)
                } else {
                    (Some(arg1.to_string()), arg_rest)
                };
                return vec![Step::Login {
                    account,
                    password: password.into(),
                }];
            }
            "logout" => return vec![Step::Logout],
            "register" if !rest.is_empty() => {
                return vec![Step::CreateAccount {
                    password: rest.into(),
                }];
            }

            "away" => Command::Away(opt(rest)),
            "back" => Command::Away(None),
            "quit" | "exit" => {
                let reason = if rest.is_empty() { "Client quit" } else { rest };
                return vec![
                    Step::Send(Command::Quit(Some(reason.into()))),
                    Step::End(reason.into()),
                ];
            }
            "history" => return self.history(rest),
            "search" | "find" if !rest.is_empty() => {
                return vec![Step::Ask(HistoryAsk::Search {
                    words: rest.to_string(),
                    limit: SEARCH_RESULTS,
                })];
            }
            "help" | "?" if rest.is_empty() => {
                return vec![Step::Tell(Bytes::from_static(HELP.as_bytes()).into())];
            }
            "help" | "?" => {
                return vec![match command_help(arg1) {
                    Some(c) => raw(help_text(c)),
                    None => raw(format!("! there is no /{arg1}; /help lists the commands\n")),
                }];
            }
            // A known command without what it needs: how to use it.
            _ => {
                return vec![raw(match command_help(word) {
                    Some(c) => format!("! usage: {} (/help {} says more)\n", c.usage, c.names[0]),
                    None => format!("! unknown command: /{word} (try /help)\n"),
                })];
            }
        };
        vec![Step::Send(cmd)]
    }

    /// `/history [N]`: the newest N messages of the focused room.
    /// `/history more [N]`: the N before the last page shown, when the
    /// focused room is still the room of that page (else the newest).
    fn history(&self, rest: &str) -> Vec<Step> {
        let mut words = rest.split_whitespace();
        let mut first = words.next();
        let more = first.is_some_and(|w| w.eq_ignore_ascii_case("more"));
        if more {
            first = words.next();
        }
        let limit = match (first, words.next()) {
            (None, _) => Some(HISTORY_PAGE),
            (Some(n), None) => n
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=MAX_ANSWER).contains(n)),
            (Some(_), Some(_)) => None,
        };
        match limit {
            Some(limit) => vec![Step::Ask(HistoryAsk::Page {
                before: if more { self.pages.clone() } else { None },
                limit,
            })],
            None => vec![raw(format!(
                "! usage: /history [N] or /history more [N], with N from 1 to {MAX_ANSWER}\n"
            ))],
        }
    }

    /// The answer to a [`Step::Ask`].
    pub fn answered(
        &mut self,
        ask: &HistoryAsk,
        answer: Result<HistoryPage, HistoryError>,
    ) -> Vec<Step> {
        let page = match answer {
            Ok(page) => page,
            Err(HistoryError::Hub(e)) => return vec![Step::Tell(Event::Error(e).into())],
            Err(other) => return vec![raw(format!("! {other}\n"))],
        };
        let event = match ask {
            HistoryAsk::Search { words, .. } => Event::Found {
                room: page.room,
                words: chatroom_core::hub::clean_text(words, 100).into(),
                lines: page.lines,
            },
            _ => {
                let paging = matches!(
                    ask,
                    HistoryAsk::Page {
                        before: Some(_),
                        ..
                    }
                );
                // Where `/history more` goes on from; past the beginning it
                // stays there (and keeps saying there is nothing earlier).
                match page.oldest {
                    Some(id) => self.pages = Some((page.room.to_string(), id)),
                    None if !paging => self.pages = None,
                    None => {}
                }
                Event::History {
                    room: page.room,
                    lines: page.lines,
                }
            }
        };
        vec![Step::Tell(event.into())]
    }
}

/// Before registration: the line is a nickname (`/nick NAME` works too).
fn choose_nick(line: &str) -> Vec<Step> {
    let nick = line.trim();
    if let Some(rest) = nick.strip_prefix("/quit") {
        let reason = rest.trim();
        let reason = if reason.is_empty() {
            "Client quit"
        } else {
            reason
        };
        return vec![Step::End(reason.into())];
    }
    if nick.is_empty() {
        return vec![Step::Tell(
            Bytes::from_static(b"Choose a nickname:\n").into(),
        )];
    }
    let nick = nick.strip_prefix("/nick ").unwrap_or(nick).trim();
    vec![Step::Register { nick: nick.into() }]
}

/// `/msg NickServ ...`: the requests IRC users send to NickServ, carried
/// out as the line protocol's own account commands, so that what an IRC
/// guide says works here too.
fn nick_serv(text: &str) -> Vec<Step> {
    match nickserv::parse(text) {
        Request::Identify { account, password } => vec![Step::Login { account, password }],
        Request::Register { password } => vec![Step::CreateAccount { password }],
        Request::Usage(usage) => vec![raw(format!("! usage: /msg NickServ {usage}\n"))],
        Request::Help => vec![raw(NICKSERV_HELP.into())],
        _ => vec![raw(
            "! on this protocol NickServ only does REGISTER and IDENTIFY; \
             the rest (SET PASSWORD, INFO, CERT) needs an IRC client\n"
                .into(),
        )],
    }
}

/// `/chanserv ...` and `/msg ChanServ ...`: the requests IRC users send
/// to ChanServ, the same hub requests and the same answers.
fn chan_serv(text: &str) -> Vec<Step> {
    match chanserv::parse(text) {
        chanserv::Ask::Hub(cmd) => vec![Step::Send(cmd)],
        chanserv::Ask::Say(lines) => {
            let mut s = String::new();
            for l in lines {
                s.push_str("* ChanServ: ");
                s.push_str(&l);
                s.push('\n');
            }
            vec![raw(s)]
        }
    }
}

const NICKSERV_HELP: &str = "\
* NickServ lets you register your nickname as an account and log in to it:
*   /register PASSWORD           (or /msg NickServ REGISTER PASSWORD)
*   /login [ACCOUNT] PASSWORD    (or /msg NickServ IDENTIFY [ACCOUNT] PASSWORD)
*   /logout
";

/// Text, which the hub splits into several messages when longer than one
/// holds.
fn say(target: SayTarget, kind: MsgKind, text: &str) -> Vec<Step> {
    vec![Step::Send(says(&target, kind, text))]
}

fn raw(text: String) -> Step {
    Step::Tell(Bytes::from(text).into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chatroom_core::Overflow;

    fn registered() -> State {
        let mut st = State::default();
        st.registered();
        st
    }

    fn said(text: &str) -> Step {
        Step::Send(Command::Say {
            target: SayTarget::Focus,
            kind: MsgKind::Say,
            text: text.into(),
            tags: Vec::new(),
            overflow: Overflow::Split,
        })
    }

    #[test]
    fn before_registration_a_line_is_a_nickname() {
        let mut st = State::default();
        assert_eq!(
            st.line("  alice \r"),
            vec![Step::Register {
                nick: "alice".into()
            }]
        );
        assert_eq!(
            st.line("/nick bob"),
            vec![Step::Register { nick: "bob".into() }]
        );
        assert!(matches!(&st.line("")[..], [Step::Tell(Body::Raw(_))]));
        assert_eq!(st.line("/quit bye"), vec![Step::End("bye".into())]);
    }

    #[test]
    fn text_slashes_and_commands() {
        let cfg = Config::default();
        let mut st = registered();
        assert_eq!(st.line("hello"), vec![said("hello")]);
        assert_eq!(st.line("//etc"), vec![said("/etc")]);
        assert_eq!(st.line("   "), vec![]);
        assert_eq!(
            st.line("/part"),
            vec![Step::Send(Command::Part {
                room: RoomRef::Focus,
                reason: None
            })]
        );
        assert_eq!(
            st.line("/mode +m"),
            vec![Step::Send(Command::Mode {
                target: RoomRef::Focus,
                args: vec!["+m".into()]
            })]
        );
        assert_eq!(
            st.line("/quit"),
            vec![
                Step::Send(Command::Quit(Some("Client quit".into()))),
                Step::End("Client quit".into())
            ]
        );
        // Long text goes whole: the hub splits it where its messages end.
        let long = "x".repeat(cfg.hub.text_len + 1);
        assert_eq!(st.line(&long), vec![said(&long)]);
    }

    #[test]
    fn oper_takes_a_name_and_a_password() {
        let mut st = registered();
        assert_eq!(
            st.line("/oper root two words"),
            vec![Step::Oper {
                name: "root".into(),
                password: "two words".into()
            }]
        );
        assert!(matches!(
            &st.line("/oper root")[..],
            [Step::Tell(Body::Raw(_))]
        ));
    }

    #[test]
    fn login_takes_an_optional_account_and_a_password() {
        let mut st = registered();
        assert_eq!(
            st.line("/login alice pass word"),
            vec![Step::Login {
                account: Some("alice".into()),
                password: "pass word".into()
            }]
        );
        assert_eq!(
            st.line("/login secret"),
            vec![Step::Login {
                account: None,
                password: "secret".into()
            }]
        );
        assert!(matches!(&st.line("/login")[..], [Step::Tell(Body::Raw(_))]));
        assert_eq!(st.line("/logout"), vec![Step::Logout]);
        // What an IRC guide says works too.
        assert_eq!(
            st.line("/msg NickServ IDENTIFY secret"),
            vec![Step::Login {
                account: None,
                password: "secret".into()
            }]
        );
        assert_eq!(
            st.line("/ns register long-password"),
            vec![Step::CreateAccount {
                password: "long-password".into()
            }]
        );
        assert_eq!(
            st.line("/register long password"),
            vec![Step::CreateAccount {
                password: "long password".into()
            }]
        );
    }

    #[test]
    fn every_login_refusal_says_how_long_to_wait() {
        let shown = |news: AccountNews| match account_news(&news) {
            Body::Raw(b) => String::from_utf8_lossy(&b).into_owned(),
            other => panic!("{other:?}"),
        };
        let locked = shown(AccountNews::Login(LoginError::Locked { secs: 42 }));
        assert!(locked.contains("try again in 42 seconds"), "{locked}");
        let many = shown(AccountNews::Register(RegisterError::TooMany { secs: 7 }));
        assert!(many.contains("try again in 7 seconds"), "{many}");
        let one = shown(AccountNews::Login(LoginError::Locked { secs: 1 }));
        assert!(one.contains("try again in 1 second\n"), "{one}");
        assert!(
            super::super::protected_warning("bob", 1, "x").contains("renamed in 1 second unless")
        );
    }

    #[test]
    fn history_shows_the_newest_and_more_pages_back() {
        let mut st = registered();
        let newest = |limit| {
            vec![Step::Ask(HistoryAsk::Page {
                before: None,
                limit,
            })]
        };
        assert_eq!(st.line("/history"), newest(HISTORY_PAGE));
        let page = |oldest| HistoryPage {
            room: "#a".into(),
            lines: Vec::new(),
            oldest,
            targets: Vec::new(),
        };
        let ask = HistoryAsk::Page {
            before: None,
            limit: 5,
        };
        st.answered(&ask, Ok(page(Some(7))));
        // A number is always the newest N, however often.
        assert_eq!(st.line("/history 5"), newest(5));
        // `more` goes on from the last page shown.
        let more = st.line("/history more 3");
        assert_eq!(
            more,
            vec![Step::Ask(HistoryAsk::Page {
                before: Some(("#a".into(), 7)),
                limit: 3
            })]
        );
        let [Step::Ask(ask)] = &more[..] else {
            panic!("{more:?}")
        };
        st.answered(ask, Ok(page(Some(4))));
        assert_eq!(
            st.line("/history MORE"),
            vec![Step::Ask(HistoryAsk::Page {
                before: Some(("#a".into(), 4)),
                limit: HISTORY_PAGE
            })]
        );
        // Past the beginning it stays there.
        let again = HistoryAsk::Page {
            before: Some(("#a".into(), 4)),
            limit: HISTORY_PAGE,
        };
        st.answered(&again, Ok(page(None)));
        assert_eq!(st.line("/history more"), vec![Step::Ask(again)]);
        for bad in [
            "/history 0",
            "/history more more",
            "/history 2 3",
            "/history x",
        ] {
            let got = st.line(bad);
            assert!(
                matches!(&got[..], [Step::Tell(Body::Raw(b))] if b.starts_with(b"! usage: /history [N] or /history more [N]")),
                "{bad}: {got:?}"
            );
        }
    }

    fn told(steps: &[Step]) -> String {
        match steps {
            [Step::Tell(Body::Raw(b))] => String::from_utf8_lossy(b).into_owned(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn chanserv_requests_and_op_shortcuts() {
        use chatroom_core::registry::RoomRequest;
        let mut st = registered();
        let register = vec![Step::Send(Command::RoomReg(RoomRequest::Register(
            "#class".into(),
        )))];
        assert_eq!(st.line("/chanserv REGISTER #class"), register);
        assert_eq!(st.line("/cs register #class"), register);
        assert_eq!(st.line("/msg ChanServ REGISTER #class"), register);
        assert_eq!(
            st.line("/msg chanserv info #class"),
            vec![Step::Send(Command::RoomReg(RoomRequest::Info(
                "#class".into()
            )))]
        );
        let help = told(&st.line("/cs help"));
        assert!(help.starts_with("* ChanServ: "), "{help}");
        assert!(help.contains("REGISTER <#room>"), "{help}");
        assert!(told(&st.line("/cs register")).contains("Syntax: REGISTER <#room>"));
        assert_eq!(
            st.line("/op bob"),
            vec![Step::Send(Command::Mode {
                target: RoomRef::Focus,
                args: vec!["+o".into(), "bob".into()]
            })]
        );
        assert_eq!(
            st.line("/DEOP bob"),
            vec![Step::Send(Command::Mode {
                target: RoomRef::Focus,
                args: vec!["-o".into(), "bob".into()]
            })]
        );
        assert!(told(&st.line("/op")).contains("usage: /op NICK"));
        assert!(told(&st.line("/help chanserv")).contains("/chanserv REGISTER|DROP|INFO"));
    }

    #[test]
    fn every_missing_argument_gets_its_usage_line() {
        let mut st = registered();
        for (line, usage) in [
            (
                "/msg bob",
                "! usage: /msg NICK TEXT (/help msg says more)\n",
            ),
            ("/msg", "! usage: /msg NICK TEXT (/help msg says more)\n"),
            (
                "/query bob",
                "! usage: /msg NICK TEXT (/help msg says more)\n",
            ),
            ("/nick", "! usage: /nick NAME (/help nick says more)\n"),
            ("/join", "! usage: /join ROOM (/help join says more)\n"),
            ("/j", "! usage: /join ROOM (/help join says more)\n"),
            ("/whois", "! usage: /whois NICK (/help whois says more)\n"),
            ("/me", "! usage: /me TEXT (/help me says more)\n"),
            (
                "/kick",
                "! usage: /kick NICK [REASON] (/help kick says more)\n",
            ),
            (
                "/invite",
                "! usage: /invite NICK [ROOM] (/help invite says more)\n",
            ),
            (
                "/oper root",
                "! usage: /oper NAME PASSWORD (/help oper says more)\n",
            ),
            (
                "/login",
                "! usage: /login [ACCOUNT] PASSWORD (/help login says more)\n",
            ),
            (
                "/register",
                "! usage: /register PASSWORD (/help register says more)\n",
            ),
            (
                "/search",
                "! usage: /search WORDS (/help search says more)\n",
            ),
        ] {
            assert_eq!(told(&st.line(line)), usage, "{line}");
        }
        assert_eq!(
            told(&st.line("/frobnicate now")),
            "! unknown command: /frobnicate (try /help)\n"
        );
    }

    #[test]
    fn help_about_one_command() {
        let mut st = registered();
        let msg = told(&st.line("/help msg"));
        assert!(
            msg.starts_with("/msg NICK TEXT (also /query, /m)\n  Sends TEXT"),
            "{msg}"
        );
        assert_eq!(told(&st.line("/help /J")), told(&st.line("/help join")));
        assert_eq!(
            told(&st.line("/help nothing")),
            "! there is no /nothing; /help lists the commands\n"
        );
        // Every command in the list has its entry, and every entry's
        // names are commands the session knows (not "unknown command").
        for line in HELP.lines().filter(|l| l.trim_start().starts_with('/')) {
            let name = line.split_whitespace().next().unwrap_or("");
            assert!(command_help(name).is_some(), "no /help for {name}");
        }
        for c in super::super::COMMANDS {
            for n in c.names {
                let got = st.line(&format!("/{n}"));
                let unknown =
                    matches!(&got[..], [Step::Tell(Body::Raw(b))] if b.starts_with(b"! unknown"));
                assert!(!unknown, "/{n}: {got:?}");
            }
        }
    }
}
