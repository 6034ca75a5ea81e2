/**
 * The admin API (`/api/manage/...`) over HTTP, with its refusals turned into sentences an
 * operator can act on. The bearer token is only ever put in the Authorization header.
 */
import { CliError, ensureError } from './errors.js';

export interface ClientOptions {
  /** e.g. `http://127.0.0.1:7071`, no trailing slash. */
  baseUrl: string;
  /** Resolved lazily, once: commands that fail on usage never sign in. */
  token: () => Promise<string>;
  /** `--app` as given (for the 403 sentence), if any. */
  app?: string;
  fetch: typeof fetch;
}

export interface ApiResponse {
  status: number;
  headers: Headers;
  text: string;
}

export class AdminClient {
  constructor(private readonly options: ClientOptions) {}

  get baseUrl(): string {
    return this.options.baseUrl;
  }

  /** Parsed JSON of a 2xx answer (undefined for 204); throws CliError otherwise. */
  async json<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await this.request(
      method,
      path,
      body === undefined ? undefined : { body: JSON.stringify(body), contentType: 'application/json' },
    );
    if (res.status === 204 || res.text === '') return undefined as T;
    try {
      return JSON.parse(res.text) as T;
    } catch {
      throw new CliError(`${method} ${path} answered ${res.status} with something that is not JSON.`);
    }
  }

  async request(
    method: string,
    path: string,
    upload?: { body: string; contentType: string },
  ): Promise<ApiResponse> {
    const token = await this.options.token();
    const headers: Record<string, string> = { authorization: `Bearer ${token}`, accept: 'application/json' };
    if (upload) headers['content-type'] = upload.contentType;
    const url = `${this.options.baseUrl}/api/manage/${path}`;
    const res = await send(this.options.fetch, url, this.options.baseUrl, {
      method,
      headers,
      ...(upload ? { body: upload.body } : {}),
    });
    const text = await res.text();
    if (res.status >= 200 && res.status < 300) return { status: res.status, headers: res.headers, text };
    throw refusal(res.status, text, this.options.app ?? `the MailPush API app of ${this.options.baseUrl}`);
  }
}

/** fetch, with "nothing listening" and friends said in words. */
export async function send(
  fetchFn: typeof fetch,
  url: string,
  baseUrl: string,
  init: RequestInit,
): Promise<Response> {
  try {
    return await fetchFn(url, init);
  } catch (error) {
    throw unreachable(error, baseUrl);
  }
}

function unreachable(error: unknown, baseUrl: string): CliError {
  const err = ensureError(error);
  const cause = (err as { cause?: { code?: unknown } }).cause;
  const code = typeof cause?.code === 'string' ? cause.code : undefined;
  if (code === 'ECONNREFUSED')
    return new CliError(`nothing answers at ${baseUrl}: is \`npm start\` running?`);
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN')
    return new CliError(`the host of ${baseUrl} is not known (${code}): check --url or MAILPUSH_URL`);
  return new CliError(`could not reach ${baseUrl}: ${code ?? err.message}`);
}

/** The sentence for a non-2xx answer. */
export function refusal(status: number, text: string, app: string): CliError {
  const apiError = parseApiError(text);
  if (status === 401) {
    return new CliError(
      `the token was refused: ${apiError?.code ?? 'unauthorized'} — sign in again (az login) or check --app`,
      apiError?.code,
      status,
    );
  }
  if (status === 403) {
    return new CliError(
      `your account lacks the MailPush.Admin app role on ${app}: ask an admin to assign it (Entra admin center → Enterprise applications → ${app} → Users and groups)`,
      apiError?.code,
      status,
    );
  }
  if (apiError)
    return new CliError(`${apiError.message} (${status} ${apiError.code})`, apiError.code, status);
  return new CliError(
    `the API answered ${status}${text ? `: ${text.slice(0, 200)}` : ''}`,
    undefined,
    status,
  );
}

function parseApiError(text: string): { code: string; message: string } | undefined {
  try {
    const body = JSON.parse(text) as { error?: { code?: unknown; message?: unknown } };
    const e = body.error;
    if (e && typeof e.code === 'string')
      return { code: e.code, message: typeof e.message === 'string' ? e.message : e.code };
  } catch {
    // Not JSON: the caller says what it can.
  }
  return undefined;
}
