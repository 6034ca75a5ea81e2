import type { HttpRequest, InvocationContext } from '@azure/functions';
import { handleGetMigration } from '../shared/admin/http.js';
import { getServices } from '../shared/app/services.js';
import { registerFunction } from '../shared/hosting/registry.js';

/** EWS → Graph migration progress and ETA. */
export async function manageMigrationGet(request: HttpRequest, context: InvocationContext) {
  return handleGetMigration(
    request,
    context,
    getServices().then((services) => services.adminApi),
  );
}

registerFunction({
  kind: 'http',
  name: 'manage-migration-get',
  route: 'manage/migration',
  methods: ['GET'],
  authLevel: 'anonymous', // Entra ID bearer token with the MailPush.Admin app role, checked by the handler.
  handler: manageMigrationGet,
});
