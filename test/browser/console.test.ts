import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import type { LocalHost } from '../../dev/local/host.js';
import { buildConsole, repositoryRoot } from '../../dev/scripts/build-console.js';
import { findChromium, launchChromium } from '../../dev/scripts/chromium.js';
import { DEMO_TENANT, generatedUsers } from '../../dev/sim/graph/demo.js';
import { runMaintenance } from '../../shared/app/maintenance.js';
import { startTestHost } from '../support/test-host.js';

/**
 * The web console in Debian's Chromium against the local runner (in process): local sign-in
 * without a prompt, the health verdict, the Test button, a CSV import and the migration switch,
 * each checked on the page as an operator sees it. The timer is run by the test.
 */
const chromium = findChromium();
if ('missing' in chromium) console.warn(`[browser tests] skipped: ${chromium.missing}`);

const [adele] = DEMO_TENANT.users;
const IMPORTED = generatedUsers(24);
const BATCH = 8;

describe.skipIf('missing' in chromium)('the web console (GET /api/console)', () => {
  let host: LocalHost;
  let browser: Browser;
  let page: Page;
  let adminToken: string;
  let hasConnectivityTest = false;
  let hasStatus = false;

  const api = (method: string, path: string, body?: unknown) =>
    fetch(`${host.url}/api/manage/${path}`, {
      method,
      headers: {
        authorization: `Bearer ${adminToken}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  const maintenance = () => runMaintenance(host.services);

  beforeAll(async () => {
    // `npm test` builds first; a bare `vitest run test/browser` builds the console itself.
    if (!existsSync(`${repositoryRoot()}/dist/shared/admin/console/public/console.js`))
      await buildConsole(['dist']);
    host = await startTestHost({
      localPushSink: true,
      env: { LOCAL_SIM_USERS: '40', MIGRATION_BATCH_SIZE: String(BATCH) },
    });
    adminToken = await host.entraIssuer!.admin({ objectId: adele.id, upn: adele.mail });
    expect((await api('POST', 'mailboxes', { email: adele.mail })).status).toBe(201);
    await maintenance();
    hasConnectivityTest =
      (await api('POST', 'connectivity-test', { email: adele.mail, steps: ['token'] })).status !== 404;
    hasStatus = (await api('GET', 'status')).status !== 404;
    browser = await launchChromium((chromium as { path: string }).path);
    page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  });

  afterAll(async () => {
    await browser?.close();
    await host?.stop();
  });

  const refresh = async () => {
    await page.getByRole('button', { name: 'Refresh' }).click();
    await page.locator('#notice').waitFor({ state: 'hidden' });
  };

  it('loads with a strict CSP and signs in locally without a prompt', async () => {
    const response = await page.goto(`${host.url}/api/console`);
    expect(response?.status()).toBe(200);
    const csp = response?.headers()['content-security-policy'] ?? '';
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toContain('unsafe-inline');
    expect(response?.headers()['x-content-type-options']).toBe('nosniff');
    await page.locator('body[data-ready="true"]').waitFor();
    await expect
      .poll(() => page.locator('#signed-in').textContent())
      .toBe(`Signed in as ${adele.mail} (local)`);
    expect(await page.locator('#notice').isHidden()).toBe(true);
    // The token is never on the page.
    expect(await page.content()).not.toMatch(/eyJ[\w-]{10,}/);
  });

  it('shows the health verdict with its reasons, the credential card and the counts', async () => {
    const verdict = page.locator('#verdict');
    if (!hasStatus) {
      expect(await verdict.textContent()).toBe('Status not available on this server.');
      console.warn('[browser tests] GET /api/manage/status is not on this server: checked the message only');
      return;
    }
    expect(await verdict.textContent()).toMatch(/^(Healthy|Needs attention|Critical)/);
    expect(await verdict.getAttribute('class')).toMatch(/^verdict (ok|warning|critical)$/);
    expect(await page.locator('#credential').textContent()).toMatch(/^Typesecret/);
    expect(await page.locator('#counts').textContent()).toMatch(/active1.*Total1/);
  });

  it('lists mailboxes with a prefix search and opens the detail panel', async () => {
    await page.getByLabel('Address starts with').fill('adele');
    await page.getByRole('button', { name: 'Search' }).click();
    await expect.poll(() => page.locator('#mailbox-rows tr').count()).toBe(1);
    await page.getByRole('button', { name: adele.mail }).click();
    const detail = page.getByRole('region', { name: adele.mail });
    await detail.waitFor();
    expect(await detail.textContent()).toMatch(/Stateactive/);
    expect(await detail.textContent()).toMatch(/Subscription expires/);
    await page.getByRole('button', { name: 'Close details' }).press('Enter');
    expect(await detail.isHidden()).toBe(true);
  });

  it('runs the Test for a simulated user, every step passing as it finishes', async () => {
    await page.getByLabel('Mailbox address').fill(adele.mail);
    await page.getByLabel('Send a test mail').check();
    await page.getByRole('button', { name: 'Test', exact: true }).click();
    const result = page.locator('#test-result');
    if (!hasConnectivityTest) {
      await expect
        .poll(() => result.textContent())
        .toBe('The connectivity test is not available on this server.');
      console.warn(
        '[browser tests] POST /api/manage/connectivity-test is not on this server: checked the message only',
      );
      return;
    }
    await expect
      .poll(() => result.textContent(), { timeout: 20_000 })
      .toBe(`All steps passed for ${adele.mail}.`);
    const steps = page.locator('#test-steps li');
    expect(await Promise.all((await steps.all()).map((li) => li.getAttribute('data-step')))).toEqual([
      'token',
      'user',
      'inbox',
      'subscription',
      'testMail',
    ]);
    expect(await page.locator('#test-steps li[data-status="passed"]').count()).toBe(5);
  });

  it('imports a CSV and shows the progress reach 100 % and the counts', async () => {
    const csv = ['email,transport', ...IMPORTED.map((u) => `${u.mail},ews`), 'not-an-address,ews', ''].join(
      '\n',
    );
    await page.getByLabel('CSV file').setInputFiles({
      name: 'mailboxes.csv',
      mimeType: 'text/csv',
      buffer: Buffer.from(csv),
    });
    await page.getByRole('button', { name: 'Import', exact: true }).click();
    await expect
      .poll(() => page.locator('#import-status').textContent())
      .toBe(`Import finished: ${IMPORTED.length + 1} of ${IMPORTED.length + 1} rows (100 %).`);
    const progress = page.locator('#import-progress');
    expect(await progress.getAttribute('max')).toBe(String(IMPORTED.length + 1));
    expect(await progress.getAttribute('value')).toBe(String(IMPORTED.length + 1));
    expect(await page.locator('#import-counts').textContent()).toBe(
      `Accepted${IMPORTED.length}Already enrolled0Invalid1`,
    );
    expect(await page.locator('#import-errors li').first().textContent()).toMatch(/^Line \d+: /);
  });

  it('flips the migration on and shows the counts move as the timer runs', async () => {
    const waiting = async () => {
      const text = (await page.locator('#migration-status').textContent()) ?? '';
      return Number(/: (\d+) mailbox/.exec(text)?.[1]);
    };
    await expect.poll(waiting).toBe(IMPORTED.length);
    const toggle = page.getByRole('switch', { name: 'Use Microsoft Graph' });
    expect(await toggle.isChecked()).toBe(false);
    await toggle.check();
    await expect.poll(() => page.locator('#migration-status').textContent()).toMatch(/^Migration on: /);

    const seen = [await waiting()];
    for (let run = 0; run < 2; run++) {
      await maintenance();
      await refresh();
      await expect.poll(waiting).toBeLessThan(seen[seen.length - 1]!);
      seen.push(await waiting());
    }
    // A run moves at most a batch (a user outside the access policy waits for another attempt).
    expect(seen[0]! - seen[1]!).toBeLessThanOrEqual(BATCH);
    expect(await page.locator('#migration-fields').textContent()).toContain('Moved per run');
  });

  it('fits a phone (375 px) and is keyboard operable from the skip link', async () => {
    await page.setViewportSize({ width: 375, height: 812 });
    await page.goto(`${host.url}/api/console`);
    await page.locator('body[data-ready="true"]').waitFor();
    const tooWide: string[] = [];
    for (const element of await page.locator('main *, header *').all()) {
      const box = await element.boundingBox();
      if (box && box.x + box.width > 375.5)
        tooWide.push((await element.getAttribute('id')) ?? (await element.innerText()));
    }
    expect(tooWide).toEqual([]);
    await page.locator('body').press('Tab');
    expect(await page.locator(':focus').textContent()).toBe('Skip to content');
    await page.keyboard.press('Enter');
    expect(await page.locator(':focus').getAttribute('id')).toBe('main');
  });
});
