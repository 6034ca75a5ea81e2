/**
 * Rich notifications (`includeResourceData`): Graph sends the message itself, encrypted for us, plus
 * JWTs proving the POST came from Graph. Nothing from a rich notification is pushed unless every
 * check passes; each failure has a reason that is counted (and never echoes content or keys).
 *
 * Checks, in order (Graph's documented procedure):
 * 1. `validationTokens[]`: each a JWT signed by a key of Microsoft's JWKS, `aud` = our app id,
 *    `appid`/`azp` = Graph change tracking (0bf30f3b-…), issued by Entra for a tenant (v1.0
 *    `https://sts.windows.net/<tid>/` or v2.0 `<authority>/<tid>/v2.0`), not expired; and at least
 *    one of them for the message's tenant (one POST carries one token per app + tenant in it).
 * 2. `dataKey`: RSA-OAEP (SHA-1) with the private key of the certificate the subscription named.
 * 3. `dataSignature` = base64 HMAC-SHA256(key, base64-decoded `data`), compared in constant time,
 *    BEFORE decrypting: tampered ciphertext is never fed to the decipher (no padding oracle).
 * 4. `data`: AES-256-CBC, IV = first 16 bytes of the key, PKCS7. The plaintext is the message
 *    resource as JSON (subject, from, bodyPreview, … as the subscription selected).
 */
import {
  constants,
  createDecipheriv,
  createHash,
  createHmac,
  createPrivateKey,
  privateDecrypt,
  timingSafeEqual,
  X509Certificate,
  type KeyObject,
} from 'node:crypto';
import { createRemoteJWKSet, jwtVerify, type JWTVerifyGetKey } from 'jose';
import type { ChangeMessage } from '../domain/model.js';

/** The app id Graph's change-tracking service signs validation tokens as. */
export const GRAPH_CHANGE_TRACKING_APP_ID = '0bf30f3b-4a52-48df-9a82-234910c4a086';
/** Microsoft's signing keys for validation tokens (global cloud). */
export const DEFAULT_GRAPH_JWKS_URI = 'https://login.microsoftonline.com/common/discovery/v2.0/keys';
const DEFAULT_AUTHORITY_HOST = 'https://login.microsoftonline.com';

export type RichFailureReason =
  /** encryptedContent is not the documented shape. */
  | 'rich_malformed'
  /** No configured key for the certificate the notification was encrypted for. */
  | 'rich_key_unknown'
  /** dataKey could not be decrypted with our key (wrong key, or tampered). */
  | 'rich_key_invalid'
  /** HMAC mismatch: data was altered (or keyed for someone else). Checked before decrypting. */
  | 'rich_signature_invalid'
  /** The ciphertext did not decrypt, or not to a JSON object. */
  | 'rich_decrypt_failed'
  /** The decrypted resource is for another message. */
  | 'rich_content_mismatch'
  /** Encrypted content without validation tokens. */
  | 'rich_token_missing'
  /** A validation token failed (signature, audience, issuer, app, expiry, tenant). */
  | 'rich_token_invalid';

export const RICH_FAILURE_REASONS: readonly RichFailureReason[] = [
  'rich_malformed',
  'rich_key_unknown',
  'rich_key_invalid',
  'rich_signature_invalid',
  'rich_decrypt_failed',
  'rich_content_mismatch',
  'rich_token_missing',
  'rich_token_invalid',
];

export type RichResult =
  | { ok: true; resource: Record<string, unknown> }
  /** `detail` is safe to log: it names the failed check, never content or key material. */
  | { ok: false; reason: RichFailureReason; detail: string };

/** A private key we can decrypt `dataKey` with, and how Graph names it. */
export interface RichNotificationKey {
  /** The `encryptionCertificateId` we gave Graph when creating the subscription. */
  certificateId?: string;
  /** SHA-1 thumbprint (hex) of the certificate (Graph's `encryptionCertificateThumbprint`). */
  thumbprint?: string;
  privateKey: KeyObject;
}

export interface RichNotificationOptions {
  /** Our app registration's client id: the tokens' `aud`. */
  appId: string;
  /** The private keys Graph may have encrypted for, matched by certificate id or thumbprint. */
  keys: readonly RichNotificationKey[];
  /** Where the tokens' signing keys come from: `createRemoteJWKSet(jwksUri)`, or a local set in tests. */
  keySet: JWTVerifyGetKey;
  /** Entra authority host of the cloud, for the v2.0 issuer. Default https://login.microsoftonline.com. */
  authorityHost?: string;
  /** Extra issuer templates with `{tenantid}`, e.g. a national cloud's v1.0 STS. */
  extraIssuerTemplates?: readonly string[];
  /** Clock skew tolerated on `exp`/`nbf`, seconds. Default 300 (Graph's tokens live an hour). */
  clockToleranceSec?: number;
  now?: () => number;
}

export interface EncryptedContent {
  data: string;
  dataSignature: string;
  dataKey: string;
  encryptionCertificateId: string;
  encryptionCertificateThumbprint: string;
}

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
/** Larger than any message resource Graph sends (it caps rich payloads at 4 MB per POST). */
const MAX_DATA_CHARS = 4 * 1024 * 1024;

/** Verifies and decrypts the rich content of change messages. */
export class RichNotificationReader {
  private readonly issuerTemplates: string[];
  private readonly clockToleranceSec: number;
  private readonly now: () => number;

  constructor(private readonly options: RichNotificationOptions) {
    if (!GUID.test(options.appId)) throw new TypeError('rich notifications: appId must be a GUID');
    const authority = (options.authorityHost ?? DEFAULT_AUTHORITY_HOST).replace(/\/+$/, '');
    this.issuerTemplates = [
      `${authority}/{tenantid}/v2.0`,
      'https://sts.windows.net/{tenantid}/',
      ...(options.extraIssuerTemplates ?? []),
    ];
    this.clockToleranceSec = options.clockToleranceSec ?? 300;
    this.now = options.now ?? Date.now;
  }

  async read(message: ChangeMessage): Promise<RichResult> {
    const tokens = message.validationTokens;
    if (!Array.isArray(tokens) || tokens.length === 0) {
      return fail('rich_token_missing', 'encrypted content came without validationTokens');
    }
    const tokenProblem = await this.checkTokens(tokens, message.tenantId);
    if (tokenProblem) return fail('rich_token_invalid', tokenProblem);
    const result = decryptEncryptedContent(message.encryptedContent, this.options.keys);
    if (!result.ok) return result;
    const id = result.resource.id;
    if (id !== undefined && id !== message.messageId) {
      return fail('rich_content_mismatch', 'the encrypted resource is for another message');
    }
    return result;
  }

  /** undefined when every token is valid and one is for `tenantId`; else what failed. */
  async checkTokens(tokens: readonly string[], tenantId: string): Promise<string | undefined> {
    const tenants = new Set<string>();
    for (const [index, token] of tokens.entries()) {
      if (typeof token !== 'string' || token.length === 0 || token.length > 16_384) {
        return `token ${index} is not a JWT`;
      }
      let payload: Record<string, unknown>;
      try {
        ({ payload } = await jwtVerify(token, this.options.keySet, {
          audience: this.options.appId,
          algorithms: ['RS256'],
          clockTolerance: this.clockToleranceSec,
          currentDate: new Date(this.now()),
          requiredClaims: ['exp', 'iss', 'aud'],
        }));
      } catch (error) {
        return `token ${index}: ${describeJoseError(error)}`;
      }
      const app = typeof payload.azp === 'string' ? payload.azp : payload.appid;
      if (app !== GRAPH_CHANGE_TRACKING_APP_ID) {
        return `token ${index}: not issued to Graph change tracking (appid/azp)`;
      }
      const tid = this.tenantOfIssuer(payload.iss);
      if (!tid) return `token ${index}: issuer is not an Entra ID tenant issuer`;
      if (typeof payload.tid === 'string' && payload.tid.toLowerCase() !== tid) {
        return `token ${index}: tid does not match its issuer`;
      }
      tenants.add(tid);
    }
    if (!tenants.has(tenantId.toLowerCase())) return "no token was issued for the message's tenant";
    return undefined;
  }

  private tenantOfIssuer(iss: unknown): string | undefined {
    if (typeof iss !== 'string') return undefined;
    for (const template of this.issuerTemplates) {
      const [before, after] = template.split('{tenantid}') as [string, string | undefined];
      if (after === undefined) continue;
      if (!iss.startsWith(before) || !iss.endsWith(after)) continue;
      const tid = iss.slice(before.length, iss.length - after.length);
      if (GUID.test(tid)) return tid.toLowerCase();
    }
    return undefined;
  }
}

/**
 * Steps 2–4: key, signature, decryption. Pure (no clock, no network). Every failure is reported,
 * never thrown.
 */
export function decryptEncryptedContent(raw: unknown, keys: readonly RichNotificationKey[]): RichResult {
  const content = parseEncryptedContent(raw);
  if (typeof content === 'string') return fail('rich_malformed', content);
  const key = pickKey(content, keys);
  if (!key) return fail('rich_key_unknown', 'no configured key matches encryptionCertificateId/thumbprint');

  let symmetric: Buffer;
  try {
    symmetric = privateDecrypt(
      { key: key.privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' },
      Buffer.from(content.dataKey, 'base64'),
    );
  } catch {
    return fail('rich_key_invalid', 'dataKey does not decrypt with our private key');
  }
  if (symmetric.length !== 32) return fail('rich_key_invalid', 'dataKey is not a 256-bit key');

  const data = Buffer.from(content.data, 'base64');
  const expected = createHmac('sha256', symmetric).update(data).digest();
  const given = Buffer.from(content.dataSignature, 'base64');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    return fail('rich_signature_invalid', 'dataSignature does not match the data');
  }

  let plaintext: string;
  try {
    const decipher = createDecipheriv('aes-256-cbc', symmetric, symmetric.subarray(0, 16));
    plaintext = Buffer.concat([decipher.update(data), decipher.final()]).toString('utf8');
  } catch {
    return fail('rich_decrypt_failed', 'data does not decrypt');
  }
  let resource: unknown;
  try {
    resource = JSON.parse(plaintext);
  } catch {
    return fail('rich_decrypt_failed', 'decrypted data is not JSON');
  }
  if (typeof resource !== 'object' || resource === null || Array.isArray(resource)) {
    return fail('rich_decrypt_failed', 'decrypted data is not a JSON object');
  }
  return { ok: true, resource: resource as Record<string, unknown> };
}

function parseEncryptedContent(raw: unknown): EncryptedContent | string {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    return 'encryptedContent is not an object';
  const c = raw as Record<string, unknown>;
  for (const field of ['data', 'dataSignature', 'dataKey'] as const) {
    const value = c[field];
    if (
      typeof value !== 'string' ||
      value.length === 0 ||
      value.length > MAX_DATA_CHARS ||
      !BASE64.test(value)
    ) {
      return `encryptedContent.${field} is missing or not base64`;
    }
  }
  const id = c.encryptionCertificateId;
  const thumbprint = c.encryptionCertificateThumbprint;
  if (id !== undefined && typeof id !== 'string')
    return 'encryptedContent.encryptionCertificateId is not a string';
  if (thumbprint !== undefined && typeof thumbprint !== 'string') {
    return 'encryptedContent.encryptionCertificateThumbprint is not a string';
  }
  return {
    data: c.data as string,
    dataSignature: c.dataSignature as string,
    dataKey: c.dataKey as string,
    encryptionCertificateId: id ?? '',
    encryptionCertificateThumbprint: thumbprint ?? '',
  };
}

/** By certificate id, else by thumbprint; a single key without either is used for everything. */
function pickKey(
  content: EncryptedContent,
  keys: readonly RichNotificationKey[],
): RichNotificationKey | undefined {
  const byId = keys.find(
    (k) => k.certificateId !== undefined && k.certificateId === content.encryptionCertificateId,
  );
  if (byId) return byId;
  const thumbprint = normaliseThumbprint(content.encryptionCertificateThumbprint);
  const byThumbprint = keys.find(
    (k) => k.thumbprint !== undefined && normaliseThumbprint(k.thumbprint) === thumbprint,
  );
  if (byThumbprint) return byThumbprint;
  if (keys.length === 1 && keys[0]!.certificateId === undefined && keys[0]!.thumbprint === undefined)
    return keys[0];
  return undefined;
}

function normaliseThumbprint(value: string): string {
  return value.replace(/[^0-9a-f]/gi, '').toLowerCase();
}

function fail(reason: RichFailureReason, detail: string): RichResult {
  return { ok: false, reason, detail };
}

function describeJoseError(error: unknown): string {
  const code = typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined;
  switch (code) {
    case 'ERR_JWT_EXPIRED':
      return 'expired';
    case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED':
      return 'bad signature';
    case 'ERR_JWKS_NO_MATCHING_KEY':
      return 'signed with an unknown key';
    case 'ERR_JWT_CLAIM_VALIDATION_FAILED': {
      const claim = (error as { claim?: unknown }).claim;
      return `claim ${typeof claim === 'string' ? claim : '?'} is not acceptable`;
    }
    case 'ERR_JOSE_ALG_NOT_ALLOWED':
      return 'algorithm not allowed';
    case 'ERR_JWKS_TIMEOUT':
    case 'ERR_JOSE_GENERIC':
      return 'signing keys unavailable';
    default:
      return typeof code === 'string' ? code : 'not a valid JWT';
  }
}

// ---------------------------------------------------------------------------------------------
// Building the reader from settings

/** A PEM private key (PKCS#8 or PKCS#1), optionally followed by its certificate; or the same as base64. */
export function loadRichNotificationKey(pemOrBase64: string, certificateId?: string): RichNotificationKey {
  const text = pemOrBase64.includes('-----BEGIN')
    ? pemOrBase64
    : Buffer.from(pemOrBase64.replace(/\s+/g, ''), 'base64').toString('utf8');
  if (!text.includes('-----BEGIN')) throw new TypeError('not a PEM private key (or its base64)');
  const privateKey = createPrivateKey(text);
  if (privateKey.asymmetricKeyType !== 'rsa') throw new TypeError('the rich-notification key must be RSA');
  const key: RichNotificationKey = { privateKey };
  if (certificateId) key.certificateId = certificateId;
  const certPem = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(text)?.[0];
  if (certPem) {
    const der = new X509Certificate(certPem).raw;
    key.thumbprint = createHash('sha1').update(der).digest('hex');
  }
  return key;
}

/** Microsoft's JWKS, fetched on first use and cached by jose (refreshed on an unknown `kid`). */
export function remoteGraphKeySet(jwksUri: string = DEFAULT_GRAPH_JWKS_URI): JWTVerifyGetKey {
  return createRemoteJWKSet(new URL(jwksUri), { cooldownDuration: 30_000, cacheMaxAge: 24 * 3_600_000 });
}
