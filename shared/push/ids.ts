/**
 * Stable names for a device at a push service: the Notification Hubs installation id and the tags
 * it carries. Pure (no I/O), shared by the provider and the local stand-ins.
 */
import { createHash } from 'node:crypto';
import type { DeviceRecord, PushPlatform } from '../domain/ports.js';

/**
 * Hex characters of SHA-256 kept for the mailbox pseudonym: 128 bits, so collisions between
 * mailboxes are out of reach at any realistic tenant size.
 */
const MAILBOX_HASH_HEX_CHARS = 32;

/**
 * Pseudonym of a mailbox for tags and installation ids: SHA-256 of the lower-cased address, hex,
 * first 32 characters.
 *
 * Why not the address itself: tags and installation ids are readable by anyone holding a hub
 * access policy (portal, Service Bus Explorer, `listRegistrations`), and Notification Hubs keeps
 * them in its own telemetry; an address there is personal data outside our store. The hash is a
 * pseudonym, not anonymisation (someone with a candidate address can confirm it), which is enough
 * for an identifier that only our own backend uses for targeting.
 */
export function mailboxHash(mailboxEmail: string): string {
  return createHash('sha256')
    .update(mailboxEmail.trim().toLowerCase(), 'utf8')
    .digest('hex')
    .slice(0, MAILBOX_HASH_HEX_CHARS);
}

/**
 * `<mailbox-hash>-<deviceId>`: stable across re-registrations (so createOrUpdate overwrites the
 * same installation when the token changes) and unique across mailboxes (a device id is only unique
 * within its mailbox). Device ids are letters, digits, `-`, `_`, `.` (≤ 64), so the id is URL-safe:
 * the SDK puts it into the request path unescaped.
 */
export function installationIdFor(device: Pick<DeviceRecord, 'mailboxEmail' | 'deviceId'>): string {
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(device.deviceId)) {
    throw new Error('device id must be 1–64 letters, digits, ".", "_" or "-"');
  }
  return `${mailboxHash(device.mailboxEmail)}-${device.deviceId}`;
}

/** Characters Notification Hubs allows in a tag (and tags are at most 120 characters). */
const TAG = /^[A-Za-z0-9_@#.:-]{1,120}$/;

/**
 * Tags of a device's installation: `user:<Entra object id>` (an opaque GUID, not personal data by
 * itself) and `mailbox:<mailboxHash>` — never the address (see mailboxHash).
 */
export function installationTagsFor(device: Pick<DeviceRecord, 'mailboxEmail' | 'userObjectId'>): string[] {
  const tags = [`user:${device.userObjectId.toLowerCase()}`, `mailbox:${mailboxHash(device.mailboxEmail)}`];
  for (const tag of tags) {
    if (!TAG.test(tag))
      throw new Error('user object id has characters Notification Hubs does not allow in a tag');
  }
  return tags;
}

/** Notification Hubs' name of our platforms: installations use `apns` / `fcmv1` (FCM HTTP v1). */
export function hubPlatformOf(platform: PushPlatform): 'apns' | 'fcmv1' {
  return platform === 'apns' ? 'apns' : 'fcmv1';
}

/** The last four characters of a token, for logs and the local sink (tokens are never shown whole). */
export function tokenHint(token: string): string {
  return token.length <= 8 ? '…' : `…${token.slice(-4)}`;
}
