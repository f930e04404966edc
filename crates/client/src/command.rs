//! Parsing what the user typed into a [`Command`]: a slash command, a line
//! to say in the current buffer, or a raw IRC line for commands we do not
//! know (`/whois bob` → `WHOIS bob`).
//!
//! Pure: no state, no I/O. What a command does is decided in `state.rs`;
//! this module only reads the words. Must not panic on any input.

/// One line of user input, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Text for the current buffer's room or nick.
    Say(String),
    Me(String),
    Msg {
        target: String,
        text: String,
    },
    Notice {
        target: String,
        text: String,
    },
    Query {
        nick: String,
        text: Option<String>,
    },
    Join {
        rooms: Vec<String>,
        key: Option<String>,
    },
    Part {
        room: Option<String>,
        reason: Option<String>,
    },
    Close(Option<String>),
    Nick(String),
    Topic {
        room: Option<String>,
        text: Option<String>,
    },
    Names(Option<String>),
    Who(Option<String>),
    List(String),
    Away(Option<String>),
    Quit(Option<String>),
    Help,
    Lag,
    Clear,
    /// Full-text search of the current room's history (our server's
    /// `SEARCH`).
    Search(String),
    /// Fetch the page of history before the oldest line held.
    History,
    /// Switch to buffer N (1-based).
    Buffer(usize),
    /// `/set [NAME [VALUE]]`: list, show or change settings.
    Set {
        name: Option<String>,
        value: Option<String>,
    },
    /// `/save [NAME]`: write the settings (and this server, as NAME) to
    /// the configuration file.
    Save(Option<String>),
    /// Drop the link (if up) and connect again now.
    Reconnect,
    /// `/ignore [MASK]`: list the ignores, or add one.
    Ignore(Option<String>),
    /// `/unignore MASK|N`.
    Unignore(String),
    /// Log in to an account (`None`: the one named after the nick).
    Login {
        account: Option<String>,
        password: String,
    },
    /// Register the nick as an account.
    Register {
        password: String,
        email: Option<String>,
    },
    /// A line to send to the server as it is.
    Raw(String),
    /// A known command used wrongly; the text says how to use it.
    Invalid(String),
}

/// Shown by /help, one line each.
pub const HELP: &str = "\
commands:
  /join #room [key]     join a room (the # may be left out) and switch to it
  /part [#room] [why]   leave the current (or named) room; its buffer stays
  /close [name]         close a buffer (leaves the room if you are in it)
  /msg NICK|#room TEXT  send a message; private ones open a buffer for NICK
  /query NICK [TEXT]    open (and switch to) a private buffer with NICK
  /me ACTION            say an action: * you ACTION
  /notice TARGET TEXT   send a notice
  /nick NAME            change your nickname
  /login [ACCOUNT] PASSWORD  log in to an account (NickServ IDENTIFY); the
                        password is shown as **** and kept out of the input history
  /register PASSWORD [EMAIL] register your nick as an account
  /topic [#room] [TEXT] show or set the room's topic
  /names [#room]        list who is in the room
  /who [MASK]           ask who matches MASK (default: the current room)
  /list [ARGS]          list rooms on the server
  /away [MESSAGE]       mark yourself away (no message: back again)
  /search WORDS         search the room's history (newest first, with time and sender)
  /history              fetch an earlier page of the room's history now
  /lag                  measure the round trip to the server now
  /buffer N             switch to buffer N
  /clear                clear the current buffer's scrollback
  /ignore [MASK]        hide what NICK (or nick!user@host, with * and ?) says;
                        without MASK: list the ignores
  /unignore MASK|N      show them again
  /set [NAME [VALUE]]   list, show or change settings (for this run)
  /save [NAME]          write the settings to the configuration file, and
                        this server with its nick and rooms (as NAME)
  /reconnect            connect again now (also after the client stopped trying)
  /quit [MESSAGE]       leave the server and exit
  /quote LINE           send LINE to the server as it is
  /OTHER ARGS           anything else is sent as an IRC command: /whois NICK
  //text                say text that starts with a slash
keys:
  Enter send   Up/Down input history   Tab complete a nick
  Left/Right Home/End Ctrl-A/Ctrl-E move   Backspace/Delete erase
  Ctrl-U erase to start   Ctrl-K erase to end   Ctrl-W erase a word
  Alt-1..9 go to buffer N   Ctrl-N/Ctrl-P or Alt-Right/Alt-Left next/previous buffer
  PageUp/PageDown or the mouse wheel scroll back and forth; scrolling up
    past the oldest line fetches earlier history from the server, page by page
  a click on the buffer bar switches (with the mouse setting on; Shift+drag
    selects text)
  Ctrl-L redraw   Ctrl-C quit";

/// Parses one line of input.
pub fn parse_input(line: &str) -> Command {
    let line = line.trim_end_matches(['\r', '\n']);
    let Some(rest) = line.strip_prefix('/') else {
        return Command::Say(line.to_string());
    };
    if rest.starts_with('/') {
        return Command::Say(rest.to_string());
    }
    let (name, args) = rest.split_once(' ').unwrap_or((rest, ""));
    let args = args.trim();
    let lower = name.to_ascii_lowercase();
    let words = || args.split_whitespace();
    // The first word and the rest of the line after it.
    let first_and_rest = || {
        let (a, b) = args.split_once(' ').unwrap_or((args, ""));
        (a.to_string(), b.trim_start().to_string())
    };
    let opt = |s: &str| (!s.is_empty()).then(|| s.to_string());
    match lower.as_str() {
        "" => Command::Invalid("empty command; //text says text starting with /".into()),
        "join" | "j" => {
            let mut w = words();
            match w.next() {
                Some(rooms) => Command::Join {
                    rooms: rooms
                        .split(',')
                        .filter(|r| !r.is_empty())
                        .map(str::to_string)
                        .collect(),
                    key: w.next().map(str::to_string),
                },
                None => Command::Invalid("usage: /join #room [key]".into()),
            }
        }
        "part" | "leave" => {
            let (first, rest) = first_and_rest();
            let room_like = first.starts_with(['#', '&']);
            if room_like {
                Command::Part {
                    room: Some(first),
                    reason: opt(&rest),
                }
            } else {
                Command::Part {
                    room: None,
                    reason: opt(args),
                }
            }
        }
        "close" | "wc" => Command::Close(opt(args)),
        "msg" | "privmsg" => {
            let (target, text) = first_and_rest();
            if target.is_empty() || text.is_empty() {
                Command::Invalid("usage: /msg NICK|#room TEXT".into())
            } else {
                Command::Msg { target, text }
            }
        }
        "notice" => {
            let (target, text) = first_and_rest();
            if target.is_empty() || text.is_empty() {
                Command::Invalid("usage: /notice TARGET TEXT".into())
            } else {
                Command::Notice { target, text }
            }
        }
        "query" | "q" => {
            let (nick, text) = first_and_rest();
            if nick.is_empty() {
                Command::Invalid("usage: /query NICK [TEXT]".into())
            } else {
                Command::Query {
                    nick,
                    text: opt(&text),
                }
            }
        }
        "me" => {
            if args.is_empty() {
                Command::Invalid("usage: /me ACTION".into())
            } else {
                Command::Me(args.to_string())
            }
        }
        "nick" => match words().next() {
            Some(n) => Command::Nick(n.to_string()),
            None => Command::Invalid("usage: /nick NAME".into()),
        },
        "topic" => {
            let (first, rest) = first_and_rest();
            if first.starts_with(['#', '&']) {
                Command::Topic {
                    room: Some(first),
                    text: opt(&rest),
                }
            } else {
                Command::Topic {
                    room: None,
                    text: opt(args),
                }
            }
        }
        "names" => Command::Names(words().next().map(str::to_string)),
        "who" => Command::Who(opt(args)),
        "list" => Command::List(args.to_string()),
        "away" => Command::Away(opt(args)),
        "quit" | "exit" => Command::Quit(opt(args)),
        "help" | "h" | "?" => Command::Help,
        "lag" | "ping" if args.is_empty() => Command::Lag,
        "clear" => Command::Clear,
        "search" | "grep" => {
            if args.is_empty() {
                Command::Invalid("usage: /search WORDS".into())
            } else {
                Command::Search(args.to_string())
            }
        }
        "history" | "hist" => Command::History,
        "buffer" | "b" | "window" | "win" => match args.parse::<usize>() {
            Ok(n) => Command::Buffer(n),
            Err(_) => Command::Invalid("usage: /buffer N".into()),
        },
        "login" | "identify" => {
            let mut w = words();
            match (w.next(), w.next()) {
                (Some(password), None) => Command::Login {
                    account: None,
                    password: password.to_string(),
                },
                (Some(account), Some(password)) => Command::Login {
                    account: Some(account.to_string()),
                    password: password.to_string(),
                },
                _ => Command::Invalid("usage: /login [ACCOUNT] PASSWORD".into()),
            }
        }
        "register" => {
            let mut w = words();
            match w.next() {
                Some(password) => Command::Register {
                    password: password.to_string(),
                    email: w.next().map(str::to_string),
                },
                None => Command::Invalid("usage: /register PASSWORD [EMAIL]".into()),
            }
        }
        "set" => {
            let (name, value) = first_and_rest();
            Command::Set {
                name: opt(&name),
                value: opt(&value),
            }
        }
        "reconnect" | "connect" if args.is_empty() => Command::Reconnect,
        "ignore" => Command::Ignore(words().next().map(str::to_string)),
        "unignore" => match words().next() {
            Some(m) => Command::Unignore(m.to_string()),
            None => Command::Invalid("usage: /unignore MASK (or its number in /ignore)".into()),
        },
        "save" => Command::Save(words().next().map(str::to_string)),
        "quote" | "raw" => {
            if args.is_empty() {
                Command::Invalid("usage: /quote IRC LINE".into())
            } else {
                Command::Raw(args.to_string())
            }
        }
        _ => {
            if args.is_empty() {
                Command::Raw(name.to_ascii_uppercase())
            } else {
                Command::Raw(format!("{} {args}", name.to_ascii_uppercase()))
            }
        }
    }
}

/// Where the secret part of a typed line starts (a byte offset), for the
/// lines that carry a password: `/login`, `/register`, `/oper`, a NickServ
/// request (`/msg NickServ IDENTIFY …`, `/ns …`) and a raw `PASS`. The
/// input line shows that part as `*` and such lines are kept out of the
/// input history; nothing after the offset is ever shown or logged.
pub fn secret_from(line: &str) -> Option<usize> {
    let rest = line.strip_prefix('/')?;
    // The offset just past the first `n` words of `rest` and their spaces.
    let after_words = |n: usize| -> usize {
        let mut i = 0;
        let b = rest.as_bytes();
        for _ in 0..n {
            while i < b.len() && b[i] == b' ' {
                i += 1;
            }
            while i < b.len() && b[i] != b' ' {
                i += 1;
            }
        }
        while i < b.len() && b[i] == b' ' {
            i += 1;
        }
        1 + i
    };
    let mut words = rest.split(' ').filter(|w| !w.is_empty());
    let first = words.next()?.to_ascii_lowercase();
    let second = words.next().map(str::to_ascii_lowercase);
    let nickserv = |w: &Option<String>| w.as_deref() == Some("nickserv");
    let from = match first.as_str() {
        "login" | "identify" | "register" | "oper" | "pass" => after_words(1),
        "ns" | "nickserv" => after_words(2),
        "msg" | "privmsg" | "query" | "q" if nickserv(&second) => after_words(3),
        "quote" | "raw" if second.as_deref() == Some("pass") => after_words(2),
        _ => return None,
    };
    Some(from.min(line.len()))
}

/// `line` with its secret part (see [`secret_from`]) shown as one `*` per
/// character, for the input line while typing.
pub fn masked(line: &str) -> std::borrow::Cow<'_, str> {
    match secret_from(line) {
        Some(at) if at < line.len() => {
            let stars = line[at..].chars().map(|c| if c == ' ' { ' ' } else { '*' });
            std::borrow::Cow::Owned(line[..at].chars().chain(stars).collect())
        }
        _ => std::borrow::Cow::Borrowed(line),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_found_and_masked() {
        assert_eq!(masked("/login s3cret"), "/login ******");
        assert_eq!(masked("/login alice s3cret"), "/login ***** ******");
        assert_eq!(masked("/register pw me@x"), "/register ** ****");
        assert_eq!(
            masked("/msg NickServ IDENTIFY pw"),
            "/msg NickServ IDENTIFY **"
        );
        assert_eq!(masked("/ns identify alice pw"), "/ns identify ***** **");
        assert_eq!(masked("/quote PASS hunter2"), "/quote PASS *******");
        assert_eq!(masked("/oper root pw"), "/oper **** **");
        // While typing the command word nothing is hidden yet.
        assert_eq!(masked("/logi"), "/logi");
        assert_eq!(masked("/login"), "/login");
        assert_eq!(secret_from("/login"), Some(6));
        // Ordinary lines are untouched.
        assert_eq!(masked("/msg bob identify me"), "/msg bob identify me");
        assert_eq!(masked("login pw"), "login pw");
        assert_eq!(secret_from("hello"), None);
    }

    #[test]
    fn login_and_register() {
        assert_eq!(
            parse_input("/login pw"),
            Command::Login {
                account: None,
                password: "pw".into()
            }
        );
        assert_eq!(
            parse_input("/login alice pw"),
            Command::Login {
                account: Some("alice".into()),
                password: "pw".into()
            }
        );
        assert_eq!(
            parse_input("/register pw a@b"),
            Command::Register {
                password: "pw".into(),
                email: Some("a@b".into())
            }
        );
        assert!(matches!(parse_input("/login"), Command::Invalid(_)));
        assert!(matches!(parse_input("/register"), Command::Invalid(_)));
    }

    #[test]
    fn plain_text_and_escaped_slash() {
        assert_eq!(parse_input("hi there"), Command::Say("hi there".into()));
        assert_eq!(parse_input("//etc"), Command::Say("/etc".into()));
        assert_eq!(parse_input(""), Command::Say("".into()));
    }

    #[test]
    fn known_commands() {
        assert_eq!(
            parse_input("/join #a,#b key"),
            Command::Join {
                rooms: vec!["#a".into(), "#b".into()],
                key: Some("key".into())
            }
        );
        assert_eq!(
            parse_input("/part #a gone home"),
            Command::Part {
                room: Some("#a".into()),
                reason: Some("gone home".into())
            }
        );
        assert_eq!(
            parse_input("/part gone"),
            Command::Part {
                room: None,
                reason: Some("gone".into())
            }
        );
        assert_eq!(
            parse_input("/msg bob  hello  you"),
            Command::Msg {
                target: "bob".into(),
                text: "hello  you".into()
            }
        );
        assert_eq!(
            parse_input("/query bob"),
            Command::Query {
                nick: "bob".into(),
                text: None
            }
        );
        assert_eq!(parse_input("/ME waves"), Command::Me("waves".into()));
        assert_eq!(parse_input("/quit"), Command::Quit(None));
        assert_eq!(parse_input("/away"), Command::Away(None));
        assert_eq!(parse_input("/b 3"), Command::Buffer(3));
        assert_eq!(parse_input("/help"), Command::Help);
        assert_eq!(parse_input("/lag"), Command::Lag);
        assert_eq!(
            parse_input("/search pizza  time"),
            Command::Search("pizza  time".into())
        );
        assert_eq!(parse_input("/history"), Command::History);
        assert_eq!(
            parse_input("/topic #r new words"),
            Command::Topic {
                room: Some("#r".into()),
                text: Some("new words".into())
            }
        );
    }

    #[test]
    fn misuse_and_unknown() {
        assert!(matches!(parse_input("/msg bob"), Command::Invalid(_)));
        assert!(matches!(parse_input("/join"), Command::Invalid(_)));
        assert!(matches!(parse_input("/search  "), Command::Invalid(_)));
        assert!(matches!(parse_input("/"), Command::Invalid(_)));
        assert_eq!(parse_input("/whois bob"), Command::Raw("WHOIS bob".into()));
        assert_eq!(parse_input("/motd"), Command::Raw("MOTD".into()));
        assert_eq!(
            parse_input("/quote PRIVMSG #a :x"),
            Command::Raw("PRIVMSG #a :x".into())
        );
    }
}
