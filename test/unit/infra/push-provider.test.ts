// The push provider (PUSH_PROVIDER): notification-hubs.bicep, push-webhook.bicep and what the
// Function App gets from them.
import { relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MIN_WEBHOOK_SECRET_LENGTH } from '../../../shared/push/gateway.js';
import { appSettingsFor, KEY_VAULT_REFERENCE, type Scenario } from '../../support/bicep/app-settings.js';
import {
  infraDir,
  isRecord,
  loadBicep,
  mainBicepPath,
  moduleGraph,
  modulePath,
  modules,
  paramDecorators,
  readJson,
  repoRoot,
  resources,
  secureParams,
} from '../../support/bicep/files.js';
import { join } from 'node:path';

const functionAppPath = modulePath('function-app');
const notificationHubsPath = modulePath('notification-hubs');
const pushWebhookPath = modulePath('push-webhook');

describe('push provider (PUSH_PROVIDER)', () => {
  const main = loadBicep(mainBicepPath);
  const app = loadBicep(functionAppPath);
  const hubs = loadBicep(notificationHubsPath);
  const webhook = loadBicep(pushWebhookPath);
  const mainModules = new Map(modules(main).map((ref) => [ref.resolved ?? ref.path, ref]));
  const apiModule = mainModules.get(functionAppPath);
  const hubsModule = mainModules.get(notificationHubsPath);
  const webhookModule = mainModules.get(pushWebhookPath);
  const parametersFile = readJson(join(infraDir, 'main.parameters.json'));
  const supplied =
    isRecord(parametersFile) && isRecord(parametersFile['parameters']) ? parametersFile['parameters'] : {};
  const secret = {
    graphClientSecretStored: true,
    graphClientCertificateStored: false,
    graphClientCertificatePasswordStored: false,
    clientStateKeysStored: false,
  };
  const scenarios: Scenario[] = [
    { ...secret, pushProvider: 'notification-hubs' },
    { ...secret, pushProvider: 'webhook' },
  ];

  it('is a main.bicep parameter, notification-hubs or webhook (never local), taken from PUSH_PROVIDER', () => {
    expect(main.lexed.code).toMatch(/^param pushProvider string = 'notification-hubs'$/m);
    for (const file of [main, app]) {
      expect(paramDecorators(file, 'pushProvider'), relative(repoRoot, file.path)).toMatch(
        /^@allowed\(\['notification-hubs', 'webhook'\]\)$/m,
      );
    }
    expect(supplied['pushProvider']).toEqual({ value: '${PUSH_PROVIDER=notification-hubs}' });
    expect(apiModule?.paramValues.get('pushProvider')).toBe('pushProvider');
  });

  it('sets PUSH_PROVIDER in every case, from the parameter', () => {
    for (const scenario of scenarios) {
      expect(appSettingsFor(app, scenario).get('PUSH_PROVIDER'), JSON.stringify(scenario)).toBe(
        'pushProvider',
      );
    }
  });

  it("deploys only the chosen provider's resources, before the Function App", () => {
    expect(hubsModule?.condition).toBe("pushProvider == 'notification-hubs'");
    expect(webhookModule?.condition).toBe("pushProvider == 'webhook'");
    expect(apiModule?.condition).toBeUndefined();
    // Their Key Vault secrets must exist before the app's references are first resolved.
    expect(apiModule?.dependsOn).toEqual(expect.arrayContaining([hubsModule?.symbol, webhookModule?.symbol]));
    const settings = scenarios.map((scenario) => [...appSettingsFor(app, scenario).keys()]);
    expect(settings[0]).toEqual(
      expect.arrayContaining(['NOTIFICATION_HUB_NAME', 'NOTIFICATION_HUB_CONNECTION_STRING']),
    );
    expect(settings[0]).not.toEqual(expect.arrayContaining(['PUSH_WEBHOOK_URL']));
    expect(settings[0]).not.toEqual(expect.arrayContaining(['PUSH_WEBHOOK_SECRET']));
    expect(settings[1]).toEqual(expect.arrayContaining(['PUSH_WEBHOOK_URL', 'PUSH_WEBHOOK_SECRET']));
    expect(settings[1]).not.toEqual(expect.arrayContaining(['NOTIFICATION_HUB_NAME']));
    expect(settings[1]).not.toEqual(expect.arrayContaining(['NOTIFICATION_HUB_CONNECTION_STRING']));
  });

  it('creates a Notification Hubs namespace (Free by default, tier a parameter) with one hub', () => {
    const namespaces = resources(hubs, /^Microsoft\.NotificationHubs\/namespaces@/);
    expect(namespaces).toHaveLength(1);
    expect(namespaces[0]?.body).toMatch(/sku:\s*\{\s*name:\s*skuName\s*\}/);
    expect(namespaces[0]?.body).toMatch(/namespaceType:\s*'NotificationHub'/);
    expect(hubs.lexed.code).toMatch(/^param skuName string = 'Free'$/m);
    expect(paramDecorators(hubs, 'skuName')).toMatch(/@allowed\(\['Free', 'Basic', 'Standard'\]\)/);
    expect(main.lexed.code).toMatch(/^param notificationHubsSku string = 'Free'$/m);
    expect(paramDecorators(main, 'notificationHubsSku')).toMatch(
      /@allowed\(\['Free', 'Basic', 'Standard'\]\)/,
    );
    expect(hubsModule?.paramValues.get('skuName')).toBe('notificationHubsSku');
    expect(supplied['notificationHubsSku']).toEqual({ value: '${NOTIFICATION_HUBS_SKU=Free}' });
    const hubResources = resources(
      hubs,
      /^(notificationHubs|Microsoft\.NotificationHubs\/namespaces\/notificationHubs@.*)$/,
    );
    expect(hubResources).toHaveLength(1);
  });

  it('gives the app a hub policy with Listen (installations) and Send (pushes), and nothing else', () => {
    const rules = resources(
      hubs,
      /^Microsoft\.NotificationHubs\/namespaces\/notificationHubs\/authorizationRules@/,
    );
    expect(rules).toHaveLength(1);
    const body = rules[0]?.body ?? '';
    const rightsSource = /rights:\s*\[([^\]]*)\]/.exec(body)?.[1] ?? '';
    const rights = [...rightsSource.matchAll(/'(\w+)'/g)].map((m) => m[1]);
    expect(rights, 'the app registers installations (Listen) and sends (Send)').toEqual(
      expect.arrayContaining(['Listen', 'Send']),
    );
    expect(rights, 'least privilege: the app never manages the hub').not.toContain('Manage');
    // On the hub, not the namespace: the policy reaches this hub only.
    const hubSymbol = resources(
      hubs,
      /^(notificationHubs|Microsoft\.NotificationHubs\/namespaces\/notificationHubs@.*)$/,
    )[0]?.symbol;
    expect(body).toMatch(new RegExp(`parent:\\s*(\\w+::)?${hubSymbol ?? '?'}\\b`));
  });

  it('puts the hub connection string in Key Vault and hands the app only a Key Vault reference', () => {
    const connection =
      appSettingsFor(app, scenarios[0] ?? {}).get('NOTIFICATION_HUB_CONNECTION_STRING') ?? '';
    const referenced = KEY_VAULT_REFERENCE.exec(connection)?.[1];
    expect(
      referenced,
      `NOTIFICATION_HUB_CONNECTION_STRING is ${connection}, not a Key Vault reference`,
    ).toBeDefined();
    // The module writes the secret under the same name the app setting references.
    const name = apiModule?.paramValues.get(referenced ?? '');
    expect(name).toMatch(/^\w+$/);
    expect(hubsModule?.paramValues.get('connectionStringSecretName')).toBe(name);
    expect(hubsModule?.paramValues.get('keyVaultName')).toBe('keyVaultName');
    const secrets = resources(hubs, /^Microsoft\.KeyVault\/vaults\/secrets@/);
    expect(secrets).toHaveLength(1);
    expect(secrets[0]?.body).toMatch(/name:\s*connectionStringSecretName\b/);
    expect(secrets[0]?.body).toMatch(/value:\s*\w+\.listKeys\(\)\.primaryConnectionString/);
    // Nothing else carries it: no output, and the hub name is plain.
    for (const match of hubs.lexed.code.matchAll(/^output[^\n]*$/gm)) {
      expect(match[0]).not.toMatch(/listKeys|connectionString\.|primaryKey|secondaryKey/i);
    }
    expect(appSettingsFor(app, scenarios[0] ?? {}).get('NOTIFICATION_HUB_NAME')).toBe('notificationHubName');
    expect(apiModule?.paramValues.get('notificationHubName')).toBe(hubsModule?.paramValues.get('hubName'));
  });

  it('takes the webhook URL and a @secure() key, and hands the app a Key Vault reference for the key', () => {
    expect(paramDecorators(main, 'pushWebhookSecret')).toMatch(/^@secure\(\)$/m);
    expect(main.lexed.code).toMatch(/^param pushWebhookSecret string = ''$/m);
    expect(main.lexed.code).toMatch(/^param pushWebhookUrl string = ''$/m);
    expect(supplied['pushWebhookUrl']).toEqual({ value: '${PUSH_WEBHOOK_URL}' });
    expect(supplied['pushWebhookSecret']).toEqual({ value: '${PUSH_WEBHOOK_SECRET}' });
    expect(webhookModule?.paramValues.get('secret')).toBe('pushWebhookSecret');
    expect(paramDecorators(webhook, 'secret')).toMatch(/^@secure\(\)$/m);
    // The app refuses shorter keys; the deployment refuses them first.
    expect(paramDecorators(webhook, 'secret')).toMatch(
      new RegExp(`^@minLength\\(${MIN_WEBHOOK_SECRET_LENGTH}\\)$`, 'm'),
    );
    const settings = appSettingsFor(app, scenarios[1] ?? {});
    expect(apiModule?.paramValues.get('pushWebhookUrl')).toBe('pushWebhookUrl');
    expect(settings.get('PUSH_WEBHOOK_URL')).toBe('pushWebhookUrl');
    const secret = settings.get('PUSH_WEBHOOK_SECRET') ?? '';
    const referenced = KEY_VAULT_REFERENCE.exec(secret)?.[1];
    expect(referenced, `PUSH_WEBHOOK_SECRET is ${secret}, not a Key Vault reference`).toBeDefined();
    const name = apiModule?.paramValues.get(referenced ?? '');
    expect(webhookModule?.paramValues.get('secretName')).toBe(name);
    const secrets = resources(webhook, /^Microsoft\.KeyVault\/vaults\/secrets@/);
    expect(secrets).toHaveLength(1);
    expect(secrets[0]?.body).toMatch(/name:\s*secretName\b/);
    expect(secrets[0]?.body).toMatch(/value:\s*secret\b/);
    expect(webhook.lexed.code).not.toMatch(/^output[^\n]*\bsecret\b(?!Name)/m);
  });

  it('passes a @secure() value only to @secure() module parameters', () => {
    for (const file of moduleGraph().values()) {
      const secure = new Set(secureParams(file));
      for (const ref of modules(file)) {
        const target = ref.resolved === undefined ? undefined : loadBicep(ref.resolved);
        if (target === undefined) continue;
        for (const [key, value] of ref.paramValues) {
          if (!secure.has(value)) continue;
          expect(secureParams(target), `${relative(repoRoot, file.path)} → ${ref.symbol}.${key}`).toContain(
            key,
          );
        }
      }
    }
  });

  it('sends the APNs and FCM v1 credentials with every deployment, so a re-provision keeps them', () => {
    // A PUT of the hub replaces its properties: credentials uploaded by hand would be lost.
    const hub = resources(hubs, /^notificationHubs$/)[0]?.body ?? '';
    expect(hub).toMatch(/properties:\s*union\(apnsCredential, fcmV1Credential\)/);
    for (const name of ['apnsToken', 'fcmPrivateKey']) {
      expect(paramDecorators(main, name), name).toMatch(/^@secure\(\)$/m);
      expect(paramDecorators(hubs, name), name).toMatch(/^@secure\(\)$/m);
      expect(hubsModule?.paramValues.get(name)).toBe(name);
    }
    for (const name of [
      'apnsKeyId',
      'apnsTeamId',
      'apnsBundleId',
      'apnsEnvironment',
      'fcmProjectId',
      'fcmClientEmail',
    ])
      expect(hubsModule?.paramValues.get(name), name).toBe(name);
    expect(hubs.lexed.code).toMatch(/var apnsCredential = empty\(apnsToken\)/);
    expect(hubs.lexed.code).toMatch(/var fcmV1Credential = empty\(fcmPrivateKey\)/);
    expect(supplied['apnsToken']).toEqual({ value: '${APNS_TOKEN}' });
    expect(supplied['fcmPrivateKey']).toEqual({ value: '${FCM_PRIVATE_KEY}' });
  });
});
