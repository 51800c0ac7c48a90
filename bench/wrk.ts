// Load generation for the ingest benchmarks with wrk (Debian's package, `apt-get install wrk`): unique
// pre-signed requests written to a file, which bench/ingest-wrk.lua sends each once and counts.
// wrk, in C on one thread, keeps up with a bare node:http server on this machine; autocannon, used
// before, topped out near 25k requests/s and so understated the bare baseline and flattered every ratio.
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { buildSignature } from '@sigpost/protocol';
import { validSignal } from '@sigpost/test-support/fixtures';

export const PRODUCER = 'bench-producer';
export const SECRET = 'bench-secret-key-min-16-bytes-long';
export const INGEST_PATH = '/api/v1/signals/ingest';
const SCRIPT = fileURLToPath(new URL('./ingest-wrk.lua', import.meta.url));

/**
 * One raw HTTP/1.1 ingest request, unique: its own body, timestamp (now), signature and idempotency key.
 */
export function signedRequest(tag: string, i: number): string {
  const timestamp = new Date().toISOString();
  const body = JSON.stringify(validSignal({ reason: `bench ${tag} ${i}`, timestamp }));
  const signature = buildSignature({ secret: SECRET, body, timestamp, producerId: PRODUCER });
  return (
    `POST ${INGEST_PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n` +
    `Content-Length: ${Buffer.byteLength(body)}\r\nX-Producer-Id: ${PRODUCER}\r\nX-Timestamp: ${timestamp}\r\n` +
    `X-Signature: ${signature}\r\nX-Idempotency-Key: ${randomUUID()}\r\n\r\n${body}`
  );
}

/** Writes `n` unique signed requests to `path` as records "<byte length>\n<raw request>" (the Lua script's format). */
export async function writeRequests(path: string, n: number, tag: string): Promise<void> {
  const out = createWriteStream(path);
  const closed = new Promise<void>((resolve, reject) => {
    out.once('error', reject);
    out.once('close', resolve);
  });
  const CHUNK = 5_000;
  for (let start = 0; start < n; start += CHUNK) {
    const parts: string[] = [];
    for (let i = start; i < Math.min(n, start + CHUNK); i++) {
      const request = signedRequest(tag, i);
      parts.push(`${Buffer.byteLength(request)}\n`, request);
    }
    if (!out.write(parts.join(''))) await new Promise<void>((resolve) => out.once('drain', () => resolve()));
  }
  out.end();
  await closed;
}

export interface WrkRun {
  /** 2xx answers among the first `count`. */
  readonly ok: number;
  /** Every other status among the first `count`. */
  readonly other: number;
  /** First non-2xx status and the start of its body, if any. */
  readonly sample: string | null;
  /** Requests sent more than once because the file ran out (a failure of the caller's sizing). */
  readonly wrapped: boolean;
  /** From the first request sent to the `count`-th response. */
  readonly seconds: number;
  readonly perSecond: number;
  /** Latency in ms (wrk's histogram: from writing a request to its complete response). */
  readonly latency: {
    readonly p50: number;
    readonly p90: number;
    readonly p99: number;
    readonly max: number;
  };
  /** wrk's socket errors and timeouts (each also leaves a request unanswered). */
  readonly socketErrors: number;
}

interface Done {
  ok: number;
  other: number;
  sent: number;
  seconds: number;
  wrapped: boolean;
  sample: string | null;
}
interface Summary {
  p50: number;
  p90: number;
  p99: number;
  max: number;
  connect: number;
  read: number;
  write: number;
  timeout: number;
}

/**
 * Runs wrk (1 thread, keep-alive) against `url` with the requests in `file` until `count` responses
 * arrived. `file` must hold at least `count + connections` requests. Fails when wrk does not get there
 * within `maxSeconds` (a server that stopped answering), reporting what wrk saw.
 */
export async function runWrk(options: {
  url: string;
  file: string;
  count: number;
  connections: number;
  maxSeconds: number;
}): Promise<WrkRun> {
  const args = [
    '-t1',
    `-c${options.connections}`,
    `-d${Math.ceil(options.maxSeconds)}s`,
    '--timeout',
    '30s',
    '--latency',
    '-s',
    SCRIPT,
    `${options.url}${INGEST_PATH}`,
    '--',
    options.file,
    String(options.count),
  ];
  const wrk = spawn('wrk', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let done: Done | undefined;
  let summary: Summary | undefined;
  let output = '';
  let pending = '';
  wrk.stdout.setEncoding('utf8');
  wrk.stdout.on('data', (chunk: string) => {
    output += chunk;
    pending += chunk;
    let newline = pending.indexOf('\n');
    while (newline >= 0) {
      const line = pending.slice(0, newline);
      pending = pending.slice(newline + 1);
      if (line.startsWith('SIGPOST-DONE ')) {
        done = JSON.parse(line.slice('SIGPOST-DONE '.length)) as Done;
        // wrk's main thread sleeps for -d; SIGINT ends the sleep, and wrk prints its summary at once.
        wrk.kill('SIGINT');
      } else if (line.startsWith('SIGPOST-SUMMARY ')) {
        summary = JSON.parse(line.slice('SIGPOST-SUMMARY '.length)) as Summary;
      }
      newline = pending.indexOf('\n');
    }
  });
  wrk.stderr.setEncoding('utf8');
  wrk.stderr.on('data', (chunk: string) => {
    output += chunk;
  });
  const code = await new Promise<number | null>((resolve, reject) => {
    wrk.once('error', reject);
    wrk.once('close', resolve);
  });
  if (!done || !summary) {
    throw new Error(
      `wrk (exit ${code}) did not get ${options.count} responses within ${options.maxSeconds} s:\n${output}`,
    );
  }
  const ms = (us: number) => us / 1000;
  return {
    ok: done.ok,
    other: done.other,
    sample: done.sample,
    wrapped: done.wrapped,
    seconds: done.seconds,
    perSecond: done.ok / done.seconds,
    latency: { p50: ms(summary.p50), p90: ms(summary.p90), p99: ms(summary.p99), max: ms(summary.max) },
    socketErrors: summary.connect + summary.read + summary.write + summary.timeout,
  };
}
