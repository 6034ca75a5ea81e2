import { describe, expect, it } from 'vitest';
import { run } from '../../../dev/cli/main.js';
import type { CliIo } from '../../../dev/cli/io.js';

/** Against Azure (not localhost) the CLI signs in for `api://<app>/.default`; a fake fetch stands in for the API. */
function world(env: Record<string, string> = {}) {
  const scopes: string[] = [];
  const seen: { url: string; authorization: string | null }[] = [];
  let out = '';
  let err = '';
  const io: CliIo = {
    stdout: { write: (t) => void (out += t) },
    stderr: { write: (t) => void (err += t) },
    env,
    azureToken: async (scope) => {
      scopes.push(scope);
      return 'token-from-azure';
    },
    fetch: async (input, init) => {
      seen.push({
        url: input instanceof Request ? input.url : input.toString(),
        authorization: new Headers(init?.headers).get('authorization'),
      });
      return new Response(
        JSON.stringify({ enabled: false, remaining: 0, perRun: 0, batchSize: 50, recentRuns: [] }),
        {
          status: 200,
          headers: { 'content-type': 'application/json' },
        },
      );
    },
  };
  return { io, scopes, seen, out: () => out, err: () => err };
}

describe('Azure sign-in', () => {
  it('asks for api://<client id>/.default and sends the token only in the Authorization header', async () => {
    const w = world({ MAILPUSH_API: '5e3ce6c0-2b1f-4285-8d4b-75ee78787346' });
    const code = await run(['migration', '--url', 'https://func-mailpush.azurewebsites.net/api/'], w.io);
    expect(code).toBe(0);
    expect(w.scopes).toEqual(['api://5e3ce6c0-2b1f-4285-8d4b-75ee78787346/.default']);
    expect(w.seen).toEqual([
      {
        url: 'https://func-mailpush.azurewebsites.net/api/manage/migration',
        authorization: 'Bearer token-from-azure',
      },
    ]);
    expect(w.out() + w.err()).not.toContain('token-from-azure');
  });

  it('prefers --token and MAILPUSH_TOKEN over signing in', async () => {
    const w = world({ MAILPUSH_TOKEN: 'env-token', MAILPUSH_URL: 'https://mailpush.example.net' });
    expect(await run(['migration'], w.io)).toBe(0);
    expect(w.scopes).toEqual([]);
    expect(w.seen[0]!.authorization).toBe('Bearer env-token');
  });

  it('says what failed when sign-in fails, without a stack', async () => {
    const w = world({ MAILPUSH_URL: 'https://mailpush.example.net' });
    w.io.azureToken = async () => {
      throw new Error('Azure CLI could not be found.\nmore detail');
    };
    expect(await run(['migration', '--app', 'api://mailpush'], w.io)).toBe(1);
    expect(w.err()).toBe(
      'error: could not sign in for api://mailpush/.default: Azure CLI could not be found. — run az login (or pass --token)\n',
    );
  });
});
