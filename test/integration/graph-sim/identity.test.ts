/**
 * The simulator's Entra surface against the REAL @azure/identity credentials (MSAL Node inside),
 * plus hand-made assertions for the checks MSAL never gets wrong on its own.
 */
import { ClientCertificateCredential, ClientSecretCredential } from '@azure/identity';
import { createHash, createPrivateKey, randomUUID, sign } from 'node:crypto';
import { request } from 'node:https';
import { rootCertificates } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createClientCertificate,
  DEMO_TENANT,
  type ClientCertificate,
  type GraphSimulator,
} from '../../../dev/sim/graph/index.js';
import { demoCredential, graph, GRAPH_SCOPE } from './helpers.js';
import { startTrustedSimulator } from '../../support/graph-sim.js';

const CERT_APP = 'f2a5b3c1-8d7e-4f60-9a1b-2c3d4e5f6a7b';
const OTHER_TENANT = 'b7c0ffee-1234-4abc-8def-0123456789ab';

const decodePayload = (jwt: string): Record<string, unknown> =>
  JSON.parse(Buffer.from(jwt.split('.')[1] ?? '', 'base64url').toString('utf8')) as Record<string, unknown>;

let sim: GraphSimulator;
let cert: ClientCertificate;
let otherCert: ClientCertificate;

beforeAll(async () => {
  sim = await startTrustedSimulator();
  cert = createClientCertificate({ commonName: 'mail-push-test' });
  otherCert = createClientCertificate({ commonName: 'not-registered' });
  sim.addApplication(DEMO_TENANT.tenantId, { clientId: CERT_APP, certificatePem: cert.certPem });
  sim.addTenant({ tenantId: OTHER_TENANT, domains: ['fabrikam.example'] });
});

afterAll(async () => {
  await sim?.stop();
});

const certCredential = (pem: string, clientId = CERT_APP) =>
  new ClientCertificateCredential(
    DEMO_TENANT.tenantId,
    clientId,
    { certificate: pem },
    {
      authorityHost: sim.url,
      disableInstanceDiscovery: true,
    },
  );

describe('ClientSecretCredential', () => {
  it('gets a Graph token with the right secret, and Graph accepts it', async () => {
    const token = await demoCredential(sim).getToken(GRAPH_SCOPE);
    expect(token.token.split('.')).toHaveLength(3);
    expect(token.expiresOnTimestamp).toBeGreaterThan(Date.now() + 50 * 60_000);
    const claims = decodePayload(token.token);
    expect(claims).toMatchObject({
      tid: DEMO_TENANT.tenantId,
      appid: DEMO_TENANT.clientId,
      aud: 'https://graph.microsoft.com',
      appidacr: '1',
    });
    expect(claims.roles).toContain('Mail.Read');

    const user = DEMO_TENANT.users[0];
    const ok = await graph(sim, token.token, 'GET', `/users/${user.id}`);
    expect(ok.status).toBe(200);
    expect(ok.body.mail).toBe(user.mail);
    expect(sim.stats().tokensIssued).toBeGreaterThanOrEqual(1);
  });

  it('accepts the tenant by domain name', async () => {
    const token = await new ClientSecretCredential(
      DEMO_TENANT.domain,
      DEMO_TENANT.clientId,
      DEMO_TENANT.clientSecret,
      {
        authorityHost: sim.url,
        disableInstanceDiscovery: true,
      },
    ).getToken(GRAPH_SCOPE);
    expect(decodePayload(token.token).tid).toBe(DEMO_TENANT.tenantId);
  });

  it('rejects a wrong secret with AADSTS7000215', async () => {
    await expect(demoCredential(sim, 'not-the-secret').getToken(GRAPH_SCOPE)).rejects.toThrow(
      /AADSTS7000215/,
    );
  });

  it('rejects an unknown tenant with AADSTS90002', async () => {
    await expect(
      demoCredential(sim, DEMO_TENANT.clientSecret, randomUUID()).getToken(GRAPH_SCOPE),
    ).rejects.toThrow(/AADSTS90002/);
  });

  it('rejects an app registered in another tenant with AADSTS700016', async () => {
    await expect(
      demoCredential(sim, DEMO_TENANT.clientSecret, OTHER_TENANT).getToken(GRAPH_SCOPE),
    ).rejects.toThrow(/AADSTS700016/);
  });

  it('never puts the secret in the error', async () => {
    const secret = 'a-wrong-secret-that-must-not-leak';
    const error = await demoCredential(sim, secret)
      .getToken(GRAPH_SCOPE)
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(error).toBeInstanceOf(Error);
    expect(String((error as Error).message)).not.toContain(secret);
  });
});

describe('ClientCertificateCredential', () => {
  it('gets a token with the registered certificate (PS256 assertion, x5t#S256)', async () => {
    const token = await certCredential(cert.pem).getToken(GRAPH_SCOPE);
    expect(decodePayload(token.token)).toMatchObject({
      appid: CERT_APP,
      appidacr: '2',
      tid: DEMO_TENANT.tenantId,
    });
  });

  it('rejects the registered certificate with a different private key: AADSTS700027', async () => {
    const mismatched = `${cert.certPem.trim()}\n${otherCert.keyPem.trim()}\n`;
    await expect(certCredential(mismatched).getToken(GRAPH_SCOPE)).rejects.toThrow(/AADSTS700027/);
  });

  it('rejects a certificate that is not registered: AADSTS700027', async () => {
    await expect(certCredential(otherCert.pem).getToken(GRAPH_SCOPE)).rejects.toThrow(
      /AADSTS700027.*key was not found/,
    );
  });
});

describe('token endpoint, hand-made assertions', () => {
  const tokenUrl = () => `${sim.url}/${DEMO_TENANT.tenantId}/oauth2/v2.0/token`;

  function assertion(
    claims: Record<string, unknown>,
    header: Record<string, unknown>,
    keyPem = cert.keyPem,
  ): string {
    const enc = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const input = `${enc({ typ: 'JWT', ...header })}.${enc(claims)}`;
    return `${input}.${sign('sha256', Buffer.from(input), createPrivateKey(keyPem)).toString('base64url')}`;
  }

  const x5t = () =>
    createHash('sha1')
      .update(Buffer.from(cert.certPem.replace(/-----[^-]+-----|\s/g, ''), 'base64'))
      .digest('base64url');

  async function postToken(form: Record<string, string>) {
    const res = await fetch(tokenUrl(), {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(form).toString(),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  }

  const baseClaims = () => {
    const now = Math.floor(Date.now() / 1000);
    return { aud: tokenUrl(), iss: CERT_APP, sub: CERT_APP, jti: randomUUID(), nbf: now, exp: now + 600 };
  };

  const form = (clientAssertion: string) => ({
    grant_type: 'client_credentials',
    client_id: CERT_APP,
    scope: GRAPH_SCOPE,
    client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
    client_assertion: clientAssertion,
  });

  it('accepts RS256 with a SHA-1 x5t thumbprint', async () => {
    const res = await postToken(form(assertion(baseClaims(), { alg: 'RS256', x5t: x5t() })));
    expect(res.status).toBe(200);
    expect(res.body.token_type).toBe('Bearer');
  });

  it('rejects a wrong audience (AADSTS50013), an expired assertion (AADSTS700024), iss ≠ client (AADSTS700021)', async () => {
    const wrongAud = await postToken(
      form(
        assertion({ ...baseClaims(), aud: 'https://example.invalid/token' }, { alg: 'RS256', x5t: x5t() }),
      ),
    );
    expect(wrongAud.status).toBe(401);
    expect(wrongAud.body.error).toBe('invalid_client');
    expect(String(wrongAud.body.error_description)).toMatch(/^AADSTS50013:/);

    const past = Math.floor(Date.now() / 1000) - 3600;
    const expired = await postToken(
      form(assertion({ ...baseClaims(), nbf: past - 600, exp: past }, { alg: 'RS256', x5t: x5t() })),
    );
    expect(String(expired.body.error_description)).toMatch(/^AADSTS700024:/);

    const wrongIss = await postToken(
      form(assertion({ ...baseClaims(), iss: DEMO_TENANT.clientId }, { alg: 'RS256', x5t: x5t() })),
    );
    expect(String(wrongIss.body.error_description)).toMatch(/^AADSTS700021:/);
  });

  it('answers the standard error JSON for a missing scope and a non-.default scope', async () => {
    const missing = await postToken({
      grant_type: 'client_credentials',
      client_id: DEMO_TENANT.clientId,
      client_secret: 'x',
    });
    expect(missing.status).toBe(400);
    expect(missing.body).toMatchObject({ error: 'invalid_request', error_codes: [900144] });
    expect(typeof missing.body.correlation_id).toBe('string');
    const bad = await postToken({
      grant_type: 'client_credentials',
      client_id: DEMO_TENANT.clientId,
      client_secret: DEMO_TENANT.clientSecret,
      scope: 'https://graph.microsoft.com/Mail.Read',
    });
    expect(bad.body).toMatchObject({ error: 'invalid_scope', error_codes: [1002012] });
  });
});

describe('Graph authentication and TLS', () => {
  it('answers 401 InvalidAuthenticationToken without a token or with a forged one', async () => {
    const none = await graph(sim, undefined, 'GET', `/users/${DEMO_TENANT.users[0].id}`);
    expect(none.status).toBe(401);
    expect(none.body.error.code).toBe('InvalidAuthenticationToken');
    const real = (await demoCredential(sim).getToken(GRAPH_SCOPE)).token;
    const [h, p] = real.split('.');
    const forged = await graph(
      sim,
      `${h}.${p}.${Buffer.from('nope').toString('base64url')}`,
      'GET',
      `/users/${DEMO_TENANT.users[0].id}`,
    );
    expect(forged.status).toBe(401);
  });

  it('serves a certificate that only the simulator CA makes trusted', async () => {
    const attempt = (ca: string[]) =>
      new Promise<string>((resolve) => {
        const req = request(`${sim.url}/_simulator/health`, { ca, agent: false }, (res) => {
          res.resume();
          resolve(`status ${res.statusCode}`);
        });
        req.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
        req.end();
      });
    expect(await attempt([...rootCertificates])).toMatch(/CERT|SIGNATURE|ISSUER/);
    expect(await attempt([...rootCertificates, sim.caCertificatePem])).toBe('status 200');
  });
});
