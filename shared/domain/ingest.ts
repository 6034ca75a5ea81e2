import {
  clientStateKind,
  hasSignedClientStateShape,
  verifyClientState,
  verifyLifecycleClientState,
  type ClientStateKeyring,
} from './client-state.js';
import type { QueuedNotification } from './model.js';
import {
  checkAgainstSubscription,
  parseNotificationPayload,
  toQueuedNotification,
  type DropReason,
  type ParsedNotification,
} from './notifications.js';
import type { NotificationQueue, SubscriptionLookup } from './ports.js';

export type WebhookKind = 'change' | 'lifecycle';

export interface IngestResult {
  received: number;
  accepted: number;
  dropped: Partial<Record<DropReason, number>>;
}

export interface IngestDeps {
  subscriptions: SubscriptionLookup;
  queue: NotificationQueue;
  now: () => Date;
  /**
   * The keys of signed (`v1.`) clientStates (CLIENT_STATE_KEYS). Without them every item takes
   * the subscription lookup, as before signed clientStates existed.
   */
  clientStateKeys?: ClientStateKeyring | undefined;
  /**
   * Whether old-style (unsigned or v1) clientStates are still looked up (see lookup-path.ts).
   * Asked only when such an item arrives and only with `clientStateKeys`; without it they are.
   */
  lookupPath?: { isOn(): Promise<boolean> | boolean } | undefined;
}

/**
 * The webhook's whole job: validate every notification of one POST against its stored
 * subscription and enqueue the genuine ones in one send. Nothing slow happens here (no Graph
 * call), because Graph throttles and then drops notifications for endpoints that answer slowly.
 *
 * Throws PayloadError for a wrong envelope (→ 400, nothing enqueued) and lets lookup or queue
 * failures propagate (→ 503, so Graph retries; duplicate detection absorbs the repeats).
 */
export async function ingestNotifications(
  body: unknown,
  kind: WebhookKind,
  deps: IngestDeps,
): Promise<IngestResult> {
  const payload = parseNotificationPayload(body);
  const dropped: Partial<Record<DropReason, number>> = {};
  const drop = (reason: DropReason) => {
    dropped[reason] = (dropped[reason] ?? 0) + 1;
  };
  for (let i = 0; i < payload.malformed.length; i++) drop('malformed');

  const keyring = deps.clientStateKeys;
  let candidates = payload.items.filter((item) => {
    if (kind === 'lifecycle' && item.kind !== 'lifecycle') {
      drop('change_on_lifecycle_url');
      return false;
    }
    // Before any lookup: a forged signed clientState must not cost a storage read.
    if (keyring && !signatureHolds(keyring, item)) {
      drop('client_state_mismatch');
      return false;
    }
    return true;
  });
  // Old-style clientStates are looked up only while subscriptions with them may exist: once the
  // timer's census found none left, they are dropped here, again before any storage request.
  if (keyring && deps.lookupPath && candidates.some((item) => clientStateKind(item.clientState) !== 'v2')) {
    if (!(await deps.lookupPath.isOn())) {
      candidates = candidates.filter((item) => {
        if (clientStateKind(item.clientState) === 'v2') return true;
        drop('old_client_state');
        return false;
      });
    }
  }

  const receivedAt = deps.now();
  const subscriptions = await Promise.all(
    candidates.map((item) => deps.subscriptions.getSubscription(item.subscriptionId)),
  );
  const messages: QueuedNotification[] = [];
  const seen = new Set<string>();
  candidates.forEach((item, i) => {
    const subscription = subscriptions[i];
    const reason = checkAgainstSubscription(item, subscription);
    if (reason || !subscription) {
      drop(reason ?? 'unknown_subscription');
      return;
    }
    const message = toQueuedNotification(item, subscription, receivedAt, payload.validationTokens);
    // The same notification twice in one POST is one message (duplicate detection would drop it anyway).
    if (seen.has(message.messageId)) return;
    seen.add(message.messageId);
    messages.push(message);
  });

  if (messages.length > 0) await deps.queue.enqueue(messages);
  return { received: payload.items.length + payload.malformed.length, accepted: messages.length, dropped };
}

/**
 * A signed clientState is checked by its MAC against the notification's tenant and mailbox
 * user; an unsigned one passes here and is compared with the stored secret after the lookup
 * (subscriptions created before signing keep working). Lifecycle events do not name their user:
 * a v2 clientState carries it, so its MAC is checked in full; of a v1 one only the shape and key
 * id can be checked here, and the stored secret decides.
 */
function signatureHolds(keyring: ClientStateKeyring, item: ParsedNotification): boolean {
  const signed = clientStateKind(item.clientState);
  if (signed === 'unsigned') return true;
  if (item.kind === 'lifecycle') {
    return signed === 'v2'
      ? verifyLifecycleClientState(keyring, item.clientState, item.tenantId)
      : hasSignedClientStateShape(keyring, item.clientState);
  }
  if (item.tenantId === undefined) return false;
  return verifyClientState(keyring, item.clientState, {
    tenantId: item.tenantId,
    userId: item.resourceUserId,
  });
}
