/**
 * Azure Notification Hubs as the push provider: the only code that imports @azure/notification-hubs.
 *
 * Devices are installations (`<mailbox-hash>-<deviceId>`, tagged `user:<oid>` and
 * `mailbox:<hash>`, see ids.ts). A push goes out as one request per platform (and per 20 devices)
 * with the tag expression `$InstallationId:{a} || $InstallationId:{b} …`:
 * - one request per platform instead of one per device, the payload being platform-specific;
 * - exactly the devices the caller passed (a `mailbox:<hash>` send would also reach installations
 *   our store no longer has, and report `sent` for devices the hub never had);
 * - Notification Hubs allows at most 20 tags in an expression made only of ORs.
 *
 * What the hub cannot tell synchronously: whether a token is still valid. A send answers 201 as
 * soon as the hub has queued it; the platforms' verdicts come back later (per-message telemetry on
 * the Standard tier) and the hub marks the installation `pushChannelExpired`. So before sending to
 * a device, at most once per `installationCheckIntervalMs` per process, the provider reads its
 * installation:
 * - `pushChannelExpired` with our current token → outcome `invalid_token` (the caller removes the
 *   device; a fresh registration from the app brings it back);
 * - missing (404: a hub-level installation TTL, a recreated hub) or different from our record (a
 *   registration that failed half-way) → recreated from our record, then sent to. A 404 is never
 *   taken for an invalid token: a wrong NOTIFICATION_HUB_NAME would otherwise delete every device.
 *
 * Retries: the SDK's own retry policy is switched off. It would resend a POST /messages after a 5xx
 * or a dropped connection, when the hub may already have queued the push (a duplicate on the
 * phone), and it sleeps for whatever Retry-After says (minutes, inside a queue-triggered function).
 * Sends are tried once: 429/5xx/403 (quota)/network errors become `retry` outcomes with the hub's
 * Retry-After, and the caller's queue retries later. Installation writes and reads are idempotent
 * and retried here a little (3 attempts, Retry-After up to 2 s).
 *
 * Errors never carry the SDK's RestError as `cause`: its request holds the signed SAS
 * Authorization header, a usable credential for an hour.
 */
import {
  NotificationHubsClient,
  createAppleInstallation,
  createAppleNotification,
  createFcmV1Installation,
  createFcmV1Notification,
  createTagExpression,
  isRestError,
  type Installation,
  type NotificationHubsClientOptions,
} from '@azure/notification-hubs';
import { createHash } from 'node:crypto';
import type {
  DeviceRecord,
  PushContent,
  PushDeliveryOutcome,
  PushPlatform,
  PushProvider,
} from '../domain/ports.js';
import { DependencyError } from '../errors.js';
import { hubPlatformOf, installationIdFor, installationTagsFor } from './ids.js';
import { buildApnsPayload, buildFcmV1Payload } from './payloads.js';
import { mapWithConcurrency, retryAfterMs, sleep } from './retry.js';

export interface NotificationHubsPushProviderOptions {
  /** Access policy connection string (`Endpoint=sb://<ns>.servicebus.windows.net/;SharedAccessKeyName=…;SharedAccessKey=…`). */
  connectionString: string;
  hubName: string;
  /** Tests only (a fake transport); production uses the SDK's default HTTP client. */
  httpClient?: NotificationHubsClientOptions['httpClient'];
  /** Per request. Default 10 s. */
  requestTimeoutMs?: number;
  /**
   * How long a device's installation, once read and found current, is trusted before send() reads
   * it again (per process). Default 24 h; 0 reads it before every send; Infinity never reads it.
   */
  installationCheckIntervalMs?: number;
  /** Epoch milliseconds. */
  now?: () => number;
}

/** A failed Notification Hubs call: status (undefined when there was no answer), and whether to retry. */
export class NotificationHubsRequestError extends DependencyError {
  constructor(
    readonly operation: string,
    readonly status: number | undefined,
    readonly retryable: boolean,
    readonly retryAfterMs: number | undefined,
    /** The message without the `push:notification-hubs:` prefix (for outcome details). */
    readonly detail: string,
  ) {
    super('push:notification-hubs', detail);
  }
}

export const DEFAULT_INSTALLATION_CHECK_INTERVAL_MS = 24 * 60 * 60 * 1000;
const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;
/** Notification Hubs: an expression of only ORs may name at most 20 tags. */
const MAX_TAGS_PER_OR_EXPRESSION = 20;
const MANAGEMENT_ATTEMPTS = 3;
const MAX_MANAGEMENT_WAIT_MS = 2_000;
const CHECK_CONCURRENCY = 8;
/** Bound on remembered installations, so a long-lived instance's memory stays flat. */
const MAX_REMEMBERED_INSTALLATIONS = 100_000;

export class NotificationHubsPushProvider implements PushProvider {
  readonly name = 'notification-hubs';
  private readonly client: NotificationHubsClient;
  private readonly requestTimeoutMs: number;
  private readonly checkIntervalMs: number;
  private readonly now: () => number;
  /** installationId → fingerprint of what we last saw or wrote there, and when. */
  private readonly current = new Map<string, { fingerprint: string; at: number }>();

  constructor(options: NotificationHubsPushProviderOptions) {
    this.client = new NotificationHubsClient(options.connectionString, options.hubName, {
      retryOptions: { maxRetries: 0 },
      ...(options.httpClient ? { httpClient: options.httpClient } : {}),
    });
    this.requestTimeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    this.checkIntervalMs = options.installationCheckIntervalMs ?? DEFAULT_INSTALLATION_CHECK_INTERVAL_MS;
    this.now = options.now ?? Date.now;
  }

  async registerDevice(device: DeviceRecord): Promise<void> {
    await this.putInstallation(device);
  }

  async unregisterDevice(device: DeviceRecord): Promise<void> {
    const installationId = installationIdFor(device);
    this.current.delete(installationId);
    try {
      await this.withRetries('deleteInstallation', (abortSignal) =>
        this.client.deleteInstallation(installationId, { abortSignal }),
      );
    } catch (error) {
      // The service answers 204 for a missing installation; a 404 means the same.
      if (error instanceof NotificationHubsRequestError && error.status === 404) return;
      throw error;
    }
  }

  async send(devices: readonly DeviceRecord[], content: PushContent): Promise<PushDeliveryOutcome[]> {
    const outcomes = new Array<PushDeliveryOutcome | undefined>(devices.length);
    const verdicts = await mapWithConcurrency(devices, CHECK_CONCURRENCY, (device) =>
      this.checkInstallation(device),
    );
    const byPlatform = new Map<PushPlatform, number[]>();
    verdicts.forEach((verdict, index) => {
      const device = devices[index] as DeviceRecord;
      if (verdict === 'expired') {
        outcomes[index] = {
          deviceId: device.deviceId,
          outcome: 'invalid_token',
          detail: 'Notification Hubs reports the push channel expired',
        };
        return;
      }
      const group = byPlatform.get(device.platform) ?? [];
      group.push(index);
      byPlatform.set(device.platform, group);
    });

    const batches: { platform: PushPlatform; indexes: number[] }[] = [];
    for (const [platform, indexes] of byPlatform) {
      for (let start = 0; start < indexes.length; start += MAX_TAGS_PER_OR_EXPRESSION) {
        batches.push({ platform, indexes: indexes.slice(start, start + MAX_TAGS_PER_OR_EXPRESSION) });
      }
    }
    const failures = await Promise.all(
      batches.map(async ({ platform, indexes }) => {
        try {
          await this.sendBatch(
            platform,
            indexes.map((index) => devices[index] as DeviceRecord),
            content,
          );
          return undefined;
        } catch (error) {
          return toRequestError('sendNotification', error, this.requestTimeoutMs);
        }
      }),
    );

    const sentOrInvalid = failures.some((failure) => !failure) || outcomes.some((o) => o !== undefined);
    const fatal = failures.find((failure) => failure && !failure.retryable);
    // Nothing went out and retrying the same way cannot help (401, 400, 404 hub): say so loudly.
    if (!sentOrInvalid && fatal && failures.every((failure) => failure && !failure.retryable)) throw fatal;

    batches.forEach(({ indexes }, batch) => {
      const failure = failures[batch];
      for (const index of indexes) {
        const deviceId = (devices[index] as DeviceRecord).deviceId;
        outcomes[index] = failure
          ? {
              deviceId,
              outcome: 'retry',
              ...(failure.retryAfterMs !== undefined ? { retryAfterMs: failure.retryAfterMs } : {}),
              detail: failure.detail,
            }
          : { deviceId, outcome: 'sent' };
      }
    });
    // Every index was filled above (expired, or in exactly one batch).
    return outcomes as PushDeliveryOutcome[];
  }

  private async sendBatch(
    platform: PushPlatform,
    devices: readonly DeviceRecord[],
    content: PushContent,
  ): Promise<void> {
    const notification =
      platform === 'apns'
        ? createAppleNotification({
            body: buildApnsPayload(content),
            // iOS 13+ requires the push type; 10 = deliver immediately (an alert the user sees).
            headers: { 'apns-push-type': 'alert', 'apns-priority': '10' },
          })
        : // The SDK types the FCM v1 body without its `message` envelope, which the service
          // requires: pass the serialized envelope as a string.
          createFcmV1Notification({ body: JSON.stringify(buildFcmV1Payload(content)) });
    const tagExpression = createTagExpression(
      devices.map((device) => `$InstallationId:{${installationIdFor(device)}}`),
    );
    await this.client.sendNotification(notification, {
      tagExpression,
      abortSignal: AbortSignal.timeout(this.requestTimeoutMs),
    });
  }

  /**
   * 'expired' when the hub says the platform rejected the token we hold; 'ok' otherwise, including
   * when the check itself failed (the send is then tried anyway and the check repeated next time).
   */
  private async checkInstallation(device: DeviceRecord): Promise<'ok' | 'expired'> {
    if (this.checkIntervalMs === Infinity) return 'ok';
    const installationId = installationIdFor(device);
    const expected = this.installationFor(device);
    const fingerprint = fingerprintOf(expected);
    const known = this.current.get(installationId);
    if (known && known.fingerprint === fingerprint && this.now() - known.at < this.checkIntervalMs)
      return 'ok';

    let stored: Installation | undefined;
    try {
      // One attempt: a failed check only postpones the check, it never holds up the push.
      stored = await this.withRetries(
        'getInstallation',
        (abortSignal) => this.client.getInstallation(installationId, { abortSignal }),
        1,
      );
    } catch (error) {
      if (!(error instanceof NotificationHubsRequestError) || error.status !== 404) return 'ok';
    }
    if (stored && sameChannel(stored, expected)) {
      if (stored.pushChannelExpired === true) return 'expired';
      if (sameTags(stored, expected)) {
        this.remember(installationId, fingerprint);
        return 'ok';
      }
    }
    try {
      await this.putInstallation(device);
    } catch {
      // Could not restore it now: send anyway (an existing installation may still match).
    }
    return 'ok';
  }

  private async putInstallation(device: DeviceRecord): Promise<void> {
    const installation = this.installationFor(device);
    await this.withRetries('createOrUpdateInstallation', (abortSignal) =>
      this.client.createOrUpdateInstallation(installation, { abortSignal }),
    );
    this.remember(installation.installationId, fingerprintOf(installation));
  }

  private installationFor(device: DeviceRecord): Installation & { pushChannel: string } {
    const common = {
      installationId: installationIdFor(device),
      pushChannel: device.token,
      tags: installationTagsFor(device),
    };
    return hubPlatformOf(device.platform) === 'apns'
      ? createAppleInstallation(common)
      : createFcmV1Installation(common);
  }

  private remember(installationId: string, fingerprint: string): void {
    this.current.delete(installationId);
    this.current.set(installationId, { fingerprint, at: this.now() });
    if (this.current.size > MAX_REMEMBERED_INSTALLATIONS) {
      const oldest = this.current.keys().next();
      if (!oldest.done) this.current.delete(oldest.value);
    }
  }

  /** Idempotent calls only: a few quick attempts on throttling, 5xx and network errors. */
  private async withRetries<T>(
    operation: string,
    call: (abortSignal: AbortSignal) => Promise<T>,
    attempts = MANAGEMENT_ATTEMPTS,
  ): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await call(AbortSignal.timeout(this.requestTimeoutMs));
      } catch (error) {
        const failure = toRequestError(operation, error, this.requestTimeoutMs);
        const wait = failure.retryAfterMs ?? 200 * 3 ** (attempt - 1);
        if (!failure.retryable || attempt >= attempts || wait > MAX_MANAGEMENT_WAIT_MS) throw failure;
        await sleep(wait);
      }
    }
  }
}

function sameChannel(stored: Installation, expected: Installation & { pushChannel: string }): boolean {
  return (
    typeof stored.pushChannel === 'string' &&
    stored.pushChannel === expected.pushChannel &&
    String(stored.platform).toLowerCase() === expected.platform
  );
}

function sameTags(stored: Installation, expected: Installation): boolean {
  const tags = new Set(stored.tags ?? []);
  return (expected.tags ?? []).every((tag) => tags.has(tag));
}

function fingerprintOf(installation: Installation & { pushChannel: string }): string {
  return createHash('sha256')
    .update(JSON.stringify([installation.platform, installation.pushChannel, installation.tags ?? []]))
    .digest('base64url')
    .slice(0, 22);
}

const HINTS: Record<number, string> = {
  401: 'the hub refused the signature: check NOTIFICATION_HUB_CONNECTION_STRING (a policy with Listen and Send rights, and its current key)',
  403: 'quota exceeded, or the access policy lacks the right for this operation',
  404: 'not found: check NOTIFICATION_HUB_NAME and the namespace in NOTIFICATION_HUB_CONNECTION_STRING',
  413: 'payload too large',
};

/** Maps whatever the SDK threw to a NotificationHubsRequestError without secrets. */
export function toRequestError(
  operation: string,
  error: unknown,
  timeoutMs: number,
): NotificationHubsRequestError {
  if (error instanceof NotificationHubsRequestError) return error;
  if (isRestError(error)) {
    const status = error.statusCode;
    if (status === undefined) {
      return new NotificationHubsRequestError(
        operation,
        undefined,
        true,
        undefined,
        `${operation}: no answer from Notification Hubs (${error.code ?? 'network error'})`,
      );
    }
    const headers = error.response?.headers;
    const wait = headers ? retryAfterMs((name) => headers.get(name)) : undefined;
    // 403 is the hub's "quota exceeded" (daily push quota, registration rate): it passes.
    const retryable = status === 429 || status === 403 || status === 408 || status >= 500;
    const hint = HINTS[status];
    // The SDK's message carries the hub's <Detail> (no request data); keep it short.
    const detail = error.message.replace(/^operations? failed with:?\s*/i, '').slice(0, 200);
    return new NotificationHubsRequestError(
      operation,
      status,
      retryable,
      wait,
      `${operation} failed with HTTP ${status}${hint ? ` (${hint})` : ''}${detail ? `: ${detail}` : ''}`,
    );
  }
  const name = error instanceof Error ? error.name : typeof error;
  if (name === 'AbortError' || name === 'TimeoutError') {
    return new NotificationHubsRequestError(
      operation,
      undefined,
      true,
      undefined,
      `${operation}: Notification Hubs did not answer within ${timeoutMs} ms`,
    );
  }
  return new NotificationHubsRequestError(
    operation,
    undefined,
    false,
    undefined,
    `${operation} failed (${name})`,
  );
}
