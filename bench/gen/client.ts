/**
 * One simulated Bayeux long-polling client, as lean as the protocol allows: handshake,
 * first connect (advice timeout 0), subscribe, then a loop of held connects on one
 * keep-alive connection. Publishers publish on a second connection, as real clients do
 * while their connect is held. Messages are written as strings; cookies are kept (the
 * CometD server finds sessions through its BAYEUX_BROWSER cookie).
 */
import { preciseNow } from '../shared/protocol.js';
import type { GenContext } from './context.js';
import type { HttpConn } from './http-conn.js';

interface Msg {
  channel?: unknown;
  successful?: unknown;
  clientId?: unknown;
  data?: unknown;
  advice?: { reconnect?: unknown } | null;
  error?: unknown;
}

export interface ClientRole {
  /** Channel to subscribe to, or null for none. */
  subscription: string | null;
  /** Channel to publish to (publishers only). */
  publishChannel: string | null;
}

const RETRY_MS = 500;

export class BayeuxClient {
  clientId: string | null = null;
  private cookie: string | null = null;
  private conn: HttpConn;
  private pubConn: HttpConn | null = null;
  private seq = 0;
  private running = false;
  private holding = false;
  /** advice.timeout to send on held connects (-1: none, the server's own timeout). */
  private holdAdvice = -1;

  constructor(
    private readonly ctx: GenContext,
    private readonly role: ClientRole,
  ) {
    this.conn = ctx.newConn();
    ctx.clients++;
  }

  /** Handshake, first connect and subscribe; `done(true)` once the session is ready. */
  setup(done: (ok: boolean) => void): void {
    const fail = (what: string): void => {
      this.ctx.error(what);
      done(false);
    };
    this.send(
      this.conn,
      '[{"channel":"/meta/handshake","version":"1.0","minimumVersion":"1.0","supportedConnectionTypes":["long-polling"],"id":"' +
        ++this.seq +
        '"}]',
      (msgs, setCookie) => {
        if (msgs === null) return fail('handshake failed');
        const reply = find(msgs, '/meta/handshake');
        if (!reply || reply.successful !== true || typeof reply.clientId !== 'string') {
          return fail('handshake refused: ' + JSON.stringify(reply?.error ?? msgs));
        }
        this.clientId = reply.clientId;
        if (setCookie !== null) this.cookie = setCookie;
        this.send(this.conn, this.connectBody(0), (msgs2) => {
          const c = msgs2 && find(msgs2, '/meta/connect');
          if (!c || c.successful !== true) return fail('first connect failed: ' + JSON.stringify(c?.error ?? msgs2));
          if (this.role.subscription === null) return done(true);
          this.send(
            this.conn,
            '[{"channel":"/meta/subscribe","clientId":"' +
              this.clientId +
              '","subscription":' +
              JSON.stringify(this.role.subscription) +
              ',"id":"' +
              ++this.seq +
              '"}]',
            (msgs3) => {
              const s = msgs3 && find(msgs3, '/meta/subscribe');
              if (!s || s.successful !== true) return fail('subscribe failed: ' + JSON.stringify(s?.error ?? msgs3));
              done(true);
            },
          );
        });
      },
    );
  }

  /** Starts the held-connect loop (`holdMs` >= 0 asks the server for that timeout). */
  startLoop(holdMs = -1): void {
    this.holdAdvice = holdMs;
    this.running = true;
    this.connect();
  }

  /** Stops looping and closes the connections (the server sees the client vanish). */
  stop(): void {
    this.running = false;
    if (this.holding) {
      this.holding = false;
      this.ctx.holding--;
    }
    this.conn.destroy();
    this.pubConn?.destroy();
    this.pubConn = null;
  }

  get isHolding(): boolean {
    return this.holding;
  }

  /**
   * Publishes on a second connection, one publish in flight at a time, until `until`
   * (epoch ms). Calls `done` with the number of publishes left unanswered (0 or 1).
   */
  publishLoop(until: number, tag: string, done: (unanswered: number) => void): void {
    const channel = this.role.publishChannel;
    if (channel === null || this.clientId === null) return done(0);
    const conn = (this.pubConn ??= this.ctx.newConn());
    const head = '[{"channel":' + JSON.stringify(channel) + ',"clientId":"' + this.clientId + '","data":{"t":';
    const tail = ',"g":' + JSON.stringify(tag) + ',"s":';
    let n = 0;
    const next = (): void => {
      if (preciseNow() >= until || conn.closed) return done(0);
      const body = head + preciseNow() + tail + ++n + '},"id":"' + ++this.seq + '"}]';
      this.send(conn, body, (msgs) => {
        if (msgs === null) {
          this.ctx.nacks++;
          return done(1);
        }
        const r = find(msgs, channel);
        if (r && r.successful === true) this.ctx.acks++;
        else {
          this.ctx.nacks++;
          this.ctx.error('publish refused: ' + JSON.stringify(r?.error ?? msgs));
        }
        next();
      });
    };
    next();
  }

  /**
   * One churn life after `setup`: hold a connect, then either vanish (destroy the socket
   * while the connect is held) or send /meta/disconnect on a second connection.
   */
  finish(vanish: boolean, holdMs: number, done: (outcome: 'disconnected' | 'vanished' | 'failed') => void): void {
    this.holdAdvice = holdMs > 0 ? holdMs : -1;
    this.conn.request(this.connectBody(this.holdAdvice), this.cookie, () => {});
    if (vanish) {
      setTimeout(() => {
        this.conn.destroy();
        done('vanished');
      }, Math.floor(Math.random() * 50));
      return;
    }
    // Let the held connect reach the server first, as a real client's would.
    setTimeout(() => {
      const c2 = this.ctx.newConn();
      this.send(
        c2,
        '[{"channel":"/meta/disconnect","clientId":"' + this.clientId + '","id":"' + ++this.seq + '"}]',
        (msgs) => {
          const r = msgs && find(msgs, '/meta/disconnect');
          c2.destroy();
          this.conn.destroy();
          if (r && r.successful === true) done('disconnected');
          else {
            this.ctx.error('disconnect failed: ' + JSON.stringify(r?.error ?? msgs));
            done('failed');
          }
        },
      );
    }, 5);
  }

  private connectBody(timeout: number): string {
    return (
      '[{"channel":"/meta/connect","clientId":"' +
      this.clientId +
      '","connectionType":"long-polling",' +
      (timeout >= 0 ? '"advice":{"timeout":' + timeout + '},' : '') +
      '"id":"' +
      ++this.seq +
      '"}]'
    );
  }

  private connect(): void {
    if (!this.running) return;
    if (this.conn.closed) {
      this.ctx.reconnects++;
      this.conn = this.ctx.newConn();
    }
    this.holding = true;
    this.ctx.holding++;
    this.conn.request(this.connectBody(this.holdAdvice), this.cookie, this.onConnectResponse);
  }

  private readonly onConnectResponse = (err: Error | null, status: number, body: string): void => {
    if (this.holding) {
      this.holding = false;
      this.ctx.holding--;
    }
    if (!this.running) return;
    if (err !== null) {
      // The server closed the connection: open another and connect again.
      this.connect();
      return;
    }
    if (status !== 200) {
      this.ctx.error(`connect: HTTP ${status}`);
      setTimeout(() => this.connect(), RETRY_MS);
      return;
    }
    const msgs = this.parse(body);
    const reply = msgs && find(msgs, '/meta/connect');
    if (!reply) {
      this.ctx.error('connect: no reply in ' + body.slice(0, 200));
      setTimeout(() => this.connect(), RETRY_MS);
      return;
    }
    this.ctx.connectReplies++;
    const reconnect = reply.advice?.reconnect;
    if (reply.successful !== true) {
      if (reconnect === 'handshake') {
        this.ctx.rehandshakes++;
        this.setup((ok) => (ok ? this.connect() : setTimeout(() => this.connect(), RETRY_MS)));
        return;
      }
      this.ctx.error('connect refused: ' + JSON.stringify(reply.error));
      setTimeout(() => this.connect(), RETRY_MS);
      return;
    }
    if (reconnect === 'none') {
      this.running = false;
      return;
    }
    this.connect();
  };

  /** Sends one request; `cb` gets the parsed messages (deliveries already counted) or null. */
  private send(conn: HttpConn, body: string, cb: (msgs: Msg[] | null, setCookie: string | null) => void): void {
    conn.request(body, this.cookie, (err, status, text, setCookie) => {
      if (err !== null) return cb(null, null);
      if (status !== 200) {
        this.ctx.error(`HTTP ${status}: ${text.slice(0, 200)}`);
        return cb(null, null);
      }
      cb(this.parse(text), setCookie);
    });
  }

  /** Parses a response and counts the deliveries in it. */
  private parse(text: string): Msg[] | null {
    let msgs: Msg[];
    try {
      msgs = JSON.parse(text) as Msg[];
    } catch {
      this.ctx.error('bad JSON: ' + text.slice(0, 200));
      return null;
    }
    if (!Array.isArray(msgs)) return null;
    for (let i = 0; i < msgs.length; i++) {
      const m = msgs[i]!;
      const ch = m.channel;
      if (typeof ch === 'string' && !ch.startsWith('/meta/') && m.data !== undefined && m.successful === undefined) {
        this.ctx.delivered(m.data);
      }
    }
    return msgs;
  }
}

function find(msgs: Msg[], channel: string): Msg | undefined {
  for (const m of msgs) if (m.channel === channel && (m.successful !== undefined || channel.startsWith('/meta/'))) return m;
  return undefined;
}
