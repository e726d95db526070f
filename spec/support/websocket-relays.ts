/**
 * {@link FrameDroppingRelay}, for the WebSocket specs: a WebSocket relay on 127.0.0.1 (a
 * `ws` server that opens a `ws` client to the real server per connection) that can lose a
 * server->client frame and then kill the connection, as a network failing after the server
 * wrote would. (A relay that cuts sockets and sends new ones elsewhere is outage-proxy.ts.)
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocket, WebSocketServer, type RawData } from 'ws';

const relays = new Set<{ close(): Promise<void> }>();

/** Closes every relay still open (for afterEach). */
export async function closeAllWsRelays(): Promise<void> {
  const all = [...relays];
  relays.clear();
  await Promise.all(all.map((r) => r.close()));
}

export class FrameDroppingRelay {
  /** Frames dropped so far. */
  dropped = 0;
  /** Connections the relay accepted (a client that reconnects shows here). */
  connections = 0;
  private readonly sockets = new Set<WebSocket>();

  private constructor(
    private readonly server: http.Server,
    private readonly wss: WebSocketServer,
    readonly port: number,
  ) {}

  /**
   * Starts a relay to the WebSocket endpoint `target` (`ws://…`); `shouldDrop` sees each
   * server->client text frame and says whether to lose it (and cut that connection).
   */
  static async start(target: string, shouldDrop: (frame: string) => boolean): Promise<FrameDroppingRelay> {
    const server = http.createServer((_req, res) => {
      res.writeHead(404);
      res.end();
    });
    const wss = new WebSocketServer({ server });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const relay = new FrameDroppingRelay(server, wss, (server.address() as AddressInfo).port);
    wss.on('connection', (client) => relay.accept(client, target, shouldDrop));
    relays.add(relay);
    return relay;
  }

  /** `http://127.0.0.1:<relay port><path>` (the clients turn it into `ws://`). */
  url(path = '/cometd'): string {
    return `http://127.0.0.1:${this.port}${path}`;
  }

  private accept(client: WebSocket, target: string, shouldDrop: (frame: string) => boolean): void {
    this.connections++;
    const upstream = new WebSocket(target);
    const early: string[] = [];
    for (const s of [client, upstream]) {
      this.sockets.add(s);
      s.on('error', () => {});
      s.on('close', () => {
        this.sockets.delete(s);
        client.terminate();
        upstream.terminate();
      });
    }
    upstream.on('open', () => {
      for (const text of early.splice(0)) upstream.send(text);
    });
    client.on('message', (data: RawData) => {
      const text = data.toString();
      if (upstream.readyState === WebSocket.OPEN) upstream.send(text);
      else early.push(text);
    });
    upstream.on('message', (data: RawData) => {
      const text = data.toString();
      if (shouldDrop(text)) {
        this.dropped++;
        client.terminate();
        upstream.terminate();
        return;
      }
      if (client.readyState === WebSocket.OPEN) client.send(text);
    });
  }

  async close(): Promise<void> {
    relays.delete(this);
    for (const s of this.sockets) s.terminate();
    this.wss.close();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

