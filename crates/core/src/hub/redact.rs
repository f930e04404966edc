//! Withdrawing messages (IRCv3 `draft/message-redaction`): who may withdraw
//! which message, and who is told.
//!
//! The hub remembers who sent each of the latest [`RECENT`] messages,
//! where and when (a few dozen bytes each); a message it no longer
//! remembers (older, or sent before a restart) cannot be withdrawn, which
//! the spec's `UNKNOWN_MSGID` ("does not exist or is too old") allows.
//! Its sender may withdraw a message within `[hub] redact_window_secs`
//! (the sender being the same connection, or someone logged in to the
//! same account); a room operator or a server operator may withdraw any
//! remembered message of a room; a private message is only ever its
//! sender's to withdraw. The history forgets a withdrawn message when it
//! stores the `Event::Redacted` (the runtime's business).
//!
//! Part of the hub's state machine; no I/O and no wording here.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, SystemTime};

use super::messages::Recipients;
use super::{Hub, Outbox, Outcome, clean_text};
use crate::command::ConnId;
use crate::error::{HubError, RedactRefusal};
use crate::event::{Event, MsgTarget};
use crate::names::{Key, Name};

/// How many of the latest messages the hub remembers the senders of.
pub(super) const RECENT: usize = 8192;

/// Longest reason kept with a redaction, in bytes (a kick's is similar).
const REASON_LEN: usize = 390;

/// Where a remembered message went.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Conv {
    Room(Key),
    /// To this person, logged in to this account then.
    Private {
        to: ConnId,
        to_account: Option<Name>,
    },
}

#[derive(Debug, Clone)]
struct Sent {
    conv: Conv,
    author: ConnId,
    account: Option<Name>,
    time: SystemTime,
}

/// The latest messages' senders, by msgid, oldest forgotten first.
#[derive(Default)]
pub(super) struct Recent {
    by_id: HashMap<u64, Sent>,
    order: VecDeque<u64>,
}

impl Recent {
    fn remember(&mut self, id: u64, sent: Sent) {
        if self.order.len() >= RECENT
            && let Some(old) = self.order.pop_front()
        {
            self.by_id.remove(&old);
        }
        self.order.push_back(id);
        self.by_id.insert(id, sent);
    }
}

fn same_account(a: &Option<Name>, b: &Option<Name>) -> bool {
    matches!((a, b), (Some(a), Some(b)) if Key::of(a) == Key::of(b))
}

/// The conversation a REDACT names: a room, or the asker's private
/// conversation with someone (each a connection and its account).
enum Place {
    Room(Key),
    Private {
        me: (ConnId, Option<Name>),
        them: (ConnId, Option<Name>),
    },
}

impl Place {
    /// Whether `sent` belongs to this conversation. A private message
    /// counts either way round, so that the recipient asking is refused
    /// as not its sender rather than told it is unknown.
    fn holds(&self, sent: &Sent) -> bool {
        match (self, &sent.conv) {
            (Place::Room(key), Conv::Room(k)) => key == k,
            (Place::Private { me, them }, Conv::Private { to, to_account }) => {
                let is = |who: &(ConnId, Option<Name>), conn: ConnId, account: &Option<Name>| {
                    who.0 == conn || same_account(&who.1, account)
                };
                (is(them, *to, to_account) && is(me, sent.author, &sent.account))
                    || (is(me, *to, to_account) && is(them, sent.author, &sent.account))
            }
            _ => false,
        }
    }
}

impl Hub {
    /// Notes that message `id` from `conn` went to `to` (rooms and people;
    /// a message to a room's operators is not kept in history and is not
    /// remembered either).
    pub(super) fn remember_sent(&mut self, id: u64, conn: ConnId, to: &Recipients) {
        let conv = match to {
            Recipients::Room(key) => Conv::Room(key.clone()),
            Recipients::People(them, _) => Conv::Private {
                to: *them,
                to_account: self.members.get(them).and_then(|m| m.info.account.clone()),
            },
            Recipients::Status(..) => return,
        };
        let account = self.members.get(&conn).and_then(|m| m.info.account.clone());
        let time = self.now();
        self.recent.remember(
            id,
            Sent {
                conv,
                author: conn,
                account,
                time,
            },
        );
    }

    pub(super) fn redact(
        &mut self,
        conn: ConnId,
        target: &str,
        id: Option<u64>,
        msgid: &str,
        reason: Option<String>,
        out: &mut impl Outbox,
    ) -> Outcome {
        let refuse = |why| {
            Err(HubError::Redact {
                why,
                target: target.into(),
                msgid: msgid.into(),
            })
        };
        let me = &self.members[&conn];
        // Where the redaction goes, and the conversation it must name.
        let (to, recipients, place) = if target.starts_with(['#', '&']) {
            let key = Key::of(target);
            let Some(room) = self
                .rooms
                .get(&key)
                .filter(|r| r.members.contains_key(&conn))
            else {
                return refuse(RedactRefusal::InvalidTarget);
            };
            (
                MsgTarget::Room(room.name.clone()),
                Recipients::Room(key.clone()),
                Place::Room(key),
            )
        } else {
            let Some(&them) = self.nicks.get(&Key::of(target)) else {
                return refuse(RedactRefusal::InvalidTarget);
            };
            let they = &self.members[&them].info;
            (
                MsgTarget::Nick(they.nick.clone()),
                Recipients::People(them, (them != conn).then_some(conn)),
                Place::Private {
                    me: (conn, me.info.account.clone()),
                    them: (them, they.account.clone()),
                },
            )
        };
        let Some(sent) = id
            .and_then(|id| self.recent.by_id.get(&id))
            .filter(|s| place.holds(s))
        else {
            return refuse(RedactRefusal::UnknownMsgid);
        };
        let own = sent.author == conn || same_account(&sent.account, &me.info.account);
        let moderator = match &recipients {
            Recipients::Room(key) => me.oper || self.rooms.get(key).is_some_and(|r| r.is_op(conn)),
            _ => false,
        };
        if !moderator {
            if !own {
                return refuse(RedactRefusal::Forbidden);
            }
            let window = self.cfg.redact_window_secs;
            let age = self
                .now()
                .duration_since(sent.time)
                .unwrap_or(Duration::ZERO);
            if age > Duration::from_secs(window) {
                return refuse(RedactRefusal::WindowExpired(window));
            }
        }
        let Some(msgid) = id else {
            return refuse(RedactRefusal::UnknownMsgid);
        };
        self.recent.by_id.remove(&msgid);
        let reason = reason
            .map(|r| clean_text(&r, REASON_LEN))
            .filter(|r| !r.is_empty())
            .map(Name::from);
        self.next_msg_id += 1;
        let env = out.wrap(Event::Redacted {
            id: self.next_msg_id,
            time: self.now(),
            by: self.members[&conn].info.clone(),
            to,
            msgid,
            reason,
        });
        self.deliver(&recipients, &env, out);
        Ok(())
    }
}
