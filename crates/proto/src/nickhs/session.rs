//! The NICK dialect's reading side as a pure state machine: the first
//! message is the nickname (admitted under the nearest free name), every
//! later one a message, with the `nick: ` prefix the tutorial client writes
//! stripped.
//!
//! Must not decide anything the hub decides; the server's session loop
//! reads, cuts the input into pieces ([`super::codec::Chunker`]) and carries
//! out the steps.

use chatroom_config::Config;
use chatroom_core::{ConnId, HubError, MsgKind, SayTarget};

use super::codec::{Piece, strip_own_prefix};
use super::raw;
use crate::dialect::{Admission, Admit, Next, Step};
use crate::framing::text;
use crate::say::says;

/// The prompt sent on connect, alone: the client compares a whole `recv`
/// to it.
pub const PROMPT: &[u8] = b"NICK";

/// What the session remembers between pieces.
#[derive(Debug)]
pub struct State {
    conn: ConnId,
    phase: Phase,
}

#[derive(Debug)]
enum Phase {
    /// Waiting for the nickname.
    Name,
    Admitting(Admit),
    /// Registered; the name the client asked for and the one it got, either
    /// of which may prefix its messages.
    Chatting(Vec<String>),
}

impl State {
    pub fn new(conn: ConnId) -> State {
        State {
            conn,
            phase: Phase::Name,
        }
    }

    /// One piece of input.
    pub fn piece(&mut self, piece: Piece, cfg: &Config) -> Vec<Step> {
        let chatting = matches!(self.phase, Phase::Chatting(_));
        let text = match piece {
            Piece::TooLong if !chatting => {
                return vec![
                    tell("Error: that nickname is far too long"),
                    Step::End {
                        reason: "Nickname too long".into(),
                        linger: true,
                    },
                ];
            }
            Piece::TooLong => {
                let max = cfg.limits.max_line_bytes;
                return vec![tell(&format!(
                    "Error: message too long (at most {max} bytes); it was not sent"
                ))];
            }
            Piece::Text(bytes) => text(&bytes),
        };
        match &self.phase {
            Phase::Chatting(names) => {
                let prefixes: Vec<&str> = names.iter().map(String::as_str).collect();
                say(strip_own_prefix(&text, &prefixes))
            }
            // Nothing to register yet (an empty line from netcat): keep
            // waiting. NICK is not sent again, so a client that answers
            // every NICK with nothing cannot make the two ends ping-pong.
            _ if text.trim().is_empty() => Vec::new(),
            _ => {
                let (admit, nick) = Admit::start(&text, self.conn, cfg.hub.nick_len);
                self.phase = Phase::Admitting(admit);
                vec![Step::Register { nick }]
            }
        }
    }

    /// The hub's answer to the last [`Step::Register`].
    pub fn outcome(&mut self, outcome: Result<(), HubError>, _cfg: &Config) -> Vec<Step> {
        let Phase::Admitting(admit) = &mut self.phase else {
            return Vec::new();
        };
        match admit.outcome(outcome) {
            Next::Try(nick) => vec![Step::Register { nick }],
            Next::Done(Admission::Registered { nick, note }) => {
                let names = vec![admit.wanted().to_string(), nick];
                self.phase = Phase::Chatting(names);
                let mut steps = vec![tell("Connected to server!")];
                steps.extend(note.map(|note| tell(&note)));
                steps
            }
            Next::Done(Admission::Refused(why)) => vec![
                tell(&format!("Error: {why}")),
                Step::End {
                    reason: why,
                    linger: true,
                },
            ],
        }
    }
}

fn tell(text: &str) -> Step {
    Step::Tell(raw(text).into())
}

fn say(body: &str) -> Vec<Step> {
    // The tutorial client sends `nick: ` for an empty input line.
    if body.trim().is_empty() {
        return Vec::new();
    }
    vec![Step::Send(says(&SayTarget::Focus, MsgKind::Say, body))]
}

#[cfg(test)]
mod tests {
    use bytes::BytesMut;
    use chatroom_core::{Command, Overflow};

    use super::*;

    fn text(s: &str) -> Piece {
        Piece::Text(BytesMut::from(s))
    }

    #[test]
    fn nickname_then_messages_without_the_own_prefix() {
        let cfg = Config::default();
        let mut st = State::new(3);
        assert_eq!(st.piece(text("\n"), &cfg), vec![]);
        assert_eq!(
            st.piece(text("nico"), &cfg),
            vec![Step::Register {
                nick: "nico".into()
            }]
        );
        assert_eq!(st.outcome(Ok(()), &cfg), vec![tell("Connected to server!")]);
        let said = st.piece(text("nico: hello"), &cfg);
        assert_eq!(
            said,
            vec![Step::Send(Command::Say {
                target: SayTarget::Focus,
                kind: MsgKind::Say,
                text: "hello".into(),
                tags: Vec::new(),
                overflow: Overflow::Split,
            })]
        );
        assert_eq!(st.piece(text("nico: "), &cfg), vec![]);
    }

    #[test]
    fn an_oversized_name_hangs_up_an_oversized_message_does_not() {
        let cfg = Config::default();
        let mut st = State::new(3);
        assert!(matches!(
            &st.piece(Piece::TooLong, &cfg)[..],
            [Step::Tell(_), Step::End { linger: true, .. }]
        ));
        st.piece(text("nico"), &cfg);
        st.outcome(Ok(()), &cfg);
        assert!(matches!(
            &st.piece(Piece::TooLong, &cfg)[..],
            [Step::Tell(_)]
        ));
    }
}
