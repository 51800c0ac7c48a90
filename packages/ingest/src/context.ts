import type { ProblemCode } from '@sigpost/protocol';
import type { Batcher } from './batcher.js';
import type { InFlightKeys } from './checks/idempotency.js';
import type { TokenBuckets } from './checks/rate-limit.js';
import type { SignatureVerifier } from './checks/signature.js';
import type { Clock } from './clock.js';
import type { ServerConfig } from './config.js';
import type { ConsoleSessions } from './console/sessions.js';
import type { IngestMetrics, IngestOutcome } from './metrics.js';
import type { Store } from './store/store.js';

/** Per-request facts gathered on the way, for the one log line and the metrics of each request. */
export interface RequestState {
  /** The Content-Type header of an ingest request, set aside before fastify's body parsing (see routes/ingest.ts). */
  contentType: string | undefined;
  producerId: string | undefined;
  signalId: string | undefined;
  problem: ProblemCode | undefined;
  outcome: IngestOutcome | undefined;
  /** Name of the operator token that authenticated the request. */
  operator: string | undefined;
  /** How the operator came: a bearer token (`api`) or the console's session cookie (`console`); recorded with decisions. */
  operatorChannel: 'api' | 'console' | undefined;
}

/** What the routes share. One per app. */
export interface AppContext {
  readonly store: Store;
  readonly config: ServerConfig;
  readonly clock: Clock;
  readonly metrics: IngestMetrics;
  readonly batcher: Batcher;
  readonly verifier: SignatureVerifier;
  readonly buckets: TokenBuckets;
  /** Signed-in operator console sessions (in memory, per process). */
  readonly consoleSessions: ConsoleSessions;
  /** Keys of this process's ingest requests between validation and commit (check 10). */
  readonly inFlight: InFlightKeys;
  /** True once a graceful shutdown has begun: new requests get 503 and /readyz fails. */
  draining: boolean;
}

declare module 'fastify' {
  interface FastifyRequest {
    sigpost: RequestState;
  }
  interface FastifyInstance {
    /** The ingest server's shared state (config, store, batcher, metrics). */
    sigpost: AppContext;
  }
}
