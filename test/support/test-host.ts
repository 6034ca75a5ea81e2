/**
 * The local runner as the integration tests use it: a free port, quiet, no timers (tests run
 * maintenance themselves), tables under a fresh prefix in the suite's Azurite, and the embedded
 * AMQP stand-in, simulated Graph tenant and local token issuer (settings from the developer's
 * environment never leak in).
 */
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inject } from 'vitest';
import { startLocalHost, type LocalHost, type LocalHostOptions } from '../../dev/local/host.js';
import { DEMO_TENANT } from '../../dev/sim/graph/demo.js';
import { recordLogLine } from './secret-scan.js';

export interface TestHostOptions extends Pick<LocalHostOptions, 'startQueueTriggers' | 'seedDemo'> {
  /** Extra settings; `undefined` removes one. */
  env?: Record<string, string | undefined>;
  /** Push through the local sink (recording to a temp file), as `npm start` does. */
  localPushSink?: boolean;
}

export function startTestHost(options: TestHostOptions = {}): Promise<LocalHost> {
  return startLocalHost({
    port: 0,
    quiet: true,
    // Quiet, but every line goes to the secret scan (a no-op when the scan is off).
    log: recordLogLine,
    startTimers: false,
    ...(options.startQueueTriggers !== undefined ? { startQueueTriggers: options.startQueueTriggers } : {}),
    ...(options.seedDemo !== undefined ? { seedDemo: options.seedDemo } : {}),
    env: {
      TABLES_CONNECTION_STRING: inject('tablesConnectionString'),
      TABLE_NAME_PREFIX: `t${randomBytes(5).toString('hex')}`,
      ServiceBusConnection: undefined,
      GRAPH_TENANT_ID: undefined,
      DEVICE_API_AUDIENCE: undefined,
      ...(options.localPushSink
        ? {
            PUSH_PROVIDER: 'local',
            LOCAL_PUSH_SINK_FILE: join(tmpdir(), `pushes-${randomBytes(4).toString('hex')}.jsonl`),
          }
        : {}),
      ...options.env,
    },
  });
}

/**
 * Puts a simulated user into service the short way: the user in the simulated tenant, an `active`
 * mailbox (privacy `full`) with its real Graph subscription (the simulator performs the handshake
 * against the host's webhook), and one FCM phone `phone` in the devices table.
 */
export async function enrolWithPhone(host: LocalHost, user: { id: string; mail: string }): Promise<void> {
  const now = new Date().toISOString();
  host.graphSimulator!.addUser(DEMO_TENANT.tenantId, { id: user.id, mail: user.mail });
  const mailbox = await host.services.mailboxes.insertMailbox({
    email: user.mail,
    userId: user.id,
    tenantId: DEMO_TENANT.tenantId,
    transport: 'graph',
    privacyMode: 'full',
    createdAt: now,
    updatedAt: now,
  });
  await host.services.lifecycle.createForMailbox(mailbox);
  await host.services.devices.upsertDevice({
    mailboxEmail: user.mail,
    deviceId: 'phone',
    platform: 'fcm',
    token: `fcm-${'x'.repeat(140)}-${user.id}`.replace(/[^A-Za-z0-9_:-]/g, '_'),
    userObjectId: user.id,
    createdAt: now,
    updatedAt: now,
  });
}
