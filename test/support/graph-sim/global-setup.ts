/**
 * vitest globalSetup for suites that use the Graph simulator: makes the simulator CA and sets
 * NODE_EXTRA_CA_CERTS + GRAPH_SIMULATOR_CA_DIR before the workers are forked (see ca-setup.ts).
 * Add it to `test.globalSetup` (an array may list several files), or call
 * `prepareGraphSimulatorCa()` from an existing globalSetup and run its teardown.
 */
import { prepareGraphSimulatorCa } from './ca-setup.js';

export default function setup(): () => Promise<void> {
  const prepared = prepareGraphSimulatorCa();
  return () => prepared.teardown();
}
