// Entry point: picks the server address (same host's /irc, or ?server=ws[s]://...),
// starts the page and registers the service worker. Nothing else.

import { Ui } from './ui.js';

function serverUrl() {
  const q = new URLSearchParams(location.search).get('server');
  if (q && /^wss?:\/\/[^\s]+$/i.test(q)) return q;
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${location.host}/irc`;
}

const ui = new Ui(serverUrl());
window.chatroomUi = ui; // for the browser tests and for debugging from the console
ui.autoConnect();

if ('serviceWorker' in navigator && window.isSecureContext) {
  navigator.serviceWorker.register('sw.js').catch(() => { /* the app works without it */ });
}
