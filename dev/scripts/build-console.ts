/**
 * Builds the web console (`GET /api/console`) for `npm run build`: esbuild bundles the browser
 * code (shared/admin/console/browser/) into console.js, and MSAL into msal.js, loaded only when the
 * console signs in with Entra ID; the page and stylesheet are copied. Everything lands in
 * shared/admin/console/public/ under dist/ (what ships) and dist-dev/ (the local runner).
 * Type-checking is tsconfig.console.json's job (`npm run build` runs it first).
 */
import { copyFile, mkdir } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';

/** The repository root: the nearest folder above this module holding package.json. */
export function repositoryRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error('build-console: no package.json above this script');
    dir = parent;
  }
  return dir;
}

/** Writes the console into `<outRoot>/shared/admin/console/public/` for each output root. */
export async function buildConsole(outRoots: readonly string[] = ['dist', 'dist-dev']): Promise<void> {
  const root = repositoryRoot();
  const source = join(root, 'shared/admin/console');
  for (const outRoot of outRoots) {
    const out = join(resolve(root, outRoot), 'shared/admin/console/public');
    await mkdir(out, { recursive: true });
    await build({
      absWorkingDir: root,
      entryPoints: {
        console: join(source, 'browser/app.ts'),
        msal: join(source, 'browser/entra.ts'),
      },
      outdir: out,
      bundle: true,
      format: 'esm',
      target: ['chrome110', 'firefox115', 'safari16'],
      minify: true,
      legalComments: 'none',
      logLevel: 'warning',
    });
    for (const file of ['index.html', 'console.css'])
      await copyFile(join(source, 'static', file), join(out, file));
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await buildConsole(process.argv.slice(2).length > 0 ? process.argv.slice(2) : undefined);
}
