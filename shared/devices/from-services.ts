/**
 * The device API's dependencies from the composition root. `devices`, `push` and `deviceBearer`
 * are read by name; until shared/app/services.ts declares them, they are looked up defensively
 * and a missing one fails the invocation (500) with a message naming it.
 */
import { getServices, type Services } from '../app/services.js';
import type { DeviceStore, PushProvider } from '../domain/ports.js';
import type { BearerValidator } from './bearer.js';
import type { DeviceApiDeps } from './http.js';

type DeviceServices = Partial<{ devices: DeviceStore; push: PushProvider; deviceBearer: BearerValidator }>;

export async function deviceApiDepsFromServices(): Promise<DeviceApiDeps> {
  const services = (await getServices()) as Services & DeviceServices;
  const { devices, push, deviceBearer } = services;
  const missing = Object.entries({ devices, push, deviceBearer })
    .filter(([, value]) => value === undefined)
    .map(([name]) => name);
  if (!devices || !push || !deviceBearer) {
    throw new Error(`device API: the composition root does not provide ${missing.join(', ')}`);
  }
  return { mailboxes: services.mailboxes, devices, push, bearer: deviceBearer, now: () => new Date() };
}
