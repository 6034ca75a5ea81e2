/**
 * The domain's Graph ports (shared/domain/ports.ts, shared/domain/subscription-lifecycle.ts) over
 * our Graph client, one client (and token cache) per tenant: the subscription lifecycle, the
 * renewal engine's `$batch`, and the processor's message read.
 */
import type { MailMessage } from '../domain/model.js';
import type { GraphWorkFailure } from '../domain/enrolment/states.js';
import type { DirectoryUser, MailboxDirectoryPort, MessageSource } from '../domain/ports.js';
import { ValidationError } from '../errors.js';
import type { SubscriptionGraphPort } from '../domain/subscription-lifecycle.js';
import { syncInboxDelta } from './delta.js';
import {
  FORBIDDEN_ACCESS_POLICY,
  FORBIDDEN_SUBSCRIPTION_LIMIT,
  forbiddenReason,
  hasGraphStatus,
  isGraphRequestError,
  isRecord,
} from './errors.js';
import { DEFAULT_MESSAGE_SELECT, getMessage } from './messages.js';
import {
  GraphSubscriptions,
  inboxMessagesResource,
  type RenewalItem,
  type RenewalResult,
} from './subscriptions.js';
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

/**
 * The control plane's Graph port: resolve a user, prove we can read the Inbox, find our
 * subscriptions on a user after a crash, and say what a failure means for the mailbox.
 */
export class GraphDirectory implements MailboxDirectoryPort {
  constructor(private readonly clients: TenantGraphClients) {}

  async resolveUser(tenantId: string, email: string): Promise<DirectoryUser | undefined> {
    const client = this.clients.forTenant(tenantId);
    const select = '$select=id,mail,userPrincipalName,onPremisesSyncEnabled,assignedLicenses';
    try {
      // GET /users/{upn} resolves a UPN; a primary SMTP address that differs from it needs $filter.
      return toDirectoryUser(
        await client.request({ method: 'GET', path: `/users/${encodeURIComponent(email)}?${select}` }),
      );
    } catch (error) {
      if (!hasGraphStatus(error, 404)) throw error;
    }
    const quoted = email.replace(/'/g, "''");
    const found = await client.request({
      method: 'GET',
      path: `/users?$filter=${encodeURIComponent(`mail eq '${quoted}'`)}&${select}`,
    });
    const first = isRecord(found) && Array.isArray(found.value) ? (found.value as unknown[])[0] : undefined;
    return first === undefined ? undefined : toDirectoryUser(first);
  }

  async checkInbox(tenantId: string, userId: string): Promise<void> {
    await this.clients.forTenant(tenantId).request({
      method: 'GET',
      path: `/users/${encodeURIComponent(userId)}/mailFolders('Inbox')?$select=id`,
    });
  }

  async findSubscriptions(tenantId: string, userId: string, notificationUrl: string): Promise<string[]> {
    // GET /subscriptions has no $filter: page through this app's subscriptions (only after a crash).
    const all = await new GraphSubscriptions(this.clients.forTenant(tenantId)).list();
    const resource = inboxMessagesResource(userId).toLowerCase();
    return all
      .filter((s) => s.notificationUrl === notificationUrl && normaliseResource(s.resource) === resource)
      .map((s) => s.id);
  }

  async deleteSubscription(tenantId: string, subscriptionId: string): Promise<void> {
    await new GraphSubscriptions(this.clients.forTenant(tenantId)).delete(subscriptionId);
  }

  classify(error: unknown, user?: DirectoryUser): GraphWorkFailure {
    return classifyMailboxFailure(error, user);
  }

  async groupMemberDelta(tenantId: string, groupId: string, deltaLink?: string) {
    const client = this.clients.forTenant(tenantId);
    const first = `/groups/delta?$filter=${encodeURIComponent(`id eq '${groupId.replace(/'/g, "''")}'`)}&$select=members`;
    let full = deltaLink === undefined;
    let path = deltaLink ?? first;
    const added = new Set<string>();
    const removed = new Set<string>();
    for (let page = 0; ; page++) {
      if (page >= 10_000)
        throw new Error(`GET /groups/delta: more than 10,000 pages for group ${groupId}; stopping`);
      let body: unknown;
      try {
        body = await client.request({ method: 'GET', path });
      } catch (error) {
        // An expired or unknown delta token: start over with every member (Graph: 410 / 400).
        if (
          page === 0 &&
          deltaLink !== undefined &&
          (hasGraphStatus(error, 410) || hasGraphStatus(error, 400))
        ) {
          full = true;
          path = first;
          deltaLink = undefined;
          added.clear();
          removed.clear();
          page = -1;
          continue;
        }
        throw error;
      }
      const groups = isRecord(body) && Array.isArray(body.value) ? (body.value as unknown[]) : [];
      for (const group of groups) {
        if (!isRecord(group) || String(group.id).toLowerCase() !== groupId.toLowerCase()) continue;
        const members = Array.isArray(group['members@delta']) ? (group['members@delta'] as unknown[]) : [];
        for (const member of members) {
          if (!isRecord(member) || typeof member.id !== 'string') continue;
          if (typeof member['@odata.type'] === 'string' && member['@odata.type'] !== '#microsoft.graph.user')
            continue;
          const id = member.id.toLowerCase();
          if (isRecord(member['@removed'])) {
            removed.add(id);
            added.delete(id);
          } else {
            added.add(id);
            removed.delete(id);
          }
        }
      }
      const next = isRecord(body) ? body['@odata.nextLink'] : undefined;
      const link = isRecord(body) ? body['@odata.deltaLink'] : undefined;
      if (typeof next === 'string' && next !== '') path = next;
      else if (typeof link === 'string' && link !== '')
        return { added: [...added], removed: [...removed], deltaLink: link, full };
      else
        throw new Error(`GET /groups/delta: a page with neither nextLink nor deltaLink for group ${groupId}`);
    }
  }
}

/** `Users/{id}/mailFolders('Inbox')/messages` and `/users/{id}/mailfolders('inbox')/messages` are one resource. */
function normaliseResource(resource: string): string {
  return resource.replace(/^\//, '').toLowerCase();
}

function toDirectoryUser(body: unknown): DirectoryUser {
  if (!isRecord(body) || typeof body.id !== 'string')
    throw new ValidationError('Graph returned a user without an id');
  return {
    id: body.id,
    mail: typeof body.mail === 'string' ? body.mail : undefined,
    userPrincipalName: typeof body.userPrincipalName === 'string' ? body.userPrincipalName : body.id,
    onPremisesSyncEnabled: body.onPremisesSyncEnabled === true,
    licensed: Array.isArray(body.assignedLicenses) ? body.assignedLicenses.length > 0 : true,
  };
}

const MAILBOX_NOT_IN_CLOUD = /MailboxNotEnabledForRESTAPI|inactive, soft-deleted, or is hosted on-premise/i;

/**
 * What a Graph failure means for a mailbox, in the control plane's words. Graph answers an
 * on-premises mailbox and a user without an Exchange Online mailbox alike (404
 * MailboxNotEnabledForRESTAPI, wrapped in an ExtensionError on POST /subscriptions); the user's
 * directory entry tells them apart: a user synced from on-premises AD → on-premises mailbox.
 */
export function classifyMailboxFailure(error: unknown, user?: DirectoryUser): GraphWorkFailure {
  if (!isGraphRequestError(error)) {
    const detail = error instanceof Error ? error.message : String(error);
    return { kind: 'failed', failure: 'graph_error', detail: truncateDetail(detail) };
  }
  const detail = truncateDetail(
    `${error.operation}: ${error.status} ${error.graphCode ?? ''} ${error.graphMessage ?? ''}`.trim(),
  );
  if (error.retryable) return { kind: 'throttled', retryAfterMs: error.retryAfterMs ?? 60_000, detail };
  const text = `${error.graphCode ?? ''} ${error.graphMessage ?? ''}`;
  if (MAILBOX_NOT_IN_CLOUD.test(text)) {
    // A user synced from on-premises AD whose mailbox Exchange Online does not host: the mailbox is
    // on the on-premises server. A cloud-only user without one simply has no mailbox (licence).
    const onPremises = user?.onPremisesSyncEnabled === true;
    return { kind: 'failed', failure: onPremises ? 'on_premises' : 'no_mailbox', detail };
  }
  if (
    error.status === 404 &&
    /Request_ResourceNotFound|ResourceNotFound/i.test(text) &&
    /\/users/i.test(error.operation)
  ) {
    return { kind: 'failed', failure: 'user_not_found', detail };
  }
  if (error.status === 403 || /Authorization_RequestDenied|ErrorAccessDenied/i.test(text)) {
    const reason = forbiddenReason({ ...error, status: 403 });
    const failure =
      reason === FORBIDDEN_ACCESS_POLICY
        ? 'access_policy'
        : reason === FORBIDDEN_SUBSCRIPTION_LIMIT
          ? 'subscription_limit'
          : 'consent_missing';
    return { kind: 'failed', failure, detail };
  }
  if (/validation request|notification endpoint|handshake/i.test(text))
    return { kind: 'failed', failure: 'handshake_failed', detail };
  return { kind: 'failed', failure: 'graph_error', detail };
}

function truncateDetail(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > 500 ? `${flat.slice(0, 500)}…` : flat;
}
