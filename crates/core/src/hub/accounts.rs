//! Accounts as the hub sees them: which account each member is logged in
//! to, and telling those who share a room when that changes. (Nickname
//! protection and held messages are in `services.rs`.)
//!
//! No passwords, no store and no timers here: the runtime checks
//! credentials and keeps time; the hub only records the outcome, so that
//! it is decided in the same order as every other command.

use std::sync::Arc;

use super::super::command::ConnId;
use super::super::event::{Event, UserInfo};
use super::super::names::{Key, Name};
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
        let env = out.wrap(Event::AccountChanged { who: info.clone() });
        let sharing = self.sharing(conn);
        for &to in &sharing {
            out.send(to, &env);
        }
        self.monitors.tell(
            &info,
            &sharing,
            || Event::AccountChanged { who: info.clone() },
            out,
        );
        self.founder_ops_everywhere(conn, out);
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
}
