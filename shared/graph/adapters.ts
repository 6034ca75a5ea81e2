/**
 * The domain's Graph ports (shared/domain/ports.ts, shared/domain/subscription-lifecycle.ts) over
 * our Graph client, one client (and token cache) per tenant: the subscription lifecycle, the
 * renewal engine's `$batch`, and the processor's message read.
 */
import type { MailMessage } from '../domain/model.js';
import type { MessageSource } from '../domain/ports.js';
import type { SubscriptionGraphPort } from '../domain/subscription-lifecycle.js';
import { syncInboxDelta } from './delta.js';
import { forbiddenReason, isGraphRequestError } from './errors.js';
import { DEFAULT_MESSAGE_SELECT, getMessage } from './messages.js';
import { GraphSubscriptions, type RenewalItem, type RenewalResult } from './subscriptions.js';
import type { TenantGraphClients } from './tenants.js';

/** The subscription lifecycle's Graph port. */
export class GraphLifecyclePort implements SubscriptionGraphPort {
  constructor(private readonly clients: TenantGraphClients) {}

  async createSubscription(
    tenantId: string,
    request: Parameters<SubscriptionGraphPort['createSubscription']>[1],
  ): Promise<{ subscriptionId: string; expirationDateTime: string }> {
    const subscriptions = new GraphSubscriptions(this.clients.forTenant(tenantId));
    const created = await subscriptions.create(request);
    if (created.existing) {
      // Graph already had one (409) whose clientState we cannot know: replace it so every
      // notification carries a secret we stored.
      await subscriptions.delete(created.id);
      const fresh = await subscriptions.create(request);
      return { subscriptionId: fresh.id, expirationDateTime: fresh.expirationDateTime };
    }
    return { subscriptionId: created.id, expirationDateTime: created.expirationDateTime };
  }

  async renewSubscription(tenantId: string, subscriptionId: string, expirationDateTime: string) {
    const renewed = await new GraphSubscriptions(this.clients.forTenant(tenantId)).renew(
      subscriptionId,
      expirationDateTime,
    );
    return { expirationDateTime: renewed.expirationDateTime };
  }

  async deleteSubscription(tenantId: string, subscriptionId: string): Promise<void> {
    await new GraphSubscriptions(this.clients.forTenant(tenantId)).delete(subscriptionId);
  }

  async syncInbox(tenantId: string, request: { userId: string; deltaLink?: string; since: Date }) {
    return syncInboxDelta(this.clients.forTenant(tenantId), request);
  }

  failureReason(error: unknown): string | undefined {
    return forbiddenReason(error);
  }

  statusOf(error: unknown): number | undefined {
    return isGraphRequestError(error) ? error.status : undefined;
  }
}

/**
 * The renewal engine's port (`SubscriptionRenewalPort`): one `$batch` of PATCHes per call. Member
 * retries stay off: the engine reads each 429's Retry-After and spreads the tenant's writes itself.
 */
export class GraphSubscriptionRenewal {
  constructor(
    private readonly clients: TenantGraphClients,
    private readonly options: { concurrency?: number } = {},
  ) {}

  /** One outcome per item; rejects only if the `$batch` request as a whole failed. */
  async renewBatch(tenantId: string, items: readonly RenewalItem[]): Promise<readonly RenewalResult[]> {
    const subscriptions = new GraphSubscriptions(this.clients.forTenant(tenantId));
    return subscriptions.renewBatch(items, { retryMembers: false, ...this.options });
  }
}

/**
 * The processor's message read, `$select` of only what a push needs (subject, from,
 * receivedDateTime, bodyPreview, importance, hasAttachments, isRead). The body is never requested.
 */
export class GraphMessageSource implements MessageSource {
  constructor(
    private readonly clients: TenantGraphClients,
    private readonly select: readonly string[] = DEFAULT_MESSAGE_SELECT,
  ) {}

  getMessage(tenantId: string, userId: string, messageId: string): Promise<MailMessage | undefined> {
    return getMessage(this.clients.forTenant(tenantId), userId, messageId, this.select);
  }
}
