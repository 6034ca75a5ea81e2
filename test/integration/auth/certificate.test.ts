import { ClientCertificateCredential } from '@azure/identity';
import { execFileSync, spawnSync } from 'node:child_process';
import { X509Certificate, createHash, createPrivateKey, generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CertificateError,
  certificateDaysLeft,
  createGraphCredential,
  describeCredential,
  loadClientCertificate,
  type ClientCertificate,
} from '../../../shared/auth/index.js';
import { ConfigError } from '../../../shared/errors.js';
import { buildOpenSslStyleNonAsciiPfx, buildPfx, createIdentity, type TestIdentity } from './pki.js';

const PASSWORD = 'Tr0ub4dor&3-pfx-password';
const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';
const CLIENT = '3f1a2b4c-5d6e-4f70-8a9b-0c1d2e3f4a5b';
const NOT_BEFORE = new Date('2025-01-01T00:00:00.000Z');
const NOT_AFTER = new Date('2027-01-01T12:00:00.000Z');

let leaf: TestIdentity;
let ca: TestIdentity;
let issued: TestIdentity;
let other: TestIdentity;

beforeAll(() => {
  leaf = createIdentity({
    commonName: 'mail-push-graph',
    serialNumber: '1a2b3c4d5e6f',
    notBefore: NOT_BEFORE,
    notAfter: NOT_AFTER,
  });
  ca = createIdentity({
    commonName: 'Contoso Test CA',
    serialNumber: '01',
    notBefore: NOT_BEFORE,
    notAfter: new Date('2035-01-01T00:00:00.000Z'),
    isCa: true,
  });
  issued = createIdentity({
    commonName: 'mail-push-issued',
    serialNumber: '0badc0ffee',
    notBefore: NOT_BEFORE,
    notAfter: NOT_AFTER,
    issuer: ca,
  });
  other = createIdentity({
    commonName: 'other',
    serialNumber: '02',
    notBefore: NOT_BEFORE,
    notAfter: NOT_AFTER,
  });
});

function certificateError(fn: () => unknown): CertificateError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(CertificateError);
    expect(error).toBeInstanceOf(ConfigError);
    return error as CertificateError;
  }
  throw new Error('expected a CertificateError');
}

function pemBlocks(pem: string): string[] {
  return [...pem.matchAll(/-----BEGIN ([A-Z ]+)-----/g)].map((m) => m[1] ?? '');
}

/** The PEM holds the identity's key and certificate, in the form @azure/identity expects. */
function expectPemOf(loaded: ClientCertificate, identity: TestIdentity): void {
  expect(loaded.pem).toContain('-----BEGIN PRIVATE KEY-----');
  expect(loaded.pem).toContain('-----BEGIN CERTIFICATE-----');
  expect(pemBlocks(loaded.pem).slice(0, 2)).toEqual(['PRIVATE KEY', 'CERTIFICATE']);

  // X509Certificate reads the first certificate: it must be the leaf.
  const cert = new X509Certificate(loaded.pem);
  expect(cert.raw.equals(identity.der)).toBe(true);

  const key = createPrivateKey(loaded.pem);
  const expectedKey = createPrivateKey(identity.keyPem);
  expect(key.export({ format: 'jwk' })).toEqual(expectedKey.export({ format: 'jwk' }));
  expect(cert.checkPrivateKey(key)).toBe(true);

  expect(loaded.info.thumbprint).toBe(createHash('sha1').update(identity.der).digest('hex').toUpperCase());
  expect(loaded.info.thumbprintSha256).toBe(
    createHash('sha256').update(identity.der).digest('hex').toUpperCase(),
  );
}

describe('loadClientCertificate from PFX', () => {
  it.each([
    ['AES-256 with password', { password: PASSWORD, algorithm: 'aes256' as const }, PASSWORD],
    ['AES-128 with password', { password: PASSWORD, algorithm: 'aes128' as const }, PASSWORD],
    ['3DES with password', { password: PASSWORD, algorithm: '3des' as const }, PASSWORD],
    ['no password (plain key bag)', { password: null }, undefined],
    ['empty password, none given', { password: '' }, undefined],
    ['empty password, empty given', { password: '' }, ''],
    ['no password, empty given', { password: null }, ''],
  ])('reads %s', (_name, pfxOptions, password) => {
    const pfx = buildPfx(leaf, pfxOptions);
    const loaded = loadClientCertificate(password === undefined ? { pfx } : { pfx, password });
    expectPemOf(loaded, leaf);
  });

  it('reports the certificate facts as Azure shows them', () => {
    const loaded = loadClientCertificate({ pfx: buildPfx(leaf, { password: PASSWORD }), password: PASSWORD });
    expect(loaded.info).toEqual({
      subject: 'C=US, O=Contoso, CN=mail-push-graph',
      issuer: 'C=US, O=Contoso, CN=mail-push-graph',
      validFrom: '2025-01-01T00:00:00.000Z',
      validTo: '2027-01-01T12:00:00.000Z',
      serialNumber: '1A2B3C4D5E6F',
      thumbprint: createHash('sha1').update(leaf.der).digest('hex').toUpperCase(),
      thumbprintSha256: createHash('sha256').update(leaf.der).digest('hex').toUpperCase(),
      keyType: 'RSA',
      keySize: 2048,
      selfSigned: true,
      chainCertificates: 0,
    });
    const x509 = new X509Certificate(leaf.der);
    expect(loaded.info.serialNumber).toBe(x509.serialNumber.toUpperCase());
    expect(loaded.info.thumbprint).toBe(x509.fingerprint.replaceAll(':', ''));
  });

  it('computes days left with an injected clock', () => {
    const { info } = loadClientCertificate({ pfx: buildPfx(leaf, { password: null }) });
    expect(certificateDaysLeft(info, new Date('2026-12-31T12:00:00.000Z'))).toBe(1);
    expect(certificateDaysLeft(info, new Date('2026-12-31T12:00:00.001Z'))).toBe(0);
    expect(certificateDaysLeft(info, new Date('2027-01-01T11:59:59.000Z'))).toBe(0);
    expect(certificateDaysLeft(info, new Date('2027-01-01T12:00:00.001Z'))).toBe(-1);
    expect(certificateDaysLeft(info, new Date('2026-01-01T12:00:00.000Z'))).toBe(365);
  });

  it('puts the leaf first and its issuer after it, whatever the PFX order', () => {
    const pfx = buildPfx(issued, { password: PASSWORD, certificates: [ca.cert, issued.cert] });
    const loaded = loadClientCertificate({ pfx, password: PASSWORD });
    expectPemOf(loaded, issued);
    expect(pemBlocks(loaded.pem)).toEqual(['PRIVATE KEY', 'CERTIFICATE', 'CERTIFICATE']);
    const certs = [
      ...loaded.pem.matchAll(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g),
    ].map((m) => new X509Certificate(m[0]));
    expect(certs[1]?.raw.equals(ca.der)).toBe(true);
    expect(loaded.info).toMatchObject({
      subject: 'C=US, O=Contoso, CN=mail-push-issued',
      issuer: 'C=US, O=Contoso, CN=Contoso Test CA',
      serialNumber: '0BADC0FFEE',
      selfSigned: false,
      chainCertificates: 1,
    });
  });

  it('accepts the base64 text of a PFX (a Key Vault secret value)', () => {
    const pfx = Buffer.from(buildPfx(leaf, { password: PASSWORD }).toString('base64'));
    expectPemOf(loadClientCertificate({ pfx, password: PASSWORD }), leaf);
  });

  it('decrypts an OpenSSL-3-style PFX with a non-ASCII password (forge needs the UTF-8 form for PBES2)', () => {
    const password = 'Pässwörd-日本';
    const pfx = buildOpenSslStyleNonAsciiPfx(leaf, password);
    expectPemOf(loadClientCertificate({ pfx, password }), leaf);
    const error = certificateError(() => loadClientCertificate({ pfx, password: 'Passwörd-日本' }));
    expect(error.problem).toBe('the certificate password is wrong or the PFX is corrupt');
  });

  it.each(['aes256', '3des'] as const)(
    'rejects a wrong password (%s) without echoing either password',
    (algorithm) => {
      const pfx = buildPfx(leaf, { password: PASSWORD, algorithm });
      const wrong = 'wrong-password-9f8e7d';
      const error = certificateError(() => loadClientCertificate({ pfx, password: wrong }));
      expect(error.problem).toBe('the certificate password is wrong or the PFX is corrupt');
      expect(error.problems).toEqual(['the certificate password is wrong or the PFX is corrupt']);
      expect(error.message).toContain('the certificate password is wrong or the PFX is corrupt');
      for (const text of [error.message, error.stack ?? '', JSON.stringify(error)]) {
        expect(text).not.toContain(wrong);
        expect(text).not.toContain(PASSWORD);
        expect(text).not.toContain('PRIVATE KEY');
      }
    },
  );

  it('says the password is missing when a protected PFX comes without one', () => {
    const error = certificateError(() =>
      loadClientCertificate({ pfx: buildPfx(leaf, { password: PASSWORD }) }),
    );
    expect(error.problem).toBe(
      'the PFX is password-protected but no certificate password was given (or the PFX is corrupt)',
    );
    expect(error.message).not.toContain(PASSWORD);
  });

  it('rejects a PFX without a private key', () => {
    const withPassword = buildPfx(leaf, { password: PASSWORD, withoutKey: true });
    expect(
      certificateError(() => loadClientCertificate({ pfx: withPassword, password: PASSWORD })).problem,
    ).toBe('the PFX has no private key');
    const withoutPassword = buildPfx(leaf, { password: null, withoutKey: true });
    expect(certificateError(() => loadClientCertificate({ pfx: withoutPassword })).problem).toBe(
      'the PFX has no private key',
    );
  });

  it('rejects a PFX whose key does not belong to its certificate', () => {
    const pfx = buildPfx(leaf, { password: PASSWORD, certificates: [other.cert] });
    expect(certificateError(() => loadClientCertificate({ pfx, password: PASSWORD })).problem).toBe(
      'the private key in the PFX does not belong to its certificate',
    );
  });

  it('rejects bytes that are not a PFX', () => {
    expect(certificateError(() => loadClientCertificate({ pfx: Buffer.alloc(0) })).problem).toBe(
      'the PFX is empty',
    );
    expect(certificateError(() => loadClientCertificate({ pfx: Buffer.from('hello world') })).problem).toBe(
      'the certificate is not a PFX (PKCS#12) file or it is corrupt',
    );
    expect(certificateError(() => loadClientCertificate({ pfx: Buffer.from(leaf.certPem) })).problem).toBe(
      'the certificate is PEM text, not a PFX: pass it as PEM',
    );
    const truncated = buildPfx(leaf, { password: PASSWORD }).subarray(0, 600);
    expect(
      certificateError(() => loadClientCertificate({ pfx: truncated, password: PASSWORD })).problem,
    ).toBe('the certificate is not a PFX (PKCS#12) file or it is corrupt');
  });

  it('treats a flipped byte in the encrypted key as a wrong password or corruption', () => {
    const pfx = buildPfx(leaf, { password: PASSWORD, algorithm: '3des' });
    const corrupt = Buffer.from(pfx);
    corrupt[corrupt.length - 200] = (corrupt[corrupt.length - 200] ?? 0) ^ 0xff;
    expect(
      certificateError(() => loadClientCertificate({ pfx: corrupt, password: PASSWORD })).problem,
    ).toMatch(/password is wrong or the PFX is corrupt|not a PFX/);
  });
});

describe('loadClientCertificate from PEM', () => {
  it('reads key + certificate in either order and normalises to PKCS#8 key first', () => {
    for (const pem of [
      leaf.keyPem + leaf.certPem,
      leaf.certPem + leaf.keyPem,
      (leaf.certPem + leaf.keyPem).replaceAll('\n', '\r\n'),
    ]) {
      const loaded = loadClientCertificate({ pem });
      expectPemOf(loaded, leaf);
      expect(loaded.pem).not.toContain('RSA PRIVATE KEY');
    }
  });

  it('orders a chain given in any order', () => {
    const loaded = loadClientCertificate({ pem: ca.certPem + issued.keyPem + issued.certPem });
    expectPemOf(loaded, issued);
    expect(loaded.info.chainCertificates).toBe(1);
  });

  it('reads an encrypted PKCS#8 key with its password', () => {
    const encrypted = createPrivateKey(leaf.keyPem).export({
      format: 'pem',
      type: 'pkcs8',
      cipher: 'aes-256-cbc',
      passphrase: PASSWORD,
    });
    const pem = `${leaf.certPem}${encrypted.toString()}`;
    expectPemOf(loadClientCertificate({ pem, password: PASSWORD }), leaf);
    expect(certificateError(() => loadClientCertificate({ pem })).problem).toBe(
      'the PEM private key is encrypted but no certificate password was given',
    );
    const wrong = certificateError(() => loadClientCertificate({ pem, password: 'nope-not-it' }));
    expect(wrong.problem).toBe('the certificate password is wrong or the PEM private key is corrupt');
    expect(wrong.message).not.toContain('nope-not-it');
  });

  it('rejects PEM without a private key, without a certificate, or with a foreign key', () => {
    expect(certificateError(() => loadClientCertificate({ pem: leaf.certPem })).problem).toBe(
      'the PEM has no private key',
    );
    expect(certificateError(() => loadClientCertificate({ pem: leaf.keyPem })).problem).toBe(
      'the PEM has no certificate',
    );
    const error = certificateError(() => loadClientCertificate({ pem: other.keyPem + leaf.certPem }));
    expect(error.problem).toBe('the private key in the PEM does not belong to its certificate');
    expect(error.message).not.toContain('PRIVATE KEY');
  });

  it('rejects a non-RSA key: MSAL signs client assertions with RS256/PS256', () => {
    // Node cannot issue certificates, so pair an EC key with an RSA certificate: the mismatch is found first.
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const ecPem = privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
    expect(certificateError(() => loadClientCertificate({ pem: ecPem + leaf.certPem })).problem).toBe(
      'the private key in the PEM does not belong to its certificate',
    );
  });
});

describe('createGraphCredential with a certificate', () => {
  it('constructs a ClientCertificateCredential from the PFX-derived PEM', () => {
    const certificate = loadClientCertificate({
      pfx: buildPfx(leaf, { password: PASSWORD }),
      password: PASSWORD,
    });
    const credential = createGraphCredential({
      tenant: TENANT,
      clientId: CLIENT,
      authorityHost: 'https://login.microsoftonline.com',
      certificate,
    });
    expect(credential).toBeInstanceOf(ClientCertificateCredential);
  });

  it('constructs one for a custom authority host with the chain, and describes it without key material', () => {
    const certificate = loadClientCertificate({
      pfx: buildPfx(issued, { password: null, certificates: [issued.cert, ca.cert] }),
    });
    const options = {
      tenant: 'contoso.onmicrosoft.com',
      clientId: CLIENT,
      authorityHost: 'https://127.0.0.1:8443',
      certificate,
      sendCertificateChain: true,
    };
    expect(createGraphCredential(options)).toBeInstanceOf(ClientCertificateCredential);

    const description = describeCredential(
      { ...options, graphEndpoint: 'https://127.0.0.1:9443' },
      new Date('2026-12-02T12:00:00.000Z'),
    );
    expect(description).toEqual({
      kind: 'client_certificate',
      tenant: 'contoso.onmicrosoft.com',
      clientId: CLIENT,
      authorityHost: 'https://127.0.0.1:8443',
      instanceDiscovery: false,
      graphEndpoint: 'https://127.0.0.1:9443',
      scope: 'https://127.0.0.1:9443/.default',
      certificate: {
        ...certificate.info,
        daysLeft: 30,
        expired: false,
        notYetValid: false,
        sendCertificateChain: true,
      },
    });
    const json = JSON.stringify(description);
    expect(json).not.toContain('PRIVATE KEY');
    expect(json).not.toContain('BEGIN');
  });

  it('describes an expired certificate', () => {
    const certificate = loadClientCertificate({ pem: leaf.keyPem + leaf.certPem });
    const description = describeCredential(
      {
        tenant: TENANT,
        clientId: CLIENT,
        authorityHost: 'https://login.microsoftonline.us',
        certificate,
        graphEndpoint: 'https://graph.microsoft.us',
      },
      new Date('2027-03-01T00:00:00.000Z'),
    );
    expect(description.certificate).toMatchObject({ expired: true, daysLeft: -59 }); // 58.5 days after validTo;
  });

  it('turns an unusable certificate into a ConfigError problem', () => {
    expect(() =>
      createGraphCredential({
        tenant: TENANT,
        clientId: CLIENT,
        authorityHost: 'https://login.microsoftonline.com',
        certificate: { pem: leaf.certPem },
      }),
    ).toThrow(new ConfigError(['client certificate: the PEM has no private key']));
  });
});

// Real-world PFX files as OpenSSL 3 writes them (PBES2/AES-256 + SHA-256 MAC by default, RC2/3DES
// with -legacy). Skipped where no openssl binary is installed.
const hasOpenSsl = spawnSync('openssl', ['version']).status === 0;

describe.skipIf(!hasOpenSsl)('PFX written by openssl', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'auth-pfx-'));
    writeFileSync(join(dir, 'key.pem'), leaf.keyPem);
    writeFileSync(join(dir, 'cert.pem'), leaf.certPem);
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  function exportPfx(name: string, args: string[]): Buffer | undefined {
    const out = join(dir, name);
    const result = spawnSync(
      'openssl',
      ['pkcs12', '-export', '-inkey', 'key.pem', '-in', 'cert.pem', '-out', out, ...args],
      {
        cwd: dir,
      },
    );
    return result.status === 0 ? readFileSync(out) : undefined;
  }

  it.each([
    ['default (AES-256, SHA-256 MAC)', [`-passout`, `pass:${PASSWORD}`], PASSWORD],
    ['empty password', ['-passout', 'pass:'], undefined],
    ['non-ASCII password', ['-passout', 'pass:Pässwörd'], 'Pässwörd'],
    [
      'unencrypted, no MAC',
      ['-passout', 'pass:', '-keypbe', 'NONE', '-certpbe', 'NONE', '-nomac'],
      undefined,
    ],
    [
      '3DES, SHA-1 MAC',
      [
        '-passout',
        `pass:${PASSWORD}`,
        '-keypbe',
        'PBE-SHA1-3DES',
        '-certpbe',
        'PBE-SHA1-3DES',
        '-macalg',
        'sha1',
      ],
      PASSWORD,
    ],
    ['legacy (RC2-40 certificates)', ['-passout', `pass:${PASSWORD}`, '-legacy'], PASSWORD],
  ])('reads %s', (name, args, password) => {
    const pfx = exportPfx(`${name.replace(/\W+/g, '-')}.pfx`, args);
    if (!pfx) {
      expect(name).toMatch(/legacy/); // only -legacy may be unavailable (no legacy provider)
      return;
    }
    expectPemOf(loadClientCertificate(password === undefined ? { pfx } : { pfx, password }), leaf);
  });

  it('rejects a wrong password for a default OpenSSL 3 PFX', () => {
    const pfx = exportPfx('wrong.pfx', ['-passout', `pass:${PASSWORD}`]);
    expect(pfx).toBeDefined();
    const error = certificateError(() =>
      loadClientCertificate({ pfx: pfx ?? Buffer.alloc(0), password: 'guess' }),
    );
    expect(error.problem).toBe('the certificate password is wrong or the PFX is corrupt');
  });

  it('rejects an EC certificate: Entra client assertions need RSA', () => {
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-nodes',
        '-subj',
        '/CN=ec',
        '-days',
        '2',
        '-keyout',
        'ec.key',
        '-out',
        'ec.crt',
      ],
      { cwd: dir, stdio: 'ignore' },
    );
    execFileSync(
      'openssl',
      [
        'pkcs12',
        '-export',
        '-inkey',
        'ec.key',
        '-in',
        'ec.crt',
        '-out',
        'ec.pfx',
        '-passout',
        `pass:${PASSWORD}`,
      ],
      {
        cwd: dir,
        stdio: 'ignore',
      },
    );
    const expected =
      'the private key is EC; Microsoft Entra ID client certificates need an RSA key (MSAL signs the client assertion with RS256/PS256)';
    expect(
      certificateError(() =>
        loadClientCertificate({ pfx: readFileSync(join(dir, 'ec.pfx')), password: PASSWORD }),
      ).problem,
    ).toBe(expected);
    const pem = readFileSync(join(dir, 'ec.key'), 'utf8') + readFileSync(join(dir, 'ec.crt'), 'utf8');
    expect(certificateError(() => loadClientCertificate({ pem })).problem).toBe(expected);
  });
});
