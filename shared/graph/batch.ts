/**
 * `$batch`: up to 20 requests in one `POST /$batch`. Each member can fail or answer 429 on its own
 * while the envelope is 200, and the SDK's retry handler only sees the envelope, so members that
 * answered 429/503/504 are resubmitted here (after the largest Retry-After). An envelope that failed
 * as a whole was already retried by the SDK: its members carry that failure and are not resubmitted.
 */
import { ValidationError } from '../errors.js';
import {
  GraphRequestError,
  RETRYABLE_STATUSES,
  graphErrorFromResponse,
  isRecord,
  operationName,
  parseRetryAfter,
} from './errors.js';
import { noAnswerError } from './transport.js';
import type { HttpMethod } from './client.js';

/** Graph's limit of requests in one `$batch`. */
export const MAX_BATCH_MEMBERS = 20;

export interface BatchMember {
  /** Unique within the call. */
  id: string;
  method: HttpMethod;
  /** Relative to the version, e.g. `/subscriptions/{id}` (absolute URLs under it are accepted). */
  url: string;
  body?: unknown;
  headers?: Record<string, string>;
}

export interface BatchMemberResult {
  /**
   * The member's HTTP status. When its whole `$batch` request failed: that request's status if it
   * was 429/503/504 (after the SDK's retries; with its Retry-After), else 0.
   */
  status: number;
  headers: Record<string, string>;
  body: unknown;
  /** Times the member was sent. */
  attempts: number;
  /** From the member's Retry-After. */
  retryAfterMs?: number;
  /** For status 0 and ≥ 400. */
  error?: GraphRequestError;
}

export interface BatchOptions {
  /** Resubmit members that answered 429/503/504 (after the largest Retry-After). Default true. */
  retryMembers?: boolean;
  /** `$batch` requests in flight at once. Default 4 (Outlook allows 4 concurrent per mailbox). */
  concurrency?: number;
  /** Sends of one member, first included. Default 4. */
  maxMemberAttempts?: number;
}

/** How the client's retry settings apply to members. */
export interface BatchTuning {
  maxDelayMs: number;
  delayMs: number;
  defaultMaxMemberAttempts: number;
  sleep: (ms: number) => Promise<void>;
}

/** What a `$batch` needs from the client. */
export interface BatchTransport {
  /** `POST /$batch` with this body: the parsed body of a 2xx answer; throws otherwise. */
  post(body: { requests: BatchRequest[] }): Promise<unknown>;
  /** A member URL relative to the version; throws a GraphRequestError for a URL under another host. */
  relativePath(url: string): string;
}

/** One member as Graph's `$batch` body carries it. */
export interface BatchRequest {
  id: string;
  method: HttpMethod;
  url: string;
  headers?: Record<string, string>;
  body?: unknown;
}

interface BatchAnswer {
  status: number;
  headers: Record<string, string>;
  body: unknown;
}

export const DEFAULT_BATCH = { retryMembers: true, concurrency: 4, maxMemberAttempts: 4 } as const;

/**
 * Runs the members through `POST /$batch` in chunks of ≤ 20, `concurrency` chunks at a time.
 * Results per member id; if every request failed as a whole, the first failure is thrown instead.
 */
export async function runBatch(
  members: readonly BatchMember[],
  options: BatchOptions,
  transport: BatchTransport,
  tuning: BatchTuning,
): Promise<Map<string, BatchMemberResult>> {
  const retryMembers = options.retryMembers ?? DEFAULT_BATCH.retryMembers;
  const concurrency = options.concurrency ?? DEFAULT_BATCH.concurrency;
  const maxMemberAttempts = options.maxMemberAttempts ?? tuning.defaultMaxMemberAttempts;
  checkBatch(members, concurrency, maxMemberAttempts);

  const results = new Map<string, BatchMemberResult>();
  const byId = new Map(members.map((m) => [m.id, m]));
  let pending = [...members];
  let firstEnvelopeError: GraphRequestError | undefined;
  let anyEnvelopeAnswered = false;
  // The SDK's retry handler already retried a failed envelope: its members are not resubmitted.
  const envelopeFailed = new Set<string>();

  for (let attempt = 1; pending.length > 0; attempt += 1) {
    const chunks = chunk(pending, MAX_BATCH_MEMBERS);
    await mapWithConcurrency(chunks, concurrency, async (group) => {
      try {
        const answers = await sendBatchEnvelope(group, transport);
        anyEnvelopeAnswered = true;
        for (const member of group) {
          const answer = answers.get(member.id);
          results.set(
            member.id,
            answer
              ? memberResult(member, answer, attempt)
              : missingMember(member, attempt, 'Graph sent no answer for this $batch member'),
          );
        }
      } catch (error) {
        const failure = error instanceof GraphRequestError ? error : noAnswerError('POST /$batch', error);
        firstEnvelopeError ??= failure;
        // A throttled envelope throttles its members: keep the status and Retry-After so they are
        // retried (or rescheduled by the caller) like members throttled one by one.
        const status = RETRYABLE_STATUSES.has(failure.status) ? failure.status : 0;
        for (const member of group) {
          envelopeFailed.add(member.id);
          results.set(member.id, {
            status,
            headers: {},
            body: undefined,
            attempts: attempt,
            ...(failure.retryAfterMs === undefined ? {} : { retryAfterMs: failure.retryAfterMs }),
            error: failure,
          });
        }
      }
    });
    if (!retryMembers) break;
    const plan = planMemberRetry(
      pending
        .filter((m) => !envelopeFailed.has(m.id))
        .map((m) => {
          const r = results.get(m.id);
          return { id: m.id, status: r?.status ?? 0, retryAfterMs: r?.retryAfterMs };
        }),
      attempt,
      { maxMemberAttempts, delayMs: tuning.delayMs, maxDelayMs: tuning.maxDelayMs },
    );
    if (plan.retryIds.length === 0) break;
    await tuning.sleep(plan.waitMs);
    pending = plan.retryIds.map((id) => byId.get(id)).filter((m): m is BatchMember => m !== undefined);
  }

  if (!anyEnvelopeAnswered && firstEnvelopeError) throw firstEnvelopeError;
  return results;
}

/** One `POST /$batch`; the member answers by id. Throws for a failed envelope. */
async function sendBatchEnvelope(
  group: readonly BatchMember[],
  transport: BatchTransport,
): Promise<Map<string, BatchAnswer>> {
  const requests = group.map((m) => batchRequest(m, transport.relativePath(m.url)));
  return parseBatchAnswers(await transport.post({ requests }));
}

function batchRequest(member: BatchMember, url: string): BatchRequest {
  const headers: Record<string, string> = { ...member.headers };
  // Graph rule: a write member needs a body and a Content-Type header.
  if (member.body !== undefined && !Object.keys(headers).some((h) => h.toLowerCase() === 'content-type')) {
    headers['Content-Type'] = 'application/json';
  }
  return {
    id: member.id,
    method: member.method,
    url,
    ...(Object.keys(headers).length > 0 ? { headers } : {}),
    ...(member.body === undefined ? {} : { body: member.body }),
  };
}

/** The `responses[]` of a `$batch` answer by member id; malformed entries are skipped. */
function parseBatchAnswers(body: unknown): Map<string, BatchAnswer> {
  const answers = new Map<string, BatchAnswer>();
  const responses = isRecord(body) && Array.isArray(body.responses) ? (body.responses as unknown[]) : [];
  for (const r of responses) {
    if (!isRecord(r) || typeof r.id !== 'string' || typeof r.status !== 'number') continue;
    const headers: Record<string, string> = {};
    if (isRecord(r.headers)) {
      for (const [k, v] of Object.entries(r.headers)) if (typeof v === 'string') headers[k.toLowerCase()] = v;
    }
    answers.set(r.id, { status: r.status, headers, body: r.body });
  }
  return answers;
}

function memberResult(member: BatchMember, answer: BatchAnswer, attempts: number): BatchMemberResult {
  const result: BatchMemberResult = { ...answer, attempts };
  const retryAfterMs = parseRetryAfter(answer.headers['retry-after']);
  if (retryAfterMs !== undefined) result.retryAfterMs = retryAfterMs;
  if (answer.status >= 400) {
    result.error = graphErrorFromResponse(
      `$batch member ${operationName(member.method, member.url)}`,
      answer,
    );
  }
  return result;
}

function missingMember(member: BatchMember, attempts: number, message: string): BatchMemberResult {
  return {
    status: 0,
    headers: {},
    body: undefined,
    attempts,
    error: new GraphRequestError({
      operation: `$batch member ${operationName(member.method, member.url)}`,
      status: 0,
      graphCode: 'MissingBatchResponse',
      graphMessage: message,
    }),
  };
}

function checkBatch(members: readonly BatchMember[], concurrency: number, maxMemberAttempts: number): void {
  const ids = new Set<string>();
  for (const m of members) {
    if (typeof m.id !== 'string' || m.id === '')
      throw new ValidationError('every $batch member needs an id', 'invalid_batch');
    if (ids.has(m.id)) throw new ValidationError(`$batch member id '${m.id}' is used twice`, 'invalid_batch');
    ids.add(m.id);
  }
  if (!Number.isInteger(concurrency) || concurrency < 1) {
    throw new ValidationError('$batch concurrency must be a positive integer', 'invalid_batch');
  }
  if (!Number.isInteger(maxMemberAttempts) || maxMemberAttempts < 1) {
    throw new ValidationError('$batch maxMemberAttempts must be a positive integer', 'invalid_batch');
  }
}

// ---------------------------------------------------------------------------------------------
// Pure helpers (unit-tested)

/** Splits into consecutive groups of at most `size` (Graph's `$batch` takes ≤ 20 requests). */
export function chunk<T>(items: readonly T[], size: number = MAX_BATCH_MEMBERS): T[][] {
  if (!Number.isInteger(size) || size < 1) throw new RangeError('chunk size must be a positive integer');
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

export interface MemberRetryPlan {
  /** Members to resubmit, in their original order. */
  retryIds: string[];
  /** How long to wait before resubmitting them. */
  waitMs: number;
}

/**
 * Which `$batch` members to resubmit after `attempt` sends, and after how long: those that answered
 * 429/503/504, have attempts left and ask for no more than `maxDelayMs`; the wait is the largest of
 * their Retry-After values (or the exponential backoff `delayMs × 2^(attempt−1)` for a member
 * without one), capped at `maxDelayMs`.
 */
export function planMemberRetry(
  results: readonly { id: string; status: number; retryAfterMs?: number | undefined }[],
  attempt: number,
  limits: { maxMemberAttempts: number; delayMs: number; maxDelayMs: number },
): MemberRetryPlan {
  if (attempt >= limits.maxMemberAttempts) return { retryIds: [], waitMs: 0 };
  const backoff = Math.min(limits.maxDelayMs, limits.delayMs * 2 ** Math.max(0, attempt - 1));
  const retryIds: string[] = [];
  let waitMs = 0;
  for (const r of results) {
    if (!RETRYABLE_STATUSES.has(r.status)) continue;
    if (r.retryAfterMs !== undefined && r.retryAfterMs > limits.maxDelayMs) continue;
    retryIds.push(r.id);
    waitMs = Math.max(waitMs, r.retryAfterMs ?? backoff);
  }
  return { retryIds, waitMs: Math.min(waitMs, limits.maxDelayMs) };
}

/** Runs `fn` over `items` with at most `limit` in flight. */
async function mapWithConcurrency<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const item = items[next] as T;
      next += 1;
      await fn(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
