import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { collectDefaultMetrics } from 'prom-client';
import { type AppDeps, buildApp } from './app.js';
import { TelegramApprovals } from './telegram/bot.js';
import { readTelegramEnv, type TelegramApprovalConfig } from './telegram/config.js';
import { registerTelegramWebhook } from './telegram/webhook.js';

/** Options of `startServer`: the app's dependencies plus process concerns. */
export interface StartServerOptions extends AppDeps {
  /** Shut down gracefully on SIGTERM and SIGINT. @default true */
  readonly handleSignals?: boolean;
  /** Called once a shutdown started by a signal has finished (the CLI exits here). */
  readonly onSignalShutdown?: (signal: NodeJS.Signals, error?: unknown) => void;
  /** Close the store when the server closes (the server owns it). @default true */
  readonly closeStore?: boolean;
  /** Also export the process metrics (CPU, memory, event loop) on /metrics. @default true */
  readonly processMetrics?: boolean;
  /**
   * Approve from Telegram (src/telegram/): its configuration, or `false` for none.
   * @default read from the SIGPOST_TELEGRAM_* environment (off unless SIGPOST_TELEGRAM_APPROVERS is set)
   */
  readonly telegram?: TelegramApprovalConfig | false;
}

/** A listening ingest server. */
export interface RunningServer {
  /** Base URL, e.g. `http://127.0.0.1:8080`. */
  readonly url: string;
  readonly app: FastifyInstance;
  /** The Telegram approval bot, when configured (it talks to Telegram while it holds the store's lease). */
  readonly telegram: TelegramApprovals | undefined;
  /**
   * Graceful shutdown: stop accepting connections (new requests on open connections get 503), let
   * in-flight requests finish (up to `shutdownTimeoutMs`, then their connections are closed), commit
   * the group-commit queue, close the store. Idempotent.
   */
  close(): Promise<void>;
}

/**
 * Builds the app and listens on `config.host`:`config.port`.
 *
 * @example
 * const server = await startServer({ store, secretBox, config: { port: 0 } });
 * console.log(`listening on ${server.url}`);
 * await server.close();
 */
export async function startServer(options: StartServerOptions): Promise<RunningServer> {
  const telegramConfig =
    options.telegram === undefined ? readTelegramEnv(process.env) : options.telegram || undefined;
  const app = buildApp(options);
  const ctx = app.sigpost;
  if (options.processMetrics ?? true) collectDefaultMetrics({ register: ctx.metrics.registry });
  const telegram =
    telegramConfig === undefined
      ? undefined
      : new TelegramApprovals({
          store: options.store,
          config: telegramConfig,
          clock: ctx.clock,
          logger: app.log.child({ component: 'telegram' }),
        });
  if (telegram?.webhook) registerTelegramWebhook(app, telegram);
  try {
    await app.listen({ host: ctx.config.host, port: ctx.config.port });
  } catch (error) {
    // Not listening (port in use, no such address): undo the app; the store stays the caller's.
    await app.close();
    throw error;
  }
  const address = app.server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `http://${host}:${address.port}`;
  telegram?.start();

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      removeSignalHandlers();
      ctx.draining = true;
      const closed = app.close();
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), ctx.config.shutdownTimeoutMs);
      });
      if ((await Promise.race([closed.then(() => 'closed' as const), timedOut])) === 'timeout') {
        app.log.warn(
          { timeout_ms: ctx.config.shutdownTimeoutMs },
          'in-flight requests did not finish in time; closing their connections',
        );
        app.server.closeAllConnections();
      }
      clearTimeout(timer);
      await closed;
      await telegram?.stop();
      if (options.closeStore ?? true) await options.store.close();
      app.log.info('ingest server stopped');
    })();
    return closing;
  };

  const onSignal = (signal: NodeJS.Signals) => {
    app.log.info({ signal }, 'shutting down gracefully');
    close().then(
      () => options.onSignalShutdown?.(signal),
      (error: unknown) => {
        app.log.error({ err: error }, 'graceful shutdown failed');
        options.onSignalShutdown?.(signal, error);
      },
    );
  };
  const handleSignals = options.handleSignals ?? true;
  function removeSignalHandlers() {
    if (!handleSignals) return;
    process.removeListener('SIGTERM', onSignal);
    process.removeListener('SIGINT', onSignal);
  }
  if (handleSignals) {
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
  }
  app.log.info({ url, store: options.store.kind }, 'ingest server listening');
  return { url, app, telegram, close };
}
