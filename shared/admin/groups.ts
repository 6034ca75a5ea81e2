/**
 * Enrolment by Entra group (ENROLMENT_GROUP_IDS): each maintenance run reads each group's member
 * delta and enrols new members (`pending`, subscription created by the mailbox work within the
 * budget). Members who left every enrolment group are unenrolled when ENROLMENT_GROUP_REMOVE is
 * on, else flagged (`groupsLeftAt`) for an operator. Only mailboxes a group enrolled are ever
 * removed this way; one an operator enrolled stays.
 */
import type { MailboxRecord } from '../domain/model.js';
import type { GroupMembershipPort, LeasePort } from '../domain/ports.js';
import { ConcurrencyError, ensureError } from '../errors.js';
import { enrolMailbox, unenrolMailbox, type ControlPlaneDeps } from './mailboxes.js';

export interface GroupSyncDeps extends ControlPlaneDeps {
  membership: GroupMembershipPort;
  lease: LeasePort;
}

export interface GroupSyncReport {
  groups: number;
  enrolled: number;
  joined: number;
  left: number;
  unenrolled: number;
  flagged: number;
  /** Groups whose delta could not be read this run (retried next run from the same link). */
  failed: { groupId: string; error: string }[];
  stoppedBy: 'done' | 'time' | 'leaseNotHeld';
}

const LEASE = 'enrolment-groups';

export async function syncEnrolmentGroups(
  deps: GroupSyncDeps,
  options: { groupIds: readonly string[]; removeLeavers: boolean; deadline: number; owner: string },
): Promise<GroupSyncReport> {
  const report: GroupSyncReport = {
    groups: options.groupIds.length,
    enrolled: 0,
    joined: 0,
    left: 0,
    unenrolled: 0,
    flagged: 0,
    failed: [],
    stoppedBy: 'done',
  };
  if (options.groupIds.length === 0) return report;
  const lease = await deps.lease.acquire(LEASE, options.owner, 6 * 60_000, deps.now());
  if (!lease) return { ...report, stoppedBy: 'leaseNotHeld' };
  try {
    for (const groupId of options.groupIds) {
      if (deps.now() >= options.deadline) {
        report.stoppedBy = 'time';
        break;
      }
      try {
        await syncGroup(deps, groupId, options, report);
      } catch (error) {
        report.failed.push({ groupId, error: ensureError(error).message.slice(0, 300) });
      }
    }
  } finally {
    await deps.lease.release(lease);
  }
  return report;
}

async function syncGroup(
  deps: GroupSyncDeps,
  groupId: string,
  options: { groupIds: readonly string[]; removeLeavers: boolean },
  report: GroupSyncReport,
): Promise<void> {
  const name = `group-delta-${groupId}`;
  const stored = await deps.control.get<{ deltaLink: string }>(name);
  const delta = await deps.directory.groupMemberDelta(deps.tenantId, groupId, stored?.value.deltaLink);
  for (const userId of delta.added) {
    if (await deps.membership.member(groupId, userId)) continue;
    const user = await deps.directory.resolveUser(deps.tenantId, userId);
    if (!user) continue; // deleted since: the next delta says so
    const email = (user.mail ?? user.userPrincipalName).toLowerCase();
    const { created } = await enrolMailbox(deps, { email, userId: user.id, source: 'group' });
    if (created) report.enrolled++;
    await changeMailbox(deps, email, (m) => withGroup(m, groupId));
    await deps.membership.addMember(groupId, userId, email);
    report.joined++;
  }
  for (const userId of delta.removed) {
    const email = await deps.membership.member(groupId, userId);
    await deps.membership.removeMember(groupId, userId);
    if (!email) continue;
    report.left++;
    const mailbox = await changeMailbox(deps, email, (m) => withoutGroup(m, groupId));
    if (!mailbox || mailbox.source !== 'group' || (mailbox.groups ?? '') !== '') continue;
    // Still a member through another enrolment group? (its row exists there)
    let elsewhere = false;
    for (const other of options.groupIds)
      if (other !== groupId && (await deps.membership.member(other, userId))) elsewhere = true;
    if (elsewhere) continue;
    if (options.removeLeavers) {
      await unenrolMailbox(deps, email);
      report.unenrolled++;
    } else {
      await changeMailbox(deps, email, (m) => ({ ...m, groupsLeftAt: new Date(deps.now()).toISOString() }));
      report.flagged++;
    }
  }
  await deps.control.put(name, { deltaLink: delta.deltaLink });
}

function withGroup(m: MailboxRecord, groupId: string): MailboxRecord {
  const groups = new Set((m.groups ?? '').split(',').filter((g) => g !== ''));
  groups.add(groupId);
  const next: MailboxRecord = { ...m, groups: [...groups].join(',') };
  delete next.groupsLeftAt;
  return next;
}

function withoutGroup(m: MailboxRecord, groupId: string): MailboxRecord {
  const groups = (m.groups ?? '').split(',').filter((g) => g !== '' && g !== groupId);
  const next: MailboxRecord = { ...m, groups: groups.join(',') };
  if (groups.length === 0) delete next.groups;
  return next;
}

async function changeMailbox(
  deps: GroupSyncDeps,
  email: string,
  change: (m: MailboxRecord) => MailboxRecord,
): Promise<MailboxRecord | undefined> {
  for (let attempt = 0; ; attempt++) {
    const current = await deps.mailboxes.getMailbox(email);
    if (!current) return undefined;
    try {
      return await deps.mailboxes.updateMailbox({
        ...change(current),
        updatedAt: new Date(deps.now()).toISOString(),
      });
    } catch (error) {
      if (!(error instanceof ConcurrencyError) || attempt >= 4) throw error;
    }
  }
}
