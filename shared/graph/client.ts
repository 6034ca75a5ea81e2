/**
 * Our Graph client: a thin wrapper over `@microsoft/microsoft-graph-client` (the only module in the
 * app that imports it, with shared/graph/*) that returns plain `{ status, headers, body }` answers,
 * throws {@link GraphRequestError}, and adds what the SDK lacks: `$batch` with per-member retries
 * (batch.ts).
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
import type { Client, GraphRequest as SdkRequest, Middleware } from '@microsoft/microsoft-graph-client';
import azureTokenCredentials from '@microsoft/microsoft-graph-client/authProviders/azureTokenCredentials/index.js';
import { graphScope, resolveGraphEndpoints } from '../auth/index.js';
import { ConfigError } from '../errors.js';
import {
  DEFAULT_BATCH,
  runBatch,
  type BatchMember,
  type BatchMemberResult,
  type BatchOptions,
  type BatchTuning,
} from './batch.js';
import { GraphRequestError, graphErrorFromResponse, operationName, parseRetryAfter } from './errors.js';
import { FetchHandler, noAnswerError } from './transport.js';

// The `batch` method's types, for callers that import the client alone.
export type { BatchMember, BatchMemberResult, BatchOptions } from './batch.js';

const { TokenCredentialAuthenticationProvider } = azureTokenCredentials;

export const GRAPH_VERSION = 'v1.0';

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
// The client

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

  batch(
    members: readonly BatchMember[],
    options: BatchOptions = {},
  ): Promise<Map<string, BatchMemberResult>> {
    return runBatch(
      members,
      options,
      {
        post: (body) => this.request<unknown>({ method: 'POST', path: '/$batch', body }),
        relativePath: (url) => this.relativePath(url),
      },
      this.tuning,
    );
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
