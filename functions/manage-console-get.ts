import type { HttpRequest } from '@azure/functions';
import { ConsoleAssets, serveConsole } from '../shared/admin/console/serve.js';
import { getServices } from '../shared/app/services.js';
import { registerFunction } from '../shared/hosting/registry.js';

const assets = new ConsoleAssets();

/** The operators' web console: a static page that calls the admin API with the operator's token. */
export async function manageConsoleGet(request: HttpRequest) {
  const { settings } = await getServices();
  return serveConsole(request, settings, assets);
}

registerFunction({
  kind: 'http',
  name: 'manage-console-get',
  route: 'console',
  methods: ['GET'],
  authLevel: 'anonymous', // A static page; every call it makes carries the operator's bearer token.
  handler: manageConsoleGet,
});
