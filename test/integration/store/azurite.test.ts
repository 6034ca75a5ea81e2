import http from 'node:http';
import { describe, expect, it } from 'vitest';
import { startAzurite } from '../../../dev/sim/azurite.js';
import { createTableStores } from '../../../shared/store/index.js';
import { mailbox } from './fixtures.js';

function answers(url: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get(url, { agent: false, timeout: 2_000 }, (res) => {
      res.resume();
      resolve(true);
    });
    req.once('timeout', () => req.destroy());
    req.once('error', () => resolve(false));
  });
}

describe('startAzurite', () => {
  it('starts a working in-memory Table service on a free port and stops it', async () => {
    const azurite = await startAzurite();
    try {
      expect(azurite.tableEndpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/devstoreaccount1$/);
      expect(azurite.tablesConnectionString).toBe(
        'DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;' +
          'AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;' +
          `TableEndpoint=${azurite.tableEndpoint};`,
      );

      const stores = createTableStores({
        connectionString: azurite.tablesConnectionString,
        tablePrefix: 'own',
      });
      await stores.ensureTables();
      const inserted = await stores.mailboxes.insertMailbox(mailbox());
      expect(await stores.mailboxes.getMailbox(inserted.email)).toEqual(inserted);
    } finally {
      await azurite.stop();
    }
    expect(await answers(`${azurite.tableEndpoint}/Tables`)).toBe(false);
    await expect(azurite.stop()).resolves.toBeUndefined();
  });

  it('gives two instances different ports and separate data', async () => {
    const [a, b] = await Promise.all([startAzurite(), startAzurite()]);
    try {
      expect(a.tableEndpoint).not.toBe(b.tableEndpoint);
      const storesA = createTableStores({ connectionString: a.tablesConnectionString, tablePrefix: 'iso' });
      const storesB = createTableStores({ connectionString: b.tablesConnectionString, tablePrefix: 'iso' });
      await Promise.all([storesA.ensureTables(), storesB.ensureTables()]);
      const inserted = await storesA.mailboxes.insertMailbox(mailbox());
      expect(await storesB.mailboxes.getMailbox(inserted.email)).toBeUndefined();
    } finally {
      await Promise.all([a.stop(), b.stop()]);
    }
  });
});
