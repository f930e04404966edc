// Installable: the service worker keeps the app shell, so with the server
// down the page still opens and says the server is unreachable.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setup, openBrowser, login, until } from './lib.mjs';

test('with the server down the cached app opens and says "server unreachable"', async () => {
  const env = await setup();
  try {
    const a = env.track(await openBrowser());
    const page = a.page;
    await login(page, env.url, 'sam');
    await until(() => page.$eval('#title', (e) => e.textContent === '#lobby'), 'in #lobby');
    await until(() => page.evaluate(async () => !!(await navigator.serviceWorker.getRegistration())?.active), 'service worker active');
    await until(() => page.evaluate(async () => (await (await caches.open('chatroom-shell-v1')).keys()).length >= 8), 'shell cached');
    const manifest = await page.evaluate(async () => (await fetch('manifest.webmanifest')).json());
    assert.equal(manifest.display, 'standalone');
    await env.srv.stop();
    await until(async () => /Server unreachable|Disconnected/.test(await page.$eval('#conn', (e) => e.textContent)), 'disconnection shown');
    await page.reload();
    await page.getByLabel('Nickname').waitFor({ timeout: 20000 });
    await until(async () => /Server unreachable/.test(await page.$eval('#login-error', (e) => e.textContent)), '"Server unreachable" on the reopened page', 30000);
  } finally {
    await env.teardown();
  }
});
