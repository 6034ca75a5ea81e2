/**
 * sendMail (the connectivity test's test mail) delivering through the simulator's notification
 * path, and what crash-safe enrolment needs from subscriptions: listing without clientState,
 * DELETE, and per-mailbox counts to assert "no duplicates".
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  DEFAULT_APP_ROLES,
  DEMO_TENANT,
  MAIL_ACCESS_DENIED_MESSAGE,
  MAILBOX_NOT_ENABLED_MESSAGE,
  generatedUser,
  type GraphSimulator,
} from '../../../dev/sim/graph/index.js';
import {
  answerHandshake,
  demoToken,
  graph,
  inboxResource,
  startWebhook,
  subscriptionBody,
  type Webhook,
} from './helpers.js';
import { startTrustedSimulator } from '../../support/graph-sim.js';

const ADELE = DEMO_TENANT.users[0];
const ALEX = DEMO_TENANT.users[1];
const ON_PREMISES = generatedUser(10);

let sim: GraphSimulator;
let webhook: Webhook;
let token: string;

beforeAll(async () => {
  sim = await startTrustedSimulator({
    generatedUsers: 10,
    notificationRetry: { initialDelayMs: 20, maxAttempts: 3 },
  });
  webhook = await startWebhook();
  token = await demoToken(sim);
});

afterEach(() => {
  webhook.respond(answerHandshake);
  for (const s of sim.subscriptions()) sim.expireSubscription(s.id);
  webhook.requests.length = 0;
  sim.setPermissions(DEMO_TENANT.tenantId, DEMO_TENANT.clientId, DEFAULT_APP_ROLES);
  sim.faults.clear();
});

afterAll(async () => {
  await sim?.stop();
  await webhook?.close();
});

async function until<T>(probe: () => T | undefined, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}

const testMail = (to: string[], subject = 'Mail push connectivity test') => ({
  message: {
    subject,
    body: { contentType: 'Text', content: 'Sent by the connectivity test.' },
    toRecipients: to.map((address) => ({ emailAddress: { address } })),
  },
  saveToSentItems: false,
});

describe('POST /users/{id}/sendMail', () => {
  it('answers 202 and delivers to the recipient Inbox, which notifies its subscribers', async () => {
    const created = await graph(
      sim,
      token,
      'POST',
      '/subscriptions',
      subscriptionBody(ADELE.id, webhook.url),
    );
    expect(created.status).toBe(201);
    webhook.requests.length = 0;

    const sent = await graph(
      sim,
      token,
      'POST',
      `/users/${ALEX.id}/sendMail`,
      testMail([ADELE.mail, 'someone@fabrikam.example']),
    );
    expect(sent.status).toBe(202);
    expect(sent.body).toBeUndefined();

    const stored = sim.messages(ADELE.mail).find((m) => m.subject === 'Mail push connectivity test');
    expect(stored?.from).toEqual({ name: ALEX.displayName, address: ALEX.mail });
    const posted = await until(() => webhook.notifications()[0]);
    const item = (posted.body as { value: { subscriptionId: string; resourceData: { id: string } }[] })
      .value[0];
    expect(item?.subscriptionId).toBe(created.body.id);
    expect(item?.resourceData.id).toBe(stored?.id);
  });

  it('works from the mailbox to itself (the usual test mail)', async () => {
    const sent = await graph(
      sim,
      token,
      'POST',
      `/users/${encodeURIComponent(ALEX.mail)}/sendMail`,
      testMail([ALEX.mail], 'self'),
    );
    expect(sent.status).toBe(202);
    expect(sim.messages(ALEX.id).some((m) => m.subject === 'self')).toBe(true);
  });

  it('needs Mail.Send: 403 ErrorAccessDenied, nothing delivered', async () => {
    sim.setPermissions(DEMO_TENANT.tenantId, DEMO_TENANT.clientId, ['Mail.Read', 'User.Read.All']);
    const before = sim.messages(ADELE.id).length;
    const denied = await graph(sim, token, 'POST', `/users/${ALEX.id}/sendMail`, testMail([ADELE.mail]));
    expect(denied.status).toBe(403);
    expect(denied.body.error).toMatchObject({
      code: 'ErrorAccessDenied',
      message: MAIL_ACCESS_DENIED_MESSAGE,
    });
    expect(sim.messages(ADELE.id)).toHaveLength(before);
  });

  it('the sender needs an Exchange Online mailbox; recipients need a valid address', async () => {
    const onPrem = await graph(
      sim,
      token,
      'POST',
      `/users/${ON_PREMISES.id}/sendMail`,
      testMail([ADELE.mail]),
    );
    expect(onPrem.status).toBe(404);
    expect(onPrem.body.error).toMatchObject({
      code: 'MailboxNotEnabledForRESTAPI',
      message: MAILBOX_NOT_ENABLED_MESSAGE,
    });
    const none = await graph(sim, token, 'POST', `/users/${ALEX.id}/sendMail`, testMail([]));
    expect(none.status).toBe(400);
    expect(none.body.error.code).toBe('ErrorInvalidRecipients');
    const noMessage = await graph(sim, token, 'POST', `/users/${ALEX.id}/sendMail`, {
      saveToSentItems: false,
    });
    expect(noMessage.status).toBe(400);
    // To an on-premises recipient: accepted (Exchange routes it on premises), nothing in the simulator.
    expect(
      (await graph(sim, token, 'POST', `/users/${ALEX.id}/sendMail`, testMail([ON_PREMISES.mail]))).status,
    ).toBe(202);
  });

  it('works as a $batch member and takes injected 429s', async () => {
    sim.faults.injectStatus({ pathIncludes: '/sendMail' }, 429, { retryAfterSeconds: 4 });
    const throttled = await graph(sim, token, 'POST', `/users/${ALEX.id}/sendMail`, testMail([ADELE.mail]));
    expect(throttled.status).toBe(429);
    expect(throttled.headers.get('retry-after')).toBe('4');
    const batch = await graph(sim, token, 'POST', '/$batch', {
      requests: [
        {
          id: '1',
          method: 'POST',
          url: `/users/${ALEX.id}/sendMail`,
          headers: { 'Content-Type': 'application/json' },
          body: testMail([ADELE.mail], 'batched'),
        },
      ],
    });
    expect(batch.status).toBe(200);
    expect(batch.body.responses[0].status).toBe(202);
    expect(sim.messages(ADELE.id).some((m) => m.subject === 'batched')).toBe(true);
    expect(sim.stats().byRoute['POST /v1.0/users/{id}/sendMail']).toBeGreaterThanOrEqual(2);
  });
});

describe('subscriptions for crash-safe enrolment', () => {
  it('GET /subscriptions finds an existing subscription for a mailbox, without clientState', async () => {
    const created = await graph(
      sim,
      token,
      'POST',
      '/subscriptions',
      subscriptionBody(ADELE.id, webhook.url),
    );
    const listed = await graph(sim, token, 'GET', '/subscriptions');
    expect(listed.status).toBe(200);
    const mine = (listed.body.value as { id: string; resource: string; clientState: unknown }[]).find(
      (s) => s.resource === inboxResource(ADELE.id),
    );
    expect(mine?.id).toBe(created.body.id);
    expect(mine?.clientState).toBeNull();
  });

  it('DELETE /subscriptions/{id}: 204, then 404', async () => {
    const created = await graph(
      sim,
      token,
      'POST',
      '/subscriptions',
      subscriptionBody(ADELE.id, webhook.url),
    );
    const id = created.body.id as string;
    expect((await graph(sim, token, 'DELETE', `/subscriptions/${id}`)).status).toBe(204);
    const again = await graph(sim, token, 'DELETE', `/subscriptions/${id}`);
    expect(again.status).toBe(404);
    expect(again.body.error.code).toBe('ResourceNotFound');
  });

  it('subscriptionCounts exposes per-mailbox counts and duplicates (also over the wire)', async () => {
    expect(sim.subscriptionCounts()).toEqual({ byUser: {}, byResource: [], duplicates: 0 });
    await graph(sim, token, 'POST', '/subscriptions', subscriptionBody(ADELE.id, webhook.url));
    await graph(sim, token, 'POST', '/subscriptions', subscriptionBody(ALEX.id, webhook.url));
    let counts = sim.subscriptionCounts();
    expect(counts.byUser).toEqual({ [ADELE.id]: 1, [ALEX.id]: 1 });
    expect(counts.duplicates).toBe(0);

    // The same resource spelled differently is still the same mailbox resource: a duplicate.
    await graph(sim, token, 'POST', '/subscriptions', {
      ...subscriptionBody(ADELE.mail, webhook.url),
      resource: `/users/${ADELE.id}/mailFolders/inbox/messages`,
    });
    counts = sim.subscriptionCounts();
    expect(counts.byUser[ADELE.id]).toBe(2);
    expect(counts.duplicates).toBe(1);
    expect(counts.byResource.find((r) => r.userId === ADELE.id)).toEqual({
      applicationId: DEMO_TENANT.clientId,
      userId: ADELE.id,
      resource: inboxResource(ADELE.id),
      changeType: 'created',
      count: 2,
    });

    const res = await fetch(`${sim.url}/_simulator/subscription-counts`);
    expect(res.status).toBe(200);
    expect(((await res.json()) as { duplicates: number }).duplicates).toBe(1);
  });

  it('429 can be injected on listing and deletion', async () => {
    sim.faults.injectStatus({ method: 'GET', pathIncludes: '/subscriptions' }, 429, { retryAfterSeconds: 5 });
    const listed = await graph(sim, token, 'GET', '/subscriptions');
    expect(listed.status).toBe(429);
    expect(listed.headers.get('retry-after')).toBe('5');
    expect((await graph(sim, token, 'GET', '/subscriptions')).status).toBe(200);
  });
});
