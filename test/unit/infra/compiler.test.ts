// The real Bicep compiler: `bicep build` and `bicep lint` (infra/bicepconfig.json) on
// infra/main.bicep, then facts checked in the compiled ARM template. Without a Bicep CLI these
// skip and print why (test/support/bicep/cli.ts); the text-based tests still run.
import { describe, expect, it } from 'vitest';
import { apiVersions, get, moduleResources, templateResources } from '../../support/bicep/arm.js';
import { bicepCli, buildMain, diagnostics, lintMain, skipReason } from '../../support/bicep/cli.js';
import { isRecord } from '../../support/bicep/files.js';

const cli = bicepCli();
if (cli === undefined) console.warn(skipReason('bicep build/lint and the compiled-template checks'));
else console.info(`infra: Bicep CLI from ${cli.source}`);

describe('Bicep compiler', () => {
  it.skipIf(cli === undefined)('bicep build infra/main.bicep succeeds with no error or warning', () => {
    if (cli === undefined) return;
    const result = buildMain(cli);
    expect(result.status, result.stderr).toBe(0);
    expect(diagnostics(result.stderr + result.stdout)).toEqual([]);
    expect(isRecord(result.template)).toBe(true);
  });

  it.skipIf(cli === undefined)(
    'bicep lint infra/main.bicep reports nothing (rules in infra/bicepconfig.json)',
    () => {
      if (cli === undefined) return;
      const result = lintMain(cli);
      expect(diagnostics(result.stderr + result.stdout)).toEqual([]);
      expect(result.status, result.stderr).toBe(0);
    },
  );
});

describe('the compiled template (main.json)', () => {
  const template = cli === undefined ? undefined : buildMain(cli).template;
  const skip = template === undefined;

  it.skipIf(skip)('deploys one resource group and one nested deployment per module', () => {
    const top = templateResources(template);
    expect(top.filter((r) => r.type === 'Microsoft.Resources/resourceGroups')).toHaveLength(1);
    const deployments = top.filter((r) => r.type === 'Microsoft.Resources/deployments').map((r) => r.name);
    expect(deployments.sort()).toEqual(
      [
        'alerts',
        'api',
        'client-state-keys',
        'graph-credential',
        'identity',
        'keyvault',
        'monitoring',
        'notification-hubs',
        'push-webhook',
        'rbac',
        'servicebus',
        'storage',
        'workbook',
      ].sort(),
    );
  });

  it.skipIf(skip)('uses one API version per resource type, and Service Bus 2024-01-01', () => {
    const versions = apiVersions(template);
    for (const [type, set] of versions) expect([...set], type).toHaveLength(1);
    expect([...(versions.get('Microsoft.ServiceBus/namespaces') ?? [])]).toEqual(['2024-01-01']);
    expect([...(versions.get('Microsoft.ServiceBus/namespaces/queues') ?? [])]).toEqual(['2024-01-01']);
  });

  it.skipIf(skip)(
    'runs Node 22 on Flex Consumption with an always-ready http group and HTTP concurrency',
    () => {
      const [site] = moduleResources(template, 'api', 'Microsoft.Web/sites');
      const config = get(site?.body, 'properties', 'functionAppConfig');
      expect(get(config, 'runtime')).toEqual({ name: 'node', version: '22' });
      const scale = JSON.stringify(get(config, 'scaleAndConcurrency'));
      expect(scale).toContain("'http'");
      expect(scale).toContain('alwaysReadyHttpInstances');
      expect(scale).toContain('perInstanceConcurrency');
      const plans = moduleResources(template, 'api', 'Microsoft.Web/serverfarms');
      expect(get(plans[0]?.body, 'sku')).toEqual({ name: 'FC1', tier: 'FlexConsumption' });
    },
  );

  it.skipIf(skip)('turns basic-auth publishing off for SCM and FTP', () => {
    const policies = moduleResources(
      template,
      'api',
      'Microsoft.Web/sites/basicPublishingCredentialsPolicies',
    );
    expect(policies).toHaveLength(2);
    for (const policy of policies) expect(get(policy.body, 'properties', 'allow')).toBe(false);
  });

  it.skipIf(skip)('creates the tables with a copy loop over the table names', () => {
    const tables = moduleResources(
      template,
      'storage',
      'Microsoft.Storage/storageAccounts/tableServices/tables',
    );
    expect(tables).toHaveLength(1);
    expect(get(tables[0]?.body, 'copy', 'count')).toBe("[length(parameters('tableNames'))]");
  });

  it.skipIf(skip)("scopes the app identity's Service Bus role to each queue", () => {
    const assignments = moduleResources(template, 'rbac', 'Microsoft.Authorization/roleAssignments');
    const queueScoped = assignments.filter((a) => String(a.body['scope']).includes('queues'));
    expect(queueScoped).toHaveLength(2);
    for (const a of queueScoped) expect(JSON.stringify(a.body)).toContain('serviceBusDataOwner');
    const scopes = queueScoped.map((a) => String(a.body['scope']));
    expect(
      scopes.some((s) => s.includes("parameters('notificationQueueName')")),
      scopes.join(),
    ).toBe(true);
    expect(
      scopes.some((s) => s.includes("parameters('importQueueName')")),
      scopes.join(),
    ).toBe(true);
  });

  it.skipIf(skip)('has diagnostic settings for Service Bus, Key Vault and Storage', () => {
    for (const module of ['servicebus', 'keyvault', 'storage'])
      expect(
        moduleResources(template, module, 'Microsoft.Insights/diagnosticSettings').length,
        module,
      ).toBeGreaterThan(0);
  });

  it.skipIf(skip)('has the availability test, the alert rules and the workbook', () => {
    const webtests = moduleResources(template, 'alerts', 'Microsoft.Insights/webtests');
    expect(webtests).toHaveLength(1);
    expect(get(webtests[0]?.body, 'kind')).toBe('standard');
    expect(get(webtests[0]?.body, 'properties', 'Frequency')).toBe(300);
    expect(moduleResources(template, 'alerts', 'Microsoft.Insights/scheduledQueryRules')).toHaveLength(1);
    expect(moduleResources(template, 'alerts', 'Microsoft.Insights/metricAlerts')).toHaveLength(2);
    expect(moduleResources(template, 'workbook', 'Microsoft.Insights/workbooks')).toHaveLength(1);
  });
});
