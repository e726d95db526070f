/**
 * The Redis engine through Redis Sentinel: a real master, a replica and one Sentinel on
 * loopback (`redis-server --sentinel`, `sentinel monitor mymaster … 1`). The engine finds
 * the master by asking the Sentinel: the shared engine contract (queues and logs modes), a Bayeux round trip
 * (handshake, subscribe, publish, delivery), and a failover — the master killed, the
 * replica promoted — after which the same session carries on.
 */
import { expect } from 'chai';
import { Redis } from 'ioredis';
import { EngineUnavailableError } from '../engine.js';
import { RedisEngine } from '../lib/engines/redis/redis-engine.js';
import { engineContract } from './support/engine-contract.js';
import { RawServer } from './support/raw-client.js';
import { RedisSentinelServer, stopAllRedisTopologies } from './support/redis-cluster-server.js';
import { stopAllRedisServers } from './support/redis-server.js';
import { waitUntil } from './support/wait.js';

let prefixes = 0;
const nextPrefix = (): string => `n${process.pid}x${++prefixes}`;

describe('redis engine through Sentinel', function () {
  this.timeout(30_000);

  describe('with a master and a Sentinel', function () {
    let set: RedisSentinelServer;

    before(async function () {
      set = await RedisSentinelServer.start();
    });
    after(async function () {
      await stopAllRedisTopologies();
      await stopAllRedisServers();
    });

    engineContract('redis engine through Sentinel', {
      makeEngine: () => new RedisEngine({ sentinels: set.sentinels, name: set.name, prefix: nextPrefix(), clusterEvents: true }),
    });
    // Fan-out through channel logs (issue 14): the same contract, unchanged.
    engineContract('redis engine through Sentinel, logs', {
      makeEngine: () => new RedisEngine({ sentinels: set.sentinels, name: set.name, prefix: nextPrefix(), clusterEvents: true, fanout: 'logs' }),
    });

    it('a Bayeux client handshakes, subscribes and receives a publish; the data is on the master the Sentinel names', async function () {
      const prefix = nextPrefix();
      const server = await RawServer.start({ engine: new RedisEngine({ sentinels: set.sentinels, name: set.name, prefix }) });
      const master = new Redis({ port: set.master.port, host: '127.0.0.1' });
      try {
        const client = await server.connectedClient();
        await client.mustSubscribe('/sentinel/x');
        expect(await server.bayeux.publish('/sentinel/x', 'hello')).to.equal(1);
        const got = await client.connect();
        expect(got.filter((m) => m.channel === '/sentinel/x').map((m) => m.data)).to.deep.equal(['hello']);
        expect(await master.exists(`{${prefix}:b0}:s:${client.clientId}`), 'the session is on the master').to.equal(1);
      } finally {
        master.disconnect();
        await server.close();
      }
    });

    it('an unknown master name is a clear failure, not a hang', async function () {
      const engine = new RedisEngine({ sentinels: set.sentinels, name: 'no-such-master', prefix: nextPrefix(), commandTimeoutMs: 500 });
      await engine.open({ wake() {}, sessionRemoved() {}, queueOverflow() {} }, { maxQueue: 10, sweepInterval: 1000 });
      try {
        const started = Date.now();
        let failure: unknown = null;
        try {
          await engine.createSession('s', 1000);
        } catch (err) {
          failure = err;
        }
        expect(failure).to.be.instanceOf(EngineUnavailableError);
        expect(Date.now() - started, 'ms to fail').to.be.below(2000);
      } finally {
        await engine.close();
      }
    });
  });

  describe('failover', function () {
    after(async function () {
      await stopAllRedisTopologies();
      await stopAllRedisServers();
    });

    it('the master is killed, the Sentinel promotes the replica, and the session carries on there', async function () {
      this.timeout(60_000);
      const set = await RedisSentinelServer.start({ replica: true });
      const engine = new RedisEngine({ sentinels: set.sentinels, name: set.name, prefix: nextPrefix(), retryMs: 700 });
      const wakes: string[] = [];
      await engine.open({ wake: (id) => wakes.push(id), sessionRemoved() {}, queueOverflow() {} }, { maxQueue: 100, sweepInterval: 1000 });
      try {
        await engine.createSession('s', 60_000);
        await engine.subscribe('s', ['/f'], 10);
        expect(await engine.publish('/f', '"before"')).to.equal(1);
        // Make sure the replica has everything before the master goes.
        const master = new Redis({ port: set.master.port, host: '127.0.0.1' });
        expect(await master.call('WAIT', '1', '5000')).to.equal(1);
        master.disconnect();

        await set.master.stop();
        let refused = 0;
        let failedOther = 0;
        // Calls fail as unavailable (503 for clients) until the Sentinel has promoted the replica.
        await waitUntil(
          async () => {
            try {
              await engine.hasSession('s');
              return true;
            } catch (err) {
              if (err instanceof EngineUnavailableError) refused++;
              else failedOther++;
              return false;
            }
          },
          'the engine to reach the promoted replica',
          45_000,
          200,
        );
        expect(failedOther, 'failures other than "unavailable"').to.equal(0);
        expect(refused, 'calls refused during the failover').to.be.above(0);
        expect(await set.currentMaster(), 'the Sentinel names the old replica').to.equal(set.replica!.port);
        expect(await engine.hasSession('s'), 'the session survived').to.equal(true);
        expect(await engine.publish('/f', '"after"')).to.equal(1);
        expect(await engine.takeQueued('s')).to.deep.equal(['"before"', '"after"']);
      } finally {
        await engine.close();
      }
    });
  });
});
