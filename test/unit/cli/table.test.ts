import { describe, expect, it } from 'vitest';
import { parseCommandLine } from '../../../dev/cli/args.js';
import { refusal } from '../../../dev/cli/client.js';
import { UsageError } from '../../../dev/cli/errors.js';
import { RowProgress } from '../../../dev/cli/progress.js';
import { renderPairs, renderTable } from '../../../dev/cli/table.js';
import { isLocalUrl, scopeFor } from '../../../dev/cli/token.js';

describe('renderTable', () => {
  const rows = [
    { email: 'a@x.example', state: 'active', n: 3, reason: '' },
    {
      email: 'longer.name@x.example',
      state: 'failed',
      n: 12,
      reason: 'outside the application access policy',
    },
  ];

  it('pads columns to the widest cell, right-aligns numbers, trims trailing space', () => {
    expect(
      renderTable(rows, [
        { header: 'EMAIL', value: (r) => r.email },
        { header: 'N', value: (r) => r.n, right: true },
        { header: 'STATE', value: (r) => r.state },
        { header: 'REASON', value: (r) => r.reason, max: 12 },
      ]),
    ).toBe(
      [
        'EMAIL                   N  STATE   REASON',
        'a@x.example             3  active',
        'longer.name@x.example  12  failed  outside the…',
        '',
      ].join('\n'),
    );
  });

  it('prints only the header for no rows, and flattens line breaks in cells', () => {
    expect(renderTable([], [{ header: 'EMAIL', value: () => 'x' }])).toBe('EMAIL\n');
    expect(renderTable([{ v: 'a\r\nb' }], [{ header: 'V', value: (r) => r.v }])).toBe('V\na b\n');
  });

  it('renderPairs aligns names, formats numbers and leaves out empty values', () => {
    expect(
      renderPairs([
        ['rows', 12345],
        ['invalid', 0],
        ['missing', undefined],
        ['reason', ''],
      ]),
    ).toBe('rows     12,345\ninvalid  0\n');
  });
});

describe('progress', () => {
  it('redraws a bar in place on a terminal, plain lines otherwise', () => {
    let tty = '';
    const bar = new RowProgress({ write: (t) => void (tty += t), isTTY: true }, 200);
    bar.update(50);
    bar.update(200);
    bar.done();
    const clearLine = '\u001b[K';
    expect(tty).toBe(
      `\r[${'█'.repeat(8)}${'░'.repeat(22)}]  25% 50/200 rows${clearLine}\r[${'█'.repeat(30)}] 100% 200/200 rows${clearLine}\n`,
    );
    let plain = '';
    const lines = new RowProgress({ write: (t) => void (plain += t) }, 200);
    lines.update(50);
    lines.done();
    expect(plain).toBe('import: 50/200 rows (25%)\n');
  });
});

describe('command line', () => {
  it('parses commands with their options', () => {
    expect(parseCommandLine(['list', '--state', 'ews', '--all', '--url', 'http://h'])).toMatchObject({
      command: 'list',
      args: [],
      options: { state: 'ews', all: true, url: 'http://h' },
    });
    expect(parseCommandLine(['migration', 'retry-failed', '--include-on-premises'])).toMatchObject({
      command: 'migration',
      args: ['retry-failed'],
    });
  });

  it('refuses unknown commands, foreign options and wrong argument counts', () => {
    for (const argv of [[], ['nope'], ['show'], ['status', 'x'], ['status', '--all'], ['list', '--state']])
      expect(() => parseCommandLine(argv), argv.join(' ')).toThrow(UsageError);
  });
});

describe('sign-in and refusals', () => {
  it('derives the scope from a client id or an App ID URI', () => {
    expect(scopeFor('5e3ce6c0-2b1f-4285-8d4b-75ee78787346')).toBe(
      'api://5e3ce6c0-2b1f-4285-8d4b-75ee78787346/.default',
    );
    expect(scopeFor('api://mailpush/')).toBe('api://mailpush/.default');
    expect(scopeFor('api://mailpush/.default')).toBe('api://mailpush/.default');
    expect(() => scopeFor('mailpush')).toThrow(UsageError);
  });

  it('knows a local runner URL', () => {
    expect(isLocalUrl('http://127.0.0.1:7071')).toBe(true);
    expect(isLocalUrl('http://localhost:7071')).toBe(true);
    expect(isLocalUrl('https://func-mailpush.azurewebsites.net')).toBe(false);
  });

  it('says refusals in words, the API’s own message for other errors', () => {
    expect(refusal(401, '{"error":{"code":"expired","message":"x"}}', 'api://a').message).toBe(
      'the token was refused: expired — sign in again (az login) or check --app',
    );
    expect(refusal(403, '', 'api://a').message).toContain('lacks the MailPush.Admin app role on api://a');
    expect(refusal(400, '{"error":{"code":"invalid","message":"state must be one of …"}}', 'a').message).toBe(
      'state must be one of … (400 invalid)',
    );
    expect(refusal(502, 'Bad Gateway', 'a').message).toBe('the API answered 502: Bad Gateway');
  });
});
