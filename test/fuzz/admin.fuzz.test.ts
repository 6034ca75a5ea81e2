/**
 * Property tests of the admin API's bodies and query strings (handlers driven with real
 * HttpRequest objects on in-memory control-plane ports) and of the import parser. Bad input is a
 * 400 with `{ error: { code, message } }` and writes nothing; nothing is ever a 5xx.
 */
import fc from 'fast-check';
import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import {
  handleEnrolMailbox,
  handleImportMailboxes,
  handleListMailboxes,
  handlePatchMailbox,
  handlePutMigration,
  handleRetryFailed,
  type AdminApiDeps,
} from '../../shared/admin/http.js';
import type { ControlPlaneDeps } from '../../shared/admin/mailboxes.js';
import { ADMIN_ROLE } from '../../shared/admin/settings.js';
import type { DevicePrincipal } from '../../shared/devices/bearer.js';
import { ImportFormatError, ImportParser } from '../../shared/domain/enrolment/import.js';
import {
  InMemoryMailboxStore,
  InMemoryWorkQueue,
  SimulatedDirectory,
} from '../../shared/domain/enrolment/in-memory.js';
import { mailboxStateOf } from '../../shared/domain/enrolment/states.js';
import type { MailboxRecord } from '../../shared/domain/model.js';
import type { ControlStorePort, MailboxPage, MailboxQuery } from '../../shared/domain/ports.js';
import { createTableStores, type TableStores } from '../../shared/store/index.js';
import { workKeyFor } from '../../shared/store/work-queue-store.js';
import { InMemoryDeviceStore, RecordingPushProvider } from '../unit/devices/fakes.js';
import {
  anyFieldValue,
  anyJson,
  anyString,
  errorOf,
  fuzz,
  httpRequest,
  mutateOneField,
  recordingContext,
} from '../support/fuzz.js';

const NOW = Date.parse('2026-12-01T09:00:00Z');
const TENANT = '9188040d-6c67-4c5b-b112-36a304b66dad';
const ADMIN: DevicePrincipal = {
  objectId: 'a0a0a0a0-0000-4000-8000-000000000001',
  tenantId: TENANT,
  username: 'ops@contoso.example',
  mailboxCandidates: ['ops@contoso.example'],
  scopes: ['Admin.ReadWrite'],
  roles: [ADMIN_ROLE],
  appId: undefined,
};
const ADMIN_CODES = ['invalid_request', 'invalid_json', 'unsupported_media_type', 'payload_too_large'];

/** Mailboxes with a scan for the admin list (the Table adapter pages; one page is enough here). */
class ListableMailboxStore extends InMemoryMailboxStore {
  async listMailboxes(query: MailboxQuery = {}): Promise<MailboxPage> {
    const mailboxes = this.all().filter(
      (m) =>
        (!query.state || mailboxStateOf(m) === query.state) &&
        (!query.transport || m.transport === query.transport) &&
        (!query.prefix || m.email.startsWith(query.prefix)),
    );
    return { mailboxes: mailboxes.slice(0, query.pageSize ?? 100) };
  }
}

class RecordingControlStore implements ControlStorePort {
  readonly docs = new Map<string, unknown>();
  async get<T>(name: string) {
    return this.docs.has(name) ? { value: this.docs.get(name) as T, etag: '*' } : undefined;
  }
  async put<T>(name: string, value: T): Promise<void> {
    this.docs.set(name, value);
  }
}

function record(email: string, extra: Partial<MailboxRecord> = {}): MailboxRecord {
  return {
    email,
    tenantId: TENANT,
    transport: 'graph',
    createdAt: '2026-11-01T00:00:00.000Z',
    updatedAt: '2026-11-01T00:00:00.000Z',
    ...extra,
  };
}

async function setup() {
  const mailboxes = new ListableMailboxStore();
  await mailboxes.insertMailbox(record('adele@contoso.example', { state: 'active', userId: 'u1' }));
  await mailboxes.insertMailbox(
    record('lee@contoso.example', { state: 'failed', failure: 'user_not_found', attempts: 3 }),
  );
  const work = new InMemoryWorkQueue();
  const control = new RecordingControlStore();
  const directory = new SimulatedDirectory();
  const controlPlane: ControlPlaneDeps = {
    tenantId: TENANT,
    now: () => NOW,
    mailboxes,
    work,
    control,
    directory,
    subscriptions: { getSubscription: async () => undefined, deleteSubscription: async () => {} },
    devices: new InMemoryDeviceStore(),
    push: new RecordingPushProvider(),
    workKeyFor,
  };
  const deps: AdminApiDeps = {
    bearer: { validate: async () => ADMIN },
    controlPlane,
    migrationBatchSize: 50,
    status: {
      status: () => Promise.reject(new Error('not used')),
    },
    connectivity: {} as AdminApiDeps['connectivity'],
  };
  /** Everything a handler could have written, to compare before and after. */
  const state = () =>
    JSON.stringify({
      mailboxes: mailboxes.all(),
      create: work.items('create'),
      migrate: work.items('migrate'),
      control: [...control.docs],
    });
  return { deps, state, mailboxes, work, control };
}

type Handler = (
  request: HttpRequest,
  context: InvocationContext,
  deps: AdminApiDeps,
) => Promise<HttpResponseInit>;

async function call(handler: Handler, init: Parameters<typeof httpRequest>[0]) {
  const { deps, state } = await setup();
  const before = state();
  const { context } = recordingContext('manage');
  const response = await handler(
    httpRequest({ headers: { 'content-type': 'application/json', authorization: 'Bearer t' }, ...init }),
    context,
    deps,
  );
  return { response, wrote: state() !== before };
}

/** The documented contract of every admin write for bad input. */
function expectRefusedOrDone(
  result: { response: HttpResponseInit; wrote: boolean },
  codes: readonly string[] = ADMIN_CODES,
): void {
  const status = result.response.status ?? 200;
  expect(status).toBeLessThan(500);
  if (status >= 400) {
    const error = errorOf(result.response);
    expect(error).toBeDefined();
    expect(codes).toContain(error?.code);
    expect(result.wrote).toBe(false);
  }
}

const jsonBodies = fc.oneof(
  anyString,
  anyJson.map((j) => JSON.stringify(j)),
  fc.dictionary(anyString, anyFieldValue, { maxKeys: 4 }).map((d) => JSON.stringify(d)),
);

describe('POST /api/manage/mailboxes (enrol)', () => {
  const valid = { email: 'megan@contoso.example', transport: 'ews', privacy: 'minimal' };

  it('any body: 400 and no write, or enrolled (201) / the user is unknown (404)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          jsonBodies,
          mutateOneField(valid).map((m) => JSON.stringify(m.value)),
        ),
        async (body) => {
          const result = await call(handleEnrolMailbox, { body });
          expectRefusedOrDone(result, [...ADMIN_CODES, 'user_not_found']);
          if (result.response.status === 404) expect(result.wrote).toBe(false);
        },
      ),
      fuzz(300),
    );
  });

  it('a valid body with one field mutated is refused with invalid_request unless still valid', async () => {
    await fc.assert(
      fc.asyncProperty(mutateOneField(valid), async ({ field, value }) => {
        const result = await call(handleEnrolMailbox, { body: JSON.stringify(value) });
        expectRefusedOrDone(result);
        const ok = [200, 201].includes(result.response.status ?? 0);
        if (
          field !== 'email' &&
          value[field] !== undefined &&
          value[field] !== valid[field as keyof typeof valid]
        )
          expect(ok).toBe(false);
      }),
      fuzz(300),
    );
  });
});

describe('PATCH /api/manage/mailboxes/{email}', () => {
  it('any address and body: 400 without a write, 404, or 200', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(anyString, fc.constant('adele@contoso.example'), fc.constant('ADELE@contoso.example ')),
        fc.oneof(
          jsonBodies,
          fc.record({ privacy: anyFieldValue }).map((b) => JSON.stringify(b)),
          fc.constantFrom('{"privacy":null}', '{"privacy":"subject"}', '{}'),
        ),
        async (email, body) => {
          const result = await call(handlePatchMailbox, { method: 'PATCH', params: { email }, body });
          expectRefusedOrDone(result, [...ADMIN_CODES, 'not_found']);
          if (result.response.status === 404) expect(result.wrote).toBe(false);
        },
      ),
      fuzz(300),
    );
  });
});

describe('PUT /api/manage/migration', () => {
  it('any body other than { enabled: boolean }: 400 and the switch is not written', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          jsonBodies,
          fc.record({ enabled: anyFieldValue }).map((b) => JSON.stringify(b)),
        ),
        async (body) => {
          const result = await call(handlePutMigration, { method: 'PUT', body });
          expectRefusedOrDone(result);
          let parsed: unknown;
          try {
            parsed = JSON.parse(body);
          } catch {
            parsed = undefined;
          }
          const valid =
            typeof parsed === 'object' &&
            parsed !== null &&
            !Array.isArray(parsed) &&
            Object.keys(parsed).every((k) => k === 'enabled') &&
            typeof (parsed as { enabled?: unknown }).enabled === 'boolean';
          expect(result.response.status).toBe(valid ? 200 : 400);
        },
      ),
      fuzz(300),
    );
  });
});

describe('POST /api/manage/migration/retry-failed', () => {
  it('any body: 400 without a write, or 200', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          jsonBodies,
          fc.record({ includeOnPremises: anyFieldValue }).map((b) => JSON.stringify(b)),
        ),
        fc.boolean(),
        async (body, declareLength) => {
          const result = await call(handleRetryFailed, {
            body,
            ...(declareLength
              ? {
                  headers: {
                    'content-type': 'application/json',
                    authorization: 'Bearer t',
                    'content-length': String(Buffer.byteLength(body)),
                  },
                }
              : {}),
          });
          expectRefusedOrDone(result);
        },
      ),
      fuzz(300),
    );
  });
});

describe('GET /api/manage/mailboxes (query strings)', () => {
  const param = fc.oneof(
    anyString,
    fc.constantFrom(
      '',
      'active',
      'failed',
      'graph',
      'ews',
      '0',
      '1',
      '1000',
      '1001',
      '-1',
      '1e3',
      'csv',
      'a@b',
    ),
  );
  it('any query: 400 invalid_request or 200, never a 5xx', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.record(
          {
            state: param,
            transport: param,
            prefix: param,
            migratedSince: fc.oneof(
              param,
              fc.date().map((d) => (Number.isNaN(d.getTime()) ? 'x' : d.toISOString())),
            ),
            pageSize: param,
            continuationToken: param,
            format: param,
          },
          { requiredKeys: [] },
        ),
        async (query) => {
          const result = await call(handleListMailboxes, { method: 'GET', query });
          expectRefusedOrDone(result, ['invalid_request']);
          expect([200, 400]).toContain(result.response.status ?? 200);
        },
      ),
      fuzz(400),
    );
  });
});

describe('GET /api/manage/mailboxes?continuationToken= on the Table store (Azurite)', () => {
  let stores: TableStores;
  beforeAll(async () => {
    stores = createTableStores({
      connectionString: inject('tablesConnectionString'),
      tablePrefix: `fz${Date.now().toString(36)}`,
    });
    await stores.ensureTables();
    for (const email of ['a1@contoso.example', 'a2@contoso.example', 'a3@contoso.example'])
      await stores.mailboxes.insertMailbox(record(email));
  });

  const b64 = (text: string) => Buffer.from(text, 'latin1').toString('base64');
  const token = fc.oneof(
    anyString,
    fc.base64String({ maxLength: 60 }),
    anyJson.map((j) => b64(JSON.stringify(j))),
    fc
      .record({ nextPartitionKey: anyFieldValue, nextRowKey: anyFieldValue }, { requiredKeys: [] })
      .map((j) => b64(JSON.stringify(j))),
  );

  it('a continuation token the API never issued is a 400, never a 5xx', async () => {
    await fc.assert(
      fc.asyncProperty(token, async (continuationToken) => {
        const { deps } = await setup();
        const { context } = recordingContext('manage');
        const res = await handleListMailboxes(
          httpRequest({
            method: 'GET',
            headers: { authorization: 'Bearer t' },
            query: { continuationToken, pageSize: '1' },
          }),
          context,
          { ...deps, controlPlane: { ...deps.controlPlane, mailboxes: stores.mailboxes } },
        );
        expect([200, 400]).toContain(res.status ?? 200);
        if (res.status === 400) expect(errorOf(res)?.code).toBe('invalid_request');
      }),
      fuzz(60),
    );
  });

  it('the tokens it does issue page through every mailbox', async () => {
    const { deps } = await setup();
    const seen: string[] = [];
    let continuationToken: string | undefined;
    do {
      const { context } = recordingContext('manage');
      const res = await handleListMailboxes(
        httpRequest({
          method: 'GET',
          headers: { authorization: 'Bearer t' },
          query: { pageSize: '1', ...(continuationToken ? { continuationToken } : {}) },
        }),
        context,
        { ...deps, controlPlane: { ...deps.controlPlane, mailboxes: stores.mailboxes } },
      );
      expect(res.status).toBe(200);
      const page = res.jsonBody as { mailboxes: { email: string }[]; continuationToken?: string };
      seen.push(...page.mailboxes.map((m) => m.email));
      continuationToken = page.continuationToken;
    } while (continuationToken);
    expect(seen).toEqual(['a1@contoso.example', 'a2@contoso.example', 'a3@contoso.example']);
  });
});

describe('POST /api/manage/mailboxes/import', () => {
  it('any upload: 200 with per-row outcomes, or 400 (invalid_import, empty) and nothing written', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.oneof(anyString, fc.constantFrom('email', 'email,transport', 'x@y.z,ews', '{"email":"a@b.c"}')),
          {
            maxLength: 8,
          },
        ),
        fc.constantFrom('text/csv', 'application/x-ndjson', 'application/json', ''),
        async (lines, contentType) => {
          const body = lines.join('\n');
          const { deps, state } = await setup();
          const before = state();
          const { context } = recordingContext('manage');
          const res = await handleImportMailboxes(
            httpRequest({ headers: { 'content-type': contentType, authorization: 'Bearer t' }, body }),
            context,
            deps,
          );
          const status = res.status ?? 200;
          expect([200, 400]).toContain(status);
          if (status === 400) {
            expect(['invalid_import', 'invalid_request']).toContain(errorOf(res)?.code);
            expect(state()).toBe(before);
          } else {
            const report = res.jsonBody as {
              rows: number;
              accepted: number;
              unchanged: number;
              invalid: number;
            };
            expect(report.accepted + report.unchanged + report.invalid).toBe(report.rows);
          }
        },
      ),
      fuzz(200),
    );
  });
});

describe('ImportParser', () => {
  const csvLine = fc.oneof(
    anyString,
    fc
      .array(fc.oneof(anyString, fc.constantFrom('a@b.co', 'graph', 'ews', 'full', '"x,y"', '""', '"')), {
        maxLength: 4,
      })
      .map((f) => f.join(',')),
  );
  const jsonLine = fc.oneof(
    anyString,
    anyJson.map((j) => JSON.stringify(j)),
    fc
      .record(
        { email: anyFieldValue, transport: anyFieldValue, privacy: anyFieldValue },
        { requiredKeys: [] },
      )
      .map((r) => JSON.stringify(r)),
  );

  it('every line gives a row, an error or a skip, numbered 1, 2, 3…; only a bad CSV header throws ImportFormatError', () => {
    fc.assert(
      fc.property(
        fc.constantFrom('csv' as const, 'jsonl' as const),
        fc.option(fc.constantFrom('email', 'Email, Transport ,privacy', 'privacy,email'), { nil: undefined }),
        fc.array(fc.oneof(csvLine, jsonLine), { maxLength: 12 }),
        (format, header, lines) => {
          const parser = new ImportParser(format);
          const all = header !== undefined && format === 'csv' ? [header, ...lines] : lines;
          let headerSeen = false;
          all.forEach((line, i) => {
            let parsed;
            try {
              parsed = parser.line(line);
            } catch (error) {
              expect(error).toBeInstanceOf(ImportFormatError);
              // Only the first non-blank CSV line is the header.
              expect(format).toBe('csv');
              expect(headerSeen).toBe(false);
              return;
            }
            expect(parser.lines).toBe(i + 1);
            if (format === 'csv' && parsed.kind !== 'skip' && !headerSeen && parsed.kind !== 'error')
              throw new Error('a CSV data row before the header');
            if (format === 'csv' && parsed.kind === 'skip' && line.replace(/^\uFEFF/, '').trim() !== '')
              headerSeen = true;
            if (parsed.kind === 'row') {
              expect(parsed.value.row).toBe(i + 1);
              expect(parsed.value.email).toMatch(/^[^\s@/\\#?]+@[^\s@/\\#?]+\.[^\s@/\\#?]+$/);
              expect(parsed.value.email.length).toBeLessThanOrEqual(254);
              expect(['graph', 'ews']).toContain(parsed.value.transport);
            }
            if (parsed.kind === 'error') {
              expect(parsed.value.row).toBe(i + 1);
              expect(parsed.value.reason.length).toBeGreaterThan(0);
            }
          });
        },
      ),
      fuzz(500),
    );
  });

  it('JSON lines never throw, whatever the line', () => {
    fc.assert(
      fc.property(fc.array(jsonLine, { maxLength: 10 }), (lines) => {
        const parser = new ImportParser('jsonl');
        for (const line of lines) expect(['row', 'error', 'skip']).toContain(parser.line(line).kind);
        expect(parser.lines).toBe(lines.length);
      }),
      fuzz(500),
    );
  });
});
