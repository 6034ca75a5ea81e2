/**
 * W3C trace context across the queue, so one mail can be followed from the webhook request to
 * its push: the webhook's span context goes into each Service Bus message's application
 * properties (`traceparent`, `tracestate`), and the processor continues that trace.
 *
 * The CoalescingNotificationQueue sends many webhook calls' messages together, later and from
 * another async context, so each message's context is taken when its webhook call hands it over
 * (rememberTraceContext), not when the batch is sent.
 */
import {
  context,
  propagation,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Context,
  type Span,
} from '@opentelemetry/api';
import { telemetryActive } from './meter.js';

export const TRACER_NAME = 'mailpush';

type Carrier = Record<string, string>;

const remembered = new WeakMap<object, Carrier>();

function currentCarrier(): Carrier | undefined {
  if (!telemetryActive()) return undefined;
  const carrier: Carrier = {};
  propagation.inject(context.active(), carrier);
  return carrier.traceparent ? carrier : undefined;
}

/** Keeps the active trace context for these messages until they are sent. */
export function rememberTraceContext(messages: readonly object[]): void {
  const carrier = currentCarrier();
  if (!carrier) return;
  for (const message of messages) remembered.set(message, carrier);
}

/** `traceparent` (and `tracestate`) for a message's application properties; undefined when none. */
export function traceApplicationProperties(message: object): Carrier | undefined {
  return remembered.get(message) ?? currentCarrier();
}

function contextFrom(carrier: Record<string, unknown> | undefined): Context {
  if (!carrier) return ROOT_CONTEXT;
  const strings: Carrier = {};
  for (const key of ['traceparent', 'tracestate']) {
    const value = carrier[key];
    if (typeof value === 'string') strings[key] = value;
  }
  return strings.traceparent ? propagation.extract(ROOT_CONTEXT, strings) : ROOT_CONTEXT;
}

async function inSpan<T>(
  name: string,
  kind: SpanKind,
  parent: Context,
  fn: (span: Span) => Promise<T>,
): Promise<T> {
  return trace.getTracer(TRACER_NAME).startActiveSpan(name, { kind }, parent, async (span) => {
    try {
      return await fn(span);
    } catch (error) {
      span.setStatus({ code: SpanStatusCode.ERROR });
      throw error;
    } finally {
      span.end();
    }
  });
}

/**
 * Runs the webhook's work in a `mailpush.webhook` span, child of the Functions host's request
 * (`context.traceContext.traceParent`) when there is one.
 */
export function withWebhookSpan<T>(
  hostTraceParent: string | null | undefined,
  fn: () => Promise<T>,
): Promise<T> {
  if (!telemetryActive()) return fn();
  return inSpan('mailpush.webhook', SpanKind.SERVER, contextFrom({ traceparent: hostTraceParent }), fn);
}

/**
 * Runs the processing of one queue message in a `mailpush.process` span that continues the
 * trace carried in its application properties (a new trace without them).
 */
export function withQueueMessageSpan<T>(
  applicationProperties: Record<string, unknown> | undefined,
  fn: () => Promise<T>,
): Promise<T> {
  if (!telemetryActive()) return fn();
  return inSpan('mailpush.process', SpanKind.CONSUMER, contextFrom(applicationProperties), fn);
}
