import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { processQueuedNotification } from '../../../shared/app/processor.js';
import type { Services } from '../../../shared/app/services.js';
import { renewalBucketOf } from '../../../shared/domain/renewal/buckets.js';
import type { PushProvider, StoredRenewalScheduleEntry } from '../../../shared/domain/ports.js';
import {
  countExpiringWithin,
  meterPushProvider,
  parseAuthenticationString,
  recordChangeOutcome,
  recordMaintenanceMetrics,
  startTelemetry,
  statusClassOf,
  telemetryActive,
} from '../../../shared/telemetry/index.js';
import { installMetrics, total, type MetricsHarness } from './harness.js';

let metrics: MetricsHarness;
beforeEach(() => {
  metrics = installMetrics();
});
afterEach(async () => {
  await metrics.stop();
});

const NOW = Date.parse('2025-03-01T12:00:00Z');
const HOUR = 3_600_000;

function entry(expiresAt: number): StoredRenewalScheduleEntry {
  return {
    subscriptionId: `s${expiresAt}`,
    tenantId: 't',
    dueAt: expiresAt - 2 * HOUR,
    expiresAt,
    attempts: 0,
    bucket: renewalBucketOf(expiresAt - 2 * HOUR),
    etag: 'e',
  };
}

describe('maintenance metrics', () => {
  it('counts renewals ok/failed, and reads the gauges after the pass', async () => {
    const entries = [
      entry(NOW + HOUR),
      entry(NOW + 23 * HOUR),
      entry(NOW + 30 * HOUR),
      entry(NOW + 72 * HOUR),
    ];
    const schedule = {
      getCursor: () => Promise.resolve({ bucket: renewalBucketOf(NOW - HOUR), etag: 'c' }),
      listBucket: (bucket: string) => Promise.resolve(entries.filter((e) => e.bucket === bucket)),
    };
    await recordMaintenanceMetrics(
      {
        renewalSchedule: schedule,
        work: { count: (kind) => Promise.resolve(kind === 'create' ? 3 : 7) },
        graphCredential: {
          kind: 'certificate',
          certificate: {
            pem: '',
            info: {
              subject: '',
              issuer: '',
              validFrom: '2024-01-01T00:00:00Z',
              validTo: new Date(NOW + 45 * 24 * HOUR + HOUR).toISOString(),
              serialNumber: '01',
            } as never,
          },
        },
      },
      {
        renewal: { leaseHeld: true, renewed: 5, failed: 1, forbidden: 1 },
        mailboxes: {
          leaseHeld: true,
          created: 0,
          migrated: 4,
          failures: {},
          finalFailures: 2,
          throttled: 0,
          stale: 0,
          busy: 0,
          orphansDeleted: 0,
          stoppedBy: 'done',
        },
      },
      NOW,
    );
    const renewals = await metrics.points('mailpush.renewals');
    expect(total(renewals, { outcome: 'ok' })).toBe(5);
    expect(total(renewals, { outcome: 'failed' })).toBe(2);
    expect(await metrics.points('mailpush.subscriptions.expiring_24h')).toEqual([
      { attributes: {}, value: 2 },
    ]);
    expect(await metrics.points('mailpush.credential.days_left')).toEqual([{ attributes: {}, value: 45 }]);
    expect(total(await metrics.points('mailpush.mailboxes'), { state: 'pending' })).toBe(3);
    const migration = await metrics.points('mailpush.migration');
    expect(total(migration, { state: 'pending' })).toBe(7);
    expect(total(migration, { state: 'migrated' })).toBe(4);
    expect(total(migration, { state: 'failed' })).toBe(2);
  });

  it('reads no gauge when the run did not hold the lease', async () => {
    let reads = 0;
    await recordMaintenanceMetrics(
      {
        renewalSchedule: {
          getCursor: () => (reads++, Promise.resolve(undefined)),
          listBucket: () => Promise.resolve([]),
        },
        work: { count: () => (reads++, Promise.resolve(0)) },
      },
      {
        renewal: { leaseHeld: false, renewed: 0, failed: 0, forbidden: 0 },
        mailboxes: { status: 'failed', error: 'x' },
      },
      NOW,
    );
    expect(reads).toBe(0);
    expect(await metrics.points('mailpush.subscriptions.expiring_24h')).toEqual([]);
  });

  it('scans from the cursor (or a day back) to the bucket of the horizon', async () => {
    const listed: string[] = [];
    const n = await countExpiringWithin(
      {
        getCursor: () => Promise.resolve(undefined),
        listBucket: (b) => (listed.push(b), Promise.resolve([])),
      },
      NOW,
      NOW + 24 * HOUR,
    );
    expect(n).toBe(0);
    expect(listed.length).toBe(48 * 12 + 1);
  });
});

describe('processor and push metrics', () => {
  it('counts a message failing on its last delivery as dead-lettered', async () => {
    const services = {} as Services;
    await expect(
      processQueuedNotification(services, { type: 'nope' }, { deliveryCount: 3, maxDeliveryCount: 3 }),
    ).rejects.toThrow();
    await expect(
      processQueuedNotification(services, { type: 'nope' }, { deliveryCount: 1, maxDeliveryCount: 3 }),
    ).rejects.toThrow();
    expect(await metrics.points('mailpush.deadlettered')).toEqual([
      { attributes: { type: 'unknown' }, value: 1 },
    ]);
  });

  it('records drops by reason and stage; latency only for pushes', async () => {
    recordChangeOutcome(
      { receivedAt: new Date(NOW - 1000).toISOString() },
      { action: 'dropped', reason: 'no_devices' },
      NOW,
    );
    expect(await metrics.points('mailpush.notifications.dropped')).toEqual([
      { attributes: { reason: 'no_devices', stage: 'processor' }, value: 1 },
    ]);
    expect(await metrics.points('mailpush.push.latency_ms')).toEqual([]);
  });

  it('counts each device’s push outcome, and a failed send per device', async () => {
    const provider = meterPushProvider<PushProvider>({
      name: 'webhook',
      registerDevice: () => Promise.resolve(),
      unregisterDevice: () => Promise.resolve(),
      send: (devices) =>
        devices.length > 2
          ? Promise.reject(new Error('down'))
          : Promise.resolve([
              { deviceId: 'a', outcome: 'sent' as const },
              { deviceId: 'b', outcome: 'retry' as const, retryAfterMs: 1000 },
            ]),
    });
    const device = { deviceId: 'a' } as never;
    await provider.send([device, device], {} as never);
    await expect(provider.send([device, device, device], {} as never)).rejects.toThrow('down');
    const pushes = await metrics.points('mailpush.pushes');
    expect(total(pushes, { provider: 'webhook', outcome: 'sent', reason: 'none' })).toBe(1);
    expect(total(pushes, { provider: 'webhook', outcome: 'retry', reason: 'throttled' })).toBe(1);
    expect(total(pushes, { provider: 'webhook', outcome: 'failed', reason: 'error' })).toBe(3);
  });

  it('names status classes', () => {
    expect([200, 429, 503, 0].map(statusClassOf)).toEqual(['2xx', '4xx', '5xx', 'none']);
  });
});

describe('start-up', () => {
  it('is off without a connection string: no SDK, metrics to the no-op meter', async () => {
    await metrics.stop();
    expect(await startTelemetry({ env: {} })).toBe('off');
    expect(telemetryActive()).toBe(false);
    metrics = installMetrics();
  });

  it('reads the Entra settings Bicep writes', () => {
    expect(parseAuthenticationString('ClientId=abc;Authorization=AAD')).toEqual({
      aad: true,
      clientId: 'abc',
    });
    expect(parseAuthenticationString(undefined)).toEqual({ aad: false });
  });
});
