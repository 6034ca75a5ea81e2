/**
 * `npm start`: the function app on this machine with embedded local services (Azurite, the
 * AMQP stand-in for Service Bus, and — without Graph credentials — the simulated Graph tenant).
 * Ctrl-C stops everything.
 */
import { spawn } from 'node:child_process';
import { ConfigError } from '../../shared/errors.js';
import { LocalSinkPushProvider } from '../../shared/push/local-sink.js';
import { CA_DIR_ENV } from '../sim/graph/certs.js';
import { prepareGraphSimulatorCa } from '../sim/graph/ca-setup.js';
import { DEMO_TENANT } from '../sim/graph/demo.js';
import { DEMO_DEVICE_ID, startLocalHost } from './host.js';

const port = process.env.PORT ? Number(process.env.PORT) : 7071;

if (!process.env.GRAPH_TENANT_ID && !process.env[CA_DIR_ENV]) {
  // Node trusts extra CAs only from NODE_EXTRA_CA_CERTS read at start-up: make the simulator's
  // CA, then run this same script again in a child that trusts it.
  prepareGraphSimulatorCa();
  const child = spawn(process.execPath, process.argv.slice(1), { stdio: 'inherit', env: process.env });
  const forward = (signal: NodeJS.Signals) => child.kill(signal);
  process.on('SIGINT', forward);
  process.on('SIGTERM', forward);
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
} else {
  try {
    const host = await startLocalHost({ port, seedDemo: true });
    console.log(
      `[local] ready at ${host.url}/api — function key (function-level routes): x-functions-key: ${host.functionKey}`,
    );
    // Local-only routes of the runner itself (not functions; they do not exist in Azure).
    if (host.amqp) {
      console.log(`[local] local-only: GET ${host.url}/local/queues/<name> (queue counts)`);
    }
    if (host.services.push instanceof LocalSinkPushProvider) {
      const sink = host.services.push;
      console.log(
        `[local] local-only: GET ${host.url}/local/pushes[?limit=100&mailbox=…] (pushes recorded by the local sink, newest last)${
          sink.filePath ? `; also appended to ${sink.filePath}` : ''
        }`,
      );
      if (host.graphSimulator) {
        console.log(
          `[local] each simulated user has device ${DEMO_DEVICE_ID}: deliver a mail (POST ${host.graphSimulator.url}/_simulator/mail) and it shows up there`,
        );
      }
    }
    if (host.entraIssuer) {
      const adele = DEMO_TENANT.users[0];
      const token = await host.entraIssuer.mint(
        { objectId: adele.id, upn: adele.mail },
        { expiresInSec: 24 * 3600 },
      );
      console.log(
        `[local] a 24-hour devices-API token for ${adele.mail} (Authorization: Bearer …), see requests.http:\n${token}`,
      );
      const admin = await host.entraIssuer.admin(
        { objectId: adele.id, upn: adele.mail },
        { expiresInSec: 24 * 3600 },
      );
      console.log(
        `[local] a 24-hour admin token (${adele.mail} with the MailPush.Admin role) for /api/manage/… and npm run admin:\n${admin}`,
      );
    }
    console.log('[local] press Ctrl-C to stop');
    let stopping = false;
    const shutdown = (signal: string) => {
      if (stopping) return;
      stopping = true;
      console.log(`[local] ${signal}: stopping`);
      host.stop().then(
        () => process.exit(0),
        (error: unknown) => {
          console.error(`[local] stop failed: ${String(error)}`);
          process.exit(1);
        },
      );
    };
    process.on('SIGINT', () => shutdown('SIGINT'));
    process.on('SIGTERM', () => shutdown('SIGTERM'));
  } catch (error) {
    console.error(error instanceof ConfigError ? error.message : `[local] failed to start: ${String(error)}`);
    process.exit(1);
  }
}
