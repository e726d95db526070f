/**
 * HTTP upgrade requests (WebSocket) before a transport takes them: the origin policy, and
 * refusals written on the raw socket (an upgrade has no ServerResponse).
 */
import { STATUS_CODES, type IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import createDebug from 'debug';

const debug = createDebug('bayeux:transport:upgrade');

/** How long a refused peer may take to read the refusal before its socket is destroyed. */
const REFUSAL_LINGER_MS = 5000;

/** Answers an upgrade request with a plain-text HTTP error and closes the socket. */
export function refuseUpgrade(socket: Duplex, status: number, message: string, headers: Readonly<Record<string, string>> = {}): void {
  debug('upgrade refused: %d %s', status, message);
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const body = `${status} ${message}\n`;
  let head =
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\n` +
    'Connection: close\r\nContent-Type: text/plain; charset=utf-8\r\nCache-Control: no-cache, no-store\r\n' +
    `Content-Length: ${Buffer.byteLength(body)}\r\n`;
  for (const name of Object.keys(headers)) head += `${name}: ${headers[name]}\r\n`;
  socket.end(head + '\r\n' + body);
  // A peer that never closes its side must not keep the descriptor.
  setTimeout(() => socket.destroy(), REFUSAL_LINGER_MS).unref();
}

/**
 * Whether the page that opened a socket may use it. Browsers send cookies with upgrades
 * and do not apply CORS to them, so a page on any site could otherwise act with the user's
 * session (cross-site WebSocket hijacking). Allowed: no `Origin` (not a browser), the
 * server's own origin (same host and port as the `Host` header), and origins `allows`
 * accepts (the handler's CORS allow-list).
 */
export function originAllowed(req: IncomingMessage, allows: ((origin: string) => boolean) | null): boolean {
  const origin = req.headers.origin;
  if (origin === undefined) return true;
  if (sameOrigin(origin, req.headers.host)) return true;
  return allows !== null && allows(origin);
}

/** True when `origin` names the host the request was sent to (scheme's default port made explicit on both sides). */
function sameOrigin(origin: string, host: string | undefined): boolean {
  if (host === undefined) return false;
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    return false;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return false;
  const port = url.protocol === 'https:' ? '443' : '80';
  return withPort(url.host.toLowerCase(), port) === withPort(host.toLowerCase(), port);
}

/** `host` with `:port` added when it has none (IPv6 literals keep their brackets). */
function withPort(host: string, port: string): string {
  const colon = host.lastIndexOf(':');
  return colon > host.lastIndexOf(']') ? host : host + ':' + port;
}
