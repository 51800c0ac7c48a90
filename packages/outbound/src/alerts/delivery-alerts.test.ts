import { describe, expect, test } from 'vitest';
import { fakeTime, recordingSink } from '../outbox/test-helpers/fixtures.js';
import { DeliveryAlerts } from './delivery-alerts.js';

describe('DeliveryAlerts', () => {
  test('raises one failing alert when consecutive failures reach the threshold', () => {
    const sink = recordingSink();
    const time = fakeTime();
    const alerts = new DeliveryAlerts(sink, { failureThreshold: 3, clock: time.clock });
    alerts.attemptFailed('503 one');
    time.advance(2000);
    alerts.attemptFailed('503 two');
    expect(sink.alerts).toEqual([]);
    time.advance(2000);
    alerts.attemptFailed('503 three');
    alerts.attemptFailed('503 four');
    expect(sink.alerts).toEqual([
      {
        kind: 'delivery_failing',
        severity: 'warning',
        text: 'Delivery failing: 3 consecutive failed attempts over 4 s; last error: 503 three',
        at: time.clock(),
      },
    ]);
  });

  test('raises the failing alert when failures last past the window, however few', () => {
    const sink = recordingSink();
    const time = fakeTime();
    const alerts = new DeliveryAlerts(sink, {
      failureThreshold: 100,
      failureWindowMs: 60_000,
      clock: time.clock,
    });
    alerts.attemptFailed('timeout');
    time.advance(60_000);
    alerts.attemptFailed('timeout');
    expect(sink.alerts.map((a) => a.text)).toEqual([
      'Delivery failing: 2 consecutive failed attempts over 60 s; last error: timeout',
    ]);
  });

  test('sends one recovery message after a failing alert, and starts counting afresh', () => {
    const sink = recordingSink();
    const time = fakeTime();
    const alerts = new DeliveryAlerts(sink, { failureThreshold: 1, clock: time.clock });
    alerts.attemptFailed('503');
    time.advance(5000);
    alerts.delivered();
    alerts.delivered();
    expect(sink.alerts.map((a) => [a.kind, a.severity, a.text])).toEqual([
      [
        'delivery_failing',
        'warning',
        'Delivery failing: 1 consecutive failed attempt over 0 s; last error: 503',
      ],
      [
        'delivery_recovered',
        'resolved',
        'Delivery recovered: a signal was accepted after 1 failed attempt over 5 s',
      ],
    ]);
  });

  test('sends no recovery message when no failing alert was raised', () => {
    const sink = recordingSink();
    const alerts = new DeliveryAlerts(sink, { failureThreshold: 3 });
    alerts.attemptFailed('503');
    alerts.delivered();
    alerts.attemptFailed('503');
    alerts.attemptFailed('503');
    expect(sink.alerts).toEqual([]);
  });

  test('describes a dead-lettered signal as a critical alert', () => {
    const sink = recordingSink();
    new DeliveryAlerts(sink, { clock: () => 42 }).deadLettered({
      idempotencyKey: 'sig-1',
      instrument: 'GOLD',
      attempts: 5,
      lastError: 'POST … failed with 503',
    });
    expect(sink.alerts).toEqual([
      {
        kind: 'dead_letter',
        severity: 'critical',
        text: 'Signal moved to dead-letter after 5 attempts: GOLD, idempotency key sig-1; last error: POST … failed with 503',
        at: 42,
      },
    ]);
  });

  test('refuses a threshold below 1, naming the option', () => {
    expect(() => new DeliveryAlerts(recordingSink(), { failureThreshold: 0 })).toThrow(
      'Expected `failureThreshold` to be an integer ≥ 1, received 0',
    );
  });
});
