/**
 * The status page's credential card: which credential the app signs in to Graph with and how long
 * it has left, and what an Entra ID refusal at the token endpoint means for an operator. Pure:
 * never the secret, the PEM or the key.
 */
import type { CertificateInfo } from '../auth/index.js';

export type CredentialStatus = 'ok' | 'warning' | 'critical' | 'unknown';

export interface CredentialCard {
  type: 'secret' | 'certificate';
  status: CredentialStatus;
  /** Whole days until expiry (negative once expired). */
  daysLeft?: number;
  /** ISO 8601: the certificate's notAfter, or GRAPH_CLIENT_SECRET_EXPIRES_ON. */
  expiresOn?: string;
  subject?: string;
  issuer?: string;
  notBefore?: string;
  notAfter?: string;
  serialNumber?: string;
  thumbprintSha1?: string;
  thumbprintSha256?: string;
}

/** Under this many days left: warning. */
export const CREDENTIAL_WARNING_DAYS = 30;
/** Under this many days left (or expired): critical. */
export const CREDENTIAL_CRITICAL_DAYS = 7;

const MS_PER_DAY = 86_400_000;

export type CredentialSource =
  { kind: 'secret'; expiresOn?: string | undefined } | { kind: 'certificate'; info: CertificateInfo };

export function credentialCard(source: CredentialSource, now: number): CredentialCard {
  if (source.kind === 'secret') {
    if (source.expiresOn === undefined) return { type: 'secret', status: 'unknown' };
    const expires = Date.parse(source.expiresOn);
    const daysLeft = Math.floor((expires - now) / MS_PER_DAY);
    return {
      type: 'secret',
      status: statusForDays(daysLeft, expires <= now),
      daysLeft,
      expiresOn: new Date(expires).toISOString(),
    };
  }
  const { info } = source;
  const expires = Date.parse(info.validTo);
  const daysLeft = Math.floor((expires - now) / MS_PER_DAY);
  const notYetValid = Date.parse(info.validFrom) > now;
  return {
    type: 'certificate',
    status: notYetValid ? 'critical' : statusForDays(daysLeft, expires <= now),
    daysLeft,
    expiresOn: info.validTo,
    subject: info.subject,
    issuer: info.issuer,
    notBefore: info.validFrom,
    notAfter: info.validTo,
    serialNumber: info.serialNumber,
    thumbprintSha1: info.thumbprint,
    thumbprintSha256: info.thumbprintSha256,
  };
}

function statusForDays(daysLeft: number, expired: boolean): CredentialStatus {
  if (expired || daysLeft < CREDENTIAL_CRITICAL_DAYS) return 'critical';
  if (daysLeft < CREDENTIAL_WARNING_DAYS) return 'warning';
  return 'ok';
}

/** The card's problem in words (undefined when there is none to report). */
export function credentialReason(card: CredentialCard, now: number): string | undefined {
  if (card.status === 'ok' || card.status === 'unknown' || card.expiresOn === undefined) return undefined;
  const what = card.type === 'secret' ? 'client secret' : 'client certificate';
  const renew =
    card.type === 'secret'
      ? 'create a new secret on the app registration (Certificates & secrets), then update GRAPH_CLIENT_SECRET and GRAPH_CLIENT_SECRET_EXPIRES_ON'
      : 'upload a new certificate to the app registration (Certificates & secrets), then update the GRAPH_CLIENT_CERTIFICATE_* settings';
  if (card.notBefore !== undefined && Date.parse(card.notBefore) > now)
    return `The ${what} is not valid before ${card.notBefore}: Entra ID refuses it until then.`;
  if (Date.parse(card.expiresOn) <= now)
    return `The ${what} expired on ${card.expiresOn}: sign-in to Graph fails; ${renew}.`;
  return `The ${what} expires in ${card.daysLeft ?? '?'} day(s), on ${card.expiresOn}: ${renew}.`;
}

// ---------------------------------------------------------------------------------------------
// Token endpoint refusals

/** What to do about the Entra ID errors an app-only sign-in meets, by AADSTS code. */
export const TOKEN_ACTIONS: Readonly<Record<string, string>> = {
  '7000215':
    'The client secret is wrong: GRAPH_CLIENT_SECRET must be the Value (not the Secret ID) of a current secret of the app registration (Entra admin center → App registrations → the app → Certificates & secrets). Create a new secret if needed, then update GRAPH_CLIENT_SECRET and GRAPH_CLIENT_SECRET_EXPIRES_ON.',
  '7000222':
    'The client secret has expired: create a new secret on the app registration (Certificates & secrets), then update GRAPH_CLIENT_SECRET and GRAPH_CLIENT_SECRET_EXPIRES_ON.',
  '700027':
    "The client certificate is not registered on the app registration (or its signature does not verify): upload the certificate's public part (.cer) under Certificates & secrets → Certificates and compare the thumbprints.",
  '90002':
    'The tenant was not found: GRAPH_TENANT_ID must be the directory (tenant) id or a verified domain of the organisation, in the cloud GRAPH_CLOUD names.',
  '700016':
    'The application was not found in the tenant: GRAPH_CLIENT_ID must be the Application (client) id of the app registration, and the app must be registered in (or consented to by) the tenant GRAPH_TENANT_ID.',
};

export const TOKEN_ACTION_FALLBACK =
  'Check GRAPH_TENANT_ID, GRAPH_CLIENT_ID and the client secret or certificate of the app registration, and that this app can reach the authority host (GRAPH_CLOUD / GRAPH_AUTHORITY_HOST).';

export interface TokenFailure {
  /** e.g. `AADSTS7000215`, when Entra ID named one. */
  code?: string;
  /** Entra ID's first sentence (no trace or correlation ids), or the local failure. */
  detail: string;
  action: string;
}

/** Reads an @azure/identity failure. Its text never holds the secret (Entra ID does not echo it). */
export function tokenFailure(error: unknown): TokenFailure {
  const message = error instanceof Error ? error.message : String(error);
  const match = /AADSTS(\d+)\s*:?\s*([^\r\n]*)/.exec(message);
  if (!match) {
    return { detail: truncate(firstLine(message) || 'no token'), action: TOKEN_ACTION_FALLBACK };
  }
  const code = match[1]!;
  // Entra appends "Trace ID: … Correlation ID: … Timestamp: …": useful to support, noise here.
  const text = (match[2] ?? '').replace(/\s*Trace ID:.*$/i, '').trim();
  return {
    code: `AADSTS${code}`,
    detail: truncate(`AADSTS${code}: ${text}`),
    action: TOKEN_ACTIONS[code] ?? TOKEN_ACTION_FALLBACK,
  };
}

function firstLine(text: string): string {
  return text.split(/\r?\n/)[0]?.trim() ?? '';
}

function truncate(text: string): string {
  return text.length > 400 ? `${text.slice(0, 400)}…` : text;
}
