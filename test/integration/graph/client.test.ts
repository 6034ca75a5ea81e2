/**
 * shared/graph's client against the Graph simulator, with the REAL credentials from shared/auth:
 * tokens (secret, certificate, wrong secret), the SDK middleware's retries, 403 mapping and
 * refusing links to other hosts. `$batch` is in batch.test.ts.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createGraphCredential } from '../../../shared/auth/index.js';
import {
  FORBIDDEN_CONSENT,
  GraphRequestError,
  createGraphClient,
  forbiddenReason,
  getMessage,
} from '../../../shared/graph/index.js';
import { DEMO_TENANT, type GraphSimulator } from '../../../dev/sim/graph/index.js';
import { demoClient, routeCount, selfSignedCertificate } from './helpers.js';
import { startTrustedSimulator } from '../../support/graph-sim.js';

const ADELE = DEMO_TENANT.users[0];
const CERT_APP = '3f1c2b7a-6d5e-4c3b-9a8f-7e6d5c4b3a21';
const NO_CONSENT_APP = '8a7b6c5d-4e3f-4a1b-8c9d-0e1f2a3b4c5d';
const NO_CONSENT_SECRET = 'no-consent-app-secret';

let sim: GraphSimulator;
let messageIds: string[];

beforeAll(async () => {
  sim = await startTrustedSimulator();
  messageIds = Array.from(
    { length: 5 },
    (_, i) => sim.deliverMail(ADELE.mail, { subject: `Mail ${i + 1}` }).messageId,
  );
  // Registered, but admin consent for Mail.Read was never granted.
  sim.addApplication(DEMO_TENANT.tenantId, {
    clientId: NO_CONSENT_APP,
    secret: NO_CONSENT_SECRET,
    roles: ['User.Read.All'],
  });
});

afterEach(() => {
  sim.faults.clear();
});

afterAll(async () => {
  await sim?.stop();
});

async function rejection(promise: Promise<unknown>): Promise<GraphRequestError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(GraphRequestError);
    return error as GraphRequestError;
  }
  throw new Error('expected a GraphRequestError');
}

describe('authentication', () => {
  it('gets a token with a client secret and reads a message', async () => {
    const tokensBefore = sim.stats().tokensIssued;
    const message = await getMessage(demoClient(sim), ADELE.id, messageIds[0] ?? '');
    expect(message).toMatchObject({ id: messageIds[0], subject: 'Mail 1', isRead: false });
    expect(Object.keys(message ?? {})).not.toContain('body'); // $select honoured
    expect(sim.stats().tokensIssued).toBe(tokensBefore + 1);
  });

  it('gets a token with a client certificate registered in the tenant', async () => {
    const cert = selfSignedCertificate('mail-push-graph-test');
    sim.addApplication(DEMO_TENANT.tenantId, { clientId: CERT_APP, certificatePem: cert.certPem });
    const credential = createGraphCredential({
      tenant: DEMO_TENANT.tenantId,
      clientId: CERT_APP,
      authorityHost: sim.url,
      certificate: { pem: cert.pem },
    });
    const client = createGraphClient({ credential, graphEndpoint: sim.url });
    const message = await getMessage(client, ADELE.id, messageIds[1] ?? '', ['subject']);
    expect(message).toMatchObject({ id: messageIds[1], subject: 'Mail 2' });
  });

  it('reports a wrong secret with the AADSTS code and never the secret', async () => {
    const secret = `wrong-${randomUUID()}`;
    const error = await rejection(getMessage(demoClient(sim, { secret }), ADELE.id, messageIds[0] ?? ''));
    expect(error.status).toBe(0);
    expect(error.message).toMatch(/AADSTS7000215/);
    expect(error.message).not.toContain(secret);
    expect(JSON.stringify(error)).not.toContain(secret);
    expect(String(error.stack)).not.toContain(secret);
  });
});

describe('retries in the SDK middleware', () => {
  it('retries a 429 after its Retry-After and succeeds', async () => {
    sim.faults.injectStatus({ method: 'GET', pathIncludes: '/messages/' }, 429, {
      times: 2,
      retryAfterSeconds: 1,
    });
    const throttledBefore = sim.stats().throttled;
    const started = Date.now();
    const message = await getMessage(demoClient(sim), ADELE.id, messageIds[2] ?? '');
    expect(message?.subject).toBe('Mail 3');
    expect(sim.stats().throttled - throttledBefore).toBe(2);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1900);
  });

  it('does not retry before a Retry-After longer than maxDelaySeconds: the 429 surfaces with retryAfterMs', async () => {
    sim.faults.injectStatus({ method: 'GET', pathIncludes: '/messages/' }, 429, {
      times: 1,
      retryAfterSeconds: 90,
    });
    const before = routeCount(sim, 'GET /v1.0/users/{id}/messages/{id}');
    const client = demoClient(sim, { retry: { maxDelaySeconds: 5 } });
    const error = await rejection(getMessage(client, ADELE.id, messageIds[0] ?? ''));
    expect(error).toMatchObject({
      status: 429,
      graphCode: 'TooManyRequests',
      retryAfterMs: 90_000,
      retryable: true,
    });
    expect(routeCount(sim, 'GET /v1.0/users/{id}/messages/{id}') - before).toBe(1);
  });

  it('gives up after maxRetries', async () => {
    sim.faults.injectStatus({ method: 'GET', pathIncludes: '/messages/' }, 503, { times: 5 });
    const before = routeCount(sim, 'GET /v1.0/users/{id}/messages/{id}');
    const client = demoClient(sim, { retry: { maxRetries: 1, delaySeconds: 0.05 } });
    const error = await rejection(getMessage(client, ADELE.id, messageIds[0] ?? ''));
    expect(error).toMatchObject({ status: 503, graphCode: 'ServiceUnavailable', retryable: true });
    expect(routeCount(sim, 'GET /v1.0/users/{id}/messages/{id}') - before).toBe(2);
  });
});

describe('errors', () => {
  it('maps a 403 to an actionable reason (no admin consent for Mail.Read)', async () => {
    const credential = createGraphCredential({
      tenant: DEMO_TENANT.tenantId,
      clientId: NO_CONSENT_APP,
      authorityHost: sim.url,
      secret: NO_CONSENT_SECRET,
    });
    const client = createGraphClient({ credential, graphEndpoint: sim.url });
    const error = await rejection(getMessage(client, ADELE.id, messageIds[0] ?? ''));
    expect(error).toMatchObject({ status: 403, graphCode: 'ErrorAccessDenied' });
    expect(forbiddenReason(error)).toBe(FORBIDDEN_CONSENT);
    expect(error.message).toContain('admin consent for the Mail.Read application permission');
    expect(error.requestId).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('answers undefined for a message that is gone (404)', async () => {
    expect(await getMessage(demoClient(sim), ADELE.id, 'AAMkAGI2TG93AAA=')).toBeUndefined();
  });

  it('refuses to follow a link to another host with the token', async () => {
    const error = await rejection(
      demoClient(sim).request({ method: 'GET', path: 'https://graph.example.net/v1.0/users?$skiptoken=abc' }),
    );
    expect(error.graphCode).toBe('UnexpectedUrl');
    expect(error.message).not.toContain('skiptoken');
  });
});
