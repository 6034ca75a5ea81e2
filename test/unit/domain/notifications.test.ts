import { describe, expect, it } from 'vitest';
import {
  PayloadError,
  checkAgainstSubscription,
  clientStateMatches,
  dedupKeyFor,
  parseNotificationPayload,
  toQueuedNotification,
  MAX_ITEMS_PER_POST,
} from '../../../shared/domain/notifications.js';
import {
  graphChangeNotification,
  graphLifecycleNotification,
  subscriptionRecord,
} from '../../support/fakes.js';

const sub = subscriptionRecord();

describe('parseNotificationPayload', () => {
  it.each([
    ['null', null],
    ['an array', []],
    ['a string', 'value'],
    ['an object without value', { values: [] }],
    ['value not an array', { value: {} }],
    ['an empty value', { value: [] }],
  ])('rejects %s as a wrong envelope', (_name, body) => {
    expect(() => parseNotificationPayload(body)).toThrow(PayloadError);
  });

  it('rejects more items than one POST may carry', () => {
    const value = Array.from({ length: MAX_ITEMS_PER_POST + 1 }, (_, i) =>
      graphChangeNotification(sub, `m${i}`),
    );
    expect(() => parseNotificationPayload({ value })).toThrow(/at most/);
  });

  it('rejects validationTokens that are not strings', () => {
    expect(() =>
      parseNotificationPayload({ value: [graphChangeNotification(sub, 'm1')], validationTokens: [1] }),
    ).toThrow(/validationTokens/);
  });

  it('parses a Graph message notification', () => {
    const parsed = parseNotificationPayload({ value: [graphChangeNotification(sub, 'AAMkAGI2TG93AAA=')] });
    expect(parsed.malformed).toEqual([]);
    expect(parsed.items).toEqual([
      expect.objectContaining({
        kind: 'change',
        subscriptionId: sub.subscriptionId,
        changeType: 'created',
        messageId: 'AAMkAGI2TG93AAA=',
        resourceUserId: sub.userId,
        clientState: sub.clientState,
      }),
    ]);
  });

  it('takes the message id from the resource when resourceData is absent', () => {
    const item = graphChangeNotification(sub, 'AAMkFromResource');
    delete item.resourceData;
    expect(parseNotificationPayload({ value: [item] }).items[0]).toMatchObject({
      messageId: 'AAMkFromResource',
    });
  });

  it('parses lifecycle notifications', () => {
    const parsed = parseNotificationPayload({ value: [graphLifecycleNotification(sub, 'missed')] });
    expect(parsed.items[0]).toMatchObject({ kind: 'lifecycle', lifecycleEvent: 'missed' });
  });

  it.each([
    ['not an object', 'x'],
    ['no subscriptionId', { ...graphChangeNotification(sub, 'm'), subscriptionId: undefined }],
    ['subscriptionId with a slash', { ...graphChangeNotification(sub, 'm'), subscriptionId: 'a/b' }],
    ['unknown changeType', { ...graphChangeNotification(sub, 'm'), changeType: 'exploded' }],
    ['resource not a message', { ...graphChangeNotification(sub, 'm'), resource: 'Users/x/Events/y' }],
    ['clientState not a string', { ...graphChangeNotification(sub, 'm'), clientState: 42 }],
    ['unknown lifecycle event', graphLifecycleNotification(sub, 'explode')],
    [
      'message id with control characters',
      { ...graphChangeNotification(sub, 'm'), resourceData: { id: 'a\nb' } },
    ],
    ['a <script> tenant id', { ...graphChangeNotification(sub, 'm'), tenantId: '<script>' }],
  ])('counts an item with %s as malformed and keeps the rest', (_name, bad) => {
    const parsed = parseNotificationPayload({ value: [bad, graphChangeNotification(sub, 'ok')] });
    expect(parsed.malformed).toEqual([{ index: 0, problem: expect.any(String) }]);
    expect(parsed.items).toHaveLength(1);
  });
});

describe('clientStateMatches', () => {
  it('matches the same secret only', () => {
    expect(clientStateMatches('secret-a', 'secret-a')).toBe(true);
    expect(clientStateMatches('secret-a', 'secret-b')).toBe(false);
    expect(clientStateMatches('secret-a', 'secret-a ')).toBe(false);
    expect(clientStateMatches('secret-a', undefined)).toBe(false);
    expect(clientStateMatches('secret-a', '')).toBe(false);
  });
  it('refuses values longer than Graph allows', () => {
    const long = 'x'.repeat(129);
    expect(clientStateMatches(long, long)).toBe(false);
  });
});

describe('checkAgainstSubscription', () => {
  const parse = (item: Record<string, unknown>) => parseNotificationPayload({ value: [item] }).items[0]!;
  it('accepts a genuine notification', () => {
    expect(checkAgainstSubscription(parse(graphChangeNotification(sub, 'm')), sub)).toBeUndefined();
  });
  it('drops unknown subscriptions, wrong clientState, tenant and resource owner', () => {
    expect(checkAgainstSubscription(parse(graphChangeNotification(sub, 'm')), undefined)).toBe(
      'unknown_subscription',
    );
    expect(
      checkAgainstSubscription(parse(graphChangeNotification(sub, 'm', { clientState: 'guess' })), sub),
    ).toBe('client_state_mismatch');
    expect(
      checkAgainstSubscription(
        parse(graphChangeNotification(sub, 'm', { tenantId: '00000000-0000-0000-0000-000000000000' })),
        sub,
      ),
    ).toBe('tenant_mismatch');
    expect(
      checkAgainstSubscription(
        parse(graphChangeNotification(sub, 'm', { resource: 'Users/other/Messages/m' })),
        sub,
      ),
    ).toBe('resource_mismatch');
  });
  it('compares user ids case-insensitively (Graph capitalises resources its own way)', () => {
    const item = parse(
      graphChangeNotification(sub, 'm', { resource: `Users/${sub.userId.toUpperCase()}/Messages/m` }),
    );
    expect(checkAgainstSubscription(item, sub)).toBeUndefined();
  });
});

describe('dedupKeyFor and toQueuedNotification', () => {
  const parse = (item: Record<string, unknown>) => parseNotificationPayload({ value: [item] }).items[0]!;
  it('gives a Graph retry of the same notification the same key, and other notifications other keys', () => {
    const a = dedupKeyFor(parse(graphChangeNotification(sub, 'm1')));
    expect(dedupKeyFor(parse(graphChangeNotification(sub, 'm1')))).toBe(a);
    expect(dedupKeyFor(parse(graphChangeNotification(sub, 'm2')))).not.toBe(a);
    expect(dedupKeyFor(parse(graphChangeNotification(sub, 'm1', { changeType: 'updated' })))).not.toBe(a);
    expect(
      dedupKeyFor(parse(graphChangeNotification(sub, 'm1', { resource: 'Users/another-user/Messages/m1' }))),
    ).not.toBe(a);
    // The same message seen through a recreated subscription is the same notification.
    expect(dedupKeyFor(parse(graphChangeNotification(sub, 'm1', { subscriptionId: 'recreated-sub' })))).toBe(
      a,
    );
    expect(a.length).toBeLessThanOrEqual(128);
  });
  it('keys lifecycle events by event and expiry', () => {
    const a = dedupKeyFor(parse(graphLifecycleNotification(sub, 'reauthorizationRequired')));
    expect(dedupKeyFor(parse(graphLifecycleNotification(sub, 'missed')))).not.toBe(a);
    expect(
      dedupKeyFor(
        parse(
          graphLifecycleNotification(sub, 'reauthorizationRequired', {
            subscriptionExpirationDateTime: '2027-01-01T00:00:00Z',
          }),
        ),
      ),
    ).not.toBe(a);
  });
  it('never puts the clientState on the queue', () => {
    const queued = toQueuedNotification(
      parse(graphChangeNotification(sub, 'm1')),
      sub,
      new Date(0),
      undefined,
    );
    expect(JSON.stringify(queued)).not.toContain(sub.clientState);
    expect(queued.body).toMatchObject({ type: 'change', mailboxEmail: sub.mailboxEmail, messageId: 'm1' });
  });
  it('carries encrypted content and validation tokens of rich notifications', () => {
    const item = parse(graphChangeNotification(sub, 'm1', { encryptedContent: { data: 'abc' } }));
    const queued = toQueuedNotification(item, sub, new Date(0), ['jwt']);
    expect(queued.body).toMatchObject({ encryptedContent: { data: 'abc' }, validationTokens: ['jwt'] });
  });
});
