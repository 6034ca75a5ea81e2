/**
 * The Microsoft Entra ID (v2.0 endpoint) surface MSAL Node needs for client credentials with a
 * custom authority host and instance discovery disabled:
 *
 * - `GET /{tenant}/v2.0/.well-known/openid-configuration`: MSAL reads `token_endpoint`,
 *   `issuer` (same origin as the authority, or MSAL rejects it), `authorization_endpoint`,
 *   `jwks_uri`. Served for any tenant segment: against the real login.microsoftonline.com MSAL uses
 *   built-in metadata and an unknown tenant surfaces at the token endpoint as AADSTS90002, which is
 *   what we reproduce (a 400 here would reach the caller only as MSAL's `openid_config_error`).
 * - `GET /{tenant}/discovery/v2.0/keys`: the key that signs the simulator's access tokens.
 * - `POST /{tenant}/oauth2/v2.0/token`, `grant_type=client_credentials`, `scope=<resource>/.default`,
 *   with `client_secret`, or `client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer`
 *   + `client_assertion` (RS256 + `x5t`, or PS256 + `x5t#S256`; signature checked with the
 *   registered certificate's public key; `aud` = token endpoint; `iss` = `sub` = client id; `exp`/`nbf`).
 *
 * Errors use Entra's JSON (`error`, `error_description` starting with the AADSTS code,
 * `error_codes`, `timestamp`, `trace_id`, `correlation_id`, `error_uri`) and its status codes
 * (400 for request errors, 401 `invalid_client` for bad credentials).
 */
import { createHash, randomUUID, timingSafeEqual, type KeyObject } from 'node:crypto';
import type { SimResponse } from './http.js';
import { decodeJwt, signJwtRs256, verifyJwtSignature } from './jwt.js';
import type { App, Directory, Tenant } from './model.js';

export const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
/** Microsoft Graph's first-party app id: a valid resource identifier for scopes. */
export const GRAPH_APP_ID = '00000003-0000-0000-c000-000000000000';
/** Graph resource URIs of every national cloud (a token for any of them is accepted). */
export const GRAPH_RESOURCES = [
  'https://graph.microsoft.com',
  'https://graph.microsoft.us',
  'https://dod-graph.microsoft.us',
  'https://microsoftgraph.chinacloudapi.cn',
];
const ASSERTION_SKEW_SECONDS = 300;

export interface EntraContext {
  directory: Directory;
  /** https://127.0.0.1:PORT */
  origin: string;
  signingKey: KeyObject;
  signingPublicJwk: Record<string, unknown>;
  keyId: string;
  tokenLifetimeSeconds: number;
  onTokenIssued(): void;
}

export interface AccessTokenClaims {
  tid: string;
  appid: string;
  roles: string[];
  aud: string;
  exp: number;
}

/** Resources a token may be requested for: Graph in every cloud, its app id, and the simulator itself. */
export function acceptedResources(origin: string): string[] {
  return [...GRAPH_RESOURCES, GRAPH_APP_ID, origin];
}

function entraError(
  status: number,
  error: string,
  code: number,
  description: string,
  correlationId: string,
): SimResponse {
  const traceId = randomUUID();
  const timestamp = new Date()
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d{3}Z$/, 'Z');
  return {
    status,
    headers: {
      'Cache-Control': 'no-store, no-cache',
      Pragma: 'no-cache',
      'Content-Type': 'application/json; charset=utf-8',
    },
    body: {
      error,
      error_description: `AADSTS${code}: ${description} Trace ID: ${traceId} Correlation ID: ${correlationId} Timestamp: ${timestamp}`,
      error_codes: [code],
      timestamp,
      trace_id: traceId,
      correlation_id: correlationId,
      error_uri: `https://login.microsoftonline.com/error?code=${code}`,
    },
  };
}

export function openIdConfiguration(ctx: EntraContext, tenantSegment: string): SimResponse {
  const tenant = ctx.directory.findTenant(tenantSegment);
  const tid = tenant?.id ?? tenantSegment;
  const base = `${ctx.origin}/${tenantSegment}`;
  return {
    status: 200,
    headers: { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'max-age=86400, private' },
    body: {
      token_endpoint: `${base}/oauth2/v2.0/token`,
      token_endpoint_auth_methods_supported: ['client_secret_post', 'private_key_jwt', 'client_secret_basic'],
      jwks_uri: `${base}/discovery/v2.0/keys`,
      response_modes_supported: ['query', 'fragment', 'form_post'],
      subject_types_supported: ['pairwise'],
      id_token_signing_alg_values_supported: ['RS256'],
      response_types_supported: ['code', 'id_token', 'code id_token', 'id_token token'],
      scopes_supported: ['openid', 'profile', 'email', 'offline_access'],
      issuer: `${ctx.origin}/${tid}/v2.0`,
      request_uri_parameter_supported: false,
      userinfo_endpoint: `${ctx.origin}/oidc/userinfo`,
      authorization_endpoint: `${base}/oauth2/v2.0/authorize`,
      device_authorization_endpoint: `${base}/oauth2/v2.0/devicecode`,
      http_logout_supported: true,
      frontchannel_logout_supported: true,
      end_session_endpoint: `${base}/oauth2/v2.0/logout`,
      claims_supported: ['sub', 'iss', 'aud', 'exp', 'iat', 'nbf', 'tid', 'ver', 'roles'],
      kerberos_endpoint: `${base}/kerberos`,
      tenant_region_scope: 'EU',
      cloud_instance_name: 'graph-sim.local',
      cloud_graph_host_name: 'graph.windows.net',
      msgraph_host: 'graph.microsoft.com',
    },
  };
}

export function jwks(ctx: EntraContext): SimResponse {
  return {
    status: 200,
    headers: { 'Content-Type': 'application/json; charset=utf-8' },
    body: { keys: [{ ...ctx.signingPublicJwk, kid: ctx.keyId, use: 'sig', alg: 'RS256' }] },
  };
}

const hashSecret = (value: string): Buffer => createHash('sha256').update(value, 'utf8').digest();

/** `POST /{tenant}/oauth2/v2.0/token` (form-encoded body). */
export function tokenEndpoint(
  ctx: EntraContext,
  tenantSegment: string,
  form: URLSearchParams,
  correlationId: string,
): SimResponse {
  const missing = (name: string) =>
    entraError(
      400,
      'invalid_request',
      900144,
      `The request body must contain the following parameter: '${name}'.`,
      correlationId,
    );

  const grantType = form.get('grant_type');
  if (!grantType) return missing('grant_type');
  if (grantType !== 'client_credentials') {
    return entraError(
      400,
      'unsupported_grant_type',
      70003,
      `The app requested an unsupported grant type '${grantType}'. The simulator supports client_credentials only.`,
      correlationId,
    );
  }

  const tenant = ctx.directory.findTenant(tenantSegment);
  if (!tenant) {
    return entraError(
      400,
      'invalid_request',
      90002,
      `Tenant '${tenantSegment}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant.`,
      correlationId,
    );
  }

  const clientId = form.get('client_id');
  if (!clientId) return missing('client_id');
  const app = tenant.apps.get(clientId.toLowerCase());
  if (!app) {
    return entraError(
      400,
      'unauthorized_client',
      700016,
      `Application with identifier '${clientId}' was not found in the directory '${tenantSegment}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.`,
      correlationId,
    );
  }

  const scope = form.get('scope');
  if (!scope) return missing('scope');
  const scopes = scope
    .split(/\s+/)
    .filter((s) => s && !['openid', 'profile', 'offline_access', 'email'].includes(s));
  const defaultScopes = scopes.filter((s) => s.endsWith('/.default'));
  if (defaultScopes.length !== 1 || scopes.length !== 1) {
    return entraError(
      400,
      'invalid_scope',
      1002012,
      `The provided value for scope ${scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).`,
      correlationId,
    );
  }
  const resource = (defaultScopes[0] ?? '').slice(0, -'/.default'.length).replace(/\/+$/, '');
  const known = acceptedResources(ctx.origin).find((r) => r.toLowerCase() === resource.toLowerCase());
  if (!known) {
    return entraError(
      400,
      'invalid_resource',
      500011,
      `The resource principal named ${resource} was not found in the tenant named ${tenant.id}. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant.`,
      correlationId,
    );
  }

  const secret = form.get('client_secret');
  const assertion = form.get('client_assertion');
  let appidacr: '1' | '2';
  if (secret !== null) {
    const given = hashSecret(secret);
    let ok = false;
    for (const h of app.secretHashes) ok = timingSafeEqual(h, given) || ok;
    if (!ok) {
      return entraError(
        401,
        'invalid_client',
        7000215,
        `Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '${app.clientId}'.`,
        correlationId,
      );
    }
    appidacr = '1';
  } else if (assertion !== null) {
    const failure = checkClientAssertion(
      ctx,
      tenant,
      app,
      tenantSegment,
      form.get('client_assertion_type'),
      assertion,
      correlationId,
    );
    if (failure) return failure;
    appidacr = '2';
  } else {
    return entraError(
      401,
      'invalid_client',
      7000218,
      "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
      correlationId,
    );
  }

  const now = Math.floor(Date.now() / 1000);
  const accessToken = signJwtRs256(
    { typ: 'JWT', kid: ctx.keyId, x5t: ctx.keyId },
    {
      aud: known,
      iss: `https://sts.windows.net/${tenant.id}/`,
      iat: now,
      nbf: now,
      exp: now + ctx.tokenLifetimeSeconds,
      app_displayname: app.displayName,
      appid: app.clientId,
      appidacr,
      idp: `https://sts.windows.net/${tenant.id}/`,
      idtyp: 'app',
      oid: app.servicePrincipalId,
      // Entra rule: an app without granted application permissions gets no `roles` claim at all.
      ...(app.roles.length > 0 ? { roles: [...app.roles] } : {}),
      sub: app.servicePrincipalId,
      tid: tenant.id,
      uti: randomUUID().replace(/-/g, ''),
      ver: '1.0',
    },
    ctx.signingKey,
  );
  ctx.onTokenIssued();
  return {
    status: 200,
    headers: {
      'Cache-Control': 'no-store, no-cache',
      Pragma: 'no-cache',
      'Content-Type': 'application/json; charset=utf-8',
    },
    body: {
      token_type: 'Bearer',
      expires_in: ctx.tokenLifetimeSeconds,
      ext_expires_in: ctx.tokenLifetimeSeconds,
      access_token: accessToken,
    },
  };
}

function checkClientAssertion(
  ctx: EntraContext,
  tenant: Tenant,
  app: App,
  tenantSegment: string,
  assertionType: string | null,
  assertion: string,
  correlationId: string,
): SimResponse | undefined {
  const invalidClient = (code: number, description: string) =>
    entraError(401, 'invalid_client', code, description, correlationId);
  if (assertionType !== JWT_BEARER) {
    return entraError(
      400,
      'invalid_request',
      700025,
      `Client assertion type '${assertionType ?? ''}' is not supported. Expected '${JWT_BEARER}'.`,
      correlationId,
    );
  }
  const jwt = decodeJwt(assertion);
  if (!jwt) return invalidClient(50027, 'JWT token is invalid or malformed.');
  const alg = jwt.header.alg;
  if (alg !== 'RS256' && alg !== 'PS256') {
    return invalidClient(
      5002738,
      `Invalid JWT token. '${String(alg)}' is not a supported signature algorithm.`,
    );
  }
  const x5tS256 = typeof jwt.header['x5t#S256'] === 'string' ? jwt.header['x5t#S256'] : undefined;
  const x5t = typeof jwt.header.x5t === 'string' ? jwt.header.x5t : undefined;
  const thumbprintHex = Buffer.from(x5tS256 ?? x5t ?? '', 'base64url')
    .toString('hex')
    .toUpperCase();
  const cert = app.certificates.find((c) =>
    x5tS256 ? c.x5tS256 === x5tS256 : x5t !== undefined && c.x5t === x5t,
  );
  if (!cert) {
    return invalidClient(
      700027,
      `Client assertion contains an invalid signature. [Reason - The key was not found., Thumbprint of key used by client: '${thumbprintHex}', Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys for app Id '${app.clientId}'.]`,
    );
  }
  if (!verifyJwtSignature(jwt, cert.publicKey)) {
    return invalidClient(
      700027,
      `Client assertion contains an invalid signature. [Reason - The provided signature value did not match the expected signature value., Thumbprint of key used by client: '${thumbprintHex}', Found key 'Start=${cert.notBefore.toISOString()}, End=${cert.notAfter.toISOString()}']`,
    );
  }
  const nowMs = Date.now();
  if (cert.notAfter.getTime() < nowMs || cert.notBefore.getTime() > nowMs) {
    return invalidClient(
      700027,
      `Client assertion failed signature validation. [Reason - The key used is expired., Thumbprint of key used by client: '${thumbprintHex}']`,
    );
  }
  const { iss, sub, aud, exp, nbf } = jwt.payload;
  if (iss !== sub || typeof iss !== 'string' || iss.toLowerCase() !== app.clientId) {
    return invalidClient(
      700021,
      "Client assertion application identifier doesn't match 'client_id' parameter.",
    );
  }
  const audiences = new Set<string>();
  for (const name of [tenantSegment, tenant.id, ...tenant.domains]) {
    for (const host of [ctx.origin, 'https://login.microsoftonline.com']) {
      audiences.add(`${host}/${name}/oauth2/v2.0/token`.toLowerCase());
      audiences.add(`${host}/${name}/v2.0`.toLowerCase());
    }
  }
  const audList = Array.isArray(aud) ? aud : [aud];
  if (!audList.some((a) => typeof a === 'string' && audiences.has(a.replace(/\/+$/, '').toLowerCase()))) {
    return invalidClient(
      50013,
      `Assertion audience claim does not match the required value. The audience in the assertion was '${String(aud)}' and the expected audience is '${ctx.origin}/${tenantSegment}/oauth2/v2.0/token'.`,
    );
  }
  const now = nowMs / 1000;
  if (
    typeof exp !== 'number' ||
    exp + ASSERTION_SKEW_SECONDS < now ||
    (typeof nbf === 'number' && nbf - ASSERTION_SKEW_SECONDS > now)
  ) {
    return invalidClient(
      700024,
      `Client assertion is not within its valid time range. Current time: ${new Date(nowMs).toISOString()}, expiry time of assertion ${typeof exp === 'number' ? new Date(exp * 1000).toISOString() : 'missing'}.`,
    );
  }
  return undefined;
}

/**
 * Validates `Authorization: Bearer` on Graph routes: a token this simulator signed, not expired,
 * for a Graph resource, of a tenant and app that still exist. Returns the claims or the reason.
 */
export function verifyAccessToken(
  ctx: EntraContext,
  authorization: string | undefined,
): { claims: AccessTokenClaims } | { message: string } {
  const match = authorization ? /^Bearer\s+(\S+)\s*$/i.exec(authorization) : null;
  if (!match?.[1]) return { message: 'Access token is empty.' };
  const jwt = decodeJwt(match[1]);
  if (!jwt || jwt.header.kid !== ctx.keyId || !verifyJwtSignature(jwt, ctx.signingKey)) {
    return { message: 'Access token validation failure. Invalid signature.' };
  }
  const { tid, appid, roles, aud, exp } = jwt.payload;
  if (typeof exp !== 'number' || exp * 1000 <= Date.now()) {
    return { message: 'Lifetime validation failed, the token is expired.' };
  }
  if (typeof aud !== 'string' || !acceptedResources(ctx.origin).includes(aud)) {
    return { message: 'Access token validation failure. Invalid audience.' };
  }
  if (typeof tid !== 'string' || typeof appid !== 'string') {
    return { message: 'Access token validation failure.' };
  }
  const tenant = ctx.directory.tenants.get(tid);
  if (!tenant?.apps.has(appid)) return { message: 'Access token validation failure. Invalid application.' };
  return {
    claims: {
      tid,
      appid,
      aud,
      exp,
      roles: Array.isArray(roles) ? roles.filter((r): r is string => typeof r === 'string') : [],
    },
  };
}
