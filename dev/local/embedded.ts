/**
 * The local services `npm start` and the integration tests run against, each started only when
 * the settings do not point elsewhere: Azurite (Table Storage), the AMQP stand-in (Service Bus),
 * the simulated Graph tenant (no GRAPH_TENANT_ID) and a local Entra ID token issuer (devices and
 * admin API tokens, with the simulated tenant). Returns the settings that point at them; never
 * writes process.env.
 */
import { startAzurite } from '../sim/azurite.js';
import { LocalEntraIssuer } from '../sim/entra.js';
import { DEMO_TENANT } from '../sim/graph/demo.js';
import { startGraphSimulator, type GraphSimulator } from '../sim/graph/index.js';
import { startAmqpStandIn, type AmqpStandIn } from '../sim/service-bus.js';

export interface EmbeddedServices {
  /** The settings to add (connection strings, endpoints, the simulated tenant's app registration). */
  settings: Record<string, string>;
  amqp: AmqpStandIn | undefined;
  graphSimulator: GraphSimulator | undefined;
  /** Signs API tokens for the simulated tenant's users (local only). */
  entraIssuer: LocalEntraIssuer | undefined;
  /** Stops what was started, newest first; never throws. */
  stop(): Promise<void>;
}

/** The audience of the local issuer's tokens (what DEVICE_API_AUDIENCE becomes locally). */
export const LOCAL_API_AUDIENCE = 'api://mailpush-local';

export async function startEmbeddedServices(
  env: Readonly<Record<string, string | undefined>>,
  log: (line: string) => void,
): Promise<EmbeddedServices> {
  const settings: Record<string, string> = {};
  const stops: (() => Promise<void>)[] = [];
  const stop = async () => {
    for (const step of stops.reverse()) {
      try {
        await step();
      } catch (error) {
        log(`[local] stop failed: ${String(error)}`);
      }
    }
  };
  try {
    if (!env.TABLES_CONNECTION_STRING && !env.TABLES_ENDPOINT) {
      const azurite = await startAzurite();
      stops.push(() => azurite.stop());
      settings.TABLES_CONNECTION_STRING = azurite.tablesConnectionString;
      log(`[local] Azurite (Table Storage, in memory) at ${azurite.tableEndpoint}`);
    }
    let amqp: AmqpStandIn | undefined;
    if (!env.ServiceBusConnection && !env.ServiceBusConnection__fullyQualifiedNamespace) {
      const queueName = env.NOTIFICATION_QUEUE_NAME ?? 'mail-notifications';
      const importQueueName = env.IMPORT_QUEUE_NAME ?? 'mailbox-imports';
      // Mirrors infra: duplicate detection over 4 hours (Graph's retry horizon), 10 deliveries.
      const standIn = await startAmqpStandIn({
        queues: {
          [queueName]: { duplicateDetectionWindowMs: 4 * 60 * 60 * 1000, maxDeliveryCount: 10 },
          [importQueueName]: { duplicateDetectionWindowMs: 4 * 60 * 60 * 1000, maxDeliveryCount: 10 },
        },
      });
      amqp = standIn;
      stops.push(() => standIn.stop());
      settings.ServiceBusConnection = standIn.connectionString;
      log(`[local] AMQP stand-in for Service Bus on port ${standIn.port}`);
    }
    let graphSimulator: GraphSimulator | undefined;
    if (!env.GRAPH_TENANT_ID) {
      // No Graph credentials: the simulated tenant plays Graph and Entra ID (its CA must be trusted
      // through NODE_EXTRA_CA_CERTS, which dev/local/start.ts arranges before this process starts).
      // LOCAL_SIM_USERS: generated users besides the five demo users (some on-premises, some outside
      // the access policy, some without a mailbox: see dev/sim/graph/demo.ts), to try enrolment.
      const generatedUsers = Number(env.LOCAL_SIM_USERS ?? 0);
      if (!Number.isInteger(generatedUsers) || generatedUsers < 0 || generatedUsers > 100_000) {
        throw new Error(
          `LOCAL_SIM_USERS: expected a whole number from 0 to 100000, got ${String(env.LOCAL_SIM_USERS)}`,
        );
      }
      const sim = await startGraphSimulator({ seed: true, generatedUsers });
      graphSimulator = sim;
      stops.push(() => sim.stop());
      Object.assign(settings, {
        GRAPH_TENANT_ID: DEMO_TENANT.tenantId,
        GRAPH_CLIENT_ID: DEMO_TENANT.clientId,
        // A GRAPH_CLIENT_SECRET of your own is kept: try a wrong one to see the connectivity test
        // and the status page explain AADSTS7000215.
        GRAPH_CLIENT_SECRET: env.GRAPH_CLIENT_SECRET ?? DEMO_TENANT.clientSecret,
        GRAPH_AUTHORITY_HOST: sim.url,
        GRAPH_ENDPOINT: sim.url,
      });
      log(
        `[local] simulated Graph tenant ${DEMO_TENANT.domain} at ${sim.url} (users: ${DEMO_TENANT.users.map((u) => u.mail).join(', ')}${generatedUsers > 0 ? ` and ${generatedUsers} generated: user0001@${DEMO_TENANT.domain} …` : ''})`,
      );
    }
    let entraIssuer: LocalEntraIssuer | undefined;
    if (!env.DEVICE_API_AUDIENCE && graphSimulator) {
      // The devices API validates Entra ID access tokens; locally a stand-in issuer signs them.
      const issuer = new LocalEntraIssuer({ tenantId: DEMO_TENANT.tenantId, audience: LOCAL_API_AUDIENCE });
      const jwks = await issuer.serve();
      stops.push(() => jwks.close());
      entraIssuer = issuer;
      Object.assign(settings, {
        DEVICE_API_AUDIENCE: issuer.audience,
        DEVICE_API_TENANT_ID: DEMO_TENANT.tenantId,
        DEVICE_API_AUTHORITY_HOST: jwks.authorityHost,
      });
      log(`[local] local Entra ID token issuer (devices API) at ${jwks.authorityHost}`);
    }
    return { settings, amqp, graphSimulator, entraIssuer, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
