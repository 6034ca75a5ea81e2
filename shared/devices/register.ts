/**
 * Registering and removing a user's phones. Ports only (mailboxes, devices, push provider), no
 * SDK and no clock reads: the caller passes `now`.
 *
 * Ownership: a user acts only on their own mailbox. The mailbox is looked up by the sign-in
 * names in the token (`upn`, `preferred_username`, `email`) and must carry the caller's Entra
 * object id (`userId`, set at enrolment). A mailbox that does not exist, has no `userId` yet, or
 * belongs to someone else gets the same 403, so the API does not reveal which mailboxes exist.
 */
import type { MailboxRecord } from '../domain/model.js';
import type { DeviceRecord, DeviceStore, MailboxStore, PushProvider } from '../domain/ports.js';
import { DependencyError, ValidationError, ensureError } from '../errors.js';
import type { DevicePrincipal } from './bearer.js';
import { DeviceAccessError } from './errors.js';
import { parseDeviceRegistration, validateDeviceId } from './validation.js';

/** Every device of a mailbox gets every push; this bounds the fan-out a single user can create. */
export const DEFAULT_MAX_DEVICES_PER_MAILBOX = 20;

export interface DevicePorts {
  mailboxes: MailboxStore;
  devices: DeviceStore;
  push: PushProvider;
}

export interface RegisterDeviceInput extends DevicePorts {
  principal: DevicePrincipal;
  /** The parsed JSON body: `{ deviceId, platform, token }`. */
  body: unknown;
  now: Date;
  maxDevicesPerMailbox?: number;
  /** Self-service enrolment: enrols a caller who has no mailbox yet (undefined: not allowed). */
  enrolIfMissing?: (principal: DevicePrincipal) => Promise<MailboxRecord | undefined>;
}

export interface RegisterDeviceResult {
  /** `created`: a new device (201); `updated`: the device was registered before (200). */
  outcome: 'created' | 'updated';
  device: DeviceRecord;
}

export interface UnregisterDeviceInput extends DevicePorts {
  principal: DevicePrincipal;
  deviceId: unknown;
}

/**
 * The caller's mailbox; with self-service enrolment, a caller who has none is enrolled first. An
 * address enrolled for someone else stays theirs: the same 403 as before.
 */
async function ownOrEnrolledMailbox(input: RegisterDeviceInput): Promise<MailboxRecord> {
  try {
    return await findOwnMailbox(input.principal, input.mailboxes);
  } catch (error) {
    if (!(error instanceof DeviceAccessError) || !input.enrolIfMissing) throw error;
    const enrolled = await input.enrolIfMissing(input.principal);
    if (!enrolled || enrolled.userId?.toLowerCase() !== input.principal.objectId) throw error;
    return enrolled;
  }
}

/**
 * Validates the body, checks the caller owns the mailbox, upserts the device, then registers it
 * with the push provider. If the provider fails, the store is put back as it was (the new row
 * deleted, or the previous row restored) and DependencyError is thrown: nothing is half done.
 */
export async function registerDevice(input: RegisterDeviceInput): Promise<RegisterDeviceResult> {
  const request = parseDeviceRegistration(input.body);
  const mailbox = await ownOrEnrolledMailbox(input);
  const { devices, push } = input;
  const previous = await devices.getDevice(mailbox.email, request.deviceId);
  if (!previous) {
    const limit = input.maxDevicesPerMailbox ?? DEFAULT_MAX_DEVICES_PER_MAILBOX;
    const existing = await devices.listDevices(mailbox.email);
    if (existing.length >= limit) {
      throw new ValidationError(
        `A mailbox can have at most ${limit} devices; remove one (DELETE /api/devices/{deviceId}) first.`,
        'too_many_devices',
      );
    }
  }

  const now = input.now.toISOString();
  const stored = await devices.upsertDevice({
    mailboxEmail: mailbox.email,
    deviceId: request.deviceId,
    platform: request.platform,
    token: request.token,
    userObjectId: input.principal.objectId,
    createdAt: previous?.createdAt ?? now,
    updatedAt: now,
  });

  try {
    await push.registerDevice(stored);
  } catch (error) {
    const rollback = await undoUpsert(devices, stored, previous);
    throw new DependencyError(
      `push:${push.name}`,
      `registering device ${stored.deviceId} failed (${ensureError(error).name})${rollback}`,
      { cause: error },
    );
  }
  return { outcome: previous ? 'updated' : 'created', device: stored };
}

/**
 * Removes one of the caller's devices: first from the push provider, then from the store, so a
 * failure leaves the row in place and a retry (by the app) finishes the job; the other order
 * could lose the row while the provider still pushes to the phone. A device that is not in the
 * caller's mailbox is `not_found` (idempotent: the app may retry a delete that already succeeded).
 */
export async function unregisterDevice(input: UnregisterDeviceInput): Promise<'deleted' | 'not_found'> {
  const deviceId = validateDeviceId(input.deviceId);
  const mailbox = await findOwnMailbox(input.principal, input.mailboxes);
  const device = await input.devices.getDevice(mailbox.email, deviceId);
  if (!device) return 'not_found';
  try {
    await input.push.unregisterDevice(device);
  } catch (error) {
    throw new DependencyError(
      `push:${input.push.name}`,
      `unregistering device ${deviceId} failed (${ensureError(error).name}); the device is kept`,
      { cause: error },
    );
  }
  await input.devices.deleteDevice(mailbox.email, deviceId);
  return 'deleted';
}

/** The caller's mailbox, or DeviceAccessError (same error whether it is missing or not theirs). */
export async function findOwnMailbox(
  principal: DevicePrincipal,
  mailboxes: MailboxStore,
): Promise<MailboxRecord> {
  const objectId = principal.objectId.toLowerCase();
  for (const candidate of principal.mailboxCandidates) {
    let mailbox: MailboxRecord | undefined;
    try {
      mailbox = await mailboxes.getMailbox(candidate);
    } catch (error) {
      // A sign-in name that cannot be a mailbox key (e.g. a guest's `live.com#…`) is simply not a match.
      if (error instanceof ValidationError) continue;
      throw error;
    }
    if (mailbox?.userId !== undefined && mailbox.userId.toLowerCase() === objectId) return mailbox;
  }
  throw new DeviceAccessError();
}

async function undoUpsert(
  devices: DeviceStore,
  written: DeviceRecord,
  previous: DeviceRecord | undefined,
): Promise<string> {
  try {
    if (previous) {
      const restored: DeviceRecord = { ...previous };
      delete restored.etag;
      await devices.upsertDevice(restored);
    } else {
      await devices.deleteDevice(written.mailboxEmail, written.deviceId);
    }
    return previous ? '; previous registration restored' : '; new registration removed';
  } catch (error) {
    return `; rolling back the store failed too (${ensureError(error).name})`;
  }
}
