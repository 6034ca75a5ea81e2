/**
 * Inbox delta sync: what arrived since the last sync, for resyncing after a `missed` or
 * `subscriptionRemoved` lifecycle event (notifications may have been lost).
 *
 * Graph rules: follow `@odata.nextLink` to the `@odata.deltaLink`, store that link whole and reuse
 * it; an expired or unknown token answers 410 (`syncStateNotFound`), after which only a full resync
 * works. A full sync is limited to `receivedDateTime ge <since>` so old mail is never pushed again.
 */
import { ValidationError } from '../errors.js';
import type { GraphClient } from './client.js';
import { GraphRequestError, isRecord } from './errors.js';

export interface InboxDeltaOptions {
  /** Graph user id (GUID) or userPrincipalName. */
  userId: string;
  /** The `@odata.deltaLink` of the previous sync, as Graph gave it. */
  deltaLink?: string | undefined;
  /** Nothing received before this is returned (the full sync's `$filter`, and checked here too). */
  since: Date;
  /** `Prefer: odata.maxpagesize` (Graph's default is 10 per page). */
  pageSize?: number | undefined;
  /** Stops a runaway paging loop. Default 1,000 pages. */
  maxPages?: number | undefined;
}

export interface DeltaMessage {
  id: string;
  receivedDateTime: string;
  isRead?: boolean;
}

export interface InboxDeltaResult {
  /** Added or changed messages received at or after `since`, in Graph's order, each id once. */
  messages: DeltaMessage[];
  /** Store it whole; pass it as `deltaLink` next time. */
  deltaLink: string;
  /** True when this was a full sync: no `deltaLink` was given, or Graph no longer accepted it. */
  fullResync: boolean;
}

const SELECT = 'id,receivedDateTime,isRead';
/** Error codes meaning "the sync state is gone, start over" (with 410, or sometimes 400). */
const RESYNC_CODES = new Set(['syncstatenotfound', 'resyncrequired', 'syncstateinvalid']);
const DEFAULT_MAX_PAGES = 1000;

/** True for Graph's "start over without a token" answers. */
export function isSyncStateLost(error: unknown): boolean {
  if (!(error instanceof GraphRequestError)) return false;
  return error.status === 410 || RESYNC_CODES.has((error.graphCode ?? '').toLowerCase());
}

export async function syncInboxDelta(
  client: GraphClient,
  options: InboxDeltaOptions,
): Promise<InboxDeltaResult> {
  const { userId, since } = options;
  if (typeof userId !== 'string' || userId === '' || /[/?#\s]/.test(userId)) {
    throw new ValidationError('userId must be a Graph user id (GUID) or userPrincipalName');
  }
  if (!(since instanceof Date) || Number.isNaN(since.getTime()))
    throw new ValidationError('since must be a valid date');
  const pageSize = options.pageSize;
  if (pageSize !== undefined && (!Number.isInteger(pageSize) || pageSize < 1)) {
    throw new ValidationError('pageSize must be a positive integer');
  }
  const maxPages = options.maxPages ?? DEFAULT_MAX_PAGES;
  const headers: Record<string, string> =
    pageSize === undefined ? {} : { Prefer: `odata.maxpagesize=${pageSize}` };
  const round = (start: Start) => runRound(client, start, headers, maxPages, since.getTime());

  if (options.deltaLink) {
    try {
      return { ...(await round({ path: options.deltaLink })), fullResync: false };
    } catch (error) {
      if (!isSyncStateLost(error)) throw error;
    }
  }

  const initial: Start = {
    path: `/users/${encodeURIComponent(userId)}/mailFolders('Inbox')/messages/delta`,
    query: { $select: SELECT, $filter: `receivedDateTime ge ${graphTime(since)}` },
  };
  try {
    return { ...(await round(initial)), fullResync: true };
  } catch (error) {
    // A skip token can expire in the middle of a long full sync: start over once.
    if (!isSyncStateLost(error)) throw error;
    return { ...(await round(initial)), fullResync: true };
  }
}

interface Start {
  path: string;
  query?: Record<string, string>;
}

async function runRound(
  client: GraphClient,
  start: Start,
  headers: Record<string, string>,
  maxPages: number,
  sinceMs: number,
): Promise<{ messages: DeltaMessage[]; deltaLink: string }> {
  const messages = new Map<string, DeltaMessage>();
  let next: Start | undefined = start;
  for (let page = 1; next !== undefined; page += 1) {
    if (page > maxPages) {
      throw new GraphRequestError({
        operation: 'GET messages/delta',
        status: 0,
        graphCode: 'TooManyPages',
        graphMessage: `no @odata.deltaLink after ${maxPages} pages`,
      });
    }
    const body: unknown = await client.request({
      method: 'GET',
      path: next.path,
      headers,
      ...(next.query ? { query: next.query } : {}),
    });
    const value = isRecord(body) && Array.isArray(body.value) ? (body.value as unknown[]) : [];
    for (const item of value) {
      const message = toDeltaMessage(item);
      if (!message) continue;
      const received = Date.parse(message.receivedDateTime);
      if (Number.isFinite(received) && received < sinceMs) continue;
      messages.delete(message.id); // a later page's version wins, in its position
      messages.set(message.id, message);
    }
    const deltaLink = isRecord(body) ? body['@odata.deltaLink'] : undefined;
    if (typeof deltaLink === 'string' && deltaLink !== '')
      return { messages: [...messages.values()], deltaLink };
    const nextLink = isRecord(body) ? body['@odata.nextLink'] : undefined;
    if (typeof nextLink !== 'string' || nextLink === '') {
      throw new GraphRequestError({
        operation: 'GET messages/delta',
        status: 0,
        graphCode: 'UnexpectedResponse',
        graphMessage: 'a delta page had neither @odata.nextLink nor @odata.deltaLink',
      });
    }
    next = { path: nextLink };
  }
  throw new Error('unreachable');
}

/** A message entry, or undefined for `@removed` entries and anything without id/receivedDateTime. */
function toDeltaMessage(item: unknown): DeltaMessage | undefined {
  if (!isRecord(item) || '@removed' in item) return undefined;
  if (typeof item.id !== 'string' || typeof item.receivedDateTime !== 'string') return undefined;
  const message: DeltaMessage = { id: item.id, receivedDateTime: item.receivedDateTime };
  if (typeof item.isRead === 'boolean') message.isRead = item.isRead;
  return message;
}

/** ISO 8601 without milliseconds (floored to the second: `ge` then includes the whole second). */
function graphTime(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}
