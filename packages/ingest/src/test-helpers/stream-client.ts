// A small real `ws` client for the stream tests: records every message and the close, and lets a
// test await a condition on them (woken by each message, never by a sleep).
import WebSocket from 'ws';

export interface StreamMessage {
  readonly type: string;
  readonly seq?: number;
  readonly head?: number;
  readonly [key: string]: unknown;
}

export interface Refusal {
  readonly status: number;
  readonly contentType: string | undefined;
  readonly body: { type?: string; status?: number; detail?: string };
  readonly headers: Record<string, string | string[] | undefined>;
}

export class StreamClient {
  readonly ws: WebSocket;
  readonly messages: StreamMessage[] = [];
  closed: { code: number; reason: string } | undefined;
  refusal: Refusal | undefined;
  readonly #waiters = new Set<() => void>();

  constructor(
    url: string,
    options: {
      token?: string;
      after?: number;
      query?: string;
      autoPong?: boolean;
      /** More upgrade headers (a console's Cookie and Origin). */
      headers?: Record<string, string>;
    } = {},
  ) {
    const params = new URLSearchParams(options.query ?? '');
    if (options.after !== undefined) params.set('after', String(options.after));
    const search = params.toString();
    this.ws = new WebSocket(`${url.replace(/^http/, 'ws')}/api/v1/stream${search ? `?${search}` : ''}`, {
      headers: {
        ...options.headers,
        ...(options.token === undefined ? {} : { Authorization: `Bearer ${options.token}` }),
      },
      autoPong: options.autoPong ?? true,
    });
    this.ws.on('message', (data) => {
      this.messages.push(JSON.parse(String(data)) as StreamMessage);
      this.#wake();
    });
    this.ws.on('close', (code, reason) => {
      this.closed = { code, reason: String(reason) };
      this.#wake();
    });
    this.ws.on('error', () => this.#wake());
    this.ws.on('unexpected-response', (_request, response) => {
      let text = '';
      response.on('data', (chunk: Buffer) => {
        text += chunk;
      });
      response.on('end', () => {
        this.refusal = {
          status: response.statusCode ?? 0,
          contentType: response.headers['content-type'],
          body: JSON.parse(text) as Refusal['body'],
          headers: response.headers,
        };
        this.#wake();
      });
    });
  }

  /** Events (messages with a seq), in arrival order. */
  get events(): StreamMessage[] {
    return this.messages.filter((m) => typeof m.seq === 'number');
  }

  get seqs(): number[] {
    return this.events.map((e) => e.seq as number);
  }

  get lastSeq(): number | undefined {
    return this.events.at(-1)?.seq;
  }

  /** Resolves once `condition()` holds; rejects after `timeoutMs` with `what` in the message. */
  until(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
    if (condition()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = () => {
        if (condition()) {
          clearTimeout(timer);
          this.#waiters.delete(check);
          resolve();
        }
      };
      const timer = setTimeout(() => {
        this.#waiters.delete(check);
        reject(
          new Error(
            `timed out waiting for ${what}; got ${this.messages.length} messages (last ${JSON.stringify(this.messages.at(-1))}), closed ${JSON.stringify(this.closed)}, refusal ${JSON.stringify(this.refusal)}`,
          ),
        );
      }, timeoutMs);
      this.#waiters.add(check);
    });
  }

  ready(): Promise<void> {
    return this.until(() => this.messages.some((m) => m.type === 'ready'), 'ready');
  }

  closing(): Promise<{ code: number; reason: string }> {
    return this.until(() => this.closed !== undefined, 'close').then(() => this.closed!);
  }

  refused(): Promise<Refusal> {
    return this.until(() => this.refusal !== undefined, 'refusal').then(() => this.refusal!);
  }

  close(): void {
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING)
      this.ws.terminate();
  }

  #wake(): void {
    for (const waiter of [...this.#waiters]) waiter();
  }
}
