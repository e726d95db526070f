/**
 * Designs "in-memory" and (A), today's Redis engine: the real engine driven through the
 * Engine API, the way the core drives it for long-polling clients. A wake is acted on in
 * the next turn (as HeldConnects flushes on setImmediate): `takeAndEnd` (or `takeQueued`
 * and `endConnect` where the engine has no `takeAndEnd`), then the client's next connect,
 * `beginConnect(id, true)`, again and again until it holds. The Redis engine's own op
 * batching (lib/engines/redis/op-batch.ts) merges these calls as it does in the server.
 */
import { MemoryEngine } from '../../lib/engines/memory/memory-engine.js';
import type { Engine, EngineListener, Mail } from '../../lib/engines/engine.js';
import { RedisEngine } from '../../lib/engines/redis/redis-engine.js';
import { IdleGate, inChunks, SESSION_LIFE_MS, sessionIds, type DesignDriver, type DriverOptions } from './driver.js';

const HELD = 0;
const BUSY = 1;

export class EngineDriver implements DesignDriver {
  errors = 0;
  private readonly ids: string[];
  private readonly index: Map<string, number>;
  private readonly state: Uint8Array;
  /** A wake came while the session was busy: look again once it holds. */
  private readonly wokenBusy: Uint8Array;
  private pending: number[] = [];
  private scheduled = false;
  private paused = false;
  private readonly gate = new IdleGate();

  constructor(
    private readonly engine: Engine,
    private readonly o: DriverOptions,
  ) {
    ({ ids: this.ids, index: this.index } = sessionIds(o.sessions));
    this.state = new Uint8Array(o.sessions).fill(BUSY);
    this.wokenBusy = new Uint8Array(o.sessions);
  }

  /** The in-memory engine. */
  static memory(o: DriverOptions): EngineDriver {
    return new EngineDriver(new MemoryEngine(), o);
  }

  /**
   * Today's Redis engine (design A), options at their defaults but the command timeout:
   * a burst's takes can queue in Redis past the default 2 s when the machine is busy, and a
   * take whose reply times out loses its mail (docs/scaling.md, "Known issues"), which would
   * measure the timeout, not the design.
   */
  static redis(o: DriverOptions): EngineDriver {
    return new EngineDriver(new RedisEngine({ url: o.redisUrl, prefix: 'bdA', commandTimeoutMs: 30_000, fanout: 'queues' }), o);
  }

  private readonly listener: EngineListener = {
    wake: (id) => {
      const i = this.index.get(id);
      if (i === undefined) return;
      this.pending.push(i);
      this.schedule();
    },
    sessionRemoved: () => {},
    queueOverflow: (_id, dropped) => {
      this.o.tally.dropped += dropped;
    },
  };

  async setup(): Promise<void> {
    // No sweep during the run: nobody expires, and its script would only add noise.
    await this.engine.open(this.listener, { maxQueue: this.o.maxQueue, sweepInterval: 3_600_000 });
    await inChunks(this.o.sessions, 500, async (i) => {
      const id = this.ids[i]!;
      await this.engine.createSession(id, SESSION_LIFE_MS);
      const sub = await this.engine.subscribe(id, this.o.channelsOf(i), 100);
      if (sub !== 'ok') throw new Error(`subscribe: ${sub}`);
      await this.engine.beginConnect(id, false); // the first connect is never held
      const r = await this.engine.beginConnect(id, true);
      if (!r?.held) throw new Error(`session ${id} did not hold`);
      this.state[i] = HELD;
    });
  }

  publish(channel: string, payload: string): unknown {
    return this.engine.publish(channel, payload);
  }

  pause(): void {
    this.paused = true;
  }

  resume(): void {
    this.paused = false;
    this.schedule();
  }

  idle(timeoutMs: number): Promise<boolean> {
    return this.gate.wait(() => this.pending.length, timeoutMs);
  }

  async close(): Promise<void> {
    await this.engine.close();
  }

  private schedule(): void {
    if (this.scheduled || this.paused) return;
    this.scheduled = true;
    setImmediate(this.flush);
  }

  private readonly flush = (): void => {
    this.scheduled = false;
    if (this.paused) return;
    const woken = this.pending;
    this.pending = [];
    for (const i of woken) {
      if (this.state[i] !== HELD) {
        this.wokenBusy[i] = 1;
        continue;
      }
      this.state[i] = BUSY;
      this.gate.busy++;
      this.cycle(i).catch((err: unknown) => {
        if (++this.errors <= 3) process.stderr.write(`redis-designs: engine: ${String((err as Error)?.message ?? err)}\n`);
        this.held(i);
      });
    }
    this.gate.check();
  };

  /** A woken hold: take the mail and end the hold, then connect again until it holds. */
  private async cycle(i: number): Promise<void> {
    const id = this.ids[i]!;
    this.wokenBusy[i] = 0;
    let mail: Mail | null = this.engine.takeAndEnd ? await this.engine.takeAndEnd(id, SESSION_LIFE_MS) : await this.takeThenEnd(id);
    if (mail === null) {
      this.held(i); // nothing queued: the hold goes on
      return;
    }
    for (;;) {
      if (mail.length > 0) this.o.tally.add(i, mail);
      this.wokenBusy[i] = 0;
      const r = await this.engine.beginConnect(id, true);
      if (r === null) throw new Error(`session ${id} unknown`);
      if (r.held) {
        this.held(i);
        return;
      }
      mail = r.messages ?? [];
    }
  }

  private async takeThenEnd(id: string): Promise<Mail | null> {
    const mail = await this.engine.takeQueued(id);
    if (mail !== null) await this.engine.endConnect(id, SESSION_LIFE_MS, false);
    return mail;
  }

  private held(i: number): void {
    this.state[i] = HELD;
    this.gate.busy--;
    if (this.wokenBusy[i] === 1) {
      this.wokenBusy[i] = 0;
      this.pending.push(i);
      this.schedule();
    }
    this.gate.check();
  }
}
