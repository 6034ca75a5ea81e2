/**
 * Child process of the benchmarks: the AMQP stand-in for Service Bus on its own, so the broker's
 * CPU is neither the function host's nor the load generator's (in Azure it is another machine).
 */
import { startAmqpStandIn } from '../dev/sim/service-bus.js';

const queue = process.env.BENCH_QUEUE ?? 'mail-notifications';
const amqp = await startAmqpStandIn({ queues: { [queue]: { duplicateDetectionWindowMs: 10 * 60_000 } } });
process.on('message', (message: { type: string; queue?: string }) => {
  if (message.type === 'stats') process.send?.({ type: 'stats', stats: amqp.stats(message.queue ?? queue) });
  if (message.type === 'stop') void amqp.stop().then(() => process.exit(0));
});
process.send?.({ type: 'ready', connectionString: amqp.connectionString });
