/**
 * Counts the deliveries of a fan-out-design run and checks them: every session must get
 * every message published to the channel, once, in publish order. Messages carry their
 * sequence number at a fixed place (`{"id":"<n>",…`), so checking costs no JSON parse.
 */

/** The payload of message `n`: a Bayeux message of about the size the fan-out bench sends. */
export function payloadOf(n: number, channel: string, tag: string): string {
  return `{"id":"${n}","channel":"${channel}","data":{"tag":"${tag}","t":${Date.now()}.123,"pad":"abcdefghijklmnopqrstuvwxyz"}}`;
}

/** The sequence number of a payload made by {@link payloadOf}. */
function seqOf(payload: string): number {
  return Number.parseInt(payload.slice(7), 10);
}

export class Tally {
  /** Deliveries counted (message × session), duplicates included. */
  delivered = 0;
  /** Deliveries of a message the session had not had before. */
  unique = 0;
  /** A message a session had already got. */
  duplicates = 0;
  /** A message older than one the session already got (per-session order broken). */
  outOfOrder = 0;
  /** Messages the sessions were told were dropped (their position fell behind a trimmed log, or a queue overflowed). */
  dropped = 0;
  /** Deliveries handed out from a read shared by several sessions (design C's process read). */
  shared = 0;
  /** When the last delivery was counted (ms, performance clock). */
  lastAt = 0;
  /** Which message each session has had: bit i × messages + n. */
  private readonly seen: Uint8Array;
  /** Each session's newest sequence number (-1: none yet). */
  private readonly last: Float64Array;
  private target = Infinity;
  private reached: (() => void) | null = null;

  constructor(
    sessions: number,
    /** How many messages the run publishes in all (numbered 0…messages-1). */
    private readonly messages: number,
  ) {
    this.seen = new Uint8Array(sessions * messages);
    this.last = new Float64Array(sessions).fill(-1);
  }

  /** Session `i` got these payloads (one response's worth); `shared`: from a read shared with other sessions. */
  add(i: number, payloads: readonly string[], shared = false): void {
    if (shared) this.shared += payloads.length;
    let last = this.last[i]!;
    const base = i * this.messages;
    for (const p of payloads) {
      const n = seqOf(p);
      if (!(n >= 0 && n < this.messages)) throw new Error(`unexpected payload ${p.slice(0, 40)}`);
      if (this.seen[base + n] === 1) {
        this.duplicates++;
        continue;
      }
      this.seen[base + n] = 1;
      this.unique++;
      if (n < last) this.outOfOrder++;
      else last = n;
    }
    this.last[i] = last;
    this.delivered += payloads.length;
    this.lastAt = performance.now();
    if (this.unique >= this.target && this.reached) {
      const r = this.reached;
      this.reached = null;
      r();
    }
  }

  /** Resolves true once `total` distinct deliveries are counted, or false after `timeoutMs`. */
  waitFor(total: number, timeoutMs: number): Promise<boolean> {
    if (this.unique >= total) return Promise.resolve(true);
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.reached = null;
        resolve(false);
      }, timeoutMs);
      this.target = total;
      this.reached = () => {
        clearTimeout(t);
        resolve(true);
      };
    });
  }
}
