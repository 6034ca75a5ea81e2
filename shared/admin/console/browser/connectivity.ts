/**
 * The Test button: one `POST /api/manage/connectivity-test` per step, so each step shows as soon
 * as it finishes (token, user, Inbox, subscription, optional test mail); a failed step stops the run.
 */
import { ApiError, type AdminApi } from './api.js';
import { byId, h } from './dom.js';
import { TEST_STEPS, type ConnectivityTestResult, type TestStep } from './types.js';

const STEP_TEXT: Record<string, string> = {
  token: 'Token from Entra ID',
  user: 'User found',
  inbox: 'Inbox readable',
  subscription: 'Test subscription (handshake)',
  testMail: 'Test mail end to end',
};

export function connectivityView(api: AdminApi) {
  const form = byId<HTMLFormElement>('test-form');
  const start = byId<HTMLButtonElement>('test-start');
  const steps = byId('test-steps');
  const result = byId('test-result');

  function stepItem(step: TestStep): HTMLLIElement {
    const timing = [
      `${step.durationMs} ms`,
      step.handshakeMs !== undefined ? `handshake ${step.handshakeMs} ms` : undefined,
      step.latencyMs !== undefined ? `end to end ${step.latencyMs} ms` : undefined,
    ].filter(Boolean);
    return h(
      'li',
      { 'data-step': step.name, 'data-status': step.status },
      h('strong', {}, `${STEP_TEXT[step.name] ?? step.name}: `),
      h('span', { class: step.status }, step.status),
      ` (${timing.join(', ')})`,
      step.detail ? h('div', {}, step.detail) : undefined,
      step.action ? h('div', {}, `What to do: ${step.action}`) : undefined,
    );
  }

  async function run(email: string, sendTestMail: boolean): Promise<void> {
    steps.replaceChildren();
    result.textContent = 'Testing…';
    let passed = true;
    for (const name of TEST_STEPS) {
      if (name === 'testMail' && !sendTestMail) continue;
      const answer = await api.send<ConnectivityTestResult>('POST', 'connectivity-test', {
        email,
        sendTestMail,
        steps: [name],
      });
      for (const step of answer.steps) {
        steps.append(stepItem(step));
        if (step.status === 'failed') passed = false;
      }
      if (!passed) break;
    }
    result.textContent = passed ? `All steps passed for ${email}.` : `The test failed for ${email}.`;
  }

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const email = byId<HTMLInputElement>('test-email').value.trim();
    if (!email) return;
    start.disabled = true;
    run(email, byId<HTMLInputElement>('test-mail').checked)
      .catch((error: unknown) => {
        result.textContent =
          error instanceof ApiError && error.status === 404
            ? 'The connectivity test is not available on this server.'
            : `The test could not run: ${error instanceof Error ? error.message : String(error)}`;
      })
      .finally(() => (start.disabled = false));
  });
}
