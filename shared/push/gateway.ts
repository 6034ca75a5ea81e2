/**
 * A push gateway of the organisation's own (or a vendor's) behind a signed webhook.
 *
 * Request: `POST <url>` with JSON `{ deliveryId, devices: [{ deviceId, platform, token }], content }`
 * and headers `X-MailPush-Signature: t=<unix s>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`,
 * `X-MailPush-Timestamp: <t>`, `X-MailPush-Delivery: <deliveryId>`. The gateway verifies the
 * signature with verifyWebhookSignature (webhook-signature.ts), rejects it when older than 5 min, and
 * should treat a repeated `deliveryId` as already handled: a retry after a lost answer carries the
 * same id, so a gateway that deduplicates never pushes twice.
 *
 * Answers:
 * - 2xx with `{ results: [{ deviceId, outcome: 'sent' | 'invalid_token' | 'retry' }] }` — per
 *   device; without results (or for a device not listed) the device counts as `sent`;
 * - 410 for the whole request → every device `invalid_token`;
 * - 408, 429, 5xx, no answer, a timeout → retried here (3 attempts, backoff within ~2 s, Retry-After
 *   honoured when it fits), then `retry` outcomes carrying Retry-After;
 * - any other status (400, 401, 403, 404, a redirect) → DependencyError: the configuration is
 *   wrong, and trying again the same way cannot help.
 *
 * registerDevice/unregisterDevice do nothing: the gateway receives the token with every push.
 */
import { randomUUID } from 'node:crypto';
import type { DeviceRecord, PushContent, PushDeliveryOutcome, PushProvider } from '../domain/ports.js';
import { DependencyError } from '../errors.js';
import { retryAfterMs, sleep } from './retry.js';
import { SIGNATURE_HEADER, TIMESTAMP_HEADER, signWebhookBody } from './gateway-signature.js';

export {
  DEFAULT_SIGNATURE_MAX_AGE_SECONDS,
  SIGNATURE_HEADER,
  TIMESTAMP_HEADER,
  computeWebhookSignature,
  signWebhookBody,
  verifyWebhookSignature,
  type WebhookSignatureCheck,
} from './gateway-signature.js';

export const DELIVERY_HEADER = 'X-MailPush-Delivery';
/** A shorter secret is refused: HMAC keys should carry at least 128 bits of entropy, in practice more. */
export const MIN_WEBHOOK_SECRET_LENGTH = 32;

/** The JSON body the gateway receives. */
export interface WebhookPushRequest {
  deliveryId: string;
  devices: { deviceId: string; platform: DeviceRecord['platform']; token: string }[];
  content: PushContent;
}

export interface SignedWebhookPushProviderOptions {
  url: string;
  secret: string;
  /** Attempts per send, the first included. Default 3. */
  maxAttempts?: number;
  /** Wait before the second attempt; tripled for each further one. Default 250 ms (then 750 ms). */
  initialBackoffMs?: number;
  /** Most time spent waiting between attempts of one send. Default 2,000 ms. */
  maxTotalBackoffMs?: number;
  /** Per attempt. Default 5 s. */
  requestTimeoutMs?: number;
  /** Epoch milliseconds (the signature's timestamp). */
  now?: () => number;
}

const DEPENDENCY = 'push:webhook';

/** Undefined if `url` is acceptable as the gateway URL, else what is wrong (never echoing credentials). */
export function webhookUrlProblem(url: string): string | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return 'expected an absolute https URL';
  }
  if (parsed.username || parsed.password) {
    return 'must not contain credentials (user:password@); the HMAC signature authenticates us';
  }
  if (parsed.protocol === 'https:') return undefined;
  if (parsed.protocol === 'http:' && isLoopback(parsed.hostname)) return undefined;
  return `expected https (plain http only on loopback for local testing), got ${parsed.protocol}//${parsed.host}`;
}

function isLoopback(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '[::1]' || /^127(\.\d{1,3}){3}$/.test(hostname);
}

export class SignedWebhookPushProvider implements PushProvider {
  readonly name = 'webhook';
  private readonly url: string;
  private readonly secret: string;
  private readonly maxAttempts: number;
  private readonly initialBackoffMs: number;
  private readonly maxTotalBackoffMs: number;
  private readonly requestTimeoutMs: number;
  private readonly now: () => number;

  constructor(options: SignedWebhookPushProviderOptions) {
    const problem = webhookUrlProblem(options.url);
    if (problem) throw new Error(`push webhook URL: ${problem}`);
    if (options.secret.length < MIN_WEBHOOK_SECRET_LENGTH) {
      throw new Error(`push webhook secret: expected at least ${MIN_WEBHOOK_SECRET_LENGTH} characters`);
    }
    this.url = options.url;
    this.secret = options.secret;
    this.maxAttempts = Math.max(1, options.maxAttempts ?? 3);
    this.initialBackoffMs = options.initialBackoffMs ?? 250;
    this.maxTotalBackoffMs = options.maxTotalBackoffMs ?? 2_000;
    this.requestTimeoutMs = options.requestTimeoutMs ?? 5_000;
    this.now = options.now ?? Date.now;
  }

  async registerDevice(_device: DeviceRecord): Promise<void> {}

  async unregisterDevice(_device: DeviceRecord): Promise<void> {}

  async send(devices: readonly DeviceRecord[], content: PushContent): Promise<PushDeliveryOutcome[]> {
    if (devices.length === 0) return [];
    const request: WebhookPushRequest = {
      deliveryId: randomUUID(),
      devices: devices.map(({ deviceId, platform, token }) => ({ deviceId, platform, token })),
      content,
    };
    const body = JSON.stringify(request);
    let waited = 0;
    for (let attempt = 1; ; attempt++) {
      const result = await this.post(body, request.deliveryId);
      if (result.kind === 'answered') return outcomesFrom(devices, result.json);
      if (result.kind === 'gone') {
        return devices.map(({ deviceId }) => ({
          deviceId,
          outcome: 'invalid_token',
          detail: 'the push gateway answered 410 Gone',
        }));
      }
      if (result.kind === 'fatal') {
        throw new DependencyError(DEPENDENCY, result.message);
      }
      const backoff = result.retryAfterMs ?? this.initialBackoffMs * 3 ** (attempt - 1);
      if (attempt >= this.maxAttempts || waited + backoff > this.maxTotalBackoffMs) {
        return devices.map(({ deviceId }) => ({
          deviceId,
          outcome: 'retry',
          ...(result.retryAfterMs !== undefined ? { retryAfterMs: result.retryAfterMs } : {}),
          detail: `${result.message} (after ${attempt} attempt${attempt === 1 ? '' : 's'})`,
        }));
      }
      waited += backoff;
      await sleep(backoff);
    }
  }

  private async post(body: string, deliveryId: string): Promise<PostResult> {
    // Signed per attempt: a retry gets a fresh timestamp, so it is never refused as a replay.
    const timestamp = Math.floor(this.now() / 1000);
    let response: Response;
    try {
      response = await fetch(this.url, {
        method: 'POST',
        headers: {
          'Content-Type': 'application/json; charset=utf-8',
          [SIGNATURE_HEADER]: signWebhookBody(this.secret, body, timestamp),
          [TIMESTAMP_HEADER]: String(timestamp),
          [DELIVERY_HEADER]: deliveryId,
        },
        body,
        // A redirect would resend a signed body somewhere else (perhaps over http): refuse.
        redirect: 'manual',
        signal: AbortSignal.timeout(this.requestTimeoutMs),
      });
    } catch (error) {
      const name = error instanceof Error ? error.name : 'error';
      const message =
        name === 'TimeoutError' || name === 'AbortError'
          ? `the push gateway did not answer within ${this.requestTimeoutMs} ms`
          : `no answer from the push gateway (${networkCode(error)})`;
      return { kind: 'transient', message };
    }
    const text = await response.text().catch(() => '');
    const status = response.status;
    if (status >= 200 && status < 300) return { kind: 'answered', json: parseJson(text) };
    if (status === 410) return { kind: 'gone' };
    if (status === 408 || status === 429 || status >= 500) {
      const wait = retryAfterMs((name) => response.headers.get(name), this.now());
      return {
        kind: 'transient',
        message: `the push gateway answered HTTP ${status}`,
        ...(wait !== undefined ? { retryAfterMs: wait } : {}),
      };
    }
    const hint =
      status === 401 || status === 403
        ? ' (signature refused: check PUSH_WEBHOOK_SECRET matches the gateway)'
        : status >= 300 && status < 400
          ? ' (redirects are not followed: set PUSH_WEBHOOK_URL to the final URL)'
          : '';
    return { kind: 'fatal', message: `the push gateway refused the request with HTTP ${status}${hint}` };
  }
}

type PostResult =
  | { kind: 'answered'; json: unknown }
  | { kind: 'gone' }
  | { kind: 'transient'; message: string; retryAfterMs?: number }
  | { kind: 'fatal'; message: string };

function outcomesFrom(devices: readonly DeviceRecord[], json: unknown): PushDeliveryOutcome[] {
  const reported = new Map<string, PushDeliveryOutcome>();
  const results = isObject(json) && Array.isArray(json.results) ? (json.results as unknown[]) : [];
  for (const result of results) {
    if (!isObject(result) || typeof result.deviceId !== 'string') continue;
    const deviceId = result.deviceId;
    const detail = typeof result.detail === 'string' ? { detail: result.detail.slice(0, 200) } : {};
    if (result.outcome === 'invalid_token') {
      reported.set(deviceId, { deviceId, outcome: 'invalid_token', ...detail });
    } else if (result.outcome === 'retry') {
      const seconds = result.retryAfterSeconds;
      reported.set(deviceId, {
        deviceId,
        outcome: 'retry',
        ...(typeof seconds === 'number' && seconds >= 0 ? { retryAfterMs: seconds * 1000 } : {}),
        ...detail,
      });
    } else if (result.outcome === 'sent') {
      reported.set(deviceId, { deviceId, outcome: 'sent' });
    }
  }
  return devices.map(({ deviceId }) => reported.get(deviceId) ?? { deviceId, outcome: 'sent' });
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function parseJson(text: string): unknown {
  if (!text.trim()) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** `ECONNREFUSED`, `ENOTFOUND`, a TLS error code…: fetch hides it in `cause`. */
function networkCode(error: unknown): string {
  const cause = error instanceof Error ? (error.cause as { code?: unknown } | undefined) : undefined;
  if (cause && typeof cause.code === 'string') return cause.code;
  return error instanceof Error ? error.name : 'network error';
}
