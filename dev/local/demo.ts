/**
 * What `npm start` seeds so a person can try the product at once: the demo subscription that
 * requests.http talks about, the simulated tenant's mailboxes with real Graph subscriptions, and a
 * made-up phone per user at the local push sink. Local only.
 */
import { createHash } from 'node:crypto';
import type { Services } from '../../shared/app/services.js';
import { LocalSinkPushProvider } from '../../shared/push/local-sink.js';
import { DEMO_TENANT, generatedUsers } from '../sim/graph/demo.js';

/** Seeds the demo subscription and, with the simulated tenant, its mailboxes and their devices. */
export async function seedDemo(
  services: Services,
  options: { simulatedTenant: boolean; generatedUsers?: number; log: (line: string) => void },
): Promise<void> {
  const { log } = options;
  await seedDemoSubscription(services);
  log(
    `[local] seeded demo subscription ${DEMO_SUBSCRIPTION.subscriptionId} for ${DEMO_SUBSCRIPTION.mailboxEmail} (see requests.http)`,
  );
  if (!options.simulatedTenant) return;
  await enrolDemoMailboxes(services, log);
  if (services.push instanceof LocalSinkPushProvider) {
    // Generated users (LOCAL_SIM_USERS) get a phone too, so a mail to one of them shows a push as
    // soon as it is enrolled or migrated (the device waits for its mailbox).
    const generated = generatedUsers(options.generatedUsers ?? 0).filter(
      (u) => u.mailbox === 'exchangeOnline',
    );
    await registerDemoDevices(services, services.push, [...DEMO_TENANT.users, ...generated], log);
  }
}

/** The subscription requests.http talks about. Local only: its clientState is public. */
export const DEMO_SUBSCRIPTION = {
  subscriptionId: '00000000-0000-4000-8000-00000000d3e0',
  mailboxEmail: 'adele.vance@contoso.example',
  userId: '87d349ed-44d7-43e1-9a83-5f2406dee5bd',
  tenantId: '9188040d-6c67-4c5b-b112-36a304b66dad',
  clientState: 'local-demo-client-state',
  resource: "users/87d349ed-44d7-43e1-9a83-5f2406dee5bd/mailFolders('Inbox')/messages",
} as const;

async function seedDemoSubscription(services: Services): Promise<void> {
  const now = new Date();
  const existing = await services.subscriptions.getSubscription(DEMO_SUBSCRIPTION.subscriptionId);
  if (existing) return;
  await services.subscriptions.insertSubscription({
    ...DEMO_SUBSCRIPTION,
    expiresAt: new Date(now.getTime() + 3 * 24 * 3600_000).toISOString(),
    createdAt: now.toISOString(),
  });
}

/**
 * Enrols the simulated tenant's users: a mailbox row each and a real Graph subscription, created
 * through the simulator, which performs the validation handshake against this host's webhook.
 */
async function enrolDemoMailboxes(services: Services, log: (line: string) => void): Promise<void> {
  const now = new Date().toISOString();
  for (const user of DEMO_TENANT.users) {
    let mailbox = await services.mailboxes.getMailbox(user.mail);
    mailbox ??= await services.mailboxes.insertMailbox({
      email: user.mail,
      userId: user.id,
      tenantId: DEMO_TENANT.tenantId,
      transport: 'graph',
      state: 'pending',
      source: 'demo',
      createdAt: now,
      updatedAt: now,
    });
    if (mailbox.subscriptionId) continue;
    try {
      const subscription = await services.lifecycle.createForMailbox(mailbox);
      log(
        `[local] ${user.mail}: subscription ${subscription.subscriptionId} until ${subscription.expiresAt}`,
      );
    } catch (error) {
      log(`[local] ${user.mail}: could not create a subscription: ${String(error)}`);
    }
  }
}

/** The device `npm start` registers for each demo user, so a delivered mail shows a push at the local sink. */
export const DEMO_DEVICE_ID = 'demo-phone';

/**
 * One device per simulated user, in the devices table and at the local sink (never with a real
 * push service: the tokens are made up). A device the user already has is left alone.
 */
async function registerDemoDevices(
  services: Services,
  sink: LocalSinkPushProvider,
  users: readonly { id: string; mail: string }[],
  log: (line: string) => void,
): Promise<void> {
  const now = new Date().toISOString();
  const registered: string[] = [];
  for (const user of users) {
    const existing = await services.devices.getDevice(user.mail, DEMO_DEVICE_ID);
    const device =
      existing ??
      (await services.devices.upsertDevice({
        mailboxEmail: user.mail,
        deviceId: DEMO_DEVICE_ID,
        platform: 'apns',
        // An APNs-shaped token (64 hex characters) derived from the user id; local only.
        token: createHash('sha256').update(`demo-device:${user.id}`).digest('hex'),
        userObjectId: user.id,
        createdAt: now,
        updatedAt: now,
      }));
    await sink.registerDevice(device);
    registered.push(user.mail);
  }
  const shown =
    registered.length > 6
      ? `${registered.slice(0, 5).join(', ')} and ${registered.length - 5} more`
      : registered.join(', ');
  log(`[local] registered device ${DEMO_DEVICE_ID} (apns) at the local push sink for ${shown}`);
}
