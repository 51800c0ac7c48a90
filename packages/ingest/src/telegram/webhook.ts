// The webhook variant of receiving button presses: Telegram POSTs each update to
// /api/v1/telegram/webhook with the secret_token given to setWebhook in X-Telegram-Bot-Api-Secret-Token.
import type { FastifyInstance } from 'fastify';
import { sendProblem } from '../problems.js';
import type { TelegramApprovals } from './bot.js';

export const TELEGRAM_WEBHOOK_PATH = '/api/v1/telegram/webhook';
const SECRET_HEADER = 'x-telegram-bot-api-secret-token';
const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Registers `POST /api/v1/telegram/webhook` (before the app listens). A request without the secret
 * header, or with another value (compared in constant time), gets 401 `telegram-unauthorized` and
 * nothing is read further; an update is applied, then answered `200 {}` (Telegram sends it again
 * after anything else). The body is capped by the app's `maxBodyBytes`.
 */
export function registerTelegramWebhook(app: FastifyInstance, bot: TelegramApprovals): void {
  app.post(TELEGRAM_WEBHOOK_PATH, async (request, reply) => {
    if (!bot.acceptsWebhookSecret(request.headers[SECRET_HEADER])) {
      return sendProblem(
        reply,
        'telegram-unauthorized',
        'X-Telegram-Bot-Api-Secret-Token is missing or is not the secret_token this server expects',
      );
    }
    let update: unknown;
    try {
      const body = request.body;
      update = JSON.parse(Buffer.isBuffer(body) ? UTF8.decode(body) : '');
    } catch {
      return sendProblem(reply, 'malformed-json', 'the body is not a JSON Telegram update');
    }
    await bot.handleUpdate(update);
    return reply.code(200).type('application/json').send('{}');
  });
}
