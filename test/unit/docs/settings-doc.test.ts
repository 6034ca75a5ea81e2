import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { SETTINGS } from '../../../shared/config/settings.js';
import { renderSettingsDoc, requiredSettings, SETTINGS_DOC_PATH } from '../../../dev/scripts/settings-doc.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));

describe('docs/settings.md', () => {
  it('is the current rendering of the settings catalogue', async () => {
    const committed = readFileSync(new URL(`../../../${SETTINGS_DOC_PATH}`, import.meta.url), 'utf8');
    const rendered = await renderSettingsDoc(root);
    expect(
      committed === rendered,
      `${SETTINGS_DOC_PATH} differs from the settings catalogue: run \`npm run docs:settings\` and commit the result`,
    ).toBe(true);
  });

  it('marks what start-up enforces as required, and groups where one of several is needed', () => {
    const required = requiredSettings();
    expect(required.get('GRAPH_TENANT_ID')).toBe('yes');
    expect(required.get('PUBLIC_BASE_URL')).toBe('yes');
    expect(required.get('TABLES_ENDPOINT')).toMatch(/^one of .*TABLES_CONNECTION_STRING/);
    expect(required.get('GRAPH_CLIENT_CERTIFICATE_BASE64')).toMatch(/^one of .*GRAPH_CLIENT_SECRET/);
    expect(required.has('TABLE_NAME_PREFIX')).toBe(false);
    expect(required.has('DEVICE_API_TENANT_ID')).toBe(false);
    for (const name of required.keys()) expect(SETTINGS.map((s) => s.name)).toContain(name);
  });
});
