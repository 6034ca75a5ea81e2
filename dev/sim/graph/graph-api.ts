/**
 * Graph v1.0 routes of the simulator. Each handler comments the Graph rule it follows.
 *
 * Executed both for top-level requests and for `$batch` members (same code, same limits).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { isIP } from 'node:net';
import type { AccessTokenClaims } from './entra.js';
import type { FaultInjector, InjectableStatus } from './faults.js';
import { graphError, graphOk, preferredPageSize, sleep, type RequestIds, type SimResponse } from './http.js';
import {
  MESSAGE_PROPERTIES,
  applySelect,
  messageResource,
  type Directory,
  type Group,
  type MessageInput,
  type StoredMessage,
  type Tenant,
  type User,
} from './model.js';
import type { Notifier } from './notifier.js';

/** Outlook rule: a message subscription lives at most 10,080 minutes (7 days). */
export const MAX_SUBSCRIPTION_MINUTES = 10_080;
/** Rich notifications (`includeResourceData`) on messages: at most 1,440 minutes. */
export const MAX_RICH_SUBSCRIPTION_MINUTES = 1_440;
/** Outlook rule: at most 1,000 active subscriptions per mailbox. */
export const MAX_SUBSCRIPTIONS_PER_MAILBOX = 1_000;
const MAX_CLIENT_STATE = 128;
const MAX_BATCH = 20;
const DEFAULT_DELTA_PAGE = 10;
const DEFAULT_LIST_PAGE = 10;
const SUBSCRIPTION_LIST_PAGE = 100;
/** Directory collections (users, group members): 100 per page by default, `$top` up to 999. */
const DIRECTORY_PAGE = 100;
const MAX_DIRECTORY_TOP = 999;
const GROUP_DELTA_PAGE = 100;

/** Graph's answers for mailboxes the mail API cannot serve (exact texts seen from Graph). */
export const MAILBOX_NOT_ENABLED_MESSAGE =
  'The mailbox is either inactive, soft-deleted, or is hosted on-premise.';
export const ACCESS_POLICY_MESSAGE =
  'Access to OData is disabled: [RAOP] : Blocked by tenant configured AppOnly AccessPolicy settings.';
/** What Exchange answers when the app lacks the mail permission (consent missing). */
export const MAIL_ACCESS_DENIED_MESSAGE = 'Access is denied. Check credentials and try again.';
/** What the directory answers when the app lacks User.Read.All / GroupMember.Read.All. */
export const DIRECTORY_DENIED_MESSAGE = 'Insufficient privileges to complete the operation.';

export interface Subscription {
  id: string;
  tenantId: string;
  applicationId: string;
  creatorId: string;
  userId: string;
  /** As the client sent it (Graph echoes the resource string it was given). */
  resource: string;
  /** 'inbox' for users/{id}/mailFolders('Inbox')/messages, 'all' for users/{id}/messages. */
  scope: 'inbox' | 'all';
  changeType: string;
  notificationUrl: string;
  lifecycleNotificationUrl: string | null;
  clientState: string | null;
  expirationDateTime: string;
  createdDateTime: string;
}

/** What `subscriptions()` shows a test: everything, including clientState. */
export interface SubscriptionView {
  id: string;
  tenantId: string;
  applicationId: string;
  userId: string;
  resource: string;
  changeType: string;
  notificationUrl: string;
  lifecycleNotificationUrl: string | null;
  clientState: string | null;
  expirationDateTime: string;
  createdDateTime: string;
}

export interface GraphCall {
  method: string;
  /** Path after `/v1.0`, raw (percent-encoded), starting with '/'. */
  path: string;
  query: URLSearchParams;
  /** Lower-cased header names. */
  headers: Record<string, string>;
  body: unknown;
  claims: AccessTokenClaims;
  ids: RequestIds;
  inBatch: boolean;
}

interface DeltaState {
  userId: string;
  generation: number;
  /** Messages with seq > watermark are new for this token. */
  watermark: number;
  select: string | null;
  receivedFrom: number | undefined;
  receivedInclusive: boolean;
  path: string;
}

interface SkipState extends DeltaState {
  ids: string[];
  offset: number;
  pageSize: number;
  /** The watermark the final deltaLink of this round carries. */
  nextWatermark: number;
}

export interface GraphStats {
  byRoute: Record<string, number>;
  throttled: number;
}

export interface GraphApiOptions {
  directory: Directory;
  faults: FaultInjector;
  notifier: Notifier;
  graphBaseUrl: string;
  handshakeTimeoutMs: number;
  /** Answer 409 to a second subscription with the same app, resource, changeType and URL. Default false. */
  duplicateSubscriptionConflict: boolean;
  stats: GraphStats;
  /**
   * Where permission checks read the app's roles. 'grant' (default): the app's current grant, so
   * a consent change applies at once. 'token': the `roles` claim of the access token, as Graph
   * does (a change then applies only to tokens issued after it).
   */
  permissionsFrom: 'grant' | 'token';
  /** Delivers a message to a user's Inbox and notifies subscribers (sendMail). */
  deliverMail: (user: User, m: MessageInput) => void;
}

interface GroupDeltaState {
  tenantId: string;
  /** `$filter=id eq '...'` ids, or null for every group of the tenant. */
  groupIds: string[] | null;
  select: string[] | null;
  /** Membership per group when this token's round was computed; absent: the initial round. */
  snapshot: Map<string, string[]> | undefined;
}

interface GroupDeltaUnit {
  groupId: string;
  /** A group object to render (props from the live group, or @removed when it is gone). */
  removedGroup: boolean;
  member: { id: string; removed: boolean } | null;
}

interface GroupSkipState extends GroupDeltaState {
  units: GroupDeltaUnit[];
  offset: number;
  pageSize: number;
  nextSnapshot: Map<string, string[]>;
}

const MAIL_ROLES = ['Mail.Read', 'Mail.ReadWrite', 'Mail.ReadBasic', 'Mail.ReadBasic.All'];
const SEND_ROLES = ['Mail.Send'];
const GROUP_ROLES = [
  'GroupMember.Read.All',
  'Group.Read.All',
  'Group.ReadWrite.All',
  'Directory.Read.All',
  'Directory.ReadWrite.All',
];
const USER_ROLES = [
  'User.Read.All',
  'User.ReadBasic.All',
  'User.ReadWrite.All',
  'Directory.Read.All',
  'Directory.ReadWrite.All',
];
const USER_PROPERTIES = [
  'id',
  'displayName',
  'mail',
  'userPrincipalName',
  'givenName',
  'surname',
  'jobTitle',
  'mobilePhone',
  'officeLocation',
  'preferredLanguage',
  'businessPhones',
  'accountEnabled',
  'onPremisesSyncEnabled',
  'assignedLicenses',
  'proxyAddresses',
] as const;
/** What GET /users/{id} returns without `$select` (Graph's default user properties). */
const USER_DEFAULT_PROPERTIES = USER_PROPERTIES.slice(0, 11);
const GROUP_PROPERTIES = [
  'id',
  'displayName',
  'description',
  'mail',
  'mailEnabled',
  'securityEnabled',
  'groupTypes',
] as const;
/** Office 365 E3 (ENTERPRISEPACK): the licence of a user with an Exchange Online mailbox. */
const E3_SKU = '6fd2c87f-b296-42f0-b197-1e91e994b900';

type Route =
  | { name: 'subscriptions' }
  | { name: 'subscription'; id: string }
  | { name: 'batch' }
  | { name: 'user'; user: string }
  | { name: 'users' }
  | { name: 'sendMail'; user: string }
  | { name: 'group'; id: string }
  | { name: 'groupMembers'; id: string }
  | { name: 'groupsDelta' }
  | { name: 'folder'; user: string; folder: string }
  | { name: 'messages'; user: string; folder: string | undefined }
  | { name: 'message'; user: string; folder: string | undefined; messageId: string }
  | { name: 'delta'; user: string; folder: string | undefined }
  | { name: 'unknown'; segment: string };

const ROUTE_LABEL: Record<Route['name'], string> = {
  subscriptions: '/v1.0/subscriptions',
  subscription: '/v1.0/subscriptions/{id}',
  batch: '/v1.0/$batch',
  user: '/v1.0/users/{id}',
  users: '/v1.0/users',
  sendMail: '/v1.0/users/{id}/sendMail',
  group: '/v1.0/groups/{id}',
  groupMembers: '/v1.0/groups/{id}/members',
  groupsDelta: '/v1.0/groups/delta',
  folder: '/v1.0/users/{id}/mailFolders/{id}',
  messages: '/v1.0/users/{id}/messages',
  message: '/v1.0/users/{id}/messages/{id}',
  delta: '/v1.0/users/{id}/mailFolders/{id}/messages/delta',
  unknown: '(unknown route)',
};

const FOLDER_SEGMENT = /^mailFolders\(\s*['"]?([^'")]+)['"]?\s*\)$/i;

function parseRoute(path: string): Route {
  let segments: string[];
  try {
    segments = path.split('/').filter(Boolean).map(decodeURIComponent);
  } catch {
    return { name: 'unknown', segment: path };
  }
  const eq = (s: string | undefined, v: string) => s !== undefined && s.toLowerCase() === v.toLowerCase();
  const [first, second, ...rest] = segments;
  if (eq(first, 'subscriptions')) {
    if (second === undefined) return { name: 'subscriptions' };
    if (rest.length === 0) return { name: 'subscription', id: second };
    return { name: 'unknown', segment: rest[0] ?? '' };
  }
  if (eq(first, '$batch') && second === undefined) return { name: 'batch' };
  if (eq(first, 'users') && second === undefined) return { name: 'users' };
  if (eq(first, 'groups') && second !== undefined) {
    if (rest.length === 0 && (eq(second, 'delta') || eq(second, 'microsoft.graph.delta')))
      return { name: 'groupsDelta' };
    if (rest.length === 0) return { name: 'group', id: second };
    if (rest.length === 1 && eq(rest[0], 'members')) return { name: 'groupMembers', id: second };
    return { name: 'unknown', segment: rest[rest.length - 1] ?? '' };
  }
  if (eq(first, 'users') && second !== undefined) {
    const user = second;
    if (rest.length === 0) return { name: 'user', user };
    if (rest.length === 1 && (eq(rest[0], 'sendMail') || eq(rest[0], 'microsoft.graph.sendMail')))
      return { name: 'sendMail', user };
    let folder: string | undefined;
    let tail = rest;
    const folderMatch = FOLDER_SEGMENT.exec(rest[0] ?? '');
    if (folderMatch?.[1]) {
      folder = folderMatch[1];
      tail = rest.slice(1);
    } else if (eq(rest[0], 'mailFolders') && rest[1] !== undefined) {
      folder = rest[1];
      tail = rest.slice(2);
    }
    if (folder !== undefined && tail.length === 0) return { name: 'folder', user, folder };
    if (eq(tail[0], 'messages')) {
      if (tail.length === 1) return { name: 'messages', user, folder };
      if (tail.length === 2 && eq(tail[1], 'delta')) return { name: 'delta', user, folder };
      if (tail.length === 2 && tail[1] !== undefined)
        return { name: 'message', user, folder, messageId: tail[1] };
    }
    return { name: 'unknown', segment: tail[0] ?? rest[0] ?? '' };
  }
  return { name: 'unknown', segment: first ?? '' };
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

const ERROR_FOR_STATUS: Record<InjectableStatus, [string, string]> = {
  429: ['TooManyRequests', 'Too many requests. Please retry after the time given in the Retry-After header.'],
  500: ['InternalServerError', 'An internal server error occurred.'],
  503: ['ServiceUnavailable', 'The service is temporarily unavailable. Please retry later.'],
  504: ['GatewayTimeout', 'The gateway did not receive a timely response from the upstream server.'],
  403: ['ErrorAccessDenied', 'Access is denied. Check credentials and try again.'],
  404: ['ResourceNotFound', 'The resource could not be found.'],
};

/** The answer to an injected fault, in Graph's error shape. */
export function faultResponse(
  status: InjectableStatus,
  retryAfterSeconds: number | undefined,
  ids: RequestIds,
): SimResponse {
  const [code, message] = ERROR_FOR_STATUS[status];
  return graphError(
    status,
    code,
    message,
    ids,
    retryAfterSeconds === undefined ? {} : { 'Retry-After': String(retryAfterSeconds) },
  );
}

/** Notification URLs must be HTTPS (Graph rule); plain HTTP is allowed for loopback hosts only. */
function checkNotificationUrl(value: unknown, name: string): string | undefined {
  if (typeof value !== 'string' || value.length === 0) return `${name} is required.`;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return `${name} '${value}' is not a valid absolute URL.`;
  }
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const loopback = host === 'localhost' || host === '::1' || (isIP(host) === 4 && host.startsWith('127.'));
  if (url.protocol === 'https:') return undefined;
  if (url.protocol === 'http:' && loopback) return undefined;
  return `${name} must use https.`;
}

export class GraphApi {
  readonly subscriptions = new Map<string, Subscription>();
  private readonly deltaTokens = new Map<string, DeltaState>();
  private readonly skipTokens = new Map<string, SkipState>();
  private readonly groupDeltaTokens = new Map<string, GroupDeltaState>();
  private readonly groupSkipTokens = new Map<string, GroupSkipState>();
  /** Tokens retired by expireGroupDeltaTokens: they answer 410 instead of 400. */
  private readonly expiredGroupTokens = new Set<string>();

  constructor(private readonly o: GraphApiOptions) {}

  // ---- plumbing -------------------------------------------------------------------------------

  /** Runs one Graph request (top-level or `$batch` member). `latencyMs` is served inside the
   * mailbox concurrency slot so that slow requests really overlap. */
  async execute(call: GraphCall, latencyMs: number): Promise<SimResponse> {
    const route = parseRoute(call.path);

    let release: (() => void) | undefined;
    if ('user' in route && route.name !== 'user') {
      const user = this.o.directory.findUser(call.claims.tid, route.user);
      if (user) {
        const slot = this.o.faults.enterMailbox(call.claims.appid, user.id);
        if (!('release' in slot)) {
          return this.throttled(
            graphError(429, 'ApplicationThrottled', slot.reason, call.ids, {
              'Retry-After': String(slot.retryAfterSeconds),
            }),
          );
        }
        release = slot.release;
      }
    }
    try {
      await sleep(latencyMs);
      const response = await this.route(route, call);
      return response.status === 429 ? this.throttled(response) : response;
    } finally {
      release?.();
    }
  }

  /** Counts a request (top-level or member, faulted or not) under its route in stats.byRoute. */
  countRoute(method: string, path: string): void {
    const label = `${method.toUpperCase()} ${ROUTE_LABEL[parseRoute(path).name]}`;
    this.o.stats.byRoute[label] = (this.o.stats.byRoute[label] ?? 0) + 1;
  }

  private throttled(response: SimResponse): SimResponse {
    this.o.stats.throttled += 1;
    return response;
  }

  private async route(route: Route, call: GraphCall): Promise<SimResponse> {
    const m = call.method.toUpperCase();
    const notAllowed = () =>
      graphError(405, 'BadRequest', `The HTTP method '${m}' is not supported on this resource.`, call.ids);
    switch (route.name) {
      case 'subscriptions':
        if (m === 'POST') return this.createSubscription(call);
        if (m === 'GET') return this.listSubscriptions(call);
        return notAllowed();
      case 'subscription':
        if (m === 'GET') return this.getSubscription(call, route.id);
        if (m === 'PATCH') return this.updateSubscription(call, route.id);
        if (m === 'DELETE') return this.deleteSubscription(call, route.id);
        return notAllowed();
      case 'batch':
        if (call.inBatch)
          return graphError(400, 'BadRequest', 'Nested $batch requests are not supported.', call.ids);
        if (m === 'POST') return this.batch(call);
        return notAllowed();
      case 'user':
        return m === 'GET' ? this.getUser(call, route.user) : notAllowed();
      case 'users':
        return m === 'GET' ? this.listUsers(call) : notAllowed();
      case 'sendMail':
        return m === 'POST' ? this.sendMail(call, route.user) : notAllowed();
      case 'group':
        return m === 'GET' ? this.getGroup(call, route.id) : notAllowed();
      case 'groupMembers':
        return m === 'GET' ? this.listGroupMembers(call, route.id) : notAllowed();
      case 'groupsDelta':
        return m === 'GET' ? this.groupsDelta(call) : notAllowed();
      case 'folder':
        return m === 'GET' ? this.getFolder(call, route.user, route.folder) : notAllowed();
      case 'messages':
        return m === 'GET' ? this.listMessages(call, route.user, route.folder) : notAllowed();
      case 'message':
        return m === 'GET' ? this.getMessage(call, route.user, route.folder, route.messageId) : notAllowed();
      case 'delta':
        return m === 'GET' ? this.delta(call, route.user, route.folder) : notAllowed();
      case 'unknown':
        return graphError(
          400,
          'BadRequest',
          `Resource not found for the segment '${route.segment}'.`,
          call.ids,
        );
    }
  }

  /** The app's application permissions, from its current grant or from the token (see permissionsFrom). */
  private hasRole(call: GraphCall, roles: string[]): boolean {
    const app = this.o.directory.tenants.get(call.claims.tid)?.apps.get(call.claims.appid);
    const granted = this.o.permissionsFrom === 'token' || !app ? call.claims.roles : app.roles;
    return granted.some((r) => roles.includes(r));
  }

  // ---- subscriptions ----------------------------------------------------------------------------

  isLive(sub: Subscription, now = Date.now()): boolean {
    return Date.parse(sub.expirationDateTime) > now;
  }

  /** Graph rule: expired subscriptions are deleted and receive nothing. */
  sweepExpired(now = Date.now()): void {
    for (const [id, sub] of this.subscriptions) if (!this.isLive(sub, now)) this.subscriptions.delete(id);
  }

  view(sub: Subscription): SubscriptionView {
    return {
      id: sub.id,
      tenantId: sub.tenantId,
      applicationId: sub.applicationId,
      userId: sub.userId,
      resource: sub.resource,
      changeType: sub.changeType,
      notificationUrl: sub.notificationUrl,
      lifecycleNotificationUrl: sub.lifecycleNotificationUrl,
      clientState: sub.clientState,
      expirationDateTime: sub.expirationDateTime,
      createdDateTime: sub.createdDateTime,
    };
  }

  /** Graph's JSON for a subscription. `clientState` only in the create response: GET never returns it. */
  private subscriptionJson(
    sub: Subscription,
    withClientState: boolean,
    context = true,
  ): Record<string, unknown> {
    return {
      ...(context ? { '@odata.context': `${this.o.graphBaseUrl}/$metadata#subscriptions/$entity` } : {}),
      id: sub.id,
      resource: sub.resource,
      applicationId: sub.applicationId,
      changeType: sub.changeType,
      clientState: withClientState ? sub.clientState : null,
      notificationUrl: sub.notificationUrl,
      notificationQueryOptions: null,
      lifecycleNotificationUrl: sub.lifecycleNotificationUrl,
      expirationDateTime: sub.expirationDateTime,
      creatorId: sub.creatorId,
      includeResourceData: null,
      latestSupportedTlsVersion: 'v1_2',
      encryptionCertificate: null,
      encryptionCertificateId: null,
      notificationUrlAppId: null,
    };
  }

  /** The subscription if it exists, is live, and belongs to the caller's app in the caller's tenant. */
  private ownSubscription(call: GraphCall, id: string): Subscription | undefined {
    const sub = this.subscriptions.get(id.toLowerCase());
    if (!sub || !this.isLive(sub)) return undefined;
    if (sub.tenantId !== call.claims.tid || sub.applicationId !== call.claims.appid) return undefined;
    return sub;
  }

  private subscriptionNotFound(call: GraphCall, id: string): SimResponse {
    return graphError(
      404,
      'ResourceNotFound',
      `The object was not found. Subscription '${id}' does not exist.`,
      call.ids,
    );
  }

  /** Graph rule: subscription writes are throttled per app per tenant (429 + Retry-After). */
  private writeThrottle(call: GraphCall): SimResponse | undefined {
    const over = this.o.faults.takeSubscriptionWrite(call.claims.tid, call.claims.appid);
    if (!over) return undefined;
    return graphError(
      429,
      'TooManyRequests',
      'Too many subscription operations for this application in this tenant. Please retry after the time given in the Retry-After header.',
      call.ids,
      { 'Retry-After': String(over.retryAfterSeconds) },
    );
  }

  /** Graph rule: expirationDateTime in the future and at most 10,080 minutes away for messages. */
  private checkExpiration(value: unknown, call: GraphCall, richNotifications: boolean): SimResponse | Date {
    if (typeof value !== 'string' || Number.isNaN(Date.parse(value))) {
      return graphError(
        400,
        'InvalidRequest',
        'expirationDateTime is required and must be an ISO 8601 date.',
        call.ids,
      );
    }
    const when = new Date(Date.parse(value));
    const now = Date.now();
    if (when.getTime() <= now) {
      return graphError(400, 'InvalidRequest', 'Subscription expiration must be in the future.', call.ids);
    }
    const maxMinutes = richNotifications ? MAX_RICH_SUBSCRIPTION_MINUTES : MAX_SUBSCRIPTION_MINUTES;
    if (when.getTime() > now + maxMinutes * 60_000) {
      return graphError(
        400,
        'InvalidRequest',
        `Subscription expiration can only be ${maxMinutes} minutes in the future.`,
        call.ids,
      );
    }
    return when;
  }

  /**
   * POST /subscriptions. Graph rules: changeType from created/updated/deleted; resource
   * `users/{id}/mailFolders('Inbox')/messages` or `users/{id}/messages`; clientState ≤ 128 chars;
   * expiration cap; the validation handshake on notificationUrl and lifecycleNotificationUrl
   * (200 with the token as body within 10 s, else 400 ValidationError); 201 with the subscription
   * (clientState included in this response only).
   */
  private async createSubscription(call: GraphCall): Promise<SimResponse> {
    const throttled = this.writeThrottle(call);
    if (throttled) return throttled;
    const body = call.body;
    if (!isObject(body))
      return graphError(400, 'BadRequest', 'Empty Payload. JSON content expected.', call.ids);
    const bad = (message: string) => graphError(400, 'InvalidRequest', message, call.ids);

    const changeType = body.changeType;
    if (typeof changeType !== 'string' || changeType.trim() === '')
      return bad("The 'changeType' property is required.");
    const changeTypes = changeType.split(',').map((c) => c.trim());
    const invalidType = changeTypes.find((c) => !['created', 'updated', 'deleted'].includes(c));
    if (invalidType !== undefined) return bad(`Invalid 'changeType' attribute: '${invalidType}'.`);

    const urlProblem = checkNotificationUrl(body.notificationUrl, 'notificationUrl');
    if (urlProblem) return bad(urlProblem);
    const notificationUrl = body.notificationUrl as string;
    let lifecycleNotificationUrl: string | null = null;
    if (body.lifecycleNotificationUrl !== undefined && body.lifecycleNotificationUrl !== null) {
      const problem = checkNotificationUrl(body.lifecycleNotificationUrl, 'lifecycleNotificationUrl');
      if (problem) return bad(problem);
      lifecycleNotificationUrl = body.lifecycleNotificationUrl as string;
    }

    if (body.includeResourceData === true) {
      return graphError(
        400,
        'InvalidRequest',
        'includeResourceData (rich notifications) is not supported by the Graph simulator.',
        call.ids,
      );
    }

    let clientState: string | null = null;
    if (body.clientState !== undefined && body.clientState !== null) {
      if (typeof body.clientState !== 'string') return bad('clientState must be a string.');
      if (body.clientState.length > MAX_CLIENT_STATE) {
        return bad(`clientState exceeds the maximum length of ${MAX_CLIENT_STATE} characters.`);
      }
      clientState = body.clientState;
    }

    const expiration = this.checkExpiration(body.expirationDateTime, call, false);
    if (!(expiration instanceof Date)) return expiration;

    if (typeof body.resource !== 'string' || body.resource.trim() === '')
      return bad("The 'resource' property is required.");
    const resource = body.resource;
    const match =
      /^\/?users\/([^/]+)\/mailFolders(?:\(\s*['"]?([^'")]+)['"]?\s*\)|\/([^/]+))\/messages\/?$/i.exec(
        resource,
      ) ?? /^\/?users\/([^/]+)\/messages\/?$/i.exec(resource);
    if (!match?.[1]) {
      return bad(
        `Resource '${resource}' is not supported. Use users/{id}/mailFolders('Inbox')/messages or users/{id}/messages.`,
      );
    }
    const userKey = decodeURIComponent(match[1]);
    const folder = match[2] ?? match[3];
    // Graph rule: Exchange's own errors reach the subscription API wrapped as ExtensionError with
    // "Operation: Create; Exception: [Status Code: ...; Reason: <Exchange message>]".
    const extensionError = (status: 403 | 404, reason: string) =>
      graphError(
        status,
        'ExtensionError',
        `Operation: Create; Exception: [Status Code: ${status === 403 ? 'Forbidden' : 'NotFound'}; Reason: ${reason}]`,
        call.ids,
      );
    if (!this.hasRole(call, MAIL_ROLES)) return extensionError(403, MAIL_ACCESS_DENIED_MESSAGE);
    const user = this.o.directory.findUser(call.claims.tid, userKey);
    if (!user)
      return graphError(404, 'ResourceNotFound', `The requested user '${userKey}' is invalid.`, call.ids);
    if (user.outsideAccessPolicy) return extensionError(403, ACCESS_POLICY_MESSAGE);
    if (user.mailbox !== 'exchangeOnline') return extensionError(404, MAILBOX_NOT_ENABLED_MESSAGE);
    if (folder !== undefined && folder.toLowerCase() !== 'inbox' && folder !== user.inboxFolderId) {
      return graphError(
        404,
        'ResourceNotFound',
        `The folder '${folder}' was not found. The simulator only has the Inbox.`,
        call.ids,
      );
    }
    const forUser = [...this.subscriptions.values()].filter((s) => s.userId === user.id && this.isLive(s));
    if (forUser.length >= MAX_SUBSCRIPTIONS_PER_MAILBOX) {
      return graphError(
        403,
        'ExtensionError',
        `Operation: Create; Exception: [Status Code: Forbidden; Reason: The mailbox has reached the maximum of ${MAX_SUBSCRIPTIONS_PER_MAILBOX} subscriptions.]`,
        call.ids,
      );
    }
    if (
      this.o.duplicateSubscriptionConflict &&
      forUser.some(
        (s) =>
          s.applicationId === call.claims.appid &&
          s.resource.toLowerCase() === resource.toLowerCase() &&
          s.changeType === changeType &&
          s.notificationUrl === notificationUrl,
      )
    ) {
      return graphError(
        409,
        'Conflict',
        'A subscription for this resource, changeType and notificationUrl already exists.',
        call.ids,
      );
    }

    const id = randomUUID();
    for (const url of [notificationUrl, lifecycleNotificationUrl]) {
      if (url === null) continue;
      const token = `Validation: Testing client application reachability for subscription Request-Id: ${randomUUID()}`;
      const result = await this.o.notifier.validate(url, token, this.o.handshakeTimeoutMs, id);
      if (!result.ok) {
        const message =
          result.reason === 'timeout'
            ? `Subscription validation request timed out. Notification endpoint must respond with 200 OK to validation request within ${Math.round(this.o.handshakeTimeoutMs / 1000)} seconds.`
            : result.reason === 'body'
              ? 'Subscription validation request failed. Response must exactly match validationToken query parameter.'
              : `Subscription validation request failed. Notification endpoint must respond with 200 OK to validation request (${result.detail}).`;
        return graphError(400, 'ValidationError', message, call.ids);
      }
    }

    const sub: Subscription = {
      id,
      tenantId: call.claims.tid,
      applicationId: call.claims.appid,
      creatorId:
        this.o.directory.tenants.get(call.claims.tid)?.apps.get(call.claims.appid)?.servicePrincipalId ??
        randomUUID(),
      userId: user.id,
      resource,
      scope: match[2] !== undefined || match[3] !== undefined ? 'inbox' : 'all',
      changeType,
      notificationUrl,
      lifecycleNotificationUrl,
      clientState,
      expirationDateTime: expiration.toISOString().replace(/\.000Z$/, 'Z'),
      createdDateTime: new Date().toISOString(),
    };
    this.subscriptions.set(id, sub);
    return graphOk(201, this.subscriptionJson(sub, true), call.ids, {
      Location: `${this.o.graphBaseUrl}/subscriptions/${id}`,
    });
  }

  private getSubscription(call: GraphCall, id: string): SimResponse {
    const sub = this.ownSubscription(call, id);
    if (!sub) return this.subscriptionNotFound(call, id);
    return graphOk(200, this.subscriptionJson(sub, false), call.ids);
  }

  /** GET /subscriptions: the caller app's subscriptions in its tenant, paged by @odata.nextLink. */
  private listSubscriptions(call: GraphCall): SimResponse {
    const all = [...this.subscriptions.values()]
      .filter(
        (s) => this.isLive(s) && s.tenantId === call.claims.tid && s.applicationId === call.claims.appid,
      )
      .sort((a, b) => a.createdDateTime.localeCompare(b.createdDateTime) || a.id.localeCompare(b.id));
    const pageSize = preferredPageSize(call.headers.prefer) ?? SUBSCRIPTION_LIST_PAGE;
    const skipToken = call.query.get('$skiptoken');
    const offset = skipToken ? Number.parseInt(Buffer.from(skipToken, 'base64url').toString('utf8'), 10) : 0;
    if (!Number.isInteger(offset) || offset < 0)
      return graphError(400, 'BadRequest', 'Invalid $skiptoken.', call.ids);
    const page = all.slice(offset, offset + pageSize);
    const body: Record<string, unknown> = {
      '@odata.context': `${this.o.graphBaseUrl}/$metadata#subscriptions`,
      value: page.map((s) => this.subscriptionJson(s, false, false)),
    };
    if (offset + pageSize < all.length) {
      const next = Buffer.from(String(offset + pageSize)).toString('base64url');
      body['@odata.nextLink'] = `${this.o.graphBaseUrl}/subscriptions?$skiptoken=${next}`;
    }
    return graphOk(200, body, call.ids);
  }

  /**
   * PATCH /subscriptions/{id}: renew (expirationDateTime) or move (notificationUrl, with a new
   * handshake). Graph rules: 404 when it is gone (then recreate); lifecycleNotificationUrl can only
   * be set at creation; counts against the write budget.
   */
  private async updateSubscription(call: GraphCall, id: string): Promise<SimResponse> {
    const throttled = this.writeThrottle(call);
    if (throttled) return throttled;
    const sub = this.ownSubscription(call, id);
    if (!sub) return this.subscriptionNotFound(call, id);
    const body = call.body;
    if (!isObject(body))
      return graphError(400, 'BadRequest', 'Empty Payload. JSON content expected.', call.ids);
    const unsupported = Object.keys(body).filter(
      (k) => k !== 'expirationDateTime' && k !== 'notificationUrl' && !k.startsWith('@odata.'),
    );
    if (unsupported.length > 0) {
      return graphError(
        400,
        'InvalidRequest',
        `Only expirationDateTime and notificationUrl can be updated; got ${unsupported.join(', ')}.`,
        call.ids,
      );
    }
    let expiration: Date | undefined;
    if (body.expirationDateTime !== undefined) {
      const checked = this.checkExpiration(body.expirationDateTime, call, false);
      if (!(checked instanceof Date)) return checked;
      expiration = checked;
    }
    if (body.notificationUrl !== undefined && body.notificationUrl !== sub.notificationUrl) {
      const problem = checkNotificationUrl(body.notificationUrl, 'notificationUrl');
      if (problem) return graphError(400, 'InvalidRequest', problem, call.ids);
      const token = `Validation: Testing client application reachability for subscription Request-Id: ${randomUUID()}`;
      const result = await this.o.notifier.validate(
        body.notificationUrl as string,
        token,
        this.o.handshakeTimeoutMs,
        sub.id,
      );
      if (!result.ok) {
        return graphError(
          400,
          'ValidationError',
          `Subscription validation request failed (${result.detail}).`,
          call.ids,
        );
      }
      sub.notificationUrl = body.notificationUrl as string;
    }
    if (expiration) sub.expirationDateTime = expiration.toISOString().replace(/\.000Z$/, 'Z');
    return graphOk(200, this.subscriptionJson(sub, false), call.ids);
  }

  private deleteSubscription(call: GraphCall, id: string): SimResponse {
    const throttled = this.writeThrottle(call);
    if (throttled) return throttled;
    const sub = this.ownSubscription(call, id);
    if (!sub) return this.subscriptionNotFound(call, id);
    this.subscriptions.delete(sub.id);
    return graphOk(204, undefined, call.ids);
  }

  // ---- users and mail ---------------------------------------------------------------------------

  private directoryDenied(call: GraphCall): SimResponse {
    return graphError(403, 'Authorization_RequestDenied', DIRECTORY_DENIED_MESSAGE, call.ids);
  }

  private directoryNotFound(call: GraphCall, key: string): SimResponse {
    return graphError(
      404,
      'Request_ResourceNotFound',
      `Resource '${key}' does not exist or one of its queried reference-property objects are not present.`,
      call.ids,
    );
  }

  /** Every property of the user the simulator knows; `$select` picks from it. */
  private userJson(user: User): Record<string, unknown> {
    const [given, ...rest] = user.displayName.split(' ');
    return {
      id: user.id,
      displayName: user.displayName,
      mail: user.mail,
      userPrincipalName: user.userPrincipalName,
      givenName: given ?? null,
      surname: rest.join(' ') || null,
      jobTitle: null,
      mobilePhone: null,
      officeLocation: null,
      preferredLanguage: 'en-US',
      businessPhones: [],
      accountEnabled: user.accountEnabled,
      // Graph: true for objects synced from on-premises AD (a hybrid mailbox user), null for cloud-only.
      onPremisesSyncEnabled: user.mailbox === 'onPremises' ? true : null,
      assignedLicenses: user.mailbox === 'exchangeOnline' ? [{ disabledPlans: [], skuId: E3_SKU }] : [],
      proxyAddresses: [`SMTP:${user.mail}`],
    };
  }

  /** The user as a collection member: `$select` applied, else Graph's default properties. */
  private selectUser(user: User, select: string | null): Record<string, unknown> | string {
    const all = this.userJson(user);
    if (select === null || select.trim() === '') {
      return Object.fromEntries(USER_DEFAULT_PROPERTIES.map((p) => [p, all[p]]));
    }
    return applySelect(all, select, USER_PROPERTIES, 'microsoft.graph.user');
  }

  /** GET /users/{id | userPrincipalName}. Needs User.Read.All (or similar) application permission. */
  private getUser(call: GraphCall, key: string): SimResponse {
    if (!this.hasRole(call, USER_ROLES)) return this.directoryDenied(call);
    const user = this.o.directory.findUser(call.claims.tid, key);
    if (!user) return this.directoryNotFound(call, key);
    const selected = this.selectUser(user, call.query.get('$select'));
    if (typeof selected === 'string') return graphError(400, 'Request_BadRequest', selected, call.ids);
    return graphOk(
      200,
      { '@odata.context': `${this.o.graphBaseUrl}/$metadata#users/$entity`, ...selected },
      call.ids,
    );
  }

  /** `$top` / `$skiptoken` of a directory collection: offset and page size, or the 400. */
  private directoryPage(call: GraphCall): { offset: number; top: number } | SimResponse {
    const top = call.query.has('$top')
      ? Number(call.query.get('$top'))
      : (preferredPageSize(call.headers.prefer) ?? DIRECTORY_PAGE);
    if (!Number.isInteger(top) || top < 1 || top > MAX_DIRECTORY_TOP) {
      return graphError(
        400,
        'Request_BadRequest',
        `Invalid page size specified: '${call.query.get('$top') ?? top}'. Must be between 1 and ${MAX_DIRECTORY_TOP} inclusive.`,
        call.ids,
      );
    }
    const skipToken = call.query.get('$skiptoken');
    const offset = skipToken ? Number.parseInt(Buffer.from(skipToken, 'base64url').toString('utf8'), 10) : 0;
    if (!Number.isInteger(offset) || offset < 0)
      return graphError(400, 'Request_BadRequest', 'Invalid $skiptoken.', call.ids);
    return { offset, top };
  }

  /** The nextLink of a directory page: the same query with a `$skiptoken` (which hides `$top`). */
  private directoryNextLink(call: GraphCall, offset: number): string {
    const next = new URLSearchParams(call.query);
    next.set('$skiptoken', Buffer.from(String(offset)).toString('base64url'));
    return `${this.o.graphBaseUrl}${call.path}?${next.toString()}`;
  }

  /**
   * Parses the `$filter` of GET /users: `mail eq '..'`, `userPrincipalName eq '..'`, `id eq '..'`
   * and `proxyAddresses/any(x:x eq 'smtp:..')`, joined by `or`. Graph rule: string comparison on
   * these is case-insensitive. Returns a predicate, or the unsupported clause.
   */
  private userFilter(filter: string): ((u: User) => boolean) | { unsupported: string } {
    const clauses = filter.split(/\s+or\s+/i);
    const tests: ((u: User) => boolean)[] = [];
    for (const clause of clauses) {
      const text = clause
        .trim()
        .replace(/^\((.*)\)$/, '$1')
        .trim();
      const simple = /^(mail|userPrincipalName|id)\s+eq\s+'((?:[^']|'')*)'$/i.exec(text);
      if (simple?.[1] && simple[2] !== undefined) {
        const prop = simple[1].toLowerCase();
        const value = simple[2].replace(/''/g, "'").toLowerCase();
        tests.push((u) =>
          prop === 'mail' ? u.mail === value : prop === 'id' ? u.id === value : u.userPrincipalName === value,
        );
        continue;
      }
      const any = /^proxyAddresses\/any\(\s*(\w+)\s*:\s*\1\s+eq\s+'((?:[^']|'')*)'\s*\)$/i.exec(text);
      if (any?.[2] !== undefined) {
        const value = any[2].replace(/''/g, "'").toLowerCase();
        tests.push((u) => `smtp:${u.mail}` === value);
        continue;
      }
      const prop = /^([\w/]+)/.exec(text)?.[1] ?? text;
      return { unsupported: prop };
    }
    return (u) => tests.some((t) => t(u));
  }

  /** GET /users: `$filter` (see userFilter), `$select`, `$top` (default 100, ≤ 999), nextLink paging. */
  private listUsers(call: GraphCall): SimResponse {
    if (!this.hasRole(call, USER_ROLES)) return this.directoryDenied(call);
    const tenant = this.o.directory.tenants.get(call.claims.tid);
    const page = this.directoryPage(call);
    if ('status' in page) return page;
    let users = [...(tenant?.users.values() ?? [])];
    const filter = call.query.get('$filter');
    if (filter !== null && filter.trim() !== '') {
      const predicate = this.userFilter(filter);
      if (typeof predicate !== 'function') {
        return graphError(
          400,
          'Request_UnsupportedQuery',
          `Unsupported or invalid query filter clause specified for property '${predicate.unsupported}' of resource 'User'.`,
          call.ids,
        );
      }
      users = users.filter(predicate);
    }
    const value: Record<string, unknown>[] = [];
    for (const user of users.slice(page.offset, page.offset + page.top)) {
      const json = this.selectUser(user, call.query.get('$select'));
      if (typeof json === 'string') return graphError(400, 'Request_BadRequest', json, call.ids);
      value.push(json);
    }
    const body: Record<string, unknown> = {
      '@odata.context': `${this.o.graphBaseUrl}/$metadata#users`,
      value,
    };
    if (page.offset + page.top < users.length)
      body['@odata.nextLink'] = this.directoryNextLink(call, page.offset + page.top);
    return graphOk(200, body, call.ids);
  }

  /** Resolves the mailbox and folder of a mail route, or the Graph error. */
  private mailbox(
    call: GraphCall,
    key: string,
    folder: string | undefined,
    roles: string[] = MAIL_ROLES,
  ): { user: User } | SimResponse {
    // Graph rule: consent missing and outside the access policy are both 403 ErrorAccessDenied;
    // only the message tells them apart ("Access is denied..." vs "Access to OData is disabled...").
    if (!this.hasRole(call, roles))
      return graphError(403, 'ErrorAccessDenied', MAIL_ACCESS_DENIED_MESSAGE, call.ids);
    const user = this.o.directory.findUser(call.claims.tid, key);
    if (!user)
      return graphError(404, 'ErrorInvalidUser', `The requested user '${key}' is invalid.`, call.ids);
    if (user.outsideAccessPolicy)
      return graphError(403, 'ErrorAccessDenied', ACCESS_POLICY_MESSAGE, call.ids);
    // Graph rule: a hybrid mailbox still on Exchange Server, or a user without an Exchange Online
    // licence, has no mailbox the REST API can reach.
    if (user.mailbox !== 'exchangeOnline')
      return graphError(404, 'MailboxNotEnabledForRESTAPI', MAILBOX_NOT_ENABLED_MESSAGE, call.ids);
    if (folder !== undefined && folder.toLowerCase() !== 'inbox' && folder !== user.inboxFolderId) {
      return graphError(
        404,
        'ErrorItemNotFound',
        'The specified object was not found in the store.',
        call.ids,
      );
    }
    return { user };
  }

  private getFolder(call: GraphCall, key: string, folder: string): SimResponse {
    const mb = this.mailbox(call, key, folder);
    if (!('user' in mb)) return mb;
    const { user } = mb;
    return graphOk(
      200,
      {
        '@odata.context': `${this.o.graphBaseUrl}/$metadata#users('${user.id}')/mailFolders/$entity`,
        id: user.inboxFolderId,
        displayName: 'Inbox',
        parentFolderId: `${user.inboxFolderId.slice(0, -1)}Root=`,
        childFolderCount: 0,
        unreadItemCount: user.messages.filter((m) => !m.isRead).length,
        totalItemCount: user.messages.length,
        sizeInBytes: user.messages.length * 4096,
        isHidden: false,
      },
      call.ids,
    );
  }

  private messageJson(user: User, m: StoredMessage, select: string | null): Record<string, unknown> | string {
    return applySelect(messageResource(user, m), select, MESSAGE_PROPERTIES, 'microsoft.graph.message');
  }

  /** GET /users/{id}/messages/{id} (also through mailFolders): `$select` honoured, 404 ErrorItemNotFound. */
  private getMessage(
    call: GraphCall,
    key: string,
    folder: string | undefined,
    messageId: string,
  ): SimResponse {
    const mb = this.mailbox(call, key, folder);
    if (!('user' in mb)) return mb;
    if (!/^[A-Za-z0-9_\-+/]+=*$/.test(messageId)) {
      return graphError(400, 'ErrorInvalidIdMalformed', 'Id is malformed.', call.ids);
    }
    const message = mb.user.messages.find((m) => m.id === messageId);
    if (!message)
      return graphError(
        404,
        'ErrorItemNotFound',
        'The specified object was not found in the store.',
        call.ids,
      );
    const json = this.messageJson(mb.user, message, call.query.get('$select'));
    if (typeof json === 'string') return graphError(400, 'RequestBroker--ParseUri', json, call.ids);
    return graphOk(
      200,
      {
        '@odata.context': `${this.o.graphBaseUrl}/$metadata#users('${mb.user.id}')/messages/$entity`,
        ...json,
      },
      call.ids,
    );
  }

  /** `receivedDateTime ge|gt <iso>`: the only $filter supported on messages delta (and here on lists). */
  private parseReceivedFilter(
    filter: string | null,
  ): { from: number; inclusive: boolean } | undefined | 'invalid' {
    if (filter === null || filter.trim() === '') return undefined;
    const match = /^\s*receivedDateTime\s+(ge|gt)\s+'?([0-9T:.\-+Z]+)'?\s*$/i.exec(filter);
    if (!match?.[1] || !match[2] || Number.isNaN(Date.parse(match[2]))) return 'invalid';
    return { from: Date.parse(match[2]), inclusive: match[1].toLowerCase() === 'ge' };
  }

  /** GET /users/{id}/messages, /users/{id}/mailFolders/inbox/messages: $top (default 10), $skip,
   * $select, $orderby receivedDateTime [asc|desc] (default desc), $filter receivedDateTime ge|gt. */
  private listMessages(call: GraphCall, key: string, folder: string | undefined): SimResponse {
    const mb = this.mailbox(call, key, folder);
    if (!('user' in mb)) return mb;
    const filter = this.parseReceivedFilter(call.query.get('$filter'));
    if (filter === 'invalid') {
      return graphError(
        400,
        'ErrorInvalidUrlQueryFilter',
        'The query filter contains one or more invalid nodes.',
        call.ids,
      );
    }
    const top = call.query.has('$top') ? Number(call.query.get('$top')) : DEFAULT_LIST_PAGE;
    const skip = call.query.has('$skip') ? Number(call.query.get('$skip')) : 0;
    if (!Number.isInteger(top) || top < 1 || top > 1000 || !Number.isInteger(skip) || skip < 0) {
      return graphError(400, 'BadRequest', 'Invalid $top or $skip value.', call.ids);
    }
    const orderBy = (call.query.get('$orderby') ?? 'receivedDateTime desc').trim().toLowerCase();
    if (!/^receiveddatetime(\s+(asc|desc))?$/.test(orderBy)) {
      return graphError(
        400,
        'BadRequest',
        'Only $orderby=receivedDateTime [asc|desc] is supported by the simulator.',
        call.ids,
      );
    }
    const asc = !orderBy.endsWith('desc');
    const matching = mb.user.messages
      .filter((m) => this.receivedMatches(m, filter))
      .sort(
        (a, b) => (a.receivedDateTime.localeCompare(b.receivedDateTime) || a.seq - b.seq) * (asc ? 1 : -1),
      );
    const page: Record<string, unknown>[] = [];
    for (const m of matching.slice(skip, skip + top)) {
      const json = this.messageJson(mb.user, m, call.query.get('$select'));
      if (typeof json === 'string') return graphError(400, 'RequestBroker--ParseUri', json, call.ids);
      page.push(json);
    }
    const body: Record<string, unknown> = {
      '@odata.context': `${this.o.graphBaseUrl}/$metadata#users('${mb.user.id}')/messages`,
      value: page,
    };
    if (skip + top < matching.length) {
      const next = new URLSearchParams(call.query);
      next.set('$skip', String(skip + top));
      next.set('$top', String(top));
      body['@odata.nextLink'] = `${this.o.graphBaseUrl}${call.path}?${next.toString()}`;
    }
    return graphOk(200, body, call.ids);
  }

  private receivedMatches(
    m: StoredMessage,
    filter: { from: number; inclusive: boolean } | undefined,
  ): boolean {
    if (!filter) return true;
    const t = Date.parse(m.receivedDateTime);
    return filter.inclusive ? t >= filter.from : t > filter.from;
  }

  /** Makes every delta and skip token of this user answer 410 from now on. */
  expireDeltaTokens(user: User): void {
    user.deltaGeneration += 1;
    for (const [token, state] of this.deltaTokens)
      if (state.userId === user.id) this.deltaTokens.delete(token);
    for (const [token, state] of this.skipTokens) if (state.userId === user.id) this.skipTokens.delete(token);
  }

  /**
   * GET /users/{id}/mailFolders('Inbox')/messages/delta. Graph rules: pages of
   * `Prefer: odata.maxpagesize` (default 10) linked by `@odata.nextLink` ($skiptoken); the last
   * page carries `@odata.deltaLink` ($deltatoken) which, reused, returns only what changed since;
   * `$filter=receivedDateTime ge <date>` on the initial call only (it sticks to the tokens);
   * `$select` likewise; an expired or unknown token answers 410 syncStateNotFound (full resync).
   * Only additions are tracked (the simulator never updates or deletes messages).
   */
  private delta(call: GraphCall, key: string, folder: string | undefined): SimResponse {
    if (folder === undefined) {
      return graphError(
        400,
        'BadRequest',
        "Change tracking is not supported against 'microsoft.graph.message' outside a mail folder. Use mailFolders('Inbox')/messages/delta.",
        call.ids,
      );
    }
    const mb = this.mailbox(call, key, folder);
    if (!('user' in mb)) return mb;
    const user = mb.user;
    const gone = () =>
      graphError(
        410,
        'syncStateNotFound',
        'The sync state is not found or has expired. Restart the synchronization without a $deltatoken (full resync).',
        call.ids,
      );
    const headerPageSize = preferredPageSize(call.headers.prefer);
    const skipToken = call.query.get('$skiptoken');
    const deltaToken = call.query.get('$deltatoken');

    let round: SkipState;
    if (skipToken !== null) {
      const state = this.skipTokens.get(skipToken);
      if (!state || state.userId !== user.id) return gone();
      if (state.generation !== user.deltaGeneration) return gone();
      round = { ...state, pageSize: headerPageSize ?? state.pageSize };
    } else {
      let base: DeltaState;
      if (deltaToken !== null) {
        const state = this.deltaTokens.get(deltaToken);
        if (!state || state.userId !== user.id || state.generation !== user.deltaGeneration) return gone();
        base = state;
      } else {
        const filter = this.parseReceivedFilter(call.query.get('$filter'));
        if (filter === 'invalid') {
          return graphError(
            400,
            'BadRequest',
            'The query filter contains one or more invalid nodes. Only receivedDateTime ge|gt <date> is supported on messages delta.',
            call.ids,
          );
        }
        const select = call.query.get('$select');
        if (select !== null) {
          const probe = applySelect({ id: '' }, select, MESSAGE_PROPERTIES, 'microsoft.graph.message');
          if (typeof probe === 'string') return graphError(400, 'RequestBroker--ParseUri', probe, call.ids);
        }
        base = {
          userId: user.id,
          generation: user.deltaGeneration,
          watermark: 0,
          select,
          receivedFrom: filter?.from,
          receivedInclusive: filter?.inclusive ?? true,
          path: call.path,
        };
      }
      const filter =
        base.receivedFrom === undefined
          ? undefined
          : { from: base.receivedFrom, inclusive: base.receivedInclusive };
      const ids = user.messages
        .filter((m) => m.seq > base.watermark && this.receivedMatches(m, filter))
        .sort((a, b) => a.seq - b.seq)
        .map((m) => m.id);
      round = {
        ...base,
        ids,
        offset: 0,
        pageSize: headerPageSize ?? DEFAULT_DELTA_PAGE,
        nextWatermark: user.nextSeq - 1,
      };
    }

    const pageIds = round.ids.slice(round.offset, round.offset + round.pageSize);
    const value: Record<string, unknown>[] = [];
    for (const id of pageIds) {
      const m = user.messages.find((x) => x.id === id);
      if (!m) continue;
      const json = this.messageJson(user, m, round.select);
      if (typeof json === 'string') return graphError(400, 'RequestBroker--ParseUri', json, call.ids);
      value.push({ '@odata.type': '#microsoft.graph.message', ...json });
    }
    const body: Record<string, unknown> = {
      '@odata.context': `${this.o.graphBaseUrl}/$metadata#Collection(message)`,
      value,
    };
    const nextOffset = round.offset + round.pageSize;
    const link = (param: string, token: string) => `${this.o.graphBaseUrl}${round.path}?${param}=${token}`;
    if (nextOffset < round.ids.length) {
      const token = randomBytes(24).toString('base64url');
      this.skipTokens.set(token, { ...round, offset: nextOffset });
      body['@odata.nextLink'] = link('$skiptoken', token);
    } else {
      const token = randomBytes(24).toString('base64url');
      this.deltaTokens.set(token, {
        userId: round.userId,
        generation: round.generation,
        watermark: round.nextWatermark,
        select: round.select,
        receivedFrom: round.receivedFrom,
        receivedInclusive: round.receivedInclusive,
        path: round.path,
      });
      body['@odata.deltaLink'] = link('$deltatoken', token);
    }
    const headers: Record<string, string> = headerPageSize
      ? { 'Preference-Applied': `odata.maxpagesize=${headerPageSize}` }
      : {};
    return graphOk(200, body, call.ids, headers);
  }

  /**
   * POST /users/{id}/sendMail. Graph rules: needs Mail.Send (403 ErrorAccessDenied), the sender
   * needs an Exchange Online mailbox; 202 Accepted with no body. Recipients with an Exchange Online
   * mailbox in the simulator get the message in their Inbox (and their subscribers a notification);
   * any other address is accepted and dropped (external mail).
   */
  private sendMail(call: GraphCall, key: string): SimResponse {
    const mb = this.mailbox(call, key, undefined, SEND_ROLES);
    if (!('user' in mb)) return mb;
    const body = call.body;
    if (!isObject(body))
      return graphError(400, 'BadRequest', 'Empty Payload. JSON content expected.', call.ids);
    const message = body.message;
    if (!isObject(message))
      return graphError(
        400,
        'ErrorInvalidParameter',
        "The value of the parameter 'Message' is empty.",
        call.ids,
      );
    const addresses: string[] = [];
    for (const field of ['toRecipients', 'ccRecipients', 'bccRecipients']) {
      const list = message[field];
      if (list === undefined || list === null) continue;
      if (!Array.isArray(list))
        return graphError(
          400,
          'ErrorInvalidRecipients',
          `${field} must be an array of recipients.`,
          call.ids,
        );
      for (const r of list as unknown[]) {
        const address = isObject(r) && isObject(r.emailAddress) ? r.emailAddress.address : undefined;
        if (typeof address !== 'string' || !/^[^@\s]+@[^@\s]+$/.test(address)) {
          return graphError(
            400,
            'ErrorInvalidRecipients',
            "At least one recipient isn't valid., A message can't be sent because it contains no recipients.",
            call.ids,
          );
        }
        addresses.push(address.toLowerCase());
      }
    }
    if (addresses.length === 0) {
      return graphError(
        400,
        'ErrorInvalidRecipients',
        "At least one recipient isn't valid., A message can't be sent because it contains no recipients.",
        call.ids,
      );
    }
    const sender = mb.user;
    const subject = typeof message.subject === 'string' ? message.subject : '';
    const content =
      isObject(message.body) && typeof message.body.content === 'string' ? message.body.content : '';
    for (const address of new Set(addresses)) {
      const recipient = this.o.directory.findUserAnywhere(address);
      if (!recipient || recipient.mailbox !== 'exchangeOnline') continue;
      this.o.deliverMail(recipient, {
        subject,
        bodyPreview: content.replace(/<[^>]*>/g, '').slice(0, 255),
        from: { name: sender.displayName, address: sender.mail },
      });
    }
    return graphOk(202, undefined, call.ids);
  }

  // ---- groups -----------------------------------------------------------------------------------

  /** Graph rule: directory delta tokens live 7 days; afterwards the app must resync from scratch. */
  expireGroupDeltaTokens(): void {
    for (const token of [...this.groupDeltaTokens.keys(), ...this.groupSkipTokens.keys()])
      this.expiredGroupTokens.add(token);
    this.groupDeltaTokens.clear();
    this.groupSkipTokens.clear();
  }

  private findGroup(call: GraphCall, id: string): Group | undefined {
    return this.o.directory.tenants.get(call.claims.tid)?.groups.get(id.toLowerCase());
  }

  private groupJson(group: Group): Record<string, unknown> {
    return {
      id: group.id,
      displayName: group.displayName,
      description: group.description,
      mail: null,
      mailEnabled: false,
      securityEnabled: true,
      groupTypes: [],
    };
  }

  /** GET /groups/{id}: GroupMember.Read.All (or Group/Directory.Read.All); 404 Request_ResourceNotFound. */
  private getGroup(call: GraphCall, id: string): SimResponse {
    if (!this.hasRole(call, GROUP_ROLES)) return this.directoryDenied(call);
    const group = this.findGroup(call, id);
    if (!group) return this.directoryNotFound(call, id);
    const json = applySelect(
      this.groupJson(group),
      call.query.get('$select'),
      GROUP_PROPERTIES,
      'microsoft.graph.group',
    );
    if (typeof json === 'string') return graphError(400, 'Request_BadRequest', json, call.ids);
    return graphOk(
      200,
      { '@odata.context': `${this.o.graphBaseUrl}/$metadata#groups/$entity`, ...json },
      call.ids,
    );
  }

  /** GET /groups/{id}/members: user objects (`@odata.type` #microsoft.graph.user), `$select`, paged. */
  private listGroupMembers(call: GraphCall, id: string): SimResponse {
    if (!this.hasRole(call, GROUP_ROLES)) return this.directoryDenied(call);
    const group = this.findGroup(call, id);
    if (!group) return this.directoryNotFound(call, id);
    const page = this.directoryPage(call);
    if ('status' in page) return page;
    const members = [...group.members];
    const value: Record<string, unknown>[] = [];
    for (const memberId of members.slice(page.offset, page.offset + page.top)) {
      const user = this.o.directory.findUser(group.tenantId, memberId);
      if (!user) continue;
      const json = this.selectUser(user, call.query.get('$select'));
      if (typeof json === 'string') return graphError(400, 'Request_BadRequest', json, call.ids);
      value.push({ '@odata.type': '#microsoft.graph.user', ...json });
    }
    const body: Record<string, unknown> = {
      '@odata.context': `${this.o.graphBaseUrl}/$metadata#directoryObjects`,
      value,
    };
    if (page.offset + page.top < members.length)
      body['@odata.nextLink'] = this.directoryNextLink(call, page.offset + page.top);
    return graphOk(200, body, call.ids);
  }

  /** Membership-tracking units of one delta round, and the membership it leaves behind. */
  private groupDeltaUnits(
    tenant: Tenant | undefined,
    base: GroupDeltaState,
  ): { units: GroupDeltaUnit[]; nextSnapshot: Map<string, string[]> } {
    const units: GroupDeltaUnit[] = [];
    const nextSnapshot = new Map<string, string[]>();
    const scope = base.groupIds ?? [
      ...new Set([...(tenant?.groups.keys() ?? []), ...(base.snapshot?.keys() ?? [])]),
    ];
    const tracksMembers = base.select === null || base.select.includes('members');
    for (const groupId of scope) {
      const group = tenant?.groups.get(groupId);
      const previous = base.snapshot?.get(groupId);
      if (!group) {
        if (previous !== undefined) units.push({ groupId, removedGroup: true, member: null });
        continue;
      }
      const now = [...group.members];
      nextSnapshot.set(groupId, now);
      if (previous === undefined) {
        // Initial round (or a group created since): the whole group, every member as added.
        if (!tracksMembers || now.length === 0) units.push({ groupId, removedGroup: false, member: null });
        else
          for (const id of now) units.push({ groupId, removedGroup: false, member: { id, removed: false } });
        continue;
      }
      if (!tracksMembers) continue;
      const before = new Set(previous);
      const after = new Set(now);
      for (const id of previous)
        if (!after.has(id)) units.push({ groupId, removedGroup: false, member: { id, removed: true } });
      for (const id of now)
        if (!before.has(id)) units.push({ groupId, removedGroup: false, member: { id, removed: false } });
    }
    return { units, nextSnapshot };
  }

  /**
   * GET /groups/delta (GroupMember.Read.All). Graph rules: `$filter=id eq '{id}'` (several joined
   * by `or`) narrows it to given groups; `$select=members` (or no `$select`) adds `members@delta`:
   * `{ "@odata.type": "#microsoft.graph.user", id }` per member, and on later rounds only the
   * changes, a removed member carrying `"@removed": { "reason": "deleted" }`; a deleted group comes
   * back as `{ id, "@removed": { "reason": "changed" } }`. Pages (Prefer: odata.maxpagesize,
   * default 100 member entries) are linked by `@odata.nextLink`; a large group's members are split
   * over several pages, the group object repeated on each; the last page carries
   * `@odata.deltaLink`, which returns only what changed since. Query parameters only on the first
   * call (they stick to the tokens). Group property changes are not tracked by the simulator.
   */
  private groupsDelta(call: GraphCall): SimResponse {
    if (!this.hasRole(call, GROUP_ROLES)) return this.directoryDenied(call);
    const tenant = this.o.directory.tenants.get(call.claims.tid);
    const headerPageSize = preferredPageSize(call.headers.prefer);
    const skipToken = call.query.get('$skiptoken');
    const deltaToken = call.query.get('$deltatoken');
    const badToken = () =>
      this.expiredGroupTokens.has(skipToken ?? deltaToken ?? '')
        ? graphError(
            410,
            'resyncRequired',
            'The delta token is no longer valid: restart the synchronization without a $deltatoken (full resync).',
            call.ids,
          )
        : graphError(
            400,
            'Request_BadRequest',
            'Badly formed or expired token. Restart the synchronization without a $deltatoken.',
            call.ids,
          );

    let round: GroupSkipState;
    if (skipToken !== null) {
      const state = this.groupSkipTokens.get(skipToken);
      if (!state || state.tenantId !== call.claims.tid) return badToken();
      round = { ...state, pageSize: headerPageSize ?? state.pageSize };
    } else {
      let base: GroupDeltaState;
      if (deltaToken !== null) {
        const state = this.groupDeltaTokens.get(deltaToken);
        if (!state || state.tenantId !== call.claims.tid) return badToken();
        base = state;
      } else {
        let groupIds: string[] | null = null;
        const filter = call.query.get('$filter');
        if (filter !== null && filter.trim() !== '') {
          groupIds = [];
          for (const clause of filter.split(/\s+or\s+/i)) {
            const match = /^\s*\(?\s*id\s+eq\s+'([0-9a-fA-F-]{36})'\s*\)?\s*$/.exec(clause);
            if (!match?.[1]) {
              return graphError(
                400,
                'Request_UnsupportedQuery',
                "Unsupported query. Only $filter=id eq '{id}' (joined by 'or') is supported on groups delta.",
                call.ids,
              );
            }
            groupIds.push(match[1].toLowerCase());
          }
          if (groupIds.length > 50) {
            return graphError(
              400,
              'Request_UnsupportedQuery',
              'A $filter can name at most 50 ids.',
              call.ids,
            );
          }
        }
        let select: string[] | null = null;
        const rawSelect = call.query.get('$select');
        if (rawSelect !== null && rawSelect.trim() !== '') {
          select = [];
          for (const name of rawSelect
            .split(',')
            .map((n) => n.trim())
            .filter(Boolean)) {
            const match = [...GROUP_PROPERTIES, 'members'].find(
              (p) => p.toLowerCase() === name.toLowerCase(),
            );
            if (!match) {
              return graphError(
                400,
                'Request_BadRequest',
                `Could not find a property named '${name}' on type 'microsoft.graph.group'.`,
                call.ids,
              );
            }
            select.push(match);
          }
        }
        base = { tenantId: call.claims.tid, groupIds, select, snapshot: undefined };
      }
      const { units, nextSnapshot } = this.groupDeltaUnits(tenant, base);
      round = { ...base, units, offset: 0, pageSize: headerPageSize ?? GROUP_DELTA_PAGE, nextSnapshot };
    }

    const value: Record<string, unknown>[] = [];
    let current: Record<string, unknown> | undefined;
    let currentId: string | undefined;
    for (const unit of round.units.slice(round.offset, round.offset + round.pageSize)) {
      if (current === undefined || currentId !== unit.groupId) {
        const group = tenant?.groups.get(unit.groupId);
        if (unit.removedGroup || !group) {
          current = { id: unit.groupId, '@removed': { reason: 'changed' } };
        } else {
          const all = this.groupJson(group);
          const props = round.select ? round.select.filter((p) => p !== 'members') : GROUP_PROPERTIES;
          current = Object.fromEntries(['id', ...props.filter((p) => p !== 'id')].map((p) => [p, all[p]]));
        }
        currentId = unit.groupId;
        value.push(current);
      }
      if (unit.member) {
        const list = (current['members@delta'] ??= []) as Record<string, unknown>[];
        list.push({
          '@odata.type': '#microsoft.graph.user',
          id: unit.member.id,
          ...(unit.member.removed ? { '@removed': { reason: 'deleted' } } : {}),
        });
      }
    }
    const body: Record<string, unknown> = {
      '@odata.context': `${this.o.graphBaseUrl}/$metadata#groups`,
      value,
    };
    const nextOffset = round.offset + round.pageSize;
    const token = randomBytes(24).toString('base64url');
    if (nextOffset < round.units.length) {
      this.groupSkipTokens.set(token, { ...round, offset: nextOffset });
      body['@odata.nextLink'] = `${this.o.graphBaseUrl}/groups/delta?$skiptoken=${token}`;
    } else {
      this.groupDeltaTokens.set(token, {
        tenantId: round.tenantId,
        groupIds: round.groupIds,
        select: round.select,
        snapshot: round.nextSnapshot,
      });
      body['@odata.deltaLink'] = `${this.o.graphBaseUrl}/groups/delta?$deltatoken=${token}`;
    }
    return graphOk(200, body, call.ids);
  }

  // ---- $batch -----------------------------------------------------------------------------------

  /**
   * POST /$batch. Graph rules: at most 20 requests (else 400 for the whole batch); ids unique;
   * write members need a body and a Content-Type header; each member is executed on its own and
   * can fail or be throttled (429 + Retry-After in the member's headers) while the envelope is 200.
   * Members run in order; `dependsOn` is ignored.
   */
  private async batch(call: GraphCall): Promise<SimResponse> {
    const body = call.body;
    if (!isObject(body) || !Array.isArray(body.requests)) {
      return graphError(400, 'BadRequest', 'Invalid batch payload format.', call.ids);
    }
    const requests = body.requests as unknown[];
    if (requests.length === 0)
      return graphError(400, 'BadRequest', 'Invalid batch payload format.', call.ids);
    if (requests.length > MAX_BATCH) {
      return graphError(400, 'BadRequest', `Number of requests exceeds the limit of ${MAX_BATCH}.`, call.ids);
    }
    const seen = new Set<string>();
    const members: {
      id: string;
      method: string;
      path: string;
      query: URLSearchParams;
      headers: Record<string, string>;
      body: unknown;
    }[] = [];
    for (const r of requests) {
      if (
        !isObject(r) ||
        typeof r.id !== 'string' ||
        r.id === '' ||
        typeof r.method !== 'string' ||
        typeof r.url !== 'string'
      ) {
        return graphError(
          400,
          'BadRequest',
          'Invalid batch payload format: every request needs id, method and url.',
          call.ids,
        );
      }
      if (seen.has(r.id))
        return graphError(400, 'BadRequest', `Request Id '${r.id}' is not unique in the batch.`, call.ids);
      seen.add(r.id);
      const headers: Record<string, string> = {};
      if (isObject(r.headers)) {
        for (const [k, v] of Object.entries(r.headers))
          if (typeof v === 'string') headers[k.toLowerCase()] = v;
      }
      const method = r.method.toUpperCase();
      if (['POST', 'PATCH', 'PUT'].includes(method) && (r.body === undefined || !headers['content-type'])) {
        return graphError(
          400,
          'BadRequest',
          `Write request id : ${r.id} does not contain Content-Type header or body.`,
          call.ids,
        );
      }
      let url = r.url;
      if (/^https?:\/\//i.test(url)) {
        const base = this.o.graphBaseUrl.toLowerCase();
        if (!url.toLowerCase().startsWith(base)) {
          return graphError(
            400,
            'BadRequest',
            `Invalid request URL '${r.url}': batch URLs are relative to the version.`,
            call.ids,
          );
        }
        url = url.slice(base.length);
      }
      url = url.replace(/^\/?v1\.0(?=\/)/i, '');
      if (!url.startsWith('/')) url = `/${url}`;
      const q = url.indexOf('?');
      members.push({
        id: r.id,
        method,
        path: q < 0 ? url : url.slice(0, q),
        query: new URLSearchParams(q < 0 ? '' : url.slice(q + 1)),
        headers,
        body:
          typeof r.body === 'string' && headers['content-type']?.includes('json') ? safeJson(r.body) : r.body,
      });
    }

    const responses: { id: string; status: number; headers: Record<string, string>; body?: unknown }[] = [];
    for (const member of members) {
      const ids: RequestIds = { requestId: randomUUID(), clientRequestId: call.ids.clientRequestId };
      const pathAndQuery = `/v1.0${member.path}${member.query.size ? `?${member.query.toString()}` : ''}`;
      this.countRoute(member.method, member.path);
      const fault = this.o.faults.take('member', member.method, pathAndQuery);
      let response: SimResponse;
      if (fault) {
        response = faultResponse(fault.status, fault.retryAfterSeconds, ids);
        if (response.status === 429) this.o.stats.throttled += 1;
      } else {
        response = await this.execute({ ...member, claims: call.claims, ids, inBatch: true }, 0);
      }
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(response.headers)) {
        if (k === 'request-id' || k === 'client-request-id') continue;
        headers[k] = v;
      }
      if (response.body !== undefined) headers['Content-Type'] = 'application/json';
      responses.push({
        id: member.id,
        status: response.status,
        headers,
        ...(response.body === undefined ? {} : { body: response.body }),
      });
    }
    return graphOk(200, { responses }, call.ids);
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

/** Graph renders the change notification resource as `Users/{userId}/Messages/{messageId}`. */
export function messageNotificationResource(userId: string, messageId: string): string {
  return `Users/${userId}/Messages/${messageId}`;
}
