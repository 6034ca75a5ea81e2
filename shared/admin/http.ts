/**
 * HTTP side of the admin API (`/api/manage/...`): authorisation, input checks and the mapping of
 * results and errors to responses, for the function files in functions/manage-*.ts. Every write
 * is audited with one log line: who, what, target, outcome — never a secret.
 *
 * The routes live under `manage/`, not `admin/`: the Functions host reserves routes and function
 * names starting with `admin` for its own admin API and refuses to register them.
 */
import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import { MAILBOX_STATES, type MailboxState } from '../domain/enrolment/states.js';
import { importFormatOf } from '../domain/enrolment/import.js';
import type { MailboxTransport, PrivacyMode } from '../domain/model.js';
import type { MailboxQuery } from '../domain/ports.js';
import type { BearerValidator } from '../devices/bearer.js';
import { AuthError } from '../devices/errors.js';
import { ValidationError, ensureError } from '../errors.js';
import { keyProblem } from '../store/keys.js';
import { isImportJobId } from '../store/import-job-store.js';
import { SECURITY_HEADERS, errorResponse, json, responseForError } from '../http/responses.js';
import { ForbiddenError, authorizeAdmin, type AdminPrincipal } from './auth.js';
import {
  ImportFormatError,
  enrolMailbox,
  getMailboxDetail,
  ImportStoppedError,
  importMailboxes,
  importProgress,
  listMailboxes,
  normaliseAddress,
  setMailboxPrivacy,
  unenrolMailbox,
  type ControlPlaneDeps,
} from './mailboxes.js';
import { migrationProgress, requeueFailed, setMigrationSwitch } from './migration.js';
import {
  CONNECTIVITY_STEPS,
  runConnectivityTest,
  type ConnectivityDeps,
  type ConnectivityStepName,
} from './connectivity.js';
import type { StatusDocument } from './status.js';

export interface AdminApiDeps {
  bearer: BearerValidator;
  controlPlane: ControlPlaneDeps;
  migrationBatchSize: number;
  /** The status page (StatusReporter: counts kept for a minute in this process). */
  status: { status(): Promise<StatusDocument> };
  connectivity: ConnectivityDeps;
}

type Dependencies = AdminApiDeps | Promise<AdminApiDeps>;

/** A small JSON body (enrol, patch, switch) is far below this. */
const MAX_JSON_BODY_BYTES = 16 * 1024;
/** An import of 100,000 rows is about 4 MiB of CSV; this leaves room for 1,000,000. */
export const MAX_IMPORT_BYTES = 64 * 1024 * 1024;
const TRANSPORTS: readonly MailboxTransport[] = ['graph', 'ews'];
const PRIVACY: readonly PrivacyMode[] = ['full', 'subject', 'minimal'];

interface Operation {
  /** For audit and error lines, e.g. `mailboxes.enrol`. */
  name: string;
  /** Writes are audited. */
  write: boolean;
  run(principal: AdminPrincipal, deps: AdminApiDeps): Promise<Result>;
}

interface Result {
  response: HttpResponseInit;
  /** The mailbox or setting acted on, for the audit line. */
  target?: string;
  /** A word for the audit line (`created`, `unchanged`, …); default the status. */
  outcome?: string;
}

async function handle(
  request: HttpRequest,
  context: InvocationContext,
  dependencies: Dependencies,
  op: Operation,
) {
  let principal: AdminPrincipal | undefined;
  try {
    const deps = await dependencies;
    principal = await authorizeAdmin(deps.bearer, request.headers.get('authorization'));
    const result = await op.run(principal, deps);
    if (op.write)
      audit(
        context,
        principal,
        op.name,
        result.target,
        result.outcome ?? String(result.response.status ?? 200),
      );
    return result.response;
  } catch (error) {
    const response = adminErrorResponse(error, context, op.name);
    if (op.write && principal)
      audit(
        context,
        principal,
        op.name,
        undefined,
        `refused ${response.status ?? 500}` +
          (error instanceof ImportStoppedError
            ? `; job ${error.jobId} already queued ${error.queuedRows} rows`
            : ''),
      );
    return response;
  }
}

function audit(
  context: InvocationContext,
  principal: AdminPrincipal,
  action: string,
  target: string | undefined,
  outcome: string,
): void {
  context.info(
    `audit: ${JSON.stringify({ who: principal.name, oid: principal.objectId, kind: principal.kind, action, ...(target ? { target } : {}), outcome })}`,
  );
}

/** 401 with WWW-Authenticate, 403 naming the missing role, else the app-wide mapping. */
export function adminErrorResponse(
  error: unknown,
  context: InvocationContext,
  operation: string,
): HttpResponseInit {
  if (error instanceof AuthError) {
    context.info(`manage ${operation}: 401 ${error.code}`);
    const challenge =
      error.code === 'missing_token'
        ? 'Bearer'
        : `Bearer error="invalid_token", error_description="${error.message.replace(/["\\]/g, '')}"`;
    return {
      ...errorResponse(401, error.code, error.message),
      headers: { ...SECURITY_HEADERS, 'WWW-Authenticate': challenge },
    };
  }
  if (error instanceof ForbiddenError) {
    context.info(`manage ${operation}: 403 missing role`);
    return errorResponse(403, error.code, error.message);
  }
  if (error instanceof ImportFormatError) return errorResponse(400, 'invalid_import', error.message);
  if (error instanceof ImportStoppedError) {
    // Rows already queued will still be written: the answer names the job to follow.
    const inner = adminErrorResponse(error.cause, context, operation);
    const body = inner.jsonBody as { error: { code: string; message: string } };
    const location = importLocation(error.jobId);
    return {
      ...inner,
      jsonBody: {
        error: {
          ...body.error,
          message: `${body.error.message} ${error.queuedRows} rows were already queued as import job ${error.jobId} and will still be written: follow ${location}, then import the whole file again (rows already enrolled are left as they are).`,
        },
        job: { id: error.jobId, queuedRows: error.queuedRows, location },
      },
      headers: { ...(inner.headers as Record<string, string>), Location: location },
    };
  }
  const response = responseForError(error);
  if ((response.status ?? 500) >= 500) {
    const err = ensureError(error);
    context.error(`manage ${operation}: ${response.status}: ${err.name}: ${err.message}`);
  }
  return response;
}

// ---------------------------------------------------------------------------------------------
// Mailboxes

/** `POST /api/manage/mailboxes` `{ email, transport?, privacy? }`: 201 enrolled, 200 already was. */
export function handleEnrolMailbox(request: HttpRequest, context: InvocationContext, deps: Dependencies) {
  return handle(request, context, deps, {
    name: 'mailboxes.enrol',
    write: true,
    async run(_principal, { controlPlane }) {
      const body = await readJsonObject(request);
      const email = normaliseAddress(body.email);
      const transport = optionalOneOf(body.transport, TRANSPORTS, 'transport');
      const privacy = optionalOneOf(body.privacy, PRIVACY, 'privacy');
      onlyFields(body, ['email', 'transport', 'privacy']);
      const { created, mailbox } = await enrolMailbox(controlPlane, {
        email,
        ...(transport ? { transport } : {}),
        ...(privacy ? { privacy } : {}),
        source: 'api',
      });
      return {
        response: json(created ? 201 : 200, mailbox, created ? { Location: mailboxLocation(email) } : {}),
        target: email,
        outcome: created ? 'created' : 'unchanged',
      };
    },
  });
}

/**
 * `POST /api/manage/mailboxes/import`: CSV (header required) or JSON lines, streamed. Up to
 * IMPORT_SYNC_MAX_ROWS valid rows are written at once (200, per-row outcomes); a larger upload, or
 * one sent with `Prefer: respond-async`, becomes an import job: 202 with the invalid rows and a
 * Location to follow (`GET /api/manage/imports/{id}`) while the queue trigger writes it.
 */
export function handleImportMailboxes(request: HttpRequest, context: InvocationContext, deps: Dependencies) {
  return handle(request, context, deps, {
    name: 'mailboxes.import',
    write: true,
    async run(principal, { controlPlane }) {
      const declared = Number(request.headers.get('content-length') ?? '0');
      if (declared > MAX_IMPORT_BYTES)
        throw new ValidationError(
          `An import must be at most ${MAX_IMPORT_BYTES} bytes.`,
          'payload_too_large',
        );
      const lines = linesOf(request);
      const first = await lines.next();
      if (first.done)
        throw new ValidationError('The upload is empty: send CSV with a header row, or JSON lines.');
      const format = importFormatOf(request.headers.get('content-type'), first.value);
      const started = Date.now();
      const preferAsync = /\brespond-async\b/i.test(request.headers.get('prefer') ?? '');
      const result = await importMailboxes(controlPlane, prepend(first.value, lines), format, {
        async: preferAsync,
        by: principal.name,
      });
      const { report } = result;
      if (result.mode === 'job') {
        const location = importLocation(result.job.id);
        return {
          response: json(
            202,
            {
              ...report,
              job: { id: result.job.id, status: 'writing', chunks: result.job.chunks, location },
              queued: result.job.queuedRows,
              durationMs: Date.now() - started,
            },
            {
              Location: location,
              'Retry-After': '5',
              ...(preferAsync ? { 'Preference-Applied': 'respond-async' } : {}),
            },
          ),
          target: `${report.rows} rows`,
          outcome: `job ${result.job.id}: queued ${result.job.queuedRows}, invalid ${report.invalid}`,
        };
      }
      return {
        response: json(200, { ...report, durationMs: Date.now() - started }),
        target: `${report.rows} rows`,
        outcome: `accepted ${report.accepted}, unchanged ${report.unchanged}, invalid ${report.invalid}`,
      };
    },
  });
}

/** `GET /api/manage/imports/{id}`: an import job's progress and outcome. */
export function handleGetImport(request: HttpRequest, context: InvocationContext, deps: Dependencies) {
  return handle(request, context, deps, {
    name: 'imports.get',
    write: false,
    async run(_principal, { controlPlane }) {
      const id = (request.params['id'] ?? '').toLowerCase();
      if (!isImportJobId(id))
        throw new ValidationError('The import id is the 32 hexadecimal characters a 202 answer named.');
      const progress = await importProgress(controlPlane, id);
      return {
        response: json(
          200,
          progress,
          progress.status === 'writing' || progress.status === 'receiving' ? { 'Retry-After': '5' } : {},
        ),
      };
    },
  });
}

function importLocation(id: string): string {
  return `/api/manage/imports/${id}`;
}

/** `GET /api/manage/mailboxes?state=&transport=&prefix=&migratedSince=&continuationToken=&pageSize=&format=csv` */
export function handleListMailboxes(request: HttpRequest, context: InvocationContext, deps: Dependencies) {
  return handle(request, context, deps, {
    name: 'mailboxes.list',
    write: false,
    async run(_principal, { controlPlane }) {
      const q = request.query;
      const state: MailboxState | undefined = optionalOneOf(
        q.get('state') ?? undefined,
        MAILBOX_STATES,
        'state',
      );
      const transport = optionalOneOf(q.get('transport') ?? undefined, TRANSPORTS, 'transport');
      const prefix = q.get('prefix')?.trim().toLowerCase();
      if (prefix !== undefined && (prefix.length > 254 || keyProblem(prefix) !== undefined)) {
        throw new ValidationError('prefix must be the start of an address (no /, \\, #, ?).');
      }
      const migratedSince = q.get('migratedSince') ?? undefined;
      if (migratedSince !== undefined && Number.isNaN(Date.parse(migratedSince))) {
        throw new ValidationError('migratedSince must be an ISO 8601 time, e.g. 2026-12-01T00:00:00Z.');
      }
      const pageSize = q.get('pageSize') === null ? 100 : Number(q.get('pageSize'));
      if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > 1000)
        throw new ValidationError('pageSize must be a whole number from 1 to 1000.');
      const query: MailboxQuery = {
        ...(state ? { state } : {}),
        ...(transport ? { transport } : {}),
        ...(prefix ? { prefix } : {}),
        ...(migratedSince ? { migratedSince: new Date(migratedSince).toISOString() } : {}),
        pageSize,
      };
      if (q.get('format') === 'csv') return { response: await exportCsv(controlPlane, query) };
      const token = q.get('continuationToken');
      const page = await listMailboxes(controlPlane, {
        ...query,
        ...(token ? { continuationToken: token } : {}),
      });
      return { response: json(200, page) };
    },
  });
}

/**
 * Every matching mailbox as CSV (`email,transport,state,migratedAt,userPrincipalName`), e.g. the
 * migrated ones to remove from the old server: `?transport=graph&migratedSince=…&format=csv`.
 */
async function exportCsv(controlPlane: ControlPlaneDeps, query: MailboxQuery): Promise<HttpResponseInit> {
  const lines = ['email,transport,state,migratedAt,userPrincipalName'];
  let continuationToken: string | undefined;
  do {
    const page = await listMailboxes(controlPlane, {
      ...query,
      pageSize: 1000,
      ...(continuationToken ? { continuationToken } : {}),
    });
    for (const m of page.mailboxes) {
      lines.push(
        [m.email, m.transport, m.state, m.migratedAt ?? '', m.userPrincipalName ?? '']
          .map(csvField)
          .join(','),
      );
    }
    continuationToken = page.continuationToken;
  } while (continuationToken);
  return {
    status: 200,
    body: `${lines.join('\n')}\n`,
    headers: {
      ...SECURITY_HEADERS,
      'Content-Type': 'text/csv; charset=utf-8',
      'Content-Disposition': 'attachment; filename="mailboxes.csv"',
    },
  };
}

/** `GET /api/manage/mailboxes/{email}`: detail with subscription expiry, last error, attempts, device count. */
export function handleGetMailbox(request: HttpRequest, context: InvocationContext, deps: Dependencies) {
  return handle(request, context, deps, {
    name: 'mailboxes.get',
    write: false,
    async run(_principal, { controlPlane }) {
      return {
        response: json(200, await getMailboxDetail(controlPlane, normaliseAddress(request.params['email']))),
      };
    },
  });
}

/** `PATCH /api/manage/mailboxes/{email}` `{ privacy: "full" | "subject" | "minimal" | null }` */
export function handlePatchMailbox(request: HttpRequest, context: InvocationContext, deps: Dependencies) {
  return handle(request, context, deps, {
    name: 'mailboxes.patch',
    write: true,
    async run(_principal, { controlPlane }) {
      const email = normaliseAddress(request.params['email']);
      const body = await readJsonObject(request);
      onlyFields(body, ['privacy']);
      if (!('privacy' in body))
        throw new ValidationError(
          'Nothing to change: send { "privacy": "full" | "subject" | "minimal" | null }.',
        );
      const privacy = body.privacy === null ? null : optionalOneOf(body.privacy, PRIVACY, 'privacy')!;
      const mailbox = await setMailboxPrivacy(controlPlane, email, privacy);
      return { response: json(200, mailbox), target: email, outcome: `privacy ${privacy ?? 'default'}` };
    },
  });
}

/** `DELETE /api/manage/mailboxes/{email}`: 204 (also when it was not enrolled). */
export function handleDeleteMailbox(request: HttpRequest, context: InvocationContext, deps: Dependencies) {
  return handle(request, context, deps, {
    name: 'mailboxes.unenrol',
    write: true,
    async run(_principal, { controlPlane }) {
      const email = normaliseAddress(request.params['email']);
      const { removed } = await unenrolMailbox(controlPlane, email);
      return {
        response: { status: 204, headers: { ...SECURITY_HEADERS } },
        target: email,
        outcome: removed ? 'removed' : 'not enrolled',
      };
    },
  });
}

// ---------------------------------------------------------------------------------------------
// Migration

/** `GET /api/manage/migration`: switch, remaining, per-run rate, ETA, last run, next run. */
export function handleGetMigration(request: HttpRequest, context: InvocationContext, deps: Dependencies) {
  return handle(request, context, deps, {
    name: 'migration.get',
    write: false,
    async run(_principal, { controlPlane, migrationBatchSize }) {
      return {
        response: json(200, await migrationProgress(controlPlane, { batchSize: migrationBatchSize })),
      };
    },
  });
}

/** `PUT /api/manage/migration` `{ enabled: boolean }`: the "Use Microsoft Graph" switch. */
export function handlePutMigration(request: HttpRequest, context: InvocationContext, deps: Dependencies) {
  return handle(request, context, deps, {
    name: 'migration.switch',
    write: true,
    async run(principal, { controlPlane }) {
      const body = await readJsonObject(request);
      onlyFields(body, ['enabled']);
      if (typeof body.enabled !== 'boolean') throw new ValidationError('enabled must be true or false.');
      const value = await setMigrationSwitch(
        controlPlane.control,
        body.enabled,
        principal.name,
        controlPlane.now(),
      );
      return { response: json(200, value), target: 'migration', outcome: body.enabled ? 'on' : 'off' };
    },
  });
}

/** `POST /api/manage/migration/retry-failed` `{ includeOnPremises?: boolean }` */
export function handleRetryFailed(request: HttpRequest, context: InvocationContext, deps: Dependencies) {
  return handle(request, context, deps, {
    name: 'migration.retry-failed',
    write: true,
    async run(_principal, { controlPlane }) {
      const body =
        (request.headers.get('content-length') ?? '0') === '0' ? {} : await readJsonObject(request);
      onlyFields(body, ['includeOnPremises']);
      if (body.includeOnPremises !== undefined && typeof body.includeOnPremises !== 'boolean') {
        throw new ValidationError('includeOnPremises must be true or false.');
      }
      const result = await requeueFailed(controlPlane, {
        includeOnPremises: body.includeOnPremises === true,
      });
      return {
        response: json(200, result),
        target: 'failed mailboxes',
        outcome: `requeued ${result.requeued}`,
      };
    },
  });
}

// ---------------------------------------------------------------------------------------------
// Input

function mailboxLocation(email: string): string {
  return `/api/manage/mailboxes/${encodeURIComponent(email)}`;
}

async function readJsonObject(request: HttpRequest): Promise<Record<string, unknown>> {
  const contentType = (request.headers.get('content-type') ?? '').toLowerCase();
  if (!/^application\/(.+\+)?json\b/.test(contentType)) {
    throw new ValidationError('Content-Type must be application/json.', 'unsupported_media_type');
  }
  const declared = Number(request.headers.get('content-length') ?? '0');
  if (declared > MAX_JSON_BODY_BYTES)
    throw new ValidationError(`Body must be at most ${MAX_JSON_BODY_BYTES} bytes.`, 'payload_too_large');
  const raw = Buffer.from(await request.arrayBuffer());
  if (raw.byteLength > MAX_JSON_BODY_BYTES)
    throw new ValidationError(`Body must be at most ${MAX_JSON_BODY_BYTES} bytes.`, 'payload_too_large');
  let value: unknown;
  try {
    value = JSON.parse(raw.toString('utf8'));
  } catch {
    throw new ValidationError('Body is not valid JSON.', 'invalid_json');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new ValidationError('Body must be a JSON object.');
  return value as Record<string, unknown>;
}

function onlyFields(body: Record<string, unknown>, allowed: readonly string[]): void {
  const unknown = Object.keys(body).find((key) => !allowed.includes(key));
  if (unknown !== undefined)
    throw new ValidationError(`Unknown field "${unknown.slice(0, 40)}": expected ${allowed.join(', ')}.`);
}

function optionalOneOf<T extends string>(value: unknown, allowed: readonly T[], name: string): T | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    throw new ValidationError(`${name} must be one of ${allowed.join(', ')}.`);
  }
  return value as T;
}

function csvField(value: string): string {
  return /[",\n\r]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}

/** The body's lines, decoded as UTF-8 while it streams in (never the whole upload in one string). */
async function* linesOfBody(request: HttpRequest): AsyncGenerator<string> {
  const decoder = new TextDecoder('utf-8', { fatal: false });
  let pending = '';
  let size = 0;
  const body = request.body;
  if (!body) return;
  for await (const chunk of body as AsyncIterable<Uint8Array>) {
    size += chunk.byteLength;
    if (size > MAX_IMPORT_BYTES)
      throw new ValidationError(`An import must be at most ${MAX_IMPORT_BYTES} bytes.`, 'payload_too_large');
    pending += decoder.decode(chunk, { stream: true });
    let newline = pending.indexOf('\n');
    while (newline >= 0) {
      yield pending.slice(0, newline);
      pending = pending.slice(newline + 1);
      newline = pending.indexOf('\n');
    }
  }
  pending += decoder.decode();
  if (pending !== '') yield pending;
}

function linesOf(request: HttpRequest): AsyncGenerator<string> {
  return linesOfBody(request);
}

async function* prepend(first: string, rest: AsyncIterator<string>): AsyncGenerator<string> {
  yield first;
  for (;;) {
    const next = await rest.next();
    if (next.done) return;
    yield next.value;
  }
}

// ---------------------------------------------------------------------------------------------
// Status and connectivity test

/** `GET /api/manage/status`: verdict with reasons, credential card, counts, timer, migration, dead letters. */
export function handleGetStatus(request: HttpRequest, context: InvocationContext, deps: Dependencies) {
  return handle(request, context, deps, {
    name: 'status.get',
    write: false,
    async run(_principal, { status }) {
      return { response: json(200, await status.status()) };
    },
  });
}

/**
 * `POST /api/manage/connectivity-test` `{ email, sendTestMail?, steps? }`: 200 with each step's
 * outcome (a failed step is an answer, not an error). Audited: it creates a subscription and may
 * send a mail.
 */
export function handleConnectivityTest(request: HttpRequest, context: InvocationContext, deps: Dependencies) {
  return handle(request, context, deps, {
    name: 'connectivity.test',
    write: true,
    async run(_principal, { connectivity }) {
      const body = await readJsonObject(request);
      onlyFields(body, ['email', 'sendTestMail', 'steps']);
      const email = normaliseAddress(body.email);
      if (body.sendTestMail !== undefined && typeof body.sendTestMail !== 'boolean')
        throw new ValidationError('sendTestMail must be true or false.');
      const steps = optionalSteps(body.steps);
      const report = await runConnectivityTest(connectivity, {
        email,
        ...(body.sendTestMail === true ? { sendTestMail: true } : {}),
        ...(steps ? { steps } : {}),
      });
      const failed = report.steps.find((s) => s.status === 'failed');
      return {
        response: json(200, report),
        target: email,
        outcome: failed ? `failed at ${failed.name}` : 'passed',
      };
    },
  });
}

function optionalSteps(value: unknown): ConnectivityStepName[] | undefined {
  if (value === undefined) return undefined;
  const allowed = CONNECTIVITY_STEPS as readonly string[];
  if (
    !Array.isArray(value) ||
    value.length === 0 ||
    value.some((step) => typeof step !== 'string' || !allowed.includes(step)) ||
    new Set(value).size !== value.length
  ) {
    throw new ValidationError(
      `steps must be a non-empty list of distinct step names: ${CONNECTIVITY_STEPS.join(', ')}.`,
    );
  }
  return value as ConnectivityStepName[];
}
