/**
 * Minimal JWS (compact JWT) helpers on node:crypto: enough to issue the simulator's access
 * tokens (RS256) and to verify client assertions signed by MSAL (RS256 with `x5t`, or PS256
 * with `x5t#S256`, which is what @azure/identity 4.x sends).
 */
import { constants, sign, verify, type KeyObject } from 'node:crypto';

export type JsonObject = Record<string, unknown>;

export interface DecodedJwt {
  header: JsonObject;
  payload: JsonObject;
  /** `base64url(header).base64url(payload)`: the bytes the signature covers. */
  signingInput: string;
  signature: Buffer;
}

const isObject = (value: unknown): value is JsonObject =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

export const base64url = (data: Buffer | string): string => Buffer.from(data).toString('base64url');

/** Splits and parses a compact JWS. Undefined if it is not three base64url JSON parts. */
export function decodeJwt(token: string): DecodedJwt | undefined {
  const parts = token.split('.');
  if (parts.length !== 3) return undefined;
  const [h, p, s] = parts as [string, string, string];
  if (!/^[A-Za-z0-9_-]+$/.test(h) || !/^[A-Za-z0-9_-]+$/.test(p) || !/^[A-Za-z0-9_-]*$/.test(s)) {
    return undefined;
  }
  try {
    const header: unknown = JSON.parse(Buffer.from(h, 'base64url').toString('utf8'));
    const payload: unknown = JSON.parse(Buffer.from(p, 'base64url').toString('utf8'));
    if (!isObject(header) || !isObject(payload)) return undefined;
    return { header, payload, signingInput: `${h}.${p}`, signature: Buffer.from(s, 'base64url') };
  } catch {
    return undefined;
  }
}

/** Signs `payload` with RS256 (RSASSA-PKCS1-v1_5 + SHA-256). */
export function signJwtRs256(header: JsonObject, payload: JsonObject, privateKey: KeyObject): string {
  const signingInput = `${base64url(JSON.stringify({ ...header, alg: 'RS256' }))}.${base64url(JSON.stringify(payload))}`;
  const signature = sign('sha256', Buffer.from(signingInput), privateKey);
  return `${signingInput}.${signature.toString('base64url')}`;
}

/** Verifies an RS256 or PS256 signature. Any other `alg` (none, HS256, ...) is refused. */
export function verifyJwtSignature(jwt: DecodedJwt, publicKey: KeyObject): boolean {
  const data = Buffer.from(jwt.signingInput);
  try {
    switch (jwt.header.alg) {
      case 'RS256':
        return verify('sha256', data, publicKey, jwt.signature);
      case 'PS256':
        return verify(
          'sha256',
          data,
          {
            key: publicKey,
            padding: constants.RSA_PKCS1_PSS_PADDING,
            saltLength: constants.RSA_PSS_SALTLEN_AUTO,
          },
          jwt.signature,
        );
      default:
        return false;
    }
  } catch {
    return false;
  }
}
