/**
 * globalSetup of `npm run test:chaos`: only the Graph simulator's CA, trusted by the worker (and by
 * the function host it forks) through NODE_EXTRA_CA_CERTS. The suite starts Azurite and the AMQP
 * stand-in itself, as processes it can stop and kill.
 */
import { prepareGraphSimulatorCa } from '../../dev/sim/graph/ca-setup.js';

export default function setup(): () => Promise<void> {
  const ca = prepareGraphSimulatorCa();
  return () => ca.teardown();
}
