/**
 * Serialization of deliveries. A published message is turned into JSON once and the same
 * string is queued for every subscriber; responses are assembled from such strings.
 */

/** The JSON of a delivery: `channel`, `data` and, when given, `ext` (never `clientId`). */
export function serializeDelivery(channel: string, data: unknown, ext?: Record<string, unknown>, id?: string): string {
  let json = '{"channel":' + JSON.stringify(channel);
  if (id !== undefined) json += ',"id":' + JSON.stringify(id);
  json += ',"data":' + (data === undefined ? 'null' : JSON.stringify(data));
  if (ext !== undefined) json += ',"ext":' + JSON.stringify(ext);
  return json + '}';
}

/** A JSON array from already-serialized messages. */
export function joinMessages(parts: readonly string[]): string {
  return parts.length === 1 ? '[' + parts[0] + ']' : '[' + parts.join(',') + ']';
}
