import type { AcceptRequest, AcceptResult, Store } from './store/store.js';

interface Pending {
  readonly request: AcceptRequest;
  readonly resolve: (result: AcceptResult) => void;
  readonly reject: (error: unknown) => void;
}

/** Observes each committed batch (for the batch-size metric). */
export type BatchObserver = (size: number) => void;

/**
 * Group commit: requests accepted during one turn of the event loop are committed together with one
 * `store.acceptBatch` call (one transaction, one fsync). Measured here at about twice the throughput
 * of one transaction per request.
 *
 * At most `maxInFlight` batches are being committed at a time; requests arriving meanwhile wait and
 * form the next batch, so batches grow with load (and with the latency of a remote database) instead
 * of transactions piling up. With 1 (PostgreSQL), a batch goes to the store when the previous one has
 * committed. SQLite's writer thread commits together the batches that queued up while it was busy, so
 * there the batcher sends each batch as it forms (a few in flight) and the writer never waits for the
 * event loop to hand it the next one. A failed commit rejects every request of its batch and nothing else.
 */
export class Batcher {
  readonly #store: Store;
  readonly #maxBatchSize: number;
  readonly #observe: BatchObserver;
  readonly #maxInFlight: number;
  #queue: Pending[] = [];
  #scheduled = false;
  #inFlight = 0;
  readonly #idleWaiters: (() => void)[] = [];

  constructor(
    store: Store,
    options: {
      maxBatchSize: number;
      /** Batches committing at once. @default 1 */
      maxInFlight?: number;
      observe?: BatchObserver;
    },
  ) {
    this.#store = store;
    this.#maxBatchSize = options.maxBatchSize;
    this.#maxInFlight = Math.max(1, Math.trunc(options.maxInFlight ?? 1));
    this.#observe = options.observe ?? (() => {});
  }

  /** Queues one request; resolves with the store's decision once its batch is committed. */
  accept(request: AcceptRequest): Promise<AcceptResult> {
    return new Promise<AcceptResult>((resolve, reject) => {
      this.#queue.push({ request, resolve, reject });
      this.#schedule();
    });
  }

  /** Requests queued and not yet committed (the current batch excluded). */
  get queued(): number {
    return this.#queue.length;
  }

  /** Resolves once every queued request has been committed (or has failed). */
  drain(): Promise<void> {
    if (this.#queue.length === 0 && this.#inFlight === 0 && !this.#scheduled) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  #schedule(): void {
    if (this.#scheduled || this.#inFlight >= this.#maxInFlight) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      if (this.#inFlight < this.#maxInFlight) this.#commitNext();
    });
  }

  #commitNext(): void {
    const batch = this.#queue.splice(0, this.#maxBatchSize);
    if (batch.length === 0) {
      if (this.#inFlight === 0) this.#wakeIdle();
      return;
    }
    this.#inFlight++;
    try {
      this.#observe(batch.length);
    } catch {
      // A metric must not stall ingest: the batch is committed all the same.
    }
    let commit: Promise<AcceptResult[]>;
    try {
      commit = this.#store.acceptBatch(batch.map((p) => p.request));
    } catch (error) {
      commit = Promise.reject(error);
    }
    commit.then(
      (results) => this.#settle(batch, results, undefined),
      (error: unknown) => this.#settle(batch, undefined, error),
    );
  }

  #settle(batch: readonly Pending[], results: AcceptResult[] | undefined, error: unknown): void {
    this.#inFlight--;
    // The next batch goes to the store before this one's answers are written, so that the store
    // (a writer thread, or a database server) commits it while the event loop sends the responses.
    if (this.#queue.length > 0) this.#commitNext();
    batch.forEach((p, i) => {
      const result = results?.[i];
      if (result) p.resolve(result);
      else
        p.reject(
          results === undefined
            ? error
            : new Error(`store.acceptBatch returned ${results.length} results for ${batch.length} requests`),
        );
    });
    if (this.#inFlight === 0 && this.#queue.length === 0) this.#wakeIdle();
    // Requests queued beyond maxBatchSize, or while every slot was taken, go in the next turn.
    else if (this.#queue.length > 0) this.#schedule();
  }

  #wakeIdle(): void {
    for (const wake of this.#idleWaiters.splice(0)) wake();
  }
}
