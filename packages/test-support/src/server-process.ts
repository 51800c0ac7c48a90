// The one launcher of the real ingest server in a child process, for system tests: runs serve-main.ts
// (see there for its arguments and environment) through the harness of process.ts and resolves once it
// printed its JSON line. Only system tests may import this module (it starts processes).
import { fileURLToPath } from 'node:url';
import { type RunningProcess, startProcess } from './process.js';

const SERVE_MAIN = fileURLToPath(new URL('./serve-main.ts', import.meta.url));
const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const READY_TIMEOUT_MS = 20_000; // ms: tsx compiles the server's sources on start

/** A server process started by `startServerProcess`. */
export interface ServerProcess {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  readonly process: RunningProcess;
  /** Everything the process wrote on stderr so far (its logs). */
  stderr(): string;
  /** SIGTERM, then waits for the exit (SIGKILL after 10 s); resolves to the exit code. */
  stop(): Promise<number | null>;
  /** SIGKILL (a crash), then waits for the exit. */
  kill(): Promise<void>;
  /** Resolves with the exit code, or the signal that ended the process. */
  readonly exited: Promise<number | NodeJS.Signals>;
}

/**
 * Runs serve-main.ts with `args` (`--db PATH`, `--port N`, `--producer ID`…) and `env` over this
 * process's environment (SIGPOST_SECRET_KEY is required), and resolves once it listens.
 *
 * @example
 * const server = await startServerProcess(['--db', dbPath], { SIGPOST_SECRET_KEY: key });
 * await fetch(`${server.url}/readyz`);
 * expect(await server.stop()).toBe(0);
 */
export async function startServerProcess(
  args: readonly string[],
  env: Readonly<Record<string, string>>,
): Promise<ServerProcess> {
  const running = startProcess(SERVE_MAIN, args, {
    typescript: true,
    inheritEnv: true,
    cwd: REPO_ROOT,
    env: { SIGPOST_LOG_LEVEL: 'warn', ...env },
  });
  let line: string;
  try {
    line = await running.line(() => true, 'the server to listen', READY_TIMEOUT_MS);
  } catch (error) {
    await running.kill();
    throw error;
  }
  let url: string;
  try {
    url = (JSON.parse(line) as { url: string }).url;
  } catch (error) {
    await running.kill();
    throw new Error(`the server process printed ${JSON.stringify(line)}, not its JSON line`, {
      cause: error,
    });
  }
  return {
    url,
    process: running,
    stderr: () => running.output.stderr,
    stop: () => running.stop('SIGTERM'),
    kill: () => running.kill(),
    exited: running.exited,
  };
}
