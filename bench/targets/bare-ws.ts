/**
 * Target: the WebSocket "limit" — a plain `ws` WebSocketServer that speaks just enough
 * Bayeux for the generator (handshake, connect held and answered at its timeout like a
 * heartbeat, subscribe, disconnect) and broadcasts each published message as ONE frame,
 * serialized once, to every subscriber's socket. Like the HTTP limit, which answers each
 * held connect once per event-loop turn, it writes each socket once per turn: the socket
 * is corked at its first frame of the turn and uncorked at the turn's end, so the frames
 * of a burst leave in one write, not one system call each. No validation, no extensions,
 * no queues, ids from a counter, a session lives exactly as long as its socket. It shows
 * the ceiling of `ws` on this machine. Deliberately not a usable Bayeux server.
 * `BENCH_BARE_WS_NO_CORK=1`: one write per frame (the plain `ws.send` loop).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { runTarget } from './host.js';

interface Incoming {
  channel?: string;
  clientId?: string;
  id?: string;
  subscription?: string;
  advice?: { timeout?: number };
}

class Session {
  held = false;
  /** Corked for this turn's frames (see `flushCorked`). */
  corked = false;
  replyId: string | undefined = undefined;
  /** Bumped on every hold, so stale timer entries are recognised. */
  gen = 0;
  connected = false;
  subs: string[] | null = null;
  constructor(
    readonly id: string,
    readonly ws: WebSocket,
    /** The upgraded TCP socket under `ws`. */
    readonly socket: Duplex,
  ) {}
}

const sessions = new Map<string, Session>();
const channels = new Map<string, Set<Session>>();
const bySocket = new WeakMap<WebSocket, Session>();
const CORK = !process.env.BENCH_BARE_WS_NO_CORK;
let corked: Session[] = [];

/** End of the turn: every socket written in it sends its frames in one go. */
function flushCorked(): void {
  const list = corked;
  corked = [];
  for (const s of list) {
    s.corked = false;
    s.socket.uncork();
  }
}
let nextId = 0;
const idPrefix = Math.random().toString(16).slice(2, 10).padEnd(8, '0');

let timeoutMs = 30_000;
let adviceJson = '';

/** Hold deadlines: one FIFO per distinct timeout, so each stays sorted. */
const fifos = new Map<number, { s: Session; gen: number; at: number }[]>();

/** Frames are text; compression never (the same as bayeux-server's default). */
const TEXT = { binary: false, compress: false } as const;

function connectReply(id: string | undefined): string {
  return (id === undefined ? '{' : '{"id":' + JSON.stringify(id) + ',') + '"channel":"/meta/connect","successful":true,"advice":' + adviceJson + '}';
}

function reply(m: Incoming, extra = ''): string {
  return (m.id === undefined ? '{' : '{"id":' + JSON.stringify(m.id) + ',') + '"channel":' + JSON.stringify(m.channel) + ',"successful":true' + extra + '}';
}

function send(ws: WebSocket, parts: string[]): void {
  if (ws.readyState === 1) ws.send('[' + parts.join(',') + ']', TEXT);
}

/** Answers a held connect (the heartbeat). */
function release(s: Session): void {
  s.held = false;
  send(s.ws, [connectReply(s.replyId)]);
}

function remove(s: Session): void {
  if (sessions.get(s.id) !== s) return;
  sessions.delete(s.id);
  if (s.subs) for (const c of s.subs) channels.get(c)?.delete(s);
  s.held = false;
}

function onFrame(ws: WebSocket, socket: Duplex, data: RawData): void {
  let msgs: Incoming[];
  try {
    const v = JSON.parse(data.toString()) as Incoming | Incoming[];
    msgs = Array.isArray(v) ? v : [v];
  } catch {
    ws.close(1007, 'not JSON');
    return;
  }
  const out: string[] = [];
  let closeAfter = false;
  for (const m of msgs) {
    const ch = m.channel;
    if (ch === '/meta/handshake') {
      const id = idPrefix + (nextId++).toString(16).padStart(24, '0');
      const s = new Session(id, ws, socket);
      const prev = bySocket.get(ws);
      if (prev) remove(prev);
      sessions.set(id, s);
      bySocket.set(ws, s);
      out.push(reply(m, ',"version":"1.0","clientId":"' + id + '","supportedConnectionTypes":["websocket"],"advice":' + adviceJson));
      continue;
    }
    const s = m.clientId === undefined ? undefined : sessions.get(m.clientId);
    if (s === undefined || s.ws !== ws) {
      out.push('{"channel":' + JSON.stringify(ch) + ',"successful":false,"error":"402::session_unknown","advice":{"reconnect":"handshake","interval":0}}');
      continue;
    }
    if (ch === '/meta/connect') {
      const asked = m.advice?.timeout;
      const timeout = asked === undefined ? timeoutMs : Math.min(asked, timeoutMs);
      if (s.held) release(s);
      if (!s.connected || timeout === 0) {
        s.connected = true;
        out.push(connectReply(m.id));
        continue;
      }
      s.held = true;
      s.replyId = m.id;
      s.gen++;
      let fifo = fifos.get(timeout);
      if (!fifo) fifos.set(timeout, (fifo = []));
      fifo.push({ s, gen: s.gen, at: Date.now() + timeout });
    } else if (ch === '/meta/subscribe') {
      const c = m.subscription!;
      (s.subs ??= []).push(c);
      let set = channels.get(c);
      if (!set) channels.set(c, (set = new Set()));
      set.add(s);
      out.push(reply(m, ',"subscription":' + JSON.stringify(c)));
    } else if (ch === '/meta/disconnect') {
      if (s.held) release(s);
      remove(s);
      out.push(reply(m));
      closeAfter = true;
    } else out.push(reply(m));
  }
  if (out.length > 0) send(ws, out);
  if (closeAfter) ws.close(1000, 'disconnected');
}

function expireHolds(): void {
  const now = Date.now();
  for (const fifo of fifos.values()) {
    let i = 0;
    while (i < fifo.length && fifo[i]!.at <= now) {
      const e = fifo[i++]!;
      if (e.s.gen === e.gen && e.s.held && sessions.get(e.s.id) === e.s) release(e.s);
    }
    if (i > 0) fifo.splice(0, i);
  }
}

void runTarget((server, config) => {
  timeoutMs = config.timeout;
  adviceJson = JSON.stringify({ reconnect: 'retry', interval: 0, timeout: config.timeout });
  setInterval(expireHolds, 50).unref();
  const wss = new WebSocketServer({ noServer: true, clientTracking: false, perMessageDeflate: false });
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    wss.handleUpgrade(req, socket, head, (ws) => {
      ws.on('message', (data: RawData) => onFrame(ws, socket, data));
      ws.on('close', () => {
        const s = bySocket.get(ws);
        if (s) remove(s);
      });
      ws.on('error', () => {});
    });
  });
  server.on('request', (_req: IncomingMessage, res: ServerResponse) => {
    res.writeHead(400);
    res.end('WebSocket only\n');
  });
  return {
    publish(channel, data) {
      const set = channels.get(channel);
      if (set === undefined) return;
      // Serialized once; each socket gets the same bytes in a frame of its own.
      const frame = Buffer.from('[{"channel":' + JSON.stringify(channel) + ',"data":' + JSON.stringify(data) + '}]');
      for (const s of set) {
        if (s.ws.readyState !== 1) continue;
        if (CORK && !s.corked) {
          s.corked = true;
          s.socket.cork();
          if (corked.push(s) === 1) setImmediate(flushCorked);
        }
        s.ws.send(frame, TEXT);
      }
    },
    sessions: () => sessions.size,
  };
});
