// CAP negotiation when a request is refused as a whole (CAP REQ is all or
// nothing): the app asks again for each capability alone, once, and goes on
// with those acknowledged. Against the real server (one capability it does
// not know is added to its CAP LS on the way to the page, so it refuses the
// app's request), and in node alone on IrcConnection (no socket, no browser).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setup, openBrowser, login, IrcClient, logTexts, until, appDir } from './lib.mjs';

// The app's modules are browser ES modules outside any node package: loaded
// from their text (irc.js imports nothing).
const irc = await import('data:text/javascript,' + encodeURIComponent(readFileSync(join(appDir, 'irc.js'), 'utf8')));
const { IrcConnection, parseLine, capRetries } = irc;

/** An IrcConnection whose output is collected instead of sent. */
function negotiator(opts = { nick: 'n' }) {
  const out = [];
  const c = new IrcConnection('ws://unused', opts, { registered() {}, message() {}, batch() {}, refused() {}, close() {} });
  c.raw = (l) => out.push(l);
  return { c, out, feed: (l) => c.receive(parseLine(l)), reqs: () => out.filter((l) => l.startsWith('CAP REQ')) };
}

test('capRetries: several names refused together are asked for alone, each once', () => {
  assert.deepEqual(capRetries(['batch'], new Set(), new Set()), [], 'a single name refused is final');
  assert.deepEqual(capRetries(['batch', 'server-time', 'x-unknown'], new Set(), new Set()), ['batch', 'server-time'], 'names the app never wanted are dropped');
  assert.deepEqual(capRetries(['batch', 'server-time'], new Set(['batch']), new Set()), ['server-time'], 'tried alone already');
  assert.deepEqual(capRetries(['batch', 'server-time'], new Set(), new Set(['batch'])), ['server-time'], 'enabled already');
});

test('IrcConnection: a refused request is split; registration goes on after the last answer', () => {
  const { c, out, feed, reqs } = negotiator();
  feed(':s CAP * LS :message-tags server-time batch sasl x-other');
  assert.deepEqual(reqs(), ['CAP REQ :message-tags server-time batch sasl']);
  feed(':s CAP * NAK :message-tags server-time batch sasl');
  assert.deepEqual(reqs().slice(1), ['CAP REQ message-tags', 'CAP REQ server-time', 'CAP REQ batch', 'CAP REQ sasl']);
  feed(':s CAP * ACK :message-tags');
  feed(':s CAP * NAK :server-time');
  feed(':s CAP * ACK :batch');
  assert.ok(!out.includes('CAP END'), 'not before every request is answered');
  feed(':s CAP * ACK :sasl');
  assert.equal(out.filter((l) => l === 'CAP END').length, 1);
  assert.deepEqual([...c.caps].sort(), ['batch', 'message-tags', 'sasl']);
  assert.equal(reqs().length, 5, 'no request for server-time again');
});

test('IrcConnection: a server refusing everything costs one request per capability, then CAP END', () => {
  const { c, out, feed, reqs } = negotiator();
  const offered = ['message-tags', 'server-time', 'batch', 'echo-message', 'labeled-response', 'draft/chathistory', 'sasl'];
  feed(`:s CAP * LS :${offered.join(' ')}`);
  let answered = 0;
  for (let round = 0; round < 100 && answered < reqs().length; round++) {
    const req = reqs()[answered++];
    feed(`:s CAP * NAK :${req.replace(/^CAP REQ :?/, '')}`);
  }
  assert.equal(reqs().length, 1 + offered.length);
  assert.equal(out.filter((l) => l === 'CAP END').length, 1);
  assert.equal(c.caps.size, 0);
});

test('against the real server: its NAK of the whole request, then one capability at a time', async () => {
  const env = await setup();
  try {
    const a = env.track(await openBrowser());
    const fromPage = [], fromServer = [];
    // The server's capability list, as the page gets it, gains one name the
    // server does not know; the page's request including it is refused whole.
    await a.page.routeWebSocket(/\/irc$/, (ws) => {
      const server = ws.connectToServer();
      ws.onMessage((m) => { fromPage.push(String(m)); server.send(m); });
      server.onMessage((m) => {
        const text = typeof m === 'string' ? m : m.toString('utf8');
        fromServer.push(text);
        ws.send(text.replace(/^(:\S+ CAP \S+ LS :.*?)(\r?)$/m, '$1 draft/event-playback$2'));
      });
    });
    await login(a.page, env.url, 'capper');
    await until(() => a.page.$eval('#title', (e) => e.textContent === '#lobby'), 'in #lobby');
    const reqs = fromPage.flatMap((f) => f.split(/\r?\n/)).filter((l) => l.startsWith('CAP REQ'));
    const whole = reqs[0].replace(/^CAP REQ :?/, '').split(' ');
    assert.ok(whole.length > 10 && whole.includes('draft/event-playback'), `first request: ${reqs[0]}`);
    const naks = fromServer.flatMap((f) => f.split(/\r?\n/)).filter((l) => / CAP \S+ NAK /.test(l)).map((l) => l.replace(/^.* NAK :?/, ''));
    assert.deepEqual(naks, [whole.join(' '), 'draft/event-playback'], 'the server refused the whole request, then the unknown name alone');
    assert.deepEqual(reqs.slice(1).map((r) => r.replace(/^CAP REQ :?/, '')).sort(), [...whole].sort(), 'then each name alone, once');
    const caps = await a.page.evaluate(() => [...window.chatroomUi.chat.conn.caps]);
    assert.deepEqual(caps.sort(), whole.filter((c) => c !== 'draft/event-playback').sort(), 'all but the unknown one enabled');

    // The capabilities work: echo-message (one copy of our line, with the
    // server's msgid) and message-tags (a reaction reaches an IRC client).
    const ivy = env.track(await new IrcClient(env.srv.ports.irc, 'ivy').connect());
    await ivy.join('#lobby');
    const composer = a.page.getByRole('textbox', { name: 'Message', exact: true });
    await composer.fill('negotiated');
    await composer.press('Enter');
    await until(async () => (await logTexts(a.page)).includes('negotiated'), 'own line');
    assert.ok(await a.page.evaluate(() => window.chatroomUi.chat.active.lines.some((l) => l.text === 'negotiated' && l.msgid)), 'echo with msgid');
    await ivy.say('#lobby', 'react to me');
    await until(async () => (await logTexts(a.page)).includes('react to me'), 'line from ivy');
    await a.page.locator('#log .msg', { hasText: 'react to me' }).hover();
    await a.page.getByRole('button', { name: 'React with heart' }).click();
    await ivy.waitFor((l) => l.includes('+draft/react=') && l.includes('TAGMSG #lobby'), 'reaction at ivy');
    assert.deepEqual(a.problems.errors, []);
  } finally {
    await env.teardown();
  }
});
