import { HEADERS } from '@sigpost/protocol';
import type { FastifyRequest } from 'fastify';
import { type HttpProblem, isHttpProblem } from '../problems.js';
import { refusal } from './refusal.js';

/**
 * A store failure met by a check, as 503 `store-unavailable` (the producer retries with the same
 * key); the cause is logged, never sent. A refusal passes through as it is.
 */
export function storeUnavailable(request: FastifyRequest, error: unknown): HttpProblem {
  if (isHttpProblem(error)) return error;
  request.log.error({ err: error }, 'signal store call failed');
  return refusal(
    'store-unavailable',
    'the signal store is unavailable; retry with the same idempotency key',
    {
      headers: { [HEADERS.retryAfter]: '1' },
      cause: error,
    },
  );
}

/** Runs a store-backed step of a check; a failure becomes `storeUnavailable`. */
export async function storeStep<T>(request: FastifyRequest, step: () => Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (error) {
    throw storeUnavailable(request, error);
  }
}
