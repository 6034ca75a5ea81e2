/** Shared helpers for the Graph simulator's own tests (not a test file); it starts with test/support/graph-sim.ts. */
import { ClientSecretCredential } from '@azure/identity';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DEMO_TENANT, type GraphSimulator } from '../../../dev/sim/graph/index.js';

export const GRAPH_SCOPE = 'https://graph.microsoft.com/.default';

export function demoCredential(
  sim: GraphSimulator,
  secret: string = DEMO_TENANT.clientSecret,
  tenantId: string = DEMO_TENANT.tenantId,
) {
  return new ClientSecretCredential(tenantId, DEMO_TENANT.clientId, secret, {
    authorityHost: sim.url,
    disableInstanceDiscovery: true,
  });
}

export async function demoToken(sim: GraphSimulator): Promise<string> {
  const token = await demoCredential(sim).getToken(GRAPH_SCOPE);
  return token.token;
}

export interface GraphResult {
  status: number;
  headers: Headers;
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any -- test convenience over JSON
}

/** A raw Graph call with fetch. `path` is relative to graphBaseUrl or an absolute URL. */
export async function graph(
  sim: GraphSimulator,
  token: string | undefined,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<GraphResult> {
  const url = path.startsWith('https://') ? path : `${sim.graphBaseUrl}${path}`;
  const res = await fetch(url, {
    method,
    headers: {
      ...(token ? { Authorization: `Bearer ${token}` } : {}),
      ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
      ...headers,
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  let parsed: unknown = undefined;
  if (text) {
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = text;
    }
  }
  return { status: res.status, headers: res.headers, body: parsed };
}

export interface RecordedRequest {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

export type Responder = (req: RecordedRequest, res: ServerResponse) => void | Promise<void>;

/** Answers Graph's handshake like a correct webhook: 200 text/plain with the decoded token. */
export function answerHandshake(req: RecordedRequest, res: ServerResponse): void {
  const token = new URL(req.url, 'http://x').searchParams.get('validationToken');
  if (token !== null) {
    res.writeHead(200, { 'Content-Type': 'text/plain' });
    res.end(token);
    return;
  }
  res.writeHead(202);
  res.end();
}

export interface Webhook {
  url: string;
  requests: RecordedRequest[];
  /** Requests without ?validationToken, bodies parsed. */
  notifications(): { url: string; body: any }[]; // eslint-disable-line @typescript-eslint/no-explicit-any
  respond(responder: Responder): void;
  close(): Promise<void>;
}

/** A tiny local HTTP webhook that records every request. */
export async function startWebhook(responder: Responder = answerHandshake): Promise<Webhook> {
  let current = responder;
  const requests: RecordedRequest[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const recorded: RecordedRequest = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      };
      requests.push(recorded);
      void Promise.resolve(current(recorded, res)).catch(() => res.destroy());
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    notifications: () =>
      requests
        .filter((r) => !r.url.includes('validationToken='))
        .map((r) => ({ url: r.url, body: JSON.parse(r.body) as unknown })),
    respond: (next) => {
      current = next;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export const minutesFromNow = (minutes: number): string =>
  new Date(Date.now() + minutes * 60_000).toISOString();

export const inboxResource = (userId: string): string => `users/${userId}/mailFolders('Inbox')/messages`;

export function subscriptionBody(userId: string, webhookUrl: string, extra: Record<string, unknown> = {}) {
  return {
    changeType: 'created',
    notificationUrl: `${webhookUrl}/api/notifications`,
    resource: inboxResource(userId),
    expirationDateTime: minutesFromNow(60),
    clientState: 'secret-client-state-123',
    ...extra,
  };
}
