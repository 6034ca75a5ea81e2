/**
 * Validation of the Entra ID access tokens the mobile app sends as `Authorization: Bearer …`.
 * Only RS256 is accepted (Entra signs access tokens with RSA keys from the tenant's JWKS); `none`
 * and HMAC algorithms are refused before any key is looked up, which closes the classic
 * "alg: none" and RSA-public-key-as-HMAC-secret forgeries.
 */
import * as jose from 'jose';
import { DependencyError } from '../errors.js';
import { AuthError } from './errors.js';
import type { DeviceApiSettings } from './settings.js';

/** Who called, from a validated token. */
export interface DevicePrincipal {
  /** Entra object id of the user (`oid`), lower-cased. */
  objectId: string;
  /** Directory id (`tid`), lower-cased. */
  tenantId: string;
  /** The sign-in name, as the token gave it (`upn`, else `preferred_username`, else `email`). */
  username: string | undefined;
  /**
   * Distinct lower-cased values of `upn`, `preferred_username` and `email` (in that order):
   * where to look for the caller's mailbox. Never trusted alone: the mailbox must also be the
   * caller's by object id.
   */
  mailboxCandidates: string[];
  /** Delegated scopes (`scp`), empty for app-only tokens. */
  scopes: string[];
  /** App roles (`roles`): assigned to the user (delegated) or granted to the calling app (app-only). */
  roles: string[];
  /** The calling application's client id (`azp`, v1 `appid`). */
  appId: string | undefined;
}

export interface BearerValidator {
  /**
   * Validates an `Authorization` header value. Rejects with AuthError when the token is missing
   * or unacceptable, with DependencyError when the signing keys could not be fetched.
   */
  validate(authorization: string | null | undefined): Promise<DevicePrincipal>;
}

export interface BearerValidatorOptions {
  /** The tenant's signing keys: a `jwksUri` (fetched and cached) or a key set (tests). */
  keys: RemoteKeysOptions | { keySet: jose.JWTVerifyGetKey };
  /** Accepted `iss` values (see entraIssuers). */
  issuers: readonly string[];
  /** Accepted `aud` values: App ID URI and/or client id. */
  audiences: readonly string[];
  /** When given, `tid` must equal it. */
  tenantId?: string;
  clockToleranceSec?: number;
  /** Clock for `exp`/`nbf` (tests); default the system clock. */
  now?: () => Date;
}

export interface RemoteKeysOptions {
  jwksUri: string;
  /** Per fetch. Default 5 s. */
  timeoutMs?: number;
  /** Least time between fetches triggered by an unknown key id. Default 60 s. */
  cooldownMs?: number;
  /** Keys are refetched when older than this. Default 12 h. */
  cacheMaxAgeMs?: number;
}

/** Entra access tokens are a few KiB; anything far larger is not one. */
export const MAX_BEARER_TOKEN_LENGTH = 16 * 1024;
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;
const ALGORITHMS = ['RS256'];
const JWKS = 'entra-jwks';

/** The production validator: the tenant's keys fetched from Entra, cached for the process. */
export function createDeviceBearerValidator(settings: DeviceApiSettings): BearerValidator {
  return createBearerValidator({
    keys: { jwksUri: settings.jwksUri },
    issuers: settings.issuers,
    audiences: settings.audiences,
    tenantId: settings.tenantId,
    clockToleranceSec: settings.clockToleranceSec,
  });
}

export function createBearerValidator(options: BearerValidatorOptions): BearerValidator {
  if (options.issuers.length === 0) throw new TypeError('createBearerValidator: issuers must not be empty');
  if (options.audiences.length === 0)
    throw new TypeError('createBearerValidator: audiences must not be empty');
  const keySet =
    'keySet' in options.keys
      ? options.keys.keySet
      : // One cached set per validator (the composition root builds one per process). Keys are
        // refetched after 12 h, or at most once a minute when a token names an unknown key id
        // (Entra rolls keys over, announcing new ones in the JWKS in advance).
        jose.createRemoteJWKSet(new URL(options.keys.jwksUri), {
          timeoutDuration: options.keys.timeoutMs ?? 5000,
          cooldownDuration: options.keys.cooldownMs ?? 60_000,
          cacheMaxAge: options.keys.cacheMaxAgeMs ?? 12 * 60 * 60 * 1000,
        });
  const issuers = [...options.issuers];
  const audiences = [...options.audiences];
  const expectedTenant = options.tenantId?.toLowerCase();
  const clockTolerance = options.clockToleranceSec ?? 0;

  return {
    async validate(authorization) {
      const token = bearerToken(authorization);
      // Cheap checks first: junk never costs a key lookup (which may mean a JWKS fetch).
      let header: jose.ProtectedHeaderParameters;
      try {
        header = jose.decodeProtectedHeader(token);
      } catch (error) {
        throw invalid('The access token is malformed.', error);
      }
      if (header.alg !== 'RS256') throw invalid('The access token must be signed with RS256.');

      let payload: jose.JWTPayload;
      try {
        ({ payload } = await jose.jwtVerify(token, keySet, {
          algorithms: ALGORITHMS,
          issuer: issuers,
          audience: audiences,
          clockTolerance,
          requiredClaims: ['exp', 'iss', 'aud'],
          ...(options.now ? { currentDate: options.now() } : {}),
        }));
      } catch (error) {
        throw mapVerifyError(error);
      }
      return principalOf(payload, expectedTenant);
    },
  };
}

function bearerToken(authorization: string | null | undefined): string {
  if (authorization === undefined || authorization === null || authorization.trim() === '') {
    throw new AuthError('missing_token', 'An access token is required (Authorization: Bearer <token>).');
  }
  const trimmed = authorization.trim();
  const space = trimmed.search(/\s/);
  const scheme = space < 0 ? trimmed : trimmed.slice(0, space);
  const token = space < 0 ? '' : trimmed.slice(space).trim();
  if (scheme.toLowerCase() !== 'bearer' || token === '') {
    // Another scheme (Basic, a function key…) is no bearer token at all.
    throw new AuthError('missing_token', 'The Authorization header must be "Bearer <access token>".');
  }
  if (token.length > MAX_BEARER_TOKEN_LENGTH || !COMPACT_JWS.test(token)) {
    throw invalid('The access token is malformed.');
  }
  return token;
}

function invalid(message: string, cause?: unknown): AuthError {
  return new AuthError('invalid_token', message, cause === undefined ? undefined : { cause });
}

function mapVerifyError(error: unknown): Error {
  if (error instanceof jose.errors.JWTExpired) {
    return new AuthError('expired', 'The access token has expired.', { cause: error });
  }
  if (error instanceof jose.errors.JWTClaimValidationFailed) {
    if (error.claim === 'aud') {
      return new AuthError('wrong_audience', 'The access token is not meant for this API.', { cause: error });
    }
    if (error.claim === 'iss') {
      return new AuthError('wrong_issuer', 'The access token was not issued by the expected tenant.', {
        cause: error,
      });
    }
    if (error.claim === 'nbf') {
      return invalid('The access token is not valid yet.', error);
    }
    return invalid('The access token lacks a required claim.', error);
  }
  if (
    error instanceof jose.errors.JWSSignatureVerificationFailed ||
    error instanceof jose.errors.JOSEAlgNotAllowed ||
    error instanceof jose.errors.JWSInvalid ||
    error instanceof jose.errors.JWTInvalid ||
    error instanceof jose.errors.JWKSNoMatchingKey ||
    error instanceof jose.errors.JWKSMultipleMatchingKeys ||
    error instanceof jose.errors.JOSENotSupported
  ) {
    return invalid('The access token signature is not valid.', error);
  }
  // Anything else is about getting the keys (timeout, network, a bad answer from the JWKS
  // endpoint): the token may be fine, so the caller should retry rather than sign in again.
  const name = error instanceof Error ? error.name : 'unknown error';
  const reason = error instanceof jose.errors.JOSEError ? `${name}: ${error.message}` : name;
  return new DependencyError(JWKS, `could not get the token signing keys (${reason})`, { cause: error });
}

function principalOf(payload: jose.JWTPayload, expectedTenant: string | undefined): DevicePrincipal {
  const tid = stringClaim(payload, 'tid')?.toLowerCase();
  const oid = stringClaim(payload, 'oid')?.toLowerCase();
  if (!tid || !oid) throw invalid('The access token lacks the oid or tid claim.');
  if (expectedTenant !== undefined && tid !== expectedTenant) {
    throw new AuthError('wrong_issuer', 'The access token was not issued by the expected tenant.');
  }
  const names = [
    stringClaim(payload, 'upn'),
    stringClaim(payload, 'preferred_username'),
    stringClaim(payload, 'email'),
  ];
  const mailboxCandidates: string[] = [];
  for (const name of names) {
    const candidate = name?.trim().toLowerCase();
    if (candidate && !mailboxCandidates.includes(candidate)) mailboxCandidates.push(candidate);
  }
  const scp = stringClaim(payload, 'scp');
  return {
    objectId: oid,
    tenantId: tid,
    username: names.find((name) => name !== undefined),
    mailboxCandidates,
    scopes: scp ? scp.split(' ').filter((scope) => scope.length > 0) : [],
    roles: Array.isArray(payload['roles'])
      ? payload['roles'].filter((role): role is string => typeof role === 'string')
      : [],
    appId: stringClaim(payload, 'azp') ?? stringClaim(payload, 'appid'),
  };
}

function stringClaim(payload: jose.JWTPayload, name: string): string | undefined {
  const value = payload[name];
  return typeof value === 'string' && value.length > 0 ? value : undefined;
}
