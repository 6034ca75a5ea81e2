/** Small HTTP helpers shared by the simulator's Entra and Graph surfaces. */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';

/** A response before it is written: used both for top-level requests and `$batch` members. */
export interface SimResponse {
  status: number;
  headers: Record<string, string>;
  body?: unknown;
}

/** Graph's JSON content type (OData minimal metadata). */
export const GRAPH_JSON =
  'application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8';

export class BodyTooLargeError extends Error {}

export async function readBody(req: IncomingMessage, limitBytes = 4 * 1024 * 1024): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buf = chunk as Buffer;
    size += buf.length;
    if (size > limitBytes) throw new BodyTooLargeError(`body over ${limitBytes} bytes`);
    chunks.push(buf);
  }
  return Buffer.concat(chunks);
}

export function writeResponse(res: ServerResponse, response: SimResponse): void {
  const headers: Record<string, string> = { ...response.headers };
  let payload: Buffer | undefined;
  if (response.body !== undefined) {
    if (typeof response.body === 'string' || Buffer.isBuffer(response.body)) {
      payload = Buffer.from(response.body);
      headers['Content-Type'] ??= 'text/plain; charset=utf-8';
    } else {
      payload = Buffer.from(JSON.stringify(response.body));
      headers['Content-Type'] ??= GRAPH_JSON;
    }
  }
  headers['Content-Length'] = String(payload?.length ?? 0);
  res.writeHead(response.status, headers);
  res.end(payload);
}

/** Request ids in Graph's `innerError` and headers. */
export interface RequestIds {
  requestId: string;
  clientRequestId: string;
}

export function requestIds(headers: Record<string, string | string[] | undefined>): RequestIds {
  const given = headers['client-request-id'];
  const requestId = randomUUID();
  return { requestId, clientRequestId: typeof given === 'string' && given ? given : requestId };
}

/**
 * Graph's error shape: `{ error: { code, message, innerError: { date, request-id,
 * client-request-id } } }`, with the `request-id` / `client-request-id` headers every Graph
 * response carries.
 */
export function graphError(
  status: number,
  code: string,
  message: string,
  ids: RequestIds,
  extraHeaders: Record<string, string> = {},
): SimResponse {
  return {
    status,
    headers: {
      'request-id': ids.requestId,
      'client-request-id': ids.clientRequestId,
      'Cache-Control': 'no-cache',
      ...extraHeaders,
    },
    body: {
      error: {
        code,
        message,
        innerError: {
          date: new Date().toISOString().replace(/\.\d{3}Z$/, ''),
          'request-id': ids.requestId,
          'client-request-id': ids.clientRequestId,
        },
      },
    },
  };
}

export function graphOk(
  status: number,
  body: unknown,
  ids: RequestIds,
  extraHeaders: Record<string, string> = {},
): SimResponse {
  return {
    status,
    headers: {
      'request-id': ids.requestId,
      'client-request-id': ids.clientRequestId,
      'Cache-Control': 'no-cache',
      ...extraHeaders,
    },
    ...(body === undefined ? {} : { body }),
  };
}

export const sleep = (ms: number): Promise<void> =>
  ms > 0 ? new Promise((resolve) => setTimeout(resolve, ms)) : Promise.resolve();

/** Lower-cased single-valued view of Node's incoming headers. */
export function flatHeaders(headers: IncomingMessage['headers']): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    out[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}

/** `Prefer: odata.maxpagesize=N` (the header may carry several comma-separated preferences). */
export function preferredPageSize(prefer: string | undefined): number | undefined {
  if (!prefer) return undefined;
  const match = /(?:^|[,;\s])odata\.maxpagesize\s*=\s*"?(\d+)"?/i.exec(prefer);
  if (!match?.[1]) return undefined;
  const n = Number(match[1]);
  return Number.isInteger(n) && n > 0 ? n : undefined;
}
