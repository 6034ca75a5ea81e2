import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalHost } from '../../../dev/local/host.js';
import { startTestHost } from '../../support/test-host.js';
import { DEMO_TENANT } from '../../../dev/sim/graph/demo.js';

/**
 * The devices API over the wire through the local runner: tokens from the local Entra issuer
 * (keys fetched over HTTPS like production), mailboxes and devices in Azurite.
 */
let host: LocalHost;
const [adele, alex] = DEMO_TENANT.users;
const apnsToken = 'ab'.repeat(32);

beforeAll(async () => {
  host = await startTestHost({
    startQueueTriggers: false,
  });
  const now = new Date().toISOString();
  for (const user of [adele, alex]) {
    await host.services.mailboxes.insertMailbox({
      email: user.mail,
      userId: user.id,
      tenantId: DEMO_TENANT.tenantId,
      transport: 'graph',
      createdAt: now,
      updatedAt: now,
    });
  }
});

afterAll(async () => {
  await host?.stop();
});

const tokenFor = (user: { id: string; mail: string }) =>
  host.entraIssuer!.mint({ objectId: user.id, upn: user.mail });

function register(token: string, body: unknown) {
  return fetch(`${host.url}/api/devices`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
}

describe('POST /api/devices', () => {
  it('registers a device for the caller’s own mailbox', async () => {
    const res = await register(await tokenFor(adele), {
      deviceId: 'adele-phone',
      platform: 'apns',
      token: apnsToken,
    });
    expect(res.status).toBe(201);
    const devices = await host.services.devices.listDevices(adele.mail);
    expect(devices.map((d) => [d.deviceId, d.platform, d.userObjectId])).toEqual([
      ['adele-phone', 'apns', adele.id],
    ]);
    expect(JSON.stringify(await res.json())).not.toContain(apnsToken);
  });

  it('refuses a token whose oid does not own the mailbox it names', async () => {
    const forged = await host.entraIssuer!.mint({ objectId: alex.id, upn: adele.mail });
    const res = await register(forged, { deviceId: 'intruder', platform: 'apns', token: apnsToken });
    expect(res.status).toBe(403);
    expect((await host.services.devices.listDevices(adele.mail)).map((d) => d.deviceId)).not.toContain(
      'intruder',
    );
  });

  it('answers 401 with WWW-Authenticate for an expired token and stores nothing', async () => {
    const expired = await host.entraIssuer!.mint(
      { objectId: alex.id, upn: alex.mail },
      { expiresInSec: -600 },
    );
    const res = await register(expired, { deviceId: 'alex-phone', platform: 'apns', token: apnsToken });
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect(await host.services.devices.listDevices(alex.mail)).toEqual([]);
  });

  it('answers 400 for a malformed registration', async () => {
    const res = await register(await tokenFor(alex), {
      deviceId: 'x',
      platform: 'blackberry',
      token: 'nope',
    });
    expect(res.status).toBe(400);
  });
});

describe('DELETE /api/devices/{deviceId}', () => {
  it('removes the caller’s device', async () => {
    await register(await tokenFor(alex), { deviceId: 'alex-tablet', platform: 'apns', token: apnsToken });
    const res = await fetch(`${host.url}/api/devices/alex-tablet`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${await tokenFor(alex)}` },
    });
    expect(res.status).toBe(204);
    expect(await host.services.devices.getDevice(alex.mail, 'alex-tablet')).toBeUndefined();
  });
});
