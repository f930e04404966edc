// A reply is one message block: time, nick and text on one row, the quote of
// the message it answers above that row, inside the same element; the quote
// is a short excerpt, so a room full of replies keeps a bounded DOM.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setup, openBrowser, login, IrcClient, logTexts, until } from './lib.mjs';

const titleIs = (page, s) => until(() => page.$eval('#title', (e, want) => e.textContent === want, s), `title ${s}`);
const LONG = 'the parent message, long enough to wrap: ' + 'lorem ipsum dolor sit amet '.repeat(14);

/** Geometry of the message whose text is `text`: one element, its parts' boxes. */
function shape(page, text) {
  return page.$$eval('#log .msg', (msgs, want) => {
    const hits = msgs.filter((m) => m.querySelector('.text')?.textContent === want);
    const box = (e) => { if (!e) return null; const r = e.getBoundingClientRect(); return { top: r.top, bottom: r.bottom, left: r.left, right: r.right }; };
    // The first line of the text: the box of its first character.
    const firstLine = (e) => { const range = document.createRange(); range.setStart(e.firstChild, 0); range.setEnd(e.firstChild, 1); return box(range); };
    const m = hits[0];
    let nodes = 0;
    if (m) { const w = document.createTreeWalker(m); while (w.nextNode()) nodes++; }
    return {
      count: hits.length,
      msg: box(m), time: box(m?.querySelector('.time')), nick: box(m?.querySelector(':scope > .nick, :scope > .body > .nick')),
      text: m ? firstLine(m.querySelector('.text')) : null, quote: box(m?.querySelector('.quote')),
      quoteText: m?.querySelector('.quote')?.textContent ?? null, nodes,
    };
  }, text);
}

const mid = (b) => (b.top + b.bottom) / 2;
const within = (y, b) => y >= b.top && y <= b.bottom;

function assertOneRow(s, what) {
  assert.equal(s.count, 1, `${what}: one element`);
  assert.ok(within(mid(s.time), s.nick) && within(mid(s.text), s.nick), `${what}: time, nick and text on one row (${JSON.stringify(s)})`);
  assert.ok(s.time.right <= s.nick.left, `${what}: the time left of the nick`);
}

function assertReply(s, what) {
  assertOneRow(s, what);
  assert.ok(s.quote, `${what}: has its quote`);
  assert.ok(s.quote.top >= s.msg.top && s.quote.bottom <= s.msg.bottom, `${what}: the quote inside the message's block`);
  assert.ok(s.quote.bottom <= s.nick.top + 1, `${what}: the quote above the row of the text`);
  assert.ok(s.time.top >= s.quote.bottom - 1, `${what}: no row with only the time above the quote`);
  assert.ok(Math.abs(s.quote.left - s.nick.left) < 2, `${what}: the quote in the text's column`);
}

test('a reply is one block: quote above, time + nick + text on one row; the DOM stays bounded', async () => {
  const env = await setup();
  try {
    const a = env.track(await openBrowser());
    await login(a.page, env.url, 'reader');
    await titleIs(a.page, '#lobby');
    const p = env.track(await new IrcClient(env.srv.ports.irc, 'poster').connect());
    const r = env.track(await new IrcClient(env.srv.ports.irc, 'replier').connect());
    await p.join('#lobby');
    await r.join('#lobby');
    await p.say('#lobby', LONG);
    const msgid = /msgid=([^;\s]+)/.exec(p.lines.find((l) => l.endsWith(`PRIVMSG #lobby :${LONG}`)))[1];
    r.send(`@+draft/reply=${msgid} PRIVMSG #lobby :a short answer`);
    await until(async () => (await logTexts(a.page)).includes('a short answer'), 'the reply');

    for (const viewport of [{ width: 1280, height: 800 }, { width: 390, height: 844 }]) {
      await a.page.setViewportSize(viewport);
      const what = `${viewport.width} px`;
      assertOneRow(await shape(a.page, LONG), `${what}, plain message`);
      const s = await shape(a.page, 'a short answer');
      assertReply(s, `${what}, reply`);
      assert.match(s.quoteText, /poster/);
      assert.match(s.quoteText, /the parent message/);
    }
    // Every message element carries text: none is a lone time.
    const empty = await a.page.$$eval('#log .msg', (ms) => ms.filter((m) => !m.querySelector('.text')?.textContent).length);
    assert.equal(empty, 0);

    // 350 replies to the long message: at most the window of message
    // elements, each reply a bounded number of nodes (the quote is an
    // excerpt, not the parent's whole text).
    for (let i = 1; i <= 350; i++) r.send(`@+draft/reply=${msgid} PRIVMSG #lobby :answer ${i}`);
    await until(async () => (await logTexts(a.page)).includes('answer 350'), 'the last reply', 60000);
    const s = await shape(a.page, 'answer 350');
    assertReply(s, 'reply 350');
    assert.ok(s.quoteText.length <= 180, `quote of ${s.quoteText.length} characters`);
    assert.ok(s.nodes <= 20, `a reply is ${s.nodes} nodes`);
    const msgs = await a.page.locator('#log .msg').count();
    assert.ok(msgs <= 300, `${msgs} message elements`);
    const total = await a.page.$eval('#log', (log) => { let n = 0; const w = document.createTreeWalker(log); while (w.nextNode()) n++; return n; });
    assert.ok(total <= 300 * 20, `${total} nodes in the log`);
    assert.deepEqual(a.problems.errors, []);
  } finally {
    await env.teardown();
  }
});
