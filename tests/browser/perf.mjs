// Measurements for docs/web.md (not part of the test run):
//   node tests/browser/perf.mjs [seconds=60] [rate=200]     the flood
//   node tests/browser/perf.mjs scroll [lines=10000] [step=400] [every=50]
// Both print the app's first-load transfer size first: every file gzipped
// (level 9), summed.
// Flood: an IRC client sends `rate` messages/s for `seconds` into the room
// the tab shows; every 5 s: JS heap and DOM nodes (CDP
// Performance.getMetrics), message elements, lines held, and how long a
// typed key takes to appear in the composer.
// Scroll: `lines` lines are said into #lobby over raw IRC (flood control is
// off in these servers) before the tab comes; the tab then scrolls from the
// bottom to the first line with the mouse wheel, `step` pixels every
// `every` ms, loading older pages as it goes. Measured: frames (a
// requestAnimationFrame counter: frames per second, the longest gap),
// long tasks (PerformanceObserver 'longtask', over 50 ms), and every 2 s
// DOM nodes (CDP's count, which includes nodes dropped from the page but
// not yet collected, and those in the document), message elements, lines
// held and JS heap.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { setup, openBrowser, login, IrcClient, until, appDir, sleep, recordIrc, ircLog } from './lib.mjs';

let raw = 0, gz = 0;
for (const f of readdirSync(appDir).sort()) {
  const b = readFileSync(join(appDir, f));
  const z = gzipSync(b, { level: 9 }).length;
  raw += b.length; gz += z;
  console.log(`${f.padEnd(22)} ${String(b.length).padStart(7)} B  gzip ${String(z).padStart(6)} B`);
}
console.log(`all files: ${raw} B, gzip ${gz} B (${(gz / 1024).toFixed(1)} KiB)`);

const metrics = async (cdp) => Object.fromEntries((await cdp.send('Performance.getMetrics')).metrics.map((x) => [x.name, x.value]));
const mib = (n) => (n / 1048576).toFixed(1) + ' MiB';

if (process.argv[2] === 'scroll') await scroll(+(process.argv[3] || 10000), +(process.argv[4] || 400), +(process.argv[5] || 50));
else await flood(+(process.argv[2] || 60), +(process.argv[3] || 200));

async function flood(seconds, rate) {
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
      const m = await metrics(cdp);
      const t0 = performance.now();
      await page.keyboard.type('x');
      await page.waitForFunction(() => document.getElementById('input').value.endsWith('x'));
      const keyMs = performance.now() - t0;
      const s = await page.evaluate(() => ({ msgs: document.querySelectorAll('#log .msg').length, lines: window.chatroomUi.chat.active.lines.length }));
      console.log(`${label.padEnd(8)} heap ${mib(m.JSHeapUsedSize)}  nodes ${m.Nodes}  msg elements ${s.msgs}  lines held ${s.lines}  key→screen ${keyMs.toFixed(0)} ms`);
    };
    await sample('before');
    let sent = 0;
    const start = Date.now();
    const timer = setInterval(() => {
      const due = Math.min(Math.floor(((Date.now() - start) / 1000) * rate), seconds * rate);
      while (sent < due) { sent++; irc.send(`PRIVMSG #lobby :flood line ${sent} lorem ipsum dolor sit amet https://example.com/${sent}`); }
    }, 1000 / 20);
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
}

async function scroll(lines, step, every) {
  const env = await setup();
  try {
    const label = (i) => `history line ${String(i).padStart(5, '0')} lorem ipsum dolor sit amet, consectetur adipiscing elit`;
    const seeder = env.track(await new IrcClient(env.srv.ports.irc, 'seeder').connect());
    await seeder.join('#lobby');
    const t0 = Date.now();
    for (let i = 1; i <= lines; i++) seeder.send(`PRIVMSG #lobby :${label(i)}`);
    await seeder.waitFor((l) => l.endsWith(`:${label(lines)}`), 'last seed line echoed', 600000);
    console.log(`seeded ${lines} lines in ${((Date.now() - t0) / 1000).toFixed(1)} s`);

    const tab = env.track(await openBrowser({ width: 1280, height: 800 }));
    const page = tab.page;
    await recordIrc(page);
    await login(page, env.url, 'scroller');
    await until(async () => (await page.evaluate(() => window.chatroomUi.chat.active.lines.at(-1)?.text || '')) === label(lines), 'newest line shown', 60000);
    const cdp = await page.context().newCDPSession(page);
    await cdp.send('Performance.enable');
    await page.evaluate(() => {
      const w = (window.__perf = { long: [], frames: [], run: true, spent: {} });
      // Where the time goes: the app's redraw (DOM building and the layout it
      // forces) and its handling of a history page, timed in place.
      const time = (obj, name, key) => {
        const f = obj[name];
        obj[name] = function (...args) { const t = performance.now(); try { return f.apply(this, args); } finally { const s = (w.spent[key] ??= { n: 0, ms: 0, max: 0 }); const d = performance.now() - t; s.n++; s.ms += d; s.max = Math.max(s.max, d); } };
      };
      const ui = window.chatroomUi;
      time(ui, 'renderFull', 'renderFull (the window moved or redrawn)');
      time(ui, 'flush', 'flush (every redraw, renderFull included)');
      time(ui.chat, 'historyDone', 'historyDone');
      time(ui.chat.conn, 'finishBatch', 'a history page received (batch handled)');
      new PerformanceObserver((list) => { for (const e of list.getEntries()) w.long.push(e.duration); }).observe({ type: 'longtask' });
      const tick = (t) => { if (!w.run) return; w.frames.push(t); requestAnimationFrame(tick); };
      requestAnimationFrame(tick);
    });
    const box = await page.locator('#log').boundingBox();
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    const samples = [];
    const sample = async (t) => {
      const m = await metrics(cdp);
      const s = await page.evaluate(() => {
        let live = 0;
        const w = document.createTreeWalker(document);
        while (w.nextNode()) live++;
        return { live, msgs: document.querySelectorAll('#log .msg').length, lines: window.chatroomUi.chat.active.lines.length, first: window.chatroomUi.chat.active.lines[0]?.text.slice(13, 18) };
      });
      samples.push({ t, heap: m.JSHeapUsedSize, nodes: m.Nodes, ...s });
      console.log(`${(t / 1000).toFixed(0).padStart(4)} s  heap ${mib(m.JSHeapUsedSize)}  nodes ${m.Nodes} (in the document ${s.live})  msg elements ${s.msgs}  lines held ${s.lines} (from line ${s.first})`);
    };
    await sample(0);
    const start = Date.now();
    let steps = 0, nextSample = 2000;
    const atTop = () => page.evaluate(() => {
      const log = document.getElementById('log');
      const edge = log.querySelector('.edge');
      return log.scrollTop === 0 && edge.textContent === 'Beginning of history';
    });
    // Bounded: at most 30 minutes or 100,000 wheel steps.
    while (steps < 100000 && Date.now() - start < 1800000) {
      await page.mouse.wheel(0, -step);
      steps++;
      await sleep(every);
      if (Date.now() - start >= nextSample) { await sample(Date.now() - start); nextSample += 2000; }
      if (steps % 10 === 0 && await atTop()) break;
    }
    const took = Date.now() - start;
    await sample(took);
    const w = await page.evaluate(() => { window.__perf.run = false; return window.__perf; });
    const gaps = w.frames.slice(1).map((t, i) => t - w.frames[i]).sort((a, b) => a - b);
    const span = (w.frames.at(-1) - w.frames[0]) / 1000;
    const pct = (p) => gaps[Math.min(gaps.length - 1, Math.floor(gaps.length * p))].toFixed(0);
    const first = await page.evaluate(() => document.querySelector('#log .msg .text')?.textContent);
    const pages = (await ircLog(page)).filter((e) => e.dir === 'out' && e.line.includes('CHATHISTORY BEFORE')).length;
    console.log(`reached the top in ${(took / 1000).toFixed(1)} s, ${steps} wheel steps of ${step} px every ${every} ms; first line on screen: "${first}"`);
    console.log(`CHATHISTORY BEFORE pages: ${pages}`);
    console.log(`frames: ${w.frames.length} in ${span.toFixed(1)} s = ${(w.frames.length / span).toFixed(1)} fps; frame gap median ${pct(0.5)} ms, p95 ${pct(0.95)} ms, p99 ${pct(0.99)} ms, max ${gaps.at(-1).toFixed(0)} ms; ${gaps.filter((g) => g > 50).length} gaps over 50 ms`);
    for (const [k, v] of Object.entries(w.spent)) console.log(`${k}: ${v.n} times, ${v.ms.toFixed(0)} ms in all, ${(v.ms / v.n).toFixed(1)} ms each, longest ${v.max.toFixed(0)} ms`);
    const long = w.long;
    console.log(`long tasks: ${long.length}, total ${long.reduce((a, b) => a + b, 0).toFixed(0)} ms, longest ${long.length ? Math.max(...long).toFixed(0) : 0} ms`);
    const max = (k) => Math.max(...samples.map((s) => s[k]));
    console.log(`max over the run: DOM nodes ${max('nodes')} (in the document ${max('live')}), message elements ${max('msgs')}, lines held ${max('lines')}, JS heap ${mib(max('heap'))}`);
  } finally {
    await env.teardown();
  }
}
