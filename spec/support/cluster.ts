/**
 * Several bayeux-server processes on one Redis, for the scale-out specs: each is
 * examples/scaling/server.ts forked with tsx (its own Node process, port 0 on 127.0.0.1,
 * reporting its port over IPC), driven over IPC to publish from app code. And a
 * round-robin HTTP relay that sends each request to the next process in turn, so one
 * client's handshake, subscribe and long polls land on different processes.
 */
import { fork, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { Inbox, deferred, withTimeout } from './wait.js';

const ENTRY = fileURLToPath(new URL('../../examples/scaling/server.ts', import.meta.url));

const nodes = new Set<ClusterNode>();
const relays = new Set<RoundRobinRelay>();

/** Kills every process and closes every relay started here (for after/afterEach). */
export async function stopCluster(): Promise<void> {
  const all = [...nodes];
  nodes.clear();
  await Promise.all(all.map((n) => n.stop()));
  const rs = [...relays];
  relays.clear();
  await Promise.all(rs.map((r) => r.close()));
}

interface Reply {
  ref: number;
  type: string;
  n?: number;
  failed?: number;
  error?: string;
}

/** A cluster event a process reported (started with REDIS_EVENTS=1). */
export interface ReportedEvent {
  event: 'sessionAdded' | 'sessionRemoved' | 'subscribe' | 'unsubscribe';
  clientId: string;
  /** The reason of a removal, the channel of a subscribe or unsubscribe. */
  detail?: string;
}

/** One forked bayeux-server process. */
export class ClusterNode {
  private refs = 0;
  private readonly pending = new Map<number, (r: Reply) => void>();
  readonly exited: Promise<void>;
  stderr = '';
  /** Cluster events this process reported, in order (with REDIS_EVENTS=1). */
  readonly events = new Inbox<ReportedEvent>();
  /** What each drain of this process resolved to (it reports `{ type: 'drained', drained }` on SIGTERM). */
  readonly drained: boolean[] = [];
  /** How the process ended, once it has. */
  exit: { code: number | null; signal: NodeJS.Signals | null } | null = null;

  private constructor(
    readonly name: string,
    private readonly child: ChildProcess,
    readonly port: number,
  ) {
    this.exited = new Promise((resolve) => {
      const ended = (): void => {
        this.exit = { code: child.exitCode, signal: child.signalCode };
        resolve();
      };
      if (child.exitCode !== null || child.signalCode !== null) ended();
      else child.once('exit', ended);
    });
    child.on('message', (m) => {
      const r = m as Reply;
      if (r.type === 'drained') {
        this.drained.push((m as { drained: boolean }).drained);
        return;
      }
      if (r.type === 'clusterEvent') {
        const e = m as ReportedEvent;
        this.events.push(e.detail === undefined ? { event: e.event, clientId: e.clientId } : { event: e.event, clientId: e.clientId, detail: e.detail });
        return;
      }
      this.pending.get(r.ref)?.(r);
      this.pending.delete(r.ref);
    });
  }

  get pid(): number {
    return this.child.pid!;
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Forks a process serving Bayeux on a free port with the Redis engine. */
  static async start(name: string, env: Record<string, string>, ms = 15_000): Promise<ClusterNode> {
    const child = fork(ENTRY, [], {
      execArgv: ['--import', 'tsx'],
      env: { ...process.env, NODE_NAME: name, ...env },
      stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
    });
    let stderr = '';
    child.stderr!.on('data', (c: Buffer) => {
      stderr += c.toString();
      if (stderr.length > 20_000) stderr = stderr.slice(-10_000);
    });
    const ready = deferred<number>();
    child.once('message', (m) => ready.resolve((m as { port: number }).port));
    child.once('exit', (code, signal) => ready.reject(new Error(`${name} exited (${signal ?? code}) before it was ready: ${stderr}`)));
    try {
      const port = await withTimeout(ready.promise, `${name} to report its port`, ms);
      const node = new ClusterNode(name, child, port);
      child.stderr!.on('data', (c: Buffer) => (node.stderr += c.toString()));
      nodes.add(node);
      return node;
    } catch (err) {
      child.kill('SIGKILL');
      throw err;
    }
  }

  private ask(msg: Record<string, unknown>, what: string, ms: number): Promise<Reply> {
    const ref = ++this.refs;
    const d = deferred<Reply>();
    this.pending.set(ref, d.resolve);
    this.child.send({ ...msg, ref });
    return withTimeout(d.promise, `${this.name}: ${what}`, ms);
  }

  /** Publishes from app code in this process; resolves to the number of sessions queued for. */
  async publish(channel: string, data: unknown, ms = 5000): Promise<number> {
    const r = await this.ask({ type: 'publish', channel, data }, `publish to ${channel}`, ms);
    if (r.type !== 'published') throw new Error(`${this.name}: publish failed: ${r.error}`);
    return r.n!;
  }

  /** Publishes `{ from, seq }` for seq 0..count-1, one after the other; resolves to how many succeeded. */
  async publishMany(channel: string, from: string, count: number, ms = 60_000): Promise<{ n: number; failed: number }> {
    const r = await this.ask({ type: 'publishMany', channel, from, count }, `publish ${count} to ${channel}`, ms);
    return { n: r.n!, failed: r.failed ?? 0 };
  }

  /** SIGKILL: the process dies at once, holding whatever it held. */
  async kill(): Promise<void> {
    nodes.delete(this);
    if (this.alive) this.child.kill('SIGKILL');
    await this.exited;
  }

  /**
   * SIGTERM, and waits up to `ms` for the process to end by itself (the example drains, then
   * exits): resolves how it ended. Left running past `ms`, it is killed by {@link stopCluster}.
   */
  async terminate(ms = 15_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (this.alive) this.child.kill('SIGTERM');
    await withTimeout(this.exited, `${this.name} to exit after SIGTERM`, ms);
    nodes.delete(this);
    return this.exit!;
  }

  /** Stops the process (SIGTERM, then SIGKILL after 3 s). */
  async stop(): Promise<void> {
    nodes.delete(this);
    if (!this.alive) return;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 3000);
    await this.exited;
    clearTimeout(timer);
  }
}

/** What the relay saw of one request. */
export interface RelayedRequest {
  readonly target: number;
  /** The channels of the messages in the request body (empty when it was not JSON). */
  readonly channels: string[];
  /** The client ids in the request body. */
  readonly clientIds: string[];
  /** HTTP status relayed back (502 when the target could not be reached, -1 when dropped, 0 while pending). */
  status: number;
}

/** An HTTP relay on 127.0.0.1 that sends each request to the next target in turn. */
export class RoundRobinRelay {
  readonly log: RelayedRequest[] = [];
  private next = 0;
  /** Targets that refused a connection: skipped from then on (a load balancer's health check). */
  readonly dead = new Set<number>();
  /** Decides, for each complete response, whether to lose it (destroy the client's connection instead). */
  dropWhen: ((target: number, body: string) => boolean) | null = null;
  /** Responses lost so far. */
  dropped = 0;
  private readonly agent = new http.Agent({ keepAlive: true });

  private constructor(
    private readonly server: http.Server,
    readonly port: number,
    private readonly targets: number[],
  ) {}

  /** `http://127.0.0.1:<port>/cometd` */
  get url(): string {
    return `http://127.0.0.1:${this.port}/cometd`;
  }

  static async start(targets: number[]): Promise<RoundRobinRelay> {
    let relay!: RoundRobinRelay;
    const server = http.createServer((req, res) => relay.forward(req, res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    relay = new RoundRobinRelay(server, (server.address() as AddressInfo).port, targets);
    relays.add(relay);
    return relay;
  }

  private forward(req: http.IncomingMessage, res: http.ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      let target = this.next;
      for (let i = 0; i < this.targets.length && this.dead.has(target); i++) target = (target + 1) % this.targets.length;
      this.next = (target + 1) % this.targets.length;
      const messages = messagesOf(body.toString('utf8'));
      const entry: RelayedRequest = {
        target,
        channels: messages.map((m) => m.channel).filter((c): c is string => typeof c === 'string'),
        clientIds: messages.map((m) => m.clientId).filter((c): c is string => typeof c === 'string'),
        status: 0,
      };
      this.log.push(entry);
      const headers: http.OutgoingHttpHeaders = { ...req.headers, 'content-length': String(body.length) };
      delete headers['transfer-encoding'];
      delete headers.connection;
      let retried = false;
      const send = (): http.ClientRequest => {
        const up = http.request(
          { host: '127.0.0.1', port: this.targets[target], method: req.method, path: req.url, headers, agent: this.agent },
          (upRes) => {
            const parts: Buffer[] = [];
            upRes.on('data', (c: Buffer) => parts.push(c));
            upRes.on('error', () => res.destroy());
            upRes.on('end', () => {
              const body = Buffer.concat(parts);
              if (this.dropWhen?.(target, body.toString('utf8'))) {
                this.dropped++;
                entry.status = -1;
                res.destroy();
                return;
              }
              entry.status = upRes.statusCode ?? 0;
              const headers = { ...upRes.headers, 'content-length': String(body.length) };
              delete headers['transfer-encoding'];
              res.writeHead(upRes.statusCode ?? 502, headers);
              res.end(body);
            });
          },
        );
        up.on('error', (err: NodeJS.ErrnoException) => {
          // A kept-alive socket the server closed just as it was reused (Node's documented
          // race): the request never reached the server, so send it once more.
          if (up.reusedSocket && err.code === 'ECONNRESET' && !retried) {
            retried = true;
            current = send();
            return;
          }
          if (err.code === 'ECONNREFUSED') this.dead.add(target);
          // The process is gone (killed): the client sees a failed request and retries.
          entry.status = 502;
          if (!res.headersSent) {
            res.writeHead(502, { 'Content-Type': 'text/plain' });
            res.end('bad gateway');
          } else res.destroy();
        });
        up.end(body);
        return up;
      };
      let current = send();
      res.on('close', () => {
        if (!res.writableFinished) current.destroy();
      });
    });
  }

  /** Requests whose body had a message on `channel`, with the target each went to. */
  requestsOn(channel: string): RelayedRequest[] {
    return this.log.filter((r) => r.channels.includes(channel));
  }

  async close(): Promise<void> {
    relays.delete(this);
    this.agent.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

type Loose = { channel?: unknown; clientId?: unknown };

function messagesOf(body: string): Loose[] {
  try {
    const parsed = JSON.parse(body) as unknown;
    const list = Array.isArray(parsed) ? parsed : [parsed];
    return list.filter((m): m is Loose => typeof m === 'object' && m !== null);
  } catch {
    // form-encoded `message=` bodies (some clients)
    const m = /message=([^&]*)/.exec(body);
    return m ? messagesOf(decodeURIComponent(m[1]!.replace(/\+/g, ' '))) : [];
  }
}
