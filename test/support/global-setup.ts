/**
 * vitest globalSetup: one in-memory Azurite Table service per test run. Tests read its
 * connection string with `inject('tablesConnectionString')`.
 */
import type {} from 'vitest';
import type { TestProject } from 'vitest/node';
import { startAzurite } from './azurite.js';

declare module 'vitest' {
  export interface ProvidedContext {
    tablesConnectionString: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const azurite = await startAzurite();
  project.provide('tablesConnectionString', azurite.tablesConnectionString);
  return async () => {
    await azurite.stop();
  };
}
