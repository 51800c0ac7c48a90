// Check 11: the approval policy, applied to a valid signal before it is stored. It never refuses:
// `auto` → `received`, `manual` → `pending_approval`, an instrument outside the producer's allow-list
// → stored as `rejected` (decided by this policy, with a message), so the producer learns the outcome
// from its 201 and operators see it in the history.
import type { IngestResponseStatus, SignalCandidate } from '@sigpost/protocol';
import type { Producer } from '../store/store.js';

/** Policy name recorded as `decidedBy` for signals rejected by the instrument allow-list. */
export const POLICY_DECIDER = 'policy:instrument-allow-list';

/** The status a new signal is stored with, and the message of its 201. */
export interface PolicyDecision {
  readonly status: IngestResponseStatus;
  readonly message: string | null;
  /** Who decided a signal stored as decided (`rejected`), or null. */
  readonly decidedBy: string | null;
}

const RECEIVED: PolicyDecision = Object.freeze({ status: 'received', message: null, decidedBy: null });
const PENDING: PolicyDecision = Object.freeze({
  status: 'pending_approval',
  message: 'queued for operator approval',
  decidedBy: null,
});

export function approvalPolicy(producer: Producer, signal: SignalCandidate): PolicyDecision {
  if (producer.instruments !== null && !producer.instruments.includes(signal.instrument)) {
    return {
      status: 'rejected',
      message: `instrument ${signal.instrument} is not in the allow-list of producer ${producer.id}`,
      decidedBy: POLICY_DECIDER,
    };
  }
  return producer.approval === 'manual' ? PENDING : RECEIVED;
}
