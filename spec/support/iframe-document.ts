/**
 * An iframe streaming document read as it streams over raw HTTP: each `<script>`'s call as
 * soon as it is complete, and how the response ended (normally, aborted by the spec, or cut).
 */
import { expect } from 'chai';
import type { RawServer, WireMessage } from './raw-client.js';
import { Inbox, withTimeout } from './wait.js';

/** One `<script>` of a document: the function it calls and its argument. */
export interface Call {
  fn: string;
  arg: unknown;
}

const SCRIPT = /<script nonce="([A-Za-z0-9+/=]+)">window\.parent\.([A-Za-z0-9_$.]+)\(([\s\S]*?)\);<\/script>/g;

/** A document read as it streams: each script's call as soon as it is complete. */
export class IframeDoc {
  status = 0;
  headers = new Headers();
  text = '';
  readonly calls = new Inbox<Call>();
  /** The nonces of the scripts read so far (one per document). */
  readonly nonces = new Set<string>();
  /** Settles when the response has ended (or failed). */
  done: Promise<void> = Promise.resolve();
  /** The response ended normally. */
  ended = false;
  /** Why reading stopped short: the spec's own abort, or a reset or other stream error. */
  error: unknown = undefined;
  private readonly abortController = new AbortController();
  private scanned = 0;

  static async open(server: RawServer, query: Record<string, string> | string, headers: Record<string, string> = {}): Promise<IframeDoc> {
    const doc = new IframeDoc();
    const q = typeof query === 'string' ? query : new URLSearchParams(query).toString();
    const res = await withTimeout(fetch(`${server.url}?${q}`, { headers, signal: doc.abortController.signal }), 'the document response head');
    doc.status = res.status;
    doc.headers = res.headers;
    doc.done = doc.read(res);
    return doc;
  }

  private async read(res: Response): Promise<void> {
    const decoder = new TextDecoder();
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        this.text += decoder.decode(chunk, { stream: true });
        this.scan();
      }
      this.ended = true;
    } catch (err) {
      // Kept, not swallowed: "still open" must be told from "connection reset".
      this.error = err;
    }
  }

  /** Still streaming: neither ended nor cut short (by a reset, or by the spec's abort). */
  get open(): boolean {
    return !this.ended && this.error === undefined;
  }

  /** Cut short by something other than the spec's own abort (a reset, a parse error, ...). */
  get failed(): boolean {
    return this.error !== undefined && !this.abortController.signal.aborted;
  }

  /** For assertion messages: what became of the response so far. */
  describe(): string {
    if (this.ended) return 'ended';
    if (this.error === undefined) return 'open';
    return `${this.abortController.signal.aborted ? 'aborted by the spec' : 'failed'}: ${String((this.error as Error)?.cause ?? this.error)}`;
  }

  private scan(): void {
    SCRIPT.lastIndex = this.scanned;
    for (let m = SCRIPT.exec(this.text); m !== null; m = SCRIPT.exec(this.text)) {
      this.scanned = SCRIPT.lastIndex;
      this.nonces.add(m[1]!);
      this.calls.push({ fn: m[2]!, arg: JSON.parse(m[3]!) });
    }
  }

  /** The call at `index`, waiting for it. */
  call(index: number, what = `script ${index + 1}`): Promise<Call> {
    return this.calls.nth(index, what);
  }

  /** The messages of the delivery call at `index`. */
  async batch(index: number, fn = 'p.d'): Promise<WireMessage[]> {
    const c = await this.call(index);
    expect(c.fn, JSON.stringify(c)).to.equal(fn);
    return c.arg as WireMessage[];
  }

  /** Waits for the end of the response and returns the sign-off reason. */
  async signOff(fn = 'p.s', ms = 3000): Promise<string> {
    await withTimeout(this.done, 'the end of the document', ms);
    expect(this.ended, `the document ended normally (${this.describe()})`).to.equal(true);
    const last = this.calls.items[this.calls.length - 1];
    expect(last?.fn, this.text.slice(-300)).to.equal(fn);
    expect(this.text.endsWith(');</script></body></html>\n'), this.text.slice(-100)).to.equal(true);
    return (last!.arg as { reason: string }).reason;
  }

  abort(): void {
    this.abortController.abort();
  }
}
