/**
 * Validation of what the mobile app sends. Pure: no I/O. Messages never echo the push token
 * (it is a credential for pushing to that phone).
 */
import { DEVICE_ID_PATTERN, PUSH_PLATFORMS, type PushPlatform } from '../domain/model.js';
import { ValidationError } from '../errors.js';

export { DEVICE_ID_PATTERN, PUSH_PLATFORMS };

/** APNs device tokens are 32 bytes (64 hex characters) today; Apple reserves the right to grow them. */
const APNS_TOKEN = /^[0-9a-f]{64,200}$/;
/** FCM registration tokens: opaque, in practice ~150-250 characters of this alphabet. */
const FCM_TOKEN = /^[A-Za-z0-9_:-]{100,4096}$/;
const FIELDS = ['deviceId', 'platform', 'token'] as const;

export interface DeviceRegistrationRequest {
  deviceId: string;
  platform: PushPlatform;
  /** APNs tokens are lower-cased (they are hex; case carries no meaning). */
  token: string;
}

export function isValidDeviceId(value: unknown): value is string {
  return typeof value === 'string' && DEVICE_ID_PATTERN.test(value);
}

/** Returns the id if valid, else throws ValidationError (the id is not echoed). */
export function validateDeviceId(value: unknown): string {
  if (!isValidDeviceId(value)) {
    throw new ValidationError(
      'deviceId must be 1-64 characters of letters, digits, ".", "_" or "-"',
      'invalid_device_id',
    );
  }
  return value;
}

/** The body of `POST /api/devices`: `{ deviceId, platform, token }`, nothing else. */
export function parseDeviceRegistration(body: unknown): DeviceRegistrationRequest {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new ValidationError('Body must be a JSON object { deviceId, platform, token }.');
  }
  const record = body as Record<string, unknown>;
  const unknown = Object.keys(record).filter((key) => !(FIELDS as readonly string[]).includes(key));
  if (unknown.length > 0) {
    // Field names are the caller's own input, but cap what we reflect.
    const names = unknown
      .slice(0, 5)
      .map((name) => JSON.stringify(name.slice(0, 40)))
      .join(', ');
    throw new ValidationError(
      `Unknown field${unknown.length > 1 ? 's' : ''} ${names}; expected only deviceId, platform, token.`,
    );
  }
  const deviceId = validateDeviceId(record['deviceId']);
  const platform = record['platform'];
  if (typeof platform !== 'string' || !(PUSH_PLATFORMS as readonly string[]).includes(platform)) {
    throw new ValidationError('platform must be "apns" or "fcm".', 'invalid_platform');
  }
  const token = record['token'];
  if (typeof token !== 'string') {
    throw new ValidationError('token must be a string.', 'invalid_push_token');
  }
  if (platform === 'apns') {
    const hex = token.toLowerCase();
    if (!APNS_TOKEN.test(hex) || hex.length % 2 !== 0) {
      throw new ValidationError(
        'token must be an APNs device token: 64 to 200 hexadecimal characters (whole bytes).',
        'invalid_push_token',
      );
    }
    return { deviceId, platform, token: hex };
  }
  if (!FCM_TOKEN.test(token)) {
    throw new ValidationError(
      'token must be an FCM registration token: 100 to 4096 characters of letters, digits, "_", ":" or "-".',
      'invalid_push_token',
    );
  }
  return { deviceId, platform: 'fcm', token };
}
