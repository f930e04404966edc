// The server restarts (same ports, same data directory): the page reconnects
// by itself and shows every line exactly once, including those said while
// it was away (filled with CHATHISTORY AFTER, since the join replay is kept
// shorter than the gap here).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setup, startServer, openBrowser, login, IrcClient, logTexts, until, hasWebPort } from './lib.mjs';

test('after a server restart the page reconnects with no line lost or doubled', async () => {
  const extraConfig = '[history]\nreplay_lines = 2\n';
  const env = await setup({ extraConfig });
  let srv2 = null;
  try {
    const a = env.track(await openBrowser());
    await login(a.page, env.url, 'alice');
    await until(() => a.page.$eval('#title', (e) => e.textContent === '#lobby'), 'in #lobby');
    let irc = await new IrcClient(env.srv.ports.irc, 'ivan').connect();
    await irc.join('#lobby');
    for (let i = 1; i <= 5; i++) await irc.say('#lobby', `before ${i}`);
    await until(async () => (await logTexts(a.page)).includes('before 5'), 'before lines');
    irc.close();

    const ports = env.srv.ports;
    await env.srv.stop();
    await until(() => a.page.isVisible('#conn'), 'disconnection shown');
    srv2 = await startServer({ dataDir: env.srv.dataDir, ports: { ...ports }, extraConfig });
    if (!hasWebPort) assert.equal(srv2.ports.ws, ports.ws);
    irc = await new IrcClient(srv2.ports.irc, 'ivan').connect();
    await irc.join('#lobby');
    for (let i = 1; i <= 5; i++) await irc.say('#lobby', `during ${i}`);
    await until(async () => !(await a.page.isVisible('#conn')), 'reconnected', 60000);
    await until(async () => (await a.page.$$eval('#members li .nick', (e) => e.map((x) => x.textContent))).includes('ivan'), 'members back');
    for (let i = 1; i <= 5; i++) await irc.say('#lobby', `after ${i}`);
    const want = [1, 2, 3, 4, 5].flatMap((i) => [`before ${i}`]).concat([1, 2, 3, 4, 5].map((i) => `during ${i}`), [1, 2, 3, 4, 5].map((i) => `after ${i}`));
    await until(async () => { const t = await logTexts(a.page); return want.every((w) => t.includes(w)); }, 'every line', 30000);
    const got = (await logTexts(a.page)).filter((t) => /^(before|during|after) \d$/.test(t));
    assert.deepEqual(got, want, 'each line once, in order');
    irc.close();
    assert.deepEqual(a.problems.errors, []);
  } finally {
    if (srv2) { await srv2.stop(); }
    await env.teardown();
  }
});
