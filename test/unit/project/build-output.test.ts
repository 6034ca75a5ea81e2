import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/**
 * What ships to Azure is dist/ (built by tsconfig.json) plus host.json and package.json; the dev
 * harness, benchmarks and tests are built by tsconfig.dev.json into dist-dev/ and never deployed.
 */
const root = fileURLToPath(new URL('../../../', import.meta.url));
const SHIPPED_FOLDERS = ['functions', 'shared'];

describe('the product build', () => {
  it('compiles only functions/ and shared/', () => {
    const tsc = fileURLToPath(new URL('../../../node_modules/typescript/bin/tsc', import.meta.url));
    const inputs = execFileSync(process.execPath, [tsc, '-p', 'tsconfig.json', '--listFilesOnly'], {
      cwd: root,
      encoding: 'utf8',
    })
      .split('\n')
      .filter((file) => file !== '' && !file.includes('/node_modules/'))
      .map((file) => file.slice(root.length).split('/')[0]);
    expect(inputs.length).toBeGreaterThan(20);
    expect([...new Set(inputs)].sort()).toEqual(SHIPPED_FOLDERS);
  }, 60_000);

  it('leaves only functions/ and shared/ in dist/ (after npm run build)', () => {
    const dist = `${root}dist`;
    // `npm test` builds first; a bare `vitest run` may find no dist/ at all.
    if (!existsSync(dist)) return;
    expect(readdirSync(dist).sort()).toEqual(SHIPPED_FOLDERS);
  });

  it('starts Azure at dist/functions/index.js', () => {
    const pkg = JSON.parse(readFileSync(`${root}package.json`, 'utf8')) as { main: string };
    expect(pkg.main).toBe('dist/functions/index.js');
  });

  it('keeps sources, tests, benchmarks and the dev harness out of the deployment package (.funcignore)', () => {
    const patterns = readFileSync(`${root}.funcignore`, 'utf8')
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line !== '' && !line.startsWith('#'));
    for (const folder of ['/dev', '/bench', '/test', '/dist-dev', '/functions', '/shared', '/infra']) {
      expect(patterns).toContain(folder);
    }
    // An unanchored "functions" or "shared" would also drop dist/functions and dist/shared.
    expect(patterns.filter((p) => /^(functions|shared|dist)\b/.test(p))).toEqual([]);
    expect(
      patterns.some((p) => p === '/dist' || p === 'dist' || p === 'host.json' || p === '/host.json'),
    ).toBe(false);
  });
});
