import { formatTimestamp } from '@sigpost/protocol';
import type { FastifyInstance } from 'fastify';
import type { AppContext } from '../context.js';
import type { Producer } from '../store/store.js';

/** A producer as the operator API shows it: its settings and secret ids, never a secret. */
export interface ProducerView {
  readonly producer_id: string;
  readonly approval: 'auto' | 'manual';
  /** Allowed instruments; `null` means any. */
  readonly instruments: readonly string[] | null;
  readonly created_at: string;
  /** Active secrets, oldest first: ids and creation times only. */
  readonly secrets: readonly { readonly secret_id: string; readonly created_at: string }[];
}

export function toProducerView(producer: Producer): ProducerView {
  return {
    producer_id: producer.id,
    approval: producer.approval,
    instruments: producer.instruments,
    created_at: formatTimestamp(producer.createdAt),
    secrets: producer.secrets.map((s) => ({ secret_id: s.id, created_at: formatTimestamp(s.createdAt) })),
  };
}

/**
 * `GET /api/v1/operator/producers` (read-only): every producer with its approval mode, allow-list and
 * secret ids. Registered inside the operator API's scope, behind its authentication.
 */
export function registerProducerListRoute(scope: FastifyInstance, ctx: AppContext): void {
  scope.get('/producers', async () => {
    const producers = await ctx.store.listProducers();
    return { items: producers.map(toProducerView) };
  });
}
