import { describe, expect, it } from 'vitest';
import { DependencyError } from '../../../shared/errors.js';
import {
  FORBIDDEN_ACCESS_POLICY,
  FORBIDDEN_CONSENT,
  FORBIDDEN_SUBSCRIPTION_LIMIT,
  GraphRequestError,
  forbiddenReason,
  parseRetryAfter,
  readGraphErrorBody,
} from '../../../shared/graph/index.js';
import { graphErrorFromResponse, operationName } from '../../../shared/graph/errors.js';

const forbidden = (graphCode: string, graphMessage: string) =>
  new GraphRequestError({ operation: 'GET /users/x/messages/y', status: 403, graphCode, graphMessage });

describe('forbiddenReason', () => {
  it.each([
    [
      'ErrorAccessDenied',
      'Access to OData is disabled: [RAOP] : Blocked by tenant configured AppOnly AccessPolicy settings.',
    ],
    ['ErrorAccessDenied', 'Access to OData is disabled. [RAOP]'],
    [
      'ExtensionError',
      'Operation: Create; Exception: [Status Code: Forbidden; Reason: Blocked by ApplicationAccessPolicy]',
    ],
  ])('names the application access policy (%s: %s)', (code, message) => {
    expect(forbiddenReason(forbidden(code, message))).toBe(FORBIDDEN_ACCESS_POLICY);
  });

  it('tells the operator how to fix the policy', () => {
    expect(FORBIDDEN_ACCESS_POLICY).toMatch(/New-ApplicationAccessPolicy/);
    expect(FORBIDDEN_ACCESS_POLICY).toMatch(/Test-ApplicationAccessPolicy/);
  });

  it.each([
    ['ErrorAccessDenied', 'Access is denied. Check credentials and try again.'],
    ['Authorization_RequestDenied', 'Insufficient privileges to complete the operation.'],
    ['ExtensionError', 'Operation: Create; Exception: [Status Code: Forbidden; Reason: Access is denied.]'],
  ])('otherwise blames missing admin consent for Mail.Read (%s)', (code, message) => {
    expect(forbiddenReason(forbidden(code, message))).toBe(FORBIDDEN_CONSENT);
  });

  it('recognises the 1,000 subscriptions per mailbox limit', () => {
    const error = forbidden(
      'ExtensionError',
      'Operation: Create; Exception: [Status Code: Forbidden; Reason: The mailbox has reached the maximum of 1000 subscriptions.]',
    );
    expect(forbiddenReason(error)).toBe(FORBIDDEN_SUBSCRIPTION_LIMIT);
  });

  it('is undefined for anything but a 403', () => {
    expect(forbiddenReason(new GraphRequestError({ operation: 'GET /x', status: 404 }))).toBeUndefined();
    expect(forbiddenReason(new Error('403 RAOP'))).toBeUndefined();
    expect(forbiddenReason(undefined)).toBeUndefined();
  });

  it('accepts a plain { status, graphMessage } shape', () => {
    expect(forbiddenReason({ status: 403, graphMessage: '[RAOP]' })).toBe(FORBIDDEN_ACCESS_POLICY);
  });
});

describe('parseRetryAfter', () => {
  const now = Date.parse('2025-03-01T10:00:00Z');

  it('reads delta-seconds', () => {
    expect(parseRetryAfter('0', now)).toBe(0);
    expect(parseRetryAfter('7', now)).toBe(7000);
    expect(parseRetryAfter(' 120 ', now)).toBe(120_000);
    expect(parseRetryAfter('1.5', now)).toBe(1500);
  });

  it('reads the HTTP-date form relative to now', () => {
    expect(parseRetryAfter('Sat, 01 Mar 2025 10:00:30 GMT', now)).toBe(30_000);
    expect(parseRetryAfter('Saturday, 01-Mar-25 10:01:00 GMT', now)).toBe(60_000);
  });

  it('treats a date in the past as "now"', () => {
    expect(parseRetryAfter('Sat, 01 Mar 2025 09:59:00 GMT', now)).toBe(0);
  });

  it('ignores absent and unreadable values', () => {
    for (const value of [undefined, null, '', '   ', '-5', 'soon', '12abc', '1e3']) {
      expect(parseRetryAfter(value, now)).toBeUndefined();
    }
  });
});

describe('GraphRequestError', () => {
  it('is a DependencyError with status, code, Retry-After and request id', () => {
    const error = graphErrorFromResponse('PATCH /subscriptions/abc', {
      status: 429,
      headers: { 'retry-after': '12', 'request-id': 'req-1' },
      body: {
        error: {
          code: 'TooManyRequests',
          message: 'Too many requests.',
          innerError: { 'request-id': 'inner' },
        },
      },
    });
    expect(error).toBeInstanceOf(DependencyError);
    expect(error).toMatchObject({
      code: 'dependency_failed',
      dependency: 'microsoft-graph',
      status: 429,
      graphCode: 'TooManyRequests',
      retryAfterMs: 12_000,
      requestId: 'req-1',
      retryable: true,
    });
    expect(error.message).toBe(
      'microsoft-graph: PATCH /subscriptions/abc failed (HTTP 429 TooManyRequests): Too many requests. (retry after 12 s) [request-id req-1]',
    );
  });

  it('adds the 403 reason to the message', () => {
    const error = graphErrorFromResponse('GET /users/u/messages/m', {
      status: 403,
      headers: {},
      body: { error: { code: 'ErrorAccessDenied', message: 'Access to OData is disabled: [RAOP]' } },
    });
    expect(error.message).toContain(FORBIDDEN_ACCESS_POLICY);
    expect(error.retryable).toBe(false);
  });

  it('names operations without their query string (delta and skip tokens)', () => {
    expect(operationName('get', "/users/u/mailFolders('Inbox')/messages/delta?$deltatoken=SECRETISH")).toBe(
      "GET /users/u/mailFolders('Inbox')/messages/delta",
    );
  });

  it('shortens long Graph messages', () => {
    const error = graphErrorFromResponse('GET /x', {
      status: 500,
      headers: {},
      body: { error: { code: 'E', message: 'a'.repeat(5000) } },
    });
    expect(error.message.length).toBeLessThan(600);
  });

  it('reads Graph error bodies defensively', () => {
    expect(
      readGraphErrorBody({ error: { code: 'X', message: 'm', innererror: { 'request-id': 'r' } } }),
    ).toEqual({
      code: 'X',
      message: 'm',
      requestId: 'r',
    });
    expect(readGraphErrorBody('oops')).toEqual({ code: undefined, message: undefined, requestId: undefined });
    expect(readGraphErrorBody({ error: 'flat' })).toEqual({
      code: undefined,
      message: undefined,
      requestId: undefined,
    });
  });
});
