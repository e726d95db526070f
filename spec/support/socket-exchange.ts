/**
 * One HTTP request written byte by byte on a node:net socket, as a client that keeps
 * sending its body whatever the server says (as undici and browsers do), and a record of
 * what happened on the wire: the answer, the socket errors the client saw (EPIPE,
 * ECONNRESET) and whether the server closed the connection. For the bodies fetch cannot
 * send: truncated, trickled, or never finished.
 */
import net from 'node:net';

/** What to send. */
export interface SocketRequest {
  /** Request line and headers, ending with the blank line. */
  head: string;
  /** Body pieces, each written once the previous one is flushed. */
  parts?: (string | Buffer)[];
  /** Pause between pieces, in ms (a trickle). Default 0. */
  gapMs?: number;
  /** Stop writing once a whole answer has arrived (a trickling client gives up). Default false. */
  stopWhenAnswered?: boolean;
  /** Close the socket ourselves once the answer has arrived and every piece is written. Default false. */
  closeWhenAnswered?: boolean;
  /** Bound on the whole exchange; past it the socket is destroyed and `timedOut` set. */
  limitMs: number;
}

/** What happened. */
export interface SocketResult {
  status: number | null;
  /** Response headers, names in lower case. */
  headers: Record<string, string>;
  body: string;
  /** A whole response (head and `Content-Length` body) arrived. */
  answered: boolean;
  /** Every body piece was written. */
  sentAll: boolean;
  /** Socket errors the client saw, by code. */
  errors: string[];
  /** The server ended or reset the connection (not our own close, not our time limit). */
  closedByServer: boolean;
  /** Our limit passed first. */
  timedOut: boolean;
  /** What arrived, for failure messages. */
  raw: string;
}

/** Sends `request` on a new connection to 127.0.0.1:`port`; never rejects. */
export function socketExchange(port: number, request: SocketRequest): Promise<SocketResult> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    const result: SocketResult = {
      status: null,
      headers: {},
      body: '',
      answered: false,
      sentAll: false,
      errors: [],
      closedByServer: false,
      timedOut: false,
      raw: '',
    };
    let settled = false;
    const settle = (): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(result);
    };
    const timer = setTimeout(() => {
      result.timedOut = true;
      settle();
    }, request.limitMs);

    let received = Buffer.alloc(0);
    socket.on('data', (d: Buffer) => {
      received = Buffer.concat([received, d]);
      result.raw = received.toString('latin1');
      if (!result.answered) parseAnswer(received, result);
      if (result.answered && request.closeWhenAnswered && (result.sentAll || request.stopWhenAnswered)) settle();
    });
    socket.on('error', (err: NodeJS.ErrnoException) => result.errors.push(err.code ?? err.message));
    socket.on('end', () => {
      result.closedByServer = true;
    });
    socket.on('close', () => {
      if (!settled) result.closedByServer = true;
      settle();
    });
    // A client that stopped sending still closes once answered, if asked to.
    const giveUp = (): void => {
      if (result.answered && request.closeWhenAnswered) settle();
    };
    socket.on('connect', async () => {
      const pieces = [request.head, ...(request.parts ?? [])];
      const stop = (): boolean => settled || socket.destroyed || (request.stopWhenAnswered === true && result.answered);
      for (let i = 0; i < pieces.length; i++) {
        if (i > 1 && request.gapMs) await new Promise((r) => setTimeout(r, request.gapMs));
        if (stop()) return giveUp();
        const ok = await new Promise<boolean>((r) => socket.write(pieces[i]!, (err) => r(!err)));
        if (!ok) return;
      }
      result.sentAll = true;
      if (result.answered && request.closeWhenAnswered) settle();
    });
  });
}

/** Fills in status, headers and body once a whole response is in `bytes`. */
function parseAnswer(bytes: Buffer, result: SocketResult): void {
  const end = bytes.indexOf('\r\n\r\n');
  if (end < 0) return;
  const lines = bytes.subarray(0, end).toString('latin1').split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0]!);
  const headers: Record<string, string> = {};
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  // Node's own refusals (a malformed request) come without a body or Content-Length.
  const length = Number(headers['content-length'] ?? 0);
  const body = bytes.subarray(end + 4);
  if (body.length < length) return;
  result.status = m ? Number(m[1]) : null;
  result.headers = headers;
  result.body = body.subarray(0, length).toString('utf8');
  result.answered = true;
}

/** `body` as HTTP/1.1 chunks of at most `size` bytes, with the final empty chunk unless `finish` is false. */
export function chunked(body: Buffer, size: number, finish = true): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < body.length; i += size) {
    const piece = body.subarray(i, i + size);
    out.push(Buffer.concat([Buffer.from(piece.length.toString(16) + '\r\n'), piece, Buffer.from('\r\n')]));
  }
  if (finish) out.push(Buffer.from('0\r\n\r\n'));
  return out;
}

/** `body` cut into pieces of `size` bytes. */
export function pieces(body: Buffer, size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < body.length; i += size) out.push(body.subarray(i, i + size));
  return out;
}
