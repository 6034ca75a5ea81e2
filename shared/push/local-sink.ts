/**
 * The local push "service": records pushes instead of sending them, so a person running `npm start`
 * (and a test) can see what a phone would have shown.
 *
 * - Keeps the last `capacity` pushes (default 1,000) in memory: `list()`, `count()`, `clear()`.
 * - Appends one JSON line per push to `filePath` (when given), e.g. `.local/pushes.jsonl`:
 *   `tail -f .local/pushes.jsonl` follows them.
 * - A device token starting with `invalid-` (e.g. `invalid-ios-1`) gets the outcome
 *   `invalid_token`, as a real service answers for an uninstalled app: register such a device to
 *   exercise the device-removal path locally.
 *
 * Tokens are recorded as a hint (last four characters) only, as everywhere else.
 */
import { appendFile, mkdir } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import type {
  DeviceRecord,
  PushContent,
  PushDeliveryOutcome,
  PushPlatform,
  PushProvider,
} from '../domain/ports.js';
import { tokenHint } from './ids.js';

/** Tokens with this prefix are answered `invalid_token`. */
export const LOCAL_INVALID_TOKEN_PREFIX = 'invalid-';
export const DEFAULT_LOCAL_SINK_CAPACITY = 1_000;

export interface LocalPushRecord {
  /** Sequence number since start (or since `clear()`), from 1. */
  seq: number;
  /** ISO 8601. */
  at: string;
  mailbox: string;
  deviceId: string;
  platform: PushPlatform;
  tokenHint: string;
  outcome: 'sent' | 'invalid_token';
  content: PushContent;
}

export interface LocalSinkPushProviderOptions {
  /** JSON-lines file the pushes are appended to (relative to the working directory); none if absent. */
  filePath?: string;
  /** Pushes kept in memory. Default 1,000. */
  capacity?: number;
  /** Epoch milliseconds. */
  now?: () => number;
}

export class LocalSinkPushProvider implements PushProvider {
  readonly name = 'local';
  /** Absolute path of the JSON-lines file, if any. */
  readonly filePath: string | undefined;
  private readonly capacity: number;
  private readonly now: () => number;
  private readonly ring: LocalPushRecord[] = [];
  private readonly registered = new Map<string, DeviceRecord>();
  private total = 0;
  private writes: Promise<void> = Promise.resolve();
  private lastWriteError: string | undefined;

  constructor(options: LocalSinkPushProviderOptions = {}) {
    this.filePath = options.filePath === undefined ? undefined : resolve(options.filePath);
    this.capacity = Math.max(1, options.capacity ?? DEFAULT_LOCAL_SINK_CAPACITY);
    this.now = options.now ?? Date.now;
  }

  async registerDevice(device: DeviceRecord): Promise<void> {
    this.registered.set(keyOf(device), device);
  }

  async unregisterDevice(device: DeviceRecord): Promise<void> {
    this.registered.delete(keyOf(device));
  }

  async send(devices: readonly DeviceRecord[], content: PushContent): Promise<PushDeliveryOutcome[]> {
    const at = new Date(this.now()).toISOString();
    const records = devices.map((device): LocalPushRecord => {
      this.total += 1;
      return {
        seq: this.total,
        at,
        mailbox: device.mailboxEmail,
        deviceId: device.deviceId,
        platform: device.platform,
        tokenHint: tokenHint(device.token),
        outcome: device.token.startsWith(LOCAL_INVALID_TOKEN_PREFIX) ? 'invalid_token' : 'sent',
        content: structuredClone(content),
      };
    });
    this.ring.push(...records);
    if (this.ring.length > this.capacity) this.ring.splice(0, this.ring.length - this.capacity);
    await this.append(records);
    return records.map(({ deviceId, outcome }) =>
      outcome === 'sent'
        ? { deviceId, outcome }
        : {
            deviceId,
            outcome,
            detail: `local sink: tokens starting "${LOCAL_INVALID_TOKEN_PREFIX}" are invalid`,
          },
    );
  }

  /** The pushes kept in memory, oldest first (copies). */
  list(filter: { mailbox?: string; outcome?: LocalPushRecord['outcome'] } = {}): LocalPushRecord[] {
    return this.ring
      .filter(
        (record) =>
          (filter.mailbox === undefined || record.mailbox === filter.mailbox.toLowerCase()) &&
          (filter.outcome === undefined || record.outcome === filter.outcome),
      )
      .map((record) => structuredClone(record));
  }

  /** Pushes recorded since start or `clear()`, including those no longer kept in memory. */
  count(): number {
    return this.total;
  }

  /** Forgets the pushes in memory and restarts the count (the file is left alone). */
  clear(): void {
    this.ring.length = 0;
    this.total = 0;
  }

  /** Devices registered through this provider since start (the local runner can show them). */
  devices(): DeviceRecord[] {
    return [...this.registered.values()].map((device) => ({ ...device }));
  }

  /** Resolves once every line written so far is in the file. */
  async flush(): Promise<void> {
    await this.writes;
  }

  /** The last failure to write the file (the pushes are still in memory), for the runner to show. */
  get fileError(): string | undefined {
    return this.lastWriteError;
  }

  private append(records: readonly LocalPushRecord[]): Promise<void> {
    const path = this.filePath;
    if (!path || records.length === 0) return Promise.resolve();
    const lines = records.map((record) => `${JSON.stringify(record)}\n`).join('');
    // Chained so lines from concurrent sends never interleave; a failed write never fails the
    // push (it was "delivered" to memory), it is reported through fileError.
    this.writes = this.writes.then(async () => {
      try {
        await mkdir(dirname(path), { recursive: true });
        await appendFile(path, lines, 'utf8');
      } catch (error) {
        this.lastWriteError = `${path}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`;
      }
    });
    return this.writes;
  }
}

function keyOf(device: Pick<DeviceRecord, 'mailboxEmail' | 'deviceId'>): string {
  return `${device.mailboxEmail}\u0000${device.deviceId}`;
}
