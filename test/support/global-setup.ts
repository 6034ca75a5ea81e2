/**
 * vitest globalSetup: one in-memory Azurite Table service per test run (tests read its
 * connection string with `inject('tablesConnectionString')`), and the Graph simulator's CA,
 * trusted by every worker through NODE_EXTRA_CA_CERTS (Node reads it only at process start,
 * so it must be set here, before the workers fork).
 */
import type {} from 'vitest';
import type { TestProject } from 'vitest/node';
import { startAzurite } from '../../dev/sim/azurite.js';
import { prepareGraphSimulatorCa } from '../../dev/sim/graph/ca-setup.js';

declare module 'vitest' {
  export interface ProvidedContext {
    tablesConnectionString: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const ca = prepareGraphSimulatorCa();
  const azurite = await startAzurite();
  project.provide('tablesConnectionString', azurite.tablesConnectionString);
  return async () => {
    await azurite.stop();
    await ca.teardown();
  };
}
