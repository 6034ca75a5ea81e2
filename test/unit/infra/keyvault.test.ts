// infra/modules/keyvault.bicep and graph-credential.bicep: the vault and the Graph credential.
import { describe, expect, it } from 'vitest';
import {
  loadBicep,
  mainBicepPath,
  modulePath,
  modules,
  paramDecorators,
  resources,
} from '../../support/bicep/files.js';

describe('infra/modules/keyvault.bicep', () => {
  const vault = loadBicep(modulePath('keyvault'));

  it('uses RBAC and soft delete, with purge protection a parameter (on by default)', () => {
    const code = vault.lexed.code;
    expect(code).toMatch(/enableRbacAuthorization:\s*true/);
    expect(code).toMatch(/enableSoftDelete:\s*true/);
    // The API rejects an explicit false: unset instead.
    expect(code).toMatch(/enablePurgeProtection:\s*enablePurgeProtection \? true : null/);
    expect(code).toMatch(/^param enablePurgeProtection bool = true$/m);
    const main = loadBicep(mainBicepPath);
    expect(main.lexed.code).toMatch(/^param keyVaultPurgeProtection bool = true$/m);
    expect(
      modules(main)
        .find((m) => m.symbol === 'keyVault')
        ?.paramValues.get('enablePurgeProtection'),
    ).toBe('keyVaultPurgeProtection');
  });

  it('sends audit logs to Log Analytics', () => {
    const settings = resources(vault, /^Microsoft\.Insights\/diagnosticSettings@/);
    expect(settings).toHaveLength(1);
    expect(settings[0]?.body).toMatch(/categoryGroup:\s*'audit'/);
  });
});

describe('infra/modules/graph-credential.bicep', () => {
  const file = loadBicep(modulePath('graph-credential'));
  const main = loadBicep(mainBicepPath);
  const ref = modules(main).find((m) => m.symbol === 'graphCredential');

  it('takes the secret, the PFX and its password as @secure() parameters without defaults', () => {
    for (const name of ['clientSecret', 'certificate', 'certificatePassword']) {
      expect(paramDecorators(file, name), name).toMatch(/^@secure\(\)$/m);
      expect(file.lexed.code).toMatch(new RegExp(`^param ${name} string = ''$`, 'm'));
    }
    for (const name of ['graphClientSecret', 'graphClientCertificate', 'graphClientCertificatePassword'])
      expect(paramDecorators(main, name), name).toMatch(/^@secure\(\)$/m);
  });

  it('writes a secret only when given one, so a later provision without it keeps the vault as it is', () => {
    const secrets = resources(file, /^Microsoft\.KeyVault\/vaults\/secrets@/);
    expect(secrets).toHaveLength(3);
    for (const secret of secrets) expect(secret.conditional, secret.symbol).toBe(true);
    expect(file.lexed.code).toMatch(/= if \(!empty\(clientSecret\)\)/);
    expect(file.lexed.code).toMatch(/= if \(!empty\(certificate\)\)/);
    expect(file.lexed.code).toMatch(/= if \(!empty\(certificatePassword\)\)/);
  });

  it('uses the same secret names as the app settings reference, and only the chosen credential', () => {
    const api = modules(main).find((m) => m.symbol === 'api');
    expect(ref?.paramValues.get('clientSecretName')).toBe(api?.paramValues.get('graphClientSecretName'));
    expect(ref?.paramValues.get('certificateSecretName')).toBe(
      api?.paramValues.get('graphClientCertificateSecretName'),
    );
    expect(ref?.paramValues.get('certificatePasswordSecretName')).toBe(
      api?.paramValues.get('graphClientCertificatePasswordSecretName'),
    );
    expect(ref?.paramValues.get('clientSecret')).toBe("useCertificate ? '' : graphClientSecret");
    expect(ref?.paramValues.get('certificate')).toBe("useCertificate ? graphClientCertificate : ''");
    expect(main.lexed.code).toMatch(
      /var graphClientSecretStored = !useCertificate && \(!empty\(graphClientSecret\) \|\| graphCredentialInKeyVault\)/,
    );
    expect(main.lexed.code).toMatch(
      /var graphClientCertificateStored = useCertificate && \(!empty\(graphClientCertificate\) \|\| graphCredentialInKeyVault\)/,
    );
    expect(api?.dependsOn).toContain('graphCredential');
  });
});
