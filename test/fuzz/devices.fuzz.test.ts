/**
 * Property tests of the device API's outside input: the registration body, the Authorization
 * header, and the POST handler on in-memory stores. Junk is refused with the documented code,
 * never costs a signing-key lookup, and never writes a device or registers a push installation.
 */
import fc from 'fast-check';
import type * as jose from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  createBearerValidator,
  type BearerValidator,
  type DevicePrincipal,
} from '../../shared/devices/bearer.js';
import { AuthError } from '../../shared/devices/errors.js';
import { handleDeviceRegistration, type DeviceApiDeps } from '../../shared/devices/http.js';
import { entraIssuers } from '../../shared/devices/settings.js';
import { parseDeviceRegistration } from '../../shared/devices/validation.js';
import { ValidationError } from '../../shared/errors.js';
import { LocalEntraIssuer, entraUser } from '../../dev/sim/entra.js';
import { InMemoryMailboxStore } from '../support/fakes.js';
import { InMemoryDeviceStore, RecordingPushProvider } from '../unit/devices/fakes.js';
import {
  anyFieldValue,
  anyJson,
  anyString,
  errorOf,
  fuzz,
  httpRequest,
  mutateOneField,
  recordingContext,
} from '../support/fuzz.js';

const VALID_APNS = { deviceId: 'iphone-15.adele_1', platform: 'apns', token: 'ab'.repeat(32) };
const VALID_FCM = { deviceId: 'pixel-8', platform: 'fcm', token: `f${'Ab1_:-'.repeat(30)}` };
const BODY_CODES = ['invalid_request', 'invalid_device_id', 'invalid_platform', 'invalid_push_token'];
const FIELD_CODE: Record<string, string> = {
  deviceId: 'invalid_device_id',
  platform: 'invalid_platform',
  token: 'invalid_push_token',
};

function parseOutcome(body: unknown): { ok: true } | { ok: false; error: ValidationError } {
  try {
    parseDeviceRegistration(body);
    return { ok: true };
  } catch (error) {
    expect(error).toBeInstanceOf(ValidationError);
    return { ok: false, error: error as ValidationError };
  }
}

describe('parseDeviceRegistration', () => {
  it('any value: a registration or a ValidationError with a documented code', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.anything({ maxDepth: 3 }),
          fc.record(
            { deviceId: anyFieldValue, platform: anyFieldValue, token: anyFieldValue },
            { requiredKeys: [] },
          ),
        ),
        (body) => {
          const outcome = parseOutcome(body);
          if (!outcome.ok) expect(BODY_CODES).toContain(outcome.error.code);
        },
      ),
      fuzz(500),
    );
  });

  it('a valid body with one field mutated: refused with that field’s code, the push token never echoed', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(VALID_APNS, VALID_FCM).chain((valid) => mutateOneField(valid)),
        ({ field, value }) => {
          const outcome = parseOutcome(value);
          if (outcome.ok) return;
          // An unknown field or a non-object is invalid_request; otherwise the first bad field's code.
          expect([FIELD_CODE[field], 'invalid_request', 'invalid_platform', 'invalid_push_token']).toContain(
            outcome.error.code,
          );
          if (field !== 'platform') expect(outcome.error.code).toBe(FIELD_CODE[field]);
          if (typeof value.token === 'string' && value.token.length >= 8)
            expect(outcome.error.message).not.toContain(value.token);
        },
      ),
      fuzz(500),
    );
  });
});

describe('bearer validator', () => {
  const issuer = new LocalEntraIssuer({ audience: 'api://mailpush-devices' });
  let keySet: jose.JWTVerifyGetKey;
  let keyLookups = 0;
  let validator: BearerValidator;

  beforeAll(async () => {
    keySet = await issuer.localKeySet();
    validator = createBearerValidator({
      keys: {
        keySet: (header, token) => {
          keyLookups++;
          return keySet(header, token);
        },
      },
      issuers: entraIssuers('https://login.microsoftonline.com', issuer.tenantId),
      audiences: ['api://mailpush-devices'],
      tenantId: issuer.tenantId,
    });
  });

  async function refusal(authorization: string | null | undefined): Promise<AuthError> {
    try {
      await validator.validate(authorization);
    } catch (error) {
      expect(error).toBeInstanceOf(AuthError);
      return error as AuthError;
    }
    throw new Error('junk was accepted');
  }

  const b64url = (text: string) => Buffer.from(text, 'utf8').toString('base64url');
  const jwsShaped = fc
    .tuple(
      fc.oneof(
        anyJson.map((j) => JSON.stringify(j)),
        anyString,
      ),
      anyString,
      fc.base64String(),
    )
    .map(
      ([header, payload, sig]) =>
        `${b64url(header)}.${b64url(payload)}.${sig.replace(/=/g, '').replace(/\+/g, '-').replace(/\//g, '_')}`,
    );
  const junkHeader = fc.oneof(
    anyString,
    anyString.map((s) => `Bearer ${s}`),
    fc
      .tuple(fc.constantFrom('Bearer', 'bearer', 'BEARER', 'Basic', 'Bearer\t', ''), jwsShaped)
      .map(([s, t]) => `${s} ${t}`),
    fc.constantFrom('', ' ', 'Bearer', 'Bearer ', 'Bearer ..', 'Bearer a.b.c', 'Basic dXNlcjpwYXNz'),
  );

  it('arbitrary Authorization headers: missing_token or invalid_token, no key lookup, the token never echoed', async () => {
    await fc.assert(
      fc.asyncProperty(junkHeader, async (authorization) => {
        keyLookups = 0;
        const error = await refusal(authorization);
        expect(['missing_token', 'invalid_token']).toContain(error.code);
        expect(keyLookups).toBe(0);
        const token = authorization.trim().split(/\s+/)[1] ?? '';
        if (token.length >= 12) expect(error.message).not.toContain(token);
      }),
      fuzz(500),
    );
  });

  it('an RS256 header with a junk key id, claims or signature: invalid_token (or a claim code), never accepted', async () => {
    await fc.assert(
      fc.asyncProperty(anyString, anyJson, fc.base64String({ maxLength: 400 }), async (kid, claims, sig) => {
        const header = b64url(JSON.stringify({ alg: 'RS256', typ: 'JWT', kid }));
        const signature = sig.replace(/=/g, '').replace(/\+/g, '-').replace(/\//g, '_');
        const error = await refusal(`Bearer ${header}.${b64url(JSON.stringify(claims))}.${signature}`);
        expect(['invalid_token', 'expired', 'wrong_audience', 'wrong_issuer']).toContain(error.code);
      }),
      fuzz(150),
    );
  });

  it('alg none / HS256 / anything not RS256: invalid_token before any key lookup', async () => {
    await fc.assert(
      fc.asyncProperty(anyFieldValue, async (alg) => {
        fc.pre(alg !== 'RS256');
        keyLookups = 0;
        const token = `${b64url(JSON.stringify({ alg, typ: 'JWT' }))}.${b64url('{"sub":"x"}')}.c2ln`;
        const error = await refusal(`Bearer ${token}`);
        expect(error.code).toBe('invalid_token');
        expect(keyLookups).toBe(0);
      }),
      fuzz(200),
    );
  });

  it('a genuine token with one character changed is refused, or still names the same user', async () => {
    const user = entraUser();
    const token = await issuer.mint(user);
    await fc.assert(
      fc.asyncProperty(fc.nat({ max: token.length - 1 }), fc.constantFrom(...'AQgw_-.x='), async (at, c) => {
        const forged = token.slice(0, at) + c + token.slice(at + 1);
        try {
          const principal = await validator.validate(`Bearer ${forged}`);
          expect(principal.objectId).toBe(user.objectId.toLowerCase());
        } catch (error) {
          expect(error).toBeInstanceOf(AuthError);
        }
      }),
      fuzz(150),
    );
  });
});

describe('POST /api/devices handler', () => {
  const principal: DevicePrincipal = {
    objectId: '0f5c8a7e-5b0f-4a43-9b1e-3a1a6b4c2d10',
    tenantId: '84bd8158-6d4d-4958-8b9f-9d6445542f95',
    username: 'adele.vance@contoso.example',
    mailboxCandidates: ['adele.vance@contoso.example'],
    scopes: ['Devices.ReadWrite'],
    roles: [],
    appId: undefined,
  };

  async function setup() {
    const mailboxes = new InMemoryMailboxStore();
    await mailboxes.insertMailbox({
      email: principal.mailboxCandidates[0]!,
      userId: principal.objectId,
      tenantId: principal.tenantId,
      transport: 'graph',
      createdAt: '2026-11-01T00:00:00.000Z',
      updatedAt: '2026-11-01T00:00:00.000Z',
    });
    const devices = new InMemoryDeviceStore();
    const push = new RecordingPushProvider();
    const deps: DeviceApiDeps = {
      mailboxes,
      devices,
      push,
      bearer: { validate: async () => principal },
      now: () => new Date('2026-11-23T10:00:00Z'),
    };
    return { deps, devices, push };
  }

  it('any body: 400/413/415 with the documented code and nothing written, or a registration', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          anyString,
          anyJson.map((j) => JSON.stringify(j)),
          fc
            .constantFrom(VALID_APNS, VALID_FCM)
            .chain((v) => mutateOneField(v))
            .map((m) => JSON.stringify(m.value)),
        ),
        fc.constantFrom('application/json', 'application/json; charset=utf-8', 'text/plain', ''),
        async (body, contentType) => {
          const { deps, devices, push } = await setup();
          const { context } = recordingContext('devices-post');
          const res = await handleDeviceRegistration(
            httpRequest({ headers: { 'content-type': contentType, authorization: 'Bearer x' }, body }),
            context,
            deps,
          );
          const status = res.status ?? 200;
          expect(status).toBeLessThan(500);
          if (status >= 400) {
            expect([...BODY_CODES, 'invalid_json', 'unsupported_media_type', 'payload_too_large']).toContain(
              errorOf(res)?.code,
            );
            expect(devices.rows.size).toBe(0);
            expect(push.registered).toHaveLength(0);
          } else {
            expect(status).toBe(201);
            expect(devices.rows.size).toBe(1);
          }
        },
      ),
      fuzz(300),
    );
  });

  it('any Authorization header with the real validator: 401 with WWW-Authenticate, no key lookup, nothing written', async () => {
    let lookups = 0;
    const bearer = createBearerValidator({
      keys: {
        keySet: () => {
          lookups++;
          return Promise.reject(new Error('no key lookup expected for junk'));
        },
      },
      issuers: ['https://login.microsoftonline.com/84bd8158-6d4d-4958-8b9f-9d6445542f95/v2.0'],
      audiences: ['api://mailpush-devices'],
    });
    await fc.assert(
      fc.asyncProperty(
        fc.option(
          fc.oneof(
            anyString,
            anyString.map((s) => `Bearer ${s}`),
          ),
          { nil: undefined },
        ),
        async (authorization) => {
          fc.pre(authorization === undefined || /^[\t\x20-\x7e]*$/.test(authorization));
          const { deps, devices, push } = await setup();
          lookups = 0;
          const { context, logs } = recordingContext('devices-post');
          const res = await handleDeviceRegistration(
            httpRequest({
              headers: {
                'content-type': 'application/json',
                ...(authorization !== undefined ? { authorization } : {}),
              },
              body: JSON.stringify(VALID_APNS),
            }),
            context,
            { ...deps, bearer },
          );
          expect(res.status).toBe(401);
          expect(['missing_token', 'invalid_token']).toContain(errorOf(res)?.code);
          expect(res.headers).toHaveProperty('WWW-Authenticate');
          expect(lookups).toBe(0);
          expect(devices.rows.size).toBe(0);
          expect(push.registered).toHaveLength(0);
          const token = authorization?.trim().split(/\s+/)[1] ?? '';
          if (token.length >= 12) expect(logs.join('\n')).not.toContain(token);
        },
      ),
      fuzz(300),
    );
  });
});
