/**
 * Responses are assembled from already-serialized messages: a published message is turned
 * into JSON once and the same string is queued for every subscriber.
 */

/** A JSON array from already-serialized messages. */
export function joinMessages(parts: readonly string[]): string {
  return parts.length === 1 ? '[' + parts[0] + ']' : '[' + parts.join(',') + ']';
}
