/**
 * Target: the "limit" — a bare node:http long-poll loop that does the same HTTP work as a
 * Bayeux server (read and JSON.parse the body, hold the response, answer with a small
 * JSON array) and as little else as the generator's requests allow: no validation, no
 * extensions, no wildcards, ids from a counter. It shows the ceiling of Node's HTTP
 * stack on this machine. Deliberately not a usable Bayeux server.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { runTarget } from './host.js';

interface Incoming {
  channel?: string;
  clientId?: string;
  id?: string;
  data?: unknown;
  subscription?: string;
  advice?: { timeout?: number };
}

class Session {
  res: ServerResponse | null = null;
  replyId: string | undefined = undefined;
  /** Bumped on every hold, so stale timer entries are recognised. */
  gen = 0;
  queue: string[] | null = null;
  subs: string[] | null = null;
  connected = false;
  dirty = false;
  /** Epoch ms of the last answered connect; idle sessions expire from it. */
  lastSeen = Date.now();
  constructor(readonly id: string) {}
}

const sessions = new Map<string, Session>();
const channels = new Map<string, Set<Session>>();
let nextId = 0;
const idPrefix = Math.random().toString(16).slice(2, 10).padEnd(8, '0');

let timeoutMs = 30_000;
let maxIntervalMs = 10_000;
let adviceJson = '';

/** Hold deadlines: one FIFO per distinct timeout, so each stays sorted. */
const fifos = new Map<number, { s: Session; gen: number; at: number }[]>();

function connectReply(id: string | undefined): string {
  return (id === undefined ? '{' : '{"id":' + JSON.stringify(id) + ',') + '"channel":"/meta/connect","successful":true,"advice":' + adviceJson + '}';
}

function reply(m: Incoming, extra = ''): string {
  return (m.id === undefined ? '{' : '{"id":' + JSON.stringify(m.id) + ',') + '"channel":' + JSON.stringify(m.channel) + ',"successful":true' + extra + '}';
}

function write(res: ServerResponse, parts: string[]): void {
  if (res.destroyed) return;
  const body = '[' + parts.join(',') + ']';
  res.writeHead(200, ['Content-Type', 'application/json', 'Content-Length', String(Buffer.byteLength(body))]);
  res.end(body);
}

/** Answers a held connect with whatever is queued. */
function release(s: Session): void {
  const res = s.res!;
  s.res = null;
  s.lastSeen = Date.now();
  const parts = s.queue ?? [];
  s.queue = null;
  parts.push(connectReply(s.replyId));
  write(res, parts);
}

let dirty: Session[] = [];
let flushScheduled = false;
function flush(): void {
  flushScheduled = false;
  const list = dirty;
  dirty = [];
  for (const s of list) {
    s.dirty = false;
    if (s.res !== null) release(s);
  }
}

function enqueue(s: Session, payload: string): void {
  if (s.queue === null) s.queue = [payload];
  else s.queue.push(payload);
  if (s.res !== null && !s.dirty) {
    s.dirty = true;
    dirty.push(s);
    if (!flushScheduled) {
      flushScheduled = true;
      setImmediate(flush);
    }
  }
}

function remove(s: Session): void {
  sessions.delete(s.id);
  if (s.subs) for (const c of s.subs) channels.get(c)?.delete(s);
  if (s.res !== null) release(s);
}

function processBatch(msgs: Incoming[], res: ServerResponse): void {
  const out: string[] = [];
  let owner: Session | undefined;
  let hold: { s: Session; id: string | undefined; timeout: number } | null = null;
  for (const m of msgs) {
    const ch = m.channel;
    if (ch === '/meta/handshake') {
      const id = idPrefix + (nextId++).toString(16).padStart(24, '0');
      sessions.set(id, new Session(id));
      out.push(reply(m, ',"version":"1.0","clientId":"' + id + '","supportedConnectionTypes":["long-polling"],"advice":' + adviceJson));
      continue;
    }
    const s = m.clientId === undefined ? undefined : sessions.get(m.clientId);
    if (s === undefined) {
      out.push('{"channel":' + JSON.stringify(ch) + ',"successful":false,"error":"402::session_unknown","advice":{"reconnect":"handshake","interval":0}}');
      continue;
    }
    owner = s;
    if (ch === '/meta/connect') {
      const asked = m.advice?.timeout;
      const timeout = asked === undefined ? timeoutMs : Math.min(asked, timeoutMs);
      if (!s.connected || msgs.length > 1 || timeout === 0 || s.queue !== null) {
        s.connected = true;
        s.lastSeen = Date.now();
        out.push(connectReply(m.id));
      } else hold = { s, id: m.id, timeout };
    } else if (ch === '/meta/subscribe') {
      const c = m.subscription!;
      (s.subs ??= []).push(c);
      let set = channels.get(c);
      if (!set) channels.set(c, (set = new Set()));
      set.add(s);
      out.push(reply(m, ',"subscription":' + JSON.stringify(c)));
    } else if (ch === '/meta/disconnect') {
      remove(s);
      out.push(reply(m));
    } else if (ch !== undefined) {
      const set = channels.get(ch);
      if (set !== undefined) {
        const payload = '{"channel":' + JSON.stringify(ch) + ',"data":' + JSON.stringify(m.data) + '}';
        for (const sub of set) enqueue(sub, payload);
      }
      out.push(reply(m));
    }
  }
  if (hold !== null) {
    const s = hold.s;
    if (s.res !== null) release(s);
    s.res = res;
    s.replyId = hold.id;
    s.gen++;
    let fifo = fifos.get(hold.timeout);
    if (!fifo) fifos.set(hold.timeout, (fifo = []));
    fifo.push({ s, gen: s.gen, at: Date.now() + hold.timeout });
    return;
  }
  if (owner !== undefined && owner.queue !== null && owner.res === null) {
    out.unshift(...owner.queue);
    owner.queue = null;
  }
  write(res, out);
}

function expireHolds(): void {
  const now = Date.now();
  for (const fifo of fifos.values()) {
    let i = 0;
    while (i < fifo.length && fifo[i]!.at <= now) {
      const e = fifo[i++]!;
      if (e.s.gen === e.gen && e.s.res !== null) release(e.s);
    }
    if (i > 0) fifo.splice(0, i);
  }
}

function sweep(): void {
  const cutoff = Date.now() - maxIntervalMs;
  for (const s of sessions.values()) if (s.res === null && s.lastSeen < cutoff) remove(s);
}

function handle(req: IncomingMessage, res: ServerResponse): void {
  if (req.method !== 'POST') {
    res.writeHead(400);
    res.end();
    return;
  }
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    let msgs: Incoming[];
    try {
      const v = JSON.parse((chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)).toString('utf8')) as Incoming | Incoming[];
      msgs = Array.isArray(v) ? v : [v];
    } catch {
      res.writeHead(400);
      res.end();
      return;
    }
    processBatch(msgs, res);
  });
}

void runTarget((server, config) => {
  timeoutMs = config.timeout;
  maxIntervalMs = config.maxInterval;
  adviceJson = JSON.stringify({ reconnect: 'retry', interval: 0, timeout: config.timeout });
  setInterval(expireHolds, 50).unref();
  setInterval(sweep, 1000).unref();
  server.on('request', handle);
  return {
    publish(channel, data) {
      const set = channels.get(channel);
      if (set === undefined) return;
      const payload = '{"channel":' + JSON.stringify(channel) + ',"data":' + JSON.stringify(data) + '}';
      for (const s of set) enqueue(s, payload);
    },
    sessions: () => sessions.size,
  };
});
