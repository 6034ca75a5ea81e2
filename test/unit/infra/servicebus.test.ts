// infra/modules/servicebus.bicep: namespace tier, the notification and import queues, diagnostics.
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

  const queues = resources(file, /^(queues|Microsoft\.ServiceBus\/namespaces\/queues@.*)$/);
  const queueNamed = (param: string) =>
    queues.filter((q) => new RegExp(`^\\s*name:\\s*${param}$`, 'm').test(q.body));

  it('has exactly two queues: notifications and bulk-enrolment imports', () => {
    expect(queues.map((q) => q.symbol).sort()).toEqual(['importQueue', 'queue']);
    expect(code).toMatch(/^param queueName string = 'mail-notifications'$/m);
    expect(code).toMatch(/^param importQueueName string = 'mailbox-imports'$/m);
  });

  it("the notification queue deduplicates over Graph's 4-hour retry window and has a size limit", () => {
    const queue = queueNamed('queueName');
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

  it('the import queue deduplicates chunks (import-<job>-<chunk>), dead-letters after 10 deliveries and on expiry', () => {
    const queue = queueNamed('importQueueName');
    expect(queue).toHaveLength(1);
    const body = queue[0]?.body ?? '';
    expect(body).toMatch(/requiresDuplicateDetection:\s*true/);
    expect(body).toMatch(/duplicateDetectionHistoryTimeWindow:\s*'PT4H'/);
    expect(body).toMatch(/maxDeliveryCount:\s*10\b/);
    expect(body).toMatch(/lockDuration:\s*'PT1M'/);
    expect(body).toMatch(/deadLetteringOnMessageExpiration:\s*true/);
    expect(body).toMatch(/requiresSession:\s*false/);
    expect(body).toMatch(/maxSizeInMegabytes:\s*maxSizeInMegabytes/);
    // At least as long as the notification queue's day: an outage must delay an import, not drop it.
    const ttl = /defaultMessageTimeToLive:\s*'P(\d+)D'/.exec(body)?.[1];
    expect(Number(ttl)).toBeGreaterThanOrEqual(1);
  });

  it('outputs both queue names, and main.bicep names the import queue mailbox-imports', () => {
    expect(code).toMatch(/^output queueName string = serviceBusNamespace::queue\.name$/m);
    expect(code).toMatch(/^output importQueueName string = serviceBusNamespace::importQueue\.name$/m);
    expect(main.lexed.code).toMatch(/^var importQueueName = 'mailbox-imports'$/m);
    const ref = modules(main).find((m) => m.symbol === 'serviceBus');
    expect(ref?.paramValues.get('queueName')).toBe('notificationQueueName');
    expect(ref?.paramValues.get('importQueueName')).toBe('importQueueName');
  });

  it('sends all logs and metrics to Log Analytics', () => {
    const settings = resources(file, /^Microsoft\.Insights\/diagnosticSettings@/);
    expect(settings).toHaveLength(1);
    expect(settings[0]?.body).toMatch(/categoryGroup:\s*'allLogs'/);
    expect(settings[0]?.body).toMatch(/category:\s*'AllMetrics'/);
  });
});
