import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import forge from 'node-forge';
import { ConfigError } from '../errors.js';

/**
 * Client certificate loading: PFX (PKCS#12) or PEM in, one PEM out (PKCS#8 private key, then the
 * leaf certificate, then any chain certificates) — the `{ certificate: pem }` form
 * `ClientCertificateCredential` accepts. Node has no PKCS#12 parser, so PFX goes through node-forge;
 * everything after that (key checks, certificate facts) uses node:crypto.
 *
 * Nothing here ever puts a password, key material or certificate bytes into an error message.
 */

export interface CertificateInfo {
  /** Distinguished name as OpenSSL prints it, components joined with ", " (e.g. "C=US, O=Contoso, CN=app"). */
  subject: string;
  issuer: string;
  /** ISO 8601, UTC. */
  validFrom: string;
  validTo: string;
  /** Serial number, upper-case hex. */
  serialNumber: string;
  /** SHA-1 of the DER certificate, upper-case hex without separators (as the Azure portal shows it). */
  thumbprint: string;
  /** SHA-256 of the DER certificate, upper-case hex without separators. */
  thumbprintSha256: string;
  keyType: 'RSA';
  /** RSA modulus length in bits. */
  keySize: number | undefined;
  selfSigned: boolean;
  /** Certificates in the PEM besides the leaf (sent as x5c only with `sendCertificateChain`). */
  chainCertificates: number;
}

export interface ClientCertificate {
  /** PKCS#8 private key + leaf certificate (+ chain), PEM. Secret: never log it. */
  pem: string;
  info: CertificateInfo;
}

export type ClientCertificateInput =
  | {
      /** PFX bytes. Base64 text of a PFX (e.g. a Key Vault secret value) is accepted too. */
      pfx: Buffer;
      /** Omit (or '') for a PFX without password. */
      password?: string | undefined;
    }
  | {
      pem: string;
      /** Only for an encrypted PEM private key. */
      password?: string | undefined;
    };

/** A certificate that cannot be used. `problem` is safe to show; it never contains secrets. */
export class CertificateError extends ConfigError {
  constructor(readonly problem: string) {
    super([problem]);
  }
}

const MS_PER_DAY = 86_400_000;

/** Whole days until `validTo` (negative once expired; 0 on the last, partial day). */
export function certificateDaysLeft(info: Pick<CertificateInfo, 'validTo'>, now: Date): number {
  return Math.floor((Date.parse(info.validTo) - now.getTime()) / MS_PER_DAY);
}

export function loadClientCertificate(input: ClientCertificateInput): ClientCertificate {
  const parts = 'pfx' in input ? readPfx(input.pfx, input.password) : readPem(input.pem, input.password);
  return assemble(parts, 'pfx' in input ? 'PFX' : 'PEM');
}

interface CertificateParts {
  keys: KeyObject[];
  certificates: X509Certificate[];
}

// ---------------------------------------------------------------------------------------------
// PFX

const WRONG_PASSWORD = 'the certificate password is wrong or the PFX is corrupt';

function readPfx(input: Buffer, password: string | undefined): CertificateParts {
  const pfx = unwrapBase64(input);
  if (pfx.length === 0) throw new CertificateError('the PFX is empty');
  if (pfx.subarray(0, 11).toString('latin1') === '-----BEGIN ') {
    throw new CertificateError('the certificate is PEM text, not a PFX: pass it as PEM');
  }
  if (pfx[0] !== 0x30)
    throw new CertificateError('the certificate is not a PFX (PKCS#12) file or it is corrupt');

  let asn1: forge.asn1.Asn1;
  try {
    asn1 = forge.asn1.fromDer(pfx.toString('binary'), true);
  } catch {
    throw new CertificateError('the certificate is not a PFX (PKCS#12) file or it is corrupt');
  }

  const p12 = parsePkcs12(asn1, password);
  const keys: KeyObject[] = [];
  const certificates: X509Certificate[] = [];
  for (const safeContents of p12.safeContents) {
    for (const bag of safeContents.safeBags as Pkcs12Bag[]) {
      if (bag.type === forge.pki.oids.keyBag || bag.type === forge.pki.oids.pkcs8ShroudedKeyBag) {
        keys.push(keyFromBag(bag));
      } else if (bag.type === forge.pki.oids.certBag) {
        certificates.push(certificateFromBag(bag));
      }
    }
  }
  if (keys.length === 0) throw new CertificateError('the PFX has no private key');
  if (certificates.length === 0) throw new CertificateError('the PFX has no certificate');
  return { keys, certificates };
}

/** What forge's bag objects actually hold (its typings omit `asn1`, set for key/cert types it cannot decode). */
interface Pkcs12Bag {
  type: string;
  key?: forge.pki.PrivateKey | null;
  cert?: forge.pki.Certificate | null;
  asn1?: forge.asn1.Asn1;
}

function unwrapBase64(input: Buffer): Buffer {
  // A DER PFX starts with 0x30 (SEQUENCE). Base64 of one starts with "MI" and is pure base64 text.
  if (input.length < 4 || input[0] === 0x30) return input;
  const text = input.toString('latin1').trim();
  if (!/^MI[A-Za-z0-9+/\r\n]+={0,2}$/.test(text)) return input;
  return Buffer.from(text.replace(/\s+/g, ''), 'base64');
}

/**
 * forge quirks handled here:
 * - "No password" has two encodings: OpenSSL `-passout pass:` and most tools MAC with the empty
 *   password ('' → two zero bytes), forge's own `toPkcs12Asn1(..., null)` MACs with no bytes at all
 *   (undefined). Without a password, try both.
 * - forge feeds the password to PBKDF2 (PBES2, e.g. OpenSSL 3's default AES-256) as a "binary"
 *   string, so a non-ASCII password must be UTF-8 encoded for PBES2 but not for the PKCS#12 MAC
 *   and the legacy PKCS#12 KDF (BMPString). When the MAC verified with the password as given but
 *   decryption failed, verify nothing twice: drop the (already verified) MAC and decrypt again
 *   with the UTF-8 form.
 */
function parsePkcs12(asn1: forge.asn1.Asn1, password: string | undefined): forge.pkcs12.Pkcs12Pfx {
  const candidates: (string | undefined)[] = password
    ? [password]
    : [password, password === '' ? undefined : ''];
  const errors: unknown[] = [];
  for (const candidate of candidates) {
    try {
      return forge.pkcs12.pkcs12FromAsn1(asn1, true, candidate as string);
    } catch (error) {
      errors.push(error);
      if (candidate && /[\u0080-\uffff]/.test(candidate) && !isMacFailure(error)) {
        try {
          const withoutMac = { ...asn1, value: (asn1.value as forge.asn1.Asn1[]).slice(0, 2) };
          return forge.pkcs12.pkcs12FromAsn1(withoutMac, true, forge.util.encodeUtf8(candidate));
        } catch (retryError) {
          errors.push(retryError);
        }
      }
    }
  }
  throw classifyPkcs12Errors(errors, password);
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : '';
}

function isMacFailure(error: unknown): boolean {
  return /MAC could not be verified/i.test(messageOf(error));
}

function classifyPkcs12Errors(errors: unknown[], password: string | undefined): CertificateError {
  const unsupported = errors.find((e) =>
    /unsupported|only pkcs#12 pfx in password integrity mode|not supported/i.test(messageOf(e)),
  );
  if (unsupported !== undefined) {
    const oid = (unsupported as { oid?: unknown }).oid;
    return new CertificateError(
      `the PFX uses a format or algorithm that is not supported${typeof oid === 'string' && /^[0-9.]+$/.test(oid) ? ` (OID ${oid})` : ''}; re-export it with AES-256 or 3DES encryption and a SHA-1/SHA-256 MAC`,
    );
  }
  if (!password && errors.some(isMacFailure)) {
    return new CertificateError(
      'the PFX is password-protected but no certificate password was given (or the PFX is corrupt)',
    );
  }
  return new CertificateError(WRONG_PASSWORD);
}

function keyFromBag(bag: Pkcs12Bag): KeyObject {
  let privateKeyInfo: forge.asn1.Asn1;
  if (bag.key) {
    privateKeyInfo = forge.pki.wrapRsaPrivateKey(forge.pki.privateKeyToAsn1(bag.key));
  } else if (bag.asn1) {
    privateKeyInfo = bag.asn1; // a key type forge cannot decode (e.g. EC): still valid PKCS#8
  } else {
    throw new CertificateError(WRONG_PASSWORD);
  }
  try {
    const der = Buffer.from(forge.asn1.toDer(privateKeyInfo).getBytes(), 'binary');
    return createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
  } catch {
    // A shrouded key decrypted with a wrong password (no MAC to catch it) ends up here.
    throw new CertificateError(WRONG_PASSWORD);
  }
}

function certificateFromBag(bag: Pkcs12Bag): X509Certificate {
  // forge re-encodes the parsed certificate; it keeps the original TBS ASN.1, and its own signature
  // checks rely on that round trip being byte-exact, so the thumbprint is the real one.
  const certAsn1 = bag.cert ? forge.pki.certificateToAsn1(bag.cert) : bag.asn1;
  if (!certAsn1) throw new CertificateError('a certificate in the PFX could not be read');
  try {
    return new X509Certificate(Buffer.from(forge.asn1.toDer(certAsn1).getBytes(), 'binary'));
  } catch {
    throw new CertificateError('a certificate in the PFX could not be read');
  }
}

// ---------------------------------------------------------------------------------------------
// PEM

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----[\s\S]*?-----END \1-----/g;
const KEY_LABELS = new Set(['PRIVATE KEY', 'RSA PRIVATE KEY', 'EC PRIVATE KEY', 'ENCRYPTED PRIVATE KEY']);

function readPem(pem: string, password: string | undefined): CertificateParts {
  const blocks = [...pem.matchAll(PEM_BLOCK)].map((m) => ({ label: m[1] ?? '', text: m[0] }));
  if (blocks.length === 0) {
    throw new CertificateError(
      'the certificate is not PEM text (expected -----BEGIN CERTIFICATE----- and -----BEGIN PRIVATE KEY----- blocks)',
    );
  }
  const keyBlocks = blocks.filter((b) => KEY_LABELS.has(b.label));
  const certBlocks = blocks.filter((b) => b.label === 'CERTIFICATE');
  if (keyBlocks.length === 0) throw new CertificateError('the PEM has no private key');
  if (certBlocks.length === 0) throw new CertificateError('the PEM has no certificate');

  const keys = keyBlocks.map((block) => {
    const encrypted = block.label === 'ENCRYPTED PRIVATE KEY' || /Proc-Type:\s*4,ENCRYPTED/.test(block.text);
    if (encrypted && !password) {
      throw new CertificateError('the PEM private key is encrypted but no certificate password was given');
    }
    try {
      return createPrivateKey(
        encrypted
          ? { key: block.text, format: 'pem', passphrase: password }
          : { key: block.text, format: 'pem' },
      );
    } catch {
      throw new CertificateError(
        encrypted
          ? 'the certificate password is wrong or the PEM private key is corrupt'
          : 'the PEM private key is corrupt',
      );
    }
  });
  const certificates = certBlocks.map((block) => {
    try {
      return new X509Certificate(block.text);
    } catch {
      throw new CertificateError('a certificate in the PEM is corrupt');
    }
  });
  return { keys, certificates };
}

// ---------------------------------------------------------------------------------------------
// Common

function assemble(parts: CertificateParts, source: 'PFX' | 'PEM'): ClientCertificate {
  const certificates = dedupe(parts.certificates);
  let pair: { key: KeyObject; leaf: X509Certificate } | undefined;
  for (const key of parts.keys) {
    const leaf = certificates.find((cert) => matches(cert, key));
    if (leaf) {
      pair = { key, leaf };
      break;
    }
  }
  if (!pair) {
    throw new CertificateError(
      parts.keys.length === 1
        ? `the private key in the ${source} does not belong to its certificate`
        : `none of the private keys in the ${source} belongs to one of its certificates`,
    );
  }
  const { key, leaf } = pair;
  if (key.asymmetricKeyType !== 'rsa') {
    throw new CertificateError(
      `the private key is ${(key.asymmetricKeyType ?? 'of an unknown type').toUpperCase()}; Microsoft Entra ID client certificates need an RSA key (MSAL signs the client assertion with RS256/PS256)`,
    );
  }

  const chain = orderChain(
    leaf,
    certificates.filter((c) => c !== leaf),
  );
  const keyPem = key.export({ format: 'pem', type: 'pkcs8' }).toString();
  const pem = [keyPem, leaf.toString(), ...chain.map((c) => c.toString())]
    .map((block) => (block.endsWith('\n') ? block : `${block}\n`))
    .join('');

  return { pem, info: describeCertificate(leaf, key, chain.length) };
}

function matches(cert: X509Certificate, key: KeyObject): boolean {
  try {
    return cert.checkPrivateKey(key);
  } catch {
    return false;
  }
}

function dedupe(certificates: X509Certificate[]): X509Certificate[] {
  const seen = new Set<string>();
  return certificates.filter((c) => {
    if (seen.has(c.fingerprint256)) return false;
    seen.add(c.fingerprint256);
    return true;
  });
}

/** Leaf's issuer first, then its issuer, …; certificates outside the chain keep their order at the end. */
function orderChain(leaf: X509Certificate, others: X509Certificate[]): X509Certificate[] {
  const ordered: X509Certificate[] = [];
  const remaining = [...others];
  let current = leaf;
  for (;;) {
    if (isSelfIssued(current)) break;
    const index = remaining.findIndex((candidate) => issuedBy(current, candidate));
    if (index < 0) break;
    const [issuer] = remaining.splice(index, 1);
    if (!issuer) break;
    ordered.push(issuer);
    current = issuer;
  }
  return [...ordered, ...remaining];
}

/**
 * Name match plus signature check. Not `checkIssued`: OpenSSL's version also requires the issuer's
 * keyUsage to allow certificate signing, so a self-signed leaf (digitalSignature only) would fail it.
 */
function issuedBy(cert: X509Certificate, issuer: X509Certificate): boolean {
  if (cert.issuer !== issuer.subject) return false;
  try {
    return cert.verify(issuer.publicKey);
  } catch {
    return false;
  }
}

function isSelfIssued(cert: X509Certificate): boolean {
  return cert.issuer === cert.subject;
}

function describeCertificate(
  leaf: X509Certificate,
  key: KeyObject,
  chainCertificates: number,
): CertificateInfo {
  const selfSigned = issuedBy(leaf, leaf);
  return {
    subject: formatName(leaf.subject),
    issuer: formatName(leaf.issuer),
    validFrom: parseOpenSslDate(leaf.validFrom),
    validTo: parseOpenSslDate(leaf.validTo),
    serialNumber: leaf.serialNumber.toUpperCase(),
    thumbprint: leaf.fingerprint.replaceAll(':', '').toUpperCase(),
    thumbprintSha256: leaf.fingerprint256.replaceAll(':', '').toUpperCase(),
    keyType: 'RSA',
    keySize: key.asymmetricKeyDetails?.modulusLength,
    selfSigned,
    chainCertificates,
  };
}

function formatName(name: string): string {
  return name
    .split('\n')
    .filter((part) => part.length > 0)
    .join(', ');
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** Node 20's X509Certificate dates are OpenSSL text ("Jan  2 03:04:05 2030 GMT"); return ISO 8601. */
export function parseOpenSslDate(value: string): string {
  const m = /^([A-Z][a-z]{2}) +(\d{1,2}) (\d{2}):(\d{2}):(\d{2}) (\d{4}) GMT$/.exec(value.trim());
  const month = m ? MONTHS.indexOf(m[1] ?? '') : -1;
  if (m && month >= 0) {
    return new Date(
      Date.UTC(Number(m[6]), month, Number(m[2]), Number(m[3]), Number(m[4]), Number(m[5])),
    ).toISOString();
  }
  const parsed = new Date(value);
  if (Number.isNaN(parsed.getTime()))
    throw new CertificateError('the certificate has an unreadable validity date');
  return parsed.toISOString();
}
