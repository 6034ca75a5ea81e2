import { describe, expect, it } from 'vitest';
import {
  FAILURE_TEXT,
  FINAL_FAILURES,
  MAILBOX_FAILURES,
  mailboxStateOf,
  retryDelayMs,
  workKindOf,
} from '../../../../shared/domain/enrolment/states.js';

const MINUTE = 60_000;

describe('mailboxStateOf', () => {
  it('uses the stored state when there is one', () => {
    expect(mailboxStateOf({ state: 'failed', subscriptionId: 's', transport: 'graph' })).toBe('failed');
    expect(mailboxStateOf({ state: 'ews', transport: 'ews' })).toBe('ews');
  });
  it('derives it for rows written before states: subscribed → active, EWS → ews, else pending', () => {
    expect(mailboxStateOf({ subscriptionId: 's', transport: 'graph' })).toBe('active');
    expect(mailboxStateOf({ subscriptionId: 's', transport: 'ews' })).toBe('active');
    expect(mailboxStateOf({ transport: 'ews' })).toBe('ews');
    expect(mailboxStateOf({ transport: 'graph' })).toBe('pending');
  });
});

describe('workKindOf', () => {
  it('queues pending for creation, ews and migrating for migration, nothing else', () => {
    expect(workKindOf('pending')).toBe('create');
    expect(workKindOf('ews')).toBe('migrate');
    expect(workKindOf('migrating')).toBe('migrate');
    for (const state of ['active', 'failed', 'on_premises', 'removed'] as const)
      expect(workKindOf(state)).toBeUndefined();
  });
});

describe('retryDelayMs', () => {
  it('doubles from 5 minutes and caps at 6 hours', () => {
    expect([0, 1, 2, 3, 4, 5].map(retryDelayMs)).toEqual([5, 5, 10, 20, 40, 80].map((m) => m * MINUTE));
    expect(retryDelayMs(7)).toBe(320 * MINUTE);
    expect(retryDelayMs(8)).toBe(360 * MINUTE);
    expect(retryDelayMs(50)).toBe(360 * MINUTE);
  });
});

describe('failure reasons', () => {
  it('every reason has operator text, and only on_premises is final', () => {
    for (const failure of MAILBOX_FAILURES) expect(FAILURE_TEXT[failure].length).toBeGreaterThan(20);
    expect([...FINAL_FAILURES]).toEqual(['on_premises']);
    expect(FAILURE_TEXT.access_policy).toMatch(/Test-ApplicationAccessPolicy/);
  });
});
