/**
 * A simulated Microsoft Graph tenant (Entra ID token endpoint + Graph v1.0 mail and
 * subscription routes) over HTTPS, for integration tests and as the default Graph of the local
 * runner. No vitest import: usable from any process.
 *
 * Production code talks to it with the REAL clients:
 * - `@azure/identity` ClientSecretCredential / ClientCertificateCredential with
 *   `authorityHost: sim.url` and `disableInstanceDiscovery: true`, scope
 *   `https://graph.microsoft.com/.default` (any national Graph cloud, Graph's app id, or the
 *   simulator URL itself + '/.default' are accepted);
 * - `@microsoft/microsoft-graph-client` with `baseUrl: sim.url` (or `sim.graphBaseUrl` minus
 *   '/v1.0') AND `customHosts: new Set(['127.0.0.1'])`: the SDK only attaches the bearer token to
 *   Graph hosts and to customHosts (hostnames, no port).
 * The process must trust `sim.caCertificatePem`: start it with NODE_EXTRA_CA_CERTS naming a file
 * that contains it (see ca-setup.ts / global-setup.ts; Node reads that variable only at start).
 *
 * ```ts
 * const sim = await startGraphSimulator({ seed: true });        // DEMO_TENANT: tenant, app, 5 users
 * sim.addTenant({ tenantId, domains: ['fabrikam.example'] });
 * sim.addApplication(tenantId, { clientId, secret });          // and/or certificatePem (public cert)
 * sim.addUser(tenantId, { id, mail, displayName });
 * const { messageId, delivered } = sim.deliverMail('adele.vance@contoso.example', { subject: 'Hi' });
 * await delivered;                                              // every notification POST acked or given up
 * await sim.emitLifecycle(subscriptionId, 'missed');
 * sim.faults.latencyMs = 50;
 * sim.faults.injectStatus({ method: 'GET', pathIncludes: '/messages/' }, 429, { times: 2, retryAfterSeconds: 1 });
 * sim.faults.injectStatus({ pathIncludes: '/subscriptions' }, 503, { inBatchMembers: true });
 * sim.faults.setSubscriptionWriteBudget(tenantId, 5);           // writes per app per 20 s
 * sim.expireDeltaTokens(userId);                                // old delta links → 410
 * sim.subscriptions(); sim.notifications(); sim.stats();
 *
 * const big = await startGraphSimulator({ seed: true, generatedUsers: 200 }); // see demo.ts generatedUser
 * sim.setUserFlags('user0001@contoso.example', { mailbox: 'onPremises' });   // or 'none', outsideAccessPolicy
 * sim.setPermissions(DEMO_TENANT.tenantId, DEMO_TENANT.clientId, ['User.Read.All']); // consent missing
 * const groupId = sim.addGroup(DEMO_TENANT.tenantId, { displayName: 'Mobile', members: [mail] });
 * sim.addGroupMembers(groupId, [mail2]); sim.removeGroupMembers(groupId, [mail]);
 * expect(sim.subscriptionCounts().duplicates).toBe(0);
 * await sim.stop();
 * ```
 *
 * Simulated (each piece comments the Graph rule it follows):
 * - Entra: discovery document, JWKS, client-credentials token endpoint with client secret or
 *   certificate assertion (signature, thumbprint, aud, iss/sub, exp checked) and real AADSTS errors;
 *   access tokens are RS256 JWTs (`tid`, `appid`, `roles`, `aud`); Graph routes require them (401).
 * - Subscriptions: create with the real validation handshake (notification and lifecycle URL),
 *   10,080-minute cap, clientState ≤ 128, get/list (paged)/renew/delete, 404 when gone, expiry,
 *   per-app-per-tenant write budget (429 + Retry-After), 1,000 per mailbox.
 * - Mail: users, messages with `$select`, Inbox folder, message list, Inbox delta with pages,
 *   deltaLink reuse, `$filter=receivedDateTime ge`, 410 after `expireDeltaTokens`;
 *   `POST /users/{id}/sendMail` (Mail.Send, 202) delivering to simulated Inboxes (→ notifications).
 * - Mailbox states (per user; generated users have a documented share of each):
 *   healthy; on premises → 404 MailboxNotEnabledForRESTAPI "The mailbox is either inactive,
 *   soft-deleted, or is hosted on-premise."; no mailbox (unlicensed) → the same 404 (Graph does not
 *   tell them apart there; `onPremisesSyncEnabled` / `assignedLicenses` on the user do); outside
 *   the application access policy → 403 ErrorAccessDenied "Access to OData is disabled: [RAOP] :
 *   Blocked by tenant configured AppOnly AccessPolicy settings."; subscription creation wraps
 *   these as ExtensionError "Operation: Create; Exception: [Status Code: NotFound|Forbidden;
 *   Reason: <message>]".
 * - Permissions (default Mail.Read, User.Read.All, GroupMember.Read.All, Mail.Send): without a mail
 *   permission 403 ErrorAccessDenied "Access is denied. Check credentials and try again." (create:
 *   ExtensionError with that reason); without User.Read.All / GroupMember.Read.All 403
 *   Authorization_RequestDenied "Insufficient privileges to complete the operation."; without
 *   Mail.Send, sendMail 403 ErrorAccessDenied. Applied at once unless `permissionsFrom: 'token'`.
 * - Directory: `GET /users/{id|upn}` and `GET /users` with `$select`, `$top`, nextLink and
 *   `$filter` on mail / userPrincipalName / id / `proxyAddresses/any(x:x eq 'smtp:..')` (joined by
 *   `or`); 404 Request_ResourceNotFound. Groups: `GET /groups/{id}`, `/groups/{id}/members`, and
 *   the membership delta apps get: `GET /groups/delta?$filter=id eq '{id}'&$select=members`
 *   (`members@delta`, removed members with `@removed: { reason: 'deleted' }`, pages, deltaLink;
 *   410 resyncRequired after `expireGroupDeltaTokens`). `/groups/{id}/members/delta` is not a Graph
 *   route (400 like any unknown segment).
 * - `$batch` (≤ 20, per-member status and 429s), fault injection, latency, Outlook per-mailbox
 *   limits (4 concurrent, 10,000 / 10 min).
 * - Change notifications and lifecycle events POSTed with Graph's retry-with-backoff (duplicates).
 * Not simulated: group property changes in /groups/delta (membership only), nested groups,
 * per-app access policies (the simulated policy covers every app), rich notifications (`includeResourceData`, 400), updated/deleted change
 * notifications (accepted as changeType but never sent), folders other than the Inbox, message
 * updates/deletes, user (delegated) tokens, other Graph resources, `dependsOn` ordering.
 * Deliberate deviation: notification URLs may be plain http on loopback hosts (Graph wants https).
 *
 * A small unauthenticated control surface (loopback only) serves the local runner and manual tests:
 * `GET /_simulator/health`, `GET /_simulator/subscriptions`, `GET /_simulator/stats`,
 * `GET /_simulator/ca.pem`, `POST /_simulator/mail` `{ user, subject?, from?, bodyPreview?, ... }`,
 * `POST /_simulator/lifecycle` `{ subscriptionId, event }`, `GET /_simulator/subscription-counts`,
 * `POST /_simulator/users` `{ mail, id?, displayName?, mailbox?, outsideAccessPolicy?,
 * accountEnabled?, tenantId? }` (201), `GET` / `PATCH /_simulator/users/{id|mail}` (flags),
 * `PUT /_simulator/permissions` `{ roles, clientId?, tenantId? }`, `POST /_simulator/groups`
 * `{ displayName, members?, id?, description?, tenantId? }` (201), `POST
 * /_simulator/groups/{id}/members` `{ members }`, `DELETE /_simulator/groups/{id}/members/{user}`,
 * `DELETE /_simulator/groups/{id}` (204). tenantId / clientId default to DEMO_TENANT's; bad input
 * 400 (nothing changed), unknown user or group 404.
 */
import { createHash, generateKeyPairSync, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { isIP } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  caFromEnvironment,
  createCertificateAuthority,
  issueServerCertificate,
  type CertificateAuthority,
} from './certs.js';
import { DEMO_TENANT, generatedUsers } from './demo.js';
import { jwks, openIdConfiguration, tokenEndpoint, verifyAccessToken, type EntraContext } from './entra.js';
import { FaultInjector, type GraphSimulatorFaults } from './faults.js';
import {
  GraphApi,
  faultResponse,
  messageNotificationResource,
  type GraphStats,
  type Subscription,
  type SubscriptionView,
} from './graph-api.js';
import {
  BodyTooLargeError,
  flatHeaders,
  graphError,
  readBody,
  requestIds,
  sleep,
  writeResponse,
  type SimResponse,
} from './http.js';
import {
  Directory,
  type MailboxLocation,
  type MessageInput,
  type StoredMessage,
  type User,
  type UserFlags,
} from './model.js';
import { Notifier, type OutboundAttempt } from './notifier.js';

export { DEMO_TENANT, generatedUser, generatedUsers, type GeneratedUser } from './demo.js';
export type { MailboxLocation, UserFlags } from './model.js';
export { DEFAULT_APP_ROLES } from './model.js';
export {
  ACCESS_POLICY_MESSAGE,
  DIRECTORY_DENIED_MESSAGE,
  MAIL_ACCESS_DENIED_MESSAGE,
  MAILBOX_NOT_ENABLED_MESSAGE,
} from './graph-api.js';
export {
  createCertificateAuthority,
  createClientCertificate,
  ensureGraphSimCa,
  CA_DIR_ENV,
  type CertificateAuthority,
  type ClientCertificate,
} from './certs.js';
export { prepareGraphSimulatorCa } from './ca-setup.js';
export type { GraphSimulatorFaults, FaultMatch, InjectOptions, InjectableStatus } from './faults.js';
export type { SubscriptionView } from './graph-api.js';
export { MAX_SUBSCRIPTION_MINUTES } from './graph-api.js';
export type { OutboundAttempt } from './notifier.js';

export interface GraphSimulatorOptions {
  /** 0 / absent: a free port. */
  port?: number;
  /** Listen address. Default 127.0.0.1. */
  host?: string;
  /** Add DEMO_TENANT (tenant, app with secret, 5 users). */
  seed?: boolean;
  /** How long the validation handshake may take. Default 10 000 (Graph: 10 s). */
  handshakeTimeoutMs?: number;
  /** Retries of change and lifecycle notifications. Default 200 ms doubling, 8 attempts. */
  notificationRetry?: { initialDelayMs: number; maxAttempts: number };
  /** Per-attempt timeout of a notification POST. Default 3 000 (Graph waits about 3 s). */
  notificationTimeoutMs?: number;
  /** Access token lifetime (`expires_in`). Default 3599. */
  tokenLifetimeSeconds?: number;
  /** The CA that signs the server certificate. Default: the one in GRAPH_SIMULATOR_CA_DIR, else a new one. */
  ca?: CertificateAuthority;
  /** Answer 409 to a duplicate subscription (same app, resource, changeType, URL). Default false. */
  duplicateSubscriptionConflict?: boolean;
  /** With `seed`: add this many generated users to DEMO_TENANT (see demo.ts generatedUser for
   * ids, addresses and which of them are on premises, outside the access policy, unlicensed). */
  generatedUsers?: number;
  /** Where permission checks read the app's roles: 'grant' (default; a consent change applies at
   * once) or 'token' (Graph's behaviour: only tokens issued after the change see it). */
  permissionsFrom?: 'grant' | 'token';
}

/** A user as the control surface shows it. */
export interface UserView {
  id: string;
  tenantId: string;
  mail: string;
  userPrincipalName: string;
  displayName: string;
  accountEnabled: boolean;
  mailbox: MailboxLocation;
  outsideAccessPolicy: boolean;
}

/** Live subscriptions counted per mailbox, for "no duplicates" assertions. */
export interface SubscriptionCounts {
  /** userId → live subscriptions on that mailbox (all apps). */
  byUser: Record<string, number>;
  /** One row per (app, mailbox, resource scope, changeType), with how many subscriptions share it. */
  byResource: {
    applicationId: string;
    userId: string;
    /** Normalised: `users/{userId}/mailFolders('Inbox')/messages` or `users/{userId}/messages`. */
    resource: string;
    changeType: string;
    count: number;
  }[];
  /** Sum over byResource of (count - 1): 0 when no mailbox has two subscriptions for the same thing. */
  duplicates: number;
}

export interface GraphSimulatorStats {
  /** HTTP requests received (a `$batch` counts once). */
  requests: number;
  /** Per route, e.g. 'POST /v1.0/subscriptions', 'POST /{tenant}/oauth2/v2.0/token'; `$batch`
   * members are counted under their own route too. */
  byRoute: Record<string, number>;
  /** 429 answers: injected, write budget, mailbox limits; top-level and batch members. */
  throttled: number;
  /** Change and lifecycle notification POST attempts (retries included; handshakes excluded). */
  notificationsPosted: number;
  /** Of those, attempts after the first. */
  notificationRetries: number;
  /** Validation handshakes sent. */
  validationRequests: number;
  tokensIssued: number;
}

export interface DeliveryOutcome {
  /** POSTs (one per notificationUrl) that got a 2xx. */
  acknowledged: number;
  /** POSTs that never got a 2xx within maxAttempts (or were cancelled by stop()). */
  failed: number;
}

export type LifecycleEvent = 'reauthorizationRequired' | 'subscriptionRemoved' | 'missed';

export interface GraphSimulator {
  /** https://127.0.0.1:PORT: the authority host. */
  readonly url: string;
  /** https://127.0.0.1:PORT/v1.0 */
  readonly graphBaseUrl: string;
  /** The CA that signed the server certificate. */
  readonly caCertificatePem: string;
  /** The same, as a file (for NODE_EXTRA_CA_CERTS). */
  readonly caCertificatePath: string;
  addTenant(t: { tenantId: string; domains?: string[] }): void;
  /** Calling again for the same clientId adds credentials (rotation). `roles` default
   * ['Mail.Read', 'User.Read.All']. */
  addApplication(
    tenantId: string,
    app: {
      clientId: string;
      secret?: string;
      certificatePem?: string;
      roles?: string[];
      displayName?: string;
    },
  ): void;
  /** Deletes the app's client secrets (sign-ins with them then fail with AADSTS7000215). */
  removeApplicationSecrets(tenantId: string, clientId: string): void;
  /** Adds a user (UPN = mail); flags default to a healthy Exchange Online mailbox. */
  addUser(tenantId: string, u: { id: string; mail: string } & UserFlags): void;
  /** Changes a user's state: mailbox location, access policy, account enabled, display name. */
  setUserFlags(userIdOrMail: string, flags: UserFlags): UserView;
  user(userIdOrMail: string): UserView;
  /** Replaces the app's granted application permissions (the `roles` of its tokens). */
  setPermissions(tenantId: string, clientId: string, roles: string[]): void;
  /** Creates a security group; members by user id or mail. Returns the group id. */
  addGroup(
    tenantId: string,
    g: { id?: string; displayName: string; description?: string; members?: string[] },
  ): string;
  addGroupMembers(groupId: string, members: string[]): void;
  removeGroupMembers(groupId: string, members: string[]): void;
  deleteGroup(groupId: string): void;
  /** Every issued /groups/delta token answers 410 resyncRequired from now on (7-day expiry). */
  expireGroupDeltaTokens(): void;
  /** Live subscriptions per mailbox and per (app, mailbox, resource): assert 0 duplicates. */
  subscriptionCounts(): SubscriptionCounts;
  /**
   * Stores a message in the user's Inbox, then POSTs a `created` change notification to every
   * live matching subscription (one POST per notificationUrl, carrying all its items), retried
   * like Graph. `delivered` settles when every POST was acknowledged or given up; it never rejects.
   */
  deliverMail(
    userIdOrMail: string,
    m?: MessageInput,
  ): { messageId: string; delivered: Promise<DeliveryOutcome> };
  /** POSTs a lifecycle notification to lifecycleNotificationUrl (else notificationUrl), with the
   * same retries; `subscriptionRemoved` deletes the subscription first. Rejects for an unknown id. */
  emitLifecycle(subscriptionId: string, event: LifecycleEvent): Promise<void>;
  /** Every delta/skip token of the user answers 410 syncStateNotFound from now on. */
  expireDeltaTokens(userIdOrMail: string): void;
  /** Makes the subscription expire now (it is removed and gets nothing more). */
  expireSubscription(subscriptionId: string): void;
  readonly faults: GraphSimulatorFaults;
  /** Live subscriptions, with clientState (which Graph's GET never returns). */
  subscriptions(): SubscriptionView[];
  /** The user's stored messages, oldest first. */
  messages(userIdOrMail: string): StoredMessage[];
  /** Outbound requests: handshakes, notification and lifecycle attempts, with their outcome. */
  notifications(): OutboundAttempt[];
  stats(): GraphSimulatorStats;
  stop(): Promise<void>;
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

const MAILBOX_LOCATIONS: MailboxLocation[] = ['exchangeOnline', 'onPremises', 'none'];

/** UserFlags from untrusted JSON (the control surface), or what is wrong with them. */
function userFlagsFrom(input: Record<string, unknown>): UserFlags | string {
  const flags: UserFlags = {};
  if (input.displayName !== undefined) {
    if (typeof input.displayName !== 'string') return 'displayName must be a string';
    flags.displayName = input.displayName;
  }
  if (input.accountEnabled !== undefined) {
    if (typeof input.accountEnabled !== 'boolean') return 'accountEnabled must be a boolean';
    flags.accountEnabled = input.accountEnabled;
  }
  if (input.outsideAccessPolicy !== undefined) {
    if (typeof input.outsideAccessPolicy !== 'boolean') return 'outsideAccessPolicy must be a boolean';
    flags.outsideAccessPolicy = input.outsideAccessPolicy;
  }
  if (input.mailbox !== undefined) {
    if (!MAILBOX_LOCATIONS.includes(input.mailbox as MailboxLocation))
      return `mailbox must be one of ${MAILBOX_LOCATIONS.join(', ')}`;
    flags.mailbox = input.mailbox as MailboxLocation;
  }
  return flags;
}

/** A MessageInput from untrusted JSON (the control surface): wrong types are dropped. */
function messageInputFrom(input: Record<string, unknown>): MessageInput {
  const m: MessageInput = {};
  const str = (v: unknown) => (typeof v === 'string' ? v : undefined);
  const subject = str(input.subject);
  if (subject !== undefined) m.subject = subject;
  const bodyPreview = str(input.bodyPreview);
  if (bodyPreview !== undefined) m.bodyPreview = bodyPreview;
  const received = str(input.receivedDateTime);
  if (received !== undefined && !Number.isNaN(Date.parse(received))) m.receivedDateTime = received;
  if (input.importance === 'low' || input.importance === 'normal' || input.importance === 'high')
    m.importance = input.importance;
  if (typeof input.hasAttachments === 'boolean') m.hasAttachments = input.hasAttachments;
  if (typeof input.isRead === 'boolean') m.isRead = input.isRead;
  if (isObject(input.from) && typeof input.from.address === 'string') {
    m.from = {
      name: typeof input.from.name === 'string' ? input.from.name : input.from.address,
      address: input.from.address,
    };
  }
  return m;
}

export async function startGraphSimulator(options: GraphSimulatorOptions = {}): Promise<GraphSimulator> {
  const host = options.host ?? '127.0.0.1';
  const publicHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
  const hostForUrl = isIP(publicHost) === 6 ? `[${publicHost}]` : publicHost;

  // CA: given, shared through GRAPH_SIMULATOR_CA_DIR (what the test workers trust), or new.
  let tempDir: string | undefined;
  let ca: CertificateAuthority;
  let caCertificatePath: string;
  const fromEnv = options.ca ? undefined : caFromEnvironment();
  if (fromEnv) {
    ca = fromEnv;
    caCertificatePath = fromEnv.certPath;
  } else {
    ca = options.ca ?? createCertificateAuthority();
    tempDir = mkdtempSync(join(tmpdir(), 'graph-sim-'));
    caCertificatePath = join(tempDir, 'ca.pem');
    writeFileSync(caCertificatePath, ca.certPem);
  }
  const extraIps = isIP(publicHost) && !['127.0.0.1', '::1'].includes(publicHost) ? [publicHost] : [];
  const extraDns = !isIP(publicHost) && publicHost !== 'localhost' ? [publicHost] : [];
  const serverCert = issueServerCertificate(ca, {
    dns: ['localhost', ...extraDns],
    ips: ['127.0.0.1', '::1', ...extraIps],
  });

  const server = createServer({ key: serverCert.keyPem, cert: serverCert.certPem });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const url = `https://${hostForUrl}:${port}`;
  const graphBaseUrl = `${url}/v1.0`;

  const counters = {
    requests: 0,
    notificationsPosted: 0,
    notificationRetries: 0,
    validationRequests: 0,
    tokensIssued: 0,
  };
  const graphStats: GraphStats = { byRoute: {}, throttled: 0 };
  const countRoute = (label: string) => {
    graphStats.byRoute[label] = (graphStats.byRoute[label] ?? 0) + 1;
  };

  const directory = new Directory();
  const faults = new FaultInjector();
  const notifier = new Notifier({
    retry: options.notificationRetry ?? { initialDelayMs: 200, maxAttempts: 8 },
    notificationTimeoutMs: options.notificationTimeoutMs ?? 3000,
    caPem: ca.certPem,
    onAttempt: (attempt) => {
      if (attempt.kind === 'validation') {
        counters.validationRequests += 1;
        return;
      }
      counters.notificationsPosted += 1;
      if (attempt.attempt > 1) counters.notificationRetries += 1;
    },
  });

  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  const entra: EntraContext = {
    directory,
    origin: url,
    signingKey: privateKey,
    signingPublicJwk: publicKey.export({ format: 'jwk' }),
    keyId: createHash('sha1').update(spki).digest('base64url'),
    tokenLifetimeSeconds: options.tokenLifetimeSeconds ?? 3599,
    onTokenIssued: () => {
      counters.tokensIssued += 1;
    },
  };
  const api = new GraphApi({
    directory,
    faults,
    notifier,
    graphBaseUrl,
    handshakeTimeoutMs: options.handshakeTimeoutMs ?? 10_000,
    duplicateSubscriptionConflict: options.duplicateSubscriptionConflict ?? false,
    stats: graphStats,
    permissionsFrom: options.permissionsFrom ?? 'grant',
    // Late-bound: `sim` is defined below, and sendMail runs only once the server is serving.
    deliverMail: (user, m) => {
      sim.deliverMail(user.id, m);
    },
  });
  const sweep = setInterval(() => api.sweepExpired(), 1000);
  sweep.unref();

  const pending = new Set<Promise<unknown>>();
  const track = <T>(p: Promise<T>): Promise<T> => {
    pending.add(p);
    void p.finally(() => pending.delete(p)).catch(() => undefined);
    return p;
  };

  // ---- request handling ---------------------------------------------------------------------

  async function handleGraph(req: IncomingMessage, rawUrl: string, rawPath: string): Promise<SimResponse> {
    const headers = flatHeaders(req.headers);
    const ids = requestIds(headers);
    const method = (req.method ?? 'GET').toUpperCase();
    const graphPath = rawPath.slice('/v1.0'.length) || '/';
    api.countRoute(method, graphPath);

    // Graph rule: every request needs a valid bearer token for Graph (401 InvalidAuthenticationToken).
    const auth = verifyAccessToken(entra, headers.authorization);
    if (!('claims' in auth)) {
      return graphError(401, 'InvalidAuthenticationToken', auth.message, ids, {
        'WWW-Authenticate': `Bearer realm="", authorization_uri="${url}/common/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000"`,
      });
    }

    const fault = faults.take('graph', method, rawUrl);
    if (fault) {
      await sleep(faults.latencyMs);
      if (fault.status === 429) graphStats.throttled += 1;
      return faultResponse(fault.status, fault.retryAfterSeconds, ids);
    }

    let body: unknown;
    let raw: Buffer;
    try {
      raw = await readBody(req);
    } catch (err) {
      if (err instanceof BodyTooLargeError)
        return graphError(413, 'RequestEntityTooLarge', 'The request body is too large.', ids);
      throw err;
    }
    if (raw.length > 0) {
      try {
        body = JSON.parse(raw.toString('utf8')) as unknown;
      } catch {
        return graphError(
          400,
          'BadRequest',
          'Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format.',
          ids,
        );
      }
    }
    const query = new URLSearchParams(rawUrl.includes('?') ? rawUrl.slice(rawUrl.indexOf('?') + 1) : '');
    return api.execute(
      { method, path: graphPath, query, headers, body, claims: auth.claims, ids, inBatch: false },
      faults.latencyMs,
    );
  }

  async function handleEntra(req: IncomingMessage, rawUrl: string, rawPath: string): Promise<SimResponse> {
    const method = (req.method ?? 'GET').toUpperCase();
    const segments = rawPath
      .split('/')
      .filter(Boolean)
      .map((s) => decodeURIComponent(s));
    const [tenant, ...rest] = segments;
    const tail = rest.join('/').toLowerCase();
    const correlationId = flatHeaders(req.headers)['client-request-id'] ?? randomUUID();
    const fault = faults.take('entra', method, rawUrl);
    await sleep(faults.latencyMs);
    if (fault) {
      return {
        status: fault.status,
        headers: {
          'Content-Type': 'application/json; charset=utf-8',
          ...(fault.retryAfterSeconds === undefined
            ? {}
            : { 'Retry-After': String(fault.retryAfterSeconds) }),
        },
        body: {
          error: 'temporarily_unavailable',
          error_description: `AADSTS90033: A transient error has occurred. Please try again. Correlation ID: ${correlationId}`,
          error_codes: [90033],
          correlation_id: correlationId,
        },
      };
    }
    if (
      tenant &&
      method === 'GET' &&
      (tail === 'v2.0/.well-known/openid-configuration' || tail === '.well-known/openid-configuration')
    ) {
      countRoute('GET /{tenant}/v2.0/.well-known/openid-configuration');
      return openIdConfiguration(entra, tenant);
    }
    if (tenant && method === 'GET' && (tail === 'discovery/v2.0/keys' || tail === 'discovery/keys')) {
      countRoute('GET /{tenant}/discovery/v2.0/keys');
      return jwks(entra);
    }
    if (tenant && tail === 'oauth2/v2.0/token') {
      countRoute(`${method} /{tenant}/oauth2/v2.0/token`);
      if (method !== 'POST') {
        return {
          status: 405,
          headers: { Allow: 'POST' },
          body: {
            error: 'invalid_request',
            error_description: 'AADSTS900561: The endpoint only accepts POST requests.',
          },
        };
      }
      const form = new URLSearchParams((await readBody(req, 64 * 1024)).toString('utf8'));
      return tokenEndpoint(entra, tenant, form, correlationId);
    }
    countRoute('(unknown route)');
    return {
      status: 404,
      headers: {},
      body: { error: 'not_found', error_description: `No route for ${method} ${rawPath}` },
    };
  }

  async function handleControl(req: IncomingMessage, rawPath: string): Promise<SimResponse> {
    const method = (req.method ?? 'GET').toUpperCase();
    const route = rawPath.slice('/_simulator'.length);
    const json = (status: number, body: unknown): SimResponse => ({
      status,
      headers: { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store' },
      body,
    });
    if (method === 'GET' && route === '/health') return json(200, { status: 'ok', url, graphBaseUrl });
    if (method === 'GET' && route === '/subscriptions') return json(200, { value: sim.subscriptions() });
    if (method === 'GET' && route === '/stats') return json(200, sim.stats());
    if (method === 'GET' && route === '/subscription-counts') return json(200, sim.subscriptionCounts());
    const directoryRoute = await handleDirectoryControl(req, method, route, json);
    if (directoryRoute) return directoryRoute;
    if (method === 'GET' && route === '/ca.pem') {
      return { status: 200, headers: { 'Content-Type': 'application/x-pem-file' }, body: ca.certPem };
    }
    if (method === 'POST' && (route === '/mail' || route === '/lifecycle')) {
      let input: unknown;
      try {
        input = JSON.parse((await readBody(req, 64 * 1024)).toString('utf8')) as unknown;
      } catch {
        return json(400, { error: 'body must be JSON' });
      }
      if (!isObject(input)) return json(400, { error: 'body must be a JSON object' });
      try {
        if (route === '/mail') {
          if (typeof input.user !== 'string') return json(400, { error: 'user (id or mail) is required' });
          const { messageId } = sim.deliverMail(input.user, messageInputFrom(input));
          return json(202, { messageId });
        }
        const event = input.event;
        if (
          typeof input.subscriptionId !== 'string' ||
          (event !== 'reauthorizationRequired' && event !== 'subscriptionRemoved' && event !== 'missed')
        ) {
          return json(400, {
            error:
              'subscriptionId and event (reauthorizationRequired | subscriptionRemoved | missed) are required',
          });
        }
        if (!api.subscriptions.has(input.subscriptionId.toLowerCase()))
          return json(404, { error: 'unknown subscription' });
        void sim.emitLifecycle(input.subscriptionId, event).catch(() => undefined);
        return json(202, { subscriptionId: input.subscriptionId, event });
      } catch (err) {
        return json(400, { error: err instanceof Error ? err.message : String(err) });
      }
    }
    return json(404, { error: `no control route ${method} ${rawPath}` });
  }

  /**
   * Control calls for the directory: users and their flags, the app's permissions, groups.
   * `tenantId` and `clientId` default to DEMO_TENANT's. Errors: 400 bad input, 404 unknown object.
   */
  async function handleDirectoryControl(
    req: IncomingMessage,
    method: string,
    route: string,
    json: (status: number, body: unknown) => SimResponse,
  ): Promise<SimResponse | undefined> {
    const segments = route.split('/').filter(Boolean).map(decodeURIComponent);
    const [kind, id, sub, subId] = segments;
    if (kind !== 'users' && kind !== 'groups' && kind !== 'permissions') return undefined;
    let input: Record<string, unknown> = {};
    if (method === 'POST' || method === 'PATCH' || method === 'PUT') {
      try {
        const parsed = JSON.parse((await readBody(req, 64 * 1024)).toString('utf8')) as unknown;
        if (!isObject(parsed)) return json(400, { error: 'body must be a JSON object' });
        input = parsed;
      } catch {
        return json(400, { error: 'body must be JSON' });
      }
    }
    const tenantId = typeof input.tenantId === 'string' ? input.tenantId : DEMO_TENANT.tenantId;
    const stringList = (v: unknown): string[] | undefined =>
      Array.isArray(v) && v.every((x) => typeof x === 'string') ? v : undefined;
    try {
      if (kind === 'permissions' && id === undefined && method === 'PUT') {
        const roles = stringList(input.roles);
        if (!roles) return json(400, { error: 'roles (array of permission names) is required' });
        const clientId = typeof input.clientId === 'string' ? input.clientId : DEMO_TENANT.clientId;
        sim.setPermissions(tenantId, clientId, roles);
        return json(200, { tenantId, clientId, roles });
      }
      if (kind === 'users' && id === undefined && method === 'POST') {
        if (typeof input.mail !== 'string') return json(400, { error: 'mail is required' });
        const flags = userFlagsFrom(input);
        if (typeof flags === 'string') return json(400, { error: flags });
        const userId = typeof input.id === 'string' ? input.id : randomUUID();
        sim.addUser(tenantId, { id: userId, mail: input.mail, ...flags });
        return json(201, sim.user(userId));
      }
      if (kind === 'users' && id !== undefined && sub === undefined) {
        if (!directory.findUserAnywhere(id)) return json(404, { error: `unknown user '${id}'` });
        if (method === 'GET') return json(200, sim.user(id));
        if (method === 'PATCH') {
          const flags = userFlagsFrom(input);
          if (typeof flags === 'string') return json(400, { error: flags });
          return json(200, sim.setUserFlags(id, flags));
        }
      }
      if (kind === 'groups' && id === undefined && method === 'POST') {
        if (typeof input.displayName !== 'string') return json(400, { error: 'displayName is required' });
        const members = input.members === undefined ? [] : stringList(input.members);
        if (!members) return json(400, { error: 'members must be an array of user ids or mails' });
        const groupId = sim.addGroup(tenantId, {
          ...(typeof input.id === 'string' ? { id: input.id } : {}),
          displayName: input.displayName,
          ...(typeof input.description === 'string' ? { description: input.description } : {}),
          members,
        });
        return json(201, { id: groupId, displayName: input.displayName, members: groupMembers(groupId) });
      }
      if (kind === 'groups' && id !== undefined) {
        if (!directory.findGroupAnywhere(id)) return json(404, { error: `unknown group '${id}'` });
        if (sub === undefined && method === 'DELETE') {
          sim.deleteGroup(id);
          return { status: 204, headers: {} };
        }
        if (sub === 'members' && subId === undefined && method === 'POST') {
          const members = stringList(input.members);
          if (!members) return json(400, { error: 'members (array of user ids or mails) is required' });
          sim.addGroupMembers(id, members);
          return json(200, { id, members: groupMembers(id) });
        }
        if (sub === 'members' && subId !== undefined && method === 'DELETE') {
          sim.removeGroupMembers(id, [subId]);
          return { status: 204, headers: {} };
        }
      }
    } catch (err) {
      return json(400, { error: err instanceof Error ? err.message : String(err) });
    }
    return undefined;
  }

  const groupMembers = (groupId: string): string[] => [
    ...(directory.findGroupAnywhere(groupId)?.members ?? []),
  ];

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    counters.requests += 1;
    const rawUrl = req.url ?? '/';
    const rawPath = rawUrl.split('?')[0] ?? '/';
    let response: SimResponse;
    try {
      if (rawPath === '/v1.0' || rawPath.startsWith('/v1.0/'))
        response = await handleGraph(req, rawUrl, rawPath);
      else if (rawPath.startsWith('/_simulator/')) response = await handleControl(req, rawPath);
      else response = await handleEntra(req, rawUrl, rawPath);
    } catch (err) {
      response = graphError(
        500,
        'InternalServerError',
        `Graph simulator error: ${err instanceof Error ? err.message : String(err)}`,
        {
          requestId: randomUUID(),
          clientRequestId: randomUUID(),
        },
      );
    }
    if (!res.destroyed) writeResponse(res, response);
  }

  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    void track(handle(req, res));
  });

  // ---- programmatic API ---------------------------------------------------------------------

  const userView = (u: User): UserView => ({
    id: u.id,
    tenantId: u.tenantId,
    mail: u.mail,
    userPrincipalName: u.userPrincipalName,
    displayName: u.displayName,
    accountEnabled: u.accountEnabled,
    mailbox: u.mailbox,
    outsideAccessPolicy: u.outsideAccessPolicy,
  });
  const requireGroup = (groupId: string) => {
    const group = directory.findGroupAnywhere(groupId);
    if (!group) throw new Error(`graph-sim: unknown group '${groupId}'`);
    return group;
  };

  const requireUser = (userIdOrMail: string) => {
    const user = directory.findUserAnywhere(userIdOrMail);
    if (!user) throw new Error(`graph-sim: unknown user '${userIdOrMail}'`);
    return user;
  };

  const notifyLifecycle = async (sub: Subscription, event: LifecycleEvent): Promise<void> => {
    const item: Record<string, unknown> = {
      subscriptionId: sub.id,
      subscriptionExpirationDateTime: sub.expirationDateTime,
      tenantId: sub.tenantId,
      ...(sub.clientState === null ? {} : { clientState: sub.clientState }),
      lifecycleEvent: event,
    };
    await notifier.deliver(
      'lifecycle',
      sub.lifecycleNotificationUrl ?? sub.notificationUrl,
      { value: [item] },
      [sub.id],
    );
  };

  let stopped = false;
  const sim: GraphSimulator = {
    url,
    graphBaseUrl,
    caCertificatePem: ca.certPem,
    caCertificatePath,
    faults,
    addTenant: (t) => {
      directory.addTenant(t);
    },
    addApplication: (tenantId, app) => {
      directory.addApplication(tenantId, app);
    },
    removeApplicationSecrets: (tenantId, clientId) => {
      directory.removeApplicationSecrets(tenantId, clientId);
    },
    addUser: (tenantId, u) => {
      directory.addUser(tenantId, u);
    },
    setUserFlags: (userIdOrMail, flags) => {
      const user = requireUser(userIdOrMail);
      directory.setUserFlags(user, flags);
      return userView(user);
    },
    user: (userIdOrMail) => userView(requireUser(userIdOrMail)),
    setPermissions: (tenantId, clientId, roles) => {
      const app = directory.requireTenant(tenantId).apps.get(clientId.toLowerCase());
      if (!app) throw new Error(`graph-sim: unknown application '${clientId}' in tenant ${tenantId}`);
      app.roles = [...roles];
    },
    addGroup: (tenantId, g) => directory.addGroup(tenantId, g).id,
    addGroupMembers: (groupId, members) => {
      directory.addGroupMembers(requireGroup(groupId), members);
    },
    removeGroupMembers: (groupId, members) => {
      directory.removeGroupMembers(requireGroup(groupId), members);
    },
    deleteGroup: (groupId) => {
      const group = requireGroup(groupId);
      directory.tenants.get(group.tenantId)?.groups.delete(group.id);
    },
    expireGroupDeltaTokens: () => {
      api.expireGroupDeltaTokens();
    },
    subscriptionCounts: () => {
      api.sweepExpired();
      const byUser: Record<string, number> = {};
      const rows = new Map<string, SubscriptionCounts['byResource'][number]>();
      for (const sub of api.subscriptions.values()) {
        byUser[sub.userId] = (byUser[sub.userId] ?? 0) + 1;
        const resource =
          sub.scope === 'inbox'
            ? `users/${sub.userId}/mailFolders('Inbox')/messages`
            : `users/${sub.userId}/messages`;
        const changeType = sub.changeType
          .split(',')
          .map((c) => c.trim())
          .sort()
          .join(',');
        const key = `${sub.applicationId}|${resource}|${changeType}`;
        const row = rows.get(key) ?? {
          applicationId: sub.applicationId,
          userId: sub.userId,
          resource,
          changeType,
          count: 0,
        };
        row.count += 1;
        rows.set(key, row);
      }
      const byResource = [...rows.values()];
      return { byUser, byResource, duplicates: byResource.reduce((n, r) => n + r.count - 1, 0) };
    },
    deliverMail: (userIdOrMail, m = {}) => {
      const user = requireUser(userIdOrMail);
      // Mail for a mailbox Exchange Online does not host never reaches the simulated store.
      if (user.mailbox !== 'exchangeOnline')
        throw new Error(`graph-sim: user '${userIdOrMail}' has no Exchange Online mailbox (${user.mailbox})`);
      const message = directory.storeMessage(user, m);
      const resource = messageNotificationResource(user.id, message.id);
      // Graph rule: one POST may carry several notifications; group per notificationUrl.
      const byUrl = new Map<string, { ids: string[]; items: Record<string, unknown>[] }>();
      for (const sub of api.subscriptions.values()) {
        if (sub.userId !== user.id || sub.tenantId !== user.tenantId || !api.isLive(sub)) continue;
        if (
          !sub.changeType
            .split(',')
            .map((c) => c.trim())
            .includes('created')
        )
          continue;
        const group = byUrl.get(sub.notificationUrl) ?? { ids: [], items: [] };
        group.ids.push(sub.id);
        group.items.push({
          subscriptionId: sub.id,
          subscriptionExpirationDateTime: sub.expirationDateTime,
          changeType: 'created',
          resource,
          resourceData: {
            '@odata.type': '#Microsoft.Graph.Message',
            '@odata.id': resource,
            '@odata.etag': `W/"${message.changeKey}"`,
            id: message.id,
          },
          ...(sub.clientState === null ? {} : { clientState: sub.clientState }),
          tenantId: sub.tenantId,
        });
        byUrl.set(sub.notificationUrl, group);
      }
      const posts = [...byUrl].map(([target, group]) =>
        notifier.deliver('change', target, { value: group.items }, group.ids),
      );
      const delivered = track(
        Promise.all(posts).then((results) => ({
          acknowledged: results.filter(Boolean).length,
          failed: results.filter((r) => !r).length,
        })),
      );
      return { messageId: message.id, delivered };
    },
    emitLifecycle: async (subscriptionId, event) => {
      const sub = api.subscriptions.get(subscriptionId.toLowerCase());
      if (!sub) throw new Error(`graph-sim: unknown subscription '${subscriptionId}'`);
      // Graph rule: subscriptionRemoved means the subscription is gone (the app must recreate it).
      if (event === 'subscriptionRemoved') api.subscriptions.delete(sub.id);
      await track(notifyLifecycle(sub, event));
    },
    expireDeltaTokens: (userIdOrMail) => {
      api.expireDeltaTokens(requireUser(userIdOrMail));
    },
    expireSubscription: (subscriptionId) => {
      const sub = api.subscriptions.get(subscriptionId.toLowerCase());
      if (!sub) throw new Error(`graph-sim: unknown subscription '${subscriptionId}'`);
      sub.expirationDateTime = new Date(Date.now() - 1000).toISOString();
      api.sweepExpired();
    },
    subscriptions: () => {
      api.sweepExpired();
      return [...api.subscriptions.values()].map((s) => api.view(s));
    },
    messages: (userIdOrMail) => requireUser(userIdOrMail).messages.map((m) => ({ ...m })),
    notifications: () => notifier.log.map((a) => ({ ...a, subscriptionIds: [...a.subscriptionIds] })),
    stats: () => ({
      ...counters,
      byRoute: { ...graphStats.byRoute },
      throttled: graphStats.throttled,
    }),
    stop: async () => {
      if (stopped) return;
      stopped = true;
      clearInterval(sweep);
      notifier.stop();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
      await Promise.allSettled([...pending]);
      if (tempDir) rmSync(tempDir, { recursive: true, force: true });
    },
  };

  if (options.seed) {
    sim.addTenant({ tenantId: DEMO_TENANT.tenantId, domains: [DEMO_TENANT.domain] });
    sim.addApplication(DEMO_TENANT.tenantId, {
      clientId: DEMO_TENANT.clientId,
      secret: DEMO_TENANT.clientSecret,
      displayName: 'Mail push (local demo)',
    });
    for (const u of DEMO_TENANT.users) sim.addUser(DEMO_TENANT.tenantId, u);
    for (const g of generatedUsers(options.generatedUsers ?? 0)) {
      sim.addUser(DEMO_TENANT.tenantId, {
        id: g.id,
        mail: g.mail,
        displayName: g.displayName,
        mailbox: g.mailbox,
        outsideAccessPolicy: g.outsideAccessPolicy,
        accountEnabled: g.accountEnabled,
      });
    }
  } else if (options.generatedUsers) {
    await sim.stop();
    throw new Error('startGraphSimulator: generatedUsers needs seed: true (they join DEMO_TENANT)');
  }
  return sim;
}
