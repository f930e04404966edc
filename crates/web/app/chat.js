// The conversation state: buffers (server, rooms, private conversations),
// their lines (bounded, sorted by time, deduplicated by msgid), members,
// unread counts, typing, reactions and replies, history paging and the
// reconnect that fills gaps. It turns IRC into state and user intent into
// IRC; it never builds DOM (the view reads the state and is told to redraw).

import { IrcConnection, formatLine, utf8Len } from './irc.js';
import { mentions, isoTime, stripFormatting } from './text.js';

export const MAX_LINES = 2000;     // per buffer in memory
export const PAGE = 100;           // lines per CHATHISTORY page
const TYPING_EVERY = 3000;         // the typing spec's minimum gap between "active" notices
const MARK_EVERY = 1000;           // at most one MARKREAD per buffer per second
const CHANNEL_RE = /^[#&+!]/;

const lower = (s) => String(s).toLowerCase();
let lineSeq = 0;

// Lines sort by time; lines of the same millisecond (a burst) by msgid when
// the server's msgids are numbers (ours are), else in the order they came.
const NUMERIC = /^\d{1,15}$/;
function order(a, b) {
  if (a.time !== b.time) return a.time - b.time;
  if (a.msgid && b.msgid && NUMERIC.test(a.msgid) && NUMERIC.test(b.msgid)) return Number(a.msgid) - Number(b.msgid);
  return 0;
}

/** How many stored reactions wait for their message, per buffer. */
const MAX_WAITING_REACTS = 500;

/** A line of a history page that the server's limit counts. */
function isStored(m) {
  return m.command === 'PRIVMSG' || m.command === 'NOTICE' || m.command === 'TAGMSG';
}

function addReaction(line, emoji, nick) {
  line.reactions ??= new Map();
  const who = line.reactions.get(emoji) ?? new Set();
  who.add(nick);
  line.reactions.set(emoji, who);
}

export class Buffer {
  constructor(name, kind) {
    this.name = name;
    this.kind = kind; // 'server' | 'channel' | 'query'
    this.key = lower(name);
    this.lines = [];
    this.byMsgid = new Map();
    this.orphans = new Map(); // msgid of a parent not held -> the replies to it held
    this.waitingReacts = new Map(); // msgid of a parent not held -> [emoji, nick] pairs
    this.olderFrom = null; // the oldest stored line of the last older page, when none of it is held
    this.unread = 0;
    this.mentions = 0;
    this.members = new Map();
    this.namesPending = null;
    this.topic = '';
    this.joined = false;
    this.olderAvailable = kind !== 'server';
    this.loadingOlder = false;
    this.newerMissing = false;
    this.loadingNewer = false;
    this.readMarker = 0;     // read up to here (ms), here or on another device
    this.serverMarker = 0;   // what the server has (its MARKREADs and ours)
    this.markerKnown = false; // the server told us its marker on this connection
    this.lastMarkSent = 0;
    this.typing = new Map();
    this.lastRef = null;
    this.gapFrom = null;
    this.view = { follow: true, start: 0, end: 0 };
    this.dirty = true;
    this.appended = 0;
  }
}

export class Chat {
  constructor(ui) {
    this.ui = ui;
    this.buffers = new Map();
    this.server = this.buffer('Server', 'server');
    this.active = this.server;
    this.conn = null;
    this.opts = null;
    this.everRegistered = false;
    this.attempt = 0;
    this.reconnectTimer = null;
    this.quitting = false;
    this.pendingJoins = new Set();
    this.pendingHist = [];
    this.lastTyping = new Map();
    this.markTimers = new Map();
    this.searches = [];
    this.status = 'idle';
    this.away = false;
  }

  get nick() { return this.conn?.nick || this.opts?.nick || ''; }
  has(cap) { return !!this.conn?.has(cap); }
  isMe(n) { return n != null && lower(n) === lower(this.nick); }
  isChannel(name) { return CHANNEL_RE.test(name || ''); }

  buffer(name, kind) {
    const key = lower(name);
    let b = this.buffers.get(key);
    if (!b && kind) {
      b = new Buffer(name, kind);
      this.buffers.set(key, b);
      this.ui.buffersChanged();
    }
    return b;
  }

  ordered() {
    const all = [...this.buffers.values()];
    const rank = { server: 0, channel: 1, query: 2 };
    return all.sort((a, b) => rank[a.kind] - rank[b.kind] || a.key.localeCompare(b.key));
  }

  // ---- connection -------------------------------------------------------

  start(opts) {
    this.opts = { ...opts, account: opts.nick };
    // The room in view when the page was last left, if it is rejoined now.
    this.startRoom = opts.lastRoom && (opts.rooms || []).some((r) => lower(r) === lower(opts.lastRoom)) ? lower(opts.lastRoom) : null;
    this.quitting = false;
    this.connect();
  }

  connect() {
    clearTimeout(this.reconnectTimer);
    this.status = 'connecting';
    this.ui.statusChanged();
    const conn = new IrcConnection(this.opts.url, this.opts, {
      open: () => { this.status = 'registering'; this.ui.statusChanged(); },
      registered: () => this.onRegistered(),
      message: (m) => { if (this.conn === conn) this.handle(m, {}); },
      batch: (b) => { if (this.conn === conn) this.processBatch(b, {}); },
      refused: (r) => this.onRefused(r),
      close: (c) => { if (this.conn === conn) this.onClose(c); },
    });
    this.conn = conn;
    conn.connect();
  }

  onRefused(r) {
    if (r.kind === 'nick' && this.everRegistered) {
      // Our old connection may still hold the nickname: take a variant.
      this.opts.nick = (this.opts.nick + '_').slice(0, 30);
      this.refusedRetry = true;
      return;
    }
    this.lastRefusal = r;
  }

  onRegistered() {
    this.status = 'online';
    this.attempt = 0;
    const first = !this.everRegistered;
    this.everRegistered = true;
    this.ui.statusChanged();
    this.ui.registered(first);
    const chans = [...this.buffers.values()].filter((b) => b.kind === 'channel' && (b.wanted || b.gapFrom)).map((b) => b.name);
    const saved = first ? (this.opts.rooms || []) : [];
    const all = [...new Set([...chans, ...saved])];
    for (let i = 0; i < all.length; i += 10) this.send('JOIN', [all.slice(i, i + 10).join(',')]);
    for (const b of this.buffers.values()) {
      if (b.kind !== 'query') continue;
      if (b.gapFrom) this.fillGap(b);
      this.flushMarker(b); // asks where the server has us in it
    }
    this.motdTimer = null;
  }

  onClose({ registered, opened, reason }) {
    this.conn = null;
    for (const b of this.buffers.values()) {
      if (b.kind !== 'server' && b.lastRef) b.gapFrom = { ...b.lastRef };
      if (b.kind === 'channel') {
        b.wanted = b.joined || b.wanted;
        b.joined = false;
        b.members.clear();
        b.dirtyMembers = true;
      }
      b.loadingOlder = false;
      b.loadingNewer = false;
      b.typing.clear();
      // Markers of a login without an account belong to the connection:
      // the next one starts from what its server says.
      b.serverMarker = 0;
      b.markerKnown = false;
      b.markAsked = false;
    }
    for (const t of this.markTimers.values()) clearTimeout(t);
    this.markTimers.clear();
    this.pendingHist = [];
    if (this.quitting) { this.status = 'idle'; this.ui.statusChanged(); return; }
    if (this.refusedRetry) {
      this.refusedRetry = false;
      this.connect();
      return;
    }
    if (!this.everRegistered) {
      this.status = 'idle';
      const r = this.lastRefusal;
      this.lastRefusal = null;
      this.ui.loginFailed(r ? r : { kind: opened ? 'closed' : 'unreachable', reason: reason || (opened ? 'The server closed the connection.' : 'Server unreachable.') });
      this.ui.statusChanged();
      return;
    }
    // Exponential backoff with jitter, capped, so that many tabs do not all
    // come back at the same instant after a restart.
    const base = Math.min(30000, 1000 * 2 ** this.attempt);
    const delay = Math.round(base / 2 + Math.random() * base / 2);
    this.attempt = Math.min(this.attempt + 1, 8);
    this.status = opened ? 'disconnected' : 'unreachable';
    this.retryAt = Date.now() + delay;
    this.disconnectReason = reason;
    this.ui.statusChanged();
    this.reconnectTimer = setTimeout(() => this.connect(), delay);
    for (const b of this.buffers.values()) b.dirty = true;
    this.ui.changed(null);
  }

  retryNow() {
    if (this.status === 'disconnected' || this.status === 'unreachable') this.connect();
  }

  quit(reason) {
    this.quitting = true;
    clearTimeout(this.reconnectTimer);
    if (this.conn) {
      this.send('QUIT', [reason || 'Leaving']);
      this.conn.close('quit');
    }
    this.status = 'idle';
    this.ui.statusChanged();
  }

  send(cmd, params, tags) {
    this.conn?.send(cmd, params, tags);
  }

  // ---- incoming ---------------------------------------------------------

  processBatch(b, ctx) {
    const type = b.type;
    if (type === 'draft/multiline') {
      this.handle(this.combineMultiline(b), ctx);
      return 0;
    }
    const inner = type === 'chathistory' ? { ...ctx, history: true } : ctx;
    let count = 0;
    for (const m of b.messages) {
      if (m.command === ' BATCH') count += this.processBatch(m.batch, inner);
      else {
        if (isStored(m)) count++;
        this.handle(m, inner);
      }
    }
    if (type === 'chathistory' && !b.tags.label && !ctx.labeled) this.unlabeledHistory(b, count);
    return count;
  }

  combineMultiline(b) {
    const msgs = b.messages.filter((m) => m.command === 'PRIVMSG' || m.command === 'NOTICE');
    let text = '';
    msgs.forEach((m, i) => {
      const part = m.params[1] ?? '';
      if (i === 0) text = part;
      else if ('draft/multiline-concat' in m.tags) text += part;
      else text += '\n' + part;
    });
    const first = msgs[0] || b.source;
    return {
      ...first,
      command: first.command === 'NOTICE' ? 'NOTICE' : 'PRIVMSG',
      tags: { ...(first.tags || {}), ...b.tags, batch: undefined },
      source: b.source.source || first.source,
      nick: b.source.nick || first.nick,
      params: [b.params[0] || first.params?.[0], text],
    };
  }

  unlabeledHistory(b, count) {
    const target = lower(b.params[0] || '');
    const i = this.pendingHist.findIndex((p) => p.buf.key === target);
    if (i < 0) return;
    const [p] = this.pendingHist.splice(i, 1);
    if (p.kind === 'gap') p.buf.gapCursor = p.buf.lastRef;
    this.historyDone(p, count);
  }

  handle(m, ctx) {
    const fn = this['on_' + m.command];
    if (fn) fn.call(this, m, ctx);
    else if (/^\d{3}$/.test(m.command)) this.onNumeric(m);
  }

  timeOf(m) {
    const t = m.tags?.time ? Date.parse(m.tags.time) : NaN;
    return Number.isFinite(t) ? t : Date.now();
  }

  on_PRIVMSG(m, ctx) { this.onText(m, ctx, m.command === 'NOTICE'); }
  on_NOTICE(m, ctx) { this.onText(m, ctx, true); }

  onText(m, ctx, notice) {
    let target = m.params[0] || '';
    let text = m.params[1] ?? '';
    const prefixes = this.conn?.isupport.get('STATUSMSG') ?? '@+';
    while (target && prefixes.includes(target[0]) && this.isChannel(target.slice(1))) target = target.slice(1);
    const self = this.isMe(m.nick);
    let buf;
    if (this.isChannel(target)) buf = this.buffer(target, 'channel');
    else if (m.fromServer || !m.nick) buf = notice && this.active ? this.active : this.server;
    else if (notice && !self && !ctx.history) buf = this.activeOrServer();
    else buf = this.buffer(self ? target : m.nick, 'query');
    if (!buf) return;
    // A search answer (NOTICEs from the server) goes to the search panel.
    if (notice && m.fromServer && this.captureSearch(text)) return;
    let kind = notice ? 'notice' : 'msg';
    if (text.startsWith('\x01')) {
      const body = text.replace(/^\x01|\x01$/g, '');
      if (/^ACTION( |$)/.test(body)) { kind = 'action'; text = body.slice(7); }
      else return; // other CTCP requests are not answered nor shown
    }
    const line = {
      msgid: m.tags?.msgid || null,
      time: this.timeOf(m),
      stamped: !!m.tags?.time,
      nick: m.nick || m.source || '',
      kind, text, self,
      history: !!ctx.history,
      replyTo: m.tags?.['+draft/reply'] || null,
      account: m.tags?.account || null,
    };
    line.mention = !self && kind !== 'notice' && (buf.kind === 'query' || mentions(text, this.nick));
    if (buf.kind === 'query' && !notice) line.mention = !self;
    this.typingStopped(buf, line.nick);
    this.addLine(buf, line, !ctx.history);
  }

  activeOrServer() { return this.active && this.active.kind !== 'server' ? this.active : this.server; }

  /** Adds a line; false when it was a duplicate (same msgid). */
  addLine(buf, line, live) {
    if (line.msgid && buf.byMsgid.has(line.msgid)) return false;
    const lines = buf.lines;
    if (buf.newerMissing && live && lines.length && line.time >= lines[lines.length - 1].time) {
      return false; // beyond what we hold: fetched with CHATHISTORY AFTER when scrolled to
    }
    line.id = ++lineSeq;
    let idx = lines.length;
    if (idx && order(lines[idx - 1], line) > 0) {
      let lo = 0, hi = idx;
      while (lo < hi) { const mid = (lo + hi) >> 1; if (order(lines[mid], line) <= 0) lo = mid + 1; else hi = mid; }
      idx = lo;
    }
    lines.splice(idx, 0, line);
    if (line.msgid) buf.byMsgid.set(line.msgid, line);
    if (line.msgid && (!buf.lastRef || order(line, buf.lastRef) >= 0)) buf.lastRef = { msgid: line.msgid, time: line.time };
    if (line.replyTo) {
      const parent = buf.byMsgid.get(line.replyTo);
      if (parent) { parent.replies = (parent.replies || 0) + 1; this.ui.lineChanged(buf, parent); }
      else {
        // The parent may come later (an older page): then both are redrawn.
        const w = buf.orphans.get(line.replyTo) ?? [];
        w.push(line);
        buf.orphans.set(line.replyTo, w);
      }
    }
    const reacts = line.msgid && buf.waitingReacts.get(line.msgid);
    if (reacts) {
      buf.waitingReacts.delete(line.msgid);
      for (const [emoji, nick] of reacts) addReaction(line, emoji, nick);
    }
    const children = line.msgid && buf.orphans.get(line.msgid);
    if (children) {
      buf.orphans.delete(line.msgid);
      line.replies = (line.replies || 0) + children.length;
      for (const c of children) this.ui.lineChanged(buf, c);
    }
    const v = buf.view;
    if (!v.follow && buf === this.active) {
      if (idx < v.start) { v.start++; v.end++; }
      else if (idx < v.end || (idx === 0 && v.end === 0)) { v.end++; buf.dirty = true; }
      // Beyond the window's end: drawn when the reader scrolls down to it.
    } else if (idx === lines.length - 1) buf.appended++;
    else buf.dirty = true;
    this.bound(buf);
    if (countable(buf, line) && line.time > buf.readMarker) {
      if (!this.seen(buf) && (live || buf.readMarker)) {
        buf.unread++;
        if (line.mention) buf.mentions++;
        this.ui.buffersChanged();
        if (line.mention && live) this.ui.notify(buf, line);
      }
    }
    this.ui.changed(buf);
    return true;
  }

  /** Is the end of `buf` in front of the reader now? */
  seen(buf) { return buf === this.active && buf.view.follow && this.ui.visible(); }

  bound(buf) {
    const lines = buf.lines;
    // Trimmed in chunks, so that a flood costs one splice per hundred lines.
    if (lines.length <= MAX_LINES + 100) return;
    const excess = lines.length - MAX_LINES;
    const v = buf.view;
    let removed;
    if (v.follow || buf !== this.active || v.start >= excess) {
      removed = lines.splice(0, excess);
      buf.olderAvailable = true;
      buf.olderFrom = null;
      v.start -= excess;
      v.end -= excess;
      if (v.start < 0) { v.start = 0; v.end = Math.max(0, v.end); buf.dirty = true; }
    } else {
      removed = lines.splice(lines.length - excess, excess);
      buf.newerMissing = true;
      v.end = Math.min(v.end, lines.length);
      buf.dirty = true;
    }
    for (const l of removed) {
      if (l.msgid) buf.byMsgid.delete(l.msgid);
      const w = l.replyTo && buf.orphans.get(l.replyTo);
      if (w) { const k = w.filter((x) => x !== l); if (k.length) buf.orphans.set(l.replyTo, k); else buf.orphans.delete(l.replyTo); }
    }
  }

  event(buf, text, m, ctx = {}, extra = {}) {
    if (!buf) return;
    this.addLine(buf, { msgid: m?.tags?.msgid || null, time: m ? this.timeOf(m) : Date.now(), stamped: !!m?.tags?.time, nick: m?.nick || '', kind: 'event', text, history: !!ctx.history, ...extra }, false);
  }

  info(text, buf = this.active || this.server, kind = 'info') {
    this.addLine(buf, { msgid: null, time: Date.now(), nick: '', kind, text }, false);
  }

  on_TAGMSG(m, ctx) {
    let target = m.params[0] || '';
    if (!this.isChannel(target) && !this.isChannel(target.slice(1))) target = this.isMe(m.nick) ? target : m.nick;
    else if (!this.isChannel(target)) target = target.slice(1);
    const buf = this.buffer(target, this.isChannel(target) ? 'channel' : undefined) || (this.buffers.get(lower(target)));
    const react = m.tags['+draft/react'];
    const reply = m.tags['+draft/reply'];
    if (react && reply) {
      const b = buf || this.buffer(target, 'query');
      const parent = b?.byMsgid.get(reply);
      if (parent) {
        addReaction(parent, react, m.nick);
        this.ui.lineChanged(b, parent);
      } else if (b && ctx.history) {
        // A stored reaction to a message not held yet (an older page
        // brings it): kept, a bounded number, until it comes.
        if (b.waitingReacts.size >= MAX_WAITING_REACTS) b.waitingReacts.delete(b.waitingReacts.keys().next().value);
        const w = b.waitingReacts.get(reply) ?? [];
        w.push([react, m.nick]);
        b.waitingReacts.set(reply, w);
      }
      return;
    }
    const typing = m.tags['+typing'];
    if (typing && buf && !ctx.history && !this.isMe(m.nick)) {
      if (typing === 'done') this.typingStopped(buf, m.nick);
      else {
        buf.typing.set(lower(m.nick), { nick: m.nick, state: typing, until: Date.now() + (typing === 'paused' ? 30000 : 6000) });
        this.ui.typingChanged(buf);
      }
    }
  }

  typingStopped(buf, nick) {
    if (nick && buf.typing.delete(lower(nick))) this.ui.typingChanged(buf);
  }

  on_JOIN(m, ctx) {
    const chan = m.params[0];
    const buf = this.buffer(chan, 'channel');
    if (ctx.history) { this.event(buf, `${m.nick} joined`, m, ctx); return; }
    if (this.isMe(m.nick)) {
      buf.name = chan;
      buf.joined = true;
      buf.wanted = true;
      buf.members.clear();
      buf.dirtyMembers = true;
      this.saveRooms();
      if (buf.gapFrom) this.fillGap(buf);
      const who = this.conn?.isupport.has('WHOX');
      if (who) this.send('WHO', [chan, '%tnfa,42']); else this.send('WHO', [chan]);
      if (this.pendingJoins.has(buf.key) || (this.active === this.server && this.startHere(buf))) {
        this.pendingJoins.delete(buf.key);
        this.ui.select(buf);
      }
      this.ui.buffersChanged();
    } else {
      buf.members.set(lower(m.nick), { nick: m.nick, modes: '', away: false, account: m.params[1] && m.params[1] !== '*' ? m.params[1] : null });
      buf.dirtyMembers = true;
      this.event(buf, `${m.nick} joined`, m, ctx, { evnick: m.nick });
    }
    this.ui.membersChanged(buf);
  }

  /** At start, the first room joined is shown, unless the page was last left
   * in another room that is being rejoined: then that one (a few seconds
   * at most, in case it cannot be joined). */
  startHere(buf) {
    if (!this.startRoom || this.startRoom === buf.key) { this.startRoom = null; return true; }
    clearTimeout(this.startTimer);
    this.startTimer = setTimeout(() => {
      this.startRoom = null;
      if (this.active === this.server && buf.joined) this.ui.select(buf);
    }, 5000);
    return false;
  }

  on_PART(m, ctx) {
    const buf = this.buffer(m.params[0]);
    if (!buf) return;
    const reason = m.params[1] ? ` (${m.params[1]})` : '';
    if (ctx.history) { this.event(buf, `${m.nick} left${reason}`, m, ctx); return; }
    if (this.isMe(m.nick)) this.leftChannel(buf, m, 'You left' + reason);
    else {
      buf.members.delete(lower(m.nick));
      buf.dirtyMembers = true;
      this.event(buf, `${m.nick} left${reason}`, m, ctx);
      this.ui.membersChanged(buf);
    }
  }

  on_KICK(m, ctx) {
    const buf = this.buffer(m.params[0]);
    if (!buf) return;
    const who = m.params[1];
    const reason = m.params[2] ? ` (${m.params[2]})` : '';
    if (ctx.history) { this.event(buf, `${who} was removed by ${m.nick}${reason}`, m, ctx); return; }
    if (this.isMe(who)) this.leftChannel(buf, m, `You were removed by ${m.nick}${reason}`);
    else {
      buf.members.delete(lower(who));
      buf.dirtyMembers = true;
      this.event(buf, `${who} was removed by ${m.nick}${reason}`, m, ctx);
      this.ui.membersChanged(buf);
    }
  }

  leftChannel(buf, m, text) {
    buf.joined = false;
    buf.markerKnown = false;
    buf.serverMarker = 0;
    buf.wanted = false;
    buf.members.clear();
    buf.dirtyMembers = true;
    this.saveRooms();
    if (buf.closing) { this.closeBuffer(buf); return; }
    this.event(buf, text, m);
    this.ui.membersChanged(buf);
    this.ui.buffersChanged();
  }

  on_QUIT(m, ctx) {
    if (ctx.history) return;
    const reason = m.params[0] ? ` (${m.params[0]})` : '';
    for (const b of this.buffers.values()) {
      if (b.members.delete(lower(m.nick))) {
        b.dirtyMembers = true;
        this.event(b, `${m.nick} quit${reason}`, m, ctx);
        this.typingStopped(b, m.nick);
        this.ui.membersChanged(b);
      }
    }
  }

  on_NICK(m, ctx) {
    if (ctx.history) return;
    const old = m.nick, nu = m.params[0];
    const me = this.isMe(nu);
    for (const b of this.buffers.values()) {
      const mem = b.members.get(lower(old));
      if (mem) {
        b.members.delete(lower(old));
        mem.nick = nu;
        b.members.set(lower(nu), mem);
        b.dirtyMembers = true;
        this.event(b, me ? `You are now known as ${nu}` : `${old} is now known as ${nu}`, m, ctx);
        this.ui.membersChanged(b);
      }
    }
    const q = this.buffers.get(lower(old));
    if (q && q.kind === 'query' && !this.buffers.has(lower(nu))) {
      this.buffers.delete(q.key);
      q.name = nu; q.key = lower(nu);
      this.buffers.set(q.key, q);
      this.event(q, `${old} is now known as ${nu}`, m, ctx);
    }
    if (me) { this.opts.nick = nu; this.ui.nickChanged(nu); }
    this.ui.buffersChanged();
  }

  on_AWAY(m) {
    const away = m.params.length > 0 && m.params[0] !== '';
    for (const b of this.buffers.values()) {
      const mem = b.members.get(lower(m.nick));
      if (mem && mem.away !== away) { mem.away = away; b.dirtyMembers = true; this.ui.membersChanged(b); }
    }
  }

  on_ACCOUNT(m) {
    for (const b of this.buffers.values()) {
      const mem = b.members.get(lower(m.nick));
      if (mem) mem.account = m.params[0] === '*' ? null : m.params[0];
    }
  }

  on_CHGHOST() {}
  on_SETNAME() {}

  on_TOPIC(m, ctx) {
    const buf = this.buffer(m.params[0]);
    if (!buf) return;
    if (!ctx.history) { buf.topic = m.params[1] || ''; this.ui.topicChanged(buf); }
    this.event(buf, m.params[1] ? `${m.nick} set the topic: ${m.params[1]}` : `${m.nick} cleared the topic`, m, ctx);
  }

  on_MODE(m, ctx) {
    const target = m.params[0];
    const buf = this.buffer(target);
    if (!buf || buf.kind !== 'channel') return;
    const modes = m.params[1] || '';
    const args = m.params.slice(2);
    let add = true, ai = 0;
    if (!ctx.history) {
      for (const c of modes) {
        if (c === '+') add = true; else if (c === '-') add = false;
        else if (c === 'o' || c === 'v' || c === 'h' || c === 'a' || c === 'q') {
          const nick = args[ai++];
          const mem = nick && buf.members.get(lower(nick));
          if (mem) {
            const sym = { q: '~', a: '&', o: '@', h: '%', v: '+' }[c];
            mem.modes = add ? (mem.modes.includes(sym) ? mem.modes : mem.modes + sym) : mem.modes.replace(sym, '');
            buf.dirtyMembers = true;
          }
        } else if ('beIkl'.includes(c)) { if (c !== 'l' || add) ai++; }
      }
      this.ui.membersChanged(buf);
    }
    this.event(buf, `${m.nick} set mode ${m.params.slice(1).join(' ')}`, m, ctx);
  }

  on_INVITE(m) {
    const chan = m.params[1];
    if (this.isMe(m.params[0])) this.info(`${m.nick} invites you to ${chan} (type /join ${chan})`, this.activeOrServer());
  }

  on_MARKREAD(m) {
    const buf = this.buffers.get(lower(m.params[0] || ''));
    if (!buf) return;
    const ts = m.params[1] && m.params[1] !== '*' ? Date.parse(m.params[1].replace(/^timestamp=/, '')) : 0;
    if (!Number.isFinite(ts)) return;
    buf.markerKnown = true;
    if (ts > buf.serverMarker) buf.serverMarker = ts;
    if (ts > buf.readMarker) {
      // Read further elsewhere (another tab or device): count again what is
      // held after the new marker, unless it is on screen here anyway.
      buf.readMarker = ts;
      if (this.seen(buf)) this.markRead(buf);
      else {
        let unread = 0, ment = 0;
        for (const l of buf.lines) if (l.time > ts && countable(buf, l)) { unread++; if (l.mention) ment++; }
        buf.unread = unread;
        buf.mentions = ment;
        this.ui.buffersChanged();
      }
    }
    // Ours may be further still (read before a reconnection, not yet sent).
    this.flushMarker(buf);
  }

  on_FAIL(m) { this.standardReply(m, 'error'); }
  on_WARN(m) { this.standardReply(m, 'info'); }
  on_NOTE(m) { this.standardReply(m, 'info'); }

  standardReply(m, kind) {
    const [cmd, code] = m.params;
    const text = m.params[m.params.length - 1];
    if (cmd === 'CHATHISTORY') {
      if (!m.tags.label) {
        const target = lower(m.params[3] || '');
        const i = this.pendingHist.findIndex((p) => p.buf.key === target);
        if (i >= 0) this.historyDone(this.pendingHist.splice(i, 1)[0], 0);
      }
      return; // e.g. private history without an account: nothing to show
    }
    if (cmd === 'MARKREAD') return;
    this.info(`${cmd} ${code}: ${text}`, this.activeOrServer(), kind);
  }

  on_REGISTER(m) {
    if (m.params[0] === 'SUCCESS') this.info(`Account ${m.params[1]} registered: ${m.params[2] || ''}`, this.server);
    else if (m.params[0] === 'VERIFICATION_REQUIRED') this.info(`Account ${m.params[1]} needs verification: ${m.params[2] || ''}`, this.activeOrServer());
  }

  on_ERROR(m) { this.info(`Disconnected: ${m.params[0] || ''}`, this.server, 'error'); }

  onNumeric(m) {
    const n = m.command;
    const p = m.params;
    const last = p[p.length - 1] || '';
    switch (n) {
      case '001': case '002': case '003': case '004': case '251': case '252': case '253': case '254':
      case '255': case '265': case '266': case '375': case '372': case '250':
        this.info(last, this.server); return;
      case '005': case '900': case '903': case '908': return;
      case '376': case '422':
        // If the server did not put us anywhere, go to #lobby.
        clearTimeout(this.motdTimer);
        this.motdTimer = setTimeout(() => {
          const inRoom = [...this.buffers.values()].some((b) => b.kind === 'channel' && (b.joined || b.wanted));
          if (!inRoom && this.status === 'online') this.join('#lobby');
        }, 800);
        return;
      case '332': {
        const b = this.buffer(p[1]); if (b) { b.topic = last; this.ui.topicChanged(b); } return;
      }
      case '333': case '329': case '324': case '315': case '366':
        if (n === '366') {
          const b = this.buffer(p[1]);
          if (b && b.namesPending) { b.members = b.namesPending; b.namesPending = null; b.dirtyMembers = true; this.ui.membersChanged(b); }
        }
        return;
      case '331': { const b = this.buffer(p[1]); if (b) { b.topic = ''; this.ui.topicChanged(b); } return; }
      case '353': {
        const b = this.buffer(p[2]);
        if (!b) return;
        b.namesPending ??= new Map();
        const prefixes = this.prefixChars();
        for (const tok of last.split(' ').filter(Boolean)) {
          let i = 0;
          while (i < tok.length && prefixes.includes(tok[i])) i++;
          const nick = tok.slice(i).split('!')[0];
          const prev = b.members.get(lower(nick));
          b.namesPending.set(lower(nick), { nick, modes: tok.slice(0, i), away: prev?.away || false, account: prev?.account || null });
        }
        return;
      }
      case '352': case '354': {
        let chan, nick, flags;
        if (n === '352') { chan = p[1]; nick = p[5]; flags = p[6] || ''; }
        else { if (p[1] !== '42') return; nick = p[2]; flags = p[3] || ''; chan = null; }
        const away = flags.startsWith('G');
        for (const b of chan ? [this.buffer(chan)].filter(Boolean) : this.buffers.values()) {
          const mem = b.members.get(lower(nick)) || b.namesPending?.get(lower(nick));
          if (mem && mem.away !== away) { mem.away = away; b.dirtyMembers = true; this.ui.membersChanged(b); }
          if (mem && n === '354' && p[4] && p[4] !== '0') mem.account = p[4];
        }
        return;
      }
      case '305': this.away = false; this.info('You are back.', this.activeOrServer()); this.ui.statusChanged(); return;
      case '306': this.away = true; this.info('You are marked as away.', this.activeOrServer()); this.ui.statusChanged(); return;
      case '301': this.info(`${p[1]} is away: ${last}`, this.buffers.get(lower(p[1])) || this.activeOrServer()); return;
      case '311': this.info(`${p[1]} is ${p[2]}@${p[3]} (${last})`, this.activeOrServer()); return;
      case '319': case '312': case '317': case '330': case '671': case '313':
        this.info(`${p[1]} ${p.slice(2).join(' ')}`, this.activeOrServer()); return;
      case '318': case '369': case '368': case '347': case '349': case '321': case '323': return;
      case '322': this.info(`${p[1]} (${p[2]}): ${last}`, this.activeOrServer()); return;
      case '341': this.info(`Invited ${p[1]} to ${p[2]}`, this.activeOrServer()); return;
      case '433': case '432': case '431': case '436':
        this.info(`Nickname ${p[1] || ''} refused: ${last}`, this.activeOrServer(), 'error'); return;
      default:
        if (n >= '400' && n < '600') this.info(`${p.slice(1).join(' ')}`, this.activeOrServer(), 'error');
        else if (p.length > 1) this.info(p.slice(1).join(' '), this.server);
    }
  }

  prefixChars() {
    const pref = this.conn?.isupport.get('PREFIX');
    const m = pref && /^\(([^)]*)\)(.*)$/.exec(pref);
    return m ? m[2] : '~&@%+';
  }

  // ---- history ----------------------------------------------------------

  ref(line) {
    const types = this.conn?.isupport.get('MSGREFTYPES');
    if (line.msgid && (types == null || types.split(',').includes('msgid'))) return 'msgid=' + line.msgid;
    return 'timestamp=' + isoTime(line.time);
  }

  canHistory() { return this.has('draft/chathistory') && this.has('batch') && this.status === 'online'; }

  limit() {
    const max = parseInt(this.conn?.isupport.get('CHATHISTORY') || '0', 10);
    return max > 0 ? Math.min(PAGE, max) : PAGE;
  }

  requestHistory(buf, sub, refs, kind) {
    const limit = this.limit();
    const req = { buf, sub, kind, limit };
    const p = this.conn.sendLabeled('CHATHISTORY', [sub, buf.name, ...refs, String(limit)]);
    if (!p) { this.pendingHist.push(req); return; }
    p.then((r) => {
      let count = 0;
      if (r.type === 'batch') {
        const walk = (b) => {
          if (b.type === 'chathistory') {
            // Stored reactions count: the server's limit counts them too.
            count += b.messages.filter((x) => isStored(x) || x.command === ' BATCH').length;
            const first = b.messages.find((x) => isStored(x) && x.tags.msgid);
            if (first && !req.oldest) req.oldest = { msgid: first.tags.msgid, time: this.timeOf(first) };
          }
          for (const x of b.messages) if (x.command === ' BATCH') walk(x.batch);
        };
        walk(r.batch);
      }
      this.historyDone(req, count);
    }, () => {});
  }

  historyDone(req, count) {
    const buf = req.buf;
    if (req.kind === 'older') {
      buf.loadingOlder = false;
      if (count < req.limit) buf.olderAvailable = false;
      // A page of reactions alone adds no line: the next page goes on
      // from its oldest, not from the same line again.
      buf.olderFrom = req.oldest && !buf.byMsgid.has(req.oldest.msgid) ? req.oldest : null;
    } else if (req.kind === 'newer' || req.kind === 'gap') {
      buf.loadingNewer = false;
      if (count >= req.limit) { this.fetchAfter(buf, req.kind); return; }
      if (req.kind === 'newer' && buf.newerMissing) {
        buf.newerMissing = false;
        // One more look: lines relayed while this page was on its way.
        this.fetchAfter(buf, 'gap');
        return;
      }
      if (req.kind === 'gap') buf.gapFrom = null;
    }
    buf.dirty = true;
    this.ui.changed(buf);
  }

  loadOlder(buf) {
    if (buf.loadingOlder || !buf.olderAvailable || buf.kind === 'server') return;
    if (!this.canHistory()) { buf.olderAvailable = false; buf.dirty = true; this.ui.changed(buf); return; }
    if (buf.kind === 'channel' && !buf.joined) return;
    buf.loadingOlder = true;
    let first = buf.lines.find((l) => l.msgid) || buf.lines[0];
    if (buf.olderFrom && (!first || buf.olderFrom.time <= first.time)) first = buf.olderFrom;
    if (first) this.requestHistory(buf, 'BEFORE', [this.ref(first)], 'older');
    else this.requestHistory(buf, 'LATEST', ['*'], 'older');
    this.ui.changed(buf);
  }

  fetchAfter(buf, kind) {
    if (!this.canHistory()) { buf.newerMissing = false; return; }
    let from;
    if (kind === 'gap') {
      // Page on from where the gap started, past whatever the join replay brought.
      from = buf.gapCursor || buf.gapFrom || buf.lastRef;
    } else {
      const last = [...buf.lines].reverse().find((l) => l.msgid) || buf.lines[buf.lines.length - 1];
      from = last ? { msgid: last.msgid, time: last.time } : null;
    }
    if (!from) { buf.newerMissing = false; return; }
    buf.loadingNewer = true;
    const limit = this.limit();
    const req = { buf, sub: 'AFTER', kind, limit };
    const p = this.conn.sendLabeled('CHATHISTORY', ['AFTER', buf.name, this.ref(from), String(limit)]);
    const done = (count, newest) => {
      if (kind === 'gap') buf.gapCursor = newest || buf.lastRef;
      this.historyDone(req, count);
    };
    if (!p) { this.pendingHist.push(req); return; }
    p.then((r) => {
      let count = 0, newest = null;
      const walk = (b) => {
        for (const x of b.messages) {
          if (x.command === ' BATCH') walk(x.batch);
          else if (b.type === 'chathistory' && isStored(x)) {
            count++;
            if (x.tags.msgid) newest = { msgid: x.tags.msgid, time: this.timeOf(x) };
          }
        }
      };
      if (r.type === 'batch') walk(r.batch);
      done(count, newest);
    }, () => {});
  }

  fillGap(buf) {
    buf.gapCursor = null;
    if (this.canHistory()) this.fetchAfter(buf, 'gap');
  }

  loadNewer(buf) {
    if (buf.loadingNewer || !buf.newerMissing) return;
    this.fetchAfter(buf, 'newer');
  }

  // ---- read markers -----------------------------------------------------

  /** The reader has the end of `buf` in front of them: clear its counts and
   * move its marker to the newest line with a server time (lines made up
   * here, such as notices of the app, carry this clock's time and are not
   * what the server would compare). Does nothing unless it is seen. */
  markRead(buf) {
    if (!this.seen(buf)) return;
    if (buf.unread || buf.mentions) { buf.unread = 0; buf.mentions = 0; this.ui.buffersChanged(); }
    let last = null;
    for (let i = buf.lines.length - 1; i >= 0 && !last; i--) if (buf.lines[i].stamped) last = buf.lines[i];
    if (last && last.time > buf.readMarker) buf.readMarker = last.time;
    this.flushMarker(buf);
  }

  /** Sends the marker when the server has an older one, at most once per
   * MARK_EVERY per buffer (the first at once, the latest at the end of the
   * wait). Never before the server has said where it stands for this
   * connection (at join, or asked), so it is never told something older. */
  flushMarker(buf) {
    if (!this.has('draft/read-marker') || buf.kind === 'server' || this.status !== 'online') return;
    if (!buf.markerKnown) {
      if (buf.kind === 'query' && !buf.markAsked) { buf.markAsked = true; this.send('MARKREAD', [buf.name]); }
      return;
    }
    if (buf.readMarker <= buf.serverMarker || this.markTimers.has(buf.key)) return;
    const wait = buf.lastMarkSent + MARK_EVERY - Date.now();
    if (wait <= 0) { this.sendMarker(buf); return; }
    this.markTimers.set(buf.key, setTimeout(() => { this.markTimers.delete(buf.key); this.sendMarker(buf); }, wait));
  }

  sendMarker(buf) {
    if (this.status !== 'online' || !buf.markerKnown || buf.readMarker <= buf.serverMarker) return;
    if (buf.kind === 'channel' && !buf.joined) return;
    buf.serverMarker = buf.readMarker;
    buf.lastMarkSent = Date.now();
    this.send('MARKREAD', [buf.name, 'timestamp=' + isoTime(buf.readMarker)]);
  }

  // ---- outgoing ---------------------------------------------------------

  join(name, key) {
    if (!this.isChannel(name)) name = '#' + name;
    const b = this.buffers.get(lower(name));
    if (b && b.joined) { this.ui.select(b); return; }
    this.pendingJoins.add(lower(name));
    this.send('JOIN', key ? [name, key] : [name]);
  }

  part(buf, reason) {
    if (buf.kind === 'channel') {
      if (buf.joined) { buf.closing = true; this.send('PART', reason ? [buf.name, reason] : [buf.name]); }
      else this.closeBuffer(buf);
    } else if (buf.kind === 'query') this.closeBuffer(buf);
  }

  closeBuffer(buf) {
    if (buf.kind === 'server') return;
    this.buffers.delete(buf.key);
    if (this.active === buf) this.ui.select(this.ordered().find((b) => b.kind === 'channel') || this.server);
    this.saveRooms();
    this.ui.buffersChanged();
  }

  openQuery(nick) {
    const b = this.buffer(nick, 'query');
    this.flushMarker(b);
    if (!b.lines.length && this.canHistory() && !b.loadingOlder) this.loadOlder(b);
    this.ui.select(b);
    return b;
  }

  saveRooms() {
    const rooms = [...this.buffers.values()].filter((b) => b.kind === 'channel' && (b.joined || b.wanted)).map((b) => b.name);
    this.ui.saveRooms(rooms);
  }

  multilineLimits() {
    const v = this.conn?.offered.get('draft/multiline');
    if (v == null || !this.has('draft/multiline') || !this.has('batch')) return null;
    const out = { maxBytes: 4096, maxLines: 100 };
    for (const tok of v.split(',')) {
      const [k, val] = tok.split('=');
      if (k === 'max-bytes') out.maxBytes = parseInt(val, 10) || out.maxBytes;
      if (k === 'max-lines') out.maxLines = parseInt(val, 10) || out.maxLines;
    }
    return out;
  }

  /** Sends text typed in the composer to `buf` (several lines allowed). */
  say(buf, text, { action = false, replyTo = null } = {}) {
    if (buf.kind === 'server') { this.info('This is the server buffer: join a room (/join #room) or message someone (/msg nick text).', buf, 'error'); return; }
    if (this.status !== 'online') { this.info('Not connected: the message was not sent.', buf, 'error'); return; }
    const tags = {};
    if (replyTo && this.has('message-tags')) tags['+draft/reply'] = replyTo;
    const lines = text.split('\n');
    while (lines.length && !lines[lines.length - 1].trim()) lines.pop();
    while (lines.length && !lines[0].trim()) lines.shift();
    if (!lines.length) return;
    const wrap = (s) => (action ? `\x01ACTION ${s}\x01` : s);
    const ml = lines.length > 1 && !action ? this.multilineLimits() : null;
    const total = utf8Len(lines.join('\n'));
    if (ml && lines.length <= ml.maxLines && total <= ml.maxBytes) {
      const id = 'm' + Math.random().toString(36).slice(2, 10);
      this.send('BATCH', ['+' + id, 'draft/multiline', buf.name], Object.keys(tags).length ? tags : null);
      for (const l of lines) {
        const parts = splitUtf8(l, 350);
        parts.forEach((part, i) => {
          const t = { batch: id };
          if (i > 0) t['draft/multiline-concat'] = '';
          this.send('PRIVMSG', [buf.name, part], t);
        });
      }
      this.send('BATCH', ['-' + id]);
      if (!this.has('echo-message')) this.localEcho(buf, lines.join('\n'), 'msg', replyTo);
    } else {
      for (const l of lines) {
        if (!l.trim()) continue; // a blank line alone is not a message
        this.send('PRIVMSG', [buf.name, wrap(l)], Object.keys(tags).length ? tags : null);
        if (!this.has('echo-message')) this.localEcho(buf, l, action ? 'action' : 'msg', replyTo);
      }
    }
    this.sendTyping(buf, 'done', true);
  }

  localEcho(buf, text, kind, replyTo) {
    this.addLine(buf, { msgid: null, time: Date.now(), nick: this.nick, kind, text, self: true, replyTo }, true);
  }

  react(buf, line, emoji) {
    if (!line.msgid || !this.has('message-tags')) { this.info('Reactions need message-tags and a message id.', buf, 'error'); return; }
    this.send('TAGMSG', [buf.name], { '+draft/react': emoji, '+draft/reply': line.msgid });
    if (!this.has('echo-message')) this.on_TAGMSG({ nick: this.nick, params: [buf.name], tags: { '+draft/react': emoji, '+draft/reply': line.msgid } }, {});
  }

  /** Typing notices: "active" at most every 3 s, "done" when cleared or sent. */
  sendTyping(buf, state, force) {
    if (!buf || buf.kind === 'server' || !this.has('message-tags') || this.status !== 'online') return;
    const last = this.lastTyping.get(buf.key);
    if (state === 'active') {
      if (last && last.state === 'active' && Date.now() - last.at < TYPING_EVERY) return;
    } else if (!last || last.state === 'done') {
      return; // nothing was announced, or "done" already was
    }
    this.lastTyping.set(buf.key, { state, at: Date.now() });
    this.send('TAGMSG', [buf.name], { '+typing': state });
  }

  search(buf, words) {
    if (buf.kind !== 'channel') { this.info('Search works in a room.', buf, 'error'); return; }
    const s = { buf, words, results: [], done: false };
    this.searches.push(s);
    this.ui.searchChanged(s);
    const p = this.conn?.sendLabeled('SEARCH', [buf.name, words]);
    if (p) p.then(() => { s.done = true; this.ui.searchChanged(s); }, () => {});
  }

  captureSearch(text) {
    const s = this.searches.find((x) => !x.done);
    if (!s) return false;
    if (/^\*\*\* Search for /.test(text)) { s.header = text.replace(/^\*\*\* /, ''); if (/nothing found/.test(text)) s.done = true; }
    else if (/^\*\*\* End of search/.test(text)) s.done = true;
    else s.results.push(stripFormatting(text));
    this.ui.searchChanged(s);
    return true;
  }

  /** One line typed in the composer: a command or text. */
  command(buf, input, replyTo) {
    if (!input.startsWith('/') || input.startsWith('//')) {
      this.say(buf, input.startsWith('//') ? input.slice(1) : input, { replyTo });
      return;
    }
    const sp = input.indexOf(' ');
    const cmd = (sp < 0 ? input.slice(1) : input.slice(1, sp)).toLowerCase();
    const rest = sp < 0 ? '' : input.slice(sp + 1).trim();
    const [a1, ...more] = rest.split(/\s+/);
    const tail = more.join(' ');
    switch (cmd) {
      case 'join': case 'j': if (!a1) return this.usage('/join #room [key]'); return this.join(a1, more[0]);
      case 'part': case 'leave': {
        if (a1 && this.isChannel(a1)) { const b = this.buffers.get(lower(a1)); if (b) this.part(b, tail); else this.send('PART', [a1]); }
        else this.part(buf, rest);
        return;
      }
      case 'close': return this.part(buf, '');
      case 'me': if (!rest) return this.usage('/me action'); return this.say(buf, rest, { action: true });
      case 'nick': if (!a1) return this.usage('/nick newname'); return this.send('NICK', [a1]);
      case 'topic':
        if (buf.kind !== 'channel') return this.usage('/topic works in a room');
        if (!rest) { this.info(buf.topic ? `Topic: ${buf.topic}` : 'No topic is set.', buf); return; }
        return this.send('TOPIC', [buf.name, rest]);
      case 'msg': case 'query': {
        if (!a1) return this.usage('/msg nick text');
        if (this.isChannel(a1)) { const b = this.buffer(a1, 'channel'); if (tail) this.say(b, tail); return; }
        const q = this.openQuery(a1);
        if (tail) this.say(q, tail);
        return;
      }
      case 'away': return this.send('AWAY', rest ? [rest] : []);
      case 'back': return this.send('AWAY', []);
      case 'quit': this.quit(rest); this.ui.loggedOut(); return;
      case 'search': if (!rest) return this.usage('/search words'); return this.search(buf, rest);
      case 'whois': if (!a1) return this.usage('/whois nick'); return this.send('WHOIS', [a1]);
      case 'invite': if (!a1) return this.usage('/invite nick [#room]'); return this.send('INVITE', [a1, more[0] || buf.name]);
      case 'list': return this.send('LIST', []);
      case 'quote': case 'raw': if (!rest) return this.usage('/quote RAW IRC LINE'); return this.conn?.raw(rest);
      case 'help': return this.info(HELP, buf);
      default: this.info(`Unknown command /${cmd}. Type /help for the list.`, buf, 'error');
    }
  }

  usage(text) { this.info('Usage: ' + text, this.active || this.server, 'error'); }
}

/** Does `line` count as unread in `buf`? Others' messages; notices only in private. */
function countable(buf, line) {
  return !line.self && (line.kind === 'msg' || line.kind === 'action' || (line.kind === 'notice' && buf.kind === 'query'));
}

export const HELP = `Commands:
/join #room [key]  join or create a room
/part [#room] [reason]  leave a room (the current one by default)
/msg nick [text]  open a private conversation (and send text)
/me action  say what you are doing
/nick newname  change your nickname
/topic [text]  show or set the room's topic
/away [message]  mark yourself away (/away alone or /back: back)
/search words  search this room's history
/whois nick  about someone
/invite nick [#room]  invite someone
/close  close a private conversation (or leave the room)
/quote LINE  send a raw IRC line
/quit [reason]  disconnect
/help  this list
Start a message with // to send text that begins with /.
Keys:
Enter  send (in the message box)
Shift+Enter  start a new line in the message
Alt+Up / Alt+Down  previous / next room
Ctrl+K  jump to a room (type part of its name, Up/Down, Enter)
Escape  cancel a reply; close the drawer, the search, the jump box or a message's tools
Tab / Shift+Tab  between the room list, the messages, the message box and the members
Up / Down, Home / End  between messages (on a message)
Enter  on a message: Reply, reactions and its links (Left/Right between them)`;

/** Splits a string into pieces of at most `max` UTF-8 bytes, at spaces when it can
 * (the space stays at the end of a piece), never inside a character. */
export function splitUtf8(s, max) {
  if (utf8Len(s) <= max) return [s];
  const out = [];
  let cur = '', curLen = 0;
  for (const ch of s) {
    const n = utf8Len(ch);
    if (curLen + n > max) {
      const sp = cur.lastIndexOf(' ');
      if (sp > 0 && sp < cur.length - 1) { out.push(cur.slice(0, sp + 1)); cur = cur.slice(sp + 1); }
      else { out.push(cur); cur = ''; }
      curLen = utf8Len(cur);
    }
    cur += ch; curLen += n;
  }
  if (cur) out.push(cur);
  return out;
}

export { formatLine };
