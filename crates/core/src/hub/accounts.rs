//! Accounts as the hub sees them: which account each member is logged in
//! to, telling those who share a room when that changes, and renaming a
//! member who holds someone else's registered nickname when the runtime
//! says the grace period is over.
//!
//! No passwords, no store and no timers here: the runtime checks
//! credentials and keeps time; the hub only records the outcome, so that
//! it is decided in the same order as every other command.

use std::sync::Arc;

use super::super::command::ConnId;
use super::super::error::HubError;
use super::super::event::{Event, UserInfo};
use super::super::names::{Key, Name, same};
use super::{Hub, Outbox};

impl Hub {
    /// Records that `conn` is logged in to `account` (or out, with `None`)
    /// and tells everyone who shares a room, the member included.
    pub(super) fn login(&mut self, conn: ConnId, account: Option<Name>, out: &mut impl Outbox) {
        let member = self.member_mut(conn);
        if member.info.account == account {
            return;
        }
        let info = Arc::new(UserInfo {
            account,
            ..(*member.info).clone()
        });
        member.info = info.clone();
        let env = out.wrap(Event::AccountChanged { who: info });
        for to in self.sharing(conn) {
            out.send(to, &env);
        }
        self.founder_ops_everywhere(conn, out);
    }

    /// Renames `conn` to `guest` if it still holds `nick` and is not
    /// logged in to the account of that name. A guest name that is taken
    /// (unlikely: the runtime picks a random one) refuses the rename.
    pub(super) fn reclaim(
        &mut self,
        conn: ConnId,
        nick: &str,
        guest: String,
        out: &mut impl Outbox,
    ) -> Result<(), HubError> {
        let info = &self.members[&conn].info;
        if !same(&info.nick, nick) || info.account.as_deref().is_some_and(|a| same(a, nick)) {
            return Ok(());
        }
        self.nick(conn, guest, out)
    }

    /// The account `conn` is logged in to.
    pub fn account_of(&self, conn: ConnId) -> Option<Name> {
        self.members.get(&conn)?.info.account.clone()
    }

    /// Who `conn` is (registered members only).
    pub fn user_of(&self, conn: ConnId) -> Option<Arc<UserInfo>> {
        self.members.get(&conn).map(|m| m.info.clone())
    }

    /// Is `nick` held by someone right now?
    pub fn nick_in_use(&self, nick: &str) -> bool {
        self.nicks.contains_key(&Key::of(nick))
    }

    /// A fresh msgid for a message that does not pass through `handle`
    /// (a private message held for an offline account).
    pub fn next_id(&mut self) -> u64 {
        self.next_msg_id += 1;
        self.next_msg_id
    }
}
