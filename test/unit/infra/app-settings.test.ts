// The app's own settings validation (loadSettings, shared/config) run on exactly the app
// settings function-app.bicep writes: a setting the app needs and Bicep does not write, or a
// setting Bicep writes that nothing reads, fails here rather than at the app's first start.
import { generateKeyPairSync } from 'node:crypto';
import forge from 'node-forge';
import { describe, expect, it } from 'vitest';
import { NATIONAL_CLOUD_NAMES, NATIONAL_CLOUDS } from '../../../shared/auth/clouds.js';
import { SETTINGS, loadSettings } from '../../../shared/config/settings.js';
import { ConfigError } from '../../../shared/errors.js';
import { MIN_WEBHOOK_SECRET_LENGTH } from '../../../shared/push/gateway.js';
import { appSettingsFor, varExpression, type Scenario } from '../../support/bicep/app-settings.js';
import { loadBicep, mainBicepPath, modulePath, modules } from '../../support/bicep/files.js';
import { objectEntries } from '../../support/bicep/lexer.js';

const functionAppPath = modulePath('function-app');

/** A self-signed client certificate as a password-protected PFX, as an operator would upload. */
function clientCertificatePfx(): { pfxBase64: string; password: string } {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(publicKey);
  cert.serialNumber = '01';
  cert.validity.notBefore = new Date(Date.UTC(2025, 0, 1));
  cert.validity.notAfter = new Date(Date.UTC(2035, 0, 1));
  const subject = [{ name: 'commonName', value: 'mailpush-graph-client' }];
  cert.setSubject(subject);
  cert.setIssuer(subject);
  const key = forge.pki.privateKeyFromPem(privateKey);
  cert.sign(key, forge.md.sha256.create());
  const password = 'pfx-password-for-the-test';
  const asn1 = forge.pkcs12.toPkcs12Asn1(key, [cert], password, { algorithm: '3des' });
  return { pfxBase64: Buffer.from(forge.asn1.toDer(asn1).getBytes(), 'binary').toString('base64'), password };
}

describe('app settings against the settings catalogue (shared/config)', () => {
  const certificate = clientCertificatePfx();
  const main = loadBicep(mainBicepPath);
  const app = loadBicep(functionAppPath);
  const catalogue = new Map(SETTINGS.map((spec) => [spec.name, spec]));
  const apiModule = modules(main).find((ref) => ref.resolved === functionAppPath);

  /** Read by the Functions host or the Azure SDKs, not by shared/config. */
  const HOST_SETTINGS = new Set([
    'AzureWebJobsStorage__blobServiceUri',
    'AzureWebJobsStorage__queueServiceUri',
    'AzureWebJobsStorage__tableServiceUri',
    'AzureWebJobsStorage__credential',
    'AzureWebJobsStorage__clientId',
    'APPLICATIONINSIGHTS_CONNECTION_STRING',
    'APPLICATIONINSIGHTS_AUTHENTICATION_STRING',
    'ServiceBusConnection__credential',
    'ServiceBusConnection__clientId',
  ]);
  /** Written by Bicep ahead of the code that reads them. */
  const NOT_READ_YET: Readonly<Record<string, string>> = {};
  /** Catalogue settings without a default that Bicep leaves unset, and why that is right in Azure. */
  const LEFT_UNSET_IN_AZURE: Readonly<Record<string, string>> = {
    CONSOLE_API_SCOPE: 'optional: defaults to the devices API audience + /.default',
    TABLES_CONNECTION_STRING: 'local alternative to TABLES_ENDPOINT (Azure: managed identity)',
    ServiceBusConnection: 'local alternative to ServiceBusConnection__fullyQualifiedNamespace',
    GRAPH_CLIENT_CERTIFICATE_PATH:
      'alternative to GRAPH_CLIENT_CERTIFICATE_BASE64 (a file path; not for Flex Consumption)',
    GRAPH_AUTHORITY_HOST: 'override for the local simulator; GRAPH_CLOUD picks it in Azure',
    GRAPH_ENDPOINT: 'override for the local simulator; GRAPH_CLOUD picks it in Azure',
    RICH_NOTIFICATION_PRIVATE_KEY: 'optional: rich notifications',
    RICH_NOTIFICATION_CERTIFICATE_ID: 'optional: rich notifications',
    RICH_NOTIFICATION_JWKS_URI: 'optional: rich notifications (default from the authority host)',
  };
  /**
   * What App Service hands the app for each setting Bicep writes whose value is not a parameter
   * of the scenario: resolved Key Vault references, resource names and endpoints.
   */
  const AZURE_VALUES: Readonly<Record<string, string>> = {
    AzureWebJobsStorage__blobServiceUri: 'https://stabc123.blob.core.windows.net/',
    AzureWebJobsStorage__queueServiceUri: 'https://stabc123.queue.core.windows.net/',
    AzureWebJobsStorage__tableServiceUri: 'https://stabc123.table.core.windows.net/',
    AzureWebJobsStorage__credential: 'managedidentity',
    AzureWebJobsStorage__clientId: '0f3c1c2e-5a8b-4f7e-9a51-6f1f2d3c4b5a',
    APPLICATIONINSIGHTS_CONNECTION_STRING:
      'IngestionEndpoint=https://westeurope-5.in.applicationinsights.azure.com/',
    APPLICATIONINSIGHTS_AUTHENTICATION_STRING:
      'ClientId=0f3c1c2e-5a8b-4f7e-9a51-6f1f2d3c4b5a;Authorization=AAD',
    AZURE_CLIENT_ID: '0f3c1c2e-5a8b-4f7e-9a51-6f1f2d3c4b5a',
    TABLES_ENDPOINT: 'https://stabc123.table.core.windows.net',
    TABLE_NAME_PREFIX: 'mailpush',
    ServiceBusConnection__fullyQualifiedNamespace: 'sb-abc123.servicebus.windows.net',
    ServiceBusConnection__credential: 'managedidentity',
    ServiceBusConnection__clientId: '0f3c1c2e-5a8b-4f7e-9a51-6f1f2d3c4b5a',
    NOTIFICATION_QUEUE_NAME: 'mail-notifications',
    IMPORT_QUEUE_NAME: 'mailbox-imports',
    NOTIFICATION_MAX_DELIVERY_COUNT: '10',
    GRAPH_TENANT_ID: '84bd8158-6d4d-4958-8b9f-9d6445542f95',
    GRAPH_CLIENT_ID: '6731de76-14a6-49ae-97bc-6eba6914391e',
    GRAPH_CLIENT_SECRET: 'Zk8Q~resolved-key-vault-reference-1234567890',
    GRAPH_CLIENT_CERTIFICATE_BASE64: certificate.pfxBase64,
    GRAPH_CLIENT_CERTIFICATE_PASSWORD: certificate.password,
    DEVICE_API_AUDIENCE: 'api://mailpush-devices',
    DEVICE_API_TENANT_ID: '84bd8158-6d4d-4958-8b9f-9d6445542f95',
    PUBLIC_BASE_URL: 'https://func-api-abc123.azurewebsites.net',
    MIGRATION_BATCH_SIZE: '50',
    MIGRATION_MAX_ATTEMPTS: '5',
    GRAPH_CLIENT_SECRET_EXPIRES_ON: '',
    CONSOLE_CLIENT_ID: '',
    ENROLMENT_GROUP_IDS: '',
    ENROLMENT_GROUP_REMOVE: 'False',
    ENROL_ON_DEVICE_REGISTRATION: 'off',
    SUBSCRIPTION_WRITES_PER_20_SECONDS: '600',
    RENEWAL_WINDOW_HOURS: '24',
    DELIVERY_RECORD_RETENTION_DAYS: '7',
    DEFAULT_PRIVACY_MODE: 'subject',
    LOG_LEVEL: 'info',
    MAINTENANCE_SCHEDULE: '0 */5 * * * *',
    NOTIFICATION_HUB_NAME: 'ntf-abc123',
    NOTIFICATION_HUB_CONNECTION_STRING: `Endpoint=sb://ntfns-abc123.servicebus.windows.net/;SharedAccessKeyName=mail-push-backend;SharedAccessKey=${'k'.repeat(44)}`,
    PUSH_WEBHOOK_URL: 'https://push-gateway.contoso.example/mailpush',
    PUSH_WEBHOOK_SECRET: 's'.repeat(MIN_WEBHOOK_SECRET_LENGTH),
    CLIENT_STATE_KEYS: `k1:${Buffer.alloc(32, 7).toString('base64')}`,
  };
  /** Set by the platform on every Azure instance (it is what makes the app refuse `local`). */
  const PLATFORM = {
    WEBSITE_INSTANCE_ID: 'c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00',
  };

  const base = {
    graphClientSecretStored: true,
    graphClientCertificateStored: false,
    graphClientCertificatePasswordStored: false,
    graphCloud: 'global',
    clientStateKeysStored: true,
  };
  const noCredential = {
    graphClientSecretStored: false,
    graphClientCertificateStored: false,
    graphClientCertificatePasswordStored: false,
  };
  const withCertificate = {
    ...noCredential,
    graphClientCertificateStored: true,
    graphClientCertificatePasswordStored: true,
  };
  const scenarios: Scenario[] = [
    { ...base, pushProvider: 'notification-hubs' },
    { ...base, pushProvider: 'webhook' },
  ];
  const allScenarios: Scenario[] = [
    ...scenarios,
    ...scenarios.map((s) => ({ ...s, ...noCredential })),
    ...scenarios.map((s) => ({ ...s, ...withCertificate })),
    ...NATIONAL_CLOUD_NAMES.map((graphCloud) => ({ ...base, pushProvider: 'notification-hubs', graphCloud })),
    ...scenarios.map((s) => ({ ...s, clientStateKeysStored: false })),
  ];

  /** The value the app sees: a scenario parameter, a literal, a table lookup, or AZURE_VALUES. */
  function valueOf(name: string, source: string, scenario: Scenario): string | undefined {
    const parameter = scenario[source];
    if (parameter !== undefined) return String(parameter);
    const literal = /^'([^'$\n]*)'$/.exec(source);
    if (literal !== null) return literal[1];
    const lookup = /^(\w+)\[(\w+)\]$/.exec(source);
    const key = lookup === null ? undefined : scenario[lookup[2] ?? ''];
    if (lookup !== null && typeof key === 'string') {
      const table = varExpression(app, lookup[1] ?? '');
      const entry = objectEntries(app.lexed, table.start).find((e) => e.key === key);
      return entry === undefined ? undefined : valueOf(name, entry.value, scenario);
    }
    return AZURE_VALUES[name];
  }

  function azureEnv(scenario: Scenario): Record<string, string> {
    const env: Record<string, string> = { ...PLATFORM };
    for (const [name, source] of appSettingsFor(app, scenario)) {
      const value = valueOf(name, source, scenario);
      expect(value, `${name} (${source}): add what Azure hands the app to AZURE_VALUES`).toBeDefined();
      env[name] = value ?? '';
    }
    return env;
  }

  function startUpProblems(env: Record<string, string>): string[] {
    try {
      loadSettings(env);
      return [];
    } catch (error) {
      if (error instanceof ConfigError) return [...error.problems];
      throw error;
    }
  }

  it('starts: loadSettings accepts exactly the settings Bicep writes, for each push provider', () => {
    for (const scenario of scenarios) {
      expect(startUpProblems(azureEnv(scenario)), JSON.stringify(scenario)).toEqual([]);
    }
  });

  it('starts with a client certificate (PFX + password from Key Vault) instead of a secret', () => {
    for (const scenario of scenarios) {
      const env = azureEnv({ ...scenario, ...withCertificate });
      expect(env['GRAPH_CLIENT_SECRET']).toBeUndefined();
      expect(startUpProblems(env), JSON.stringify(scenario)).toEqual([]);
    }
  });

  it('starts with a domain name as GRAPH_TENANT_ID: the devices API gets the tenant GUID', () => {
    const env = azureEnv(scenarios[0] ?? {});
    expect(startUpProblems({ ...env, GRAPH_TENANT_ID: 'contoso.onmicrosoft.com' })).toEqual([]);
    expect(appSettingsFor(app, scenarios[0] ?? {}).get('DEVICE_API_TENANT_ID')).toBe('deviceApiTenantId');
  });

  it('misses only the Graph credential when no credential was given and none is in Key Vault', () => {
    // The deployment never references a secret the vault does not hold.
    for (const scenario of scenarios) {
      const problems = startUpProblems(azureEnv({ ...scenario, ...noCredential }));
      expect(problems).toHaveLength(1);
      expect(problems[0]).toMatch(
        /^GRAPH_CLIENT_SECRET, GRAPH_CLIENT_CERTIFICATE_PATH or GRAPH_CLIENT_CERTIFICATE_BASE64/,
      );
    }
  });

  it('sets every catalogue setting that has no default, unless it is listed as not needed in Azure', () => {
    const written = new Set(allScenarios.flatMap((scenario) => [...appSettingsFor(app, scenario).keys()]));
    for (const spec of SETTINGS) {
      if (spec.default !== undefined || written.has(spec.name)) continue;
      expect(
        LEFT_UNSET_IN_AZURE[spec.name],
        `${spec.name} has no default and Bicep (infra/modules/function-app.bicep) does not set it: set it, or list it in LEFT_UNSET_IN_AZURE with the reason`,
      ).toBeDefined();
    }
    for (const name of Object.keys(LEFT_UNSET_IN_AZURE)) {
      expect(catalogue.has(name), `${name} is not in SETTINGS any more`).toBe(true);
      expect(written.has(name), `${name} is set by Bicep now: remove it from LEFT_UNSET_IN_AZURE`).toBe(
        false,
      );
    }
  });

  it('writes only settings that something reads (no misspelt names)', () => {
    for (const scenario of allScenarios) {
      for (const name of appSettingsFor(app, scenario).keys()) {
        const known = catalogue.has(name) || HOST_SETTINGS.has(name) || NOT_READ_YET[name] !== undefined;
        expect(known, `${name} is neither in SETTINGS (shared/config) nor a host setting`).toBe(true);
      }
    }
    for (const name of Object.keys(NOT_READ_YET))
      expect(catalogue.has(name), `${name} is read now`).toBe(false);
  });

  it("points the device API at the Graph tenant's cloud", () => {
    for (const cloud of NATIONAL_CLOUD_NAMES) {
      const env = azureEnv({ ...base, pushProvider: 'notification-hubs', graphCloud: cloud });
      expect(env['GRAPH_CLOUD']).toBe(cloud);
      expect(env['DEVICE_API_AUTHORITY_HOST'], cloud).toBe(NATIONAL_CLOUDS[cloud].authorityHost);
    }
  });

  it("tells the app the queue's MaxDeliveryCount from the queue itself", () => {
    expect(appSettingsFor(app, scenarios[0] ?? {}).get('NOTIFICATION_MAX_DELIVERY_COUNT')).toBe(
      'string(notificationMaxDeliveryCount)',
    );
    expect(apiModule?.paramValues.get('notificationMaxDeliveryCount')).toBe(
      'serviceBus.outputs.maxDeliveryCount',
    );
    expect(loadBicep(modulePath('servicebus')).lexed.code).toMatch(
      /^output maxDeliveryCount int = serviceBusNamespace::queue\.properties\.maxDeliveryCount$/m,
    );
  });

  it("writes the operator tunables with the app's own defaults, so a deployment changes nothing by itself", () => {
    const tunables: Readonly<Record<string, string>> = {
      LOG_LEVEL: 'logLevel',
      DEFAULT_PRIVACY_MODE: 'defaultPrivacyMode',
      SUBSCRIPTION_WRITES_PER_20_SECONDS: 'subscriptionWritesPer20Seconds',
      RENEWAL_WINDOW_HOURS: 'renewalWindowHours',
      DELIVERY_RECORD_RETENTION_DAYS: 'deliveryRecordRetentionDays',
    };
    const settings = appSettingsFor(app, scenarios[0] ?? {});
    for (const [setting, param] of Object.entries(tunables)) {
      const source = settings.get(setting);
      expect([param, `string(${param})`], setting).toContain(source);
      expect(apiModule?.paramValues.get(param), setting).toBe(param);
      const bicepDefault = new RegExp(`^param ${param} (?:string|int) = '?([^'\\n]*)'?$`, 'm').exec(
        main.lexed.code,
      )?.[1];
      expect(bicepDefault, setting).toBe(catalogue.get(setting)?.default);
    }
  });
});
