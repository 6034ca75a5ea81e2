/**
 * Settings of the control plane: enrolment and the EWS → Graph migration. Read once at start-up
 * with the others; every problem names the setting and what is expected.
 */
import { echoItem, echoValue } from '../errors.js';

export type SelfServiceEnrolment = 'off' | 'groups' | 'all';

export interface AdminSettings {
  /** EWS mailboxes moved per maintenance run at most. */
  migrationBatchSize: number;
  /** Counted failures before a mailbox is `failed`. */
  maxAttempts: number;
  /** Pending mailboxes given a subscription per maintenance run at most. */
  creationsPerRun: number;
  /** Entra security groups whose members are enrolled (member delta each run). */
  enrolmentGroupIds: string[];
  /** Unenrol members who left every enrolment group (else they are only flagged). */
  enrolmentGroupRemove: boolean;
  /** A device registration from a user without a mailbox enrols them first. */
  enrolOnDeviceRegistration: SelfServiceEnrolment;
  /** The web console's sign-in (`GET /api/console`); nothing here is a secret. */
  console: ConsoleSettings;
}

export interface ConsoleSettings {
  /** `local`: the local runner's admin token; `entra`: MSAL; undefined (`auto`): chosen from the token authority. */
  signIn: 'entra' | 'local' | undefined;
  /** Application (client) id of the console's SPA app registration. */
  clientId: string | undefined;
  /** The API scope the console asks for; unset: `<first DEVICE_API_AUDIENCE>/.default`. */
  apiScope: string | undefined;
}

/** The app role an admin token must carry (app registration → App roles). */
export const ADMIN_ROLE = 'MailPush.Admin';

export const ADMIN_SETTING_SPECS = [
  {
    name: 'MIGRATION_BATCH_SIZE',
    secret: false,
    default: '50',
    description:
      'EWS mailboxes moved to Graph per maintenance run when the migration switch is on (1–1000), oldest enrolment first.',
  },
  {
    name: 'MIGRATION_MAX_ATTEMPTS',
    secret: false,
    default: '5',
    description:
      'Failed attempts (429s and outages do not count) before a mailbox is marked `failed` (1–50); `POST /api/manage/migration/retry-failed` puts them back.',
  },
  {
    name: 'ENROLMENT_CREATIONS_PER_RUN',
    secret: false,
    default: '5000',
    description:
      'Pending mailboxes given a Graph subscription per maintenance run at most (0–100000), within the subscription-write budget left after renewals.',
  },
  {
    name: 'ENROLMENT_GROUP_IDS',
    secret: false,
    description:
      'Entra security group object ids (comma-separated, at most 50) whose members are enrolled; each maintenance run reads their membership delta.',
  },
  {
    name: 'ENROLMENT_GROUP_REMOVE',
    secret: false,
    default: 'false',
    description:
      '`true`: members who left every enrolment group are unenrolled; `false`: they are only flagged for an operator.',
  },
  {
    name: 'ENROL_ON_DEVICE_REGISTRATION',
    secret: false,
    default: 'off',
    description:
      'Self-service: a `POST /api/devices` from a user without a mailbox enrols them first: `off`, `groups` (only members of ENROLMENT_GROUP_IDS) or `all`.',
  },
  {
    name: 'CONSOLE_CLIENT_ID',
    secret: false,
    description:
      "Application (client) id of the web console's SPA app registration (redirect URI `https://<app>/api/console`); unset: the console cannot sign in with Entra ID.",
  },
  {
    name: 'CONSOLE_API_SCOPE',
    secret: false,
    description:
      'Scope the console requests for the admin API, e.g. `api://mailpush/.default`; unset: the first DEVICE_API_AUDIENCE + `/.default`.',
  },
  {
    name: 'CONSOLE_SIGN_IN',
    secret: false,
    default: 'auto',
    description:
      "How the console signs in: `entra` (MSAL, CONSOLE_CLIENT_ID), `local` (the local runner's `/local/admin-token`) or `auto`: `local` when DEVICE_API_AUTHORITY_HOST is a loopback address (only the local runner's issuer lives there), else `entra`.",
  },
] as const;

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function readAdminSettings(
  get: (name: string) => string | undefined,
  problems: string[],
): AdminSettings | undefined {
  const before = problems.length;
  const integer = (name: string, fallback: number, min: number, max: number): number => {
    const raw = get(name);
    if (raw === undefined) return fallback;
    const value = Number(raw);
    if (!/^\d+$/.test(raw.trim()) || !Number.isSafeInteger(value) || value < min || value > max) {
      problems.push(`${name}: expected a whole number ${min}–${max}, got ${echoValue(raw, 20)}`);
      return fallback;
    }
    return value;
  };
  const rawGroups = get('ENROLMENT_GROUP_IDS') ?? '';
  const groups = rawGroups
    .split(',')
    .map((id) => id.trim())
    .filter((id) => id !== '');
  const badGroup = groups.find((id) => !GUID.test(id));
  if (badGroup !== undefined) {
    problems.push(
      `ENROLMENT_GROUP_IDS: expected group object ids (GUIDs), got ${echoItem(badGroup, rawGroups, 40)}`,
    );
  } else if (groups.length > 50) {
    problems.push(`ENROLMENT_GROUP_IDS: at most 50 groups, got ${groups.length}`);
  }
  const remove = (get('ENROLMENT_GROUP_REMOVE') ?? 'false').toLowerCase();
  if (remove !== 'true' && remove !== 'false') {
    problems.push(`ENROLMENT_GROUP_REMOVE: expected true or false, got ${echoValue(remove, 20)}`);
  }
  const selfService = get('ENROL_ON_DEVICE_REGISTRATION') ?? 'off';
  if (!['off', 'groups', 'all'].includes(selfService)) {
    problems.push(
      `ENROL_ON_DEVICE_REGISTRATION: expected off, groups or all, got ${echoValue(selfService, 20)}`,
    );
  } else if (selfService === 'groups' && groups.length === 0) {
    problems.push('ENROL_ON_DEVICE_REGISTRATION: `groups` needs ENROLMENT_GROUP_IDS');
  }
  const consoleSignIn = (get('CONSOLE_SIGN_IN') ?? 'auto').trim().toLowerCase();
  if (!['auto', 'entra', 'local'].includes(consoleSignIn)) {
    problems.push(`CONSOLE_SIGN_IN: expected auto, entra or local, got ${echoValue(consoleSignIn, 20)}`);
  }
  const consoleClientId = get('CONSOLE_CLIENT_ID')?.trim() || undefined;
  if (consoleClientId !== undefined && !GUID.test(consoleClientId)) {
    problems.push(
      `CONSOLE_CLIENT_ID: expected the SPA app registration's application (client) id GUID, got ${echoValue(consoleClientId, 40)}`,
    );
  }
  const consoleScope = get('CONSOLE_API_SCOPE')?.trim() || undefined;
  if (consoleScope !== undefined && !/^\S{1,400}$/.test(consoleScope)) {
    problems.push('CONSOLE_API_SCOPE: expected one scope without spaces, e.g. api://mailpush/.default');
  }
  const settings: AdminSettings = {
    migrationBatchSize: integer('MIGRATION_BATCH_SIZE', 50, 1, 1000),
    maxAttempts: integer('MIGRATION_MAX_ATTEMPTS', 5, 1, 50),
    creationsPerRun: integer('ENROLMENT_CREATIONS_PER_RUN', 5000, 0, 100_000),
    enrolmentGroupIds: groups.map((id) => id.toLowerCase()),
    enrolmentGroupRemove: remove === 'true',
    enrolOnDeviceRegistration: selfService as SelfServiceEnrolment,
    console: {
      signIn: consoleSignIn === 'entra' || consoleSignIn === 'local' ? consoleSignIn : undefined,
      clientId: consoleClientId?.toLowerCase(),
      apiScope: consoleScope,
    },
  };
  return problems.length === before ? settings : undefined;
}
