//! The help texts of `HELP` and `HELPOP`: one entry per command this
//! edge answers, and the index that lists them.
//!
//! The one place the texts live: the handler only looks them up and the
//! dispatcher's tests check that every command it routes has an entry and
//! every entry names a routed command. Plain data; must not say anything
//! the server does not do (each text follows docs/irc.md).

/// The help of one command: its syntax first, then what it does.
pub struct Topic {
    pub name: &'static str,
    pub lines: &'static [&'static str],
}

/// What `HELP` without a subject shows before the list of commands.
pub const INDEX: &[&str] = &[
    "** chatroom help **",
    "/HELP <command> shows how to use one of these commands:",
];

/// The subject the index is answered under (Modern "HELP": `index`).
pub const INDEX_SUBJECT: &str = "index";

/// Other names a command answers to.
const ALIASES: &[(&str, &str)] = &[("NS", "NICKSERV"), ("CS", "CHANSERV")];

/// Every command, in the order of the index.
pub const TOPICS: &[Topic] = &[
    Topic {
        name: "CAP",
        lines: &[
            "CAP LS [302] | REQ :<capabilities> | LIST | END",
            "Negotiates IRCv3 capabilities: LS lists what the server offers,",
            "REQ asks for some (all or none), LIST shows what is enabled.",
            "Before registration, LS or REQ holds it back until CAP END.",
        ],
    },
    Topic {
        name: "PASS",
        lines: &[
            "PASS <password>",
            "The connection password, before NICK and USER, when the server has one.",
        ],
    },
    Topic {
        name: "NICK",
        lines: &[
            "NICK <nickname>",
            "Chooses or changes your nickname: letters, digits and []\\`_^{|}-,",
            "not starting with a digit or '-'. Everyone in your rooms is told.",
        ],
    },
    Topic {
        name: "USER",
        lines: &[
            "USER <username> <mode> <unused> :<real name>",
            "Gives your username and real name when connecting.",
        ],
    },
    Topic {
        name: "PING",
        lines: &[
            "PING <token>",
            "The server answers PONG with the same token.",
        ],
    },
    Topic {
        name: "PONG",
        lines: &["PONG <token>", "The answer to the server's PING."],
    },
    Topic {
        name: "QUIT",
        lines: &[
            "QUIT [:<reason>]",
            "Leaves the server; your rooms see the reason.",
        ],
    },
    Topic {
        name: "AUTHENTICATE",
        lines: &[
            "AUTHENTICATE <mechanism> | <base64 chunk> | + | *",
            "Logs in to an account with SASL (PLAIN or EXTERNAL), in chunks of",
            "400 bytes; '+' ends a payload that fills its last chunk, '*' aborts.",
        ],
    },
    Topic {
        name: "REGISTER",
        lines: &[
            "REGISTER <* or nickname> <* or e-mail> <password>",
            "Registers your nickname as an account (no e-mail is needed).",
            "Only while the server keeps accounts.",
        ],
    },
    Topic {
        name: "VERIFY",
        lines: &[
            "VERIFY <account> <code>",
            "Completes a registration that needs a code; none here does, so",
            "every code is refused.",
        ],
    },
    Topic {
        name: "JOIN",
        lines: &[
            "JOIN <#room>{,<#room>} [<key>{,<key>}]",
            "Joins rooms, creating those that do not exist (you are then their",
            "operator). Keys pair up with rooms in order. JOIN 0 leaves every room.",
        ],
    },
    Topic {
        name: "PART",
        lines: &[
            "PART <#room>{,<#room>} [:<reason>]",
            "Leaves rooms; the room sees the reason.",
        ],
    },
    Topic {
        name: "TOPIC",
        lines: &[
            "TOPIC <#room> [:<topic>]",
            "Shows a room's topic, or sets it (an empty topic clears it).",
            "Under +t only the room's operators may set it.",
        ],
    },
    Topic {
        name: "NAMES",
        lines: &[
            "NAMES <#room>{,<#room>}",
            "Lists the people in rooms, with @ for operators and + for voice.",
        ],
    },
    Topic {
        name: "LIST",
        lines: &[
            "LIST [<mask>|!<mask>|>n|<n|C<n|C>n|T<n|T>n]{,...}",
            "Lists rooms with their sizes and topics: by name (with * and ?;",
            "! for not), with more than or fewer than n people, created (C) or",
            "with a topic set (T) less (<) or more (>) than n minutes ago.",
            "Secret rooms are not listed.",
        ],
    },
    Topic {
        name: "KICK",
        lines: &[
            "KICK <#room> <nickname>{,<nickname>} [:<reason>]",
            "Removes people from a room (room operators only).",
        ],
    },
    Topic {
        name: "INVITE",
        lines: &[
            "INVITE <nickname> <#room>",
            "Invites someone into a room; it lets them past +i and bans, once.",
        ],
    },
    Topic {
        name: "MODE",
        lines: &[
            "MODE <#room> [<modes> [<parameters>]] | MODE <nickname> [<modes>]",
            "Shows or changes modes. Rooms: +o +v (operator, voice), +b +e +I",
            "(ban, exception, invite exception masks; +b m:<mask> mutes),",
            "+k <key>, +l <limit>, +C (no CTCP but ACTION), +i (invite only),",
            "+m (moderated), +n (no messages from outside), +s (secret),",
            "+t (topic by operators). People: +i (invisible), +w (receive",
            "WALLOPS), +B (a bot), -o (stop being a server operator).",
        ],
    },
    Topic {
        name: "PRIVMSG",
        lines: &[
            "PRIVMSG <target>{,<target>} :<text>",
            "Sends a message to rooms or people, up to 4 targets. @#room or",
            "+#room reaches only a room's operators, or its voiced people too.",
            "A message too long for one relayed line (512 bytes with your",
            "nick!user@host in front) is cut to fit.",
        ],
    },
    Topic {
        name: "NOTICE",
        lines: &[
            "NOTICE <target>{,<target>} :<text>",
            "Like PRIVMSG, but never answered automatically, not even with an error.",
        ],
    },
    Topic {
        name: "TAGMSG",
        lines: &[
            "TAGMSG <target>{,<target>}",
            "Sends only client tags (such as +typing) to those who enabled",
            "message-tags, under the rules of PRIVMSG.",
        ],
    },
    Topic {
        name: "REDACT",
        lines: &[
            "REDACT <target> <msgid> [:<reason>]",
            "Withdraws a message: your own for a while after sending it, any of",
            "a room's as its operator (draft/message-redaction).",
        ],
    },
    Topic {
        name: "NICKSERV",
        lines: &[
            "NICKSERV <command> (also NS, or /msg NickServ <command>)",
            "Accounts: REGISTER, IDENTIFY, SET PASSWORD, INFO, CERT.",
            "/msg NickServ HELP lists them.",
        ],
    },
    Topic {
        name: "CHANSERV",
        lines: &[
            "CHANSERV <command> (also CS, or /msg ChanServ <command>)",
            "Registered rooms: REGISTER, DROP, INFO. /msg ChanServ HELP lists them.",
        ],
    },
    Topic {
        name: "WHO",
        lines: &[
            "WHO <mask> [%<fields>[,<token>]]",
            "Lists a room's members, a person, or everyone visible matching a",
            "mask; with %fields (WHOX) answers 354 with the fields asked for.",
        ],
    },
    Topic {
        name: "WHOIS",
        lines: &[
            "WHOIS [<server>] <nickname>{,<nickname>}",
            "Shows who someone is: their address, real name, rooms, account,",
            "whether they are away or a server operator, and their idle time.",
        ],
    },
    Topic {
        name: "WHOWAS",
        lines: &[
            "WHOWAS <nickname> [<count>]",
            "Shows who recently held a nickname, newest first.",
        ],
    },
    Topic {
        name: "USERHOST",
        lines: &[
            "USERHOST <nickname>{ <nickname>}",
            "Shows the addresses of up to 5 people.",
        ],
    },
    Topic {
        name: "ISON",
        lines: &[
            "ISON <nickname>{ <nickname>}",
            "Shows which of these nicknames are online.",
        ],
    },
    Topic {
        name: "MONITOR",
        lines: &[
            "MONITOR + <nickname>{,<nickname>} | - <nickname>{,...} | C | L | S",
            "Tells you when the nicknames you watch come online or leave:",
            "+ adds, - removes, C clears, L lists, S shows who is online now.",
        ],
    },
    Topic {
        name: "AWAY",
        lines: &[
            "AWAY [:<message>]",
            "Marks you away with a message, or back without one.",
        ],
    },
    Topic {
        name: "SETNAME",
        lines: &[
            "SETNAME :<real name>",
            "Changes your real name (at most 64 bytes).",
        ],
    },
    Topic {
        name: "BATCH",
        lines: &[
            "BATCH +<ref> draft/multiline <target> ... BATCH -<ref>",
            "Sends one message of several lines: PRIVMSG lines tagged batch=<ref>",
            "in between (draft/multiline; see CAP LS for the limits).",
        ],
    },
    Topic {
        name: "MARKREAD",
        lines: &[
            "MARKREAD <target> [timestamp=<time>]",
            "Asks where you have read to in a room or conversation, or moves it",
            "forward; your other connections on the same account are told.",
        ],
    },
    Topic {
        name: "OPER",
        lines: &[
            "OPER <name> <password>",
            "Makes you a server operator (over TLS or from this machine only).",
        ],
    },
    Topic {
        name: "KILL",
        lines: &[
            "KILL <nickname> :<reason>",
            "Disconnects someone (server operators only).",
        ],
    },
    Topic {
        name: "CHGHOST",
        lines: &[
            "CHGHOST <nickname> <host>",
            "Shows someone with another host (server operators only).",
        ],
    },
    Topic {
        name: "WALLOPS",
        lines: &[
            "WALLOPS :<text>",
            "Sends a message to everyone with user mode +w (server operators only).",
        ],
    },
    Topic {
        name: "MOTD",
        lines: &["MOTD", "Shows the message of the day."],
    },
    Topic {
        name: "LUSERS",
        lines: &["LUSERS", "Shows how many people and rooms there are."],
    },
    Topic {
        name: "TIME",
        lines: &["TIME", "Shows the server's time."],
    },
    Topic {
        name: "INFO",
        lines: &["INFO", "Shows what this server is and its version."],
    },
    Topic {
        name: "LINKS",
        lines: &[
            "LINKS [[<server>] <mask>]",
            "Lists the servers of the network: there is only this one.",
        ],
    },
    Topic {
        name: "HELP",
        lines: &[
            "HELP [<command>] (also HELPOP)",
            "Shows the list of commands, or how to use one.",
        ],
    },
    Topic {
        name: "CHATHISTORY",
        lines: &[
            "CHATHISTORY LATEST|BEFORE|AFTER|AROUND <target> <ref> <limit>",
            "CHATHISTORY BETWEEN <target> <ref> <ref> <limit>",
            "CHATHISTORY TARGETS <ref> <ref> <limit>",
            "Reads a room's or a private conversation's history; a <ref> is",
            "msgid=<id> or timestamp=<time> (* for LATEST: the newest).",
            "Only while the server keeps history.",
        ],
    },
    Topic {
        name: "SEARCH",
        lines: &[
            "SEARCH <#room> :<words>",
            "Finds the messages of a room's history holding these words.",
            "Only while the server keeps history.",
        ],
    },
];

/// The help of `subject` (any case; an alias gives its command's).
pub fn topic(subject: &str) -> Option<&'static Topic> {
    let subject = ALIASES
        .iter()
        .find(|(alias, _)| alias.eq_ignore_ascii_case(subject))
        .map_or(subject, |(_, name)| name);
    let subject = if subject.eq_ignore_ascii_case("HELPOP") {
        "HELP"
    } else {
        subject
    };
    TOPICS.iter().find(|t| t.name.eq_ignore_ascii_case(subject))
}

/// The index: [`INDEX`], then the commands, several to a line.
pub fn index() -> Vec<String> {
    let mut lines: Vec<String> = INDEX.iter().map(|l| l.to_string()).collect();
    let mut line = String::new();
    for t in TOPICS {
        if !line.is_empty() && line.len() + 1 + t.name.len() > 60 {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(t.name);
    }
    lines.push(line);
    lines
}

/// Every name a command answers to besides its own (for the dispatcher's
/// tests).
pub fn aliases() -> impl Iterator<Item = &'static str> {
    ALIASES
        .iter()
        .map(|(alias, _)| *alias)
        .chain(std::iter::once("HELPOP"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_are_found_in_any_case_and_by_alias() {
        assert_eq!(topic("privmsg").map(|t| t.name), Some("PRIVMSG"));
        assert_eq!(topic("Ns").map(|t| t.name), Some("NICKSERV"));
        assert_eq!(topic("helpop").map(|t| t.name), Some("HELP"));
        assert!(topic("THISISNOTACOMMAND").is_none());
        assert!(topic("").is_none());
    }

    #[test]
    fn every_topic_starts_with_its_syntax_and_fits_a_line() {
        for t in TOPICS {
            assert!(t.lines.len() >= 2, "{}", t.name);
            assert!(t.lines[0].starts_with(t.name), "{}", t.name);
            // With `:server 705 <nick> <subject> :` in front, well under 512.
            assert!(t.lines.iter().all(|l| l.len() <= 80), "{}", t.name);
        }
        let names: std::collections::HashSet<&str> = TOPICS.iter().map(|t| t.name).collect();
        assert_eq!(names.len(), TOPICS.len(), "one entry per command");
    }

    #[test]
    fn the_index_lists_every_command_once() {
        let listed: Vec<String> = index()[INDEX.len()..]
            .iter()
            .flat_map(|l| l.split(' ').map(str::to_string).collect::<Vec<_>>())
            .collect();
        let names: Vec<&str> = TOPICS.iter().map(|t| t.name).collect();
        assert_eq!(listed, names);
        assert!(index().iter().all(|l| l.len() <= 80));
    }
}
