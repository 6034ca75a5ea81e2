import type { HttpRequest, InvocationContext } from '@azure/functions';
import { getServices } from '../shared/app/services.js';
import { registerFunction } from '../shared/hosting/registry.js';
import { handleGraphWebhook } from '../shared/http/graph-webhook.js';

/** Graph change notifications for mailbox Inbox subscriptions (and their validation handshake). */
export async function notificationsPost(request: HttpRequest, context: InvocationContext) {
  return handleGraphWebhook(request, context, 'change', (await getServices()).ingest);
}

registerFunction({
  kind: 'http',
  name: 'notifications-post',
  route: 'notifications',
  methods: ['POST'],
  authLevel: 'anonymous', // Graph cannot send a function key; each notification carries its clientState.
  handler: notificationsPost,
});
