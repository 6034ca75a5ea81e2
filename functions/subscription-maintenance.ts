import type { InvocationContext, Timer } from '@azure/functions';
import { getServices } from '../shared/app/services.js';
import { runMaintenance } from '../shared/app/maintenance.js';
import { registerFunction } from '../shared/hosting/registry.js';

/**
 * Every five minutes: renew subscriptions that are due (batched, within the write budget), then
 * purge expired delivery records. One log line: the renewal report with the purge's in `purge`.
 */
export async function subscriptionMaintenance(timer: Timer, context: InvocationContext): Promise<void> {
  const report = await runMaintenance(await getServices(), (message: string) => context.warn(message));
  const level = report.leaseHeld ? 'log' : 'info';
  context[level](
    `subscription-maintenance${timer.isPastDue ? ' (past due)' : ''}: ${JSON.stringify(report)}`,
  );
}

registerFunction({
  kind: 'timer',
  name: 'subscription-maintenance',
  // NCRONTAB with seconds; MAINTENANCE_SCHEDULE defaults to every five minutes on the minute.
  schedule: '%MAINTENANCE_SCHEDULE%',
  handler: subscriptionMaintenance,
});
