//! Watching nicknames come and go (IRCv3 MONITOR): who watches which
//! nicknames, and the notices when one of them registers, changes to or
//! from a watched nickname, or leaves.
//!
//! Part of the hub's state machine, kept apart like `ops.rs`. It holds no
//! member state of its own beyond the watch lists, must not do I/O, and
//! knows no wire syntax: IRC's 730–734 numerics are the renderer's.

use super::*;
use crate::command::MonitorOp;

/// The watch lists, both ways: what each connection watches (in the order
/// added, spelled as given) and who watches each nickname, so that a
/// nickname coming or going costs one lookup, not a scan of everyone.
#[derive(Debug, Default)]
pub(super) struct Monitors {
    lists: HashMap<ConnId, IndexMap<Key, Name>>,
    pub(super) watchers: HashMap<Key, HashSet<ConnId>>,
}

impl Monitors {
    /// `who` is now online under its nickname: tell its watchers.
    pub(super) fn online(&self, who: &Arc<UserInfo>, out: &mut impl Outbox) {
        if let Some(watchers) = self.watchers.get(&Key::of(&who.nick)) {
            let env = out.wrap(Event::MonOnline(vec![who.clone()]));
            for &w in watchers {
                out.send(w, &env);
            }
        }
    }

    /// Nobody holds `nick` any more: tell its watchers.
    pub(super) fn offline(&self, nick: &str, out: &mut impl Outbox) {
        if let Some(watchers) = self.watchers.get(&Key::of(nick)) {
            let env = out.wrap(Event::MonOffline(vec![nick.into()]));
            for &w in watchers {
                out.send(w, &env);
            }
        }
    }

    /// The connection is gone: drop its list.
    pub(super) fn forget(&mut self, conn: ConnId) {
        if let Some(list) = self.lists.remove(&conn) {
            for key in list.keys() {
                self.unwatch(key, conn);
            }
        }
    }

    fn unwatch(&mut self, key: &Key, conn: ConnId) {
        if let Some(w) = self.watchers.get_mut(key) {
            w.remove(&conn);
            if w.is_empty() {
                self.watchers.remove(key);
            }
        }
    }
}

impl Hub {
    pub(super) fn monitor(&mut self, conn: ConnId, op: MonitorOp, out: &mut impl Outbox) {
        match op {
            MonitorOp::Add(nicks) => self.monitor_add(conn, nicks, out),
            MonitorOp::Remove(nicks) => {
                let m = &mut self.monitors;
                if let Some(list) = m.lists.get_mut(&conn) {
                    let mut gone = Vec::new();
                    for nick in nicks {
                        let key = Key::of(&nick);
                        if list.shift_remove(&key).is_some() {
                            gone.push(key);
                        }
                    }
                    for key in gone {
                        m.unwatch(&key, conn);
                    }
                }
            }
            MonitorOp::Clear => self.monitors.forget(conn),
            MonitorOp::List => {
                let list = self
                    .monitors
                    .lists
                    .get(&conn)
                    .map(|l| l.values().cloned().collect())
                    .unwrap_or_default();
                send(out, conn, Event::MonList(list));
            }
            MonitorOp::Status => {
                let nicks: Vec<Name> = self
                    .monitors
                    .lists
                    .get(&conn)
                    .map(|l| l.values().cloned().collect())
                    .unwrap_or_default();
                self.monitor_status(conn, &nicks, out);
            }
        }
    }

    fn monitor_add(&mut self, conn: ConnId, nicks: Vec<String>, out: &mut impl Outbox) {
        let limit = self.cfg.monitor_len;
        let nick_len = self.cfg.nick_len;
        let list = self.monitors.lists.entry(conn).or_default();
        let mut added = Vec::new();
        let mut refused = Vec::new();
        for nick in nicks {
            // Masks and nonsense can never come online; the spec has no
            // error for them, so they are left out silently.
            if names::validate_nick(&nick, nick_len).is_err() {
                continue;
            }
            let key = Key::of(&nick);
            if list.contains_key(&key) {
                added.push(list[&key].clone());
                continue;
            }
            if list.len() >= limit {
                refused.push(Name::from(nick.as_str()));
                continue;
            }
            let name: Name = nick.as_str().into();
            list.insert(key.clone(), name.clone());
            self.monitors.watchers.entry(key).or_default().insert(conn);
            added.push(name);
        }
        if self.monitors.lists.get(&conn).is_some_and(|l| l.is_empty()) {
            self.monitors.lists.remove(&conn);
        }
        if !refused.is_empty() {
            send(
                out,
                conn,
                Event::MonListFull {
                    limit,
                    nicks: refused,
                },
            );
        }
        self.monitor_status(conn, &added, out);
    }

    /// RPL_MONONLINE for those of `nicks` online, RPL_MONOFFLINE for the rest.
    fn monitor_status(&self, conn: ConnId, nicks: &[Name], out: &mut impl Outbox) {
        let mut on = Vec::new();
        let mut off = Vec::new();
        for nick in nicks {
            match self.nicks.get(&Key::of(nick)) {
                Some(c) => on.push(self.members[c].info.clone()),
                None => off.push(nick.clone()),
            }
        }
        if !on.is_empty() {
            send(out, conn, Event::MonOnline(on));
        }
        if !off.is_empty() {
            send(out, conn, Event::MonOffline(off));
        }
    }
}
