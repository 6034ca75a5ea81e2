/**
 * The AMQP stand-in for Service Bus (dev/sim/service-bus.ts) as a process of its own, so a test can
 * kill it, stop it (SIGSTOP) or restart it on the same port: `node dist-dev/dev/sim/amqp-process.js`
 * with AMQP_PORT (0: a free one), AMQP_QUEUE (mail-notifications), AMQP_PERSIST (a journal file:
 * durable queues that survive a restart) and AMQP_LOCK_MS (peek-lock duration, 60 000). With an IPC
 * channel it sends `{ type: 'ready', port, connectionString }` and answers `{ type: 'stats' }` and
 * `{ type: 'dead-letters' }`; `{ type: 'stop' }` stops it cleanly.
 */
import { startAmqpStandIn } from './service-bus.js';

const queue = process.env.AMQP_QUEUE ?? 'mail-notifications';
const amqp = await startAmqpStandIn({
  port: Number(process.env.AMQP_PORT ?? 0),
  ...(process.env.AMQP_PERSIST ? { persistPath: process.env.AMQP_PERSIST } : {}),
  queues: {
    // Mirrors infra/modules/servicebus.bicep: 10 deliveries; duplicate detection over 4 hours.
    [queue]: {
      duplicateDetectionWindowMs: 4 * 60 * 60_000,
      maxDeliveryCount: 10,
      lockDurationMs: Number(process.env.AMQP_LOCK_MS ?? 60_000),
    },
  },
});
process.on('message', (message: { type: string; id?: number }) => {
  if (message.type === 'stats') process.send?.({ type: 'stats', id: message.id, stats: amqp.stats(queue) });
  if (message.type === 'dead-letters')
    process.send?.({ type: 'dead-letters', id: message.id, deadLetters: amqp.deadLetters(queue) });
  if (message.type === 'stop') void amqp.stop().then(() => process.exit(0));
});
process.send?.({ type: 'ready', port: amqp.port, connectionString: amqp.connectionString });
if (!process.send) console.log(`AMQP stand-in on port ${amqp.port}: ${amqp.connectionString}`);
