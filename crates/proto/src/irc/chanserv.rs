//! ChanServ: room registration as IRC users expect to ask for it
//! (`/msg ChanServ REGISTER #room`, or the `CS` command), and the hub's
//! answers worded as NOTICEs from `ChanServ!ChanServ@services.`.
//!
//! Pure parsing and wording. Who may register or drop a room, and what a
//! registered room keeps, is the hub's (`core/hub/registered.rs`); this
//! module must not decide any of it.

use bytes::BytesMut;

use chatroom_core::registry::{Refusal, RoomReply, RoomRequest};
use chatroom_core::{Command, Topic};

use super::local::Local;
use super::wire::write_line;

/// The service's nickname (reserved in the hub's default configuration).
pub const NICK: &str = chatroom_core::hub::SERVICES_NICK;

/// Is this PRIVMSG target ChanServ?
pub fn is_chanserv(target: &str) -> bool {
    chatroom_core::names::same(target, NICK)
}

/// What one line to ChanServ asks for: a hub request, or NOTICEs the
/// session can answer itself (help, syntax).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ask {
    Hub(Command),
    Say(Vec<String>),
}

/// Parses the text of a message to ChanServ (`REGISTER #room`).
pub fn parse(text: &str) -> Ask {
    let mut words = text.split_whitespace();
    let verb = words.next().unwrap_or("").to_ascii_uppercase();
    let room = words.next();
    let make: fn(String) -> RoomRequest = match verb.as_str() {
        "REGISTER" => RoomRequest::Register,
        "DROP" => RoomRequest::Drop,
        "INFO" => RoomRequest::Info,
        "HELP" | "" => return Ask::Say(help()),
        _ => {
            return Ask::Say(vec![format!(
                "Unknown command {}. \"/msg {NICK} HELP\" lists the commands.",
                cut(&verb)
            )]);
        }
    };
    match room {
        Some(room) => Ask::Hub(Command::RoomReg(make(room.to_string()))),
        None => Ask::Say(vec![format!("Syntax: {verb} <#room>")]),
    }
}

fn help() -> Vec<String> {
    [
        "ChanServ keeps a registered room's founder, topic and modes, also across restarts.",
        "REGISTER <#room>  register a room you are an operator of to your account",
        "DROP <#room>      drop a registration (the founder or a server operator)",
        "INFO <#room>      who founded a room, when, and its topic and modes",
        "HELP              this list",
        "Whoever is logged in to the founder's account is made an operator on joining.",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// Session replies as service NOTICEs.
pub fn notices(lines: Vec<String>) -> Vec<Local> {
    lines
        .into_iter()
        .map(|text| Local::Service {
            from: NICK.to_string(),
            text,
        })
        .collect()
}

/// A user-supplied word echoed in a reply, cut short.
fn cut(s: &str) -> &str {
    let mut end = s.len().min(64);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// The lines of the hub's answer.
pub fn words(reply: &RoomReply) -> Vec<String> {
    match reply {
        RoomReply::Registered { room, founder } => {
            vec![format!("{room} is now registered to {founder}.")]
        }
        RoomReply::Dropped { room } => vec![format!("{room} is no longer registered.")],
        RoomReply::Info {
            room,
            founder,
            since,
            topic,
            modes,
        } => {
            let mut lines = vec![
                format!("Information on {room}:"),
                format!("Founder    : {founder}"),
                format!("Registered : {}", date(*since)),
            ];
            match topic {
                Some(Topic { text, setter, time }) => {
                    lines.push(format!("Topic      : {text}"));
                    lines.push(format!("Topic set  : by {setter}, {}", date(*time)));
                }
                None => lines.push("Topic      : (none)".to_string()),
            }
            lines.push(format!("Modes      : {modes}"));
            lines.push("*** End of Info ***".to_string());
            lines
        }
        RoomReply::Refused { room, why } => {
            let room = cut(room);
            vec![match why {
                Refusal::NotLoggedIn => {
                    "You must be logged in to an account to register a room.".to_string()
                }
                Refusal::NotOp => {
                    format!("You must be a channel operator of {room} to register it.")
                }
                Refusal::AlreadyRegistered { founder } => {
                    format!("{room} is already registered (founder: {founder}).")
                }
                Refusal::NotRegistered => format!("{room} is not registered."),
                Refusal::NoSuchRoom => format!("{room} does not exist."),
                Refusal::NotFounder => {
                    format!("Only the founder of {room} or a server operator may drop it.")
                }
                Refusal::BadName(why) => format!("{room} is not a valid room name: {why}."),
            }]
        }
    }
}

fn date(t: std::time::SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(t)
        .format("%Y-%m-%d %H:%M:%S UTC")
        .to_string()
}

/// Writes the hub's answer as NOTICEs to `me`.
pub fn render(reply: &RoomReply, me: &str, out: &mut BytesMut) {
    let src = format!("{NICK}!{NICK}@services.");
    for line in words(reply) {
        write_line(out, Some(&src), "NOTICE", &[me], Some(&line));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn parses_the_commands() {
        assert_eq!(
            parse("register #Rust"),
            Ask::Hub(Command::RoomReg(RoomRequest::Register("#Rust".into())))
        );
        assert_eq!(
            parse("DROP #a extra"),
            Ask::Hub(Command::RoomReg(RoomRequest::Drop("#a".into())))
        );
        assert_eq!(
            parse("INFO #a"),
            Ask::Hub(Command::RoomReg(RoomRequest::Info("#a".into())))
        );
        assert!(matches!(parse("HELP"), Ask::Say(l) if l.len() > 3));
        assert!(matches!(parse(""), Ask::Say(l) if l.len() > 3));
        assert_eq!(
            parse("REGISTER"),
            Ask::Say(vec!["Syntax: REGISTER <#room>".into()])
        );
        assert!(matches!(parse("frobnicate #a"), Ask::Say(l) if l[0].contains("FROBNICATE")));
        assert!(is_chanserv("chanserv"));
        assert!(!is_chanserv("NickServ"));
    }

    #[test]
    fn words_every_answer() {
        let info = RoomReply::Info {
            room: "#a".into(),
            founder: "alice".into(),
            since: UNIX_EPOCH + Duration::from_secs(86_400),
            topic: Some(Topic {
                text: "hello".into(),
                setter: "bob".into(),
                time: UNIX_EPOCH,
            }),
            modes: "+nt".into(),
        };
        let lines = words(&info);
        assert!(lines.contains(&"Founder    : alice".to_string()));
        assert!(lines.contains(&"Registered : 1970-01-02 00:00:00 UTC".to_string()));
        assert!(lines.contains(&"Topic      : hello".to_string()));
        assert!(lines.contains(&"Modes      : +nt".to_string()));
        let refused = RoomReply::Refused {
            room: "#a".into(),
            why: Refusal::NotLoggedIn,
        };
        assert!(words(&refused)[0].contains("logged in"));
        let mut out = BytesMut::new();
        render(&refused, "bob", &mut out);
        assert!(out.starts_with(b":ChanServ!ChanServ@services. NOTICE bob :You must"));
    }
}
