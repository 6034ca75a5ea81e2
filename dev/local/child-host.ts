/**
 * The local runner (dev/local/host.ts) as a child process that uses only external services, for the
 * crash tests (test/chaos): settings from the environment (TABLES_CONNECTION_STRING,
 * ServiceBusConnection, GRAPH_*, PUSH_*, PORT — fixed, because it is the notificationUrl Graph
 * calls), HTTP, queue and timer triggers as `npm start` runs them, no demo seeding. With an IPC
 * channel it sends `{ type: 'ready', url }` once every trigger is running. Built for being killed:
 * there is no clean shutdown beyond SIGTERM.
 */
import { startLocalHost } from './host.js';

const host = await startLocalHost({
  port: Number(process.env.PORT ?? 0),
  quiet: process.env.LOG_LEVEL !== 'debug',
  log: (line) => process.stderr.write(`${line}\n`),
});
process.send?.({ type: 'ready', url: host.url });
process.on('SIGTERM', () => void host.stop().then(() => process.exit(0)));
