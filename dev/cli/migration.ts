/** `migration [on|off|retry-failed]`: the "Use Microsoft Graph" switch, progress and ETA. */
import type { MigrationProgress, MigrationSwitch } from '../../shared/admin/migration.js';
import { fromNow, printJson, type CommandContext } from './context.js';
import { UsageError } from './errors.js';
import type { CliIo } from './io.js';
import { renderPairs } from './table.js';

export async function migration(ctx: CommandContext): Promise<number> {
  const { client, io, args, options } = ctx;
  const action = args[0];
  if (options['include-on-premises'] && action !== 'retry-failed')
    throw new UsageError('--include-on-premises goes with migration retry-failed');
  if (action === 'retry-failed') {
    const result = await client.json<{ requeued: number }>('POST', 'migration/retry-failed', {
      includeOnPremises: options['include-on-premises'] === true,
    });
    if (options.json) printJson(io, result);
    else
      io.stdout.write(
        `requeued ${result.requeued} mailbox${result.requeued === 1 ? '' : 'es'}${options['include-on-premises'] ? ' (failed and on-premises)' : ' (failed)'}: the timer picks them up on its next run\n`,
      );
    return 0;
  }
  if (action === 'on' || action === 'off') {
    const value = await client.json<MigrationSwitch>('PUT', 'migration', { enabled: action === 'on' });
    if (!options.json) io.stdout.write(`Use Microsoft Graph: ${value.enabled ? 'on' : 'off'}\n\n`);
  } else if (action !== undefined) {
    throw new UsageError(`migration takes on, off or retry-failed, not "${action}"`);
  }
  const progress = await client.json<MigrationProgress>('GET', 'migration');
  if (options.json) printJson(io, progress);
  else io.stdout.write(describeProgress(progress, io));
  return 0;
}

export function describeProgress(p: MigrationProgress, io: Pick<CliIo, 'now'>): string {
  const now = (io.now ?? Date.now)();
  const eta =
    p.remaining === 0
      ? 'done: no EWS mailbox waits'
      : !p.enabled
        ? 'none while the switch is off (npm run admin -- migration on)'
        : p.eta
          ? `${p.eta} (${fromNow(p.eta, now)})`
          : 'not yet known: no run has moved a mailbox';
  return renderPairs([
    [
      'Use Microsoft Graph',
      `${p.enabled ? 'on' : 'off'}${p.updatedAt ? ` (since ${p.updatedAt}${p.updatedBy ? `, by ${p.updatedBy}` : ''})` : ''}`,
    ],
    ['EWS remaining', p.remaining],
    ['rate', `${p.perRun} per run (batch size ${p.batchSize})`],
    ['ETA', eta],
    [
      'last run',
      p.lastRun ? `${p.lastRun.at}: ${p.lastRun.migrated} migrated, ${p.lastRun.failed} failed` : undefined,
    ],
    ['next run', p.nextRunAt ? `${p.nextRunAt} (${fromNow(p.nextRunAt, now)})` : undefined],
  ]);
}
