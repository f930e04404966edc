// Reply and React from the keyboard alone: one message of the log is in the
// tab order (roving tabindex), Up/Down move between messages, Enter opens
// the message's tools, arrows move between them, Escape closes them and
// gives the focus back to the message; axe stays clean with them open.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setup, openBrowser, login, IrcClient, logTexts, until, axe } from './lib.mjs';

const titleIs = (page, s) => until(() => page.$eval('#title', (e, want) => e.textContent === want, s), `title ${s}`);

/** What has the focus: a message (its text), a button (its name), or the composer. */
function focused(page) {
  return page.evaluate(() => {
    const a = document.activeElement;
    if (a?.classList.contains('msg')) return 'msg:' + (a.querySelector('.text')?.textContent ?? '');
    if (a?.id === 'input') return 'composer';
    if (a?.tagName === 'BUTTON') return 'button:' + (a.getAttribute('aria-label') || a.textContent);
    return a ? a.tagName.toLowerCase() + '#' + a.id : 'none';
  });
}
const toolsShown = (page) => page.$eval('#msg-tools', (e) => !e.hidden);
const tabStops = (page) => page.$$eval('#log .msg', (ms) => ms.filter((m) => m.tabIndex === 0).length);

/** Presses `key` until `want` has the focus (at most `max` times). */
async function pressUntil(page, key, want, max = 30) {
  for (let i = 0; i < max; i++) {
    if ((await focused(page)) === want) return;
    await page.keyboard.press(key);
  }
  assert.equal(await focused(page), want);
}

test('keyboard only: reach a message, reply to it, react to another, Escape closes', async () => {
  const env = await setup();
  try {
    const a = env.track(await openBrowser(null, { bypassCSP: true })); // bypassCSP: to inject axe
    const page = a.page;
    await login(page, env.url, 'kay');
    await titleIs(page, '#lobby');
    const irc = env.track(await new IrcClient(env.srv.ports.irc, 'ivy').connect());
    await irc.join('#lobby');
    for (const t of ['first line', 'second line', 'third line']) await irc.say('#lobby', t);
    await until(async () => (await logTexts(page)).includes('third line'), 'lines shown');
    const msgidOf = (text) => /msgid=([^;\s]+)/.exec(irc.lines.find((l) => l.endsWith(`PRIVMSG #lobby :${text}`)))[1];

    // The composer has the focus after logging in; Shift+Tab reaches the newest message.
    assert.equal(await focused(page), 'composer');
    await page.keyboard.press('Shift+Tab');
    assert.equal(await focused(page), 'msg:third line');
    assert.equal(await tabStops(page), 1, 'one message in the tab order');

    // Up to the second line, Enter: the tools open on Reply; Enter replies.
    await page.keyboard.press('ArrowUp');
    assert.equal(await focused(page), 'msg:second line');
    assert.equal(await tabStops(page), 1, 'the tab stop moved with the focus');
    await page.keyboard.press('Enter');
    assert.ok(await toolsShown(page), 'tools open');
    assert.equal(await focused(page), 'button:Reply');
    assert.deepEqual(await axe(page), [], 'axe with the tools open');
    await page.keyboard.press('Enter');
    assert.equal(await focused(page), 'composer');
    assert.ok(!(await toolsShown(page)), 'tools closed');
    assert.match(await page.$eval('#reply-text', (e) => e.textContent), /Replying to ivy: second line/);
    await page.keyboard.type('answer from the keyboard');
    await page.keyboard.press('Enter');
    await irc.waitFor((l) => l.includes(`+draft/reply=${msgidOf('second line')}`) && l.endsWith('PRIVMSG #lobby :answer from the keyboard'), 'the reply over IRC');
    await until(async () => (await logTexts(page)).includes('answer from the keyboard'), 'own reply shown');

    // Back into the log: the newest message again; up to the first line.
    await page.keyboard.press('Shift+Tab');
    assert.equal(await focused(page), 'msg:answer from the keyboard');
    await pressUntil(page, 'ArrowUp', 'msg:first line');

    // Enter, Escape: the tools close and the focus is back on the message.
    await page.keyboard.press('Enter');
    assert.ok(await toolsShown(page));
    await page.keyboard.press('Escape');
    assert.ok(!(await toolsShown(page)), 'Escape closes the tools');
    assert.equal(await focused(page), 'msg:first line');

    // Enter, Right arrow to 👍, Enter: the reaction goes, the focus comes back.
    await page.keyboard.press('Enter');
    await page.keyboard.press('ArrowRight');
    assert.equal(await focused(page), 'button:React with thumbs up');
    await page.keyboard.press('Enter');
    await irc.waitFor((l) => l.includes('+draft/react=👍') && l.includes(`+draft/reply=${msgidOf('first line')}`) && l.includes('TAGMSG #lobby'), 'the reaction over IRC');
    assert.ok(!(await toolsShown(page)));
    await until(() => page.locator('#log .msg', { hasText: 'first line' }).locator('.chip.mine').count(), 'own reaction chip');
    // The message was redrawn with its chip; the focus stayed on it.
    assert.equal(await focused(page), 'msg:first line');
    assert.equal(await tabStops(page), 1);

    // Tab from the tools leaves them (they close); End goes to the newest message.
    await page.keyboard.press('Enter');
    assert.ok(await toolsShown(page));
    await page.keyboard.press('Tab');
    assert.ok(!(await toolsShown(page)), 'tools closed when the focus left them');
    await page.keyboard.press('Shift+Tab');
    await page.keyboard.press('Home');
    assert.notEqual(await focused(page), 'msg:answer from the keyboard');
    await page.keyboard.press('End');
    assert.equal(await focused(page), 'msg:answer from the keyboard');
    assert.deepEqual(await axe(page), [], 'axe with a message focused');
    assert.deepEqual(a.problems.errors, []);
  } finally {
    await env.teardown();
  }
});

test('links in messages are not tab stops: one Tab per message, the links are in its tools; /help lists the keys', async () => {
  const env = await setup();
  try {
    const a = env.track(await openBrowser(null, { bypassCSP: true })); // bypassCSP: to inject axe
    const page = a.page;
    await login(page, env.url, 'lina');
    await titleIs(page, '#lobby');
    const irc = env.track(await new IrcClient(env.srv.ports.irc, 'ivo').connect());
    await irc.join('#lobby');
    await irc.say('#lobby', 'see https://example.org/a and https://example.net/b');
    await irc.say('#lobby', 'also https://example.com/c');
    await until(async () => (await logTexts(page)).includes('also https://example.com/c'), 'lines shown');
    await page.locator('#log .msg', { hasText: 'also https://example.com/c' }).hover();
    await page.getByRole('button', { name: 'React with heart' }).click();
    await until(() => page.locator('#log .msg', { hasText: 'also https://example.com/c' }).locator('.chip').count(), 'a chip');
    await page.mouse.move(0, 0);
    await page.getByRole('textbox', { name: 'Message', exact: true }).focus();

    // In the log only the roving message is a tab stop: no link, no chip.
    const stops = () => page.$$eval('#log *', (els) => els.filter((e) => e.tabIndex >= 0 && !e.closest('[hidden]'))
      .map((e) => e.tagName.toLowerCase() + (e.classList.contains('msg') ? '.msg' : '')));
    assert.deepEqual(await stops(), ['div.msg'], 'one tab stop in the log');
    assert.equal(await page.locator('#log .msg a').count(), 3, 'the links are there');
    await page.keyboard.press('Shift+Tab');
    assert.equal(await focused(page), 'msg:also https://example.com/c');
    await page.keyboard.press('Shift+Tab');
    assert.ok(!(await page.evaluate(() => document.getElementById('log').contains(document.activeElement))), 'one Shift+Tab leaves the log');

    // Enter on a message: its tools offer its links after Reply and the reactions.
    await page.keyboard.press('Tab');
    assert.equal(await focused(page), 'msg:also https://example.com/c');
    await page.keyboard.press('ArrowUp');
    await page.keyboard.press('Enter');
    assert.ok(await toolsShown(page));
    const links = () => page.$$eval('#msg-tools a.tool-link', (as) => as.map((x) => [x.textContent, x.href]));
    assert.deepEqual(await links(), [['↗ example.org', 'https://example.org/a'], ['↗ example.net', 'https://example.net/b']]);
    await page.keyboard.press('End');
    assert.equal(await page.evaluate(() => document.activeElement.textContent), '↗ example.net');
    assert.deepEqual(await axe(page), [], 'axe with the links in the tools');
    await page.keyboard.press('Escape');
    assert.equal(await focused(page), 'msg:see https://example.org/a and https://example.net/b');
    assert.deepEqual(await stops(), ['div.msg']);

    // /help lists the commands and the keys.
    const composer = page.getByRole('textbox', { name: 'Message', exact: true });
    await composer.fill('/help');
    await composer.press('Enter');
    await until(async () => (await page.locator('#log').textContent()).includes('Alt+Up / Alt+Down'), '/help shown');
    const help = await page.locator('#log').textContent();
    for (const key of ['Shift+Enter', 'Ctrl+K', 'Escape', 'Home / End', '/join #room']) assert.ok(help.includes(key), `/help mentions ${key}`);
    assert.deepEqual(a.problems.errors, []);
  } finally {
    await env.teardown();
  }
});
