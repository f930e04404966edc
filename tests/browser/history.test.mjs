// History: 300 lines said over IRC before the browser arrives; scrolling up
// pages older lines in with CHATHISTORY BEFORE until the beginning, the DOM
// stays bounded, and no line is missing or doubled.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setup, openBrowser, login, IrcClient, logTexts, until } from './lib.mjs';

const N = 300;
const label = (i) => `seed line ${String(i).padStart(3, '0')}`;

test('scrolling up loads older pages until the beginning, with a bounded DOM', async () => {
  const env = await setup();
  try {
    const irc = env.track(await new IrcClient(env.srv.ports.irc, 'seeder').connect());
    await irc.join('#lobby');
    for (let i = 1; i <= N; i++) irc.send(`PRIVMSG #lobby :${label(i)}`);
    await irc.waitFor((l) => l.endsWith(`:${label(N)}`), 'last seed echoed', 60000);

    const a = env.track(await openBrowser());
    await login(a.page, env.url, 'reader');
    await until(async () => (await logTexts(a.page)).includes(label(N)), 'newest line shown');
    const initial = await logTexts(a.page);
    assert.ok(!initial.includes(label(1)), 'the oldest line is not there before scrolling');

    const everSeen = new Set();
    let maxDom = 0;
    for (let round = 0; round < 60; round++) {
      const texts = (await logTexts(a.page)).filter((t) => t.startsWith('seed line'));
      texts.forEach((t) => everSeen.add(t));
      // What is in the DOM is in order, without repeats.
      assert.deepEqual(texts, [...texts].sort(), 'lines in order');
      assert.equal(new Set(texts).size, texts.length, 'no line twice');
      maxDom = Math.max(maxDom, await a.page.locator('#log .msg').count());
      const top = await a.page.$eval('#log .edge', (e) => e.textContent);
      if (texts[0] === label(1) && top === 'Beginning of history') break;
      await a.page.$eval('#log', (e) => { e.scrollTop = 0; e.dispatchEvent(new Event('scroll')); });
      await until(async () => {
        const now = (await logTexts(a.page)).filter((t) => t.startsWith('seed line'));
        return now[0] !== texts[0] || (await a.page.$eval('#log .edge', (e) => e.textContent)) === 'Beginning of history';
      }, 'an older page', 20000);
    }
    const texts = (await logTexts(a.page)).filter((t) => t.startsWith('seed line'));
    assert.equal(texts[0], label(1), 'reached the first line');
    for (let i = 1; i <= N; i++) assert.ok(everSeen.has(label(i)), `${label(i)} was shown`);
    assert.ok(maxDom <= 320, `at most ~300 message elements in the DOM (saw ${maxDom})`);
    const days = await a.page.locator('#log .day').count();
    assert.ok(days >= 1, 'a day separator');

    // Back to the bottom: the newest line again, and new messages follow.
    for (let round = 0; round < 20; round++) {
      await a.page.$eval('#log', (e) => { e.scrollTop = e.scrollHeight; e.dispatchEvent(new Event('scroll')); });
      if ((await logTexts(a.page)).includes(label(N))) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    await until(async () => (await logTexts(a.page)).includes(label(N)), 'back at the newest line');
    await irc.say('#lobby', 'fresh after scrolling');
    await until(async () => (await logTexts(a.page)).includes('fresh after scrolling'), 'live line after scrolling back');
    assert.deepEqual(a.problems.errors, []);
  } finally {
    await env.teardown();
  }
});

test('search shows the server results in a panel', async () => {
  const env = await setup();
  try {
    const irc = env.track(await new IrcClient(env.srv.ports.irc, 'cook').connect());
    await irc.join('#lobby');
    await irc.say('#lobby', 'the pizza is here');
    await irc.say('#lobby', 'no food talk');
    const a = env.track(await openBrowser());
    await login(a.page, env.url, 'hungry');
    await until(async () => (await logTexts(a.page)).includes('no food talk'), 'replay');
    await a.page.getByRole('button', { name: 'Search this room' }).click();
    await a.page.getByLabel('Search words').fill('pizza');
    await a.page.getByLabel('Search words').press('Enter');
    const results = a.page.getByRole('region', { name: 'Search results' });
    await until(async () => (await results.locator('li').allTextContents()).some((t) => t.includes('<cook> the pizza is here')), 'result listed');
    assert.equal(await results.locator('li').count(), 1);
    assert.match(await a.page.$eval('#search-head', (e) => e.textContent), /1 found/);
  } finally {
    await env.teardown();
  }
});
