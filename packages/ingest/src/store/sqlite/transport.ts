// How SqliteStore's writes reach its SqliteWriter: in the writer thread (`ThreadConnection`, over
// the process's one `WriterThread`), or in-process for `:memory:` (`InlineWriter`). The messages
// between the threads, and errors as plain objects that `reviveError` turns back into the classes and
// codes the caller would have seen without the thread. `serveWriter` is the thread's side; worker.ts
// starts it.
import { type MessagePort, Worker } from 'node:worker_threads';
import Database from 'better-sqlite3';
import {
  StoreConflictError,
  StoreError,
  StoreInvalidCursorError,
  StoreNotFoundError,
  StoreSchemaTooNewError,
  StoreUnavailableError,
} from '../store.js';
import { openConnection } from './connection.js';
import type { AcceptBatchWire } from './wire.js';
import { type BatchOutcome, SqliteWriter } from './writer.js';

// How long the writer thread outlives its last store: stores opened one after another (tests, several
// commands in one process) reuse it instead of each starting a thread (0.1–0.5 s from source).
const WRITER_IDLE_MS = 1_000;

/** Set in `workerData` by WriterThread, so worker.ts serves only in the thread started for it. */
export const WRITER_THREAD_MARK = 'sigpostSqliteWriter';

/** The writer methods a message may call. */
export type WriteOp = Exclude<keyof SqliteWriter, 'close'>;
const WRITE_OPS: ReadonlySet<string> = new Set<WriteOp>([
  'migrate',
  'createProducer',
  'addSecret',
  'retireSecret',
  'replaceSecretCiphertext',
  'removeProducer',
  'acceptBatch',
  'purgeChunk',
  'decideSignal',
  'purgeSignalsChunk',
  'createSubscriber',
  'revokeSubscriber',
  'createToken',
  'revokeToken',
  'telegram',
]);

/** Main thread → writer thread. `conn` names one SqliteStore's connection (the thread serves all of a process's stores). */
export type WriterRequest =
  | { readonly id: number; readonly conn: number; readonly op: 'open'; readonly args: [string, number] }
  | { readonly id: number; readonly conn: number; readonly op: 'close'; readonly args: [] }
  | { readonly id: number; readonly conn: number; readonly op: WriteOp; readonly args: unknown[] };

/** Writer thread → main thread, one per request, in request order. */
export type WriterReply =
  | { readonly id: number; readonly ok: true; readonly value: unknown }
  | { readonly id: number; readonly ok: false; readonly error: SerializedError };

export interface SerializedError {
  readonly name: string;
  readonly message: string;
  readonly code?: string;
  readonly stack?: string;
  readonly cause?: SerializedError;
}

export function serializeError(error: unknown): SerializedError {
  if (!(error instanceof Error)) return { name: 'Error', message: String(error) };
  const code = (error as { code?: unknown }).code;
  return {
    name: error.name,
    message: error.message,
    ...(typeof code === 'string' ? { code } : {}),
    ...(error.stack === undefined ? {} : { stack: error.stack }),
    ...(error.cause === undefined ? {} : { cause: serializeError(error.cause) }),
  };
}

const STORE_ERRORS: Record<string, new (message: string, options?: ErrorOptions) => StoreError> = {
  StoreError,
  StoreConflictError,
  StoreNotFoundError,
  StoreUnavailableError,
  StoreInvalidCursorError,
  StoreSchemaTooNewError,
};
const PLAIN_ERRORS: Record<string, ErrorConstructor> = { TypeError, RangeError, SyntaxError };

/** Rebuilds an error of the class (and `code`, `cause`) it had in the writer thread. */
export function reviveError(serialized: SerializedError): Error {
  const cause = serialized.cause === undefined ? undefined : reviveError(serialized.cause);
  const options = cause === undefined ? undefined : { cause };
  let error: Error;
  const StoreClass = STORE_ERRORS[serialized.name];
  if (StoreClass !== undefined) {
    error = new StoreClass(serialized.message, options);
  } else if (serialized.name === 'SqliteError' && serialized.code !== undefined) {
    error = new Database.SqliteError(serialized.message, serialized.code);
  } else {
    error = new (PLAIN_ERRORS[serialized.name] ?? Error)(serialized.message, options);
    if (error.name !== serialized.name) error.name = serialized.name;
    if (serialized.code !== undefined) Object.assign(error, { code: serialized.code });
  }
  // The writer's stack shows where the write failed, which the receiving side's would not.
  if (serialized.stack !== undefined) error.stack = serialized.stack;
  return error;
}

/** Where a store's writes run. */
export interface Writer {
  /** Runs `op`; `transfer` lists buffers of `args` the call may move to the writer thread instead of copying them. */
  call(op: WriteOp, args: unknown[], transfer?: readonly ArrayBuffer[]): Promise<unknown>;
  /** Why writes cannot run any more (the writer thread stopped), or undefined while they can. */
  failure(): StoreUnavailableError | undefined;
  /** Resolves once the writes already requested have finished and the connection is closed. */
  close(): Promise<void>;
}

/** The `:memory:` case: the writer on the store's own connection, on the calling thread. */
export class InlineWriter implements Writer {
  readonly #writer: SqliteWriter;
  constructor(writer: SqliteWriter) {
    this.#writer = writer;
  }
  async call(op: WriteOp, args: unknown[]): Promise<unknown> {
    return (this.#writer[op] as (...a: unknown[]) => unknown).apply(this.#writer, args);
  }
  failure(): undefined {
    return undefined;
  }
  async close(): Promise<void> {}
}

/** One store's connection in the shared writer thread. */
export class ThreadConnection implements Writer {
  readonly #thread: WriterThread;
  readonly #conn: number;
  constructor(path: string, busyTimeoutMs: number) {
    this.#thread = WriterThread.acquire();
    this.#conn = this.#thread.open(path, busyTimeoutMs);
  }
  call(op: WriteOp, args: unknown[], transfer?: readonly ArrayBuffer[]): Promise<unknown> {
    return this.#thread.request(this.#conn, op, args, transfer);
  }
  failure(): StoreUnavailableError | undefined {
    return this.#thread.failure(this.#conn);
  }
  close(): Promise<void> {
    return this.#thread.release(this.#conn);
  }
}

interface PendingRequest {
  readonly conn: number;
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: unknown) => void;
}

/**
 * The writer thread of this process. It executes requests one at a time in the order they were
 * posted, so a store's writes stay in order, and a reply to `close` means its earlier writes are done.
 */
class WriterThread {
  static #current: WriterThread | undefined;

  /** The running thread, started when none runs, counted as used until `release`. */
  static acquire(): WriterThread {
    WriterThread.#current ??= new WriterThread();
    const thread = WriterThread.#current;
    thread.#users++;
    clearTimeout(thread.#idleTimer);
    thread.#idleTimer = undefined;
    return thread;
  }

  static get current(): WriterThread | undefined {
    return WriterThread.#current;
  }

  readonly worker: Worker;
  readonly #pending = new Map<number, PendingRequest>();
  readonly #paths = new Map<number, string>();
  #lastId = 0;
  #lastConn = 0;
  #users = 0;
  #stopping = false;
  #idleTimer: NodeJS.Timeout | undefined;
  #stopped: { reason: string; cause?: unknown } | undefined;

  constructor() {
    this.worker = startWorker();
    // Only pending requests keep the process alive, as they would with a synchronous driver.
    this.worker.unref();
    this.worker.on('message', (reply: WriterReply) => this.#settle(reply));
    this.worker.on('error', (error) => this.#stop(`failed: ${error.message}`, error));
    this.worker.on('exit', (code) => {
      if (!this.#stopping) this.#stop(`exited unexpectedly (exit code ${code})`);
    });
  }

  /** Opens a connection to `path` in the thread; returns its number. */
  open(path: string, busyTimeoutMs: number): number {
    const conn = ++this.#lastConn;
    this.#paths.set(conn, path);
    // An open that fails fails every write queued behind it with the same error; nothing to do here.
    this.request(conn, 'open', [path, busyTimeoutMs]).catch(() => {});
    return conn;
  }

  request(
    conn: number,
    op: WriterRequest['op'],
    args: unknown[],
    transfer: readonly ArrayBuffer[] = [],
  ): Promise<unknown> {
    const stopped = this.failure(conn);
    if (stopped !== undefined) return Promise.reject(stopped);
    return new Promise((resolve, reject) => {
      const id = ++this.#lastId;
      if (this.#pending.size === 0) this.worker.ref();
      this.#pending.set(id, { conn, resolve, reject });
      this.worker.postMessage({ id, conn, op, args } as WriterRequest, transfer as ArrayBuffer[]);
    });
  }

  failure(conn: number): StoreUnavailableError | undefined {
    if (this.#stopped === undefined) return undefined;
    const { reason, cause } = this.#stopped;
    return new StoreUnavailableError(
      `Cannot write to SQLite database ${this.#paths.get(conn) ?? ''}: its writer thread ${reason}`,
      cause === undefined ? undefined : { cause },
    );
  }

  /**
   * Closes a connection after the writes requested before it. The thread ends `WRITER_IDLE_MS` after
   * its last connection closed, unless a store opens a new one meanwhile.
   */
  async release(conn: number): Promise<void> {
    try {
      await this.request(conn, 'close', []);
    } catch {
      // A thread that stopped has no connection left to close.
    } finally {
      this.#paths.delete(conn);
      if (--this.#users === 0) {
        this.#idleTimer = setTimeout(() => this.#terminate(), WRITER_IDLE_MS);
        this.#idleTimer.unref();
      }
    }
  }

  #terminate(): void {
    if (WriterThread.#current === this) WriterThread.#current = undefined;
    this.#stopping = true;
    void this.worker.terminate();
  }

  #settle(reply: WriterReply): void {
    const pending = this.#pending.get(reply.id);
    if (pending === undefined) return;
    this.#pending.delete(reply.id);
    if (this.#pending.size === 0) this.worker.unref();
    if (reply.ok) pending.resolve(reply.value);
    else pending.reject(reviveError(reply.error));
  }

  #stop(reason: string, cause?: unknown): void {
    if (this.#stopped !== undefined) return;
    this.#stopped = cause === undefined ? { reason } : { reason, cause };
    if (WriterThread.#current === this) WriterThread.#current = undefined;
    for (const pending of this.#pending.values()) pending.reject(this.failure(pending.conn));
    this.#pending.clear();
  }
}

function startWorker(): Worker {
  const workerData = { [WRITER_THREAD_MARK]: true };
  if (import.meta.url.endsWith('.ts')) {
    // Running from TypeScript source (tests, tsx): the worker loads the .ts file through tsx. Node 20
    // ignores `--import` in a Worker's execArgv (nodejs/node#47747), so the worker registers tsx itself.
    const tsx = import.meta.resolve('tsx/esm/api');
    const entry = new URL('./worker.ts', import.meta.url).href;
    const bootstrap = `import(${JSON.stringify(tsx)}).then((tsx) => { tsx.register(); return import(${JSON.stringify(entry)}); });`;
    return new Worker(bootstrap, { eval: true, workerData });
  }
  return new Worker(new URL('./worker.js', import.meta.url), { workerData });
}

/**
 * The writer thread of this process's SQLite stores, while one runs. For tests that stop it.
 * @internal
 */
export function writerThreadOfProcess(): Worker | undefined {
  return WriterThread.current?.worker;
}

/**
 * The writer thread's side: runs each request's write on the connection it names, in the order
 * received, and posts one reply per request. Called by the thread's entry module (worker.ts).
 *
 * Group commit of batches: `acceptBatch` requests are not run one by one. Those that arrived while
 * the thread was busy (committing the previous ones) are collected and committed together, in one
 * transaction per connection (`SqliteWriter.acceptBatches`), once every message already waiting has
 * been read (at `setImmediate`). So the event loop can send each batch as soon as it forms, without
 * waiting for the previous commit to come back, and the writer never idles while batches wait; a
 * failing batch still fails alone. Any other request first commits the batches received before it,
 * so writes stay in the order they were sent.
 */
export function serveWriter(port: MessagePort): void {
  const writers = new Map<number, SqliteWriter>();
  const openErrors = new Map<number, unknown>();
  let accepts: WriterRequest[] = [];
  const writerOf = (conn: number): SqliteWriter => {
    const writer = writers.get(conn);
    if (writer !== undefined) return writer;
    throw openErrors.get(conn) ?? new StoreError(`SQLite writer connection ${conn} is not open`);
  };
  const fail = (request: WriterRequest, error: unknown) =>
    port.postMessage({ id: request.id, ok: false, error: serializeError(error) } satisfies WriterReply);
  const commitAccepts = () => {
    if (accepts.length === 0) return;
    const waiting = accepts;
    accepts = [];
    for (const conn of new Set(waiting.map((r) => r.conn))) {
      const requests = waiting.filter((r) => r.conn === conn);
      let outcomes: BatchOutcome[];
      try {
        outcomes = writerOf(conn).acceptBatches(requests.map((r) => r.args[0] as AcceptBatchWire));
      } catch (error) {
        for (const request of requests) fail(request, error);
        continue;
      }
      requests.forEach((request, i) => {
        const outcome = outcomes[i] as BatchOutcome;
        if (outcome.ok)
          port.postMessage({ id: request.id, ok: true, value: outcome.value } satisfies WriterReply);
        else fail(request, outcome.error);
      });
    }
  };
  port.on('message', (request: WriterRequest) => {
    if (request.op === 'acceptBatch') {
      if (accepts.length === 0) setImmediate(commitAccepts);
      accepts.push(request);
      return;
    }
    commitAccepts();
    let reply: WriterReply;
    try {
      let value: unknown;
      if (request.op === 'open') {
        const [path, busyTimeoutMs] = request.args;
        try {
          writers.set(request.conn, new SqliteWriter(openConnection(path, busyTimeoutMs)));
        } catch (error) {
          // The calls already queued behind the open get this error, not a vaguer one.
          openErrors.set(request.conn, error);
          throw error;
        }
      } else if (request.op === 'close') {
        writers.get(request.conn)?.close();
        writers.delete(request.conn);
        openErrors.delete(request.conn);
      } else {
        const writer = writerOf(request.conn);
        if (!WRITE_OPS.has(request.op))
          throw new TypeError(`Unknown SQLite writer operation "${request.op}"`);
        value = (writer[request.op] as (...args: unknown[]) => unknown).apply(writer, request.args);
      }
      reply = { id: request.id, ok: true, value };
    } catch (error) {
      reply = { id: request.id, ok: false, error: serializeError(error) };
    }
    port.postMessage(reply);
  });
}
