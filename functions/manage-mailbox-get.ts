import type { HttpRequest, InvocationContext } from '@azure/functions';
import { handleGetMailbox } from '../shared/admin/http.js';
import { getServices } from '../shared/app/services.js';
import { registerFunction } from '../shared/hosting/registry.js';

/** One mailbox in detail: state, last error, subscription expiry, devices. */
export async function manageMailboxGet(request: HttpRequest, context: InvocationContext) {
  return handleGetMailbox(
    request,
    context,
    getServices().then((services) => services.adminApi),
  );
}

registerFunction({
  kind: 'http',
  name: 'manage-mailbox-get',
  route: 'manage/mailboxes/{email}',
  methods: ['GET'],
  authLevel: 'anonymous', // Entra ID bearer token with the MailPush.Admin app role, checked by the handler.
  handler: manageMailboxGet,
});
