/**
 * What each stage records; the call sites stay one line each. Every function returns at once when
 * its inputs hold nothing to record, and records into no-op instruments when telemetry is off.
 */
import type { IngestResult, WebhookKind } from '../domain/ingest.js';
import type { ChangeMessage } from '../domain/model.js';
import type { PushDeliveryOutcome, PushProvider } from '../domain/ports.js';
import type { ChangeHandlingOutcome } from '../delivery/service.js';
import { instruments } from './metrics.js';
import { withWebhookSpan } from './trace-context.js';

/** The webhook's answer time (handshakes included) around `handle`, inside its span. */
export async function measureWebhook<T>(
  kind: WebhookKind,
  hostTraceParent: string | null | undefined,
  handle: () => Promise<T>,
): Promise<T> {
  const started = performance.now();
  try {
    return await withWebhookSpan(hostTraceParent, handle);
  } finally {
    instruments().ackMs.record(performance.now() - started, { kind });
  }
}

/** Notifications received, enqueued and dropped (by reason) in one webhook POST. */
export function recordWebhookIngest(kind: WebhookKind, result: IngestResult): void {
  const i = instruments();
  i.received.add(result.received, { kind });
  if (result.accepted > 0) i.enqueued.add(result.accepted, { kind });
  for (const [reason, n] of Object.entries(result.dropped)) {
    if (n > 0) i.dropped.add(n, { reason, stage: 'webhook' });
  }
}

/**
 * The mail's receivedDateTime for a pushed outcome, kept beside it (not in it: the outcome is
 * what callers log and compare) until recordChangeOutcome reads it.
 */
const mailReceivedAt = new WeakMap<object, string>();
export function noteMailReceivedAt(outcome: object, receivedDateTime: string | undefined): void {
  if (receivedDateTime) mailReceivedAt.set(outcome, receivedDateTime);
}

/** A change message's outcome in the processor: drops by reason, push latency when pushed. */
export function recordChangeOutcome(
  message: Pick<ChangeMessage, 'receivedAt'>,
  outcome: ChangeHandlingOutcome,
  now: number,
): void {
  const i = instruments();
  if (outcome.action === 'dropped') {
    i.dropped.add(1, { reason: outcome.reason, stage: 'processor' });
    return;
  }
  if (outcome.action !== 'pushed') return;
  const receipt = Date.parse(message.receivedAt);
  if (Number.isFinite(receipt)) i.pushLatencyMs.record(Math.max(0, now - receipt), { from: 'receipt' });
  const receivedDateTime = mailReceivedAt.get(outcome);
  const received = receivedDateTime ? Date.parse(receivedDateTime) : Number.NaN;
  if (Number.isFinite(received)) i.pushLatencyMs.record(Math.max(0, now - received), { from: 'received' });
}

/** Per device: `sent`, `invalid_token`, `retry` (reason throttled or transient), or `failed`. */
export function recordPushOutcomes(provider: string, outcomes: readonly PushDeliveryOutcome[]): void {
  const pushes = instruments().pushes;
  let sent = 0;
  let invalid = 0;
  let throttled = 0;
  let transient = 0;
  for (const o of outcomes) {
    if (o.outcome === 'sent') sent++;
    else if (o.outcome === 'invalid_token') invalid++;
    else if (o.retryAfterMs !== undefined) throttled++;
    else transient++;
  }
  if (sent) pushes.add(sent, { provider, outcome: 'sent', reason: 'none' });
  if (invalid) pushes.add(invalid, { provider, outcome: 'invalid_token', reason: 'invalid_token' });
  if (throttled) pushes.add(throttled, { provider, outcome: 'retry', reason: 'throttled' });
  if (transient) pushes.add(transient, { provider, outcome: 'retry', reason: 'transient' });
}

/**
 * Counts the provider's send outcomes. Wraps `send` on the instance itself, so the provider keeps
 * its class (callers and tests may rely on it, e.g. the local sink's `count()`).
 */
export function meterPushProvider<P extends PushProvider>(provider: P): P {
  const send = provider.send.bind(provider);
  provider.send = async (devices, content) => {
    try {
      const outcomes = await send(devices, content);
      recordPushOutcomes(provider.name, outcomes);
      return outcomes;
    } catch (error) {
      instruments().pushes.add(devices.length, {
        provider: provider.name,
        outcome: 'failed',
        reason: 'error',
      });
      throw error;
    }
  };
  return provider;
}

/** A queue message failing on its last delivery: the queue dead-letters it. */
export function recordDeadLettered(type: string): void {
  instruments().deadlettered.add(1, {
    type: type === 'change' || type === 'lifecycle' || type === 'import-chunk' ? type : 'unknown',
  });
}
