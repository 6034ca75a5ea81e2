/**
 * Outbound calls the simulator makes to the service under test, like Graph does:
 * - the validation handshake (POST `?validationToken=`, text/plain, expect 200 + the token);
 * - change and lifecycle notifications (POST JSON; any 2xx acknowledges; anything else, a
 *   network error or no answer within the per-attempt timeout is retried with exponential
 *   backoff, which is how real Graph produces duplicates).
 */
import { existsSync, readFileSync } from 'node:fs';
import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { rootCertificates } from 'node:tls';

export interface OutboundAttempt {
  kind: 'validation' | 'change' | 'lifecycle';
  url: string;
  attempt: number;
  /** HTTP status, when an answer came. */
  status?: number;
  /** 'timeout', a socket error code, or the reason the answer was not accepted. */
  error?: string;
  at: string;
  subscriptionIds: string[];
}

export interface RetryPolicy {
  initialDelayMs: number;
  maxAttempts: number;
}

interface PostResult {
  status: number;
  body: string;
  contentType: string | undefined;
}

export class Notifier {
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly wakers = new Set<() => void>();
  private readonly inFlight = new Set<AbortController>();
  private stopped = false;
  readonly log: OutboundAttempt[] = [];

  /** Trust for https webhooks: Node's roots, NODE_EXTRA_CA_CERTS (an explicit `ca` replaces the
   * default store, which would drop them) and the simulator's own CA. */
  private readonly trusted: string[];
  // Graph keeps connections to a webhook open between POSTs; a new TCP connection per
  // notification would cost both sides more than the notification itself.
  private readonly httpAgent = new HttpAgent({ keepAlive: true, maxSockets: 64 });
  private readonly httpsAgent = new HttpsAgent({ keepAlive: true, maxSockets: 64 });

  constructor(
    private readonly options: {
      retry: RetryPolicy;
      /** Per attempt (Graph waits about 3 s for a notification answer). */
      notificationTimeoutMs: number;
      /** Extra CA to trust for https webhooks (the simulator's own CA). */
      caPem: string;
      onAttempt: (attempt: OutboundAttempt) => void;
    },
  ) {
    const extra = process.env.NODE_EXTRA_CA_CERTS;
    let extraPem = '';
    try {
      if (extra && existsSync(extra)) extraPem = readFileSync(extra, 'utf8');
    } catch {
      // unreadable: Node ignores it too
    }
    this.trusted = [...rootCertificates, ...(extraPem.trim() ? [extraPem] : []), options.caPem];
  }

  /**
   * The validation handshake: Graph POSTs `notificationUrl?validationToken=<url-encoded token>`
   * with `Content-Type: text/plain` and an empty body; the endpoint must answer 200 with the
   * decoded token as the body, within 10 s.
   */
  async validate(
    url: string,
    token: string,
    timeoutMs: number,
    subscriptionId: string,
  ): Promise<
    { ok: true } | { ok: false; reason: 'timeout' | 'status' | 'body' | 'network'; detail: string }
  > {
    const target = new URL(url);
    target.searchParams.set('validationToken', token);
    const attempt: OutboundAttempt = {
      kind: 'validation',
      url,
      attempt: 1,
      at: new Date().toISOString(),
      subscriptionIds: [subscriptionId],
    };
    try {
      const res = await this.post(target, '', 'text/plain; charset=utf-8', timeoutMs);
      attempt.status = res.status;
      if (res.status !== 200) {
        attempt.error = `status ${res.status}`;
        return { ok: false, reason: 'status', detail: `answered ${res.status}` };
      }
      if (res.body !== token) {
        attempt.error = 'body does not equal the validation token';
        return { ok: false, reason: 'body', detail: 'body does not equal the validation token' };
      }
      return { ok: true };
    } catch (err) {
      const code = errorCode(err);
      attempt.error = code;
      return code === 'timeout'
        ? { ok: false, reason: 'timeout', detail: `no answer within ${timeoutMs} ms` }
        : { ok: false, reason: 'network', detail: code };
    } finally {
      this.record(attempt);
    }
  }

  /**
   * POSTs a notification payload with Graph's retry behaviour. Resolves true once a 2xx came,
   * false when every attempt failed or the simulator stopped. Never rejects.
   */
  async deliver(
    kind: 'change' | 'lifecycle',
    url: string,
    payload: unknown,
    subscriptionIds: string[],
  ): Promise<boolean> {
    const body = JSON.stringify(payload);
    const { initialDelayMs, maxAttempts } = this.options.retry;
    for (let attempt = 1; attempt <= maxAttempts && !this.stopped; attempt++) {
      if (attempt > 1) await this.wait(initialDelayMs * 2 ** (attempt - 2));
      if (this.stopped) break;
      const entry: OutboundAttempt = { kind, url, attempt, at: new Date().toISOString(), subscriptionIds };
      try {
        const res = await this.post(
          new URL(url),
          body,
          'application/json; charset=utf-8',
          this.options.notificationTimeoutMs,
        );
        entry.status = res.status;
        if (res.status >= 200 && res.status < 300) {
          this.record(entry);
          return true;
        }
        entry.error = `status ${res.status}`;
      } catch (err) {
        entry.error = errorCode(err);
      }
      this.record(entry);
    }
    return false;
  }

  /** Cancels pending retries and in-flight posts; pending `deliver` calls resolve false. */
  stop(): void {
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    for (const wake of this.wakers) wake();
    this.wakers.clear();
    for (const ac of this.inFlight) ac.abort();
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }

  private record(attempt: OutboundAttempt): void {
    this.log.push(attempt);
    if (this.log.length > 10_000) this.log.splice(0, this.log.length - 10_000);
    this.options.onAttempt(attempt);
  }

  private wait(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.timers.delete(timer);
        this.wakers.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.timers.add(timer);
      this.wakers.add(wake);
    });
  }

  private post(url: URL, body: string, contentType: string, timeoutMs: number): Promise<PostResult> {
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      return Promise.reject(new Error('unsupported protocol'));
    }
    const ac = new AbortController();
    this.inFlight.add(ac);
    const payload = Buffer.from(body);
    const options = {
      method: 'POST',
      headers: {
        'Content-Type': contentType,
        'Content-Length': String(payload.length),
        'User-Agent': 'Microsoft-Graph-Simulator/1.0 (change notifications)',
      },
      signal: ac.signal,
    };
    return new Promise<PostResult>((resolve, reject) => {
      const timer = setTimeout(() => {
        ac.abort();
        reject(Object.assign(new Error('timeout'), { code: 'timeout' }));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        this.inFlight.delete(ac);
      };
      const onResponse = (res: import('node:http').IncomingMessage) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          done();
          resolve({
            status: res.statusCode ?? 0,
            body: Buffer.concat(chunks).toString('utf8'),
            contentType: res.headers['content-type'],
          });
        });
        res.on('error', (err) => {
          done();
          reject(err);
        });
      };
      const req =
        url.protocol === 'https:'
          ? httpsRequest(url, { ...options, ca: this.trusted, agent: this.httpsAgent }, onResponse)
          : httpRequest(url, { ...options, agent: this.httpAgent }, onResponse);
      req.on('error', (err) => {
        done();
        reject(err);
      });
      req.end(payload);
    });
  }
}

function errorCode(err: unknown): string {
  if (err && typeof err === 'object') {
    const code = (err as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    const message = (err as { message?: unknown }).message;
    if (typeof message === 'string') return message;
  }
  return String(err);
}
