/**
 * Tickets that open iframe streaming documents. The client POSTs its `/meta/connect` (which
 * holds the `clientId` and any `ext`, an auth token for instance) and gets back a random
 * ticket; the document's URL then carries only the ticket, so nothing secret lands in
 * access logs. A ticket opens one document, within `timeout` ms of being issued.
 */
import { randomBytes } from 'node:crypto';
import createDebug from 'debug';

const debug = createDebug('bayeux:transport:iframe:tickets');

/** What a ticket stands for: the connect that opens the document. */
export interface Ticketed {
  readonly connect: Record<string, unknown>;
  /** Its size as received, for the core's `maxMessageBytes` check. */
  readonly bytes: number;
}

interface Entry extends Ticketed {
  readonly expires: number;
}

/** Issued tickets, bounded in number; each redeemable once, until it expires. */
export class TicketStore {
  // Insertion order is expiry order (one timeout for all): expired tickets sit at the front.
  private readonly tickets = new Map<string, Entry>();

  constructor(
    private readonly timeout: number,
    private readonly max: number,
  ) {}

  get size(): number {
    return this.tickets.size;
  }

  /** A new ticket for `value`, or null when `max` unexpired tickets are outstanding. */
  issue(value: Ticketed, now = Date.now()): string | null {
    this.prune(now);
    if (this.tickets.size >= this.max) {
      debug('ticket refused: %d outstanding', this.tickets.size);
      return null;
    }
    const ticket = randomBytes(18).toString('base64url');
    this.tickets.set(ticket, { ...value, expires: now + this.timeout });
    return ticket;
  }

  /** Takes a ticket: its value, or null when it is unknown, already used or expired. */
  redeem(ticket: string, now = Date.now()): Ticketed | null {
    const entry = this.tickets.get(ticket);
    if (entry === undefined) return null;
    this.tickets.delete(ticket);
    return entry.expires > now ? entry : null;
  }

  private prune(now: number): void {
    for (const [ticket, entry] of this.tickets) {
      if (entry.expires > now) return;
      this.tickets.delete(ticket);
    }
  }
}
