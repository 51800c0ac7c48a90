// Runs a test-helpers script in a child process (node --import tsx, resolving workspace packages to
// their TypeScript source) and lets a test wait for the lines it prints, then kill it.
import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export interface Child {
  readonly process: ChildProcess;
  /** Resolves with the first line (from now on, or already printed) that `match` accepts; rejects if the child exits first. */
  waitFor(match: (line: string) => boolean, timeoutMs?: number): Promise<string>;
  /** Resolves with the exit code (or signal) once the child has exited and been reaped. */
  readonly exited: Promise<number | NodeJS.Signals>;
  /** SIGKILL, then waits for the exit. */
  kill(): Promise<void>;
  /** Everything written to stderr, for failure messages. */
  stderr(): string;
}

export function runScript(script: string, env: Record<string, string>): Child {
  const path = fileURLToPath(new URL(script, import.meta.url));
  const child = spawn(process.execPath, ['--conditions=@sigpost/source', '--import', 'tsx', path], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  const waiters = new Set<{ match: (line: string) => boolean; resolve: (line: string) => void }>();
  let errors = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    errors += chunk.toString('utf8');
  });
  createInterface({ input: child.stdout! }).on('line', (line) => {
    lines.push(line);
    for (const waiter of waiters) {
      if (waiter.match(line)) {
        waiters.delete(waiter);
        waiter.resolve(line);
      }
    }
  });
  const exited = new Promise<number | NodeJS.Signals>((resolve) => {
    child.once('exit', (code, signal) => resolve(signal ?? code ?? -1));
  });
  return {
    process: child,
    exited,
    stderr: () => errors,
    waitFor(match, timeoutMs = 25_000) {
      const seen = lines.find(match);
      if (seen !== undefined) return Promise.resolve(seen);
      return new Promise<string>((resolve, reject) => {
        const waiter = { match, resolve };
        waiters.add(waiter);
        const timer = setTimeout(() => {
          waiters.delete(waiter);
          reject(new Error(`${script}: no matching line within ${timeoutMs} ms\n${errors}`));
        }, timeoutMs);
        void exited.then((how) => {
          clearTimeout(timer);
          if (waiters.delete(waiter)) reject(new Error(`${script} exited (${how}) first\n${errors}`));
        });
        // A matched waiter no longer needs its timer.
        const original = waiter.resolve;
        waiter.resolve = (line) => {
          clearTimeout(timer);
          original(line);
        };
      });
    },
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}
