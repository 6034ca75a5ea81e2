/**
 * Change-notification subscriptions on mailbox Inboxes: create (with Graph's validation handshake
 * against our webhook), renew, get, delete, list, and renewals in `$batch`.
 */
import { ValidationError } from '../errors.js';
import type { BatchOptions, GraphClient } from './client.js';
import {
  GraphRequestError,
  forbiddenReason,
  graphErrorFromResponse,
  hasGraphStatus,
  isRecord,
  readGraphErrorBody,
} from './errors.js';

/** Outlook rule: a message subscription lives at most 10,080 minutes (7 days). */
export const MAX_MESSAGE_SUBSCRIPTION_MINUTES = 10_080;
/** With `includeResourceData` (rich notifications): at most 1,440 minutes. */
export const MAX_RICH_MESSAGE_SUBSCRIPTION_MINUTES = 1_440;
/** Graph rule: clientState is at most 128 characters. */
export const MAX_CLIENT_STATE_LENGTH = 128;

const MINUTE_MS = 60_000;

/** `users/{id}/mailFolders('Inbox')/messages`: the resource every mailbox subscription watches. */
export function inboxMessagesResource(userId: string): string {
  return `users/${userId}/mailFolders('Inbox')/messages`;
}

/**
 * The latest expiry Graph accepts for a message subscription created or renewed at `now`, less a
 * margin for clock skew between us and Graph (a request for exactly the maximum may be refused).
 */
export function maxSubscriptionExpiration(now: Date, safetyMinutes = 5): Date {
  return new Date(now.getTime() + (MAX_MESSAGE_SUBSCRIPTION_MINUTES - safetyMinutes) * MINUTE_MS);
}

export interface GraphSubscription {
  id: string;
  resource: string;
  changeType: string;
  notificationUrl: string;
  lifecycleNotificationUrl: string | null;
  /** ISO 8601, UTC. */
  expirationDateTime: string;
  applicationId: string | undefined;
  /** Only in the answer to a successful create; GET and list never return it (null). */
  clientState: string | null;
}

export interface CreatedSubscription extends GraphSubscription {
  /**
   * True when Graph answered 409 (it already has this subscription, e.g. from an earlier attempt
   * whose answer was lost) and this is that subscription, found by resource and notificationUrl.
   * Its clientState is unknown (Graph never returns it): notifications carry the one it was
   * created with, so a caller that cannot match it should delete and recreate.
   */
  existing: boolean;
}

export interface CreateSubscriptionInput {
  /** Graph user id (GUID) or userPrincipalName. */
  userId: string;
  notificationUrl: string;
  /** Can only be set at creation (Graph rule). */
  lifecycleNotificationUrl: string;
  /** Random secret per subscription, ≤ 128 characters; echoed in every notification. */
  clientState: string;
  expirationDateTime: Date | string;
}

export interface RenewalItem {
  subscriptionId: string;
  /** ISO 8601 (UTC) or a Date. */
  expirationDateTime: string | Date;
}

/** One renewal's answer; fits the renewal engine's `RenewalOutcome` (shared/domain/ports.ts). */
export interface RenewalResult {
  subscriptionId: string;
  /** HTTP status of the member; 0 if there was no answer for it. */
  status: number;
  /** The expiry Graph set (2xx). */
  expirationDateTime?: string;
  /** From the member's Retry-After (429, sometimes 503). */
  retryAfterMs?: number;
  /** Graph's `error.code`, e.g. `ExtensionError`. */
  errorCode?: string;
  /** For operators: status, code and Graph's message, or what to do about a 403. No secrets. */
  error?: string;
}

export interface RenewBatchOptions extends BatchOptions {
  /**
   * Default false here: the renewal engine honours Retry-After per tenant itself and must see
   * each 429 (a blind resubmit would spend the tenant's subscription-write budget again).
   */
  retryMembers?: boolean;
}

export class GraphSubscriptions {
  constructor(private readonly client: GraphClient) {}

  /**
   * `POST /subscriptions` for the user's Inbox, changeType `created`. Graph first runs the validation
   * handshake against both URLs (≤ 10 s each): a GraphRequestError (400 ValidationError) if either
   * does not answer it. A 409 returns the subscription that already exists (see `existing`).
   */
  async create(input: CreateSubscriptionInput): Promise<CreatedSubscription> {
    checkUserId(input.userId);
    if (typeof input.clientState !== 'string' || input.clientState.length === 0) {
      throw new ValidationError('clientState is required (a random secret per subscription)');
    }
    if (input.clientState.length > MAX_CLIENT_STATE_LENGTH) {
      // The value is a secret: say how long it is, never what it is.
      throw new ValidationError(
        `clientState is ${input.clientState.length} characters; Graph allows at most ${MAX_CLIENT_STATE_LENGTH}`,
      );
    }
    const resource = inboxMessagesResource(input.userId);
    const body = {
      changeType: 'created',
      resource,
      notificationUrl: input.notificationUrl,
      lifecycleNotificationUrl: input.lifecycleNotificationUrl,
      clientState: input.clientState,
      expirationDateTime: isoTime(input.expirationDateTime, 'expirationDateTime'),
    };
    const response = await this.client.send({ method: 'POST', path: '/subscriptions', body });
    if (response.status >= 200 && response.status < 300) {
      return { ...toSubscription(response.body), existing: false };
    }
    if (response.status === 409) {
      const existing = (await this.list()).find(
        (s) =>
          s.resource.toLowerCase() === resource.toLowerCase() &&
          s.notificationUrl === input.notificationUrl &&
          s.changeType.split(',').some((c) => c.trim() === 'created'),
      );
      if (existing) return { ...existing, existing: true };
      throw graphErrorFromResponse(
        'POST /subscriptions',
        response,
        'Graph reports a conflicting subscription for this mailbox that this app cannot see (another notificationUrl or changeType?): list and delete stale subscriptions, then retry',
      );
    }
    const { code } = readGraphErrorBody(response.body);
    throw graphErrorFromResponse(
      'POST /subscriptions',
      response,
      code === 'ValidationError'
        ? 'Graph could not validate the notification or lifecycle URL: it must be publicly reachable over https and answer ?validationToken= with 200, text/plain and the token within 10 seconds (a cold start is the usual cause)'
        : undefined,
    );
  }

  /** `PATCH /subscriptions/{id}` with a new expiry. A 404 (gone: recreate it) is thrown as GraphRequestError. */
  async renew(subscriptionId: string, expirationDateTime: Date | string): Promise<GraphSubscription> {
    const body = await this.client.request<unknown>({
      method: 'PATCH',
      path: subscriptionPath(subscriptionId),
      body: { expirationDateTime: isoTime(expirationDateTime, 'expirationDateTime') },
    });
    return toSubscription(body);
  }

  /** True if deleted, false if it was already gone (404). */
  async delete(subscriptionId: string): Promise<boolean> {
    try {
      await this.client.request({ method: 'DELETE', path: subscriptionPath(subscriptionId) });
      return true;
    } catch (error) {
      if (hasGraphStatus(error, 404)) return false;
      throw error;
    }
  }

  /** Undefined when it does not exist (or expired). */
  async get(subscriptionId: string): Promise<GraphSubscription | undefined> {
    try {
      return toSubscription(
        await this.client.request({ method: 'GET', path: subscriptionPath(subscriptionId) }),
      );
    } catch (error) {
      if (hasGraphStatus(error, 404)) return undefined;
      throw error;
    }
  }

  /** This app's subscriptions in the tenant, every page. */
  async list(): Promise<GraphSubscription[]> {
    const all: GraphSubscription[] = [];
    let path: string | undefined = '/subscriptions';
    for (let page = 0; path !== undefined; page += 1) {
      if (page >= 10_000) throw new Error('GET /subscriptions: more than 10,000 pages; stopping');
      const body: unknown = await this.client.request({ method: 'GET', path });
      const value = isRecord(body) && Array.isArray(body.value) ? (body.value as unknown[]) : [];
      for (const item of value) all.push(toSubscription(item));
      const next = isRecord(body) ? body['@odata.nextLink'] : undefined;
      path = typeof next === 'string' && next !== '' ? next : undefined;
    }
    return all;
  }

  /**
   * Renews through `$batch` (`PATCH /subscriptions/{id}` members, ≤ 20 per request). One result
   * per item, in the items' order. Throws only if no `$batch` request got an answer at all.
   */
  async renewBatch(items: readonly RenewalItem[], options: RenewBatchOptions = {}): Promise<RenewalResult[]> {
    const members = items.map((item, index) => ({
      id: String(index + 1),
      method: 'PATCH' as const,
      url: subscriptionPath(item.subscriptionId),
      body: { expirationDateTime: isoTime(item.expirationDateTime, 'expirationDateTime') },
    }));
    if (members.length === 0) return [];
    const results = await this.client.batch(members, {
      ...options,
      retryMembers: options.retryMembers ?? false,
    });
    return items.map((item, index) => {
      const r = results.get(String(index + 1));
      const outcome: RenewalResult = { subscriptionId: item.subscriptionId, status: r?.status ?? 0 };
      if (!r) return { ...outcome, error: 'no answer for this renewal' };
      if (r.status >= 200 && r.status < 300) {
        const expiry = isRecord(r.body) ? r.body.expirationDateTime : undefined;
        if (typeof expiry === 'string') outcome.expirationDateTime = expiry;
        return outcome;
      }
      if (r.retryAfterMs !== undefined) outcome.retryAfterMs = r.retryAfterMs;
      const code = r.error?.graphCode ?? readGraphErrorBody(r.body).code;
      if (code) outcome.errorCode = code;
      outcome.error = describeFailure(r.status, r.error);
      return outcome;
    });
  }
}

function describeFailure(status: number, error: GraphRequestError | undefined): string {
  const reason = forbiddenReason(error);
  if (reason) return `HTTP 403${error?.graphCode ? ` ${error.graphCode}` : ''}: ${reason}`;
  if (!error) return status === 0 ? 'no answer' : `HTTP ${status}`;
  const head = status === 0 ? 'no answer' : `HTTP ${status}`;
  const code = error.graphCode ? ` ${error.graphCode}` : '';
  const message = error.graphMessage ? `: ${error.graphMessage.replace(/\s+/g, ' ').slice(0, 200)}` : '';
  return `${head}${code}${message}`;
}

function subscriptionPath(subscriptionId: string): string {
  if (typeof subscriptionId !== 'string' || subscriptionId.trim() === '') {
    throw new ValidationError('subscriptionId is required');
  }
  return `/subscriptions/${encodeURIComponent(subscriptionId)}`;
}

function checkUserId(userId: string): void {
  // The id goes into the resource path Graph parses: no separators or query characters.
  if (typeof userId !== 'string' || userId === '' || /[/?#\s]/.test(userId)) {
    throw new ValidationError('userId must be a Graph user id (GUID) or userPrincipalName');
  }
}

function isoTime(value: Date | string, name: string): string {
  const time = value instanceof Date ? value.getTime() : Date.parse(value);
  if (!Number.isFinite(time)) throw new ValidationError(`${name} must be a valid date`);
  return new Date(time).toISOString();
}

function toSubscription(body: unknown): GraphSubscription {
  if (!isRecord(body) || typeof body.id !== 'string') {
    throw new GraphRequestError({
      operation: 'reading a Graph subscription',
      status: 0,
      graphCode: 'UnexpectedResponse',
      graphMessage: 'the answer is not a subscription (no id)',
    });
  }
  const text = (v: unknown): string => (typeof v === 'string' ? v : '');
  return {
    id: body.id,
    resource: text(body.resource),
    changeType: text(body.changeType),
    notificationUrl: text(body.notificationUrl),
    lifecycleNotificationUrl:
      typeof body.lifecycleNotificationUrl === 'string' ? body.lifecycleNotificationUrl : null,
    expirationDateTime: text(body.expirationDateTime),
    applicationId: typeof body.applicationId === 'string' ? body.applicationId : undefined,
    clientState: typeof body.clientState === 'string' ? body.clientState : null,
  };
}
