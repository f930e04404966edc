// Shared parts of the browser tests: the real chatroom binary on loopback
// (every port 0, a temporary data directory, banner parsed from stdout,
// stopped by its PID), the app served to Chromium, and raw IRC and
// line-protocol clients over node's net module. Waits are for conditions
// with generous limits, never fixed sleeps used as assertions.

import { spawn, execFileSync } from 'node:child_process';
import { createServer } from 'node:http';
import { mkdtempSync, writeFileSync, readFileSync, existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname, resolve, extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import net from 'node:net';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
export const repoRoot = resolve(here, '..', '..');
export const appDir = join(repoRoot, 'crates', 'web', 'app');
export const bin = resolve(repoRoot, process.env.CHATROOM_BIN || 'target/debug/chatroom');
export const axePath = join(here, 'node_modules', 'axe-core', 'axe.min.js');

/** Does this binary serve the app itself (`--web-port`)? */
export const hasWebPort = (() => {
  try { return execFileSync(bin, ['serve', '--help'], { encoding: 'utf8' }).includes('--web-port'); } catch { return false; }
})();

export function sleep(ms) { return new Promise((r) => setTimeout(r, ms)); }

/** Polls `fn` until it returns a truthy value; throws with `what` after `timeout` ms. */
export async function until(fn, what, timeout = 20000) {
  const end = Date.now() + timeout;
  let last;
  for (;;) {
    try { last = await fn(); if (last) return last; } catch (e) { last = e; }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}${last instanceof Error ? ': ' + last.message : ''}`);
    await sleep(50);
  }
}

/**
 * Starts the server. `ports` (from a previous start) restarts it on the same
 * ports; `dataDir` reuses a data directory.
 */
export async function startServer({ dataDir, ports, extraConfig = '' } = {}) {
  dataDir ??= mkdtempSync(join(tmpdir(), 'chatroom-web-'));
  const cfg = join(dataDir, 'test.toml');
  // Tests send bursts from one address: flood control and connect limits off.
  writeFileSync(cfg, `[limits]\nflood_rate = 0.0\nmax_connects_per_ip = 0\nmax_connections_per_ip = 0\n` +
    (hasWebPort ? '' : `[websocket]\nallowed_origins = ["*"]\n`) + extraConfig);
  const p = ports || {};
  const args = ['serve', '--config', cfg, '--bind', '127.0.0.1', '--data-dir', dataDir,
    '--line-port', String(p.line ?? 0), '--irc-port', String(p.irc ?? 0), '--tls-port', String(p.tls ?? 0)];
  // HTTPS (8443 by default) is not what these tests look at: off, so nothing binds a fixed port.
  if (hasWebPort) args.push('--web-port', String(p.web ?? 0), '--no-web-tls');
  else args.push('--websocket-port', String(p.ws ?? 0));
  const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => { out += d; });
  child.stderr.on('data', (d) => { err += d; });
  const exited = new Promise((r) => child.once('exit', r));
  const found = await until(() => {
    if (child.exitCode != null) throw new Error(`server exited: ${err.slice(-2000)}`);
    const line = /line: 127\.0\.0\.1:(\d+)/.exec(out);
    const irc = /irc: 127\.0\.0\.1:(\d+)/.exec(out);
    const tls = /ircs: 127\.0\.0\.1:(\d+)/.exec(out);
    const ws = /ircws: 127\.0\.0\.1:(\d+)/.exec(out);
    const web = /web: (http:\/\/127\.0\.0\.1:(\d+)\/)/.exec(out);
    if (!line || !irc || !tls || (hasWebPort ? !web : !ws)) return null;
    if (!/history:/.test(out)) return null;
    return { line: +line[1], irc: +irc[1], tls: +tls[1], ws: ws ? +ws[1] : null, web: web ? +web[2] : null, webUrl: web ? web[1] : null };
  }, 'the server banner', 30000);
  return {
    child, dataDir, ports: found,
    async stop() {
      if (child.exitCode == null) { process.kill(child.pid, 'SIGTERM'); }
      await Promise.race([exited, sleep(10000)]);
      if (child.exitCode == null && child.signalCode == null) { process.kill(child.pid, 'SIGKILL'); await exited; }
    },
    async kill() {
      if (child.exitCode == null && child.signalCode == null) process.kill(child.pid, 'SIGKILL');
      await exited;
    },
    cleanup() { rmSync(dataDir, { recursive: true, force: true }); },
    log: () => err,
  };
}

const TYPES = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml', '.png': 'image/png', '.webmanifest': 'application/manifest+json', '.json': 'application/json' };

/** Serves the app directory on 127.0.0.1 with the server's CSP (for binaries that do not serve it yet). */
export async function startStatic() {
  const csp = "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; style-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'; manifest-src 'self'; worker-src 'self'";
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url, 'http://x').pathname);
    const file = join(appDir, path === '/' ? 'index.html' : path);
    if (!file.startsWith(appDir) || !existsSync(file)) { res.writeHead(404); res.end(); return; }
    res.writeHead(200, { 'content-type': TYPES[extname(file)] || 'application/octet-stream', 'content-security-policy': csp, 'cache-control': 'no-cache' });
    res.end(readFileSync(file));
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return { port: server.address().port, close: () => new Promise((r) => { server.closeAllConnections?.(); server.close(r); }) };
}

/** The page address for a running server (its own /, or the static server plus ?server=). */
export function appUrl(srv, stat) {
  if (hasWebPort) return srv.ports.webUrl;
  return `http://127.0.0.1:${stat.port}/?server=${encodeURIComponent(`ws://127.0.0.1:${srv.ports.ws}/irc`)}`;
}

export async function launch({ bypassCSP = false } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'chatroom-chromium-'));
  const browser = await chromium.launchPersistentContext(dir, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
    viewport: { width: 1280, height: 800 },
    bypassCSP,
  });
  return { context: browser, dir, async close() { await browser.close(); rmSync(dir, { recursive: true, force: true }); } };
}

/** A fresh browser (own user-data dir) with one page that collects dialogs and page errors. */
export async function openBrowser(viewport, opts) {
  const b = await launch(opts);
  const page = b.context.pages()[0] || await b.context.newPage();
  if (viewport) await page.setViewportSize(viewport);
  const problems = { dialogs: [], errors: [] };
  page.on('dialog', (d) => { problems.dialogs.push(d.message()); d.dismiss().catch(() => {}); });
  page.on('pageerror', (e) => problems.errors.push(String(e)));
  return { ...b, page, problems };
}

/** Logs in through the login screen and waits for the chat screen. */
export async function login(page, url, nick, { password, register } = {}) {
  await page.goto(url);
  await page.getByLabel('Nickname').fill(nick);
  if (password) {
    await page.locator('#account summary').click();
    await page.getByLabel('Password', { exact: true }).fill(password);
    if (register) await page.getByLabel('Create a new account with this password').check();
  }
  await page.getByRole('button', { name: 'Connect' }).click();
  await page.locator('#chat').waitFor({ state: 'visible', timeout: 20000 });
}

export async function openRoom(page, room) {
  await page.getByRole('navigation', { name: 'Rooms' }).getByRole('button', { name: new RegExp('^' + room.replace('#', '#?')) }).first().click();
}

/** Texts of the message lines now in the log (what the reader can see by scrolling). */
export function logTexts(page) {
  return page.$$eval('#log .msg .text', (els) => els.map((e) => e.textContent));
}

/** A raw IRC client over TCP. */
export class IrcClient {
  constructor(port, nick) { this.port = port; this.nick = nick; this.lines = []; this.buf = ''; this.waiters = []; }
  async connect(caps = ['message-tags', 'server-time', 'batch', 'echo-message']) {
    this.sock = net.createConnection({ host: '127.0.0.1', port: this.port });
    this.sock.setEncoding('utf8');
    this.sock.on('data', (d) => {
      this.buf += d;
      let i;
      while ((i = this.buf.indexOf('\n')) >= 0) {
        const l = this.buf.slice(0, i).replace(/\r$/, '');
        this.buf = this.buf.slice(i + 1);
        if (/^(@\S+ )?PING /.test(l)) this.send('PONG ' + l.split('PING ')[1]);
        this.lines.push(l);
      }
    });
    this.sock.on('error', () => {});
    await new Promise((r, j) => { this.sock.once('connect', r); this.sock.once('error', j); });
    this.send('CAP LS 302');
    this.send(`NICK ${this.nick}`);
    this.send(`USER ${this.nick} 0 * :${this.nick}`);
    if (caps.length) this.send(`CAP REQ :${caps.join(' ')}`);
    this.send('CAP END');
    await this.waitFor((l) => / 001 /.test(l), '001');
    return this;
  }
  send(line) { this.sock.write(line + '\r\n'); }
  async waitFor(pred, what, timeout = 20000, from = 0) {
    return until(() => this.lines.slice(from).find(pred), `${this.nick}: ${what}`, timeout);
  }
  async join(room) {
    // The server may have put us there already (default rooms): JOIN, then a
    // PING round trip; by its PONG the 366 of either has arrived.
    const re = new RegExp(` 366 \\S+ ${room.replace(/[#]/g, '\\#')} `, 'i');
    const token = 'j' + Math.random().toString(36).slice(2);
    this.send(`JOIN ${room}`);
    this.send(`PING ${token}`);
    await this.waitFor((l) => l.includes('PONG') && l.includes(token), `PONG after JOIN ${room}`);
    await this.waitFor((l) => re.test(l), `joined ${room}`);
  }
  /** Sends and waits for the echo (echo-message), so that order is settled. */
  async say(target, text) {
    const mark = this.lines.length;
    this.send(`PRIVMSG ${target} :${text}`);
    await this.waitFor((l) => l.includes(`PRIVMSG ${target} :${text}`), `echo of ${text}`, 20000, mark);
  }
  close() { try { this.sock.destroy(); } catch { /* gone */ } }
}

/** A line-protocol (netcat-style) client. */
export class LineClient {
  constructor(port, nick) { this.port = port; this.nick = nick; this.text = ''; }
  async connect() {
    this.sock = net.createConnection({ host: '127.0.0.1', port: this.port });
    this.sock.setEncoding('utf8');
    this.sock.on('data', (d) => { this.text += d; });
    this.sock.on('error', () => {});
    await new Promise((r, j) => { this.sock.once('connect', r); this.sock.once('error', j); });
    await until(() => this.text.length > 0, 'line greeting');
    this.sock.write(this.nick + '\n');
    return this;
  }
  send(line) { this.sock.write(line + '\n'); }
  async waitFor(s, timeout = 20000) { return until(() => this.text.includes(s), `line client: ${s}`, timeout); }
  close() { try { this.sock.destroy(); } catch { /* gone */ } }
}

/** Everything one test needs: a server, the app's address, and cleanup of what was started. */
export async function setup(opts) {
  const srv = await startServer(opts);
  const stat = hasWebPort ? null : await startStatic();
  const cleanups = [];
  return {
    srv, stat,
    url: appUrl(srv, stat),
    track(x) { cleanups.push(x); return x; },
    async teardown() {
      for (const c of cleanups.reverse()) { try { await (c.close ? c.close() : c()); } catch { /* best effort */ } }
      await srv.stop();
      if (stat) await stat.close();
      srv.cleanup();
    },
  };
}

/**
 * Records every IRC line the page sends and receives over its WebSockets, in
 * order, with the page's clock: `window.__irc` = [{ t, dir: 'out'|'in', line }].
 * Call before the page loads the app (it wraps the WebSocket constructor).
 */
export async function recordIrc(page) {
  await page.addInitScript(() => {
    const log = (window.__irc = []);
    const Native = window.WebSocket;
    const send = Native.prototype.send;
    Native.prototype.send = function (d) { log.push({ t: performance.now(), dir: 'out', line: String(d) }); return send.call(this, d); };
    window.WebSocket = class extends Native {
      constructor(...args) {
        super(...args);
        this.addEventListener('message', (e) => {
          const text = typeof e.data === 'string' ? e.data : new TextDecoder().decode(e.data);
          for (const line of text.split(/\r?\n/)) if (line) log.push({ t: performance.now(), dir: 'in', line });
        });
      }
    };
  });
}

/** The lines recorded by recordIrc, from index `from` on. */
export function ircLog(page, from = 0) {
  return page.evaluate((f) => window.__irc.slice(f), from);
}

/** The accessible name of a room's button in the room list ("#lobby, 3 unread"). */
export function roomLabel(page, room) {
  return page.$$eval('#buffers button', (bs, r) => bs.map((b) => b.getAttribute('aria-label')).find((l) => l === r || l.startsWith(r + ',')) ?? null, room);
}

/** axe-core's serious and critical violations on the page (needs bypassCSP to inject it). */
export async function axe(page) {
  await page.addScriptTag({ path: axePath });
  return page.evaluate(async () => {
    const r = await window.axe.run(document, { resultTypes: ['violations'] });
    return r.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')
      .map((v) => `${v.id}: ${v.help} — ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(', ')}`);
  });
}
