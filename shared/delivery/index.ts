/**
 * Change notification → pushes: builds the queue trigger's change path from its ports (the
 * composition root, shared/app/services.ts, passes the adapters).
 */
import type { JWTVerifyGetKey } from 'jose';
import type {
  ControlStorePort,
  DeviceStore,
  IdempotencyStore,
  MailboxStore,
  MessageSource,
  PurgeReport,
  PushProvider,
  RetryScheduler,
} from '../domain/ports.js';
import { retentionCutoffDay } from '../domain/idempotency.js';
import { NotificationCounters } from './outcome.js';
import { createNotificationPipeline } from './pipeline.js';
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
  /** Reads the message from Graph (GraphMessageSource). */
  messages: MessageSource;
  /** queue/retry-scheduler.ts; absent → retries are immediate redeliveries only. */
  retryScheduler?: RetryScheduler;
  /** Signing keys of validation tokens; default: fetched from `settings.rich.jwksUri`. */
  keySet?: JWTVerifyGetKey;
  log?: (line: string) => void;
  now?: () => number;
  /** Records pushes of the admin API's connectivity-test mail (see pipeline.ts). */
  testMarks?: Pick<ControlStorePort, 'put'>;
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
    messages: wiring.messages,
    ...(rich ? { rich } : {}),
    defaultPrivacyMode: settings.defaultPrivacyMode,
    claimTimeoutMs: settings.claimTimeoutMs,
    maxMessageAgeMs: settings.maxMessageAgeMs,
    mailboxCacheMs: settings.mailboxCacheMs,
    deviceCacheMs: settings.deviceCacheMs,
    counters,
    ...(wiring.now ? { now: wiring.now } : {}),
    ...(wiring.log ? { log: wiring.log } : {}),
    ...(wiring.testMarks ? { testMarks: wiring.testMarks } : {}),
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
