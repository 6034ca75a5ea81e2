import type { HttpRequest, InvocationContext } from '@azure/functions';
import { handleGetStatus } from '../shared/admin/http.js';
import { getServices } from '../shared/app/services.js';
import { registerFunction } from '../shared/hosting/registry.js';

/** The status page: verdict, reasons, credential card, counts, timer, migration, dead letters. */
export async function manageStatusGet(request: HttpRequest, context: InvocationContext) {
  return handleGetStatus(
    request,
    context,
    getServices().then((services) => services.adminApi),
  );
}

registerFunction({
  kind: 'http',
  name: 'manage-status-get',
  route: 'manage/status',
  methods: ['GET'],
  authLevel: 'anonymous', // Entra ID bearer token with the MailPush.Admin app role, checked by the handler.
  handler: manageStatusGet,
});
