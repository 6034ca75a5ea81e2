/**
 * `npm start`: the function app on this machine with embedded local services (Azurite,
 * the AMQP stand-in for Service Bus). Ctrl-C stops everything.
 */
import { ConfigError } from '../shared/errors.js';
import { startLocalHost } from './host.js';

const port = process.env.PORT ? Number(process.env.PORT) : 7071;

try {
  const host = await startLocalHost({ port, seedDemo: true });
  console.log(
    `[local] ready at ${host.url}/api — function key for admin routes: x-functions-key: ${host.functionKey}`,
  );
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
