/**
 * A TCP forwarder on 127.0.0.1 that can hold back one connection's bytes in one direction
 * and let them go later, in order: a network that is slow on one path. The Redis logs specs
 * use it to make a race happen every time (a SUBSCRIBE that reaches Redis only after a
 * publish; a reply that reaches the engine only after a notice sent later).
 */
import net from 'node:net';
import type { AddressInfo } from 'node:net';

const relays = new Set<StallingRelay>();

/** Closes every relay still open (for afterEach). */
export async function closeAllStallingRelays(): Promise<void> {
  const all = [...relays];
  relays.clear();
  await Promise.all(all.map((r) => r.close()));
}

/** One relayed connection; `up` is client → server, `down` server → client. */
export class RelayedConnection {
  /** Everything the client sent so far (to tell connections apart by what they say). */
  sent = '';
  /** Everything the server sent so far (held back or not). */
  received = '';
  private readonly held: { up: Buffer[] | null; down: Buffer[] | null } = { up: null, down: null };

  constructor(
    readonly client: net.Socket,
    readonly upstream: net.Socket,
  ) {
    client.on('data', (c: Buffer) => {
      this.sent += c.toString('latin1');
      if (this.sent.length > 100_000) this.sent = this.sent.slice(-50_000);
      this.pass('up', c);
    });
    upstream.on('data', (c: Buffer) => {
      this.received += c.toString('latin1');
      if (this.received.length > 100_000) this.received = this.received.slice(-50_000);
      this.pass('down', c);
    });
  }

  private pass(dir: 'up' | 'down', c: Buffer): void {
    const held = this.held[dir];
    if (held) held.push(c);
    else (dir === 'up' ? this.upstream : this.client).write(c);
  }

  /** Holds back what goes in `dir` from now on. */
  stall(dir: 'up' | 'down'): void {
    this.held[dir] ??= [];
  }

  /** Lets what was held back go, in order, and stops holding. */
  release(dir: 'up' | 'down'): void {
    const held = this.held[dir];
    this.held[dir] = null;
    if (held) for (const c of held) (dir === 'up' ? this.upstream : this.client).write(c);
  }
}

export class StallingRelay {
  readonly connections: RelayedConnection[] = [];

  private constructor(
    private readonly server: net.Server,
    readonly port: number,
  ) {}

  /** Starts forwarding a fresh port to `targetPort` on 127.0.0.1. */
  static async start(targetPort: number): Promise<StallingRelay> {
    let relay!: StallingRelay;
    const server = net.createServer((client) => {
      const upstream = net.connect(targetPort, '127.0.0.1');
      const end = (): void => {
        client.destroy();
        upstream.destroy();
      };
      for (const s of [client, upstream]) {
        s.on('error', end);
        s.on('close', end);
      }
      relay.connections.push(new RelayedConnection(client, upstream));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    relay = new StallingRelay(server, (server.address() as AddressInfo).port);
    relays.add(relay);
    return relay;
  }

  /** `redis://127.0.0.1:<port>` */
  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** The connection whose client has sent `text` (case-insensitive), e.g. a subscriber's SUBSCRIBE. */
  connectionThatSent(text: string): RelayedConnection {
    const t = text.toLowerCase();
    const found = this.connections.filter((c) => c.sent.toLowerCase().includes(t));
    if (found.length !== 1) throw new Error(`${found.length} connections sent ${JSON.stringify(text)}`);
    return found[0]!;
  }

  close(): Promise<void> {
    for (const c of this.connections) {
      c.client.destroy();
      c.upstream.destroy();
    }
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
