/**
 * A push gateway as SignedWebhookPushProvider expects one (shared/push/webhook.ts): verifies
 * `X-MailPush-Signature` with verifyWebhookSignature (401 when it does not verify or is older than
 * 5 minutes), checks `X-MailPush-Timestamp` matches, treats a repeated `deliveryId` as already
 * handled (answers the same results, pushes nothing twice), and answers per-device results.
 * HTTP on loopback by default, or HTTPS with a certificate from the local CA. No vitest import.
 *
 * ```ts
 * const gateway = await startPushGatewaySim({ secret });
 * gateway.failNext(2, 500);            // the next two requests answer 500
 * gateway.markTokenInvalid('tok-1');   // results say invalid_token for that token
 * gateway.pushes(); gateway.requests();
 * ```
 */
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { PushContent } from '../../../shared/domain/ports.js';
import {
  SIGNATURE_HEADER,
  TIMESTAMP_HEADER,
  verifyWebhookSignature,
  type WebhookSignatureCheck,
} from '../../../shared/push/gateway-signature.js';
import {
  caFromEnvironment,
  createCertificateAuthority,
  issueServerCertificate,
  type CertificateAuthority,
} from '../graph/certs.js';

export interface GatewayPush {
  deliveryId: string;
  devices: { deviceId: string; platform: string; token: string }[];
  content: PushContent;
  results: { deviceId: string; outcome: 'sent' | 'invalid_token' }[];
  at: string;
}

export interface GatewayRequest {
  status: number;
  deliveryId?: string;
  /** `valid`, or why the signature was refused. */
  signature: 'valid' | WebhookSignatureReason;
  duplicate: boolean;
}

type WebhookSignatureReason =
  Extract<WebhookSignatureCheck, { valid: false }>['reason'] | 'timestamp_mismatch';

export interface PushGatewaySimOptions {
  secret: string;
  /** Serve HTTPS with a certificate from the local CA (GRAPH_SIMULATOR_CA_DIR or `ca`). Default false. */
  https?: boolean;
  ca?: CertificateAuthority;
  host?: string;
  port?: number;
  /** Path to accept pushes on. Default `/push`. */
  path?: string;
}

export interface PushGatewaySim {
  /** Full URL to POST pushes to. */
  readonly url: string;
  readonly caCertificatePem: string | undefined;
  pushes(): GatewayPush[];
  requests(): GatewayRequest[];
  /** The next `times` valid requests answer `status` (500 by default), optionally with Retry-After. */
  failNext(times: number, status?: number, retryAfterSeconds?: number): void;
  markTokenInvalid(token: string): void;
  reset(): void;
  stop(): Promise<void>;
}

export async function startPushGatewaySim(options: PushGatewaySimOptions): Promise<PushGatewaySim> {
  const host = options.host ?? '127.0.0.1';
  const path = options.path ?? '/push';
  const pushes = new Map<string, GatewayPush>();
  const requests: GatewayRequest[] = [];
  const invalidTokens = new Set<string>();
  let failures: { remaining: number; status: number; retryAfterSeconds: number | undefined } = {
    remaining: 0,
    status: 500,
    retryAfterSeconds: undefined,
  };

  let caPem: string | undefined;
  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    void handle(req, res);
  };
  let server;
  if (options.https) {
    const ca = options.ca ?? caFromEnvironment() ?? createCertificateAuthority('Push gateway stand-in CA');
    caPem = ca.certPem;
    const cert = issueServerCertificate(ca, { dns: ['localhost'], ips: ['127.0.0.1', '::1'] });
    server = createHttpsServer({ key: cert.keyPem, cert: cert.certPem }, handler);
  } else {
    server = createHttpServer(handler);
  }
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const url = `${options.https ? 'https' : 'http'}://${host}:${port}${path}`;

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    const answer = (status: number, json?: unknown, headers: Record<string, string> = {}) => {
      const payload = json === undefined ? '' : JSON.stringify(json);
      res.writeHead(status, { 'Content-Type': 'application/json', ...headers });
      res.end(payload);
    };

    if (req.method !== 'POST' || new URL(req.url ?? '/', 'http://x').pathname !== path) {
      requests.push({ status: 404, signature: 'malformed', duplicate: false });
      answer(404, { error: 'not found' });
      return;
    }
    const signatureHeader = header(req, SIGNATURE_HEADER);
    const check = verifyWebhookSignature(options.secret, signatureHeader, body, Date.now());
    let signature: GatewayRequest['signature'] = check.valid ? 'valid' : check.reason;
    if (check.valid && header(req, TIMESTAMP_HEADER) !== String(check.timestampSeconds)) {
      signature = 'timestamp_mismatch';
    }
    if (signature !== 'valid') {
      requests.push({ status: 401, signature, duplicate: false });
      answer(401, { error: `signature ${signature}` });
      return;
    }

    const request = parseRequest(body);
    if (!request) {
      requests.push({ status: 400, signature, duplicate: false });
      answer(400, { error: 'expected { deliveryId, devices: [{ deviceId, platform, token }], content }' });
      return;
    }
    if (failures.remaining > 0) {
      failures.remaining -= 1;
      requests.push({ status: failures.status, deliveryId: request.deliveryId, signature, duplicate: false });
      answer(
        failures.status,
        { error: 'injected failure' },
        failures.retryAfterSeconds !== undefined ? { 'Retry-After': String(failures.retryAfterSeconds) } : {},
      );
      return;
    }
    const earlier = pushes.get(request.deliveryId);
    if (earlier) {
      // Already pushed (our answer was lost): the same results, no second push.
      requests.push({ status: 200, deliveryId: request.deliveryId, signature, duplicate: true });
      answer(200, { results: earlier.results });
      return;
    }
    const results = request.devices.map(({ deviceId, token }) => ({
      deviceId,
      outcome: invalidTokens.has(token) ? ('invalid_token' as const) : ('sent' as const),
    }));
    pushes.set(request.deliveryId, { ...request, results, at: new Date().toISOString() });
    requests.push({ status: 200, deliveryId: request.deliveryId, signature, duplicate: false });
    answer(200, { results });
  }

  return {
    url,
    caCertificatePem: caPem,
    pushes: () => [...pushes.values()].map((push) => structuredClone(push)),
    requests: () => requests.map((request) => ({ ...request })),
    failNext: (times, status = 500, retryAfterSeconds) => {
      failures = { remaining: times, status, retryAfterSeconds };
    },
    markTokenInvalid: (token) => {
      invalidTokens.add(token);
    },
    reset: () => {
      pushes.clear();
      requests.length = 0;
      invalidTokens.clear();
      failures = { remaining: 0, status: 500, retryAfterSeconds: undefined };
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name.toLowerCase()];
  return Array.isArray(value) ? value[0] : value;
}

function parseRequest(body: string): Omit<GatewayPush, 'results' | 'at'> | undefined {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    return undefined;
  }
  if (typeof json !== 'object' || json === null) return undefined;
  const { deliveryId, devices, content } = json as Record<string, unknown>;
  if (
    typeof deliveryId !== 'string' ||
    !deliveryId ||
    !Array.isArray(devices) ||
    typeof content !== 'object' ||
    !content
  ) {
    return undefined;
  }
  for (const device of devices as unknown[]) {
    const d = device as Record<string, unknown> | null;
    if (
      !d ||
      typeof d.deviceId !== 'string' ||
      typeof d.platform !== 'string' ||
      typeof d.token !== 'string'
    ) {
      return undefined;
    }
  }
  return {
    deliveryId,
    devices: devices as GatewayPush['devices'],
    content: content as PushContent,
  };
}
