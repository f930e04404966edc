//! The length-header dialect's reading side as a pure state machine: the
//! first field is the username (admitted under the nearest free name), every
//! later field is messages, one per line. A bad header ends the connection,
//! since the stream cannot be resynchronised.
//!
//! Must not decide anything the hub decides; the server's session loop
//! reads the fields and carries out the steps.

use chatroom_config::Config;
use chatroom_core::{ConnId, HubError, MsgKind, SayTarget};

use super::codec::{HeaderError, message_lines, pair};
use crate::dialect::{Admission, Admit, Next, Step};
use crate::say::says;

/// What the session remembers between fields.
#[derive(Debug)]
pub struct State {
    conn: ConnId,
    phase: Phase,
}

#[derive(Debug)]
enum Phase {
    /// Waiting for the username.
    Name,
    /// The hub is answering a candidate name.
    Admitting(Admit),
    Chatting,
}

impl State {
    pub fn new(conn: ConnId) -> State {
        State {
            conn,
            phase: Phase::Name,
        }
    }

    /// One field, as text.
    pub fn field(&mut self, field: &str, cfg: &Config) -> Vec<Step> {
        match self.phase {
            Phase::Chatting => say_lines(field),
            // One field at a time: the server carries out a field's steps,
            // admission included, before reading the next.
            Phase::Name | Phase::Admitting(_) => {
                let (admit, nick) = Admit::start(field, self.conn, cfg.hub.nick_len);
                self.phase = Phase::Admitting(admit);
                vec![Step::Register { nick }]
            }
        }
    }

    /// The hub's answer to the last [`Step::Register`].
    pub fn outcome(&mut self, outcome: Result<(), HubError>, cfg: &Config) -> Vec<Step> {
        let Phase::Admitting(admit) = &mut self.phase else {
            return Vec::new();
        };
        let server = &cfg.server_name;
        match admit.outcome(outcome) {
            Next::Try(nick) => vec![Step::Register { nick }],
            Next::Done(Admission::Registered { note, .. }) => {
                self.phase = Phase::Chatting;
                note.map(|note| Step::Tell(pair(server, &note).into()))
                    .into_iter()
                    .collect()
            }
            Next::Done(Admission::Refused(why)) => vec![
                Step::Tell(pair(server, &format!("error: {why}")).into()),
                Step::End {
                    reason: why,
                    linger: false,
                },
            ],
        }
    }

    /// A header that is not a length: the connection cannot go on.
    pub fn bad_header(&self, e: &HeaderError, cfg: &Config) -> Vec<Step> {
        let msg = format!("error: {e}; disconnecting");
        vec![
            Step::Tell(pair(&cfg.server_name, &msg).into()),
            Step::End {
                reason: "Bad length header".into(),
                linger: true,
            },
        ]
    }
}

/// One message field: each line a message (which the hub splits further
/// when it is longer than one message holds).
fn say_lines(field: &str) -> Vec<Step> {
    message_lines(field)
        .map(|line| Step::Send(says(&SayTarget::Focus, MsgKind::Say, line)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_taken_name_is_retried_with_digits_and_the_client_told() {
        let cfg = Config::default();
        let mut st = State::new(7);
        assert_eq!(
            st.field(" ann ", &cfg),
            vec![Step::Register { nick: "ann".into() }]
        );
        assert_eq!(
            st.outcome(Err(HubError::NickInUse("ann".into())), &cfg),
            vec![Step::Register {
                nick: "ann2".into()
            }]
        );
        let told = st.outcome(Ok(()), &cfg);
        assert!(matches!(&told[..], [Step::Tell(_)]), "{told:?}");
        // From now on a field is messages.
        assert_eq!(st.field("hi\nthere", &cfg).len(), 2);
    }

    #[test]
    fn a_refusal_other_than_taken_ends_the_connection() {
        let cfg = Config::default();
        let mut st = State::new(1);
        st.field("x", &cfg);
        let steps = st.outcome(Err(HubError::NotRegistered), &cfg);
        assert!(matches!(
            &steps[..],
            [Step::Tell(_), Step::End { linger: false, .. }]
        ));
    }
}
