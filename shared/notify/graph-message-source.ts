import type { GraphClient } from '../graph/client.js';
import { DEFAULT_MESSAGE_SELECT, getMessage, type MailMessage } from '../graph/messages.js';
import type { MessageSource } from './ports.js';

/** The tenant's Graph client (GraphClientFactory in production). */
export interface TenantGraphClientSource {
  forTenant(tenantId: string): GraphClient;
}

/**
 * Reads the message from Graph with the tenant's client (cached per tenant by the factory, so
 * tokens are reused) and `$select` of only what a push needs: subject, from, receivedDateTime,
 * bodyPreview, importance, hasAttachments, isRead. The body itself is never requested.
 */
export class GraphMessageSource implements MessageSource {
  constructor(
    private readonly clients: TenantGraphClientSource,
    private readonly select: readonly string[] = DEFAULT_MESSAGE_SELECT,
  ) {}

  getMessage(tenantId: string, userId: string, messageId: string): Promise<MailMessage | undefined> {
    return getMessage(this.clients.forTenant(tenantId), userId, messageId, this.select);
  }
}
