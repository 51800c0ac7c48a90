// SignalSubscriber: one logical subscription to a Sigpost stream, kept alive across connections.
//
// One connection at a time. Frames are parsed into a bounded queue; the consumer (`for await` or
// `run`) takes events from it one by one, and the cursor is saved only when the consumer comes back
// for the next event, i.e. after its handler resolved. Resumes use the last seq *received* (`after=`),
// so events already queued are not asked for twice; anything at or below it is dropped as a duplicate.
import type { IncomingMessage } from 'node:http';
import { checkUrl, type UrlProblem } from '@sigpost/protocol';
import type { Registry } from 'prom-client';
import WebSocket from 'ws';
import { MemoryCursor, type SubscriberCursor } from './cursor.js';
import {
  isSubscriberError,
  type StreamProblem,
  SubscriberClosedError,
  SubscriberEpochError,
  SubscriberError,
  SubscriberGapError,
  SubscriberRefusedError,
} from './errors.js';
import {
  type EventMessage,
  isStreamEventType,
  parseServerMessage,
  STREAM_PATH,
  STREAM_PROTOCOL,
  STREAM_STATUSES,
  type StreamEvent,
  type StreamStatus,
} from './events.js';
import { assertLogger, SILENT_LOGGER, type SubscriberLogger } from './logger.js';
import { createSubscriberMetrics, type ReconnectReason, type SubscriberMetrics } from './metrics.js';
import { type ReconnectOptions, reconnectDelay, resolveReconnectOptions } from './retry.js';

/** Where to start when the cursor holds nothing: live only (`'live'`) or after a seq (`{ after: 0 }` = all retained history). */
export type ResumePoint = 'live' | { readonly after: number };

/** What `onCursorExpired` is told. */
export interface CursorExpiredInfo {
  /** The resume point the server refused (older than its retained history). */
  readonly after: number;
  readonly epoch: string | null;
  /** The server's close reason. */
  readonly reason: string;
}

export interface SignalSubscriberOptions {
  /** The server (`https://sigpost.example.com`) or the stream URL itself (`wss://…/api/v1/stream`). Never put the token in it. */
  readonly url: string;
  /** A subscriber token (`sgs_…`) or an operator token (`sgp_…`); sent only in the Authorization header. */
  readonly token: string;
  /**
   * Where the position is kept. `FileCursor` survives restarts; the default `MemoryCursor` only reconnects.
   * @default new MemoryCursor()
   */
  readonly cursor?: SubscriberCursor;
  /**
   * Where to start when the cursor is empty.
   * @default 'live'
   */
  readonly start?: ResumePoint;
  /** Only these statuses (within the token's scope). */
  readonly statuses?: readonly StreamStatus[];
  /** Only these producers (within the token's scope). */
  readonly producers?: readonly string[];
  /**
   * Signals whose producer `timestamp` is older than this many seconds when received are stale: they
   * are skipped (the cursor moves past them) or delivered with `stale: true`, as `stale` says.
   */
  readonly maxAgeSeconds?: number;
  /**
   * What to do with a stale signal.
   * @default 'skip'
   */
  readonly stale?: 'skip' | 'deliver';
  /**
   * Treat any seq other than last + 1 as a gap (`SubscriberGapError`). Only for a subscription that sees
   * every event of a server whose seqs have no holes; scoped subscriptions see holes by design.
   * @default false
   */
  readonly contiguous?: boolean;
  /**
   * Called when the server says the resume point is older than its retained history (close 4410).
   * Resync through the operator API (the signals you missed), then return where to go on from.
   * Without it the subscriber stops with `SUBSCRIBER_CURSOR_EXPIRED`.
   */
  readonly onCursorExpired?: (info: CursorExpiredInfo) => ResumePoint | Promise<ResumePoint>;
  /** A pino-compatible logger; nothing is logged without one. */
  readonly logger?: SubscriberLogger;
  /** A prom-client registry for the `sigpost_subscriber_*` metrics; none without one. */
  readonly registry?: Registry;
  /** Reconnect backoff (full jitter). */
  readonly reconnect?: Partial<ReconnectOptions>;
  /**
   * Added to the server's `heartbeat_seconds`: no frame or ping for that long means a dead server.
   * @default 10_000
   */
  readonly heartbeatGraceMs?: number;
  /**
   * Time allowed for the upgrade and then the `hello`, each, in ms.
   * @default 10_000
   */
  readonly connectTimeoutMs?: number;
  /**
   * Events held for the consumer before the socket is paused (the server then closes a consumer
   * that stays behind with 4429, and the subscriber resumes where it was).
   * @default 1000
   */
  readonly maxQueuedEvents?: number;
  /** The clock, in ms since the epoch (tests). */
  readonly now?: () => number;
  /** Random numbers in [0, 1) for the jitter (tests). */
  readonly random?: () => number;
}

interface QueueItem {
  readonly event: StreamEvent;
  /** False for a stale signal that is skipped or an event of an unknown type: only the cursor moves. */
  readonly deliver: boolean;
}

type ConnectionOutcome =
  | {
      readonly kind: 'retry';
      readonly reason: ReconnectReason;
      readonly detail: string;
      readonly delayMs?: number;
    }
  | { readonly kind: 'fatal'; readonly error: SubscriberError }
  | { readonly kind: 'expired'; readonly reason: string }
  | { readonly kind: 'closed' };

const TOKEN_PATTERN = /^[\x21-\x7e]{8,512}$/;
const PRODUCER_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;
const MAX_PROBLEM_BYTES = 16 * 1024;
const MAX_RETRY_AFTER_MS = 5 * 60_000;
/** Frames larger than this end the connection (1009); a signal event is a few KiB. */
const MAX_FRAME_BYTES = 4 * 1024 * 1024;

/** Close codes after which the subscriber stops. */
const FATAL_CLOSES: Readonly<Record<number, { code: SubscriberError['code']; text: string }>> = {
  4400: { code: 'SUBSCRIBER_PROTOCOL_ERROR', text: 'the server rejected a message from this client' },
  4401: { code: 'SUBSCRIBER_AUTH_FAILED', text: 'the server did not accept the token' },
  4403: { code: 'SUBSCRIBER_REVOKED', text: 'the subscriber token was revoked' },
  1002: { code: 'SUBSCRIBER_PROTOCOL_ERROR', text: 'WebSocket protocol error' },
  1003: { code: 'SUBSCRIBER_PROTOCOL_ERROR', text: 'the server refused a frame type' },
  1007: { code: 'SUBSCRIBER_PROTOCOL_ERROR', text: 'a frame was not valid UTF-8' },
  1008: { code: 'SUBSCRIBER_PROTOCOL_ERROR', text: 'policy violation' },
  1009: { code: 'SUBSCRIBER_PROTOCOL_ERROR', text: `a frame exceeded ${MAX_FRAME_BYTES} bytes` },
};

/**
 * A subscription to a Sigpost stream: reconnects with backoff, resumes from the last seq, drops
 * duplicates, and saves its cursor after each event is handled.
 *
 * @example
 * const subscriber = new SignalSubscriber({ url, token, cursor: new FileCursor('stream.cursor.json') });
 * for await (const event of subscriber) await act(event.signal); // the cursor moves after each body
 */
export class SignalSubscriber implements AsyncIterable<StreamEvent> {
  readonly #base: URL;
  readonly #token: string;
  readonly #cursor: SubscriberCursor;
  readonly #start: ResumePoint;
  readonly #statuses: readonly StreamStatus[] | undefined;
  readonly #producers: readonly string[] | undefined;
  readonly #maxAgeSeconds: number | undefined;
  readonly #staleMode: 'skip' | 'deliver';
  readonly #contiguous: boolean;
  readonly #onCursorExpired: SignalSubscriberOptions['onCursorExpired'];
  readonly #logger: SubscriberLogger;
  readonly #metrics: SubscriberMetrics | undefined;
  readonly #reconnect: ReconnectOptions;
  readonly #graceMs: number;
  readonly #connectTimeoutMs: number;
  readonly #maxQueued: number;
  readonly #now: () => number;
  readonly #random: () => number;

  #epoch: string | null = null;
  /** The last seq received (queued or handled); `null` until known (live start before `ready`). */
  #lastSeq: number | null = null;
  #knownHead = 0;
  readonly #queue: QueueItem[] = [];
  #wake: (() => void) | undefined;
  #fatal: SubscriberError | undefined;
  #closed = false;
  #consumed = false;
  #loop: Promise<void> | undefined;
  #socket: WebSocket | undefined;
  #endConnection: ((outcome: ConnectionOutcome) => void) | undefined;
  #cancelSleep: (() => void) | undefined;
  #paused = false;
  #rearmHeartbeat: (() => void) | undefined;

  constructor(options: SignalSubscriberOptions) {
    if (typeof options !== 'object' || options === null) throw new TypeError('Expected an options object');
    this.#base = parseStreamUrl(options.url);
    if (typeof options.token !== 'string' || !TOKEN_PATTERN.test(options.token)) {
      throw new TypeError(
        'Expected `token` to be a subscriber or operator token (8–512 visible ASCII characters)',
      );
    }
    this.#token = options.token;
    this.#cursor = options.cursor ?? new MemoryCursor();
    if (typeof this.#cursor.load !== 'function' || typeof this.#cursor.save !== 'function') {
      throw new TypeError(
        'Expected `cursor` to have load() and save() (FileCursor, MemoryCursor or your own)',
      );
    }
    this.#start = checkResumePoint(options.start ?? 'live', 'start');
    this.#statuses = checkList(options.statuses, 'statuses', (s) =>
      (STREAM_STATUSES as readonly string[]).includes(s),
    ) as readonly StreamStatus[] | undefined;
    this.#producers = checkList(options.producers, 'producers', (p) => PRODUCER_PATTERN.test(p));
    if (options.maxAgeSeconds !== undefined) checkNumber('maxAgeSeconds', options.maxAgeSeconds, 0);
    this.#maxAgeSeconds = options.maxAgeSeconds;
    if (options.stale !== undefined && options.stale !== 'skip' && options.stale !== 'deliver') {
      throw new TypeError("Expected `stale` to be 'skip' or 'deliver'");
    }
    this.#staleMode = options.stale ?? 'skip';
    this.#contiguous = options.contiguous === true;
    if (options.onCursorExpired !== undefined && typeof options.onCursorExpired !== 'function') {
      throw new TypeError('Expected `onCursorExpired` to be a function');
    }
    this.#onCursorExpired = options.onCursorExpired;
    const logger = options.logger ?? SILENT_LOGGER;
    assertLogger(logger);
    this.#logger = logger;
    this.#metrics = options.registry ? createSubscriberMetrics(options.registry) : undefined;
    this.#reconnect = resolveReconnectOptions(options.reconnect);
    this.#graceMs = checkNumber('heartbeatGraceMs', options.heartbeatGraceMs ?? 10_000, 1);
    this.#connectTimeoutMs = checkNumber('connectTimeoutMs', options.connectTimeoutMs ?? 10_000, 1);
    this.#maxQueued = checkNumber('maxQueuedEvents', options.maxQueuedEvents ?? 1000, 1);
    this.#now = options.now ?? Date.now;
    this.#random = options.random ?? Math.random;
  }

  /** The stream's epoch, once known (from the cursor or the first `hello`). */
  get epoch(): string | null {
    return this.#epoch;
  }

  /** The last seq received; the next connection resumes after it. */
  get lastSeq(): number | null {
    return this.#lastSeq;
  }

  /**
   * The events, oldest first. The cursor is saved when the loop asks for the next event, so an
   * event is acknowledged only after the loop body for it finished. Leaving the loop (`break`, an
   * exception) closes the subscriber without acknowledging the current event. The loop ends after
   * `close()`, and throws a `SubscriberError` when the subscription cannot go on.
   */
  async *[Symbol.asyncIterator](): AsyncGenerator<StreamEvent, void, undefined> {
    if (this.#consumed) throw new TypeError('A SignalSubscriber can be iterated only once');
    this.#consumed = true;
    this.#loop ??= this.#runLoop();
    try {
      for (;;) {
        const item = await this.#take();
        if (item === undefined) return;
        if (item.deliver) yield item.event;
        await this.#commit(item.event);
      }
    } finally {
      await this.close();
    }
  }

  /**
   * Calls `handler` for each event, one at a time, saving the cursor after it resolves. Resolves
   * after `close()`; rejects with `SUBSCRIBER_HANDLER_FAILED` (the handler's error as `cause`, the
   * cursor left before that event) or another `SubscriberError`.
   */
  async run(handler: (event: StreamEvent) => unknown): Promise<void> {
    if (typeof handler !== 'function') throw new TypeError('Expected `handler` to be a function');
    for await (const event of this) {
      try {
        await handler(event);
      } catch (error) {
        throw new SubscriberError(
          `The handler failed on seq ${event.seq}; the cursor stays before it and it will be delivered again`,
          { code: 'SUBSCRIBER_HANDLER_FAILED', cause: error },
        );
      }
    }
  }

  /**
   * Stops: closes the connection and ends the iteration (after the event being handled, whose cursor
   * is still saved). Events received but not yet handled are not acknowledged; they come again next time.
   */
  async close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      this.#cancelSleep?.();
      this.#endConnection?.({ kind: 'closed' });
      this.#wake?.();
    }
    await this.#loop;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  // ---- consumer side

  async #take(): Promise<QueueItem | undefined> {
    for (;;) {
      if (this.#closed) return undefined;
      const item = this.#queue.shift();
      if (item !== undefined) {
        if (this.#paused && this.#queue.length <= this.#maxQueued / 2) this.#resumeSocket();
        return item;
      }
      if (this.#fatal) throw this.#fatal;
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
      });
      this.#wake = undefined;
    }
  }

  async #commit(event: StreamEvent): Promise<void> {
    try {
      await this.#cursor.save({ epoch: event.epoch, seq: event.seq });
    } catch (error) {
      const failure = isSubscriberError(error)
        ? error
        : new SubscriberError(`Cannot save the cursor at seq ${event.seq}`, {
            code: 'SUBSCRIBER_CURSOR_FAILED',
            cause: error,
          });
      this.#stop(failure);
      throw failure;
    }
    if (this.#metrics) {
      this.#metrics.cursorSeq.set(event.seq);
      this.#metrics.lagSeq.set(Math.max(0, this.#knownHead - event.seq));
      const at = Date.parse(event.at);
      if (Number.isFinite(at)) this.#metrics.lagSeconds.set(Math.max(0, (this.#now() - at) / 1000));
    }
  }

  #push(item: QueueItem): void {
    this.#queue.push(item);
    this.#wake?.();
    if (!this.#paused && this.#queue.length >= this.#maxQueued && this.#socket) {
      this.#paused = true;
      this.#socket.pause();
      this.#logger.debug({ seq: item.event.seq }, 'stream: consumer behind, socket paused');
    }
  }

  #resumeSocket(): void {
    this.#paused = false;
    this.#socket?.resume();
    this.#rearmHeartbeat?.();
  }

  #stop(error: SubscriberError): void {
    this.#fatal ??= error;
    this.#cancelSleep?.();
    this.#endConnection?.({ kind: 'fatal', error });
    this.#wake?.();
  }

  // ---- connection side

  async #runLoop(): Promise<void> {
    try {
      const saved = await this.#cursor.load();
      if (saved !== null) {
        this.#epoch = saved.epoch;
        this.#lastSeq = saved.seq;
      } else if (this.#start !== 'live') {
        this.#lastSeq = this.#start.after;
      }
      let failures = 0;
      while (!this.#closed && !this.#fatal) {
        const { outcome, live } = await this.#connectOnce();
        this.#metrics?.connected.set(0);
        if (live) failures = 0;
        if (outcome.kind === 'closed' || this.#closed) break;
        if (outcome.kind === 'fatal') {
          this.#stop(outcome.error);
          break;
        }
        failures += 1;
        if (outcome.kind === 'expired') {
          const resume = await this.#resync(outcome.reason);
          if (resume === undefined) break;
        }
        const reason: ReconnectReason = outcome.kind === 'retry' ? outcome.reason : 'closed';
        const delayMs =
          outcome.kind === 'retry' && outcome.delayMs !== undefined
            ? outcome.delayMs
            : reconnectDelay(failures, this.#reconnect, this.#random);
        this.#metrics?.reconnects.inc({ reason });
        this.#logger.warn(
          {
            reconnect_reason: reason,
            attempt: failures,
            delay_ms: delayMs,
            ...(this.#lastSeq === null ? {} : { after: this.#lastSeq }),
            ...(outcome.kind === 'retry' ? { error_message: outcome.detail } : {}),
          },
          'stream: reconnecting',
        );
        await this.#sleep(delayMs);
      }
    } catch (error) {
      this.#stop(
        isSubscriberError(error)
          ? error
          : new SubscriberError('The subscriber failed unexpectedly', {
              code: 'SUBSCRIBER_PROTOCOL_ERROR',
              cause: error,
            }),
      );
    } finally {
      this.#metrics?.connected.set(0);
      this.#wake?.();
    }
  }

  /** After close 4410: asks `onCursorExpired` where to go on, or stops. Returns undefined when stopped. */
  async #resync(reason: string): Promise<ResumePoint | undefined> {
    const after = this.#lastSeq ?? 0;
    if (!this.#onCursorExpired) {
      this.#stop(
        new SubscriberClosedError(
          `The resume point (after seq ${after}) is older than the server's retained history (${reason}): the ` +
            'events in between are gone; resync through the operator API, then start again from a newer point ' +
            '(or pass onCursorExpired)',
          { code: 'SUBSCRIBER_CURSOR_EXPIRED', closeCode: 4410, closeReason: reason },
        ),
      );
      return undefined;
    }
    let resume: ResumePoint;
    try {
      resume = checkResumePoint(
        await this.#onCursorExpired({ after, epoch: this.#epoch, reason }),
        'onCursorExpired()',
      );
    } catch (error) {
      this.#stop(
        new SubscriberError('onCursorExpired failed; the subscriber stops', {
          code: 'SUBSCRIBER_CURSOR_EXPIRED',
          cause: error,
        }),
      );
      return undefined;
    }
    this.#lastSeq = resume === 'live' ? null : resume.after;
    this.#logger.warn(
      { after, ...(resume === 'live' ? {} : { seq: resume.after }) },
      'stream: cursor expired, resynced',
    );
    return resume;
  }

  #sleep(ms: number): Promise<void> {
    if (this.#closed || this.#fatal) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.#cancelSleep = done;
    }).finally(() => {
      this.#cancelSleep = undefined;
    });
  }

  #streamUrl(): URL {
    const url = new URL(this.#base.href);
    if (this.#lastSeq !== null) url.searchParams.set('after', String(this.#lastSeq));
    if (this.#statuses) url.searchParams.set('statuses', this.#statuses.join(','));
    if (this.#producers) url.searchParams.set('producers', this.#producers.join(','));
    return url;
  }

  /** One connection, from the upgrade to its end. `live`: it reached `ready` (the backoff restarts). */
  #connectOnce(): Promise<{ outcome: ConnectionOutcome; live: boolean }> {
    const url = this.#streamUrl();
    const logUrl = `${url.origin}${url.pathname}`;
    const after = this.#lastSeq;
    this.#logger.debug({ url: logUrl, ...(after === null ? {} : { after }) }, 'stream: connecting');
    return new Promise((resolve) => {
      let live = false;
      let hello = false;
      let timer: NodeJS.Timeout | undefined;
      let settled = false;
      const ws = new WebSocket(url, {
        headers: { authorization: `Bearer ${this.#token}` },
        handshakeTimeout: this.#connectTimeoutMs,
        perMessageDeflate: false,
        followRedirects: false,
        maxPayload: MAX_FRAME_BYTES,
      });
      this.#socket = ws;
      this.#paused = false;

      const finish = (outcome: ConnectionOutcome) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.#endConnection = undefined;
        this.#rearmHeartbeat = undefined;
        this.#socket = undefined;
        this.#paused = false;
        if (ws.readyState === WebSocket.OPEN) {
          ws.close(
            outcome.kind === 'closed' ? 1000 : 4000,
            outcome.kind === 'closed' ? 'client closing' : 'client error',
          );
          setTimeout(() => ws.terminate(), 2000).unref();
        } else if (ws.readyState !== WebSocket.CLOSED) {
          ws.terminate();
        }
        resolve({ outcome, live });
      };
      this.#endConnection = finish;
      if (this.#closed) {
        finish({ kind: 'closed' });
        return;
      }

      // Silence: before hello, connectTimeoutMs; after, heartbeat_seconds + grace; suspended while paused.
      let silenceMs = this.#connectTimeoutMs;
      const arm = () => {
        clearTimeout(timer);
        if (settled || this.#paused || silenceMs === 0) return;
        timer = setTimeout(() => {
          finish({
            kind: 'retry',
            reason: 'silent',
            detail: hello
              ? `no frame or ping for ${silenceMs} ms (heartbeat_seconds + grace)`
              : `no hello within ${silenceMs} ms`,
          });
        }, silenceMs);
      };
      this.#rearmHeartbeat = arm;

      ws.on('unexpected-response', (req, res: IncomingMessage) => {
        readProblem(res).then((problem) => {
          req.destroy();
          const status = res.statusCode ?? 0;
          if (status === 429 || status >= 500) {
            const retryAfter = parseRetryAfterSeconds(res.headers['retry-after']);
            finish({
              kind: 'retry',
              reason: 'refused',
              detail: `HTTP ${status}${problem ? ` ${problem.type}` : ''}`,
              ...(retryAfter === undefined ? {} : { delayMs: Math.min(retryAfter, MAX_RETRY_AFTER_MS) }),
            });
          } else {
            finish({ kind: 'fatal', error: new SubscriberRefusedError(status, problem) });
          }
        });
      });
      ws.on('error', (error: Error) => {
        if (settled) return;
        const close = /Invalid WebSocket frame|Max payload size exceeded/.test(error.message);
        if (close) return; // ws closes with 1002/1009 next; the close handler decides.
        if (isNotTls(error)) {
          // A configuration error, not an outage: every reconnect would meet the same plain-HTTP server.
          finish({ kind: 'fatal', error: notTlsError(url, error) });
          return;
        }
        finish({ kind: 'retry', reason: 'network', detail: error.message });
      });
      ws.on('open', arm);
      ws.on('ping', arm);
      ws.on('pong', arm);
      ws.on('message', (data: WebSocket.RawData, isBinary: boolean) => {
        if (settled) return;
        arm();
        if (isBinary) {
          finish(protocolError('the server sent a binary frame; protocol v1 uses text frames only'));
          return;
        }
        const parsed = parseServerMessage(rawText(data));
        if (typeof parsed === 'string') {
          finish(protocolError(`invalid frame from the server: ${parsed}`));
          return;
        }
        if (!hello) {
          if ('kind' in parsed || parsed.type !== 'hello') {
            finish(protocolError('the server sent something before hello'));
            return;
          }
          if (parsed.protocol !== STREAM_PROTOCOL) {
            finish(
              protocolError(
                `the server speaks stream protocol ${parsed.protocol}; this SDK speaks ${STREAM_PROTOCOL}`,
              ),
            );
            return;
          }
          if (this.#epoch !== null && parsed.epoch !== this.#epoch) {
            finish({ kind: 'fatal', error: new SubscriberEpochError(this.#epoch, parsed.epoch) });
            return;
          }
          this.#epoch = parsed.epoch;
          hello = true;
          silenceMs = parsed.heartbeat_seconds > 0 ? parsed.heartbeat_seconds * 1000 + this.#graceMs : 0;
          arm();
          this.#metrics?.connected.set(1);
          this.#logger.info(
            { url: logUrl, epoch: parsed.epoch, ...(after === null ? {} : { after }) },
            'stream: connected',
          );
          return;
        }
        if ('kind' in parsed) {
          if (parsed.kind === 'ignored') {
            this.#logger.debug({}, `stream: ignored a ${JSON.stringify(parsed.type).slice(0, 40)} message`);
            return;
          }
          const error = this.#accept(parsed.message);
          if (error) finish({ kind: 'fatal', error });
          return;
        }
        if (parsed.type === 'ready') {
          if (this.#lastSeq !== null && parsed.head < this.#lastSeq) {
            finish({
              kind: 'fatal',
              error: new SubscriberGapError(
                `The server's head (seq ${parsed.head}) is behind this subscriber's seq ${this.#lastSeq}: the ` +
                  "server's store lost events it had already sent (restored from a backup?); the cursor cannot be trusted",
                { afterSeq: this.#lastSeq, nextSeq: parsed.head },
              ),
            });
            return;
          }
          this.#lastSeq ??= parsed.head;
          this.#knownHead = Math.max(this.#knownHead, parsed.head);
          live = true;
          this.#logger.info({ head: parsed.head }, 'stream: replay done, live');
          return;
        }
        finish(protocolError('the server sent a second hello'));
      });
      ws.on('close', (code: number, reasonBuffer: Buffer) => {
        if (settled) return;
        const reason = reasonBuffer.toString('utf8').slice(0, 123);
        const fatal = FATAL_CLOSES[code];
        if (fatal) {
          finish({
            kind: 'fatal',
            error: new SubscriberClosedError(
              `The server closed the stream with ${code} (${reason || fatal.text}): ${fatal.text}`,
              { code: fatal.code, closeCode: code, closeReason: reason },
            ),
          });
        } else if (code === 4410) {
          finish({ kind: 'expired', reason });
        } else {
          finish({
            kind: 'retry',
            reason: 'closed',
            detail: `closed ${code}${reason ? ` (${reason})` : ''}`,
          });
        }
      });
    });
  }

  /** Takes one event frame into the queue. Returns an error that ends the subscription, if any. */
  #accept(message: EventMessage): SubscriberError | undefined {
    const last = this.#lastSeq;
    if (last !== null && message.seq <= last) {
      this.#metrics?.events.inc({ outcome: 'duplicate' });
      this.#logger.debug({ seq: message.seq, after: last }, 'stream: duplicate dropped');
      return undefined;
    }
    if (this.#contiguous && last !== null && message.seq !== last + 1) {
      return new SubscriberGapError(
        `Gap in the stream: seq ${message.seq} follows ${last} (contiguous: true)`,
        { afterSeq: last, nextSeq: message.seq },
      );
    }
    this.#lastSeq = message.seq;
    this.#knownHead = Math.max(this.#knownHead, message.seq);
    const timestamp = Date.parse(String(message.signal.timestamp));
    const ageSeconds = Number.isFinite(timestamp) ? (this.#now() - timestamp) / 1000 : 0;
    const stale = this.#maxAgeSeconds !== undefined && ageSeconds > this.#maxAgeSeconds;
    const event: StreamEvent = {
      type: message.type as StreamEvent['type'],
      seq: message.seq,
      at: message.at,
      signal: message.signal,
      epoch: this.#epoch as string,
      ageSeconds,
      stale,
    };
    if (!isStreamEventType(message.type)) {
      this.#metrics?.events.inc({ outcome: 'unknown_type' });
      this.#logger.warn({ seq: message.seq }, 'stream: event of an unknown type skipped');
      this.#push({ event, deliver: false });
    } else if (stale && this.#staleMode === 'skip') {
      this.#metrics?.events.inc({ outcome: 'stale_skipped' });
      this.#logger.info(
        { seq: message.seq, signal_id: message.signal.signal_id, age_seconds: Math.round(ageSeconds) },
        'stream: stale signal skipped (maxAgeSeconds)',
      );
      this.#push({ event, deliver: false });
    } else {
      this.#metrics?.events.inc({ outcome: 'handled' });
      this.#push({ event, deliver: true });
    }
    return undefined;
  }
}

/**
 * OpenSSL's answer when what came back to the TLS handshake is not TLS: an https:// or wss:// URL to a
 * port that speaks plain HTTP. ("wrong version number": the first bytes, `HTTP/1.1 400`, read as a
 * TLS record header; "packet length too long" on some OpenSSL versions.)
 */
const NOT_TLS_CODES = new Set(['ERR_SSL_WRONG_VERSION_NUMBER', 'ERR_SSL_PACKET_LENGTH_TOO_LONG']);
const NOT_TLS_MESSAGE = /wrong version number|packet length too long/i;

function isNotTls(error: Error): boolean {
  const code = (error as NodeJS.ErrnoException).code;
  // ws reports the handshake's failure as `EPROTO`, OpenSSL's words in the message.
  return (code !== undefined && NOT_TLS_CODES.has(code)) || NOT_TLS_MESSAGE.test(error.message);
}

function notTlsError(url: URL, cause: Error): SubscriberError {
  return new SubscriberError(
    `The server at ${url.host} does not speak TLS on this port: use http:// (or ws://) for a plain-HTTP server, or the port where it serves TLS`,
    { code: 'SUBSCRIBER_NOT_TLS', cause },
  );
}

function protocolError(message: string): ConnectionOutcome {
  return { kind: 'fatal', error: new SubscriberError(message, { code: 'SUBSCRIBER_PROTOCOL_ERROR' }) };
}

function rawText(data: WebSocket.RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  if (data instanceof ArrayBuffer) return Buffer.from(data).toString('utf8');
  return data.toString('utf8');
}

/** Reads a refusal's problem+json body, at most 16 KiB; `undefined` when it is not one. */
function readProblem(res: IncomingMessage): Promise<StreamProblem | undefined> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const done = () => {
      try {
        const value = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Partial<StreamProblem>;
        resolve(
          typeof value?.type === 'string' &&
            typeof value.title === 'string' &&
            typeof value.status === 'number'
            ? (value as StreamProblem)
            : undefined,
        );
      } catch {
        resolve(undefined);
      }
    };
    res.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_PROBLEM_BYTES) {
        res.destroy();
        resolve(undefined);
        return;
      }
      chunks.push(chunk);
    });
    res.on('end', done);
    res.on('error', () => resolve(undefined));
    res.on('close', done);
  });
}

function parseRetryAfterSeconds(value: string | string[] | undefined): number | undefined {
  const text = Array.isArray(value) ? value[0] : value;
  return text !== undefined && /^\d{1,9}$/.test(text.trim()) ? Number(text.trim()) * 1000 : undefined;
}

function parseStreamUrl(value: unknown): URL {
  if (typeof value !== 'string')
    throw new TypeError('Expected `url` to be a string such as https://sigpost.example.com');
  const schemes: Record<string, string> = { 'http:': 'ws:', 'https:': 'wss:', 'ws:': 'ws:', 'wss:': 'wss:' };
  // The query is checked below, to name what was found in it.
  const checked = checkUrl(value, { schemes: Object.keys(schemes), query: true, fragment: true });
  if (!checked.ok) {
    const problems: Record<UrlProblem, string> = {
      'not-a-url': 'Expected `url` to be an absolute URL such as https://sigpost.example.com',
      scheme: 'Expected `url` to use http, https, ws or wss',
      credentials: 'Expected `url` without credentials; pass `token`',
      query: 'Expected `url` without a query; use the options', // accepted above: named below
      fragment: 'Expected `url` without a fragment', // accepted above
    };
    throw new TypeError(problems[checked.problem]);
  }
  const { url } = checked;
  const scheme = schemes[url.protocol] as string;
  for (const name of url.searchParams.keys()) {
    if (name === 'token' || name === 'access_token') {
      throw new TypeError(
        'Never put the token in the URL (it ends up in logs); pass `token`, sent as a header',
      );
    }
    throw new TypeError(`Expected \`url\` without a query (found ${JSON.stringify(name)}); use the options`);
  }
  url.protocol = scheme;
  url.hash = '';
  if (url.pathname === '/' || url.pathname === '') url.pathname = STREAM_PATH;
  return url;
}

function checkResumePoint(value: unknown, name: string): ResumePoint {
  if (value === 'live') return 'live';
  const after = (value as { after?: unknown } | null)?.after;
  if (typeof after === 'number' && Number.isSafeInteger(after) && after >= 0) return { after };
  throw new TypeError(`Expected \`${name}\` to be 'live' or { after: integer ≥ 0 }`);
}

function checkNumber(name: string, value: unknown, min: number): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new TypeError(`Expected \`${name}\` to be a finite number`);
  }
  if (value < min) throw new RangeError(`Expected \`${name}\` to be ≥ ${min}`);
  return value;
}

function checkList(
  value: readonly string[] | undefined,
  name: string,
  valid: (item: string) => boolean,
): readonly string[] | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value) || value.length === 0) {
    throw new TypeError(`Expected \`${name}\` to be a non-empty array (leave it out for all)`);
  }
  for (const item of value) {
    if (typeof item !== 'string' || !valid(item)) {
      throw new TypeError(`\`${name}\` has an invalid entry ${JSON.stringify(String(item)).slice(0, 80)}`);
    }
  }
  return Object.freeze([...new Set(value)]);
}
