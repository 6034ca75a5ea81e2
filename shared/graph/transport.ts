/**
 * The Graph client's transport: the terminal fetch middleware and the GraphRequestError for a
 * request that got no HTTP answer (network, timeout, token).
 */
import type { Context, Middleware } from '@microsoft/microsoft-graph-client';
import { recordGraphResponse } from '../telemetry/metrics.js';
import { GraphRequestError, isRecord } from './errors.js';

/** A failure before any HTTP answer. Its name becomes the SDK error's `code`. */
class TransportFailure extends Error {
  constructor(name: 'NetworkError' | 'TimeoutError', message: string) {
    super(message);
    this.name = name;
  }
}

/**
 * Terminal middleware: fetch with a per-attempt timeout. The SDK's HTTPMessageHandler rethrows
 * fetch's bare "fetch failed" and the SDK then drops the cause (ECONNREFUSED, an untrusted
 * certificate, …); this keeps it in the message.
 */
export class FetchHandler implements Middleware {
  constructor(private readonly timeoutMs: number) {}

  async execute(context: Context): Promise<void> {
    // The SDK types these with DOM names (RequestInfo) this Node-only project does not load.
    const request = context.request as string | Request;
    const init: RequestInit = { ...context.options };
    init.signal ??= AbortSignal.timeout(this.timeoutMs);
    try {
      context.response = await fetch(request, init);
      recordGraphResponse(context.response.status);
    } catch (error) {
      recordGraphResponse(0);
      throw describeFetchFailure(error, this.timeoutMs);
    }
  }
}

const TLS_TRUST_CODES = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

function describeFetchFailure(error: unknown, timeoutMs: number): TransportFailure {
  const name = error instanceof Error ? error.name : '';
  if (name === 'TimeoutError' || name === 'AbortError') {
    return new TransportFailure('TimeoutError', `no answer within ${timeoutMs} ms`);
  }
  const cause = error instanceof Error && isRecord(error.cause) ? error.cause : undefined;
  const code = typeof cause?.code === 'string' ? cause.code : undefined;
  const detail =
    typeof cause?.message === 'string' ? cause.message : error instanceof Error ? error.message : '';
  const trust =
    code && TLS_TRUST_CODES.has(code)
      ? ' (this process does not trust the endpoint’s TLS certificate; for a local simulator start Node with NODE_EXTRA_CA_CERTS naming its CA)'
      : '';
  return new TransportFailure(
    'NetworkError',
    `${code ? `${code}: ` : ''}${detail || 'fetch failed'}${trust}`,
  );
}

/** @azure/identity's failures, as the SDK reports them (its `code` is the error's name). */
const TOKEN_ERRORS = new Set([
  'AuthenticationError',
  'AggregateAuthenticationError',
  'CredentialUnavailableError',
  'AuthenticationRequiredError',
]);

/** A GraphRequestError (status 0) for a request that got no HTTP answer. */
export function noAnswerError(operation: string, error: unknown): GraphRequestError {
  const e = isRecord(error) ? error : {};
  const code = typeof e.code === 'string' && e.code ? e.code : error instanceof Error ? error.name : 'Error';
  const message = error instanceof Error ? error.message : String(error);
  if (TOKEN_ERRORS.has(code)) {
    return new GraphRequestError({
      operation,
      status: 0,
      graphCode: code,
      graphMessage: `could not get an access token for Graph: ${message}`,
      hint: 'Check the tenant, the client id and the client secret or certificate (and admin consent) of the app registration',
    });
  }
  return new GraphRequestError({ operation, status: 0, graphCode: code, graphMessage: message });
}
