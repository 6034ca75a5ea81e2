import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalHost } from '../../../dev/local/host.js';
import { DEMO_TENANT } from '../../../dev/sim/graph/demo.js';
import { runMaintenance } from '../../../shared/app/maintenance.js';
import { clientStateKind } from '../../../shared/domain/client-state.js';
import { ingestNotifications } from '../../../shared/domain/ingest.js';
import {
  CENSUS_CYCLE_MS,
  CLIENT_STATE_CENSUS,
  type ClientStateCensus,
} from '../../../shared/domain/lookup-path.js';
import type { SubscriptionRecord } from '../../../shared/domain/model.js';
import { SubscriptionLifecycle } from '../../../shared/domain/subscription-lifecycle.js';
import { GraphLifecyclePort } from '../../../shared/graph/index.js';
import { enrolWithPhone, startTestHost } from '../../support/test-host.js';

/**
 * The lookup path for old-style clientStates, through the local runner on Azurite and the
 * simulated tenant: an old-style subscription (as created before CLIENT_STATE_KEYS) is looked up
 * and works; the timer renews it, recreates it as v2 and counts it; once a whole census cycle has
 * left none, status says off and forged old-style notifications and forged lifecycle events
 * (whatever their clientState) cost no storage request at all.
 */
const KEYS = `k1:${Buffer.alloc(32, 0x51).toString('base64')}`;
let host: LocalHost;
const user = { id: randomUUID(), mail: 'old.style@contoso.example' };
let legacy: SubscriptionRecord;
/** Table Storage requests the webhook can make: subscription reads and control-document reads. */
const requests = { subscriptions: 0, control: 0 };

beforeAll(async () => {
  host = await startTestHost({
    env: { CLIENT_STATE_KEYS: KEYS, CLIENT_STATE_LOOKUP_REFRESH_SECONDS: '1' },
    startQueueTriggers: false,
  });
  await enrolWithPhone(host, user);
  // A subscription as the product created them before signed clientStates: a random secret.
  const { services } = host;
  const oldLifecycle = new SubscriptionLifecycle({
    now: () => Date.now(),
    newClientState: () => randomBytes(32).toString('base64url'),
    graph: new GraphLifecyclePort(services.graphClients),
    mailboxes: services.mailboxes,
    subscriptions: services.subscriptions,
    schedule: services.renewalSchedule,
    queue: services.queue,
    publicBaseUrl: services.settings.graph.publicBaseUrl,
    resyncWindowMs: services.settings.maintenance.resyncWindowMs,
  });
  const mailbox = await services.mailboxes.getMailbox(user.mail);
  legacy = await oldLifecycle.createForMailbox(mailbox!);
  expect(clientStateKind(legacy.clientState)).toBe('unsigned');
  // Due now and close to its expiry (so not held back to fill a batch): the next timer run
  // renews it, and so sees it.
  await services.renewalSchedule.upsertEntry({
    subscriptionId: legacy.subscriptionId,
    tenantId: legacy.tenantId,
    expiresAt: Date.now() + 30 * 60_000,
    dueAt: Date.now() - 60_000,
    attempts: 0,
  });
  const store = services.subscriptions;
  const read = store.getSubscription.bind(store);
  store.getSubscription = (id) => {
    requests.subscriptions++;
    return read(id);
  };
  const control = services.control;
  const get = control.get.bind(control);
  control.get = <T>(name: string) => {
    requests.control++;
    return get<T>(name);
  };
}, 60_000);

afterAll(async () => {
  await host?.stop();
});

function change(s: Pick<SubscriptionRecord, 'subscriptionId' | 'userId' | 'tenantId'>, clientState: string) {
  const id = `m-${randomUUID()}`;
  return {
    subscriptionId: s.subscriptionId,
    changeType: 'created',
    resource: `Users/${s.userId}/Messages/${id}`,
    resourceData: { '@odata.type': '#Microsoft.Graph.Message', id },
    clientState,
    tenantId: s.tenantId,
  };
}

function lifecycle(subscriptionId: string, clientState: string, event = 'subscriptionRemoved') {
  return {
    subscriptionId,
    subscriptionExpirationDateTime: new Date(Date.now() + 86_400_000).toISOString(),
    tenantId: DEMO_TENANT.tenantId,
    clientState,
    lifecycleEvent: event,
  };
}

/** Old-style and v2-looking forgeries for random subscription ids. */
function forgedFlood(n: number) {
  const shapes = (i: number) =>
    [
      randomBytes(32).toString('base64url'),
      `v1.k1.${randomBytes(16).toString('base64url')}.${randomBytes(32).toString('base64url')}`,
      `v2.k1.${randomUUID()}.${randomBytes(16).toString('base64url')}.${randomBytes(32).toString('base64url')}`,
    ][i % 3]!;
  return {
    changes: Array.from({ length: n }, (_, i) =>
      change(
        { subscriptionId: randomUUID(), userId: randomUUID(), tenantId: DEMO_TENANT.tenantId },
        shapes(i),
      ),
    ),
    lifecycles: Array.from({ length: n }, (_, i) => lifecycle(randomUUID(), shapes(i))),
  };
}

async function post(route: 'notifications' | 'lifecycle', value: unknown[]): Promise<number> {
  const res = await fetch(`${host.url}/api/${route}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ value }),
  });
  return res.status;
}

describe('the lookup path for old-style clientStates', () => {
  it('is on while old-style subscriptions may exist: a genuine old-style notification is looked up and accepted', async () => {
    const status = await host.services.adminApi.status.status();
    expect(status.lookupPath).toMatchObject({ on: true, mode: 'auto', oldStyleSubscriptions: null });
    const before = requests.subscriptions;
    const result = await ingestNotifications(
      { value: [change(legacy, legacy.clientState)] },
      'change',
      host.services.ingest,
    );
    expect(result.accepted).toBe(1);
    expect(requests.subscriptions - before).toBe(1);
    const events = await ingestNotifications(
      { value: [lifecycle(legacy.subscriptionId, legacy.clientState, 'missed')] },
      'lifecycle',
      host.services.ingest,
    );
    expect(events.accepted).toBe(1);
  });

  it('the timer renews the old-style subscription, recreates it as v2 and counts it', async () => {
    const report = await runMaintenance(host.services);
    expect(report.clientStates).toMatchObject({ status: 'counted', upgraded: 1, oldStyle: 0 });
    const mailbox = await host.services.mailboxes.getMailbox(user.mail);
    expect(mailbox?.subscriptionId).not.toBe(legacy.subscriptionId);
    const current = await host.services.subscriptions.getSubscription(mailbox!.subscriptionId!);
    expect(clientStateKind(current?.clientState)).toBe('v2');
    expect(await host.services.subscriptions.getSubscription(legacy.subscriptionId)).toBeUndefined();
    const census = await host.services.control.get<ClientStateCensus>(CLIENT_STATE_CENSUS);
    expect(census?.value).toMatchObject({ lookupPath: 'on', upgraded: 1, oldStyle: 0 });
  }, 60_000);

  it('switches off once a whole cycle has passed with none left, and status says so', async () => {
    // A cycle lasts a subscription lifetime: back-date its start instead of waiting a week.
    const census = await host.services.control.get<ClientStateCensus>(CLIENT_STATE_CENSUS);
    await host.services.control.put(CLIENT_STATE_CENSUS, {
      ...census!.value,
      cycleStartedAt: new Date(Date.now() - CENSUS_CYCLE_MS).toISOString(),
    });
    const report = await runMaintenance(host.services);
    expect(report.clientStates).toMatchObject({ status: 'counted', lookupPath: 'off' });
    const status = await host.services.adminApi.status.status();
    expect(status.lookupPath).toMatchObject({ on: false, oldStyleSubscriptions: 0 });
    // Later runs read nothing for the census any more.
    expect((await runMaintenance(host.services)).clientStates).toEqual({ status: 'off' });
  }, 60_000);

  it('then forged notifications and forged lifecycle events cost no storage request', async () => {
    await new Promise((r) => setTimeout(r, 1_100)); // past the webhook's refresh interval
    // The first old-style item makes each instance read the census once; it reads off, for good.
    expect(await post('lifecycle', [lifecycle(randomUUID(), 'warm-up')])).toBe(202);
    const { changes, lifecycles } = forgedFlood(300);
    const before = { ...requests };
    for (let i = 0; i < 300; i += 100) {
      expect(await post('notifications', changes.slice(i, i + 100))).toBe(202);
      expect(await post('lifecycle', lifecycles.slice(i, i + 100))).toBe(202);
    }
    await new Promise((r) => setTimeout(r, 1_100));
    expect(await post('notifications', changes.slice(0, 50))).toBe(202);
    expect(requests.subscriptions - before.subscriptions).toBe(0);
    expect(requests.control - before.control).toBe(0);
    expect(host.services.lookupPath.readsMade).toBeGreaterThanOrEqual(1);
  });

  it('still accepts the genuine v2 subscription’s notifications (one lookup, for the mailbox)', async () => {
    const mailbox = await host.services.mailboxes.getMailbox(user.mail);
    const current = (await host.services.subscriptions.getSubscription(mailbox!.subscriptionId!))!;
    host.services.subscriptionLookup.forget(current.subscriptionId);
    const result = await ingestNotifications(
      { value: [change(current, current.clientState), change(legacy, legacy.clientState)] },
      'change',
      host.services.ingest,
    );
    expect(result).toMatchObject({ accepted: 1, dropped: { old_client_state: 1 } });
    const events = await ingestNotifications(
      { value: [lifecycle(current.subscriptionId, current.clientState, 'missed')] },
      'lifecycle',
      host.services.ingest,
    );
    expect(events.accepted).toBe(1);
  });
});
