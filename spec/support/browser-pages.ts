/**
 * Test pages for the browser specs. Each loads one real browser client from /vendor/ and
 * exposes the same small driver as `window.T`, which the specs call through
 * `TestPage.run('T.start(...)')`:
 *
 *   T.start(url)               handshake; resolves { clientId, transport } once connected
 *   T.subscribe(channel)       resolves when the server acknowledged it
 *   T.publish(channel, data)   sends (acknowledged where the client reports acks)
 *   T.waitFor(n, ms)           resolves with the first n messages received, rejects after ms
 *   T.transport()              the connection type in use now
 *   T.stop()                   disconnects
 *   T.received                 [{ channel, data }] in arrival order
 */

/** Shared part: the received list and a bounded wait on it (no event to await in page code). */
const COMMON = `
window.T = window.T || {};
T.received = [];
T.waitFor = function (n, ms) {
  return new Promise(function (resolve, reject) {
    var started = Date.now();
    (function check() {
      if (T.received.length >= n) return resolve(T.received.slice(0, n));
      if (Date.now() - started > ms) return reject(new Error('page: have ' + T.received.length + ' of ' + n + ' messages after ' + ms + ' ms: ' + JSON.stringify(T.received)));
      setTimeout(check, 20);
    })();
  });
};
`;

/** Options of the page builders. */
export interface PageOptions {
  /** Keep the client's websocket transport (default false: the HTTP transports only). */
  websocket?: boolean;
  /** Faye only: keep the client's eventsource transport (default false). */
  eventsource?: boolean;
}

/** The CometD JavaScript client (npm `cometd`, ES modules); websocket unregistered unless asked for. */
export function cometdPage({ websocket = false }: PageOptions = {}): string {
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>cometd</title></head><body>
<script>${COMMON}</script>
<script type="module">
import { CometD } from '/vendor/cometd/cometd.js';
let cometd = null;
T.metaConnects = [];
T.handshakes = [];
T.start = (url, config) => new Promise((resolve, reject) => {
  cometd = new CometD();
  ${websocket ? '' : "cometd.unregisterTransport('websocket');"}
  cometd.configure(Object.assign({ url, logLevel: 'warn' }, config || {}));
  cometd.addListener('/meta/handshake', (m) => T.handshakes.push({ successful: m.successful, transport: cometd.getTransport() && cometd.getTransport().type }));
  let done = false;
  cometd.addListener('/meta/connect', (m) => {
    T.metaConnects.push({ successful: m.successful, advice: m.advice });
    if (m.successful && !done) {
      done = true;
      resolve({ clientId: cometd.getClientId(), transport: cometd.getTransport().type });
    }
  });
  cometd.handshake();
});
T.subscribe = (channel) => new Promise((resolve, reject) => {
  cometd.subscribe(channel, (m) => T.received.push({ channel: m.channel, data: m.data }), (reply) => {
    if (reply.successful) resolve(true); else reject(new Error('subscribe failed: ' + JSON.stringify(reply)));
  });
});
T.publish = (channel, data) => new Promise((resolve, reject) => {
  cometd.publish(channel, data, (reply) => {
    if (reply.successful) resolve(true); else reject(new Error('publish failed: ' + JSON.stringify(reply)));
  });
});
T.transport = () => cometd.getTransport().type;
T.stop = () => new Promise((resolve) => cometd.disconnect(() => resolve(true)));
T.ready = true;
</script>
</body></html>`;
}

/** {@link cometdPage} on the HTTP transports, as the long-polling and callback-polling specs use it. */
export const COMETD_PAGE = cometdPage();

/** Faye's browser bundle (npm `faye`, client/faye-browser.js); websocket and eventsource disabled unless asked for. */
export function fayePage({ websocket = false, eventsource = false }: PageOptions = {}): string {
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>faye</title></head><body>
<script src="/vendor/faye/faye-browser.js"></script>
<script>${COMMON}
var client = null;
T.start = function (url) {
  client = new Faye.Client(url);
  ${websocket ? '' : "client.disable('websocket');"}
  ${eventsource ? '' : "client.disable('eventsource');"}
  return new Promise(function (resolve) {
    client.connect(function () {
      resolve({ clientId: client._dispatcher.clientId, transport: client._dispatcher.connectionType });
    });
  });
};
T.subscribe = function (channel) {
  return new Promise(function (resolve, reject) {
    client.subscribe(channel, function (data) { T.received.push({ channel: channel, data: data }); })
      .then(function () { resolve(true); }, function (e) { reject(new Error('subscribe failed: ' + JSON.stringify(e))); });
  });
};
T.publish = function (channel, data) {
  return new Promise(function (resolve, reject) {
    client.publish(channel, data).then(function () { resolve(true); }, function (e) { reject(new Error('publish failed: ' + JSON.stringify(e))); });
  });
};
T.transport = function () { return client._dispatcher.connectionType; };
T.stop = function () { client.disconnect(); return true; };
T.ready = true;
</script>
</body></html>`;
}

/** {@link fayePage} on the HTTP transports. */
export const FAYE_PAGE = fayePage();

/**
 * Dojo 1.7.12's own dojox.cometd (npm `dojo` + `dojox`), loaded by the legacy synchronous
 * loader. It goes cross-domain (callback-polling) by itself when the URL is on another origin.
 */
export const DOJO_PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>dojo</title></head><body>
<script>var dojoConfig = { async: false, baseUrl: '/vendor/dojo/' };</script>
<script src="/vendor/dojo/dojo.js"></script>
<script>${COMMON}
dojo.require('dojox.cometd');
T.metas = [];
T.start = function (url) {
  return new Promise(function (resolve, reject) {
    var handle = dojo.subscribe('/cometd/meta', function (e) {
      T.metas.push({ action: e.action, successful: e.successful });
      if (e.action === 'connect' && e.successful) {
        dojo.unsubscribe(handle);
        resolve({ clientId: dojox.cometd.clientId, transport: dojox.cometd.currentTransport._connectionType });
      }
    });
    dojox.cometd.init(url);
  });
};
T.subscribe = function (channel) {
  return new Promise(function (resolve, reject) {
    var d = dojox.cometd.subscribe(channel, function (m) { T.received.push({ channel: m.channel, data: m.data }); });
    d.addCallbacks(function () { resolve(true); }, function (e) { reject(new Error('subscribe failed: ' + e)); });
  });
};
T.publish = function (channel, data) { dojox.cometd.publish(channel, data); return true; };
T.transport = function () { return dojox.cometd.currentTransport._connectionType; };
T.stop = function () { dojox.cometd.disconnect(); return true; };
T.ready = true;
</script>
</body></html>`;
