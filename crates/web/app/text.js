// Turning untrusted text into DOM: message bodies become text nodes and
// <a> elements whose href was checked to be http(s); nicknames lose the
// invisible and direction-changing characters that could disguise them.
// Nothing here may ever parse markup (no innerHTML, no insertAdjacentHTML).

// Bidi embeddings/overrides/isolates, zero-width and direction marks, BOM.
const HIDDEN_IN_NICKS = /[\u202A-\u202E\u2066-\u2069\u200B-\u200F\uFEFF]/g;
// IRC formatting: bold, colour (with its digits), hex colour, reset, monospace,
// reverse, italic, strikethrough, underline.
const FORMATTING = /\x03(\d{1,2}(,\d{1,2})?)?|\x04([0-9a-fA-F]{6}(,[0-9a-fA-F]{6})?)?|[\x02\x0F\x11\x16\x1D\x1E\x1F]/g;
// Other control characters show as nothing useful; tabs become spaces.
const CONTROLS = /[\x00-\x08\x0B\x0C\x0E-\x1F\x7F]/g;

export function cleanNick(nick) {
  const s = String(nick ?? '').replace(HIDDEN_IN_NICKS, '');
  return s || '?';
}

export function stripFormatting(text) {
  return String(text ?? '').replace(FORMATTING, '').replace(/\t/g, ' ').replace(CONTROLS, '');
}

const URL_RE = /\bhttps?:\/\/[^\s<>"'`]+/gi;

/** A safe http(s) URL string, or null. */
export function safeHref(candidate) {
  try {
    const u = new URL(candidate);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') return null;
    return u.href;
  } catch {
    return null;
  }
}

/** Appends `text` to `parent` as text nodes, with http(s) links as <a>. */
export function appendRich(parent, text) {
  text = stripFormatting(text);
  let last = 0;
  URL_RE.lastIndex = 0;
  let m;
  while ((m = URL_RE.exec(text))) {
    let url = m[0];
    // Trailing punctuation is usually the sentence's, not the URL's.
    const trail = /[.,;:!?)\]}'"]+$/.exec(url);
    if (trail && !(trail[0].startsWith(')') && url.includes('('))) url = url.slice(0, -trail[0].length);
    const href = safeHref(url);
    if (!href) continue;
    if (m.index > last) parent.appendChild(document.createTextNode(text.slice(last, m.index)));
    const a = document.createElement('a');
    a.href = href;
    a.target = '_blank';
    a.rel = 'noopener noreferrer';
    // Out of the tab order: keyboard users move by message, and reach a
    // message's links in its tools (Enter on the message).
    a.tabIndex = -1;
    a.textContent = url;
    parent.appendChild(a);
    last = m.index + url.length;
    URL_RE.lastIndex = last;
  }
  if (last < text.length) parent.appendChild(document.createTextNode(text.slice(last)));
}

/** A nickname as an isolated, cleaned <bdi>. */
export function nickEl(nick, extraClass) {
  const el = document.createElement('bdi');
  el.className = 'nick c' + colorIndex(nick) + (extraClass ? ' ' + extraClass : '');
  el.textContent = cleanNick(nick);
  return el;
}

export function colorIndex(nick) {
  let h = 0;
  const s = String(nick).toLowerCase();
  for (let i = 0; i < s.length; i++) h = (h * 31 + s.charCodeAt(i)) >>> 0;
  return h % 12;
}

export function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text != null) e.textContent = text;
  return e;
}

const pad = (n) => String(n).padStart(2, '0');
export const clock = (t) => { const d = new Date(t); return `${pad(d.getHours())}:${pad(d.getMinutes())}`; };
export const dayKey = (t) => { const d = new Date(t); return d.getFullYear() * 10000 + d.getMonth() * 100 + d.getDate(); };
export function dayLabel(t) {
  const d = new Date(t);
  const today = new Date();
  const y = new Date(); y.setDate(y.getDate() - 1);
  if (dayKey(d) === dayKey(today)) return 'Today';
  if (dayKey(d) === dayKey(y)) return 'Yesterday';
  return d.toLocaleDateString(undefined, { weekday: 'long', year: 'numeric', month: 'long', day: 'numeric' });
}

export function isoTime(t) { return new Date(t).toISOString(); }

/** Does `text` mention `nick` as a word? */
export function mentions(text, nick) {
  if (!nick) return false;
  const n = nick.toLowerCase();
  const t = stripFormatting(text).toLowerCase();
  let i = t.indexOf(n);
  while (i >= 0) {
    const before = i === 0 ? ' ' : t[i - 1];
    const after = t[i + n.length] ?? ' ';
    const word = /[\p{L}\p{N}_\-\[\]\\`^{}|]/u;
    if (!word.test(before) && !word.test(after)) return true;
    i = t.indexOf(n, i + 1);
  }
  return false;
}
