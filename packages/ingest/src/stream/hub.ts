// The stream hub: one per server process. It tails the store (one read per commit, whoever made
// it: this process, another process on the SQLite file, another server on PostgreSQL) and fans
// each event out to every live connection that may see it, serialized once.
import type { FastifyBaseLogger } from 'fastify';
import type { WebSocket } from 'ws';
import type { ServerConfig } from '../config.js';
import type { Store, StreamEvent } from '../store/store.js';
import {
  CLOSE,
  eventMessage,
  helloMessage,
  type Principal,
  readyMessage,
  type Scope,
  type StreamQuery,
} from './messages.js';
import type { StreamMetrics } from './metrics.js';

const HUB_PAGE = 1_000; // events per store read while tailing
const REPLAY_PAGE = 500; // events per store read while replaying for one connection
const TOKEN_CHECK_MS = 2_000; // how often open connections' tokens are re-checked (revocation)
const TICK_MS = 500; // heartbeat bookkeeping
const READ_RETRY_MS = 500; // after a failed tail read
const DRAIN_POLL_MS = 10; // while a replay waits for a connection's send buffer to drain
const SHUTDOWN_GRACE_MS = 1_000; // after closing with 1001, before terminating connections that did not answer

const SEND_TEXT = Object.freeze({ binary: false });

/** One open stream connection, from its upgrade to its close. */
export class StreamConnection {
  readonly ws: WebSocket;
  principal: Principal | undefined;
  scope: Scope = { producers: null, statuses: null };
  /** Highest seq delivered (or skipped as not visible) to this connection. */
  cursor = 0;
  /** True once the replay is done: the hub sends it live events. */
  live = false;
  closed = false;
  lastPingAt = Date.now();
  pingSentAt: number | undefined;
  readonly #hub: StreamHub;

  constructor(ws: WebSocket, hub: StreamHub) {
    this.ws = ws;
    this.#hub = hub;
    ws.on('pong', () => {
      this.pingSentAt = undefined;
    });
    ws.on('close', () => this.#gone());
    ws.on('error', () => this.#gone());
  }

  sees(event: StreamEvent): boolean {
    const { producers, statuses } = this.scope;
    return (
      (producers === null || producers.has(event.signal.producerId)) &&
      (statuses === null || statuses.has(event.signal.status))
    );
  }

  /** Sends a live frame, or closes the connection as a slow consumer when its send buffer is full. */
  sendLive(frame: Buffer, seq: number, maxBuffered: number): void {
    if (this.closed) return;
    if (this.ws.bufferedAmount > maxBuffered) {
      this.close(CLOSE.slowConsumer, 'slow consumer: send buffer full; resume from your last seq');
      return;
    }
    this.ws.send(frame, SEND_TEXT);
    this.cursor = seq;
  }

  sendText(text: string): void {
    if (!this.closed) this.ws.send(text);
  }

  close(code: number, reason: string): void {
    if (this.closed) return;
    this.#gone();
    this.#hub.metrics?.closed(code);
    this.ws.close(code, reason);
  }

  #gone(): void {
    if (this.closed) return;
    this.closed = true;
    this.live = false;
    this.#hub.remove(this);
  }
}

/** The result of a browser's auth message: who it is, or how to close the connection. */
export type AuthOutcome =
  | { readonly principal: Principal; readonly scope: Scope }
  | { readonly close: number; readonly reason: string };

export interface StreamHubOptions {
  readonly store: Store;
  readonly config: ServerConfig;
  readonly log: FastifyBaseLogger;
}

export class StreamHub {
  /** Set once by the endpoint, which owns the registry. */
  metrics: StreamMetrics | undefined;
  readonly #store: Store;
  readonly #config: ServerConfig;
  readonly #log: FastifyBaseLogger;
  readonly #connections = new Set<StreamConnection>();
  readonly #perToken = new Map<string, number>();
  #epoch = '';
  #lastSeq = 0;
  #started = false;
  #closed = false;
  #pumping = false;
  /** Highest head a commit notification named. */
  #hintedHead = 0;
  /** A notification without a head (another process committed) came since the last position read. */
  #headUnknown = false;
  #again = false;
  #unwatch: (() => void) | undefined;
  #timers: NodeJS.Timeout[] = [];
  #retry: NodeJS.Timeout | undefined;

  constructor(options: StreamHubOptions) {
    this.#store = options.store;
    this.#config = options.config;
    this.#log = options.log;
  }

  get connectionCount(): number {
    return this.#connections.size;
  }

  get started(): boolean {
    return this.#started && !this.#closed;
  }

  /** Highest seq this hub has read from the store. */
  get lastSeq(): number {
    return this.#lastSeq;
  }

  async start(): Promise<void> {
    const position = await this.#store.streamPosition();
    this.#epoch = position.epoch;
    this.#lastSeq = position.head;
    // A notification carrying a seq this hub has already read needs no read.
    this.#unwatch = this.#store.watchEvents((head) => {
      if (head === undefined) this.#headUnknown = true;
      else if (head > this.#hintedHead) this.#hintedHead = head;
      if (head === undefined || head > this.#lastSeq) this.#wake();
    });
    const every = (ms: number, run: () => void) => {
      const timer = setInterval(run, ms);
      timer.unref();
      this.#timers.push(timer);
    };
    every(TICK_MS, () => this.#heartbeat());
    every(TOKEN_CHECK_MS, () => void this.#checkTokens());
    this.#started = true;
    // Anything committed between the position read and the watch: its notification may be missed,
    // so the first pump reads the head even with no connection open.
    this.#headUnknown = true;
    this.#wake();
  }

  /** Open connections of a token (for the per-token cap). */
  connectionsOf(principalId: string): number {
    return this.#perToken.get(principalId) ?? 0;
  }

  /** Takes over an upgraded connection. With `principal` undefined it waits for the browser's auth message. */
  accept(
    ws: WebSocket,
    query: StreamQuery,
    principal: Principal | undefined,
    scope: Scope | undefined,
    authenticate: (token: string) => Promise<AuthOutcome>,
  ): StreamConnection {
    const conn = new StreamConnection(ws, this);
    if (this.#closed) {
      // Upgraded while the server began shutting down.
      ws.close(CLOSE.goingAway, 'server shutting down');
      return conn;
    }
    this.#connections.add(conn);
    if (principal !== undefined && scope !== undefined) {
      ws.on('message', () => conn.close(CLOSE.badMessage, 'the server expects no message'));
      this.#begin(conn, principal, scope, query);
      return conn;
    }
    const timer = setTimeout(
      () => conn.close(CLOSE.unauthorized, 'no auth message in time'),
      this.#config.streamAuthTimeoutSeconds * 1000,
    );
    timer.unref();
    ws.once('close', () => clearTimeout(timer));
    let authenticating = false;
    ws.on('message', (data, isBinary) => {
      if (authenticating || conn.principal !== undefined) {
        conn.close(CLOSE.badMessage, 'the server expects no message after auth');
        return;
      }
      authenticating = true;
      clearTimeout(timer);
      const token = authToken(data, isBinary);
      if (token === undefined) {
        conn.close(CLOSE.unauthorized, 'expected {"type":"auth","token":"<token>"} as the first message');
        return;
      }
      authenticate(token).then(
        (result) => {
          if (conn.closed) return;
          if ('close' in result) {
            conn.close(result.close, result.reason);
            return;
          }
          this.#begin(conn, result.principal, result.scope, query);
        },
        (error: unknown) => {
          this.#log.error({ err: error }, 'stream token lookup failed');
          conn.close(CLOSE.storeUnavailable, 'store unavailable; reconnect later');
        },
      );
    });
    return conn;
  }

  remove(conn: StreamConnection): void {
    if (!this.#connections.delete(conn)) return;
    const id = conn.principal?.id;
    if (id !== undefined) {
      const left = (this.#perToken.get(id) ?? 1) - 1;
      if (left <= 0) this.#perToken.delete(id);
      else this.#perToken.set(id, left);
    }
  }

  /** Closes every connection with 1001 (reconnect and resume), then stops tailing. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const timer of this.#timers) clearInterval(timer);
    clearTimeout(this.#retry);
    this.#unwatch?.();
    const sockets = [...this.#connections].map((c) => c.ws);
    for (const conn of [...this.#connections]) conn.close(CLOSE.goingAway, 'server shutting down');
    const closed = sockets.map(
      (ws) =>
        new Promise<void>((resolve) => {
          if (ws.readyState === ws.CLOSED) resolve();
          else ws.once('close', () => resolve());
        }),
    );
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, SHUTDOWN_GRACE_MS);
    });
    await Promise.race([Promise.all(closed), grace]);
    clearTimeout(timer);
    for (const ws of sockets) if (ws.readyState !== ws.CLOSED) ws.terminate();
  }

  #begin(conn: StreamConnection, principal: Principal, scope: Scope, query: StreamQuery): void {
    conn.principal = principal;
    conn.scope = scope;
    this.#perToken.set(principal.id, (this.#perToken.get(principal.id) ?? 0) + 1);
    conn.sendText(helloMessage(this.#epoch, principal.id, this.#config.streamHeartbeatSeconds));
    if (query.after === undefined) {
      conn.cursor = this.#lastSeq;
      conn.live = true;
      conn.sendText(readyMessage(this.#lastSeq));
      return;
    }
    void this.#replay(conn, query.after).catch((error: unknown) => {
      this.#log.error({ err: error }, 'stream replay failed');
      conn.close(CLOSE.storeUnavailable, 'store unavailable; reconnect later');
    });
  }

  /**
   * Sends the events after `after`, then switches the connection to live delivery. No buffer of
   * live events is needed: the switch happens synchronously once the replay has read at least as
   * far as the hub (`cursor >= lastSeq`), so every later event reaches the connection through the
   * hub, and an event both read here and fanned out later is dropped by `seq <= cursor`. Nothing
   * committed between the replay's last read and the switch can be missed: the hub reads it after
   * the switch. The replay waits while the connection's send buffer is over its limit.
   */
  async #replay(conn: StreamConnection, after: number): Promise<void> {
    const position = await this.#store.streamPosition();
    // after=0 is "from the start of the retained history" (docs/stream.md), never expired: it is what a
    // client resyncing after 4410 asks for.
    if (after > 0 && after < position.purgedThrough) {
      conn.close(
        CLOSE.cursorExpired,
        `cursor-expired: events up to ${position.purgedThrough} were purged; resync via the operator API`,
      );
      return;
    }
    if (after > position.head) {
      conn.close(CLOSE.badMessage, `after=${after} is beyond the head of this stream (${position.head})`);
      return;
    }
    const limit = this.#config.streamMaxBufferedBytes;
    let cursor = after;
    for (;;) {
      if (conn.closed) return;
      const events = await this.#store.readEvents(cursor, REPLAY_PAGE);
      if (conn.closed) return;
      let sent = 0;
      for (const event of events) {
        if (conn.sees(event)) {
          conn.sendText(eventMessage(event));
          sent++;
        }
        cursor = event.seq;
      }
      this.metrics?.eventsSent.inc(sent);
      conn.cursor = cursor;
      if (events.length < REPLAY_PAGE) {
        if (cursor >= this.#lastSeq) {
          conn.live = true;
          conn.sendText(readyMessage(Math.max(cursor, this.#lastSeq)));
          return;
        }
        if (events.length === 0) {
          // The hub read events that are no longer there: retention purged them meanwhile.
          conn.close(CLOSE.cursorExpired, 'cursor-expired: events were purged during the replay');
          return;
        }
      }
      while (!conn.closed && conn.ws.bufferedAmount > limit / 2) {
        await new Promise((resolve) => setTimeout(resolve, DRAIN_POLL_MS));
      }
    }
  }

  #wake(): void {
    if (!this.#started || this.#closed) return;
    if (this.#pumping) {
      this.#again = true;
      return;
    }
    void this.#pump();
  }

  /**
   * Reads every event after `lastSeq` and fans each out once. One read in flight at a time. With no
   * connection open, it only moves `lastSeq` to the head (one small read instead of every event and
   * its body): a connection opened later replays from its own cursor up to there, and the hub reads
   * what comes after.
   */
  async #pump(): Promise<void> {
    this.#pumping = true;
    try {
      do {
        this.#again = false;
        if (this.#connections.size === 0 && !this.#headUnknown) {
          // Every wake since the last read named its head (this process's own commits): no read.
          if (this.#hintedHead > this.#lastSeq) this.#lastSeq = this.#hintedHead;
          continue;
        }
        if (this.#connections.size === 0) {
          this.#headUnknown = false;
          const { head } = await this.#store.streamPosition();
          // A connection opened during that read may need the events after the old lastSeq.
          if (this.#connections.size === 0) {
            if (head > this.#lastSeq) this.#lastSeq = head;
            continue;
          }
        }
        for (;;) {
          const events = await this.#store.readEvents(this.#lastSeq, HUB_PAGE);
          for (const event of events) this.#fanOut(event);
          if (events.length < HUB_PAGE || this.#closed) break;
        }
      } while (this.#again && !this.#closed);
    } catch (error) {
      // The head is not known after a failed read: the retry reads it again.
      this.#headUnknown = true;
      if (!this.#closed) {
        this.#log.warn({ err: error }, 'reading stream events failed; retrying');
        this.#retry = setTimeout(() => this.#wake(), READ_RETRY_MS);
        this.#retry.unref();
      }
    } finally {
      this.#pumping = false;
    }
  }

  #fanOut(event: StreamEvent): void {
    if (event.seq <= this.#lastSeq) return;
    this.#lastSeq = event.seq;
    let frame: Buffer | undefined;
    let sent = 0;
    const limit = this.#config.streamMaxBufferedBytes;
    for (const conn of this.#connections) {
      if (!conn.live || event.seq <= conn.cursor || !conn.sees(event)) continue;
      frame ??= Buffer.from(eventMessage(event), 'utf8');
      conn.sendLive(frame, event.seq, limit);
      sent++;
    }
    if (sent > 0) this.metrics?.eventsSent.inc(sent);
  }

  #heartbeat(): void {
    const now = Date.now();
    const interval = this.#config.streamHeartbeatSeconds * 1000;
    const timeout = this.#config.streamPongTimeoutSeconds * 1000;
    for (const conn of this.#connections) {
      if (conn.pingSentAt !== undefined) {
        if (now - conn.pingSentAt >= timeout) conn.ws.terminate();
      } else if (now - conn.lastPingAt >= interval) {
        conn.lastPingAt = now;
        conn.pingSentAt = now;
        conn.ws.ping();
      }
    }
  }

  /** Closes (4403) the connections whose token was revoked since they connected. */
  async #checkTokens(): Promise<void> {
    const conns = [...this.#connections].filter((c) => c.principal !== undefined);
    if (conns.length === 0) return;
    let live: Set<string>;
    try {
      const [subscribers, operators] = await Promise.all([
        conns.some((c) => c.principal?.kind === 'subscriber') ? this.#store.listSubscribers() : [],
        conns.some((c) => c.principal?.kind === 'operator') ? this.#store.listTokens() : [],
      ]);
      live = new Set([
        ...subscribers.filter((s) => s.revokedAt === null).map((s) => s.hash),
        ...operators.map((t) => t.hash),
      ]);
    } catch (error) {
      this.#log.warn({ err: error }, 'checking stream tokens failed; will retry');
      return;
    }
    for (const conn of conns) {
      if (conn.principal !== undefined && !live.has(conn.principal.hash)) {
        conn.close(CLOSE.revoked, 'token revoked');
      } else if (conn.principal?.keepAlive !== undefined && !conn.principal.keepAlive()) {
        conn.close(CLOSE.unauthorized, 'console session ended; sign in again');
      }
    }
  }
}

/** The token of a browser's first message `{"type":"auth","token":"…"}`, or undefined. */
function authToken(data: unknown, isBinary: boolean): string | undefined {
  if (isBinary) return undefined;
  const text = Buffer.isBuffer(data)
    ? data.toString('utf8')
    : Array.isArray(data)
      ? Buffer.concat(data as Buffer[]).toString('utf8')
      : Buffer.from(data as ArrayBuffer).toString('utf8');
  try {
    const message = JSON.parse(text) as { type?: unknown; token?: unknown };
    if (message?.type === 'auth' && typeof message.token === 'string' && message.token.length <= 512) {
      return message.token;
    }
  } catch {
    // not JSON
  }
  return undefined;
}
