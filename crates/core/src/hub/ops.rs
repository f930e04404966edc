//! The hub's rules for the powers some members hold: room modes and their
//! lists, user modes, KICK, INVITE, server operators and KILL.
//!
//! Part of the hub's state machine (same `impl Hub`), kept apart so that
//! `hub.rs` stays about membership and delivery. Like the rest of the hub it
//! must not do I/O or know any wire syntax: a mode string here is the mode
//! letters every protocol shares, parsed once for all of them.

use super::*;
use crate::modes::{ModeChange, ModeKind};

/// Longest ban/exception/invite mask kept, in bytes.
const MASK_LEN: usize = 128;
/// Longest room key, in bytes (IRC `KEYLEN`).
pub const KEY_LEN: usize = 23;

impl Hub {
    pub(super) fn mode(
        &mut self,
        conn: ConnId,
        target: &str,
        args: &[String],
        out: &mut impl Outbox,
    ) -> Outcome {
        if target.starts_with('#') {
            self.room_mode(conn, target, args, out)
        } else {
            self.user_mode(conn, target, args, out)
        }
    }

    fn room_mode(
        &mut self,
        conn: ConnId,
        target: &str,
        args: &[String],
        out: &mut impl Outbox,
    ) -> Outcome {
        let key = Key::of(target);
        let Some(room) = self.rooms.get(&key) else {
            return Err(HubError::NoSuchRoom(target.into()));
        };
        let Some(modestr) = args.first().filter(|m| !m.is_empty()) else {
            send(out, conn, self.room_modes(room, conn));
            return Ok(());
        };
        let by = self.members[&conn].info.clone();
        let is_op = room.is_op(conn);
        let max_list = self.cfg.max_list_entries;
        let mut params = args[1..].iter();
        let mut budget = self.cfg.max_modes.max(1);
        let mut changes: Vec<ModeChange> = Vec::new();
        let mut errors: Vec<HubError> = Vec::new();
        let mut refused_privs = false;
        // Each list is sent at most once per command: `MODE #r bbbb...`
        // must not turn one line into hundreds of copies of a list.
        let mut listed: Vec<char> = Vec::new();
        let mut add = true;
        let err = |errors: &mut Vec<HubError>, e: HubError| {
            // One of each refusal is enough: a hostile mode string of
            // hundreds of letters must not earn hundreds of replies.
            if !errors.contains(&e) {
                errors.push(e);
            }
        };
        for c in modestr.chars() {
            let kind = match c {
                '+' => {
                    add = true;
                    continue;
                }
                '-' => {
                    add = false;
                    continue;
                }
                c => modes::room_mode_kind(c),
            };
            let Some(kind) = kind else {
                err(&mut errors, HubError::UnknownMode { mode: c });
                continue;
            };
            let takes_param = match kind {
                ModeKind::List | ModeKind::Member => true,
                ModeKind::Key => true,
                ModeKind::Limit => add,
                ModeKind::Flag => false,
            };
            // Past MODES changes with a parameter, the rest is ignored; a
            // list letter with no parameter left is a query, which is free.
            let is_query = kind == ModeKind::List && params.len() == 0;
            if takes_param && budget == 0 && !is_query {
                continue;
            }
            let param = if takes_param { params.next() } else { None };
            if kind == ModeKind::List && param.is_none() {
                if listed.contains(&c) {
                    continue;
                }
                listed.push(c);
                let Some(room) = self.rooms.get(&key) else {
                    break;
                };
                let entries = match c {
                    'b' => room.bans.clone(),
                    'e' => room.excepts.clone(),
                    _ => room.invex.clone(),
                };
                send(
                    out,
                    conn,
                    Event::ModeList {
                        room: room.name.clone(),
                        mode: c,
                        entries,
                    },
                );
                continue;
            }
            if takes_param {
                budget = budget.saturating_sub(1);
            }
            if !is_op {
                if !refused_privs {
                    refused_privs = true;
                    err(
                        &mut errors,
                        HubError::ChanOpPrivsNeeded(room_name(&self.rooms, &key)),
                    );
                }
                continue;
            }
            match kind {
                ModeKind::Member => {
                    let Some(nick) = param else { continue };
                    let Some(&them) = self.nicks.get(&Key::of(nick)) else {
                        err(&mut errors, HubError::NoSuchNick(nick.as_str().into()));
                        continue;
                    };
                    let their_nick = self.members[&them].info.nick.clone();
                    let Some(room) = self.rooms.get_mut(&key) else {
                        break;
                    };
                    let Some(status) = room.members.get_mut(&them) else {
                        err(
                            &mut errors,
                            HubError::UserNotInRoom {
                                nick: their_nick,
                                room: room.name.clone(),
                            },
                        );
                        continue;
                    };
                    let slot = if c == 'o' {
                        &mut status.op
                    } else {
                        &mut status.voice
                    };
                    if *slot != add {
                        *slot = add;
                        changes.push(change(add, c, Some(&their_nick)));
                    }
                }
                ModeKind::List => {
                    let Some(mask) = param else { continue };
                    let mask = modes::normalize_mask(mask, MASK_LEN);
                    let Some(room) = self.rooms.get_mut(&key) else {
                        break;
                    };
                    let list = match c {
                        'b' => &mut room.bans,
                        'e' => &mut room.excepts,
                        _ => &mut room.invex,
                    };
                    let at = list.iter().position(|e| names::same(&e.mask, &mask));
                    match (add, at) {
                        (true, None) if list.len() >= max_list => {
                            err(
                                &mut errors,
                                HubError::ListFull {
                                    room: room.name.clone(),
                                    mode: c,
                                },
                            );
                        }
                        (true, None) => {
                            list.push(ListEntry {
                                mask: mask.as_str().into(),
                                setter: by.nick.clone(),
                                time: self.clock.now(),
                            });
                            changes.push(change(true, c, Some(&mask)));
                        }
                        (false, Some(i)) => {
                            let gone = list.remove(i);
                            changes.push(change(false, c, Some(&gone.mask)));
                        }
                        // Adding what is there or removing what is not.
                        _ => {}
                    }
                }
                ModeKind::Key => {
                    let Some(room) = self.rooms.get_mut(&key) else {
                        break;
                    };
                    if add {
                        let Some(k) = param.map(|k| clean_key(k)).filter(|k| !k.is_empty()) else {
                            continue;
                        };
                        if room.key.is_some() {
                            err(&mut errors, HubError::KeySet(room.name.clone()));
                            continue;
                        }
                        room.key = Some(k.as_str().into());
                        changes.push(change(true, 'k', Some(&k)));
                    } else if room.key.take().is_some() {
                        changes.push(change(false, 'k', Some("*")));
                    }
                }
                ModeKind::Limit => {
                    let Some(room) = self.rooms.get_mut(&key) else {
                        break;
                    };
                    if add {
                        let Some(n) = param
                            .and_then(|p| p.parse::<usize>().ok())
                            .filter(|&n| n > 0)
                        else {
                            continue;
                        };
                        if room.limit != Some(n) {
                            room.limit = Some(n);
                            changes.push(change(true, 'l', Some(&n.to_string())));
                        }
                    } else if room.limit.take().is_some() {
                        changes.push(change(false, 'l', None));
                    }
                }
                ModeKind::Flag => {
                    let Some(room) = self.rooms.get_mut(&key) else {
                        break;
                    };
                    let changed = if add {
                        room.flags.insert(c)
                    } else {
                        room.flags.remove(&c)
                    };
                    if changed {
                        changes.push(change(add, c, None));
                    }
                }
            }
        }
        for e in errors {
            send(out, conn, Event::Error(e));
        }
        if !changes.is_empty()
            && let Some(room) = self.rooms.get(&key)
        {
            let env = out.wrap(Event::ModeChanged {
                target: room.name.clone(),
                by,
                changes,
            });
            for &to in room.members.keys() {
                out.send(to, &env);
            }
            self.room_changed(&key);
        }
        Ok(())
    }

    /// A room's modes as `asker` may see them: the key only for members.
    fn room_modes(&self, room: &Room, asker: ConnId) -> Event {
        let mut modes = String::from("+");
        modes.extend(room.flags.iter());
        let mut args = Vec::new();
        if let Some(k) = &room.key {
            modes.push('k');
            if room.members.contains_key(&asker) {
                args.push(k.clone());
            } else {
                args.push("*".into());
            }
        }
        if let Some(l) = room.limit {
            modes.push('l');
            args.push(l.to_string().into());
        }
        Event::RoomModes {
            room: room.name.clone(),
            modes: modes.into(),
            args,
            created: room.created,
        }
    }

    fn user_modes(&self, conn: ConnId) -> Name {
        let m = &self.members[&conn];
        let mut s = String::from("+");
        if m.info.bot {
            s.push('B');
        }
        if m.invisible {
            s.push('i');
        }
        if m.oper {
            s.push('o');
        }
        if m.wallops {
            s.push('w');
        }
        s.into()
    }

    fn user_mode(
        &mut self,
        conn: ConnId,
        target: &str,
        args: &[String],
        out: &mut impl Outbox,
    ) -> Outcome {
        let me = self.members[&conn].info.clone();
        if !names::same(&me.nick, target) {
            return Err(if self.nicks.contains_key(&Key::of(target)) {
                HubError::UsersDontMatch
            } else {
                HubError::NoSuchNick(target.into())
            });
        }
        let Some(modestr) = args.first().filter(|m| !m.is_empty()) else {
            send(
                out,
                conn,
                Event::UserModes {
                    modes: self.user_modes(conn),
                },
            );
            return Ok(());
        };
        let mut add = true;
        let mut changes = Vec::new();
        let mut unknown: Vec<char> = Vec::new();
        let member = self.member_mut(conn);
        for c in modestr.chars() {
            match c {
                '+' => add = true,
                '-' => add = false,
                'i' if member.invisible != add => {
                    member.invisible = add;
                    changes.push(change(add, 'i', None));
                }
                'w' if member.wallops != add => {
                    member.wallops = add;
                    changes.push(change(add, 'w', None));
                }
                // A bot (IRCv3 bot-mode): anyone may say they are one.
                'B' if member.info.bot != add => {
                    member.info = Arc::new(UserInfo {
                        bot: add,
                        ..(*member.info).clone()
                    });
                    changes.push(change(add, 'B', None));
                }
                // Only OPER makes an operator; anyone may stop being one.
                'o' if !add && member.oper => {
                    member.oper = false;
                    changes.push(change(false, 'o', None));
                }
                'i' | 'o' | 'w' | 'B' => {}
                c if !unknown.contains(&c) => unknown.push(c),
                _ => {}
            }
        }
        for c in unknown {
            send(
                out,
                conn,
                Event::Error(HubError::UnknownUserMode { mode: c }),
            );
        }
        if !changes.is_empty() {
            send(
                out,
                conn,
                Event::ModeChanged {
                    target: me.nick.clone(),
                    by: me,
                    changes,
                },
            );
        }
        Ok(())
    }

    pub(super) fn kick(
        &mut self,
        conn: ConnId,
        name: &str,
        nick: &str,
        reason: Option<String>,
        out: &mut impl Outbox,
    ) -> Outcome {
        let key = Key::of(name);
        let by = self.members[&conn].info.clone();
        let room = self
            .rooms
            .get(&key)
            .ok_or_else(|| HubError::NoSuchRoom(name.into()))?;
        if !room.members.contains_key(&conn) {
            return Err(HubError::NotInRoom(room.name.clone()));
        }
        if !room.is_op(conn) {
            return Err(HubError::ChanOpPrivsNeeded(room.name.clone()));
        }
        let &them = self
            .nicks
            .get(&Key::of(nick))
            .ok_or_else(|| HubError::NoSuchNick(nick.into()))?;
        let their_nick = self.members[&them].info.nick.clone();
        if !room.members.contains_key(&them) {
            return Err(HubError::UserNotInRoom {
                nick: their_nick,
                room: room.name.clone(),
            });
        }
        let reason = reason
            .map(|r| clean_text(&r, self.cfg.kick_len))
            .filter(|r| !r.is_empty())
            .unwrap_or_else(|| by.nick.to_string());
        let env = out.wrap(Event::Kicked {
            room: room.name.clone(),
            by,
            nick: their_nick,
            reason: reason.into(),
        });
        for &to in room.members.keys() {
            out.send(to, &env);
        }
        self.remove_from_room(them, &key, out);
        Ok(())
    }

    /// Takes `conn` out of a room it is in (after the room was told) and
    /// moves its focus if that was the room. Someone removed is not
    /// remembered as an operator of it, whatever they were.
    pub(super) fn remove_from_room(&mut self, conn: ConnId, key: &Key, out: &mut impl Outbox) {
        if let Some(status) = self
            .rooms
            .get_mut(key)
            .and_then(|r| r.members.get_mut(&conn))
        {
            status.op = false;
        }
        self.leave_room(conn, key);
        let Some(member) = self.members.get_mut(&conn) else {
            return;
        };
        member.leave_list(key);
        if member.focus.as_ref() == Some(key) {
            let next = member.rooms.last().cloned();
            // set_focus cannot fail for a registered member.
            let _ = self.set_focus(conn, next, out);
        }
    }

    pub(super) fn invite(
        &mut self,
        conn: ConnId,
        nick: &str,
        name: &str,
        out: &mut impl Outbox,
    ) -> Outcome {
        let by = self.members[&conn].info.clone();
        let &them = self
            .nicks
            .get(&Key::of(nick))
            .ok_or_else(|| HubError::NoSuchNick(nick.into()))?;
        let key = Key::of(name);
        let max = self.cfg.max_list_entries.max(1);
        let room = self
            .rooms
            .get_mut(&key)
            .ok_or_else(|| HubError::NoSuchRoom(name.into()))?;
        if !room.members.contains_key(&conn) {
            return Err(HubError::NotInRoom(room.name.clone()));
        }
        if room.has('i') && !room.is_op(conn) {
            return Err(HubError::ChanOpPrivsNeeded(room.name.clone()));
        }
        let target = &self.members[&them];
        if room.members.contains_key(&them) {
            return Err(HubError::UserOnChannel {
                nick: target.info.nick.clone(),
                room: room.name.clone(),
            });
        }
        let invitee = Key::of(&target.info.nick);
        room.invited.shift_remove(&invitee);
        if room.invited.len() >= max {
            room.invited.shift_remove_index(0);
        }
        room.invited.insert(invitee);
        let env = out.wrap(Event::Invited {
            room: room.name.clone(),
            by,
            nick: target.info.nick.clone(),
        });
        out.send(conn, &env);
        if let Some(message) = &target.away {
            send(
                out,
                conn,
                Event::IsAway {
                    nick: target.info.nick.clone(),
                    message: message.clone(),
                },
            );
        }
        if them != conn {
            out.send(them, &env);
        }
        // The room's other operators learn who was let in (IRCv3
        // invite-notify); ordinary members are not told, so that an
        // invitation into a `+i` room stays between those who manage it.
        let notice = out.wrap(Event::InviteNotice {
            room: room.name.clone(),
            by: self.members[&conn].info.clone(),
            nick: target.info.nick.clone(),
        });
        for (&op, status) in &room.members {
            if status.op && op != conn && op != them {
                out.send(op, &notice);
            }
        }
        Ok(())
    }

    /// The edge checked the credentials of operator `_name` (and logged it).
    pub(super) fn oper(&mut self, conn: ConnId, _name: &str, out: &mut impl Outbox) {
        let member = self.member_mut(conn);
        let info = member.info.clone();
        let newly = !member.oper;
        member.oper = true;
        send(out, conn, Event::YoureOper);
        if newly {
            send(
                out,
                conn,
                Event::ModeChanged {
                    target: info.nick.clone(),
                    by: info,
                    changes: vec![change(true, 'o', None)],
                },
            );
        }
    }

    pub(super) fn kill(
        &mut self,
        conn: ConnId,
        nick: &str,
        reason: &str,
        out: &mut impl Outbox,
    ) -> Outcome {
        let killer = &self.members[&conn];
        if !killer.oper {
            return Err(HubError::NoPrivileges);
        }
        let killer = killer.info.nick.clone();
        let &them = self
            .nicks
            .get(&Key::of(nick))
            .ok_or_else(|| HubError::NoSuchNick(nick.into()))?;
        let reason = clean_text(reason, 200);
        let reason = if reason.is_empty() {
            killer.to_string()
        } else {
            reason
        };
        self.quit(them, format!("Killed ({killer} ({reason}))"), out);
        Ok(())
    }

    /// WALLOPS: a server operator's message to everyone with `+w` (the
    /// sender included only if they have it too, as Modern allows).
    pub(super) fn wallops(&mut self, conn: ConnId, text: &str, out: &mut impl Outbox) -> Outcome {
        let sender = &self.members[&conn];
        if !sender.oper {
            return Err(HubError::NoPrivileges);
        }
        let text = clean_text(text, self.cfg.text_len);
        if text.is_empty() {
            return Err(HubError::NoText);
        }
        let env = out.wrap(Event::Wallops {
            from: sender.info.clone(),
            text: text.into(),
        });
        let to: Vec<ConnId> = self
            .members
            .iter()
            .filter(|(_, m)| m.wallops)
            .map(|(&c, _)| c)
            .collect();
        out.send_all(to.into_iter(), &env);
        Ok(())
    }
}

impl Hub {
    /// CHGHOST: a server operator shows `nick` with `host` from now on.
    /// Everyone who shares a room with them, and they themselves, are told
    /// (each with only the rooms they share).
    pub(super) fn chghost(
        &mut self,
        conn: ConnId,
        nick: &str,
        host: &str,
        out: &mut impl Outbox,
    ) -> Outcome {
        if !self.members[&conn].oper {
            return Err(HubError::NoPrivileges);
        }
        let &them = self
            .nicks
            .get(&Key::of(nick))
            .ok_or_else(|| HubError::NoSuchNick(nick.into()))?;
        if !valid_host(host) {
            return Err(HubError::InvalidHost(host.into()));
        }
        let member = self.member_mut(them);
        if &*member.info.host == host {
            return Ok(());
        }
        let old = member.info.clone();
        let who = Arc::new(UserInfo {
            host: host.into(),
            ..(*old).clone()
        });
        member.info = who.clone();
        let their_rooms: Vec<Key> = member.rooms.to_vec();
        let sharing = self.sharing(them);
        self.monitors.tell(
            &who,
            &sharing,
            || Event::HostChanged {
                old: old.clone(),
                who: who.clone(),
                rooms: Vec::new(),
            },
            out,
        );
        for to in sharing {
            let rooms = their_rooms
                .iter()
                .filter_map(|key| {
                    let room = self.rooms.get(key)?;
                    if to != them && !room.members.contains_key(&to) {
                        return None;
                    }
                    let status = room.members.get(&them)?;
                    Some((room.name.clone(), status.op, status.voice))
                })
                .collect();
            let ev = Event::HostChanged {
                old: old.clone(),
                who: who.clone(),
                rooms,
            };
            let env = out.wrap(ev);
            out.send(to, &env);
        }
        Ok(())
    }
}

/// A host that fits in `nick!user@host` and reads as one: 1 to 63 bytes of
/// letters, digits and `.-:/_`, not starting with `:` or `-`.
pub(super) fn valid_host(host: &str) -> bool {
    (1..=63).contains(&host.len())
        && !host.starts_with([':', '-'])
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ".-:/_".contains(c))
}

fn change(add: bool, mode: char, arg: Option<&str>) -> ModeChange {
    ModeChange {
        add,
        mode,
        arg: arg.map(Into::into),
    }
}

fn room_name(rooms: &HashMap<Key, Box<Room>>, key: &Key) -> Name {
    rooms
        .get(key)
        .map(|r| r.name.clone())
        .unwrap_or_else(|| key.as_str().into())
}

/// A key is one word of printable characters; anything else is dropped
/// (a space or comma would make it impossible to type in JOIN).
fn clean_key(k: &str) -> String {
    k.chars()
        .filter(|c| !c.is_control() && !matches!(c, ' ' | ',' | ':'))
        .take(KEY_LEN)
        .collect()
}

#[cfg(test)]
#[path = "ops_tests.rs"]
mod tests;
