import { randomUUID } from 'node:crypto';
import { beforeEach, describe, expect, it } from 'vitest';
import type { DevicePrincipal } from '../../../shared/devices/bearer.js';
import { DeviceAccessError } from '../../../shared/devices/errors.js';
import { findOwnMailbox, registerDevice, unregisterDevice } from '../../../shared/devices/register.js';
import type { MailboxRecord } from '../../../shared/domain/model.js';
import { DependencyError, ValidationError } from '../../../shared/errors.js';
import { normaliseEmail } from '../../../shared/store/keys.js';
import { InMemoryMailboxStore } from '../../support/fakes.js';
import { InMemoryDeviceStore, RecordingPushProvider } from './fakes.js';

const APNS_1 = '0a'.repeat(32);
const APNS_2 = 'f1'.repeat(32);
const T0 = new Date('2026-11-23T10:00:00.000Z');
const T1 = new Date('2026-11-24T08:30:00.000Z');

/** Validates keys like the table store does, so unusable sign-in names behave as in production. */
class KeyCheckingMailboxStore extends InMemoryMailboxStore {
  override async getMailbox(email: string): Promise<MailboxRecord | undefined> {
    return super.getMailbox(normaliseEmail(email));
  }
}

const adeleId = randomUUID();
const leeId = randomUUID();
const adele: DevicePrincipal = {
  objectId: adeleId,
  tenantId: randomUUID(),
  username: 'Adele@contoso.example',
  mailboxCandidates: ['adele@contoso.example'],
  scopes: ['Devices.ReadWrite'],
  roles: [],
  appId: undefined,
};
const lee: DevicePrincipal = {
  ...adele,
  objectId: leeId,
  username: 'lee@contoso.example',
  mailboxCandidates: ['lee@contoso.example'],
};

let mailboxes: KeyCheckingMailboxStore;
let devices: InMemoryDeviceStore;
let push: RecordingPushProvider;

function mailbox(email: string, userId: string | undefined): MailboxRecord {
  return {
    email,
    ...(userId !== undefined ? { userId } : {}),
    tenantId: adele.tenantId,
    transport: 'graph',
    createdAt: T0.toISOString(),
    updatedAt: T0.toISOString(),
  };
}

beforeEach(async () => {
  mailboxes = new KeyCheckingMailboxStore();
  devices = new InMemoryDeviceStore();
  push = new RecordingPushProvider();
  await mailboxes.insertMailbox(mailbox('adele@contoso.example', adeleId));
  await mailboxes.insertMailbox(mailbox('lee@contoso.example', leeId));
});

const register = (principal: DevicePrincipal, body: unknown, now = T0, max?: number) =>
  registerDevice({
    principal,
    body,
    now,
    mailboxes,
    devices,
    push,
    ...(max !== undefined ? { maxDevicesPerMailbox: max } : {}),
  });

describe('registerDevice', () => {
  it('registers a new device for the caller’s own mailbox and tells the provider', async () => {
    const result = await register(adele, { deviceId: 'phone-1', platform: 'apns', token: APNS_1 });
    expect(result.outcome).toBe('created');
    const expected = {
      mailboxEmail: 'adele@contoso.example',
      deviceId: 'phone-1',
      platform: 'apns',
      token: APNS_1,
      userObjectId: adeleId,
      createdAt: T0.toISOString(),
      updatedAt: T0.toISOString(),
    };
    expect(result.device).toMatchObject(expected);
    expect(await devices.getDevice('adele@contoso.example', 'phone-1')).toMatchObject(expected);
    expect(push.registered).toEqual([expect.objectContaining(expected)]);
  });

  it('updates a re-registered device: new token, createdAt kept', async () => {
    await register(adele, { deviceId: 'phone-1', platform: 'apns', token: APNS_1 });
    const result = await register(adele, { deviceId: 'phone-1', platform: 'apns', token: APNS_2 }, T1);
    expect(result.outcome).toBe('updated');
    const stored = await devices.getDevice('adele@contoso.example', 'phone-1');
    expect(stored).toMatchObject({ token: APNS_2, createdAt: T0.toISOString(), updatedAt: T1.toISOString() });
    expect(await devices.listDevices('adele@contoso.example')).toHaveLength(1);
    expect(push.registered.map((d) => d.token)).toEqual([APNS_1, APNS_2]);
  });

  it('finds the mailbox by the email claim when the UPN is not a mailbox', async () => {
    const principal = {
      ...adele,
      mailboxCandidates: ['adele@contoso.onmicrosoft.example', 'adele@contoso.example'],
    };
    const result = await register(principal, { deviceId: 'p', platform: 'apns', token: APNS_1 });
    expect(result.device.mailboxEmail).toBe('adele@contoso.example');
  });

  it('skips sign-in names that cannot be mailbox keys', async () => {
    const principal = {
      ...adele,
      mailboxCandidates: ['live.com#adele@outlook.example', 'adele@contoso.example'],
    };
    await expect(
      register(principal, { deviceId: 'p', platform: 'apns', token: APNS_1 }),
    ).resolves.toMatchObject({
      outcome: 'created',
    });
  });

  describe('ownership', () => {
    const attempts: [string, () => DevicePrincipal][] = [
      [
        'someone else’s mailbox (the UPN names it, the oid is not its user)',
        () => ({ ...lee, mailboxCandidates: ['adele@contoso.example'] }),
      ],
      ['a mailbox that does not exist', () => ({ ...adele, mailboxCandidates: ['nobody@contoso.example'] })],
      [
        'a token without any sign-in name (app-only)',
        () => ({ ...adele, mailboxCandidates: [], scopes: [] }),
      ],
    ];

    it.each(attempts)('refuses %s with the same 403 and writes nothing', async (_what, principal) => {
      const error = await register(principal(), { deviceId: 'p', platform: 'apns', token: APNS_1 }).catch(
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(DeviceAccessError);
      expect((error as DeviceAccessError).message).toBe(new DeviceAccessError().message);
      expect(devices.rows.size).toBe(0);
      expect(push.registered).toHaveLength(0);
    });

    it('refuses a mailbox whose user is not known yet', async () => {
      await mailboxes.insertMailbox(mailbox('new@contoso.example', undefined));
      const principal = { ...adele, mailboxCandidates: ['new@contoso.example'] };
      await expect(
        register(principal, { deviceId: 'p', platform: 'apns', token: APNS_1 }),
      ).rejects.toBeInstanceOf(DeviceAccessError);
    });

    it('compares object ids case-insensitively', async () => {
      const principal = { ...adele, objectId: adeleId.toUpperCase() };
      await expect(findOwnMailbox(principal, mailboxes)).resolves.toMatchObject({
        email: 'adele@contoso.example',
      });
    });
  });

  it('refuses an invalid body before touching any store', async () => {
    await expect(register(adele, { deviceId: 'p', platform: 'apns', token: 'nope' })).rejects.toBeInstanceOf(
      ValidationError,
    );
    expect(devices.rows.size).toBe(0);
    expect(push.registered).toHaveLength(0);
  });

  it('caps the devices per mailbox, but still lets a known device re-register', async () => {
    await register(adele, { deviceId: 'a', platform: 'apns', token: APNS_1 }, T0, 2);
    await register(adele, { deviceId: 'b', platform: 'apns', token: APNS_1 }, T0, 2);
    const error = await register(adele, { deviceId: 'c', platform: 'apns', token: APNS_1 }, T0, 2).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).code).toBe('too_many_devices');
    await expect(
      register(adele, { deviceId: 'b', platform: 'apns', token: APNS_2 }, T1, 2),
    ).resolves.toMatchObject({
      outcome: 'updated',
    });
    expect([...devices.rows.values()].map((d) => d.deviceId).sort()).toEqual(['a', 'b']);
  });

  it('removes a new device again when the provider fails', async () => {
    push.failWith = new Error('hub down');
    const error = await register(adele, { deviceId: 'p', platform: 'apns', token: APNS_1 }).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(DependencyError);
    expect((error as DependencyError).message).toContain('new registration removed');
    expect(devices.rows.size).toBe(0);
  });

  it('restores the previous registration when the provider fails on an update', async () => {
    await register(adele, { deviceId: 'p', platform: 'apns', token: APNS_1 });
    push.failWith = new Error('hub down');
    await expect(
      register(adele, { deviceId: 'p', platform: 'apns', token: APNS_2 }, T1),
    ).rejects.toBeInstanceOf(DependencyError);
    expect(await devices.getDevice('adele@contoso.example', 'p')).toMatchObject({
      token: APNS_1,
      updatedAt: T0.toISOString(),
    });
  });

  it('never puts the push token in the error', async () => {
    push.failWith = new Error(`rejected token ${APNS_1}`);
    const error = (await register(adele, { deviceId: 'p', platform: 'apns', token: APNS_1 }).catch(
      (e: unknown) => e,
    )) as Error;
    expect(error.message).not.toContain(APNS_1);
  });
});

describe('unregisterDevice', () => {
  beforeEach(async () => {
    await register(adele, { deviceId: 'phone-1', platform: 'apns', token: APNS_1 });
    await register(lee, { deviceId: 'phone-1', platform: 'apns', token: APNS_2 });
  });

  const unregister = (principal: DevicePrincipal, deviceId: unknown) =>
    unregisterDevice({ principal, deviceId, mailboxes, devices, push });

  it('removes the caller’s own device and tells the provider', async () => {
    expect(await unregister(adele, 'phone-1')).toBe('deleted');
    expect(await devices.getDevice('adele@contoso.example', 'phone-1')).toBeUndefined();
    expect(push.unregistered).toEqual([
      expect.objectContaining({ mailboxEmail: 'adele@contoso.example', token: APNS_1 }),
    ]);
    // Lee's phone with the same device id is untouched.
    expect(await devices.getDevice('lee@contoso.example', 'phone-1')).toMatchObject({ token: APNS_2 });
  });

  it('answers not_found (idempotent) for a device the caller does not have', async () => {
    expect(await unregister(adele, 'phone-9')).toBe('not_found');
    expect(push.unregistered).toHaveLength(0);
  });

  it('cannot reach another user’s device: ids are looked up in the caller’s mailbox only', async () => {
    await register(lee, { deviceId: 'lees-tablet', platform: 'apns', token: APNS_2 });
    expect(await unregister(adele, 'lees-tablet')).toBe('not_found');
    expect(await devices.getDevice('lee@contoso.example', 'lees-tablet')).toBeDefined();
    expect(push.unregistered).toHaveLength(0);
  });

  it('refuses a caller without a mailbox of their own', async () => {
    const stranger = { ...adele, objectId: randomUUID(), mailboxCandidates: ['adele@contoso.example'] };
    await expect(unregister(stranger, 'phone-1')).rejects.toBeInstanceOf(DeviceAccessError);
    expect(await devices.getDevice('adele@contoso.example', 'phone-1')).toBeDefined();
  });

  it('keeps the device when the provider fails, so a retry can finish', async () => {
    push.failWith = new Error('hub down');
    await expect(unregister(adele, 'phone-1')).rejects.toBeInstanceOf(DependencyError);
    expect(await devices.getDevice('adele@contoso.example', 'phone-1')).toBeDefined();
  });

  it.each([undefined, '', 'a/b', 'x'.repeat(65)])('refuses device id %j', async (deviceId) => {
    await expect(unregister(adele, deviceId)).rejects.toBeInstanceOf(ValidationError);
  });
});
