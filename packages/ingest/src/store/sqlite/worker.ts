// Entry module of the SQLite writer thread (started by WriterThread in transport.ts): the only module
// of the SQLite store with a top-level side effect. Imported anywhere else, it does nothing.
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { serveWriter, WRITER_THREAD_MARK } from './transport.js';

if (
  !isMainThread &&
  parentPort !== null &&
  (workerData as Record<string, unknown> | null)?.[WRITER_THREAD_MARK] === true
) {
  serveWriter(parentPort);
}
