// The demo chat page: the CometD JavaScript client (npm `cometd`, served by the demo under
// /vendor/cometd/) talking to bayeux-server over WebSocket (long-polling where it cannot).
import { CometD } from '/vendor/cometd/cometd.js';

const $ = (id) => document.getElementById(id);
// WebSocket first, as the client registers it; if the socket cannot open (a proxy that
// drops upgrades), the client falls back to long-polling by itself.
const cometd = new CometD();
cometd.configure({ url: new URL('/cometd', location.href).href, logLevel: 'warn' });

/** The name we joined with, or null. Kept across re-handshakes so we can join again. */
let me = null;

function showError(text) {
  $('error').textContent = text ?? '';
}

function setStatus(text, up) {
  $('status').textContent = text;
  $('status').classList.toggle('up', up);
}

function addLine(data) {
  const li = document.createElement('li');
  if (data.system) {
    li.className = 'system';
    li.textContent = data.text;
  } else {
    const who = document.createElement('span');
    who.className = 'who';
    who.textContent = data.user;
    li.append(who, document.createTextNode(data.text));
  }
  const log = $('log');
  const atBottom = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
  log.append(li);
  if (atBottom) log.scrollTop = log.scrollHeight;
}

function showMembers(names) {
  $('members').replaceChildren(
    ...names.map((n) => {
      const li = document.createElement('li');
      li.textContent = n === me ? `${n} (you)` : n;
      return li;
    }),
  );
}

function showRoom(inside) {
  $('room').hidden = !inside;
  $('join').hidden = inside;
  (inside ? $('text') : $('name')).focus();
}

/** Asks the server to add us to the room: a request/response on /service/members. */
function join(name) {
  cometd.remoteCall('members', { name }, 5000, (reply) => {
    if (!reply.successful) return showError(`join failed: ${reply.error}`);
    if (!reply.data.ok) {
      me = null;
      showRoom(false);
      return showError(reply.data.error);
    }
    me = reply.data.name;
    showError('');
    showMembers(reply.data.members);
    showRoom(true);
  });
}

// Every (re-)handshake starts a new session without subscriptions: subscribe here, and
// join again if we had joined (the server forgets members whose session ended).
cometd.addListener('/meta/handshake', (reply) => {
  if (!reply.successful) return;
  cometd.batch(() => {
    cometd.subscribe('/demo/time', (m) => {
      $('clock').textContent = new Date(m.data.now).toLocaleTimeString();
    });
    cometd.subscribe('/chat/demo', (m) => addLine(m.data));
    cometd.subscribe('/members/demo', (m) => showMembers(m.data.members));
  });
  if (me !== null) join(me);
});

cometd.addListener('/meta/connect', (reply) => {
  if (cometd.isDisconnected()) return;
  if (reply.successful) setStatus(`connected (${cometd.getTransport().type})`, true);
  else setStatus('connection lost, retrying…', false);
});

$('join').addEventListener('submit', (e) => {
  e.preventDefault();
  join($('name').value.trim());
});

$('say').addEventListener('submit', (e) => {
  e.preventDefault();
  const text = $('text').value;
  if (text.trim() === '') return;
  cometd.publish('/chat/demo', { user: me, text }, (reply) => {
    if (reply.successful) {
      $('text').value = '';
      showError('');
    } else {
      showError(`not sent: ${reply.error}`);
    }
  });
});

$('leave').addEventListener('click', () => {
  me = null;
  cometd.disconnect(() => {
    setStatus('left; connecting again to watch…', false);
    showRoom(false);
    $('log').replaceChildren();
    $('members').replaceChildren();
    cometd.handshake();
  });
});

cometd.handshake();
