// The statuses of a signal, in one place: the server, the SDKs and the CLI import these lists.

/**
 * The statuses a `201 Created` answer to an ingest request can carry: a signal is `received`
 * (auto-approved), `pending_approval` (its producer needs an operator's decision) or `rejected` by
 * the server's policy. `approved` never appears in a 201: only an operator's decision sets it.
 */
export const INGEST_RESPONSE_STATUSES = Object.freeze(['received', 'pending_approval', 'rejected'] as const);
export type IngestResponseStatus = (typeof INGEST_RESPONSE_STATUSES)[number];

/**
 * The statuses a stored signal can have: the three of the 201 answer, plus `approved`. What the
 * operator API lists and filters on, what stream events carry, and what a subscriber token's scope
 * (`statuses`) names.
 */
export const STORED_SIGNAL_STATUSES = Object.freeze([
  'received',
  'pending_approval',
  'approved',
  'rejected',
] as const);
export type StoredSignalStatus = (typeof STORED_SIGNAL_STATUSES)[number];

/** @deprecated Use `INGEST_RESPONSE_STATUSES` (the statuses of a 201); stored signals have `STORED_SIGNAL_STATUSES`. */
export const SIGNAL_STATUSES = INGEST_RESPONSE_STATUSES;
/** @deprecated Use `IngestResponseStatus`; a stored signal's status is a `StoredSignalStatus`. */
export type SignalStatus = IngestResponseStatus;
