import type { HttpRequest, InvocationContext } from '@azure/functions';
import { handlePutMigration } from '../shared/admin/http.js';
import { getServices } from '../shared/app/services.js';
import { registerFunction } from '../shared/hosting/registry.js';

/** The "Use Microsoft Graph" switch: turns the EWS → Graph migration on or off. */
export async function manageMigrationPut(request: HttpRequest, context: InvocationContext) {
  return handlePutMigration(
    request,
    context,
    getServices().then((services) => services.adminApi),
  );
}

registerFunction({
  kind: 'http',
  name: 'manage-migration-put',
  route: 'manage/migration',
  methods: ['PUT'],
  authLevel: 'anonymous', // Entra ID bearer token with the MailPush.Admin app role, checked by the handler.
  handler: manageMigrationPut,
});
