import type { HttpRequest, InvocationContext } from '@azure/functions';
import { handleEnrolMailbox } from '../shared/admin/http.js';
import { getServices } from '../shared/app/services.js';
import { registerFunction } from '../shared/hosting/registry.js';

/** Operators enrol one mailbox (idempotent): resolved in Graph, queued for its subscription. */
export async function manageMailboxesPost(request: HttpRequest, context: InvocationContext) {
  return handleEnrolMailbox(
    request,
    context,
    getServices().then((services) => services.adminApi),
  );
}

registerFunction({
  kind: 'http',
  name: 'manage-mailboxes-post',
  route: 'manage/mailboxes',
  methods: ['POST'],
  authLevel: 'anonymous', // Entra ID bearer token with the MailPush.Admin app role, checked by the handler.
  handler: manageMailboxesPost,
});
