import { describe, expect, it } from 'vitest';
import { closeServices, useServices, type Services } from '../../../shared/app/services.js';

describe('closeServices (the host appTerminate hook)', () => {
  it('closes the process-wide services once; a second call has nothing to close', async () => {
    let closed = 0;
    useServices({ close: async () => void closed++ } as unknown as Services);
    await closeServices();
    await closeServices();
    expect(closed).toBe(1);
  });

  it('does nothing when services were never built', async () => {
    await expect(closeServices()).resolves.toBeUndefined();
  });
});
