// infra/modules/storage.bicep: the account, its tables and its diagnostics.
import { describe, expect, it } from 'vitest';
import { MAX_TABLE_PREFIX_LENGTH, TABLE_SUFFIXES } from '../../../shared/store/index.js';
import {
  loadBicep,
  mainBicepPath,
  modulePath,
  modules,
  paramDecorators,
  resources,
} from '../../support/bicep/files.js';

describe('infra/modules/storage.bicep', () => {
  const storage = loadBicep(modulePath('storage'));
  const main = loadBicep(mainBicepPath);

  it('is StorageV2 with shared keys and public blob access disabled, https and TLS 1.2 only', () => {
    const code = storage.lexed.code;
    expect(code).toMatch(/kind:\s*'StorageV2'/);
    expect(code).toMatch(/allowSharedKeyAccess:\s*false/);
    expect(code).toMatch(/allowBlobPublicAccess:\s*false/);
    expect(code).toMatch(/minimumTlsVersion:\s*'TLS1_2'/);
    expect(code).toMatch(/supportsHttpsTrafficOnly:\s*true/);
    expect(code).toMatch(/resource deploymentContainer 'containers'/);
  });

  it("creates every table the app uses, named TABLE_NAME_PREFIX + the store's suffix", () => {
    const suffixes = [
      ...(/var tableSuffixes = \[([^\]]*)\]/.exec(main.lexed.code)?.[1] ?? '').matchAll(/'(\w+)'/g),
    ].map((m) => m[1]);
    expect(suffixes.sort()).toEqual([...TABLE_SUFFIXES].sort());
    expect(main.lexed.code).toMatch(
      /var tableNames = map\(tableSuffixes, suffix => '\$\{tableNamePrefix\}\$\{suffix\}'\)/,
    );
    expect(
      modules(main)
        .find((m) => m.symbol === 'storage')
        ?.paramValues.get('tableNames'),
    ).toBe('tableNames');
    const tables = resources(storage, /^tables$/);
    expect(tables).toHaveLength(1);
    expect(storage.lexed.code).toMatch(/for tableName in tableNames:\s*\{\s*name:\s*tableName\s*\}/);
    // The app refuses a longer prefix (table names are at most 63 characters).
    expect(paramDecorators(main, 'tableNamePrefix')).toContain(`@maxLength(${MAX_TABLE_PREFIX_LENGTH})`);
  });

  it('hands the host its service URIs from the account (sovereign clouds) and the app a table endpoint', () => {
    const code = storage.lexed.code;
    expect(code).toMatch(/^output blobEndpoint string = storage\.properties\.primaryEndpoints\.blob$/m);
    expect(code).toMatch(/^output queueEndpoint string = storage\.properties\.primaryEndpoints\.queue$/m);
    expect(code).toMatch(
      /^output tableServiceEndpoint string = storage\.properties\.primaryEndpoints\.table$/m,
    );
    expect(code).toMatch(/environment\(\)\.suffixes\.storage/);
  });

  it('sends metrics and table write/delete logs to Log Analytics', () => {
    const settings = resources(storage, /^Microsoft\.Insights\/diagnosticSettings@/);
    expect(settings.length).toBe(2);
    expect(settings.map((s) => /scope:\s*([\w:]+)/.exec(s.body)?.[1])).toEqual([
      'storage',
      'storage::tableServices',
    ]);
    for (const s of settings) expect(s.body).toMatch(/workspaceId:\s*logAnalyticsWorkspaceId/);
  });
});
