// The real Bicep CLI for the infra tests: found through BICEP_PATH, the copy that
// infra/scripts/get-bicep.sh restores into .tools/bicep/, `bicep` on PATH, or `az bicep`. When
// none is there, the tests that need it skip and say why (see skipReason).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { mainBicepPath, repoRoot } from './files.js';

export interface BicepCli {
  /** How it was found, for messages. */
  source: string;
  command: string;
  /** Arguments before the Bicep subcommand (`['bicep']` for az). */
  prefix: string[];
  /** az bicep takes --file; the standalone CLI takes the file as an argument. */
  az: boolean;
}

export const RESTORED_BICEP = join(repoRoot, '.tools', 'bicep', 'bicep');

function works(command: string, args: string[]): boolean {
  const result = spawnSync(command, args, { encoding: 'utf8', timeout: 60_000 });
  return result.status === 0;
}

function find(): BicepCli | undefined {
  const fromEnv = process.env['BICEP_PATH'];
  if (fromEnv !== undefined && fromEnv !== '' && works(fromEnv, ['--version']))
    return { source: `BICEP_PATH (${fromEnv})`, command: fromEnv, prefix: [], az: false };
  if (existsSync(RESTORED_BICEP) && works(RESTORED_BICEP, ['--version']))
    return { source: relative(repoRoot, RESTORED_BICEP), command: RESTORED_BICEP, prefix: [], az: false };
  if (works('bicep', ['--version']))
    return { source: 'bicep on PATH', command: 'bicep', prefix: [], az: false };
  if (works('az', ['bicep', 'version']))
    return { source: 'az bicep', command: 'az', prefix: ['bicep'], az: true };
  return undefined;
}

let found: BicepCli | undefined | null = null;

/** The Bicep CLI, looked up once per test file. */
export function bicepCli(): BicepCli | undefined {
  if (found === null) found = find();
  return found;
}

/** Why the CLI tests skip, printed once per file so a skip is never silent. */
export function skipReason(what: string): string {
  return (
    `infra: skipped ${what}: no Bicep CLI (BICEP_PATH, ${relative(repoRoot, RESTORED_BICEP)} from ` +
    'infra/scripts/get-bicep.sh, bicep on PATH, or az bicep). Run infra/scripts/get-bicep.sh (needs dotnet).'
  );
}

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

function run(cli: BicepCli, subcommand: string, args: string[]): CliResult {
  const result = spawnSync(cli.command, [...cli.prefix, subcommand, ...args], {
    cwd: repoRoot,
    encoding: 'utf8',
    timeout: 180_000,
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

export interface BuildResult extends CliResult {
  /** The compiled ARM template, when the build succeeded. */
  template: unknown;
}

let built: BuildResult | undefined;

/** `bicep build infra/main.bicep` into a temporary directory (once per test file). */
export function buildMain(cli: BicepCli): BuildResult {
  if (built !== undefined) return built;
  const outDir = mkdtempSync(join(tmpdir(), 'mailpush-bicep-'));
  try {
    const args = cli.az ? ['--file', mainBicepPath, '--outdir', outDir] : [mainBicepPath, '--outdir', outDir];
    const result = run(cli, 'build', args);
    const outFile = join(outDir, 'main.json');
    const template =
      result.status === 0 && existsSync(outFile)
        ? (JSON.parse(readFileSync(outFile, 'utf8')) as unknown)
        : undefined;
    built = { ...result, template };
    return built;
  } finally {
    rmSync(outDir, { recursive: true, force: true });
  }
}

/** `bicep lint infra/main.bicep` (the rules and levels of infra/bicepconfig.json). */
export function lintMain(cli: BicepCli): CliResult {
  return run(cli, 'lint', cli.az ? ['--file', mainBicepPath] : [mainBicepPath]);
}

/** Diagnostics (`path(line,col) : Level code: message`) in CLI output, with paths made relative. */
export function diagnostics(output: string): string[] {
  return output
    .split('\n')
    .filter((line) => /\) : (Error|Warning|Info) /.test(line))
    .map((line) => line.replace(repoRoot + '/', ''));
}
