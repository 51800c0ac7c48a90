// Resident memory per idle stream connection: the ingest server (SQLite, child process) with 5,000
// subscribers connected to GET /api/v1/stream and nothing happening, against the same process with
// 100 connected (the difference over 4,900 connections). Target ≤ 20 KB per connection (Centrifugo
// reports about 30 KB). Clients live in this process, so their memory does not count. 127.0.0.1 only.
//   npx tsc -b packages/ingest && npm run bench -- stream-rss
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Admin, openStore, SecretBox } from '@sigpost/ingest';
import WebSocket from 'ws';
import { Child } from './ingest.bench.js';

const TARGET_KB = 20;
const CONNECTIONS = Number(process.env.BENCH_STREAM_CONNECTIONS ?? 5_000);
const BASE = 100;
const PER_TOKEN = 16; // the server's default cap of connections per token

const key = randomBytes(32).toString('base64');
const dir = mkdtempSync(join(tmpdir(), 'sigpost-stream-rss-'));
const sockets: WebSocket[] = [];
try {
  const dbPath = join(dir, 'rss.db');
  const setup = await openStore({ dbPath });
  const admin = new Admin(setup, SecretBox.fromEnv({ SIGPOST_SECRET_KEY: key }));
  const tokens: string[] = [];
  for (let i = 0; i < Math.ceil(CONNECTIONS / PER_TOKEN); i++) {
    tokens.push((await admin.createSubscriber({ name: `rss-${i}` })).token);
  }
  await setup.close();

  const child = new Child(['sigpost', dbPath, '', key]);
  const url = `${(await child.url()).replace('http', 'ws')}/api/v1/stream`;
  const connect = async (from: number, to: number) => {
    for (let i = from; i < to; i += 200) {
      await Promise.all(
        Array.from({ length: Math.min(200, to - i) }, (_, j) => {
          const ws = new WebSocket(url, {
            headers: { Authorization: `Bearer ${tokens[Math.floor((i + j) / PER_TOKEN)]}` },
          });
          sockets.push(ws);
          return new Promise<void>((resolve, reject) => {
            ws.on('message', (data) => {
              if (String(data).startsWith('{"type":"ready"')) resolve();
            });
            ws.once('error', reject);
          });
        }),
      );
    }
  };
  await connect(0, BASE);
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  const base = (await child.cpu()).rss;
  await connect(BASE, CONNECTIONS);
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  const full = (await child.cpu()).rss;
  const perConnectionKb = (full - base) / (CONNECTIONS - BASE) / 1024;
  console.log(
    `RSS ${(base / 1048576).toFixed(1)} MB with ${BASE} connections, ${(full / 1048576).toFixed(1)} MB with ${CONNECTIONS}: ${perConnectionKb.toFixed(1)} KB per idle connection (target ≤ ${TARGET_KB} KB)`,
  );
  for (const ws of sockets) ws.terminate();
  process.exitCode = perConnectionKb <= TARGET_KB ? 0 : 1;
  await child.stop();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
