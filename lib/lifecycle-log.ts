/**
 * The lifecycle lines people look for when a client misbehaves, under namespaces of their
 * own so they can be turned on without the rest: `DEBUG=bayeux:session,bayeux:subscription`.
 * Callers on hot paths test `.enabled` first, so nothing is formatted when they are off.
 */
import createDebug from 'debug';

/** Handshakes (client id, peer address, connection type) and session removals (with the reason). */
export const logSession = createDebug('bayeux:session');
/** Subscribes and unsubscribes (client id, channels). */
export const logSubscription = createDebug('bayeux:subscription');
/** Publishes from clients and from app code (channel, sessions reached). */
export const logPublish = createDebug('bayeux:publish');
