/**
 * The demo (`npm start`) works: its page and the CometD client modules the page imports are
 * served, and two real CometD clients can join, chat, see the member list and the clock,
 * and see each other leave.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import type { Message } from 'cometd';
import { createDemo, type Demo } from '../examples/demo/app.js';
import { CometDClient, closeAllCometDClients } from './support/cometd-client.js';
import { Inbox } from './support/wait.js';

describe('demo chat', function () {
  let demo: Demo;
  let server: http.Server;
  let base = '';

  beforeEach(async function () {
    demo = createDemo({ tickMs: 50 });
    server = http.createServer(demo.app);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterEach(async function () {
    await closeAllCometDClients();
    await demo.stop();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it('serves the page and every module of the CometD client it imports', async function () {
    const page = await fetch(`${base}/`);
    expect(page.status).to.equal(200);
    expect(await page.text()).to.contain('<script type="module" src="/chat.js">');

    // Follow the static imports from the page's script as a browser would, by URL.
    const seen = new Set<string>();
    const pending = [`${base}/chat.js`];
    while (pending.length > 0 && seen.size < 100) {
      const url = pending.pop()!;
      if (seen.has(url)) continue;
      seen.add(url);
      const res = await fetch(url);
      expect(res.status, url).to.equal(200);
      expect(res.headers.get('content-type'), url).to.match(/javascript/);
      const source = await res.text();
      for (const m of source.matchAll(/^\s*(?:import|export)\s[^;]*?\bfrom\s*["']([^"']+)["']/gm)) {
        pending.push(new URL(m[1]!, url).href);
      }
    }
    const paths = [...seen].map((u) => new URL(u).pathname);
    expect(paths).to.include.members(['/vendor/cometd/cometd.js', '/vendor/cometd/Client.js', '/vendor/cometd/LongPollingTransport.js']);
  });

  it('lets two CometD clients join, chat, and see members come and go', async function () {
    const ann = new CometDClient(`${base}/cometd`);
    const bob = new CometDClient(`${base}/cometd`);
    const annChat = new Inbox<Message>();
    const annMembers = new Inbox<Message>();
    const bobChat = new Inbox<Message>();
    const bobTime = new Inbox<Message>();
    await ann.handshake();
    await bob.handshake();
    await ann.subscribe('/chat/demo', annChat.push);
    await ann.subscribe('/members/demo', annMembers.push);
    await bob.subscribe('/chat/demo', bobChat.push);
    await bob.subscribe('/demo/time', bobTime.push);

    const joined = await ann.remoteCall('members', { name: 'Ann' });
    expect(joined.data).to.deep.equal({ ok: true, name: 'Ann', members: ['Ann'] });
    const taken = await bob.remoteCall('members', { name: ' ann ' });
    expect(taken.data).to.deep.equal({ ok: false, error: 'that name is taken' });
    const bobJoined = await bob.remoteCall('members', { name: 'Bob' });
    expect(bobJoined.data).to.deep.equal({ ok: true, name: 'Bob', members: ['Ann', 'Bob'] });
    await annMembers.until((m) => (m.data as { members: string[] }).members.length === 2, 'the member list with Bob');

    await ann.publish('/chat/demo', { user: 'Ann', text: 'hello ✓' });
    const said = await bobChat.until((m) => (m.data as { user?: string }).user === 'Ann', "Ann's message");
    expect(said.data).to.deep.equal({ user: 'Ann', text: 'hello ✓' });

    // The server checks the sender: Bob cannot speak as Ann.
    let refused = '';
    await bob.publish('/chat/demo', { user: 'Ann', text: 'not me' }).catch((err: Error) => (refused = err.message));
    expect(refused).to.contain('404::message_deleted');

    const tick = await bobTime.nth(0, 'a clock tick on /demo/time');
    expect(Date.parse((tick.data as { now: string }).now)).to.be.a('number').and.not.NaN;

    await bob.disconnect();
    await annChat.until((m) => (m.data as { text?: string }).text === 'Bob left', 'the notice that Bob left');
    const last = await annMembers.until((m) => (m.data as { members: string[] }).members.length === 1, 'the member list without Bob');
    expect(last.data).to.deep.equal({ members: ['Ann'] });
    expect(bobChat.items.some((m) => (m.data as { text?: string }).text === 'not me')).to.equal(false);
  });
});
