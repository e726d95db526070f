/**
 * ack: the server side of CometD's acknowledged-messages extension (the CometD JavaScript
 * `AckExtension` and dojox's `ack`), written against the public extension API.
 *
 * Wire protocol: the client offers `ext.ack: true` on its handshake and the reply says
 * whether the server agrees. Each successful connect reply then carries `ext.ack: <batch>`,
 * the number of the batch of messages in that response — a reply without messages the
 * latest number handed out, as CometD's server numbers every connect reply — and the
 * client's next connect sends back the last batch it received. The engine keeps every
 * delivered message until its batch is acknowledged and sends the unacknowledged ones
 * again, ahead of newer mail, so a response lost on the way (a dropped connection, a proxy
 * cut) costs nothing; newer mail goes out under a higher number, so acknowledging the
 * number of a reply without messages drops nothing.
 *
 * Why it is race-safe: the unacknowledged store lives in the engine, next to the queue, and
 * is changed only by atomic engine calls — acknowledging happens before the connect is
 * handled, and a connect that finds unacknowledged mail is answered at once with it
 * rather than held. Mail for such sessions never rides on other responses (only connect
 * replies are numbered), and mail queued during the handshake or while a connection
 * drops simply waits in the queue for the next numbered batch.
 */
import type { Extension } from '../lib/server-session.js';

/** Creates the ack extension: `server.addExtension(ackExtension())`. */
export function ackExtension(): Extension {
  return {
    async incoming(message, context) {
      const ack = message.ext?.ack;
      if (message.channel === '/meta/connect' && context.session !== null && typeof ack === 'number' && Number.isFinite(ack)) {
        await context.session.acknowledge(ack);
      }
    },
    async outgoing(message, context) {
      if (message.successful !== true) return;
      if (message.channel === '/meta/handshake') {
        // The context's session is the one this handshake created.
        if (context.inReplyTo?.ext?.ack !== true || context.session === null) return;
        const enabled = await context.session.enableAcknowledgement();
        message.ext = { ...(message.ext ?? {}), ack: enabled };
      } else if (message.channel === '/meta/connect' && context.batch !== undefined) {
        message.ext = { ...(message.ext ?? {}), ack: context.batch };
      }
    },
  };
}
