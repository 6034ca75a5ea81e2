import { randomUUID } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { createBearerValidator, type BearerValidator } from '../../../shared/devices/bearer.js';
import { AuthError, type AuthErrorCode } from '../../../shared/devices/errors.js';
import { entraIssuers } from '../../../shared/devices/settings.js';
import { LocalEntraIssuer, entraUser } from '../../../dev/sim/entra.js';

const CLIENT_ID = '6f1c2b3a-4d5e-4f60-8a7b-9c0d1e2f3a4b';
const issuer = new LocalEntraIssuer({ audience: 'api://mailpush-devices' });
const user = entraUser({
  objectId: 'AB5F0C1D-2E3F-4A5B-8C6D-7E8F9A0B1C2D',
  upn: 'Adele.Vance@Contoso.example',
});
let validator: BearerValidator;

beforeAll(async () => {
  validator = createBearerValidator({
    keys: { keySet: await issuer.localKeySet() },
    issuers: entraIssuers('https://login.microsoftonline.com', issuer.tenantId),
    audiences: ['api://mailpush-devices', CLIENT_ID],
    tenantId: issuer.tenantId,
    clockToleranceSec: 60,
  });
});

async function refusal(authorization: string | null | undefined, v = validator): Promise<AuthError> {
  try {
    await v.validate(authorization);
  } catch (error) {
    expect(error).toBeInstanceOf(AuthError);
    return error as AuthError;
  }
  throw new Error('expected the token to be refused');
}

async function expectRefused(authorization: string | null | undefined, code: AuthErrorCode): Promise<void> {
  const error = await refusal(authorization);
  expect(error.code).toBe(code);
  // Messages go back to the caller: never the token itself.
  const tokenPart = authorization?.slice(7, 40) ?? '';
  if (tokenPart.length > 10) expect(error.message).not.toContain(tokenPart);
}

describe('a valid token', () => {
  it('yields the caller: object id, tenant, sign-in names and scopes', async () => {
    const principal = await validator.validate(`Bearer ${await issuer.mint(user)}`);
    expect(principal).toEqual({
      objectId: user.objectId.toLowerCase(),
      tenantId: issuer.tenantId,
      username: 'Adele.Vance@Contoso.example',
      mailboxCandidates: ['adele.vance@contoso.example'],
      scopes: ['Devices.ReadWrite'],
      roles: [],
      appId: expect.any(String),
    });
  });

  it('yields the app roles and the calling app (admin API), for delegated and app-only tokens', async () => {
    const delegated = await validator.validate(`Bearer ${await issuer.admin(user)}`);
    expect(delegated.roles).toEqual(['MailPush.Admin']);
    const appOnly = await validator.validate(
      `Bearer ${await issuer.app('5e3ce6c0-2b1f-4285-8d4b-75ee78787346')}`,
    );
    expect(appOnly).toMatchObject({
      roles: ['MailPush.Admin'],
      appId: '5e3ce6c0-2b1f-4285-8d4b-75ee78787346',
      username: undefined,
      scopes: [],
    });
  });

  it('accepts a v1.0 token (issuer https://sts.windows.net/<tid>/)', async () => {
    const token = await issuer.mint(user, { version: '1.0' });
    const principal = await validator.validate(`Bearer ${token}`);
    expect(principal.objectId).toBe(user.objectId.toLowerCase());
    expect(principal.mailboxCandidates).toEqual(['adele.vance@contoso.example']);
  });

  it('accepts the client id as audience when configured', async () => {
    const token = await issuer.mint(user, { claims: { aud: CLIENT_ID } });
    await expect(validator.validate(`Bearer ${token}`)).resolves.toMatchObject({ tenantId: issuer.tenantId });
  });

  it('lists upn, preferred_username and email as distinct lower-cased candidates, in that order', async () => {
    const token = await issuer.mint(user, {
      claims: {
        upn: 'adele@contoso.example',
        preferred_username: 'ADELE@contoso.example',
        email: 'a.vance@contoso.example',
      },
    });
    const principal = await validator.validate(`Bearer ${token}`);
    expect(principal.mailboxCandidates).toEqual(['adele@contoso.example', 'a.vance@contoso.example']);
    expect(principal.username).toBe('adele@contoso.example');
  });

  it('accepts a lower-case "bearer" scheme', async () => {
    await expect(validator.validate(`bearer ${await issuer.mint(user)}`)).resolves.toMatchObject({
      objectId: user.objectId.toLowerCase(),
    });
  });

  it('accepts a token expired within the clock tolerance, and refuses one beyond it', async () => {
    await expect(validator.validate(`Bearer ${await issuer.expired(user, 30)}`)).resolves.toBeDefined();
    await expectRefused(`Bearer ${await issuer.expired(user, 90)}`, 'expired');
  });

  it('still validates after a key rollover (old and new keys published)', async () => {
    const rolled = new LocalEntraIssuer({ tenantId: issuer.tenantId, audience: issuer.audience });
    const oldToken = await rolled.mint(user);
    rolled.rotate();
    const newToken = await rolled.mint(user);
    const v = createBearerValidator({
      keys: { keySet: await rolled.localKeySet() },
      issuers: [rolled.issuerV2],
      audiences: [rolled.audience],
    });
    await expect(v.validate(`Bearer ${oldToken}`)).resolves.toBeDefined();
    await expect(v.validate(`Bearer ${newToken}`)).resolves.toBeDefined();
  });
});

describe('refused tokens', () => {
  it('expired', async () => {
    await expectRefused(`Bearer ${await issuer.expired(user)}`, 'expired');
  });

  it('not valid yet (nbf in the future beyond the tolerance)', async () => {
    const later = new Date(Date.now() + 3600_000);
    await expectRefused(
      `Bearer ${await issuer.mint(user, { now: later, expiresInSec: 7200 })}`,
      'invalid_token',
    );
  });

  it('for another audience', async () => {
    await expectRefused(`Bearer ${await issuer.wrongAudience(user)}`, 'wrong_audience');
  });

  it('for the Graph audience (a token the app got for Graph, replayed)', async () => {
    await expectRefused(
      `Bearer ${await issuer.wrongAudience(user, 'https://graph.microsoft.com')}`,
      'wrong_audience',
    );
  });

  it('issued for another tenant', async () => {
    await expectRefused(`Bearer ${await issuer.wrongTenant(user)}`, 'wrong_issuer');
  });

  it('with our issuer but another tid', async () => {
    await expectRefused(
      `Bearer ${await issuer.mint(user, { claims: { tid: randomUUID() } })}`,
      'wrong_issuer',
    );
  });

  it('by another tenant, signed with its own keys', async () => {
    const other = new LocalEntraIssuer({ audience: issuer.audience });
    // Its kid is not in our JWKS: no key, no trust.
    await expectRefused(`Bearer ${await other.mint(user)}`, 'invalid_token');
  });

  it('with a tampered payload (another oid under the original signature)', async () => {
    await expectRefused(`Bearer ${await issuer.tampered(user)}`, 'invalid_token');
  });

  it('with a flipped signature byte', async () => {
    const token = await issuer.mint(user);
    const [h, p, s] = token.split('.') as [string, string, string];
    const sig = Buffer.from(s, 'base64url');
    sig[10] = (sig[10] ?? 0) ^ 0xff;
    await expectRefused(`Bearer ${h}.${p}.${sig.toString('base64url')}`, 'invalid_token');
  });

  it('signed by a key we never published, under our kid', async () => {
    await expectRefused(`Bearer ${await issuer.forged(user)}`, 'invalid_token');
  });

  it('alg none', async () => {
    const error = await refusal(`Bearer ${issuer.algNone(user)}`);
    expect(error.code).toBe('invalid_token');
    expect(error.message).toMatch(/RS256/);
  });

  it('HS256 with the public key as secret (key confusion)', async () => {
    const error = await refusal(`Bearer ${await issuer.hs256WithPublicKey(user)}`);
    expect(error.code).toBe('invalid_token');
    expect(error.message).toMatch(/RS256/);
  });

  it('RS384 is not RS256 either', async () => {
    const token = await issuer.mint(user);
    const [, p, s] = token.split('.') as [string, string, string];
    const header = Buffer.from(JSON.stringify({ alg: 'RS384', typ: 'JWT', kid: issuer.kid })).toString(
      'base64url',
    );
    await expectRefused(`Bearer ${header}.${p}.${s}`, 'invalid_token');
  });

  it('without oid', async () => {
    await expectRefused(`Bearer ${await issuer.mint(user, { claims: { oid: undefined } })}`, 'invalid_token');
  });

  it('without exp', async () => {
    await expectRefused(`Bearer ${await issuer.mint(user, { claims: { exp: undefined } })}`, 'invalid_token');
  });

  it.each([
    ['no header', undefined],
    ['null', null],
    ['an empty header', ''],
    ['spaces', '   '],
  ])('%s is a missing token', async (_what, header) => {
    await expectRefused(header, 'missing_token');
  });

  it.each([
    ['Basic credentials', 'Basic dXNlcjpwYXNz'],
    ['a bare token without scheme', 'eyJhbGciOiJSUzI1NiJ9.e30.c2ln'],
    ['"Bearer" without a token', 'Bearer'],
    ['a function key', 'x-functions-key abc'],
  ])('%s is not a bearer token', async (_what, header) => {
    await expectRefused(header, 'missing_token');
  });

  it.each([
    ['not a JWT', 'Bearer not-a-jwt'],
    ['two parts', 'Bearer aaa.bbb'],
    ['bad characters', 'Bearer aaa.b+b.ccc'],
    ['a header that is not JSON', 'Bearer bm90LWpzb24.e30.c2ln'],
    ['two tokens', 'Bearer aaa.bbb.ccc ddd.eee.fff'],
  ])('%s is an invalid token', async (_what, header) => {
    await expectRefused(header, 'invalid_token');
  });

  it('a token over 16 KiB is refused without parsing', async () => {
    const token = await issuer.mint(user, { claims: { padding: 'x'.repeat(17 * 1024) } });
    const error = await refusal(`Bearer ${token}`);
    expect(error.code).toBe('invalid_token');
    expect(error.message).toMatch(/malformed/);
  });
});

describe('createBearerValidator', () => {
  it('refuses to be built without issuers or audiences', async () => {
    const keySet = await issuer.localKeySet();
    expect(() => createBearerValidator({ keys: { keySet }, issuers: [], audiences: ['a'] })).toThrow(
      /issuers/,
    );
    expect(() => createBearerValidator({ keys: { keySet }, issuers: ['i'], audiences: [] })).toThrow(
      /audiences/,
    );
  });

  it('uses the given clock', async () => {
    const token = await issuer.mint(user, { expiresInSec: 600 });
    const v = createBearerValidator({
      keys: { keySet: await issuer.localKeySet() },
      issuers: [issuer.issuerV2],
      audiences: [issuer.audience],
      now: () => new Date(Date.now() + 3600_000),
    });
    await expect(v.validate(`Bearer ${token}`)).rejects.toMatchObject({ code: 'expired' });
  });
});
