import type { HttpRequest, InvocationContext } from '@azure/functions';
import { handleRetryFailed } from '../shared/admin/http.js';
import { getServices } from '../shared/app/services.js';
import { registerFunction } from '../shared/hosting/registry.js';

/** Puts failed mailboxes back in the queue with their attempts reset. */
export async function manageMigrationRetryFailed(request: HttpRequest, context: InvocationContext) {
  return handleRetryFailed(
    request,
    context,
    getServices().then((services) => services.adminApi),
  );
}

registerFunction({
  kind: 'http',
  name: 'manage-migration-retry-failed',
  route: 'manage/migration/retry-failed',
  methods: ['POST'],
  authLevel: 'anonymous', // Entra ID bearer token with the MailPush.Admin app role, checked by the handler.
  handler: manageMigrationRetryFailed,
});
