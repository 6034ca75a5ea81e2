import { readdirSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { registeredFunctions } from '../../../shared/hosting/registry.js';

// Every function file registers itself on import (functions/index.ts would also validate the
// settings of this process, which a unit test does not have).
beforeAll(async () => {
  const folder = new URL('../../../functions/', import.meta.url);
  for (const file of readdirSync(folder).filter((f) => f.endsWith('.ts') && f !== 'index.ts')) {
    await import(new URL(file, folder).href);
  }
});

/**
 * The Functions host reserves routes and function names starting with `admin` for its own admin
 * API and refuses to register them (azure-functions-host#1781, #7634): the admin API lives under
 * `manage/`. Also: every route is unique per method.
 */
describe('function registrations', () => {
  const functions = () => registeredFunctions();

  it('registers the admin API under manage/, and nothing whose name or route starts with admin', () => {
    expect(functions().length).toBeGreaterThan(10);
    for (const f of functions()) {
      expect(f.name.toLowerCase().startsWith('admin'), f.name).toBe(false);
      if (f.kind === 'http') expect(f.route.toLowerCase().startsWith('admin'), f.route).toBe(false);
    }
    const manage = functions().filter((f) => f.kind === 'http' && f.route.startsWith('manage/'));
    expect(manage.length).toBeGreaterThanOrEqual(9);
  });

  it('has one function per route and method', () => {
    const seen = new Set<string>();
    for (const f of functions()) {
      if (f.kind !== 'http') continue;
      for (const method of f.methods) {
        const key = `${method} ${f.route.toLowerCase()}`;
        expect(seen.has(key), key).toBe(false);
        seen.add(key);
      }
    }
  });
});
