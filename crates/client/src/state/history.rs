//! Server history in the client's state model: the join replay, older
//! (and, after paging far back, newer) pages fetched with IRCv3
//! `draft/chathistory` as the user scrolls, msgid de-duplication, and
//! `/search` answers routed to the room they are about.
//!
//! How a buffer's memory stays bounded whatever the amount of history:
//! a buffer holds at most `scrollback_limit` lines (plus at most one page
//! while it is being placed). Paging back past that drops the *newest*
//! lines, far below the view, and marks the buffer `newer_unloaded`; live
//! lines then wait aside (bounded the same way) instead of joining the
//! window. Scrolling back down to the newest line held fetches the next
//! newer page (`CHATHISTORY AFTER`), and a page shorter than asked means
//! the view has caught up: the waiting live lines are appended and the
//! buffer is live again. Jumping to the newest line (Enter) reloads the
//! latest page at once. Going the other way, live lines past the limit
//! drop the oldest lines, which scrolling up fetches again. So the user can
//! page through any amount of history, and memory is bounded by the limit.
//!
//! Which batch answers what: the server replays a room right after our own
//! JOIN (after the NAMES reply), before any live line of the room, so the
//! first `chathistory` batch for a room after joining it is the replay and
//! no page is asked for until it has come (or a live line in the room
//! shows none is coming, or [`REPLAY_WAIT`] has passed: servers that
//! replay nothing). After that, with at most one request in flight per
//! buffer, a batch for the buffer's target answers that request.
//!
//! A buffer's history bookkeeping (what is in flight, msgids held, lines
//! waiting aside) is data in `buffer.rs`; this file decides what to ask
//! for and where the answers go. It must not handle other server messages
//! (`inbound.rs` hands it batches, FAILs and search answers) and, like the
//! rest of the state model, is pure: no I/O and no clock (the time is
//! passed in); what is to be sent is returned as [`Message`]s.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use chrono::{DateTime, Local, Utc};

use super::buffer::{BufHistory, Buffer, BufferKind, Fetch, Line, LineKind};
use super::model::{Effect, Event, Now, OpenBatch, Search, State};
use super::text::{clean_text, parse_ctcp};
use chatroom_proto::irc::message::Message;

/// How long after our JOIN a page may not be asked for while the join
/// replay has not come: a server that replays nothing sends nothing to
/// wait for, and the user should not be stuck.
pub const REPLAY_WAIT: Duration = Duration::from_secs(5);

pub const HISTORY_MARK: &str = "— history —";
pub const LIVE_MARK: &str = "— live —";
pub const BEGINNING_MARK: &str = "— beginning of history —";
pub const EARLIER_MARK: &str = "— earlier history —";

/// A `timestamp=` reference for `CHATHISTORY`.
fn timestamp_ref(t: DateTime<Local>) -> String {
    format!(
        "timestamp={}",
        t.with_timezone(&Utc).format("%Y-%m-%dT%H:%M:%S%.3fZ")
    )
}

impl Buffer {
    /// Where older history goes: just above the oldest history line held
    /// (below the join line and the `— history —` mark), else at the top.
    fn history_anchor(&self) -> usize {
        self.lines
            .iter()
            .position(|l| l.history || l.msgid.is_some())
            .unwrap_or(0)
    }

    /// Our own JOIN of this room arrived.
    pub(super) fn history_on_join(&mut self, replay: bool, now: Instant) {
        if self.hist.newer_unloaded {
            // The window is somewhere in the past; the replay brings the
            // present, so start from it.
            self.lines.clear();
            self.scroll = 0;
            self.hist = BufHistory::default();
        }
        self.hist.fetching = None;
        self.hist.failed = false;
        self.hist.replay_due = replay.then_some(now);
    }
}

impl State {
    fn record(&mut self, i: usize, line: &Line) {
        if self.record_events {
            let scope = self.scope_of(i);
            self.events.push(Event {
                scope,
                line: line.clone(),
            });
        }
    }

    fn marker(text: &str, now: Now) -> Line {
        Line::new(now.local, LineKind::Marker(text.to_string()))
    }

    /// Why buffer `i` cannot ask for a page now, if it cannot.
    fn fetch_blocker(&self, i: usize, now: Now, explicit: bool) -> Option<&'static str> {
        let b = self.buffers.get(i)?;
        if !self.has_cap("draft/chathistory") || !self.has_cap("batch") {
            return Some("the server offers no history to fetch (draft/chathistory)");
        }
        match b.kind {
            BufferKind::Server => return Some("history is kept for rooms and private buffers"),
            BufferKind::Channel if !b.joined => return Some("not in this room"),
            _ => {}
        }
        if b.hist.fetching.is_some() {
            return Some("already fetching history");
        }
        if b.hist
            .replay_due
            .is_some_and(|t| now.instant.saturating_duration_since(t) < REPLAY_WAIT)
        {
            return Some("waiting for the room's replay");
        }
        if b.hist.failed && !explicit {
            return Some("the server refused to send history");
        }
        None
    }

    /// `CHATHISTORY BEFORE` the oldest history line held in buffer `i`
    /// (its msgid, else its time), marked in flight.
    fn request_older(&mut self, i: usize, now: Now, explicit: bool) -> Result<Message, String> {
        if let Some(why) = self.fetch_blocker(i, now, explicit) {
            return Err(why.to_string());
        }
        let page = self.history_page.max(1);
        let b = &mut self.buffers[i];
        if b.hist.at_beginning {
            return Err("this is the beginning of the history".to_string());
        }
        let anchor = b.history_anchor();
        let reference = b
            .hist
            .older_than
            .take()
            .map(|id| format!("msgid={id}"))
            .or_else(|| {
                b.lines
                    .iter()
                    .skip(anchor)
                    .find_map(|l| l.msgid.as_ref().map(|id| format!("msgid={id}")))
            })
            .or_else(|| b.lines.get(anchor).map(|l| timestamp_ref(l.time)))
            .unwrap_or_else(|| timestamp_ref(now.local));
        b.hist.fetching = Some((Fetch::Older, page));
        let target = b.name.clone();
        Ok(Message::new(
            "CHATHISTORY",
            &["BEFORE", &target, &reference, &page.to_string()],
        ))
    }

    /// `CHATHISTORY AFTER` the newest line held (after paging far back), or
    /// `LATEST` when `latest`, marked in flight.
    fn request_newer(&mut self, i: usize, now: Now, latest: bool) -> Option<Message> {
        if self.fetch_blocker(i, now, true).is_some() {
            return None;
        }
        let page = self.history_page.max(1);
        let b = &mut self.buffers[i];
        let target = b.name.clone();
        let newest = b.lines.iter().rev().find_map(|l| {
            l.msgid
                .as_ref()
                .map(|id| format!("msgid={id}"))
                .or_else(|| l.history.then(|| timestamp_ref(l.time)))
        });
        let (fetch, msg) = match newest {
            Some(reference) if !latest => (
                Fetch::Newer,
                Message::new(
                    "CHATHISTORY",
                    &["AFTER", &target, &reference, &page.to_string()],
                ),
            ),
            _ => (
                Fetch::Latest,
                Message::new("CHATHISTORY", &["LATEST", &target, "*", &page.to_string()]),
            ),
        };
        b.hist.fetching = Some((fetch, page));
        Some(msg)
    }

    /// Scrolls the current buffer's view up (towards older lines) by
    /// `lines`; `view` is how many rows the view shows. Near the oldest
    /// history line held, asks for the page before it.
    pub fn scroll_up(&mut self, lines: usize, view: usize, now: Now) -> Vec<Message> {
        let i = self.current;
        let Some(b) = self.buffers.get_mut(i) else {
            return Vec::new();
        };
        b.scroll = b
            .scroll
            .saturating_add(lines)
            .min(b.lines.len().saturating_sub(1));
        b.hist.view = view;
        let end = b.lines.len() - b.scroll.min(b.lines.len());
        let near_top = end <= b.history_anchor() + view.max(1);
        if near_top && !b.hist.at_beginning {
            return self.request_older(i, now, false).into_iter().collect();
        }
        Vec::new()
    }

    /// Scrolls the current buffer's view down (towards newer lines). Near
    /// the newest line held while newer ones are unloaded, asks for them.
    pub fn scroll_down(&mut self, lines: usize, view: usize, now: Now) -> Vec<Message> {
        let i = self.current;
        let Some(b) = self.buffers.get_mut(i) else {
            return Vec::new();
        };
        b.scroll = b.scroll.saturating_sub(lines);
        b.hist.view = view;
        if b.hist.newer_unloaded && b.scroll <= view {
            return self.request_newer(i, now, false).into_iter().collect();
        }
        Vec::new()
    }

    /// Back to the newest lines (after sending a line): when newer lines
    /// were unloaded, the window is reloaded from the latest page.
    pub fn to_live(&mut self, now: Now) -> Vec<Message> {
        let i = self.current;
        let Some(b) = self.buffers.get_mut(i) else {
            return Vec::new();
        };
        b.scroll = 0;
        if !b.hist.newer_unloaded || b.hist.fetching.is_some() {
            return Vec::new();
        }
        let Some(msg) = self.request_newer(i, now, true) else {
            return Vec::new();
        };
        let b = &mut self.buffers[i];
        for line in std::mem::take(&mut b.lines) {
            b.hist.forget(&line);
        }
        b.hist.at_beginning = false;
        vec![msg]
    }

    /// A line inside an open `chathistory` batch is collected, not shown.
    /// Returns whether `msg` was such a line.
    pub(super) fn take_batched(
        &mut self,
        msg: &Message,
        from: &str,
        time: DateTime<Local>,
    ) -> bool {
        let Some(id) = msg.tag("batch") else {
            return false;
        };
        if !self.batches.contains_key(id) {
            return false;
        }
        // A batch bigger than a buffer could hold is cut there, so a
        // hostile server cannot grow our memory with one endless batch.
        let cap = self.scrollback_limit.max(1);
        let line = self.history_line(msg, from, time);
        if let Some(batch) = self.batches.get_mut(id) {
            match line {
                Some(line) if batch.lines.len() < cap => batch.lines.push(line),
                Some(_) => {}
                // A stored reaction (TAGMSG) is not a line of its own.
                None if msg.command == "TAGMSG" => {
                    batch.hidden += 1;
                    if batch.first_hidden.is_none() {
                        batch.first_hidden = msg
                            .tag("msgid")
                            .filter(|m| !m.is_empty())
                            .map(str::to_string);
                    }
                }
                None => {}
            }
        }
        true
    }

    /// A stored PRIVMSG/NOTICE as a history line (CTCP other than ACTION
    /// is not shown).
    fn history_line(&self, msg: &Message, from: &str, time: DateTime<Local>) -> Option<Line> {
        let notice = match msg.command.as_str() {
            "PRIVMSG" => false,
            "NOTICE" => true,
            _ => return None,
        };
        let raw = msg.param(1);
        let own = !from.is_empty() && self.same(from, &self.nick);
        let nick = if from.is_empty() {
            self.server_name.clone().unwrap_or_default()
        } else {
            from.to_string()
        };
        let kind = match parse_ctcp(raw) {
            Some((ctcp, arg)) if ctcp == "ACTION" => LineKind::Action {
                nick,
                text: clean_text(arg),
                own,
            },
            Some(_) => return None,
            None if notice => LineKind::Notice {
                nick,
                text: clean_text(raw),
                own,
            },
            None => LineKind::Message {
                nick,
                text: clean_text(raw),
                own,
            },
        };
        Some(Line {
            time,
            kind,
            msgid: msg
                .tag("msgid")
                .filter(|m| !m.is_empty())
                .map(str::to_string),
            history: true,
        })
    }

    /// `BATCH +ref type params…` and `BATCH -ref`.
    pub(super) fn on_batch(&mut self, msg: &Message, now: Now) {
        let reference = msg.param(0);
        if let Some(id) = reference.strip_prefix('+') {
            if msg.param(1) == "chathistory" && !id.is_empty() {
                // Bounded by the server's own nesting; a hostile server
                // opening endless batches is capped here.
                if self.batches.len() < 64 {
                    self.batches.insert(
                        id.to_string(),
                        OpenBatch {
                            target: msg.param(2).to_string(),
                            lines: Vec::new(),
                            hidden: 0,
                            first_hidden: None,
                        },
                    );
                }
            }
        } else if let Some(id) = reference.strip_prefix('-')
            && let Some(batch) = self.batches.remove(id)
        {
            self.batch_done(batch, now);
        }
    }

    fn batch_done(&mut self, batch: OpenBatch, now: Now) {
        let OpenBatch {
            target,
            lines,
            hidden,
            first_hidden,
        } = batch;
        let target = target.as_str();
        let Some(i) = self.find_buffer(target) else {
            return;
        };
        let b = &mut self.buffers[i];
        let answer = if b.hist.replay_due.is_some() {
            None
        } else {
            b.hist.fetching.take()
        };
        b.hist.replay_due = None;
        match answer {
            None => self.replay_done(i, lines, now),
            Some((Fetch::Older, _)) if lines.is_empty() && first_hidden.is_some() => {
                // Only reactions: older messages may still come.
                self.buffers[i].hist.older_than = first_hidden;
            }
            Some((Fetch::Older, _)) => {
                self.buffers[i].hist.older_than = None;
                self.older_done(i, lines, now)
            }
            Some((fetch, asked)) => {
                let caught_up = fetch == Fetch::Latest || lines.len() + hidden < asked;
                self.newer_done(i, lines, fetch == Fetch::Newer, caught_up);
            }
        }
    }

    /// The join replay: shown between `— history —` and `— live —`,
    /// without the lines already held.
    fn replay_done(&mut self, i: usize, lines: Vec<Line>, now: Now) {
        let mut fresh = Vec::new();
        let mut ids = HashSet::new();
        for line in lines {
            let dup = line
                .msgid
                .as_ref()
                .is_some_and(|id| self.buffers[i].hist.holds(id) || !ids.insert(id.clone()));
            if !dup {
                fresh.push(line);
            }
        }
        if fresh.is_empty() {
            return;
        }
        let scope = Some(self.scope_of(i));
        self.push_line(i, Self::marker(HISTORY_MARK, now), scope.clone());
        for line in fresh {
            self.push_line(i, line, scope.clone());
        }
        self.push_line(i, Self::marker(LIVE_MARK, now), scope);
    }

    /// An older page: placed above the oldest history line held, the view
    /// kept where it was; empty means the beginning of the history.
    fn older_done(&mut self, i: usize, lines: Vec<Line>, now: Now) {
        let limit = self.scrollback_limit.max(1);
        let b = &mut self.buffers[i];
        let at = b.history_anchor();
        // The scroll offset counts from the newest line: lines put in above
        // the view's bottom line leave the view where it was; below it (the
        // view is above the history, on the join line) they push it.
        let end = b.lines.len() - b.scroll.min(b.lines.len());
        let below_view = at >= end;
        if lines.is_empty() {
            b.hist.at_beginning = true;
            let time = b.lines.get(at).map_or(now.local, |l| l.time);
            let mark = Line {
                history: true,
                ..Line::new(time, LineKind::Marker(BEGINNING_MARK.to_string()))
            };
            b.lines.insert(at, mark.clone());
            if below_view {
                b.scroll += 1;
            }
            self.record(i, &mark);
            return;
        }
        let mut fresh: Vec<Line> = Vec::new();
        for line in lines {
            let dup = line.msgid.as_ref().is_some_and(|id| b.hist.holds(id));
            if !dup {
                b.hist.note(&line);
                fresh.push(line);
            }
        }
        if self.record_events && !fresh.is_empty() {
            self.record(i, &Self::marker(EARLIER_MARK, now));
            for line in &fresh {
                self.record(i, line);
            }
        }
        let b = &mut self.buffers[i];
        let added = fresh.len();
        for (n, line) in fresh.into_iter().enumerate() {
            b.lines.insert(at + n, line);
        }
        if below_view {
            b.scroll += added;
        }
        // Bound memory: drop the newest lines, those well below the view;
        // scrolling back down fetches them again.
        let excess = b.lines.len().saturating_sub(limit);
        let droppable = b.scroll.saturating_sub(b.hist.view.max(1));
        let drop = excess.min(droppable);
        for _ in 0..drop {
            if let Some(old) = b.lines.pop_back() {
                b.hist.forget(&old);
            }
        }
        if drop > 0 {
            b.scroll -= drop;
            b.hist.newer_unloaded = true;
        }
    }

    /// A newer page (after paging far back) or the latest one: appended,
    /// the view kept where it was (for the latest page: at the newest);
    /// once caught up, the live lines kept
    /// aside follow and the buffer is live again.
    fn newer_done(&mut self, i: usize, lines: Vec<Line>, keep_view: bool, caught_up: bool) {
        let limit = self.scrollback_limit.max(1);
        let b = &mut self.buffers[i];
        let mut added = 0;
        let mut append = |b: &mut Buffer, line: Line| {
            if line.msgid.as_ref().is_some_and(|id| b.hist.holds(id)) {
                return;
            }
            b.hist.note(&line);
            b.lines.push_back(line);
            added += 1;
        };
        for line in lines {
            append(b, line);
        }
        if caught_up {
            b.hist.newer_unloaded = false;
            let aside = std::mem::take(&mut b.hist.aside);
            for line in aside {
                // Still noted as held: forget so it is not taken for a copy.
                b.hist.forget(&line);
                append(b, line);
            }
        }
        if keep_view || b.scroll > 0 {
            b.scroll += added;
        }
        b.trim_front(limit);
    }

    /// `FAIL CHATHISTORY <code> <subcommand> [context…] :text`: the request
    /// in flight (for the named target, else any) ends, and automatic
    /// requests stop for that buffer.
    pub(super) fn on_history_fail(&mut self, msg: &Message, time: DateTime<Local>) {
        let named = msg
            .params
            .iter()
            .skip(2)
            .find_map(|p| self.find_buffer(p))
            .filter(|&i| self.buffers[i].hist.fetching.is_some());
        let i = named
            .or_else(|| self.buffers.iter().position(|b| b.hist.fetching.is_some()))
            .unwrap_or(self.current);
        if let Some(b) = self.buffers.get_mut(i) {
            b.hist.fetching = None;
            b.hist.failed = true;
        }
        let why = clean_text(msg.params.last().map(String::as_str).unwrap_or(""));
        let text = format!("history: {why} ({})", clean_text(msg.param(1)));
        self.push_to(i, LineKind::Error(text), time);
    }

    /// `/history`: the page before the oldest line held, now.
    pub(super) fn history_command(&mut self, now: Now) -> Vec<Effect> {
        let i = self.current;
        match self.request_older(i, now, true) {
            Ok(msg) => vec![Effect::Send(msg)],
            Err(why) => {
                self.error(why, now);
                Vec::new()
            }
        }
    }

    /// `/search WORDS`: our server's `SEARCH #room :words`.
    pub(super) fn search_command(&mut self, words: &str, now: Now) -> Vec<Effect> {
        let Some(room) = self.current_channel() else {
            self.error("/search works in a room's buffer", now);
            return Vec::new();
        };
        self.search = Some(Search {
            room: room.clone(),
            started: false,
        });
        vec![Effect::Send(Message::new("SEARCH", &[&room, words]))]
    }

    /// The server's NOTICEs answering a `/search` go to the room searched,
    /// from `*** Search for "…" in #room` to `*** End of search`. Returns
    /// whether `msg` was one.
    pub(super) fn search_notice(
        &mut self,
        msg: &Message,
        from: &str,
        time: DateTime<Local>,
    ) -> bool {
        let Some(search) = &self.search else {
            return false;
        };
        let from_server = msg.source.as_deref().is_none_or(|s| !s.contains('!'));
        if !from_server || !self.same(msg.param(0), &self.nick) || from.contains('!') {
            return false;
        }
        let text = clean_text(msg.param(1));
        let room = search.room.clone();
        if !search.started {
            let head = self.fold(&text);
            let about = format!(" in {}: ", self.fold(&room));
            if !(head.starts_with("*** search for ") && head.contains(&about)) {
                return false;
            }
            if head.ends_with(": nothing found") {
                self.search = None;
            } else if let Some(s) = &mut self.search {
                s.started = true;
            }
        } else if text == "*** End of search" {
            self.search = None;
        }
        let i = self.find_buffer(&room).unwrap_or(self.current);
        self.push_to(i, LineKind::Info(text), time);
        true
    }

    /// A refusal (442, 403, 461; 421 from servers without SEARCH) of the
    /// pending search ends it. Returns whether `msg` was one.
    pub(super) fn search_refused(&mut self, msg: &Message) -> bool {
        let Some(search) = &self.search else {
            return false;
        };
        if search.started {
            return false;
        }
        let ours = if msg.command == "461" || msg.command == "421" {
            msg.param(1).eq_ignore_ascii_case("SEARCH")
        } else {
            self.same(msg.param(1), &search.room)
        };
        if ours {
            self.search = None;
        }
        ours
    }
}
