// Check 3: `X-Timestamp` within ±tolerance of the server clock. The window is the protocol's pure
// check (`checkTimestampWindow` of @sigpost/protocol), shared with the SDK, the CLI and partners, so
// all of them agree on it and on its message. The same tolerance sets how long the replay guard
// remembers a signature (replay-guard.ts).
import { checkTimestampWindow } from '@sigpost/protocol';
import type { IngestMetrics } from '../metrics.js';
import type { AuthHeaders } from './auth-headers.js';
import { refusal } from './refusal.js';

/** Passes a timestamp within ±`toleranceSeconds` of `nowMs`; otherwise 401 `timestamp-out-of-window`. */
export function checkTimestamp(
  auth: AuthHeaders,
  nowMs: number,
  toleranceSeconds: number,
  metrics: IngestMetrics,
): void {
  const outside = checkTimestampWindow(auth.timestampMs, nowMs, toleranceSeconds);
  if (outside === undefined) return;
  metrics.verificationFailures.inc({ reason: 'timestamp-out-of-window' });
  throw refusal('timestamp-out-of-window', outside.detail, { extensions: outside.extensions });
}
