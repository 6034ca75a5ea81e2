import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import { ensureError } from '../errors.js';
import { ingestNotifications, type IngestDeps, type WebhookKind } from '../domain/ingest.js';
import { PayloadError } from '../domain/notifications.js';
import { measureWebhook, recordWebhookIngest } from '../telemetry/index.js';
import { empty, errorResponse, text } from './responses.js';

/** Graph's validation tokens are short opaque strings; anything longer is not Graph. */
export const MAX_VALIDATION_TOKEN_LENGTH = 1024;
/** Graph notification POSTs are far smaller; this bounds memory per request. */
export const MAX_NOTIFICATION_BODY_BYTES = 1024 * 1024;

/**
 * `POST /api/notifications` and `POST /api/lifecycle`. Answers the subscription-validation
 * handshake, or validates and enqueues notifications and answers 202. It never calls Graph:
 * Graph delays, then drops, notifications when more than 10% of answers are slow.
 */
export function handleGraphWebhook(
  request: HttpRequest,
  context: InvocationContext,
  kind: WebhookKind,
  deps: IngestDeps,
): Promise<HttpResponseInit> {
  return measureWebhook(kind, context.traceContext?.traceParent, () => answer(request, context, kind, deps));
}

async function answer(
  request: HttpRequest,
  context: InvocationContext,
  kind: WebhookKind,
  deps: IngestDeps,
): Promise<HttpResponseInit> {
  // Handshake: Graph POSTs ?validationToken=… and wants the decoded token back as text/plain within 10 s.
  const validationToken = request.query.get('validationToken');
  if (validationToken !== null) {
    if (validationToken.length === 0 || validationToken.length > MAX_VALIDATION_TOKEN_LENGTH) {
      return errorResponse(
        400,
        'invalid_validation_token',
        `validationToken must be 1 to ${MAX_VALIDATION_TOKEN_LENGTH} characters.`,
      );
    }
    return text(200, validationToken);
  }

  const declaredLength = Number(request.headers.get('content-length') ?? '0');
  if (declaredLength > MAX_NOTIFICATION_BODY_BYTES) return tooLarge();
  const contentType = (request.headers.get('content-type') ?? '').toLowerCase();
  if (!/^application\/(.+\+)?json\b/.test(contentType)) {
    return errorResponse(415, 'unsupported_media_type', 'Content-Type must be application/json.');
  }
  const raw = Buffer.from(await request.arrayBuffer());
  if (raw.byteLength > MAX_NOTIFICATION_BODY_BYTES) return tooLarge();
  let body: unknown;
  try {
    body = JSON.parse(raw.toString('utf8'));
  } catch {
    return errorResponse(400, 'invalid_json', 'Body is not valid JSON.');
  }

  try {
    const result = await ingestNotifications(body, kind, deps);
    recordWebhookIngest(kind, result);
    const droppedTotal = Object.values(result.dropped).reduce((sum, n) => sum + n, 0);
    if (droppedTotal > 0) {
      // Counts only: clientState and ids of rejected items are never logged.
      context.warn(
        `webhook ${kind}: accepted ${result.accepted} of ${result.received}, dropped ${JSON.stringify(result.dropped)}`,
      );
    }
    // Every item malformed (so none accepted): the sender is not Graph, or sends a wrong shape.
    if (result.dropped.malformed === result.received) {
      return errorResponse(
        400,
        'invalid_notifications',
        'No notification in "value" has the expected shape.',
      );
    }
    // No body: telling a caller which subscription ids exist would help an attacker.
    return empty(202);
  } catch (error) {
    if (error instanceof PayloadError) return errorResponse(400, 'invalid_notifications', error.message);
    const err = ensureError(error);
    context.error(
      `webhook ${kind}: could not enqueue; answering 503 so Graph retries: ${err.name}: ${err.message}`,
    );
    return errorResponse(503, 'unavailable', 'Could not accept notifications; retry later.', {
      'Retry-After': '10',
    });
  }
}

function tooLarge(): HttpResponseInit {
  return errorResponse(
    413,
    'payload_too_large',
    `Body must be at most ${MAX_NOTIFICATION_BODY_BYTES} bytes.`,
  );
}
