//! Saying things: messages and tag-only messages to rooms, people and a
//! room's operators, who receives each, and topics.
//!
//! Part of the hub's state machine (same `impl Hub`). Every message gets
//! its msgid and time here, in command order, which is what keeps each
//! sender's messages in order for everyone. Must not do I/O or format
//! anything for a protocol.

use super::room::{check_ctcp, check_speech};
use super::{Hub, Outbox, Outcome, clean_text, cut, send, split_text};
use crate::command::{ConnId, MsgKind, Overflow, SayTarget};
use crate::error::HubError;
use crate::event::{Event, MsgTarget, Topic, UserInfo};
use crate::names::{Key, Name};
use crate::registry::Note;

/// Who receives a message: a room's members, read when delivering so that
/// no list is built per message, or a person (and the sender, when that is
/// someone else).
pub(super) enum Recipients {
    Room(Key),
    /// A room's operators (`true`) or operators and voiced people
    /// (`false`), and the sender (for echo).
    Status(Key, bool, ConnId),
    People(ConnId, Option<ConnId>),
}

/// Client-only tags as the hub keeps them: CR, LF and NUL cannot reach
/// another protocol's stream even if an edge forgot to escape them.
pub(super) fn relay_tags(tags: Vec<(String, String)>) -> Vec<(Name, Name)> {
    tags.into_iter()
        .map(|(k, v)| {
            (
                clean_text(&k, k.len()).into(),
                clean_text(&v, v.len()).into(),
            )
        })
        .collect()
}

/// What a `Command::Say` asks to say, and where.
pub(super) struct Speech {
    pub target: SayTarget,
    pub kind: MsgKind,
    pub text: String,
    pub tags: Vec<(String, String)>,
    pub overflow: Overflow,
}

impl Hub {
    pub(super) fn say(&mut self, conn: ConnId, speech: Speech, out: &mut impl Outbox) -> Outcome {
        let Speech {
            target,
            kind,
            text,
            tags,
            overflow,
        } = speech;
        let text = match overflow {
            // The lines' own marks stay; NUL never does (see `multiline`).
            Overflow::Lines => crate::multiline::fit(
                &text.replace('\0', " "),
                self.cfg.multiline_max_bytes,
                self.cfg.multiline_max_lines,
            ),
            _ => clean_text(&text, text.len()),
        };
        if overflow == Overflow::Lines
            && crate::multiline::parts(&text).all(|(line, _)| line.trim().is_empty())
        {
            return Err(HubError::NoText);
        }
        if let SayTarget::Nick(nick) = &target
            && let Some(held) = self.hold_for_offline(conn, nick, kind, &text, overflow)
        {
            return held;
        }
        if text.is_empty() {
            return Err(HubError::NoText);
        }
        // A notice is never answered, not even with RPL_AWAY.
        let (to, recipients) = self.recipients(conn, target, kind != MsgKind::Notice, out)?;
        if let Recipients::Room(key) | Recipients::Status(key, ..) = &recipients
            && let Some(room) = self.rooms.get(key)
        {
            check_ctcp(room, kind, &text)?;
        }
        let from = self.members[&conn].info.clone();
        let pieces = self.pieces(&from, &to, kind, &text, overflow);
        if pieces.iter().all(|p| p.is_empty()) {
            return Err(HubError::NoText);
        }
        let to_account = match &recipients {
            Recipients::People(them, _) => {
                self.members.get(them).and_then(|m| m.info.account.clone())
            }
            _ => None,
        };
        let tags = relay_tags(tags);
        for piece in pieces {
            let id = self.new_msg_id();
            let env = out.wrap(Event::Message {
                id,
                time: self.now(),
                from: from.clone(),
                to: to.clone(),
                kind,
                text: piece.into(),
                tags: tags.clone(),
            });
            self.deliver(&recipients, &env, out);
            self.remember_sent(self.next_msg_id, conn, &recipients);
            if let Some(account) = &to_account {
                self.note(Note::PrivateRecipient {
                    id,
                    account: account.clone(),
                });
            }
        }
        self.member_mut(conn).last_spoke = self.now();
        Ok(())
    }

    /// The messages `text` from `from` to `to` is sent as: the text whole
    /// when it fits in one (`[hub] text_len` and the relay line, see
    /// [`Hub::fit_text_with`]), else cut to fit or split, as `overflow`
    /// asks. What is cut is never delivered nor kept in history, so every
    /// recipient and the history hold the same text.
    pub(super) fn pieces<'t>(
        &self,
        from: &UserInfo,
        to: &MsgTarget,
        kind: MsgKind,
        text: &'t str,
        overflow: Overflow,
    ) -> Vec<&'t str> {
        let fit = self.text_fit.map_or(usize::MAX, |f| f(from, to, kind));
        let room = self.cfg.text_len.min(fit).max(1);
        match overflow {
            Overflow::Cut => vec![cut(text, room)],
            Overflow::Split => split_text(text, room),
            // Each line fits a relayed line as the sender sent it; the
            // renderers split one that does not (a longer source).
            Overflow::Lines => vec![text],
        }
    }

    /// TAGMSG: delivered under the same rules as a message, without text.
    /// It does not count as speaking (idle time) and earns no RPL_AWAY:
    /// typing notifications would otherwise flood the sender with them.
    pub(super) fn tagmsg(
        &mut self,
        conn: ConnId,
        target: SayTarget,
        tags: Vec<(String, String)>,
        out: &mut impl Outbox,
    ) -> Outcome {
        let (to, recipients) = self.recipients(conn, target, false, out)?;
        let id = self.new_msg_id();
        let env = out.wrap(Event::TagMsg {
            id,
            time: self.now(),
            from: self.members[&conn].info.clone(),
            to,
            tags: relay_tags(tags),
        });
        self.deliver(&recipients, &env, out);
        self.remember_sent(self.next_msg_id, conn, &recipients);
        // A reaction to a private message is kept in the history of the
        // conversation, which is found by its parties' accounts.
        if let Recipients::People(them, _) = &recipients
            && let Some(account) = self.members.get(them).and_then(|m| m.info.account.clone())
        {
            self.note(Note::PrivateRecipient {
                id: self.next_msg_id,
                account,
            });
        }
        Ok(())
    }

    /// Where a message from `conn` to `target` goes, if it may be sent:
    /// the target as recipients see it and who receives it (the sender
    /// included, so that edges can echo). `away_reply` tells the sender
    /// when a person messaged is away.
    pub(super) fn recipients(
        &self,
        conn: ConnId,
        target: SayTarget,
        away_reply: bool,
        out: &mut impl Outbox,
    ) -> Result<(MsgTarget, Recipients), HubError> {
        let member = self.members.get(&conn).ok_or(HubError::NotRegistered)?;
        let from = &member.info;
        let (key, room) = match target {
            SayTarget::Status(prefix, name) => {
                let key = Key::of(&name);
                let room = self
                    .rooms
                    .get(&key)
                    .ok_or_else(|| HubError::NoSuchRoom(name.as_str().into()))?;
                // Whoever may speak in the room may address its
                // operators or voiced people (as InspIRCd and solanum do).
                check_speech(room, conn, from)?;
                let to = MsgTarget::Status(format!("{prefix}{}", room.name).into());
                return Ok((to, Recipients::Status(key, prefix == '@', conn)));
            }
            SayTarget::Focus => {
                let key = member.focus.clone().ok_or(HubError::NoFocus)?;
                let room = self.rooms.get(&key).ok_or(HubError::NoFocus)?;
                (key, room)
            }
            SayTarget::Room(name) => {
                let key = Key::of(&name);
                let room = self
                    .rooms
                    .get(&key)
                    .ok_or_else(|| HubError::NoSuchRoom(name.as_str().into()))?;
                (key, room)
            }
            SayTarget::Nick(nick) => {
                let &them = self
                    .nicks
                    .get(&Key::of(&nick))
                    .ok_or_else(|| HubError::NoSuchNick(nick.as_str().into()))?;
                let target = &self.members[&them];
                if let (true, Some(message)) = (away_reply, &target.away) {
                    send(
                        out,
                        conn,
                        Event::IsAway {
                            nick: target.info.nick.clone(),
                            message: message.clone(),
                        },
                    );
                }
                let sender = (them != conn).then_some(conn);
                return Ok((
                    MsgTarget::Nick(target.info.nick.clone()),
                    Recipients::People(them, sender),
                ));
            }
        };
        check_speech(room, conn, from)?;
        Ok((MsgTarget::Room(room.name.clone()), Recipients::Room(key)))
    }

    pub(super) fn deliver<O: Outbox>(&self, to: &Recipients, env: &O::Env, out: &mut O) {
        match to {
            Recipients::Room(key) => {
                if let Some(room) = self.rooms.get(key) {
                    out.send_all(room.members.keys().copied(), env);
                }
            }
            Recipients::Status(key, ops_only, sender) => {
                if let Some(room) = self.rooms.get(key) {
                    for (&r, s) in &room.members {
                        if r != *sender && (s.op || (!ops_only && s.voice)) {
                            out.send(r, env);
                        }
                    }
                }
                out.send(*sender, env);
            }
            Recipients::People(them, sender) => {
                out.send(*them, env);
                if let Some(me) = sender {
                    out.send(*me, env);
                }
            }
        }
    }

    pub(super) fn topic(
        &mut self,
        conn: ConnId,
        name: &str,
        topic: Option<String>,
        out: &mut impl Outbox,
    ) -> Outcome {
        let key = Key::of(name);
        let topic_len = self.cfg.topic_len;
        let by = self.members[&conn].info.clone();
        let Some(room) = self.rooms.get_mut(&key) else {
            return Err(HubError::NoSuchRoom(name.into()));
        };
        let Some(text) = topic else {
            if room.has('s') && !room.members.contains_key(&conn) {
                return Err(HubError::NotInRoom(room.name.clone()));
            }
            send(
                out,
                conn,
                Event::TopicIs {
                    room: room.name.clone(),
                    topic: room.topic.clone(),
                },
            );
            return Ok(());
        };
        if !room.members.contains_key(&conn) {
            return Err(HubError::NotInRoom(room.name.clone()));
        }
        if room.has('t') && !room.is_op(conn) {
            return Err(HubError::ChanOpPrivsNeeded(room.name.clone()));
        }
        let text = clean_text(&text, topic_len);
        room.topic = (!text.is_empty()).then(|| Topic {
            text: text.into(),
            setter: by.nick.clone(),
            time: self.clock.now(),
        });
        let env = out.wrap(Event::TopicChanged {
            room: room.name.clone(),
            topic: room.topic.clone(),
            by: by.clone(),
        });
        for &to in room.members.keys() {
            out.send(to, &env);
        }
        self.topic_changed(&key, by);
        Ok(())
    }
}
