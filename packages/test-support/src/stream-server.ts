// A local stream server on 127.0.0.1 (port 0) that speaks stream protocol v1 as STREAM-DECISIONS /
// docs/stream.md fix it: bearer auth on the upgrade (problem+json refusals before it), hello, replay of
// the events after `after=`, ready, live events, pings, and the close codes. Events live in memory; the
// tests append them and script misbehaviour per connection (a gap, a close after n events, silence).
// It stands in for the ingest server's stream until that lands, like the CLI's local ingest server.
import { createServer, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { type WebSocket, WebSocketServer } from 'ws';
import { type LocalServer, listenLocal, validSignal } from './fixtures.js';

export type TestStatus = 'received' | 'pending_approval' | 'approved' | 'rejected';

export interface TestEvent {
  readonly type: string;
  readonly seq: number;
  readonly at: string;
  readonly signal: Record<string, unknown> & { producer_id: string; status: string; signal_id: string };
}

export interface TestToken {
  readonly subscriber: string;
  readonly producers?: readonly string[] | null;
  readonly statuses?: readonly string[] | null;
}

/** What one connection does differently, chosen by `script` when it is accepted. */
export interface ConnectionScript {
  /** Close with this code and reason after sending this many events (replay and live counted together). */
  readonly closeAfter?: { readonly events: number; readonly code: number; readonly reason: string };
  /** Send hello, then nothing at all: no events, no pings (a hung server). */
  readonly silent?: boolean;
  /** Leave these seqs out of the replay (a server that loses events). */
  readonly skip?: readonly number[];
  /** Replay starts this many events before `after` (a server that repeats events). */
  readonly repeat?: number;
  /** Sent instead of the real epoch in hello. */
  readonly epoch?: string;
  /** Sent instead of the real head in ready. */
  readonly head?: number;
  /** Text frames sent right after hello (garbage, unknown messages). */
  readonly frames?: readonly string[];
  /** Sent instead of 1 as hello.protocol. */
  readonly protocol?: number;
}

/** A refusal of the upgrade, before any frame. */
export interface UpgradeRefusal {
  readonly status: number;
  readonly code: string;
  readonly retryAfter?: string;
}

export interface TestConnection {
  readonly index: number;
  readonly url: URL;
  readonly headers: IncomingHttpHeaders;
  readonly after: number | null;
  readonly token: string;
  readonly socket: WebSocket;
  /** Resolves with the close code once the connection ended. */
  readonly closed: Promise<number>;
  /** Seqs sent on this connection, in order. */
  readonly sent: number[];
}

export interface StreamServerOptions {
  readonly tokens?: Readonly<Record<string, TestToken>>;
  readonly epoch?: string;
  /** `heartbeat_seconds` in hello. @default 25 */
  readonly heartbeatSeconds?: number;
  /** How often the server really pings, in ms (0: never). @default 1000 · heartbeatSeconds */
  readonly pingIntervalMs?: number;
  /** The oldest resume point still served: `after` below it closes with 4410, except `after=0` (the start of the retained history). @default 0 */
  readonly oldestAfter?: number;
  readonly script?: (index: number) => ConnectionScript | undefined;
  /** Close a connection with 4429 when its send buffer (`bufferedAmount`) is over this many bytes. */
  readonly maxBufferedBytes?: number;
  /** Refuses upgrade number `index` (0-based, refused ones counted) with this answer. */
  readonly refuse?: (index: number) => UpgradeRefusal | undefined;
  /** Listen on this port (a restarted server on its predecessor's port). @default 0 */
  readonly port?: number;
}

export interface StreamServer extends LocalServer {
  readonly events: TestEvent[];
  readonly connections: TestConnection[];
  /** Stores an event (seq = last + 1 unless given) and sends it to every live connection that may see it. */
  append(signal?: Partial<TestEvent['signal']>, options?: { seq?: number; type?: string }): TestEvent;
  /** Resolves when `n` connections have been accepted (upgraded). */
  connection(n: number): Promise<TestConnection>;
  /** Closes every open connection with `code`. */
  closeAll(code: number, reason: string): void;
  /** Revokes a token: its open connections close with 4403, later upgrades get 401. */
  revoke(token: string): void;
  /** Upgrade requests seen, refused ones included. */
  readonly upgrades: { url: string; headers: IncomingHttpHeaders }[];
}

export const TEST_TOKEN = 'sgs_test-token-0000000000000000000000000000000';
export const TEST_EPOCH = 'ep_test_1';

/** A signal as the stream carries it; `timestamp` is the producer's time, `overrides` replace fields. */
export function streamSignal(seq: number, overrides: Partial<TestEvent['signal']> = {}): TestEvent['signal'] {
  const now = new Date().toISOString();
  return {
    signal_id: `sig_${String(seq).padStart(26, '0')}`,
    producer_id: 'bot-1',
    status: 'received',
    ...validSignal({ reason: `signal ${seq}`, timestamp: now, payload: { rsi: 35 } }),
    received_at: now,
    decided_at: null,
    decided_by: null,
    decision_channel: null,
    message: null,
    idempotency_key: null,
    ...overrides,
  };
}

function problem(socket: Duplex, status: number, code: string, title: string, headers: string[] = []): void {
  const body = JSON.stringify({ type: `urn:sigpost:problem:${code}`, title, status, detail: title });
  socket.end(
    [
      `HTTP/1.1 ${status} ${title}`,
      'Content-Type: application/problem+json',
      `Content-Length: ${Buffer.byteLength(body)}`,
      'Connection: close',
      ...headers,
      '',
      body,
    ].join('\r\n'),
  );
}

const STATUSES = new Set(['received', 'pending_approval', 'approved', 'rejected']);

export async function startStreamServer(options: StreamServerOptions = {}): Promise<StreamServer> {
  const tokens = new Map(Object.entries(options.tokens ?? { [TEST_TOKEN]: { subscriber: 'sub_test' } }));
  const revoked = new Set<string>();
  const epoch = options.epoch ?? TEST_EPOCH;
  const heartbeatSeconds = options.heartbeatSeconds ?? 25;
  const pingIntervalMs = options.pingIntervalMs ?? heartbeatSeconds * 1000;
  const events: TestEvent[] = [];
  const connections: TestConnection[] = [];
  const upgrades: { url: string; headers: IncomingHttpHeaders }[] = [];
  const waiters: { n: number; resolve: (c: TestConnection) => void }[] = [];
  const live = new Map<WebSocket, (event: TestEvent) => void>();
  const wss = new WebSocketServer({ noServer: true, maxPayload: 4096 });

  const server = createServer((_req, res) => {
    res.writeHead(404).end();
  });
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    upgrades.push({ url: req.url ?? '', headers: req.headers });
    const refusal = options.refuse?.(upgrades.length - 1);
    if (refusal) {
      const headers = refusal.retryAfter === undefined ? [] : [`Retry-After: ${refusal.retryAfter}`];
      return problem(socket, refusal.status, refusal.code, 'Refused by the test', headers);
    }
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (url.pathname !== '/api/v1/stream') return problem(socket, 404, 'not-found', 'Not Found');
    if (url.searchParams.has('token') || url.searchParams.has('access_token')) {
      return problem(socket, 400, 'token-in-query', 'Token in the query string');
    }
    const auth = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '');
    const token = auth?.[1] ?? '';
    const grant = tokens.get(token);
    if (!grant || revoked.has(token)) {
      return problem(socket, 401, 'invalid-subscriber-token', 'Invalid subscriber token');
    }
    const afterText = url.searchParams.get('after');
    const after = afterText === null ? null : /^\d+$/.test(afterText) ? Number(afterText) : Number.NaN;
    const statuses = url.searchParams.get('statuses')?.split(',') ?? null;
    const producers = url.searchParams.get('producers')?.split(',') ?? null;
    if (Number.isNaN(after) || statuses?.some((s) => !STATUSES.has(s))) {
      return problem(socket, 400, 'invalid-stream-request', 'Invalid stream request');
    }
    if (
      (grant.producers && producers?.some((p) => !grant.producers?.includes(p))) ||
      (grant.statuses && statuses?.some((s) => !grant.statuses?.includes(s)))
    ) {
      return problem(socket, 403, 'stream-scope-forbidden', 'Outside the token scope');
    }
    const visible = (e: TestEvent) =>
      (!producers || producers.includes(e.signal.producer_id)) &&
      (!grant.producers || grant.producers.includes(e.signal.producer_id)) &&
      (!statuses || statuses.includes(e.signal.status)) &&
      (!grant.statuses || grant.statuses.includes(e.signal.status));

    wss.handleUpgrade(req, socket, head, (ws) => {
      const index = connections.length;
      const script = options.script?.(index) ?? {};
      let resolveClosed: (code: number) => void = () => {};
      const closed = new Promise<number>((r) => {
        resolveClosed = r;
      });
      const connection: TestConnection = {
        index,
        url,
        headers: req.headers,
        after,
        token,
        socket: ws,
        closed,
        sent: [],
      };
      connections.push(connection);
      ws.on('close', (code) => {
        live.delete(ws);
        resolveClosed(code);
      });
      ws.on('error', () => {});
      (ws as WebSocket & { sigpostAlive?: boolean; sigpostSilent?: boolean }).sigpostAlive = true;
      (ws as WebSocket & { sigpostSilent?: boolean }).sigpostSilent = script.silent === true;
      ws.on('pong', () => {
        (ws as WebSocket & { sigpostAlive?: boolean }).sigpostAlive = true;
      });
      for (const waiter of waiters.filter((w) => w.n === connections.length)) waiter.resolve(connection);

      ws.send(
        JSON.stringify({
          type: 'hello',
          protocol: script.protocol ?? 1,
          epoch: script.epoch ?? epoch,
          subscriber: grant.subscriber,
          heartbeat_seconds: heartbeatSeconds,
        }),
      );
      for (const frame of script.frames ?? []) ws.send(frame);
      if (script.silent) return;
      const send = (event: TestEvent): boolean => {
        if (ws.readyState !== ws.OPEN) return false;
        ws.send(JSON.stringify(event));
        connection.sent.push(event.seq);
        if (options.maxBufferedBytes !== undefined && ws.bufferedAmount > options.maxBufferedBytes) {
          ws.close(4429, 'slow consumer');
          return false;
        }
        const limit = script.closeAfter;
        if (limit && connection.sent.length >= limit.events) {
          ws.close(limit.code, limit.reason);
          return false;
        }
        return true;
      };
      if (after !== null) {
        if (after > 0 && after < (options.oldestAfter ?? 0)) {
          ws.close(4410, 'cursor-expired');
          return;
        }
        const from = script.repeat ? Math.max(0, after - script.repeat) : after;
        for (const event of events) {
          if (event.seq <= from || !visible(event)) continue;
          if (script.skip?.includes(event.seq)) continue;
          if (!send(event)) return;
        }
      }
      ws.send(JSON.stringify({ type: 'ready', head: script.head ?? events.at(-1)?.seq ?? 0 }));
      live.set(ws, (event) => {
        if (visible(event)) send(event);
      });
    });
  });

  const pinger =
    pingIntervalMs > 0
      ? setInterval(() => {
          for (const client of wss.clients) {
            const c = client as WebSocket & { sigpostAlive?: boolean; sigpostSilent?: boolean };
            if (c.sigpostSilent) continue;
            if (c.sigpostAlive === false) {
              c.terminate();
              continue;
            }
            c.sigpostAlive = false;
            c.ping();
          }
        }, pingIntervalMs)
      : undefined;

  const local = await listenLocal(server, options.port ?? 0);
  return {
    ...local,
    events,
    connections,
    upgrades,
    append(signal = {}, opts = {}) {
      const seq = opts.seq ?? (events.at(-1)?.seq ?? 0) + 1;
      const full = streamSignal(seq, signal);
      const event: TestEvent = {
        type: opts.type ?? `signal.${full.status}`,
        seq,
        at: new Date().toISOString(),
        signal: full,
      };
      events.push(event);
      for (const deliver of live.values()) deliver(event);
      return event;
    },
    connection(n) {
      const existing = connections[n - 1];
      if (existing) return Promise.resolve(existing);
      return new Promise((resolve) => waiters.push({ n, resolve }));
    },
    closeAll(code, reason) {
      for (const client of wss.clients) client.close(code, reason);
    },
    revoke(token) {
      revoked.add(token);
      for (const c of connections)
        if (c.token === token && c.socket.readyState === c.socket.OPEN) c.socket.close(4403, 'token revoked');
    },
    async close() {
      if (pinger) clearInterval(pinger);
      for (const client of wss.clients) client.terminate();
      wss.close();
      await local.close();
    },
  };
}
