/**
 * A local stand-in for Entra ID as a token issuer for the device API: an RSA signing key, its
 * JWKS (in memory for unit tests, or over HTTPS at `<authorityHost>/<tenant>/discovery/v2.0/keys`
 * for tests that fetch keys like production does), and access tokens with chosen claims — valid
 * ones and every kind of bad one the validator must refuse.
 *
 * The HTTPS server's certificate is signed by the repository's local CA (see graph-sim/ca-setup.ts:
 * the vitest global setup makes test workers trust it through NODE_EXTRA_CA_CERTS).
 */
import { generateKeyPairSync, randomBytes, randomUUID, type KeyObject } from 'node:crypto';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import * as jose from 'jose';
import { caFromEnvironment, issueServerCertificate, type CertificateAuthority } from './graph/certs.js';

export interface EntraUser {
  objectId: string;
  /** UPN / sign-in name (becomes `upn` and `preferred_username`). */
  upn: string;
  email?: string;
}

export interface MintOptions {
  /** Claims to set or override (`undefined` removes a claim). */
  claims?: Record<string, unknown>;
  /** Token lifetime from `now` (negative: already expired). Default 3600. */
  expiresInSec?: number;
  /** `iat`/`nbf` base. Default: the system clock. */
  now?: Date;
  /** `1.0` tokens use the v1 issuer (`<host>/<tid>/`) and omit `preferred_username`. */
  version?: '1.0' | '2.0';
  /** Header overrides (e.g. another `kid`). */
  header?: Record<string, unknown>;
  /** Sign with another key than the one published (same `kid`): a forged token. */
  signWith?: KeyObject;
}

export interface JwksServer {
  /** `https://127.0.0.1:<port>`: use as DEVICE_API_AUTHORITY_HOST. */
  authorityHost: string;
  jwksUri: string;
  /** JWKS requests served so far (to observe caching). */
  readonly requests: number;
  /** While set, the JWKS endpoint answers this status with no keys (fault injection). */
  failWith: number | undefined;
  close(): Promise<void>;
}

export class LocalEntraIssuer {
  readonly tenantId: string;
  /** The authority host used in the issuer claim; `serve()` changes it to the server's URL. */
  authorityHost: string;
  /** The `aud` of valid tokens. */
  readonly audience: string;
  private signing: { kid: string; privateKey: KeyObject; publicKey: KeyObject };
  private readonly published: { kid: string; publicKey: KeyObject }[] = [];

  constructor(options: { tenantId?: string; audience?: string; authorityHost?: string } = {}) {
    this.tenantId = options.tenantId ?? randomUUID();
    this.audience = options.audience ?? 'api://mailpush-devices';
    this.authorityHost = options.authorityHost ?? 'https://login.microsoftonline.com';
    this.signing = newKey();
    this.published.push(this.signing);
  }

  get issuerV2(): string {
    return `${this.authorityHost}/${this.tenantId}/v2.0`;
  }

  /** The v1.0 form: `https://sts.windows.net/<tid>/` for the global cloud, else `<host>/<tid>/`. */
  get issuerV1(): string {
    return this.authorityHost === 'https://login.microsoftonline.com'
      ? `https://sts.windows.net/${this.tenantId}/`
      : `${this.authorityHost}/${this.tenantId}/`;
  }

  get kid(): string {
    return this.signing.kid;
  }

  /** The published keys as a JWKS document. */
  async jwks(): Promise<jose.JSONWebKeySet> {
    const keys = await Promise.all(
      this.published.map(async ({ kid, publicKey }) => ({
        ...(await jose.exportJWK(publicKey)),
        kid,
        use: 'sig',
        alg: 'RS256',
      })),
    );
    return { keys };
  }

  /** An in-memory key set, for createBearerValidator({ keys: { keySet } }). */
  async localKeySet(): Promise<jose.JWTVerifyGetKey> {
    return jose.createLocalJWKSet(await this.jwks());
  }

  /**
   * Entra-style key rollover: a new signing key, published next to the old one (tokens signed
   * with the old key stay valid until `retire`d).
   */
  rotate(): string {
    this.signing = newKey();
    this.published.push(this.signing);
    return this.signing.kid;
  }

  /** Stops publishing every key but the current one. */
  retireOldKeys(): void {
    this.published.splice(0, this.published.length, this.signing);
  }

  /** The claims of a user's access token for our API. */
  claimsFor(user: EntraUser, options: MintOptions = {}): Record<string, unknown> {
    const now = Math.floor((options.now ?? new Date()).getTime() / 1000);
    const v1 = options.version === '1.0';
    const claims: Record<string, unknown> = {
      aud: this.audience,
      iss: v1 ? this.issuerV1 : this.issuerV2,
      iat: now - 60,
      nbf: now - 60,
      exp: now + (options.expiresInSec ?? 3600),
      aio: randomBytes(24).toString('base64url'),
      azp: randomUUID(),
      name: user.upn.split('@')[0],
      oid: user.objectId,
      ...(v1 ? { unique_name: user.upn } : { preferred_username: user.upn }),
      upn: user.upn,
      ...(user.email ? { email: user.email } : {}),
      scp: 'Devices.ReadWrite',
      sub: randomBytes(24).toString('base64url'),
      tid: this.tenantId,
      uti: randomBytes(16).toString('base64url'),
      ver: v1 ? '1.0' : '2.0',
    };
    for (const [name, value] of Object.entries(options.claims ?? {})) {
      if (value === undefined) delete claims[name];
      else claims[name] = value;
    }
    return claims;
  }

  /** A signed RS256 access token (valid unless the options say otherwise). */
  async mint(user: EntraUser, options: MintOptions = {}): Promise<string> {
    return new jose.SignJWT(this.claimsFor(user, options))
      .setProtectedHeader({ typ: 'JWT', alg: 'RS256', kid: this.signing.kid, ...options.header })
      .sign(options.signWith ?? this.signing.privateKey);
  }

  /** An operator's token carrying the admin app role (delegated). */
  admin(user: EntraUser, options: MintOptions = {}): Promise<string> {
    return this.mint(user, { ...options, claims: { roles: ['MailPush.Admin'], ...options.claims } });
  }

  /**
   * An app-only token (automation, client credentials): no user, no `scp`; `roles` are the app
   * roles granted to the calling app; `oid` is its service principal.
   */
  app(appId: string, roles: string[] = ['MailPush.Admin'], options: MintOptions = {}): Promise<string> {
    const principal = { objectId: randomUUID(), upn: 'unused@app' };
    return this.mint(principal, {
      ...options,
      claims: {
        azp: appId,
        roles,
        idtyp: 'app',
        upn: undefined,
        preferred_username: undefined,
        unique_name: undefined,
        name: undefined,
        scp: undefined,
        ...options.claims,
      },
    });
  }

  // Tokens the validator must refuse -------------------------------------------------------------

  expired(user: EntraUser, secondsAgo = 3600): Promise<string> {
    return this.mint(user, { expiresInSec: -secondsAgo });
  }

  wrongAudience(user: EntraUser, audience = 'api://some-other-api'): Promise<string> {
    return this.mint(user, { claims: { aud: audience } });
  }

  /** Signed with our key, but issued (iss and tid) for another tenant. */
  wrongTenant(user: EntraUser, otherTenant = randomUUID()): Promise<string> {
    return this.mint(user, {
      claims: { iss: `${this.authorityHost}/${otherTenant}/v2.0`, tid: otherTenant },
    });
  }

  /** A valid token whose payload was edited afterwards (here: another user's oid). */
  async tampered(user: EntraUser, otherObjectId = randomUUID()): Promise<string> {
    const [header, , signature] = (await this.mint(user)).split('.') as [string, string, string];
    const payload = Buffer.from(
      JSON.stringify(this.claimsFor({ ...user, objectId: otherObjectId })),
    ).toString('base64url');
    return `${header}.${payload}.${signature}`;
  }

  /** Our claims and `kid`, signed by an attacker's key. */
  forged(user: EntraUser): Promise<string> {
    return this.mint(user, { signWith: newKey().privateKey });
  }

  /** `alg: none`, no signature: must never be accepted. */
  algNone(user: EntraUser): string {
    const header = Buffer.from(JSON.stringify({ typ: 'JWT', alg: 'none', kid: this.signing.kid })).toString(
      'base64url',
    );
    const payload = Buffer.from(JSON.stringify(this.claimsFor(user))).toString('base64url');
    return `${header}.${payload}.`;
  }

  /**
   * HS256 with the *public* key as the HMAC secret: the key-confusion forgery that works
   * against validators that let the token choose the algorithm.
   */
  async hs256WithPublicKey(user: EntraUser): Promise<string> {
    const secret = new Uint8Array(
      Buffer.from(this.signing.publicKey.export({ type: 'spki', format: 'pem' })),
    );
    return new jose.SignJWT(this.claimsFor(user))
      .setProtectedHeader({ typ: 'JWT', alg: 'HS256', kid: this.signing.kid })
      .sign(secret);
  }

  /**
   * Serves the JWKS over HTTPS at `<authorityHost>/<tenant>/discovery/v2.0/keys` (plus the v2.0
   * OpenID configuration), with a certificate from the CA the test workers trust. The issuer's
   * `authorityHost` becomes the server's URL, so minted tokens carry the matching issuer.
   */
  async serve(options: { ca?: CertificateAuthority } = {}): Promise<JwksServer> {
    const ca = options.ca ?? caFromEnvironment();
    if (!ca) {
      throw new Error(
        'LocalEntraIssuer.serve: no CA (run under the vitest global setup, which sets GRAPH_SIMULATOR_CA_DIR)',
      );
    }
    const cert = issueServerCertificate(ca, { dns: ['localhost'], ips: ['127.0.0.1', '::1'] });
    let requests = 0;
    const state = { failWith: undefined as number | undefined };
    const keysPath = `/${this.tenantId}/discovery/v2.0/keys`;
    const configPath = `/${this.tenantId}/v2.0/.well-known/openid-configuration`;
    const server = createServer({ key: cert.keyPem, cert: cert.certPem }, (req, res) => {
      const path = new URL(req.url ?? '/', 'https://localhost').pathname;
      if (req.method === 'GET' && path === keysPath) {
        requests += 1;
        if (state.failWith !== undefined) {
          res
            .writeHead(state.failWith, { 'content-type': 'application/json' })
            .end('{"error":"unavailable"}');
          return;
        }
        void this.jwks().then((jwks) =>
          res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(jwks)),
        );
        return;
      }
      if (req.method === 'GET' && path === configPath) {
        res.writeHead(200, { 'content-type': 'application/json' }).end(
          JSON.stringify({
            issuer: this.issuerV2,
            jwks_uri: `${this.authorityHost}${keysPath}`,
            id_token_signing_alg_values_supported: ['RS256'],
          }),
        );
        return;
      }
      res.writeHead(404).end();
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    const port = (server.address() as AddressInfo).port;
    this.authorityHost = `https://127.0.0.1:${port}`;
    const authorityHost = this.authorityHost;
    return {
      authorityHost,
      jwksUri: `${authorityHost}${keysPath}`,
      get requests() {
        return requests;
      },
      get failWith() {
        return state.failWith;
      },
      set failWith(status: number | undefined) {
        state.failWith = status;
      },
      close: () =>
        new Promise<void>((resolve) => {
          server.closeAllConnections();
          server.close(() => resolve());
        }),
    };
  }
}

export function entraUser(overrides: Partial<EntraUser> = {}): EntraUser {
  const id = randomBytes(4).toString('hex');
  return { objectId: randomUUID(), upn: `user.${id}@contoso.example`, ...overrides };
}

function newKey(): { kid: string; privateKey: KeyObject; publicKey: KeyObject } {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  // Entra's kids are base64url thumbprints; any unique string does here.
  return { kid: randomBytes(20).toString('base64url'), privateKey, publicKey };
}
