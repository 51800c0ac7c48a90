/** Lines handed to `write`, written out together. */
export interface LineWriter {
  /** Queues one line (or several, newline-terminated); written at the end of this event-loop turn. */
  write(line: string): void;
  /** Writes what is queued now, synchronously. */
  flush(): void;
}

/**
 * Log lines written once per event-loop turn instead of once per line: under load, the one line per
 * request of the ingest server costs one `write` system call per turn rather than per request
 * (`sigpost serve` writes to stderr, which node writes synchronously to files and pipes). Lines keep
 * their order; a quiet server writes each line in the same turn it was logged (at `setImmediate`).
 * `flush()` writes what is queued at once (on shutdown, and `sigpost serve` also on `exit`); a process
 * killed without an `exit` event (SIGKILL, a second signal during a graceful shutdown) loses at most
 * the lines of its last turn.
 * @example
 * const out = coalescedLines((chunk) => process.stderr.write(chunk));
 * const logger = pino({ level: 'info' }, out);
 */
export function coalescedLines(write: (chunk: string) => void): LineWriter {
  let queued: string[] = [];
  let scheduled = false;
  const flush = () => {
    scheduled = false;
    if (queued.length === 0) return;
    const chunk = queued.length === 1 ? (queued[0] as string) : queued.join('');
    queued = [];
    write(chunk);
  };
  return {
    write(line: string) {
      queued.push(line);
      if (!scheduled) {
        scheduled = true;
        setImmediate(flush);
      }
    },
    flush,
  };
}
