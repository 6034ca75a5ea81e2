import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { inspect } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TokenCredential } from '@azure/identity';
import { ConfigError, DependencyError, ValidationError } from '../../../shared/errors.js';
import { createTableStores, DEFAULT_TABLE_PREFIX } from '../../../shared/store/index.js';
import { connectionString, mailbox, subscription, uniquePrefix } from './fixtures.js';

const fakeCredential: TokenCredential = {
  getToken: async () => ({ token: 'not-a-real-token', expiresOnTimestamp: Date.now() + 3_600_000 }),
};

describe('table set-up', () => {
  it('uses the default prefix mailpush', () => {
    const stores = createTableStores({ connectionString: connectionString() });
    expect(DEFAULT_TABLE_PREFIX).toBe('mailpush');
    expect(stores.tableNames).toEqual({
      mailboxes: 'mailpushmailboxes',
      subscriptions: 'mailpushsubscriptions',
    });
  });

  it.each([['1abc'], ['has-dash'], ['has_underscore'], [''], ['a'.repeat(33)], ['ünicode']])(
    'rejects the table prefix %j with a ConfigError',
    (tablePrefix) => {
      expect(() => createTableStores({ connectionString: connectionString(), tablePrefix })).toThrow(
        ConfigError,
      );
      expect(() => createTableStores({ connectionString: connectionString(), tablePrefix })).toThrow(
        /table prefix/,
      );
    },
  );

  it('accepts a 32-character alphanumeric prefix', () => {
    const tablePrefix = `A${'b1'.repeat(15)}c`;
    expect(tablePrefix).toHaveLength(32);
    const stores = createTableStores({ connectionString: connectionString(), tablePrefix });
    expect(stores.tableNames.subscriptions).toBe(`${tablePrefix}subscriptions`);
  });

  it('rejects a malformed connection string without echoing its key', () => {
    const bad = 'AccountName=acct;AccountKey=SUPERSECRETKEY==';
    let error: unknown;
    try {
      createTableStores({ connectionString: bad });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect(String((error as Error).message)).not.toContain('SUPERSECRETKEY');
    expect(() => createTableStores({ connectionString: '' })).toThrow(ConfigError);
  });

  it('validates the endpoint of the managed-identity form', () => {
    expect(() =>
      createTableStores({ endpoint: 'http://acct.table.core.windows.net', credential: fakeCredential }),
    ).toThrow(/https/);
    expect(() => createTableStores({ endpoint: 'not a url', credential: fakeCredential })).toThrow(
      ConfigError,
    );
    const stores = createTableStores({
      endpoint: 'https://acct.table.core.windows.net/',
      credential: fakeCredential,
      tablePrefix: 'prod',
    });
    expect(stores.tableNames.mailboxes).toBe('prodmailboxes');
  });

  it('creates the tables idempotently, also when called concurrently', async () => {
    const stores = createTableStores({ connectionString: connectionString(), tablePrefix: uniquePrefix() });
    await Promise.all([stores.ensureTables(), stores.ensureTables(), stores.ensureTables()]);
    await stores.ensureTables();
    const inserted = await stores.mailboxes.insertMailbox(mailbox());
    await stores.ensureTables();
    expect(await stores.mailboxes.getMailbox(inserted.email)).toEqual(inserted);
  });

  it('reports missing tables as a DependencyError, not as a missing entity', async () => {
    const stores = createTableStores({ connectionString: connectionString(), tablePrefix: uniquePrefix() });
    const read = stores.subscriptions.getSubscription('3c3c3c3c-0000-0000-0000-000000000000');
    await expect(read).rejects.toBeInstanceOf(DependencyError);
    await expect(read).rejects.toThrow(/TableNotFound/);
    await expect(stores.mailboxes.deleteMailbox('x@contoso.example')).rejects.toBeInstanceOf(DependencyError);
  });
});

describe('validation happens before any request', () => {
  let server: http.Server;
  const requests: { method: string | undefined; url: string | undefined; body: string }[] = [];
  let storesOnCountingServer: ReturnType<typeof createTableStores>;

  beforeAll(async () => {
    // A stand-in Table endpoint that records every request and fails it.
    server = http.createServer((req, res) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (chunk: string) => (body += chunk));
      req.on('end', () => {
        requests.push({ method: req.method, url: req.url, body });
        res.writeHead(500, { 'content-type': 'application/json' });
        res.end('{"odata.error":{"code":"InternalError","message":{"lang":"en-US","value":"boom"}}}');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    storesOnCountingServer = createTableStores({
      connectionString:
        'DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;' +
        'AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;' +
        `TableEndpoint=http://127.0.0.1:${port}/devstoreaccount1;`,
      tablePrefix: uniquePrefix(),
      retryOptions: { maxRetries: 0 },
    });
  });

  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('sends nothing for bad keys or bad records', async () => {
    const { mailboxes, subscriptions } = storesOnCountingServer;
    const badId = 'bad/id';
    const badEmail = 'bad#mail@contoso.example';
    const attempts: Promise<unknown>[] = [
      subscriptions.getSubscription(badId),
      subscriptions.insertSubscription(subscription({ subscriptionId: badId })),
      subscriptions.updateSubscription(subscription({ subscriptionId: badId, etag: 'W/"x"' })),
      subscriptions.deleteSubscription(badId, 'W/"x"'),
      subscriptions.insertSubscription(subscription({ mailboxEmail: 'no-at-sign' })),
      subscriptions.updateSubscription(subscription()), // no etag
      mailboxes.getMailbox(badEmail),
      mailboxes.insertMailbox(mailbox({ email: badEmail })),
      mailboxes.updateMailbox(mailbox({ email: badEmail, etag: 'W/"x"' })),
      mailboxes.deleteMailbox(badEmail),
      mailboxes.deleteMailbox('ok@contoso.example', ''),
      mailboxes.insertMailbox(mailbox({ transport: 'pigeon' as never })),
    ];
    for (const attempt of attempts) {
      await expect(attempt).rejects.toBeInstanceOf(ValidationError);
    }
    expect(requests).toEqual([]);
  });

  it('maps a failing service to DependencyError, with the cause and without the clientState', async () => {
    const before = requests.length;
    const record = subscription({ clientState: 'TOP-SECRET-state-on-the-wire' });
    const error: unknown = await storesOnCountingServer.subscriptions.insertSubscription(record).then(
      () => undefined,
      (err: unknown) => err,
    );
    // The good record did reach the server (so the test above could have seen requests) ...
    expect(requests.length).toBe(before + 1);
    expect(requests.at(-1)?.body).toContain('TOP-SECRET-state-on-the-wire');
    // ... and the error says what failed without the secret.
    expect(error).toBeInstanceOf(DependencyError);
    const dependencyError = error as DependencyError;
    expect(dependencyError.dependency).toBe('table-storage');
    expect(dependencyError.message).toMatch(/inserting subscription .* failed \(HTTP 500 InternalError\)/);
    expect(dependencyError.cause).toBeDefined();
    expect(String(dependencyError)).not.toContain('TOP-SECRET');
    const inspected = inspect(dependencyError, { depth: 10 });
    expect(inspected).toContain('InternalError');
    expect(inspected).not.toContain('TOP-SECRET');
  });

  it('maps an unreachable endpoint to DependencyError', async () => {
    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const { port } = closed.address() as AddressInfo;
    await new Promise<void>((resolve) => closed.close(() => resolve()));

    const stores = createTableStores({
      connectionString:
        'DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;' +
        `TableEndpoint=http://127.0.0.1:${port}/devstoreaccount1;`,
      retryOptions: { maxRetries: 0 },
    });
    const read = stores.mailboxes.getMailbox('someone@contoso.example');
    await expect(read).rejects.toBeInstanceOf(DependencyError);
    await expect(read).rejects.toThrow(/ECONNREFUSED/);
  });
});
