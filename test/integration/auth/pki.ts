import forge from 'node-forge';

/** Test PKI built with node-forge: RSA keys, self-signed and CA-issued certificates, PFX files. */

export interface TestIdentity {
  keys: forge.pki.rsa.KeyPair;
  cert: forge.pki.Certificate;
  /** DER bytes of the certificate. */
  der: Buffer;
  keyPem: string;
  certPem: string;
}

export interface CertificateSpec {
  commonName: string;
  serialNumber: string;
  notBefore: Date;
  notAfter: Date;
  issuer?: TestIdentity;
  isCa?: boolean;
  bits?: number;
}

export function createIdentity(spec: CertificateSpec): TestIdentity {
  const keys = forge.pki.rsa.generateKeyPair({ bits: spec.bits ?? 2048, e: 0x10001 });
  const cert = forge.pki.createCertificate();
  cert.publicKey = keys.publicKey;
  cert.serialNumber = spec.serialNumber;
  cert.validity.notBefore = spec.notBefore;
  cert.validity.notAfter = spec.notAfter;
  const subject = [
    { shortName: 'C', value: 'US' },
    { shortName: 'O', value: 'Contoso' },
    { shortName: 'CN', value: spec.commonName },
  ];
  cert.setSubject(subject);
  cert.setIssuer(spec.issuer ? spec.issuer.cert.subject.attributes : subject);
  cert.setExtensions(
    spec.isCa
      ? [
          { name: 'basicConstraints', cA: true },
          { name: 'keyUsage', keyCertSign: true, cRLSign: true },
        ]
      : [
          { name: 'basicConstraints', cA: false },
          { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
        ],
  );
  cert.sign(spec.issuer ? spec.issuer.keys.privateKey : keys.privateKey, forge.md.sha256.create());
  const der = Buffer.from(forge.asn1.toDer(forge.pki.certificateToAsn1(cert)).getBytes(), 'binary');
  return {
    keys,
    cert,
    der,
    keyPem: forge.pki.privateKeyToPem(keys.privateKey),
    certPem: forge.pki.certificateToPem(cert),
  };
}

export interface PfxOptions {
  /** null: no encryption at all (plain key bag, MAC over the empty password as forge does it). */
  password: string | null;
  algorithm?: 'aes128' | 'aes192' | 'aes256' | '3des';
  /** Omit the private key (a certificate-only PFX). */
  withoutKey?: boolean;
  /** Extra certificates after the leaf (or instead of it when `certificates` is given). */
  certificates?: forge.pki.Certificate[];
}

export function buildPfx(identity: TestIdentity, options: PfxOptions): Buffer {
  const asn1 = forge.pkcs12.toPkcs12Asn1(
    options.withoutKey ? null : identity.keys.privateKey,
    options.certificates ?? [identity.cert],
    options.password,
    { algorithm: options.algorithm ?? 'aes256', friendlyName: 'mail-push test' },
  );
  return Buffer.from(forge.asn1.toDer(asn1).getBytes(), 'binary');
}

/**
 * A PFX as OpenSSL 3 writes it for a non-ASCII password: the key is PBES2/AES-256 encrypted with the
 * UTF-8 bytes of the password (PBKDF2 takes bytes), while the MAC uses the PKCS#12 KDF over the
 * password as BMPString. forge's `toPkcs12Asn1` takes one password for both, so build it with the
 * UTF-8 form and redo the MAC with the original one.
 */
export function buildOpenSslStyleNonAsciiPfx(identity: TestIdentity, password: string): Buffer {
  const asn1 = forge.pkcs12.toPkcs12Asn1(
    identity.keys.privateKey,
    [identity.cert],
    forge.util.encodeUtf8(password),
    {
      algorithm: 'aes256',
      count: 2048,
    },
  );
  const parts = asn1.value as forge.asn1.Asn1[];
  const authSafe = ((parts[1]?.value as forge.asn1.Asn1[])[1]?.value as forge.asn1.Asn1[])[0]
    ?.value as string;
  const macData = parts[2]?.value as forge.asn1.Asn1[];
  const digestInfo = macData[0]?.value as forge.asn1.Asn1[];
  const salt = forge.util.createBuffer(macData[1]?.value as string);
  const macKey = forge.pkcs12.generateKey(password, salt, 3, 2048, 20);
  const hmac = forge.hmac.create();
  hmac.start('sha1', macKey.getBytes());
  hmac.update(authSafe);
  (digestInfo[1] as forge.asn1.Asn1).value = hmac.digest().getBytes();
  return Buffer.from(forge.asn1.toDer(asn1).getBytes(), 'binary');
}
