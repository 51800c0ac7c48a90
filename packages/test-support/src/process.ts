// The one child-process harness of the system tests: starts `node <script> …args` (a TypeScript script
// through tsx with `typescript: true`), collects its output, and lets a test wait for what it prints,
// for its exit, or run it to the end. Only system tests may import this module (it starts processes;
// scripts/check-test-projects.ts refuses it in a unit test, and the unit project's setup makes spawning fail).
import { type ChildProcess, spawn } from 'node:child_process';

/** What a finished child process gave: its exit code and all it wrote. */
export interface ProcessResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface ProcessOptions {
  /**
   * Environment variables of the child: PATH only plus these, or (with `inheritEnv`) this process's
   * environment plus these.
   */
  readonly env?: Readonly<Record<string, string>>;
  /** @default false */
  readonly inheritEnv?: boolean;
  /** Run `script` as TypeScript: `node --conditions=@sigpost/source --import tsx`. @default false */
  readonly typescript?: boolean;
  readonly cwd?: string;
  /** Written to stdin, which is then closed; `'pipe'` leaves it open (`child.stdin`). @default '' */
  readonly stdin?: string | 'pipe';
  /** A file descriptor for stdout (`output.stdout` then stays empty). @default a pipe */
  readonly stdout?: number;
}

/** Output collected so far (it grows while the process runs). */
export interface ProcessOutput {
  stdout: string;
  stderr: string;
}

export interface RunningProcess {
  readonly child: ChildProcess;
  readonly output: ProcessOutput;
  /**
   * Resolves once `test` holds for the output so far; rejects when the process exits first or after
   * `timeoutMs`, naming `what` and the stderr so far.
   */
  until(test: (output: ProcessOutput) => boolean, what: string, timeoutMs?: number): Promise<void>;
  /** Resolves with the first stdout line (printed already or from now on) that `match` accepts. */
  line(match: (line: string) => boolean, what: string, timeoutMs?: number): Promise<string>;
  /** Resolves with the exit code, or the signal that ended the process. */
  readonly exited: Promise<number | NodeJS.Signals>;
  /** Resolves once the process exited and closed its output: all it wrote. */
  readonly closed: Promise<ProcessResult>;
  /** Sends `signal` (SIGKILL after `killAfterMs`), then resolves with the exit code (null when killed). */
  stop(signal?: NodeJS.Signals, killAfterMs?: number): Promise<number | null>;
  /** SIGKILL, then waits for the exit. */
  kill(): Promise<void>;
}

/** The longest an awaited condition may take on a loaded machine (tsx compiles sources on start). */
const WAIT_MS = 45_000;
const running = new Set<ChildProcess>();

/** Starts `node [--conditions=@sigpost/source --import tsx] <script> …args` with its output collected. */
export function startProcess(
  script: string,
  args: readonly string[] = [],
  options: ProcessOptions = {},
): RunningProcess {
  const node = options.typescript ? ['--conditions=@sigpost/source', '--import', 'tsx'] : [];
  const child = spawn(process.execPath, [...node, script, ...args], {
    env: { ...(options.inheritEnv ? process.env : { PATH: process.env.PATH ?? '' }), ...options.env },
    stdio: ['pipe', options.stdout ?? 'pipe', 'pipe'],
    ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
  });
  running.add(child);
  const output: ProcessOutput = { stdout: '', stderr: '' };
  const waiters = new Set<() => void>();
  const collect = (key: keyof ProcessOutput) => (chunk: string) => {
    output[key] += chunk;
    for (const check of [...waiters]) check();
  };
  child.stdout?.setEncoding('utf8').on('data', collect('stdout'));
  child.stderr!.setEncoding('utf8').on('data', collect('stderr'));
  const exited = new Promise<number | NodeJS.Signals>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      running.delete(child);
      resolve(signal ?? code ?? -1);
    });
  });
  const closed = new Promise<ProcessResult>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout: output.stdout, stderr: output.stderr }));
  });
  if (options.stdin !== 'pipe') child.stdin!.end(options.stdin ?? '');

  const until = (test: (output: ProcessOutput) => boolean, what: string, timeoutMs = WAIT_MS) =>
    new Promise<void>((resolve, reject) => {
      const finish = (error?: Error) => {
        waiters.delete(check);
        child.off('exit', onExit);
        clearTimeout(timer);
        if (error) reject(error);
        else resolve();
      };
      const check = () => {
        if (test(output)) finish();
      };
      const onExit = (code: number | null, signal: NodeJS.Signals | null) => {
        // Output written just before the exit may still be on its way: look once more when it is closed.
        void closed.then(() => {
          if (test(output)) finish();
          else
            finish(
              new Error(`waiting for ${what}: the process exited (${signal ?? code}):\n${output.stderr}`),
            );
        });
      };
      const timer = setTimeout(
        () => finish(new Error(`waiting for ${what}: not within ${timeoutMs} ms:\n${output.stderr}`)),
        timeoutMs,
      );
      waiters.add(check);
      child.once('exit', onExit);
      check();
    });

  return {
    child,
    output,
    until,
    exited,
    closed,
    async line(match, what, timeoutMs) {
      const find = () => output.stdout.split('\n').slice(0, -1).find(match);
      await until(() => find() !== undefined, what, timeoutMs);
      return find()!;
    },
    async stop(signal = 'SIGTERM', killAfterMs = 10_000) {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
      await exited;
      clearTimeout(timer);
      return child.exitCode;
    },
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}

/**
 * Runs `node <script> …args` with only PATH in its environment (plus `env`), feeds it `stdin` (or closes
 * it at once), and resolves once it has exited and closed its output.
 */
export function runNode(
  script: string,
  args: readonly string[],
  options: Omit<ProcessOptions, 'stdin'> & { readonly stdin?: string } = {},
): Promise<ProcessResult> {
  return startProcess(script, args, options).closed;
}

/** SIGKILLs every process this harness started that is still running (for afterEach / afterAll). */
export function killProcesses(): void {
  for (const child of running) child.kill('SIGKILL');
  running.clear();
}
