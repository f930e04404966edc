//! The task that owns the hub. Connections send it commands through one
//! bounded inbox; it applies them one at a time (which is what keeps every
//! sender's messages in order) and hands the resulting events on without
//! ever waiting on a recipient. A recipient whose queue is full is a slow
//! consumer: it is cut off with a reason, and the room carries on.
//!
//! Without history the task pushes events onto the recipients' queues
//! itself (`fanout::Fanout`). With history each batch goes through the persist
//! stage ([`super::persist`]): its records are appended to the history
//! journal (on this task: one `write(2)` to a local file, no fsync; with
//! `sync_every_commit`, by the writer thread, and the deliveries wait here
//! until it reports them written); the task then pushes them itself, as
//! without history.
//! History questions (`/history`, `/search`) are checked against the hub
//! here (only members read a room) and answered from the store on a
//! blocking thread.
//!
//! This task must not do network I/O or wait on any one connection; the
//! journal append above is the one file write it makes.

use std::collections::VecDeque;
use std::sync::Arc;

use tokio::sync::mpsc;

use chatroom_core::names::Key;
use chatroom_core::{Command, ConnId, Effect, Event, Hub, HubError, Outbox};
use chatroom_proto::{Envelope, Shared};
use chatroom_store::{HistoryStore, SearchStore};

use super::accounts::Accounts;
use super::admin::Bans;
use super::fanout::{Fanout, SLOW_CONSUMER};
use super::history;
use super::inbox::{GroupItem, HubMsg, HubStats};
use super::link::{CLAIM_UNREACHABLE, CLUSTER_DOWN, Claim, Link, NOT_STORED, Remote};
use super::metrics::{Counted, Disconnect, Metrics};
use super::outbound::Outgoing;
use super::persist::{Heard, Op, Stage};
use chatroom_core::history::HistoryError;

/// The history, when it is on: what questions read (the history and its
/// search, usually one store seen by concern) and the persist stage (for
/// writes).
pub struct Persisted {
    pub history: Arc<dyn HistoryStore>,
    pub search: Arc<dyn SearchStore>,
    pub stage: Stage,
}

/// Starts the hub task on the receiving end of its inbox
/// (`inbox::channel`); everyone else holds the sending end.
pub fn spawn(
    hub: Hub,
    inbox: mpsc::Receiver<HubMsg>,
    history: Option<Persisted>,
    accounts: Option<Arc<Accounts>>,
    metrics: Arc<Metrics>,
    bans: Arc<Bans>,
    link: Option<Link>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(run(hub, inbox, history, accounts, metrics, bans, link))
}

/// Where the hub's events go: straight onto the queues, or through the
/// persist stage.
enum Sink {
    Direct(Fanout),
    Persist(Box<Stage>),
}

impl Outbox for Sink {
    type Env = Shared;

    fn wrap(&mut self, event: Event) -> Shared {
        Envelope::new(event)
    }

    fn send(&mut self, to: ConnId, event: &Shared) {
        match self {
            Sink::Direct(f) => f.send(to, event),
            Sink::Persist(s) => s.send(to, event),
        }
    }

    fn send_all(&mut self, to: impl ExactSizeIterator<Item = ConnId>, event: &Shared) {
        match self {
            Sink::Direct(f) => f.send_all(to, event),
            Sink::Persist(s) => s.send_all(to, event),
        }
    }
}

impl Sink {
    fn attach(&mut self, id: ConnId, out: Outgoing) {
        match self {
            Sink::Direct(f) => f.attach(id, out),
            Sink::Persist(s) => s.push(Op::Attach { id, out }),
        }
    }

    /// What is sent until the next call answers `author`'s own command
    /// (see `Fanout::set_author`).
    fn set_author(&mut self, author: Option<ConnId>) {
        match self {
            Sink::Direct(f) => f.set_author(author),
            Sink::Persist(s) => s.set_author(author),
        }
    }

    fn detach(&mut self, id: ConnId) {
        match self {
            Sink::Direct(f) => f.detach(id),
            Sink::Persist(s) => s.push(Op::Detach { id }),
        }
    }

    /// Cuts the slow consumers found so far and tells their rooms.
    fn cut_slow(&mut self, hub: &mut Hub, metrics: &Metrics) {
        // Telling the others that someone left can overflow more queues.
        loop {
            let cut = match self {
                Sink::Direct(fanout) => fanout.cut_slow(),
                Sink::Persist(stage) => stage.take_cuts(),
            };
            if cut.is_empty() {
                break;
            }
            for id in cut {
                super::activity::quit(hub, id, SLOW_CONSUMER);
                metrics.disconnected(Disconnect::SlowConsumer);
                hub.quit(id, SLOW_CONSUMER.to_string(), self);
            }
        }
    }

    /// What the persist stage's threads report (commits, replays read);
    /// pending forever without history.
    async fn hear(&mut self) -> Heard {
        match self {
            Sink::Direct(_) => std::future::pending().await,
            Sink::Persist(s) => s.hear().await,
        }
    }
}

/// The sink as the hub sees it while applying a command: it counts the
/// messages handed on, by how many recipients each has.
struct Counting<'a> {
    sink: &'a mut Sink,
    metrics: &'a Metrics,
    /// In a cluster, while a local person's message is applied: the
    /// messages it made, for the other nodes.
    said: Option<&'a mut Vec<Event>>,
    /// In a cluster, while a local person's message to a room is
    /// applied: its deliveries, held until the cluster's journal stored it.
    hold: Option<&'a mut Vec<(ConnId, Shared)>>,
}

impl Outbox for Counting<'_> {
    type Env = Shared;

    fn wrap(&mut self, event: Event) -> Shared {
        if let Some(said) = self.said.as_mut()
            && matches!(event, Event::Message { .. } | Event::TagMsg { .. })
        {
            said.push(event.clone());
        }
        self.sink.wrap(event)
    }

    fn send(&mut self, to: ConnId, event: &Shared) {
        if matches!(event.event(), Some(Event::Message { .. })) {
            self.metrics.delivered(1);
        }
        match self.hold.as_mut() {
            Some(held) => held.push((to, event.clone())),
            None => self.sink.send(to, event),
        }
    }

    fn send_all(&mut self, to: impl ExactSizeIterator<Item = ConnId>, event: &Shared) {
        if matches!(event.event(), Some(Event::Message { .. })) {
            self.metrics.delivered(to.len());
        }
        match self.hold.as_mut() {
            Some(held) => held.extend(to.map(|r| (r, event.clone()))),
            None => self.sink.send_all(to, event),
        }
    }
}

async fn run(
    mut hub: Hub,
    mut rx: mpsc::Receiver<HubMsg>,
    history: Option<Persisted>,
    accounts: Option<Arc<Accounts>>,
    metrics: Arc<Metrics>,
    bans: Arc<Bans>,
    mut link: Option<Link>,
) {
    let accounts = accounts.as_ref();
    let (store, mut sink) = match history {
        Some(p) => (
            Some((p.history, p.search)),
            Sink::Persist(Box::new(p.stage)),
        ),
        None => (None, Sink::Direct(Fanout::default())),
    };
    if let (Some(_), Sink::Persist(stage)) = (&link, &mut sink) {
        stage.rooms_from_cluster();
    }
    let mut batch = Vec::with_capacity(128);
    loop {
        // Commands first: releasing a commit's deliveries as the last thing
        // of an iteration that also applied commands puts more into each
        // connection's write than releasing between iterations.
        tokio::select! {
            biased;
            n = rx.recv_many(&mut batch, 128) => if n == 0 { break },
            heard = sink.hear() => {
                if let Sink::Persist(stage) = &mut sink {
                    stage.on(heard);
                }
                sink.cut_slow(&mut hub, &metrics);
            }
        }
        // A queue, not a list: a connection held back while the cluster
        // grants its nickname resumes where its answer arrives.
        let mut work = VecDeque::from(std::mem::take(&mut batch));
        while let Some(msg) = work.pop_front() {
            let msg = match link.as_mut() {
                Some(link) => match link.park(&hub, msg) {
                    Some(msg) => msg,
                    None => continue,
                },
                None => msg,
            };
            match msg {
                HubMsg::Attach { id, out } => {
                    hub.attach(id);
                    sink.attach(id, out);
                }
                // What a connection's own command sends it is a reply: it
                // never makes it a slow consumer (its reading is paced).
                HubMsg::Cmd { id, cmd, ack } => {
                    sink.set_author(Some(id));
                    let result = apply(
                        &mut hub,
                        &mut sink,
                        accounts,
                        (&metrics, &bans, link.as_mut()),
                        id,
                        cmd,
                    );
                    sink.set_author(None);
                    if let Some(ack) = ack {
                        let _ = ack.send(result);
                    }
                }
                HubMsg::Local { id, body } => {
                    sink.set_author(Some(id));
                    sink.send(id, &Envelope::new(body));
                    sink.set_author(None);
                }
                HubMsg::Group { id, items } => {
                    sink.set_author(Some(id));
                    // Back to back: nothing else lands inside the group.
                    for item in items {
                        match item {
                            GroupItem::Cmd(cmd) => {
                                let _ = apply(
                                    &mut hub,
                                    &mut sink,
                                    accounts,
                                    (&metrics, &bans, link.as_mut()),
                                    id,
                                    cmd,
                                );
                            }
                            GroupItem::Local(body) => sink.send(id, &Envelope::new(body)),
                        }
                    }
                    sink.set_author(None);
                }
                HubMsg::Admin { ask, reply } => {
                    let done = super::admin::apply(&mut hub, &mut sink, &metrics, ask);
                    let _ = reply.send(done);
                }
                HubMsg::Stats { reply } => {
                    let (queued_bytes, queued_max, history) = match &sink {
                        Sink::Direct(f) => {
                            let (sum, max) = f.queued();
                            (sum, max, None)
                        }
                        Sink::Persist(s) => {
                            let (sum, max) = s.queued();
                            (sum, max, Some(s.lags()))
                        }
                    };
                    let _ = reply.send(HubStats {
                        members: hub.member_count(),
                        unregistered: hub.unregistered_count(),
                        rooms: hub.room_count(),
                        accounts: hub.account_count(),
                        queued_bytes,
                        queued_max,
                        history,
                    });
                }
                HubMsg::Remote(Remote::Claimed {
                    conn,
                    nick,
                    outcome,
                }) => {
                    if let Some(link) = link.as_mut() {
                        for msg in link.claimed(conn, &nick, outcome).into_iter().rev() {
                            work.push_front(msg);
                        }
                    }
                }
                HubMsg::Remote(Remote::Journaled { token, ok }) => {
                    if let Some((author, held)) = link.as_mut().and_then(|l| l.journaled(token)) {
                        sink.set_author(Some(author));
                        if ok {
                            for (to, event) in held {
                                sink.send(to, &event);
                            }
                        } else {
                            let notice = Event::ServerNotice {
                                text: NOT_STORED.into(),
                            };
                            sink.send(author, &Envelope::new(notice));
                        }
                        sink.set_author(None);
                    }
                }
                HubMsg::Remote(remote) => {
                    if let Some(link) = link.as_mut() {
                        apply_remote(&mut hub, &mut sink, link, remote);
                    }
                }
                HubMsg::WhoAmI { id, reply } => {
                    let _ = reply.send(hub.user_of(id));
                }
                HubMsg::Detach { id, reason } => {
                    // Those the hub already removed (QUIT, KILL, a cut)
                    // were counted then.
                    if hub.user_of(id).is_some() || hub.is_unregistered(id) {
                        metrics.disconnected(Disconnect::of_detach(&reason));
                    }
                    super::activity::quit(&hub, id, &reason);
                    // Its farewell (ERROR) answers its own leaving: queued
                    // although its session has ended (see `Control::leave`).
                    sink.set_author(Some(id));
                    hub.quit(id, reason, &mut sink);
                    sink.set_author(None);
                    sink.detach(id);
                }
                HubMsg::History {
                    id,
                    room,
                    ask,
                    reply,
                } => {
                    // A room's history needs membership; one's own private
                    // history an account (see `Hub::history_self`).
                    let checked = if ask.is_own() {
                        hub.history_self(id, &ask)
                    } else {
                        hub.history_room(id, &room).map(|r| (r, Vec::new()))
                    };
                    match (checked, &store) {
                        (Err(e), _) => {
                            let _ = reply.send(Err(HistoryError::Hub(e)));
                        }
                        (Ok(_), None) => {
                            let _ = reply.send(Err(HistoryError::Off));
                        }
                        (Ok((room, rooms)), Some((history, search))) => {
                            let (history, search) = (history.clone(), search.clone());
                            // Reads run beside the writer (WAL), off the workers,
                            // once what came before the question is committed
                            // (one's own last message is found).
                            let read: Box<dyn FnOnce() + Send> = Box::new(move || {
                                tokio::task::spawn_blocking(move || {
                                    let _ = reply.send(history::answer(
                                        &*history, &*search, room, rooms, ask,
                                    ));
                                });
                            });
                            match &mut sink {
                                Sink::Persist(stage) => stage.push(Op::Read(read)),
                                Sink::Direct(_) => read(),
                            }
                        }
                    }
                }
                HubMsg::Shutdown { reason, done } => {
                    match &mut sink {
                        Sink::Direct(fanout) => {
                            fanout.shutdown(&reason);
                            let _ = done.send(());
                        }
                        Sink::Persist(stage) => {
                            stage.shutdown(&reason).await;
                            let _ = done.send(());
                        }
                    }
                    return;
                }
            }
            sink.cut_slow(&mut hub, &metrics);
            if let Some(link) = link.as_mut() {
                link.departures(&mut hub);
            }
        }
        batch = Vec::from(work);
        if let Sink::Persist(stage) = &mut sink {
            // Whatever was committed meanwhile goes out with this iteration.
            stage.on_all_heard();
            sink.cut_slow(&mut hub, &metrics);
        }
        if let Sink::Persist(stage) = &mut sink
            && !stage.flush().await
        {
            return;
        }
    }
}

/// Applies one command: the hub's events go to the sink, a refusal is told
/// to the sender, and what the hub's services decided is carried out (a
/// joiner's history queued before anything said after the join, a held
/// message stored, a protected nickname's timer started).
fn apply(
    hub: &mut Hub,
    sink: &mut Sink,
    accounts: Option<&Arc<Accounts>>,
    (metrics, bans, mut link): (&Metrics, &Bans, Option<&mut Link>),
    id: ConnId,
    cmd: Command,
) -> Result<(), HubError> {
    let speech = matches!(cmd, Command::Say { .. } | Command::TagMsg { .. });
    if speech && link.as_ref().is_some_and(|l| !l.is_up()) {
        // Nothing said is lost silently: the sender hears it was not sent.
        let notice = Event::ServerNotice {
            text: CLUSTER_DOWN.into(),
        };
        sink.send(id, &Envelope::new(notice));
        return Ok(());
    }
    if let Some(why) = link.as_mut().and_then(|l| l.refused(id, &cmd)) {
        // Someone on another node holds it (the cluster's claim said so),
        // or the cluster could not be asked (then the person is told so).
        if why == Claim::Unreachable {
            let notice = Event::ServerNotice {
                text: CLAIM_UNREACHABLE.into(),
            };
            sink.send(id, &Envelope::new(notice));
        }
        let nick = match &cmd {
            Command::Register { nick, .. } | Command::Nick(nick) => nick.as_str(),
            _ => "",
        };
        let e = HubError::NickInUse(nick.into());
        sink.send(id, &Envelope::new(Event::Error(e.clone())));
        return Err(e);
    }
    let shout = link.as_ref().and_then(|l| l.before(hub, id, &cmd));
    let old_nick = match (&cmd, &link) {
        (Command::Nick(_), Some(_)) => hub.nick_of(id),
        _ => None,
    };
    let mut said = Vec::new();
    // A message to a room goes through the cluster's journal first (a
    // tag-only message, such as a typing notification, is no history).
    let journaled = link.is_some()
        && matches!(
            &cmd,
            Command::Say { target, .. }
                if !matches!(target, chatroom_core::SayTarget::Nick(_))
        );
    let mut held = Vec::new();
    let noted = super::activity::before(hub, id, &cmd);
    let counted = Counted::of(&cmd);
    let result = hub.handle(
        id,
        cmd,
        &mut Counting {
            sink,
            metrics,
            said: (speech && link.is_some()).then_some(&mut said),
            hold: journaled.then_some(&mut held),
        },
    );
    metrics.applied(counted, result.is_ok());
    if let Some(link) = link.as_mut() {
        if journaled && !said.is_empty() {
            link.journal(id, said, held);
        } else {
            for (to, event) in held {
                sink.send(to, &event);
            }
            for event in said {
                link.said(hub, event);
            }
        }
        if let (Some(cmd), Ok(())) = (shout, &result) {
            link.accepted(hub, id, cmd);
        }
        if let (Some(old), Ok(())) = (old_nick, &result)
            && hub
                .nick_of(id)
                .is_some_and(|new| Key::of(&new) != Key::of(&old))
        {
            link.released(id, old);
        }
    }
    if let (Some(before), Ok(())) = (noted, &result) {
        super::activity::after(hub, id, before);
    }
    if let Sink::Persist(stage) = sink {
        // Before any replay this command queued, so a joiner's replay
        // includes what was noted before its join.
        for note in hub.take_notes() {
            stage.note(note);
        }
    }
    if let Err(e) = &result {
        sink.send(id, &Envelope::new(Event::Error(e.clone())));
    }
    for effect in hub.take_effects() {
        match effect {
            Effect::Replay { to, room, upto } => {
                if let Sink::Persist(stage) = sink {
                    stage.push(Op::Replay {
                        to,
                        room,
                        mark: upto,
                    });
                }
            }
            Effect::Hold {
                from,
                account,
                message,
            } => {
                if let Some(a) = accounts {
                    a.hold(from, account, message);
                }
            }
            Effect::Protect {
                conn,
                nick,
                after,
                generation,
            } => {
                if let Some(a) = accounts {
                    a.protect(conn, nick, after, generation);
                }
            }
        }
    }
    // A ban by mask is checked as soon as the identity is known (after
    // the registration's own effects, so that none is left for the next
    // command).
    if counted == Counted::Registration
        && result.is_ok()
        && let Some(user) = hub.user_of(id)
        && let Some(reason) = bans.banned(&user)
    {
        let reason = super::admin::banned_reason(&reason);
        tracing::info!(conn = id, nick = %user.nick, addr = %user.host, "{} refused at registration: {reason}", user.nick);
        metrics.disconnected(Disconnect::Ban);
        hub.admin_disconnect(id, &reason, sink);
    }
    result
}

/// Applies what another node did (see `link`): its people's commands under
/// their ids here, their messages relayed to the local members, departures.
fn apply_remote(hub: &mut Hub, sink: &mut Sink, link: &mut Link, remote: Remote) {
    match remote {
        Remote::Cmd {
            node,
            conn,
            cmd,
            standing,
        } => {
            let registers = matches!(cmd, Command::Register { .. });
            // Known already (told by its node's answer to who is where):
            // its registration is no news.
            let known = link.ghost(&node, conn, false).is_some();
            if registers && known {
                return;
            }
            let Some(ghost) = link.ghost(&node, conn, registers) else {
                return;
            };
            let joined = match &cmd {
                Command::Join(room) | Command::JoinKey { room, .. } => Some(room.clone()),
                _ => None,
            };
            tracing::trace!(node = %node, conn, ?cmd, "a remote command");
            let result = hub.handle(ghost, cmd, sink);
            if let Err(e) = &result {
                tracing::debug!(node = %node, conn, "a remote command was refused here: {e}");
                if registers {
                    link.forget(ghost);
                }
            }
            if let (Ok(()), Some(room), Some((op, voice))) = (&result, joined, standing) {
                hub.set_standing(ghost, &room, op, voice);
            }
            // Services act for local people only; notes (a topic for the
            // history) are kept as for anyone.
            hub.take_effects();
            if let Sink::Persist(stage) = sink {
                for note in hub.take_notes() {
                    stage.note(note);
                }
            }
        }
        Remote::Said { event, to, .. } => hub.relay(event, to, sink),
        Remote::Index { events, done } => match sink {
            Sink::Persist(stage) => {
                stage.index(&events);
                // Answered once everything before it is committed.
                stage.push(Op::Read(Box::new(move || {
                    let _ = done.send(());
                })));
            }
            Sink::Direct(_) => {
                let _ = done.send(());
            }
        },
        Remote::Gone { node, conn, reason } => {
            if let Some(ghost) = link.ghost(&node, conn, false) {
                hub.quit(ghost, reason, sink);
                link.forget(ghost);
            }
        }
        Remote::NodeGone { node, reason } => {
            for ghost in link.ghosts_of(&node) {
                if let (Some(nick), Some((_, conn))) = (hub.nick_of(ghost), link.home_of(ghost)) {
                    link.release_for(&node, *conn, nick);
                }
                hub.quit(ghost, reason.clone(), sink);
                link.forget(ghost);
            }
        }
        Remote::Standings { reply } => {
            let _ = reply.send((hub.local_standings(), hub.local_rooms()));
        }
        Remote::Place {
            node,
            people,
            rooms,
        } => {
            for person in people {
                if link.ghost(&node, person.conn, false).is_some() {
                    continue;
                }
                let Some(ghost) = link.ghost(&node, person.conn, true) else {
                    continue;
                };
                if !hub.place_remote(ghost, person, sink) {
                    link.forget(ghost);
                }
            }
            // Topics, modes and lists of the rooms they are in, where
            // nobody here is in them to know better.
            for room in rooms {
                hub.adopt_room(room);
            }
        }
        Remote::Sweep => {
            link.sweep(hub);
            link.prune(hub);
        }
        // Handled by the task's loop (it resumes the connection, releases
        // the deliveries).
        Remote::Claimed { .. } | Remote::Journaled { .. } => {}
    }
}
