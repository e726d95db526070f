/**
 * A CometD app page for the iframe streaming specs: the CometD JavaScript client (npm
 * `cometd`, ES modules) with a global `cometd` object, plus the one script tag that turns on
 * iframe streaming — the transport served by the Bayeux handler at `/cometd/iframe-transport.js`.
 *
 * Driver, called through `TestPage.run(...)`:
 *
 *   T.start(url, config)       handshake; resolves { clientId, transport } once connected
 *   T.subscribe(channel)       resolves when the server acknowledged it
 *   T.publish(channel, data)   resolves when the server acknowledged it
 *   T.waitFor(n, ms)           resolves with the first n messages received, rejects after ms
 *   T.received                 [{ channel, data }] in arrival order
 *   T.metaConnects             [{ successful, advice }] of every /meta/connect reply
 *   T.frames                   how many streaming iframes the transport has created
 *   T.stop()                   disconnects
 */
export const IFRAME_APP_PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>cometd iframe</title></head><body>
<script type="module">
import { CometD } from '/vendor/cometd/cometd.js';
window.cometd = new CometD();
cometd.unregisterTransport('websocket');
window.T = { received: [], metaConnects: [], frames: 0 };
new MutationObserver((records) => {
  for (const r of records) for (const n of r.addedNodes) if (n.tagName === 'IFRAME') T.frames++;
}).observe(document.body, { childList: true });
T.waitFor = (n, ms) => new Promise((resolve, reject) => {
  const started = Date.now();
  (function check() {
    if (T.received.length >= n) return resolve(T.received.slice(0, n));
    if (Date.now() - started > ms) return reject(new Error('page: have ' + T.received.length + ' of ' + n + ' messages after ' + ms + ' ms: ' + JSON.stringify(T.received)));
    setTimeout(check, 20);
  })();
});
T.start = (url, config) => new Promise((resolve) => {
  cometd.configure(Object.assign({ url, logLevel: 'warn' }, config || {}));
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
T.transportTypes = () => cometd.getTransportTypes();
T.stop = () => new Promise((resolve) => cometd.disconnect(() => resolve(true)));
T.ready = true;
</script>
<script src="/cometd/iframe-transport.js"></script>
</body></html>`;
