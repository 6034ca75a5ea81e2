import { deviceApiDepsFromServices } from '../shared/devices/from-services.js';
import { makeDevicesDeleteHandler } from '../shared/devices/http.js';
import { registerFunction } from '../shared/hosting/registry.js';

/** The mobile app removes one of the user's phones (sign-out, uninstall flow). Idempotent. */
export const devicesDelete = makeDevicesDeleteHandler(deviceApiDepsFromServices);

registerFunction({
  kind: 'http',
  name: 'devices-delete',
  route: 'devices/{deviceId}',
  methods: ['DELETE'],
  authLevel: 'anonymous', // Entra ID bearer token, checked by the handler.
  handler: devicesDelete,
});
