/**
 * The device API: mobile apps register their phones for push with an Entra ID bearer token.
 * The composition root needs `readDeviceApiSettings` + `createDeviceBearerValidator` (and the
 * device store from shared/store/device-store.ts); functions use the handler factories.
 */
export {
  createBearerValidator,
  createDeviceBearerValidator,
  MAX_BEARER_TOKEN_LENGTH,
  type BearerValidator,
  type BearerValidatorOptions,
  type DevicePrincipal,
  type RemoteKeysOptions,
} from './bearer.js';
export { AuthError, DeviceAccessError, type AuthErrorCode } from './errors.js';
export {
  handleDeviceRegistration,
  handleDeviceRemoval,
  deviceErrorResponse,
  MAX_DEVICE_BODY_BYTES,
  type DeviceApiDeps,
  type DeviceView,
} from './http.js';
export {
  DEFAULT_MAX_DEVICES_PER_MAILBOX,
  findOwnMailbox,
  registerDevice,
  unregisterDevice,
  type RegisterDeviceInput,
  type RegisterDeviceResult,
  type UnregisterDeviceInput,
} from './register.js';
export {
  DEFAULT_DEVICE_API_AUTHORITY_HOST,
  DEFAULT_DEVICE_API_CLOCK_SKEW_SECONDS,
  DEVICE_SETTING_SPECS,
  entraIssuers,
  entraJwksUri,
  readDeviceApiSettings,
  type DeviceApiSettings,
} from './settings.js';
export {
  DEVICE_ID_PATTERN,
  PUSH_PLATFORMS,
  parseDeviceRegistration,
  validateDeviceId,
  type DeviceRegistrationRequest,
} from './validation.js';
