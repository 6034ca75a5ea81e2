/**
 * The maintenance timer's census of old-style clientStates (see shared/domain/lookup-path.ts for
 * why it is a census over renewal cycles and not a table scan): it watches which subscriptions the
 * renewal pass renewed, point-reads those (only while the lookup path is on), recreates the
 * old-style ones as v2 within the per-tenant write budget, and keeps the count in the control
 * table. Once the census says off, none of this reads anything any more.
 */
import { clientStateKind } from '../domain/client-state.js';
import {
  CENSUS_CYCLE_MS,
  CLIENT_STATE_CENSUS,
  advanceCensus,
  freshCensus,
  type ClientStateCensus,
} from '../domain/lookup-path.js';
import type { RenewalReport } from '../domain/renewal/pass.js';
import type { SubscriptionRenewalPort } from '../domain/ports.js';
import { ConcurrencyError, ensureError } from '../errors.js';
import type { Services } from './services.js';

/** Old-style subscriptions recreated per run at most (each is a create and a delete: 2 writes). */
export const CLIENT_STATE_UPGRADES_PER_RUN = 1_000;
const READS_IN_PARALLEL = 16;
const UPGRADES_IN_PARALLEL = 4;

/** The census part of the timer's report. */
export type ClientStateCensusReport =
  | { status: 'off' | 'keys_unset' | 'skipped' }
  | {
      status: 'counted';
      renewed: number;
      oldStyle: number;
      upgraded: number;
      unclassified: number;
      lookupPath: 'on' | 'off';
    }
  | { status: 'failed'; error: string };

/** Collects the subscriptions a renewal pass renewed (2xx), so the census can classify them. */
export class RenewedSubscriptions {
  readonly renewed = new Map<string, string>();
  /** False once the census is known to be off (or could not be read): then nothing is collected. */
  active = true;
  /** Renewals not collected while inactive: if the census is on after all, they are unclassified. */
  unobserved = 0;

  wrap(port: SubscriptionRenewalPort): SubscriptionRenewalPort {
    return {
      renewBatch: async (tenantId, items) => {
        const outcomes = await port.renewBatch(tenantId, items);
        if (this.active) {
          for (const outcome of outcomes) {
            if (outcome.status >= 200 && outcome.status < 300)
              this.renewed.set(outcome.subscriptionId, tenantId);
          }
        }
        return outcomes;
      },
    };
  }
}

/** Reads the census before the pass: whether to collect at all. */
export async function censusIsActive(services: Services): Promise<boolean> {
  if (!services.settings.clientStateKeys) return false;
  const census = await services.control.get<ClientStateCensus>(CLIENT_STATE_CENSUS);
  return census?.value.lookupPath !== 'off';
}

/**
 * After the renewal pass (and the mailbox work): classify what was renewed, recreate old-style
 * subscriptions as v2 within the budget and the deadline, and add the run to the census.
 */
export async function runClientStateCensus(
  services: Services,
  renewed: RenewedSubscriptions,
  renewal: RenewalReport,
  options: { now: () => number; deadline: number; warn: (message: string) => void; maxUpgrades?: number },
): Promise<ClientStateCensusReport> {
  const { now, warn } = options;
  if (!renewal.leaseHeld) return { status: 'skipped' };
  try {
    if (!services.settings.clientStateKeys) {
      // Every new subscription is old-style now: the census starts again once keys are set.
      await services.control.put(CLIENT_STATE_CENSUS, freshCensus(now(), 'CLIENT_STATE_KEYS is not set'));
      return { status: 'keys_unset' };
    }
    const stored = await services.control.get<ClientStateCensus>(CLIENT_STATE_CENSUS);
    if (stored?.value.lookupPath === 'off') return { status: 'off' };

    const ids = [...renewed.renewed.keys()];
    let unclassified = renewed.unobserved;
    const oldStyle: { subscriptionId: string; tenantId: string; mailboxEmail: string }[] = [];
    await mapBounded(ids, READS_IN_PARALLEL, async (subscriptionId) => {
      if (now() >= options.deadline) {
        unclassified++;
        return;
      }
      try {
        const record = await services.subscriptions.getSubscription(subscriptionId);
        // Gone meanwhile (recreated, unenrolled): not a subscription any more.
        if (record && clientStateKind(record.clientState) !== 'v2') {
          oldStyle.push({ subscriptionId, tenantId: record.tenantId, mailboxEmail: record.mailboxEmail });
        }
      } catch {
        unclassified++;
      }
    });

    let upgraded = 0;
    let left = 0;
    const cap = options.maxUpgrades ?? CLIENT_STATE_UPGRADES_PER_RUN;
    await mapBounded(oldStyle, UPGRADES_IN_PARALLEL, async (item, index) => {
      const at = now();
      // Create the v2 one, record it, then delete the old one: createForMailbox does it in that
      // order, so a crash leaves at worst two subscriptions (duplicates are absorbed), never none.
      if (index >= cap || at >= options.deadline || !services.writeBudgets.tryTake(item.tenantId, 2, at)) {
        left++;
        return;
      }
      try {
        const mailbox = await services.mailboxes.getMailbox(item.mailboxEmail);
        if (mailbox?.userId && mailbox.subscriptionId === item.subscriptionId) {
          // Only an active mailbox: recreating would make any other one active.
          if (mailbox.state !== 'active') {
            left++;
            return;
          }
          await services.lifecycle.createForMailbox(mailbox);
        } else {
          // The mailbox moved on (or is gone): recreate() retires the stray subscription.
          await services.lifecycle.recreate(item.subscriptionId);
        }
        upgraded++;
      } catch (error) {
        left++;
        warn(
          `recreating an old-style subscription as v2 failed; it stays old-style: ${ensureError(error).message}`,
        );
      }
    });

    const passComplete = renewal.stoppedBy === 'done' && renewal.deferred - renewal.heldForBatching === 0;
    const next = advanceCensus(
      stored?.value,
      { oldStyle: left, upgraded, unclassified, passComplete },
      now(),
      CENSUS_CYCLE_MS,
    );
    try {
      await services.control.put(CLIENT_STATE_CENSUS, next, stored?.etag);
    } catch (error) {
      if (!(error instanceof ConcurrencyError)) throw error;
      // Reset meanwhile (keys unset elsewhere) or another run: theirs stands; this run is lost to
      // the census, which only delays switching the lookup path off.
      warn('the clientState census changed during the run; this run is not counted');
    }
    return {
      status: 'counted',
      renewed: ids.length,
      oldStyle: left,
      upgraded,
      unclassified,
      lookupPath: next.lookupPath,
    };
  } catch (error) {
    const message = ensureError(error).message;
    warn(`the clientState census failed; the next run continues: ${message}`);
    return { status: 'failed', error: message };
  }
}

async function mapBounded<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const index = next++;
        await fn(items[index]!, index);
      }
    }),
  );
}
