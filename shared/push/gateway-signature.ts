/**
 * Signatures of the push webhook (Stripe-style):
 *
 *   X-MailPush-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, `${t}.${body}`)>
 *
 * The timestamp is inside the signed string, so a gateway that rejects old timestamps (5 minutes
 * by default) also rejects replays of a captured request; `v1` names the scheme so it can change
 * without breaking gateways. Several `v1=` entries are allowed (a sender may sign with two secrets
 * while they rotate), and verification accepts several secrets for the same reason.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export const SIGNATURE_HEADER = 'X-MailPush-Signature';
export const TIMESTAMP_HEADER = 'X-MailPush-Timestamp';
/** How old (or how far in the future, for clock skew) a signature may be by default. */
export const DEFAULT_SIGNATURE_MAX_AGE_SECONDS = 300;

/** Hex HMAC-SHA256 of `${timestamp}.${body}` under `secret`. */
export function computeWebhookSignature(secret: string, timestampSeconds: number, body: string): string {
  return createHmac('sha256', secret).update(`${timestampSeconds}.${body}`, 'utf8').digest('hex');
}

/** The `X-MailPush-Signature` value for `body` signed at `timestampSeconds`. */
export function signWebhookBody(secret: string, body: string, timestampSeconds: number): string {
  return `t=${timestampSeconds},v1=${computeWebhookSignature(secret, timestampSeconds, body)}`;
}

export type WebhookSignatureCheck =
  | { valid: true; timestampSeconds: number }
  | { valid: false; reason: 'malformed' | 'expired' | 'future' | 'mismatch' };

/**
 * Checks an `X-MailPush-Signature` header against the raw body (the exact bytes received, as
 * text). `now` is epoch milliseconds. Constant-time comparison; a signature older than
 * `maxAgeSeconds` (or that far in the future) is refused even when it matches, so a captured
 * request cannot be replayed later.
 */
export function verifyWebhookSignature(
  secret: string | readonly string[],
  header: string | undefined,
  body: string,
  now: number = Date.now(),
  maxAgeSeconds: number = DEFAULT_SIGNATURE_MAX_AGE_SECONDS,
): WebhookSignatureCheck {
  const parsed = header === undefined ? undefined : parseSignatureHeader(header);
  if (!parsed) return { valid: false, reason: 'malformed' };
  const { timestampSeconds, signatures } = parsed;
  const nowSeconds = Math.floor(now / 1000);
  if (timestampSeconds < nowSeconds - maxAgeSeconds) return { valid: false, reason: 'expired' };
  if (timestampSeconds > nowSeconds + maxAgeSeconds) return { valid: false, reason: 'future' };
  const secrets = typeof secret === 'string' ? [secret] : secret;
  let matched = false;
  for (const candidateSecret of secrets) {
    const expected = Buffer.from(computeWebhookSignature(candidateSecret, timestampSeconds, body), 'hex');
    for (const given of signatures) {
      // Lengths are equal (parse accepts only 64 hex digits), so timingSafeEqual cannot throw.
      if (timingSafeEqual(expected, given)) matched = true;
    }
  }
  return matched ? { valid: true, timestampSeconds } : { valid: false, reason: 'mismatch' };
}

function parseSignatureHeader(
  header: string,
): { timestampSeconds: number; signatures: Buffer[] } | undefined {
  let timestampSeconds: number | undefined;
  const signatures: Buffer[] = [];
  for (const part of header.split(',')) {
    const eq = part.indexOf('=');
    if (eq < 0) return undefined;
    const key = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    if (key === 't') {
      if (timestampSeconds !== undefined || !/^\d{1,12}$/.test(value)) return undefined;
      timestampSeconds = Number(value);
    } else if (key === 'v1') {
      if (!/^[0-9a-f]{64}$/i.test(value)) return undefined;
      signatures.push(Buffer.from(value, 'hex'));
    }
    // Unknown schemes (v0, v2, …) are ignored, as Stripe does, so senders can add new ones.
  }
  if (timestampSeconds === undefined || signatures.length === 0) return undefined;
  return { timestampSeconds, signatures };
}
