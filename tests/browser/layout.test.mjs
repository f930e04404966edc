// Phone layout (390x844: the room list is a drawer), keyboard navigation,
// and axe-core on the login and chat screens in light and dark.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setup, openBrowser, login, IrcClient, logTexts, until, axe } from './lib.mjs';

const titleIs = (page, s) => until(() => page.$eval('#title', (e, want) => e.textContent === want, s), `title ${s}`);

test('phone: the room list is a drawer and the active room stays visible', async () => {
  const env = await setup();
  try {
    const a = env.track(await openBrowser({ width: 390, height: 844 }));
    const page = a.page;
    await login(page, env.url, 'phoebe');
    await titleIs(page, '#lobby');
    const rooms = page.getByRole('navigation', { name: 'Rooms' });
    const drawerBtn = page.getByRole('button', { name: 'Rooms' });
    assert.ok(await drawerBtn.isVisible(), 'drawer button shown');
    assert.equal(await rooms.isVisible(), false, 'room list hidden');
    assert.ok(await page.getByRole('textbox', { name: 'Message', exact: true }).isVisible());
    await page.getByRole('textbox', { name: 'Message', exact: true }).fill('/join #second');
    await page.keyboard.press('Enter');
    await titleIs(page, '#second');
    await drawerBtn.click();
    await until(() => rooms.isVisible(), 'drawer open');
    assert.equal(await drawerBtn.getAttribute('aria-expanded'), 'true');
    await rooms.getByRole('button', { name: /^#lobby/ }).click();
    await titleIs(page, '#lobby');
    await until(async () => !(await rooms.isVisible()), 'drawer closed after choosing');
    const box = await page.locator('#title').boundingBox();
    assert.ok(box && box.x >= 0 && box.x + box.width <= 390, 'title on screen');
    // The log fits the screen width: no horizontal scrolling.
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth);
    assert.equal(overflow, false);
    // Escape closes the drawer too.
    await drawerBtn.click();
    await until(() => rooms.isVisible(), 'drawer open again');
    await page.keyboard.press('Escape');
    await until(async () => !(await rooms.isVisible()), 'drawer closed by Escape');
  } finally {
    await env.teardown();
  }
});

test('keyboard: Alt+Up/Down between rooms, Ctrl+K jumps, unread counts and mentions', async () => {
  const env = await setup();
  try {
    const a = env.track(await openBrowser());
    const page = a.page;
    await login(page, env.url, 'kim');
    await titleIs(page, '#lobby');
    const input = page.getByRole('textbox', { name: 'Message', exact: true });
    await input.fill('/join #alpha');
    await input.press('Enter');
    await titleIs(page, '#alpha');
    // The list reads: Server, #alpha, #lobby.
    await page.keyboard.press('Alt+ArrowDown');
    await titleIs(page, '#lobby');
    await page.keyboard.press('Alt+ArrowUp');
    await titleIs(page, '#alpha');
    await page.keyboard.press('Alt+ArrowUp');
    await titleIs(page, 'Server messages');
    await page.keyboard.press('Alt+ArrowDown');
    await titleIs(page, '#alpha');
    // Unread and mention badges for the room not in view.
    const irc = env.track(await new IrcClient(env.srv.ports.irc, 'loud').connect());
    await irc.join('#lobby');
    await irc.say('#lobby', 'plain message');
    await irc.say('#lobby', 'hey kim, look');
    const lobbyBtn = page.getByRole('navigation', { name: 'Rooms' }).getByRole('button', { name: /^#lobby/ });
    await until(async () => /2 unread, 1 mentioning you/.test(await lobbyBtn.getAttribute('aria-label')), 'unread badge');
    await page.keyboard.press('Control+k');
    const jump = page.getByRole('combobox', { name: 'Jump to room' });
    await until(() => jump.isVisible(), 'jump box');
    await jump.fill('lob');
    await jump.press('Enter');
    await titleIs(page, '#lobby');
    await until(async () => (await lobbyBtn.getAttribute('aria-label')) === '#lobby', 'read once shown');
    const mention = await page.locator('#log .msg.mention .text').allTextContents();
    assert.deepEqual(mention, ['hey kim, look']);
    // Typing indicator from another client.
    irc.send('@+typing=active TAGMSG #lobby');
    await until(async () => (await page.$eval('#typing', (e) => e.textContent)) === 'loud is typing…', 'typing shown');
    irc.send('@+typing=done TAGMSG #lobby');
    await until(async () => (await page.$eval('#typing', (e) => e.textContent)) === '', 'typing cleared');
    // Our own typing is sent at most once per 3 s while typing.
    const mark = irc.lines.length;
    await input.pressSequentially('abcdef', { delay: 20 });
    await irc.waitFor((l) => l.includes('+typing=active') && l.includes('kim!'), 'typing from the page', 20000, mark);
    assert.equal(irc.lines.slice(mark).filter((l) => l.includes('+typing=active')).length, 1);
    // Away state of members.
    irc.send('AWAY :lunch');
    await until(() => page.locator('#members li.away', { hasText: 'loud' }).count(), 'away shown');
    assert.ok((await logTexts(page)).includes('hey kim, look'));
  } finally {
    await env.teardown();
  }
});

for (const scheme of ['light', 'dark']) {
  test(`accessibility (${scheme}): no serious or critical axe violations`, async () => {
    const env = await setup();
    try {
      // bypassCSP only so that axe itself can be injected into the page.
      const a = env.track(await openBrowser(null, { bypassCSP: true }));
      await a.page.emulateMedia({ colorScheme: scheme });
      await a.page.goto(env.url);
      await a.page.getByLabel('Nickname').waitFor();
      assert.deepEqual(await axe(a.page), [], 'login screen');
      await login(a.page, env.url, 'ada');
      await titleIs(a.page, '#lobby');
      const irc = env.track(await new IrcClient(env.srv.ports.irc, 'grace').connect());
      await irc.join('#lobby');
      await irc.say('#lobby', 'hello ada, see https://example.com/');
      irc.send('AWAY :away for a bit');
      await until(async () => (await logTexts(a.page)).includes('hello ada, see https://example.com/'), 'message');
      await until(() => a.page.locator('#members li.away').count(), 'away member');
      assert.deepEqual(await axe(a.page), [], 'chat screen');
    } finally {
      await env.teardown();
    }
  });
}
