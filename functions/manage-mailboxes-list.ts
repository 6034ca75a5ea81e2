import type { HttpRequest, InvocationContext } from '@azure/functions';
import { handleListMailboxes } from '../shared/admin/http.js';
import { getServices } from '../shared/app/services.js';
import { registerFunction } from '../shared/hosting/registry.js';

/** Operators page through the enrolled mailboxes (filters: state, transport, prefix, migratedSince; `format=csv` exports). */
export async function manageMailboxesList(request: HttpRequest, context: InvocationContext) {
  return handleListMailboxes(
    request,
    context,
    getServices().then((services) => services.adminApi),
  );
}

registerFunction({
  kind: 'http',
  name: 'manage-mailboxes-list',
  route: 'manage/mailboxes',
  methods: ['GET'],
  authLevel: 'anonymous', // Entra ID bearer token with the MailPush.Admin app role, checked by the handler.
  handler: manageMailboxesList,
});
