/**
 * Starting the Graph simulator (dev/sim/graph) in a test worker, for every suite that talks to it.
 *
 * The worker can only trust the simulator's HTTPS certificate through NODE_EXTRA_CA_CERTS, which
 * Node reads once, at process start: the vitest globalSetup (test/support/global-setup.ts) calls
 * prepareGraphSimulatorCa() before the workers fork. A worker started without it would fail every
 * request with a certificate error, so this fails first, with a message that says why.
 */
import { existsSync, readFileSync } from 'node:fs';
import {
  startGraphSimulator,
  type GraphSimulator,
  type GraphSimulatorOptions,
} from '../../dev/sim/graph/index.js';

/** A simulator seeded with the demo tenant (unless `options` say otherwise) whose CA this worker trusts. */
export async function startTrustedSimulator(options: GraphSimulatorOptions = {}): Promise<GraphSimulator> {
  const sim = await startGraphSimulator({ seed: true, ...options });
  const extra = process.env.NODE_EXTRA_CA_CERTS;
  const trusted =
    extra && existsSync(extra) && readFileSync(extra, 'utf8').includes(sim.caCertificatePem.trim());
  if (!trusted) {
    await sim.stop();
    throw new Error(
      'This test worker does not trust the Graph simulator CA: the vitest globalSetup ' +
        '(test/support/global-setup.ts) must call prepareGraphSimulatorCa() from dev/sim/graph/ca-setup.ts ' +
        'before the workers start.',
    );
  }
  return sim;
}
