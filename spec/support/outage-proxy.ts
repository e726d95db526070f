/**
 * A TCP forwarder on 127.0.0.1 in front of a test server that can simulate a network
 * outage: `cut()` drops every open connection and refuses new ones (they are reset on
 * accept) until `restore()`. Used to keep a client away from the server longer than the
 * session expiry, so the server forgets the session while the client still has it, or to
 * kill a client's sockets and send its next ones to another process (`restore(port)`).
 * It forwards bytes, so WebSocket upgrades pass too.
 */
import net from 'node:net';
import type { AddressInfo } from 'node:net';

const proxies = new Set<OutageProxy>();

/** Closes every proxy still open (for afterEach). */
export async function closeAllProxies(): Promise<void> {
  const all = [...proxies];
  proxies.clear();
  await Promise.all(all.map((p) => p.close()));
}

export class OutageProxy {
  private readonly sockets = new Set<net.Socket>();
  private down = false;
  /** Connections refused while down (clients kept trying). */
  refused = 0;

  private constructor(
    private readonly server: net.Server,
    readonly port: number,
    /** Where new connections go. */
    private target: number,
  ) {}

  /** Starts forwarding a fresh port to `targetPort` on 127.0.0.1. */
  static async start(targetPort: number): Promise<OutageProxy> {
    let proxy!: OutageProxy;
    const server = net.createServer((client) => proxy.accept(client));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    proxy = new OutageProxy(server, (server.address() as AddressInfo).port, targetPort);
    proxies.add(proxy);
    return proxy;
  }

  /** `http://127.0.0.1:<proxy port><path>` */
  url(path = '/cometd'): string {
    return `http://127.0.0.1:${this.port}${path}`;
  }

  private accept(client: net.Socket): void {
    if (this.down) {
      this.refused++;
      client.resetAndDestroy();
      return;
    }
    const upstream = net.connect(this.target, '127.0.0.1');
    for (const s of [client, upstream]) {
      this.sockets.add(s);
      s.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
      s.on('close', () => {
        this.sockets.delete(s);
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream);
    upstream.pipe(client);
  }

  /** Starts the outage: open connections are dropped, new ones reset. */
  cut(): void {
    this.down = true;
    for (const s of this.sockets) s.destroy();
  }

  /** Ends the outage; new connections go to `targetPort` when given. */
  restore(targetPort = this.target): void {
    this.target = targetPort;
    this.down = false;
  }

  close(): Promise<void> {
    proxies.delete(this);
    this.down = true;
    for (const s of this.sockets) s.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
