/**
 * Calls to the admin API (`/api/manage/...`) with the operator's bearer token. The token stays in
 * this closure: it is never written to the page, to storage or to the console.
 */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export type TokenSource = () => Promise<string>;

export class AdminApi {
  constructor(
    private readonly token: TokenSource,
    private readonly base = '/api/manage/',
  ) {}

  async get<T>(path: string): Promise<T> {
    return this.call<T>('GET', path);
  }

  async send<T>(method: 'POST' | 'PUT' | 'PATCH', path: string, body: unknown): Promise<T> {
    return this.call<T>(method, path, JSON.stringify(body), 'application/json');
  }

  async upload<T>(path: string, body: string, contentType: string): Promise<T> {
    return this.call<T>('POST', path, body, contentType);
  }

  private async call<T>(method: string, path: string, body?: string, contentType?: string): Promise<T> {
    const headers: Record<string, string> = { authorization: `Bearer ${await this.token()}` };
    if (contentType) headers['content-type'] = contentType;
    let response: Response;
    try {
      response = await fetch(this.base + path, { method, headers, ...(body !== undefined ? { body } : {}) });
    } catch {
      throw new ApiError(0, 'network', 'The service did not answer; check the connection and retry.');
    }
    if (response.status === 204) return undefined as T;
    const text = await response.text();
    let payload: unknown;
    try {
      payload = text === '' ? undefined : JSON.parse(text);
    } catch {
      payload = undefined;
    }
    if (!response.ok) {
      const error = (payload as { error?: { code?: string; message?: string } } | undefined)?.error;
      throw new ApiError(
        response.status,
        error?.code ?? `http_${response.status}`,
        error?.message ?? `The service answered ${response.status}.`,
      );
    }
    return payload as T;
  }
}
