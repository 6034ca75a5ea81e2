/**
 * A local stand-in for one Azure Notification Hub, speaking the REST calls that
 * `@azure/notification-hubs` (2.x, api-version 2020-06) makes for installations and sends, over
 * HTTPS with a certificate from the local CA (GRAPH_SIMULATOR_CA_DIR, which the test workers and the
 * local runner trust). No vitest import: the local runner may use it.
 *
 * ```ts
 * const hub = await startNotificationHubsSim();
 * new NotificationHubsPushProvider({ connectionString: hub.connectionString, hubName: hub.hubName });
 * hub.installations(); hub.sends();
 * hub.failNext({ operation: 'send', status: 503, retryAfterSeconds: 7 });
 * hub.expirePushChannel(installationId);   // as after APNs/FCM rejected the token
 * await hub.stop();
 * ```
 *
 * The SDK turns `Endpoint=sb://127.0.0.1:<port>/` into `https://127.0.0.1:<port>/` (a string
 * replace of the scheme, so the port survives) and signs with that base URL as the SAS audience.
 *
 * Checked on every request, as the service does:
 * - `Authorization: SharedAccessSignature sr=<url-encoded resource>&sig=<url-encoded base64
 *   HMAC-SHA256(key, "<sr>\n<se>")>&se=<expiry, unix s>&skn=<key name>`: known key name, signature
 *   by that key (over the UTF-8 bytes of the key string, as Service Bus does), not expired, and a
 *   resource that is a prefix of the requested URL → else 401 with the service's XML error body;
 * - `api-version` present; the hub name in the path exists (else 404).
 * Routes:
 * - `PUT /{hub}/installations/{id}`: JSON body; `installationId` equal to the path id, a known
 *   platform, a non-empty `pushChannel`, ≤ 60 tags of the allowed characters (≤ 120 each) → 200;
 *   overwrites (and clears `pushChannelExpired`).
 * - `GET /{hub}/installations/{id}` → 200 JSON (with `pushChannelExpired`) or 404.
 * - `DELETE /{hub}/installations/{id}` → 204, also when it does not exist (as documented).
 * - `POST /{hub}/messages/`: `ServiceBusNotification-Format` `apple` or `fcmv1`, JSON content type,
 *   `ServiceBusNotification-Tags` (a tag expression: syntax, 20-tag OR / 6-tag limits) or none
 *   (broadcast), or `?direct` with `ServiceBusNotification-DeviceHandle`. Bodies: apple = an object
 *   with `aps.alert` (string or `{ title?, body? }`), ≤ 4 KB; fcmv1 = `{ message: { notification:
 *   { title?, body? }, data?: string values } }` without a target of its own. → 201 with Location
 *   (the notification id) and TrackingId. The send is recorded with the installations it reached
 *   (same platform, tag expression true) and those skipped because their channel expired.
 * Not simulated: registrations (the older API), templates, scheduled sends, jobs, telemetry,
 * PATCH of installations, other platforms, the PNS feedback container.
 */
import { createHmac, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import {
  caFromEnvironment,
  createCertificateAuthority,
  issueServerCertificate,
  type CertificateAuthority,
} from '../graph/certs.js';
import { TagExpressionError, VALID_TAG, matchesTagExpression, parseTagExpression } from './tag-expression.js';

export type HubOperation = 'createOrUpdateInstallation' | 'getInstallation' | 'deleteInstallation' | 'send';

export interface SimInstallation {
  installationId: string;
  platform: string;
  pushChannel: string;
  tags: string[];
  userId?: string;
  pushChannelExpired: boolean;
  lastUpdate: string;
}

export interface SimSend {
  notificationId: string;
  format: string;
  contentType: string;
  tagExpression?: string;
  /** `?direct` sends: the device handle the notification went to. */
  deviceHandle?: string;
  /** `apns-*` and other notification headers the request carried (lower-case names). */
  notificationHeaders: Record<string, string>;
  body: unknown;
  /** Installations the notification reached. */
  delivered: string[];
  /** Installations the expression matched whose channel had expired (not delivered). */
  skippedExpired: string[];
  at: string;
}

export interface SimRequestLog {
  method: string;
  path: string;
  operation: HubOperation | 'unknown';
  status: number;
}

export interface FailNextOptions {
  /** Default: any operation. */
  operation?: HubOperation;
  status: number;
  /** How many matching requests fail. Default 1. */
  times?: number;
  retryAfterSeconds?: number;
}

export interface NotificationHubsSimOptions {
  hubName?: string;
  keyName?: string;
  /** Default: 32 random bytes, base64 (the shape of a real key). */
  key?: string;
  host?: string;
  port?: number;
  /** Default: the CA named by GRAPH_SIMULATOR_CA_DIR, else a new one (then trust caCertificatePem). */
  ca?: CertificateAuthority;
}

export interface NotificationHubsSim {
  /** `https://127.0.0.1:<port>` */
  readonly url: string;
  readonly hubName: string;
  readonly keyName: string;
  readonly key: string;
  /** `Endpoint=sb://127.0.0.1:<port>/;SharedAccessKeyName=…;SharedAccessKey=…` */
  readonly connectionString: string;
  readonly caCertificatePem: string;
  /** The same endpoint with another key name and/or key (e.g. a wrong key). */
  connectionStringWith(overrides: { keyName?: string; key?: string }): string;
  installations(): SimInstallation[];
  installation(installationId: string): SimInstallation | undefined;
  sends(): SimSend[];
  requests(): SimRequestLog[];
  failNext(options: FailNextOptions): void;
  /** As when APNs/FCM told the hub the token is no longer valid. */
  expirePushChannel(installationId: string): void;
  /** As when the hub drops an installation by itself (installation TTL, recreated hub). */
  removeInstallation(installationId: string): void;
  reset(): void;
  stop(): Promise<void>;
}

const API_VERSION_PARAM = 'api-version';
const MAX_BODY_BYTES = 64 * 1024;
const APNS_MAX_PAYLOAD_BYTES = 4096;
const PLATFORMS = new Set(['apns', 'gcm', 'fcmv1', 'wns', 'mpns', 'adm', 'baidu', 'browser', 'xiaomi']);
/** Notification format → installation platform it reaches. */
const FORMAT_PLATFORM: Record<string, string> = { apple: 'apns', fcmv1: 'fcmv1' };

interface Reply {
  status: number;
  headers?: Record<string, string>;
  body?: string;
}

export async function startNotificationHubsSim(
  options: NotificationHubsSimOptions = {},
): Promise<NotificationHubsSim> {
  const hubName = options.hubName ?? 'mailpush-local';
  const keyName = options.keyName ?? 'DefaultFullSharedAccessSignature';
  const key = options.key ?? randomBytes(32).toString('base64');
  const host = options.host ?? '127.0.0.1';
  const ca = options.ca ?? caFromEnvironment() ?? createCertificateAuthority('Notification Hubs stand-in CA');
  const serverCert = issueServerCertificate(ca, { dns: ['localhost'], ips: ['127.0.0.1', '::1'] });

  const installations = new Map<string, SimInstallation>();
  const sends: SimSend[] = [];
  const log: SimRequestLog[] = [];
  const faults: (FailNextOptions & { times: number })[] = [];

  const server = createServer({ key: serverCert.keyPem, cert: serverCert.certPem }, (req, res) => {
    void handle(req, res);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const url = `https://${host}:${port}`;
  const connectionStringWith = (overrides: { keyName?: string; key?: string }): string =>
    `Endpoint=sb://${host}:${port}/;SharedAccessKeyName=${overrides.keyName ?? keyName};SharedAccessKey=${overrides.key ?? key}`;

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const method = req.method ?? 'GET';
    const requestUrl = new URL(req.url ?? '/', `https://${req.headers.host ?? `${host}:${port}`}`);
    let operation: HubOperation | 'unknown' = 'unknown';
    let reply: Reply;
    try {
      const body = await readBody(req);
      const route = routeOf(method, requestUrl.pathname);
      operation = route?.operation ?? 'unknown';
      reply =
        authorize(req, requestUrl) ??
        (requestUrl.searchParams.has(API_VERSION_PARAM)
          ? undefined
          : xmlError(400, 'The api-version query parameter is required.')) ??
        injectedFault(operation) ??
        (route
          ? dispatch(route, req, requestUrl, body)
          : xmlError(404, 'No service is hosted at the specified address.'));
    } catch (error) {
      reply =
        error instanceof BodyTooLarge
          ? xmlError(413, `The request body exceeds ${MAX_BODY_BYTES} bytes.`)
          : xmlError(500, `stand-in failure: ${String(error)}`);
    }
    log.push({ method, path: requestUrl.pathname, operation, status: reply.status });
    const payload = reply.body === undefined ? undefined : Buffer.from(reply.body);
    res.writeHead(reply.status, {
      TrackingId: randomUUID(),
      'x-ms-correlation-request-id': randomUUID(),
      ...(reply.headers ?? {}),
      'Content-Length': String(payload?.length ?? 0),
    });
    res.end(payload);
  }

  /** undefined when the SAS token is good; else the 401 the service would answer. */
  function authorize(req: IncomingMessage, requestUrl: URL): Reply | undefined {
    const header = req.headers.authorization;
    if (!header) return xmlError(401, 'MissingToken: The authorization header was not found.');
    const match = /^SharedAccessSignature\s+(.+)$/.exec(header);
    if (!match)
      return xmlError(
        401,
        'MalformedToken: The credentials contained in the authorization header are not in the SharedAccessSignature format.',
      );
    const fields = new Map<string, string>();
    for (const pair of (match[1] as string).split('&')) {
      const eq = pair.indexOf('=');
      if (eq > 0) fields.set(pair.slice(0, eq), pair.slice(eq + 1));
    }
    const sr = fields.get('sr');
    const sig = fields.get('sig');
    const se = fields.get('se');
    const skn = fields.get('skn');
    if (!sr || !sig || !se || !skn || !/^\d+$/.test(se)) {
      return xmlError(401, 'MalformedToken: sr, sig, se and skn are required.');
    }
    if (decodeURIComponent(skn) !== keyName) {
      return xmlError(401, `InvalidSignature: The token has an invalid signature (unknown key name).`);
    }
    const expected = createHmac('sha256', key).update(`${sr}\n${se}`, 'utf8').digest();
    let given: Buffer;
    try {
      given = Buffer.from(decodeURIComponent(sig), 'base64');
    } catch {
      return xmlError(401, 'MalformedToken: the signature is not URL-encoded base64.');
    }
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      return xmlError(401, 'InvalidSignature: The token has an invalid signature.');
    }
    if (Number(se) < Math.floor(Date.now() / 1000)) {
      return xmlError(401, 'ExpiredToken: The token is expired.');
    }
    const audience = stripScheme(decodeURIComponent(sr).toLowerCase());
    const resource = stripScheme(`${requestUrl.host}${requestUrl.pathname}`.toLowerCase());
    if (!resource.startsWith(audience.replace(/\/$/, ''))) {
      return xmlError(401, 'InvalidAudience: The token audience does not match the requested resource.');
    }
    return undefined;
  }

  function injectedFault(operation: HubOperation | 'unknown'): Reply | undefined {
    const index = faults.findIndex((fault) => fault.operation === undefined || fault.operation === operation);
    if (index < 0) return undefined;
    const fault = faults[index] as FailNextOptions & { times: number };
    fault.times -= 1;
    if (fault.times <= 0) faults.splice(index, 1);
    return xmlError(
      fault.status,
      `Injected failure ${fault.status}.`,
      fault.retryAfterSeconds !== undefined ? { 'Retry-After': String(fault.retryAfterSeconds) } : {},
    );
  }

  function dispatch(route: Route, req: IncomingMessage, requestUrl: URL, body: Buffer): Reply {
    if (route.hub.toLowerCase() !== hubName.toLowerCase()) {
      return xmlError(404, `The notification hub '${route.hub}' was not found.`);
    }
    switch (route.operation) {
      case 'createOrUpdateInstallation':
        return putInstallation(route.installationId as string, body);
      case 'getInstallation': {
        const found = installations.get(route.installationId as string);
        if (!found) return xmlError(404, 'Installation not found.');
        return {
          status: 200,
          headers: { 'Content-Type': 'application/json; charset=utf-8' },
          body: JSON.stringify({ ...found, expirationTime: '9999-12-31T23:59:59.9999999Z' }),
        };
      }
      case 'deleteInstallation':
        installations.delete(route.installationId as string);
        return { status: 204 };
      case 'send':
        return send(req, requestUrl, body);
    }
  }

  function putInstallation(installationId: string, raw: Buffer): Reply {
    const body = parseJson(raw);
    if (!isObject(body)) return xmlError(400, 'The installation must be a JSON object.');
    if (body.installationId !== installationId) {
      return xmlError(400, 'installationId in the body must equal the id in the URL.');
    }
    const platform = typeof body.platform === 'string' ? body.platform.toLowerCase() : '';
    if (!PLATFORMS.has(platform)) return xmlError(400, `Unknown platform "${String(body.platform)}".`);
    if (typeof body.pushChannel !== 'string' || body.pushChannel.length === 0) {
      return xmlError(400, 'pushChannel is required.');
    }
    const tags = body.tags ?? [];
    if (!Array.isArray(tags) || tags.length > 60)
      return xmlError(400, 'tags must be an array of at most 60 tags.');
    for (const tag of tags) {
      if (typeof tag !== 'string' || !VALID_TAG.test(tag)) {
        return xmlError(400, 'A tag may only contain letters, digits and _@#.:- (at most 120 characters).');
      }
    }
    installations.set(installationId, {
      installationId,
      platform,
      pushChannel: body.pushChannel,
      tags: tags as string[],
      ...(typeof body.userId === 'string' ? { userId: body.userId } : {}),
      pushChannelExpired: false,
      lastUpdate: new Date().toISOString(),
    });
    return { status: 200 };
  }

  function send(req: IncomingMessage, requestUrl: URL, raw: Buffer): Reply {
    const format = headerOf(req, 'servicebusnotification-format');
    const platform = format === undefined ? undefined : FORMAT_PLATFORM[format];
    if (!format || !platform) {
      return xmlError(
        400,
        `ServiceBusNotification-Format "${format ?? ''}" is not supported by the stand-in (apple, fcmv1).`,
      );
    }
    const contentType = headerOf(req, 'content-type') ?? '';
    if (!/^application\/json/i.test(contentType))
      return xmlError(400, 'Content-Type must be application/json.');
    const text = raw.toString('utf8');
    const body = parseJson(raw);
    const problem = format === 'apple' ? appleProblem(body, text) : fcmV1Problem(body);
    if (problem) return xmlError(400, `Invalid ${format} payload: ${problem}`);

    const notificationHeaders: Record<string, string> = {};
    for (const [name, value] of Object.entries(req.headers)) {
      if (/^apns-/i.test(name) && typeof value === 'string') notificationHeaders[name.toLowerCase()] = value;
    }
    const record: SimSend = {
      notificationId: randomUUID(),
      format,
      contentType,
      notificationHeaders,
      body,
      delivered: [],
      skippedExpired: [],
      at: new Date().toISOString(),
    };
    if (requestUrl.searchParams.has('direct')) {
      const handle = headerOf(req, 'servicebusnotification-devicehandle');
      if (!handle) return xmlError(400, 'ServiceBusNotification-DeviceHandle is required for a direct send.');
      record.deviceHandle = handle;
    } else {
      const expression = headerOf(req, 'servicebusnotification-tags');
      let matches: (installation: SimInstallation) => boolean = () => true;
      if (expression !== undefined) {
        try {
          const parsed = parseTagExpression(expression);
          matches = (installation) => matchesTagExpression(parsed.root, installation);
        } catch (error) {
          if (error instanceof TagExpressionError)
            return xmlError(400, `Invalid tag expression: ${error.message}`);
          throw error;
        }
        record.tagExpression = expression;
      }
      for (const installation of installations.values()) {
        if (installation.platform !== platform || !matches(installation)) continue;
        (installation.pushChannelExpired ? record.skippedExpired : record.delivered).push(
          installation.installationId,
        );
      }
    }
    sends.push(record);
    return {
      status: 201,
      headers: {
        Location: `${url}/${hubName}/messages/${record.notificationId}?api-version=2020-06`,
      },
    };
  }

  return {
    url,
    hubName,
    keyName,
    key,
    connectionString: connectionStringWith({}),
    caCertificatePem: ca.certPem,
    connectionStringWith,
    installations: () => [...installations.values()].map((i) => structuredClone(i)),
    installation: (id) => {
      const found = installations.get(id);
      return found ? structuredClone(found) : undefined;
    },
    sends: () => sends.map((s) => structuredClone(s)),
    requests: () => log.map((entry) => ({ ...entry })),
    failNext: (fault) => {
      faults.push({ ...fault, times: fault.times ?? 1 });
    },
    expirePushChannel: (id) => {
      const found = installations.get(id);
      if (!found) throw new Error(`no installation ${id}`);
      found.pushChannelExpired = true;
    },
    removeInstallation: (id) => {
      installations.delete(id);
    },
    reset: () => {
      installations.clear();
      sends.length = 0;
      log.length = 0;
      faults.length = 0;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

interface Route {
  operation: HubOperation;
  hub: string;
  installationId?: string;
}

function routeOf(method: string, pathname: string): Route | undefined {
  const installation = /^\/([^/]+)\/installations\/([^/]+)$/.exec(pathname);
  if (installation) {
    const hub = decodeURIComponent(installation[1] as string);
    const installationId = decodeURIComponent(installation[2] as string);
    if (method === 'PUT') return { operation: 'createOrUpdateInstallation', hub, installationId };
    if (method === 'GET') return { operation: 'getInstallation', hub, installationId };
    if (method === 'DELETE') return { operation: 'deleteInstallation', hub, installationId };
    return undefined;
  }
  const messages = /^\/([^/]+)\/messages\/?$/.exec(pathname);
  if (messages && method === 'POST')
    return { operation: 'send', hub: decodeURIComponent(messages[1] as string) };
  return undefined;
}

function appleProblem(body: unknown, text: string): string | undefined {
  if (!isObject(body)) return 'not a JSON object';
  if (Buffer.byteLength(text, 'utf8') > APNS_MAX_PAYLOAD_BYTES) return `over ${APNS_MAX_PAYLOAD_BYTES} bytes`;
  const aps = body.aps;
  if (!isObject(aps)) return 'aps is missing';
  const alert = aps.alert;
  if (typeof alert === 'string') return undefined;
  if (!isObject(alert)) return 'aps.alert is missing';
  for (const field of ['title', 'body']) {
    if (alert[field] !== undefined && typeof alert[field] !== 'string')
      return `aps.alert.${field} must be a string`;
  }
  if (
    aps.badge !== undefined &&
    (typeof aps.badge !== 'number' || !Number.isInteger(aps.badge) || aps.badge < 0)
  ) {
    return 'aps.badge must be a non-negative integer';
  }
  return undefined;
}

function fcmV1Problem(body: unknown): string | undefined {
  if (!isObject(body)) return 'not a JSON object';
  const message = body.message;
  if (!isObject(message)) return 'the FCM v1 envelope { "message": { … } } is missing';
  if ('token' in message || 'topic' in message || 'condition' in message) {
    return 'message must not name a target (the hub adds the token)';
  }
  const notification = message.notification;
  if (!isObject(notification)) return 'message.notification is missing';
  for (const field of ['title', 'body']) {
    if (notification[field] !== undefined && typeof notification[field] !== 'string') {
      return `message.notification.${field} must be a string`;
    }
  }
  if (message.data !== undefined) {
    if (!isObject(message.data)) return 'message.data must be an object';
    for (const [name, value] of Object.entries(message.data)) {
      if (typeof value !== 'string')
        return `message.data.${name} must be a string (FCM data values are strings)`;
    }
  }
  return undefined;
}

function xmlError(status: number, detail: string, headers: Record<string, string> = {}): Reply {
  return {
    status,
    headers: { 'Content-Type': 'application/xml; charset=utf-8', ...headers },
    body: `<Error><Code>${status}</Code><Detail>${escapeXml(detail)}</Detail></Error>`,
  };
}

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function stripScheme(value: string): string {
  return value.replace(/^[a-z][a-z0-9+.-]*:\/\//, '');
}

function headerOf(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

class BodyTooLarge extends Error {}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buf = chunk as Buffer;
    size += buf.length;
    if (size > MAX_BODY_BYTES) throw new BodyTooLarge();
    chunks.push(buf);
  }
  return Buffer.concat(chunks);
}

function parseJson(raw: Buffer): unknown {
  try {
    return JSON.parse(raw.toString('utf8'));
  } catch {
    return undefined;
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
