import { createPrivateKey, generateKeyPairSync } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import type { ChangeMessage } from '../../../shared/domain/model.js';
import {
  GRAPH_CHANGE_TRACKING_APP_ID,
  RichNotificationReader,
  decryptEncryptedContent,
  loadRichNotificationKey,
  type EncryptedContent,
} from '../../../shared/delivery/rich.js';
import { createRichTestKit, publicKeyOf, type RichTestKit } from '../../support/rich-notifications.js';

let kit: RichTestKit;
let reader: RichNotificationReader;
const USER = '87d349ed-44d7-43e1-9a83-5f2406dee5bd';
const resource = {
  '@odata.type': '#Microsoft.Graph.Message',
  subject: 'Board meeting moved',
  from: { emailAddress: { name: 'Megan Bowen', address: 'megan.bowen@contoso.example' } },
  bodyPreview: 'It is now on Thursday.',
  receivedDateTime: '2026-11-23T09:00:00Z',
  isRead: false,
};

beforeAll(async () => {
  kit = await createRichTestKit();
  reader = new RichNotificationReader({ appId: kit.appId, keys: [kit.key], keySet: kit.keySet });
});

async function message(overrides: Partial<ChangeMessage> = {}): Promise<ChangeMessage> {
  const m = await kit.changeMessage({
    mailboxEmail: 'adele.vance@contoso.example',
    userId: USER,
    messageId: 'AAMk-rich-1',
    resource,
  });
  return { ...m, ...overrides };
}

describe('decrypting encryptedContent', () => {
  it('decrypts a genuine payload to the message resource', async () => {
    const result = await reader.read(await message());
    expect(result).toEqual({ ok: true, resource: { id: 'AAMk-rich-1', ...resource } });
  });

  it('rejects tampered data on the signature', () => {
    const content = kit.encrypt(resource);
    const data = Buffer.from(content.data, 'base64');
    data[data.length - 1]! ^= 0x01;
    const result = decryptEncryptedContent({ ...content, data: data.toString('base64') }, [kit.key]);
    expect(result).toMatchObject({ ok: false, reason: 'rich_signature_invalid' });
  });

  it('checks the signature before decrypting (undecryptable data still fails on the signature)', () => {
    // Ciphertext that cannot even be decrypted (not a whole AES block, or garbage padding): had the
    // decipher run first, the failure would be rich_decrypt_failed — the padding-oracle shape.
    const content = kit.encrypt(resource);
    const notABlock = Buffer.alloc(17, 0xa5);
    const fourBlocks = Buffer.from(Array.from({ length: 64 }, (_, i) => (i * 37 + 11) & 0xff));
    for (const data of [notABlock, fourBlocks]) {
      const result = decryptEncryptedContent({ ...content, data: data.toString('base64') }, [kit.key]);
      expect(result).toMatchObject({ ok: false, reason: 'rich_signature_invalid' });
    }
  });

  it('rejects a replaced signature', () => {
    const content = kit.encrypt(resource);
    const forged = Buffer.alloc(32, 7).toString('base64');
    expect(decryptEncryptedContent({ ...content, dataSignature: forged }, [kit.key])).toMatchObject({
      ok: false,
      reason: 'rich_signature_invalid',
    });
  });

  it('rejects content encrypted for another certificate (wrong key)', () => {
    const content = kit.encrypt(resource, { forPublicKey: publicKeyOf(kit.otherKey) });
    expect(decryptEncryptedContent(content, [kit.key])).toMatchObject({
      ok: false,
      reason: 'rich_key_invalid',
    });
    // And our content with someone else's private key configured under our certificate id.
    expect(decryptEncryptedContent(kit.encrypt(resource), [kit.otherKey])).toMatchObject({
      ok: false,
      reason: 'rich_key_invalid',
    });
  });

  it('rejects content for a certificate id we have no key for', () => {
    const content = kit.encrypt(resource, { certificateId: 'someone-elses-cert' });
    expect(decryptEncryptedContent(content, [kit.key])).toMatchObject({
      ok: false,
      reason: 'rich_key_unknown',
    });
  });

  it('picks the right key among several (rotation)', () => {
    const keys = [{ ...kit.otherKey, certificateId: 'old' }, kit.key];
    expect(decryptEncryptedContent(kit.encrypt(resource), keys).ok).toBe(true);
  });

  it('rejects malformed content', () => {
    expect(decryptEncryptedContent('nope', [kit.key])).toMatchObject({ reason: 'rich_malformed' });
    const noKey: Partial<EncryptedContent> = kit.encrypt(resource);
    delete noKey.dataKey;
    expect(decryptEncryptedContent(noKey, [kit.key])).toMatchObject({ reason: 'rich_malformed' });
    expect(
      decryptEncryptedContent({ ...kit.encrypt(resource), data: 'not base64!' }, [kit.key]),
    ).toMatchObject({
      reason: 'rich_malformed',
    });
  });

  it('rejects a resource for another message', async () => {
    const m = await message();
    const result = await reader.read({ ...m, messageId: 'AAMk-other' });
    expect(result).toMatchObject({ ok: false, reason: 'rich_content_mismatch' });
  });

  it('never echoes content or key material in the failure detail', async () => {
    const content = kit.encrypt(resource, { forPublicKey: publicKeyOf(kit.otherKey) });
    const result = decryptEncryptedContent(content, [kit.key]);
    expect(result.ok).toBe(false);
    const detail = (result as { detail: string }).detail;
    expect(detail).not.toContain(content.dataKey.slice(0, 20));
    expect(detail).not.toContain('Board');
  });
});

describe('validation tokens', () => {
  const withToken = async (token: string | undefined) => {
    const m = await message();
    return reader.read({ ...m, validationTokens: token === undefined ? [] : [token] });
  };

  it('accepts a genuine token (v1.0 issuer) and a v2.0 issuer with azp', async () => {
    expect((await withToken(await kit.token())).ok).toBe(true);
    const v2 = await kit.token({
      iss: `https://login.microsoftonline.com/${kit.tenantId}/v2.0`,
      appid: null,
      azp: GRAPH_CHANGE_TRACKING_APP_ID,
    });
    expect((await withToken(v2)).ok).toBe(true);
  });

  it('drops the notification when tokens are missing', async () => {
    expect(await withToken(undefined)).toMatchObject({ ok: false, reason: 'rich_token_missing' });
  });

  it.each([
    ['wrong audience', { aud: '11111111-2222-3333-4444-555555555555' }],
    ['wrong issuer', { iss: 'https://evil.example/tenant/' }],
    [
      'issuer of another tenant',
      {
        iss: 'https://sts.windows.net/22222222-3333-4444-5555-666666666666/',
        tid: '22222222-3333-4444-5555-666666666666',
      },
    ],
    ['tid not matching its issuer', { tid: '22222222-3333-4444-5555-666666666666' }],
    ['wrong appid', { appid: '99999999-8888-7777-6666-555555555555' }],
    ['no appid', { appid: null }],
    ['expired', { exp: Math.floor(Date.now() / 1000) - 3600, iat: Math.floor(Date.now() / 1000) - 7200 }],
    ['bad signature', { forged: true }],
  ] as const)('drops a token with %s', async (_label, overrides) => {
    const token = await kit.token(overrides);
    expect(await withToken(token)).toMatchObject({ ok: false, reason: 'rich_token_invalid' });
  });

  it('drops when any one of several tokens is invalid', async () => {
    const m = await message();
    const result = await reader.read({
      ...m,
      validationTokens: [await kit.token(), await kit.token({ forged: true })],
    });
    expect(result).toMatchObject({ ok: false, reason: 'rich_token_invalid' });
  });

  it('drops a token whose signature was altered', async () => {
    const token = await kit.token();
    const [h, p, s] = token.split('.') as [string, string, string];
    // The second-to-last character carries six signature bits (the last one only two, plus padding
    // bits a lenient decoder may ignore): replace it with one that is certainly different.
    const flipped = `${s.slice(0, -2)}${s.at(-2) === 'A' ? 'B' : 'A'}${s.slice(-1)}`;
    expect(flipped).not.toBe(s);
    expect(await withToken(`${h}.${p}.${flipped}`)).toMatchObject({
      ok: false,
      reason: 'rich_token_invalid',
    });
  });

  it('checks tokens before touching the encrypted content', async () => {
    const m = await message();
    const result = await reader.read({
      ...m,
      encryptedContent: { garbage: true },
      validationTokens: [await kit.token({ forged: true })],
    });
    expect(result).toMatchObject({ reason: 'rich_token_invalid' });
  });
});

describe('loading the key from settings', () => {
  it('reads a PEM or its base64, and refuses a non-RSA key', () => {
    const pem = kit.key.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
    const fromPem = loadRichNotificationKey(pem, 'cert-1');
    expect(fromPem.certificateId).toBe('cert-1');
    const fromBase64 = loadRichNotificationKey(Buffer.from(pem).toString('base64'));
    expect(fromBase64.privateKey.export({ format: 'pem', type: 'pkcs8' })).toEqual(
      createPrivateKey(pem).export({ format: 'pem', type: 'pkcs8' }),
    );
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' })
      .privateKey.export({ format: 'pem', type: 'pkcs8' })
      .toString();
    expect(() => loadRichNotificationKey(ec)).toThrow(/RSA/);
    expect(() => loadRichNotificationKey('not a key')).toThrow();
  });
});
