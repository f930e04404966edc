//! The registration burst: the welcome numerics (001–004), ISUPPORT (005),
//! the user counts (LUSERS, 251–266) and the message of the day.
//!
//! Words what the server is and what it supports; must not decide either
//! (the limits are the configuration's and the hub's).

use std::sync::OnceLock;

use bytes::BytesMut;

use chatroom_config::Config;
use chatroom_core::{Lusers, UserInfo};

use super::numerics::Numerics;
use crate::framing::split_text;
use crate::irc::casemap;
use crate::irc::limits::TARGMAX;
use crate::irc::numeric::*;
use crate::irc::wire::source;

/// The network name in 001 and ISUPPORT.
pub const NETWORK: &str = "chatroom";

/// What the server calls its software in 002/004.
pub fn version() -> String {
    format!("chatroom-{}", env!("CARGO_PKG_VERSION"))
}

/// Roughly when the server started: the first time a renderer was built.
pub(super) fn created() -> &'static str {
    static CREATED: OnceLock<String> = OnceLock::new();
    CREATED.get_or_init(|| {
        chrono::Utc::now()
            .format("%Y-%m-%d %H:%M:%S UTC")
            .to_string()
    })
}

/// ISUPPORT tokens that say what this server does (see docs/irc.md).
pub fn isupport(cfg: &Config) -> Vec<String> {
    let h = &cfg.hub;
    let mut tokens = vec![
        "AWAYLEN=".to_string() + &h.away_len.to_string(),
        "BOT=B".to_string(),
        format!("CASEMAPPING={}", casemap::SERVER.token()),
        format!("CHANLIMIT=#:{}", h.max_rooms_per_member),
        "CHANMODES=beI,k,l,Cimnst".to_string(),
        format!("CHANNELLEN={}", h.room_len),
        "CHANTYPES=#".to_string(),
        "ELIST=CMNTU".to_string(),
        "EXCEPTS=e".to_string(),
        // Mutes: `+b m:nick!user@host` (and `+e m:...` lifts one).
        "EXTBAN=,m".to_string(),
        "INVEX=I".to_string(),
        format!("KEYLEN={}", chatroom_core::hub::KEY_LEN),
        format!("KICKLEN={}", h.kick_len),
        format!("LINELEN={}", cfg.limits.irc_line_bytes),
        format!("MAXLIST=beI:{}", h.max_list_entries),
        format!("MODES={}", h.max_modes),
        format!("MONITOR={}", h.monitor_len),
        format!("NETWORK={NETWORK}"),
        format!("NICKLEN={}", h.nick_len),
        "PREFIX=(ov)@+".to_string(),
        "STATUSMSG=@+".to_string(),
        format!(
            "TARGMAX=JOIN:,KICK:{t},NAMES:,PART:,PRIVMSG:{t},NOTICE:{t},WHOIS:{t}",
            t = TARGMAX
        ),
        format!("TOPICLEN={}", h.topic_len),
        "UTF8ONLY".to_string(),
        "WHOX".to_string(),
    ];
    // Only with a history to read: the CHATHISTORY command and its limit.
    if cfg.history.enabled {
        tokens.push(format!(
            "CHATHISTORY={}",
            chatroom_core::history::MAX_ANSWER
        ));
        tokens.push("MSGREFTYPES=msgid,timestamp".to_string());
        tokens.sort();
    }
    tokens
}

/// 001–005 for `user`, with the ISUPPORT `tokens`. LUSERS and the MOTD
/// follow when the hub's counts arrive.
pub(super) fn welcome(to: &Numerics, user: &UserInfo, tokens: &[String], out: &mut BytesMut) {
    let version = version();
    to.numeric(
        out,
        RPL_WELCOME,
        &[],
        Some(&format!(
            "Welcome to the {NETWORK} IRC network, {}",
            source(user)
        )),
    );
    to.numeric(
        out,
        RPL_YOURHOST,
        &[],
        Some(&format!(
            "Your host is {}, running version {version}",
            to.server
        )),
    );
    to.numeric(
        out,
        RPL_CREATED,
        &[],
        Some(&format!("This server was created {}", created())),
    );
    // User modes, room modes, room modes that take a parameter.
    to.numeric(
        out,
        RPL_MYINFO,
        &[to.server, &version, "Biow", "CbeIiklmnostv", "beIklov"],
        None,
    );
    // At most 12 tokens per line keeps every 005 line far below 512 bytes.
    for chunk in tokens.chunks(12) {
        let tokens: Vec<&str> = chunk.iter().map(String::as_str).collect();
        to.numeric(
            out,
            RPL_ISUPPORT,
            &tokens,
            Some("are supported by this server"),
        );
    }
}

/// 251–266: the user counts.
pub(super) fn lusers(to: &Numerics, l: &Lusers, out: &mut BytesMut) {
    let visible = l.users.saturating_sub(l.invisible);
    to.numeric(
        out,
        RPL_LUSERCLIENT,
        &[],
        Some(&format!(
            "There are {visible} users and {} invisible on 1 servers",
            l.invisible
        )),
    );
    let opers = l.opers.to_string();
    to.numeric(out, RPL_LUSEROP, &[&opers], Some("operator(s) online"));
    // Modern: sent only when there are such connections.
    if l.unknown > 0 {
        let unknown = l.unknown.to_string();
        to.numeric(
            out,
            RPL_LUSERUNKNOWN,
            &[&unknown],
            Some("unknown connection(s)"),
        );
    }
    let rooms = l.rooms.to_string();
    to.numeric(out, RPL_LUSERCHANNELS, &[&rooms], Some("channels formed"));
    to.numeric(
        out,
        RPL_LUSERME,
        &[],
        Some(&format!("I have {} clients and 0 servers", l.users)),
    );
    let (u, m) = (l.users.to_string(), l.max_users.to_string());
    to.numeric(
        out,
        RPL_LOCALUSERS,
        &[&u, &m],
        Some(&format!("Current local users {u}, max {m}")),
    );
    to.numeric(
        out,
        RPL_GLOBALUSERS,
        &[&u, &m],
        Some(&format!("Current global users {u}, max {m}")),
    );
}

/// The message of the day, or ERR_NOMOTD when there is none.
pub(super) fn motd(to: &Numerics, motd: Option<&str>, out: &mut BytesMut) {
    match motd.filter(|m| !m.trim().is_empty()) {
        None => to.numeric(out, ERR_NOMOTD, &[], Some("MOTD File is missing")),
        Some(motd) => {
            to.numeric(
                out,
                RPL_MOTDSTART,
                &[],
                Some(&format!("- {} Message of the day - ", to.server)),
            );
            for line in motd.lines() {
                for part in split_text(line, 400) {
                    to.numeric(out, RPL_MOTD, &[], Some(&format!("- {part}")));
                }
            }
            to.numeric(out, RPL_ENDOFMOTD, &[], Some("End of /MOTD command."));
        }
    }
}

#[cfg(test)]
mod tests {
    use chatroom_config::Config;
    use chatroom_core::{Event, Lusers};

    use crate::irc::render::IrcRenderer;
    use crate::irc::render::test_support::*;

    #[test]
    fn welcome_burst() {
        let mut r = renderer();
        let out = render(
            &mut r,
            Event::Welcome {
                nick: "bob".into(),
                user: user("bob"),
            },
        );
        let l = lines(&out);
        assert_eq!(
            l[0],
            ":chatroom 001 bob :Welcome to the chatroom IRC network, bob!bob@127.0.0.1"
        );
        assert!(l[1].starts_with(":chatroom 002 bob :Your host is chatroom"));
        assert!(l[2].starts_with(":chatroom 003 bob :"));
        assert!(l[3].starts_with(":chatroom 004 bob chatroom chatroom-"));
        // 005 takes as many lines as its tokens need.
        let isupport: Vec<&str> = l
            .iter()
            .copied()
            .filter(|x| x.contains(" 005 bob "))
            .collect();
        assert!(isupport.len() >= 2, "{l:#?}");
        let isupport = isupport.join(" ");
        for token in [
            " CASEMAPPING=ascii ",
            " CHANTYPES=# ",
            " PREFIX=(ov)@+ ",
            " CHANMODES=beI,k,l,Cimnst ",
            " NICKLEN=30 ",
            " CHANNELLEN=50 ",
            " TOPICLEN=390 ",
            " AWAYLEN=200 ",
            " KICKLEN=390 ",
            " MODES=6 ",
            " MAXLIST=beI:100 ",
            " LINELEN=512 ",
            " NETWORK=chatroom ",
            " TARGMAX=",
            " WHOX ",
            " EXCEPTS=e ",
            " INVEX=I ",
            " STATUSMSG=@+ ",
            " MONITOR=100 ",
        ] {
            assert!(isupport.contains(token), "{token} in {isupport}");
        }
        assert!(
            l.last().is_some_and(|x| x.contains(" 005 bob ")),
            "the MOTD waits for the counts"
        );
        assert!(l.iter().all(|line| line.len() <= 510));
        let out = render(
            &mut r,
            Event::Lusers(Lusers {
                users: 3,
                invisible: 1,
                opers: 1,
                rooms: 2,
                unknown: 0,
                max_users: 4,
            }),
        );
        assert_eq!(
            lines(&out),
            vec![
                ":chatroom 251 bob :There are 2 users and 1 invisible on 1 servers",
                ":chatroom 252 bob 1 :operator(s) online",
                ":chatroom 254 bob 2 :channels formed",
                ":chatroom 255 bob :I have 3 clients and 0 servers",
                ":chatroom 265 bob 3 4 :Current local users 3, max 4",
                ":chatroom 266 bob 3 4 :Current global users 3, max 4",
                ":chatroom 422 bob :MOTD File is missing",
            ]
        );
        // A later LUSERS has no MOTD.
        let out = render(&mut r, Event::Lusers(Lusers::default()));
        assert!(!out.contains(" 422 "), "{out}");
        // 253 only when some connections have not registered (Modern LUSERS).
        assert!(!out.contains(" 253 "), "{out}");
        let out = render(
            &mut r,
            Event::Lusers(Lusers {
                unknown: 2,
                ..Lusers::default()
            }),
        );
        let l = lines(&out);
        assert_eq!(l[1], ":chatroom 252 bob 0 :operator(s) online");
        assert_eq!(l[2], ":chatroom 253 bob 2 :unknown connection(s)");
        assert_eq!(l[3], ":chatroom 254 bob 0 :channels formed");
    }

    #[test]
    fn motd_lines() {
        let cfg = Config {
            motd: Some("hello\nsecond line".into()),
            ..Config::default()
        };
        let mut r = IrcRenderer::new(&cfg);
        render(
            &mut r,
            Event::Welcome {
                nick: "bob".into(),
                user: user("bob"),
            },
        );
        let out = render(&mut r, Event::Lusers(Lusers::default()));
        assert!(out.contains(":chatroom 375 bob :- chatroom Message of the day - \r\n"));
        assert!(out.contains(":chatroom 372 bob :- hello\r\n"));
        assert!(out.contains(":chatroom 372 bob :- second line\r\n"));
        assert!(out.ends_with(":chatroom 376 bob :End of /MOTD command.\r\n"));
    }
}
