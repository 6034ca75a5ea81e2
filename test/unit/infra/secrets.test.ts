// No keys or secrets in the templates: Entra ID everywhere, secrets only through Key Vault.
import { relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  bicepFilesUnder,
  infraDir,
  loadBicep,
  modulePath,
  repoRoot,
  resources,
} from '../../support/bicep/files.js';

const notificationHubsPath = modulePath('notification-hubs');

describe('no keys or secrets in the templates', () => {
  const files = bicepFilesUnder(infraDir).map(loadBicep);

  it('never reads keys or connection strings from resources, except the hub policy into Key Vault', () => {
    const forbidden = [
      /\blist\w*Keys?\(/i,
      /\blistConnectionStrings\(/i,
      /\blistSecrets\(/i,
      /\blist(Account|Service)Sas\(/i,
      /\blistCredentials?\(/i,
      /AccountKey=/i,
      /SharedAccessKey/i,
      /InstrumentationKey=/i,
      /Endpoint=sb:\/\//i,
    ];
    // The one exception: @azure/notification-hubs only takes a SAS connection string, so
    // notification-hubs.bicep reads its hub policy's keys, and only as the value of a Key Vault
    // secret (never an output, parameter or app setting).
    const exception = /^\s*value:\s*(\w+)\.listKeys\(\)\.primaryConnectionString\s*$/m;
    for (const file of files) {
      let code = file.lexed.code;
      if (file.path === notificationHubsPath) {
        const secrets = resources(file, /^Microsoft\.KeyVault\/vaults\/secrets@/);
        const allowed = secrets.filter((secret) => exception.test(secret.body));
        expect(allowed).toHaveLength(1);
        const rule = exception.exec(allowed[0]?.body ?? '')?.[1];
        const rules = resources(
          file,
          /^Microsoft\.NotificationHubs\/namespaces\/notificationHubs\/authorizationRules@/,
        );
        expect(rules.map((r) => r.symbol)).toContain(rule);
        code = code.replace(new RegExp(`\\b${rule ?? '?'}\\.listKeys\\(\\)\\.primaryConnectionString`), '');
      }
      for (const pattern of forbidden) {
        expect(code, `${relative(repoRoot, file.path)} matches ${String(pattern)}`).not.toMatch(pattern);
      }
    }
  });

  it('never turns local (key) auth back on', () => {
    for (const file of files) {
      const code = file.lexed.code;
      expect(code).not.toMatch(/allowSharedKeyAccess:\s*true/);
      expect(code).not.toMatch(/disableLocalAuth:\s*false/i);
    }
  });

  it('gives no secure parameter a literal default', () => {
    for (const file of files) {
      expect(file.lexed.code).not.toMatch(/@secure\(\)\s*(@\w+\([^)]*\)\s*)*param\s+\w+\s+\w+\s*=\s*'[^']+'/);
    }
  });

  it('never outputs a @secure() parameter or a secret', () => {
    for (const file of files) {
      for (const match of file.lexed.code.matchAll(/^output[^\n]*$/gm)) {
        expect(match[0], relative(repoRoot, file.path)).not.toMatch(
          /secret(?!Name)|password|token|privateKey|listKeys/i,
        );
      }
    }
  });
});
