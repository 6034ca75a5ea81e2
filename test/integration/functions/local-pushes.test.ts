import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_DEVICE_ID, type LocalHost } from '../../../dev/local/host.js';
import { startTestHost } from '../../support/test-host.js';
import type { LocalPushRecord } from '../../../shared/push/index.js';
import { DEMO_TENANT } from '../../../dev/sim/graph/demo.js';

/**
 * What `npm start` offers a person: the simulated tenant's users enrolled with a device each at the
 * local sink, so a mail delivered in the simulated tenant shows up at `GET /local/pushes`. Goes
 * through everything: simulator → webhook → AMQP stand-in → queue trigger → Graph fetch → sink.
 */
let host: LocalHost;
const [adele, alex] = DEMO_TENANT.users;

interface PushesAnswer {
  count: number;
  returned: number;
  file?: string;
  pushes: LocalPushRecord[];
}

beforeAll(async () => {
  host = await startTestHost({
    seedDemo: true,
    localPushSink: true,
  });
}, 60_000);

afterAll(async () => {
  await host?.stop();
});

async function getPushes(query = ''): Promise<PushesAnswer> {
  const res = await fetch(`${host.url}/local/pushes${query}`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/application\/json/);
  return (await res.json()) as PushesAnswer;
}

async function waitForPush(messageId: string, timeoutMs = 20_000): Promise<PushesAnswer> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const answer = await getPushes();
    if (answer.pushes.some((p) => p.content.data.messageId === messageId)) return answer;
    if (Date.now() > deadline) throw new Error(`no push for ${messageId}: ${JSON.stringify(answer)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('npm start seeding', () => {
  it('registers one device per simulated user', async () => {
    for (const user of DEMO_TENANT.users) {
      const devices = await host.services.devices.listDevices(user.mail);
      expect(devices.map((d) => [d.deviceId, d.userObjectId])).toEqual([[DEMO_DEVICE_ID, user.id]]);
      const mailbox = await host.services.mailboxes.getMailbox(user.mail);
      expect(mailbox?.subscriptionId).toBeDefined();
    }
  });
});

describe('GET /local/pushes', () => {
  it('starts empty', async () => {
    const answer = await getPushes();
    expect(answer).toMatchObject({ count: 0, returned: 0, pushes: [] });
    expect(answer.file).toMatch(/pushes-[0-9a-f]+\.jsonl$/);
  });

  it('shows the push for a mail delivered in the simulated tenant', async () => {
    const { messageId } = host.graphSimulator!.deliverMail(adele.mail, {
      subject: 'Quarterly numbers',
      from: { name: 'Megan Bowen', address: 'megan.bowen@contoso.example' },
      bodyPreview: 'See attached.',
    });
    const answer = await waitForPush(messageId);
    const push = answer.pushes.find((p) => p.content.data.messageId === messageId)!;
    expect(push).toMatchObject({
      mailbox: adele.mail,
      deviceId: DEMO_DEVICE_ID,
      platform: 'apns',
      outcome: 'sent',
    });
    // DEFAULT_PRIVACY_MODE is `subject`: sender and subject, no preview.
    expect(push.content.title).toBe('Megan Bowen');
    expect(push.content.body).toBe('Quarterly numbers');
    expect(push.tokenHint).toMatch(/^…[0-9a-f]{4}$/);
    expect(answer.count).toBe(1);
  });

  it('lists the most recent pushes newest last, with limit and mailbox filters', async () => {
    const first = host.graphSimulator!.deliverMail(alex.mail, { subject: 'one' });
    await waitForPush(first.messageId);
    const second = host.graphSimulator!.deliverMail(alex.mail, { subject: 'two' });
    await waitForPush(second.messageId);

    const all = await getPushes();
    expect(all.count).toBe(3);
    expect(all.pushes.map((p) => p.seq)).toEqual([1, 2, 3]);
    expect(all.pushes.at(-1)?.content.data.messageId).toBe(second.messageId);

    const latest = await getPushes('?limit=1');
    expect(latest).toMatchObject({ count: 3, returned: 1 });
    expect(latest.pushes[0]?.content.data.messageId).toBe(second.messageId);

    const alexOnly = await getPushes(`?mailbox=${encodeURIComponent(alex.mail)}`);
    expect(alexOnly.pushes.map((p) => p.content.body)).toEqual(['one', 'two']);

    expect((await fetch(`${host.url}/local/pushes?limit=0`)).status).toBe(400);
  });
});
