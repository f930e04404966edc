//! [`MemoryStore`]: every trait of the store, kept in memory and forgotten
//! when dropped. For tests of the runtime (no files, no SQLite) and for a
//! server that should remember nothing across restarts.
//!
//! It keeps the same promises as [`crate::SqliteStore`] (the contract tests
//! in `contract.rs` run against both): the same conversation keys and
//! private scopes (`keys.rs`) and selector semantics (`select.rs`), records
//! read back as SQLite reads them (times in whole milliseconds, no
//! accounts, a status target filed as its room), the same search words. What differs is
//! cost, not meaning: a conversation is a sorted map, so queries are cheap,
//! but a search reads every record of its scope (there is no index), and
//! everything lives in one lock (writers wait for readers and each other).
//!
//! This file must not touch the disk or read the journal: a restart starts
//! empty.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::ops::Bound;
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, SystemTime};

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

use chatroom_core::names::Key;
use chatroom_core::{MsgTarget, UserInfo};

use super::error::StoreError;
use super::fts::search_words;
use super::keys::{
    Parties, Pos, Scope, db_id, from_ms, peer_name, peers_of, pos_of, record_keys, room_conv,
    target_name, to_ms,
};
use super::select::{self, Walk};
use super::{
    Account, AccountStore, CompactStats, DEFAULT_MAX_LIMIT, HistoryQuery, HistoryStore, Limits,
    QueryTarget, ReadMarker, Record, RecordKind, Retention, RoomState, RoomStore, SearchStore,
    TargetInfo,
};

/// The in-memory store. Cheap to create; share it as an `Arc`.
pub struct MemoryStore {
    max_limit: usize,
    state: RwLock<State>,
}

#[derive(Default)]
struct State {
    /// Every conversation's records in (time, msgid) order, by
    /// conversation key; a conversation with no records is not here.
    convs: BTreeMap<String, BTreeMap<Pos, Record>>,
    /// Where each stored msgid is: its conversation and place.
    ids: HashMap<i64, (String, Pos)>,
    /// The private conversations each account (case-folded) took part in:
    /// the keys of conversations with at least one message it sent or
    /// received while logged in.
    private: HashMap<String, BTreeSet<String>>,
    /// The parties of each stored private message, by msgid.
    parties: HashMap<i64, Parties>,
    /// The highest msgid ever appended or held offline.
    last_id: u64,
    /// Saved rooms by case-folded name.
    rooms: BTreeMap<String, RoomState>,
    /// Read markers by case-folded account and target.
    markers: BTreeMap<(String, String), ReadMarker>,
    /// Conversation keys of rooms that keep nothing; `append` drops them.
    silent: HashSet<String>,
    /// Accounts by case-folded name.
    accounts: BTreeMap<String, Account>,
    /// Certificate fingerprint to the case-folded name of its account.
    certs: BTreeMap<String, String>,
    /// Held messages by case-folded account name, each with its place.
    offline: HashMap<String, VecDeque<(i64, Record)>>,
    /// The place the next held message gets (never reused).
    next_seq: i64,
}

impl Default for MemoryStore {
    fn default() -> Self {
        MemoryStore::new()
    }
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore")
            .field("max_limit", &self.max_limit)
            .finish_non_exhaustive()
    }
}

impl MemoryStore {
    /// An empty store answering at most [`DEFAULT_MAX_LIMIT`] records a query.
    pub fn new() -> MemoryStore {
        MemoryStore::with_max_limit(DEFAULT_MAX_LIMIT)
    }

    /// An empty store answering at most `max_limit` records a query (as
    /// [`crate::StoreOptions::max_limit`]).
    pub fn with_max_limit(max_limit: usize) -> MemoryStore {
        MemoryStore {
            max_limit,
            state: RwLock::new(State {
                next_seq: 1,
                ..State::default()
            }),
        }
    }

    // A panic while holding the lock cannot leave a half-made change: every
    // writer checks everything before it changes anything.
    fn read(&self) -> RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(PoisonError::into_inner)
    }

    fn clamp(&self, limit: usize) -> usize {
        limit.min(self.max_limit)
    }
}

/// `rec` as SQLite gives it back: time in whole milliseconds, no
/// accounts, a status target filed as its room.
fn as_stored(rec: &Record) -> Record {
    let from = if rec.from.account.is_some() {
        Arc::new(UserInfo {
            account: None,
            ..(*rec.from).clone()
        })
    } else {
        rec.from.clone()
    };
    Record {
        time: from_ms(to_ms(rec.time)),
        from,
        to: match &rec.to {
            MsgTarget::Status(name) => MsgTarget::Room(name.clone()),
            other => other.clone(),
        },
        to_account: None,
        ..rec.clone()
    }
}

/// A duration as SQLite keeps it: whole milliseconds, at most `i64::MAX`.
fn ms_duration(d: Duration) -> Duration {
    let ms = d.as_millis().min(i64::MAX as u128);
    Duration::from_millis(u64::try_from(ms).unwrap_or(u64::MAX))
}

fn at_ms(t: SystemTime) -> SystemTime {
    from_ms(to_ms(t))
}

/// The records of `map` strictly above `low` (or at it, when inclusive)
/// and strictly below `high`.
fn between(
    map: &BTreeMap<Pos, Record>,
    low: Option<(Pos, bool)>,
    high: Option<Pos>,
) -> impl DoubleEndedIterator<Item = &Record> {
    // A range whose ends cross is empty (`BTreeMap::range` would panic).
    const NOWHERE: Pos = (i64::MAX, i64::MAX);
    let crossed = matches!((low, high), (Some((l, _)), Some(h)) if l >= h);
    let lo = match low {
        _ if crossed => Bound::Included(NOWHERE),
        Some((l, true)) => Bound::Included(l),
        Some((l, false)) => Bound::Excluded(l),
        None => Bound::Unbounded,
    };
    let hi = match high {
        _ if crossed => Bound::Excluded(NOWHERE),
        Some(h) => Bound::Excluded(h),
        None => Bound::Unbounded,
    };
    map.range((lo, hi)).map(|(_, r)| r)
}

/// One scope of the store, under its read lock.
struct MemWalk<'a> {
    state: &'a State,
    scope: &'a Scope,
}

impl MemWalk<'_> {
    /// The conversations the scope's records are in (for a private scope,
    /// also records of others: see [`MemWalk::sees`]).
    fn convs(&self) -> Vec<&BTreeMap<Pos, Record>> {
        match self.scope {
            Scope::Conv(k) => self.state.convs.get(k).into_iter().collect(),
            Scope::Private { account, .. } => self
                .state
                .private
                .get(account)
                .into_iter()
                .flatten()
                .filter_map(|k| self.state.convs.get(k))
                .collect(),
        }
    }

    /// Whether a record of those conversations is in the scope.
    fn sees(&self, rec: &Record) -> bool {
        match self.scope {
            Scope::Conv(_) => true,
            Scope::Private { .. } => i64::try_from(rec.id)
                .ok()
                .and_then(|id| self.state.parties.get(&id))
                .is_some_and(|p| self.scope.sees(p)),
        }
    }
}

impl Walk for MemWalk<'_> {
    fn find(&self, id: i64) -> Result<Option<Pos>, StoreError> {
        let Some((conv, pos)) = self.state.ids.get(&id) else {
            return Ok(None);
        };
        let inside = match self.scope {
            Scope::Conv(k) => k == conv,
            Scope::Private { .. } => self
                .state
                .parties
                .get(&id)
                .is_some_and(|p| self.scope.sees(p)),
        };
        Ok(inside.then_some(*pos))
    }

    fn range(
        &self,
        low: Option<(Pos, bool)>,
        high: Option<Pos>,
        descending: bool,
        limit: usize,
    ) -> Result<Vec<Record>, StoreError> {
        let mut out: Vec<Record> = Vec::new();
        for conv in self.convs() {
            let found = between(conv, low, high);
            if descending {
                out.extend(found.rev().filter(|r| self.sees(r)).take(limit).cloned());
            } else {
                out.extend(found.filter(|r| self.sees(r)).take(limit).cloned());
            }
        }
        // Several conversations (one person's private ones) interleave.
        out.sort_by_key(pos_of);
        if descending {
            out.reverse();
        }
        out.truncate(limit);
        Ok(out)
    }
}

impl HistoryStore for MemoryStore {
    fn append(&self, batch: &[Record]) -> Result<(), StoreError> {
        if batch.is_empty() {
            return Ok(());
        }
        let mut max_id = 0;
        for rec in batch {
            max_id = max_id.max(db_id(rec.id)?);
        }
        let mut state = self.write();
        let mut kept = Vec::with_capacity(batch.len());
        let mut seen = HashSet::new();
        let mut redacted = Vec::new();
        for rec in batch {
            if rec.kind == RecordKind::Redact {
                redacted.extend(rec.redacts().and_then(|id| i64::try_from(id).ok()));
                continue;
            }
            let (conv, parties) = record_keys(rec);
            if parties.is_none() && state.silent.contains(&conv) {
                continue;
            }
            let id = db_id(rec.id)?;
            if state.ids.contains_key(&id) || !seen.insert(id) {
                return Err(StoreError::DuplicateId(rec.id));
            }
            kept.push((as_stored(rec), conv, parties));
        }
        for (rec, conv, parties) in kept {
            let pos = pos_of(&rec);
            state.ids.insert(pos.1, (conv.clone(), pos));
            if let Some(p) = parties {
                for account in [&p.acct_a, &p.acct_b].into_iter().flatten() {
                    state
                        .private
                        .entry(account.clone())
                        .or_default()
                        .insert(conv.clone());
                }
                state.parties.insert(pos.1, p);
            }
            state.convs.entry(conv).or_default().insert(pos, rec);
        }
        // Withdrawn messages go, whether stored earlier or in this batch.
        for id in redacted {
            let Some((conv, pos)) = state.ids.remove(&id) else {
                continue;
            };
            state.parties.remove(&id);
            if let Some(recs) = state.convs.get_mut(&conv) {
                recs.remove(&pos);
                if recs.is_empty() {
                    state.convs.remove(&conv);
                }
            }
        }
        state.last_id = state.last_id.max(u64::try_from(max_id).unwrap_or(0));
        Ok(())
    }

    fn query(&self, q: &HistoryQuery) -> Result<Vec<Record>, StoreError> {
        let limit = self.clamp(q.limit);
        if limit == 0 {
            return Ok(Vec::new());
        }
        let scope = Scope::of(&q.requester, &q.target);
        let state = self.read();
        let walk = MemWalk {
            state: &state,
            scope: &scope,
        };
        select::run(&walk, q.selector, limit)
    }

    fn targets(
        &self,
        requester: &str,
        rooms: &[String],
        from: SystemTime,
        to: SystemTime,
        limit: usize,
    ) -> Result<Vec<TargetInfo>, StoreError> {
        let limit = self.clamp(limit);
        if limit == 0 {
            return Ok(Vec::new());
        }
        let me = Key::of(requester);
        let (lo, hi) = if from <= to { (from, to) } else { (to, from) };
        let within = |t: SystemTime| to_ms(lo) < to_ms(t) && to_ms(t) < to_ms(hi);
        let state = self.read();
        // The latest message with each other party (by nickname), as
        // SQLite's `targets` finds it: each message counts for the side
        // the account is not on.
        let mut latest: BTreeMap<&str, &Record> = BTreeMap::new();
        for conv in state.private.get(me.as_str()).into_iter().flatten() {
            for rec in state.convs.get(conv).into_iter().flat_map(BTreeMap::values) {
                let Some(p) = i64::try_from(rec.id)
                    .ok()
                    .and_then(|id| state.parties.get(&id))
                else {
                    continue;
                };
                for peer in peers_of(me.as_str(), p) {
                    let newer = latest
                        .get(peer)
                        .is_none_or(|seen| pos_of(seen) < pos_of(rec));
                    if newer {
                        latest.insert(peer, rec);
                    }
                }
            }
        }
        let mut found: Vec<TargetInfo> = latest
            .into_iter()
            .filter(|(_, rec)| within(rec.time))
            .map(|(peer, rec)| TargetInfo {
                target: MsgTarget::Nick(
                    peer_name(&rec.from.nick, target_name(&rec.to), peer).into(),
                ),
                latest: rec.time,
            })
            .collect();
        for room in rooms {
            let newest = state
                .convs
                .get(&room_conv(room))
                .and_then(|recs| recs.values().next_back());
            if let Some(rec) = newest.filter(|rec| within(rec.time)) {
                found.push(TargetInfo {
                    target: MsgTarget::Room(room.as_str().into()),
                    latest: rec.time,
                });
            }
        }
        Ok(select::finish_targets(found, from, to, limit))
    }

    fn last_id(&self) -> Result<u64, StoreError> {
        Ok(self.read().last_id)
    }

    fn compact(&self, policy: &Retention, now: SystemTime) -> Result<CompactStats, StoreError> {
        let chunk = policy.chunk.max(1);
        let (convs, own): (Vec<String>, HashMap<String, Limits>) = {
            let state = self.read();
            let own = state
                .rooms
                .values()
                .filter_map(|r| r.limits.map(|l| (room_conv(&r.name), l)))
                .collect();
            (state.convs.keys().cloned().collect(), own)
        };
        let mut stats = CompactStats::default();
        for conv in convs {
            stats.conversations += 1;
            let limits = match own.get(&conv) {
                Some(l) => *l,
                None if conv.starts_with("p:") => policy.private,
                None => policy.rooms,
            };
            if let Some(cutoff) = limits.max_age.and_then(|age| now.checked_sub(age)) {
                let cutoff = (to_ms(cutoff), i64::MIN);
                loop {
                    let n = self.delete_oldest(&conv, Some(cutoff), chunk);
                    stats.by_age += n as u64;
                    stats.transactions += 1;
                    if n < chunk {
                        break;
                    }
                }
            }
            if let Some(keep) = limits.max_count {
                let count = self.read().convs.get(&conv).map_or(0, BTreeMap::len);
                let mut excess = (count as u64).saturating_sub(keep);
                while excess > 0 {
                    let want = usize::try_from(excess).unwrap_or(usize::MAX).min(chunk);
                    let n = self.delete_oldest(&conv, None, want);
                    stats.by_count += n as u64;
                    stats.transactions += 1;
                    if n == 0 {
                        break;
                    }
                    excess = excess.saturating_sub(n as u64);
                }
            }
        }
        Ok(stats)
    }

    fn checkpoint(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

impl MemoryStore {
    /// Deletes up to `n` of the oldest records of `conv` (only those below
    /// `before`, if given), under one short hold of the lock; returns how
    /// many went.
    fn delete_oldest(&self, conv: &str, before: Option<Pos>, n: usize) -> usize {
        let mut state = self.write();
        let State {
            convs,
            ids,
            private,
            parties,
            ..
        } = &mut *state;
        let Some(recs) = convs.get_mut(conv) else {
            return 0;
        };
        let mut gone = 0;
        while gone < n {
            let Some(entry) = recs.first_entry() else {
                break;
            };
            if before.is_some_and(|b| *entry.key() >= b) {
                break;
            }
            ids.remove(&entry.key().1);
            parties.remove(&entry.key().1);
            entry.remove();
            gone += 1;
        }
        if recs.is_empty() {
            convs.remove(conv);
            for convs in private.values_mut() {
                convs.remove(conv);
            }
            private.retain(|_, convs| !convs.is_empty());
        }
        gone
    }
}

/// The words of `text` as the search compares them: runs of letters and
/// digits, lower case, accents removed (as SQLite's `unicode61` tokenizer
/// with `remove_diacritics 2`).
fn tokens(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| {
            w.nfd()
                .filter(|c| !is_combining_mark(*c))
                .flat_map(char::to_lowercase)
                .collect()
        })
        .collect()
}

/// Whether `phrase` occurs in `words` as consecutive words.
fn contains_phrase(words: &[String], phrase: &[String]) -> bool {
    !phrase.is_empty() && words.windows(phrase.len()).any(|w| w == phrase)
}

impl SearchStore for MemoryStore {
    fn search(
        &self,
        requester: &str,
        target: &QueryTarget,
        words: &str,
        limit: usize,
    ) -> Result<Vec<Record>, StoreError> {
        let limit = self.clamp(limit);
        let phrases: Vec<Vec<String>> = search_words(words).map(tokens).collect();
        if phrases.is_empty() || limit == 0 {
            return Ok(Vec::new());
        }
        let scope = Scope::of(requester, target);
        let state = self.read();
        let walk = MemWalk {
            state: &state,
            scope: &scope,
        };
        let mut found: Vec<&Record> = walk
            .convs()
            .into_iter()
            .flat_map(BTreeMap::values)
            .filter(|rec| walk.sees(rec))
            .filter(|rec| {
                let words = tokens(&rec.text);
                phrases.iter().all(|p| contains_phrase(&words, p))
            })
            .collect();
        found.sort_by_key(|r| std::cmp::Reverse(pos_of(r)));
        Ok(found.into_iter().take(limit).cloned().collect())
    }

    fn index_search(&self, _max: usize) -> Result<usize, StoreError> {
        // Nothing to index: a search reads the records themselves.
        Ok(0)
    }
}

impl AccountStore for MemoryStore {
    fn put_account(&self, acct: &Account) -> Result<(), StoreError> {
        let stored = Account {
            created: at_ms(acct.created),
            ..acct.clone()
        };
        self.write()
            .accounts
            .insert(Key::of(&acct.name).as_str().to_string(), stored);
        Ok(())
    }

    fn get_account(&self, name: &str) -> Result<Option<Account>, StoreError> {
        Ok(self.read().accounts.get(Key::of(name).as_str()).cloned())
    }

    fn account_names(&self) -> Result<Vec<String>, StoreError> {
        Ok(self
            .read()
            .accounts
            .values()
            .map(|a| a.name.clone())
            .collect())
    }

    fn add_cert(&self, account: &str, fingerprint: &str) -> Result<bool, StoreError> {
        let key = Key::of(account).as_str().to_string();
        let mut state = self.write();
        if state.certs.get(fingerprint).is_some_and(|o| *o != key) {
            return Ok(false);
        }
        state.certs.insert(fingerprint.to_string(), key);
        Ok(true)
    }

    fn del_cert(&self, account: &str, fingerprint: &str) -> Result<bool, StoreError> {
        let key = Key::of(account);
        let mut state = self.write();
        if state.certs.get(fingerprint).map(String::as_str) != Some(key.as_str()) {
            return Ok(false);
        }
        state.certs.remove(fingerprint);
        Ok(true)
    }

    fn certs(&self, account: &str) -> Result<Vec<String>, StoreError> {
        let key = Key::of(account);
        Ok(self
            .read()
            .certs
            .iter()
            .filter(|(_, owner)| owner.as_str() == key.as_str())
            .map(|(fp, _)| fp.clone())
            .collect())
    }

    fn account_by_cert(&self, fingerprint: &str) -> Result<Option<Account>, StoreError> {
        let state = self.read();
        Ok(state
            .certs
            .get(fingerprint)
            .and_then(|owner| state.accounts.get(owner))
            .cloned())
    }

    fn hold_offline(&self, account: &str, rec: &Record) -> Result<(), StoreError> {
        let id = db_id(rec.id)?;
        let mut state = self.write();
        let seq = state.next_seq;
        state.next_seq += 1;
        state
            .offline
            .entry(Key::of(account).as_str().to_string())
            .or_default()
            .push_back((seq, as_stored(rec)));
        state.last_id = state.last_id.max(u64::try_from(id).unwrap_or(0));
        Ok(())
    }

    fn take_offline(&self, account: &str) -> Result<Vec<Record>, StoreError> {
        let held = self.write().offline.remove(Key::of(account).as_str());
        Ok(held.into_iter().flatten().map(|(_, rec)| rec).collect())
    }

    fn peek_offline(&self, account: &str) -> Result<Vec<(i64, Record)>, StoreError> {
        Ok(self
            .read()
            .offline
            .get(Key::of(account).as_str())
            .map(|q| q.iter().cloned().collect())
            .unwrap_or_default())
    }

    fn ack_offline(&self, account: &str, upto: i64) -> Result<(), StoreError> {
        let key = Key::of(account);
        let mut state = self.write();
        if let Some(held) = state.offline.get_mut(key.as_str()) {
            held.retain(|(seq, _)| *seq > upto);
            if held.is_empty() {
                state.offline.remove(key.as_str());
            }
        }
        Ok(())
    }
}

impl RoomStore for MemoryStore {
    fn save_room(&self, state: &RoomState) -> Result<(), StoreError> {
        let mut stored = state.clone();
        if let Some(topic) = &mut stored.topic {
            topic.time = at_ms(topic.time);
        }
        stored.registered_at = stored.registered_at.map(at_ms);
        stored.limits = stored.limits.map(|l| Limits {
            max_age: l.max_age.map(ms_duration),
            max_count: l.max_count.map(|c| c.min(i64::MAX as u64)),
        });
        let conv = room_conv(&state.name);
        let mut all = self.write();
        if state.limits.is_some_and(|l| l.keeps_nothing()) {
            all.silent.insert(conv);
        } else {
            all.silent.remove(&conv);
        }
        all.rooms
            .insert(Key::of(&state.name).as_str().to_string(), stored);
        Ok(())
    }

    fn forget_room(&self, name: &str) -> Result<(), StoreError> {
        let mut state = self.write();
        state.rooms.remove(Key::of(name).as_str());
        state.silent.remove(&room_conv(name));
        Ok(())
    }

    fn load_rooms(&self) -> Result<Vec<RoomState>, StoreError> {
        Ok(self.read().rooms.values().cloned().collect())
    }

    fn save_read_marker(&self, m: &ReadMarker) -> Result<(), StoreError> {
        let key = (
            Key::of(&m.account).as_str().to_string(),
            Key::of(&m.target).as_str().to_string(),
        );
        let mut state = self.write();
        let at = match state.markers.get(&key) {
            Some(old) if old.at > at_ms(m.at) => old.at,
            _ => at_ms(m.at),
        };
        state.markers.insert(key, ReadMarker { at, ..m.clone() });
        Ok(())
    }

    fn load_read_markers(&self) -> Result<Vec<ReadMarker>, StoreError> {
        Ok(self.read().markers.values().cloned().collect())
    }
}
