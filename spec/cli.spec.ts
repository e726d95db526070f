/**
 * The standalone server, `bayeux-server` (cli/main.ts), run as a child process the way a user
 * runs the bin: configuration errors (exit code 2, the option named as the user wrote it),
 * --help and --version; the in-memory engine configured by a file, variables and flags, with
 * the real CometD and Faye clients over WebSocket and long-polling; HTTPS; the Redis engine
 * with /readyz following a Redis outage; and --workers 2 on Redis, where each worker in turn
 * is sent SIGTERM while a numbered sequence is published: every subscriber gets every message
 * once, in order, and the primary forks a replacement each time.
 */
import http from 'node:http';
import https from 'node:https';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { expect } from 'chai';
import { generate } from 'selfsigned';
import WebSocket from 'ws';
import { CONFIG_KEYS } from '../cli/config.js';
import { OPTION_DOCS, envName, flagName } from '../cli/option-docs.js';
import { CliProcess, isAlive, runCli, stopAllCli, type Finished } from './support/cli-process.js';
import { CometDClient, closeAllCometDClients } from './support/cometd-client.js';
import { FayeClient, closeAllFayeClients } from './support/faye-client.js';
import { OutageProxy, closeAllProxies } from './support/outage-proxy.js';
import { request } from './support/raw-client.js';
import { RedisServer, stopAllRedisServers } from './support/redis-server.js';
import { Inbox, waitUntil, withTimeout } from './support/wait.js';

const TOKEN = 'cli-spec-token-0123456789abcdef';
const LOCAL = ['--port', '0', '--host', '127.0.0.1'];

/** A temporary directory for config files and certificates, removed after the run. */
const dirs: string[] = [];
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'bayeux-cli-'));
  dirs.push(dir);
  return dir;
}

/** A handshake over plain HTTP; resolves with the reply. */
async function handshake(url: string, ext?: Record<string, unknown>): Promise<Record<string, unknown>> {
  const r = await request(url, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify([{ channel: '/meta/handshake', version: '1.0', supportedConnectionTypes: ['long-polling'], ...(ext ? { ext } : {}) }]),
  });
  expect(r.status, r.text).to.equal(200);
  return (JSON.parse(r.text) as Record<string, unknown>[])[0]!;
}

/** A request on a connection of its own (no keep-alive: each may reach another worker); resolves with status and body. */
function send(url: string, init: { method?: string; body?: string; headers?: Record<string, string>; ca?: string } = {}, ms = 5000): Promise<{ status: number; text: string }> {
  return withTimeout(
    new Promise((resolve, reject) => {
      const target = new URL(url);
      const options = { method: init.method ?? 'GET', headers: init.headers ?? {}, agent: false as const, ...(init.ca ? { ca: init.ca } : {}) };
      const req = (target.protocol === 'https:' ? https : http).request(target, options, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(init.body);
    }),
    `${init.method ?? 'GET'} ${url}`,
    ms,
  );
}

/** Publishes through the HTTP publish API. */
function publish(cli: CliProcess, channel: string, data: unknown): Promise<{ status: number; text: string }> {
  return send(`${cli.url}/publish`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ channel, data }),
  });
}

describe('bayeux-server CLI', function () {
  this.timeout(30_000);

  after(async function () {
    await closeAllCometDClients();
    await closeAllFayeClients();
    await stopAllCli();
    await closeAllProxies();
    await stopAllRedisServers();
    await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
  });

  describe('configuration errors: exit code 2, the option named as written', function () {
    interface ErrorCase {
      name: string;
      args?: string[];
      env?: Record<string, string>;
      /** Written to a config file given with --config. */
      file?: string;
      expect: (string | RegExp)[];
      /** Must not appear (a secret). */
      hide?: string;
    }
    const CASES: ErrorCase[] = [
      { name: 'an unknown flag, with a guess', args: ['--prot', '8000'], expect: ['unknown option --prot (did you mean --port?)'] },
      { name: 'a port that is not a number', args: ['--port', 'abc'], expect: ['--port: must be a number (got "abc")'] },
      { name: 'a port out of range', args: ['--port', '70000'], expect: ['--port: must be at most 65535 (got 70000)'] },
      { name: 'a bad variable', env: { BAYEUX_TIMEOUT: '-1' }, expect: ['BAYEUX_TIMEOUT: must be at least 0 (got -1)'] },
      { name: 'an unknown variable of ours', env: { BAYEUX_MAX_INTERVALL: '1' }, expect: ['unknown environment variable BAYEUX_MAX_INTERVALL (did you mean BAYEUX_MAX_INTERVAL?)'] },
      { name: 'an unknown key in the config file', file: '{ "maxIntervall": 1000 }', expect: [/unknown key "maxIntervall" in \S+\.json \(did you mean maxInterval\?\)/] },
      { name: 'a bad value in the config file', file: '{ "maxInterval": "soon" }', expect: [/maxInterval in \S+\.json: must be a number \(got "soon"\)/] },
      { name: 'a config file that is not JSON', file: '{ port: 1 ', expect: [/--config: \S+\.json is not valid JSON/] },
      { name: 'a config file that cannot be read', args: ['--config', '/nonexistent/bayeux.json'], expect: ['--config: cannot read /nonexistent/bayeux.json (ENOENT)'] },
      { name: '--workers without --redis', args: ['--workers', '2'], expect: ['--workers: needs --redis'] },
      { name: 'BAYEUX_WORKERS without Redis', env: { BAYEUX_WORKERS: '2' }, expect: ['BAYEUX_WORKERS: needs --redis'] },
      { name: 'an unknown transport', args: ['--transports', 'websocket,carrier-pigeon'], expect: ['--transports: must be one of websocket, long-polling, callback-polling, iframe, eventsource (got "carrier-pigeon")'] },
      { name: 'an unknown extension', args: ['--extensions', 'ack,gzip'], expect: ['--extensions: must be one of ack, timesync (got "gzip")'] },
      { name: 'an unknown Redis fan-out mode', args: ['--redis', 'redis://127.0.0.1:1', '--redis-fanout', 'fast'], expect: ['--redis-fanout: must be logs or queues (got "fast")'] },
      { name: 'a negative drain timeout', args: ['--drain-timeout=-5'], expect: ['--drain-timeout: must be at least 0 (got -5)'] },
      { name: 'a CORS origin of "*"', args: ['--cors', '*'], expect: ['--cors: cannot be "*"'] },
      { name: 'a mount path the server keeps for itself', args: ['--path', '/healthz'], expect: ['--path: cannot be one of /healthz'] },
      { name: 'a TLS key without its certificate', args: ['--tls-key', 'key.pem'], expect: ['--tls-cert: is needed too'] },
      { name: 'an unreadable TLS key', args: ['--tls-key', '/nonexistent/key.pem', '--tls-cert', '/nonexistent/cert.pem'], expect: ['--tls-key: cannot read /nonexistent/key.pem (ENOENT)'] },
      { name: 'a short publish token, not echoed', args: ['--publish-token', 'hunter2'], expect: ['--publish-token: must be at least 16 characters'], hide: 'hunter2' },
      { name: 'a positional argument', args: ['8000'], expect: ["unexpected argument '8000'"] },
    ];
    const results = new Map<string, Finished>();

    before(async function () {
      const dir = await tempDir();
      // Four at a time: each is a Node process compiling the CLI with tsx.
      const queue = CASES.map((c, i) => async () => {
        const args = [...(c.args ?? [])];
        if (c.file !== undefined) {
          const file = join(dir, `case-${i}.json`);
          await writeFile(file, c.file);
          args.push('--config', file);
        }
        results.set(c.name, await runCli(args, c.env));
      });
      await Promise.all(
        Array.from({ length: 4 }, async () => {
          for (let job = queue.shift(); job; job = queue.shift()) await job();
        }),
      );
    });

    for (const c of CASES) {
      it(`refuses ${c.name}`, function () {
        const r = results.get(c.name)!;
        expect(r.code, r.stderr).to.equal(2);
        expect(r.stdout).to.equal('');
        for (const e of c.expect) {
          if (typeof e === 'string') expect(r.stderr).to.include(`bayeux-server: ${e}`);
          else expect(r.stderr).to.match(e);
        }
        expect(r.stderr).to.include('Run bayeux-server --help for the options.');
        if (c.hide !== undefined) expect(r.stderr).to.not.include(c.hide);
      });
    }

    it('--help lists every option of the schema with its flag, variable, config key and default; exit 0', async function () {
      expect(Object.keys(OPTION_DOCS).sort(), 'a help entry for each schema key').to.deep.equal([...CONFIG_KEYS].sort());
      const [long, short] = await Promise.all([runCli(['--help']), runCli(['-h'])]);
      expect(long.code, long.stderr).to.equal(0);
      expect(short.stdout).to.equal(long.stdout);
      for (const key of CONFIG_KEYS) {
        expect(long.stdout, key).to.include(`--${flagName(key)}`);
        expect(long.stdout, key).to.include(`env ${envName(key)}; config key "${key}"`);
      }
      expect(long.stdout).to.include('--no-metrics');
      expect(long.stdout).to.include('default: 8000; env BAYEUX_PORT');
      expect(long.stdout).to.include('default: 30000; env BAYEUX_TIMEOUT');
      expect(long.stdout).to.include('default: /cometd; env BAYEUX_PATH');
    });

    it('--version prints the package version', async function () {
      const r = await runCli(['--version']);
      const { createRequire } = await import('node:module');
      const pkg = createRequire(import.meta.url)('../package.json') as { version: string };
      expect(r).to.deep.include({ code: 0, stdout: `${pkg.version}\n`, stderr: '' });
    });
  });

  describe('in-memory engine, configured by a file, variables and flags', function () {
    let cli: CliProcess;

    before(async function () {
      const file = join(await tempDir(), 'bayeux.json');
      await writeFile(file, JSON.stringify({ path: '/bayeux', timeout: 25_000, interval: 250, maxInterval: 8000 }));
      // timeout: the variable beats the file; interval: the flag beats the variable and the file.
      cli = await CliProcess.start([...LOCAL, '--config', file, '--interval', '0', '--publish-token', TOKEN], {
        BAYEUX_TIMEOUT: '4000',
        BAYEUX_INTERVAL: '500',
      });
    });

    it('prints where it listens: the port it got, the path from the file, the engine and its pid', function () {
      expect(cli.url).to.match(/^http:\/\/127\.0\.0\.1:\d+\/bayeux$/);
      expect(cli.port).to.be.greaterThan(0);
      expect(cli.lines.items[0]).to.equal(`bayeux-server listening on ${cli.url} (engine memory, pid ${cli.pid})`);
    });

    it('honours flags over variables over the file (the advice of a handshake)', async function () {
      const reply = await handshake(cli.url);
      expect(reply).to.deep.include({ successful: true, advice: { reconnect: 'retry', interval: 0, timeout: 4000 } });
    });

    it('answers /healthz and /readyz with 200, other methods with 405, other paths with 404', async function () {
      expect(await send(`${cli.origin}/healthz`)).to.deep.equal({ status: 200, text: '{"status":"ok"}\n' });
      expect(await send(`${cli.origin}/readyz`)).to.deep.equal({ status: 200, text: '{"status":"ready","engine":"up","draining":false}\n' });
      expect((await send(`${cli.origin}/healthz`, { method: 'POST', body: 'x' })).status).to.equal(405);
      expect((await send(`${cli.origin}/cometd`)).status, 'the default path is not mounted').to.equal(404);
      expect((await send(`${cli.origin}/elsewhere`)).status).to.equal(404);
    });

    it('serves /metrics, and /monitor behind the token', async function () {
      const metrics = await send(`${cli.origin}/metrics`);
      expect(metrics.status).to.equal(200);
      expect(metrics.text).to.match(/^bayeux_sessions \d+$/m);
      expect((await send(`${cli.origin}/monitor`)).status).to.equal(401);
      expect((await send(`${cli.origin}/monitor`, { headers: { Authorization: `Bearer ${TOKEN}` } })).status).to.equal(200);
    });

    it('CometD and Faye, on WebSocket and long-polling, exchange messages through it; the publish API reaches them all', async function () {
      const clients = {
        'cometd-ws': new CometDClient(cli.url, {}, { transport: 'websocket' }),
        'cometd-lp': new CometDClient(cli.url),
        'faye-ws': new FayeClient(cli.url, {}, { transport: 'websocket' }),
        'faye-lp': new FayeClient(cli.url),
      };
      const got = Object.fromEntries(Object.keys(clients).map((name) => [name, new Inbox<string>()]));
      for (const [name, c] of Object.entries(clients)) {
        if (c instanceof CometDClient) {
          await c.handshake();
          await c.subscribe('/chat/room', (m) => got[name]!.push((m.data as { from: string }).from));
        } else await c.subscribe('/chat/room', (m) => got[name]!.push((m.data as { from: string }).from));
      }
      await waitUntil(() => clients['faye-ws'].connectionType === 'websocket', 'Faye to move to WebSocket');
      expect((clients['cometd-ws'].cometd.getTransport() as unknown as { type: string }).type).to.equal('websocket');
      expect((clients['cometd-lp'].cometd.getTransport() as unknown as { type: string }).type).to.equal('long-polling');
      expect(clients['faye-lp'].connectionType).to.equal('long-polling');

      for (const [name, c] of Object.entries(clients)) await c.publish('/chat/room', { from: name });
      const r = await publish(cli, '/chat/room', { from: 'http' });
      expect(r.status, r.text).to.equal(200);
      expect(JSON.parse(r.text)).to.deep.equal({ results: [{ channel: '/chat/room', sessions: 4 }] });
      const everyone = [...Object.keys(clients), 'http'].sort();
      for (const name of Object.keys(clients)) {
        await got[name]!.atLeast(5, `${name} to receive every message`);
        expect([...got[name]!.items].sort(), name).to.deep.equal(everyone);
      }
    });

    it('SIGTERM: drains, closes and exits 0', async function () {
      const c = new CometDClient(cli.url);
      await c.handshake();
      await c.connects.atLeast(1, 'a first connect');
      const started = Date.now();
      expect(await cli.terminate(10_000)).to.deep.equal({ code: 0, signal: null });
      expect(Date.now() - started, 'no wait for the 4 s long poll').to.be.below(4000);
    });
  });

  describe('defaults and switches', function () {
    it('mounts /cometd, offers only the transports asked for, and without a token or metrics serves no endpoints', async function () {
      const cli = await CliProcess.start([...LOCAL, '--transports', 'long-polling,callback-polling', '--no-metrics']);
      const reply = await handshake(cli.url);
      expect(cli.url).to.match(/\/cometd$/);
      expect(reply).to.deep.include({ successful: true, supportedConnectionTypes: ['long-polling', 'callback-polling'] });
      expect((reply.advice as { timeout: number }).timeout).to.equal(30_000);
      expect((await send(`${cli.origin}/metrics`)).status).to.equal(404);
      expect((await send(`${cli.origin}/monitor`)).status).to.equal(404);
      const pub = await send(`${cli.url}/publish`, { method: 'POST', headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json' }, body: '{"channel":"/a","data":1}' });
      // No publish API: the Bayeux endpoint takes the request as a Bayeux publish, without a session.
      expect(pub.status).to.equal(200);
      expect(JSON.parse(pub.text)[0]).to.deep.include({ channel: '/a', successful: false, error: '401::client_id_missing' });
      expect(await cli.terminate()).to.deep.equal({ code: 0, signal: null });
    });
  });

  describe('extensions', function () {
    const ASK = { ack: true, timesync: { tc: Date.now(), l: 0, o: 0 } };

    it('runs ack and timesync by default: a handshake that asks for them gets them', async function () {
      const cli = await CliProcess.start(LOCAL);
      const ext = (await handshake(cli.url, ASK)).ext as Record<string, unknown> | undefined;
      expect(ext?.ack, 'acknowledged delivery agreed').to.equal(true);
      expect(ext?.timesync, 'the server clock').to.include.keys('tc', 'ts', 'p', 'a');
      expect(await cli.terminate()).to.deep.equal({ code: 0, signal: null });
    });

    it('--extensions "" runs none; --extensions timesync only that one', async function () {
      const none = await CliProcess.start([...LOCAL, '--extensions', '']);
      expect((await handshake(none.url, ASK)).ext, 'no extension answered').to.equal(undefined);
      expect(await none.terminate()).to.deep.equal({ code: 0, signal: null });
      const one = await CliProcess.start([...LOCAL, '--extensions', 'timesync']);
      const ext = (await handshake(one.url, ASK)).ext as Record<string, unknown>;
      expect(ext).to.have.property('timesync');
      expect(ext).to.not.have.property('ack');
      expect(await one.terminate()).to.deep.equal({ code: 0, signal: null });
    });
  });

  describe('without prom-client', function () {
    it('says once at start that metrics are off, and answers /metrics 501 with the hint', async function () {
      // A module hook that makes prom-client impossible to find, as in an app that did not install it.
      const dir = await tempDir();
      await writeFile(
        join(dir, 'hooks.mjs'),
        `export async function resolve(specifier, context, next) {
  if (specifier === 'prom-client') {
    const err = new Error("Cannot find package 'prom-client' imported from " + context.parentURL);
    err.code = 'ERR_MODULE_NOT_FOUND';
    throw err;
  }
  return next(specifier, context);
}
`,
      );
      await writeFile(join(dir, 'register.mjs'), "import { register } from 'node:module';\nregister('./hooks.mjs', import.meta.url);\n");
      const cli = await CliProcess.start(LOCAL, {}, 20_000, ['--import', pathToFileURL(join(dir, 'register.mjs')).href]);
      const warning = 'bayeux-server: metrics are off: the prom-client package is not installed (npm i prom-client to serve /metrics, --no-metrics to silence this)';
      await waitUntil(() => cli.stderr.includes(warning), 'the warning');
      expect(cli.stderr.split('\n').filter((l) => l.includes('metrics are off')), 'said once').to.have.length(1);
      const r = await send(`${cli.origin}/metrics`);
      expect(r).to.deep.equal({ status: 501, text: '501 metrics need the prom-client package: npm i prom-client\n' });
      expect((await handshake(cli.url)).successful, 'Bayeux is served all the same').to.equal(true);
      expect(await cli.terminate()).to.deep.equal({ code: 0, signal: null });
    });
  });

  describe('HTTPS', function () {
    let dir: string;
    let cert: string;

    before(async function () {
      dir = await tempDir();
      const pems = await generate([{ name: 'commonName', value: '127.0.0.1' }], {
        keySize: 2048,
        algorithm: 'sha256',
        extensions: [{ name: 'subjectAltName', altNames: [{ type: 7, ip: '127.0.0.1' }] }],
      });
      cert = pems.cert;
      const other = await generate([{ name: 'commonName', value: 'other' }], { keySize: 2048, algorithm: 'sha256' });
      await writeFile(join(dir, 'key.pem'), pems.private);
      await writeFile(join(dir, 'cert.pem'), pems.cert);
      await writeFile(join(dir, 'other-cert.pem'), other.cert);
      // Relative paths in a config file are read next to it.
      await writeFile(join(dir, 'tls.json'), JSON.stringify({ tlsKey: 'key.pem', tlsCert: 'cert.pem' }));
    });

    it('serves Bayeux over HTTPS and WSS with the key and certificate of the config file', async function () {
      const cli = await CliProcess.start([...LOCAL, '--config', join(dir, 'tls.json')]);
      expect(cli.url).to.match(/^https:\/\/127\.0\.0\.1:\d+\/cometd$/);
      const body = JSON.stringify([{ channel: '/meta/handshake', version: '1.0', supportedConnectionTypes: ['long-polling'] }]);
      // Verified against the certificate, not merely accepted.
      const r = await send(cli.url, { method: 'POST', body, headers: { 'Content-Type': 'application/json' }, ca: cert });
      expect(r.status, r.text).to.equal(200);
      expect(JSON.parse(r.text)[0]).to.deep.include({ channel: '/meta/handshake', successful: true });
      expect(await send(`${cli.origin}/healthz`, { ca: cert })).to.deep.include({ status: 200 });

      const ws = new WebSocket(cli.url.replace(/^https/, 'wss'), { ca: cert });
      try {
        const reply = await withTimeout(
          new Promise<string>((resolve, reject) => {
            ws.once('open', () => ws.send(JSON.stringify([{ channel: '/meta/handshake', version: '1.0', supportedConnectionTypes: ['websocket'] }])));
            ws.once('message', (data) => resolve(String(data)));
            ws.once('error', reject);
          }),
          'a handshake reply over WSS',
        );
        expect(JSON.parse(reply)[0]).to.deep.include({ channel: '/meta/handshake', successful: true });
      } finally {
        ws.terminate();
      }
      expect(await cli.terminate()).to.deep.equal({ code: 0, signal: null });
    });

    it('refuses a key and a certificate that are not a pair (exit 2)', async function () {
      const r = await runCli([...LOCAL, '--tls-key', join(dir, 'key.pem'), '--tls-cert', join(dir, 'other-cert.pem')]);
      expect(r.code, r.stderr).to.equal(2);
      expect(r.stderr).to.include('bayeux-server: --tls-key / --tls-cert: not a usable PEM key and certificate pair');
    });
  });

  describe('Redis engine', function () {
    let redis: RedisServer;
    let proxy: OutageProxy;
    let cli: CliProcess;

    before(async function () {
      redis = await RedisServer.start();
      proxy = await OutageProxy.start(redis.port);
      cli = await CliProcess.start([...LOCAL, '--publish-token', TOKEN, '--timeout', '3000'], {
        BAYEUX_REDIS: `redis://127.0.0.1:${proxy.port}`,
        BAYEUX_REDIS_PREFIX: `cli${process.pid}`,
        BAYEUX_REDIS_FANOUT: 'queues',
      });
    });
    after(async function () {
      await closeAllCometDClients();
      await closeAllFayeClients();
      await cli.stop();
    });

    it('serves CometD and Faye from Redis, and the publish API', async function () {
      expect(cli.lines.items[0]).to.equal(`bayeux-server listening on ${cli.url} (engine redis, pid ${cli.pid})`);
      const admin = redis.client();
      try {
        expect(await admin.get(`{cli${process.pid}:i}:fanout`), 'the fan-out mode of BAYEUX_REDIS_FANOUT, recorded by the engine').to.equal('queues');
      } finally {
        await admin.quit();
      }
      const cometd = new CometDClient(cli.url);
      const cometdWs = new CometDClient(cli.url, {}, { transport: 'websocket' });
      const faye = new FayeClient(cli.url);
      const got = [new Inbox<unknown>(), new Inbox<unknown>(), new Inbox<unknown>()];
      await cometd.handshake();
      await cometdWs.handshake();
      await cometd.subscribe('/news', (m) => got[0]!.push(m.data));
      await cometdWs.subscribe('/news', (m) => got[1]!.push(m.data));
      await faye.subscribe('/news', (m) => got[2]!.push(m.data));
      await faye.publish('/news', { n: 1 });
      const r = await publish(cli, '/news', { n: 2 });
      expect(JSON.parse(r.text)).to.deep.equal({ results: [{ channel: '/news', sessions: 3 }] });
      for (const inbox of got) expect(await inbox.atLeast(2, 'both messages')).to.deep.equal([{ n: 1 }, { n: 2 }]);
    });

    it('/readyz says 503 while Redis cannot be reached, 200 again once it can; /healthz stays 200', async function () {
      expect((await send(`${cli.origin}/readyz`)).status).to.equal(200);
      proxy.cut();
      try {
        let last = { status: 0, text: '' };
        await waitUntil(async () => (last = await send(`${cli.origin}/readyz`)).status === 503, 'readyz to say 503', 10_000, 50);
        expect(JSON.parse(last.text)).to.deep.equal({ status: 'unavailable', engine: 'down', draining: false });
        expect(await send(`${cli.origin}/healthz`)).to.deep.include({ status: 200 });
        await waitUntil(() => cli.stderr.includes('bayeux-server: engine down'), 'the outage to be logged');
      } finally {
        proxy.restore();
      }
      await waitUntil(async () => (await send(`${cli.origin}/readyz`)).status === 200, 'readyz to say 200 again', 15_000, 100);
      await waitUntil(() => cli.stderr.includes('bayeux-server: engine up again'), 'the recovery to be logged');
    });
  });

  describe('--workers 2 on Redis', function () {
    this.timeout(90_000);
    let redis: RedisServer;
    let cli: CliProcess;
    let first: number[];

    before(async function () {
      redis = await RedisServer.start();
      cli = await CliProcess.start(
        [...LOCAL, '--redis', redis.url, '--redis-prefix', `w${process.pid}`, '--workers', '2', '--publish-token', TOKEN, '--timeout', '3000'],
        {},
        30_000,
      );
      first = await cli.workers(2);
    });
    after(async function () {
      await closeAllCometDClients();
      await closeAllFayeClients();
      await cli.stop();
    });

    it('prints the primary line and one line per worker, each with its pid', function () {
      expect(cli.lines.items[0]).to.match(new RegExp(`^bayeux-server listening on ${cli.url} \\(engine redis, pid ${cli.pid}, 2 workers\\)$`));
      expect(new Set(first).size).to.equal(2);
      expect(first).to.not.include(cli.pid);
      for (const pid of first) expect(isAlive(pid), `worker ${pid}`).to.equal(true);
    });

    it('SIGTERM to each worker in turn while a sequence is published: CometD and Faye get every message once, in order; each worker is replaced', async function () {
      const cometd = new CometDClient(cli.url);
      const faye = new FayeClient(cli.url);
      const cometdGot = new Inbox<number>();
      const fayeGot = new Inbox<number>();
      await cometd.handshake();
      await cometd.subscribe('/seq', (m) => cometdGot.push((m.data as { i: number }).i));
      await faye.subscribe('/seq', (m) => fayeGot.push((m.data as { i: number }).i));

      // One publish at a time, each on a new connection (any worker may take it); a publish
      // refused by a worker closing (503) or cut before it was read is sent again.
      let sent = 0;
      let publishing = true;
      const load = (async () => {
        while (publishing) {
          for (let attempt = 1; ; attempt++) {
            const r = await publish(cli, '/seq', { i: sent }).catch((err: Error) => ({ status: 0, text: err.message }));
            if (r.status === 200) {
              expect(JSON.parse(r.text).results[0].sessions, `message ${sent}`).to.equal(2);
              break;
            }
            if (attempt >= 20) throw new Error(`message ${sent} not published: ${r.status} ${r.text}`);
            await new Promise((resolve) => setTimeout(resolve, 50));
          }
          sent++;
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      })();
      try {
        await cometdGot.atLeast(10, 'CometD to receive before the first SIGTERM', 15_000);
        await fayeGot.atLeast(10, 'Faye to receive before the first SIGTERM', 15_000);
        for (const [n, victim] of first.entries()) {
          process.kill(victim, 'SIGTERM');
          await waitUntil(() => cli.stderr.includes(`worker ${victim} exited (exit code 0); forking a replacement`), `worker ${victim} to drain and exit`, 20_000, 20);
          await cli.workers(3 + n, 20_000);
          const mark = sent;
          await cometdGot.until((i) => i >= mark + 10, `CometD to receive after worker ${victim} stopped`, 15_000);
          await fayeGot.until((i) => i >= mark + 10, `Faye to receive after worker ${victim} stopped`, 15_000);
        }
      } finally {
        publishing = false;
        await load;
      }
      const all = Array.from({ length: sent }, (_, i) => i);
      await cometdGot.atLeast(sent, 'CometD to receive every message', 15_000);
      await fayeGot.atLeast(sent, 'Faye to receive every message', 15_000);
      expect(cometdGot.items, 'CometD: each message once, in order').to.deep.equal(all);
      expect(fayeGot.items, 'Faye: each message once, in order').to.deep.equal(all);
      expect(cometd.handshakes.length, 'CometD kept its session').to.equal(1);
      expect(faye.handshakes.length, 'Faye kept its session').to.equal(1);
      for (const pid of first) expect(isAlive(pid), `worker ${pid} is gone`).to.equal(false);
      console.log(`      (${sent} messages to CometD and Faye through two worker replacements)`);
    });

    it('SIGTERM to the primary: every worker drains and exits, then the primary exits 0', async function () {
      const workers = cli.workerPids.filter(isAlive);
      expect(workers).to.have.length(2);
      expect(await cli.terminate(30_000)).to.deep.equal({ code: 0, signal: null });
      for (const pid of workers) expect(isAlive(pid), `worker ${pid}`).to.equal(false);
    });
  });
});
