import { dedupKeyFor } from './notifications.js';
import type {
  ChangeMessage,
  LifecycleMessage,
  MailboxRecord,
  QueuedNotification,
  SubscriptionRecord,
} from './model.js';
import type { MailboxStore, NotificationQueue, RenewalSchedulePort, SubscriptionStore } from './ports.js';
import { hashJitter, newExpiry } from './renewal/expiry.js';
import { DEFAULT_RENEWAL_OPTIONS } from './renewal/options.js';
import { scheduleEntryFor } from './renewal/pass.js';

/**
 * Creating, recreating and reauthorizing a mailbox's Graph subscription, and resyncing its Inbox
 * by delta after Graph says notifications were missed or the subscription was removed.
 * Pure orchestration over ports; the clock and randomness are injected.
 */

/** Graph as the lifecycle code needs it (the adapter lives in shared/graph). */
export interface SubscriptionGraphPort {
  createSubscription(
    tenantId: string,
    request: {
      userId: string;
      notificationUrl: string;
      lifecycleNotificationUrl: string;
      clientState: string;
      expirationDateTime: string;
    },
  ): Promise<{ subscriptionId: string; expirationDateTime: string }>;
  renewSubscription(
    tenantId: string,
    subscriptionId: string,
    expirationDateTime: string,
  ): Promise<{ expirationDateTime: string }>;
  deleteSubscription(tenantId: string, subscriptionId: string): Promise<void>;
  /** Inbox delta from a stored deltaLink, or (none / expired) a full sync limited to `since`. */
  syncInbox(
    tenantId: string,
    request: { userId: string; deltaLink?: string; since: Date },
  ): Promise<{
    messages: { id: string; receivedDateTime?: string; isRead?: boolean }[];
    deltaLink: string;
    fullResync: boolean;
  }>;
  /** Turns a Graph failure into an actionable reason for operators (403s), or undefined. */
  failureReason(error: unknown): string | undefined;
  /** HTTP status of a Graph failure, if it was one. */
  statusOf(error: unknown): number | undefined;
}

export interface SubscriptionLifecycleDeps {
  now: () => number;
  /**
   * A fresh clientState for a subscription of this tenant's user (Graph echoes it; ≤ 128
   * characters): random, or signed so the webhook can check it without a lookup.
   */
  newClientState: (subject: { tenantId: string; userId: string }) => string;
  graph: SubscriptionGraphPort;
  mailboxes: MailboxStore;
  subscriptions: SubscriptionStore;
  schedule: RenewalSchedulePort;
  queue: NotificationQueue;
  /** Our public base URL; Graph posts to `<base>/api/notifications` and `<base>/api/lifecycle`. */
  publicBaseUrl: string;
  /** A full resync never looks further back than this, so old mail is never pushed. */
  resyncWindowMs: number;
  /** Called when a subscription id stops being valid (e.g. to drop it from the webhook cache). */
  forget?: (subscriptionId: string) => void;
}

export type LifecycleOutcome =
  | { action: 'renewed'; subscriptionId: string }
  | { action: 'recreated'; subscriptionId: string; previous: string; resynced: number }
  | { action: 'resynced'; messages: number; fullResync: boolean }
  | { action: 'ignored'; reason: string };

export class SubscriptionLifecycle {
  constructor(private readonly deps: SubscriptionLifecycleDeps) {}

  /**
   * Gives a mailbox a working subscription: creates one in Graph (which performs the validation
   * handshake against our webhook), stores its clientState, points the mailbox at it and
   * schedules its renewal. A 403 is recorded on the mailbox as an actionable reason and rethrown.
   */
  async createForMailbox(mailbox: MailboxRecord): Promise<SubscriptionRecord> {
    if (!mailbox.userId) throw new Error(`mailbox ${mailbox.email} has no Graph user id yet`);
    const now = this.deps.now();
    const clientState = this.deps.newClientState({ tenantId: mailbox.tenantId, userId: mailbox.userId });
    // Jitter by mailbox so a bulk enrolment does not expire (and renew) all at once.
    const expiresAt = newExpiry(now, hashJitter(mailbox.email), DEFAULT_RENEWAL_OPTIONS);
    let created: { subscriptionId: string; expirationDateTime: string };
    try {
      created = await this.deps.graph.createSubscription(mailbox.tenantId, {
        userId: mailbox.userId,
        notificationUrl: `${this.deps.publicBaseUrl}/api/notifications`,
        lifecycleNotificationUrl: `${this.deps.publicBaseUrl}/api/lifecycle`,
        clientState,
        expirationDateTime: new Date(expiresAt).toISOString(),
      });
    } catch (error) {
      const reason = this.deps.graph.failureReason(error);
      if (reason) await this.recordError(mailbox.email, reason);
      throw error;
    }
    const record: SubscriptionRecord = {
      subscriptionId: created.subscriptionId,
      mailboxEmail: mailbox.email,
      userId: mailbox.userId,
      tenantId: mailbox.tenantId,
      clientState,
      resource: `users/${mailbox.userId}/mailFolders('Inbox')/messages`,
      expiresAt: created.expirationDateTime,
      createdAt: new Date(now).toISOString(),
    };
    // Store the secret before anything else: Graph may already be sending notifications.
    const stored = await this.deps.subscriptions.insertSubscription(record);
    await this.deps.schedule.upsertEntry(
      scheduleEntryFor(
        {
          subscriptionId: record.subscriptionId,
          tenantId: record.tenantId,
          expiresAt: Date.parse(record.expiresAt),
        },
        now,
      ),
    );
    const previous = await this.pointMailboxAt(mailbox.email, record.subscriptionId);
    if (previous && previous !== record.subscriptionId) await this.retire(mailbox.tenantId, previous);
    return stored;
  }

  /**
   * The subscription is gone (404 on renewal, or `subscriptionRemoved`): create a new one for
   * its mailbox and resync the Inbox by delta so mail that arrived in between is not missed.
   * Idempotent: if the mailbox already moved on to another subscription, nothing happens.
   */
  async recreate(subscriptionId: string): Promise<LifecycleOutcome> {
    const old = await this.deps.subscriptions.getSubscription(subscriptionId);
    if (!old) return { action: 'ignored', reason: 'unknown subscription' };
    const mailbox = await this.deps.mailboxes.getMailbox(old.mailboxEmail);
    if (!mailbox || mailbox.subscriptionId !== subscriptionId) {
      await this.retire(old.tenantId, subscriptionId);
      return { action: 'ignored', reason: 'mailbox no longer uses this subscription' };
    }
    const created = await this.createForMailbox(mailbox);
    const resync = await this.resync(mailbox.email);
    return {
      action: 'recreated',
      subscriptionId: created.subscriptionId,
      previous: subscriptionId,
      resynced: resync.action === 'resynced' ? resync.messages : 0,
    };
  }

  /** Acts on a lifecycle event taken from the queue. */
  async handleLifecycle(message: LifecycleMessage): Promise<LifecycleOutcome> {
    switch (message.lifecycleEvent) {
      case 'reauthorizationRequired':
        return this.reauthorize(message.subscriptionId, message.tenantId);
      case 'subscriptionRemoved':
        return this.recreate(message.subscriptionId);
      case 'missed':
        return this.resync(message.mailboxEmail);
    }
  }

  /**
   * `reauthorizationRequired`: Graph wants the app to prove it still has access. Renewing the
   * subscription does that; a 404 means it is gone already, so recreate it.
   */
  async reauthorize(subscriptionId: string, tenantId: string): Promise<LifecycleOutcome> {
    const now = this.deps.now();
    const expiresAt = newExpiry(now, hashJitter(subscriptionId), DEFAULT_RENEWAL_OPTIONS);
    try {
      // The existing schedule row renews it again when due (renewing early is harmless); a
      // second row would renew it twice per cycle.
      await this.deps.graph.renewSubscription(tenantId, subscriptionId, new Date(expiresAt).toISOString());
      return { action: 'renewed', subscriptionId };
    } catch (error) {
      if (this.deps.graph.statusOf(error) === 404) return this.recreate(subscriptionId);
      const reason = this.deps.graph.failureReason(error);
      if (reason) {
        const record = await this.deps.subscriptions.getSubscription(subscriptionId);
        if (record) await this.recordError(record.mailboxEmail, reason);
      }
      throw error;
    }
  }

  /**
   * Resync a mailbox's Inbox by delta: every message found is enqueued as a change message with
   * the same dedup key a notification would have, so a message both notified and resynced is
   * pushed once. The deltaLink is stored whole for next time. A full resync (no link, or Graph
   * says 410 / syncStateNotFound) looks back no further than the resync window.
   */
  async resync(mailboxEmail: string): Promise<LifecycleOutcome> {
    const mailbox = await this.deps.mailboxes.getMailbox(mailboxEmail);
    if (!mailbox?.userId || !mailbox.subscriptionId)
      return { action: 'ignored', reason: 'mailbox has no subscription' };
    const now = this.deps.now();
    const lastResync = mailbox.lastResyncAt ? Date.parse(mailbox.lastResyncAt) : 0;
    const since = new Date(Math.max(now - this.deps.resyncWindowMs, lastResync || 0));
    const result = await this.deps.graph.syncInbox(mailbox.tenantId, {
      userId: mailbox.userId,
      ...(mailbox.deltaLink ? { deltaLink: mailbox.deltaLink } : {}),
      since,
    });
    const receivedAt = new Date(now).toISOString();
    const windowStart = now - this.deps.resyncWindowMs;
    const fresh = result.messages.filter((m) => {
      if (m.isRead === true) return false;
      const received = m.receivedDateTime ? Date.parse(m.receivedDateTime) : now;
      return !(received < windowStart);
    });
    const messages: QueuedNotification[] = fresh.map((m) => {
      const resource = `Users/${mailbox.userId}/Messages/${m.id}`;
      const body: ChangeMessage = {
        type: 'change',
        subscriptionId: mailbox.subscriptionId!,
        tenantId: mailbox.tenantId,
        mailboxEmail: mailbox.email,
        userId: mailbox.userId!,
        changeType: 'created',
        resource,
        messageId: m.id,
        receivedAt,
      };
      const messageId = dedupKeyFor({
        kind: 'change',
        subscriptionId: mailbox.subscriptionId!,
        clientState: undefined,
        tenantId: mailbox.tenantId,
        changeType: 'created',
        resource,
        resourceUserId: mailbox.userId!,
        messageId: m.id,
      });
      return { messageId, body };
    });
    if (messages.length > 0) await this.deps.queue.enqueue(messages);
    await this.updateMailbox(mailbox.email, (m) => ({
      ...m,
      deltaLink: result.deltaLink,
      lastResyncAt: receivedAt,
    }));
    return { action: 'resynced', messages: messages.length, fullResync: result.fullResync };
  }

  /** Points the mailbox at a subscription (ETag retry loop); returns the id it had before. */
  private async pointMailboxAt(email: string, subscriptionId: string): Promise<string | undefined> {
    let previous: string | undefined;
    await this.updateMailbox(email, (m) => {
      previous = m.subscriptionId;
      const next: MailboxRecord = { ...m, subscriptionId, transport: 'graph', state: 'active' };
      delete next.subscriptionError;
      delete next.failure;
      return next;
    });
    return previous;
  }

  /** Records why a mailbox has no working subscription, for operators. */
  async recordMailboxError(email: string, reason: string): Promise<void> {
    await this.recordError(email, reason);
  }

  private async recordError(email: string, reason: string): Promise<void> {
    await this.updateMailbox(email, (m) => ({ ...m, subscriptionError: reason }));
  }

  /** Read-modify-write with the entity's ETag, retried on a concurrent change. */
  private async updateMailbox(email: string, change: (m: MailboxRecord) => MailboxRecord): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      const current = await this.deps.mailboxes.getMailbox(email);
      if (!current) return;
      try {
        await this.deps.mailboxes.updateMailbox({
          ...change(current),
          updatedAt: new Date(this.deps.now()).toISOString(),
        });
        return;
      } catch (error) {
        if ((error as { code?: string }).code !== 'concurrency_conflict' || attempt >= 4) throw error;
      }
    }
  }

  /** Forgets an old subscription: its stored secret, and (best effort) Graph's side. */
  private async retire(tenantId: string, subscriptionId: string): Promise<void> {
    this.deps.forget?.(subscriptionId);
    await this.deps.subscriptions.deleteSubscription(subscriptionId);
    try {
      await this.deps.graph.deleteSubscription(tenantId, subscriptionId);
    } catch {
      // Already gone, or Graph will expire it: either way it no longer reaches a stored secret.
    }
  }
}
