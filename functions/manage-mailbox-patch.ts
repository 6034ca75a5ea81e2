import type { HttpRequest, InvocationContext } from '@azure/functions';
import { handlePatchMailbox } from '../shared/admin/http.js';
import { getServices } from '../shared/app/services.js';
import { registerFunction } from '../shared/hosting/registry.js';

/** Changes a mailbox's privacy mode. */
export async function manageMailboxPatch(request: HttpRequest, context: InvocationContext) {
  return handlePatchMailbox(
    request,
    context,
    getServices().then((services) => services.adminApi),
  );
}

registerFunction({
  kind: 'http',
  name: 'manage-mailbox-patch',
  route: 'manage/mailboxes/{email}',
  methods: ['PATCH'],
  authLevel: 'anonymous', // Entra ID bearer token with the MailPush.Admin app role, checked by the handler.
  handler: manageMailboxPatch,
});
