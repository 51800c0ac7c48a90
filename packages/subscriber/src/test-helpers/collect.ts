// Small helpers for the subscriber tests: a capturing logger, and reading n events from a subscriber.
import type { StreamEvent } from '../events.js';
import type { SubscriberLogger } from '../logger.js';

export interface LogLine {
  readonly level: string;
  readonly fields: object;
  readonly msg: string;
}

/** A pino-shaped logger that keeps every line. */
export function captureLogger(): SubscriberLogger & { readonly lines: LogLine[] } {
  const lines: LogLine[] = [];
  const at = (level: string) => (fields: object, msg: string) => {
    lines.push({ level, fields, msg });
  };
  return { lines, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

/** Takes the next `n` events from an iterator (the cursor moves for each but the last when the next is asked). */
export async function next(iterator: AsyncIterator<StreamEvent>, n: number): Promise<StreamEvent[]> {
  const out: StreamEvent[] = [];
  while (out.length < n) {
    const step = await iterator.next();
    if (step.done) throw new Error(`the subscriber ended after ${out.length} of ${n} events`);
    out.push(step.value);
  }
  return out;
}
