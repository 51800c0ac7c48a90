// Fixtures shared by the tests and benchmarks of every package: the one valid signal and a valid ingest
// answer, the signature computed with node:crypto alone (the recipe of docs/protocol.md, so that it
// checks the protocol package instead of repeating it), and a node:http server on 127.0.0.1.
import { createHash, createHmac, type Hmac, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { SignalCandidate, SignalIngestResponse } from '@sigpost/protocol';

/** The `timestamp` of the valid signal. */
export const SIGNAL_TIMESTAMP = '2025-10-25T14:30:45.123456Z';

/** Fields to replace in the valid signal; a field given as `undefined` is removed. */
export type SignalOverrides = {
  readonly [K in keyof SignalCandidate]?: SignalCandidate[K] | undefined;
};

/**
 * The valid signal (a GOLD buy), a fresh object on each call, with `overrides` applied.
 *
 * @example
 * validSignal({ reason: 'rotation 3', payload: undefined }); // no payload
 */
export function validSignal(overrides: SignalOverrides = {}): SignalCandidate {
  const signal: Record<string, unknown> = {
    instrument: 'GOLD',
    side: 'buy',
    entry_price: 1950.5,
    stop_loss: 1945,
    take_profit: 1960,
    confidence: 0.85,
    reason: 'test_signal',
    timestamp: SIGNAL_TIMESTAMP,
    payload: { rsi: 35, atr: 5.5 },
    ...overrides,
  };
  for (const [key, value] of Object.entries(signal)) if (value === undefined) delete signal[key];
  return signal as SignalCandidate;
}

/** The `server_timestamp` of `INGEST_RESPONSE`. */
export const SERVER_TIMESTAMP = '2025-10-25T14:30:46.123456Z';

/** A valid 201 body of the ingest endpoint. */
export const INGEST_RESPONSE: Readonly<SignalIngestResponse> = Object.freeze({
  signal_id: 'sig_01JC3M5W8QXG4K2N6Y7T9B1ZAD',
  status: 'received',
  server_timestamp: SERVER_TIMESTAMP,
  message: null,
  errors: null,
});

/** What an ingest request is signed over. */
export interface SignedParts {
  readonly secret: string;
  readonly producerId: string;
  readonly timestamp: string;
  readonly body: string | Buffer;
}

/** HMAC-SHA256 over the canonical string, not yet digested. */
function hmac({ secret, producerId, timestamp, body }: SignedParts): Hmac {
  const bodySha = createHash('sha256').update(body).digest('base64');
  const canonical = `METHOD:POST\nENDPOINT:/api/v1/signals/ingest\nTIMESTAMP:${timestamp}\nPRODUCER_ID:${producerId}\nBODY_SHA256:${bodySha}`;
  return createHmac('sha256', secret).update(canonical);
}

/** The X-Signature of a request, computed with node:crypto alone as docs/protocol.md describes it. */
export function independentSignature(parts: SignedParts): string {
  return hmac(parts).digest('base64');
}

/** Whether `signature` signs the request, checked with node:crypto alone, as a partner's server would. */
export function verifiesIndependently(parts: SignedParts & { readonly signature: string }): boolean {
  const expected = hmac(parts).digest();
  const provided = Buffer.from(parts.signature, 'base64');
  return provided.length === expected.length && timingSafeEqual(provided, expected);
}

/** `verifiesIndependently` for a received request: producer id, timestamp and signature from its headers. */
export function requestVerifiesIndependently(
  secret: string,
  request: { readonly headers: IncomingHttpHeaders; readonly body: Buffer },
): boolean {
  const header = (name: string) => String(request.headers[name] ?? '');
  return verifiesIndependently({
    secret,
    producerId: header('x-producer-id'),
    timestamp: header('x-timestamp'),
    body: request.body,
    signature: header('x-signature'),
  });
}

export interface LocalServer {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  readonly port: number;
  /** Drops open connections (kept-alive or hanging ones would hold it open), then stops listening. */
  close(): Promise<void>;
}

/** Starts `server` listening on 127.0.0.1, on a free port unless `port` is given. */
export async function listenLocal(server: Server, port = 0): Promise<LocalServer> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const bound = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${bound}`,
    port: bound,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => {
          // A second close (a test's own, then its afterEach) is not a failure.
          if (error && (error as NodeJS.ErrnoException).code !== 'ERR_SERVER_NOT_RUNNING') reject(error);
          else resolve();
        });
      }),
  };
}
