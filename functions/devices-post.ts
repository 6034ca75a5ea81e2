import type { HttpRequest, InvocationContext } from '@azure/functions';
import { getServices } from '../shared/app/services.js';
import { handleDeviceRegistration } from '../shared/devices/http.js';
import { registerFunction } from '../shared/hosting/registry.js';

/** The mobile app registers (or re-registers, e.g. with a new push token) one of the user's phones. */
export async function devicesPost(request: HttpRequest, context: InvocationContext) {
  return handleDeviceRegistration(
    request,
    context,
    getServices().then((services) => services.deviceApi),
  );
}

registerFunction({
  kind: 'http',
  name: 'devices-post',
  route: 'devices',
  methods: ['POST'],
  authLevel: 'anonymous', // The caller is the user's app: it proves who it is with an Entra ID bearer token.
  handler: devicesPost,
});
