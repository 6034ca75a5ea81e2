import type { HttpRequest, InvocationContext } from '@azure/functions';
import { handleGetImport } from '../shared/admin/http.js';
import { getServices } from '../shared/app/services.js';
import { registerFunction } from '../shared/hosting/registry.js';

/** A large import's progress: rows queued, written, accepted, unchanged; done or why it stopped. */
export async function manageImportGet(request: HttpRequest, context: InvocationContext) {
  return handleGetImport(
    request,
    context,
    getServices().then((services) => services.adminApi),
  );
}

registerFunction({
  kind: 'http',
  name: 'manage-import-get',
  route: 'manage/imports/{id}',
  methods: ['GET'],
  authLevel: 'anonymous', // Entra ID bearer token with the MailPush.Admin app role, checked by the handler.
  handler: manageImportGet,
});
