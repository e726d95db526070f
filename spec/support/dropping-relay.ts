/**
 * An HTTP relay on 127.0.0.1 that can lose responses: it forwards every request to the
 * server, and when `shouldDrop` says so for a response it destroys the client's connection
 * instead of relaying it, as a proxy or a flaky network would after the server has written.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** What the relay knows about one exchange when deciding to drop it. */
export interface RelayedExchange {
  readonly requestBody: string;
  readonly responseBody: string;
}

export class DroppingRelay {
  /** Responses dropped so far. */
  dropped = 0;
  private readonly agent = new http.Agent({ keepAlive: true });

  private constructor(
    private readonly server: http.Server,
    readonly port: number,
  ) {}

  /** Starts a relay to `targetPort`; `shouldDrop` decides for each complete response. */
  static async start(targetPort: number, shouldDrop: (x: RelayedExchange) => boolean): Promise<DroppingRelay> {
    let relay!: DroppingRelay;
    const server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const requestBody = Buffer.concat(chunks).toString('utf8');
        const upstream = http.request(
          { host: '127.0.0.1', port: targetPort, method: req.method, path: req.url, headers: req.headers, agent: relay.agent },
          (up) => {
            const parts: Buffer[] = [];
            up.on('data', (c: Buffer) => parts.push(c));
            up.on('end', () => {
              const body = Buffer.concat(parts);
              if (shouldDrop({ requestBody, responseBody: body.toString('utf8') })) {
                relay.dropped++;
                req.socket.destroy();
                return;
              }
              res.writeHead(up.statusCode ?? 502, up.headers);
              res.end(body);
            });
          },
        );
        upstream.on('error', () => req.socket.destroy());
        upstream.end(requestBody);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    relay = new DroppingRelay(server, (server.address() as AddressInfo).port);
    return relay;
  }

  /** `http://127.0.0.1:<relay port><path>` */
  url(path = '/cometd'): string {
    return `http://127.0.0.1:${this.port}${path}`;
  }

  async close(): Promise<void> {
    this.agent.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
