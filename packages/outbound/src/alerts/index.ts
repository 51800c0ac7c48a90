// `@sigpost/outbound/alerts`: alert sinks (Telegram) and the delivery alert policy.

export type { Alert, AlertKind, AlertSeverity, AlertSink } from './alert.js';
export { NO_ALERTS } from './alert.js';
export type { DeadLetterInfo, DeliveryAlertsOptions } from './delivery-alerts.js';
export { DeliveryAlerts } from './delivery-alerts.js';
export type { BotApiResult, TelegramAlertSinkOptions, TelegramBotApiOptions } from './telegram.js';
export {
  isTelegramBotToken,
  isTelegramChatId,
  parseTelegramBaseUrl,
  TELEGRAM_ENV,
  TelegramAlertSink,
  TelegramBotApi,
} from './telegram.js';
