import type { HttpRequest, InvocationContext } from '@azure/functions';
import { handleDeleteMailbox } from '../shared/admin/http.js';
import { getServices } from '../shared/app/services.js';
import { registerFunction } from '../shared/hosting/registry.js';

/** Unenrols a mailbox: its subscription, devices and row go (idempotent). */
export async function manageMailboxDelete(request: HttpRequest, context: InvocationContext) {
  return handleDeleteMailbox(
    request,
    context,
    getServices().then((services) => services.adminApi),
  );
}

registerFunction({
  kind: 'http',
  name: 'manage-mailbox-delete',
  route: 'manage/mailboxes/{email}',
  methods: ['DELETE'],
  authLevel: 'anonymous', // Entra ID bearer token with the MailPush.Admin app role, checked by the handler.
  handler: manageMailboxDelete,
});
