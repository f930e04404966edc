//! Watching nicknames come and go (IRCv3 MONITOR): who watches which
//! nicknames, and the notices when one of them registers, changes to or
//! from a watched nickname, or leaves; and, for extended-monitor, the
//! away, account, real-name and host news of a watched person to
//! watchers who share no room with them.
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

    /// Tells those who watch `who`'s nickname and are not among `told`
    /// (those who share a room with `who`, and `who`) of `event`, as an
    /// `Event::Watched` (IRCv3 extended-monitor: watchers hear what they
    /// would if they shared a room, once).
    pub(super) fn tell(
        &self,
        who: &UserInfo,
        told: &[ConnId],
        event: impl FnOnce() -> Event,
        out: &mut impl Outbox,
    ) {
        let Some(watchers) = self.watchers.get(&Key::of(&who.nick)) else {
            return;
        };
        let mut to = watchers.iter().filter(|w| !told.contains(w)).peekable();
        if to.peek().is_none() {
            return;
        }
        let env = out.wrap(Event::Watched(Box::new(event())));
        for &w in to {
            out.send(w, &env);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ManualClock;

    fn run(hub: &mut Hub, conn: ConnId, cmd: Command) -> Vec<(ConnId, Arc<Event>)> {
        let mut out = Vec::new();
        hub.handle(conn, cmd, &mut out).expect("accepted");
        out
    }

    fn register(hub: &mut Hub, conn: ConnId, nick: &str) {
        run(
            hub,
            conn,
            Command::Register {
                nick: nick.into(),
                user: nick.into(),
                realname: nick.into(),
                host: "127.0.0.1".into(),
            },
        );
    }

    /// The `Watched` news each connection got.
    fn watched(out: &[(ConnId, Arc<Event>)]) -> Vec<(ConnId, Event)> {
        out.iter()
            .filter_map(|(c, e)| match &**e {
                Event::Watched(inner) => Some((*c, (**inner).clone())),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn watchers_sharing_no_room_hear_away_account_realname_and_host_once() {
        let cfg = HubConfig {
            default_rooms: Vec::new(),
            ..HubConfig::default()
        };
        let mut hub = Hub::new(cfg, Arc::new(ManualClock::new_year()));
        register(&mut hub, 1, "watcher");
        register(&mut hub, 2, "roommate");
        register(&mut hub, 3, "bar");
        register(&mut hub, 4, "root");
        run(&mut hub, 2, Command::Join("#x".into()));
        run(&mut hub, 3, Command::Join("#x".into()));
        // Both watch bar; only the watcher shares no room with bar.
        for w in [1, 2] {
            run(
                &mut hub,
                w,
                Command::Monitor(MonitorOp::Add(vec!["BAR".into()])),
            );
        }
        let out = run(&mut hub, 3, Command::Away(Some("afk".into())));
        let news = watched(&out);
        assert_eq!(news.len(), 1, "{out:?}");
        assert!(
            matches!(&news[0], (1, Event::AwayStatus { who, message: Some(m) })
            if &*who.nick == "bar" && &**m == "afk")
        );
        assert!(
            out.iter()
                .any(|(c, e)| *c == 2 && matches!(&**e, Event::AwayStatus { .. })),
            "the roommate hears it as before, once"
        );
        let out = run(&mut hub, 3, Command::Setname("Bar Real".into()));
        assert!(
            matches!(&watched(&out)[..], [(1, Event::RealnameChanged { who })]
            if &*who.realname == "Bar Real")
        );
        let out = run(&mut hub, 3, Command::Login(Some("bar".into())));
        assert!(
            matches!(&watched(&out)[..], [(1, Event::AccountChanged { who })]
            if who.account.as_deref() == Some("bar"))
        );
        run(
            &mut hub,
            4,
            Command::Oper {
                name: "root".into(),
            },
        );
        let out = run(
            &mut hub,
            4,
            Command::ChgHost {
                nick: "bar".into(),
                host: "cloak".into(),
            },
        );
        assert!(
            matches!(&watched(&out)[..], [(1, Event::HostChanged { who, rooms, .. })]
            if &*who.host == "cloak" && rooms.is_empty())
        );
        // Once it stops watching, nothing more.
        run(&mut hub, 1, Command::Monitor(MonitorOp::Clear));
        let out = run(&mut hub, 3, Command::Away(None));
        assert!(watched(&out).is_empty(), "{out:?}");
    }
}
