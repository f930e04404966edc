// Measurements for docs/web.md (not part of the test run):
//   node tests/browser/perf.mjs [seconds=60] [rate=200]
// 1. the app's first-load transfer size, every file gzipped (level 9), summed;
// 2. a flood: an IRC client sends `rate` messages/s for `seconds` into the
//    room the tab shows; every 5 s: JS heap and DOM nodes (CDP
//    Performance.getMetrics), message elements, lines held, and how long a
//    typed key takes to appear in the composer.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { setup, openBrowser, login, IrcClient, until, appDir, sleep } from './lib.mjs';

const seconds = +(process.argv[2] || 60);
const rate = +(process.argv[3] || 200);

let raw = 0, gz = 0;
for (const f of readdirSync(appDir).sort()) {
  const b = readFileSync(join(appDir, f));
  const z = gzipSync(b, { level: 9 }).length;
  raw += b.length; gz += z;
  console.log(`${f.padEnd(22)} ${String(b.length).padStart(7)} B  gzip ${String(z).padStart(6)} B`);
}
console.log(`all files: ${raw} B, gzip ${gz} B (${(gz / 1024).toFixed(1)} KiB)`);

const env = await setup();
try {
  const tab = env.track(await openBrowser({ width: 1280, height: 800 }));
  const page = tab.page;
  await login(page, env.url, 'watcher');
  await until(() => page.$eval('#title', (e) => e.textContent === '#lobby'), 'lobby');
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Performance.enable');
  const irc = env.track(await new IrcClient(env.srv.ports.irc, 'flood').connect(['server-time']));
  await irc.join('#lobby');
  const input = page.getByRole('textbox', { name: 'Message', exact: true });
  await input.focus();
  const sample = async (label) => {
    const m = Object.fromEntries((await cdp.send('Performance.getMetrics')).metrics.map((x) => [x.name, x.value]));
    const t0 = performance.now();
    await page.keyboard.type('x');
    await page.waitForFunction(() => document.getElementById('input').value.endsWith('x'));
    const keyMs = performance.now() - t0;
    const s = await page.evaluate(() => ({ msgs: document.querySelectorAll('#log .msg').length, lines: window.chatroomUi.chat.active.lines.length }));
    console.log(`${label.padEnd(8)} heap ${(m.JSHeapUsedSize / 1048576).toFixed(1)} MiB  nodes ${m.Nodes}  msg elements ${s.msgs}  lines held ${s.lines}  key→screen ${keyMs.toFixed(0)} ms`);
  };
  await sample('before');
  const perTick = rate / 20;
  let sent = 0;
  const start = Date.now();
  const timer = setInterval(() => {
    const due = Math.min(Math.floor(((Date.now() - start) / 1000) * rate), seconds * rate);
    while (sent < due) { sent++; irc.send(`PRIVMSG #lobby :flood line ${sent} lorem ipsum dolor sit amet https://example.com/${sent}`); }
  }, 1000 / 20);
  void perTick;
  for (let t = 5; t <= seconds; t += 5) {
    await sleep(start + t * 1000 - Date.now());
    await sample(`${t} s`);
  }
  clearInterval(timer);
  await until(async () => (await page.evaluate(() => window.chatroomUi.chat.active.lines.at(-1)?.text || '')).endsWith(`/${sent}`), 'last flood line shown', 60000);
  await sample('after');
  console.log(`sent ${sent} messages in ${((Date.now() - start) / 1000).toFixed(1)} s`);
} finally {
  await env.teardown();
}
