/**
 * Routes of the local runner itself, not functions (they do not exist in Azure): a window on the
 * embedded queue and on the local push sink, so a person can see what the product did.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { LocalSinkPushProvider } from '../../shared/push/local-sink.js';
import type { LocalEntraIssuer } from '../sim/entra.js';
import { DEMO_TENANT } from '../sim/graph/demo.js';
import type { AmqpStandIn } from '../sim/service-bus.js';

export interface LocalRouteSources {
  /** The embedded AMQP stand-in, when it is the queue. */
  amqp: AmqpStandIn | undefined;
  /** The local push sink, when PUSH_PROVIDER is `local`; undefined until the functions are loaded. */
  sink: () => LocalSinkPushProvider | undefined;
  /** False while the functions are loading. */
  ready: () => boolean;
  /** The local token issuer, when the runner plays Entra ID (simulated tenant). */
  issuer: LocalEntraIssuer | undefined;
}

/** Serves `/local/...` and answers true, or leaves the request alone and answers false. */
export function serveLocalRoute(
  req: IncomingMessage,
  res: ServerResponse,
  sources: LocalRouteSources,
): boolean {
  if (sources.amqp && req.method === 'GET' && req.url?.startsWith('/local/queues/')) {
    const name = decodeURIComponent(req.url.slice('/local/queues/'.length));
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ queue: name, ...sources.amqp.stats(name) }));
    return true;
  }
  if (sources.issuer && req.method === 'GET' && (req.url ?? '').split('?')[0] === '/local/admin-token') {
    // Local sign-in for the console and `npm run admin`: a one-hour admin token of the simulated
    // tenant's first user. Only the runner's own issuer signs it; it means nothing in Azure.
    req.resume();
    const operator = DEMO_TENANT.users[0];
    void sources.issuer.admin({ objectId: operator.id, upn: operator.mail }, { expiresInSec: 3600 }).then(
      (token) => {
        res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
        res.end(JSON.stringify({ accessToken: token, user: operator.mail, expiresInSeconds: 3600 }));
      },
      () => {
        res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { code: 'internal_error', message: 'Could not sign a token.' } }));
      },
    );
    return true;
  }
  if (sources.ready() && req.method === 'GET' && isLocalPushesPath(req.url)) {
    servePushes(req, res, sources.sink());
    return true;
  }
  return false;
}

/** Most pushes `GET /local/pushes` returns (the sink keeps the last 1,000). */
const LOCAL_PUSHES_DEFAULT_LIMIT = 100;

function isLocalPushesPath(url: string | undefined): boolean {
  const path = (url ?? '').split('?')[0]!;
  return path === '/local/pushes' || path === '/local/pushes/';
}

/**
 * `GET /local/pushes[?limit=n][&mailbox=a@b]`: the most recent pushes the local sink recorded,
 * newest last, and `count`, every push recorded since start (also those no longer kept in memory).
 */
function servePushes(req: IncomingMessage, res: ServerResponse, sink: LocalSinkPushProvider | undefined) {
  req.resume();
  const headers = { 'content-type': 'application/json', 'cache-control': 'no-store' };
  if (!sink) {
    res.writeHead(404, headers);
    res.end(
      JSON.stringify({
        error: {
          code: 'not_found',
          message: 'Pushes are only recorded when PUSH_PROVIDER is local.',
        },
      }),
    );
    return;
  }
  const query = new URL(req.url ?? '/', 'http://localhost').searchParams;
  const rawLimit = query.get('limit');
  const limit = rawLimit === null ? LOCAL_PUSHES_DEFAULT_LIMIT : Number(rawLimit);
  if (!Number.isInteger(limit) || limit < 1) {
    res.writeHead(400, headers);
    res.end(JSON.stringify({ error: { code: 'bad_request', message: 'limit must be a positive integer.' } }));
    return;
  }
  const mailbox = query.get('mailbox');
  const kept = sink.list(mailbox ? { mailbox } : {});
  const pushes = kept.slice(Math.max(0, kept.length - limit));
  res.writeHead(200, headers);
  res.end(
    JSON.stringify({
      count: sink.count(),
      returned: pushes.length,
      ...(sink.filePath ? { file: sink.filePath } : {}),
      ...(sink.fileError ? { fileError: sink.fileError } : {}),
      pushes,
    }),
  );
}
