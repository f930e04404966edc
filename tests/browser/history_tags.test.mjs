// Replies and reactions are kept in the history: alice posts, bob replies
// and reacts in his browser; carol, who opens the app only afterwards,
// sees the reply with its quote of alice's message and the reaction under
// it, from the join replay; and after a server restart, from the store.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setup, openBrowser, login, logTexts, until, startServer, appUrl } from './lib.mjs';

const titleIs = (page, s) => until(() => page.$eval('#title', (e, want) => e.textContent === want, s), `title ${s}`);
const seen = (page, text) => until(async () => (await logTexts(page)).includes(text), `"${text}" shown`);

async function type(page, text) {
  const composer = page.getByRole('textbox', { name: 'Message', exact: true });
  await composer.fill(text);
  await composer.press('Enter');
}

/** The reply's quote and the chips under the parent, as carol's page shows them. */
async function context(page) {
  const reply = page.locator('#log .msg', { hasText: 'I will bring plates' }).first();
  const parent = page.locator('#log .msg', { hasText: 'who brings what on friday' }).first();
  return {
    quote: await reply.locator('.quote').textContent(),
    chips: await parent.locator('.under .chip').allTextContents(),
    history: await reply.evaluate((e) => e.classList.contains('history')),
  };
}

test('a reply and a reaction made before someone opens the app reach them from the history', async () => {
  const env = await setup();
  let srv2 = null;
  try {
    const a = env.track(await openBrowser());
    await login(a.page, env.url, 'alice');
    await titleIs(a.page, '#lobby');
    const b = env.track(await openBrowser());
    await login(b.page, env.url, 'bob');
    await titleIs(b.page, '#lobby');

    await type(a.page, 'who brings what on friday');
    await seen(b.page, 'who brings what on friday');
    const parentAtBob = b.page.locator('#log .msg', { hasText: 'who brings what on friday' }).first();
    await parentAtBob.hover();
    await b.page.locator('#msg-tools button[data-act="reply"]').click();
    await type(b.page, 'I will bring plates');
    await seen(a.page, 'I will bring plates');
    await parentAtBob.hover();
    await b.page.getByRole('button', { name: 'React with thumbs up' }).click();
    await until(() => a.page.locator('#log .msg', { hasText: 'who brings what on friday' }).first().locator('.chip').count(),
      'the reaction at alice');

    // Carol comes later: the join replay brings both, tags and all.
    const c = env.track(await openBrowser());
    await login(c.page, env.url, 'carol');
    await titleIs(c.page, '#lobby');
    await seen(c.page, 'I will bring plates');
    await until(async () => (await context(c.page)).chips.length > 0, 'the reaction under alice\'s message at carol');
    const got = await context(c.page);
    assert.match(got.quote, /alice/, 'the quote names who was answered');
    assert.match(got.quote, /who brings what on friday/, 'the quote shows what was answered');
    assert.deepEqual(got.chips, ['👍 1', '1 reply'], 'one thumbs up, and the reply counted');
    assert.ok(got.history, 'shown as history');
    // The reaction is no line of its own: every message has text.
    const empty = await c.page.$$eval('#log .msg', (ms) => ms.filter((m) => !m.querySelector('.text')?.textContent).length);
    assert.equal(empty, 0);

    for (const p of [a, b, c]) assert.deepEqual(p.problems.errors, []);

    // After a restart, someone new gets the same from the store.
    for (const p of [a, b, c]) await p.close();
    await env.srv.stop();
    srv2 = await startServer({ dataDir: env.srv.dataDir });
    const d = env.track(await openBrowser());
    await login(d.page, appUrl(srv2, env.stat), 'dora');
    await titleIs(d.page, '#lobby');
    await seen(d.page, 'I will bring plates');
    await until(async () => (await context(d.page)).chips.length > 0, 'the reaction at dora after a restart');
    const after = await context(d.page);
    assert.match(after.quote, /who brings what on friday/);
    assert.deepEqual(after.chips, ['👍 1', '1 reply']);

    assert.deepEqual(d.problems.errors, []);
  } finally {
    if (srv2) await srv2.stop();
    await env.teardown();
  }
});
