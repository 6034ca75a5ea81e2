/**
 * Push providers behind the PushProvider port (shared/domain/ports.ts): Azure Notification Hubs,
 * a signed webhook to the organisation's own gateway, and a local sink for development.
 */
export {
  NotificationHubsPushProvider,
  NotificationHubsRequestError,
  DEFAULT_INSTALLATION_CHECK_INTERVAL_MS,
  type NotificationHubsPushProviderOptions,
} from './notification-hubs.js';
export {
  SignedWebhookPushProvider,
  DELIVERY_HEADER,
  MIN_WEBHOOK_SECRET_LENGTH,
  webhookUrlProblem,
  type SignedWebhookPushProviderOptions,
  type WebhookPushRequest,
} from './gateway.js';
export {
  DEFAULT_SIGNATURE_MAX_AGE_SECONDS,
  SIGNATURE_HEADER,
  TIMESTAMP_HEADER,
  computeWebhookSignature,
  signWebhookBody,
  verifyWebhookSignature,
  type WebhookSignatureCheck,
} from './gateway-signature.js';
export {
  LocalSinkPushProvider,
  LOCAL_INVALID_TOKEN_PREFIX,
  DEFAULT_LOCAL_SINK_CAPACITY,
  type LocalPushRecord,
  type LocalSinkPushProviderOptions,
} from './local-sink.js';
export {
  PUSH_SETTING_SPECS,
  DEFAULT_LOCAL_PUSH_SINK_FILE,
  readPushSettings,
  createPushProvider,
  type PushSettings,
  type PushProviderKind,
} from './settings.js';
export { buildApnsPayload, buildFcmV1Payload, type ApnsPayload, type FcmV1Payload } from './payloads.js';
export { installationIdFor, installationTagsFor, mailboxHash } from './ids.js';
