/**
 * Errors thrown at callers carry a stable `code` from ERROR_CODES (callers match on it,
 * not on the message), every code is documented in docs/errors.md, and nothing throws a
 * code outside the list.
 */
import { readFile } from 'node:fs/promises';
import { expect } from 'chai';
import {
  BayeuxErrorException,
  BayeuxServer,
  callbackPolling,
  createHandler,
  EngineUnavailableError,
  ERROR_CODES,
  iframeStreaming,
  type ErrorCode,
} from '../index.js';
import { redisEngine } from '../redis.js';

/** The error `fn` throws (or rejects with). */
async function thrown(fn: () => unknown): Promise<Error & { code?: unknown }> {
  try {
    await fn();
  } catch (err) {
    return err as Error & { code?: unknown };
  }
  throw new Error('expected a throw');
}

function expectCoded(err: Error & { code?: unknown }, type: new (...args: never[]) => Error, code: ErrorCode, mentions?: string): void {
  expect(err).to.be.instanceOf(type);
  expect(err.code).to.equal(code);
  expect(Object.keys(ERROR_CODES)).to.include(err.code);
  if (mentions !== undefined) expect(err.message).to.include(mentions);
}

describe('coded errors', function () {
  const servers: BayeuxServer[] = [];
  function server(options = {}): BayeuxServer {
    const s = new BayeuxServer(options);
    servers.push(s);
    return s;
  }
  after(async function () {
    await Promise.all(servers.map((s) => s.close()));
  });

  it('a bad server, handler, transport or engine option: TypeError ERR_BAYEUX_INVALID_OPTION naming the option', async function () {
    expectCoded(await thrown(() => new BayeuxServer({ timeout: -1 })), TypeError, 'ERR_BAYEUX_INVALID_OPTION', 'timeout');
    expectCoded(await thrown(() => new BayeuxServer({ nope: 1 } as never)), TypeError, 'ERR_BAYEUX_INVALID_OPTION', 'nope');
    expectCoded(await thrown(() => createHandler(server(), { cors: { origins: ['*'] } })), TypeError, 'ERR_BAYEUX_INVALID_OPTION', 'cors');
    expectCoded(await thrown(() => callbackPolling({ defaultCallback: '1x' })), TypeError, 'ERR_BAYEUX_INVALID_OPTION', 'defaultCallback');
    expectCoded(await thrown(() => iframeStreaming({ maxAge: 1 })), TypeError, 'ERR_BAYEUX_INVALID_OPTION', 'maxAge');
    expectCoded(await thrown(() => redisEngine({ buckets: 0 })), TypeError, 'ERR_BAYEUX_INVALID_OPTION', 'buckets');
  });

  it('publishing to a channel that is not a concrete broadcast channel: ERR_BAYEUX_INVALID_CHANNEL', async function () {
    const s = server();
    for (const channel of ['/meta/connect', '/service/x', '/a/*', 'no-slash']) {
      expectCoded(await thrown(() => s.publish(channel, 1)), TypeError, 'ERR_BAYEUX_INVALID_CHANNEL', JSON.stringify(channel));
    }
    expectCoded(await thrown(() => s.channel('/a//b')), TypeError, 'ERR_BAYEUX_INVALID_CHANNEL');
  });

  it('publishing without data: ERR_BAYEUX_INVALID_ARGUMENT', async function () {
    expectCoded(await thrown(() => server().publish('/a', undefined)), TypeError, 'ERR_BAYEUX_INVALID_ARGUMENT');
  });

  it('a message of an in-process client refused by the server: BayeuxErrorException ERR_BAYEUX_MESSAGE_REFUSED with the Bayeux error', async function () {
    const s = server({ policy: { canPublish: () => false } });
    const local = await s.localClient();
    const err = await thrown(() => local.publish('/guarded', 1));
    expectCoded(err, BayeuxErrorException, 'ERR_BAYEUX_MESSAGE_REFUSED');
    expect((err as BayeuxErrorException).bayeux).to.include({ code: 403 });
  });

  it('an in-process request to a closed server: ERR_BAYEUX_REQUEST_FAILED', async function () {
    const s = server();
    const local = await s.localClient();
    await s.close();
    expectCoded(await thrown(() => local.publish('/a', 1)), Error, 'ERR_BAYEUX_REQUEST_FAILED', 'server closed');
  });

  it('an unreachable engine: EngineUnavailableError ERR_BAYEUX_ENGINE_UNAVAILABLE', function () {
    expectCoded(new EngineUnavailableError('down'), EngineUnavailableError, 'ERR_BAYEUX_ENGINE_UNAVAILABLE');
  });

  it('docs/errors.md documents every code', async function () {
    const doc = await readFile(new URL('../docs/errors.md', import.meta.url), 'utf8');
    for (const code of Object.keys(ERROR_CODES)) expect(doc, code).to.include(code);
  });
});
