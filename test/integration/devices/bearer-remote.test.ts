import azureFunctions from '@azure/functions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBearerValidator, createDeviceBearerValidator } from '../../../shared/devices/bearer.js';
import { AuthError } from '../../../shared/devices/errors.js';
import { handleDeviceRegistration } from '../../../shared/devices/http.js';
import { readDeviceApiSettings } from '../../../shared/devices/settings.js';
import { DependencyError } from '../../../shared/errors.js';
import { InMemoryMailboxStore } from '../../support/fakes.js';
import { LocalEntraIssuer, entraUser, type JwksServer } from '../../../dev/sim/entra.js';
import { InMemoryDeviceStore, RecordingPushProvider } from '../../unit/devices/fakes.js';

const { HttpRequest, InvocationContext } = azureFunctions;

/**
 * The bearer validator fetching the tenant's keys over HTTPS, as in production: from
 * `<authority>/<tenant>/discovery/v2.0/keys` on a local issuer whose certificate the test workers
 * trust through the repository's local CA.
 */
const issuer = new LocalEntraIssuer();
const user = entraUser();
let server: JwksServer;

beforeAll(async () => {
  server = await issuer.serve();
});

afterAll(async () => {
  await server?.close();
});

function validator(options: { cooldownMs?: number } = {}) {
  return createBearerValidator({
    keys: { jwksUri: server.jwksUri, timeoutMs: 2000, ...options },
    issuers: [issuer.issuerV2, issuer.issuerV1],
    audiences: [issuer.audience],
    tenantId: issuer.tenantId,
  });
}

describe('remote JWKS', () => {
  it('validates v2.0 and v1.0 tokens from the settings-built validator over HTTPS', async () => {
    const problems: string[] = [];
    const settings = readDeviceApiSettings(
      (name) =>
        ({
          DEVICE_API_AUDIENCE: issuer.audience,
          DEVICE_API_TENANT_ID: issuer.tenantId,
          DEVICE_API_AUTHORITY_HOST: server.authorityHost,
        })[name],
      problems,
    );
    expect(problems).toEqual([]);
    const v = createDeviceBearerValidator(settings!);
    await expect(v.validate(`Bearer ${await issuer.mint(user)}`)).resolves.toMatchObject({
      objectId: user.objectId,
    });
    await expect(v.validate(`Bearer ${await issuer.mint(user, { version: '1.0' })}`)).resolves.toMatchObject({
      objectId: user.objectId,
    });
  });

  it('fetches the keys once and then serves many validations from its cache', async () => {
    const v = validator();
    const before = server.requests;
    for (let i = 0; i < 5; i++) await v.validate(`Bearer ${await issuer.mint(user)}`);
    expect(server.requests - before).toBe(1);
  });

  it('does not fetch keys for tokens refused on their header (alg none, junk)', async () => {
    const v = validator();
    const before = server.requests;
    await expect(v.validate(`Bearer ${issuer.algNone(user)}`)).rejects.toBeInstanceOf(AuthError);
    await expect(v.validate('Bearer a.b.c')).rejects.toBeInstanceOf(AuthError);
    expect(server.requests).toBe(before);
  });

  it('refetches when a token names a new key id (rollover), after the cooldown', async () => {
    const rolling = new LocalEntraIssuer();
    const rollingServer = await rolling.serve();
    try {
      const v = createBearerValidator({
        keys: { jwksUri: rollingServer.jwksUri, cooldownMs: 0 },
        issuers: [rolling.issuerV2],
        audiences: [rolling.audience],
      });
      await v.validate(`Bearer ${await rolling.mint(user)}`);
      expect(rollingServer.requests).toBe(1);
      rolling.rotate();
      rolling.retireOldKeys();
      await expect(v.validate(`Bearer ${await rolling.mint(user)}`)).resolves.toBeDefined();
      expect(rollingServer.requests).toBe(2);
    } finally {
      await rollingServer.close();
    }
  });

  it('within the cooldown, an unknown key id is refused without another fetch', async () => {
    const rolling = new LocalEntraIssuer();
    const rollingServer = await rolling.serve();
    try {
      const v = createBearerValidator({
        keys: { jwksUri: rollingServer.jwksUri, cooldownMs: 60_000 },
        issuers: [rolling.issuerV2],
        audiences: [rolling.audience],
      });
      await v.validate(`Bearer ${await rolling.mint(user)}`);
      const other = new LocalEntraIssuer({
        tenantId: rolling.tenantId,
        authorityHost: rolling.authorityHost,
      });
      const error = await v.validate(`Bearer ${await other.mint(user)}`).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(AuthError);
      expect((error as AuthError).code).toBe('invalid_token');
      expect(rollingServer.requests).toBe(1);
    } finally {
      await rollingServer.close();
    }
  });

  it('a failing key endpoint is a dependency failure (retry), not an invalid token; it recovers', async () => {
    const v = validator();
    server.failWith = 500;
    try {
      const error = await v.validate(`Bearer ${await issuer.mint(user)}`).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(DependencyError);
      expect((error as DependencyError).dependency).toBe('entra-jwks');
    } finally {
      server.failWith = undefined;
    }
    await expect(v.validate(`Bearer ${await issuer.mint(user)}`)).resolves.toBeDefined();
  });

  it('an unreachable key endpoint is a dependency failure too', async () => {
    const gone = new LocalEntraIssuer();
    const goneServer = await gone.serve();
    await goneServer.close();
    const v = createBearerValidator({
      keys: { jwksUri: goneServer.jwksUri, timeoutMs: 2000 },
      issuers: [gone.issuerV2],
      audiences: [gone.audience],
    });
    await expect(v.validate(`Bearer ${await gone.mint(user)}`)).rejects.toBeInstanceOf(DependencyError);
  });

  it('the handler answers 503 (retry later), not 401 (sign in again), while the keys cannot be fetched', async () => {
    const deps = {
      mailboxes: new InMemoryMailboxStore(),
      devices: new InMemoryDeviceStore(),
      push: new RecordingPushProvider(),
      bearer: validator(),
      now: () => new Date(),
    };
    server.failWith = 503;
    try {
      const res = await handleDeviceRegistration(
        new HttpRequest({
          method: 'POST',
          url: 'https://mailpush.example/api/devices',
          headers: { authorization: `Bearer ${await issuer.mint(user)}`, 'content-type': 'application/json' },
          body: { string: '{}' },
        }),
        new InvocationContext({ functionName: 'devices-post', logHandler: () => {} }),
        deps,
      );
      expect(res.status).toBe(503);
      expect(new Headers(res.headers).get('www-authenticate')).toBeNull();
    } finally {
      server.failWith = undefined;
    }
  });
});
