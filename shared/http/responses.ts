import type { HttpResponseInit } from '@azure/functions';
import { AppError, NotFoundError, RefusedError, ValidationError } from '../errors.js';

/** Headers on every response: never let a browser sniff an echoed token into HTML. */
export const SECURITY_HEADERS = {
  'X-Content-Type-Options': 'nosniff',
  'Cache-Control': 'no-store',
} as const;

export function json(status: number, body: unknown, headers: Record<string, string> = {}): HttpResponseInit {
  return { status, jsonBody: body, headers: { ...SECURITY_HEADERS, ...headers } };
}

export function text(status: number, body: string): HttpResponseInit {
  return { status, body, headers: { ...SECURITY_HEADERS, 'Content-Type': 'text/plain; charset=utf-8' } };
}

export function empty(status: number): HttpResponseInit {
  return { status, headers: { ...SECURITY_HEADERS } };
}

export function errorResponse(
  status: number,
  code: string,
  message: string,
  headers: Record<string, string> = {},
): HttpResponseInit {
  return json(status, { error: { code, message } }, headers);
}

/**
 * The single mapping from errors to HTTP. Only ValidationError messages reach the caller;
 * everything else becomes a generic message so internals and secrets never leak.
 */
export function responseForError(error: unknown): HttpResponseInit {
  if (error instanceof ValidationError)
    return errorResponse(error.code === 'payload_too_large' ? 413 : 400, error.code, error.message);
  if (error instanceof NotFoundError) return errorResponse(404, error.code, error.message);
  if (error instanceof RefusedError) return errorResponse(502, error.code, error.message);
  if (error instanceof AppError && error.code === 'dependency_failed') {
    return errorResponse(503, 'unavailable', 'A dependency is unavailable; retry later.', {
      'Retry-After': '5',
    });
  }
  return errorResponse(500, 'internal_error', 'Internal error.');
}
