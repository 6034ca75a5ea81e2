import {
  ClientCertificateCredential,
  ClientSecretCredential,
  type ClientCertificateCredentialOptions,
  type TokenCredential,
} from '@azure/identity';
import { ConfigError } from '../errors.js';
import {
  CertificateError,
  certificateDaysLeft,
  loadClientCertificate,
  type CertificateInfo,
  type ClientCertificate,
} from './certificate.js';
import { checkHttpsBaseUrl, graphScope, isPublicAuthorityHost, NATIONAL_CLOUDS } from './clouds.js';

export interface GraphCredentialOptions {
  /** Directory (tenant) id GUID, or a verified domain such as `contoso.onmicrosoft.com`. */
  tenant: string;
  /** Application (client) id GUID of the app registration. */
  clientId: string;
  /** From {@link resolveGraphEndpoints}; must be https. */
  authorityHost: string;
  /** Client secret *value* (not its id). Exactly one of `secret` / `certificate`. */
  secret?: string | undefined;
  /** PEM with private key and certificate, e.g. from {@link loadClientCertificate}. */
  certificate?: { pem: string; info?: CertificateInfo } | undefined;
  /** Send the x5c chain (needed for subject name + issuer authentication). */
  sendCertificateChain?: boolean | undefined;
  /**
   * Extra @azure/identity options (e.g. a custom HTTP client or retry options in tests). The
   * authority host and instance discovery are always set from the options above.
   */
  clientOptions?:
    | Omit<
        ClientCertificateCredentialOptions,
        'authorityHost' | 'disableInstanceDiscovery' | 'sendCertificateChain'
      >
    | undefined;
}

/** Setting names to prefix problems with, so an operator knows which setting to fix. */
export type CredentialSettingNames = Partial<
  Record<'tenant' | 'clientId' | 'authorityHost' | 'secret' | 'certificate', string>
>;

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const DNS_LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/i;
const MULTI_TENANT_ALIASES = new Set(['common', 'organizations', 'consumers']);

export function isGuid(value: string): boolean {
  return GUID.test(value);
}

/** A DNS name with at least two labels and an alphabetic top-level label (so not an IP address). */
export function isTenantDomain(value: string): boolean {
  if (value.length > 253) return false;
  const labels = value.split('.');
  if (labels.length < 2) return false;
  if (!labels.every((label) => DNS_LABEL.test(label))) return false;
  return /^[a-z]{2,63}$/i.test(labels[labels.length - 1] ?? '');
}

function nonEmpty(value: string | undefined): value is string {
  return value !== undefined && value !== '';
}

interface ValidatedCredential {
  tenant: string;
  clientId: string;
  authorityHost: string;
  secret: string | undefined;
  certificate: ClientCertificate | undefined;
}

function validate(
  options: GraphCredentialOptions,
  names: CredentialSettingNames,
): { value: ValidatedCredential; problems: [] } | { value?: undefined; problems: string[] } {
  const label = (key: keyof CredentialSettingNames, fallback: string): string => names[key] ?? fallback;
  const problems: string[] = [];

  // Values are never echoed: a secret pasted into the wrong setting must not reach a log.
  const tenant = options.tenant ?? '';
  const tenantLabel = label('tenant', 'tenant');
  if (tenant === '') {
    problems.push(
      `${tenantLabel} is required (directory (tenant) id GUID or a domain such as contoso.onmicrosoft.com)`,
    );
  } else if (MULTI_TENANT_ALIASES.has(tenant.toLowerCase())) {
    problems.push(
      `${tenantLabel} must be a specific tenant, not '${tenant.toLowerCase()}': app-only Graph tokens are issued by one tenant`,
    );
  } else if (!isGuid(tenant) && !isTenantDomain(tenant)) {
    problems.push(
      `${tenantLabel} must be a directory (tenant) id GUID or a domain such as contoso.onmicrosoft.com`,
    );
  }

  const clientId = options.clientId ?? '';
  const clientIdLabel = label('clientId', 'clientId');
  if (clientId === '') problems.push(`${clientIdLabel} is required (application (client) id GUID)`);
  else if (!isGuid(clientId)) problems.push(`${clientIdLabel} must be the application (client) id, a GUID`);

  let authorityHost = '';
  const authorityLabel = label('authorityHost', 'authorityHost');
  if (!nonEmpty(options.authorityHost)) {
    problems.push(`${authorityLabel} is required (e.g. ${NATIONAL_CLOUDS.global.authorityHost})`);
  } else {
    const checked = checkHttpsBaseUrl(
      authorityLabel,
      options.authorityHost,
      NATIONAL_CLOUDS.global.authorityHost,
    );
    if (checked.problem !== undefined) problems.push(checked.problem);
    else authorityHost = checked.url;
  }

  const secretLabel = label('secret', 'client secret');
  const certificateLabel = label('certificate', 'client certificate');
  const hasSecret = nonEmpty(options.secret);
  const hasCertificate = options.certificate !== undefined && nonEmpty(options.certificate.pem);
  let certificate: ClientCertificate | undefined;
  if (hasSecret && hasCertificate) {
    problems.push(`set either a ${secretLabel} or a ${certificateLabel}, not both`);
  } else if (!hasSecret && !hasCertificate) {
    problems.push(`no credential: set a ${secretLabel} or a ${certificateLabel}`);
  } else if (hasSecret) {
    const secret = options.secret ?? '';
    if (secret.trim() !== secret) {
      problems.push(`${secretLabel} has leading or trailing whitespace (a copy-and-paste slip?)`);
    } else if (isGuid(secret)) {
      problems.push(
        `${secretLabel} looks like a GUID: that is the secret's ID, not its value (copy the "Value" column when the secret is created)`,
      );
    }
  } else {
    try {
      // Re-read even a loaded certificate: it checks the key and puts the leaf first, which
      // @azure/identity relies on (it takes the thumbprint of the first certificate in the PEM).
      certificate = loadClientCertificate({ pem: options.certificate?.pem ?? '' });
    } catch (error) {
      if (!(error instanceof CertificateError)) throw error;
      problems.push(`${certificateLabel}: ${error.problem}`);
    }
  }

  if (problems.length > 0) return { problems };
  return {
    value: { tenant, clientId, authorityHost, secret: hasSecret ? options.secret : undefined, certificate },
    problems: [],
  };
}

/** Every problem with the options (empty when they are usable). Never contains secret values. */
export function validateGraphCredentialOptions(
  options: GraphCredentialOptions,
  settingNames: CredentialSettingNames = {},
): string[] {
  return validate(options, settingNames).problems;
}

/**
 * Builds the app-only credential for Graph: `ClientSecretCredential` or `ClientCertificateCredential`.
 * For an authority host other than the public clouds' (e.g. the local simulator) instance discovery is
 * disabled, otherwise MSAL would ask login.microsoftonline.com whether the authority is valid.
 * Throws {@link ConfigError} listing every problem.
 */
export function createGraphCredential(
  options: GraphCredentialOptions,
  settingNames: CredentialSettingNames = {},
): TokenCredential {
  const result = validate(options, settingNames);
  if (result.value === undefined) throw new ConfigError(result.problems);
  const { tenant, clientId, authorityHost, secret, certificate } = result.value;
  const common = {
    ...options.clientOptions,
    authorityHost,
    ...(isPublicAuthorityHost(authorityHost) ? {} : { disableInstanceDiscovery: true }),
  };
  if (certificate) {
    return new ClientCertificateCredential(
      tenant,
      clientId,
      { certificate: certificate.pem },
      { ...common, sendCertificateChain: options.sendCertificateChain ?? false },
    );
  }
  return new ClientSecretCredential(tenant, clientId, secret ?? '', common);
}

export interface CredentialDescription {
  kind: 'client_secret' | 'client_certificate';
  tenant: string;
  clientId: string;
  authorityHost: string;
  /** False for a custom authority host (instance discovery disabled). */
  instanceDiscovery: boolean;
  graphEndpoint: string;
  scope: string;
  /** Only for `client_secret`: that one is set. The value is never shown. */
  secretSet?: true;
  certificate?: CertificateInfo & {
    /** Whole days until `validTo` at `now` (negative once expired). */
    daysLeft: number;
    expired: boolean;
    notYetValid: boolean;
    sendCertificateChain: boolean;
  };
}

/**
 * What the status page shows about the Graph credential. Never includes the secret, the PEM or the key.
 * Throws {@link ConfigError} when the options are not usable (as {@link createGraphCredential} would).
 */
export function describeCredential(
  options: GraphCredentialOptions & { graphEndpoint: string },
  now: Date = new Date(),
): CredentialDescription {
  const result = validate(options, {});
  if (result.value === undefined) throw new ConfigError(result.problems);
  const { tenant, clientId, authorityHost, certificate } = result.value;
  const base = {
    tenant,
    clientId,
    authorityHost,
    instanceDiscovery: isPublicAuthorityHost(authorityHost),
    graphEndpoint: options.graphEndpoint,
    scope: graphScope(options.graphEndpoint),
  };
  if (!certificate) return { kind: 'client_secret', ...base, secretSet: true };
  const daysLeft = certificateDaysLeft(certificate.info, now);
  return {
    kind: 'client_certificate',
    ...base,
    certificate: {
      ...certificate.info,
      daysLeft,
      expired: now.getTime() > Date.parse(certificate.info.validTo),
      notYetValid: now.getTime() < Date.parse(certificate.info.validFrom),
      sendCertificateChain: options.sendCertificateChain ?? false,
    },
  };
}
