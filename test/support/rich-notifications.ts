/**
 * Genuine rich-notification material for tests (the Graph simulator does not produce rich
 * notifications): `encryptedContent` built exactly as Graph builds it (random AES-256 key, RSA-OAEP
 * SHA-1 wrapped for our certificate, AES-256-CBC with IV = first 16 key bytes, HMAC-SHA256 over the
 * ciphertext) and validation tokens signed like Entra's (RS256, `kid` in a JWKS), plus a local key
 * set standing in for Microsoft's JWKS.
 */
import {
  constants,
  createCipheriv,
  createHmac,
  createPublicKey,
  generateKeyPairSync,
  publicEncrypt,
  randomBytes,
  randomUUID,
  type KeyObject,
} from 'node:crypto';
import {
  SignJWT,
  createLocalJWKSet,
  exportJWK,
  generateKeyPair,
  type CryptoKey,
  type JSONWebKeySet,
  type JWTVerifyGetKey,
} from 'jose';
import type { ChangeMessage } from '../../shared/domain/model.js';
import {
  GRAPH_CHANGE_TRACKING_APP_ID,
  type EncryptedContent,
  type RichNotificationKey,
} from '../../shared/delivery/rich.js';

export interface TokenOverrides {
  aud?: string;
  iss?: string;
  tid?: string;
  appid?: string | null;
  azp?: string;
  /** Seconds since epoch. */
  exp?: number;
  iat?: number;
  /** Sign with a key that is not in the key set (same `kid`): a forged token. */
  forged?: boolean;
}

export interface RichTestKit {
  appId: string;
  tenantId: string;
  certificateId: string;
  /** What the pipeline is configured with. */
  key: RichNotificationKey;
  /** Another RSA key (a certificate that is not ours). */
  otherKey: RichNotificationKey;
  /** Stands in for Microsoft's JWKS. */
  keySet: JWTVerifyGetKey;
  jwks: JSONWebKeySet;
  /** Encrypts a message resource the way Graph does, for our key (or `forKey`). */
  encrypt(
    resource: Record<string, unknown>,
    options?: { forPublicKey?: KeyObject; certificateId?: string },
  ): EncryptedContent;
  /** A validation token as Graph attaches it. */
  token(overrides?: TokenOverrides): Promise<string>;
  /** A queued change message carrying the encrypted resource and a genuine token. */
  changeMessage(input: {
    mailboxEmail: string;
    userId: string;
    messageId: string;
    resource: Record<string, unknown>;
    subscriptionId?: string;
  }): Promise<ChangeMessage>;
}

export async function createRichTestKit(
  options: { appId?: string; tenantId?: string; certificateId?: string } = {},
): Promise<RichTestKit> {
  const appId = options.appId ?? randomUUID();
  const tenantId = (options.tenantId ?? randomUUID()).toLowerCase();
  const certificateId = options.certificateId ?? `rich-${randomUUID()}`;
  const ours = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const other = generateKeyPairSync('rsa', { modulusLength: 2048 });

  const signing = await generateKeyPair('RS256', { extractable: true });
  const forger = await generateKeyPair('RS256', { extractable: true });
  const kid = `kid-${randomUUID()}`;
  const jwk = { ...(await exportJWK(signing.publicKey)), kid, alg: 'RS256', use: 'sig' };
  const jwks: JSONWebKeySet = { keys: [jwk] };

  const encrypt: RichTestKit['encrypt'] = (resource, opts = {}) => {
    const key = randomBytes(32);
    const cipher = createCipheriv('aes-256-cbc', key, key.subarray(0, 16));
    const data = Buffer.concat([cipher.update(JSON.stringify(resource), 'utf8'), cipher.final()]);
    const signature = createHmac('sha256', key).update(data).digest('base64');
    const dataKey = publicEncrypt(
      {
        key: opts.forPublicKey ?? ours.publicKey,
        padding: constants.RSA_PKCS1_OAEP_PADDING,
        oaepHash: 'sha1',
      },
      key,
    ).toString('base64');
    return {
      data: data.toString('base64'),
      dataSignature: signature,
      dataKey,
      encryptionCertificateId: opts.certificateId ?? certificateId,
      encryptionCertificateThumbprint: 'A1B2C3D4E5F60718293A4B5C6D7E8F9012345678',
    };
  };

  const token: RichTestKit['token'] = async (o = {}) => {
    const now = Math.floor(Date.now() / 1000);
    const claims: Record<string, unknown> = {
      tid: o.tid ?? tenantId,
      ver: '1.0',
      idp: `https://sts.windows.net/${tenantId}/`,
      oid: randomUUID(),
      sub: randomUUID(),
    };
    if (o.appid !== null) claims.appid = o.appid ?? GRAPH_CHANGE_TRACKING_APP_ID;
    if (o.azp !== undefined) claims.azp = o.azp;
    const signer: CryptoKey = o.forged ? forger.privateKey : signing.privateKey;
    return new SignJWT(claims)
      .setProtectedHeader({ alg: 'RS256', typ: 'JWT', kid })
      .setIssuer(o.iss ?? `https://sts.windows.net/${tenantId}/`)
      .setAudience(o.aud ?? appId)
      .setIssuedAt(o.iat ?? now - 60)
      .setNotBefore((o.iat ?? now - 60) - 1)
      .setExpirationTime(o.exp ?? now + 3600)
      .sign(signer);
  };

  const kit: RichTestKit = {
    appId,
    tenantId,
    certificateId,
    key: { privateKey: ours.privateKey, certificateId },
    otherKey: { privateKey: other.privateKey, certificateId },
    keySet: createLocalJWKSet(jwks),
    jwks,
    encrypt,
    token,
    async changeMessage(input) {
      const resource = `Users/${input.userId}/Messages/${input.messageId}`;
      return {
        type: 'change',
        subscriptionId: input.subscriptionId ?? randomUUID(),
        tenantId,
        mailboxEmail: input.mailboxEmail,
        userId: input.userId,
        changeType: 'created',
        resource,
        messageId: input.messageId,
        encryptedContent: encrypt({ id: input.messageId, ...input.resource }) as unknown as Record<
          string,
          unknown
        >,
        validationTokens: [await token()],
        receivedAt: new Date().toISOString(),
      };
    },
  };
  return kit;
}

/** The public half of a key (e.g. to encrypt "for someone else" with a kit's `otherKey`). */
export function publicKeyOf(key: RichNotificationKey): KeyObject {
  return createPublicKey(key.privateKey);
}
