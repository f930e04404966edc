// IRC over WebSocket: message syntax and one connection's registration
// (CAP LS 302 and REQ, SASL PLAIN, REGISTER, NICK/USER, PING), batches and
// labels. It knows nothing about rooms or the page: it hands parsed messages
// and completed batches to its owner. It must never touch the DOM (the CAP
// negotiation is also run by node in tests/browser/caps.test.mjs).

const TAG_UNESCAPE = { ':': ';', s: ' ', '\\': '\\', r: '\r', n: '\n' };

function unescapeTag(v) {
  let out = '';
  for (let i = 0; i < v.length; i++) {
    const c = v[i];
    if (c !== '\\') { out += c; continue; }
    i++;
    if (i >= v.length) break; // a trailing backslash is dropped
    const e = v[i];
    out += TAG_UNESCAPE[e] ?? e;
  }
  return out;
}

function escapeTag(v) {
  return String(v).replace(/[\\; \r\n]/g, (c) =>
    ({ '\\': '\\\\', ';': '\\:', ' ': '\\s', '\r': '\\r', '\n': '\\n' })[c]);
}

/** Parses one IRC line (without CR LF). Returns null for an empty line. */
export function parseLine(line) {
  let i = 0;
  const tags = {};
  line = line.replace(/[\r\n]+$/, '');
  if (line.startsWith('@')) {
    const sp = line.indexOf(' ');
    if (sp < 0) return null;
    for (const part of line.slice(1, sp).split(';')) {
      if (!part) continue;
      const eq = part.indexOf('=');
      if (eq < 0) tags[part] = '';
      else tags[part.slice(0, eq)] = unescapeTag(part.slice(eq + 1));
    }
    i = sp + 1;
  }
  while (line[i] === ' ') i++;
  let source = null;
  if (line[i] === ':') {
    const sp = line.indexOf(' ', i);
    if (sp < 0) return null;
    source = line.slice(i + 1, sp);
    i = sp + 1;
  }
  const params = [];
  let command = null;
  while (i < line.length) {
    while (line[i] === ' ') i++;
    if (i >= line.length) break;
    if (command !== null && line[i] === ':') {
      params.push(line.slice(i + 1));
      break;
    }
    let sp = line.indexOf(' ', i);
    if (sp < 0) sp = line.length;
    const word = line.slice(i, sp);
    if (command === null) command = word.toUpperCase();
    else params.push(word);
    i = sp;
  }
  if (!command) return null;
  const bang = source ? source.indexOf('!') : -1;
  const nick = source ? (bang >= 0 ? source.slice(0, bang) : source) : null;
  let user = null, host = null;
  if (bang >= 0) {
    const rest = source.slice(bang + 1);
    const at = rest.indexOf('@');
    user = at >= 0 ? rest.slice(0, at) : rest;
    host = at >= 0 ? rest.slice(at + 1) : null;
  }
  return { tags, source, nick, user, host, command, params, fromServer: !source || bang < 0 };
}

/** Builds one line. The last parameter gets a colon when it needs one. */
export function formatLine(command, params = [], tags = null) {
  let out = '';
  if (tags) {
    const parts = Object.entries(tags).map(([k, v]) =>
      v === '' || v === true || v == null ? k : `${k}=${escapeTag(v)}`);
    if (parts.length) out = '@' + parts.join(';') + ' ';
  }
  out += command;
  params.forEach((p, idx) => {
    p = String(p).replace(/[\r\n\0]/g, ' ');
    const last = idx === params.length - 1;
    if (last && (p === '' || p.includes(' ') || p.startsWith(':'))) out += ' :' + p;
    else out += ' ' + p;
  });
  return out;
}

/** UTF-8 base64 of a string (SASL payloads). */
export function b64(s) {
  const bytes = new TextEncoder().encode(s);
  let bin = '';
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin);
}

export function utf8Len(s) {
  return new TextEncoder().encode(s).length;
}

// Capabilities this client understands; only those the server offers are requested.
export const WANTED_CAPS = [
  'message-tags', 'server-time', 'batch', 'echo-message', 'labeled-response',
  'draft/chathistory', 'away-notify', 'account-notify', 'extended-join',
  'multi-prefix', 'sasl', 'draft/account-registration', 'setname', 'chghost',
  'standard-replies', 'invite-notify', 'draft/multiline', 'draft/read-marker',
  'draft/event-playback', 'cap-notify', 'account-tag', 'userhost-in-names',
];

/**
 * After `CAP NAK :names`: the capabilities to ask for again, one request each.
 * REQ is all or nothing, so a refused request of several names may have
 * failed for one of them only. Each wanted name is retried alone at most once
 * (`triedAlone` remembers), so a server that refuses everything costs one
 * request per capability, not a loop.
 */
export function capRetries(naked, triedAlone, enabled) {
  if (naked.length < 2) return [];
  return naked.filter((c) => WANTED_CAPS.includes(c) && !triedAlone.has(c) && !enabled.has(c));
}

// Alternatives tried when an account's nickname is taken (by the same
// person's other device, usually): nick_, nick__, nick___.
const ALT_NICKS = 3;

/**
 * One WebSocket connection speaking IRC. Emits through `handlers`:
 * open(), registered(nick), message(msg), batch(batch), refused({kind, code, reason}),
 * close({registered, reason}).
 */
export class IrcConnection {
  constructor(url, opts, handlers) {
    this.url = url;
    this.opts = opts; // {nick, password, register, email, realname}
    this.h = handlers;
    this.offered = new Map();
    this.caps = new Set();
    this.isupport = new Map();
    this.nick = opts.nick;
    this.registered = false;
    this.batches = new Map();
    this.labels = new Map();
    this.labelSeq = 0;
    this.lsDone = false;
    this.capEnded = false;
    this.capPending = 0;
    this.capTriedAlone = new Set();
    this.altNick = 0;
    this.closedReason = '';
    this.ws = null;
  }

  connect() {
    let ws;
    try {
      ws = new WebSocket(this.url, ['text.ircv3.net']);
    } catch (e) {
      queueMicrotask(() => this.h.close({ registered: false, reason: String(e.message || e), opened: false }));
      return;
    }
    this.ws = ws;
    let opened = false;
    ws.binaryType = 'arraybuffer';
    ws.onopen = () => {
      opened = true;
      this.h.open?.();
      this.raw('CAP LS 302');
      this.raw(formatLine('NICK', [this.opts.nick]));
      this.raw(formatLine('USER', [this.opts.nick.slice(0, 16) || 'web', '0', '*', this.opts.realname || this.opts.nick]));
    };
    ws.onmessage = (ev) => {
      const text = typeof ev.data === 'string' ? ev.data : new TextDecoder().decode(ev.data);
      for (const l of text.split(/\r?\n/)) {
        if (!l) continue;
        const msg = parseLine(l);
        if (msg) this.receive(msg);
      }
    };
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      this.ws = null;
      for (const [, p] of this.labels) p.reject(new Error('closed'));
      this.labels.clear();
      this.h.close({ registered: this.registered, opened, reason: this.closedReason || ev.reason || '', code: ev.code });
    };
  }

  close(reason) {
    if (!this.ws) return;
    if (reason) this.closedReason = reason;
    try { this.ws.close(1000); } catch { /* already closing */ }
  }

  raw(line) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(line);
  }

  send(command, params, tags) {
    this.raw(formatLine(command, params, tags));
  }

  /** Sends with a label when labeled-response is on; resolves with the reply
   * (a message, or a batch) or null when the server has no labels. */
  sendLabeled(command, params, tags = {}) {
    if (!this.caps.has('labeled-response') || !this.caps.has('batch')) {
      this.send(command, params, Object.keys(tags).length ? tags : null);
      return null;
    }
    const label = 'L' + (++this.labelSeq);
    const p = new Promise((resolve, reject) => this.labels.set(label, { resolve, reject }));
    this.send(command, params, { ...tags, label });
    return p;
  }

  has(cap) { return this.caps.has(cap); }

  finishCaps() {
    if (this.capEnded) return;
    this.capEnded = true;
    this.raw('CAP END');
  }

  startAuth() {
    const o = this.opts;
    if (o.password && !o.register && this.caps.has('sasl')) {
      this.raw('AUTHENTICATE PLAIN');
      return;
    }
    const reg = this.offered.get('draft/account-registration');
    if (o.password && o.register && reg !== undefined && /(^|,)before-connect(,|$)/.test(reg || '')) {
      this.registerSent = true;
      this.send('REGISTER', ['*', o.email || '*', o.password]);
      return;
    }
    this.finishCaps();
  }

  receive(msg) {
    // A line inside an open batch is kept for the batch's end.
    const bref = msg.tags.batch;
    if (bref && this.batches.has(bref) && msg.command !== 'BATCH') {
      this.batches.get(bref).messages.push(msg);
      return;
    }
    switch (msg.command) {
      case 'PING':
        this.send('PONG', msg.params.length ? [msg.params[msg.params.length - 1]] : []);
        return;
      case 'CAP': return this.onCap(msg);
      case 'AUTHENTICATE': {
        if (msg.params[0] === '+') {
          const o = this.opts;
          const account = o.account || o.nick;
          const payload = b64(`${account}\0${account}\0${o.password}`);
          for (let i = 0; i < payload.length; i += 400) this.raw('AUTHENTICATE ' + payload.slice(i, i + 400));
          if (payload.length % 400 === 0) this.raw('AUTHENTICATE +');
        }
        return;
      }
      case '903': this.finishCaps(); break;
      case '902': case '904': case '905': case '906': case '908':
        if (!this.registered && msg.command !== '908') {
          this.h.refused({ kind: 'login', code: msg.command, reason: msg.params[msg.params.length - 1] });
          this.close('login failed');
        }
        break;
      case 'REGISTER':
        if (msg.params[0] === 'SUCCESS' || msg.params[0] === 'VERIFICATION_REQUIRED') {
          // From now on this is an account to log in to (reconnections use SASL).
          this.opts.register = false;
          this.opts.account = msg.params[1] || this.opts.account;
          if (!this.registered) this.finishCaps();
        }
        break;
      case 'FAIL':
        if (msg.params[0] === 'REGISTER' && !this.registered) {
          this.h.refused({ kind: 'register', code: msg.params[1], reason: msg.params[msg.params.length - 1] });
          this.close('registration failed');
          return;
        }
        break;
      case '001':
        this.registered = true;
        this.nick = msg.params[0];
        // A server without before-connect registration takes REGISTER now.
        if (this.opts.register && this.opts.password && !this.registerSent) {
          this.registerSent = true;
          this.send('REGISTER', ['*', this.opts.email || '*', this.opts.password]);
        }
        this.h.registered(this.nick);
        break;
      case '005':
        for (const tok of msg.params.slice(1, -1)) {
          const eq = tok.indexOf('=');
          if (tok.startsWith('-')) this.isupport.delete(tok.slice(1).toUpperCase());
          else if (eq < 0) this.isupport.set(tok.toUpperCase(), '');
          else this.isupport.set(tok.slice(0, eq).toUpperCase(), tok.slice(eq + 1));
        }
        break;
      case '431': case '432': case '433': case '436':
        if (!this.registered && msg.command === '433' && this.opts.password && !this.opts.register && this.altNick < ALT_NICKS) {
          // Logging in to an account whose nickname is in use: most likely our
          // own other device. Take a variant; the account is what counts.
          this.altNick++;
          this.nick = this.opts.nick.slice(0, 30 - this.altNick) + '_'.repeat(this.altNick);
          this.send('NICK', [this.nick]);
          return;
        }
        if (!this.registered) {
          this.h.refused({ kind: 'nick', code: msg.command, nick: msg.params[1], reason: msg.params[msg.params.length - 1] });
          this.close('nickname refused');
          return;
        }
        break;
      case 'NICK':
        if (msg.nick && this.nick && msg.nick.toLowerCase() === this.nick.toLowerCase()) this.nick = msg.params[0];
        break;
      case 'ERROR':
        this.closedReason = msg.params[0] || 'closed by the server';
        break;
      case 'BATCH': return this.onBatch(msg);
    }
    this.deliver(msg);
  }

  deliver(msg) {
    const label = msg.tags.label;
    if (label && this.labels.has(label)) {
      const p = this.labels.get(label);
      this.labels.delete(label);
      this.h.message(msg);
      p.resolve({ type: 'message', message: msg });
      return;
    }
    this.h.message(msg);
  }

  onBatch(msg) {
    const ref = msg.params[0] || '';
    if (ref.startsWith('+')) {
      const b = {
        id: ref.slice(1), type: msg.params[1] || '', params: msg.params.slice(2),
        tags: msg.tags, source: msg, messages: [], parent: msg.tags.batch || null,
      };
      this.batches.set(b.id, b);
      return;
    }
    const id = ref.slice(1);
    const b = this.batches.get(id);
    if (!b) return;
    this.batches.delete(id);
    if (b.parent && this.batches.has(b.parent)) {
      this.batches.get(b.parent).messages.push({ command: ' BATCH', batch: b, tags: {} });
      return;
    }
    this.finishBatch(b);
  }

  finishBatch(b) {
    const label = b.tags.label;
    this.h.batch(b);
    if (label && this.labels.has(label)) {
      const p = this.labels.get(label);
      this.labels.delete(label);
      p.resolve({ type: 'batch', batch: b });
    }
  }

  requestCaps(list) {
    this.capPending++;
    this.send('CAP', ['REQ', list.join(' ')]);
  }

  /** Registration goes on once every REQ has had its ACK or NAK. */
  capsSettled() {
    if (this.capPending === 0 && this.lsDone && !this.registered && !this.capEnded) this.startAuth();
  }

  onCap(msg) {
    const sub = (msg.params[1] || '').toUpperCase();
    const more = msg.params[2] === '*';
    const list = msg.params[msg.params.length - 1] || '';
    const names = list.split(' ').filter(Boolean);
    if (sub === 'LS' || sub === 'NEW') {
      for (const c of names) {
        const eq = c.indexOf('=');
        this.offered.set(eq < 0 ? c : c.slice(0, eq), eq < 0 ? '' : c.slice(eq + 1));
      }
      if (more) return;
      const want = WANTED_CAPS.filter((c) => this.offered.has(c) && !this.caps.has(c));
      if (sub === 'LS') this.lsDone = true;
      if (want.length) this.requestCaps(want);
      else if (sub === 'LS') this.startAuth();
    } else if (sub === 'ACK') {
      this.capPending = Math.max(0, this.capPending - 1);
      for (const c of names) {
        if (c.startsWith('-')) this.caps.delete(c.slice(1));
        else this.caps.add(c);
      }
      this.capsSettled();
    } else if (sub === 'NAK') {
      this.capPending = Math.max(0, this.capPending - 1);
      for (const c of capRetries(names, this.capTriedAlone, this.caps)) {
        this.capTriedAlone.add(c);
        this.requestCaps([c]);
      }
      this.capsSettled();
    } else if (sub === 'DEL') {
      for (const c of names) { this.caps.delete(c); this.offered.delete(c); }
    }
  }
}
