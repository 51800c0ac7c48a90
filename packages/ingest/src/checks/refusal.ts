import type { ProblemCode } from '@sigpost/protocol';
import { HttpProblem } from '../problems.js';

/** Extra parts of a refusal: problem extensions, response headers, and the error that caused it. */
export interface RefusalOptions {
  readonly extensions?: Readonly<Record<string, unknown>>;
  readonly headers?: Readonly<Record<string, string>>;
  readonly cause?: unknown;
}

/**
 * A check's refusal, as the problem+json answer the error handler sends (the code's status comes from
 * the protocol's `PROBLEMS` table). Every check builds its refusals here, so the checks say what is
 * wrong and this one function says how it travels.
 */
export function refusal(code: ProblemCode, detail: string, options: RefusalOptions = {}): HttpProblem {
  return new HttpProblem(detail, { ...options, code });
}
