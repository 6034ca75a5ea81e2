import { randomBytes, randomUUID } from 'node:crypto';
import { TableClient } from '@azure/data-tables';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import type { DeviceRecord } from '../../../shared/domain/ports.js';
import { DependencyError, ValidationError } from '../../../shared/errors.js';
import {
  DEVICES_TABLE_SUFFIX,
  TableDeviceStore,
  createTableDeviceStore,
} from '../../../shared/store/device-store.js';

/** TableDeviceStore against Azurite: what is stored, how it is keyed, what is refused. */
let store: TableDeviceStore;
let raw: TableClient;

beforeAll(async () => {
  const prefix = `dv${randomBytes(5).toString('hex')}`;
  const created = createTableDeviceStore({
    connectionString: inject('tablesConnectionString'),
    tablePrefix: prefix,
  });
  await created.ensureTable();
  await created.ensureTable(); // idempotent
  store = created.devices;
  raw = TableClient.fromConnectionString(inject('tablesConnectionString'), store.tableName, {
    allowInsecureConnection: true,
  });
});

const mailboxEmail = () => `user-${randomUUID()}@contoso.example`;

function device(overrides: Partial<DeviceRecord> = {}): DeviceRecord {
  return {
    mailboxEmail: mailboxEmail(),
    deviceId: `phone-${randomBytes(3).toString('hex')}`,
    platform: 'apns',
    token: randomBytes(32).toString('hex'),
    userObjectId: randomUUID(),
    createdAt: '2026-11-23T10:00:00.000Z',
    updatedAt: '2026-11-23T10:00:00.000Z',
    ...overrides,
  };
}

const withoutEtag = ({ etag: _etag, ...rest }: DeviceRecord) => rest;

describe('TableDeviceStore', () => {
  it('is named <prefix>devices', () => {
    expect(store.tableName).toMatch(new RegExp(`^dv[0-9a-f]{10}${DEVICES_TABLE_SUFFIX}$`));
  });

  it('round-trips a device, keyed by lower-cased mailbox and device id', async () => {
    const record = device({ mailboxEmail: `Adele.${randomBytes(3).toString('hex')}@Contoso.Example` });
    const stored = await store.upsertDevice(record);
    const key = record.mailboxEmail.toLowerCase();
    expect(stored.etag).toMatch(/\S/);
    expect(withoutEtag(stored)).toEqual({ ...record, mailboxEmail: key });
    expect(await store.getDevice(record.mailboxEmail, record.deviceId)).toEqual(stored);

    const entity = await raw.getEntity<Record<string, unknown>>(key, record.deviceId);
    expect(entity).toMatchObject({
      partitionKey: key,
      rowKey: record.deviceId,
      platform: 'apns',
      token: record.token,
      userObjectId: record.userObjectId,
    });
    // Keys are not duplicated as properties, and nothing undefined is written.
    expect(
      Object.keys(entity)
        .filter((k) => !['etag', 'timestamp', 'odata.metadata'].includes(k))
        .sort(),
    ).toEqual(['createdAt', 'partitionKey', 'platform', 'rowKey', 'token', 'updatedAt', 'userObjectId']);
  });

  it('is undefined for an unknown device', async () => {
    expect(await store.getDevice(mailboxEmail(), 'nope')).toBeUndefined();
  });

  it('lists exactly one mailbox’s devices (FCM and APNs), not its neighbours’', async () => {
    const email = mailboxEmail();
    const fcmToken = `fcm:${randomBytes(90).toString('base64url')}`;
    await store.upsertDevice(
      device({ mailboxEmail: email, deviceId: 'b-tablet', platform: 'fcm', token: fcmToken }),
    );
    await store.upsertDevice(device({ mailboxEmail: email, deviceId: 'a-phone' }));
    // A neighbour whose key sorts right after: a range query done wrong would include it.
    await store.upsertDevice(device({ mailboxEmail: `${email}x`, deviceId: 'c-phone' }));
    await store.upsertDevice(device({ mailboxEmail: email.replace('@', '0@'), deviceId: 'd-phone' }));

    const listed = await store.listDevices(email.toUpperCase());
    expect(listed.map((d) => [d.deviceId, d.platform])).toEqual([
      ['a-phone', 'apns'],
      ['b-tablet', 'fcm'],
    ]);
    expect(listed[1]?.token).toBe(fcmToken);
    expect(listed.every((d) => d.mailboxEmail === email && typeof d.etag === 'string')).toBe(true);
    expect(await store.listDevices(mailboxEmail())).toEqual([]);
  });

  it('upsert replaces the token (and the whole entity) of a re-registered device', async () => {
    const first = await store.upsertDevice(device());
    const second = await store.upsertDevice({
      ...first,
      etag: undefined,
      platform: 'fcm',
      token: `new-${'t'.repeat(120)}`,
      updatedAt: '2026-11-24T00:00:00.000Z',
    });
    expect(second.etag).not.toBe(first.etag);
    const again = await store.getDevice(first.mailboxEmail, first.deviceId);
    expect(again).toMatchObject({
      platform: 'fcm',
      token: `new-${'t'.repeat(120)}`,
      updatedAt: '2026-11-24T00:00:00.000Z',
    });
    expect(again?.createdAt).toBe(first.createdAt);
    expect(await store.listDevices(first.mailboxEmail)).toHaveLength(1);
  });

  it('deletes, and deleting again (or something never stored) is not an error', async () => {
    const stored = await store.upsertDevice(device());
    await store.deleteDevice(stored.mailboxEmail, stored.deviceId);
    expect(await store.getDevice(stored.mailboxEmail, stored.deviceId)).toBeUndefined();
    await expect(store.deleteDevice(stored.mailboxEmail, stored.deviceId)).resolves.toBeUndefined();
    await expect(store.deleteDevice(mailboxEmail(), 'never')).resolves.toBeUndefined();
  });

  it('deletes conditionally: only the row as read, not one re-registered since, nor a missing one', async () => {
    const stored = await store.upsertDevice(device());
    const reRegistered = await store.upsertDevice({ ...stored, token: `new-${'n'.repeat(100)}` });
    // The row read before the re-registration is stale: nothing is deleted.
    expect(await store.deleteDeviceIfUnchanged(stored)).toBe(false);
    expect((await store.getDevice(stored.mailboxEmail, stored.deviceId))?.token).toBe(reRegistered.token);
    // Without an ETag, the token decides.
    expect(await store.deleteDeviceIfUnchanged({ ...stored, etag: undefined })).toBe(false);
    expect(await store.deleteDeviceIfUnchanged({ ...reRegistered, etag: undefined })).toBe(true);
    expect(await store.getDevice(stored.mailboxEmail, stored.deviceId)).toBeUndefined();
    expect(await store.deleteDeviceIfUnchanged(reRegistered)).toBe(false);
  });

  describe('refuses bad input without sending a request', () => {
    // A client whose every request fails: if validation let a call through, the error would be
    // a DependencyError (storage), not a ValidationError.
    const offline = new TableDeviceStore(
      TableClient.fromConnectionString(
        'DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;TableEndpoint=http://127.0.0.1:1/devstoreaccount1;',
        'offline',
        { allowInsecureConnection: true, retryOptions: { maxRetries: 0 } },
      ),
    );

    it('and the offline client really fails for valid input', async () => {
      await expect(offline.getDevice('a@contoso.example', 'ok')).rejects.toBeInstanceOf(DependencyError);
    });

    it.each(['', 'a/b', 'a#b', 'a?b', 'a\\b', 'has space', 'x'.repeat(65), 'ünï'])(
      'device id %j',
      async (deviceId) => {
        await expect(offline.getDevice('a@contoso.example', deviceId)).rejects.toBeInstanceOf(
          ValidationError,
        );
        await expect(offline.deleteDevice('a@contoso.example', deviceId)).rejects.toBeInstanceOf(
          ValidationError,
        );
        await expect(offline.upsertDevice(device({ deviceId }))).rejects.toBeInstanceOf(ValidationError);
      },
    );

    it.each(['', 'no-at-sign', 'a/b@contoso.example', 'a@'])('mailbox %j', async (email) => {
      await expect(offline.listDevices(email)).rejects.toBeInstanceOf(ValidationError);
      await expect(offline.getDevice(email, 'ok')).rejects.toBeInstanceOf(ValidationError);
      await expect(offline.upsertDevice(device({ mailboxEmail: email }))).rejects.toBeInstanceOf(
        ValidationError,
      );
    });

    it.each([
      ['platform', { platform: 'wns' }],
      ['token', { token: '' }],
      ['userObjectId', { userObjectId: undefined }],
      ['createdAt', { createdAt: undefined }],
      ['updatedAt', { updatedAt: '' }],
    ])('a record with a bad %s', async (_field, overrides) => {
      await expect(offline.upsertDevice(device(overrides as Partial<DeviceRecord>))).rejects.toBeInstanceOf(
        ValidationError,
      );
    });
  });

  it('reports a malformed stored row as a storage problem, naming the property', async () => {
    const email = mailboxEmail();
    await raw.createEntity({ partitionKey: email, rowKey: 'broken', platform: 'carrier-pigeon', token: 't' });
    const error = await store.getDevice(email, 'broken').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DependencyError);
    expect((error as Error).message).toContain('platform');
    await expect(store.listDevices(email)).rejects.toBeInstanceOf(DependencyError);
  });
});
