/**
 * `npm run docs:screenshots`: docs/console-desktop.png (1280×800) and docs/console-phone.png
 * (375×812) of the web console, against the local runner with the simulated tenant: a few
 * mailboxes enrolled and imported, the migration on and one timer run done, a connectivity test
 * run, so every section shows something. Needs Debian's chromium (or CHROME_PATH).
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { runMaintenance } from '../../shared/app/maintenance.js';
import { startLocalHost } from '../local/host.js';
import { prepareGraphSimulatorCa } from '../sim/graph/ca-setup.js';
import { CA_DIR_ENV } from '../sim/graph/certs.js';
import { DEMO_TENANT, generatedUsers } from '../sim/graph/demo.js';
import { repositoryRoot } from './build-console.js';
import { findChromium, launchChromium } from './chromium.js';

const VIEWS = [
  { file: 'docs/console-desktop.png', width: 1280, height: 800 },
  { file: 'docs/console-phone.png', width: 375, height: 812 },
] as const;

async function main(): Promise<void> {
  const chromium = findChromium();
  if ('missing' in chromium) throw new Error(chromium.missing);
  const host = await startLocalHost({
    port: 0,
    quiet: true,
    log: () => {},
    startTimers: false,
    env: { LOCAL_SIM_USERS: '40', MIGRATION_BATCH_SIZE: '10', PUSH_PROVIDER: 'local' },
  });
  const browser = await launchChromium(chromium.path);
  try {
    const [adele, ...others] = DEMO_TENANT.users;
    const token = await host.entraIssuer!.admin({ objectId: adele.id, upn: adele.mail });
    const call = (method: string, path: string, body: string, contentType = 'application/json') =>
      fetch(`${host.url}/api/manage/${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, 'content-type': contentType },
        body,
      });
    for (const user of [adele, ...others])
      await call('POST', 'mailboxes', JSON.stringify({ email: user.mail }));
    const csv = ['email,transport', ...generatedUsers(30).map((u) => `${u.mail},ews`)].join('\n');
    await call('POST', 'mailboxes/import', csv, 'text/csv');
    await call('PUT', 'migration', JSON.stringify({ enabled: true }));
    await runMaintenance(host.services);

    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    await page.goto(`${host.url}/api/console`);
    await page.locator('body[data-ready="true"]').waitFor();
    await fillSections(page, adele.mail);
    const root = repositoryRoot();
    for (const view of VIEWS) {
      await page.setViewportSize({ width: view.width, height: view.height });
      await page.screenshot({ path: join(root, view.file), fullPage: true });
      console.log(`wrote ${view.file}`);
    }
  } finally {
    await browser.close();
    await host.stop();
  }
}

async function fillSections(page: Page, email: string): Promise<void> {
  await page.getByLabel('Mailbox address').fill(email);
  await page.getByLabel('Send a test mail').check();
  await page.getByRole('button', { name: 'Test', exact: true }).click();
  await page.locator('#test-result:has-text("passed"), #test-result:has-text("failed")').waitFor();
  await page.getByLabel('Address starts with').fill('user000');
  await page.getByRole('button', { name: 'Search' }).click();
  await page.getByRole('button', { name: generatedUsers(5)[4]!.mail }).click();
  await page.locator('#mailbox-detail:not([hidden])').waitFor();
  const csv = [
    'email',
    ...generatedUsers(40)
      .slice(30)
      .map((u) => u.mail),
  ].join('\n');
  await page
    .getByLabel('CSV file')
    .setInputFiles({ name: 'more.csv', mimeType: 'text/csv', buffer: Buffer.from(csv) });
  await page.getByRole('button', { name: 'Import', exact: true }).click();
  await page.locator('#import-status:has-text("Import finished")').waitFor();
}

if (!process.env[CA_DIR_ENV]) {
  // Node trusts extra CAs only from NODE_EXTRA_CA_CERTS read at start-up (as in `npm start`):
  // make the simulator's CA, then run this same script in a child that trusts it.
  prepareGraphSimulatorCa();
  const child = spawn(process.execPath, process.argv.slice(1), { stdio: 'inherit', env: process.env });
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
} else {
  await main();
}
