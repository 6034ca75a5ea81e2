/**
 * The admin API's JSON, as the console reads it (shapes of shared/admin/*.ts; the browser bundle
 * never imports server code).
 */
export interface ConsoleConfig {
  signIn: 'local' | 'entra' | 'unconfigured';
  clientId?: string;
  authority?: string;
  scopes?: string[];
}

export interface Status {
  verdict: 'ok' | 'warning' | 'critical';
  reasons: string[];
  version?: string;
  credential?: {
    type: string;
    status: string;
    daysLeft?: number;
    expiresOn?: string;
    subject?: string;
    issuer?: string;
    notBefore?: string;
    notAfter?: string;
    serialNumber?: string;
    thumbprintSha1?: string;
    thumbprintSha256?: string;
  };
  mailboxes?: { byState: Record<string, number>; total: number; countedAt?: string };
  subscriptions?: { expired: number; within24h: number; within72h: number };
  maintenance?: {
    lastRun?: { at: string; durationMs: number; renewed: number; created: number; migrated: number };
    nextRunAt?: string;
    stale: boolean;
  };
  /** `deadLetters` is null when the queue cannot be counted (then `detail` says why). */
  queue?: { deadLetters: number | null; detail?: string };
  /** The webhook's lookup path for old-style clientStates (shared/domain/lookup-path.ts). */
  lookupPath?: { on: boolean; mode: string; reason: string; oldStyleSubscriptions: number | null };
}

export interface MailboxView {
  email: string;
  state: string;
  transport: string;
  privacy?: string;
  userPrincipalName?: string;
  failure?: string;
  reason?: string;
  lastError?: string;
  attempts?: number;
  source?: string;
  enrolledAt: string;
  updatedAt: string;
  migratedAt?: string;
}

export interface MailboxDetail extends MailboxView {
  subscriptionExpiresAt?: string;
  devices: number;
}

export interface MailboxPage {
  mailboxes: MailboxView[];
  continuationToken?: string;
}

export interface ImportReport {
  rows: number;
  accepted: number;
  unchanged: number;
  invalid: number;
  errors: { row: number; reason: string }[];
  truncated: boolean;
}

export interface MigrationProgress {
  enabled: boolean;
  updatedAt?: string;
  updatedBy?: string;
  remaining: number;
  perRun: number;
  eta?: string;
  batchSize: number;
  nextRunAt?: string;
  lastRun?: { at: string; migrated: number; failed: number };
}

export const TEST_STEPS = ['token', 'user', 'inbox', 'subscription', 'testMail'] as const;
export type TestStepName = (typeof TEST_STEPS)[number];

export interface TestStep {
  name: string;
  status: 'passed' | 'failed' | 'skipped';
  durationMs: number;
  detail?: string;
  action?: string;
  handshakeMs?: number;
  latencyMs?: number;
}

export interface ConnectivityTestResult {
  email: string;
  passed: boolean;
  steps: TestStep[];
}
