/**
 * In-memory fakes of the device and push ports (and of the pipeline's own ports), for unit tests
 * and for integration tests that exercise the real stores and Graph but not a real push service.
 */
import type {
  DeviceRecord,
  DeviceStore,
  PushContent,
  PushDeliveryOutcome,
  PushProvider,
} from '../../shared/domain/ports.js';
import type { MailMessage } from '../../shared/graph/messages.js';
import { decideClaim, deliveryRowKey } from '../../shared/domain/idempotency.js';
import type {
  ClaimRequest,
  ClaimResult,
  DeliveryClaim,
  DeliveryRecord,
  IdempotencyStore,
  MessageSource,
  PurgeOptions,
  PurgeReport,
  RetryScheduler,
  RetryingChangeMessage,
} from '../../shared/domain/ports.js';

export function deviceRecord(overrides: Partial<DeviceRecord> = {}): DeviceRecord {
  const now = new Date().toISOString();
  return {
    mailboxEmail: 'adele.vance@contoso.example',
    deviceId: 'iphone-1',
    platform: 'apns',
    token: `token-${overrides.deviceId ?? 'iphone-1'}`,
    userObjectId: '87d349ed-44d7-43e1-9a83-5f2406dee5bd',
    createdAt: now,
    updatedAt: now,
    ...overrides,
  };
}

/** DeviceStore by mailbox, then device id. */
export class InMemoryDeviceStore implements DeviceStore {
  readonly records = new Map<string, Map<string, DeviceRecord>>();
  listCalls = 0;
  readonly deleted: { mailboxEmail: string; deviceId: string }[] = [];
  private version = 0;

  async listDevices(mailboxEmail: string): Promise<DeviceRecord[]> {
    this.listCalls++;
    return [...(this.records.get(mailboxEmail.toLowerCase())?.values() ?? [])].map((d) => ({ ...d }));
  }
  async getDevice(mailboxEmail: string, deviceId: string): Promise<DeviceRecord | undefined> {
    const d = this.records.get(mailboxEmail.toLowerCase())?.get(deviceId);
    return d ? { ...d } : undefined;
  }
  async upsertDevice(record: DeviceRecord): Promise<DeviceRecord> {
    const key = record.mailboxEmail.toLowerCase();
    let devices = this.records.get(key);
    if (!devices) this.records.set(key, (devices = new Map()));
    const stored = { ...record, mailboxEmail: key, etag: `d${++this.version}` };
    devices.set(record.deviceId, stored);
    return { ...stored };
  }
  async deleteDevice(mailboxEmail: string, deviceId: string): Promise<void> {
    const key = mailboxEmail.toLowerCase();
    if (this.records.get(key)?.delete(deviceId)) this.deleted.push({ mailboxEmail: key, deviceId });
  }

  async deleteDeviceIfUnchanged(device: DeviceRecord): Promise<boolean> {
    const key = device.mailboxEmail.toLowerCase();
    const current = this.records.get(key)?.get(device.deviceId);
    if (!current || current.token !== device.token) return false;
    await this.deleteDevice(key, device.deviceId);
    return true;
  }
}

export interface RecordedPush {
  device: DeviceRecord;
  content: PushContent;
  /** Date.now() when the provider accepted it. */
  at: number;
}

/**
 * A push provider that records what it "sends". Outcomes per device can be scripted: tokens in
 * `invalidTokens` answer `invalid_token`; `retryNext` makes the next N sends to a device answer
 * `retry`; `decide` overrides everything; `failNext` rejects the next call entirely.
 */
export class InMemoryPushProvider implements PushProvider {
  readonly name = 'in-memory';
  readonly pushes: RecordedPush[] = [];
  readonly registered: DeviceRecord[] = [];
  readonly unregistered: DeviceRecord[] = [];
  readonly invalidTokens = new Set<string>();
  /** deviceId → how many more sends answer `retry`. */
  readonly retryNext = new Map<string, number>();
  retryAfterMs: number | undefined;
  failNext: Error | undefined;
  decide: ((device: DeviceRecord, content: PushContent) => PushDeliveryOutcome | undefined) | undefined;
  /** Simulated provider latency per call. */
  latencyMs = 0;
  calls = 0;
  onPush: ((push: RecordedPush) => void) | undefined;

  async registerDevice(device: DeviceRecord): Promise<void> {
    this.registered.push(device);
  }

  async unregisterDevice(device: DeviceRecord): Promise<void> {
    this.unregistered.push(device);
  }

  async send(devices: readonly DeviceRecord[], content: PushContent): Promise<PushDeliveryOutcome[]> {
    this.calls++;
    if (this.latencyMs > 0) await new Promise((r) => setTimeout(r, this.latencyMs));
    if (this.failNext) {
      const error = this.failNext;
      this.failNext = undefined;
      throw error;
    }
    return devices.map((device): PushDeliveryOutcome => {
      const decided = this.decide?.(device, content);
      if (decided) {
        if (decided.outcome === 'sent') this.record(device, content);
        return decided;
      }
      if (this.invalidTokens.has(device.token)) {
        return { deviceId: device.deviceId, outcome: 'invalid_token', detail: 'Unregistered' };
      }
      const retries = this.retryNext.get(device.deviceId) ?? 0;
      if (retries > 0) {
        this.retryNext.set(device.deviceId, retries - 1);
        return {
          deviceId: device.deviceId,
          outcome: 'retry',
          ...(this.retryAfterMs !== undefined ? { retryAfterMs: this.retryAfterMs } : {}),
        };
      }
      this.record(device, content);
      return { deviceId: device.deviceId, outcome: 'sent' };
    });
  }

  /** Pushes per `${messageId}|${deviceId}`. */
  countsByMessageAndDevice(): Map<string, number> {
    const counts = new Map<string, number>();
    for (const p of this.pushes) {
      const key = `${p.content.data.messageId}|${p.device.deviceId}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    return counts;
  }

  pushesFor(messageId: string): RecordedPush[] {
    return this.pushes.filter((p) => p.content.data.messageId === messageId);
  }

  private record(device: DeviceRecord, content: PushContent): void {
    const push = { device, content, at: Date.now() };
    this.pushes.push(push);
    this.onPush?.(push);
  }
}

/** The IdempotencyStore port in memory, with ETags and the same decisions as the Table store. */
export class InMemoryIdempotencyStore implements IdempotencyStore {
  readonly rows = new Map<string, DeliveryRecord>();
  private version = 0;

  private key(day: string, messageKey: string, deviceId: string): string {
    return `${day}/${deliveryRowKey(messageKey, deviceId)}`;
  }

  async claim(request: ClaimRequest): Promise<ClaimResult[]> {
    return request.deviceIds.map((deviceId): ClaimResult => {
      const key = this.key(request.day, request.messageKey, deviceId);
      const decision = decideClaim(this.rows.get(key), request.now, request.claimTimeoutMs);
      if (decision.action === 'skip_sent') return { deviceId, status: 'already_sent' };
      if (decision.action === 'wait')
        return { deviceId, status: 'in_progress', retryAfterMs: decision.retryAfterMs };
      const etag = `e${++this.version}`;
      this.rows.set(key, {
        day: request.day,
        messageKey: request.messageKey,
        deviceId,
        state: 'sending',
        claimedAt: request.now,
        etag,
      });
      const claim: DeliveryClaim = {
        day: request.day,
        messageKey: request.messageKey,
        deviceId,
        claimedAt: request.now,
        etag,
      };
      return { deviceId, status: 'claimed', claim, tookOver: decision.action === 'take_over' };
    });
  }

  async markSent(claims: readonly DeliveryClaim[], now: number): Promise<{ lost: number }> {
    let lost = 0;
    for (const claim of claims) {
      const key = this.key(claim.day, claim.messageKey, claim.deviceId);
      const row = this.rows.get(key);
      if (!row || row.etag !== claim.etag) {
        lost++;
        continue;
      }
      this.rows.set(key, { ...row, state: 'sent', sentAt: now, etag: `e${++this.version}` });
    }
    return { lost };
  }

  async release(claims: readonly DeliveryClaim[]): Promise<void> {
    for (const claim of claims) {
      const key = this.key(claim.day, claim.messageKey, claim.deviceId);
      if (this.rows.get(key)?.etag === claim.etag) this.rows.delete(key);
    }
  }

  async get(day: string, messageKey: string, deviceId: string): Promise<DeliveryRecord | undefined> {
    const row = this.rows.get(this.key(day, messageKey, deviceId));
    return row ? { ...row } : undefined;
  }

  async purgeOlderThan(day: string, options: PurgeOptions = {}): Promise<PurgeReport> {
    const max = options.maxRows ?? Infinity;
    const days = new Set<string>();
    let deleted = 0;
    for (const [key, row] of [...this.rows].sort(([a], [b]) => a.localeCompare(b))) {
      if (row.day >= day) continue;
      if (deleted >= max) return { deleted, days: [...days], more: true };
      this.rows.delete(key);
      days.add(row.day);
      deleted++;
    }
    return { deleted, days: [...days], more: false };
  }
}

/** Messages by `${userId}|${messageId}`; scripted failures are thrown in order before answering. */
export class FakeMessageSource implements MessageSource {
  readonly messages = new Map<string, MailMessage>();
  readonly failures: Error[] = [];
  calls = 0;

  add(userId: string, message: MailMessage): this {
    this.messages.set(`${userId.toLowerCase()}|${message.id}`, message);
    return this;
  }

  async getMessage(_tenantId: string, userId: string, messageId: string): Promise<MailMessage | undefined> {
    this.calls++;
    const failure = this.failures.shift();
    if (failure) throw failure;
    const found = this.messages.get(`${userId.toLowerCase()}|${messageId}`);
    return found ? { ...found } : undefined;
  }
}

/** Records scheduled retries (and can fail). */
export class InMemoryRetryScheduler implements RetryScheduler {
  readonly scheduled: { message: RetryingChangeMessage; atMs: number }[] = [];
  failWith: Error | undefined;

  async scheduleRetry(message: RetryingChangeMessage, atMs: number): Promise<void> {
    if (this.failWith) throw this.failWith;
    this.scheduled.push({ message: structuredClone(message), atMs });
  }
}
