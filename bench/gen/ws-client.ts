/**
 * One simulated Bayeux client over WebSocket (`ws`'s client, one socket per client):
 * handshake, first connect (advice timeout 0), subscribe, then held connects as the
 * heartbeat while deliveries arrive in frames of their own. Replies are matched to
 * requests by `id`, so a reply may come in any frame, alone or with deliveries.
 *
 * Faye's server binds a socket to a session when a frame on it carries that session's
 * `/meta/connect` (and writes each delivery as its own frame), so the first connect goes
 * before the subscribe, as Faye's own client does it; bayeux-server and the bare server
 * take the socket from the handshake on.
 */
import { WebSocket, type RawData } from 'ws';
import type { ClientRole } from './client.js';
import type { GenContext } from './context.js';

interface Msg {
  id?: unknown;
  channel?: unknown;
  successful?: unknown;
  clientId?: unknown;
  data?: unknown;
  advice?: { reconnect?: unknown } | null;
  error?: unknown;
}

type ReplyCallback = (reply: Msg | null) => void;

const RETRY_MS = 500;

const SOCKET_OPTIONS = { perMessageDeflate: false, skipUTF8Validation: true } as const;

export class WsBayeuxClient {
  clientId: string | null = null;
  private ws: WebSocket | null = null;
  private seq = 0;
  private running = false;
  private holding = false;
  /** advice.timeout to send on held connects (-1: none, the server's own timeout). */
  private holdAdvice = -1;
  /** Requests sent and not answered yet, by message id. */
  private readonly pending = new Map<string, ReplyCallback>();

  constructor(
    private readonly ctx: GenContext,
    private readonly role: ClientRole,
  ) {
    ctx.clients++;
  }

  /** Opens the socket (if needed), then handshake, first connect and subscribe; `done(true)` once the session is ready. */
  setup(done: (ok: boolean) => void): void {
    const fail = (what: string): void => {
      this.ctx.error(what);
      done(false);
    };
    this.ensureOpen((open) => {
      if (!open) return fail('websocket did not open');
      this.request('{"channel":"/meta/handshake","version":"1.0","minimumVersion":"1.0","supportedConnectionTypes":["websocket"]', (reply) => {
        if (!reply || reply.successful !== true || typeof reply.clientId !== 'string') {
          return fail('handshake refused: ' + JSON.stringify(reply?.error ?? reply));
        }
        this.clientId = reply.clientId;
        this.request(this.connectBody(0), (c) => {
          if (!c || c.successful !== true) return fail('first connect failed: ' + JSON.stringify(c?.error ?? c));
          if (this.role.subscription === null) return done(true);
          this.request(
            '{"channel":"/meta/subscribe","clientId":"' + this.clientId + '","subscription":' + JSON.stringify(this.role.subscription),
            (s) => {
              if (!s || s.successful !== true) return fail('subscribe failed: ' + JSON.stringify(s?.error ?? s));
              done(true);
            },
          );
        });
      });
    });
  }

  /** Starts the held-connect loop (`holdMs` >= 0 asks the server for that timeout). */
  startLoop(holdMs = -1): void {
    this.holdAdvice = holdMs;
    this.running = true;
    this.connect();
  }

  /** Stops looping and drops the socket (the server sees the client vanish). */
  stop(): void {
    this.running = false;
    if (this.holding) {
      this.holding = false;
      this.ctx.holding--;
    }
    this.ws?.terminate();
    this.ws = null;
  }

  get isHolding(): boolean {
    return this.holding;
  }

  /** Publishing over WebSocket is not part of the bench: nothing is published. */
  publishLoop(_until: number, _tag: string, done: (unanswered: number) => void): void {
    done(0);
  }

  /**
   * One churn life after `setup`: hold a connect, then either vanish (drop the socket while
   * the connect is held) or send /meta/disconnect on the same socket.
   */
  finish(vanish: boolean, holdMs: number, done: (outcome: 'disconnected' | 'vanished' | 'failed') => void): void {
    this.holdAdvice = holdMs > 0 ? holdMs : -1;
    this.request(this.connectBody(this.holdAdvice), () => {});
    if (vanish) {
      setTimeout(() => {
        this.stop();
        done('vanished');
      }, Math.floor(Math.random() * 50));
      return;
    }
    // Let the held connect reach the server first, as a real client's would.
    setTimeout(() => {
      this.request('{"channel":"/meta/disconnect","clientId":"' + this.clientId + '"', (r) => {
        this.stop();
        if (r && r.successful === true) done('disconnected');
        else {
          this.ctx.error('disconnect failed: ' + JSON.stringify(r?.error ?? r));
          done('failed');
        }
      });
    }, 5);
  }

  private connectBody(timeout: number): string {
    return (
      '{"channel":"/meta/connect","clientId":"' +
      this.clientId +
      '","connectionType":"websocket"' +
      (timeout >= 0 ? ',"advice":{"timeout":' + timeout + '}' : '')
    );
  }

  private connect(): void {
    if (!this.running) return;
    if (this.ws === null || this.ws.readyState !== WebSocket.OPEN) {
      // The server closed the socket: open another and carry on with the session.
      this.ctx.reconnects++;
      this.ensureOpen((open) => {
        if (open) this.connect();
        else if (this.running) setTimeout(() => this.connect(), RETRY_MS);
      });
      return;
    }
    this.holding = true;
    this.ctx.holding++;
    this.request(this.connectBody(this.holdAdvice), this.onConnectReply);
  }

  private readonly onConnectReply = (reply: Msg | null): void => {
    if (this.holding) {
      this.holding = false;
      this.ctx.holding--;
    }
    if (!this.running) return;
    // The socket closed: connect() opens another.
    if (reply === null) return this.connect();
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

  private ensureOpen(cb: (open: boolean) => void): void {
    if (this.ws !== null && this.ws.readyState === WebSocket.OPEN) return cb(true);
    this.ws?.terminate();
    const { target, localAddress } = this.ctx.nextEndpoint();
    const ws = new WebSocket(`ws://${target.host}:${target.port}${target.path}`, { ...SOCKET_OPTIONS, localAddress });
    this.ws = ws;
    let settled = false;
    ws.on('open', () => {
      settled = true;
      cb(true);
    });
    ws.on('message', this.onMessage);
    ws.on('error', (err) => {
      if (!settled) this.ctx.error('websocket: ' + err.message);
    });
    ws.on('close', () => {
      if (this.ws === ws) this.ws = null;
      if (!settled) {
        settled = true;
        cb(false);
      }
      // Requests of this socket will not be answered.
      const waiting = [...this.pending.values()];
      this.pending.clear();
      for (const w of waiting) w(null);
    });
  }

  /** Sends one message (`head`: its JSON without the id and the closing brace); `cb` gets the reply or null. */
  private request(head: string, cb: ReplyCallback): void {
    const ws = this.ws;
    if (ws === null || ws.readyState !== WebSocket.OPEN) return cb(null);
    const id = String(++this.seq);
    this.pending.set(id, cb);
    ws.send('[' + head + ',"id":"' + id + '"}]');
  }

  /** A frame: replies go to their requests, deliveries are counted. */
  private readonly onMessage = (data: RawData): void => {
    let msgs: Msg | Msg[];
    try {
      msgs = JSON.parse(data.toString()) as Msg | Msg[];
    } catch {
      this.ctx.error('bad JSON frame: ' + data.toString().slice(0, 200));
      return;
    }
    if (!Array.isArray(msgs)) msgs = [msgs];
    for (let i = 0; i < msgs.length; i++) {
      const m = msgs[i]!;
      const ch = m.channel;
      if (typeof ch !== 'string') continue;
      if (ch.startsWith('/meta/')) {
        const id = typeof m.id === 'string' ? m.id : undefined;
        const cb = id === undefined ? undefined : this.pending.get(id);
        if (cb !== undefined) {
          this.pending.delete(id!);
          cb(m);
        }
      } else if (m.data !== undefined && m.successful === undefined) this.ctx.delivered(m.data);
    }
  };
}
