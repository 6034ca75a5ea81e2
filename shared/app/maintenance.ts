import { runRenewalPass, type RenewalReport } from '../domain/renewal/pass.js';
import type { Services } from './services.js';

/**
 * One run of the subscription-maintenance timer: the renewal pass over the due buckets, under
 * the lease, within the per-tenant write budget. Gone subscriptions are recreated (and their
 * Inbox resynced); 403s are recorded on the mailbox with what to do about them.
 */
export async function runMaintenance(
  services: Services,
  warn: (message: string) => void = () => {},
): Promise<RenewalReport> {
  return runRenewalPass({
    now: () => Date.now(),
    sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    schedule: services.renewalSchedule,
    graph: services.renewals,
    lease: services.leases,
    budgets: services.writeBudgets,
    options: { windowMs: services.settings.maintenance.renewalWindowMs },
    onGone: async (entry) => {
      await services.lifecycle.recreate(entry.subscriptionId);
    },
    onForbidden: async (entry, reason) => {
      const subscription = await services.subscriptions.getSubscription(entry.subscriptionId);
      if (subscription) await services.lifecycle.recordMailboxError(subscription.mailboxEmail, reason);
    },
    onWarning: (message, error) => warn(error instanceof Error ? `${message}: ${error.message}` : message),
  });
}
