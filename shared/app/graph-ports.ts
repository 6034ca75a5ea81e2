import type { SubscriptionGraphPort } from '../domain/subscription-lifecycle.js';
import {
  GraphSubscriptions,
  forbiddenReason,
  isGraphRequestError,
  syncInboxDelta,
  type GraphClientFactory,
} from '../graph/index.js';

/** The subscription lifecycle's Graph port over our Graph client (one client per tenant). */
export class GraphLifecyclePort implements SubscriptionGraphPort {
  constructor(private readonly clients: GraphClientFactory) {}

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
