// Two browser users, a line-protocol user and an IRC user in one room:
// messages cross every way; a late joiner sees the history; a nickname
// refusal shows the server's reason; typed commands and multi-line fallback;
// hostile text stays text.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setup, openBrowser, login, IrcClient, LineClient, logTexts, until } from './lib.mjs';

const composer = (page) => page.getByRole('textbox', { name: 'Message', exact: true });
async function type(page, text) {
  await composer(page).fill(text);
  await composer(page).press('Enter');
}
const seen = (page, s) => until(async () => (await logTexts(page)).some((t) => t.includes(s)), `"${s}" in the page`);
const titleIs = (page, s) => until(() => page.$eval('#title', (e, want) => e.textContent === want, s), `title ${s}`);

test('browsers, a line client and an IRC client talk in one room', async () => {
  const env = await setup();
  try {
    const a = env.track(await openBrowser());
    const b = env.track(await openBrowser());
    await login(a.page, env.url, 'alice');
    await titleIs(a.page, '#lobby');
    await login(b.page, env.url, 'bella');
    await titleIs(b.page, '#lobby');
    const irc = env.track(await new IrcClient(env.srv.ports.irc, 'ivan').connect());
    await irc.join('#lobby');
    const line = env.track(await new LineClient(env.srv.ports.line, 'nina').connect());
    await line.waitFor('now talking in #lobby');

    await type(a.page, 'from alice in the browser');
    await seen(b.page, 'from alice in the browser');
    await irc.waitFor((l) => l.includes('PRIVMSG #lobby :from alice in the browser'), 'alice over IRC');
    await line.waitFor('<alice> from alice in the browser');

    await irc.say('#lobby', 'from ivan over IRC');
    line.send('from nina over the line protocol');
    for (const p of [a.page, b.page]) {
      await seen(p, 'from ivan over IRC');
      await seen(p, 'from nina over the line protocol');
    }
    await type(b.page, 'from bella');
    await seen(a.page, 'from bella');
    await line.waitFor('<bella> from bella');
    await irc.waitFor((l) => l.includes('PRIVMSG #lobby :from bella'), 'bella over IRC');

    // Members: everyone is listed in the browser.
    await until(async () => {
      const names = await a.page.$$eval('#members li .nick', (e) => e.map((x) => x.textContent));
      return ['alice', 'bella', 'ivan', 'nina'].every((n) => names.includes(n));
    }, 'all four members listed');

    // Each line shows once (echo-message, no local copy).
    const texts = await logTexts(a.page);
    assert.equal(texts.filter((t) => t === 'from alice in the browser').length, 1);

    // /me, then multi-line (Shift+Enter): the server offers draft/multiline,
    // so it is one message; the IRC client without the capability gets its
    // lines as separate PRIVMSGs, the other browser one message of two lines.
    await type(a.page, '/me waves');
    await irc.waitFor((l) => l.includes('PRIVMSG #lobby :\x01ACTION waves\x01'), 'action');
    await composer(a.page).fill('first line');
    await composer(a.page).press('Shift+Enter');
    await composer(a.page).pressSequentially('second line');
    await composer(a.page).press('Enter');
    await irc.waitFor((l) => l.endsWith('PRIVMSG #lobby :first line'), 'first line');
    await irc.waitFor((l) => l.endsWith('PRIVMSG #lobby :second line'), 'second line');
    await until(async () => (await logTexts(b.page)).some((t) => t.includes('first line') && t.includes('second line')),
      'one message of two lines in the other browser');

    // A private conversation, opened with /msg, answered over IRC.
    await type(a.page, '/msg ivan just for you');
    await irc.waitFor((l) => l.includes('PRIVMSG ivan :just for you'), 'private message');
    await titleIs(a.page, 'ivan');
    irc.send('PRIVMSG alice :private answer');
    await seen(a.page, 'private answer');

    // A room created from the composer, its topic set with /topic.
    await type(a.page, '/join #garden');
    await titleIs(a.page, '#garden');
    await type(a.page, '/topic roses and tulips');
    await until(() => a.page.$eval('#topic', (e) => e.textContent === 'roses and tulips'), 'topic shown');

    // A late joiner sees what was said, as history.
    const c = env.track(await openBrowser());
    await login(c.page, env.url, 'carl');
    await titleIs(c.page, '#lobby');
    await seen(c.page, 'from alice in the browser');
    await seen(c.page, 'from nina over the line protocol');
    const hist = await c.page.$$eval('#log .msg.history .text', (e) => e.map((x) => x.textContent));
    assert.ok(hist.includes('from ivan over IRC'), 'replayed lines are marked as history');

    // Replies and reactions travel as client tags; the reaction is grouped under its message.
    await c.page.locator('#log .msg', { hasText: 'from bella' }).first().hover();
    await c.page.getByRole('button', { name: 'React with thumbs up' }).click();
    await until(() => b.page.locator('#log .msg', { hasText: 'from bella' }).first().locator('.chip').count(), 'reaction chip at bella');
    await until(() => c.page.locator('#log .msg', { hasText: 'from bella' }).first().locator('.chip.mine').count(), 'own reaction chip at carl');
    await irc.waitFor((l) => l.includes('+draft/react=') && l.includes('TAGMSG #lobby'), 'react TAGMSG');

    assert.deepEqual(a.problems.errors, []);
    assert.deepEqual(c.problems.errors, []);
  } finally {
    await env.teardown();
  }
});

test('a nickname in use is refused with the server reason and another can be picked', async () => {
  const env = await setup();
  try {
    const irc = env.track(await new IrcClient(env.srv.ports.irc, 'taken').connect());
    const b = env.track(await openBrowser());
    await b.page.goto(env.url);
    await b.page.getByLabel('Nickname').fill('taken');
    await b.page.getByRole('button', { name: 'Connect' }).click();
    const err = await until(async () => (await b.page.$eval('#login-error', (e) => e.textContent)) || null, 'refusal shown');
    assert.match(err, /taken/i);
    assert.match(err, /433/);
    assert.equal(await b.page.isVisible('#chat'), false);
    await b.page.getByLabel('Nickname').fill('bad nick!');
    await b.page.getByRole('button', { name: 'Connect' }).click();
    await until(async () => /cannot contain/.test(await b.page.$eval('#login-error', (e) => e.textContent)), 'local check');
    await b.page.getByLabel('Nickname').fill('9digit');
    await b.page.getByRole('button', { name: 'Connect' }).click();
    await until(async () => /432/.test(await b.page.$eval('#login-error', (e) => e.textContent)), '432 shown');
    await login(b.page, env.url, 'free');
    await titleIs(b.page, '#lobby');
    irc.close();
  } finally {
    await env.teardown();
  }
});

test('an account is registered from the login screen, then used to log in with SASL', async () => {
  const env = await setup();
  try {
    const a = env.track(await openBrowser());
    await login(a.page, env.url, 'owner', { password: 'correct horse battery', register: true });
    await titleIs(a.page, '#lobby');
    await a.page.getByRole('button', { name: 'Disconnect' }).click();
    await a.page.locator('#login').waitFor({ state: 'visible' });

    const b = env.track(await openBrowser());
    await b.page.goto(env.url);
    await b.page.getByLabel('Nickname').fill('owner');
    await b.page.locator('#account summary').click();
    await b.page.getByLabel('Password', { exact: true }).fill('wrong password');
    await b.page.getByRole('button', { name: 'Connect' }).click();
    await until(async () => /Login failed.*904/.test(await b.page.$eval('#login-error', (e) => e.textContent)), 'SASL refusal shown');
    await b.page.getByLabel('Password', { exact: true }).fill('correct horse battery');
    await b.page.getByRole('button', { name: 'Connect' }).click();
    await b.page.locator('#chat').waitFor({ state: 'visible', timeout: 20000 });
    await titleIs(b.page, '#lobby');
  } finally {
    await env.teardown();
  }
});

test('hostile text renders inert', async () => {
  const env = await setup();
  try {
    const a = env.track(await openBrowser());
    await login(a.page, env.url, 'alice');
    await titleIs(a.page, '#lobby');
    const evil = env.track(await new IrcClient(env.srv.ports.irc, 'mallory').connect());
    await evil.join('#lobby');
    const payloads = [
      '<img src=x onerror=alert(1)>',
      '<script>alert(2)</script>',
      'javascript:alert(3)',
      'click javascript:alert(4)//http://example.com',
      'x <a href="javascript:alert(5)">y</a>',
      'abc\u202Egnp.exe\u202C def',
      'see https://example.com/ok and http://example.org/"><img src=x onerror=alert(6)>',
    ];
    for (const p of payloads) await evil.say('#lobby', p);
    // A nickname with bidi and zero-width characters is shown without them.
    await new IrcClient(env.srv.ports.irc, 'eve').connect().then((c) => { env.track(c); return c.join('#lobby').then(() => c.say('#lobby', 'from eve')); });
    await until(async () => (await logTexts(a.page)).some((t) => t.includes('onerror=alert(6)')), 'last payload shown');
    assert.equal(await a.page.locator('#log img').count(), 0, 'no <img> created');
    assert.equal(await a.page.locator('#log script').count(), 0, 'no <script> created');
    const hrefs = await a.page.$$eval('#log a', (as) => as.map((x) => x.getAttribute('href')));
    assert.ok(hrefs.length >= 2, 'the http(s) links are links');
    for (const h of hrefs) assert.match(h, /^https?:\/\//, `href ${h}`);
    const rels = await a.page.$$eval('#log a', (as) => as.map((x) => `${x.rel}|${x.target}`));
    for (const r of rels) assert.equal(r, 'noopener noreferrer|_blank');
    const texts = await logTexts(a.page);
    assert.ok(texts.includes('<img src=x onerror=alert(1)>'), 'markup shown as text');
    assert.ok(texts.includes('javascript:alert(3)'), 'javascript: shown as text');
    // Message bodies are isolated from their surroundings.
    const isolated = await a.page.$$eval('#log .msg .text', (els) => els.every((e) => getComputedStyle(e).unicodeBidi === 'isolate'));
    assert.ok(isolated);
    // Clicking every link opens nothing but http(s) (and never runs script in the page).
    await a.page.evaluate(() => { for (const x of document.querySelectorAll('#log a')) x.addEventListener('click', (e) => e.preventDefault()); });
    for (const l of await a.page.locator('#log a').all()) await l.click();
    assert.deepEqual(a.problems.dialogs, [], 'no dialog fired');
    assert.deepEqual(a.problems.errors, []);
  } finally {
    await env.teardown();
  }
});

test('nicknames lose bidi overrides and zero-width characters', async () => {
  // The server refuses such nicknames, so the check runs on the page's own renderer.
  const env = await setup();
  try {
    const a = env.track(await openBrowser());
    await login(a.page, env.url, 'alice');
    await titleIs(a.page, '#lobby');
    const shown = await a.page.evaluate(async () => {
      const { nickEl } = await import('./text.js');
      return nickEl('ad\u202Emin\u200B\uFEFF\u2066x').textContent;
    });
    assert.equal(shown, 'adminx');
  } finally {
    await env.teardown();
  }
});
