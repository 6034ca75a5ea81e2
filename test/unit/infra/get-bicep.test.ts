// infra/scripts/get-bicep.sh: restores the Bicep CLI with dotnet, is idempotent, and steps
// aside with a clear message (exit 0) where dotnet is missing.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { RESTORED_BICEP } from '../../support/bicep/cli.js';
import { infraDir } from '../../support/bicep/files.js';

const script = join(infraDir, 'scripts', 'get-bicep.sh');
if (!existsSync(RESTORED_BICEP))
  console.warn(`infra: skipped the get-bicep.sh idempotence check: ${RESTORED_BICEP} is not restored`);

function which(tool: string): string | undefined {
  const result = spawnSync('bash', ['-c', `command -v ${tool}`], { encoding: 'utf8' });
  return result.status === 0 ? result.stdout.trim() : undefined;
}

describe('infra/scripts/get-bicep.sh', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'get-bicep-'));
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  it('exits 0 with a clear message and no path when dotnet is missing', () => {
    // A PATH with the few tools the script needs before it looks for dotnet, and no dotnet.
    const bin = join(scratch, 'bin');
    spawnSync('mkdir', ['-p', bin]);
    for (const tool of ['bash', 'uname', 'dirname']) {
      const path = which(tool);
      if (path !== undefined) symlinkSync(path, join(bin, tool));
    }
    const result = spawnSync(join(bin, 'bash'), [script], {
      encoding: 'utf8',
      env: { PATH: bin, BICEP_TOOLS_DIR: join(scratch, 'tools') },
    });
    expect(result.status, result.stderr).toBe(0);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(/dotnet not found; Bicep CLI not restored/);
    expect(existsSync(join(scratch, 'tools'))).toBe(false);
  });

  it.skipIf(!existsSync(RESTORED_BICEP))('prints the restored path again without restoring twice', () => {
    const result = spawnSync('bash', [script], { encoding: 'utf8', timeout: 60_000 });
    expect(result.status, result.stderr).toBe(0);
    expect(result.stdout.trim()).toBe(RESTORED_BICEP);
    expect(result.stderr).not.toMatch(/restoring/);
  });
});
