/** The local sink (memory ring + JSON-lines file) and createPushProvider's choice of provider. */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { DeviceRecord, PushContent } from '../../../shared/domain/ports.js';
import { LocalSinkPushProvider, type LocalPushRecord } from '../../../shared/push/local-sink.js';
import { NotificationHubsPushProvider } from '../../../shared/push/notification-hubs.js';
import { createPushProvider } from '../../../shared/push/settings.js';
import { SignedWebhookPushProvider } from '../../../shared/push/gateway.js';

function device(deviceId: string, token: string, mailboxEmail = 'adele.vance@contoso.example'): DeviceRecord {
  return {
    mailboxEmail,
    deviceId,
    platform: 'apns',
    token,
    userObjectId: '2f4c6a1e-6a43-4b8e-9d61-0d3c2a7b9e10',
    createdAt: '2026-01-01T00:00:00.000Z',
    updatedAt: '2026-01-01T00:00:00.000Z',
  };
}

const CONTENT: PushContent = {
  title: 'Megan Bowen',
  body: 'Lunch?',
  data: { mailbox: 'adele.vance@contoso.example', messageId: 'AAMk-1' },
  threadId: 'mailbox-adele',
};

let dir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'push-sink-'));
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('LocalSinkPushProvider', () => {
  it('records each push in memory and as a JSON line, with only a hint of the token', async () => {
    const file = join(dir, 'nested', 'pushes.jsonl');
    const sink = new LocalSinkPushProvider({ filePath: file, now: () => Date.parse('2026-03-01T08:00:00Z') });

    const outcomes = await sink.send(
      [device('iphone-1', 'secret-token-aaaa1111'), device('ipad-2', 'invalid-ipad-token')],
      CONTENT,
    );

    expect(outcomes).toEqual([
      { deviceId: 'iphone-1', outcome: 'sent' },
      { deviceId: 'ipad-2', outcome: 'invalid_token', detail: expect.stringContaining('invalid-') },
    ]);
    expect(sink.count()).toBe(2);
    expect(sink.list({ outcome: 'sent' }).map((r) => r.deviceId)).toEqual(['iphone-1']);
    const lines = readFileSync(file, 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as LocalPushRecord);
    expect(lines).toEqual(sink.list());
    expect(lines[0]).toMatchObject({
      seq: 1,
      at: '2026-03-01T08:00:00.000Z',
      mailbox: 'adele.vance@contoso.example',
      deviceId: 'iphone-1',
      tokenHint: '…1111',
      outcome: 'sent',
      content: CONTENT,
    });
    expect(readFileSync(file, 'utf8')).not.toContain('secret-token');
    expect(sink.fileError).toBeUndefined();
  });

  it('keeps only the last pushes in memory but counts them all; clear() starts over', async () => {
    const sink = new LocalSinkPushProvider({ capacity: 3 });
    for (let i = 1; i <= 5; i++) {
      await sink.send([device(`phone-${i}`, `token-${i}-0000`)], { ...CONTENT, title: `mail ${i}` });
    }
    expect(sink.count()).toBe(5);
    expect(sink.list().map((r) => r.content.title)).toEqual(['mail 3', 'mail 4', 'mail 5']);
    expect(sink.list({ mailbox: 'ADELE.VANCE@contoso.example' })).toHaveLength(3);
    expect(sink.list({ mailbox: 'alex.wilber@contoso.example' })).toEqual([]);

    sink.clear();
    expect(sink.count()).toBe(0);
    expect(sink.list()).toEqual([]);
  });

  it('keeps working in memory when the file cannot be written, and says why', async () => {
    const blocker = join(dir, 'not-a-directory');
    const sink = new LocalSinkPushProvider({ filePath: blocker });
    await sink.send([device('iphone-1', 'token-1111')], CONTENT);
    const broken = new LocalSinkPushProvider({ filePath: join(blocker, 'pushes.jsonl') });

    const outcomes = await broken.send([device('iphone-1', 'token-1111')], CONTENT);

    expect(outcomes).toEqual([{ deviceId: 'iphone-1', outcome: 'sent' }]);
    expect(broken.count()).toBe(1);
    expect(broken.fileError).toMatch(/ENOTDIR|EEXIST/);
  });

  it('remembers registered devices until they are unregistered', async () => {
    const sink = new LocalSinkPushProvider();
    const phone = device('iphone-1', 'token-1111');
    await sink.registerDevice(phone);
    expect(sink.devices().map((d) => d.deviceId)).toEqual(['iphone-1']);
    await sink.unregisterDevice(phone);
    expect(sink.devices()).toEqual([]);
  });
});

describe('createPushProvider', () => {
  it('builds the provider the settings name', () => {
    const local = createPushProvider({ provider: 'local', localSinkFile: join(dir, 'p.jsonl') });
    expect(local).toBeInstanceOf(LocalSinkPushProvider);
    expect((local as LocalSinkPushProvider).filePath).toBe(join(dir, 'p.jsonl'));

    const webhook = createPushProvider({
      provider: 'webhook',
      webhook: { url: 'https://push.contoso.example/mail', secret: 's'.repeat(32) },
    });
    expect(webhook).toBeInstanceOf(SignedWebhookPushProvider);
    expect(webhook.name).toBe('webhook');

    const hubs = createPushProvider({
      provider: 'notification-hubs',
      notificationHubs: {
        connectionString: `Endpoint=sb://contoso-push.servicebus.windows.net/;SharedAccessKeyName=DefaultFullSharedAccessSignature;SharedAccessKey=${Buffer.alloc(32).toString('base64')}`,
        hubName: 'mailpush',
      },
    });
    expect(hubs).toBeInstanceOf(NotificationHubsPushProvider);
    expect(hubs.name).toBe('notification-hubs');
  });
});
