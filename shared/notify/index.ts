/**
 * Notification → push. What the composition root (shared/app/services.ts) builds:
 *
 * ```ts
 * const notifySettings = loadNotificationSettings(process.env, { authorityHost: settings.graph.authorityHost });
 * const deliveries = createIdempotencyStore(tableOptions);          // shared/store/idempotency-store.ts
 * await deliveries.ensureTable();
 * const retryScheduler = new ServiceBusRetryScheduler(serviceBus, settings.notificationQueueName);
 * const notifications = buildNotificationService({
 *   settings: notifySettings,
 *   appId: settings.graph.clientId,
 *   authorityHost: settings.graph.authorityHost,
 *   mailboxes: stores.mailboxes, devices, push, idempotency: deliveries.store,
 *   graphClients, retryScheduler,
 * });
 * // services.notifications = notifications;  close(): await retryScheduler.close()
 * ```
 */
import type { JWTVerifyGetKey } from 'jose';
import type { DeviceStore, MailboxStore, PushProvider } from '../domain/ports.js';
import { GraphMessageSource, type TenantGraphClientSource } from './graph-message-source.js';
import { retentionCutoffDay } from './idempotency.js';
import { NotificationCounters } from './outcome.js';
import { createNotificationPipeline } from './pipeline.js';
import type { IdempotencyStore, PurgeReport, RetryScheduler } from './ports.js';
import { RichNotificationReader, remoteGraphKeySet } from './rich.js';
import { createNotificationService, type NotificationService } from './service.js';
import type { NotificationSettings } from './settings.js';

export interface NotificationWiring {
  settings: NotificationSettings;
  /** GRAPH_CLIENT_ID: the `aud` of rich notifications' validation tokens. */
  appId: string;
  /** The Graph cloud's Entra authority host (issuer of validation tokens). */
  authorityHost: string;
  mailboxes: Pick<MailboxStore, 'getMailbox'>;
  devices: DeviceStore;
  push: PushProvider;
  idempotency: IdempotencyStore;
  /** GraphClientFactory: one client (and token cache) per tenant. */
  graphClients: TenantGraphClientSource;
  /** ServiceBusRetryScheduler; absent → retries are immediate redeliveries only. */
  retryScheduler?: RetryScheduler;
  /** Signing keys of validation tokens; default: fetched from `settings.rich.jwksUri`. */
  keySet?: JWTVerifyGetKey;
  log?: (line: string) => void;
  now?: () => number;
}

export function buildNotificationService(wiring: NotificationWiring): NotificationService {
  const { settings } = wiring;
  const counters = new NotificationCounters();
  const rich = settings.rich
    ? new RichNotificationReader({
        appId: wiring.appId,
        keys: [settings.rich.key],
        keySet: wiring.keySet ?? remoteGraphKeySet(settings.rich.jwksUri),
        authorityHost: wiring.authorityHost,
        ...(wiring.now ? { now: wiring.now } : {}),
      })
    : undefined;
  const pipeline = createNotificationPipeline({
    mailboxes: wiring.mailboxes,
    devices: wiring.devices,
    push: wiring.push,
    idempotency: wiring.idempotency,
    messages: new GraphMessageSource(wiring.graphClients),
    ...(rich ? { rich } : {}),
    defaultPrivacyMode: settings.defaultPrivacyMode,
    claimTimeoutMs: settings.claimTimeoutMs,
    maxMessageAgeMs: settings.maxMessageAgeMs,
    mailboxCacheMs: settings.mailboxCacheMs,
    deviceCacheMs: settings.deviceCacheMs,
    counters,
    ...(wiring.now ? { now: wiring.now } : {}),
    ...(wiring.log ? { log: wiring.log } : {}),
  });
  return createNotificationService({
    pipeline,
    ...(wiring.retryScheduler ? { retryScheduler: wiring.retryScheduler } : {}),
    maxScheduledRetries: settings.maxScheduledRetries,
    counters,
    ...(wiring.now ? { now: wiring.now } : {}),
    ...(wiring.log ? { log: wiring.log } : {}),
  });
}

/** For the maintenance timer: deletes delivery records of days past the retention, bounded per call. */
export function purgeExpiredDeliveryRecords(
  store: IdempotencyStore,
  retentionDays: number,
  now: number,
  maxRows?: number,
): Promise<PurgeReport> {
  return store.purgeOlderThan(
    retentionCutoffDay(now, retentionDays),
    maxRows === undefined ? {} : { maxRows },
  );
}

export { buildPushContent, cleanText, resolvePrivacyMode, summaryFromGraph, threadIdFor } from './content.js';
export type { MessageSummary, PushContentInput } from './content.js';
export { RetryableError, isRetryableError, type RetryReason } from './errors.js';
export { GraphMessageSource, type TenantGraphClientSource } from './graph-message-source.js';
export {
  DEFAULT_CLAIM_TIMEOUT_MS,
  DEFAULT_RETENTION_DAYS,
  dayKey,
  decideClaim,
  idempotencyDayOf,
  retentionCutoffDay,
} from './idempotency.js';
export {
  NOTIFICATION_DROP_REASONS,
  NotificationCounters,
  describeNotificationOutcome,
  type NotificationDropReason,
  type NotificationOutcome,
} from './outcome.js';
export {
  createNotificationPipeline,
  messageKeyFor,
  type DeliveryMeta,
  type NotificationPipeline,
  type NotificationPipelineDeps,
} from './pipeline.js';
export type * from './ports.js';
export {
  GRAPH_CHANGE_TRACKING_APP_ID,
  RichNotificationReader,
  decryptEncryptedContent,
  loadRichNotificationKey,
  remoteGraphKeySet,
  type RichNotificationKey,
  type RichNotificationOptions,
  type RichResult,
} from './rich.js';
export { ServiceBusRetryScheduler, retryMessageId } from './service-bus-retry-scheduler.js';
export {
  createNotificationService,
  type ChangeHandlingOutcome,
  type NotificationService,
  type NotificationServiceOptions,
} from './service.js';
export {
  NOTIFICATION_SETTING_SPECS,
  loadNotificationSettings,
  readNotificationSettings,
  type NotificationSettings,
} from './settings.js';
