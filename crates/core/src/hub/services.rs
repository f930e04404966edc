//! The services the hub decides because they need its state, in the same
//! order as every other command: holding a private message for an offline
//! account, protecting registered nicknames, and replaying a room's history
//! to whoever joins. Each decision leaves an [`Effect`] for the runtime
//! (the store, a timer) to carry out.
//!
//! Part of the hub's state machine; like the rest of it, it must not do
//! I/O, keep time other than through the hub's clock, or word anything a
//! protocol words (the protection warning is `Event::NickProtected`).

use crate::command::{ConnId, Overflow};
use crate::error::HubError;
use crate::event::{Event, MsgTarget};
use crate::names::{Key, Name, same};
use crate::services::accounts::guest_nick;
use crate::services::{Effect, Services};

use super::{Hub, MsgKind, Outbox, send};

/// Guest names tried when renaming a protected nickname's holder before
/// falling back to one made from the connection id.
const GUEST_ATTEMPTS: u32 = 20;

impl Hub {
    /// Turns services on or off (all off until called).
    pub fn set_services(&mut self, services: Services) {
        self.services = services;
    }

    /// The names of the registered accounts, at start.
    pub fn seed_accounts(&mut self, names: impl IntoIterator<Item = String>) {
        self.accounts.extend(names.into_iter().map(|n| Key::of(&n)));
    }

    /// Is there an account of this name?
    pub fn is_account(&self, name: &str) -> bool {
        self.accounts.contains(&Key::of(name))
    }

    /// What the runtime must carry out for the commands handled so far,
    /// oldest first.
    pub fn take_effects(&mut self) -> Vec<Effect> {
        std::mem::take(&mut self.effects)
    }

    /// A new account exists (registered through any protocol).
    pub(super) fn account_registered(&mut self, name: &str) {
        self.accounts.insert(Key::of(name));
    }

    /// `conn` joined the room `room`: its history up to now comes first.
    pub(super) fn joined(&mut self, conn: ConnId, room: Name) {
        if self.services.replay {
            self.effects.push(Effect::Replay {
                to: conn,
                room,
                upto: self.next_msg_id,
            });
        }
    }

    /// A message to `nick`, whom nobody holds: when it is a registered
    /// account and holding is on, the message is kept for its next login
    /// (`Some(Ok)`), in the pieces it would have been delivered as;
    /// `None` when the usual rules apply. `text` is clean already.
    pub(super) fn hold_for_offline(
        &mut self,
        conn: ConnId,
        nick: &str,
        kind: MsgKind,
        text: &str,
        overflow: Overflow,
    ) -> Option<Result<(), HubError>> {
        if !self.services.hold_offline || self.nicks.contains_key(&Key::of(nick)) {
            return None;
        }
        if !self.is_account(nick) {
            return None;
        }
        let from = self.members.get(&conn)?.info.clone();
        let to = MsgTarget::Nick(nick.into());
        let pieces = self.pieces(&from, &to, kind, text, overflow);
        if pieces.iter().all(|p| p.is_empty()) {
            return Some(Err(HubError::NoText));
        }
        for piece in pieces {
            let id = self.new_msg_id();
            let message = Event::Message {
                id,
                time: self.now(),
                from: from.clone(),
                to: to.clone(),
                kind,
                text: piece.into(),
                tags: Vec::new(),
            };
            self.effects.push(Effect::Hold {
                from: conn,
                account: nick.into(),
                message,
            });
        }
        Some(Ok(()))
    }

    /// After `conn` took a nickname or logged in or out: if it now holds
    /// someone's registered nickname without being logged in to it, it is
    /// warned and, unless that changes within the grace period, renamed.
    /// Any earlier warning's rename is called off.
    pub(super) fn check_protection(&mut self, conn: ConnId, out: &mut impl Outbox) {
        let Some(grace) = self.services.nick_grace else {
            return;
        };
        self.protect_seq += 1;
        let Some(member) = self.members.get(&conn) else {
            self.protected.remove(&conn);
            return;
        };
        let nick = member.info.nick.clone();
        let owned = member
            .info
            .account
            .as_deref()
            .is_some_and(|a| same(a, &nick));
        if owned || !self.is_account(&nick) {
            self.protected.remove(&conn);
            return;
        }
        let generation = self.protect_seq;
        self.protected.insert(conn, generation);
        send(
            out,
            conn,
            Event::NickProtected {
                nick: nick.clone(),
                grace_secs: grace.as_secs(),
            },
        );
        self.effects.push(Effect::Protect {
            conn,
            nick,
            after: grace,
            generation,
        });
    }

    /// The grace period of warning `generation` is over: if it is still
    /// the latest for `conn`, `conn` is renamed to a free guest name (one
    /// nobody registered, so the rename ends the protection).
    pub(super) fn reclaim(
        &mut self,
        conn: ConnId,
        nick: &str,
        generation: u64,
        out: &mut impl Outbox,
    ) -> Result<(), HubError> {
        if self.protected.get(&conn) != Some(&generation) {
            return Ok(());
        }
        self.protected.remove(&conn);
        let info = &self.members[&conn].info;
        if !same(&info.nick, nick) || info.account.as_deref().is_some_and(|a| same(a, nick)) {
            return Ok(());
        }
        let now = self.now();
        let guest = (0..GUEST_ATTEMPTS)
            .map(|attempt| guest_nick(now, attempt))
            .find(|g| !self.nicks.contains_key(&Key::of(g)) && !self.is_account(g))
            .unwrap_or_else(|| format!("Guest{conn}"));
        self.nick(conn, guest, out)
    }

    /// `conn` left: nothing of it is protected any more.
    pub(super) fn forget_services(&mut self, conn: ConnId) {
        self.protected.remove(&conn);
    }

    /// Which services are on.
    pub fn services(&self) -> &Services {
        &self.services
    }
}
