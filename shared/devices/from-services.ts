/** The device API's dependencies from the composition root. */
import { getServices } from '../app/services.js';
import type { DeviceApiDeps } from './http.js';

export async function deviceApiDepsFromServices(): Promise<DeviceApiDeps> {
  const services = await getServices();
  return {
    mailboxes: services.mailboxes,
    devices: services.devices,
    push: services.push,
    bearer: services.deviceBearer,
    now: () => new Date(),
  };
}
