import { describe, expect, it } from 'vitest';
import type { MailboxRecord } from '../../../shared/domain/model.js';
import { renewalBucketOf } from '../../../shared/domain/renewal/buckets.js';
import { InMemoryRenewalSchedule } from '../../../shared/domain/renewal/in-memory.js';
import {
  SubscriptionLifecycle,
  type SubscriptionGraphPort,
} from '../../../shared/domain/subscription-lifecycle.js';
import {
  InMemoryMailboxStore,
  InMemoryNotificationQueue,
  InMemorySubscriptionStore,
} from '../../support/fakes.js';

const NOW = Date.parse('2026-11-23T10:00:00Z');
const HOUR = 3_600_000;

class GraphFailure extends Error {
  constructor(
    readonly status: number,
    readonly reason?: string,
  ) {
    super(`graph ${status}`);
  }
}

/** A fake of our Graph port: remembers subscriptions, can fail on demand. */
class FakeGraph implements SubscriptionGraphPort {
  readonly subscriptions = new Map<
    string,
    { userId: string; expirationDateTime: string; clientState: string }
  >();
  readonly deleted: string[] = [];
  failCreateWith: GraphFailure | undefined;
  failRenewWith: GraphFailure | undefined;
  inbox: { id: string; receivedDateTime?: string; isRead?: boolean }[] = [];
  deltaCalls: { deltaLink?: string; since: Date }[] = [];
  private next = 1;

  async createSubscription(
    _tenantId: string,
    request: Parameters<SubscriptionGraphPort['createSubscription']>[1],
  ) {
    if (this.failCreateWith) throw this.failCreateWith;
    const subscriptionId = `sub-${this.next++}`;
    this.subscriptions.set(subscriptionId, {
      userId: request.userId,
      expirationDateTime: request.expirationDateTime,
      clientState: request.clientState,
    });
    return { subscriptionId, expirationDateTime: request.expirationDateTime };
  }
  async renewSubscription(_tenantId: string, subscriptionId: string, expirationDateTime: string) {
    if (this.failRenewWith) throw this.failRenewWith;
    const s = this.subscriptions.get(subscriptionId);
    if (!s) throw new GraphFailure(404);
    s.expirationDateTime = expirationDateTime;
    return { expirationDateTime };
  }
  async deleteSubscription(_tenantId: string, subscriptionId: string) {
    this.deleted.push(subscriptionId);
    this.subscriptions.delete(subscriptionId);
  }
  async syncInbox(_tenantId: string, request: { userId: string; deltaLink?: string; since: Date }) {
    this.deltaCalls.push({
      ...(request.deltaLink ? { deltaLink: request.deltaLink } : {}),
      since: request.since,
    });
    return {
      messages: this.inbox,
      deltaLink: `delta-${this.deltaCalls.length}`,
      fullResync: !request.deltaLink,
    };
  }
  failureReason(error: unknown) {
    return error instanceof GraphFailure ? error.reason : undefined;
  }
  statusOf(error: unknown) {
    return error instanceof GraphFailure ? error.status : undefined;
  }
}

function setup() {
  const graph = new FakeGraph();
  const mailboxes = new InMemoryMailboxStore();
  const subscriptions = new InMemorySubscriptionStore();
  const schedule = new InMemoryRenewalSchedule();
  const queue = new InMemoryNotificationQueue();
  const forgotten: string[] = [];
  let secret = 0;
  const signedFor: { tenantId: string; userId: string }[] = [];
  const lifecycle = new SubscriptionLifecycle({
    now: () => NOW,
    newClientState: (subject) => {
      signedFor.push(subject);
      return `secret-${++secret}`;
    },
    graph,
    mailboxes,
    subscriptions,
    schedule,
    queue,
    publicBaseUrl: 'https://func.example.net',
    resyncWindowMs: HOUR,
    forget: (id) => forgotten.push(id),
  });
  const mailbox: MailboxRecord = {
    email: 'adele.vance@contoso.example',
    userId: 'user-adele',
    tenantId: 'tenant-1',
    transport: 'ews',
    createdAt: new Date(NOW).toISOString(),
    updatedAt: new Date(NOW).toISOString(),
  };
  return { graph, mailboxes, subscriptions, schedule, queue, forgotten, lifecycle, mailbox, signedFor };
}

describe('SubscriptionLifecycle.createForMailbox', () => {
  it('creates the Graph subscription, stores its secret, points the mailbox at it and schedules renewal', async () => {
    const { graph, mailboxes, subscriptions, schedule, lifecycle, mailbox } = setup();
    await mailboxes.insertMailbox(mailbox);
    const record = await lifecycle.createForMailbox((await mailboxes.getMailbox(mailbox.email))!);

    const inGraph = graph.subscriptions.get(record.subscriptionId)!;
    expect(inGraph.clientState).toBe('secret-1');
    expect((await subscriptions.getSubscription(record.subscriptionId))?.clientState).toBe('secret-1');
    const updated = await mailboxes.getMailbox(mailbox.email);
    expect(updated).toMatchObject({ subscriptionId: record.subscriptionId, transport: 'graph' });

    const expiresAt = Date.parse(inGraph.expirationDateTime);
    // Within Graph's 10,080-minute limit, minus safety and jitter.
    expect(expiresAt).toBeLessThanOrEqual(NOW + 10_080 * 60_000);
    expect(expiresAt).toBeGreaterThan(NOW + 0.89 * 10_080 * 60_000);
    const due = await schedule.listBucket(renewalBucketOf(expiresAt - 24 * HOUR));
    expect(due.map((e) => e.subscriptionId)).toEqual([record.subscriptionId]);
  });

  it("asks for a clientState bound to the mailbox's tenant and user (what a signed one covers)", async () => {
    const { mailboxes, lifecycle, mailbox, signedFor } = setup();
    await mailboxes.insertMailbox(mailbox);
    await lifecycle.createForMailbox((await mailboxes.getMailbox(mailbox.email))!);
    expect(signedFor).toEqual([{ tenantId: 'tenant-1', userId: 'user-adele' }]);
  });

  it('records an actionable reason on the mailbox when Graph answers 403, and creates nothing', async () => {
    const { graph, mailboxes, subscriptions, lifecycle, mailbox } = setup();
    await mailboxes.insertMailbox(mailbox);
    graph.failCreateWith = new GraphFailure(
      403,
      'An Exchange application access policy excludes this mailbox',
    );
    await expect(lifecycle.createForMailbox((await mailboxes.getMailbox(mailbox.email))!)).rejects.toThrow(
      'graph 403',
    );
    expect((await mailboxes.getMailbox(mailbox.email))?.subscriptionError).toMatch(
      /application access policy/,
    );
    expect(subscriptions.records.size).toBe(0);
  });
});

describe('SubscriptionLifecycle lifecycle events', () => {
  async function enrolled() {
    const ctx = setup();
    await ctx.mailboxes.insertMailbox(ctx.mailbox);
    const record = await ctx.lifecycle.createForMailbox((await ctx.mailboxes.getMailbox(ctx.mailbox.email))!);
    return { ...ctx, record };
  }
  const event = (
    subscriptionId: string,
    lifecycleEvent: 'reauthorizationRequired' | 'subscriptionRemoved' | 'missed',
  ) => ({
    type: 'lifecycle' as const,
    subscriptionId,
    tenantId: 'tenant-1',
    mailboxEmail: 'adele.vance@contoso.example',
    userId: 'user-adele',
    lifecycleEvent,
    receivedAt: new Date(NOW).toISOString(),
  });

  it('reauthorizationRequired renews the subscription', async () => {
    const { graph, lifecycle, record } = await enrolled();
    graph.subscriptions.get(record.subscriptionId)!.expirationDateTime = '2026-11-23T11:00:00.000Z';
    expect(await lifecycle.handleLifecycle(event(record.subscriptionId, 'reauthorizationRequired'))).toEqual({
      action: 'renewed',
      subscriptionId: record.subscriptionId,
    });
    const renewed = Date.parse(graph.subscriptions.get(record.subscriptionId)!.expirationDateTime);
    expect(renewed).toBeGreaterThan(NOW + 6 * 24 * HOUR);
    expect(renewed).toBeLessThanOrEqual(NOW + 10_080 * 60_000);
  });

  it('reauthorizationRequired for a subscription Graph no longer has recreates it', async () => {
    const { graph, lifecycle, record } = await enrolled();
    graph.subscriptions.delete(record.subscriptionId);
    const outcome = await lifecycle.handleLifecycle(event(record.subscriptionId, 'reauthorizationRequired'));
    expect(outcome).toMatchObject({ action: 'recreated', previous: record.subscriptionId });
  });

  it('subscriptionRemoved recreates, retires the old secret, and resyncs by delta', async () => {
    const { graph, mailboxes, subscriptions, queue, forgotten, lifecycle, record } = await enrolled();
    graph.subscriptions.delete(record.subscriptionId);
    graph.inbox = [
      { id: 'missed-1', receivedDateTime: new Date(NOW - 10 * 60_000).toISOString(), isRead: false },
      { id: 'already-read', receivedDateTime: new Date(NOW - 5 * 60_000).toISOString(), isRead: true },
      { id: 'too-old', receivedDateTime: new Date(NOW - 3 * HOUR).toISOString(), isRead: false },
    ];
    const outcome = await lifecycle.handleLifecycle(event(record.subscriptionId, 'subscriptionRemoved'));
    expect(outcome).toMatchObject({ action: 'recreated', previous: record.subscriptionId, resynced: 1 });

    const mailbox = await mailboxes.getMailbox('adele.vance@contoso.example');
    expect(mailbox?.subscriptionId).not.toBe(record.subscriptionId);
    expect(mailbox?.deltaLink).toBe('delta-1');
    expect(await subscriptions.getSubscription(record.subscriptionId)).toBeUndefined();
    expect(forgotten).toContain(record.subscriptionId);
    expect(queue.messages.map((m) => (m.body.type === 'change' ? m.body.messageId : ''))).toEqual([
      'missed-1',
    ]);
    expect(queue.messages[0]?.body.subscriptionId).toBe(mailbox?.subscriptionId);
  });

  it('a second subscriptionRemoved for the same old subscription changes nothing', async () => {
    const { graph, mailboxes, lifecycle, record } = await enrolled();
    graph.subscriptions.delete(record.subscriptionId);
    await lifecycle.recreate(record.subscriptionId);
    const after = await mailboxes.getMailbox('adele.vance@contoso.example');
    expect(await lifecycle.recreate(record.subscriptionId)).toMatchObject({ action: 'ignored' });
    expect((await mailboxes.getMailbox('adele.vance@contoso.example'))?.subscriptionId).toBe(
      after?.subscriptionId,
    );
    expect(graph.subscriptions.size).toBe(1);
  });

  it('missed resyncs with the stored deltaLink and never looks back beyond the window', async () => {
    const { graph, lifecycle, record } = await enrolled();
    await lifecycle.handleLifecycle(event(record.subscriptionId, 'missed'));
    await lifecycle.handleLifecycle(event(record.subscriptionId, 'missed'));
    expect(graph.deltaCalls[0]).toEqual({ since: new Date(NOW - HOUR) });
    expect(graph.deltaCalls[1]?.deltaLink).toBe('delta-1');
    expect(graph.deltaCalls[1]!.since.getTime()).toBeGreaterThanOrEqual(NOW - HOUR);
  });

  it('a resynced message gets the same dedup key as its notification (even from an older subscription)', async () => {
    const { graph, queue, lifecycle, record } = await enrolled();
    graph.inbox = [{ id: 'm-1', receivedDateTime: new Date(NOW).toISOString() }];
    await lifecycle.resync('adele.vance@contoso.example');
    const { dedupKeyFor } = await import('../../../shared/domain/notifications.js');
    const fromNotification = dedupKeyFor({
      kind: 'change',
      subscriptionId: `older-than-${record.subscriptionId}`,
      clientState: 'x',
      tenantId: 'tenant-1',
      changeType: 'created',
      resource: 'Users/user-adele/Messages/m-1',
      resourceUserId: 'user-adele',
      messageId: 'm-1',
    });
    expect(queue.messages[0]?.messageId).toBe(fromNotification);
  });
});

describe('reauthorization and the renewal schedule', () => {
  it('does not add a second schedule row for a subscription it renews', async () => {
    const ctx = setup();
    await ctx.mailboxes.insertMailbox(ctx.mailbox);
    const record = await ctx.lifecycle.createForMailbox((await ctx.mailboxes.getMailbox(ctx.mailbox.email))!);
    const rowsBefore = ctx.schedule.size;
    await ctx.lifecycle.reauthorize(record.subscriptionId, 'tenant-1');
    await ctx.lifecycle.reauthorize(record.subscriptionId, 'tenant-1');
    expect(ctx.schedule.size).toBe(rowsBefore);
  });
});
