import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { installationIdFor, installationTagsFor, mailboxHash, tokenHint } from '../../../shared/push/ids.js';

const DEVICE = {
  mailboxEmail: 'adele.vance@contoso.example',
  deviceId: 'iphone-1',
  userObjectId: '2F4C6A1E-6A43-4B8E-9D61-0D3C2A7B9E10',
};

describe('mailboxHash', () => {
  it('is the first 32 hex characters of SHA-256 of the lower-cased address', () => {
    const expected = createHash('sha256').update('adele.vance@contoso.example').digest('hex').slice(0, 32);
    expect(mailboxHash('adele.vance@contoso.example')).toBe(expected);
    expect(mailboxHash(' Adele.Vance@CONTOSO.example ')).toBe(expected);
    expect(mailboxHash('alex.wilber@contoso.example')).not.toBe(expected);
  });
});

describe('installationIdFor', () => {
  it('is stable, unique per mailbox, and contains no address', () => {
    const id = installationIdFor(DEVICE);
    expect(id).toBe(`${mailboxHash(DEVICE.mailboxEmail)}-iphone-1`);
    expect(installationIdFor({ ...DEVICE })).toBe(id);
    expect(installationIdFor({ ...DEVICE, mailboxEmail: 'alex.wilber@contoso.example' })).not.toBe(id);
    expect(id).not.toMatch(/adele|contoso|@/);
  });

  it('refuses device ids that are not URL-safe', () => {
    expect(() => installationIdFor({ ...DEVICE, deviceId: '../admin' })).toThrow();
    expect(() => installationIdFor({ ...DEVICE, deviceId: 'a'.repeat(65) })).toThrow();
  });
});

describe('installationTagsFor', () => {
  it('tags the user (lower-cased object id) and the mailbox hash, never the address', () => {
    expect(installationTagsFor(DEVICE)).toEqual([
      'user:2f4c6a1e-6a43-4b8e-9d61-0d3c2a7b9e10',
      `mailbox:${mailboxHash(DEVICE.mailboxEmail)}`,
    ]);
    expect(installationTagsFor(DEVICE).join(' ')).not.toContain('@');
  });

  it('refuses an object id Notification Hubs could not take as a tag', () => {
    expect(() => installationTagsFor({ ...DEVICE, userObjectId: 'has space' })).toThrow();
  });
});

describe('tokenHint', () => {
  it('shows at most the last four characters', () => {
    expect(tokenHint('abcdef0123456789')).toBe('…6789');
    expect(tokenHint('short')).toBe('…');
  });
});
