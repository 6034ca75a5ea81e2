import { describe, expect, it } from 'vitest';
import type { PushContent } from '../../../shared/domain/ports.js';
import { MAX_PAYLOAD_BYTES, buildApnsPayload, buildFcmV1Payload } from '../../../shared/push/payloads.js';

const CONTENT: PushContent = {
  title: 'Megan Bowen',
  body: 'Quarterly numbers are in',
  badge: 4,
  data: { mailbox: 'adele.vance@contoso.example', messageId: 'AAMkAGI2TAAA=' },
  threadId: 'mailbox-adele',
};

const bytes = (value: unknown) => Buffer.byteLength(JSON.stringify(value), 'utf8');

function withoutBadge(content: PushContent): PushContent {
  const copy = { ...content };
  delete copy.badge;
  return copy;
}

describe('buildApnsPayload', () => {
  it('puts the alert, badge, sound, thread and mutable-content in aps and the ids beside it', () => {
    expect(buildApnsPayload(CONTENT)).toEqual({
      aps: {
        alert: { title: 'Megan Bowen', body: 'Quarterly numbers are in' },
        badge: 4,
        sound: 'default',
        'thread-id': 'mailbox-adele',
        'mutable-content': 1,
      },
      mailbox: 'adele.vance@contoso.example',
      messageId: 'AAMkAGI2TAAA=',
    });
  });

  it('leaves the badge out when it is unknown (0 would clear it)', () => {
    expect('badge' in buildApnsPayload(withoutBadge(CONTENT)).aps).toBe(false);
    expect(buildApnsPayload({ ...CONTENT, badge: 0 }).aps.badge).toBe(0);
  });
});

describe('buildFcmV1Payload', () => {
  it('wraps notification, string data and the Android tag in the message envelope', () => {
    expect(buildFcmV1Payload(CONTENT)).toEqual({
      message: {
        notification: { title: 'Megan Bowen', body: 'Quarterly numbers are in' },
        data: { mailbox: 'adele.vance@contoso.example', messageId: 'AAMkAGI2TAAA=' },
        android: { priority: 'high', notification: { tag: 'mailbox-adele', notification_count: 4 } },
      },
    });
    expect(buildFcmV1Payload(withoutBadge(CONTENT)).message.android.notification).toEqual({
      tag: 'mailbox-adele',
    });
  });
});

describe('payload size', () => {
  it.each([
    ['APNs', buildApnsPayload],
    ['FCM v1', buildFcmV1Payload],
  ] as const)('%s: a huge body is shortened with an ellipsis to fit 4 KB', (_name, build) => {
    const huge = { ...CONTENT, body: 'Ünïcödé 😀 '.repeat(1000), title: 'T' };
    const payload = build(huge);
    expect(bytes(payload)).toBeLessThanOrEqual(MAX_PAYLOAD_BYTES);
    const body = JSON.stringify(payload);
    expect(body).toContain('…');
    expect(body).toContain('Ünïcödé 😀');
    // No lone surrogate from cutting an emoji in half.
    expect(body).not.toMatch(/\\ud8[0-9a-f]{2}(?!\\udc)/i);
  });

  it('shortens the title too when the body alone is not enough', () => {
    const payload = buildApnsPayload({ ...CONTENT, title: 'x'.repeat(6000), body: 'y'.repeat(6000) });
    expect(bytes(payload)).toBeLessThanOrEqual(MAX_PAYLOAD_BYTES);
    expect(payload.aps.alert.body).toBe('');
    expect(payload.aps.alert.title.endsWith('…')).toBe(true);
  });

  it('leaves a normal payload untouched', () => {
    expect(buildApnsPayload(CONTENT).aps.alert.body).toBe(CONTENT.body);
  });
});
