import { deviceApiDepsFromServices } from '../shared/devices/from-services.js';
import { makeDevicesPostHandler } from '../shared/devices/http.js';
import { registerFunction } from '../shared/hosting/registry.js';

/** The mobile app registers (or re-registers, e.g. with a new push token) one of the user's phones. */
export const devicesPost = makeDevicesPostHandler(deviceApiDepsFromServices);

registerFunction({
  kind: 'http',
  name: 'devices-post',
  route: 'devices',
  methods: ['POST'],
  authLevel: 'anonymous', // The caller is the user's app: it proves who it is with an Entra ID bearer token.
  handler: devicesPost,
});
