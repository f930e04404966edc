// Read markers (draft/read-marker) across two devices of one account: the
// count of a room read on one clears on the other, a reload gets the marker
// back from the server, and the app only moves a marker forward, only for
// what is really in front of the reader, at most once a second per room.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setup, openBrowser, login, openRoom, IrcClient, until, sleep, recordIrc, ircLog, roomLabel } from './lib.mjs';

const PASSWORD = 'two devices one account';
const composer = (page) => page.getByRole('textbox', { name: 'Message', exact: true });
const titleIs = (page, s) => until(() => page.$eval('#title', (e, want) => e.textContent === want, s), `title ${s}`);
const labelIs = (page, room, want) => until(async () => (await roomLabel(page, room)) === want, `"${want}" in the room list`);

const markTime = (line) => { const m = /^MARKREAD (\S+) timestamp=(\S+)$/.exec(line); return m ? { target: m[1].toLowerCase(), ts: Date.parse(m[2]) } : null; };
/** MARKREADs with a timestamp the page sent to `target`. */
const sentMarks = (log, target) => log.filter((e) => e.dir === 'out').map((e) => ({ ...markTime(e.line), t: e.t })).filter((m) => m.target === target);

/** Every MARKREAD the page sent moves the marker past the newest one it had
 * (received from the server or sent itself) for that target. */
function assertNeverBackwards(log, who) {
  const known = new Map();
  for (const e of log) {
    const m = /^(?:@\S+ )?(?::\S+ )?MARKREAD (\S+) (\S+)$/.exec(e.line);
    if (!m) continue;
    const target = m[1].toLowerCase();
    const ts = m[2] === '*' ? 0 : Date.parse(m[2].replace(/^timestamp=/, ''));
    const had = known.get(target) ?? 0;
    if (e.dir === 'out') assert.ok(ts > had, `${who} sent MARKREAD ${target} ${m[2]}, not past the ${new Date(had).toISOString()} it had`);
    known.set(target, Math.max(had, ts));
  }
}

/** The server time of a line the IRC client said (from its echo). */
function timeOf(irc, text) {
  const l = irc.lines.find((x) => x.endsWith(`PRIVMSG #lobby :${text}`));
  return Date.parse(/time=([^;\s]+)/.exec(l)[1]);
}

async function hide(page, how) {
  await page.evaluate((h) => {
    if (h === 'hidden') {
      Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => 'hidden' });
      document.dispatchEvent(new Event('visibilitychange'));
    } else {
      document.hasFocus = () => false;
      window.dispatchEvent(new Event('blur'));
    }
  }, how);
}

async function show(page, how) {
  await page.evaluate((h) => {
    if (h === 'hidden') { delete document.visibilityState; document.dispatchEvent(new Event('visibilitychange')); }
    else { delete document.hasFocus; window.dispatchEvent(new Event('focus')); }
  }, how);
}

test('read markers: one account on two devices, across a reload', async () => {
  const env = await setup();
  try {
    const a = env.track(await openBrowser());
    await recordIrc(a.page);
    await login(a.page, env.url, 'dana', { password: PASSWORD, register: true });
    await titleIs(a.page, '#lobby');
    await composer(a.page).fill('/join #other');
    await composer(a.page).press('Enter');
    await titleIs(a.page, '#other');

    // The second device logs in to the same account; its nickname is taken
    // by the first, so it gets a variant.
    const b = env.track(await openBrowser());
    await recordIrc(b.page);
    await login(b.page, env.url, 'dana', { password: PASSWORD });
    await titleIs(b.page, '#lobby');
    assert.equal(await b.page.$eval('#me', (e) => e.textContent), 'dana_');
    await composer(b.page).fill('/join #other');
    await composer(b.page).press('Enter');
    await titleIs(b.page, '#other');
    const bFrom = (await ircLog(b.page)).length;

    // Messages arrive in #lobby while both look at #other.
    const talker = env.track(await new IrcClient(env.srv.ports.irc, 'talker').connect());
    await talker.join('#lobby');
    for (const t of ['news one', 'news two', 'news three']) await talker.say('#lobby', t);
    await labelIs(a.page, '#lobby', '#lobby, 3 unread');
    await labelIs(b.page, '#lobby', '#lobby, 3 unread');

    // A reads #lobby: B's count clears, B untouched and still on #other.
    await openRoom(a.page, '#lobby');
    await titleIs(a.page, '#lobby');
    await labelIs(a.page, '#lobby', '#lobby');
    await labelIs(b.page, '#lobby', '#lobby');
    assert.equal(await b.page.$eval('#title', (e) => e.textContent), '#other');
    const aMarks = sentMarks(await ircLog(a.page), '#lobby');
    assert.equal(aMarks.at(-1).ts, timeOf(talker, 'news three'), 'A marked up to the newest line');
    assert.deepEqual(sentMarks(await ircLog(b.page, bFrom), '#lobby'), [], 'B sent no marker for a room it did not look at');

    // Not in front of the reader (page hidden, then window not focused):
    // the line counts as unread on A too, no marker is sent until it is back.
    for (const how of ['hidden', 'unfocused']) {
      const from = (await ircLog(a.page)).length;
      await hide(a.page, how);
      await talker.say('#lobby', `while ${how}`);
      await labelIs(a.page, '#lobby', '#lobby, 1 unread');
      await labelIs(b.page, '#lobby', '#lobby, 1 unread');
      await sleep(1500); // longer than the throttle: a marker would have gone by now
      assert.deepEqual(sentMarks(await ircLog(a.page, from), '#lobby'), [], `no marker while ${how}`);
      await show(a.page, how);
      await labelIs(a.page, '#lobby', '#lobby');
      await labelIs(b.page, '#lobby', '#lobby');
      const sent = sentMarks(await ircLog(a.page, from), '#lobby');
      assert.equal(sent.length, 1);
      assert.equal(sent[0].ts, timeOf(talker, `while ${how}`));
    }

    // A burst while A reads: markers at most once a second, the last one at the end.
    const burstFrom = (await ircLog(a.page)).length;
    for (let i = 1; i <= 30; i++) talker.send(`PRIVMSG #lobby :burst ${i}`);
    await talker.waitFor((l) => l.endsWith('PRIVMSG #lobby :burst 30'), 'burst echoed');
    await until(async () => sentMarks(await ircLog(a.page, burstFrom), '#lobby').some((m) => m.ts === timeOf(talker, 'burst 30')), 'marker at the last burst line');
    const burst = sentMarks(await ircLog(a.page, burstFrom), '#lobby');
    for (let i = 1; i < burst.length; i++) {
      assert.ok(burst[i].t - burst[i - 1].t >= 990, `markers ${(burst[i].t - burst[i - 1].t).toFixed(0)} ms apart`);
      assert.ok(burst[i].ts > burst[i - 1].ts);
    }
    await labelIs(b.page, '#lobby', '#lobby');

    // A goes elsewhere; two more lines are unread on both.
    await openRoom(a.page, '#other');
    await titleIs(a.page, '#other');
    await talker.say('#lobby', 'later one');
    await talker.say('#lobby', 'later two');
    await labelIs(a.page, '#lobby', '#lobby, 2 unread');
    await labelIs(b.page, '#lobby', '#lobby, 2 unread');
    const bBefore = await ircLog(b.page);

    // B reloads (a new connection, logged in again): it comes back to #other,
    // and of #lobby's replayed lines only the two after A's marker are unread.
    await b.page.reload();
    await login(b.page, env.url, 'dana', { password: PASSWORD });
    await titleIs(b.page, '#other');
    await labelIs(b.page, '#lobby', '#lobby, 2 unread');
    assert.ok((await ircLog(b.page)).some((e) => e.dir === 'in' && /MARKREAD #lobby timestamp=/.test(e.line)), 'the marker came with the join');

    // A reads again: B's new connection hears of it.
    await openRoom(a.page, '#lobby');
    await labelIs(b.page, '#lobby', '#lobby');
    assert.deepEqual(sentMarks(await ircLog(b.page), '#lobby'), [], 'B (reloaded) sent no marker for #lobby');

    // B opens #lobby: it holds nothing newer than the server's marker, so it
    // sends nothing; a new line it then sees, it marks.
    await openRoom(b.page, '#lobby');
    await titleIs(b.page, '#lobby');
    await talker.say('#lobby', 'seen by both');
    const last = timeOf(talker, 'seen by both');
    // Whichever device is first tells the server; the other then hears of it.
    await until(async () => [...sentMarks(await ircLog(a.page), '#lobby'), ...sentMarks(await ircLog(b.page), '#lobby')].some((m) => m.ts === last), 'a marker for the last line');
    await sleep(1500); // past the throttle: anything else B had to send is sent
    const bSent = sentMarks(await ircLog(b.page), '#lobby').map((m) => m.ts);
    assert.ok(bSent.length <= 1 && bSent.every((ts) => ts === last), `B sent only the new line's time (sent ${bSent.map((t) => new Date(t).toISOString())})`);

    assertNeverBackwards(await ircLog(a.page), 'A');
    assertNeverBackwards(bBefore, 'B');
    assertNeverBackwards(await ircLog(b.page), 'B after reload');
    assert.deepEqual(a.problems.errors, []);
    assert.deepEqual(b.problems.errors, []);
  } finally {
    await env.teardown();
  }
});
