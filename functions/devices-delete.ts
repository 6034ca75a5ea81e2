import type { HttpRequest, InvocationContext } from '@azure/functions';
import { getServices } from '../shared/app/services.js';
import { handleDeviceRemoval } from '../shared/devices/http.js';
import { registerFunction } from '../shared/hosting/registry.js';

/** The mobile app removes one of the user's phones (sign-out, uninstall flow). Idempotent. */
export async function devicesDelete(request: HttpRequest, context: InvocationContext) {
  return handleDeviceRemoval(
    request,
    context,
    getServices().then((services) => services.deviceApi),
  );
}

registerFunction({
  kind: 'http',
  name: 'devices-delete',
  route: 'devices/{deviceId}',
  methods: ['DELETE'],
  authLevel: 'anonymous', // Entra ID bearer token, checked by the handler.
  handler: devicesDelete,
});
