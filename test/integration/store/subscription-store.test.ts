import { inspect } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import type { SubscriptionRecord } from '../../../shared/domain/model.js';
import {
  AlreadyExistsError,
  ConcurrencyError,
  DependencyError,
  ValidationError,
} from '../../../shared/errors.js';
import type { TableStores } from '../../../shared/store/index.js';
import { freshStores, rawClient, subscription, withoutEtag } from './fixtures.js';

let stores: TableStores;

beforeAll(async () => {
  stores = await freshStores();
});

describe('TableSubscriptionStore against Azurite', () => {
  it('round-trips every field (clientState included) and returns an etag', async () => {
    const record = subscription({
      subscriptionId: '7f105c7d-2dc5-4530-97cd-4e7af6534c07',
      mailboxEmail: 'round.trip@contoso.example',
      userId: 'c2f1a3e0-6f0e-4b8a-9a0e-0d1c2b3a4f5e',
      tenantId: '0e9d8c7b-6a5f-4e3d-2c1b-0a9f8e7d6c5b',
      clientState: `${'x'.repeat(100)}"'<>&%;=+ü€`,
      resource: "users/c2f1a3e0-6f0e-4b8a-9a0e-0d1c2b3a4f5e/mailFolders('Inbox')/messages",
      expiresAt: '2026-05-06T07:08:09.000Z',
      createdAt: '2026-05-01T00:00:00.123Z',
    });

    const inserted = await stores.subscriptions.insertSubscription(record);
    expect(inserted.etag).toEqual(expect.any(String));
    expect(withoutEtag(inserted)).toEqual(record);
    expect(await stores.subscriptions.getSubscription(record.subscriptionId)).toEqual(inserted);
  });

  it('stores the record under PartitionKey = subscription id and RowKey = empty', async () => {
    const inserted = await stores.subscriptions.insertSubscription(subscription());
    const raw = await rawClient(stores.tableNames.subscriptions).getEntity<Record<string, unknown>>(
      inserted.subscriptionId,
      '',
    );
    expect(raw.partitionKey).toBe(inserted.subscriptionId);
    expect(raw.rowKey).toBe('');
    expect(raw.clientState).toBe(inserted.clientState);
    const stored = Object.keys(raw).filter(
      (k) => !['partitionKey', 'rowKey', 'etag', 'timestamp', 'odata.metadata'].includes(k),
    );
    expect(stored.sort()).toEqual(
      ['clientState', 'createdAt', 'expiresAt', 'mailboxEmail', 'resource', 'tenantId', 'userId'].sort(),
    );
  });

  it('accepts ids with characters Table Storage allows but URLs need escaped', async () => {
    const id = "it's 50%+odd&more";
    const inserted = await stores.subscriptions.insertSubscription(subscription({ subscriptionId: id }));
    expect(await stores.subscriptions.getSubscription(id)).toEqual(inserted);
    await stores.subscriptions.deleteSubscription(id, inserted.etag);
    expect(await stores.subscriptions.getSubscription(id)).toBeUndefined();
  });

  it('lower-cases the mailbox email it references', async () => {
    const inserted = await stores.subscriptions.insertSubscription(
      subscription({ mailboxEmail: 'Some.One@Contoso.Example' }),
    );
    expect(inserted.mailboxEmail).toBe('some.one@contoso.example');
    expect((await stores.subscriptions.getSubscription(inserted.subscriptionId))?.mailboxEmail).toBe(
      'some.one@contoso.example',
    );
  });

  it('returns undefined for an unknown id', async () => {
    expect(
      await stores.subscriptions.getSubscription('00000000-0000-0000-0000-000000000000'),
    ).toBeUndefined();
  });

  it('refuses a duplicate insert with AlreadyExistsError and keeps the original', async () => {
    const original = await stores.subscriptions.insertSubscription(subscription());
    await expect(
      stores.subscriptions.insertSubscription({ ...withoutEtag(original), clientState: 'another-secret' }),
    ).rejects.toBeInstanceOf(AlreadyExistsError);
    expect(await stores.subscriptions.getSubscription(original.subscriptionId)).toEqual(original);
  });

  it('rejects a stale update with ConcurrencyError and changes nothing', async () => {
    const inserted = await stores.subscriptions.insertSubscription(subscription());
    const renewed = await stores.subscriptions.updateSubscription({
      ...inserted,
      expiresAt: '2026-02-01T00:00:00.000Z',
    });
    expect(renewed.etag).not.toBe(inserted.etag);

    await expect(
      stores.subscriptions.updateSubscription({ ...inserted, expiresAt: '2030-01-01T00:00:00.000Z' }),
    ).rejects.toBeInstanceOf(ConcurrencyError);
    expect(await stores.subscriptions.getSubscription(inserted.subscriptionId)).toEqual(renewed);
  });

  it('lets exactly one of two concurrent renewals win', async () => {
    const inserted = await stores.subscriptions.insertSubscription(subscription());
    const [a, b] = await Promise.all([
      stores.subscriptions.getSubscription(inserted.subscriptionId),
      stores.subscriptions.getSubscription(inserted.subscriptionId),
    ]);
    if (!a || !b) throw new Error('subscription vanished');

    const results = await Promise.allSettled([
      stores.subscriptions.updateSubscription({ ...a, expiresAt: '2026-03-01T00:00:00.000Z' }),
      stores.subscriptions.updateSubscription({ ...b, expiresAt: '2026-04-01T00:00:00.000Z' }),
    ]);
    const won = results.filter(
      (r): r is PromiseFulfilledResult<SubscriptionRecord> => r.status === 'fulfilled',
    );
    const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(won).toHaveLength(1);
    expect(lost).toHaveLength(1);
    expect(lost[0]?.reason).toBeInstanceOf(ConcurrencyError);
    expect(await stores.subscriptions.getSubscription(inserted.subscriptionId)).toEqual(won[0]?.value);
  });

  it('deletes conditionally and tolerates missing entities', async () => {
    const inserted = await stores.subscriptions.insertSubscription(subscription());
    const renewed = await stores.subscriptions.updateSubscription({
      ...inserted,
      expiresAt: '2026-02-01T00:00:00.000Z',
    });

    await expect(
      stores.subscriptions.deleteSubscription(inserted.subscriptionId, inserted.etag),
    ).rejects.toBeInstanceOf(ConcurrencyError);
    expect(await stores.subscriptions.getSubscription(inserted.subscriptionId)).toEqual(renewed);

    await stores.subscriptions.deleteSubscription(inserted.subscriptionId, renewed.etag);
    expect(await stores.subscriptions.getSubscription(inserted.subscriptionId)).toBeUndefined();

    await expect(stores.subscriptions.deleteSubscription(inserted.subscriptionId)).resolves.toBeUndefined();
    await expect(
      stores.subscriptions.deleteSubscription(inserted.subscriptionId, renewed.etag),
    ).resolves.toBeUndefined();
  });

  it.each([
    ['slash', 'abc/def'],
    ['backslash', 'abc\\def'],
    ['hash', 'abc#def'],
    ['question mark', 'abc?def'],
    ['newline', 'abc\ndef'],
    ['C1 control', 'abc\u0085def'],
    ['empty', ''],
    ['too long', 'a'.repeat(513)],
  ])('rejects a bad subscription id (%s) with ValidationError', async (_label, id) => {
    await expect(stores.subscriptions.getSubscription(id)).rejects.toBeInstanceOf(ValidationError);
    await expect(
      stores.subscriptions.insertSubscription(subscription({ subscriptionId: id })),
    ).rejects.toBeInstanceOf(ValidationError);
    await expect(stores.subscriptions.deleteSubscription(id)).rejects.toBeInstanceOf(ValidationError);
  });

  it('never puts the clientState in a storage error', async () => {
    const record = subscription({
      clientState: 'TOP-SECRET-client-state-4711',
      resource: 'r'.repeat(70_000),
    });
    const error: unknown = await stores.subscriptions.insertSubscription(record).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(error).toBeInstanceOf(DependencyError);
    expect((error as DependencyError).dependency).toBe('table-storage');
    expect((error as DependencyError).message).toMatch(/HTTP 400/);
    expect((error as DependencyError).cause).toBeDefined();
    const inspected = inspect(error, { depth: 10 });
    expect(inspected).toContain('PropertyValueTooLarge'); // the cause is rendered ...
    expect(inspected).not.toContain('TOP-SECRET'); // ... without the request body
    expect(JSON.stringify(error)).not.toContain('TOP-SECRET');
    expect(String(error)).not.toContain('TOP-SECRET');
  });

  it('never puts the clientState in a validation error', async () => {
    const record = subscription({ clientState: 'TOP-SECRET-client-state-4712', userId: '' });
    const error: unknown = await stores.subscriptions.insertSubscription(record).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(error).toBeInstanceOf(ValidationError);
    expect(inspect(error, { depth: 10 })).not.toContain('TOP-SECRET');
  });
});
