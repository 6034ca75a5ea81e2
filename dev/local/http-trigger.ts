/**
 * HTTP triggers as the Functions host serves them: `/api/<route>` with route templates, function
 * keys for non-anonymous routes, a body limit, and the @azure/functions request/response types.
 */
import { createHash, randomUUID, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import azureFunctions from '@azure/functions';
import type { HttpResponse as HttpResponseInstance, HttpResponseInit, LogHandler } from '@azure/functions';
import type { HttpFunctionDefinition } from '../../shared/hosting/registry.js';

// @azure/functions is a bundled CommonJS module: Node's ESM loader cannot see its named exports.
const { HttpRequest, HttpResponse, InvocationContext } = azureFunctions;

/** Like the Functions host's 100 MB request limit, with room for a large mailbox import. */
const MAX_LOCAL_BODY_BYTES = 100 * 1024 * 1024;

/** Serves one request with the matching HTTP function (404/405 when none). */
export type HttpTriggerHandler = (req: IncomingMessage, res: ServerResponse) => Promise<void>;

export function httpTriggers(
  definitions: readonly HttpFunctionDefinition[],
  functionKey: string,
  logHandlerFor: (functionName: string) => LogHandler,
): HttpTriggerHandler {
  const routes = definitions
    .map((definition) => ({ definition, ...compileRoute(definition.route) }))
    .sort((a, b) => a.paramCount - b.paramCount);
  return (req, res) => serveHttp(req, res, routes, functionKey, logHandlerFor);
}

interface CompiledRoute {
  definition: HttpFunctionDefinition;
  pattern: RegExp;
  names: string[];
  paramCount: number;
}

/** Functions route templates: `devices/{id}`, `{id:int}` (constraint ignored), `{*rest}` catch-all. */
function compileRoute(route: string): Omit<CompiledRoute, 'definition'> {
  const names: string[] = [];
  const source = route
    .split('/')
    .map((segment) => {
      const param = /^\{(\*?)([A-Za-z0-9_]+)(?::[^}]*)?\??\}$/.exec(segment);
      if (!param) return segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      names.push(param[2]!);
      return param[1] ? '(.+)' : '([^/]+)';
    })
    .join('/');
  return { pattern: new RegExp(`^/api/${source}/?$`, 'i'), names, paramCount: names.length };
}

async function serveHttp(
  req: IncomingMessage,
  res: ServerResponse,
  routes: CompiledRoute[],
  functionKey: string,
  logHandlerFor: (name: string) => LogHandler,
): Promise<void> {
  const url = new URL(req.url ?? '/', `http://${req.headers.host ?? 'localhost'}`);
  let match: { route: CompiledRoute; params: Record<string, string> } | undefined;
  let methodMismatch = false;
  for (const route of routes) {
    const m = route.pattern.exec(url.pathname);
    if (!m) continue;
    if (!route.definition.methods.includes((req.method ?? 'GET').toUpperCase() as never)) {
      methodMismatch = true;
      continue;
    }
    const params: Record<string, string> = {};
    route.names.forEach((name, i) => (params[name] = decodeURIComponent(m[i + 1] ?? '')));
    match = { route, params };
    break;
  }
  if (!match) {
    req.resume();
    res.writeHead(methodMismatch ? 405 : 404, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify({
        error: { code: methodMismatch ? 'method_not_allowed' : 'not_found', message: 'No such route.' },
      }),
    );
    return;
  }
  const { definition } = match.route;
  if (definition.authLevel !== 'anonymous') {
    const presented =
      (req.headers['x-functions-key'] as string | undefined) ?? url.searchParams.get('code') ?? '';
    if (!sameSecret(presented, functionKey)) {
      req.resume();
      res.writeHead(401, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({ error: { code: 'unauthorized', message: 'A valid function key is required.' } }),
      );
      return;
    }
  }

  const body = await readBody(req);
  if (body === 'too_large') {
    res.writeHead(413, { 'content-type': 'application/json', connection: 'close' });
    res.end(JSON.stringify({ error: { code: 'payload_too_large', message: 'Body too large.' } }));
    return;
  }
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  const query: Record<string, string> = {};
  url.searchParams.forEach((value, key) => (query[key] = value));
  const request = new HttpRequest({
    method: req.method ?? 'GET',
    url: url.toString(),
    headers,
    query,
    params: match.params,
    ...(body.length > 0 ? { body: { bytes: body } } : {}),
  });
  const context = new InvocationContext({
    invocationId: randomUUID(),
    functionName: definition.name,
    logHandler: logHandlerFor(definition.name),
  });
  const result = await definition.handler(request, context);
  await writeResponse(res, result);
}

function readBody(req: IncomingMessage): Promise<Buffer | 'too_large'> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_LOCAL_BODY_BYTES) tooLarge = true;
      else chunks.push(chunk);
    });
    req.on('end', () => resolve(tooLarge ? 'too_large' : Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

async function writeResponse(
  res: ServerResponse,
  result: HttpResponseInit | HttpResponseInstance | undefined | void,
) {
  if (!result) {
    res.writeHead(204).end();
    return;
  }
  if (result instanceof HttpResponse) {
    const headers: Record<string, string> = {};
    result.headers.forEach((value, key) => (headers[key] = value));
    res.writeHead(result.status, headers);
    res.end(Buffer.from(await result.arrayBuffer()));
    return;
  }
  const headers: Record<string, string> = {};
  new Headers(result.headers).forEach((value, key) => (headers[key] = value));
  let payload: Buffer | string | undefined;
  if (result.jsonBody !== undefined) {
    payload = JSON.stringify(result.jsonBody);
    headers['content-type'] ??= 'application/json';
  } else if (typeof result.body === 'string') {
    payload = result.body;
    headers['content-type'] ??= 'text/plain; charset=utf-8';
  } else if (result.body instanceof Uint8Array) {
    payload = Buffer.from(result.body);
  } else if (result.body !== undefined && result.body !== null) {
    payload = Buffer.from(
      await new Response(result.body as ConstructorParameters<typeof Response>[0]).arrayBuffer(),
    );
  }
  res.writeHead(result.status ?? 200, headers);
  res.end(payload);
}

function sameSecret(a: string, b: string): boolean {
  const ha = createHash('sha256').update(a).digest();
  const hb = createHash('sha256').update(b).digest();
  return timingSafeEqual(ha, hb);
}
