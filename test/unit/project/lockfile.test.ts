import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

/**
 * `npm ci` (what CI runs) refuses a lock file that lacks an entry for any optional dependency
 * of a locked package, even one for another platform. npm on a machine whose registry mirror
 * lacks some platform builds writes such a lock silently; this catches it before CI does.
 * (rollup is pinned in package.json `overrides` to a version whose platform builds all exist.)
 */
describe('package-lock.json', () => {
  it('has an entry for every optional dependency of every locked package', () => {
    const lock = JSON.parse(readFileSync(new URL('../../../package-lock.json', import.meta.url), 'utf8')) as {
      packages: Record<string, { optionalDependencies?: Record<string, string> }>;
    };
    const missing: string[] = [];
    for (const [path, pkg] of Object.entries(lock.packages)) {
      for (const name of Object.keys(pkg.optionalDependencies ?? {})) {
        if (!resolves(lock.packages, path, name)) missing.push(`${path} → ${name}`);
      }
    }
    expect(missing).toEqual([]);
  });
});

/** Node's resolution: `<path>/node_modules/<name>`, then each enclosing node_modules folder. */
function resolves(packages: Record<string, unknown>, path: string, name: string): boolean {
  let base = path;
  for (;;) {
    if (`${base ? `${base}/` : ''}node_modules/${name}` in packages) return true;
    const cut = base.lastIndexOf('/node_modules/');
    if (cut < 0) return base !== '' && `node_modules/${name}` in packages;
    base = base.slice(0, cut);
  }
}
