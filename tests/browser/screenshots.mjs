// Makes docs/web-desktop.png (1280x800), docs/web-phone.png (390x844, the
// room) and docs/web-phone-drawer.png (the same with the room list open)
// from a real server with a few messages. Not part of the test run:
//   node tests/browser/screenshots.mjs
// The reactions are emoji: Chromium draws them only with a colour emoji font
// installed (on Debian: apt-get install -y fonts-noto-color-emoji), else
// they come out as empty boxes.
import { join } from 'node:path';
import { setup, openBrowser, login, IrcClient, until, logTexts, repoRoot } from './lib.mjs';

const env = await setup();
try {
  const irc = await new IrcClient(env.srv.ports.irc, 'grace').connect();
  const irc2 = await new IrcClient(env.srv.ports.irc, 'linus').connect();
  env.track(irc); env.track(irc2);
  await irc.join('#lobby');
  await irc2.join('#lobby');
  irc.send('TOPIC #lobby :Welcome! Be kind. Notes at https://example.com/notes');
  await irc.say('#lobby', 'good morning everyone');
  await irc2.say('#lobby', 'morning grace! is the build green?');
  await irc.say('#lobby', 'yes, all tests pass: https://example.com/ci/1234');
  await irc2.say('#lobby', 'great, merging now');
  const desk = env.track(await openBrowser({ width: 1280, height: 800 }));
  await login(desk.page, env.url, 'ada');
  await until(async () => (await logTexts(desk.page)).includes('great, merging now'), 'replay');
  // The phone is there before the reply and the reaction: the server's
  // replay does not carry client-only tags, so a later joiner would not
  // see them.
  const phone = env.track(await openBrowser({ width: 390, height: 844 }));
  await login(phone.page, env.url, 'pat');
  await until(async () => (await logTexts(phone.page)).includes('great, merging now'), 'phone replay');
  const msgid = (await irc2.waitFor((l) => l.includes('PRIVMSG #lobby :great, merging now'), 'msgid')).match(/msgid=([^;\s]+)/)?.[1];
  if (msgid) {
    irc.send(`@+draft/react=🎉;+draft/reply=${msgid} TAGMSG #lobby`);
    irc.send(`@+draft/reply=${msgid} PRIVMSG #lobby :I'll watch the deploy`);
  }
  irc2.send('AWAY :lunch');
  await desk.page.getByRole('textbox', { name: 'Message', exact: true }).fill('hello! ada here');
  await desk.page.keyboard.press('Enter');
  await until(async () => (await logTexts(desk.page)).includes('hello! ada here'), 'own line');
  await desk.page.getByRole('textbox', { name: 'Message', exact: true }).fill('/join #random');
  await desk.page.keyboard.press('Enter');
  await until(() => desk.page.$eval('#title', (e) => e.textContent === '#random'), 'random');
  await irc.say('#lobby', 'ada: lunch at noon?');
  await desk.page.getByRole('navigation', { name: 'Rooms' }).getByRole('button', { name: /^#lobby/ }).click();
  irc.send('@+typing=active TAGMSG #lobby');
  await until(async () => (await desk.page.$eval('#typing', (e) => e.textContent)).length > 0, 'typing');
  await desk.page.screenshot({ path: join(repoRoot, 'docs', 'web-desktop.png') });

  await until(async () => (await logTexts(phone.page)).includes('ada: lunch at noon?'), 'phone: the last line');
  await until(() => phone.page.locator('#log .msg .chip').count(), 'phone: the reaction');
  await phone.page.screenshot({ path: join(repoRoot, 'docs', 'web-phone.png') });
  await phone.page.getByRole('button', { name: 'Rooms' }).click();
  // The drawer slides in (.2 s): wait until it is in place.
  await until(async () => (await phone.page.locator('#sidebar').boundingBox())?.x === 0, 'drawer open');
  await phone.page.screenshot({ path: join(repoRoot, 'docs', 'web-phone-drawer.png') });
  console.log('wrote docs/web-desktop.png, docs/web-phone.png and docs/web-phone-drawer.png');
} finally {
  await env.teardown();
}
