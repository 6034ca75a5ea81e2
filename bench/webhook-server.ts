/**
 * Child process of bench/webhook.ts: the webhook under test (the local runner with its real
 * adapters) plus a naive baseline, so their CPU is measured apart from the load generator.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startLocalHost } from '../dev/local/host.js';
import { signClientState } from '../shared/domain/client-state.js';
import { ingestNotifications } from '../shared/domain/ingest.js';
import { CLIENT_STATE_CENSUS, freshCensus } from '../shared/domain/lookup-path.js';
import type { SubscriptionRecord } from '../shared/domain/model.js';
import { createServiceBusClient, ServiceBusNotificationQueue } from '../shared/queue/notification-queue.js';

const SUBSCRIPTIONS = Number(process.env.BENCH_SUBSCRIPTIONS ?? 1000);
/** What public samples do before acknowledging: fetch the message from Graph (~100 ms). */
const NAIVE_FETCH_MS = 100;

const host = await startLocalHost({
  port: 0,
  quiet: true,
  log: () => {},
  startTimers: false,
  startQueueTriggers: false,
});
const tenantId = randomUUID();
// With CLIENT_STATE_KEYS (bench/webhook.ts sets one unless BENCH_SIGNED=0), subscriptions carry
// signed clientStates, as the product creates them then.
const keys = host.services.settings.clientStateKeys;
const subscriptions: SubscriptionRecord[] = Array.from({ length: SUBSCRIPTIONS }, (_, i) => {
  const userId = randomUUID();
  return {
    subscriptionId: randomUUID(),
    mailboxEmail: `user${i}@contoso.example`,
    userId,
    tenantId,
    clientState: keys
      ? signClientState(keys, { tenantId, userId }, randomBytes)
      : randomBytes(32).toString('base64url'),
    resource: `users/${userId}/mailFolders('Inbox')/messages`,
    expiresAt: new Date(Date.now() + 3 * 24 * 3600_000).toISOString(),
    createdAt: new Date().toISOString(),
  };
});
for (let i = 0; i < subscriptions.length; i += 50) {
  await Promise.all(
    subscriptions.slice(i, i + 50).map((s) => host.services.subscriptions.insertSubscription(s)),
  );
}

// Table Storage reads of the webhook's subscription lookup (its cache reads through this store):
// what a flood of forged notifications costs the storage account the real ones need.
const store = host.services.subscriptions;
const readSubscription = store.getSubscription.bind(store);
let subscriptionReads = 0;
store.getSubscription = (subscriptionId) => {
  subscriptionReads++;
  return readSubscription(subscriptionId);
};
// The other storage request the webhook can make: the lookup-path census (control table).
const control = host.services.control;
const readControl = control.get.bind(control);
control.get = <T>(name: string) => {
  subscriptionReads++;
  return readControl<T>(name);
};
// With keys, as a deployment whose census found no old-style subscription left (the bench
// creates none): the lookup path is off. BENCH_LOOKUP_PATH=on keeps it on.
if (keys && process.env.BENCH_LOOKUP_PATH !== 'on') {
  await readControl(CLIENT_STATE_CENSUS); // the table exists
  await control.put(CLIENT_STATE_CENSUS, {
    ...freshCensus(Date.now()),
    lookupPath: 'off',
    offSince: new Date().toISOString(),
  });
}

// Naive baseline: validate, then fetch each message (simulated) before answering, enqueueing one by one.
const naiveClient = createServiceBusClient({ connectionString: host.env.ServiceBusConnection! });
const naiveSender = new ServiceBusNotificationQueue(
  naiveClient,
  host.env.NOTIFICATION_QUEUE_NAME ?? 'mail-notifications',
);
const naive = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    void (async () => {
      try {
        const body: unknown = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        await ingestNotifications(body, 'change', {
          subscriptions: host.services.subscriptionLookup,
          now: () => new Date(),
          queue: {
            enqueue: async (messages) => {
              for (const message of messages) {
                await new Promise((r) => setTimeout(r, NAIVE_FETCH_MS));
                await naiveSender.enqueue([message]);
              }
            },
          },
        });
        res.writeHead(202).end();
      } catch {
        res.writeHead(500).end();
      }
    })();
  });
});
await new Promise<void>((resolve) => naive.listen(0, '127.0.0.1', resolve));

process.on('message', (message: { type: string }) => {
  if (message.type === 'cpu') process.send?.({ type: 'cpu', usage: process.cpuUsage() });
  if (message.type === 'reads') process.send?.({ type: 'reads', reads: subscriptionReads });
  if (message.type === 'stop') {
    naive.close();
    void naiveSender
      .close()
      .then(() => naiveClient.close())
      .then(() => host.stop())
      .then(() => process.exit(0));
  }
});
process.send?.({
  type: 'ready',
  url: host.url,
  naiveUrl: `http://127.0.0.1:${(naive.address() as AddressInfo).port}`,
  signingKeyId: keys?.signingKeyId,
  subscriptions: subscriptions.map(({ subscriptionId, userId, clientState, tenantId: t }) => ({
    subscriptionId,
    userId,
    clientState,
    tenantId: t,
  })),
});
