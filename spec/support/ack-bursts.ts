/**
 * The run both acknowledged-delivery specs make (long-polling and WebSocket): a handshaken
 * CometD client subscribes, the server publishes {@link ACK_TOTAL} numbered messages in
 * bursts, and the spec waits until everything that can arrive has.
 */
import type { Message } from 'cometd';
import type { BayeuxServer } from '../../index.js';
import type { CometDClient } from './cometd-client.js';
import { waitUntil } from './wait.js';

export const ACK_TOTAL = 1000;
const BURST = 10;

/** Subscribes `client` to `/ack/test`, publishes the bursts, and resolves with what arrived, in arrival order. */
export async function receiveBursts(bayeux: BayeuxServer, client: CometDClient, settleMs: number): Promise<number[]> {
  const received: number[] = [];
  await client.subscribe('/ack/test', (m: Message) => received.push(m.data as number));
  for (let i = 0; i < ACK_TOTAL; i += BURST) {
    for (let j = i; j < i + BURST; j++) await bayeux.publish('/ack/test', j);
    await new Promise((r) => setTimeout(r, 20));
  }
  // Everything that can arrive has: the last message, or a quiet second and a half.
  let last = -1;
  let quietSince = Date.now();
  await waitUntil(
    () => {
      if (received.length !== last) {
        last = received.length;
        quietSince = Date.now();
      }
      return received.includes(ACK_TOTAL - 1) || Date.now() - quietSince > 1500;
    },
    'the deliveries to settle',
    settleMs,
    20,
  );
  return received;
}
