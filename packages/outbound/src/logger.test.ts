import { INGEST_RESPONSE, validSignal } from '@sigpost/test-support/fixtures';
import {
  type IngestServer,
  sendJson,
  sendProblem,
  startIngestServer,
} from '@sigpost/test-support/ingest-server';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { HmacClient, type SignalInput } from './client.js';
import { OutboundConfig } from './config.js';
import { assertLogger, LOG_FIELDS, logFields, type OutboundLogger } from './logger.js';

const SECRET = 'log-test-secret-that-must-never-leak';
const SIGNAL: SignalInput = validSignal({
  reason: 'body-marker-reason',
  payload: { marker: 'body-marker-payload' },
});

let server: IngestServer | undefined;
let client: HmacClient | undefined;
afterEach(async () => {
  await client?.close();
  await server?.close();
});

/** A real pino logger writing JSON lines into memory. */
function capturedPino() {
  const lines: string[] = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => lines.push(line) });
  return { logger, lines, records: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

describe('logging through a real pino logger', () => {
  it('accepts a pino logger as an OutboundLogger (type and shape)', () => {
    const logger: OutboundLogger = pino({ level: 'silent' });
    expect(() => assertLogger(logger)).not.toThrow();
  });

  it('logs the seed fields at the seed levels and never the secret, a signature, a header or the body', async () => {
    server = await startIngestServer((req, res, i) => {
      if (i === 0) sendProblem(res, 503, { type: 'about:blank', title: 'Busy' });
      else if (req.headers['x-idempotency-key'] === 'refused-key') {
        sendProblem(res, 401, {
          type: 'urn:sigpost:problem:invalid-signature',
          title: 'Unknown producer or invalid signature',
        });
      } else sendJson(res, 201, INGEST_RESPONSE);
    });
    const { logger, lines, records } = capturedPino();
    client = new HmacClient(
      new OutboundConfig({ producerId: 'log-producer', producerSecret: SECRET, serverBaseUrl: server.url }),
      logger,
      { sleep: async () => {}, random: () => 0 },
    );

    await client.postSignal(SIGNAL, { idempotencyKey: 'ok-key' });
    await expect(client.postSignal(SIGNAL, { idempotencyKey: 'refused-key' })).rejects.toThrow('401');
    await expect(client.postSignal({ ...SIGNAL, side: 'hold' } as unknown as SignalInput)).rejects.toThrow(
      'Signal failed validation',
    );

    const all = lines.join('');
    expect(all).not.toContain(SECRET);
    for (const req of server.requests) expect(all).not.toContain(String(req.headers['x-signature']));
    expect(all).not.toContain('body-marker');
    expect(all.toLowerCase()).not.toContain('x-signature');

    const seen = records().map((r) => [r.level, r.msg]);
    expect(seen).toEqual([
      [20, 'Signal serialised'],
      [40, 'Signal delivery attempt failed; retrying'],
      [30, 'Signal posted successfully'],
      [20, 'Signal serialised'],
      [50, 'Signal delivery failed'],
      [50, 'Signal failed validation'],
    ]);
    const success = records()[2]!;
    expect(success).toMatchObject({
      producer_id: 'log-producer',
      signal_id: INGEST_RESPONSE.signal_id,
      signal_status: 'received',
      http_code: 201,
      attempt: 2,
      idempotency_key: 'ok-key',
      instrument: 'GOLD',
    });
    expect(typeof success.duration_ms).toBe('number');
    expect(records()[4]).toMatchObject({
      http_code: 401,
      error_code: 'OUTBOUND_HTTP_ERROR',
      retry_stop_reason: 'not-retryable',
    });
    expect(records()[5]).toMatchObject({ validation_errors: ['side: expected "buy" or "sell"'] });

    const pinoOwn = new Set(['level', 'time', 'pid', 'hostname', 'msg']);
    for (const record of records()) {
      for (const key of Object.keys(record)) {
        if (!pinoOwn.has(key)) expect(LOG_FIELDS).toContain(key);
      }
    }
  });
});

describe('logFields', () => {
  it('keeps only allowlisted, defined fields', () => {
    const fields = {
      producer_id: 'p',
      http_code: undefined,
      headers: { 'X-Signature': 'sig' },
      secret: SECRET,
    };
    expect(logFields(fields as Parameters<typeof logFields>[0])).toEqual({ producer_id: 'p' });
  });
});
