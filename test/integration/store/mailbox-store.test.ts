import { beforeAll, describe, expect, it } from 'vitest';
import type { MailboxRecord } from '../../../shared/domain/model.js';
import {
  AlreadyExistsError,
  ConcurrencyError,
  DependencyError,
  ValidationError,
} from '../../../shared/errors.js';
import type { TableStores } from '../../../shared/store/index.js';
import { freshStores, mailbox, rawClient, withoutEtag } from './fixtures.js';

let stores: TableStores;

beforeAll(async () => {
  stores = await freshStores();
});

describe('TableMailboxStore against Azurite', () => {
  it('round-trips every field and returns an etag', async () => {
    const record = mailbox({
      email: 'full.record@contoso.example',
      userId: '5f1c9a5e-8d1f-4a39-9a57-7d6f4f3a2b10',
      tenantId: 'b4d6d1f4-3c5a-4e4e-9f3d-2a1b0c9d8e7f',
      transport: 'graph',
      privacyMode: 'subject',
      subscriptionId: "sub-with-'quote'-and-ünicode",
      subscriptionError: 'An Exchange application access policy excludes this mailbox',
      deltaLink:
        "https://graph.microsoft.com/v1.0/users/5f1c9a5e/mailFolders('Inbox')/messages/delta?$deltatoken=" +
        'x'.repeat(2000),
      lastResyncAt: '2026-03-05T06:00:00.000Z',
      createdAt: '2026-03-04T05:06:07.890Z',
      updatedAt: '2026-03-05T06:07:08.901Z',
    });

    const inserted = await stores.mailboxes.insertMailbox(record);
    expect(inserted.etag).toEqual(expect.any(String));
    expect(withoutEtag(inserted)).toEqual(record);

    const read = await stores.mailboxes.getMailbox(record.email);
    expect(read).toEqual(inserted);
  });

  it('omits optional fields that are not set, in the record and in the stored entity', async () => {
    const record = mailbox({ userId: undefined, privacyMode: undefined, subscriptionId: undefined });
    await stores.mailboxes.insertMailbox(record);

    const read = await stores.mailboxes.getMailbox(record.email);
    expect(read).toBeDefined();
    expect(Object.keys(read ?? {}).sort()).toEqual(
      ['createdAt', 'email', 'etag', 'tenantId', 'transport', 'updatedAt'].sort(),
    );

    const raw = await rawClient(stores.tableNames.mailboxes).getEntity<Record<string, unknown>>(
      record.email,
      '',
    );
    for (const field of ['userId', 'privacyMode', 'subscriptionId', 'email']) {
      expect(raw).not.toHaveProperty(field);
    }
    expect(Object.values(raw)).not.toContain('undefined');
  });

  it('returns undefined for a missing mailbox', async () => {
    expect(await stores.mailboxes.getMailbox('nobody-here@contoso.example')).toBeUndefined();
  });

  it('refuses a duplicate insert with AlreadyExistsError and keeps the original', async () => {
    const original = await stores.mailboxes.insertMailbox(mailbox({ transport: 'ews' }));
    await expect(
      stores.mailboxes.insertMailbox({ ...withoutEtag(original), transport: 'graph' }),
    ).rejects.toBeInstanceOf(AlreadyExistsError);
    expect(await stores.mailboxes.getMailbox(original.email)).toEqual(original);
  });

  it('normalises email case and surrounding spaces on every operation', async () => {
    const inserted = await stores.mailboxes.insertMailbox(
      mailbox({ email: '  Mixed.Case@Contoso.EXAMPLE ' }),
    );
    expect(inserted.email).toBe('mixed.case@contoso.example');

    expect(await stores.mailboxes.getMailbox('MIXED.CASE@contoso.example')).toEqual(inserted);
    await expect(
      stores.mailboxes.insertMailbox(mailbox({ email: 'mixed.case@CONTOSO.example' })),
    ).rejects.toBeInstanceOf(AlreadyExistsError);

    const updated = await stores.mailboxes.updateMailbox({
      ...inserted,
      email: 'Mixed.Case@contoso.example',
      transport: 'graph',
    });
    expect(updated.email).toBe('mixed.case@contoso.example');
    expect((await stores.mailboxes.getMailbox('mixed.case@contoso.example'))?.transport).toBe('graph');

    await stores.mailboxes.deleteMailbox('MIXED.CASE@CONTOSO.EXAMPLE');
    expect(await stores.mailboxes.getMailbox('mixed.case@contoso.example')).toBeUndefined();
  });

  it('updates with the current etag, returns a new etag, and replaces the whole entity', async () => {
    const inserted = await stores.mailboxes.insertMailbox(
      mailbox({ userId: 'u-1', subscriptionId: 'sub-1' }),
    );
    const rest: MailboxRecord = { ...inserted };
    delete rest.subscriptionId;
    const updated = await stores.mailboxes.updateMailbox({
      ...rest,
      transport: 'graph',
      privacyMode: 'minimal',
    });

    expect(updated.etag).toEqual(expect.any(String));
    expect(updated.etag).not.toBe(inserted.etag);
    const read = await stores.mailboxes.getMailbox(inserted.email);
    expect(read).toEqual(updated);
    expect(read).not.toHaveProperty('subscriptionId');
    expect(read?.privacyMode).toBe('minimal');

    // The returned etag is usable for the next write.
    const again = await stores.mailboxes.updateMailbox({ ...updated, updatedAt: '2026-12-31T00:00:00.000Z' });
    expect((await stores.mailboxes.getMailbox(inserted.email))?.updatedAt).toBe(again.updatedAt);
  });

  it('rejects an update with a stale etag with ConcurrencyError and changes nothing', async () => {
    const inserted = await stores.mailboxes.insertMailbox(mailbox());
    const first = await stores.mailboxes.updateMailbox({ ...inserted, transport: 'graph' });

    const stale = stores.mailboxes.updateMailbox({
      ...inserted,
      privacyMode: 'full',
      userId: 'stale-writer',
    });
    await expect(stale).rejects.toBeInstanceOf(ConcurrencyError);
    expect(await stores.mailboxes.getMailbox(inserted.email)).toEqual(first);
  });

  it('rejects an update of a mailbox deleted since it was read with ConcurrencyError, without recreating it', async () => {
    const inserted = await stores.mailboxes.insertMailbox(mailbox());
    await stores.mailboxes.deleteMailbox(inserted.email);
    await expect(stores.mailboxes.updateMailbox({ ...inserted, transport: 'graph' })).rejects.toBeInstanceOf(
      ConcurrencyError,
    );
    expect(await stores.mailboxes.getMailbox(inserted.email)).toBeUndefined();
  });

  it('refuses an update without an etag', async () => {
    const inserted = await stores.mailboxes.insertMailbox(mailbox());
    await expect(
      stores.mailboxes.updateMailbox({ ...withoutEtag(inserted), transport: 'graph' }),
    ).rejects.toBeInstanceOf(ValidationError);
    expect(await stores.mailboxes.getMailbox(inserted.email)).toEqual(inserted);
  });

  it('lets exactly one of two concurrent read-modify-writes win', async () => {
    const inserted = await stores.mailboxes.insertMailbox(mailbox());
    const [a, b] = await Promise.all([
      stores.mailboxes.getMailbox(inserted.email),
      stores.mailboxes.getMailbox(inserted.email),
    ]);
    if (!a || !b) throw new Error('mailbox vanished');
    expect(a.etag).toBe(b.etag);

    const results = await Promise.allSettled([
      stores.mailboxes.updateMailbox({ ...a, subscriptionId: 'writer-a' }),
      stores.mailboxes.updateMailbox({ ...b, subscriptionId: 'writer-b' }),
    ]);
    const won = results.filter((r): r is PromiseFulfilledResult<MailboxRecord> => r.status === 'fulfilled');
    const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(won).toHaveLength(1);
    expect(lost).toHaveLength(1);
    expect(lost[0]?.reason).toBeInstanceOf(ConcurrencyError);
    expect(await stores.mailboxes.getMailbox(inserted.email)).toEqual(won[0]?.value);
  });

  it('loses no update when many writers retry on ConcurrencyError', async () => {
    const inserted = await stores.mailboxes.insertMailbox(mailbox({ userId: '0' }));
    const writers = 6;
    await Promise.all(
      Array.from({ length: writers }, async () => {
        for (;;) {
          const current = await stores.mailboxes.getMailbox(inserted.email);
          if (!current) throw new Error('mailbox vanished');
          try {
            await stores.mailboxes.updateMailbox({ ...current, userId: String(Number(current.userId) + 1) });
            return;
          } catch (err) {
            if (!(err instanceof ConcurrencyError)) throw err;
          }
        }
      }),
    );
    expect((await stores.mailboxes.getMailbox(inserted.email))?.userId).toBe(String(writers));
  });

  it('deletes conditionally: a stale etag fails and keeps the mailbox, the current one deletes it', async () => {
    const inserted = await stores.mailboxes.insertMailbox(mailbox());
    const updated = await stores.mailboxes.updateMailbox({ ...inserted, transport: 'graph' });

    await expect(stores.mailboxes.deleteMailbox(inserted.email, inserted.etag)).rejects.toBeInstanceOf(
      ConcurrencyError,
    );
    expect(await stores.mailboxes.getMailbox(inserted.email)).toEqual(updated);

    await stores.mailboxes.deleteMailbox(inserted.email, updated.etag);
    expect(await stores.mailboxes.getMailbox(inserted.email)).toBeUndefined();
  });

  it('treats deleting a missing mailbox as success, with or without an etag', async () => {
    const inserted = await stores.mailboxes.insertMailbox(mailbox());
    await stores.mailboxes.deleteMailbox(inserted.email);
    await expect(stores.mailboxes.deleteMailbox(inserted.email)).resolves.toBeUndefined();
    await expect(stores.mailboxes.deleteMailbox(inserted.email, inserted.etag)).resolves.toBeUndefined();
  });

  it('deletes unconditionally without an etag even after other writes', async () => {
    const inserted = await stores.mailboxes.insertMailbox(mailbox());
    await stores.mailboxes.updateMailbox({ ...inserted, transport: 'graph' });
    await stores.mailboxes.deleteMailbox(inserted.email);
    expect(await stores.mailboxes.getMailbox(inserted.email)).toBeUndefined();
  });

  it.each([
    ['no @', 'not-an-email'],
    ['empty', '   '],
    ['two @', 'a@b@contoso.example'],
    ['slash', 'a/b@contoso.example'],
    ['backslash', 'a\\b@contoso.example'],
    ['hash', 'a#b@contoso.example'],
    ['question mark', 'a?b@contoso.example'],
    ['control char', 'a\u0007b@contoso.example'],
    ['inner space', 'a b@contoso.example'],
    ['too long', `${'a'.repeat(250)}@contoso.example`],
  ])('rejects a bad email (%s) with ValidationError and stores nothing', async (_label, email) => {
    await expect(stores.mailboxes.insertMailbox(mailbox({ email }))).rejects.toBeInstanceOf(ValidationError);
    await expect(stores.mailboxes.getMailbox(email)).rejects.toBeInstanceOf(ValidationError);
  });

  it('rejects invalid field values with ValidationError', async () => {
    const bad = [
      mailbox({ transport: 'smtp' as never }),
      mailbox({ privacyMode: 'loud' as never }),
      mailbox({ tenantId: '' }),
      mailbox({ createdAt: undefined as never }),
      mailbox({ userId: 42 as never }),
    ];
    for (const record of bad) {
      await expect(stores.mailboxes.insertMailbox(record)).rejects.toBeInstanceOf(ValidationError);
      expect(await stores.mailboxes.getMailbox(record.email)).toBeUndefined();
    }
  });

  it('reports a malformed stored entity as a DependencyError', async () => {
    const email = 'malformed@contoso.example';
    await rawClient(stores.tableNames.mailboxes).createEntity({
      partitionKey: email,
      rowKey: '',
      tenantId: 't',
      transport: 'carrier-pigeon',
      createdAt: 'x',
      updatedAt: 'y',
    });
    const read = stores.mailboxes.getMailbox(email);
    await expect(read).rejects.toBeInstanceOf(DependencyError);
    await expect(read).rejects.toThrow(/transport/);
  });
});
