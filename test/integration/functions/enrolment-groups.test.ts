import { afterAll, describe, expect, it } from 'vitest';
import type { LocalHost } from '../../../dev/local/host.js';
import { DEMO_TENANT } from '../../../dev/sim/graph/demo.js';
import { runMaintenance } from '../../../shared/app/maintenance.js';
import { startTestHost } from '../../support/test-host.js';

/**
 * Enrolment by Entra group (member delta each maintenance run) and self-service enrolment on
 * device registration, against the simulated tenant's groups, over the wire.
 */
const GROUP = '6f1b1f4e-7a57-4b1e-9a53-1f0c0de00001';
const [adele, alex, megan, lee, nestor] = DEMO_TENANT.users;
const hosts: LocalHost[] = [];

afterAll(async () => {
  for (const host of hosts) await host.stop();
});

async function start(env: Record<string, string>): Promise<LocalHost> {
  const host = await startTestHost({ startQueueTriggers: false, env });
  hosts.push(host);
  return host;
}

const maintenance = (host: LocalHost) => runMaintenance(host.services, () => {});

function registerDevice(host: LocalHost, token: string) {
  return fetch(`${host.url}/api/devices`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ deviceId: 'phone-1', platform: 'apns', token: 'ab'.repeat(32) }),
  });
}

describe('ENROLMENT_GROUP_IDS, leavers flagged (ENROLMENT_GROUP_REMOVE off)', () => {
  it('enrols members each run, flags leavers, and self-service (groups) only serves members', async () => {
    const host = await start({
      ENROLMENT_GROUP_IDS: GROUP,
      ENROL_ON_DEVICE_REGISTRATION: 'groups',
    });
    const sim = host.graphSimulator!;
    sim.addGroup(DEMO_TENANT.tenantId, {
      id: GROUP,
      displayName: 'Mobile mail',
      members: [alex.id, megan.id],
    });

    const first = await maintenance(host);
    expect(first.groups).toMatchObject({ groups: 1, enrolled: 2, joined: 2, left: 0 });
    expect(first.mailboxes).toMatchObject({ created: 2 });
    for (const user of [alex, megan]) {
      expect(await host.services.mailboxes.getMailbox(user.mail)).toMatchObject({
        state: 'active',
        source: 'group',
        groups: GROUP,
        userId: user.id,
      });
    }

    sim.removeGroupMembers(GROUP, [megan.id]);
    sim.addGroupMembers(GROUP, [lee.id]);
    const second = await maintenance(host);
    expect(second.groups).toMatchObject({ enrolled: 1, joined: 1, left: 1, flagged: 1, unenrolled: 0 });
    const flagged = await host.services.mailboxes.getMailbox(megan.mail);
    expect(flagged?.state).toBe('active');
    expect(typeof flagged?.groupsLeftAt).toBe('string');
    expect((await host.services.mailboxes.getMailbox(lee.mail))?.state).toBe('active');

    // Nothing changed: a third run reads an empty delta.
    const third = await maintenance(host);
    expect(third.groups).toMatchObject({ enrolled: 0, joined: 0, left: 0 });

    // Self-service in `groups` mode: a non-member gets the usual 403 and nothing is enrolled.
    const outsider = await host.entraIssuer!.mint({ objectId: nestor.id, upn: nestor.mail });
    expect((await registerDevice(host, outsider)).status).toBe(403);
    expect(await host.services.mailboxes.getMailbox(nestor.mail)).toBeUndefined();
  });
});

describe('ENROLMENT_GROUP_REMOVE on, self-service for all', () => {
  it('unenrols a member who left every group (its Graph subscription too); a device registration enrols a new user', async () => {
    const host = await start({
      ENROLMENT_GROUP_IDS: GROUP,
      ENROLMENT_GROUP_REMOVE: 'true',
      ENROL_ON_DEVICE_REGISTRATION: 'all',
    });
    const sim = host.graphSimulator!;
    sim.addGroup(DEMO_TENANT.tenantId, { id: GROUP, displayName: 'Mobile mail', members: [alex.id] });
    await maintenance(host);
    expect((await host.services.mailboxes.getMailbox(alex.mail))?.state).toBe('active');
    expect(sim.subscriptionCounts().byUser[alex.id]).toBe(1);

    sim.removeGroupMembers(GROUP, [alex.id]);
    const run = await maintenance(host);
    expect(run.groups).toMatchObject({ left: 1, unenrolled: 1 });
    expect(await host.services.mailboxes.getMailbox(alex.mail)).toBeUndefined();
    expect(sim.subscriptionCounts().byUser[alex.id] ?? 0).toBe(0);

    // Self-service: adele has no mailbox; her device registration enrols her (pending), then the
    // timer gives her a subscription.
    const token = await host.entraIssuer!.mint({ objectId: adele.id, upn: adele.mail });
    const res = await registerDevice(host, token);
    expect(res.status).toBe(201);
    expect(await host.services.mailboxes.getMailbox(adele.mail)).toMatchObject({
      state: 'pending',
      source: 'device',
      userId: adele.id,
    });
    await maintenance(host);
    expect((await host.services.mailboxes.getMailbox(adele.mail))?.state).toBe('active');
    expect(sim.subscriptionCounts().duplicates).toBe(0);
  });
});
