import { describe, expect, it } from 'vitest';
import {
  InMemoryMailboxStore,
  InMemoryWorkQueue,
  SimulatedDirectory,
  SimulatedGraphError,
} from '../../../../shared/domain/enrolment/in-memory.js';
import type { DirectoryUser } from '../../../../shared/domain/ports.js';
import { classifyMailboxFailure } from '../../../../shared/graph/adapters.js';
import { GraphRequestError } from '../../../../shared/graph/errors.js';
import { workKeyFor } from '../../../../shared/store/work-queue-store.js';
import { AlreadyExistsError, ConcurrencyError, ValidationError } from '../../../../shared/errors.js';

const at = '2026-03-02T12:00:00.000Z';

describe('InMemoryMailboxStore', () => {
  it('refuses a duplicate insert, a stale etag, an update without etag; deletes conditionally', async () => {
    const store = new InMemoryMailboxStore();
    const a = await store.insertMailbox({
      email: 'A@contoso.example',
      tenantId: 't',
      transport: 'ews',
      createdAt: at,
      updatedAt: at,
    });
    expect(a.email).toBe('a@contoso.example');
    await expect(store.insertMailbox({ ...a, etag: undefined })).rejects.toBeInstanceOf(AlreadyExistsError);
    const b = await store.updateMailbox({ ...a, state: 'migrating' });
    await expect(store.updateMailbox({ ...a, state: 'active' })).rejects.toBeInstanceOf(ConcurrencyError);
    await expect(store.updateMailbox({ ...b, etag: undefined })).rejects.toBeInstanceOf(ValidationError);
    await expect(store.deleteMailbox('a@contoso.example', a.etag)).rejects.toBeInstanceOf(ConcurrencyError);
    await store.deleteMailbox('a@contoso.example', b.etag);
    await expect(store.updateMailbox(b)).rejects.toBeInstanceOf(ConcurrencyError);
    await store.deleteMailbox('a@contoso.example');
  });
});

describe('InMemoryWorkQueue', () => {
  it('orders by RowKey (due time, then address) and returns only due items, like the Table adapter', async () => {
    const queue = new InMemoryWorkQueue();
    const item = (dueAt: number, email: string) => ({
      kind: 'migrate' as const,
      key: workKeyFor(dueAt, email),
      email,
      dueAt,
    });
    await queue.put([item(3_000, 'c@x.example'), item(1_000, 'z@x.example'), item(1_000, 'a@x.example')]);
    await queue.put([item(2_000, 'b@x.example'), item(9_999_999_999_999, 'late@x.example')]);
    expect((await queue.due('migrate', 2_000, 10)).map((i) => i.email)).toEqual([
      'a@x.example',
      'z@x.example',
      'b@x.example',
    ]);
    expect((await queue.due('migrate', 5_000, 2)).map((i) => i.email)).toEqual([
      'a@x.example',
      'z@x.example',
    ]);
    expect(await queue.due('create', 5_000, 10)).toEqual([]);
    await queue.remove('migrate', workKeyFor(1_000, 'a@x.example'));
    await queue.remove('migrate', 'missing');
    await queue.put([item(1_000, 'a@x.example')]);
    await queue.put([item(1_000, 'a@x.example')]);
    expect(await queue.count('migrate')).toBe(5);
    expect((await queue.due('migrate', 1_000, 10)).map((i) => i.email)).toEqual([
      'a@x.example',
      'z@x.example',
    ]);
  });

  it('stays ordered across many removals and re-insertions', async () => {
    const queue = new InMemoryWorkQueue();
    const keys: string[] = [];
    for (let i = 0; i < 5_000; i++) keys.push(workKeyFor(1_000 + i, `m${i}@x.example`));
    await queue.put(
      keys.map((key, i) => ({ kind: 'create', key, email: `m${i}@x.example`, dueAt: 1_000 + i })),
    );
    for (let i = 0; i < 4_000; i++) await queue.remove('create', keys[i]!);
    await queue.put([{ kind: 'create', key: keys[10]!, email: 'm10@x.example', dueAt: 1_010 }]);
    const due = await queue.due('create', 10_000, 3);
    expect(due.map((i) => i.key)).toEqual([keys[10], keys[4_000], keys[4_001]]);
    expect(await queue.count('create')).toBe(1_001);
  });
});

describe('SimulatedDirectory.classify mirrors classifyMailboxFailure', () => {
  const cloudUser: DirectoryUser = {
    id: 'u',
    mail: 'a@x.example',
    userPrincipalName: 'a@x.example',
    onPremisesSyncEnabled: false,
    licensed: true,
  };
  const hybridUser: DirectoryUser = { ...cloudUser, onPremisesSyncEnabled: true };
  const cases: [string, SimulatedGraphError, DirectoryUser | undefined][] = [
    [
      '429',
      new SimulatedGraphError('POST /subscriptions', 429, 'TooManyRequests', 'slow down', 7_000),
      cloudUser,
    ],
    [
      '503 without Retry-After',
      new SimulatedGraphError('POST /subscriptions', 503, 'ServiceUnavailable', 'x'),
      cloudUser,
    ],
    [
      'on-premises',
      new SimulatedGraphError(
        "GET /users/u/mailFolders('Inbox')",
        404,
        'MailboxNotEnabledForRESTAPI',
        'REST API is not yet supported',
      ),
      hybridUser,
    ],
    [
      'no mailbox',
      new SimulatedGraphError("GET /users/u/mailFolders('Inbox')", 404, 'MailboxNotEnabledForRESTAPI', 'x'),
      cloudUser,
    ],
    [
      'user not found',
      new SimulatedGraphError('GET /users/a@x.example', 404, 'Request_ResourceNotFound', 'x'),
      undefined,
    ],
    [
      'access policy',
      new SimulatedGraphError(
        "GET /users/u/mailFolders('Inbox')",
        403,
        'ErrorAccessDenied',
        'Access to OData is disabled: [RAOP]',
      ),
      cloudUser,
    ],
    [
      'consent',
      new SimulatedGraphError(
        "GET /users/u/mailFolders('Inbox')",
        403,
        'ErrorAccessDenied',
        'Access is denied.',
      ),
      cloudUser,
    ],
    [
      'subscription limit',
      new SimulatedGraphError(
        'POST /subscriptions',
        403,
        'ExtensionError',
        'reached its maximum of 1000 subscriptions',
      ),
      cloudUser,
    ],
    [
      'handshake',
      new SimulatedGraphError(
        'POST /subscriptions',
        400,
        'ValidationError',
        'Subscription validation request failed.',
      ),
      cloudUser,
    ],
    ['other', new SimulatedGraphError('POST /subscriptions', 400, 'BadRequest', 'nope'), cloudUser],
  ];
  const directory = new SimulatedDirectory();
  it.each(cases)('%s', (_name, error, user) => {
    const real = new GraphRequestError({
      operation: error.operation,
      status: error.status,
      graphCode: error.graphCode,
      graphMessage: error.graphMessage,
      retryAfterMs: error.retryAfterMs,
    });
    const ours = directory.classify(error, user);
    const theirs = classifyMailboxFailure(real, user);
    expect({ ...ours, detail: '' }).toEqual({ ...theirs, detail: '' });
  });

  it('anything else is a graph_error', () => {
    expect(directory.classify(new Error('boom'))).toMatchObject({ kind: 'failed', failure: 'graph_error' });
  });
});
