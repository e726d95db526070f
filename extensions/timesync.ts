/**
 * timesync: the server side of CometD's TimeSyncExtension.
 *
 * Clients put `ext.timesync = { tc, l, o }` on meta messages (client time, lag and offset
 * estimates). The reply carries `{ tc, ts, p, a }`: the client's `tc` back, the server time
 * `ts` when the message arrived, `p` the ms the server spent on it (including a connect's
 * hold) and `a` the accuracy of the client's estimate, `tc + o + l - ts`. From `tc`, `ts`
 * and `p` the client computes lag and offset. Written against the public extension API.
 */
import type { Message } from '../lib/message.js';
import type { Extension, OutgoingMessage } from '../lib/server-session.js';

interface ClientTimesync {
  tc: number;
  l?: number;
  o?: number;
}

function clientTimesync(message: Message | undefined): ClientTimesync | null {
  const t = message?.ext?.timesync as Partial<ClientTimesync> | undefined;
  return t !== undefined && t !== null && typeof t === 'object' && typeof t.tc === 'number' && Number.isFinite(t.tc)
    ? (t as ClientTimesync)
    : null;
}

/** Creates the timesync extension: `server.addExtension(timesyncExtension())`. */
export function timesyncExtension(): Extension {
  // Arrival times, keyed by the incoming message object the reply's context points back to.
  const arrived = new WeakMap<Message, number>();
  return {
    incoming(message) {
      if (clientTimesync(message) !== null) arrived.set(message, Date.now());
    },
    outgoing(message: OutgoingMessage, context) {
      const request = context.inReplyTo;
      const t = clientTimesync(request);
      if (t === null || !request) return;
      const ts = arrived.get(request);
      if (ts === undefined) return;
      const now = Date.now();
      const reply: Record<string, number> = { tc: t.tc, ts, p: now - ts };
      if (typeof t.l === 'number' && typeof t.o === 'number') reply.a = t.tc + t.o + t.l - ts;
      message.ext = { ...(message.ext ?? {}), timesync: reply };
    },
  };
}
