import type { HttpRequest, InvocationContext } from '@azure/functions';
import { getServices } from '../shared/app/services.js';
import { registerFunction } from '../shared/hosting/registry.js';
import { handleGraphWebhook } from '../shared/http/graph-webhook.js';

/** Graph lifecycle notifications (reauthorizationRequired, subscriptionRemoved, missed) and their handshake. */
export async function lifecyclePost(request: HttpRequest, context: InvocationContext) {
  return handleGraphWebhook(request, context, 'lifecycle', (await getServices()).ingest);
}

registerFunction({
  kind: 'http',
  name: 'lifecycle-post',
  route: 'lifecycle',
  methods: ['POST'],
  authLevel: 'anonymous', // Graph cannot send a function key; each notification carries its clientState.
  handler: lifecyclePost,
});
