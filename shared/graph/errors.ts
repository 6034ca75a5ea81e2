/**
 * Graph failures as one error class, plus the pure helpers that read Graph's answers:
 * `Retry-After` (seconds or HTTP-date) and what a 403 means for an operator.
 *
 * Messages name the operation (method + path, never the query string: delta and skip tokens live
 * there), the HTTP status and Graph's error code and message. They never contain tokens, secrets or
 * request bodies (a subscription body carries the clientState).
 */
import { DependencyError } from '../errors.js';

export const GRAPH_DEPENDENCY = 'microsoft-graph';

/** Statuses Graph asks us to retry (the SDK's RetryHandler uses the same three). */
export const RETRYABLE_STATUSES: ReadonlySet<number> = new Set([429, 503, 504]);

export interface GraphRequestErrorDetails {
  /** e.g. `PATCH /subscriptions/{id}` (no query string). */
  operation: string;
  /** HTTP status; 0 when Graph never answered (network, timeout, token acquisition). */
  status: number;
  /** Graph's `error.code` (e.g. `ErrorAccessDenied`), or the local failure's name. */
  graphCode?: string | undefined;
  /** Graph's `error.message`, or the local failure's description. */
  graphMessage?: string | undefined;
  retryAfterMs?: number | undefined;
  /** Graph's `request-id` (quote it to Microsoft support). */
  requestId?: string | undefined;
  /** Appended to the message: what to do about it. */
  hint?: string | undefined;
}

/** Graph refused or failed a request, or could not be reached. */
export class GraphRequestError extends DependencyError {
  readonly operation: string;
  readonly status: number;
  readonly graphCode: string | undefined;
  readonly graphMessage: string | undefined;
  readonly retryAfterMs: number | undefined;
  readonly requestId: string | undefined;

  constructor(details: GraphRequestErrorDetails, options?: { cause?: unknown }) {
    super(GRAPH_DEPENDENCY, describe(details), options);
    this.operation = details.operation;
    this.status = details.status;
    this.graphCode = details.graphCode;
    this.graphMessage = details.graphMessage;
    this.retryAfterMs = details.retryAfterMs;
    this.requestId = details.requestId;
  }

  /** Throttled or temporarily unavailable: the same request may succeed later. */
  get retryable(): boolean {
    return this.status === 0 || RETRYABLE_STATUSES.has(this.status);
  }
}

const MAX_MESSAGE_CHARS = 400;

function describe(d: GraphRequestErrorDetails): string {
  // Status 0: Graph never answered (token, network, timeout); the code says which.
  const code = d.graphCode ? ` ${d.graphCode}` : '';
  const what = d.status === 0 ? (d.graphCode ?? 'no answer') : `HTTP ${d.status}${code}`;
  const message = d.graphMessage ? `: ${truncate(d.graphMessage)}` : '';
  const retry = d.retryAfterMs !== undefined ? ` (retry after ${Math.ceil(d.retryAfterMs / 1000)} s)` : '';
  const request = d.requestId ? ` [request-id ${d.requestId}]` : '';
  const hint = d.hint ? `. ${d.hint}` : '';
  return `${d.operation} failed (${what})${message}${retry}${request}${hint}`;
}

function truncate(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > MAX_MESSAGE_CHARS ? `${flat.slice(0, MAX_MESSAGE_CHARS)}…` : flat;
}

export function isGraphRequestError(error: unknown): error is GraphRequestError {
  return error instanceof GraphRequestError;
}

/** True for a GraphRequestError with this HTTP status. */
export function hasGraphStatus(error: unknown, status: number): error is GraphRequestError {
  return error instanceof GraphRequestError && error.status === status;
}

// ---------------------------------------------------------------------------------------------
// Retry-After

/**
 * `Retry-After` in milliseconds: delta-seconds (`120`, also `1.5`) or an HTTP-date (RFC 9110,
 * e.g. `Wed, 21 Oct 2015 07:28:00 GMT`; a date in the past means "now", 0). Undefined when the
 * header is absent or unreadable.
 */
export function parseRetryAfter(
  value: string | null | undefined,
  now: number = Date.now(),
): number | undefined {
  if (value === null || value === undefined) return undefined;
  const text = value.trim();
  if (text === '') return undefined;
  if (/^\d+(\.\d+)?$/.test(text)) return Math.round(Number(text) * 1000);
  // An HTTP-date always names a weekday or month; plain numbers with signs etc. are not dates.
  if (!/[a-z]/i.test(text)) return undefined;
  const at = Date.parse(text);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now);
}

// ---------------------------------------------------------------------------------------------
// 403

/** Graph's wording when an Exchange application access policy (RBAC for Applications) blocks the mailbox. */
const ACCESS_POLICY = /ApplicationAccessPolicy|AccessPolicy|\bRAOP\b/i;
/** Outlook's 1,000-subscriptions-per-mailbox limit, as a 403 ExtensionError. */
const SUBSCRIPTION_LIMIT =
  /maximum of \d[\d,]* subscriptions|subscriptions? (?:limit|quota)|too many subscriptions/i;

export const FORBIDDEN_ACCESS_POLICY =
  "An Exchange application access policy excludes this mailbox: add it to the policy's group or widen the policy (New-ApplicationAccessPolicy / Test-ApplicationAccessPolicy)";
export const FORBIDDEN_CONSENT =
  'The app lacks admin consent for the Mail.Read application permission (grant it in Entra ID → App registrations → API permissions)';
export const FORBIDDEN_SUBSCRIPTION_LIMIT =
  'The mailbox has reached the limit of 1,000 Outlook subscriptions across all apps: remove stale subscriptions (of this or other apps) for it';

/**
 * What an operator should do about a 403 from Graph, or undefined when `error` is not a 403.
 * Accepts a GraphRequestError or anything shaped like `{ status, graphCode?, graphMessage? }`
 * (for example a `$batch` member's error read by the caller).
 */
export function forbiddenReason(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const e = error as { status?: unknown; graphCode?: unknown; graphMessage?: unknown; message?: unknown };
  if (e.status !== 403) return undefined;
  const text = [e.graphCode, e.graphMessage, e.message].filter((t) => typeof t === 'string').join(' ');
  if (ACCESS_POLICY.test(text)) return FORBIDDEN_ACCESS_POLICY;
  if (SUBSCRIPTION_LIMIT.test(text)) return FORBIDDEN_SUBSCRIPTION_LIMIT;
  return FORBIDDEN_CONSENT;
}

// ---------------------------------------------------------------------------------------------
// Reading Graph's error body

export interface GraphErrorBody {
  code: string | undefined;
  message: string | undefined;
  requestId: string | undefined;
}

/** `{ error: { code, message, innerError: { 'request-id' } } }`, tolerating anything else. */
export function readGraphErrorBody(body: unknown): GraphErrorBody {
  const error = isRecord(body) && isRecord(body.error) ? body.error : undefined;
  const inner =
    error &&
    (isRecord(error.innerError)
      ? error.innerError
      : isRecord(error.innererror)
        ? error.innererror
        : undefined);
  return {
    code: typeof error?.code === 'string' && error.code ? error.code : undefined,
    message: typeof error?.message === 'string' && error.message ? error.message : undefined,
    requestId: typeof inner?.['request-id'] === 'string' ? inner['request-id'] : undefined,
  };
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Strips the query string and fragment: delta/skip tokens are capabilities, not for logs. */
export function operationName(method: string, path: string): string {
  const cut = path.search(/[?#]/);
  return `${method.toUpperCase()} ${cut < 0 ? path : path.slice(0, cut)}`;
}

/** A GraphRequestError from an HTTP answer (status ≥ 400). */
export function graphErrorFromResponse(
  operation: string,
  response: { status: number; headers: Readonly<Record<string, string>>; body: unknown },
  hint?: string,
): GraphRequestError {
  const parsed = readGraphErrorBody(response.body);
  const details: GraphRequestErrorDetails = {
    operation,
    status: response.status,
    graphCode: parsed.code,
    graphMessage: parsed.message ?? (typeof response.body === 'string' ? response.body : undefined),
    retryAfterMs: parseRetryAfter(response.headers['retry-after']),
    requestId: response.headers['request-id'] ?? parsed.requestId,
  };
  details.hint = hint ?? forbiddenReason(details);
  return new GraphRequestError(details);
}
