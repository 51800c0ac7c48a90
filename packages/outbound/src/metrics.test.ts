import { Registry, register } from 'prom-client';
import { describe, expect, test } from 'vitest';
import { OutboundClientError, OutboundTimeoutError } from './errors.js';
import { attemptStatusLabel, createOutboundMetrics, type OutboxDepth } from './metrics.js';

const depth = (pending: number, dead: number, oldestPendingAgeMs: number | null): OutboxDepth => ({
  counts: { pending, in_flight: 0, delivered: 0, dead },
  oldestPendingAgeMs,
});

describe('createOutboundMetrics', () => {
  test('registers on the registry it is given, never on the global one', async () => {
    const registry = new Registry();
    createOutboundMetrics(registry);
    expect(registry.getSingleMetric('sigpost_outbound_attempts_total')).toBeDefined();
    expect(register.getSingleMetric('sigpost_outbound_attempts_total')).toBeUndefined();
  });

  test('creates a fresh registry by default, so two calls do not collide', () => {
    const a = createOutboundMetrics();
    const b = createOutboundMetrics();
    expect(a.registry).not.toBe(b.registry);
    expect(register.getSingleMetric('sigpost_outbox_entries')).toBeUndefined();
  });

  test('refuses to register twice on one registry', () => {
    const registry = new Registry();
    createOutboundMetrics(registry);
    expect(() => createOutboundMetrics(registry)).toThrow(
      'A metric with the name sigpost_outbound_attempts_total has already been registered.',
    );
  });

  test('records an attempt by status and outcome, with its duration', async () => {
    const metrics = createOutboundMetrics();
    metrics.recordAttempt('503', 'retry', 250);
    metrics.recordAttempt('503', 'retry', 250);
    metrics.recordAttempt('201', 'delivered', 40);
    const text = await metrics.registry.metrics();
    expect(text).toContain('sigpost_outbound_attempts_total{status="503",outcome="retry"} 2');
    expect(text).toContain('sigpost_outbound_attempts_total{status="201",outcome="delivered"} 1');
    expect(text).toContain('sigpost_outbound_attempt_duration_seconds_sum{outcome="retry"} 0.5');
    expect(text).toContain(
      'sigpost_outbound_attempt_duration_seconds_bucket{le="0.05",outcome="delivered"} 1',
    );
  });

  test('reads outbox depth from every tracked source at scrape time, skipping closed ones', async () => {
    const metrics = createOutboundMetrics();
    let pending = 3;
    metrics.trackOutbox(() => depth(pending, 1, 1500));
    const untrack = metrics.trackOutbox(() => depth(2, 0, 9000));
    metrics.trackOutbox(() => {
      throw new TypeError('The database connection is not open');
    });
    pending = 4;
    let text = await metrics.registry.metrics();
    expect(text).toContain('sigpost_outbox_entries{state="pending"} 6');
    expect(text).toContain('sigpost_outbox_entries{state="dead"} 1');
    expect(text).toContain('sigpost_outbox_oldest_pending_age_seconds 9');
    untrack();
    text = await metrics.registry.metrics();
    expect(text).toContain('sigpost_outbox_entries{state="pending"} 4');
    expect(text).toContain('sigpost_outbox_oldest_pending_age_seconds 1.5');
  });
});

describe('attemptStatusLabel', () => {
  const base = { method: 'POST', url: 'http://127.0.0.1/api/v1/signals/ingest', attempts: 1 };

  test('is the HTTP status when the server answered', () => {
    expect(
      attemptStatusLabel(
        new OutboundClientError('x', { ...base, code: 'OUTBOUND_HTTP_ERROR', httpCode: 503 }),
      ),
    ).toBe('503');
  });

  test('is the failure kind when there was no answer', () => {
    expect(attemptStatusLabel(new OutboundTimeoutError('x', { ...base, timeoutMs: 5000 }))).toBe('timeout');
    expect(
      attemptStatusLabel(new OutboundClientError('x', { ...base, code: 'OUTBOUND_NETWORK_ERROR' })),
    ).toBe('network_error');
    expect(attemptStatusLabel(new TypeError('bug'))).toBe('error');
  });
});
