/** Timer triggers as the Functions host runs them: NCRONTAB with seconds, one run at a time per function. */
import { randomUUID } from 'node:crypto';
import azureFunctions from '@azure/functions';
import type { LogHandler } from '@azure/functions';
import type { TimerFunctionDefinition } from '../../shared/hosting/registry.js';
import { resolveSettingExpression } from './bindings.js';
import { parseNcrontab } from './ncrontab.js';

const { InvocationContext } = azureFunctions;

/** Arms every timer; returns a function that disarms them (a run in progress finishes). */
export function startTimerTriggers(
  definitions: readonly TimerFunctionDefinition[],
  env: Record<string, string | undefined>,
  logHandlerFor: (functionName: string) => LogHandler,
): () => Promise<void> {
  const disarms = definitions.map((def) => armTimer(def, env, logHandlerFor(def.name)));
  return async () => disarms.forEach((disarm) => disarm());
}

function armTimer(
  def: TimerFunctionDefinition,
  env: Record<string, string | undefined>,
  logHandler: LogHandler,
): () => void {
  const schedule = parseNcrontab(resolveSettingExpression(def.schedule, env));
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  let last = new Date();
  const fire = () => {
    const context = new InvocationContext({ invocationId: randomUUID(), functionName: def.name, logHandler });
    const fired = new Date();
    Promise.resolve(
      def.handler(
        {
          isPastDue: false,
          schedule: { adjustForDST: false },
          scheduleStatus: {
            last: last.toISOString(),
            next: schedule.next(fired).toISOString(),
            lastUpdated: fired.toISOString(),
          },
        },
        context,
      ),
    )
      .catch((error: unknown) => context.error(`timer run failed: ${String(error)}`))
      .finally(() => {
        last = fired;
        arm();
      });
  };
  const arm = () => {
    if (stopped) return;
    timer = setTimeout(fire, Math.max(0, schedule.next(new Date()).getTime() - Date.now()));
  };
  arm();
  return () => {
    stopped = true;
    if (timer) clearTimeout(timer);
  };
}
