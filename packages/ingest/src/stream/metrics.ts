import { Counter, Gauge, type Registry } from 'prom-client';

/** The stream's Prometheus metrics, on the app's registry (next to the ingest ones). */
export class StreamMetrics {
  readonly eventsSent: Counter;
  readonly closes: Counter<'code'>;
  readonly #closeChildren = new Map<number, { inc(): void }>();

  constructor(registry: Registry, hub: { readonly connectionCount: number; readonly lastSeq: number }) {
    const registers = [registry];
    new Gauge({
      name: 'sigpost_stream_connections',
      help: 'Open stream connections (GET /api/v1/stream), authenticated or not yet.',
      registers,
      collect() {
        this.set(hub.connectionCount);
      },
    });
    new Gauge({
      name: 'sigpost_stream_head_seq',
      help: 'Highest event seq this server has read from the store (its position in the stream).',
      registers,
      collect() {
        this.set(hub.lastSeq);
      },
    });
    this.eventsSent = new Counter({
      name: 'sigpost_stream_events_sent_total',
      help: 'Event messages written to stream connections (replayed and live).',
      registers,
    });
    this.closes = new Counter({
      name: 'sigpost_stream_closes_total',
      help: 'Stream connections closed by the server, by close code (1001 shutdown, 4403 revoked, 4429 slow consumer, …).',
      labelNames: ['code'] as const,
      registers,
    });
  }

  closed(code: number): void {
    let child = this.#closeChildren.get(code);
    if (child === undefined) {
      child = this.closes.labels({ code: String(code) });
      this.#closeChildren.set(code, child);
    }
    child.inc();
  }
}
