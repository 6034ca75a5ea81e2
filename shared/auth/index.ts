export {
  NATIONAL_CLOUDS,
  NATIONAL_CLOUD_NAMES,
  PUBLIC_AUTHORITY_HOSTS,
  graphScope,
  isPublicAuthorityHost,
  isPublicGraphEndpoint,
  parseCloudName,
  resolveGraphEndpoints,
  validateGraphEndpoints,
  type GraphEndpoints,
  type GraphEndpointsInput,
  type NationalCloud,
  type ResolvedGraphEndpoints,
} from './clouds.js';
export {
  CertificateError,
  certificateDaysLeft,
  loadClientCertificate,
  type CertificateInfo,
  type ClientCertificate,
  type ClientCertificateInput,
} from './certificate.js';
export {
  createGraphCredential,
  describeCredential,
  isGuid,
  isTenantDomain,
  validateGraphCredentialOptions,
  type CredentialDescription,
  type CredentialSettingNames,
  type GraphCredentialOptions,
} from './credential.js';
export { cachedTokenCredential, type CachedTokenCredentialOptions } from './token-cache.js';
