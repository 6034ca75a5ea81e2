/**
 * The renewal engine's port (`SubscriptionRenewalPort` in shared/domain/ports.ts) over Graph: one
 * `$batch` of PATCHes per call, through the tenant's client. Member retries stay off: the engine
 * reads each 429's Retry-After and spreads the tenant's subscription writes itself.
 */
import type { GraphClient } from './client.js';
import { GraphSubscriptions, type RenewalItem, type RenewalResult } from './subscriptions.js';

export interface TenantGraphClients {
  forTenant(tenantId: string): GraphClient;
}

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
