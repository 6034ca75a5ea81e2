import type { HttpRequest, InvocationContext } from '@azure/functions';
import { handleImportMailboxes } from '../shared/admin/http.js';
import { getServices } from '../shared/app/services.js';
import { registerFunction } from '../shared/hosting/registry.js';

/** Operators enrol many mailboxes from CSV or JSON lines; the timer does the Graph work within budget. */
export async function manageMailboxesImport(request: HttpRequest, context: InvocationContext) {
  return handleImportMailboxes(
    request,
    context,
    getServices().then((services) => services.adminApi),
  );
}

registerFunction({
  kind: 'http',
  name: 'manage-mailboxes-import',
  route: 'manage/mailboxes/import',
  methods: ['POST'],
  authLevel: 'anonymous', // Entra ID bearer token with the MailPush.Admin app role, checked by the handler.
  handler: manageMailboxesImport,
});
