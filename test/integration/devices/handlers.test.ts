import { randomBytes, randomUUID } from 'node:crypto';
import azureFunctions from '@azure/functions';
import type { HttpHandler, HttpResponseInit } from '@azure/functions';
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { createDeviceBearerValidator } from '../../../shared/devices/bearer.js';
import {
  handleDeviceRegistration,
  handleDeviceRemoval,
  type DeviceApiDeps,
} from '../../../shared/devices/http.js';
import { readDeviceApiSettings } from '../../../shared/devices/settings.js';
import type {
  DeviceRecord,
  PushContent,
  PushDeliveryOutcome,
  PushProvider,
} from '../../../shared/domain/ports.js';
import { createTableDeviceStore, type TableDeviceStore } from '../../../shared/store/device-store.js';
import { createTableStores, type TableStores } from '../../../shared/store/index.js';
import { LocalEntraIssuer, entraUser, type EntraUser, type JwksServer } from '../../../dev/sim/entra.js';

const { HttpRequest, InvocationContext } = azureFunctions;

/**
 * The device handlers with real HttpRequest/InvocationContext objects, real stores on Azurite,
 * the production bearer validator fetching keys over HTTPS from a local issuer, and an in-memory
 * push provider.
 */
class FakePushProvider implements PushProvider {
  readonly name = 'fake';
  readonly registered: DeviceRecord[] = [];
  readonly unregistered: DeviceRecord[] = [];
  down = false;

  async registerDevice(device: DeviceRecord): Promise<void> {
    if (this.down) throw new Error('provider unavailable');
    this.registered.push({ ...device });
  }
  async unregisterDevice(device: DeviceRecord): Promise<void> {
    if (this.down) throw new Error('provider unavailable');
    this.unregistered.push({ ...device });
  }
  async send(devices: readonly DeviceRecord[], _content: PushContent): Promise<PushDeliveryOutcome[]> {
    return devices.map((d) => ({ deviceId: d.deviceId, outcome: 'sent' as const }));
  }
}

const AUDIENCE = 'api://mailpush-devices';
const issuer = new LocalEntraIssuer({ audience: AUDIENCE });
let jwks: JwksServer;
let stores: TableStores;
let devices: TableDeviceStore;
let push: FakePushProvider;
let deps: DeviceApiDeps;
let post: HttpHandler;
let del: HttpHandler;
let adele: EntraUser;
let lee: EntraUser;
let stranger: EntraUser;
const logs: string[] = [];
const NOW = new Date('2026-11-23T10:00:00.000Z');
const APNS_1 = 'ab'.repeat(32);
const APNS_2 = 'cd'.repeat(32);

beforeAll(async () => {
  jwks = await issuer.serve();
  const problems: string[] = [];
  const settings = readDeviceApiSettings(
    (name) => ({ DEVICE_API_AUDIENCE: AUDIENCE, DEVICE_API_AUTHORITY_HOST: jwks.authorityHost })[name],
    problems,
    { graphTenantId: issuer.tenantId },
  );
  expect(problems).toEqual([]);
  const prefix = `dh${randomBytes(5).toString('hex')}`;
  stores = createTableStores({ connectionString: inject('tablesConnectionString'), tablePrefix: prefix });
  await stores.ensureTables();
  const deviceTable = createTableDeviceStore({
    connectionString: inject('tablesConnectionString'),
    tablePrefix: prefix,
  });
  await deviceTable.ensureTable();
  devices = deviceTable.devices;
  push = new FakePushProvider();
  deps = {
    mailboxes: stores.mailboxes,
    devices,
    push,
    bearer: createDeviceBearerValidator(settings!),
    now: () => NOW,
  };
  post = (request, ctx) => handleDeviceRegistration(request, ctx, deps);
  del = (request, ctx) => handleDeviceRemoval(request, ctx, deps);
});

afterAll(async () => {
  await jwks?.close();
});

beforeEach(async () => {
  push.down = false;
  push.registered.length = 0;
  push.unregistered.length = 0;
  logs.length = 0;
  // Fresh users per test: tests share one table.
  adele = entraUser({ upn: `adele.${randomBytes(3).toString('hex')}@contoso.example` });
  lee = entraUser({ upn: `lee.${randomBytes(3).toString('hex')}@contoso.example` });
  stranger = entraUser();
  for (const user of [adele, lee]) {
    await stores.mailboxes.insertMailbox({
      email: user.upn,
      userId: user.objectId,
      tenantId: issuer.tenantId,
      transport: 'graph',
      createdAt: NOW.toISOString(),
      updatedAt: NOW.toISOString(),
    });
  }
});

function context(name: string) {
  return new InvocationContext({
    invocationId: randomUUID(),
    functionName: name,
    logHandler: (level, ...args) => logs.push(`${level}: ${args.map(String).join(' ')}`),
  });
}

async function register(
  token: string | undefined,
  body: unknown,
  headers: Record<string, string> = { 'content-type': 'application/json' },
): Promise<HttpResponseInit> {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  const request = new HttpRequest({
    method: 'POST',
    url: 'https://mailpush.example/api/devices',
    headers: { ...headers, ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: { string: text },
  });
  return await post(request, context('devices-post'));
}

async function unregister(token: string | undefined, deviceId: string): Promise<HttpResponseInit> {
  const request = new HttpRequest({
    method: 'DELETE',
    url: `https://mailpush.example/api/devices/${encodeURIComponent(deviceId)}`,
    headers: token ? { authorization: `Bearer ${token}` } : {},
    params: { deviceId },
  });
  return await del(request, context('devices-delete'));
}

const headerOf = (res: HttpResponseInit, name: string): string | null => new Headers(res.headers).get(name);
const errorCodeOf = (res: HttpResponseInit) => (res.jsonBody as { error: { code: string } }).error.code;
const phone = (deviceId = 'phone-1', token = APNS_1) => ({ deviceId, platform: 'apns', token });

describe('POST /api/devices', () => {
  it('registers the caller’s own device: 201, Location, no token echoed; provider saw it', async () => {
    const res = await register(await issuer.mint(adele), phone());
    expect(res.status).toBe(201);
    expect(headerOf(res, 'location')).toBe('/api/devices/phone-1');
    expect(headerOf(res, 'x-content-type-options')).toBe('nosniff');
    expect(res.jsonBody).toEqual({
      deviceId: 'phone-1',
      platform: 'apns',
      mailbox: adele.upn,
      createdAt: NOW.toISOString(),
      updatedAt: NOW.toISOString(),
    });
    expect(JSON.stringify(res.jsonBody)).not.toContain(APNS_1);
    expect(await devices.getDevice(adele.upn, 'phone-1')).toMatchObject({
      token: APNS_1,
      userObjectId: adele.objectId,
    });
    expect(push.registered).toEqual([
      expect.objectContaining({ mailboxEmail: adele.upn, deviceId: 'phone-1', token: APNS_1 }),
    ]);
    expect(logs.join('\n')).not.toContain(APNS_1);
  });

  it('re-registering the same device with a new token answers 200 and replaces the token', async () => {
    expect((await register(await issuer.mint(adele), phone())).status).toBe(201);
    const res = await register(await issuer.mint(adele), phone('phone-1', APNS_2));
    expect(res.status).toBe(200);
    expect(headerOf(res, 'location')).toBeNull();
    const stored = await devices.listDevices(adele.upn);
    expect(stored.map((d) => d.token)).toEqual([APNS_2]);
    expect(push.registered.map((d) => d.token)).toEqual([APNS_1, APNS_2]);
  });

  it('refuses another user’s mailbox with 403 and stores nothing', async () => {
    // Lee's own valid token, but with Adele's sign-in name: the mailbox is found, the oid is not its user.
    const token = await issuer.mint(lee, { claims: { upn: adele.upn, preferred_username: adele.upn } });
    const res = await register(token, phone('lees-phone'));
    expect(res.status).toBe(403);
    expect(errorCodeOf(res)).toBe('forbidden');
    expect(await devices.listDevices(adele.upn)).toEqual([]);
    expect(await devices.listDevices(lee.upn)).toEqual([]);
    expect(push.registered).toEqual([]);
  });

  it('answers a user without a mailbox exactly like someone else’s mailbox', async () => {
    const theirs = await register(
      await issuer.mint(lee, { claims: { upn: adele.upn, preferred_username: adele.upn } }),
      phone(),
    );
    const none = await register(await issuer.mint(stranger), phone());
    expect(none.status).toBe(403);
    expect(none.jsonBody).toEqual(theirs.jsonBody);
  });

  it('refuses an expired token with 401 and WWW-Authenticate, storing nothing', async () => {
    const res = await register(await issuer.expired(adele), phone());
    expect(res.status).toBe(401);
    expect(headerOf(res, 'www-authenticate')).toMatch(
      /^Bearer error="invalid_token", error_description="[^"]*expired/,
    );
    expect(errorCodeOf(res)).toBe('expired');
    expect(await devices.listDevices(adele.upn)).toEqual([]);
    expect(push.registered).toEqual([]);
  });

  it('answers 401 with a bare "Bearer" challenge when no token is sent', async () => {
    const res = await register(undefined, phone());
    expect(res.status).toBe(401);
    expect(headerOf(res, 'www-authenticate')).toBe('Bearer');
    expect(errorCodeOf(res)).toBe('missing_token');
  });

  it.each([
    ['a wrong audience', (u: EntraUser) => issuer.wrongAudience(u), 'wrong_audience'],
    ['another tenant', (u: EntraUser) => issuer.wrongTenant(u), 'wrong_issuer'],
    ['a forged signature', (u: EntraUser) => issuer.forged(u), 'invalid_token'],
    ['alg none', async (u: EntraUser) => issuer.algNone(u), 'invalid_token'],
  ])('answers 401 for %s', async (_what, mint, code) => {
    const res = await register(await mint(adele), phone());
    expect(res.status).toBe(401);
    expect(errorCodeOf(res)).toBe(code);
    expect(headerOf(res, 'www-authenticate')).toContain('error="invalid_token"');
    expect(await devices.listDevices(adele.upn)).toEqual([]);
  });

  it('answers 503 with Retry-After when the provider is down, and leaves nothing stored', async () => {
    push.down = true;
    const res = await register(await issuer.mint(adele), phone());
    expect(res.status).toBe(503);
    expect(headerOf(res, 'retry-after')).toMatch(/^\d+$/);
    expect(JSON.stringify(res.jsonBody)).not.toContain('provider unavailable');
    expect(await devices.getDevice(adele.upn, 'phone-1')).toBeUndefined();
    expect(logs.join('\n')).toMatch(/devices register: 503/);
  });

  it('keeps the previous token when the provider is down during a re-registration', async () => {
    await register(await issuer.mint(adele), phone());
    push.down = true;
    expect((await register(await issuer.mint(adele), phone('phone-1', APNS_2))).status).toBe(503);
    expect((await devices.getDevice(adele.upn, 'phone-1'))?.token).toBe(APNS_1);
  });

  it('answers 400 with a clear message for an invalid body', async () => {
    const res = await register(await issuer.mint(adele), {
      deviceId: 'phone-1',
      platform: 'apns',
      token: 'xyz',
    });
    expect(res.status).toBe(400);
    expect(errorCodeOf(res)).toBe('invalid_push_token');
    expect((res.jsonBody as { error: { message: string } }).error.message).toMatch(/APNs device token/);
    expect(await devices.listDevices(adele.upn)).toEqual([]);
  });

  it('answers 400 for unknown fields', async () => {
    const res = await register(await issuer.mint(adele), { ...phone(), mailbox: lee.upn });
    expect(res.status).toBe(400);
    expect((res.jsonBody as { error: { message: string } }).error.message).toContain('"mailbox"');
  });

  it('answers 400 for a body that is not JSON', async () => {
    const res = await register(await issuer.mint(adele), '{"deviceId":');
    expect(res.status).toBe(400);
    expect(errorCodeOf(res)).toBe('invalid_json');
  });

  it('answers 415 for a body that is not declared JSON', async () => {
    const res = await register(await issuer.mint(adele), JSON.stringify(phone()), {
      'content-type': 'text/plain',
    });
    expect(res.status).toBe(415);
    expect(await devices.listDevices(adele.upn)).toEqual([]);
  });

  it('answers 413 for a body over 16 KiB, declared or not', async () => {
    const big = JSON.stringify({ ...phone(), padding: 'x'.repeat(16 * 1024) });
    const undeclared = await register(await issuer.mint(adele), big);
    expect(undeclared.status).toBe(413);
    const declared = await register(await issuer.mint(adele), '{}', {
      'content-type': 'application/json',
      'content-length': String(16 * 1024 + 1),
    });
    expect(declared.status).toBe(413);
    // Exactly 16 KiB is read (and then refused for its content, not its size).
    const exact = JSON.stringify({ ...phone(), pad: '' });
    const padded = exact.replace('"pad":""', `"pad":"${'x'.repeat(16 * 1024 - exact.length)}"`);
    expect(Buffer.byteLength(padded)).toBe(16 * 1024);
    expect((await register(await issuer.mint(adele), padded)).status).toBe(400);
  });

  it('checks the token before reading the body', async () => {
    const res = await register(undefined, 'not json', { 'content-type': 'text/plain' });
    expect(res.status).toBe(401);
  });
});

describe('DELETE /api/devices/{deviceId}', () => {
  it('deletes the caller’s own device: 204, provider told, row gone', async () => {
    await register(await issuer.mint(adele), phone());
    const res = await unregister(await issuer.mint(adele), 'phone-1');
    expect(res.status).toBe(204);
    expect(res.jsonBody).toBeUndefined();
    expect(await devices.getDevice(adele.upn, 'phone-1')).toBeUndefined();
    expect(push.unregistered).toEqual([
      expect.objectContaining({ mailboxEmail: adele.upn, deviceId: 'phone-1' }),
    ]);
  });

  it('is idempotent: a device that is not there answers 204 and tells nobody', async () => {
    const res = await unregister(await issuer.mint(adele), 'never-registered');
    expect(res.status).toBe(204);
    expect(push.unregistered).toEqual([]);
  });

  it('cannot touch someone else’s device: 204 for the caller’s (empty) mailbox, the other device unchanged', async () => {
    await register(await issuer.mint(adele), phone('adeles-phone'));
    const before = await devices.getDevice(adele.upn, 'adeles-phone');
    const res = await unregister(await issuer.mint(lee), 'adeles-phone');
    expect(res.status).toBe(204);
    expect(await devices.getDevice(adele.upn, 'adeles-phone')).toEqual(before);
    expect(push.unregistered).toEqual([]);
  });

  it('refuses, with 403, someone who signs in with another user’s name', async () => {
    await register(await issuer.mint(adele), phone('adeles-phone'));
    const token = await issuer.mint(lee, { claims: { upn: adele.upn, preferred_username: adele.upn } });
    const res = await unregister(token, 'adeles-phone');
    expect(res.status).toBe(403);
    expect(await devices.getDevice(adele.upn, 'adeles-phone')).toBeDefined();
    expect(push.unregistered).toEqual([]);
  });

  it('answers 401 for an expired token and deletes nothing', async () => {
    await register(await issuer.mint(adele), phone());
    const res = await unregister(await issuer.expired(adele), 'phone-1');
    expect(res.status).toBe(401);
    expect(headerOf(res, 'www-authenticate')).toContain('error="invalid_token"');
    expect(await devices.getDevice(adele.upn, 'phone-1')).toBeDefined();
  });

  it('answers 503 and keeps the device when the provider is down', async () => {
    await register(await issuer.mint(adele), phone());
    push.down = true;
    const res = await unregister(await issuer.mint(adele), 'phone-1');
    expect(res.status).toBe(503);
    expect(await devices.getDevice(adele.upn, 'phone-1')).toBeDefined();
  });

  it('answers 400 for an invalid device id', async () => {
    const res = await unregister(await issuer.mint(adele), 'a b');
    expect(res.status).toBe(400);
    expect(errorCodeOf(res)).toBe('invalid_device_id');
  });
});

describe('wiring failures', () => {
  it('answers 500 without internals when the dependencies cannot be built', async () => {
    const request = new HttpRequest({ method: 'POST', url: 'https://mailpush.example/api/devices' });
    const res = await handleDeviceRegistration(
      request,
      context('devices-post'),
      Promise.reject(new Error('composition root: secret=hunter2')),
    );
    expect(res.status).toBe(500);
    expect(JSON.stringify(res.jsonBody)).not.toContain('hunter2');
  });
});
