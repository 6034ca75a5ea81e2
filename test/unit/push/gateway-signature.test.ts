import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  computeWebhookSignature,
  signWebhookBody,
  verifyWebhookSignature,
} from '../../../shared/push/gateway-signature.js';

const SECRET = 'whsec-0123456789abcdef0123456789abcdef';
const BODY = '{"deliveryId":"d-1","devices":[],"content":{"title":"Hi"}}';
const T = 1_772_352_000; // 2026-03-01T08:00:00Z
const NOW = T * 1000;

describe('signWebhookBody', () => {
  it('is t=<seconds>,v1=<hex HMAC-SHA256 of "t.body">', () => {
    const expected = createHmac('sha256', SECRET).update(`${T}.${BODY}`).digest('hex');
    expect(signWebhookBody(SECRET, BODY, T)).toBe(`t=${T},v1=${expected}`);
    expect(computeWebhookSignature(SECRET, T, BODY)).toMatch(/^[0-9a-f]{64}$/);
  });

  it('changes with the timestamp, the body and the secret', () => {
    const base = computeWebhookSignature(SECRET, T, BODY);
    expect(computeWebhookSignature(SECRET, T + 1, BODY)).not.toBe(base);
    expect(computeWebhookSignature(SECRET, T, `${BODY} `)).not.toBe(base);
    expect(computeWebhookSignature(`${SECRET}x`, T, BODY)).not.toBe(base);
  });
});

describe('verifyWebhookSignature', () => {
  const header = signWebhookBody(SECRET, BODY, T);

  it('accepts a fresh signature of the exact body', () => {
    expect(verifyWebhookSignature(SECRET, header, BODY, NOW)).toEqual({ valid: true, timestampSeconds: T });
    expect(verifyWebhookSignature(SECRET, header, BODY, NOW + 299_000).valid).toBe(true);
  });

  it('refuses a tampered body or a wrong secret', () => {
    expect(verifyWebhookSignature(SECRET, header, BODY.replace('Hi', 'Ho'), NOW)).toEqual({
      valid: false,
      reason: 'mismatch',
    });
    expect(verifyWebhookSignature('another-secret-0123456789abcdef0123', header, BODY, NOW)).toEqual({
      valid: false,
      reason: 'mismatch',
    });
  });

  it('refuses a signature older than five minutes (a replay) or too far ahead', () => {
    expect(verifyWebhookSignature(SECRET, header, BODY, NOW + 301_000)).toEqual({
      valid: false,
      reason: 'expired',
    });
    expect(verifyWebhookSignature(SECRET, header, BODY, NOW - 301_000)).toEqual({
      valid: false,
      reason: 'future',
    });
    expect(verifyWebhookSignature(SECRET, header, BODY, NOW + 61_000, 60)).toEqual({
      valid: false,
      reason: 'expired',
    });
  });

  it('refuses a timestamp moved forward even with the old signature', () => {
    const v1 = header.split('v1=')[1];
    expect(verifyWebhookSignature(SECRET, `t=${T + 10},v1=${v1}`, BODY, NOW).valid).toBe(false);
  });

  it('refuses malformed headers', () => {
    for (const bad of [
      undefined,
      '',
      'v1=abc',
      `t=${T}`,
      `t=abc,v1=${'0'.repeat(64)}`,
      `t=${T},v1=xyz`,
      'garbage',
    ]) {
      expect(verifyWebhookSignature(SECRET, bad, BODY, NOW)).toEqual({ valid: false, reason: 'malformed' });
    }
  });

  it('accepts any of several v1 signatures and any of several secrets (rotation)', () => {
    const old = computeWebhookSignature('old-secret-0123456789abcdef0123456789', T, BODY);
    const both = `t=${T},v1=${old},v1=${computeWebhookSignature(SECRET, T, BODY)}`;
    expect(verifyWebhookSignature(SECRET, both, BODY, NOW).valid).toBe(true);
    expect(
      verifyWebhookSignature(['nope-0123456789abcdef0123456789abcd', SECRET], header, BODY, NOW).valid,
    ).toBe(true);
    expect(verifyWebhookSignature(['nope-0123456789abcdef0123456789abcd'], header, BODY, NOW).valid).toBe(
      false,
    );
  });

  it('ignores unknown schemes next to v1', () => {
    expect(verifyWebhookSignature(SECRET, `${header},v0=deadbeef`, BODY, NOW).valid).toBe(true);
  });
});
