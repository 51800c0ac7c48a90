// `@sigpost/outbound/alerts`: alert sinks (Telegram) and the delivery alert policy.

export type { Alert, AlertKind, AlertSeverity, AlertSink } from './alert.js';
export { NO_ALERTS } from './alert.js';
export type { DeadLetterInfo, DeliveryAlertsOptions } from './delivery-alerts.js';
export { DeliveryAlerts } from './delivery-alerts.js';
export type { TelegramAlertSinkOptions } from './telegram.js';
export { renderAlertMessage, TELEGRAM_ENV, TELEGRAM_MAX_TEXT, TelegramAlertSink } from './telegram.js';
