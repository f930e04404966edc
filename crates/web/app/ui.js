// The page: login screen, room list, the message log (a bounded window of
// at most WINDOW lines in the DOM, redrawn once per animation frame, one
// message focusable at a time for the keyboard), members, composer, search
// panel, jump box, notifications and the phone drawer. It reads the Chat's state and calls its methods; it never speaks
// IRC itself, and it builds every piece of untrusted text with text nodes.

import { Chat } from './chat.js';
import { appendRich, cleanNick, nickEl, el, clock, dayKey, dayLabel, stripFormatting } from './text.js';

const WINDOW = 300; // most message elements in the DOM at once
const SHIFT = 100;  // lines added or dropped when the window moves
const MAX_TOOL_LINKS = 3; // links of a message offered in its tools
const $ = (id) => document.getElementById(id);
const store = {
  get(k) { try { return localStorage.getItem('chatroom.' + k); } catch { return null; } },
  set(k, v) { try { if (v == null) localStorage.removeItem('chatroom.' + k); else localStorage.setItem('chatroom.' + k, v); } catch { /* private mode */ } },
};

export class Ui {
  constructor(serverUrl) {
    this.url = serverUrl;
    this.els = new Map();
    this.renderedBuf = null;
    this.frame = 0;
    this.need = new Set();
    this.changedLines = new Set();
    this.replyTo = null;
    this.toolLine = null;
    this.focusId = null;   // the line of the message the keyboard is on
    this.roveEl = null;    // the one message with tabindex 0
    this.log = $('log');
    this.top = el('div', 'edge');
    this.list = el('div', 'lines');
    this.bottom = el('div', 'edge');
    this.log.append(this.top, this.list, this.bottom);
    this.chat = new Chat(this);
    this.bind();
  }

  // ---- called by Chat -------------------------------------------------------

  buffersChanged() { this.mark('sidebar'); }
  changed(buf) { if (!buf || buf === this.chat.active) this.mark('log'); }
  lineChanged(buf, line) { if (buf === this.chat.active && this.els.has(line.id)) { this.changedLines.add(line); this.mark('lines'); } }
  membersChanged(buf) { if (buf === this.chat.active) this.mark('members'); }
  topicChanged(buf) { if (buf === this.chat.active) this.mark('header'); }
  typingChanged(buf) {
    if (buf !== this.chat.active) return;
    this.mark('typing');
    clearTimeout(this.typingTimer);
    const next = Math.min(...[...buf.typing.values()].map((t) => t.until), Infinity);
    if (next !== Infinity) this.typingTimer = setTimeout(() => this.typingChanged(buf), Math.max(200, next - Date.now() + 50));
  }
  statusChanged() { this.mark('status'); }
  nickChanged(nick) { store.set('nick', nick); this.mark('sidebar'); }
  // In front of the reader: the page shown and its window focused.
  visible() { return document.visibilityState === 'visible' && document.hasFocus(); }
  saveRooms(rooms) { store.set('rooms', JSON.stringify(rooms)); }

  registered(first) {
    // An account's own name, not the variant taken when another device has it.
    store.set('nick', this.chat.opts.password ? this.chat.opts.account : this.chat.nick);
    if (!this.chat.opts.password) store.set('auto', '1');
    if (first) {
      $('login').hidden = true;
      $('chat').hidden = false;
      this.select(this.chat.active);
      $('input').focus();
    }
    this.mark('sidebar', 'status', 'log');
  }

  loginFailed(r) {
    $('login').hidden = false;
    $('chat').hidden = true;
    const btn = $('connect');
    btn.disabled = false;
    btn.textContent = 'Connect';
    const msg = {
      nick: () => `${r.code === '433' ? 'That nickname is taken' : r.code === '432' ? 'That nickname is not allowed' : 'Nickname refused'}: ${r.reason} (${r.code}). Pick another.`,
      login: () => `Login failed: ${r.reason} (${r.code}).`,
      register: () => `Could not create the account: ${r.reason} (${r.code}).`,
      unreachable: () => `Server unreachable: could not connect to ${this.url}. Check the address or try again later.`,
      closed: () => `The server closed the connection${r.reason ? ': ' + r.reason : '.'}`,
    }[r.kind] || (() => r.reason);
    $('login-error').textContent = msg();
    const field = r.kind === 'login' || r.kind === 'register' ? $('password') : $('nick');
    if (r.kind === 'login' || r.kind === 'register') $('account').open = true;
    field.focus();
    field.select?.();
  }

  loggedOut() {
    store.set('auto', null);
    location.reload();
  }

  notify(buf, line) {
    if (typeof Notification === 'undefined' || Notification.permission !== 'granted') return;
    if (this.visible() && buf === this.chat.active) return;
    try {
      const n = new Notification(buf.kind === 'query' ? cleanNick(buf.name) : `${cleanNick(line.nick)} in ${buf.name}`, {
        body: stripFormatting(line.text).slice(0, 200),
        tag: 'chatroom-' + buf.key,
      });
      n.onclick = () => { window.focus(); this.select(buf); n.close(); };
    } catch { /* some platforms only allow notifications from a service worker */ }
  }

  searchChanged(s) {
    if (s !== this.chat.searches[this.chat.searches.length - 1]) return;
    $('search-panel').hidden = false;
    $('search-head').textContent = s.header || (s.done ? 'No answer.' : `Searching ${s.buf.name}…`);
    const ul = $('search-results');
    ul.replaceChildren(...s.results.map((r) => { const li = el('li'); appendRich(li, r); return li; }));
  }

  // ---- selection -------------------------------------------------------------

  select(buf) {
    const chat = this.chat;
    if (!buf) return;
    chat.active = buf;
    buf.view.follow = true;
    if (buf.kind === 'channel') store.set('active', buf.name);
    this.focusId = null;
    this.cancelReply();
    this.hideTools();
    this.closeDrawer();
    this.mark('sidebar', 'header', 'members', 'typing', 'log');
    chat.markRead(buf);
  }

  move(delta) {
    const list = this.chat.ordered();
    const i = list.indexOf(this.chat.active);
    const next = list[(i + delta + list.length) % list.length];
    this.select(next);
  }

  // ---- rendering -----------------------------------------------------------

  mark(...what) {
    for (const w of what) this.need.add(w);
    if (!this.frame) this.frame = requestAnimationFrame(() => this.flush());
  }

  flush() {
    this.frame = 0;
    const need = this.need;
    this.need = new Set();
    if (need.has('sidebar')) this.renderSidebar();
    if (need.has('header')) this.renderHeader();
    if (need.has('members')) this.renderMembers();
    if (need.has('typing')) this.renderTyping();
    if (need.has('status')) this.renderStatus();
    if (need.has('log')) this.renderLog();
    if (need.has('lines')) {
      const keep = this.focusedLine();
      for (const line of this.changedLines) {
        const old = this.els.get(line.id);
        if (!old) continue;
        const nu = this.lineEl(this.chat.active, line);
        old.replaceWith(nu);
        this.els.set(line.id, nu);
        if (old === this.roveEl) this.roveEl = null;
        if (this.toolLine === line) this.toolEl = nu;
      }
      this.changedLines.clear();
      this.refocus(keep);
      this.rove();
    }
  }

  renderSidebar() {
    const ul = $('buffers');
    const chat = this.chat;
    let total = 0, totalMentions = 0;
    ul.replaceChildren(...chat.ordered().map((b) => {
      const li = el('li');
      const btn = el('button');
      btn.type = 'button';
      btn.className = (b.unread ? 'unread' : '') + (b.kind === 'channel' && !b.joined ? ' parted' : '');
      if (b === chat.active) btn.setAttribute('aria-current', 'page');
      const name = el('bdi', 'name', b.kind === 'query' ? cleanNick(b.name) : b.kind === 'server' ? 'Server' : cleanNick(b.name));
      btn.append(name);
      let label = b.kind === 'server' ? 'Server messages' : cleanNick(b.name);
      if (b.unread) {
        const badge = el('span', 'badge' + (b.mentions ? ' mention' : ''), String(b.unread > 999 ? '999+' : b.unread));
        btn.append(badge);
        label += `, ${b.unread} unread` + (b.mentions ? `, ${b.mentions} mentioning you` : '');
        total += b.unread; totalMentions += b.mentions;
      }
      btn.setAttribute('aria-label', label);
      btn.addEventListener('click', () => this.select(b));
      li.append(btn);
      return li;
    }));
    $('me').textContent = chat.nick ? `${cleanNick(chat.nick)}${chat.away ? ' (away)' : ''}` : '';
    const badge = $('drawer-badge');
    badge.hidden = !total;
    badge.textContent = String(total);
    badge.className = 'badge' + (totalMentions ? ' mention' : '');
    document.title = (totalMentions ? `(${totalMentions}) ` : '') + (chat.active && chat.active.kind !== 'server' ? cleanNick(chat.active.name) + ' · ' : '') + 'chatroom';
  }

  renderHeader() {
    const b = this.chat.active;
    const title = $('title');
    title.replaceChildren(el('bdi', null, b.kind === 'server' ? 'Server messages' : cleanNick(b.name)));
    const topic = $('topic');
    topic.replaceChildren();
    if (b.topic) appendRich(topic, b.topic);
    else if (b.kind === 'query') topic.textContent = 'Private conversation';
    topic.title = stripFormatting(b.topic || '');
    $('members-btn').hidden = b.kind !== 'channel';
    $('search-btn').hidden = b.kind !== 'channel';
    $('input').placeholder = b.kind === 'server' ? 'Type /join #room or /help' : `Message ${b.kind === 'channel' ? b.name : cleanNick(b.name)}`;
  }

  renderMembers() {
    const b = this.chat.active;
    const ul = $('members');
    const pane = $('members-pane');
    if (b.kind !== 'channel') { ul.replaceChildren(); $('chat').classList.add('no-members'); return; }
    if (!this.membersHidden) $('chat').classList.remove('no-members');
    const rank = (m) => { const p = m.modes[0]; return p ? '~&@%+'.indexOf(p) : 9; };
    const members = [...b.members.values()].sort((x, y) => rank(x) - rank(y) || x.nick.toLowerCase().localeCompare(y.nick.toLowerCase()));
    $('members-title').textContent = `Members (${members.length})`;
    ul.replaceChildren(...members.map((m) => {
      const li = el('li', m.away ? 'away' : '');
      const btn = el('button');
      btn.type = 'button';
      btn.append(el('span', 'prefix', m.modes[0] || ''), nickEl(m.nick));
      if (m.away) btn.append(el('span', 'sr-only', ' (away)'));
      btn.title = `Message ${cleanNick(m.nick)}${m.away ? ' (away)' : ''}`;
      btn.addEventListener('click', () => this.chat.openQuery(m.nick));
      li.append(btn);
      return li;
    }));
    pane.setAttribute('aria-label', `Members of ${cleanNick(b.name)}`);
  }

  renderTyping() {
    const b = this.chat.active;
    const now = Date.now();
    for (const [k, t] of b.typing) if (t.until < now) b.typing.delete(k);
    const active = [...b.typing.values()].filter((t) => t.state === 'active').map((t) => cleanNick(t.nick));
    const box = $('typing');
    box.textContent = !active.length ? '' : active.length === 1 ? `${active[0]} is typing…` : active.length <= 3 ? `${active.join(', ')} are typing…` : 'Several people are typing…';
  }

  renderStatus() {
    const chat = this.chat;
    const box = $('conn');
    clearInterval(this.countdown);
    if (chat.status === 'online' || !chat.everRegistered) {
      box.hidden = true;
      const btn = $('connect');
      if (chat.status === 'connecting' || chat.status === 'registering') { btn.disabled = true; btn.textContent = 'Connecting…'; }
      this.mark('sidebar');
      return;
    }
    box.hidden = false;
    const draw = () => {
      const secs = Math.max(0, Math.ceil((chat.retryAt - Date.now()) / 1000));
      const what = chat.status === 'unreachable' ? 'Server unreachable.' : chat.status === 'disconnected' ? `Disconnected${chat.disconnectReason ? ' (' + chat.disconnectReason + ')' : ''}.` : 'Connecting…';
      const retry = chat.status === 'unreachable' || chat.status === 'disconnected';
      box.replaceChildren(el('span', null, retry ? `${what} Reconnecting in ${secs} s…` : what));
      if (retry) {
        const b = el('button', 'link', 'Retry now');
        b.type = 'button';
        b.addEventListener('click', () => chat.retryNow());
        box.append(b);
      }
    };
    draw();
    if (chat.status !== 'connecting' && chat.status !== 'registering') this.countdown = setInterval(draw, 1000);
  }

  anchor() {
    const top = this.log.scrollTop;
    for (const node of this.list.children) {
      if (node.dataset.id && node.offsetTop + node.offsetHeight > top) return { id: +node.dataset.id, off: node.offsetTop - top };
    }
    return null;
  }

  renderLog() {
    const buf = this.chat.active;
    const v = buf.view;
    const n = buf.lines.length;
    const same = this.renderedBuf === buf;
    if (!same || buf.dirty || (v.follow && buf.appended > SHIFT)) this.renderFull(buf, same && !v.follow ? this.anchor() : null);
    else if (buf.appended && v.follow) this.renderAppend(buf);
    buf.dirty = false;
    buf.appended = 0;
    this.renderEdges(buf);
    if (v.follow) this.scrollToBottom();
    if (v.follow) this.chat.markRead(buf);
    this.rove();
    // Not enough lines to scroll: fetch older ones now, not on a scroll that cannot happen.
    if (n >= 0 && this.log.scrollHeight <= this.log.clientHeight + 40 && buf.olderAvailable && !buf.loadingOlder && buf.kind !== 'server') {
      this.chat.loadOlder(buf);
    }
  }

  renderFull(buf, anchor) {
    const v = buf.view;
    const n = buf.lines.length;
    if (v.follow) { v.end = n; v.start = Math.max(0, n - WINDOW); }
    else {
      v.end = Math.min(Math.max(v.end, 0), n);
      v.start = Math.min(Math.max(v.start, 0), v.end);
      if (v.end - v.start > WINDOW) {
        // Keep the part around what the reader is looking at.
        const ai = anchor ? buf.lines.findIndex((l) => l.id === anchor.id) : -1;
        if (ai < 0) v.start = v.end - WINDOW;
        else if (ai - v.start < WINDOW - SHIFT / 2) v.end = v.start + WINDOW;
        else { v.start = Math.max(0, ai - (WINDOW - SHIFT)); v.end = v.start + WINDOW; }
      }
      if (v.end - v.start < WINDOW && v.end === n) v.start = Math.max(0, n - WINDOW);
    }
    const keep = this.focusedLine();
    if (this.renderedBuf !== buf || !this.patchWindow(buf)) {
      this.els.clear();
      this.roveEl = null;
      const frag = document.createDocumentFragment();
      for (let i = v.start; i < v.end; i++) this.addLineEl(frag, buf, i);
      this.list.replaceChildren(frag);
    }
    this.renderedBuf = buf;
    if (anchor) {
      const a = this.els.get(anchor.id);
      if (a) this.setScroll(a.offsetTop - anchor.off);
    }
    this.refocus(keep);
  }

  /** Moves the drawn window to buf.view's range by adding and removing
   * messages at its ends, keeping those still in range (a scroll moves it by
   * SHIFT lines: redrawing all WINDOW would cost three times the work).
   * False, having changed nothing that a full redraw would not replace, when
   * the lines kept are not one run of the new range (lines were inserted
   * between them): then the caller redraws everything. */
  patchWindow(buf) {
    const v = buf.view;
    const at = new Map();
    for (let i = v.start; i < v.end; i++) at.set(buf.lines[i].id, i);
    const kept = [];
    for (const node of [...this.list.children]) {
      const id = node.dataset.id ? +node.dataset.id : null;
      if (id != null && at.has(id)) { kept.push(id); continue; }
      if (id == null) continue; // a day separator goes with the message under it
      const sep = node.previousElementSibling;
      if (sep && !sep.dataset.id) sep.remove();
      if (node === this.roveEl) this.roveEl = null;
      this.els.delete(id);
      node.remove();
    }
    for (const node of [...this.list.children]) if (!node.dataset.id && !node.nextElementSibling?.dataset.id) node.remove();
    if (!kept.length) return false;
    const first = at.get(kept[0]);
    for (let j = 1; j < kept.length; j++) if (at.get(kept[j]) !== first + j) return false;
    // The first kept message's separator depends on the line before it, which
    // may have arrived since (an older page).
    const head = this.els.get(kept[0]);
    const old = head.previousElementSibling;
    if (old && !old.dataset.id) old.remove();
    const prev = first > 0 ? buf.lines[first - 1] : null;
    if (!prev || dayKey(prev.time) !== dayKey(buf.lines[first].time)) head.before(this.daySep(buf.lines[first]));
    const before = document.createDocumentFragment();
    for (let i = v.start; i < first; i++) this.addLineEl(before, buf, i);
    this.list.prepend(before);
    const after = document.createDocumentFragment();
    for (let i = first + kept.length; i < v.end; i++) this.addLineEl(after, buf, i);
    this.list.append(after);
    return true;
  }

  renderAppend(buf) {
    const v = buf.view;
    const n = buf.lines.length;
    const from = Math.max(v.end, n - buf.appended);
    const frag = document.createDocumentFragment();
    for (let i = from; i < n; i++) this.addLineEl(frag, buf, i);
    this.list.append(frag);
    v.end = n;
    // Drop lines from the top beyond the window (with their day separators).
    let extra = (v.end - v.start) - WINDOW;
    while (extra > 0 && this.list.firstChild) {
      const node = this.list.firstChild;
      if (node.dataset.id) { this.els.delete(+node.dataset.id); extra--; v.start++; }
      if (node === this.roveEl) this.roveEl = null;
      node.remove();
    }
    const first = this.list.firstChild;
    if (first && first.classList.contains('day') && first.nextSibling == null) first.remove();
  }

  /** Appends line i, with a day separator above it when its day differs
   * from the line before it. */
  addLineEl(parent, buf, i) {
    const line = buf.lines[i];
    const prev = i > 0 ? buf.lines[i - 1] : null;
    if (!prev || dayKey(prev.time) !== dayKey(line.time)) parent.append(this.daySep(line));
    const node = this.lineEl(buf, line);
    this.els.set(line.id, node);
    parent.append(node);
  }

  daySep(line) {
    const d = el('div', 'day');
    d.setAttribute('role', 'separator');
    d.append(el('span', null, dayLabel(line.time)));
    return d;
  }

  // One block per message: [time] [nick text] on one row, with the quote
  // of the message it answers above that row and reactions below, in the
  // same element (a grid: the time in the first column, the rest in the
  // second). A quote is a short plain-text excerpt, so a reply costs a
  // handful of nodes whatever its parent holds.
  lineEl(buf, line) {
    const d = el('div', `msg ${line.kind}${line.history ? ' history' : ''}${line.mention ? ' mention' : ''}${line.self ? ' self' : ''}${line.replyTo ? ' reply' : ''}`);
    d.dataset.id = String(line.id);
    d.tabIndex = -1;
    if (line.replyTo) {
      const q = el('span', 'quote');
      const parent = buf.byMsgid.get(line.replyTo);
      q.append(el('span', 'sr-only', 'In reply to '), '↪ ');
      if (parent) q.append(nickEl(parent.nick), ' ', el('bdi', null, stripFormatting(parent.text).slice(0, 140)));
      else q.append('an earlier message');
      d.append(q);
    }
    const t = el('time', 'time', clock(line.time));
    t.dateTime = new Date(line.time).toISOString();
    t.title = new Date(line.time).toLocaleString();
    const body = el('div', 'body');
    const text = el('bdi', 'text');
    switch (line.kind) {
      case 'msg': body.append(nickEl(line.nick), ' '); appendRich(text, line.text); break;
      case 'action': body.append('* ', nickEl(line.nick), ' '); appendRich(text, line.text); break;
      case 'notice': body.append('-', nickEl(line.nick), '- '); appendRich(text, line.text); break;
      default: appendRich(text, cleanNick(line.text));
    }
    body.append(text);
    d.append(t, body);
    if (line.reactions?.size || line.replies) {
      const under = el('div', 'under');
      if (line.reactions) {
        for (const [emoji, who] of line.reactions) {
          const chip = el('button', 'chip' + ([...who].some((w) => this.chat.isMe(w)) ? ' mine' : ''), `${emoji} ${who.size}`);
          chip.type = 'button';
          // Not a tab stop of its own: reactions are in the message's tools.
          chip.tabIndex = -1;
          chip.dataset.emoji = emoji;
          chip.title = [...who].map(cleanNick).join(', ');
          // The visible text first (a spoken label must contain it), then who.
          chip.setAttribute('aria-label', `${emoji} ${who.size}, from ${[...who].map(cleanNick).join(', ')}`);
          under.append(chip);
        }
      }
      if (line.replies) under.append(el('span', 'chip', line.replies === 1 ? '1 reply' : `${line.replies} replies`));
      d.append(under);
    }
    return d;
  }

  // ---- keyboard in the log: one message focusable at a time ---------------------

  /** The line whose message (or something in it) has the focus, if any. */
  focusedLine() {
    const a = document.activeElement;
    const m = a && this.list.contains(a) ? a.closest('.msg') : null;
    return m ? +m.dataset.id : null;
  }

  /** After a redraw replaced the focused message: focus its new element. */
  refocus(id) {
    if (id == null) return;
    const n = this.els.get(id);
    if (n) { this.setRove(n); n.focus({ preventScroll: true }); }
  }

  /** Keeps exactly one message in the tab order: the one the keyboard was
   * last on while it is drawn, else the newest. */
  rove() {
    let target = this.focusId != null ? this.els.get(this.focusId) : null;
    if (!target) {
      target = this.list.lastElementChild;
      while (target && !target.classList.contains('msg')) target = target.previousElementSibling;
    }
    if (target !== this.roveEl) this.setRove(target);
  }

  setRove(node) {
    if (this.roveEl && this.roveEl !== node) { this.roveEl.tabIndex = -1; this.roveEl.removeAttribute('aria-describedby'); }
    this.roveEl = node || null;
    if (node) { node.tabIndex = 0; node.setAttribute('aria-describedby', 'log-help'); }
  }

  onLogKey(e) {
    const m = e.target;
    if (!m.classList?.contains('msg') || e.altKey || e.ctrlKey || e.metaKey) return;
    const step = (n, dir) => { do n = n && (dir < 0 ? n.previousElementSibling : n.nextElementSibling); while (n && !n.classList.contains('msg')); return n; };
    let to = null;
    if (e.key === 'ArrowUp') to = step(m, -1);
    else if (e.key === 'ArrowDown') to = step(m, 1);
    else if (e.key === 'Home') to = this.list.querySelector('.msg');
    else if (e.key === 'End') { to = this.list.lastElementChild; if (to && !to.classList.contains('msg')) to = step(to, -1); }
    else if (e.key === 'Enter' || e.key === ' ') {
      e.preventDefault();
      this.showTools(this.lineFromNode(m), true);
      return;
    } else return;
    e.preventDefault();
    if (to) { to.focus(); return; }
    // At the edge of what is drawn: scroll, which draws (or fetches) more;
    // the focus stays on this message through the redraw.
    if (e.key === 'ArrowUp' || e.key === 'Home') this.setScroll(0);
    else this.scrollToBottom();
  }

  /** The tools are a toolbar: one button in the tab order, arrows between them,
   * so Tab leaves them. */
  onToolsKey(e) {
    const buttons = this.toolItems();
    const i = buttons.indexOf(document.activeElement);
    const go = (j) => { e.preventDefault(); this.toolFocus(buttons[(j + buttons.length) % buttons.length]); };
    if (e.key === 'Escape') { e.preventDefault(); e.stopPropagation(); this.hideTools(true); }
    else if (e.key === 'ArrowRight' || e.key === 'ArrowDown') go(i + 1);
    else if (e.key === 'ArrowLeft' || e.key === 'ArrowUp') go(i - 1);
    else if (e.key === 'Home') go(0);
    else if (e.key === 'End') go(buttons.length - 1);
  }

  toolFocus(btn, focus = true) {
    for (const b of this.toolItems()) b.tabIndex = b === btn ? 0 : -1;
    if (focus) btn?.focus();
  }

  renderEdges(buf) {
    const v = buf.view;
    let top = '';
    if (buf.kind !== 'server' && v.start === 0) {
      if (buf.loadingOlder) top = 'Loading older messages…';
      else if (!buf.olderAvailable) top = buf.lines.length ? 'Beginning of history' : 'No messages yet';
    }
    this.top.textContent = top;
    this.top.hidden = !top;
    const bottom = buf.newerMissing && v.end >= buf.lines.length ? (buf.loadingNewer ? 'Loading newer messages…' : 'Scroll down for newer messages') : '';
    this.bottom.textContent = bottom;
    this.bottom.hidden = !bottom;
  }

  setScroll(y) {
    this.log.scrollTop = y;
  }

  scrollToBottom() { this.setScroll(this.log.scrollHeight); }

  onScroll() {
    const buf = this.chat.active;
    const v = buf.view;
    const log = this.log;
    const n = buf.lines.length;
    const atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
    if (atBottom) {
      if (v.end < n) { v.follow = false; v.end = Math.min(n, v.end + SHIFT); v.start = Math.max(0, v.end - WINDOW); buf.dirty = true; this.mark('log'); }
      else if (buf.newerMissing) { this.chat.loadNewer(buf); this.mark('log'); }
      else if (!v.follow) { v.follow = true; this.chat.markRead(buf); this.mark('log'); }
    } else if (v.follow) {
      v.follow = false;
    }
    if (log.scrollTop < 400) {
      if (v.start > 0) {
        v.follow = false;
        v.start = Math.max(0, v.start - SHIFT);
        if (v.end - v.start > WINDOW) v.end = v.start + WINDOW;
        buf.dirty = true;
        this.mark('log');
      } else if (buf.olderAvailable && !buf.loadingOlder) {
        this.chat.loadOlder(buf);
        this.mark('log');
      }
    }
  }

  // ---- message tools: reply, react --------------------------------------------

  lineFromNode(node) {
    const m = node?.closest?.('.msg');
    if (!m) return null;
    const buf = this.chat.active;
    const id = +m.dataset.id;
    return { el: m, line: buf.lines.find((l) => l.id === id) };
  }

  /** Shows Reply and the reactions for a message (on hover, click, or Enter
   * with `focus`: then the first button gets the focus). */
  showTools(hit, focus = false) {
    const tools = $('msg-tools');
    const acts = !!hit?.line?.msgid && ['msg', 'action', 'notice'].includes(hit.line.kind) && this.chat.has('message-tags');
    // The message's links (out of the tab order in the log), a few at most.
    const links = hit?.el ? [...hit.el.querySelectorAll('.text a[href]')].slice(0, MAX_TOOL_LINKS) : [];
    if (!acts && !links.length) {
      if (!tools.contains(document.activeElement)) this.hideTools();
      return;
    }
    if (!focus && tools.contains(document.activeElement) && hit.line !== this.toolLine) return;
    if (hit.el !== this.toolEl) {
      for (const b of tools.querySelectorAll('button')) b.hidden = !acts;
      for (const old of tools.querySelectorAll('a.tool-link')) old.remove();
      for (const l of links) {
        const a = document.createElement('a');
        a.className = 'tool-link';
        a.href = l.href;
        a.target = '_blank';
        a.rel = 'noopener noreferrer';
        a.tabIndex = -1;
        let host = 'link';
        try { host = new URL(l.href).host || host; } catch { /* shown as "link" */ }
        a.textContent = '↗ ' + host;
        a.setAttribute('aria-label', `↗ ${host}, open link ${l.textContent}`);
        tools.append(a);
      }
    }
    if (this.toolEl !== hit.el) this.toolEl?.classList.remove('selected');
    this.toolLine = hit.line;
    this.toolEl = hit.el;
    const main = this.log.parentElement.getBoundingClientRect();
    const r = hit.el.getBoundingClientRect();
    tools.hidden = false;
    tools.style.top = Math.max(0, r.top - main.top - tools.offsetHeight + 6) + 'px';
    hit.el.classList.add('selected');
    if (focus) this.toolFocus(this.toolItems()[0]);
  }

  /** What the tools offer now: Reply and reactions (when the message can
   * have them) and its links. */
  toolItems() {
    return [...$('msg-tools').querySelectorAll('button:not([hidden]), a.tool-link')];
  }

  /** Hides the tools; `back` puts the focus on the message they were for. */
  hideTools(back = false) {
    const tools = $('msg-tools');
    const line = this.toolLine;
    tools.hidden = true;
    this.toolLine = null;
    this.toolEl?.classList.remove('selected');
    this.toolEl = null;
    if (back && line) this.refocus(line.id);
  }

  startReply(line) {
    this.replyTo = line;
    $('reply-bar').hidden = false;
    const t = $('reply-text');
    t.replaceChildren('Replying to ', nickEl(line.nick), ': ', el('bdi', null, stripFormatting(line.text).slice(0, 80)));
    $('input').focus();
  }

  cancelReply() { this.replyTo = null; $('reply-bar').hidden = true; }

  // ---- drawer, dialogs -----------------------------------------------------------

  openDrawer() {
    $('chat').classList.add('drawer-open');
    $('drawer-btn').setAttribute('aria-expanded', 'true');
    $('scrim').hidden = false;
    ($('buffers').querySelector('[aria-current]') || $('buffers').querySelector('button'))?.focus();
  }

  closeDrawer() {
    if (!$('chat').classList.contains('drawer-open')) return;
    $('chat').classList.remove('drawer-open');
    $('drawer-btn').setAttribute('aria-expanded', 'false');
    $('scrim').hidden = true;
  }

  openJump() {
    const dlg = $('jump');
    if (dlg.open) return;
    $('jump-input').value = '';
    this.jumpSel = 0;
    this.renderJump();
    dlg.showModal();
    $('jump-input').focus();
  }

  jumpMatches() {
    const q = $('jump-input').value.trim().toLowerCase().replace(/^#/, '');
    return this.chat.ordered().filter((b) => !q || b.key.replace(/^#/, '').includes(q) || (b.kind === 'server' && 'server'.includes(q)));
  }

  renderJump() {
    const list = this.jumpMatches();
    this.jumpSel = Math.min(this.jumpSel, Math.max(0, list.length - 1));
    $('jump-list').replaceChildren(...list.map((b, i) => {
      const li = el('li');
      li.setAttribute('role', 'option');
      li.id = 'jump-' + i;
      li.setAttribute('aria-selected', String(i === this.jumpSel));
      li.append(el('bdi', null, b.kind === 'server' ? 'Server messages' : cleanNick(b.name)));
      if (b.unread) li.append(' ', el('span', 'badge' + (b.mentions ? ' mention' : ''), String(b.unread)));
      li.addEventListener('click', () => { $('jump').close(); this.select(b); $('input').focus(); });
      return li;
    }));
    $('jump-input').setAttribute('aria-activedescendant', list.length ? 'jump-' + this.jumpSel : '');
  }

  // ---- events -------------------------------------------------------------------------

  bind() {
    const chat = this.chat;
    $('server-line').textContent = `Server: ${this.url}`;
    $('nick').value = store.get('nick') || '';
    $('register').addEventListener('change', () => { $('email-row').hidden = !$('register').checked; });
    $('login-form').addEventListener('submit', (e) => {
      e.preventDefault();
      const nick = $('nick').value.trim();
      if (!nick) { $('login-error').textContent = 'Type a nickname first.'; $('nick').focus(); return; }
      if (/[\s,:!@*?]/.test(nick) || nick.startsWith('#')) { $('login-error').textContent = 'A nickname cannot contain spaces or , : ! @ * ? nor start with #. Pick another.'; $('nick').focus(); return; }
      $('login-error').textContent = '';
      this.connectAs({ nick, password: $('password').value, register: $('register').checked, email: $('email').value.trim() });
    });
    $('drawer-btn').addEventListener('click', () => ($('chat').classList.contains('drawer-open') ? this.closeDrawer() : this.openDrawer()));
    $('scrim').addEventListener('click', () => this.closeDrawer());
    $('members-btn').addEventListener('click', () => {
      this.membersHidden = !$('chat').classList.contains('no-members') ? true : false;
      $('chat').classList.toggle('no-members', this.membersHidden);
      $('members-btn').setAttribute('aria-expanded', String(!this.membersHidden));
    });
    if (window.matchMedia('(max-width: 900px)').matches) {
      this.membersHidden = true;
      $('chat').classList.add('no-members');
      $('members-btn').setAttribute('aria-expanded', 'false');
    }
    $('join-form').addEventListener('submit', (e) => {
      e.preventDefault();
      const name = $('join-input').value.trim();
      if (!name) return;
      chat.join(name);
      $('join-input').value = '';
    });
    $('notify-btn').addEventListener('click', async () => {
      if (typeof Notification === 'undefined') { $('notify-btn').textContent = 'Notifications unavailable'; return; }
      const p = await Notification.requestPermission();
      $('notify-btn').textContent = p === 'granted' ? 'Notifications on' : 'Notifications blocked';
    });
    if (typeof Notification !== 'undefined' && Notification.permission === 'granted') $('notify-btn').textContent = 'Notifications on';
    $('logout-btn').addEventListener('click', () => { chat.quit('Leaving'); this.loggedOut(); });

    const input = $('input');
    const grow = () => { input.style.height = 'auto'; input.style.height = Math.min(input.scrollHeight + 2, 160) + 'px'; };
    input.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) { e.preventDefault(); $('composer').requestSubmit(); }
      else if (e.key === 'Escape' && this.replyTo) { e.preventDefault(); this.cancelReply(); }
    });
    input.addEventListener('input', () => {
      grow();
      const v = input.value;
      if (v && !v.startsWith('/')) chat.sendTyping(chat.active, 'active');
      else if (!v) chat.sendTyping(chat.active, 'done', true);
    });
    $('composer').addEventListener('submit', (e) => {
      e.preventDefault();
      const text = input.value;
      if (!text.trim()) return;
      input.value = '';
      grow();
      const reply = this.replyTo?.msgid || null;
      this.cancelReply();
      chat.active.view.follow = true;
      if (text.includes('\n') && !text.startsWith('/')) chat.say(chat.active, text, { replyTo: reply });
      else chat.command(chat.active, text.trim(), reply);
      this.mark('log');
    });
    $('reply-cancel').addEventListener('click', () => { this.cancelReply(); input.focus(); });

    let scrollQueued = false;
    this.log.addEventListener('scroll', () => {
      if (scrollQueued) return;
      scrollQueued = true;
      requestAnimationFrame(() => { scrollQueued = false; this.onScroll(); });
    }, { passive: true });
    this.log.addEventListener('mouseover', (e) => { if (!e.target.closest('.msg-tools')) this.showTools(this.lineFromNode(e.target)); });
    this.log.addEventListener('click', (e) => {
      const chip = e.target.closest('button.chip');
      const hit = this.lineFromNode(e.target);
      if (chip && hit?.line) { chat.react(chat.active, hit.line, chip.dataset.emoji); return; }
      if (hit && !e.target.closest('a')) this.showTools(hit);
    });
    $('msg-tools').addEventListener('click', (e) => {
      const b = e.target.closest('button');
      const line = this.toolLine;
      if (!b || !line) return;
      const fromKeys = $('msg-tools').contains(document.activeElement) && e.detail === 0;
      if (b.dataset.act === 'reply') { this.hideTools(); this.startReply(line); return; }
      chat.react(chat.active, line, b.dataset.emoji);
      this.hideTools(fromKeys);
    });
    $('msg-tools').addEventListener('keydown', (e) => this.onToolsKey(e));
    // Focus leaving the log and its tools: the newest message takes the tab stop again.
    const leaving = (to) => {
      if (this.list.contains(to) || $('msg-tools').contains(to)) return;
      this.focusId = null;
      this.mark('log');
    };
    $('msg-tools').addEventListener('focusout', (e) => {
      if (!$('msg-tools').contains(e.relatedTarget) && e.relatedTarget?.closest?.('.msg') !== this.toolEl) this.hideTools();
      leaving(e.relatedTarget);
    });
    this.log.addEventListener('mouseleave', (e) => {
      if (!e.relatedTarget?.closest?.('.msg-tools') && !$('msg-tools').contains(document.activeElement)) this.hideTools();
    });
    this.list.addEventListener('keydown', (e) => this.onLogKey(e));
    this.list.addEventListener('focusin', (e) => {
      const m = e.target.closest('.msg');
      if (!m) return;
      this.focusId = +m.dataset.id;
      this.setRove(m);
    });
    this.list.addEventListener('focusout', (e) => leaving(e.relatedTarget));

    $('search-btn').addEventListener('click', () => { $('search-panel').hidden = false; $('search-input').focus(); });
    $('search-close').addEventListener('click', () => { $('search-panel').hidden = true; $('search-btn').focus(); });
    $('search-form').addEventListener('submit', (e) => {
      e.preventDefault();
      const words = $('search-input').value.trim();
      if (words) chat.search(chat.active, words);
    });

    $('jump-input').addEventListener('input', () => { this.jumpSel = 0; this.renderJump(); });
    $('jump-input').addEventListener('keydown', (e) => {
      const list = this.jumpMatches();
      if (e.key === 'ArrowDown') { e.preventDefault(); this.jumpSel = Math.min(list.length - 1, this.jumpSel + 1); this.renderJump(); }
      else if (e.key === 'ArrowUp') { e.preventDefault(); this.jumpSel = Math.max(0, this.jumpSel - 1); this.renderJump(); }
      else if (e.key === 'Enter') {
        e.preventDefault();
        const b = list[this.jumpSel];
        const q = $('jump-input').value.trim();
        $('jump').close();
        if (b) this.select(b);
        else if (q) chat.join(q);
        input.focus();
      }
    });

    document.addEventListener('keydown', (e) => {
      if ($('chat').hidden) return;
      if (e.altKey && (e.key === 'ArrowUp' || e.key === 'ArrowDown')) { e.preventDefault(); this.move(e.key === 'ArrowUp' ? -1 : 1); }
      else if ((e.ctrlKey || e.metaKey) && (e.key === 'k' || e.key === 'K')) { e.preventDefault(); this.openJump(); }
      else if (e.key === 'Escape') {
        if ($('chat').classList.contains('drawer-open')) { this.closeDrawer(); $('drawer-btn').focus(); }
        else if (!$('search-panel').hidden) $('search-panel').hidden = true;
      }
    });
    // Back in front of the reader: what is on screen now counts as read.
    const back = () => { if (this.visible() && !$('chat').hidden) { this.chat.markRead(this.chat.active); this.mark('log', 'sidebar'); } };
    document.addEventListener('visibilitychange', back);
    window.addEventListener('focus', back);
    window.addEventListener('online', () => chat.retryNow());
    const offline = () => { $('offline').hidden = navigator.onLine; $('offline').textContent = 'You are offline: messages will come in when the network is back.'; };
    window.addEventListener('offline', offline);
    window.addEventListener('online', offline);
  }

  connectAs(o) {
    let rooms = [];
    try { rooms = JSON.parse(store.get('rooms') || '[]').filter((r) => typeof r === 'string'); } catch { rooms = []; }
    this.chat.start({ url: this.url, nick: o.nick, password: o.password || '', register: !!o.register, email: o.email || '', rooms, lastRoom: store.get('active') });
  }

  autoConnect() {
    const nick = store.get('nick');
    if (nick && store.get('auto') === '1') this.connectAs({ nick });
  }
}
