// infra/modules/function-app.bicep: the Flex Consumption plan and the Function App.
import { describe, expect, it } from 'vitest';
import { KEY_VAULT_REFERENCE, appSettingsFor, type Scenario } from '../../support/bicep/app-settings.js';
import { loadBicep, mainBicepPath, modulePath, modules, resources } from '../../support/bicep/files.js';

/** App settings the app or its host reads; the names are a contract with shared/config. */
const REQUIRED_APP_SETTINGS = [
  'AzureWebJobsStorage__blobServiceUri',
  'AzureWebJobsStorage__queueServiceUri',
  'AzureWebJobsStorage__tableServiceUri',
  'AzureWebJobsStorage__credential',
  'AzureWebJobsStorage__clientId',
  'APPLICATIONINSIGHTS_CONNECTION_STRING',
  'APPLICATIONINSIGHTS_AUTHENTICATION_STRING',
  'AZURE_CLIENT_ID',
  'TABLES_ENDPOINT',
  'TABLE_NAME_PREFIX',
  'ServiceBusConnection__fullyQualifiedNamespace',
  'ServiceBusConnection__credential',
  'ServiceBusConnection__clientId',
  'NOTIFICATION_QUEUE_NAME',
  'IMPORT_QUEUE_NAME',
  'GRAPH_TENANT_ID',
  'GRAPH_CLIENT_ID',
  'GRAPH_CLIENT_SECRET',
  'GRAPH_CLIENT_CERTIFICATE_BASE64',
  'GRAPH_CLIENT_CERTIFICATE_PASSWORD',
  'GRAPH_CLOUD',
  'DEVICE_API_AUDIENCE',
  'DEVICE_API_TENANT_ID',
  'PUBLIC_BASE_URL',
  'MIGRATION_BATCH_SIZE',
  'MAINTENANCE_SCHEDULE',
  'PUSH_PROVIDER',
  'NOTIFICATION_HUB_NAME',
  'NOTIFICATION_HUB_CONNECTION_STRING',
  'PUSH_WEBHOOK_URL',
  'PUSH_WEBHOOK_SECRET',
] as const;

/** Settings that Flex Consumption rejects, that would reintroduce keys, or assume the public cloud. */
const FORBIDDEN_APP_SETTINGS = [
  'AzureWebJobsStorage',
  'AzureWebJobsStorage__accountName',
  'FUNCTIONS_WORKER_RUNTIME',
  'FUNCTIONS_EXTENSION_VERSION',
  'WEBSITE_RUN_FROM_PACKAGE',
  'WEBSITE_CONTENTAZUREFILECONNECTIONSTRING',
  'WEBSITE_CONTENTSHARE',
  'APPINSIGHTS_INSTRUMENTATIONKEY',
] as const;

describe('Function App (Flex Consumption)', () => {
  const app = loadBicep(modulePath('function-app'));
  const code = app.lexed.code;
  const keys = new Set([...code.matchAll(/^[ \t]*([A-Za-z_]\w*)[ \t]*:/gm)].map((m) => m[1] ?? ''));
  const everything: Scenario = {
    graphClientSecretStored: true,
    graphClientCertificateStored: true,
    graphClientCertificatePasswordStored: true,
    clientStateKeysStored: true,
  };

  it('sets every app setting the app and its host read', () => {
    const written = new Set([
      ...appSettingsFor(app, { ...everything, pushProvider: 'notification-hubs' }).keys(),
      ...appSettingsFor(app, { ...everything, pushProvider: 'webhook' }).keys(),
    ]);
    for (const name of REQUIRED_APP_SETTINGS) expect(written.has(name), name).toBe(true);
    expect(code).toMatch(/name:\s*'appsettings'/);
  });

  it('sets no setting that Flex Consumption rejects, that carries a key or that assumes the public cloud', () => {
    for (const name of FORBIDDEN_APP_SETTINGS) expect(keys.has(name), name).toBe(false);
  });

  it('uses the managed identity for storage, Service Bus and Application Insights', () => {
    expect(code).toMatch(/AzureWebJobsStorage__credential:\s*'managedidentity'/);
    expect(code).toMatch(/AzureWebJobsStorage__blobServiceUri:\s*storageBlobEndpoint/);
    expect(code).toMatch(/AzureWebJobsStorage__queueServiceUri:\s*storageQueueEndpoint/);
    expect(code).toMatch(/AzureWebJobsStorage__tableServiceUri:\s*storageTableServiceEndpoint/);
    expect(code).toMatch(/ServiceBusConnection__credential:\s*'managedidentity'/);
    expect(code).toMatch(
      /APPLICATIONINSIGHTS_AUTHENTICATION_STRING:\s*'ClientId=\$\{identityClientId\};Authorization=AAD'/,
    );
    expect(code).toMatch(/AZURE_CLIENT_ID:\s*identityClientId/);
  });

  it('tells the app both queue names, from the names main.bicep gives the queues', () => {
    const settings = appSettingsFor(app, { ...everything, pushProvider: 'webhook' });
    expect(settings.get('NOTIFICATION_QUEUE_NAME')).toBe('notificationQueueName');
    expect(settings.get('IMPORT_QUEUE_NAME')).toBe('importQueueName');
    const main = loadBicep(mainBicepPath);
    const api = modules(main).find((m) => m.symbol === 'api');
    expect(api?.paramValues.get('notificationQueueName')).toBe('notificationQueueName');
    expect(api?.paramValues.get('importQueueName')).toBe('importQueueName');
    const serviceBus = modules(main).find((m) => m.symbol === 'serviceBus');
    expect(serviceBus?.paramValues.get('importQueueName')).toBe('importQueueName');
    // azd writes it to the environment for the local runner, like NOTIFICATION_QUEUE_NAME.
    expect(main.lexed.code).toMatch(
      /^output IMPORT_QUEUE_NAME string = serviceBus\.outputs\.importQueueName$/m,
    );
  });

  it("gives Graph the custom public URL when there is one, else the app's own host", () => {
    expect(code).toMatch(/PUBLIC_BASE_URL:\s*effectivePublicBaseUrl/);
    expect(code).toMatch(
      /var effectivePublicBaseUrl = empty\(publicBaseUrl\) \? 'https:\/\/\$\{functionApp\.properties\.defaultHostName\}' : publicBaseUrl/,
    );
    const main = loadBicep(mainBicepPath);
    expect(main.lexed.code).toMatch(/^param publicBaseUrl string = ''$/m);
    expect(
      modules(main)
        .find((m) => m.symbol === 'api')
        ?.paramValues.get('publicBaseUrl'),
    ).toBe('publicBaseUrl');
  });

  it('references CLIENT_STATE_KEYS in Key Vault only when the deployment stored keys', () => {
    const base = { ...everything, pushProvider: 'webhook' };
    expect(appSettingsFor(app, { ...base, clientStateKeysStored: true }).get('CLIENT_STATE_KEYS')).toMatch(
      KEY_VAULT_REFERENCE,
    );
    expect(appSettingsFor(app, { ...base, clientStateKeysStored: false }).has('CLIENT_STATE_KEYS')).toBe(
      false,
    );
    const main = loadBicep(mainBicepPath);
    expect(main.lexed.code).toMatch(
      /@secure\(\)\n@description\([^\n]*\)\nparam clientStateKeys string = ''$/m,
    );
    expect(main.lexed.code).toMatch(/^var clientStateKeysStored = !empty\(clientStateKeys\)$/m);
    const keysModule = modules(main).find((m) => m.resolved === modulePath('client-state-keys'));
    expect(keysModule?.paramValues.get('keys')).toBe('clientStateKeys');
    expect(keysModule?.paramValues.get('secretName')).toBe('clientStateKeysSecretName');
    const api = modules(main).find((m) => m.symbol === 'api');
    expect(api?.paramValues.get('clientStateKeysSecretName')).toBe('clientStateKeysSecretName');
    expect(api?.paramValues.get('clientStateKeysStored')).toBe('clientStateKeysStored');
  });

  it('references each Graph credential in Key Vault only when the vault holds it', () => {
    const none = {
      pushProvider: 'webhook',
      graphClientSecretStored: false,
      graphClientCertificateStored: false,
      graphClientCertificatePasswordStored: false,
      clientStateKeysStored: false,
    };
    const settings = (scenario: Scenario): string[] => [
      ...appSettingsFor(app, { ...none, ...scenario }).keys(),
    ];
    // GRAPH_CLIENT_SECRET_EXPIRES_ON is a plain setting (a date, not a credential): always written.
    const graphKeys = (scenario: Scenario): string[] =>
      settings(scenario).filter(
        (k) =>
          k.startsWith('GRAPH_CLIENT_') && k !== 'GRAPH_CLIENT_ID' && k !== 'GRAPH_CLIENT_SECRET_EXPIRES_ON',
      );
    expect(graphKeys({})).toEqual([]);
    expect(graphKeys({ graphClientSecretStored: true })).toEqual(['GRAPH_CLIENT_SECRET']);
    expect(graphKeys({ graphClientCertificateStored: true })).toEqual(['GRAPH_CLIENT_CERTIFICATE_BASE64']);
    expect(
      graphKeys({ graphClientCertificateStored: true, graphClientCertificatePasswordStored: true }),
    ).toEqual(['GRAPH_CLIENT_CERTIFICATE_BASE64', 'GRAPH_CLIENT_CERTIFICATE_PASSWORD']);
    expect(code).toMatch(/keyVaultReferenceIdentity:\s*identityId/);
  });

  it('runs Node 22 on an FC1 plan with deployment storage reached by the user-assigned identity', () => {
    expect(code).toMatch(/name:\s*'FC1'/);
    expect(code).toMatch(/tier:\s*'FlexConsumption'/);
    expect(code).toMatch(/runtime:\s*\{\s*name:\s*'node'\s*version:\s*'22'\s*\}/);
    expect(code).toMatch(/type:\s*'UserAssignedIdentity'\s*userAssignedIdentityResourceId:\s*identityId/);
    expect(code).toMatch(/param instanceMemoryMB int = 2048/);
    expect(code).toMatch(/param maximumInstanceCount int = 100/);
    expect(code).toMatch(/kind:\s*'functionapp,linux'/);
    expect(code).toMatch(/type:\s*'UserAssigned'/);
  });

  it('keeps the http group warm and sets its per-instance concurrency', () => {
    expect(code).toMatch(/param alwaysReadyHttpInstances int = 1/);
    expect(code).toMatch(/name:\s*'http'\s*instanceCount:\s*alwaysReadyHttpInstances/);
    expect(code).toMatch(
      /triggers:\s*\{\s*http:\s*\{\s*perInstanceConcurrency:\s*httpPerInstanceConcurrency\s*\}/,
    );
    const api = modules(loadBicep(mainBicepPath)).find((m) => m.symbol === 'api');
    expect(api?.paramValues.get('alwaysReadyHttpInstances')).toBe('alwaysReadyHttpInstances');
    expect(api?.paramValues.get('httpPerInstanceConcurrency')).toBe('httpPerInstanceConcurrency');
  });

  it('is https only with TLS 1.2, no FTP, no basic-auth publishing, and carries the azd service tag', () => {
    expect(code).toMatch(/httpsOnly:\s*true/);
    expect(code).toMatch(/minTlsVersion:\s*'1\.2'/);
    expect(code).toMatch(/ftpsState:\s*'Disabled'/);
    expect(code).toMatch(/'azd-service-name':\s*'api'/);
    const policies = resources(app, /^Microsoft\.Web\/sites\/basicPublishingCredentialsPolicies@/);
    expect(policies.map((p) => /name:\s*'(\w+)'/.exec(p.body)?.[1]).sort()).toEqual(['ftp', 'scm']);
    for (const policy of policies) expect(policy.body).toMatch(/allow:\s*false/);
  });

  it('gets the maintenance defaults and queue name the design calls for', () => {
    const main = loadBicep(mainBicepPath).lexed.code;
    expect(main).toMatch(/param maintenanceSchedule string = '0 \*\/5 \* \* \* \*'/);
    expect(main).toMatch(/param migrationBatchSize int = 50/);
    expect(main).toMatch(/param tableNamePrefix string = 'mailpush'/);
    expect(main).toMatch(/param maximumInstanceCount int = 100/);
    expect(main).toMatch(/var notificationQueueName = 'mail-notifications'/);
    expect(main).toMatch(/var importQueueName = 'mailbox-imports'/);
    expect(main).toMatch(
      /@allowed\(\['global', 'usgov', 'usgovdod', 'china'\]\)\s*(@description\([^\n]*\)\s*)?param graphCloud string = 'global'/,
    );
  });
});
