/**
 * Self-service enrolment (ENROL_ON_DEVICE_REGISTRATION): a `POST /api/devices` from a user with no
 * mailbox enrols them first — `all` users of the tenant, or only members of the enrolment groups —
 * so the mobile app works without an operator. The mailbox is the caller's own: their sign-in
 * name and their object id from the validated token; the subscription follows with the timer.
 */
import type { DevicePrincipal } from '../devices/bearer.js';
import type { MailboxRecord } from '../domain/model.js';
import type { GroupMembershipPort } from '../domain/ports.js';
import { enrolMailbox, type ControlPlaneDeps } from './mailboxes.js';
import type { SelfServiceEnrolment } from './settings.js';

export type EnrolIfMissing = (principal: DevicePrincipal) => Promise<MailboxRecord | undefined>;

export function selfServiceEnrolment(
  deps: ControlPlaneDeps & { membership: GroupMembershipPort },
  options: { mode: SelfServiceEnrolment; groupIds: readonly string[] },
): EnrolIfMissing | undefined {
  if (options.mode === 'off') return undefined;
  return async (principal) => {
    const email = principal.mailboxCandidates[0];
    if (!email) return undefined;
    if (options.mode === 'groups') {
      let member = false;
      for (const groupId of options.groupIds) {
        if (await deps.membership.member(groupId, principal.objectId)) {
          member = true;
          break;
        }
      }
      if (!member) return undefined;
    }
    await enrolMailbox(deps, { email, userId: principal.objectId, source: 'device' });
    return deps.mailboxes.getMailbox(email);
  };
}
