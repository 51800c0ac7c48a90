// Fixtures of the outbox, alert and client tests: the valid signal of @sigpost/test-support/fixtures
// numbered through its payload, a logger and an alert sink that record, a fake clock whose sleep advances it (no test
// waits for real backoff), and temporary directories.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SignalCandidate } from '@sigpost/protocol';
import { validSignal as theValidSignal } from '@sigpost/test-support/fixtures';
import type { Alert, AlertSink } from '../../alerts/alert.js';
import type { OutboundLogger } from '../../logger.js';

export const PRODUCER_ID = 'outbox-test';
export const SECRET = 'outbox-test-secret-0123456789abcdef';

/** One valid buy signal; `n` goes into the payload so signals differ. */
export function validSignal(n = 0, instrument = 'GOLD'): SignalCandidate {
  return theValidSignal({ instrument, payload: { n } });
}

export interface LogLine {
  readonly level: 'debug' | 'info' | 'warn' | 'error' | 'fatal';
  readonly fields: Record<string, unknown>;
  readonly msg: string;
}

export interface RecordingLogger extends OutboundLogger {
  readonly lines: LogLine[];
  /** Every line as JSON, for grepping (a secret must never be found). */
  text(): string;
}

export function recordingLogger(): RecordingLogger {
  const lines: LogLine[] = [];
  const at =
    (level: LogLine['level']) =>
    (fields: object, msg: string): void => {
      lines.push({ level, fields: { ...fields } as Record<string, unknown>, msg });
    };
  return {
    lines,
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    fatal: at('fatal'),
    text: () => lines.map((l) => JSON.stringify(l)).join('\n'),
  };
}

/** An alert sink that keeps every alert it is sent. */
export function recordingSink(): AlertSink & { alerts: Alert[] } {
  const alerts: Alert[] = [];
  return {
    alerts,
    send: (alert) => {
      alerts.push(alert);
    },
    flush: () => Promise.resolve(),
    close: () => Promise.resolve(),
  };
}

export interface FakeTime {
  readonly clock: () => number;
  /** Records the wait and moves the clock forward by it; resolves on the next turn of the event loop. */
  readonly sleep: (ms: number) => Promise<void>;
  readonly sleeps: number[];
  advance(ms: number): void;
}

export function fakeTime(start = Date.UTC(2025, 9, 25, 14, 30, 45)): FakeTime {
  let now = start;
  const sleeps: number[] = [];
  return {
    clock: () => now,
    sleep: async (ms) => {
      sleeps.push(ms);
      now += ms;
      await new Promise<void>((resolve) => setImmediate(resolve));
    },
    sleeps,
    advance: (ms) => {
      now += ms;
    },
  };
}

export interface TempDir {
  readonly path: string;
  file(name: string): string;
  remove(): void;
}

export function tempDir(prefix = 'sigpost-outbox-'): TempDir {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return {
    path,
    file: (name) => join(path, name),
    remove: () => rmSync(path, { recursive: true, force: true }),
  };
}
