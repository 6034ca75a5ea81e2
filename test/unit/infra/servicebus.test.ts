// infra/modules/servicebus.bicep: namespace tier, the notification queue, diagnostics.
import { describe, expect, it } from 'vitest';
import {
  loadBicep,
  mainBicepPath,
  modulePath,
  modules,
  paramDecorators,
  resources,
} from '../../support/bicep/files.js';

describe('infra/modules/servicebus.bicep', () => {
  const file = loadBicep(modulePath('servicebus'));
  const code = file.lexed.code;
  const main = loadBicep(mainBicepPath);

  it('is Entra-only with TLS 1.2 on the 2024-01-01 API', () => {
    expect(code).toMatch(/disableLocalAuth:\s*true/);
    expect(code).toMatch(/minimumTlsVersion:\s*'1\.2'/);
    expect(code).toMatch(/'Microsoft\.ServiceBus\/namespaces@2024-01-01'/);
    expect(code).not.toMatch(/ServiceBus\/namespaces@(?!2024-01-01)/);
  });

  it('is Standard for pilots and Premium with messaging units for production', () => {
    expect(code).toMatch(/^param skuName string = 'Standard'$/m);
    expect(paramDecorators(file, 'skuName')).toMatch(/@allowed\(\['Standard', 'Premium'\]\)/);
    expect(code).toMatch(/capacity:\s*skuName == 'Premium' \? messagingUnits : null/);
    const ref = modules(main).find((m) => m.symbol === 'serviceBus');
    expect(ref?.paramValues.get('skuName')).toBe('serviceBusSku');
    expect(ref?.paramValues.get('messagingUnits')).toBe('serviceBusMessagingUnits');
    expect(main.lexed.code).toMatch(/^param serviceBusSku string = 'Standard'$/m);
  });

  it("the notification queue deduplicates over Graph's 4-hour retry window and has a size limit", () => {
    const queue = resources(file, /^(queues|Microsoft\.ServiceBus\/namespaces\/queues@.*)$/);
    expect(queue).toHaveLength(1);
    const body = queue[0]?.body ?? '';
    expect(body).toMatch(/requiresDuplicateDetection:\s*true/);
    expect(body).toMatch(/duplicateDetectionHistoryTimeWindow:\s*'PT4H'/);
    expect(body).toMatch(/maxDeliveryCount:\s*10\b/);
    expect(body).toMatch(/lockDuration:\s*'PT1M'/);
    expect(body).toMatch(/deadLetteringOnMessageExpiration:\s*true/);
    expect(body).toMatch(/defaultMessageTimeToLive:\s*'P1D'/);
    expect(body).toMatch(/maxSizeInMegabytes:\s*maxSizeInMegabytes/);
  });

  it('sends all logs and metrics to Log Analytics', () => {
    const settings = resources(file, /^Microsoft\.Insights\/diagnosticSettings@/);
    expect(settings).toHaveLength(1);
    expect(settings[0]?.body).toMatch(/categoryGroup:\s*'allLogs'/);
    expect(settings[0]?.body).toMatch(/category:\s*'AllMetrics'/);
  });
});
