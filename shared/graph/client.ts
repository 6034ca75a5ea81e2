/**
 * Our Graph client: a thin wrapper over `@microsoft/microsoft-graph-client` (the only module in the
 * app that imports it, with shared/graph/*) that returns plain `{ status, headers, body }` answers,
 * throws {@link GraphRequestError}, and adds what the SDK lacks: `$batch` with per-member retries.
 *
 * The SDK is CommonJS: it is imported through its default export (Node's ESM loader does not
 * promise CJS named exports), types through `import type`.
 *
 * Middleware chain (per request): authentication (bearer token from the TokenCredential, scope
 * `<graph>/.default`) → retry (429/503/504, honours Retry-After, bounded) → redirect → telemetry →
 * our fetch handler (per-attempt timeout, keeps the network failure's reason, which the SDK's own
 * HTTPMessageHandler loses).
 */
import type { TokenCredential } from '@azure/identity';
import { cachedTokenCredential } from '../auth/token-cache.js';
import graph from '@microsoft/microsoft-graph-client';
import type {
  Client,
  Context,
  GraphRequest as SdkRequest,
  Middleware,
} from '@microsoft/microsoft-graph-client';
import azureTokenCredentials from '@microsoft/microsoft-graph-client/authProviders/azureTokenCredentials/index.js';
import { graphScope, resolveGraphEndpoints } from '../auth/index.js';
import { ConfigError, ValidationError } from '../errors.js';
import {
  GraphRequestError,
  RETRYABLE_STATUSES,
  graphErrorFromResponse,
  isRecord,
  operationName,
  parseRetryAfter,
} from './errors.js';

const { TokenCredentialAuthenticationProvider } = azureTokenCredentials;

export const GRAPH_VERSION = 'v1.0';
/** Graph's limit of requests in one `$batch`. */
export const MAX_BATCH_MEMBERS = 20;

export type HttpMethod = 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE';

export interface GraphCall {
  method: HttpMethod;
  /**
   * Relative to `<graph>/v1.0` (e.g. `/subscriptions/{id}`), or an absolute URL under it such as an
   * `@odata.nextLink` / `@odata.deltaLink`. Absolute URLs elsewhere are refused: the bearer token
   * must never go to another host.
   */
  path: string;
  /** JSON-serialised. */
  body?: unknown;
  headers?: Record<string, string>;
  /** Values are percent-encoded here (the SDK pastes them into the URL as given). */
  query?: Record<string, string | number | boolean | undefined>;
}

export interface GraphResponse {
  status: number;
  /** Lower-cased names. */
  headers: Record<string, string>;
  /** Parsed JSON, text, or undefined for an empty body. */
  body: unknown;
}

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

export interface GraphClient {
  /** Graph root, e.g. `https://graph.microsoft.com` (no version). */
  readonly graphEndpoint: string;
  /** Any HTTP answer as it is (no throw for 4xx/5xx); throws GraphRequestError only without one. */
  send(call: GraphCall): Promise<GraphResponse>;
  /** The parsed body of a 2xx answer (undefined for 204); GraphRequestError otherwise. */
  request<T = unknown>(call: GraphCall): Promise<T>;
  /**
   * Runs the members through `POST /$batch` in chunks of ≤ 20, `concurrency` chunks at a time.
   * Results per member id. Members of a `$batch` request that failed as a whole (after the SDK's
   * retries) are not resubmitted and carry that failure as `error`; if every request failed, the
   * first failure is thrown instead.
   */
  batch(members: readonly BatchMember[], options?: BatchOptions): Promise<Map<string, BatchMemberResult>>;
}

export interface RetryOptions {
  /** Retries after the first attempt (429/503/504), for requests and for `$batch` members. Default 3, at most 10. */
  maxRetries?: number;
  /**
   * Longest wait before a retry, in seconds. Default 30. An answer whose Retry-After asks for more
   * is not retried here: it is returned/thrown with `retryAfterMs` so the caller can reschedule.
   */
  maxDelaySeconds?: number;
  /** Base backoff when Graph sends no Retry-After, in seconds. Default 3 (the SDK's). */
  delaySeconds?: number;
}

export interface GraphClientOptions {
  credential: TokenCredential;
  /** Graph root: `https://graph.microsoft.com`, a national cloud's, or a simulator's (https). */
  graphEndpoint: string;
  retry?: RetryOptions;
  /** Per attempt, in ms. Default 30 000. Subscription creation includes Graph's ≤ 10 s handshake. */
  requestTimeoutMs?: number;
  /** Waits between `$batch` member retries. Injected by tests. */
  sleep?: (ms: number) => Promise<void>;
}

export interface GraphClientSettings {
  /** Normalised Graph root (no trailing slash, no version). */
  graphEndpoint: string;
  /** `<graph origin>/.default`: the app-only token scope. */
  scope: string;
  /** Hosts the SDK attaches the bearer token to besides its built-in Graph hosts. */
  customHosts: string[];
}

const DEFAULT_RETRY = { maxRetries: 3, maxDelaySeconds: 30, delaySeconds: 3 } as const;
const DEFAULT_TIMEOUT_MS = 30_000;
const DEFAULT_BATCH = { retryMembers: true, concurrency: 4, maxMemberAttempts: 4 } as const;

/**
 * Validated client settings for a Graph endpoint (pure). The SDK only sends the bearer token to
 * Graph's public hosts and to `customHosts` (hostnames without port), so the endpoint's own host is
 * always listed: a national cloud is already known to the SDK, a simulator is not.
 */
export function graphClientSettings(graphEndpoint: string): GraphClientSettings {
  const endpoint = resolveGraphEndpoints({ graphEndpoint }).graphEndpoint;
  return {
    graphEndpoint: endpoint,
    scope: graphScope(endpoint),
    customHosts: [new URL(endpoint).hostname],
  };
}

function resolveRetry(retry: RetryOptions = {}): Required<RetryOptions> {
  const resolved = { ...DEFAULT_RETRY, ...stripUndefined(retry) };
  const problems: string[] = [];
  if (!Number.isInteger(resolved.maxRetries) || resolved.maxRetries < 0 || resolved.maxRetries > 10) {
    problems.push('retry.maxRetries must be an integer from 0 to 10');
  }
  if (!(resolved.maxDelaySeconds > 0 && resolved.maxDelaySeconds <= 180)) {
    problems.push('retry.maxDelaySeconds must be more than 0 and at most 180');
  }
  if (!(resolved.delaySeconds >= 0 && resolved.delaySeconds <= resolved.maxDelaySeconds)) {
    problems.push('retry.delaySeconds must be from 0 to retry.maxDelaySeconds');
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return resolved;
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

export function createGraphClient(options: GraphClientOptions): GraphClient {
  const settings = graphClientSettings(options.graphEndpoint);
  const retry = resolveRetry(options.retry);
  const timeoutMs = options.requestTimeoutMs ?? DEFAULT_TIMEOUT_MS;
  if (!(timeoutMs > 0)) throw new ConfigError(['requestTimeoutMs must be more than 0']);
  const maxDelayMs = retry.maxDelaySeconds * 1000;

  const authProvider = new TokenCredentialAuthenticationProvider(cachedTokenCredential(options.credential), {
    scopes: [settings.scope],
  });
  // The SDK caps a Retry-After at 180 s and then retries anyway, early. Refusing the retry instead
  // surfaces the 429 with its Retry-After, so the caller (e.g. the renewal engine) can wait it out.
  const shouldRetry = (
    _delay: number,
    _attempt: number,
    _request: unknown,
    _options: unknown,
    response: Response,
  ) => {
    const retryAfterMs = parseRetryAfter(response.headers.get('retry-after'));
    return retryAfterMs === undefined || retryAfterMs <= maxDelayMs;
  };
  const middleware: Middleware[] = [
    new graph.AuthenticationHandler(authProvider),
    new graph.RetryHandler(new graph.RetryHandlerOptions(retry.delaySeconds, retry.maxRetries, shouldRetry)),
    new graph.RedirectHandler(new graph.RedirectHandlerOptions()),
    new graph.TelemetryHandler(),
    new FetchHandler(timeoutMs),
  ];
  const sdk = graph.Client.initWithMiddleware({
    middleware,
    baseUrl: settings.graphEndpoint,
    defaultVersion: GRAPH_VERSION,
    customHosts: new Set(settings.customHosts),
  });
  return new SdkGraphClient(sdk, settings.graphEndpoint, {
    maxDelayMs,
    delayMs: retry.delaySeconds * 1000,
    defaultMaxMemberAttempts: Math.min(DEFAULT_BATCH.maxMemberAttempts, retry.maxRetries + 1),
    sleep: options.sleep ?? defaultSleep,
  });
}

const defaultSleep = (ms: number): Promise<void> =>
  ms > 0 ? new Promise((resolve) => setTimeout(resolve, ms)) : Promise.resolve();

// ---------------------------------------------------------------------------------------------
// Transport

/** A failure before any HTTP answer. Its name becomes the SDK error's `code`. */
class TransportFailure extends Error {
  constructor(name: 'NetworkError' | 'TimeoutError', message: string) {
    super(message);
    this.name = name;
  }
}

/**
 * Terminal middleware: fetch with a per-attempt timeout. The SDK's HTTPMessageHandler rethrows
 * fetch's bare "fetch failed" and the SDK then drops the cause (ECONNREFUSED, an untrusted
 * certificate, …); this keeps it in the message.
 */
class FetchHandler implements Middleware {
  constructor(private readonly timeoutMs: number) {}

  async execute(context: Context): Promise<void> {
    // The SDK types these with DOM names (RequestInfo) this Node-only project does not load.
    const request = context.request as string | Request;
    const init: RequestInit = { ...context.options };
    init.signal ??= AbortSignal.timeout(this.timeoutMs);
    try {
      context.response = await fetch(request, init);
    } catch (error) {
      throw describeFetchFailure(error, this.timeoutMs);
    }
  }
}

const TLS_TRUST_CODES = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

function describeFetchFailure(error: unknown, timeoutMs: number): TransportFailure {
  const name = error instanceof Error ? error.name : '';
  if (name === 'TimeoutError' || name === 'AbortError') {
    return new TransportFailure('TimeoutError', `no answer within ${timeoutMs} ms`);
  }
  const cause = error instanceof Error && isRecord(error.cause) ? error.cause : undefined;
  const code = typeof cause?.code === 'string' ? cause.code : undefined;
  const detail =
    typeof cause?.message === 'string' ? cause.message : error instanceof Error ? error.message : '';
  const trust =
    code && TLS_TRUST_CODES.has(code)
      ? ' (this process does not trust the endpoint’s TLS certificate; for a local simulator start Node with NODE_EXTRA_CA_CERTS naming its CA)'
      : '';
  return new TransportFailure(
    'NetworkError',
    `${code ? `${code}: ` : ''}${detail || 'fetch failed'}${trust}`,
  );
}

/** @azure/identity's failures, as the SDK reports them (its `code` is the error's name). */
const TOKEN_ERRORS = new Set([
  'AuthenticationError',
  'AggregateAuthenticationError',
  'CredentialUnavailableError',
  'AuthenticationRequiredError',
]);

/** A GraphRequestError (status 0) for a request that got no HTTP answer. */
function noAnswerError(operation: string, error: unknown): GraphRequestError {
  const e = isRecord(error) ? error : {};
  const code = typeof e.code === 'string' && e.code ? e.code : error instanceof Error ? error.name : 'Error';
  const message = error instanceof Error ? error.message : String(error);
  if (TOKEN_ERRORS.has(code)) {
    return new GraphRequestError({
      operation,
      status: 0,
      graphCode: code,
      graphMessage: `could not get an access token for Graph: ${message}`,
      hint: 'Check the tenant, the client id and the client secret or certificate (and admin consent) of the app registration',
    });
  }
  return new GraphRequestError({ operation, status: 0, graphCode: code, graphMessage: message });
}

// ---------------------------------------------------------------------------------------------
// The client

interface BatchTuning {
  maxDelayMs: number;
  delayMs: number;
  defaultMaxMemberAttempts: number;
  sleep: (ms: number) => Promise<void>;
}

class SdkGraphClient implements GraphClient {
  private readonly versionBase: string;

  constructor(
    private readonly sdk: Client,
    readonly graphEndpoint: string,
    private readonly tuning: BatchTuning,
  ) {
    this.versionBase = `${graphEndpoint}/${GRAPH_VERSION}`;
  }

  async send(call: GraphCall): Promise<GraphResponse> {
    const path = this.relativePath(call.path);
    const operation = operationName(call.method, path);
    let request: SdkRequest = this.sdk.api(path).responseType(graph.ResponseType.RAW);
    if (call.headers) request = request.headers(call.headers);
    if (call.query) request = request.query(encodeQuery(call.query));
    let raw: Response;
    try {
      raw = (await dispatch(request, call.method, call.body)) as Response;
    } catch (error) {
      throw noAnswerError(operation, error);
    }
    const headers: Record<string, string> = {};
    raw.headers.forEach((value, name) => {
      headers[name.toLowerCase()] = value;
    });
    let text: string;
    try {
      text = await raw.text();
    } catch (error) {
      throw noAnswerError(operation, error);
    }
    return { status: raw.status, headers, body: parseBody(text, headers['content-type']) };
  }

  async request<T = unknown>(call: GraphCall): Promise<T> {
    const response = await this.send(call);
    if (response.status >= 400) {
      throw graphErrorFromResponse(operationName(call.method, this.relativePath(call.path)), response);
    }
    return response.body as T;
  }

  async batch(
    members: readonly BatchMember[],
    options: BatchOptions = {},
  ): Promise<Map<string, BatchMemberResult>> {
    const retryMembers = options.retryMembers ?? DEFAULT_BATCH.retryMembers;
    const concurrency = options.concurrency ?? DEFAULT_BATCH.concurrency;
    const maxMemberAttempts = options.maxMemberAttempts ?? this.tuning.defaultMaxMemberAttempts;
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
          const answers = await this.sendBatchEnvelope(group);
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
        { maxMemberAttempts, delayMs: this.tuning.delayMs, maxDelayMs: this.tuning.maxDelayMs },
      );
      if (plan.retryIds.length === 0) break;
      await this.tuning.sleep(plan.waitMs);
      pending = plan.retryIds.map((id) => byId.get(id)).filter((m): m is BatchMember => m !== undefined);
    }

    if (!anyEnvelopeAnswered && firstEnvelopeError) throw firstEnvelopeError;
    return results;
  }

  /** One `POST /$batch`; the member answers by id. Throws for a failed envelope. */
  private async sendBatchEnvelope(group: readonly BatchMember[]): Promise<Map<string, BatchAnswer>> {
    const requests = group.map((m) => {
      const headers: Record<string, string> = { ...m.headers };
      // Graph rule: a write member needs a body and a Content-Type header.
      if (m.body !== undefined && !Object.keys(headers).some((h) => h.toLowerCase() === 'content-type')) {
        headers['Content-Type'] = 'application/json';
      }
      return {
        id: m.id,
        method: m.method,
        url: this.relativePath(m.url),
        ...(Object.keys(headers).length > 0 ? { headers } : {}),
        ...(m.body === undefined ? {} : { body: m.body }),
      };
    });
    const body = await this.request<unknown>({ method: 'POST', path: '/$batch', body: { requests } });
    const answers = new Map<string, BatchAnswer>();
    const responses = isRecord(body) && Array.isArray(body.responses) ? (body.responses as unknown[]) : [];
    for (const r of responses) {
      if (!isRecord(r) || typeof r.id !== 'string' || typeof r.status !== 'number') continue;
      const headers: Record<string, string> = {};
      if (isRecord(r.headers)) {
        for (const [k, v] of Object.entries(r.headers))
          if (typeof v === 'string') headers[k.toLowerCase()] = v;
      }
      answers.set(r.id, { status: r.status, headers, body: r.body });
    }
    return answers;
  }

  /** `/v1.0/...` relative path for the SDK; absolute URLs only under our Graph endpoint. */
  private relativePath(path: string): string {
    if (/^[a-z][a-z0-9+.-]*:/i.test(path)) {
      if (!path.toLowerCase().startsWith(`${this.versionBase.toLowerCase()}/`)) {
        let origin = 'another host';
        try {
          origin = new URL(path).origin;
        } catch {
          // keep the generic wording
        }
        throw new GraphRequestError({
          operation: 'following a Graph link',
          status: 0,
          graphCode: 'UnexpectedUrl',
          graphMessage: `refused a link to ${origin}: only ${this.versionBase} is trusted with the access token`,
        });
      }
      return path.slice(this.versionBase.length);
    }
    return path.startsWith('/') ? path : `/${path}`;
  }
}

interface BatchAnswer {
  status: number;
  headers: Record<string, string>;
  body: unknown;
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

function dispatch(request: SdkRequest, method: HttpMethod, body: unknown): Promise<unknown> {
  switch (method) {
    case 'GET':
      return request.get();
    case 'POST':
      return request.post(body);
    case 'PATCH':
      return request.patch(body);
    case 'PUT':
      return request.put(body);
    case 'DELETE':
      return request.delete();
  }
}

function encodeQuery(query: NonNullable<GraphCall['query']>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(query)) {
    if (value !== undefined) out[key] = encodeURIComponent(String(value));
  }
  return out;
}

function parseBody(text: string, contentType: string | undefined): unknown {
  if (text === '') return undefined;
  const looksJson = /json/i.test(contentType ?? '') || /^\s*[[{]/.test(text);
  if (!looksJson) return text;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
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
