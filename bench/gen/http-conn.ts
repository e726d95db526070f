/**
 * A bare HTTP/1.1 keep-alive connection for the load generator: one request at a time,
 * POST with a JSON body, response parsed by hand (Content-Length or chunked). Far
 * lighter than http.Agent + ClientRequest, which matters when the generator shares two
 * cores with the server under test.
 */
import net from 'node:net';

export interface ConnTarget {
  host: string;
  port: number;
  path: string;
}

/** Called once per request: an error (connection lost) or the status and body. */
export type ResponseCallback = (err: Error | null, status: number, body: string, setCookie: string | null) => void;

const CRLFCRLF = Buffer.from('\r\n\r\n');

export class HttpConn {
  private readonly socket: net.Socket;
  private buf: Buffer | null = null;
  private cb: ResponseCallback | null = null;
  /** Parsed head of the response being read, or -1 while the head is incomplete. */
  private bodyStart = -1;
  private contentLength = -1;
  private chunked = false;
  private status = 0;
  private setCookie: string | null = null;
  private closeAfter = false;
  closed = false;

  constructor(
    target: ConnTarget,
    localAddress: string | undefined,
    private readonly prefix: string,
    private readonly onClosed: ((conn: HttpConn) => void) | null = null,
  ) {
    this.socket = net.connect({ host: target.host, port: target.port, localAddress });
    this.socket.setNoDelay(true);
    this.socket.on('data', (chunk: Buffer) => this.onData(chunk));
    this.socket.on('error', () => this.socket.destroy());
    this.socket.on('close', () => this.onClose());
  }

  /** The fixed part of a request, computed once per generator. */
  static requestPrefix(target: ConnTarget): string {
    return (
      `POST ${target.path} HTTP/1.1\r\nHost: ${target.host}:${target.port}\r\n` +
      'Content-Type: application/json;charset=UTF-8\r\nContent-Length: '
    );
  }

  get busy(): boolean {
    return this.cb !== null;
  }

  request(body: string, cookie: string | null, cb: ResponseCallback): void {
    if (this.closed) {
      cb(new Error('connection closed'), 0, '', null);
      return;
    }
    if (this.cb !== null) throw new Error('HttpConn: a request is already in flight');
    this.cb = cb;
    this.socket.write(
      this.prefix + Buffer.byteLength(body) + (cookie === null ? '\r\n\r\n' : '\r\nCookie: ' + cookie + '\r\n\r\n') + body,
    );
  }

  destroy(): void {
    this.socket.destroy();
  }

  private onClose(): void {
    if (this.closed) return;
    this.closed = true;
    const cb = this.cb;
    this.cb = null;
    this.buf = null;
    if (cb) cb(new Error('connection closed'), 0, '', null);
    if (this.onClosed) this.onClosed(this);
  }

  private onData(chunk: Buffer): void {
    this.buf = this.buf === null ? chunk : Buffer.concat([this.buf, chunk]);
    // Normally one response per request; the loop copes with anything left over.
    for (let guard = 0; guard < 4 && this.buf !== null && this.cb !== null; guard++) {
      if (!this.parse()) return;
    }
  }

  /** Parses one response from `buf`; false when more bytes are needed. */
  private parse(): boolean {
    const buf = this.buf!;
    if (this.bodyStart < 0) {
      const end = buf.indexOf(CRLFCRLF);
      if (end < 0) return false;
      this.readHead(buf.toString('latin1', 0, end));
      this.bodyStart = end + 4;
    }
    let body: string;
    let rest: number;
    if (this.contentLength >= 0) {
      rest = this.bodyStart + this.contentLength;
      if (buf.length < rest) return false;
      body = buf.toString('utf8', this.bodyStart, rest);
    } else if (this.chunked) {
      const parts: Buffer[] = [];
      let pos = this.bodyStart;
      for (;;) {
        const eol = buf.indexOf('\r\n', pos, 'latin1');
        if (eol < 0) return false;
        const size = Number.parseInt(buf.toString('latin1', pos, eol), 16);
        if (size === 0) {
          if (buf.length < eol + 4) return false;
          rest = eol + 4;
          break;
        }
        const end = eol + 2 + size;
        if (buf.length < end + 2) return false;
        parts.push(buf.subarray(eol + 2, end));
        pos = end + 2;
      }
      body = Buffer.concat(parts).toString('utf8');
    } else {
      // No length: the body ends with the connection (not expected from these servers).
      rest = buf.length;
      body = buf.toString('utf8', this.bodyStart);
    }
    this.buf = rest < buf.length ? buf.subarray(rest) : null;
    this.bodyStart = -1;
    const cb = this.cb!;
    this.cb = null;
    const { status, setCookie, closeAfter } = this;
    if (closeAfter) this.socket.end();
    cb(null, status, body, setCookie);
    return true;
  }

  private readHead(head: string): void {
    this.status = Number.parseInt(head.slice(9, 12), 10);
    this.contentLength = -1;
    this.chunked = false;
    this.setCookie = null;
    this.closeAfter = false;
    let pos = head.indexOf('\r\n');
    while (pos >= 0) {
      const next = head.indexOf('\r\n', pos + 2);
      const line = next < 0 ? head.slice(pos + 2) : head.slice(pos + 2, next);
      pos = next;
      const colon = line.indexOf(':');
      if (colon < 0) continue;
      const name = line.slice(0, colon).toLowerCase();
      if (name === 'content-length') this.contentLength = Number.parseInt(line.slice(colon + 1), 10);
      else if (name === 'transfer-encoding') this.chunked = line.toLowerCase().includes('chunked');
      else if (name === 'set-cookie') {
        const v = line.slice(colon + 1).trim();
        const semi = v.indexOf(';');
        this.setCookie = semi < 0 ? v : v.slice(0, semi);
      } else if (name === 'connection') this.closeAfter = line.toLowerCase().includes('close');
    }
  }
}
