/**
 * The connectivity test (the old server's "Test" button), step by step: an app-only token, the
 * user, the Inbox, a short-lived test subscription (Graph reaches our webhook and the handshake
 * answers in time), and optionally a test mail followed end to end to the push. Every failure says
 * what to do in words; nothing secret (client secret, clientState, tokens) is ever in the answer.
 *
 * Each step works on its own, so the console and the CLI can run one at a time and show each as it
 * finishes.
 */
import { randomBytes } from 'node:crypto';
import { FAILURE_TEXT, mailboxStateOf } from '../domain/enrolment/states.js';
import type {
  ControlStorePort,
  DeviceStore,
  DirectoryUser,
  MailboxDirectoryPort,
  MailboxStore,
} from '../domain/ports.js';
import {
  CONNECTIVITY_TEST_SUBJECT,
  connectivityTestDocument,
  type ConnectivityTestMark,
} from '../delivery/pipeline.js';
import { ensureError } from '../errors.js';
import type { GraphClient } from '../graph/client.js';
import { inboxMessagesResource } from '../graph/subscriptions.js';
import { graphErrorFromResponse } from '../graph/errors.js';
import { tokenFailure } from './credential-card.js';

export const CONNECTIVITY_STEPS = ['token', 'user', 'inbox', 'subscription', 'testMail'] as const;
export type ConnectivityStepName = (typeof CONNECTIVITY_STEPS)[number];

export interface ConnectivityStep {
  name: ConnectivityStepName;
  status: 'passed' | 'failed' | 'skipped';
  durationMs: number;
  detail?: string;
  /** What to do, in words (failed steps). */
  action?: string;
  /** subscription: how long creating the test subscription took (Graph's handshake with us included). */
  handshakeMs?: number;
  /** testMail: from sending the mail to the push being recorded. */
  latencyMs?: number;
}

export interface ConnectivityReport {
  email: string;
  passed: boolean;
  steps: ConnectivityStep[];
}

export interface ConnectivityRequest {
  email: string;
  sendTestMail?: boolean;
  /** Only these steps (in the canonical order); default all. */
  steps?: readonly ConnectivityStepName[];
}

export interface ConnectivityDeps {
  tenantId: string;
  /** GRAPH_CLIENT_ID, named in the Test-ApplicationAccessPolicy hint. */
  clientId: string;
  now: () => number;
  sleep: (ms: number) => Promise<void>;
  /**
   * Acquires an app-only Graph token with a credential of its own (no token cache), so the test
   * proves the credential works now, not an hour ago. Throws @azure/identity's error.
   */
  acquireToken: () => Promise<void>;
  /** The tenant's Graph client (for the subscription and the test mail). */
  graph: () => GraphClient;
  directory: Pick<MailboxDirectoryPort, 'resolveUser' | 'checkInbox' | 'classify'>;
  mailboxes: Pick<MailboxStore, 'getMailbox'>;
  devices: Pick<DeviceStore, 'listDevices'>;
  control: Pick<ControlStorePort, 'get'>;
  /** `<PUBLIC_BASE_URL>/api/notifications`. */
  notificationUrl: string;
  /** How long the test mail may take to be pushed. Default 60 s. */
  testMailTimeoutMs?: number;
  /** Default 500 ms. */
  pollIntervalMs?: number;
}

/** Graph's minimum is a few minutes; 10 is plenty for a test and leaves little behind if delete fails. */
const TEST_SUBSCRIPTION_MINUTES = 10;
const DEFAULT_TEST_MAIL_TIMEOUT_MS = 60_000;

class StepFailure extends Error {
  constructor(
    readonly detail: string,
    readonly action: string,
  ) {
    super(detail);
  }
}

/** What a step produced besides passing. */
interface StepResult {
  detail?: string;
  handshakeMs?: number;
  latencyMs?: number;
}

export async function runConnectivityTest(
  deps: ConnectivityDeps,
  request: ConnectivityRequest,
): Promise<ConnectivityReport> {
  const wanted = new Set(request.steps ?? CONNECTIVITY_STEPS);
  const run = new TestRun(deps, request.email);
  const steps: ConnectivityStep[] = [];
  let failed = false;
  for (const name of CONNECTIVITY_STEPS) {
    if (!wanted.has(name)) continue;
    if (failed) {
      steps.push({ name, status: 'skipped', durationMs: 0, detail: 'skipped: an earlier step failed' });
      continue;
    }
    if (name === 'testMail' && request.sendTestMail !== true) {
      steps.push({
        name,
        status: 'skipped',
        durationMs: 0,
        detail: 'not requested: send { "sendTestMail": true } to send a test mail and follow it to the push',
      });
      continue;
    }
    const started = deps.now();
    try {
      const result = await run.step(name);
      steps.push({ name, status: 'passed', durationMs: deps.now() - started, ...result });
    } catch (error) {
      failed = true;
      const failure =
        error instanceof StepFailure
          ? error
          : new StepFailure(
              oneLine(ensureError(error).message),
              'An unexpected error: see the function log for this request.',
            );
      steps.push({
        name,
        status: 'failed',
        durationMs: deps.now() - started,
        detail: failure.detail,
        action: failure.action,
      });
    }
  }
  return { email: request.email, passed: !failed, steps };
}

class TestRun {
  private user: DirectoryUser | undefined;

  constructor(
    private readonly deps: ConnectivityDeps,
    private readonly email: string,
  ) {}

  step(name: ConnectivityStepName): Promise<StepResult> {
    switch (name) {
      case 'token':
        return this.token();
      case 'user':
        return this.resolveUser();
      case 'inbox':
        return this.inbox();
      case 'subscription':
        return this.subscription();
      case 'testMail':
        return this.testMail();
    }
  }

  private async token(): Promise<StepResult> {
    try {
      await this.deps.acquireToken();
    } catch (error) {
      const failure = tokenFailure(error);
      throw new StepFailure(failure.detail, failure.action);
    }
    return { detail: 'an app-only token for Microsoft Graph was issued' };
  }

  private async resolveUser(): Promise<StepResult> {
    const user = await this.requireUser();
    return { detail: `user ${user.userPrincipalName} (object id ${user.id})` };
  }

  /** The user, resolved once per test (a step run alone resolves it itself). */
  private async requireUser(): Promise<DirectoryUser> {
    if (this.user) return this.user;
    let user: DirectoryUser | undefined;
    try {
      user = await this.deps.directory.resolveUser(this.deps.tenantId, this.email);
    } catch (error) {
      throw this.graphFailure(error);
    }
    if (!user) throw new StepFailure(`no user ${this.email} in the tenant`, FAILURE_TEXT.user_not_found);
    this.user = user;
    return user;
  }

  private async inbox(): Promise<StepResult> {
    const user = await this.requireUser();
    try {
      await this.deps.directory.checkInbox(this.deps.tenantId, user.id);
    } catch (error) {
      throw this.graphFailure(error, user);
    }
    return { detail: 'the Inbox can be read (Mail.Read granted, mailbox in Exchange Online)' };
  }

  /**
   * Creates a 10-minute subscription on the user's Inbox to our notification URL, then deletes it
   * (always). Never GraphSubscriptions.create: on a 409 that returns the mailbox's real subscription,
   * which must not be touched. Its clientState is a throwaway: notifications for it reach the webhook
   * as an unknown subscription and are dropped.
   */
  private async subscription(): Promise<StepResult> {
    const user = await this.requireUser();
    const graph = this.deps.graph();
    const body = (notificationUrl: string) => ({
      changeType: 'created',
      resource: inboxMessagesResource(user.id),
      notificationUrl,
      clientState: randomBytes(24).toString('base64url'),
      expirationDateTime: new Date(this.deps.now() + TEST_SUBSCRIPTION_MINUTES * 60_000).toISOString(),
    });
    const started = this.deps.now();
    let response = await this.send(graph, body(this.deps.notificationUrl));
    if (response.status === 409) {
      // Graph refuses a second subscription with the same resource, changeType and URL (the real
      // one): the same endpoint with a query string is another URL to Graph and to nobody else.
      response = await this.send(graph, body(`${this.deps.notificationUrl}?connectivityTest=1`));
    }
    const handshakeMs = this.deps.now() - started;
    const id =
      response.status >= 200 && response.status < 300 && isRecord(response.body)
        ? response.body.id
        : undefined;
    if (typeof id === 'string') await this.deleteSubscription(graph, id);
    if (response.status >= 200 && response.status < 300) {
      return {
        handshakeMs,
        detail: `Graph validated ${this.deps.notificationUrl} and created a test subscription in ${handshakeMs} ms (deleted again)`,
      };
    }
    const error = graphErrorFromResponse('POST /subscriptions', response);
    const failure = this.deps.directory.classify(error, user);
    if (failure.kind === 'failed' && failure.failure === 'handshake_failed') {
      throw new StepFailure(
        failure.detail,
        `${FAILURE_TEXT.handshake_failed} Graph must reach ${this.deps.notificationUrl} over https and get the validationToken back within 10 seconds.`,
      );
    }
    throw this.graphFailure(error, user);
  }

  private async send(graph: GraphClient, body: unknown) {
    try {
      return await graph.send({ method: 'POST', path: '/subscriptions', body });
    } catch (error) {
      throw this.graphFailure(error);
    }
  }

  private async deleteSubscription(graph: GraphClient, id: string): Promise<void> {
    // Bounded retries: a left-over test subscription expires by itself within 10 minutes.
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        const response = await graph.send({
          method: 'DELETE',
          path: `/subscriptions/${encodeURIComponent(id)}`,
        });
        if (response.status < 300 || response.status === 404) return;
      } catch {
        // retried below
      }
      await this.deps.sleep(200 * (attempt + 1));
    }
  }

  private async testMail(): Promise<StepResult> {
    const mailbox = await this.deps.mailboxes.getMailbox(this.email);
    if (!mailbox) {
      throw new StepFailure(
        `${this.email} is not enrolled`,
        'Enrol the mailbox (POST /api/manage/mailboxes), let the maintenance timer create its subscription (state active), then test again.',
      );
    }
    const state = mailboxStateOf(mailbox);
    if (state !== 'active') {
      throw new StepFailure(
        `${this.email} is ${state}, not active: it has no subscription to notify us`,
        state === 'pending' || state === 'ews' || state === 'migrating'
          ? 'Wait for the maintenance timer (every 5 minutes) to make it active, then test again.'
          : 'See GET /api/manage/mailboxes/{email} for why, fix that, then re-queue it (POST /api/manage/migration/retry-failed).',
      );
    }
    const user = mailbox.userId ? { id: mailbox.userId } : await this.requireUser();
    const devices = await this.deps.devices.listDevices(this.email);
    const token = randomBytes(4).toString('hex');
    const subject = `[MailPush test ${token}] Connectivity test`;
    if (!CONNECTIVITY_TEST_SUBJECT.test(subject)) throw new Error('test marker does not match its pattern');
    const sentAt = this.deps.now();
    await this.sendMail(user.id, subject);
    if (devices.length === 0) {
      return {
        detail:
          'test mail sent; no device registered: nothing to buzz (register the app on a phone to follow a mail to the push)',
      };
    }
    const timeoutMs = this.deps.testMailTimeoutMs ?? DEFAULT_TEST_MAIL_TIMEOUT_MS;
    const poll = this.deps.pollIntervalMs ?? 500;
    const document = connectivityTestDocument(token);
    while (this.deps.now() - sentAt < timeoutMs) {
      await this.deps.sleep(poll);
      const mark = await this.deps.control.get<ConnectivityTestMark>(document);
      if (mark) {
        const latencyMs = Math.max(0, mark.value.pushedAt - sentAt);
        return {
          latencyMs,
          detail: `pushed to ${mark.value.devices} device(s) ${latencyMs} ms after sending: your phone should buzz now`,
        };
      }
    }
    throw new StepFailure(
      `the test mail (subject "${subject}") was sent but no push was recorded within ${Math.round(timeoutMs / 1000)} s`,
      "Check the mailbox's subscription (GET /api/manage/mailboxes/{email}: state active, expiry in the future), the status page's dead letters, and the notification-processor log for this subject's message; then test again.",
    );
  }

  private async sendMail(userId: string, subject: string): Promise<void> {
    const response = await this.deps
      .graph()
      .send({
        method: 'POST',
        path: `/users/${encodeURIComponent(userId)}/sendMail`,
        body: {
          message: {
            subject,
            body: {
              contentType: 'Text',
              content: 'Sent by the MailPush connectivity test. You can delete this message.',
            },
            toRecipients: [{ emailAddress: { address: this.email } }],
          },
          saveToSentItems: false,
        },
      })
      .catch((error: unknown) => {
        throw this.graphFailure(error);
      });
    if (response.status < 300) return;
    const error = graphErrorFromResponse(`POST /users/{id}/sendMail`, response);
    if (response.status === 403) {
      throw new StepFailure(
        oneLine(error.message),
        'Grant the app registration the Mail.Send application permission and admin consent (only the test mail needs it; Entra admin center → App registrations → API permissions), or run the test without a test mail.',
      );
    }
    throw this.graphFailure(error);
  }

  private graphFailure(error: unknown, user?: DirectoryUser): StepFailure {
    // A step run on its own gets its token through the Graph client: an Entra ID refusal then.
    if (/AADSTS\d+/.test(ensureError(error).message)) {
      const token = tokenFailure(error);
      return new StepFailure(token.detail, token.action);
    }
    const failure = this.deps.directory.classify(error, user);
    if (failure.kind === 'throttled') {
      return new StepFailure(
        failure.detail,
        `Graph is throttling or unavailable: try again in ${Math.ceil(failure.retryAfterMs / 1000)} s.`,
      );
    }
    const action = FAILURE_TEXT[failure.failure].replace('<app id>', this.deps.clientId);
    return new StepFailure(failure.detail, action);
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function oneLine(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > 500 ? `${flat.slice(0, 500)}…` : flat;
}
