import type { HttpRequest, InvocationContext } from '@azure/functions';
import { handleConnectivityTest } from '../shared/admin/http.js';
import { getServices } from '../shared/app/services.js';
import { registerFunction } from '../shared/hosting/registry.js';

/** The "Test" button: token, user, Inbox, test subscription, optional test mail to the push. */
export async function manageConnectivityTestPost(request: HttpRequest, context: InvocationContext) {
  return handleConnectivityTest(
    request,
    context,
    getServices().then((services) => services.adminApi),
  );
}

registerFunction({
  kind: 'http',
  name: 'manage-connectivity-test-post',
  route: 'manage/connectivity-test',
  methods: ['POST'],
  authLevel: 'anonymous', // Entra ID bearer token with the MailPush.Admin app role, checked by the handler.
  handler: manageConnectivityTestPost,
});
