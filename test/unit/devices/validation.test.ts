import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../../shared/errors.js';
import { parseDeviceRegistration, validateDeviceId } from '../../../shared/devices/validation.js';

const APNS = 'a1'.repeat(32); // 64 hex characters
const FCM = `fGx3:APA91b${'Xy_-9'.repeat(30)}`; // 161 characters

function refusal(body: unknown): ValidationError {
  try {
    parseDeviceRegistration(body);
  } catch (error) {
    expect(error).toBeInstanceOf(ValidationError);
    return error as ValidationError;
  }
  throw new Error('expected a ValidationError');
}

describe('parseDeviceRegistration', () => {
  it('accepts an APNs registration and lower-cases the hex token', () => {
    expect(
      parseDeviceRegistration({ deviceId: 'iPhone-15.a_b', platform: 'apns', token: APNS.toUpperCase() }),
    ).toEqual({
      deviceId: 'iPhone-15.a_b',
      platform: 'apns',
      token: APNS,
    });
  });

  it('accepts longer APNs tokens up to 200 hex characters', () => {
    expect(
      parseDeviceRegistration({ deviceId: 'd', platform: 'apns', token: 'ab'.repeat(100) }).token,
    ).toHaveLength(200);
  });

  it('accepts an FCM registration token as is', () => {
    expect(parseDeviceRegistration({ deviceId: 'pixel', platform: 'fcm', token: FCM })).toEqual({
      deviceId: 'pixel',
      platform: 'fcm',
      token: FCM,
    });
  });

  it('accepts FCM tokens of exactly 100 and 4096 characters', () => {
    expect(() =>
      parseDeviceRegistration({ deviceId: 'p', platform: 'fcm', token: 'a'.repeat(100) }),
    ).not.toThrow();
    expect(() =>
      parseDeviceRegistration({ deviceId: 'p', platform: 'fcm', token: 'a'.repeat(4096) }),
    ).not.toThrow();
  });

  it.each([
    ['null', null],
    ['an array', [{ deviceId: 'd', platform: 'apns', token: APNS }]],
    ['a string', 'deviceId=d'],
    ['a number', 42],
  ])('refuses a body that is %s', (_what, body) => {
    expect(refusal(body).message).toMatch(/JSON object/);
  });

  it('refuses unknown fields, naming them', () => {
    const error = refusal({ deviceId: 'd', platform: 'apns', token: APNS, userId: 'someone-else' });
    expect(error.message).toContain('"userId"');
    expect(error.code).toBe('invalid_request');
  });

  it.each([
    ['missing', undefined],
    ['empty', ''],
    ['65 characters', 'a'.repeat(65)],
    ['a slash', 'a/b'],
    ['a space', 'my phone'],
    ['a hash', 'a#b'],
    ['non-ASCII', 'téléphone'],
    ['a number', 12],
  ])('refuses a deviceId that is %s', (_what, deviceId) => {
    const error = refusal({ deviceId, platform: 'apns', token: APNS });
    expect(error.code).toBe('invalid_device_id');
  });

  it('accepts a deviceId of exactly 64 characters', () => {
    expect(
      parseDeviceRegistration({ deviceId: 'a'.repeat(64), platform: 'apns', token: APNS }).deviceId,
    ).toHaveLength(64);
  });

  it.each([undefined, 'APNS', 'wns', 'gcm', 3])('refuses platform %s', (platform) => {
    expect(refusal({ deviceId: 'd', platform, token: APNS }).code).toBe('invalid_platform');
  });

  it.each([
    ['missing', undefined],
    ['a number', 1234],
    ['63 hex characters', 'a'.repeat(63)],
    ['an odd length', 'a'.repeat(65)],
    ['202 hex characters', 'ab'.repeat(101)],
    ['not hex', 'g'.repeat(64)],
    ['hex with spaces', `${'ab'.repeat(16)} ${'ab'.repeat(16)}`],
    ['an FCM token', FCM],
  ])('refuses an APNs token that is %s', (_what, token) => {
    const error = refusal({ deviceId: 'd', platform: 'apns', token });
    expect(error.code).toBe('invalid_push_token');
  });

  it.each([
    ['99 characters', 'a'.repeat(99)],
    ['4097 characters', 'a'.repeat(4097)],
    ['with a space', `${'a'.repeat(60)} ${'a'.repeat(60)}`],
    ['with a slash', `${'a'.repeat(60)}/${'a'.repeat(60)}`],
    ['with a newline', `${'a'.repeat(120)}\n`],
  ])('refuses an FCM token %s', (_what, token) => {
    expect(refusal({ deviceId: 'd', platform: 'fcm', token }).code).toBe('invalid_push_token');
  });

  it('never echoes the token in its message', () => {
    const token = `${'Z'.repeat(120)}!secret`;
    expect(refusal({ deviceId: 'd', platform: 'fcm', token }).message).not.toContain('secret');
  });
});

describe('validateDeviceId', () => {
  it('returns a valid id and refuses table-key characters', () => {
    expect(validateDeviceId('A.b-c_9')).toBe('A.b-c_9');
    expect(() => validateDeviceId('a?b')).toThrow(ValidationError);
    expect(() => validateDeviceId('a\\b')).toThrow(ValidationError);
  });
});
